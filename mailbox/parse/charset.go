package parse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // ISO-8859-x, Windows-125x, KOI8-R, CJK charsets
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"
)

// toUTF8 returns s when it is valid UTF-8, and s read as Windows-1252 (a
// superset of Latin-1 for printable text) otherwise: the best guess for
// 8-bit text that names no charset.
func toUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out, err := charmap.Windows1252.NewDecoder().String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return out
}

// decodeCharset converts b from charset to UTF-8. Unknown charsets degrade
// to toUTF8 with ok false, so the caller can warn.
func decodeCharset(b []byte, charset string) (s string, ok bool) {
	cs := strings.ToLower(strings.TrimSpace(charset))
	if cs == "" || cs == "utf-8" || cs == "utf8" || cs == "us-ascii" || cs == "ascii" {
		return toUTF8(string(b)), true
	}
	r, err := message.CharsetReader(cs, bytes.NewReader(b))
	if err != nil {
		return toUTF8(string(b)), false
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return toUTF8(string(b)), false
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), true
}

var metaCharsetRe = regexp.MustCompile(`(?i)<meta[^>]+charset\s*=\s*["']?\s*([a-z0-9_\-:.]+)`)

// htmlCharset finds the charset an HTML document declares in a meta tag.
func htmlCharset(b []byte) string {
	if len(b) > 4096 {
		b = b[:4096]
	}
	if m := metaCharsetRe.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

// decodeFlowed undoes RFC 3676 format=flowed: a line ending in a space is
// joined to the next line of the same quote depth (section 4.2), space
// stuffing is removed (section 4.4), and with DelSp=yes the trailing space
// is deleted (section 4.3). The signature separator "-- " is never joined.
func decodeFlowed(text string, delSp bool) string {
	lines := strings.Split(text, "\n")
	var b strings.Builder
	b.Grow(len(text))
	var para strings.Builder
	paraDepth := -1
	flush := func() {
		if paraDepth < 0 {
			return
		}
		b.WriteString(strings.Repeat(">", paraDepth))
		if paraDepth > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(para.String())
		b.WriteByte('\n')
		para.Reset()
		paraDepth = -1
	}
	for _, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		depth := 0
		for depth < len(l) && l[depth] == '>' {
			depth++
		}
		content := l[depth:]
		content = strings.TrimPrefix(content, " ") // space stuffing
		if paraDepth >= 0 && depth != paraDepth {
			flush()
		}
		soft := strings.HasSuffix(content, " ") && content != "-- "
		if soft && delSp {
			content = content[:len(content)-1]
		}
		if paraDepth < 0 {
			paraDepth = depth
		}
		para.WriteString(content)
		if !soft {
			flush()
		}
	}
	flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// maxLeadingBlank is how many blank lines readHeader skips before a header.
const maxLeadingBlank = 4

// headerResult is a message header read by readHeader.
type headerResult struct {
	header   textproto.Header
	body     io.Reader // what follows the header
	noHeader bool      // the input did not start with a header field
	warnings []string
}

// isFieldLine reports whether b starts like a header field, as
// `^[!-9;-~]+[ \t]*:` matches: a field name (printable ASCII but the
// colon), maybe spaces or tabs, a colon.
func isFieldLine(b []byte) bool {
	i := 0
	for i < len(b) && b[i] >= '!' && b[i] <= '~' && b[i] != ':' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i < len(b) && b[i] == ':'
}

// readHeader reads a message header section leniently: it keeps at most
// maxBytes of it and at most maxLine bytes of any one line (the rest is
// skipped, with a warning), drops lines that are not fields, and treats a
// line that is neither a field nor a continuation as the start of the body
// when the blank separator line is missing. An mbox "From " line is skipped.
func readHeader(br *bufio.Reader, maxBytes, maxLine int) headerResult {
	var res headerResult
	var kept bytes.Buffer
	first := true
	leading := 0      // blank lines skipped before the first field
	skipping := false // past maxBytes: read on to the blank line, keep nothing
	var lineBuf []byte
	for {
		line, truncated, err := readCappedLine(br, maxLine, lineBuf[:0])
		lineBuf = line
		if truncated {
			res.warnings = append(res.warnings, fmt.Sprintf("header line longer than %d bytes: truncated", maxLine))
		}
		if len(line) == 0 && err != nil {
			if first {
				res.noHeader = true
			}
			break
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 && first && leading < maxLeadingBlank && err == nil {
			// A message that starts with a blank line: best effort,
			// the header is read from the first field that follows.
			if next, _ := br.Peek(256); isFieldLine(bytes.TrimLeft(next, "\r\n")) {
				leading++
				continue
			}
		}
		if len(trimmed) == 0 {
			if first {
				res.noHeader = true
			}
			break // end of the header
		}
		if leading > 0 && first {
			res.warnings = append(res.warnings, "the message starts with a blank line: its header is read from the first field after it")
		}
		if first && bytes.HasPrefix(trimmed, []byte("From ")) {
			first = false
			continue
		}
		isCont := trimmed[0] == ' ' || trimmed[0] == '\t'
		if !isCont && !isFieldLine(trimmed) {
			if first {
				res.noHeader = true
			} else {
				res.warnings = append(res.warnings, "header not ended by a blank line: the rest is read as the body")
			}
			res.body = io.MultiReader(bytes.NewReader(append([]byte(nil), line...)), br)
			break
		}
		if isCont && first {
			// A header cannot start with a continuation line.
			res.noHeader = true
			res.body = io.MultiReader(bytes.NewReader(append([]byte(nil), line...)), br)
			break
		}
		first = false
		if skipping {
			continue
		}
		if kept.Len()+len(trimmed)+2 > maxBytes {
			res.warnings = append(res.warnings, fmt.Sprintf("header section larger than %d bytes: the rest of it is ignored", maxBytes))
			skipping = true
			continue
		}
		kept.Write(trimmed)
		kept.WriteString("\r\n")
		if err != nil {
			break
		}
	}
	if res.body == nil {
		res.body = br
	}
	kept.WriteString("\r\n")
	// A buffer no larger than the header (bufio's default size at most):
	// the header is in it all the same.
	h, err := textproto.ReadHeader(bufio.NewReaderSize(&kept, min(kept.Len(), 4096)))
	if err != nil {
		res.warnings = append(res.warnings, "header: "+err.Error())
	}
	res.header = h
	return res
}

// readCappedLine reads one line (with its end) keeping at most max bytes of
// it; the rest of an overlong line is read and dropped.
func readCappedLine(br *bufio.Reader, max int, buf []byte) (line []byte, truncated bool, err error) {
	for {
		frag, e := br.ReadSlice('\n')
		if len(buf)+len(frag) <= max {
			buf = append(buf, frag...)
		} else {
			if room := max - len(buf); room > 0 {
				buf = append(buf, frag[:room]...)
			}
			truncated = true
		}
		if e == bufio.ErrBufferFull {
			continue
		}
		if truncated && (len(buf) == 0 || buf[len(buf)-1] != '\n') {
			buf = append(buf, '\n')
		}
		return buf, truncated, e
	}
}

// base64Reader decodes base64 leniently: characters outside the alphabet
// are skipped (reported once), and decoding stops at the first error with
// what was decoded so far.
type base64Reader struct {
	src    *bufio.Reader
	warn   func(string)
	warned bool
	quad   [4]byte
	nq     int
	out    [3]byte
	nout   int
	outPos int
	ended  bool // padding seen
	err    error
}

func newBase64Reader(r io.Reader, warn func(string)) io.Reader {
	return &base64Reader{src: bufio.NewReaderSize(r, 8192), warn: warn}
}

func b64val(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+' || c == '-':
		return 62
	case c == '/' || c == '_':
		return 63
	}
	return -1
}

func (b *base64Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if b.outPos < b.nout {
			c := copy(p[n:], b.out[b.outPos:b.nout])
			b.outPos += c
			n += c
			continue
		}
		if b.err != nil {
			break
		}
		c, err := b.src.ReadByte()
		if err != nil {
			b.flushPartial()
			b.err = err
			continue
		}
		if c == '=' {
			b.flushPartial()
			continue
		}
		v := b64val(c)
		if v < 0 {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' && !b.warned {
				b.warned = true
				b.warn(fmt.Sprintf("character %q is not base64: skipped", c))
			}
			continue
		}
		b.quad[b.nq] = byte(v)
		b.nq++
		if b.nq == 4 {
			q := b.quad
			b.out = [3]byte{q[0]<<2 | q[1]>>4, q[1]<<4 | q[2]>>2, q[2]<<6 | q[3]}
			b.nout, b.outPos, b.nq = 3, 0, 0
		}
	}
	if n == 0 && b.err != nil {
		return 0, b.err
	}
	return n, nil
}

// flushPartial decodes a group cut short by padding or the end of input.
func (b *base64Reader) flushPartial() {
	q := b.quad
	switch b.nq {
	case 1:
		if !b.warned {
			b.warned = true
			b.warn("truncated base64 data")
		}
		b.nout = 0
	case 2:
		b.out = [3]byte{q[0]<<2 | q[1]>>4}
		b.nout = 1
	case 3:
		b.out = [3]byte{q[0]<<2 | q[1]>>4, q[1]<<4 | q[2]>>2}
		b.nout = 2
	default:
		b.nout = 0
	}
	b.outPos, b.nq = 0, 0
}

// qpReader decodes quoted-printable (RFC 2045 section 6.7) leniently: an
// "=" not followed by two hex digits or a line end is kept as it is, and
// lines of any length are accepted.
type qpReader struct {
	src *bufio.Reader
	err error
}

func newQPReader(r io.Reader) io.Reader {
	return &qpReader{src: bufio.NewReaderSize(r, 8192)}
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

func (q *qpReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && q.err == nil {
		c, err := q.src.ReadByte()
		if err != nil {
			q.err = err
			break
		}
		if c != '=' {
			p[n] = c
			n++
			continue
		}
		next, err := q.src.Peek(2)
		if len(next) >= 1 && next[0] == '\n' {
			q.src.Discard(1) // soft line break
			continue
		}
		if len(next) >= 2 && next[0] == '\r' && next[1] == '\n' {
			q.src.Discard(2)
			continue
		}
		if len(next) >= 1 && (next[0] == ' ' || next[0] == '\t') {
			// "=" followed by trailing white space, then the line end.
			line, _ := q.src.Peek(80)
			k := 0
			for k < len(line) && (line[k] == ' ' || line[k] == '\t') {
				k++
			}
			if k < len(line) && (line[k] == '\n' || line[k] == '\r') {
				q.src.Discard(k)
				if b, _ := q.src.Peek(2); len(b) == 2 && b[0] == '\r' && b[1] == '\n' {
					q.src.Discard(2)
				} else {
					q.src.Discard(1)
				}
				continue
			}
		}
		if len(next) == 2 && unhex(next[0]) >= 0 && unhex(next[1]) >= 0 {
			p[n] = byte(unhex(next[0])<<4 | unhex(next[1]))
			n++
			q.src.Discard(2)
			continue
		}
		if err != nil && len(next) == 0 {
			continue // "=" at the very end
		}
		p[n] = '='
		n++
	}
	if n == 0 && q.err != nil {
		return 0, q.err
	}
	return n, nil
}
