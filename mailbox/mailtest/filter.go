package mailtest

import (
	"bytes"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// respFilter rewrites the server side of an IMAP stream so that the listed
// capabilities disappear from CAPABILITY responses and [CAPABILITY ...]
// response codes (RFC 9051 section 7.2.2 and 7.1), and optionally drops
// untagged EXISTS responses (section 7.4.1). Literals are passed through
// untouched. Hiding any capability also hides IMAP4rev2, which implies
// MOVE, UIDPLUS, IDLE and more: a client would otherwise still infer them.
type respFilter struct {
	hide       map[string]bool
	dropExists bool
	off        bool   // the stream turned into TLS (STARTTLS): pass everything
	line       []byte // pending partial line
	raw        int64  // literal bytes still to pass through
}

func newRespFilter(caps []string, dropExists bool) *respFilter {
	if len(caps) == 0 && !dropExists {
		return nil
	}
	f := &respFilter{hide: map[string]bool{}, dropExists: dropExists}
	if len(caps) > 0 {
		f.hide["IMAP4REV2"] = true
	}
	for _, c := range caps {
		f.hide[strings.ToUpper(c)] = true
	}
	return f
}

// existsLine matches an untagged EXISTS response.
var existsLine = regexp.MustCompile(`(?i)^\* [0-9]+ EXISTS\r?\n$`)

// tlsHandshakeRecord is the first byte of a TLS handshake record (RFC 8446
// section 5.1); an IMAP line never starts with it.
const tlsHandshakeRecord = 0x16

// maxPendingLine bounds what the filter holds back while waiting for a
// line end. No capability line comes near it.
const maxPendingLine = 64 << 10

// feed consumes bytes from the server and returns the bytes to forward.
// A server always ends a response with CRLF before it waits for the
// client, so holding back a partial line never stalls the conversation.
func (f *respFilter) feed(p []byte) []byte {
	if f.off {
		return p
	}
	var out []byte
	for len(p) > 0 {
		if f.raw == 0 && len(f.line) == 0 && p[0] == tlsHandshakeRecord {
			// After STARTTLS the server speaks TLS records: the filter
			// cannot see the capabilities any more and steps aside.
			f.off = true
			return append(out, p...)
		}
		if f.raw > 0 {
			n := int64(len(p))
			if n > f.raw {
				n = f.raw
			}
			out = append(out, p[:n]...)
			p = p[n:]
			f.raw -= n
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			f.line = append(f.line, p...)
			if len(f.line) > maxPendingLine {
				out = append(out, f.line...)
				f.line = f.line[:0]
			}
			break
		}
		f.line = append(f.line, p[:i+1]...)
		p = p[i+1:]
		out = append(out, f.rewrite(f.line)...)
		f.raw = literalSize(f.line)
		f.line = f.line[:0]
	}
	return out
}

// literalSize returns N when line ends with a literal announcement
// "{N}\r\n" (or the LITERAL+ forms "{N+}" / "{N-}", or literal8 "~{N}").
func literalSize(line []byte) int64 {
	l := bytes.TrimRight(line, "\r\n")
	if len(l) == 0 || l[len(l)-1] != '}' {
		return 0
	}
	open := bytes.LastIndexByte(l, '{')
	if open < 0 {
		return 0
	}
	num := strings.TrimRight(string(l[open+1:len(l)-1]), "+-")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func (f *respFilter) rewrite(line []byte) []byte {
	if f.dropExists && existsLine.Match(line) {
		return nil
	}
	if len(f.hide) == 0 {
		return line
	}
	s := string(line)
	upper := strings.ToUpper(s)
	var start, end int
	switch {
	case strings.HasPrefix(upper, "* CAPABILITY "):
		start = len("* CAPABILITY ")
		end = len(strings.TrimRight(s, "\r\n"))
	case strings.Contains(upper, "[CAPABILITY "):
		start = strings.Index(upper, "[CAPABILITY ") + len("[CAPABILITY ")
		rel := strings.IndexByte(s[start:], ']')
		if rel < 0 {
			return line
		}
		end = start + rel
	default:
		return line
	}
	var kept []string
	for _, c := range strings.Fields(s[start:end]) {
		if !f.hide[strings.ToUpper(c)] {
			kept = append(kept, c)
		}
	}
	return []byte(s[:start] + strings.Join(kept, " ") + s[end:])
}

// filterListener wraps the connections of a listener with a respFilter
// on what the server writes.
type filterListener struct {
	net.Listener
	caps []string
}

func (l *filterListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &filterConn{Conn: c, f: newRespFilter(l.caps, false)}, nil
}

type filterConn struct {
	net.Conn
	mu sync.Mutex
	f  *respFilter
}

func (c *filterConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.f.feed(p)
	if len(out) > 0 {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
