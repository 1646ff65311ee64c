package parse

import (
	"bytes"
	"fmt"
	"strings"
)

// ExtractReply returns only what the writer of a plain-text body wrote:
// quoted lines ("> "), attributions ("On … wrote:" in any language of the
// tables, or any dated line ending in a colon above quoted text), Outlook's
// header block and divider, "-----Original Message-----" and forwarded
// blocks, and everything below them, are cut; so is the signature ("-- ")
// and a mobile footer ("Sent from my iPhone"). Interleaved answers between
// quoted passages are kept. Commands are read from this text only, so it
// errs on the side of cutting.
func ExtractReply(text string) string {
	r, _ := extractReply(text)
	return r
}

// maxExplained bounds the dropped passages replyCut lists one by one.
const maxExplained = 50

// replyCut says where and why extractReply stopped, and what it dropped
// above that point, for Explain.
type replyCut struct {
	line    int    // source line the reply was cut at, 0 when it was not
	why     string // the rule that cut it
	dropped []string
}

// extractReply is ExtractReply, also saying where it cut.
func extractReply(text string) (string, replyCut) {
	lines := splitLines(text)
	var out []string
	var cut replyCut
	stop := func(i int, why string) {
		cut.line, cut.why = lines[i].n, why
	}
	quotedFrom, more := -1, 0
	drop := func(what string) {
		if len(cut.dropped) < maxExplained {
			cut.dropped = append(cut.dropped, what)
		} else {
			more++
		}
	}
	flushQuoted := func(i int) {
		if quotedFrom >= 0 {
			drop("quoted (\">\") " + lineRange(lines, quotedFrom, i))
			quotedFrom = -1
		}
	}
loop:
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l.depth > 0 {
			if quotedFrom < 0 {
				quotedFrom = i
			}
			continue // quoted
		}
		if isBlank(l.text) {
			out = append(out, "")
			continue
		}
		flushQuoted(i)
		switch {
		case isSignatureSeparator(l.text):
			stop(i, "signature separator \"-- \" (RFC 3676 section 4.3)")
			break loop
		case isFooter(l.text):
			stop(i, "mobile or web client footer")
			break loop
		}
		if sep := lineSeparator(lines, i); sep.ok && !sep.end {
			if sep.phrase {
				stop(i, "separator naming a forwarded or original message")
				break
			}
			if isHardRule(l.text) {
				stop(i, "divider line of underscores (Outlook)")
				break
			}
			// A plain rule of dashes is the writer's own unless a header
			// block follows.
			if _, idx := nextContentDepth(lines, i+1); idx >= 0 {
				if _, ok := findHeaderBlock(lines, idx); ok {
					stop(i, "rule above a header block")
					break
				}
				if _, ok := findGenericHeaderBlock(lines, idx); ok {
					stop(i, "rule above a header block in a language the tables lack")
					break
				}
			}
		}
		if hb, ok := findHeaderBlock(lines, i); ok {
			stop(i, "header block "+lineRange(lines, i, hb.end))
			break
		}
		if hb, ok := findGenericHeaderBlock(lines, i); ok && hb.values[fieldDate] != "" {
			// A header block in a language the tables lack.
			stop(i, "header block in a language the tables lack "+lineRange(lines, i, hb.end))
			break
		}
		if qh, ok := findQuoteHeader(lines, i); ok {
			if d, idx := nextContentDepth(lines, qh.end); idx >= 0 && d > 0 {
				drop("quote header " + lineRange(lines, i, qh.end))
				i = qh.end - 1 // drop the attribution; the quote is skipped
				continue
			}
			// An attribution above unquoted text: all of it is quoted.
			stop(i, "quote header "+lineRange(lines, i, qh.end)+" above unquoted text")
			break
		}
		if looksLikeAttribution(lines, i) {
			// An attribution in a language the tables lack, above
			// unquoted text: cut rather than risk reading quoted text.
			stop(i, "line shaped like a quote header (address and date, ending in a colon)")
			break
		}
		out = append(out, l.text)
	}
	flushQuoted(len(lines))
	if more > 0 {
		cut.dropped = append(cut.dropped, fmt.Sprintf("%d more quoted passages or quote headers", more))
	}
	return joinTrimmed(out), cut
}

// isHardRule reports a divider that only ever stands above quoted or
// forwarded text: Outlook's line of underscores (and HTMLToText's).
func isHardRule(s string) bool {
	t := strings.TrimSpace(s)
	return len(t) >= 20 && strings.Trim(t, "_") == ""
}

// isSignatureSeparator reports the "-- " line that starts a signature
// (RFC 3676 section 4.3); "--" without its space is accepted too.
func isSignatureSeparator(s string) bool {
	return strings.TrimRight(s, " \u00a0") == "--" || s == "—" || s == "-- —"
}

// stripSignature cuts text at its signature separator or mobile footer.
func stripSignature(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if isSignatureSeparator(l) || isFooter(l) {
			return joinTrimmed(lines[:i])
		}
	}
	return joinTrimmed(lines)
}

// footerKeywordsASCII are the footerKeywords that are ASCII.
var footerKeywordsASCII = func() [][]byte {
	var out [][]byte
	for _, k := range footerKeywords {
		if isASCII(k) {
			out = append(out, []byte(k))
		}
	}
	return out
}()

// isFooter reports a mobile or web client footer line.
func isFooter(s string) bool {
	if len(s) > 160 {
		return false
	}
	s = cleanSpaces(s)
	if isASCII(s) {
		// strings.ToLower of ASCII text is its ASCII lower case (made
		// here on the stack), in which only the ASCII keywords can be.
		var buf [160]byte
		ls := buf[:0]
		for i := 0; i < len(s); i++ {
			ls = append(ls, lowerASCII(s[i]))
		}
		for _, k := range footerKeywordsASCII {
			if bytes.Contains(ls, k) {
				return footerRe.MatchString(s)
			}
		}
		return false
	}
	ls := strings.ToLower(s)
	for _, k := range footerKeywords {
		if strings.Contains(ls, k) {
			return footerRe.MatchString(s)
		}
	}
	return false
}

// looksLikeAttribution reports a line (or two) ending in a colon that holds
// both an address and a time of day or a year: the shape of "On DATE, NAME
// <addr> wrote:" in any language.
func looksLikeAttribution(lines []textLine, i int) bool {
	t := strings.TrimSpace(cleanSpaces(lines[i].text))
	if !opensAttribution(t) {
		return false
	}
	if !endsWithColon(t) && i+1 < len(lines) && lines[i+1].depth == lines[i].depth {
		if looksLikeAttribution(lines, i+1) && endsWithColon(lines[i+1].text) {
			return false // the attribution is the next line alone
		}
		t += " " + strings.TrimSpace(cleanSpaces(lines[i+1].text))
	}
	if !endsWithColon(t) || len(t) > 300 {
		return false
	}
	return hasEmail(t) && (anyTimeRe.MatchString(t) || dateishRe.MatchString(t))
}
