package workflow

import (
	"strings"
	"testing"
)

// TestUnreadReport: a team member's message in which no original can be
// read opens an incident with the customer unknown and the whole message
// as evidence; the reporter is told it reached the leads, the leads that
// the customer could not be identified. CUSTOMER then sets the customer,
// and a later forward about them joins the incident.
func TestUnreadReport(t *testing.T) {
	tests := []struct {
		name string
		in   func(e *env) *Inbound
		why  string
	}{
		{"plain mail", func(e *env) *Inbound {
			in := e.plain(sam, "Customer from hell")
			in.Text = "He called me names again, his mail is below but I pasted it badly.\n\nYou are all idiots."
			return in
		}, "no forwarded message could be read in it"},
		{"reply to something else", func(e *env) *Inbound {
			in := e.plain(sam, "Re: ticket 4411")
			in.Kind, in.InReplyTo = "reply", []string{"ticket-4411@helpdesk.acme.example"}
			in.Text = "See his answer below.\n\nYou are all idiots."
			return in
		}, "it answers none of backstop's emails"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Leads = []Person{jane, omar} })
			in := tt.in(e)
			in.Warnings = []string{"unknown charset \"x-foo\": text read as UTF-8 or Windows-1252 at best"}
			e.handle(in, Processed)
			incs := e.incidents()
			if len(incs) != 1 || incs[0].Customer.Address != "" || incs[0].Reporter.Address != sam.Address {
				t.Fatalf("incidents %+v", incs)
			}
			var body, from string
			if err := e.st.db.QueryRow("SELECT body, from_address FROM evidence WHERE incident_id = 1").Scan(&body, &from); err != nil {
				t.Fatal(err)
			}
			if body != in.Text || from != sam.Address {
				t.Errorf("evidence %q from %s, want the whole message", body, from)
			}
			rows := e.outbox()
			if got, want := summary(rows), "reporter_ack→sam@acme.example lead_notice→jane@acme.example lead_notice→omar@acme.example"; got != want {
				t.Fatalf("outbox %s, want %s", got, want)
			}
			if ack := e.mail(rows[0].ID); !strings.Contains(ack.Text, "went to the leads as it is") {
				t.Errorf("acknowledgement does not say it reached the leads:\n%s", ack.Text)
			}
			notice := e.mail(rows[1].ID)
			for _, want := range []string{"could not identify the customer", tt.why, "CUSTOMER <address> [name]", "unknown charset"} {
				if !strings.Contains(strings.Join(strings.Fields(notice.Text), " "), want) {
					t.Errorf("lead notice lacks %q:\n%s", want, notice.Text)
				}
			}
			if n := e.count("SELECT count(*) FROM messages WHERE class = 'forward' AND incident_id = 1 AND raw IS NOT NULL"); n != 1 {
				t.Errorf("the message is not recorded with its raw bytes on INC-1")
			}

			// A lead names the customer; a later forward about them
			// joins the incident.
			before := len(e.outbox())
			e.handle(e.command(notice, jane, "CUSTOMER <jordan@globex.example> Jordan Miles"), Processed)
			inc, events := e.incident(1)
			if inc.Customer.Address != "jordan@globex.example" || inc.Customer.Name != "Jordan Miles" || inc.Organisation != "globex.example" {
				t.Fatalf("customer %+v, organisation %q", inc.Customer, inc.Organisation)
			}
			found := false
			for _, ev := range events {
				found = found || ev.Kind == EventCommand && strings.Contains(ev.Detail, "was unknown")
			}
			if !found {
				t.Errorf("no command event says the customer was unknown: %+v", events)
			}
			if got := summary(e.outbox()[before:]); got != "command_result→jane@acme.example" {
				t.Errorf("outbox after CUSTOMER %s", got)
			}
			e.handle(e.forward(sam, abuse(jordan, "again", "Still idiots.", e.clk.Now())), Processed)
			if n := len(e.incidents()); n != 1 {
				t.Errorf("the later forward opened incident %d instead of joining INC-1", n)
			}
			if n := e.count("SELECT count(*) FROM evidence WHERE incident_id = 1"); n != 2 {
				t.Errorf("INC-1 has %d evidence rows, want 2", n)
			}
		})
	}
}

// TestCustomerCommandRefusals: CUSTOMER needs an address outside the team.
func TestCustomerCommandRefusals(t *testing.T) {
	e := newEnv(t)
	in := e.plain(sam, "see below")
	in.Text = "pasted badly"
	e.handle(in, Processed)
	notice := e.mail(e.outbox()[1].ID)
	for _, tt := range []struct{ line, want string }{
		{"CUSTOMER Jordan", "needs the customer's address"},
		{"CUSTOMER sam@acme.example", "is on the team"},
	} {
		before := len(e.outbox())
		e.handle(e.command(notice, jane, tt.line), Processed)
		rows := e.outbox()[before:]
		if len(rows) != 1 {
			t.Fatalf("%s: outbox %s", tt.line, summary(rows))
		}
		if m := e.mail(rows[0].ID); !strings.Contains(strings.Join(strings.Fields(m.Text), " "), tt.want) {
			t.Errorf("%s: receipt lacks %q:\n%s", tt.line, tt.want, m.Text)
		}
	}
	if inc, _ := e.incident(1); inc.Customer.Address != "" {
		t.Errorf("customer set to %+v", inc.Customer)
	}
}
