package parse

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
)

// repeatReader yields s n times without holding the result in memory.
type repeatReader struct {
	s   string
	n   int
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 && r.n > 0 {
		c := copy(p, r.s[r.off:])
		p = p[c:]
		total += c
		r.off += c
		if r.off == len(r.s) {
			r.off = 0
			r.n--
		}
	}
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestHostileHugeAttachment(t *testing.T) {
	const lines = 50 << 20 / 57 // 57 bytes of data per 76-char base64 line: 50 MiB
	line := strings.Repeat("QUFB", 19) + "\r\n"
	in := io.MultiReader(
		strings.NewReader(mailWith("Fwd: big", "multipart/mixed; boundary=b", "--b\nContent-Type: text/plain\n\nsee attached\n--b\nContent-Type: application/pdf; name=big.pdf\nContent-Transfer-Encoding: base64\n\n")),
		&repeatReader{s: line, n: lines},
		strings.NewReader("\r\n--b--\r\n"),
	)
	var m *Message
	alloc := allocated(func() {
		var err error
		if m, err = Parse(in); err != nil {
			t.Fatal(err)
		}
	})
	if len(m.Attachments) != 1 || m.Attachments[0].Size != int64(lines*57) {
		t.Fatalf("attachments = %+v", m.Attachments)
	}
	if !hasWarning(m, "big.pdf") {
		t.Errorf("warnings = %q", m.Warnings)
	}
	if alloc > 16<<20 {
		t.Errorf("parsing a 50 MiB attachment allocated %d MiB; it should only be measured", alloc>>20)
	}
}

func TestHostileHugeTextPart(t *testing.T) {
	in := io.MultiReader(
		strings.NewReader("From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\n"),
		&repeatReader{s: strings.Repeat("abuse ", 12) + "\r\n", n: (20 << 20) / 74},
	)
	m, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(m.Text)) > DefaultLimits.MaxTextBytes || !hasWarning(m, "text part larger than") {
		t.Errorf("text of %d bytes, warnings %q", len(m.Text), m.Warnings)
	}
}

func TestHostileNestedMultiparts(t *testing.T) {
	const depth = 10000
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nSubject: deep\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
	for i := 0; i < depth; i++ {
		b.WriteString("--b" + itoa(i) + "\r\nContent-Type: multipart/mixed; boundary=\"b" + itoa(i+1) + "\"\r\n\r\n")
	}
	b.WriteString("--b" + itoa(depth) + "\r\nContent-Type: text/plain\r\n\r\ninnermost\r\n")
	for i := depth; i >= 0; i-- {
		b.WriteString("--b" + itoa(i) + "--\r\n")
	}
	m, err := Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(m, "nested deeper than") {
		t.Errorf("warnings = %q", m.Warnings)
	}
}

func TestHostileManyParts(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nSubject: many\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n")
	for i := 0; i < 5000; i++ {
		b.WriteString("--b\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n")
	}
	b.WriteString("--b--\r\n")
	m, err := Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(m, "MIME parts") || len(m.Attachments) >= 5000 {
		t.Errorf("%d attachments, warnings = %q", len(m.Attachments), m.Warnings)
	}
}

func TestHostileLongHeaderLine(t *testing.T) {
	raw := "From: a@example.com\r\nSubject: " + strings.Repeat("x", 1<<20) + "\r\nX-Other: " + strings.Repeat("y ", 1<<19) + "\r\nTo: b@example.com\r\n\r\nbody\r\n"
	m, err := Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.Text != "body" || !hasWarning(m, "header line longer than") {
		t.Errorf("text %q warnings %q", m.Text, m.Warnings)
	}
	// Header section past MaxHeaderBytes: the rest of the header is skipped.
	var b strings.Builder
	b.WriteString("From: a@example.com\r\n")
	for i := 0; i < 20000; i++ {
		b.WriteString("Received: from relay" + itoa(i) + ".example.com by mx.example.com with ESMTP id abcdefghijk\r\n")
	}
	b.WriteString("Subject: late\r\n\r\nbody\r\n")
	m, err = Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if m.Text != "body" || !hasWarning(m, "header section larger than") {
		t.Errorf("text %q warnings %q", m.Text, m.Warnings)
	}
	// A 1 MB header line inside a MIME part.
	raw = mailWith("x", "multipart/mixed; boundary=b", "--b\nContent-Type: text/plain\nX-Junk: "+strings.Repeat("z", 1<<20)+"\n\nhello\n--b--\n")
	if m, err = Parse(strings.NewReader(raw)); err != nil || m.Text != "hello" {
		t.Errorf("part with a long header: err %v text %q", err, m.Text)
	}
}

func TestHostileInvalidBase64(t *testing.T) {
	raw := mailWith("x", "multipart/mixed; boundary=b", "--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!!%%%%\x00\xff====AAA\n--b\nContent-Type: image/png; name=a.png\nContent-Transfer-Encoding: base64\n\n####$$$$\n--b--\n")
	m, err := Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(m, "base64") {
		t.Errorf("warnings %q", m.Warnings)
	}
}

func TestHostileForwardLoop(t *testing.T) {
	// A message attached in itself 100 deep.
	const depth = 100
	msg := "From: Customer <c@client.example>\r\nSubject: original\r\nDate: Mon, 6 Jan 2025 09:14:00 +0100\r\n\r\nabuse\r\n"
	for i := 0; i < depth; i++ {
		msg = "From: Mate" + itoa(i) + " <m" + itoa(i) + "@corp.example>\r\nSubject: Fwd: original\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"l" + itoa(i) + "\"\r\n\r\n--l" + itoa(i) + "\r\nContent-Type: text/plain\r\n\r\nfwd " + itoa(i) + "\r\n" +
			"--l" + itoa(i) + "\r\nContent-Type: message/rfc822\r\n\r\n" + msg + "\r\n--l" + itoa(i) + "--\r\n"
	}
	m, err := Parse(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindForward || len(m.Originals) == 0 || len(m.Originals) > DefaultLimits.MaxOriginals {
		t.Errorf("kind %s with %d originals", m.Kind, len(m.Originals))
	}
	if !hasWarning(m, "nested deeper than") {
		t.Errorf("warnings %q", m.Warnings)
	}
	// The same loop written inline: 100 forwarded blocks.
	var b strings.Builder
	for i := 0; i < depth; i++ {
		b.WriteString("---------- Forwarded message ---------\nFrom: Mate <m@corp.example>\nDate: Mon, Jan 6, 2025 at 9:14 AM\nSubject: Fwd: x\nTo: <e@corp.example>\n\n")
	}
	b.WriteString("abuse\n")
	m, err = Parse(strings.NewReader(mailWith("Fwd: x", "text/plain", b.String())))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Originals) != DefaultLimits.MaxOriginals || !hasWarning(m, "forwarded messages") {
		t.Errorf("%d originals, warnings %q", len(m.Originals), m.Warnings)
	}
}

func TestHostileHTML(t *testing.T) {
	// Deeply nested elements and blockquotes: bounded structure, no blowup.
	html := strings.Repeat("<div><blockquote>", 20000) + "text" + strings.Repeat("<br>", 10000)
	m, err := Parse(strings.NewReader(mailWith("x", "text/html", html)))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Text) > 2<<20 {
		t.Errorf("text of %d bytes from %d bytes of HTML", len(m.Text), len(html))
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}
