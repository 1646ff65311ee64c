package main

// A report is never lost for want of parsing, end to end: a teammate's
// message in which no forwarded original can be read reaches the leads as
// an incident with the customer unknown; a lead's CUSTOMER reply sets it,
// and a later forward about that customer joins the incident.

import (
	"context"
	"strings"
	"testing"
	"time"

	"backstop/mailbox"
	"backstop/mailbox/embedded"
)

func TestUnreadReportEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b, withLeads(
			PersonConfig{Name: "Jane Doe", Address: "jane@acme.example"},
			PersonConfig{Name: "Omar Haddad", Address: "omar@acme.example"},
		))
		h.cfg.Commands.TrustedAuthservIDs = []string{trustedMX}
		d := Duration(0)
		h.cfg.Commands.Hold = &d
		raw, err := mailbox.Compose(&mailbox.Outgoing{
			From:      mailbox.Address{Name: "Sam Rivera", Address: "sam@acme.example"},
			To:        []mailbox.Address{{Address: "escalations@acme.example"}},
			Subject:   "Customer from hell",
			MessageID: "<pasted-1@mail.acme.example>",
			Date:      time.Date(2025, 1, 6, 9, 30, 0, 0, time.UTC),
			Text:      "He called again and sent this from his phone, I copied it by hand:\n\nyou are all useless idiots and I know where you live",
		})
		if err != nil {
			t.Fatal(err)
		}
		h.imap.Append("INBOX", raw)
		h.start()
		sent := h.waitSent(3) // sam's acknowledgement, jane's and omar's notices
		ch := &commandHarness{harness: h, st: h.store(), notices: map[string]embedded.Captured{}}
		if n := len(h.imap.UIDs("backstop/quarantine")); n != 0 {
			t.Fatalf("%d messages quarantined: a teammate's report must never be", n)
		}
		var jane *embedded.Captured
		for i, c := range sent {
			m := parseCaptured(t, c)
			text := strings.Join(strings.Fields(m.Text), " ")
			switch c.To[0] {
			case "sam@acme.example":
				if !strings.Contains(text, "went to the leads as it is") {
					t.Errorf("the acknowledgement does not say the report reached the leads:\n%s", m.Text)
				}
			case "jane@acme.example", "omar@acme.example":
				for _, want := range []string{"could not identify the customer", "CUSTOMER <address> [name]"} {
					if !strings.Contains(text, want) {
						t.Errorf("the lead notice to %s lacks %q:\n%s", c.To[0], want, m.Text)
					}
				}
				if c.To[0] == "jane@acme.example" {
					jane = &sent[i]
				}
			}
		}
		if jane == nil {
			t.Fatal("no lead notice to jane")
		}
		incs := h.incidents(ch.st)
		if len(incs) != 1 || incs[0].Customer.Address != "" {
			t.Fatalf("incidents %+v, want one with the customer unknown", incs)
		}

		// Jane names the customer.
		ch.deliver(reply{from: "jane@acme.example", to: jane, text: "CUSTOMER jordan@globex.example Jordan Miles", authRes: trusted("acme.example")})
		ch.handled(2)
		in, _, err := ch.st.Incident(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if in.Customer.Address != customer || in.Customer.Name != "Jordan Miles" {
			t.Fatalf("customer %+v after CUSTOMER", in.Customer)
		}

		// A later forward about Jordan joins INC-1.
		h.imap.Append("INBOX", forward(t, 2, customer))
		ch.handled(3)
		if incs := h.incidents(ch.st); len(incs) != 1 {
			t.Errorf("%d incidents: the forward about the customer named by CUSTOMER did not join INC-1", len(incs))
		}
		if in, _, err := ch.st.Incident(context.Background(), 1); err != nil || in.Messages < 2 {
			t.Errorf("INC-1 holds %d messages (%v), want the pasted report and the forwarded originals", in.Messages, err)
		}
	})
}
