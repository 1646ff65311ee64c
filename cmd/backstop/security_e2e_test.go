package main

// The attacks a hostile sender tried on backstop, each as one row of
// TestSecurity: crafted messages delivered into the real IMAP mailbox
// (go-imap's server, and Dovecot with BACKSTOP_TEST_DOVECOT=1), read by the
// running daemon, and everything it sends captured by the go-smtp server.
// To add an attack, add a row: its name says what the attacker does, its
// run what must (not) happen.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"backstop/mailbox"
	"backstop/mailbox/embedded"
	"backstop/workflow"
)

// attack is one row of TestSecurity.
type attack struct {
	name string
	hold time.Duration    // commands.hold
	opts []harnessOption  // the configuration under attack
	run  func(ch *secRun) // the attack, and what must hold after it
}

// secRun is one attack against one IMAP server.
type secRun struct {
	*commandHarness
	t    *testing.T
	jane embedded.Captured // Jane's notice about INC-1
	auth string            // the trusted Authentication-Results header for acme.example
}

func verifyMode(mode string) harnessOption {
	return func(h *harness) { h.cfg.Commands.Verify = mode }
}

func recipientCap(n int) harnessOption {
	return func(h *harness) { h.cfg.Notices.MaxPerRecipientPerHour = n }
}

func customerBounceAddress(a string) harnessOption {
	return func(h *harness) { h.cfg.SMTP.CustomerBounceAddress = a }
}

var attacks = []attack{
	{
		name: "a command hidden in HTML the lead did not see",
		run: func(ch *secRun) {
			hidden := []string{
				`<div style="display:none">SEVER</div><div>Thanks, looking</div>`,
				`<p hidden>SEVER</p><p>Thanks, looking</p>`,
				`<div style="font-size:0px">SEVER</div><div>Thanks, looking</div>`,
				`<div style="color:#ffffff">SEVER</div><div>Thanks, looking</div>`,
				`<div style="mso-hide:all">SEVER</div><div>Thanks, looking</div>`,
				`<div style="visibility:hidden">SEVER</div><div>Thanks, looking</div>`,
				// A forwarded thread pasted into the reply, with its markup.
				`<div><div style="display:none;max-height:0;overflow:hidden">sever<br>---------- Forwarded message ---------</div>Thanks, looking</div>`,
			}
			for i, h := range hidden {
				ch.deliver(reply{from: "jane@acme.example", to: &ch.jane, html: h, authRes: ch.auth})
				ch.handled(2 + i)
			}
			// Both parts, saying different things: refused, with a receipt.
			ch.deliver(reply{from: "jane@acme.example", to: &ch.jane, text: "SEVER", html: "<div>Thanks, looking</div>", authRes: ch.auth})
			ch.handled(2 + len(hidden))
			ch.wantState("reported")
			ch.wantNothingTo(customer)
			ch.wantReceipt("jane@acme.example", "different commands")
		},
	},
	{
		name: "a command word in look-alike letters",
		run: func(ch *secRun) {
			ch.deliver(reply{from: "jane@acme.example", to: &ch.jane, text: "ſever", authRes: ch.auth})
			ch.handled(2)
			ch.wantState("reported")
			ch.wantNothingTo(customer)
			ch.wantReceipt("jane@acme.example", "Not understood: ſever")
		},
	},
	{
		name: "a SEVER replayed after CANCEL",
		hold: 10 * time.Minute,
		run: func(ch *secRun) {
			sever := reply{from: "jane@acme.example", to: &ch.jane, text: "SEVER", authRes: ch.auth}
			ch.deliver(sever)
			ch.handled(2)
			ch.deliver(reply{from: "jane@acme.example", to: &ch.jane, text: "CANCEL", authRes: ch.auth})
			ch.handled(3)
			ch.wantState("reported")
			// The same reply again, only its Message-ID changed.
			ch.deliver(sever)
			ch.handled(4)
			ch.wantState("reported")
			ch.wantReceipt("jane@acme.example", "CANCEL")
			if n := ch.customerRows(); n != 1 {
				t := ch.t
				t.Errorf("%d customer emails queued, want the one cancelled", n)
			}
			// An ordinary second SEVER, answering the latest email: carried out.
			latest, _ := ch.nthTo("jane@acme.example", len(ch.sentTo("jane@acme.example")))
			ch.deliver(reply{from: "jane@acme.example", to: &latest, text: "SEVER", authRes: ch.auth})
			ch.handled(5)
			ch.wantState("severed")
		},
	},
	{
		name: "a forged bounce for a customer email",
		opts: []harnessOption{customerBounceAddress("bounces@acme.example")},
		run: func(ch *secRun) {
			ch.deliver(reply{from: "jane@acme.example", to: &ch.jane, text: "BOUNDARY", authRes: ch.auth})
			ch.handled(2)
			sent, m := ch.nthTo(customer, 1)
			rows := ch.outbox()
			var id int64
			for _, r := range rows {
				if r.Customer {
					id = r.ID
				}
			}
			// The customer guesses the row number of the VERP address …
			guessed := fmt.Sprintf("escalations+bounce-%d@acme.example", id)
			ch.imap.Append("INBOX", dsn(ch.t, guessed, customer, m.MessageID, ""))
			// … and quotes the Message-ID they received, to the plain address.
			ch.imap.Append("INBOX", dsn(ch.t, "escalations@acme.example", customer, m.MessageID, ""))
			ch.handled(4)
			ch.wantOutboxState(id, "sent")
			ch.wantEvents("suspicious_bounce", 2)
			ch.wantNotices("jane@acme.example", "security_notice", "bounce", 1)
			// The real bounce comes back to the signed address: believed.
			if strings.Contains(sent.From, "escalations") {
				ch.t.Errorf("the customer email's envelope sender %s reveals the escalations address", sent.From)
			}
			ch.imap.Append("INBOX", dsn(ch.t, sent.From, customer, m.MessageID, ""))
			ch.handled(5)
			ch.wantOutboxState(id, "bounced")
		},
	},
	{
		name: "a borrowed Message-ID sent before the real forward",
		run: func(ch *secRun) {
			real := forward(ch.t, 2, "chris@initech.example")
			id := rawHeader(real, "Message-ID")
			spam, err := mailbox.Compose(&mailbox.Outgoing{
				From: mailbox.Address{Address: "someone@elsewhere.example"}, To: []mailbox.Address{{Address: "escalations@acme.example"}},
				Subject: "hello", MessageID: id, Date: time.Now(), Text: "cheap pills",
			})
			if err != nil {
				ch.t.Fatal(err)
			}
			ch.imap.Append("INBOX", spam)
			ch.handled(2)
			ch.imap.Append("INBOX", real)
			ch.handled(3)
			if n := len(ch.incidents(ch.st)); n != 2 {
				ch.t.Fatalf("%d incidents, want the real forward's INC-2 too", n)
			}
			ch.wantNotices("jane@acme.example", "lead_notice", "INC-2", 1)
			ch.wantEvents("message_id_collision", 1)
		},
	},
	{
		name: "a line break in the customer's name",
		run: func(ch *secRun) {
			ch.imap.Append("INBOX", forwardAttached(ch.t, "Jordan\r\nBcc: everyone@globex.example", "kim@globex.example"))
			ch.handled(2)
			notice := ch.waitNotice("jane@acme.example", "INC-2")
			ch.deliver(reply{from: "jane@acme.example", to: &notice, text: "BOUNDARY", authRes: ch.auth})
			ch.handled(3)
			_, b := ch.nthTo("kim@globex.example", 1)
			if len(b.To) != 1 || strings.ContainsAny(b.To[0].Name, "\r\n") {
				ch.t.Errorf("boundary To = %+v", b.To)
			}
			ch.deliver(reply{from: "jane@acme.example", to: &notice, text: "SEVER", authRes: ch.auth})
			ch.handled(4)
			ch.nthTo("kim@globex.example", 2)
			for _, c := range ch.smtp.Sent() {
				if strings.Contains(c.To[0], "everyone") {
					ch.t.Error("a header was injected")
				}
			}
		},
	},
	{
		name: "a burst of forwards and spam to use up the caps",
		opts: []harnessOption{recipientCap(6)},
		run: func(ch *secRun) {
			const forwards, spam = 8, 12
			for i := 0; i < forwards; i++ {
				ch.imap.Append("INBOX", forward(ch.t, 10+i, fmt.Sprintf("customer%d@globex%d.example", i, i)))
			}
			for i := 0; i < spam; i++ {
				raw, _ := mailbox.Compose(&mailbox.Outgoing{
					From: mailbox.Address{Address: fmt.Sprintf("spam%d@elsewhere.example", i)}, To: []mailbox.Address{{Address: "escalations@acme.example"}},
					Subject: "offer", MessageID: fmt.Sprintf("<spam-%d@elsewhere.example>", i), Date: time.Now(), Text: "buy",
				})
				ch.imap.Append("INBOX", raw)
			}
			// Then a forged command.
			ch.deliver(reply{from: "jane@acme.example", to: &ch.jane, text: "SEVER", authRes: "mx.evil.example; dmarc=pass header.from=acme.example"})
			ch.handled(1 + forwards + spam + 1)
			for i := 0; i < forwards; i++ {
				ch.wantNotices("jane@acme.example", "lead_notice", fmt.Sprintf("INC-%d", 2+i), 1)
			}
			ch.wantNotices("jane@acme.example", "security_notice", "SEVER", 1)
			if ch.countEvents("notice_held_back") == 0 {
				ch.t.Error("nothing held back was recorded as notice_held_back")
			}
			if ch.countEvents("mail_suppressed") != 0 {
				ch.t.Error("a notice was suppressed rather than held back")
			}
		},
	},
	{
		name: "Authentication-Results a sender wrote below a foreign one, or that disagree",
		opts: []harnessOption{verifyMode("domain")},
		run: func(ch *secRun) {
			// A trusted-looking header below one from another server.
			ch.deliver(reply{from: "jane@acme.example", to: &ch.jane, text: "SEVER", headers: []string{
				"Authentication-Results: mx.other.example; none",
				"Authentication-Results: " + ch.auth,
			}})
			ch.handled(2)
			// Two trusted headers: the top one says fail.
			ch.deliver(reply{from: "jane@acme.example", to: &ch.jane, text: "SEVER", headers: []string{
				"Authentication-Results: " + trustedMX + "; dmarc=fail header.from=acme.example",
				"Authentication-Results: " + ch.auth,
			}})
			ch.handled(3)
			ch.wantState("reported")
			ch.wantNothingTo(customer)
			ch.wantNotices("jane@acme.example", "security_notice", "SEVER", 2)
			// The real header, on top: believed.
			ch.deliver(reply{from: "jane@acme.example", to: &ch.jane, text: "SEVER", authRes: ch.auth})
			ch.handled(4)
			ch.wantState("severed")
		},
	},
	{
		name: "the customer reads the headers of the email they receive",
		hold: 2 * time.Second,
		run: func(ch *secRun) {
			ch.deliver(reply{from: "jane@acme.example", to: &ch.jane, text: "BOUNDARY", authRes: ch.auth})
			ch.handled(2)
			_, preview := ch.nthTo("jane@acme.example", 2)
			c, m := ch.nthTo(customer, 1)
			hdr, _, _ := bytes.Cut(c.Raw, []byte("\r\n\r\n"))
			internal := regexp.MustCompile(`(?i)escalations|INC-[0-9]|backstop|bs\.[a-z0-9]`)
			if loc := internal.Find(hdr); loc != nil {
				ch.t.Errorf("the customer email's header reveals %q:\n%s", loc, hdr)
			}
			if strings.Contains(c.From, "escalations") {
				ch.t.Errorf("envelope sender %s is the escalations address", c.From)
			}
			if m.Date == nil || preview.Date == nil || m.Date.Sub(*preview.Date) < time.Second {
				ch.t.Errorf("customer Date %v, preview Date %v: the Date must be when it left, after its 2s hold", m.Date, preview.Date)
			}
		},
	},
	{
		name: "a teammate without a display name is refused by name",
		run: func(ch *secRun) {
			ch.deliver(reply{from: "sam@acme.example", to: ptr(ch.notices["sam@acme.example"]), text: "SEVER", authRes: ch.auth})
			ch.handled(2)
			_, m := ch.nthTo("sam@acme.example", 2)
			if !strings.Contains(m.Text, "Hi Sam") {
				ch.t.Errorf("the refusal does not greet Sam by name:\n%s", m.Text)
			}
		},
	},
	{
		name: "more messages about a severed customer, and the same conversation forwarded again",
		run: func(ch *secRun) {
			ch.imap.Append("INBOX", forward(ch.t, 1, customer)) // same Message-ID: the same message, a duplicate
			again := forward(ch.t, 1, customer)
			again = bytes.Replace(again, []byte("<fwd-1-"), []byte("<fwd-1b-"), 1) // the same conversation, forwarded again
			ch.imap.Append("INBOX", again)
			ch.handled(3)
			ch.deliver(reply{from: "jane@acme.example", to: &ch.jane, text: "SEVER", authRes: ch.auth})
			ch.handled(4)
			ch.wantState("severed")
			ch.wantNotices("jane@acme.example", "evidence_added", "", 0)
			ch.imap.Append("INBOX", forward(ch.t, 3, customer))
			ch.handled(5)
			_, m := ch.nthTo("jane@acme.example", len(ch.sentTo("jane@acme.example")))
			last := m.Text[strings.LastIndex(m.Text, "Reply "):]
			if strings.Contains(last, "BOUNDARY") || strings.Contains(last, "SEVER") {
				ch.t.Errorf("the notice about a severed incident suggests %q", last)
			}
		},
	},
}

// TestSecurity runs every attack against every IMAP server.
func TestSecurity(t *testing.T) {
	for _, a := range attacks {
		t.Run(strings.ReplaceAll(a.name, " ", "_"), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				ch := newCommandHarness(t, b, a.hold, a.opts...)
				a.run(&secRun{commandHarness: ch, t: t, jane: ch.notices["jane@acme.example"], auth: trusted("acme.example")})
			})
		})
	}
}

func ptr[T any](v T) *T { return &v }

func (ch *secRun) wantState(want string) {
	ch.t.Helper()
	if got := ch.state(); got != want {
		ch.t.Errorf("INC-1 is %s, want %s", got, want)
	}
}

func (ch *secRun) wantNothingTo(rcpt string) {
	ch.t.Helper()
	ch.settle(ch.st)
	if n := len(ch.sentTo(rcpt)); n != 0 {
		ch.t.Errorf("%d emails went to %s", n, rcpt)
	}
}

// wantReceipt checks that an email to rcpt has text in its subject or text.
func (ch *secRun) wantReceipt(rcpt, text string) {
	ch.t.Helper()
	ch.settle(ch.st)
	for _, c := range ch.sentTo(rcpt) {
		m := parseCaptured(ch.t, c)
		if strings.Contains(m.Subject, text) || strings.Contains(m.Text, text) {
			return
		}
	}
	ch.t.Errorf("no email to %s says %q", rcpt, text)
}

func (ch *secRun) outbox() []workflow.OutboxRow {
	ch.t.Helper()
	rows, err := ch.st.Outbox(context.Background(), 0)
	if err != nil {
		ch.t.Fatal(err)
	}
	return rows
}

func (ch *secRun) customerRows() int {
	n := 0
	for _, r := range ch.outbox() {
		if r.Customer {
			n++
		}
	}
	return n
}

func (ch *secRun) wantOutboxState(id int64, want string) {
	ch.t.Helper()
	for _, r := range ch.outbox() {
		if r.ID == id && r.State != want {
			ch.t.Errorf("outbox #%d is %s, want %s", id, r.State, want)
		}
	}
}

// events lists every event, about an incident or none.
func (ch *secRun) events() []workflow.Event {
	ch.t.Helper()
	ctx := context.Background()
	evs, err := ch.st.Events(ctx)
	if err != nil {
		ch.t.Fatal(err)
	}
	for _, inc := range ch.incidents(ch.st) {
		_, e, err := ch.st.Incident(ctx, inc.ID)
		if err != nil {
			ch.t.Fatal(err)
		}
		evs = append(evs, e...)
	}
	return evs
}

func (ch *secRun) countEvents(kind string) int {
	n := 0
	for _, e := range ch.events() {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func (ch *secRun) wantEvents(kind string, n int) {
	ch.t.Helper()
	if got := ch.countEvents(kind); got != n {
		ch.t.Errorf("%d %s events, want %d", got, kind, n)
	}
}

// wantNotices checks that rcpt got n emails of template whose subject or
// text has text.
func (ch *secRun) wantNotices(rcpt, template, text string, n int) {
	ch.t.Helper()
	ch.settle(ch.st)
	got := 0
	for _, c := range ch.sentTo(rcpt) {
		m := parseCaptured(ch.t, c)
		if rawHeader(c.Raw, "X-Backstop-Template") != template && !templateOf(ch, c, template) {
			continue
		}
		if strings.Contains(m.Subject, text) || strings.Contains(m.Text, text) {
			got++
		}
	}
	if got != n {
		ch.t.Errorf("%d %s emails to %s about %q, want %d", got, template, rcpt, text, n)
	}
}

// templateOf looks up which template an email was rendered from.
func templateOf(ch *secRun, c embedded.Captured, template string) bool {
	id := strings.Trim(rawHeader(c.Raw, "Message-ID"), "<>")
	for _, r := range ch.outbox() {
		if r.MessageID == id {
			return r.Template == template
		}
	}
	return false
}

// waitNotice waits for the first email to rcpt whose subject has text.
func (ch *secRun) waitNotice(rcpt, text string) embedded.Captured {
	ch.t.Helper()
	var found embedded.Captured
	ch.eventually("an email to "+rcpt+" about "+text, func() bool {
		for _, c := range ch.sentTo(rcpt) {
			if strings.Contains(parseCaptured(ch.t, c).Subject, text) {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// dsn is a delivery status report (RFC 3464) as a receiving server writes
// it, sent to envelope: the report that recipient could not be reached
// with the email whose Message-ID is msgID. Hand-written, after Postfix.
func dsn(t *testing.T, envelope, recipient, msgID, authRes string) []byte {
	t.Helper()
	var b strings.Builder
	if authRes != "" {
		b.WriteString("Authentication-Results: " + authRes + "\r\n")
	}
	fmt.Fprintf(&b, "Return-Path: <>\r\nDelivered-To: %s\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.globex.example>\r\nTo: %s\r\n", envelope, envelope)
	fmt.Fprintf(&b, "Subject: Undelivered Mail Returned to Sender\r\nDate: %s\r\nMessage-ID: <dsn-%d@mx.globex.example>\r\n", time.Now().Format(time.RFC1123Z), time.Now().UnixNano())
	b.WriteString("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n")
	b.WriteString("--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n")
	fmt.Fprintf(&b, "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.globex.example\r\n\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: 5.1.1\r\n", recipient)
	fmt.Fprintf(&b, "--B\r\nContent-Type: text/rfc822-headers\r\n\r\nTo: %s\r\nSubject: A note about your messages\r\nMessage-ID: <%s>\r\n--B--\r\n", recipient, strings.Trim(msgID, "<>"))
	return []byte(b.String())
}

// forwardAttached is Sam's forward of a customer email attached as
// message/rfc822, whose From display name is RFC 2047 encoded and decodes
// to name (which may hold a line break). Hand-written.
func forwardAttached(t *testing.T, name, addr string) []byte {
	t.Helper()
	enc := "=?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte(name)) + "?="
	if _, err := mail.ParseAddress(enc + " <" + addr + ">"); err != nil {
		t.Fatal(err)
	}
	return []byte("From: Sam Rivera <sam@acme.example>\r\nTo: escalations@acme.example\r\nSubject: Fwd: you people\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <fwd-crlf@mail.acme.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"F\"\r\n\r\n--F\r\nContent-Type: text/plain\r\n\r\nAnother one.\r\n" +
		"--F\r\nContent-Type: message/rfc822\r\n\r\nFrom: " + enc + " <" + addr + ">\r\nTo: Sam Rivera <sam@acme.example>\r\n" +
		"Subject: you people\r\nDate: Mon, 6 Jan 2025 09:00:00 +0000\r\nMessage-ID: <orig-crlf@globex.example>\r\n\r\nYou are all useless.\r\n--F--\r\n")
}
