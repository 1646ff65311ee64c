package parse

import (
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A forwarded header block is a run of known labels in any layout. Yahoo
// Mail's plain-text forward writes the whole block on one line, with no
// break between fields ("----- Forwarded Message ----- From: A <a@x>To:
// b@xSent: …PSTSubject: …"); some clients separate the fields with spaces
// only. unsquashBlock cuts such a line back into one line per field, so
// that the rules for header blocks read it like any other.

// labelInLineRe matches any label of headerLabels followed by a colon,
// longest labels first.
var labelInLineRe *regexp.Regexp

// labelsRegexp builds labelInLineRe from headerLabels.
func labelsRegexp() *regexp.Regexp {
	labels := make([]string, 0, len(headerLabels))
	for l := range headerLabels {
		labels = append(labels, regexp.QuoteMeta(l))
	}
	sort.Slice(labels, func(i, j int) bool {
		if len(labels[i]) != len(labels[j]) {
			return len(labels[i]) > len(labels[j])
		}
		return labels[i] < labels[j]
	})
	return regexp.MustCompile(`(?i)(` + strings.Join(labels, "|") + `)[ \x{a0}]?[:：]`)
}

// unsquashBlock returns the pieces of a line that holds a whole header
// block (a From-like field and at least two other distinct fields), or nil.
// The text before the first label (a separator phrase) is the first piece.
func unsquashBlock(s string) []string {
	if len(s) < 24 || strings.Count(s, ":")+strings.Count(s, "：") < 3 {
		return nil
	}
	var cuts []int
	fields := map[blockField]bool{}
	for _, m := range labelInLineRe.FindAllStringSubmatchIndex(s, -1) {
		start := m[2]
		if !labelStartsHere(s, start) {
			continue
		}
		f := headerLabels[lowerText(strings.Join(strings.Fields(s[m[2]:m[3]]), " "))]
		if f == fieldNone {
			continue
		}
		cuts = append(cuts, start)
		fields[f] = true
	}
	others := 0
	for _, f := range []blockField{fieldTo, fieldCc, fieldDate, fieldSubject} {
		if fields[f] {
			others++
		}
	}
	if !fields[fieldFrom] || others < 2 {
		return nil
	}
	var out []string
	if pre := strings.TrimSpace(s[:cuts[0]]); pre != "" {
		out = append(out, pre)
	}
	for i, c := range cuts {
		end := len(s)
		if i+1 < len(cuts) {
			end = cuts[i+1]
		}
		out = append(out, strings.TrimSpace(s[c:end]))
	}
	return out
}

// labelStartsHere reports whether a label found at s[i:] starts a field:
// at the start of the line, after a character that is not a letter, or
// written with a capital (glued to the previous value, as Yahoo does:
// "PSTSubject:"), or in a script without case.
func labelStartsHere(s string, i int) bool {
	if i == 0 {
		return true
	}
	prev, _ := utf8.DecodeLastRuneInString(s[:i])
	if !unicode.IsLetter(prev) {
		return true
	}
	first, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsUpper(first) || !unicode.IsLower(first) && !unicode.IsUpper(first)
}
