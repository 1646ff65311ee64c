package parse

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

func mustParse(t *testing.T, raw string) *Message {
	t.Helper()
	m, err := Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

const innerEML = "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@kunde.example>\r\n" +
	"To: Mate <mate@corp.example>\r\nSubject: =?iso-8859-1?q?Beschwerde_=FCber_Sie?=\r\n" +
	"Date: Mon, 6 Jan 2025 09:14:00 +0100\r\nMessage-ID: <orig-1@kunde.example>\r\n" +
	"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"Sie sind unf=E4hig.\r\n"

func TestForwardAsAttachment(t *testing.T) {
	for _, tc := range []struct{ name, partHeader string }{
		{"message/rfc822", "Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"complaint.eml\"\r\n"},
		{"eml as octet-stream", "Content-Type: application/octet-stream; name=\"complaint.eml\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"complaint.eml\"\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := innerEML
			if strings.Contains(tc.partHeader, "base64") {
				inner = base64.StdEncoding.EncodeToString([]byte(innerEML))
			}
			raw := mailWith("Fwd: Beschwerde", "multipart/mixed; boundary=\"b1\"", "--b1\nContent-Type: text/plain\n\nsee attached\n--b1\n"+
				strings.ReplaceAll(tc.partHeader, "\r\n", "\n")+"\n"+strings.ReplaceAll(inner, "\r\n", "\n")+"\n--b1--\n")
			m := mustParse(t, raw)
			if m.Kind != KindForward || m.Note != "see attached" {
				t.Errorf("kind %s note %q", m.Kind, m.Note)
			}
			checkOriginals(t, m, []wantOrig{{"Jürgen Müller", "juergen@kunde.example", "2025-01-06T09:14:00+01:00", "Sie sind unfähig."}})
			o := m.Originals[0]
			if o.Subject != "Beschwerde über Sie" || o.MessageID != "orig-1@kunde.example" || o.DateRaw != "Mon, 6 Jan 2025 09:14:00 +0100" {
				t.Errorf("original = %+v", o)
			}
			if len(m.Attachments) != 1 || m.Attachments[0].Filename != "complaint.eml" || m.Attachments[0].Size == 0 {
				t.Errorf("attachments = %+v", m.Attachments)
			}
		})
	}
}

func TestOutlookMsgUnsupported(t *testing.T) {
	raw := mailWith("FW: x", "multipart/mixed; boundary=b", "--b\nContent-Type: text/plain\n\nsee attached\n--b\nContent-Type: application/vnd.ms-outlook; name=\"Complaint.msg\"\nContent-Transfer-Encoding: base64\n\n0M8R4KGxGuEAAAAAAAAAAAAAAAAAAAAAPgADAP7/CQAGAAAAAAAAAAAAAAABAAAA\n--b--\n")
	m := mustParse(t, raw)
	if len(m.Attachments) != 1 || !m.Attachments[0].Unsupported || m.Attachments[0].Filename != "Complaint.msg" {
		t.Fatalf("attachments = %+v", m.Attachments)
	}
	if !hasWarning(m, `"Complaint.msg"`) {
		t.Errorf("warnings = %q", m.Warnings)
	}
}

func encodeWith(t *testing.T, e encoding.Encoding, s string) string {
	t.Helper()
	out, err := e.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCharsets(t *testing.T) {
	tests := []struct {
		charset string
		enc     encoding.Encoding
		text    string
	}{
		{"iso-8859-1", charmap.ISO8859_1, "Grüße, ça va"},
		{"iso-8859-2", charmap.ISO8859_2, "Zażółć gęślą jaźń"},
		{"iso-8859-15", charmap.ISO8859_15, "Prix: 5 €"},
		{"windows-1250", charmap.Windows1250, "Příliš žluťoučký kůň"},
		{"windows-1251", charmap.Windows1251, "Вы все идиоты"},
		{"windows-1252", charmap.Windows1252, "“quoted” – naïve"},
		{"koi8-r", charmap.KOI8R, "Вы все идиоты"},
		{"iso-2022-jp", japanese.ISO2022JP, "あなたたちは無能です"},
		{"shift_jis", japanese.ShiftJIS, "あなたたちは無能です"},
		{"euc-jp", japanese.EUCJP, "あなたたちは無能です"},
		{"gb2312", simplifiedchinese.HZGB2312, ""}, // placeholder replaced below
		{"gbk", simplifiedchinese.GBK, "你们都是白痴"},
		{"gb18030", simplifiedchinese.GB18030, "你们都是白痴"},
		{"big5", traditionalchinese.Big5, "你們都是白癡"},
		{"euc-kr", korean.EUCKR, "당신들은 무능합니다"},
	}
	for _, tt := range tests {
		if tt.text == "" {
			tt.enc, tt.text = simplifiedchinese.GBK, "你们都是白痴" // GB2312 text is GBK-encoded
		}
		t.Run(tt.charset, func(t *testing.T) {
			body := encodeWith(t, tt.enc, tt.text)
			raw := "From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=\"" + tt.charset + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				base64.StdEncoding.EncodeToString([]byte(body)) + "\r\n"
			m := mustParse(t, raw)
			if m.Text != tt.text {
				t.Errorf("text = %q, want %q", m.Text, tt.text)
			}
			if len(m.Warnings) != 0 {
				t.Errorf("warnings: %q", m.Warnings)
			}
		})
	}
}

func TestUnknownCharsetAndEncoding(t *testing.T) {
	raw := "From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nHello Qapla\xe9\r\n"
	m := mustParse(t, raw)
	if m.Text != "Hello Qaplaé" || !hasWarning(m, "x-klingon") {
		t.Errorf("text %q warnings %q", m.Text, m.Warnings)
	}
	raw = "From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nHello\r\n"
	m = mustParse(t, raw)
	if m.Text != "Hello" || !hasWarning(m, "x-uuencode") {
		t.Errorf("text %q warnings %q", m.Text, m.Warnings)
	}
}

func TestInvalidBase64(t *testing.T) {
	raw := "From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8g!!d29y*bGQ=\r\n"
	m := mustParse(t, raw)
	if m.Text != "Hello world" || !hasWarning(m, "base64") {
		t.Errorf("text %q warnings %q", m.Text, m.Warnings)
	}
}

func TestQuotedPrintableLenient(t *testing.T) {
	raw := "From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nPrice =3D 5=\r\n =E2=82=AC, 100% =ZZ sure\x01\r\n"
	m := mustParse(t, raw)
	if m.Text != "Price = 5 €, 100% =ZZ sure\x01" {
		t.Errorf("text %q", m.Text)
	}
}

func TestFormatFlowed(t *testing.T) {
	raw := "From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8; format=flowed; delsp=yes\r\n\r\n" +
		"This is a long line that was \r\nwrapped by the client.\r\n\r\n> Quoted text that \r\n> goes on.\r\n-- \r\nsig\r\n"
	m := mustParse(t, raw)
	want := "This is a long line that waswrapped by the client.\n\n> Quoted text thatgoes on.\n-- \nsig"
	if m.Text != want {
		t.Errorf("text %q, want %q", m.Text, want)
	}
	raw = strings.Replace(raw, "; delsp=yes", "", 1)
	m = mustParse(t, raw)
	want = "This is a long line that was wrapped by the client.\n\n> Quoted text that goes on.\n-- \nsig"
	if m.Text != want {
		t.Errorf("text %q, want %q", m.Text, want)
	}
}

func TestHeaders(t *testing.T) {
	raw := "Return-Path: <mate@corp.example>\r\nDelivered-To: escalations@corp.example\r\nX-Original-To: esc@corp.example\r\n" +
		"Authentication-Results: mx.corp.example; dmarc=pass header.from=corp.example\r\n" +
		"Authentication-Results: other.example; spf=fail\r\n" +
		"From: \"Mate, Team\" <mate@corp.example>\r\nSender: list@corp.example\r\nReply-To: x@corp.example\r\n" +
		"To: a@corp.example, \"B\" <b@corp.example>\r\nCc: c@corp.example\r\nSubject: =?utf-8?b?w5xiZXI=?=\r\n" +
		"Date: Mon, 6 Jan 2025 10:00:00 +0100\r\nMessage-ID: <m1@corp.example>\r\nIn-Reply-To: <p1@corp.example>\r\n" +
		"References: <p0@corp.example> <p1@corp.example>\r\n\r\nhi\r\n"
	m := mustParse(t, raw)
	if m.MessageID != "m1@corp.example" || len(m.InReplyTo) != 1 || len(m.References) != 2 || m.References[1] != "p1@corp.example" {
		t.Errorf("ids: %q %q %q", m.MessageID, m.InReplyTo, m.References)
	}
	if m.From != (Address{"Mate, Team", "mate@corp.example"}) || m.Sender == nil || m.Sender.Address != "list@corp.example" {
		t.Errorf("from %+v sender %+v", m.From, m.Sender)
	}
	if len(m.To) != 2 || m.To[1] != (Address{"B", "b@corp.example"}) || len(m.Cc) != 1 || len(m.ReplyTo) != 1 {
		t.Errorf("to %+v cc %+v reply-to %+v", m.To, m.Cc, m.ReplyTo)
	}
	if strings.Join(m.DeliveredTo, ",") != "escalations@corp.example,esc@corp.example" || m.ReturnPath != "mate@corp.example" {
		t.Errorf("delivered-to %q return-path %q", m.DeliveredTo, m.ReturnPath)
	}
	if len(m.AuthResults) != 2 || !strings.HasPrefix(m.AuthResults[0], "mx.corp.example") {
		t.Errorf("auth results %q", m.AuthResults)
	}
	if m.Subject != "Über" || m.Date == nil || m.Kind != KindReply {
		t.Errorf("subject %q date %v kind %s", m.Subject, m.Date, m.Kind)
	}
}

func TestJSONSchema(t *testing.T) {
	m := mustParse(t, "From: a@example.com\r\nSubject: x\r\n\r\nhi\r\n")
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, k := range []string{`"in_reply_to":[]`, `"references":[]`, `"to":[]`, `"cc":[]`, `"reply_to":[]`, `"originals":[]`,
		`"attachments":[]`, `"warnings":[]`, `"delivered_to":[]`, `"kind":"other"`, `"note":""`, `"reply_text":"hi"`, `"date":null`} {
		if !strings.Contains(s, k) {
			t.Errorf("JSON lacks %s: %s", k, s)
		}
	}
	if strings.Contains(s, "null,") && strings.Count(s, "null") != 1 {
		t.Errorf("unexpected null in %s", s)
	}
	m = mustParse(t, mailWith("Fwd: x", "text/plain", "---------- Forwarded message ---------\nFrom: John\nDate: someday\nSubject: x\n\nbody\n"))
	b, _ = json.Marshal(m.Originals)
	if want := `[{"from":{"name":"John","address":""},"to":[],"cc":[],"subject":"x","date":null,"date_raw":"someday","body":"body"}]`; string(b) != want {
		t.Errorf("originals JSON = %s, want %s", b, want)
	}
}

func TestMalformed(t *testing.T) {
	for _, in := range []string{"", "just some text\nwith no header\n", " leading space: x\n\nbody", "\r\n\r\nbody only"} {
		m, err := Parse(strings.NewReader(in))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) error = %v, want ErrMalformed", in, err)
		}
		if m == nil {
			t.Fatalf("Parse(%q) returned nil message", in)
		}
	}
	m, _ := Parse(strings.NewReader("just some text\nwith no header\n"))
	if m.Text != "just some text\nwith no header" {
		t.Errorf("text %q", m.Text)
	}
	// A header without the blank line before the body is still a message.
	m, err := Parse(strings.NewReader("From: a@example.com\nSubject: x\nhello there\n"))
	if err != nil || m.Text != "hello there" || m.Subject != "x" {
		t.Errorf("err %v text %q", err, m.Text)
	}
}

func TestBrokenMultipart(t *testing.T) {
	// Missing boundary parameter, malformed Content-Type, truncated parts.
	for _, ct := range []string{"multipart/mixed", "multipart/mixed; boundary=", "multipart/mixed; boundary=\"b; charset=utf-8"} {
		raw := mailWith("x", ct, "--b\nContent-Type: text/plain\n\nhello\n")
		m, err := Parse(strings.NewReader(raw))
		if err != nil || m == nil {
			t.Fatalf("%s: %v", ct, err)
		}
		if len(m.Warnings) == 0 && !strings.Contains(m.Text, "hello") {
			t.Errorf("%s: no text and no warning", ct)
		}
	}
}

func TestAutoDetection(t *testing.T) {
	tests := []struct {
		name, raw string
		reason    string
		bounce    bool
	}{
		{"human", "From: a@example.com\r\nX-Auto-Response-Suppress: All\r\nAuto-Submitted: no\r\n\r\nhi", "", false},
		{"auto-replied", "From: a@example.com\r\nAuto-Submitted: auto-replied\r\n\r\nI am away", "Auto-Submitted: auto-replied", false},
		{"x-autoreply", "From: a@example.com\r\nX-Autoreply: yes\r\n\r\naway", "X-Autoreply: yes", false},
		{"precedence", "From: a@example.com\r\nPrecedence: bulk\r\n\r\nnews", "Precedence: bulk", false},
		{"list", "From: a@example.com\r\nList-Id: <x.example.com>\r\n\r\nnews", "list mail (List-Id)", false},
		{"null sender", "Return-Path: <>\r\nFrom: a@example.com\r\n\r\nx", "null sender (Return-Path: <>)", false},
		{"mailer-daemon", "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n\r\nundeliverable", "From: MAILER-DAEMON@mx.example.com", true},
		{"x-precedence", "From: a@example.com\r\nX-Precedence: auto_reply\r\n\r\naway", "X-Precedence: auto_reply", false},
		{"out-of-office subject", "From: a@example.com\r\nSubject: Automatic reply: [INC-3] New incident\r\n\r\nI am away until Monday.", `subject starts with "automatic reply:"`, false},
		{"german out-of-office subject", "From: a@example.com\r\nSubject: Abwesenheitsnotiz: [INC-3] Neuer Vorfall\r\n\r\nIch bin nicht im Büro.", `subject starts with "abwesenheitsnotiz"`, false},
		{"forwarded out-of-office is human", "From: a@example.com\r\nSubject: Fwd: Automatic reply: refund\r\n\r\nlook at this", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.raw)
			if m.Auto.Reason != tt.reason || m.Auto.Bounce != tt.bounce {
				t.Errorf("auto = %+v, want reason %q bounce %v", m.Auto, tt.reason, tt.bounce)
			}
		})
	}
}

func TestDeliveryStatusReport(t *testing.T) {
	raw := "From: Mail Delivery Subsystem <mailer-daemon@mx.example.com>\r\nTo: escalations@corp.example\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
		"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n" +
		"--r\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n" +
		"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\nArrival-Date: Mon, 6 Jan 2025 09:14:00 +0100\r\n\r\n" +
		"Final-Recipient: rfc822; customer@client.example\r\nOriginal-Recipient: rfc822;customer@client.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n\r\n" +
		"Final-Recipient: rfc822; ok@client.example\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n" +
		"--r\r\nContent-Type: message/rfc822\r\n\r\nFrom: escalations@corp.example\r\nTo: customer@client.example\r\nSubject: boundary\r\nMessage-ID: <out-1@corp.example>\r\n\r\nPlease stop.\r\n" +
		"--r--\r\n"
	m := mustParse(t, raw)
	if !m.Auto.Bounce || len(m.Auto.Failed) != 1 || m.Auto.OriginalMessageID != "out-1@corp.example" {
		t.Fatalf("auto = %+v", m.Auto)
	}
	if f := m.Auto.Failed[0]; f != (DeliveryStatus{Recipient: "customer@client.example", Action: "failed", Status: "5.1.1"}) {
		t.Errorf("failed = %+v", f)
	}
	if m.Kind != KindOther || len(m.Originals) != 0 {
		t.Errorf("a bounce is not a forward: kind %s, %d originals", m.Kind, len(m.Originals))
	}
	// text/rfc822-headers carries the returned message's id too.
	raw2 := strings.Replace(raw, "Content-Type: message/rfc822\r\n\r\nFrom", "Content-Type: text/rfc822-headers\r\n\r\nFrom", 1)
	if m := mustParse(t, raw2); m.Auto.OriginalMessageID != "out-1@corp.example" {
		t.Errorf("rfc822-headers: auto = %+v", m.Auto)
	}
}

func TestHTMLOnlyForwardPrefersStructure(t *testing.T) {
	// The plain part of this multipart/alternative lost the header block;
	// the HTML part has it.
	raw := mailWith("Fwd: x", "multipart/alternative; boundary=a", "--a\nContent-Type: text/plain\n\nsee below\n\nJohn said you are useless\n--a\nContent-Type: text/html\n\n"+
		`<div>see below</div><div class="gmail_quote">---------- Forwarded message ---------<br>From: John Doe &lt;john@example.com&gt;<br>Date: Mon, Jan 6, 2025 at 9:14 AM<br>Subject: x<br><br><div>you are useless</div></div>`+"\n--a--\n")
	m := mustParse(t, raw)
	checkOriginals(t, m, []wantOrig{{"John Doe", "john@example.com", "2025-01-06T09:14:00+01:00", "useless"}})
}
