package workflow

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"backstop/templates"
)

func TestForwardOpensIncident(t *testing.T) {
	e := newEnv(t)
	day := e.clk.Now().Add(-26 * time.Hour)
	in := e.forward(sam,
		abuse(jordan, "Re: Ticket #4471 export still broken", "You are useless.", day.Add(23*time.Hour)),
		abuse(sam, "Re: Ticket #4471 export still broken", "We are on it.", day.Add(2*time.Hour)),
		abuse(jordan, "Ticket #4471 export still broken", "Fix it. Now.", day),
	)
	in.Originals[0].MessageID = "<orig-1@globex.example>"
	e.handle(in, Processed)

	incs := e.incidents()
	if len(incs) != 1 {
		t.Fatalf("%d incidents, want 1", len(incs))
	}
	inc := incs[0]
	if inc.Ref() != "INC-1" || inc.State != StateReported {
		t.Errorf("incident %s in state %s, want INC-1 reported", inc.Ref(), inc.State)
	}
	if inc.Customer != (Person{Name: "Jordan Miles", Address: "jordan@globex.example"}) {
		t.Errorf("customer %+v", inc.Customer)
	}
	if inc.Organisation != "globex.example" {
		t.Errorf("organisation %q, want globex.example", inc.Organisation)
	}
	if inc.Reporter.Address != "sam@acme.example" || inc.Reporter.Name != "Sam Rivera" {
		t.Errorf("reporter %+v", inc.Reporter)
	}
	if inc.Subject != "Ticket #4471 export still broken" {
		t.Errorf("subject %q", inc.Subject)
	}
	if inc.CustomerMessageID != "orig-1@globex.example" {
		t.Errorf("customer Message-ID %q", inc.CustomerMessageID)
	}
	if inc.Messages != 3 || !inc.FirstMessage.Equal(day) || !inc.LastMessage.Equal(day.Add(23*time.Hour)) {
		t.Errorf("evidence: %d messages %v … %v", inc.Messages, inc.FirstMessage, inc.LastMessage)
	}

	rows := e.outbox()
	if got, want := summary(rows), "reporter_ack→sam@acme.example lead_notice→jane@acme.example"; got != want {
		t.Fatalf("outbox: %s\nwant %s", got, want)
	}
	for _, r := range rows {
		m := e.mail(r.ID)
		if !strings.HasPrefix(m.Subject, "[INC-1] ") || strings.Contains(m.Subject[8:], "[INC-") {
			t.Errorf("%s subject %q: want one [INC-1] prefix", r.Template, m.Subject)
		}
		if m.AutoSubmitted != "auto-generated" {
			t.Errorf("%s Auto-Submitted %q", r.Template, m.AutoSubmitted)
		}
		if m.Text == "" || m.HTML == "" {
			t.Errorf("%s: want text and HTML bodies", r.Template)
		}
		if m.From.Address != "escalations@acme.example" {
			t.Errorf("%s From %v", r.Template, m.From)
		}
		if len(m.To) != 1 || m.To[0].Address != r.Recipient || !slices.Equal(m.Rcpt, []string{r.Recipient}) {
			t.Errorf("%s To %v Rcpt %v, want %s", r.Template, m.To, m.Rcpt, r.Recipient)
		}
		if want := "escalations+" + bounceTag(e.desk.cfg.Secret, r.ID) + "@acme.example"; m.EnvelopeFrom != want {
			t.Errorf("%s envelope %q, want %q", r.Template, m.EnvelopeFrom, want)
		}
		// Reply-To carries the token; the Message-ID carries it too.
		if len(m.ReplyTo) != 1 {
			t.Fatalf("%s Reply-To %v", r.Template, m.ReplyTo)
		}
		tok, ok := tokenFromAddress("escalations@acme.example", m.ReplyTo[0].Address)
		if !ok {
			t.Fatalf("%s Reply-To %q has no token", r.Template, m.ReplyTo[0].Address)
		}
		if id, ok := VerifyToken(testSecret, tok, r.Recipient); !ok || id != 1 {
			t.Errorf("%s token %q does not verify for %s", r.Template, tok, r.Recipient)
		}
		if _, ok := VerifyToken(testSecret, tok, "someone@else.example"); ok {
			t.Errorf("%s token verifies for a stranger", r.Template)
		}
		if !regexp.MustCompile(`^bs\.` + regexp.QuoteMeta(tok) + `\.[a-z2-7]{13}@acme\.example$`).MatchString(m.MessageID) {
			t.Errorf("%s Message-ID %q does not carry token %q", r.Template, m.MessageID, tok)
		}
		if m.InReplyTo != "" || len(m.References) != 0 {
			t.Errorf("%s: the first email of a thread answers nothing, got %q %v", r.Template, m.InReplyTo, m.References)
		}
		if !slices.Contains(m.Headers, [2]string{"X-Backstop-Incident", "INC-1"}) {
			t.Errorf("%s headers %v", r.Template, m.Headers)
		}
		switch r.Template {
		case templates.ReporterAck:
			if len(m.Attachments) != 0 {
				t.Errorf("reporter ack carries %d attachments, want none", len(m.Attachments))
			}
			if strings.Contains(m.Text, "useless") {
				t.Errorf("reporter ack shows evidence")
			}
		case templates.LeadNotice:
			if len(m.Attachments) != 1 {
				t.Fatalf("lead notice carries %d attachments, want the .eml", len(m.Attachments))
			}
			a := m.Attachments[0]
			if a.Filename != "INC-1-evidence.eml" || a.ContentType != "message/rfc822" || !bytes.Equal(a.Data, in.Raw) {
				t.Errorf("attachment %s %s %d bytes", a.Filename, a.ContentType, len(a.Data))
			}
			if strings.Contains(m.Text, "useless") || strings.Contains(m.HTML, "useless") {
				t.Errorf("lead notice shows the evidence inline in attach mode")
			}
			for _, want := range []string{"jordan@globex.example", "globex.example", "Sam"} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("lead notice text lacks %q:\n%s", want, m.Text)
				}
			}
		}
	}

	_, events := e.incident(1)
	var kinds []string
	for _, ev := range events {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == EventReported && (ev.Actor != "sam@acme.example" || ev.MessageID != in.MessageID) {
			t.Errorf("reported event %+v", ev)
		}
	}
	if want := []string{EventReported, EventMailQueued, EventMailQueued}; !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v", kinds, want)
	}
	if n := e.count("SELECT count(*) FROM messages WHERE class = 'forward' AND raw IS NOT NULL AND incident_id = 1"); n != 1 {
		t.Errorf("forward kept as evidence: %d rows", n)
	}
	if uid, _ := e.st.LastUID(context.Background(), "INBOX", 1); uid != in.UID {
		t.Errorf("LastUID %d, want %d", uid, in.UID)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestForwardThreading(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Leads = []Person{jane, omar} })
	now := e.clk.Now()
	e.handle(e.forward(sam, abuse(jordan, "Invoice", "first", now)), Processed)
	if got := len(e.outbox()); got != 3 {
		t.Fatalf("%d outbox rows, want ack + 2 lead notices", got)
	}

	// The same customer again, address in another case: same incident.
	j2 := jordan
	j2.Address = "Jordan@Globex.Example"
	e.clk.Advance(time.Minute)
	e.handle(e.forward(sam, abuse(j2, "Something else entirely", "second", now.Add(time.Minute))), Processed)
	// Another teammate reports the same customer: joins too, and is thanked.
	e.clk.Advance(time.Minute)
	e.handle(e.forward(alex, abuse(jordan, "Third", "third", now.Add(2*time.Minute))), Processed)

	if n := len(e.incidents()); n != 1 {
		t.Fatalf("%d incidents, want 1", n)
	}
	rows := e.outbox()
	want := "reporter_ack→sam@acme.example lead_notice→jane@acme.example lead_notice→omar@acme.example " +
		"evidence_added→jane@acme.example evidence_added→omar@acme.example " +
		"reporter_ack→alex@acme.example evidence_added→jane@acme.example evidence_added→omar@acme.example"
	if got := summary(rows); got != want {
		t.Fatalf("outbox:\n%s\nwant\n%s", got, want)
	}
	inc, _ := e.incident(1)
	if inc.Messages != 3 {
		t.Errorf("%d evidence messages, want 3", inc.Messages)
	}

	// Jane's thread: root, then each answers the previous.
	var thread []*OutMail
	for _, r := range rows {
		if r.Recipient == "jane@acme.example" {
			thread = append(thread, e.mail(r.ID))
		}
	}
	if len(thread) != 3 {
		t.Fatalf("jane got %d emails", len(thread))
	}
	for i, m := range thread {
		if !strings.HasPrefix(m.Subject, "[INC-1] ") {
			t.Errorf("subject %q", m.Subject)
		}
		if i == 0 {
			continue
		}
		if m.InReplyTo != thread[i-1].MessageID {
			t.Errorf("email %d In-Reply-To %q, want %q", i, m.InReplyTo, thread[i-1].MessageID)
		}
		var want []string
		for _, p := range thread[:i] {
			want = append(want, p.MessageID)
		}
		if !slices.Equal(m.References, want) {
			t.Errorf("email %d References %v, want %v", i, m.References, want)
		}
	}
	// The evidence notice attaches the new forward only.
	if a := thread[1].Attachments; len(a) != 1 || !bytes.Contains(a[0].Data, []byte("second")) {
		t.Errorf("evidence notice attachment: %v", a)
	}
}

func TestForwardNeverThreadedBySubject(t *testing.T) {
	e := newEnv(t)
	now := e.clk.Now()
	e.handle(e.forward(sam, abuse(jordan, "Ticket #4471", "one", now)), Processed)
	// Same subject, even with backstop's own tag: a different customer is a
	// different incident.
	in := e.forward(sam, abuse(casey, "Ticket #4471", "two", now))
	in.Subject = "Fwd: [INC-1] Ticket #4471"
	e.handle(in, Processed)
	incs := e.incidents()
	if len(incs) != 2 {
		t.Fatalf("%d incidents, want 2", len(incs))
	}
	if incs[0].Customer.Address != "casey@initech.example" || incs[1].Customer.Address != "jordan@globex.example" {
		t.Errorf("customers %v / %v", incs[0].Customer, incs[1].Customer)
	}
	if incs[0].Subject != "Ticket #4471" {
		t.Errorf("subject %q", incs[0].Subject)
	}
}

func TestOrganisation(t *testing.T) {
	tests := []struct {
		addr, want string
	}{
		{"jordan@globex.example", "globex.example"},
		{"Jordan@GLOBEX.example", "globex.example"},
		{"someone@gmail.com", ""},
		{"someone@hotmail.co.uk", ""},
		{"someone@yahoo.de", ""},
		{"someone@gmx.net", ""},
		{"someone@web.de", ""},
		{"someone@proton.me", ""},
		{"someone@corp-mail.example", ""}, // Config.FreeMailDomains
		{"someone@hotmailer.example", "hotmailer.example"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := organisationOf(tt.addr, []string{"corp-mail.example"}); got != tt.want {
			t.Errorf("organisationOf(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}

	e := newEnv(t)
	e.handle(e.forward(sam, abuse(Person{Name: "Pat", Address: "pat@gmail.com"}, "hi", "x", e.clk.Now())), Processed)
	if inc := e.incidents()[0]; inc.Organisation != "" || inc.Customer.Address != "pat@gmail.com" {
		t.Errorf("free-mail customer: organisation %q customer %v", inc.Organisation, inc.Customer)
	}
}

func TestCustomerOfForward(t *testing.T) {
	e := newEnv(t)
	now := e.clk.Now()
	tests := []struct {
		name      string
		originals []Original
		want      Person
	}{
		{"first outsider", []Original{abuse(sam, "s", "a", now), abuse(jordan, "s", "b", now)}, jordan},
		{"outermost outsider first", []Original{abuse(casey, "s", "a", now), abuse(jordan, "s", "b", now)}, casey},
		{"address beats name", []Original{abuse(Person{Name: "Someone"}, "s", "a", now), abuse(jordan, "s", "b", now)}, jordan},
		{"name only", []Original{abuse(sam, "s", "a", now), abuse(Person{Name: "Jordan Miles"}, "s", "b", now)}, Person{Name: "Jordan Miles"}},
		{"all team", []Original{abuse(sam, "s", "a", now), abuse(alex, "s", "b", now)}, Person{}},
		{"the reporter's own name", []Original{abuse(Person{Name: "Sam Rivera"}, "s", "a", now), abuse(Person{Name: "Jordan"}, "s", "b", now)}, Person{Name: "Jordan"}},
		{"a lead's name", []Original{abuse(Person{Name: "jane doe"}, "s", "a", now)}, Person{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := e.desk.customerOf(tt.originals, sam)
			if got != tt.want {
				t.Errorf("customer %+v, want %+v", got, tt.want)
			}
		})
	}

	// Unknown customers get an incident each: two unknowns never share.
	e.handle(e.forward(sam, abuse(Person{Name: "Jordan Miles"}, "s", "a", now)), Processed)
	e.handle(e.forward(sam, abuse(Person{Name: "Jordan Miles"}, "s", "b", now)), Processed)
	e.handle(e.forward(sam, abuse(alex, "internal", "c", now)), Processed)
	incs := e.incidents()
	if len(incs) != 3 {
		t.Fatalf("%d incidents, want 3", len(incs))
	}
	if incs[2].Customer != (Person{Name: "Jordan Miles"}) || incs[0].Customer != (Person{}) {
		t.Errorf("customers %+v / %+v", incs[2].Customer, incs[0].Customer)
	}
	rows, _ := e.st.Outbox(context.Background(), 1)
	if m := e.mail(rows[1].ID); !strings.Contains(m.Text, "Jordan Miles (address not in the forward)") {
		t.Errorf("the lead notice does not say the address is unknown:\n%s", m.Text)
	}
}

func TestDedupe(t *testing.T) {
	e := newEnv(t)
	in := e.forward(sam, abuse(jordan, "s", "a", e.clk.Now()))
	e.handle(in, Processed)
	before := len(e.outbox())

	// The same UID again (a crash before the move).
	again := *in
	e.handle(&again, Processed)
	// The same message after a UIDVALIDITY change, at another UID.
	moved := *in
	moved.UIDValidity, moved.UID = 2, 77
	e.handle(&moved, Processed)
	// Another mailbox, same Message-ID.
	other := *in
	other.Mailbox, other.UID = "Other", 5
	e.handle(&other, Processed)

	if got := len(e.outbox()); got != before {
		t.Errorf("outbox grew from %d to %d on duplicates", before, got)
	}
	if n := e.count("SELECT count(*) FROM messages"); n != 1 {
		t.Errorf("%d messages recorded, want 1", n)
	}
	if n := len(e.incidents()); n != 1 {
		t.Errorf("%d incidents", n)
	}
	// The checkpoint follows the new UIDVALIDITY.
	if uid, _ := e.st.LastUID(context.Background(), "INBOX", 2); uid != 77 {
		t.Errorf("LastUID under the new UIDVALIDITY = %d, want 77", uid)
	}
	if uid, _ := e.st.LastUID(context.Background(), "INBOX", 1); uid != 0 {
		t.Errorf("LastUID under the old UIDVALIDITY = %d, want 0", uid)
	}

	// A quarantined message stays quarantined when seen again.
	q := e.plain(jordan, "hello")
	e.handle(q, Quarantined)
	q2 := *q
	q2.UID = 99
	e.handle(&q2, Quarantined)

	// Without a Message-ID, the content is the key.
	n1 := e.plain(jordan, "no id")
	n1.MessageID = ""
	e.handle(n1, Quarantined)
	n2 := *n1
	n2.UIDValidity, n2.UID = 3, 1
	rows := len(e.outbox())
	e.handle(&n2, Quarantined)
	if got := len(e.outbox()); got != rows {
		t.Errorf("a duplicate without Message-ID queued mail")
	}
	if n := e.count("SELECT count(*) FROM messages WHERE dedupe_key LIKE 'sha256:%'"); n != 1 {
		t.Errorf("%d sha256-keyed messages, want 1", n)
	}
}

func TestAutoMessagesNeverAnswered(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(in *Inbound)
		class string
	}{
		{"auto-submitted", func(in *Inbound) { in.AutoReason = "Auto-Submitted: auto-replied" }, ClassAuto},
		{"precedence bulk", func(in *Inbound) { in.AutoReason = "Precedence: bulk" }, ClassAuto},
		{"x-autoreply", func(in *Inbound) { in.AutoReason = "X-Autoreply: yes" }, ClassAuto},
		{"bounce", func(in *Inbound) {
			in.AutoReason = "multipart/report; report-type=delivery-status"
			in.Bounce = true
			in.BounceRecipients = []string{"gone@globex.example"}
		}, ClassBounce},
		{"null sender", func(in *Inbound) { in.NullSender = true }, ClassAuto},
		{"mailer-daemon", func(in *Inbound) {
			in.From = Person{Name: "Mail Delivery System", Address: "MAILER-DAEMON@mx.globex.example"}
		}, ClassAuto},
		{"backstop itself", func(in *Inbound) { in.From = Person{Address: "escalations@acme.example"} }, ClassAuto},
		{"team member's out-of-office", func(in *Inbound) {
			in.From = sam
			in.AutoReason = "Auto-Submitted: auto-replied"
		}, ClassAuto},
		{"auto-reply carrying a forward", func(in *Inbound) {
			in.From = sam
			in.AutoReason = "X-Autorespond: yes"
			in.Kind = "forward"
			in.Originals = []Original{abuse(jordan, "s", "b", time.Now())}
		}, ClassAuto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			in := e.plain(jordan, "Out of office")
			tt.edit(in)
			e.handle(in, Processed)
			if rows := e.outbox(); len(rows) != 0 {
				t.Errorf("queued %s", summary(rows))
			}
			if n := e.count("SELECT count(*) FROM messages WHERE class = ? AND disposition = 'processed'", tt.class); n != 1 {
				t.Errorf("not recorded as %s", tt.class)
			}
			if n := len(e.incidents()); n != 0 {
				t.Errorf("opened %d incidents", n)
			}
		})
	}
}

func TestBounceNotedOnIncident(t *testing.T) {
	e := newEnv(t)
	e.handle(e.forward(sam, abuse(jordan, "s", "a", e.clk.Now())), Processed)
	rows := e.outbox()
	ack := e.mail(rows[0].ID)
	b := e.plain(Person{Address: "MAILER-DAEMON@acme.example"}, "Undelivered Mail Returned to Sender")
	b.NullSender, b.Bounce, b.AutoReason = true, true, "multipart/report; report-type=delivery-status"
	b.To = []Person{{Address: ack.EnvelopeFrom}}
	b.BounceRecipients = []string{"sam@acme.example"}
	e.handle(b, Processed)
	if got := len(e.outbox()); got != len(rows) {
		t.Errorf("a bounce queued mail")
	}
	_, events := e.incident(1)
	last := events[len(events)-1]
	if last.Kind != EventAuto || !strings.Contains(last.Detail, "outbox #1") || !strings.Contains(last.Detail, "sam@acme.example") {
		t.Errorf("last event %+v", last)
	}
}

func TestQuarantine(t *testing.T) {
	tests := []struct {
		name   string
		in     func(e *env) *Inbound
		class  string
		reason string
	}{
		{"outsider writes directly", func(e *env) *Inbound { return e.plain(jordan, "You people") }, ClassOutsider, "not on the team"},
		{"outsider forwards", func(e *env) *Inbound {
			in := e.forward(jordan, abuse(casey, "s", "b", time.Now()))
			return in
		}, ClassOutsider, "not on the team"},
		{"spam without sender", func(e *env) *Inbound { return e.plain(Person{}, "WIN") }, ClassOutsider, "not on the team"},
		{"team member's reply to a backstop email that matches nothing", func(e *env) *Inbound {
			in := e.plain(sam, "SEVER")
			in.Kind = "reply"
			in.To = []Person{{Address: "escalations+" + Token(testSecret, 42, "sam@acme.example") + "@acme.example"}}
			return in
		}, ClassUnmatched, "could not be verified"},
		{"malformed", func(e *env) *Inbound {
			in := e.plain(Person{}, "")
			in.ParseError = "malformed MIME header"
			return in
		}, ClassMalformed, "could not be read"},
		{"too large", func(e *env) *Inbound {
			uid, _ := e.next()
			return &Inbound{Mailbox: "INBOX", UIDValidity: 1, UID: uid, Size: 90 << 20, TooLarge: true}
		}, ClassTooLarge, "over the size limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Leads = []Person{jane, omar} })
			in := tt.in(e)
			e.handle(in, Quarantined)
			rows := e.outbox()
			if got, want := summary(rows), "quarantine_notice→jane@acme.example quarantine_notice→omar@acme.example"; got != want {
				t.Fatalf("outbox %s, want %s", got, want)
			}
			for _, r := range rows {
				m := e.mail(r.ID)
				if len(m.Attachments) != 0 || strings.Contains(m.Text, "forwarded: ") || strings.Contains(m.Text, "hello") {
					t.Errorf("quarantine notice carries content")
				}
				if !strings.Contains(m.Text, strings.SplitN(tt.reason, ":", 2)[0]) {
					t.Errorf("notice does not give the reason %q:\n%s", tt.reason, m.Text)
				}
				if strings.HasPrefix(m.Subject, "[INC-") {
					t.Errorf("notice about no incident has subject %q", m.Subject)
				}
			}
			var class string
			var raw, sealedReason []byte
			var id int64
			if err := e.st.db.QueryRow("SELECT id, class, reason, raw FROM messages").Scan(&id, &class, &sealedReason, &raw); err != nil {
				t.Fatal(err)
			}
			raw, err := e.st.open("messages", "raw", id, raw)
			if err != nil {
				t.Fatal(err)
			}
			reason, err := e.st.openString("messages", "reason", id, sealedReason)
			if err != nil {
				t.Fatal(err)
			}
			if class != tt.class || !strings.Contains(reason, tt.reason) {
				t.Errorf("recorded %s %q, want %s %q", class, reason, tt.class, tt.reason)
			}
			if !bytes.Equal(raw, in.Raw) {
				t.Errorf("raw not kept")
			}
			if n := len(e.incidents()); n != 0 {
				t.Errorf("opened %d incidents", n)
			}
			evs, err := e.st.Events(context.Background())
			if err != nil || len(evs) == 0 || evs[0].Kind != EventQuarantined {
				t.Errorf("events %v %v", evs, err)
			}
		})
	}
}

// replyTo is a reply to m sent by from, as a mail client writes it.
func (e *env) replyTo(m *OutMail, from Person, text string) *Inbound {
	uid, mid := e.next()
	return &Inbound{
		Mailbox: "INBOX", UIDValidity: 1, UID: uid, MessageID: mid,
		Raw:  rawMessage(from, "Re: "+m.Subject, text),
		From: from, To: m.ReplyTo, Subject: "Re: " + m.Subject, Date: e.clk.Now(),
		InReplyTo: []string{m.MessageID}, References: append(append([]string{}, m.References...), m.MessageID),
		Kind: "reply", ReplyText: text,
	}
}

func TestReplyMatching(t *testing.T) {
	setup := func(t *testing.T) (*env, *OutMail, *OutMail) {
		e := newEnv(t)
		e.handle(e.forward(sam, abuse(jordan, "s", "a", e.clk.Now())), Processed)
		e.handle(e.forward(sam, abuse(casey, "s", "b", e.clk.Now())), Processed) // INC-2, for contrast
		rows := e.outbox()
		return e, e.mail(rows[1].ID), e.mail(rows[0].ID) // lead notice and ack of INC-1
	}
	tests := []struct {
		name string
		in   func(e *env, notice, ack *OutMail) *Inbound
		how  string
	}{
		{"token in the address", func(e *env, notice, ack *OutMail) *Inbound {
			in := e.replyTo(notice, jane, "on it, thanks")
			in.InReplyTo, in.References = nil, nil
			in.Subject = "no tag here"
			return in
		}, "reply token"},
		{"token in Delivered-To", func(e *env, notice, ack *OutMail) *Inbound {
			in := e.replyTo(notice, jane, "on it, thanks")
			in.To = []Person{{Address: "escalations@acme.example"}}
			in.DeliveredTo = []string{notice.ReplyTo[0].Address}
			in.InReplyTo, in.References, in.Subject = nil, nil, "x"
			return in
		}, "reply token"},
		{"References, +tag stripped", func(e *env, notice, ack *OutMail) *Inbound {
			in := e.replyTo(notice, jane, "on it, thanks")
			in.To = []Person{{Address: "escalations@acme.example"}}
			in.InReplyTo, in.Subject = nil, "x"
			return in
		}, "References"},
		{"In-Reply-To, +tag stripped", func(e *env, notice, ack *OutMail) *Inbound {
			in := e.replyTo(notice, jane, "on it, thanks")
			in.To = []Person{{Address: "escalations@acme.example"}}
			in.References, in.Subject = nil, "x"
			return in
		}, "References"},
		{"subject tag", func(e *env, notice, ack *OutMail) *Inbound {
			in := e.plain(jane, "Re: [INC-1] New incident")
			in.Kind, in.ReplyText = "reply", "on it, thanks"
			return in
		}, "subject tag"},
		{"reporter replies", func(e *env, notice, ack *OutMail) *Inbound {
			return e.replyTo(ack, sam, "thank you!")
		}, "reply token"},
		{"token used by another teammate", func(e *env, notice, ack *OutMail) *Inbound {
			return e.replyTo(notice, omar, "I'll take it")
		}, "reply token"},
		{"forward of backstop's own notice", func(e *env, notice, ack *OutMail) *Inbound {
			in := e.forward(jane, Original{From: Person{Name: "Backstop", Address: "escalations@acme.example"}, Subject: notice.Subject, Body: notice.Text})
			in.Subject = "Fwd: " + notice.Subject
			return in
		}, "subject tag"},
	}
	// Replies without a command, from senders the test does not verify
	// (no Authentication-Results): matched and recorded as notes, nothing
	// answered. Commands are tested in commands_test.go.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, notice, ack := setup(t)
			before := len(e.outbox())
			in := tt.in(e, notice, ack)
			e.handle(in, Processed)
			if got := len(e.outbox()); got != before {
				t.Errorf("a reply queued mail")
			}
			_, events := e.incident(1)
			last := events[len(events)-1]
			if last.Kind != EventNote || last.Actor != lower(in.From.Address) || !strings.Contains(last.Detail, tt.how) ||
				!strings.Contains(last.Detail, in.ReplyText) || last.MessageID != in.MessageID {
				t.Errorf("last event %+v, want a note matched by %s", last, tt.how)
			}
			if tt.name == "token used by another teammate" && !strings.Contains(last.Detail, "token issued to jane@acme.example") {
				t.Errorf("note does not say whose token: %q", last.Detail)
			}
			if n := e.count("SELECT count(*) FROM messages WHERE class = 'reply' AND incident_id = 1"); n != 1 {
				t.Errorf("reply not recorded on INC-1")
			}
		})
	}
}

func TestReplyRefused(t *testing.T) {
	e := newEnv(t)
	e.handle(e.forward(sam, abuse(jordan, "s", "a", e.clk.Now())), Processed)
	notice := e.mail(e.outbox()[1].ID)

	// A forged token: right shape, wrong MAC. Matches nothing.
	good, _ := tokenFromAddress("escalations@acme.example", notice.ReplyTo[0].Address)
	forged := good[:len(good)-4] + "aaaa"
	if forged == good {
		forged = good[:len(good)-4] + "bbbb"
	}
	in := e.plain(jane, "SEVER")
	in.To = []Person{{Address: "escalations+" + forged + "@acme.example"}}
	in.InReplyTo = []string{"bs." + forged + ".aaaaaaaaaaaaa@acme.example"}
	in.Kind, in.ReplyText = "reply", "SEVER"
	e.handle(in, Quarantined)
	if n := e.count("SELECT count(*) FROM messages WHERE class = 'unmatched'"); n != 1 {
		t.Errorf("forged token matched")
	}
	// A token for an incident that does not exist.
	in = e.plain(jane, "x")
	in.To = []Person{{Address: "escalations+" + Token(testSecret, 42, "jane@acme.example") + "@acme.example"}}
	e.handle(in, Quarantined)

	// An outsider replying with a valid token (say, the notice was
	// forwarded to them) is quarantined; nothing goes to them.
	before := len(e.outbox())
	e.handle(e.replyTo(notice, jordan, "hello?"), Quarantined)
	rows := e.outbox()[before:]
	if got := summary(rows); got != "quarantine_notice→jane@acme.example" {
		t.Errorf("outbox %s", got)
	}
	if rows[0].IncidentID != 1 {
		t.Errorf("the notice about a reply on INC-1 belongs to INC-1")
	}
	_, events := e.incident(1)
	if last := events[len(events)-2]; last.Kind != EventQuarantined || last.Actor != "jordan@globex.example" {
		t.Errorf("event %+v", last)
	}
	for _, r := range e.outbox() {
		if strings.Contains(r.Recipient, "globex") {
			t.Errorf("mail queued to the outsider: %+v", r)
		}
	}
}

func TestReplyToQuarantineNotice(t *testing.T) {
	e := newEnv(t)
	e.handle(e.plain(jordan, "spam"), Quarantined)
	notice := e.mail(e.outbox()[0].ID)
	if notice.IncidentID != 0 {
		t.Fatalf("notice incident %d", notice.IncidentID)
	}
	// A lead answering a quarantine notice is recorded, not quarantined
	// again (which would notify again).
	e.handle(e.replyTo(notice, jane, "ok, spam"), Processed)
	if n := len(e.outbox()); n != 1 {
		t.Errorf("%d outbox rows, want 1", n)
	}
}

func TestCaps(t *testing.T) {
	t.Run("per incident", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.MaxPerIncidentHour = 4 })
		for i := range 5 {
			e.handle(e.forward(sam, abuse(jordan, "s", "msg "+itoa(int64(i)), e.clk.Now())), Processed)
		}
		// 2 (ack + notice), then one evidence notice each: 4 in all.
		if n := len(e.outbox()); n != 4 {
			t.Errorf("%d outbox rows, want 4", n)
		}
		if n := e.countEvents("incident_id = 1", EventNoticeHeldBack, "per incident"); n != 2 {
			t.Errorf("%d held-back events, want 2", n)
		}
		e.clk.Advance(61 * time.Minute)
		e.handle(e.forward(sam, abuse(jordan, "s", "later", e.clk.Now())), Processed)
		if n := len(e.outbox()); n != 5 {
			t.Errorf("after an hour: %d outbox rows, want 5", n)
		}
	})
	t.Run("per recipient", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.MaxPerRecipientHour = 3 })
		for i := range 5 {
			cust := Person{Address: "c" + itoa(int64(i)) + "@globex.example"}
			e.handle(e.forward(sam, abuse(cust, "s", "x", e.clk.Now())), Processed)
		}
		rows := e.outbox()
		var toJane, toSam int
		for _, r := range rows {
			switch r.Recipient {
			case "jane@acme.example":
				toJane++
			case "sam@acme.example":
				toSam++
			}
		}
		// Every new incident's notice reaches the lead; Sam's thank-you
		// notes beyond the cap are held back, and summarised once it frees.
		if toJane != 5 || toSam != 3 {
			t.Errorf("jane got %d, sam %d; want 5 and 3", toJane, toSam)
		}
		if n := e.countEvents("1 = 1", EventNoticeHeldBack, "per recipient"); n != 2 {
			t.Errorf("%d held-back events, want 2", n)
		}
		d := e.dispatcher(&fakeTransport{})
		run := func() {
			t.Helper()
			if _, err := d.drain(context.Background()); err != nil { // the dispatcher's round: summaries, then sending
				t.Fatal(err)
			}
		}
		run()
		if n := e.count("SELECT count(*) FROM events WHERE kind = ?", EventHeldBackSummary); n != 0 {
			t.Errorf("a summary went out while the cap was still reached")
		}
		e.clk.Advance(61 * time.Minute)
		run()
		rows = e.outbox()
		last := rows[len(rows)-1]
		if last.Template != templates.HeldBack || last.Recipient != "sam@acme.example" {
			t.Fatalf("last email %s to %s, want the summary to sam", last.Template, last.Recipient)
		}
		if m := e.mail(last.ID); !strings.Contains(m.Subject, "2 more notices held back since 09:30 UTC: INC-4…INC-5") {
			t.Errorf("summary %q", m.Subject)
		}
		if n := e.count("SELECT count(*) FROM events WHERE kind = ?", EventHeldBackSummary); n != 1 {
			t.Errorf("%d summary events, want 1", n)
		}
		run()
		if n := len(e.outbox()); n != len(rows) {
			t.Errorf("the summary went out twice")
		}
	})
	t.Run("security notices", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.MaxPerRecipientHour = 2; c.MaxQuarantineHour = 1 })
		for range 3 {
			e.handle(e.plain(jordan, "spam"), Quarantined)
		}
		// Spam used up every budget; a forged command is reported all the same.
		forged := e.plain(jane, "SEVER")
		forged.Kind, forged.ReplyText, forged.Subject = "reply", "SEVER", "Re: [INC-1] x"
		e.handle(e.forward(sam, abuse(jordan, "s", "x", e.clk.Now())), Processed)
		e.handle(forged, Quarantined)
		if got := summary(e.outbox()); !strings.Contains(got, "security_notice→jane@acme.example") || !strings.Contains(got, "lead_notice→jane@acme.example") {
			t.Errorf("outbox %s", got)
		}
	})
	t.Run("quarantine notices", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.MaxQuarantineHour = 2 })
		for range 4 {
			e.handle(e.plain(jordan, "spam"), Quarantined)
		}
		if n := len(e.outbox()); n != 2 {
			t.Errorf("%d quarantine notices, want 2", n)
		}
		// A spam flood leaves room for real incidents.
		e.handle(e.forward(sam, abuse(casey, "s", "x", e.clk.Now())), Processed)
		if got := summary(e.outbox()[2:]); got != "reporter_ack→sam@acme.example lead_notice→jane@acme.example" {
			t.Errorf("outbox %s", got)
		}
	})
}

func TestEvidenceModes(t *testing.T) {
	for _, mode := range []string{EvidenceAttach, EvidenceInline, EvidenceNone} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Evidence = mode })
			e.handle(e.forward(sam, abuse(jordan, "s", "You absolute clown.", e.clk.Now())), Processed)
			m := e.mail(e.outbox()[1].ID)
			if m.Template != templates.LeadNotice {
				t.Fatalf("row 2 is %s", m.Template)
			}
			inline := strings.Contains(m.Text, "You absolute clown.")
			if inline != (mode == EvidenceInline) {
				t.Errorf("evidence inline = %v in mode %s:\n%s", inline, mode, m.Text)
			}
			if (len(m.Attachments) == 1) != (mode == EvidenceAttach) {
				t.Errorf("%d attachments in mode %s", len(m.Attachments), mode)
			}
			ack := e.mail(e.outbox()[0].ID)
			if strings.Contains(ack.Text, "clown") || len(ack.Attachments) > 0 {
				t.Errorf("the reporter's ack carries evidence in mode %s", mode)
			}
		})
	}
}

func TestHistory(t *testing.T) {
	e := newEnv(t)
	e.handle(e.forward(sam, abuse(jordan, "s", "a", e.clk.Now())), Processed)
	// INC-1 is resolved; jordan's next report opens INC-2 with history.
	if _, err := e.st.db.Exec("UPDATE incidents SET state = ? WHERE id = 1", StateResolved); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(24 * time.Hour)
	// A colleague at the same organisation.
	e.handle(e.forward(sam, abuse(Person{Address: "lee@globex.example"}, "s", "b", e.clk.Now())), Processed)
	e.clk.Advance(24 * time.Hour)
	e.handle(e.forward(sam, abuse(jordan, "s", "c", e.clk.Now())), Processed)
	if n := len(e.incidents()); n != 3 {
		t.Fatalf("%d incidents, want 3", n)
	}
	rows, _ := e.st.Outbox(context.Background(), 3)
	var notice *OutMail
	for _, r := range rows {
		if r.Template == templates.LeadNotice {
			notice = e.mail(r.ID)
		}
	}
	for _, want := range []string{"INC-2, 13 Mar 2025: reported (lee@globex.example)", "INC-1, 12 Mar 2025: resolved (jordan@globex.example)"} {
		if !strings.Contains(notice.Text, want) {
			t.Errorf("lead notice lacks %q:\n%s", want, notice.Text)
		}
	}
	// INC-1 is the customer's and the organisation's: listed once, and
	// the newest comes first.
	if n := strings.Count(notice.Text, "INC-1, "); n != 1 {
		t.Errorf("INC-1 listed %d times:\n%s", n, notice.Text)
	}
	if strings.Index(notice.Text, "INC-2, ") > strings.Index(notice.Text, "INC-1, ") {
		t.Errorf("the history is not newest first:\n%s", notice.Text)
	}
}

func TestSeveredIncidentTakesEvidence(t *testing.T) {
	e := newEnv(t)
	e.handle(e.forward(sam, abuse(jordan, "s", "a", e.clk.Now())), Processed)
	if _, err := e.st.db.Exec("UPDATE incidents SET state = ?, lead_address = ?, lead_name = ? WHERE id = 1", StateSevered, "jane@acme.example", "Jane Doe"); err != nil {
		t.Fatal(err)
	}
	e.handle(e.forward(sam, abuse(jordan, "s", "b", e.clk.Now())), Processed)
	if n := len(e.incidents()); n != 1 {
		t.Errorf("%d incidents, want 1", n)
	}
}

func TestLeadReportsGetsNoAck(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Leads = []Person{jane, omar}
		c.TeamDomains = nil
		c.TeamAddresses = []string{"SAM@acme.example"}
	})
	e.handle(e.forward(jane, abuse(jordan, "s", "a", e.clk.Now())), Processed)
	if got := summary(e.outbox()); got != "lead_notice→jane@acme.example lead_notice→omar@acme.example" {
		t.Errorf("outbox %s", got)
	}
	// A listed team address reports; anyone else at the domain does not.
	e.handle(e.forward(sam, abuse(casey, "s", "a", e.clk.Now())), Processed)
	e.handle(e.forward(alex, abuse(casey, "s", "b", e.clk.Now())), Quarantined)
}

func TestBaseSubject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Fwd: Re: Ticket #4471", "Ticket #4471"},
		{"FW: RE: FW: hello", "hello"},
		{"WG: AW: Rechnung", "Rechnung"},
		{"TR: RE: facture", "facture"},
		{"RV: RE: factura", "factura"},
		{"I: R: fattura", "fattura"},
		{"VS: SV: lasku", "lasku"},
		{"Fwd[2]: hello", "hello"},
		{"[INC-7] Re: hello", "hello"},
		{"Re: [INC-7] New incident", "New incident"},
		{"Invoice: March", "Invoice: March"},
		{"Iron: the metal", "Iron: the metal"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := BaseSubject(tt.in); got != tt.want {
			t.Errorf("BaseSubject(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	clk := newClock()
	tests := []struct {
		name string
		edit func(c *Config)
		want string // "" = valid
	}{
		{"valid", func(c *Config) {}, ""},
		{"no escalations", func(c *Config) { c.Escalations = "" }, "escalations: the watched address is required"},
		{"tagged escalations", func(c *Config) { c.Escalations = "esc+x@acme.example" }, "not a plain address"},
		{"no leads", func(c *Config) { c.Leads = nil }, "at least one lead"},
		{"lead is backstop", func(c *Config) { c.Leads = []Person{{Address: "Escalations@acme.example"}} }, "mail loop"},
		{"bad lead", func(c *Config) { c.Leads = []Person{{Address: "jane"}} }, "not an address"},
		{"short secret", func(c *Config) { c.Secret = []byte("short") }, "at least 32"},
		{"evidence", func(c *Config) { c.Evidence = "paste" }, "use attach, inline or none"},
		{"free-mail team domain", func(c *Config) { c.TeamDomains = []string{"gmail.com"} }, "free-mail domain"},
		{"negative cap", func(c *Config) { c.MaxPerIncidentHour = -1 }, "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig(clk)
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want %q", err, tt.want)
			case err != nil && !strings.HasPrefix(err.Error(), "config: "):
				t.Errorf("error %q does not start with config:", err)
			}
		})
	}
}

// TestForwardSenderAuthentication: a forward whose From no trusted server
// authenticated still opens an incident, and the audit trail says the
// sender may be forged.
func TestForwardSenderAuthentication(t *testing.T) {
	for _, tt := range []struct {
		name   string
		auth   []AuthResult
		forged bool
	}{
		{"authenticated", []AuthResult{{ServID: "mx.acme.example", DMARCPass: []string{"acme.example"}}}, false},
		{"untrusted server", []AuthResult{{ServID: "mx.evil.example", DMARCPass: []string{"acme.example"}}}, true},
		{"no header", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			in := e.forward(sam, abuse(jordan, "Invoice", "you are useless", e.clk.Now().Add(-time.Hour)))
			in.Auth = tt.auth
			e.handle(in, Processed)
			_, events := e.incident(1)
			var forged bool
			for _, ev := range events {
				if ev.Kind == EventReported && strings.Contains(ev.Detail, "not authenticated") {
					forged = true
				}
			}
			if forged != tt.forged {
				t.Errorf("audit trail flags the sender as unauthenticated: %v, want %v", forged, tt.forged)
			}
		})
	}
}
