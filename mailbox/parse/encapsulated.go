package parse

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
)

// An encapsulated message is a forwarded message copied into the text with
// its own raw header: RFC 934 encapsulation as nmh and other Unix clients
// write it ("------- Forwarded Message", the header, the body,
// "------- End of Forwarded Message", lines that start with "-" stuffed as
// "- -"), or an inline forward that copies every header of the original
// (Received, Return-Path, Status, Content-Type). Such a message is read as
// a message: its header's encoded words decoded, and its body decoded by
// its own Content-Transfer-Encoding and charset when the body still is in
// that encoding. A charset is never applied to text the forwarding client
// already re-encoded (a body that is not quoted-printable or base64 any
// more is in the forward's own charset). The message is then written back
// into the text as a plain header block ("From:", "To:", "Cc:", "Date:",
// "Subject:") over its decoded text, which the forward rules read like any
// other.

// rawHeaderNames are header fields that only a copied raw header has: their
// presence tells an encapsulated message from a client's header block.
var rawHeaderNames = map[string]bool{
	"received": true, "return-path": true, "message-id": true, "mime-version": true, "content-type": true,
	"content-transfer-encoding": true, "status": true, "x-status": true, "delivered-to": true, "dkim-signature": true,
	"in-reply-to": true, "references": true, "x-mailer": true, "user-agent": true, "authentication-results": true,
	"envelope-to": true, "x-original-to": true, "content-disposition": true, "thread-index": true, "lines": true,
}

var (
	rawFieldRe  = regexp.MustCompile(`^([!-9;-~]+)[ \t]*:`)
	base64Line  = regexp.MustCompile(`^[A-Za-z0-9+/]+=*$`)
	qpEscapeRe  = regexp.MustCompile(`=[0-9A-F]{2}`)
	maxEncapsed = 20 // encapsulated messages unwrapped in one text
)

// unstuff undoes RFC 934 section 2 character stuffing: "- " in front of a
// line that starts with "-".
func unstuff(l string) string {
	if strings.HasPrefix(l, "- -") {
		return l[2:]
	}
	return l
}

// rawHeaderEnd reports whether lines[i:] start with a raw message header
// and returns the index of the blank line that ends it.
func rawHeaderEnd(lines []string, i int) (int, bool) {
	fields, raw, from := 0, false, false
	j := i
	for ; j < len(lines) && j-i < 400; j++ {
		l := strings.TrimRight(unstuff(lines[j]), "\r")
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			if j == i {
				return 0, false
			}
			continue
		}
		m := rawFieldRe.FindStringSubmatch(l)
		if m == nil {
			return 0, false
		}
		name := strings.ToLower(m[1])
		fields++
		from = from || name == "from"
		raw = raw || rawHeaderNames[name] || strings.HasPrefix(name, "x-") || strings.Contains(l, "=?")
	}
	if j >= len(lines) || fields < 3 || !from || !raw {
		return 0, false
	}
	return j, true
}

// mayHoldRawHeader is a quick test that rules out most texts: a raw header
// has a field of rawHeaderNames, an X- field or an encoded word.
func mayHoldRawHeader(text string) bool {
	if !strings.Contains(text, "-") || !strings.Contains(text, ":") {
		return false
	}
	if strings.Contains(text, "=?") {
		return true
	}
	// A line after the first that starts with "x-", or with a name of
	// rawHeaderNames and a colon (dash-stuffed or not), in any case.
	for i := strings.IndexByte(text, '\n'); i >= 0; {
		line := text[i+1:]
		next := strings.IndexByte(line, '\n')
		if next >= 0 {
			line = line[:next]
		}
		if startsRawField(line) {
			return true
		}
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return false
}

// startsRawField reports whether a line starts with "x-", or with a name of
// rawHeaderNames and a colon, or with "- " and such a name, in any case.
func startsRawField(line string) bool {
	if len(line) >= 2 && (line[0] == 'x' || line[0] == 'X') && line[1] == '-' {
		return true
	}
	colon := strings.IndexByte(line, ':')
	if colon < 0 {
		return false
	}
	name := line[:colon]
	return isRawHeaderName(name) || strings.HasPrefix(name, "- ") && isRawHeaderName(name[2:])
}

// isRawHeaderName reports whether s, lower-cased, is in rawHeaderNames.
func isRawHeaderName(s string) bool {
	if len(s) > 3*maxRawHeaderName {
		return false // too long even if it lowers to fewer bytes ("İ" is "i")
	}
	var buf [64]byte
	if len(s) > len(buf) {
		return rawHeaderNames[strings.ToLower(s)]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return rawHeaderNames[strings.ToLower(s)]
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return rawHeaderNames[string(buf[:len(s)])]
}

// maxRawHeaderName is the length of the longest name of rawHeaderNames.
var maxRawHeaderName = func() int {
	n := 0
	for name := range rawHeaderNames {
		n = max(n, len(name))
	}
	return n
}()

// unwrapEncapsulated rewrites the encapsulated messages of a plain text
// (see above); text without one is returned as it is.
func (p *parser) unwrapEncapsulated(text string, depth int) string {
	if !mayHoldRawHeader(text) {
		return text
	}
	lines := strings.Split(text, "\n")
	var out []string
	changed, n := false, 0
	outLines := 0 // lines in out (a rewritten message is one element of several lines)
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		sep := parseSeparator(l)
		if !sep.ok || sep.end || sep.rule || n >= maxEncapsed || depth+1 > p.lim.MaxDepth {
			out = append(out, l)
			outLines++
			continue
		}
		j, hdrEnd, end, ok := encapsulatedAt(lines, i)
		if !ok {
			out = append(out, l)
			outLines++
			continue
		}
		body := make([]string, 0, end-j)
		for _, bl := range lines[j:end] {
			body = append(body, unstuff(strings.TrimRight(bl, "\r")))
		}
		n++
		changed = true
		if depth == 0 {
			p.note("the message at text line %d (below %q) carries its own raw header: read as a message (RFC 934 encapsulation or a copied header) and written back as a header block", outLines+2, strings.TrimSpace(l))
		} else {
			p.note("an attached message holds a message with its own raw header (below %q): read as a message and written back as a header block", strings.TrimSpace(l))
		}
		out = append(out, l)
		rendered := p.readEncapsulated(body, hdrEnd-j, depth+1)
		out = append(out, rendered)
		outLines += 1 + strings.Count(rendered, "\n") + 1
		if end < len(lines) {
			out = append(out, lines[end])
			outLines++
		}
		i = end
	}
	if !changed {
		return text
	}
	return strings.Join(out, "\n")
}

// encapsulatedAt finds the message encapsulated below the separator line
// lines[i]: its header starts at line j (after up to three blank lines)
// and ends before hdrEnd; the message ends at the end line of this level
// (an inner one is stuffed: "- ------- End of Forwarded Message"), end,
// or with the text (len(lines)). ok is false when no raw header follows.
func encapsulatedAt(lines []string, i int) (j, hdrEnd, end int, ok bool) {
	j = i + 1
	for j < len(lines) && j-i < 4 && strings.TrimSpace(lines[j]) == "" {
		j++
	}
	if hdrEnd, ok = rawHeaderEnd(lines, j); !ok {
		return 0, 0, 0, false
	}
	end = len(lines)
	for k := hdrEnd; k < len(lines); k++ {
		if !strings.HasPrefix(lines[k], "- ") && parseSeparator(lines[k]).end {
			end = k
			break
		}
	}
	return j, hdrEnd, end, true
}

// readEncapsulated reads the lines of an encapsulated message (its header
// is lines[:hdrLines]) and writes it back as a header block over its text.
func (p *parser) readEncapsulated(lines []string, hdrLines, depth int) string {
	hdr := glueWrappedAddresses(lines[:hdrLines])
	raw := strings.Join(append(hdr, lines[hdrLines:]...), "\r\n") + "\r\n"
	hr := readHeader(bufio.NewReader(strings.NewReader(raw)), p.lim.MaxHeaderBytes, maxHeaderLine)
	h := message.Header{Header: hr.header}
	body := strings.Join(lines[hdrLines:], "\n")
	if h.Get("Content-Type") == "" && h.Get("Content-Transfer-Encoding") == "" {
		// A header block that names no encoding (nmh's mhl.forward
		// keeps only Date, From, To, Cc, Subject) over a body still in
		// its MIME structure, transfer encoding or 7-bit charset: best
		// effort, with a warning.
		_, boundary := guessBoundary(strings.NewReader(body))
		switch {
		case boundary != "":
			h.SetContentType("multipart/mixed", map[string]string{"boundary": boundary})
			p.warn("a forwarded message's text is still a MIME multipart though its header does not say so: read with the boundary %q found in it", boundary)
		case strings.Contains(body, "\x1b$B") || strings.Contains(body, "\x1b$@"):
			h.SetContentType("text/plain", map[string]string{"charset": "iso-2022-jp"})
			p.warn("a forwarded message's text is in ISO-2022-JP though its header does not say so: read as ISO-2022-JP")
		}
	}
	if h.Get("Content-Type") == "" && h.Get("Content-Transfer-Encoding") == "" {
		for _, cte := range []string{"base64", "quoted-printable"} {
			if stillEncoded(cte, body) && (cte == "base64" || len(qpEscapeRe.FindAllStringIndex(body, 3)) == 3) {
				h.Set("Content-Transfer-Encoding", cte)
				h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
				p.warn("a forwarded message's text is still in %s though its header does not say so: decoded as %s in UTF-8", cte, cte)
				break
			}
		}
	}
	mt, params := contentType(h)
	if strings.HasPrefix(mt, "multipart/") && (params["boundary"] == "" || !strings.Contains(body, "--"+params["boundary"])) {
		// The client wrote the decoded text under the copied header of
		// a multipart: the structure it names is gone.
		mt, params = "text/plain", map[string]string{}
		h.SetContentType(mt, params)
	}
	if strings.HasPrefix(mt, "text/") && !stillEncoded(h.Get("Content-Transfer-Encoding"), body) && !stillInCharset(params["charset"], body) {
		// The forwarding client decoded the body and wrote it in the
		// forward's charset: the copied header describes bytes that are
		// gone.
		h.Del("Content-Transfer-Encoding")
		params["charset"] = "utf-8"
		h.SetContentType(mt, params)
	}
	sub := p.messageFrom(hr, depth)
	return renderEncapsulated(sub, p)
}

// glueWrappedAddresses joins header lines that a client wrapped inside an
// address (nmh's mhl wraps at 80 columns: "<a@example.exam" then "\t  ple>"):
// a continuation line is glued to the line above, without a space, when
// the word on either side of the break holds an "@" and the line above
// reached the wrap width.
func glueWrappedAddresses(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		l = strings.TrimRight(l, "\r")
		if n := len(out); n > 0 && l != "" && (l[0] == ' ' || l[0] == '\t') {
			prev := out[n-1]
			cont := strings.TrimLeft(l, " \t")
			if lastLineLen(prev) >= minWrappedLine && prev != "" && prev[len(prev)-1] != ' ' &&
				(strings.Contains(lastWord(prev), "@") || strings.Contains(firstWord(cont), "@")) {
				out[n-1] = prev + cont
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

// lastLineLen is the length of the last physical line of s.
func lastLineLen(s string) int {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return len(s) - i - 1
	}
	return len(s)
}

func lastWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// stillEncoded reports whether a body is still in the transfer encoding
// its copied header names.
func stillEncoded(cte, body string) bool {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		n := 0
		for _, l := range strings.Split(body, "\n") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			if !base64Line.MatchString(l) {
				return false
			}
			n++
		}
		return n > 0
	case "quoted-printable":
		for i := 0; i < len(body); i++ {
			if body[i] >= 0x80 {
				return false
			}
		}
		return strings.Contains(body, "=\n") || qpEscapeRe.MatchString(body)
	}
	return false
}

// stillInCharset reports a body still in a 7-bit charset that cannot pass
// for re-encoded text: ISO-2022 escape sequences.
func stillInCharset(charset, body string) bool {
	return strings.HasPrefix(strings.ToLower(charset), "iso-2022") && strings.Contains(body, "\x1b")
}

// recodeEncapsulated is the byte-level half of reading encapsulated
// messages, for a text part that says UTF-8 (or nothing) but is not: nmh
// copies an 8-bit original's body as it is, in its own charset. Each
// encapsulated body that is not UTF-8 is decoded by its own header's
// charset, so that the forward's own text and the original's both read
// right.
func (p *parser) recodeEncapsulated(data []byte) []byte {
	if !mayHoldRawHeader(string(data)) {
		return data
	}
	raw := bytes.Split(data, []byte("\n"))
	lines := make([]string, len(raw))
	for i, l := range raw {
		lines[i] = string(l)
	}
	changed := false
	for i := 0; i < len(lines); i++ {
		if sep := parseSeparator(lines[i]); !sep.ok || sep.end || sep.rule {
			continue
		}
		j, hdrEnd, end, ok := encapsulatedAt(lines, i)
		if !ok {
			continue
		}
		body := bytes.Join(raw[hdrEnd:end], []byte("\n"))
		if utf8.Valid(body) {
			i = end
			continue
		}
		var hdr []string
		for _, l := range lines[j:hdrEnd] {
			hdr = append(hdr, unstuff(strings.TrimRight(l, "\r")))
		}
		hr := readHeader(bufio.NewReader(strings.NewReader(strings.Join(hdr, "\r\n")+"\r\n\r\n")), p.lim.MaxHeaderBytes, maxHeaderLine)
		_, params := contentType(message.Header{Header: hr.header})
		cs := params["charset"]
		text, known := decodeCharset(body, cs)
		if cs == "" || !known {
			p.warn("a forwarded message in the text is not UTF-8 and names no charset backstop knows (%q): read as Windows-1252 at best", cs)
		} else {
			p.note("the forwarded message below %q keeps its own charset %s inside a part that says UTF-8: read in %s", strings.TrimSpace(lines[i]), cs, cs)
		}
		for k := hdrEnd; k < end; k++ {
			raw[k] = nil
		}
		raw[hdrEnd] = []byte(text)
		changed = true
		i = end
	}
	if !changed {
		return data
	}
	var out [][]byte
	for k, l := range raw {
		if l == nil && k > 0 {
			continue
		}
		out = append(out, l)
	}
	return bytes.Join(out, []byte("\n"))
}

// renderEncapsulated writes a message read from an encapsulation as a
// header block and its text, and the messages it carries after it.
func renderEncapsulated(sub *parsed, p *parser) string {
	m := sub.msg
	var b strings.Builder
	b.WriteString("From: " + formatAddress(m.From) + "\n")
	if len(m.To) > 0 {
		b.WriteString("To: " + formatAddressList(m.To) + "\n")
	}
	if len(m.Cc) > 0 {
		b.WriteString("Cc: " + formatAddressList(m.Cc) + "\n")
	}
	if d := strings.TrimSpace(toUTF8(sub.header.Get("Date"))); d != "" {
		b.WriteString("Date: " + d + "\n")
	}
	b.WriteString("Subject: " + strings.ReplaceAll(m.Subject, "\n", " ") + "\n\n")
	text := sub.plainText()
	if text == "" {
		text = sub.htmlText()
	}
	b.WriteString(p.unwrapEncapsulated(text, sub.depth))
	for _, a := range sub.attached {
		b.WriteString("\n\n-------- Forwarded Message --------\n")
		b.WriteString(renderEncapsulated(a, p))
	}
	return b.String()
}

func formatAddress(a Address) string {
	switch {
	case a.Name == "":
		return "<" + a.Address + ">"
	case a.Address == "":
		return a.Name
	}
	return a.Name + " <" + a.Address + ">"
}

func formatAddressList(as []Address) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = formatAddress(a)
	}
	return strings.Join(parts, "; ")
}
