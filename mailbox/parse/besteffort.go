package parse

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
	"strings"
)

// Best-effort reading of what clients and gateways get wrong: a multipart
// whose boundary parameter is missing, a message/rfc822 part sent in base64
// without saying so, an attached message whose body decodes to nothing, and
// invisible characters in the text.

// boundaryLineRe matches a line that can be a MIME boundary delimiter
// (RFC 2046 section 5.1.1: "--" and 1 to 70 characters).
var boundaryLineRe = regexp.MustCompile(`(?m)^--([0-9A-Za-z'()+_,\-./:=?]{1,70})[ \t]*\r?$`)

// maxBoundarySearch bounds the bytes searched for a missing boundary.
const maxBoundarySearch = 64 << 10

// findBoundary guesses the boundary of a multipart body declared without
// one: the first delimiter-shaped line that comes again, or closes with
// "--". It returns the body to read (all of it) and the boundary, "" when
// none is found.
func guessBoundary(body io.Reader) (io.Reader, string) {
	br := bufio.NewReaderSize(body, maxBoundarySearch)
	head, _ := br.Peek(maxBoundarySearch)
	for _, m := range boundaryLineRe.FindAllSubmatch(head, 20) {
		b := bytes.TrimSuffix(m[1], []byte("--"))
		delim := append([]byte("\n--"), b...)
		if bytes.Count(head, delim) >= 2 || bytes.Contains(head, append(delim, '-', '-')) ||
			bytes.HasPrefix(head, delim[1:]) && bytes.Count(head, delim) >= 1 {
			return br, string(b)
		}
	}
	return br, ""
}

// base64MessageRe matches the first line of a base64-encoded message.
var base64MessageRe = regexp.MustCompile(`^[A-Za-z0-9+/]{40,}={0,2}\r?\n`)

// undeclaredBase64 returns a reader of an attached message that is in
// base64 although its part names no Content-Transfer-Encoding; ok is
// false, and the reader reads the part as it is, otherwise.
func (p *parser) undeclaredBase64(r io.Reader, filename string) (io.Reader, bool) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(512)
	if isFieldLine(head) || !base64MessageRe.Match(head) {
		return br, false
	}
	return newBase64Reader(br, func(msg string) { p.warn("invalid base64 in %q: %s", filename, msg) }), true
}

// rawCapture keeps the first bytes read through it: the raw part of an
// attached message, for when its body decodes to nothing.
type rawCapture struct {
	r   io.Reader
	buf bytes.Buffer
	max int
}

func (c *rawCapture) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if keep := c.max - c.buf.Len(); keep > 0 {
		if keep > n {
			keep = n
		}
		c.buf.Write(b[:keep])
	}
	return n, err
}

// rawBody returns the body of a raw message (what follows its header), or
// "" when it holds nothing but white space.
func rawBody(raw []byte) string {
	s := strings.ReplaceAll(toUTF8(string(raw)), "\r\n", "\n")
	if i := strings.Index(s, "\n\n"); i >= 0 {
		s = s[i+2:]
	} else {
		return ""
	}
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return strings.TrimRight(s, "\n")
}

// invisibleRunes are characters that show nothing and are removed from
// text: zero-width spaces, word joiners, soft hyphens, byte order marks.
// (Zero-width joiners are kept: scripts and emoji need them.)
var invisibleRunes = []string{"\u200b", "\u2060", "\ufeff", "\u00ad", "\u034f", "\u180e", "\u2061", "\u2062", "\u2063", "\u2064"}

// trackingGlyphs are visible but meaningless characters mail trackers add
// on a line of their own (Gmail add-ons' U+1427 "ᐧ"); such lines are
// removed.
var trackingGlyphs = []string{"\u1427"}

var invisibleReplacer = func() *strings.Replacer {
	var args []string
	for _, r := range invisibleRunes {
		args = append(args, r, "")
	}
	return strings.NewReplacer(args...)
}()

// removeInvisible removes invisible characters and lines that hold only a
// tracking glyph.
func removeInvisible(s string) string {
	if isASCII(s) {
		return s
	}
	s = invisibleReplacer.Replace(s)
	for _, g := range trackingGlyphs {
		if !strings.Contains(s, g) {
			continue
		}
		lines := strings.Split(s, "\n")
		out := lines[:0]
		for _, l := range lines {
			t := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(l), "> "))
			if t != "" && strings.Trim(t, g+" ") == "" {
				continue
			}
			out = append(out, l)
		}
		s = strings.Join(out, "\n")
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
