package parse

import (
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

// maxLabelRunes is the length of the longest label of headerLabels, in
// runes; set with it.
var maxLabelRunes int

// labelEndingAt returns where the label that ends just before s[colon]
// (a colon, with maybe one space before it) starts, and its field: the
// longest label of headerLabels that ends there.
func labelEndingAt(s string, colon int) (int, blockField, bool) {
	end := colon
	if end > 0 && s[end-1] == ' ' {
		end--
	} else if strings.HasSuffix(s[:end], "\u00a0") {
		end -= len("\u00a0")
	}
	best, bestField, found := 0, fieldNone, false
	start, n := end, 0
	for start > 0 && n < maxLabelRunes {
		_, size := utf8.DecodeLastRuneInString(s[:start])
		start -= size
		n++
		if f, ok := headerLabels[lowerText(s[start:end])]; ok {
			best, bestField, found = start, f, true
		}
	}
	return best, bestField, found
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
	last := 0 // labels do not overlap: a label starts after the previous colon
	for i := 0; i < len(s); i++ {
		colonLen := 0
		switch {
		case s[i] == ':':
			colonLen = 1
		case strings.HasPrefix(s[i:], "："):
			colonLen = len("：")
		default:
			continue
		}
		start, f, ok := labelEndingAt(s, i)
		if ok && start >= last && f != fieldNone && labelStartsHere(s, start) {
			cuts = append(cuts, start)
			fields[f] = true
		}
		last = i + colonLen
		i += colonLen - 1
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
