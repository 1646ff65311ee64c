package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
)

// opener returns an OutAttachment.Open over data that counts its calls
// and fails, after failAfter bytes of a read, when failAfter >= 0.
func opener(data []byte, failAfter int, calls *int) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		*calls++
		var r io.Reader = bytes.NewReader(data)
		if failAfter >= 0 {
			r = io.MultiReader(io.LimitReader(r, int64(failAfter)), errReader{})
		}
		return io.NopCloser(r), nil
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("chunk 3 of 7 is missing") }

// bigEML is a message/rfc822 attachment of about n bytes, 7bit or with
// 8-bit text, or with a bare LF (then sent as an opaque .eml).
func bigEML(n int, kind string) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@customer.example\r\nSubject: recording\r\n\r\n")
	r := rand.New(rand.NewPCG(1, 2))
	for b.Len() < n {
		fmt.Fprintf(&b, "%x\r\n", r.Uint64())
		if kind == "8bit" && b.Len()%997 < 20 {
			b.WriteString("Grüße\r\n")
		}
	}
	if kind == "binary" {
		b.WriteString("a bare\nline feed\r\n")
	}
	return b.Bytes()
}

// TestComposedSize: Composed.Size, the SMTP SIZE declared for a message
// with a streamed attachment, is never below the bytes written, whatever
// the text and header fields expand to (quoted-printable and encoded
// words take up to three bytes for one of non-ASCII text).
func TestComposedSize(t *testing.T) {
	cyrillic := strings.Repeat("Смотрите вложение. ", 1000)
	var refs []string
	for i := range 200 {
		refs = append(refs, fmt.Sprintf("reply-%d.%d@customer.example", i, i*7919))
	}
	for _, tt := range []struct {
		name    string
		subject string
		text    string
		html    string
		refs    []string
		attach  bool
	}{
		{"ascii", "INC-1", "See the attachment.", "<p>See the attachment.</p>", nil, true},
		{"non-ascii text", "INC-1", cyrillic, "<p>" + cyrillic + "</p>", nil, true},
		{"non-ascii text alone", "INC-1", cyrillic, "", nil, false},
		{"non-ascii subject", strings.Repeat("Инцидент ", 60), "x", "", nil, true},
		{"long references", "INC-1", "x", "", refs, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := Outgoing{
				From: Address{Address: "escalations@acme.example"}, To: []Address{{Address: "lead@acme.example"}},
				Subject: tt.subject, MessageID: "x@acme.example", Date: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
				InReplyTo: "y@customer.example", References: tt.refs, Text: tt.text, HTML: tt.html,
			}
			if tt.attach {
				data := bigEML(64<<10, "8bit")
				calls := 0
				o.Attachments = []OutAttachment{{Filename: "INC-1-evidence.eml", ContentType: "message/rfc822", Open: opener(data, -1, &calls), Size: int64(len(data))}}
			}
			c, err := NewComposed(&o)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if _, err := c.WriteTo(&got); err != nil {
				t.Fatal(err)
			}
			if c.Size() < int64(got.Len()) {
				t.Errorf("Size %d, below the %d bytes written", c.Size(), got.Len())
			}
		})
	}
}

// TestComposeStreamed: an attachment given as Open composes exactly as
// the same attachment given as Data (the boundaries aside, which are
// random), with the same encoding chosen.
func TestComposeStreamed(t *testing.T) {
	for _, tt := range []struct {
		name, ctype, kind string
		wantCTE           string
	}{
		{"eml 7bit", "message/rfc822", "7bit", "7bit"},
		{"eml 8bit", "message/rfc822", "8bit", "8bit"},
		{"eml with a bare LF", "message/rfc822", "binary", "base64"},
		{"audio", "audio/wav", "7bit", "base64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := bigEML(300<<10, tt.kind)
			base := Outgoing{
				From: Address{Address: "escalations@acme.example"}, To: []Address{{Address: "lead@acme.example"}},
				Subject: "INC-1", MessageID: "x@acme.example", Date: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
				Text: "See the attachment.", HTML: "<p>See the attachment.</p>",
			}
			inMem := base
			inMem.Attachments = []OutAttachment{{Filename: "INC-1-evidence.eml", ContentType: tt.ctype, Data: data}}
			want, err := Compose(&inMem)
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			streamed := base
			streamed.Attachments = []OutAttachment{{Filename: "INC-1-evidence.eml", ContentType: tt.ctype, Open: opener(data, -1, &calls), Size: int64(len(data))}}
			c, err := NewComposed(&streamed)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			n, err := c.WriteTo(&got)
			if err != nil || n != int64(got.Len()) {
				t.Fatalf("WriteTo: %d, %v", n, err)
			}
			if a, b := unboundary(t, want), unboundary(t, got.Bytes()); a != b {
				t.Fatalf("streamed compose differs from the in-memory one")
			}
			if est := c.Size(); est < int64(got.Len()) || est > int64(got.Len())+int64(got.Len())/5+8<<10 {
				t.Errorf("Size estimate %d for %d bytes", est, got.Len())
			}
			// The attachment as a reader would see it: same bytes, CTE.
			e, err := message.Read(bytes.NewReader(got.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			mr := e.MultipartReader()
			mr.NextPart() // the text
			p, err := mr.NextPart()
			if err != nil {
				t.Fatal(err)
			}
			if cte := p.Header.Get("Content-Transfer-Encoding"); cte != tt.wantCTE {
				t.Errorf("Content-Transfer-Encoding %q, want %q", cte, tt.wantCTE)
			}
			body, err := io.ReadAll(p.Body)
			if err != nil || !bytes.Equal(body, data) {
				t.Errorf("attachment reads back as %d bytes (%v), want the %d given", len(body), err, len(data))
			}
		})
	}
}

// unboundary replaces a composed message's boundaries by fixed names.
func unboundary(t *testing.T, raw []byte) string {
	t.Helper()
	s := string(raw)
	i := 0
	for {
		at := strings.Index(s, `boundary="=_`)
		if at < 0 {
			at = strings.Index(s, "boundary==_")
		}
		if at < 0 {
			return s
		}
		start := strings.Index(s[at:], "=_") + at
		end := start + 2 + 30
		s = strings.ReplaceAll(s, s[start:end], fmt.Sprintf("BOUNDARY-%d", i))
		i++
	}
}

// TestLineScanPieces: lineEncoding gives the same answer however the
// data is cut into pieces (a CR at the end of one, its LF in the next).
func TestLineScanPieces(t *testing.T) {
	for _, data := range []string{
		"a\r\nb\r\n", "a\r\n\xc3\xa9\r\n", "a\nb", "a\rb", "a\r", "\x00", strings.Repeat("x", 998) + "\r\n", strings.Repeat("x", 999) + "\r\n", "",
	} {
		want := lineEncoding([]byte(data))
		for cut := 0; cut <= len(data); cut++ {
			var l lineScan
			l.scan([]byte(data[:cut]))
			l.scan([]byte(data[cut:]))
			if got := l.result(); got != want {
				t.Errorf("%.20q cut at %d: %q, want %q", data, cut, got, want)
			}
		}
	}
}

// TestSendComposedStreams: SendComposed delivers the streamed message
// whole over a real go-smtp server; when reading the attachment fails
// part-way, the DATA is never ended, so the server delivers nothing, and
// the error is permanent.
func TestSendComposedStreams(t *testing.T) {
	ts := newTestSMTP(t, smtpServerOptions{})
	s := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone})
	data := bigEML(2<<20, "7bit")
	out := func(failAfter int) *Outgoing {
		calls := 0
		return &Outgoing{
			From: Address{Address: "escalations@acme.example"}, To: []Address{{Address: "lead@acme.example"}},
			Subject: "INC-1", Text: "See the attachment.",
			Attachments: []OutAttachment{{Filename: "e.eml", ContentType: "message/rfc822", Open: opener(data, failAfter, &calls), Size: int64(len(data))}},
		}
	}
	c, err := NewComposed(out(-1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendComposed(context.Background(), "b@acme.example", []string{"lead@acme.example"}, c); err != nil {
		t.Fatalf("SendComposed: %v", err)
	}
	var want bytes.Buffer
	c.WriteTo(&want)
	if got := ts.received(); len(got) != 1 || unboundary(t, got[0].data) != unboundary(t, want.Bytes()) {
		t.Fatalf("server got %d messages, or a different one", len(got))
	}

	// Fails on the third read pass: the two NewComposed makes pass.
	calls := 0
	o := out(-1)
	o.Attachments[0].Open = func() (io.ReadCloser, error) {
		calls++
		if calls < 3 {
			return io.NopCloser(bytes.NewReader(data)), nil
		}
		return opener(data, 1<<20, new(int))()
	}
	c, err = NewComposed(o)
	if err != nil {
		t.Fatal(err)
	}
	err = s.SendComposed(context.Background(), "b@acme.example", []string{"lead@acme.example"}, c)
	se := sendError(t, err)
	if se.Stage != StageMessage || se.Temporary() || se.Uncertain || !strings.Contains(err.Error(), "chunk 3 of 7 is missing") {
		t.Fatalf("error %v (stage %s, temporary %v, uncertain %v); want a permanent message error naming the cause", err, se.Stage, se.Temporary(), se.Uncertain)
	}
	// The sender goes on working; the cut message was never delivered.
	c, _ = NewComposed(out(-1))
	if err := s.SendComposed(context.Background(), "b@acme.example", []string{"lead@acme.example"}, c); err != nil {
		t.Fatalf("SendComposed after a failed one: %v", err)
	}
	if got := ts.received(); len(got) != 2 {
		t.Fatalf("server delivered %d messages, want the 2 whole ones (a cut DATA delivers nothing)", len(got))
	}
	for _, m := range ts.received() {
		if !bytes.Contains(m.data, data[len(data)-1000:]) {
			t.Errorf("a delivered message lacks the end of the attachment")
		}
	}
}
