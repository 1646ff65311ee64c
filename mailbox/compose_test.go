package mailbox

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// evidenceEML is a forwarded original as a lead's mail client saves it.
const evidenceEML = "From: Customer <angry@customer.example>\r\n" +
	"To: support@acme.example\r\n" +
	"Subject: =?utf-8?q?Wo_ist_meine_Bestellung=3F?=\r\n" +
	"Message-ID: <orig-1@customer.example>\r\n" +
	"Date: Mon, 03 Mar 2025 09:00:00 +0100\r\n" +
	"\r\n" +
	"You people are useless.\r\n" +
	".a line starting with a dot\r\n" +
	"From the start of a line\r\n"

func sampleOutgoing() *Outgoing {
	return &Outgoing{
		From:      Address{Name: "Acme Support", Address: "support@acme.example"},
		Sender:    &Address{Name: "backstop", Address: "backstop@acme.example"},
		To:        []Address{{Name: "Jürgen Müller", Address: "juergen@customer.example"}},
		Cc:        []Address{{Name: "Lead, Team", Address: "lead@acme.example"}},
		ReplyTo:   []Address{{Address: "escalations+inc-42@acme.example"}},
		Subject:   "Über Ihre Nachrichten — a note on how we talk",
		MessageID: "inc-42.abc@acme.example",
		InReplyTo: "<orig-1@customer.example>",
		References: []string{
			"<orig-0@customer.example>", "orig-1@customer.example",
			"a-rather-long-message-id-to-force-folding-0123456789@customer.example",
			"another-rather-long-message-id-to-force-folding-0123456789@customer.example",
		},
		Date:          time.Date(2025, 3, 4, 10, 30, 0, 0, time.FixedZone("", 3600)),
		AutoSubmitted: "auto-generated",
		Headers: [][2]string{
			{"X-Backstop-Incident", "inc-42"},
			{"X-Backstop-Kind", "boundary"},
		},
		Text: "Hello Jürgen,\n\nplease keep it civil.\n",
		HTML: "<p>Hello Jürgen,</p><p>please keep it civil.</p>",
		Attachments: []OutAttachment{
			{Filename: "evidence.eml", ContentType: "message/rfc822", Data: []byte(evidenceEML)},
			{Filename: "Bericht für Herrn Müller.pdf", ContentType: "application/pdf", Data: binaryData(3000)},
		},
	}
}

func binaryData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func mustCompose(t *testing.T, o *Outgoing) []byte {
	t.Helper()
	raw, err := Compose(o)
	if err != nil {
		t.Fatalf("Compose: %v", err)
	}
	checkWireFormat(t, raw)
	return raw
}

// checkWireFormat checks what every composed message must satisfy: CRLF
// line ends, lines of at most 998 octets (RFC 5322 section 2.1.1), no Bcc.
func checkWireFormat(t *testing.T, raw []byte) {
	t.Helper()
	lines := bytes.Split(raw, []byte("\r\n"))
	for i, l := range lines {
		if bytes.ContainsAny(l, "\r\n") {
			t.Errorf("line %d has a bare CR or LF: %q", i+1, l)
		}
		if len(l) > maxLineOctets {
			t.Errorf("line %d is %d octets long", i+1, len(l))
		}
	}
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Errorf("message does not end in CRLF")
	}
	if regexp.MustCompile(`(?im)^bcc:`).Match(raw) {
		t.Errorf("message has a Bcc field")
	}
}

// headerKeys returns the field names of raw's top-level header in order.
func headerKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	var keys []string
	for {
		line, err := r.ReadContinuedLine()
		if err != nil {
			t.Fatalf("reading header: %v", err)
		}
		if line == "" {
			return keys
		}
		k, _, _ := strings.Cut(line, ":")
		keys = append(keys, k)
	}
}

func TestComposeRoundTrip(t *testing.T) {
	o := sampleOutgoing()
	raw := mustCompose(t, o)

	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("mail.CreateReader: %v", err)
	}
	h := mr.Header

	if got, _ := h.Subject(); got != o.Subject {
		t.Errorf("Subject = %q, want %q", got, o.Subject)
	}
	from, _ := h.AddressList("From")
	if len(from) != 1 || from[0].Name != "Acme Support" || from[0].Address != "support@acme.example" {
		t.Errorf("From = %v", from)
	}
	sender, _ := h.AddressList("Sender")
	if len(sender) != 1 || sender[0].Address != "backstop@acme.example" {
		t.Errorf("Sender = %v", sender)
	}
	to, _ := h.AddressList("To")
	if len(to) != 1 || to[0].Name != "Jürgen Müller" || to[0].Address != "juergen@customer.example" {
		t.Errorf("To = %v", to)
	}
	cc, _ := h.AddressList("Cc")
	if len(cc) != 1 || cc[0].Name != "Lead, Team" {
		t.Errorf("Cc = %v", cc)
	}
	replyTo, _ := h.AddressList("Reply-To")
	if len(replyTo) != 1 || replyTo[0].Address != "escalations+inc-42@acme.example" {
		t.Errorf("Reply-To = %v", replyTo)
	}
	if id, _ := h.MessageID(); id != "inc-42.abc@acme.example" {
		t.Errorf("Message-ID = %q", id)
	}
	if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) != 1 || irt[0] != "orig-1@customer.example" {
		t.Errorf("In-Reply-To = %q", irt)
	}
	refs, _ := h.MsgIDList("References")
	wantRefs := []string{"orig-0@customer.example", "orig-1@customer.example",
		"a-rather-long-message-id-to-force-folding-0123456789@customer.example",
		"another-rather-long-message-id-to-force-folding-0123456789@customer.example"}
	if strings.Join(refs, " ") != strings.Join(wantRefs, " ") {
		t.Errorf("References = %q, want %q", refs, wantRefs)
	}
	if d, _ := h.Date(); !d.Equal(o.Date) {
		t.Errorf("Date = %v, want %v", d, o.Date)
	}
	if got := h.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	if got := h.Get("X-Backstop-Incident"); got != "inc-42" {
		t.Errorf("X-Backstop-Incident = %q", got)
	}
	if got := h.Get("MIME-Version"); got != "1.0" {
		t.Errorf("MIME-Version = %q", got)
	}
	if mt, _, _ := h.ContentType(); mt != "multipart/mixed" {
		t.Errorf("Content-Type = %q, want multipart/mixed", mt)
	}

	var texts []string
	var atts []attachmentSeen
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart: %v", err)
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("reading part: %v", err)
		}
		switch ph := p.Header.(type) {
		case *mail.InlineHeader:
			mt, params, _ := ph.ContentType()
			if params["charset"] != "utf-8" {
				t.Errorf("%s charset = %q", mt, params["charset"])
			}
			if cte := ph.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
				t.Errorf("%s Content-Transfer-Encoding = %q", mt, cte)
			}
			texts = append(texts, mt+": "+string(body))
		case *mail.AttachmentHeader:
			name, err := ph.Filename()
			if err != nil {
				t.Errorf("Filename: %v", err)
			}
			mt, _, _ := ph.ContentType()
			atts = append(atts, attachmentSeen{name, mt, ph.Get("Content-Transfer-Encoding"), body})
		}
	}
	wantTexts := []string{
		"text/plain: Hello Jürgen,\r\n\r\nplease keep it civil.\r\n",
		"text/html: " + o.HTML + "\r\n",
	}
	if strings.Join(texts, "|") != strings.Join(wantTexts, "|") {
		t.Errorf("texts = %q, want %q", texts, wantTexts)
	}
	if len(atts) != 2 {
		t.Fatalf("got %d attachments, want 2", len(atts))
	}
	if a := atts[0]; a.name != "evidence.eml" || a.ctype != "message/rfc822" || a.cte != "7bit" || !bytes.Equal(a.data, []byte(evidenceEML)) {
		t.Errorf("evidence attachment = %s %s %s %q", a.name, a.ctype, a.cte, a.data)
	}
	if a := atts[1]; a.name != "Bericht für Herrn Müller.pdf" || a.ctype != "application/pdf" || a.cte != "base64" || !bytes.Equal(a.data, binaryData(3000)) {
		t.Errorf("pdf attachment = %s %s %s (%d bytes)", a.name, a.ctype, a.cte, len(a.data))
	}

	// The attached original reads as a message of its own.
	inner, err := mail.CreateReader(bytes.NewReader(atts[0].data))
	if err != nil {
		t.Fatalf("reading the attached message: %v", err)
	}
	if s, _ := inner.Header.Subject(); s != "Wo ist meine Bestellung?" {
		t.Errorf("attached Subject = %q", s)
	}
}

type attachmentSeen struct {
	name, ctype, cte string
	data             []byte
}

func TestComposeHeaderOrder(t *testing.T) {
	raw := mustCompose(t, sampleOutgoing())
	got := strings.Join(headerKeys(t, raw), ",")
	want := "Date,From,Sender,To,Cc,Reply-To,Subject,Message-ID,In-Reply-To,References,Auto-Submitted," +
		"X-Backstop-Incident,X-Backstop-Kind,MIME-Version,Content-Type"
	if got != want {
		t.Errorf("header order:\n got %s\nwant %s", got, want)
	}
	// Stable: composing again gives the same header apart from boundaries.
	again := mustCompose(t, sampleOutgoing())
	if a, b := stripBoundaries(raw), stripBoundaries(again); !bytes.Equal(a, b) {
		t.Errorf("Compose is not stable:\n%s\n---\n%s", a, b)
	}
}

var boundaryRE = regexp.MustCompile(`=_[0-9a-f]{30}`)

func stripBoundaries(b []byte) []byte { return boundaryRE.ReplaceAll(b, []byte("BOUNDARY")) }

func TestComposeStructure(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(o *Outgoing)
		parts string // content types in reading order
		top   string
	}{
		{"text only", func(o *Outgoing) { o.HTML, o.Attachments = "", nil }, "text/plain", "text/plain"},
		{"text and html", func(o *Outgoing) { o.Attachments = nil }, "text/plain,text/html", "multipart/alternative"},
		{"text and attachment", func(o *Outgoing) { o.HTML = ""; o.Attachments = o.Attachments[1:] }, "text/plain,application/pdf", "multipart/mixed"},
		{"everything", func(o *Outgoing) {}, "text/plain,text/html,message/rfc822,application/pdf", "multipart/mixed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sampleOutgoing()
			tt.edit(o)
			raw := mustCompose(t, o)
			e, err := message.Read(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("message.Read: %v", err)
			}
			if mt, _, _ := e.Header.ContentType(); mt != tt.top {
				t.Errorf("top Content-Type = %s, want %s", mt, tt.top)
			}
			var types []string
			err = e.Walk(func(path []int, e *message.Entity, err error) error {
				if mt, _, _ := e.Header.ContentType(); !strings.HasPrefix(mt, "multipart/") {
					types = append(types, mt)
				}
				return err
			})
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			if got := strings.Join(types, ","); got != tt.parts {
				t.Errorf("parts = %s, want %s", got, tt.parts)
			}
		})
	}
}

func TestComposeLongLinesEncoded(t *testing.T) {
	long := strings.Repeat("abusive rant without end ", 400) // 10000 octets, one line
	word := strings.Repeat("x", 3000)                        // no space to break at
	o := &Outgoing{
		From:    Address{Address: "support@acme.example"},
		To:      []Address{{Address: "c@customer.example"}},
		Subject: strings.Repeat("long subject ", 30),
		Text:    long + "\n" + word + "\n",
		HTML:    "<p>" + long + "</p>",
	}
	raw := mustCompose(t, o) // checks every line is at most 998 octets
	for i, l := range bytes.Split(raw, []byte("\r\n")) {
		if len(l) > 78 {
			t.Errorf("line %d is %d octets; quoted-printable and folding keep lines under 78", i+1, len(l))
		}
	}
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := mr.Header.Subject(); s != strings.TrimSpace(o.Subject) {
		t.Errorf("folded Subject = %q", s)
	}
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(p.Body)
	if want := long + "\r\n" + word + "\r\n"; string(body) != want {
		t.Errorf("text did not survive quoted-printable: got %d octets, want %d", len(body), len(want))
	}
}

func TestComposeNonASCIIHeaders(t *testing.T) {
	o := &Outgoing{
		From:    Address{Name: "Support-Team Zürich", Address: "support@acme.example"},
		To:      []Address{{Name: "山田 太郎", Address: "yamada@customer.example"}},
		Subject: "Ihre Nachricht vom 3. März — 山田様",
		Headers: [][2]string{{"X-Backstop-Note", "geprüft"}},
		Text:    "ok",
	}
	raw := mustCompose(t, o)
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for i, c := range head {
		if c >= 0x80 {
			t.Fatalf("header has a raw non-ASCII octet at %d: %s", i, head)
		}
	}
	if !bytes.Contains(head, []byte("=?utf-8?")) {
		t.Errorf("no RFC 2047 encoded word in the header:\n%s", head)
	}
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := mr.Header.Subject(); s != o.Subject {
		t.Errorf("Subject = %q", s)
	}
	from, _ := mr.Header.AddressList("From")
	to, _ := mr.Header.AddressList("To")
	if len(from) != 1 || from[0].Name != o.From.Name || len(to) != 1 || to[0].Name != "山田 太郎" {
		t.Errorf("From = %v, To = %v", from, to)
	}
	if v, _ := mr.Header.Text("X-Backstop-Note"); v != "geprüft" {
		t.Errorf("X-Backstop-Note = %q", v)
	}
}

func TestComposeRFC822Attachment(t *testing.T) {
	eightBit := strings.Replace(evidenceEML, "You people", "Ihr Würmer", 1)
	tests := []struct {
		name     string
		att      OutAttachment
		wantType string
		wantCTE  string
		wantName string
	}{
		{"7bit", OutAttachment{Filename: "evidence.eml", ContentType: "message/rfc822", Data: []byte(evidenceEML)}, "message/rfc822", "7bit", "evidence.eml"},
		{"8bit", OutAttachment{Filename: "evidence.eml", ContentType: "message/rfc822", Data: []byte(eightBit)}, "message/rfc822", "8bit", "evidence.eml"},
		{"type from .eml name", OutAttachment{Filename: "evidence.eml", Data: []byte(evidenceEML)}, "message/rfc822", "7bit", "evidence.eml"},
		{"line over 998 octets", OutAttachment{Filename: "evidence.eml", ContentType: "message/rfc822",
			Data: []byte(evidenceEML + strings.Repeat("y", 1200) + "\r\n")}, "application/octet-stream", "base64", "evidence.eml"},
		{"bare LF line ends", OutAttachment{Filename: "original", ContentType: "message/rfc822",
			Data: []byte(strings.ReplaceAll(evidenceEML, "\r\n", "\n"))}, "application/octet-stream", "base64", "original.eml"},
		{"NUL octet", OutAttachment{Filename: "evidence.eml", ContentType: "message/rfc822",
			Data: []byte(evidenceEML + "a\x00b\r\n")}, "application/octet-stream", "base64", "evidence.eml"},
		{"no line end at the end", OutAttachment{Filename: "evidence.eml", ContentType: "message/rfc822",
			Data: []byte(strings.TrimSuffix(evidenceEML, "\r\n"))}, "message/rfc822", "7bit", "evidence.eml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := mustCompose(t, &Outgoing{
				From: Address{Address: "backstop@acme.example"}, To: []Address{{Address: "lead@acme.example"}},
				Text: "See the attachment.", Attachments: []OutAttachment{tt.att},
			})
			mr, err := mail.CreateReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				ah, ok := p.Header.(*mail.AttachmentHeader)
				if !ok {
					continue
				}
				found = true
				body, _ := io.ReadAll(p.Body)
				name, _ := ah.Filename()
				mt, _, _ := ah.ContentType()
				cte := ah.Get("Content-Transfer-Encoding")
				if mt != tt.wantType || cte != tt.wantCTE || name != tt.wantName {
					t.Errorf("got %s %s %q, want %s %s %q", mt, cte, name, tt.wantType, tt.wantCTE, tt.wantName)
				}
				if !bytes.Equal(body, tt.att.Data) {
					t.Errorf("attachment changed:\n got %q\nwant %q", body, tt.att.Data)
				}
			}
			if !found {
				t.Fatal("no attachment read back")
			}
		})
	}
}

func TestComposeErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(o *Outgoing)
		want string
	}{
		{"no from", func(o *Outgoing) { o.From = Address{Name: "Support"} }, "From has no address"},
		{"bad to", func(o *Outgoing) { o.To = []Address{{Address: "not an address"}} }, "To \"not an address\" is not an email address"},
		{"header injection in name", func(o *Outgoing) { o.To[0].Name = "x\r\nBcc: evil@x.example" }, "line break"},
		{"bcc header", func(o *Outgoing) { o.Headers = [][2]string{{"Bcc", "someone@acme.example"}} }, "header Bcc is written by Compose"},
		{"content-type header", func(o *Outgoing) { o.Headers = [][2]string{{"content-type", "text/html"}} }, "written by Compose"},
		{"header value with line break", func(o *Outgoing) { o.Headers = [][2]string{{"X-A", "a\nB: c"}} }, "contains a line break"},
		{"bad header name", func(o *Outgoing) { o.Headers = [][2]string{{"X A", "b"}} }, "header name \"X A\" is invalid"},
		{"bad message id", func(o *Outgoing) { o.MessageID = "no-at-sign" }, "Message-ID \"no-at-sign\" is not a message ID"},
		{"bad reference", func(o *Outgoing) { o.References = []string{"a b@c"} }, "References \"a b@c\" contains"},
		{"bad auto-submitted", func(o *Outgoing) { o.AutoSubmitted = "auto replied" }, "Auto-Submitted"},
		{"bad content type", func(o *Outgoing) { o.Attachments[1].ContentType = "pdf" }, "content type \"pdf\" is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sampleOutgoing()
			tt.edit(o)
			_, err := Compose(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compose error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := Compose(nil); err == nil {
		t.Error("Compose(nil) gave no error")
	}
}

func TestComposeDefaults(t *testing.T) {
	before := time.Now().Add(-time.Second)
	raw := mustCompose(t, &Outgoing{
		From: Address{Address: "support@Acme.Example"},
		To:   []Address{{Address: "c@customer.example"}},
		// Subject folded onto one line.
		Subject: "Re: your\r\nmessage\n",
		Text:    "hi",
	})
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	id, err := mr.Header.MessageID()
	if err != nil || !strings.HasSuffix(id, "@acme.example") {
		t.Errorf("generated Message-ID = %q, %v; want one @acme.example", id, err)
	}
	if d, err := mr.Header.Date(); err != nil || d.Before(before) {
		t.Errorf("default Date = %v, %v", d, err)
	}
	if s, _ := mr.Header.Subject(); s != "Re: your message" {
		t.Errorf("Subject = %q", s)
	}
	if mr.Header.Has("Auto-Submitted") || mr.Header.Has("Sender") || mr.Header.Has("Cc") {
		t.Errorf("unset fields written:\n%s", raw)
	}
}

func TestNewMessageID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewMessageID("inc-42", "acme.example")
		if seen[id] {
			t.Fatalf("NewMessageID repeated %q", id)
		}
		seen[id] = true
	}
	tests := []struct {
		token, domain string
		want          string // regexp
	}{
		{"inc-42", "acme.example", `^inc-42\.[a-z2-7]{24}@acme\.example$`},
		{"", "acme.example", `^[a-z2-7]{24}@acme\.example$`},
		{"inc 42 <x>@y", "ACME.example", `^inc42xy\.[a-z2-7]{24}@acme\.example$`},
		{"..a..b..", "", `^a\.b\.[a-z2-7]{24}@localhost$`},
	}
	for _, tt := range tests {
		id := NewMessageID(tt.token, tt.domain)
		if !regexp.MustCompile(tt.want).MatchString(id) {
			t.Errorf("NewMessageID(%q, %q) = %q, want %s", tt.token, tt.domain, id, tt.want)
		}
		// It reads back unchanged from a header.
		var h mail.Header
		h.Set("Message-ID", "<"+id+">")
		if got, err := h.MessageID(); got != id || err != nil {
			t.Errorf("Message-ID %q reads back as %q, %v", id, got, err)
		}
		if _, err := cleanMsgID("Message-ID", id); err != nil {
			t.Errorf("NewMessageID gave an invalid ID: %v", err)
		}
	}
}

func TestComposeIsReadableByCompose(t *testing.T) {
	// A composed message attached as evidence to another one stays intact.
	first := mustCompose(t, sampleOutgoing())
	second := mustCompose(t, &Outgoing{
		From: Address{Address: "backstop@acme.example"}, To: []Address{{Address: "lead@acme.example"}},
		Text: "evidence attached", Attachments: []OutAttachment{{Filename: "evidence.eml", Data: first}},
	})
	mr, err := mail.CreateReader(bytes.NewReader(second))
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			t.Fatal("attachment not found")
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Header.(*mail.AttachmentHeader); ok {
			body, _ := io.ReadAll(p.Body)
			if !bytes.Equal(body, first) {
				t.Errorf("nested message changed")
			}
			return
		}
	}
}
