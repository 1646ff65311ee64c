package main

// Lead commands end to end: replies are delivered into the real IMAP
// mailbox the way the organisation's receiving server would deliver them
// (with its Authentication-Results header), backstop reads them over IMAP,
// and everything it sends is captured by the go-smtp server.

import (
	"bytes"
	"context"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"strings"
	"testing"
	"time"

	"backstop/mailbox"
	"backstop/mailbox/embedded"
	"backstop/mailbox/parse"
	"backstop/workflow"
)

const (
	trustedMX = "mx.acme.example"
	customer  = "jordan@globex.example"
)

// commandHarness is a harness with two leads, domain and token
// verification, and a forward already turned into INC-1.
type commandHarness struct {
	*harness
	st      *workflow.Store
	notices map[string]embedded.Captured // first email to each recipient
}

func newCommandHarness(t *testing.T, b backend, hold time.Duration, opts ...harnessOption) *commandHarness {
	t.Helper()
	opts = append([]harnessOption{withLeads(
		PersonConfig{Name: "Jane Doe", Address: "jane@acme.example"},
		PersonConfig{Name: "Omar Haddad", Address: "omar@acme.example"},
	)}, opts...)
	h := newHarness(t, b, opts...)
	h.cfg.Commands.TrustedAuthservIDs = []string{trustedMX}
	d := Duration(hold)
	h.cfg.Commands.Hold = &d
	h.imap.Append("INBOX", forward(t, 1, customer))
	h.start()
	sent := h.waitSent(3) // sam's acknowledgement, jane's and omar's notices
	ch := &commandHarness{harness: h, st: h.store(), notices: map[string]embedded.Captured{}}
	for _, c := range sent {
		ch.notices[c.To[0]] = c
	}
	return ch
}

// reply is a person's answer to one of backstop's emails.
type reply struct {
	from    string             // the From address
	to      *embedded.Captured // the email answered (its Reply-To and Message-ID); nil: plain escalations@
	text    string             // what the person wrote
	quote   bool               // quote the answered email below, as mail clients do
	authRes string             // the Authentication-Results header the receiving server adds; "" none
	html    string             // an HTML version: with text, multipart/alternative; alone, an HTML-only reply
	headers []string           // header lines the receiving server puts on top, top first
}

// trusted is the header the organisation's own receiving server adds for
// an authenticated sender of its domain.
func trusted(domain string) string {
	return fmt.Sprintf("%s; auth=pass smtp.auth=someone@%s; dmarc=pass header.from=%s", trustedMX, domain, domain)
}

// deliver writes the reply as a mail client would and puts it in the
// watched mailbox as the receiving server would.
func (ch *commandHarness) deliver(r reply) {
	ch.t.Helper()
	out := &mailbox.Outgoing{
		From:      mailbox.Address{Address: r.from},
		To:        []mailbox.Address{{Address: "escalations@acme.example"}},
		Subject:   "Re: your email",
		MessageID: fmt.Sprintf("<reply-%d@client.example>", time.Now().UnixNano()),
		Date:      time.Now(),
		Text:      r.text,
	}
	if r.to != nil {
		m, err := parse.Parse(bytes.NewReader(r.to.Raw))
		if err != nil {
			ch.t.Fatal(err)
		}
		out.To = outAddrs(m.ReplyTo)
		out.Subject = "Re: " + m.Subject
		out.InReplyTo = m.MessageID
		out.References = []string{m.MessageID}
		if r.quote {
			var q strings.Builder
			for _, line := range strings.Split(m.Text, "\n") {
				q.WriteString("> " + line + "\n")
			}
			out.Text += "\n\nOn Mon, 6 Jan 2025 at 10:00, Backstop <escalations@acme.example> wrote:\n" + q.String()
		}
	}
	out.HTML = r.html
	raw, err := mailbox.Compose(out)
	if err != nil {
		ch.t.Fatal(err)
	}
	if r.html != "" && r.text == "" {
		raw = htmlOnly(ch.t, raw, r.html)
	}
	for i := len(r.headers) - 1; i >= 0; i-- {
		raw = append([]byte(r.headers[i]+"\r\n"), raw...)
	}
	if r.authRes != "" {
		raw = append([]byte("Authentication-Results: "+r.authRes+"\r\n"), raw...)
	}
	raw = append([]byte("Delivered-To: "+out.To[0].Address+"\r\n"), raw...)
	ch.imap.Append("INBOX", raw)
}

// handled waits until n messages have been moved out of the INBOX.
func (ch *commandHarness) handled(n int) {
	ch.t.Helper()
	ch.eventually(fmt.Sprintf("%d messages handled", n), func() bool {
		return len(ch.imap.UIDs(ch.imap.Mailbox("backstop/processed")))+len(ch.imap.UIDs(ch.imap.Mailbox("backstop/quarantine"))) >= n
	})
	ch.settle(ch.st)
}

func (ch *commandHarness) state() string {
	ch.t.Helper()
	in, _, err := ch.st.Incident(context.Background(), 1)
	if err != nil {
		ch.t.Fatal(err)
	}
	return in.State
}

// sentTo returns what was sent to rcpt after the first skip emails.
func (ch *commandHarness) sentTo(rcpt string) []embedded.Captured {
	var out []embedded.Captured
	for _, c := range ch.smtp.Sent() {
		if c.To[0] == rcpt {
			out = append(out, c)
		}
	}
	return out
}

// lastTo waits for the nth email to rcpt and returns it parsed.
func (ch *commandHarness) nthTo(rcpt string, n int) (embedded.Captured, *parse.Message) {
	ch.t.Helper()
	ch.eventually(fmt.Sprintf("email %d to %s", n, rcpt), func() bool { return len(ch.sentTo(rcpt)) >= n })
	c := ch.sentTo(rcpt)[n-1]
	return c, parseCaptured(ch.t.(*testing.T), c)
}

func TestLeadTakesIncidentToSevered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ch := newCommandHarness(t, b, 0)
		jane := ch.notices["jane@acme.example"]

		// BOUNDARY from Jane's phone: a preview to her, then the email to the customer.
		ch.deliver(reply{from: "jane@acme.example", to: &jane, text: "Boundary\n\nSent from my iPhone", quote: true, authRes: trusted("acme.example")})
		ch.handled(2)
		_, preview := ch.nthTo("jane@acme.example", 2)
		c, boundary := ch.nthTo(customer, 1)
		if got := ch.state(); got != "boundary_sent" {
			t.Fatalf("state %s after BOUNDARY, want boundary_sent", got)
		}
		if !strings.Contains(preview.Text, strings.TrimSpace(strings.SplitN(boundary.Text, "\n", 2)[0])) {
			t.Error("the preview does not show the boundary email")
		}
		if boundary.From.Address != "support@acme.example" || boundary.From.Name != "Jane Doe, Acme Support" {
			t.Errorf("boundary From = %+v, want \"Jane Doe, Acme Support\" <support@acme.example>", boundary.From)
		}
		if boundary.Sender != nil {
			t.Errorf("boundary Sender = %+v: the customer must not learn the escalations address", boundary.Sender)
		}
		if strings.Contains(boundary.Subject, "INC-") || bytes.Contains(c.Raw, []byte("INC-1")) {
			t.Error("the customer email shows the internal incident id")
		}
		if rawHeader(c.Raw, "Auto-Submitted") != "" {
			t.Error("the customer email is marked Auto-Submitted")
		}
		if c.From != "support@acme.example" {
			t.Errorf("envelope sender %q, want the support address (no customer_bounce_address configured)", c.From)
		}
		if !bytes.Contains(c.Raw, []byte("text/html")) {
			t.Error("the customer email has no HTML alternative")
		}

		// ESCALATE to the customer's manager, with a name.
		ch.deliver(reply{from: "jane@acme.example", to: &jane, text: "ESCALATE pat.lee@globex.example Pat Lee", authRes: trusted("acme.example")})
		ch.handled(3)
		_, esc := ch.nthTo("pat.lee@globex.example", 1)
		if got := ch.state(); got != "escalated" {
			t.Fatalf("state %s after ESCALATE, want escalated", got)
		}
		if esc.To[0].Name != "Pat Lee" || strings.Contains(esc.Text, "useless excuse") {
			t.Errorf("escalation To %+v; it must name Pat Lee and quote none of the abuse", esc.To)
		}

		// SEVER: the parting-ways email, once.
		ch.deliver(reply{from: "jane@acme.example", to: &jane, text: "sever", authRes: trusted("acme.example")})
		ch.handled(4)
		ch.nthTo(customer, 2)
		if got := ch.state(); got != "severed" {
			t.Fatalf("state %s after SEVER, want severed", got)
		}
		// A second SEVER is refused: a customer never gets the same email twice.
		ch.deliver(reply{from: "jane@acme.example", to: &jane, text: "SEVER", authRes: trusted("acme.example")})
		ch.handled(5)
		if n := len(ch.sentTo(customer)); n != 2 {
			t.Errorf("the customer received %d emails, want 2 (boundary, parting ways)", n)
		}
		list, err := ch.st.Severed(context.Background())
		if err != nil || len(list) != 1 || list[0].Customer.Address != customer {
			t.Errorf("severed list = %+v, %v", list, err)
		}
		// Every command was answered.
		if n := len(ch.sentTo("jane@acme.example")); n < 5 {
			t.Errorf("jane received %d emails; every command needs a receipt", n)
		}
		// And counted, by verb and outcome, once its transaction committed.
		ch.mu.Lock()
		m := ch.d.metrics
		ch.mu.Unlock()
		for _, verb := range []string{workflow.CmdBoundary, workflow.CmdEscalate} {
			if got := testutil.ToFloat64(m.commands.WithLabelValues(verb, "done")); got != 1 {
				t.Errorf("%s{verb=%q,outcome=\"done\"} = %v, want 1", metricCommands, verb, got)
			}
		}
	})
}

func TestForgedCommandsNeverReachTheCustomer(t *testing.T) {
	tests := []struct {
		name string
		r    func(ch *commandHarness) reply
		// receipt: the claimed sender gets a refusal (they are verified);
		// otherwise only the leads are told.
		receiptTo string
	}{
		{"forged From without a token", func(ch *commandHarness) reply {
			return reply{from: "jane@acme.example", text: "SEVER", authRes: trusted("acme.example")}
		}, ""},
		{"token issued to another lead", func(ch *commandHarness) reply {
			omar := ch.notices["omar@acme.example"]
			return reply{from: "jane@acme.example", to: &omar, text: "SEVER", authRes: trusted("acme.example")}
		}, ""},
		{"valid token, no domain authentication", func(ch *commandHarness) reply {
			jane := ch.notices["jane@acme.example"]
			return reply{from: "jane@acme.example", to: &jane, text: "SEVER"}
		}, ""},
		{"Authentication-Results from an untrusted server", func(ch *commandHarness) reply {
			jane := ch.notices["jane@acme.example"]
			return reply{from: "jane@acme.example", to: &jane, text: "SEVER",
				authRes: "mx.evil.example; dmarc=pass header.from=acme.example; dkim=pass header.d=acme.example"}
		}, ""},
		{"a teammate trying SEVER", func(ch *commandHarness) reply {
			sam := ch.notices["sam@acme.example"]
			return reply{from: "sam@acme.example", to: &sam, text: "SEVER", authRes: trusted("acme.example")}
		}, "sam@acme.example"},
		{"a command only in the quoted text", func(ch *commandHarness) reply {
			jane := ch.notices["jane@acme.example"]
			return reply{from: "jane@acme.example", to: &jane, text: "STATUS\n\nOn Mon, Backstop wrote:\n> SEVER\n> BOUNDARY", authRes: trusted("acme.example")}
		}, "jane@acme.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := newCommandHarness(t, backends[0], 0)
			before := len(ch.smtp.Sent())
			ch.deliver(tt.r(ch))
			ch.handled(2)
			if n := len(ch.sentTo(customer)); n != 0 {
				t.Fatalf("the customer received %d emails", n)
			}
			if got := ch.state(); got != "reported" {
				t.Errorf("state %s, want it unchanged", got)
			}
			var to []string
			for _, c := range ch.smtp.Sent()[before:] {
				to = append(to, c.To[0])
			}
			if tt.receiptTo != "" {
				if len(to) != 1 || to[0] != tt.receiptTo {
					t.Errorf("emails after the reply went to %v, want one receipt to %s", to, tt.receiptTo)
				}
				return
			}
			// Refused as unverified: the leads are told, never the claimed sender
			// alone (the address may be forged).
			if len(to) == 0 {
				t.Fatal("nobody was told about the refused command")
			}
			for _, rcpt := range to {
				if rcpt != "jane@acme.example" && rcpt != "omar@acme.example" {
					t.Errorf("an email about the refused command went to %s", rcpt)
				}
			}
		})
	}
}

func TestHoldAndCancelEndToEnd(t *testing.T) {
	ch := newCommandHarness(t, backends[0], time.Hour)
	jane := ch.notices["jane@acme.example"]
	ch.deliver(reply{from: "jane@acme.example", to: &jane, text: "BOUNDARY", authRes: trusted("acme.example")})
	ch.handled(2)
	_, preview := ch.nthTo("jane@acme.example", 2)
	if !strings.Contains(preview.Text, "CANCEL") {
		t.Errorf("the preview does not say how to stop the email:\n%s", preview.Text)
	}
	ch.deliver(reply{from: "jane@acme.example", to: &jane, text: "cancel", authRes: trusted("acme.example")})
	ch.handled(3)
	ch.nthTo("jane@acme.example", 3) // the receipt
	rows, err := ch.st.Outbox(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Customer && r.State != "cancelled" {
			t.Errorf("customer email is %s after CANCEL, want cancelled", r.State)
		}
	}
	if got := ch.state(); got != "reported" {
		t.Errorf("state %s after CANCEL, want the state before BOUNDARY (reported)", got)
	}
	if n := len(ch.sentTo(customer)); n != 0 {
		t.Errorf("the customer received %d emails", n)
	}
}

// TestEveryCommandEndToEnd walks an incident through every command over
// the wire, checking the state after each and that the right person got
// the right email.
func TestEveryCommandEndToEnd(t *testing.T) {
	ch := newCommandHarness(t, backends[0], 0)
	jane, omar, sam := ch.notices["jane@acme.example"], ch.notices["omar@acme.example"], ch.notices["sam@acme.example"]
	auth := trusted("acme.example")
	steps := []struct {
		from     string
		to       *embedded.Captured
		text     string
		state    string // after the command
		mailTo   string // who receives the answer
		contains string // in its text (case-insensitive)
	}{
		{"jane@acme.example", &jane, "HELP", "reported", "jane@acme.example", "BOUNDARY"},
		{"jane@acme.example", &jane, "ASSIGN me", "acknowledged", "jane@acme.example", "done"},
		{"jane@acme.example", &jane, "NOTE called the customer's account manager", "acknowledged", "jane@acme.example", "done"},
		{"sam@acme.example", &sam, "STATUS", "acknowledged", "sam@acme.example", "acknowledged"},
		{"sam@acme.example", &sam, "NOTE he called me again this morning", "acknowledged", "sam@acme.example", "done"},
		{"jane@acme.example", &jane, "SHOW", "acknowledged", "jane@acme.example", "content warning"},
		{"omar@acme.example", &omar, "ASSIGN omar@acme.example", "acknowledged", "omar@acme.example", "done"},
		{"jane@acme.example", &jane, "APOLOGY", "acknowledged", "jane@acme.example", "RESOLVE"},
		{"jane@acme.example", &jane, "RESOLVE he apologised by phone", "resolved", "jane@acme.example", "done"},
		{"jane@acme.example", &jane, "BOUNDARY", "resolved", "jane@acme.example", "did not do"},
		{"jane@acme.example", &jane, "REOPEN", "acknowledged", "jane@acme.example", "done"},
		{"sam@acme.example", &sam, "HANDOFF", "acknowledged", "sam@acme.example", "done"},
		{"jane@acme.example", &jane, "CLOSE", "closed", "jane@acme.example", "done"},
		{"jane@acme.example", &jane, "FROBNICATE", "closed", "jane@acme.example", "HELP"},
	}
	for i, s := range steps {
		before := len(ch.sentTo(s.mailTo))
		ch.deliver(reply{from: s.from, to: s.to, text: s.text, authRes: auth})
		ch.handled(2 + i)
		if got := ch.state(); got != s.state {
			t.Fatalf("%s from %s: state %s, want %s", s.text, s.from, got, s.state)
		}
		_, m := ch.nthTo(s.mailTo, before+1)
		if !strings.Contains(strings.ToLower(m.Text), strings.ToLower(s.contains)) {
			t.Errorf("%s from %s: the answer to %s does not say %q:\n%s", s.text, s.from, s.mailTo, s.contains, m.Text)
		}
		if strings.Contains(m.Text, "useless excuse") && s.text != "SHOW" {
			t.Errorf("%s: the answer shows the abusive text", s.text)
		}
	}
	if n := len(ch.sentTo(customer)); n != 0 {
		t.Errorf("the customer received %d emails; no customer email was asked for", n)
	}
}

// TestTwoPersonRuleEndToEnd: with sever_approvals 2 a SEVER waits for
// another lead's APPROVE; the lead who asked cannot approve it.
func TestTwoPersonRuleEndToEnd(t *testing.T) {
	h := func(h *harness) { h.cfg.Commands.SeverApprovals = 2 }
	ch := newCommandHarness(t, backends[0], 0, h)
	jane, omar := ch.notices["jane@acme.example"], ch.notices["omar@acme.example"]
	auth := trusted("acme.example")
	ch.deliver(reply{from: "jane@acme.example", to: &jane, text: "SEVER", authRes: auth})
	ch.handled(2)
	ch.deliver(reply{from: "jane@acme.example", to: &jane, text: "APPROVE", authRes: auth})
	ch.handled(3)
	if n := len(ch.sentTo(customer)); n != 0 {
		t.Fatalf("the parting-ways email went out without a second lead (%d emails)", n)
	}
	ch.deliver(reply{from: "omar@acme.example", to: &omar, text: "approve", authRes: auth})
	ch.handled(4)
	_, m := ch.nthTo(customer, 1)
	if m.From.Name != "Jane Doe, Acme Support" {
		t.Errorf("parting-ways From %+v, want the lead who asked", m.From)
	}
	if got := ch.state(); got != "severed" {
		t.Errorf("state %s, want severed", got)
	}
	// Jane is told that Omar approved.
	var told bool
	for _, c := range ch.sentTo("jane@acme.example") {
		if strings.Contains(parseCaptured(t, c).Text, "Omar") {
			told = true
		}
	}
	if !told {
		t.Error("the lead who asked was not told who approved")
	}
}

// TestCustomerEmailBounce: a delivery status report that comes back to the
// signed VERP address of a customer email marks it undelivered and tells the lead;
// it is never answered.
func TestCustomerEmailBounce(t *testing.T) {
	ch := newCommandHarness(t, backends[0], 0, customerBounceAddress("bounces@acme.example"))
	jane := ch.notices["jane@acme.example"]
	ch.deliver(reply{from: "jane@acme.example", to: &jane, text: "BOUNDARY", authRes: trusted("acme.example")})
	ch.handled(2)
	sent, _ := ch.nthTo(customer, 1)
	janeBefore := len(ch.sentTo("jane@acme.example"))
	dsn := strings.NewReplacer("escalations+bounce-2@acme.example", sent.From, "nobody@globex.example", customer).Replace(string(fixture(t, "bounce.eml")))
	ch.imap.Append("INBOX", []byte(dsn))
	ch.handled(3)
	rows, err := ch.st.Outbox(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Customer && r.State != "bounced" {
			t.Errorf("the bounced customer email is %s, want bounced", r.State)
		}
	}
	_, m := ch.nthTo("jane@acme.example", janeBefore+1)
	if !strings.Contains(m.Text, customer) {
		t.Errorf("the lead's notice does not name the address that bounced:\n%s", m.Text)
	}
	for _, c := range ch.smtp.Sent() {
		if strings.Contains(strings.ToLower(c.To[0]), "mailer-daemon") {
			t.Error("the bounce was answered")
		}
	}
}

// htmlOnly rewrites a composed message as an HTML-only one, as some mail
// apps send: its header with a text/html body.
func htmlOnly(t testing.TB, raw []byte, html string) []byte {
	t.Helper()
	hdr, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	var keep []string
	dropping := false
	for _, line := range strings.Split(string(hdr), "\r\n") {
		if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			if !dropping {
				keep = append(keep, line)
			}
			continue
		}
		l := strings.ToLower(line)
		dropping = strings.HasPrefix(l, "content-type:") || strings.HasPrefix(l, "content-transfer-encoding:")
		if !dropping {
			keep = append(keep, line)
		}
	}
	keep = append(keep, "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit")
	return []byte(strings.Join(keep, "\r\n") + "\r\n\r\n<html><body>" + html + "</body></html>\r\n")
}
