package parse

import (
	"regexp"
	"strings"
)

// Some clients forward an HTML-only message inline by pasting its HTML
// source into the text part. An original whose body reads as HTML source
// gets the readable text of that HTML instead of its tags.

var (
	htmlDocRe = regexp.MustCompile(`(?i)<(!doctype\s+html|html[\s>]|body[\s>]|head>)`)
	htmlTagRe = regexp.MustCompile(`(?i)</?(div|p|br|span|table|tr|td|font|b|i|u|a|strong|em|blockquote|ul|ol|li|img|hr|center|h[1-6])(\s[^<>]*)?/?>`)
)

// minHTMLTags is how many common tags a text without <html> or <body> must
// hold, and how dense they must be, to be read as HTML source.
const minHTMLTags = 4

// looksLikeHTMLSource reports whether text is HTML source rather than
// prose that mentions a tag.
func looksLikeHTMLSource(text string) bool {
	t := strings.TrimSpace(text)
	if !strings.Contains(t, "<") || !strings.Contains(t, ">") {
		return false
	}
	if htmlDocRe.MatchString(t) {
		return true
	}
	tags := htmlTagRe.FindAllStringIndex(t, 200)
	if len(tags) < minHTMLTags {
		return false
	}
	markup := 0
	for _, m := range tags {
		markup += m[1] - m[0]
	}
	// Tags in nearly every line, not one example in a paragraph.
	return len(tags)*4 >= strings.Count(t, "\n")+1 && markup*10 >= len(t)
}

// readableBodies replaces the bodies that are HTML source by their text.
func readableBodies(originals []Original) {
	for i := range originals {
		if looksLikeHTMLSource(originals[i].Body) {
			originals[i].Body = HTMLToText(originals[i].Body)
			originals[i].rule += "; its body was HTML source, read as HTML"
		}
	}
}
