package parse

import (
	"bufio"
	"regexp"
	"strings"

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

// unwrapEncapsulated rewrites the encapsulated messages of a plain text
// (see above); text without one is returned as it is.
func (p *parser) unwrapEncapsulated(text string, depth int) string {
	if !strings.Contains(text, "-") || !strings.Contains(text, ":") {
		return text
	}
	lines := strings.Split(text, "\n")
	var out []string
	changed, n := false, 0
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		sep := parseSeparator(l)
		if !sep.ok || sep.end || sep.rule || n >= maxEncapsed || depth+1 > p.lim.MaxDepth {
			out = append(out, l)
			continue
		}
		j := i + 1
		for j < len(lines) && j-i < 4 && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		hdrEnd, ok := rawHeaderEnd(lines, j)
		if !ok {
			out = append(out, l)
			continue
		}
		// The message ends at the end line of this level (an inner one is
		// stuffed: "- ------- End of Forwarded Message") or with the text.
		end := len(lines)
		for k := hdrEnd; k < len(lines); k++ {
			if !strings.HasPrefix(lines[k], "- ") {
				if s := parseSeparator(lines[k]); s.end {
					end = k
					break
				}
			}
		}
		body := make([]string, 0, end-j)
		for _, bl := range lines[j:end] {
			body = append(body, unstuff(strings.TrimRight(bl, "\r")))
		}
		n++
		changed = true
		p.note("the message at text line %d (below %q) carries its own raw header: read as a message (RFC 934 encapsulation or a copied header) and written back as a header block", len(out)+2, strings.TrimSpace(l))
		out = append(out, l)
		out = append(out, p.readEncapsulated(body, hdrEnd-j, depth+1))
		if end < len(lines) {
			out = append(out, lines[end])
		}
		i = end
	}
	if !changed {
		return text
	}
	return strings.Join(out, "\n")
}

// readEncapsulated reads the lines of an encapsulated message (its header
// is lines[:hdrLines]) and writes it back as a header block over its text.
func (p *parser) readEncapsulated(lines []string, hdrLines, depth int) string {
	raw := strings.Join(lines, "\r\n") + "\r\n"
	hr := readHeader(bufio.NewReader(strings.NewReader(raw)), p.lim.MaxHeaderBytes, maxHeaderLine)
	h := message.Header{Header: hr.header}
	body := strings.Join(lines[hdrLines:], "\n")
	mt, params := contentType(h)
	if strings.HasPrefix(mt, "multipart/") && (params["boundary"] == "" || !strings.Contains(body, "--"+params["boundary"])) {
		// The client wrote the decoded text under the copied header of
		// a multipart: the structure it names is gone.
		mt, params = "text/plain", map[string]string{}
		h.SetContentType(mt, params)
	}
	if strings.HasPrefix(mt, "text/") && !stillEncoded(h.Get("Content-Transfer-Encoding"), body) {
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
