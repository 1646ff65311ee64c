package workflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"backstop/templates"
)

// verify marks in as checked by the organisation's own receiving server:
// DMARC passed for its From domain.
func verify(in *Inbound) *Inbound {
	in.Auth = append(in.Auth, AuthResult{ServID: "mx.acme.example", DMARCPass: []string{domainOf(in.From.Address)}})
	in.AuthResults = append(in.AuthResults, "mx.acme.example; dmarc=pass header.from="+domainOf(in.From.Address))
	return in
}

// command is from's verified reply to m.
func (e *env) command(m *OutMail, from Person, text string) *Inbound {
	return verify(e.replyTo(m, from, text))
}

// fixture is INC-1: Sam reported Jordan; the leads got notices.
type fixture struct {
	*env
	notice map[string]*OutMail // lead address → lead notice
	ack    *OutMail            // Sam's acknowledgement
}

const customerMID = "abuse-1@globex.example"

func newFixture(t *testing.T, mutate ...func(*Config)) *fixture {
	t.Helper()
	e := newEnv(t, append([]func(*Config){func(c *Config) { c.Leads = []Person{jane, omar} }}, mutate...)...)
	in := e.forward(sam, abuse(jordan, "Invoice 4471", "You are useless.", e.clk.Now().Add(-time.Hour)))
	in.Originals[0].MessageID = "<" + customerMID + ">"
	e.handle(in, Processed)
	f := &fixture{env: e, notice: map[string]*OutMail{}}
	for _, r := range e.outbox() {
		switch r.Template {
		case templates.LeadNotice:
			f.notice[r.Recipient] = e.mail(r.ID)
		case templates.ReporterAck:
			f.ack = e.mail(r.ID)
		}
	}
	return f
}

// do sends text as from's verified reply to their notice (or Sam's ack)
// and returns the outbox rows it queued.
func (f *fixture) do(from Person, text string, want Disposition) []OutboxRow {
	f.t.Helper()
	m := f.notice[from.Address]
	if m == nil {
		m = f.ack
	}
	before := len(f.outbox())
	f.handle(f.command(m, from, text), want)
	return f.outbox()[before:]
}

func (e *env) state(id int64) string {
	e.t.Helper()
	inc, _ := e.incident(id)
	return inc.State
}

// contains reports whether s contains sub, ignoring how lines were
// wrapped.
func contains(s, sub string) bool {
	return strings.Contains(strings.Join(strings.Fields(s), " "), strings.Join(strings.Fields(sub), " "))
}

// kindsSince lists the event kinds of incident id after the first n.
func (e *env) eventsSince(id int64, n int) []Event {
	_, ev := e.incident(id)
	return ev[n:]
}

func (e *env) eventCount(id int64) int {
	_, ev := e.incident(id)
	return len(ev)
}

func kindsOf(ev []Event) []string {
	var k []string
	for _, e := range ev {
		k = append(k, e.Kind)
	}
	return k
}

func hasEvent(ev []Event, kind, detail string) bool {
	return slices.ContainsFunc(ev, func(e Event) bool { return e.Kind == kind && strings.Contains(e.Detail, detail) })
}

// rowsOf filters rows by template.
func rowsOf(rows []OutboxRow, template string) []OutboxRow {
	var out []OutboxRow
	for _, r := range rows {
		if r.Template == template {
			out = append(out, r)
		}
	}
	return out
}

func TestParseCommands(t *testing.T) {
	tests := []struct {
		text string
		want []string // "VERB|args", or "?|line" for a non-command
		more bool
	}{
		{"SEVER", []string{"SEVER|"}, false},
		{"sever", []string{"SEVER|"}, false},
		{"  Sever.  \n\nThanks, Jane", []string{"SEVER|"}, false},
		{"\n\nBoundary!\n", []string{"BOUNDARY|"}, false},
		{"*SEVER*", []string{"SEVER|"}, false},
		{"part", []string{"SEVER|"}, false},
		{"warn", []string{"BOUNDARY|"}, false},
		{"ESC pat@globex.example Pat Lee", []string{"ESCALATE|pat@globex.example Pat Lee"}, false},
		{"escalate: pat@globex.example", []string{"ESCALATE|pat@globex.example"}, false},
		{"Apologised", []string{"APOLOGY|"}, false},
		{"resolved all good now", []string{"RESOLVE|all good now"}, false},
		{"take", []string{"ASSIGN|me"}, false},
		{"Mine", []string{"ASSIGN|me"}, false},
		{"ASSIGN omar@acme.example", []string{"ASSIGN|omar@acme.example"}, false},
		{"hand-off", []string{"HANDOFF|"}, false},
		{"stop", []string{"CANCEL|"}, false},
		{"Approved", []string{"APPROVE|"}, false},
		{"closed", []string{"CLOSE|"}, false},
		{"?", []string{"HELP|"}, false},
		{"NOTE spoke to their manager\nSTATUS", []string{"NOTE|spoke to their manager", "STATUS|"}, false},
		{"STATUS\n\nSHOW\nI'll read it tonight\nSEVER", []string{"STATUS|", "SHOW|"}, false},
		// Prose first: one non-command, carrying the line.
		{"Thanks, I'll look at it\nSEVER", []string{"?|Thanks, I'll look at it"}, false},
		// A no-argument command followed by words is prose.
		{"Close call, that one", []string{"?|Close call, that one"}, false},
		{"Sever them now", []string{"?|Sever them now"}, false},
		{"take it", []string{"?|take it"}, false},
		{"Sorry", []string{"?|Sorry"}, false},
		// Quoted text is never read, even if the parser left it in.
		{"STATUS\n> SEVER", []string{"STATUS|"}, false},
		{"> SEVER", nil, false},
		{"", nil, false},
		{"  \n \n", nil, false},
		{strings.Repeat("STATUS\n", 12), slices.Repeat([]string{"STATUS|"}, MaxCommands), true},
	}
	for _, tt := range tests {
		cmds, more := ParseCommands(tt.text)
		var got []string
		for _, c := range cmds {
			if c.Verb == "" {
				got = append(got, "?|"+c.Line)
			} else {
				got = append(got, c.Verb+"|"+c.Args)
			}
		}
		if !slices.Equal(got, tt.want) || more != tt.more {
			t.Errorf("ParseCommands(%q) = %q, %v; want %q, %v", tt.text, got, more, tt.want, tt.more)
		}
	}
	for _, c := range Commands() {
		if v, ok := lookupVerb(c.Verb); !ok || v != c.Verb {
			t.Errorf("%s does not parse as itself", c.Verb)
		}
		for _, a := range c.Aliases {
			if v, ok := lookupVerb(a); !ok || v != c.Verb {
				t.Errorf("alias %s reads as %q, want %s", a, v, c.Verb)
			}
		}
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		args string
		want Person
		ok   bool
	}{
		{"pat@globex.example", Person{Address: "pat@globex.example"}, true},
		{"pat@globex.example Pat Lee", Person{Name: "Pat Lee", Address: "pat@globex.example"}, true},
		{"Pat Lee <pat@globex.example>", Person{Name: "Pat Lee", Address: "pat@globex.example"}, true},
		{"pat@globex.example <mailto:pat@globex.example> Pat", Person{Name: "Pat", Address: "pat@globex.example"}, true},
		{"Pat Lee", Person{}, false},
		{"", Person{}, false},
	}
	for _, tt := range tests {
		got, ok := parseTarget(tt.args)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseTarget(%q) = %+v, %v; want %+v, %v", tt.args, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNextState(t *testing.T) {
	open := []string{StateReported, StateAcknowledged, StateBoundarySent, StateEscalated, StateSevered}
	for _, st := range open {
		if next, ok := NextState(CmdResolve, st); !ok || next != StateResolved {
			t.Errorf("RESOLVE from %s: %s %v", st, next, ok)
		}
		if next, ok := NextState(CmdClose, st); !ok || next != StateClosed {
			t.Errorf("CLOSE from %s: %s %v", st, next, ok)
		}
		if _, ok := NextState(CmdReopen, st); ok {
			t.Errorf("REOPEN allowed from open state %s", st)
		}
		if next, ok := NextState(CmdSever, st); ok != (st != StateSevered) || ok && next != StateSevered {
			t.Errorf("SEVER from %s: %s %v", st, next, ok)
		}
	}
	for _, st := range []string{StateResolved, StateClosed} {
		for _, v := range []string{CmdBoundary, CmdEscalate, CmdSever, CmdApology, CmdResolve, CmdClose, CmdAssign} {
			if _, ok := NextState(v, st); ok {
				t.Errorf("%s allowed from %s", v, st)
			}
		}
		if next, ok := NextState(CmdReopen, st); !ok || next != StateAcknowledged {
			t.Errorf("REOPEN from %s: %s %v", st, next, ok)
		}
	}
	for _, tt := range []struct{ verb, from, to string }{
		{CmdAssign, StateReported, StateAcknowledged},
		{CmdBoundary, StateReported, StateBoundarySent},
		{CmdBoundary, StateAcknowledged, StateBoundarySent},
		{CmdEscalate, StateBoundarySent, StateEscalated},
		{CmdEscalate, StateAcknowledged, StateEscalated},
		{CmdEscalate, StateEscalated, StateEscalated},
		{CmdApology, StateReported, StateAcknowledged},
	} {
		if next, ok := NextState(tt.verb, tt.from); !ok || next != tt.to {
			t.Errorf("%s from %s = %s %v, want %s", tt.verb, tt.from, next, ok, tt.to)
		}
	}
	for _, tt := range []struct{ verb, from string }{
		{CmdBoundary, StateBoundarySent}, {CmdBoundary, StateEscalated}, {CmdBoundary, StateSevered},
		{CmdEscalate, StateSevered},
	} {
		if _, ok := NextState(tt.verb, tt.from); ok {
			t.Errorf("%s allowed from %s", tt.verb, tt.from)
		}
	}
}

// TestBoundary follows one customer email from the command to the wire:
// state, events, the held row, the preview, and the email as delivered.
func TestBoundary(t *testing.T) {
	f := newFixture(t)
	n := f.eventCount(1)
	in := f.command(f.notice["jane@acme.example"], jane, "Boundary")
	f.handle(in, Processed)
	rows := f.outbox()[3:]
	if got, want := summary(rows), "boundary→jordan@globex.example customer_preview→jane@acme.example"; got != want {
		t.Fatalf("queued %s, want %s", got, want)
	}
	inc, _ := f.incident(1)
	if inc.State != StateBoundarySent || inc.Lead.Address != "jane@acme.example" || inc.Lead.Name != "Jane Doe" {
		t.Errorf("incident %s, lead %v", inc.State, inc.Lead)
	}
	ev := f.eventsSince(1, n)
	if !hasEvent(ev, EventState, "reported → boundary_sent (BOUNDARY)") || !hasEvent(ev, EventCommand, "Boundary: boundary email to") {
		t.Errorf("events %v", ev)
	}
	for _, e := range ev {
		if (e.Kind == EventState || e.Kind == EventCommand) && (e.MessageID != in.MessageID || e.Actor != "jane@acme.example") {
			t.Errorf("event %+v does not name the command's message and sender", e)
		}
	}

	cust := rows[0]
	if !cust.Customer || cust.State != OutHeld || !cust.NotBefore.Equal(f.clk.Now().Add(10*time.Minute)) || cust.RequestedBy != "jane@acme.example" || cust.PrevState != StateReported {
		t.Errorf("customer row %+v", cust)
	}
	m := f.mail(cust.ID)
	if m.From != (Person{Name: "Jane Doe, Acme Support", Address: "support@acme.example"}) {
		t.Errorf("From %v", m.From)
	}
	if m.Sender != nil {
		t.Errorf("Sender %v: a customer email names no mailbox but the support address", m.Sender)
	}
	if len(m.ReplyTo) != 1 || m.ReplyTo[0].Address != "support@acme.example" {
		t.Errorf("Reply-To %v", m.ReplyTo)
	}
	if len(m.To) != 1 || m.To[0] != jordan || !slices.Equal(m.Rcpt, []string{"jordan@globex.example"}) {
		t.Errorf("To %v Rcpt %v", m.To, m.Rcpt)
	}
	if m.InReplyTo != customerMID || !slices.Equal(m.References, []string{customerMID}) {
		t.Errorf("threading: In-Reply-To %q References %v", m.InReplyTo, m.References)
	}
	if m.Subject != "Re: Invoice 4471" {
		t.Errorf("subject %q", m.Subject)
	}
	if m.EnvelopeFrom != "support@acme.example" {
		t.Errorf("envelope %q", m.EnvelopeFrom)
	}
	if m.AutoSubmitted != "" || len(m.Headers) != 0 {
		t.Errorf("a personal letter carries Auto-Submitted %q and headers %v", m.AutoSubmitted, m.Headers)
	}
	if strings.Contains(m.MessageID, "i1-") || strings.Contains(m.Text+m.HTML+m.Subject, "INC-") {
		t.Errorf("the customer email leaks the incident: %s", m.MessageID)
	}
	if !contains(m.Text, "Dear Jordan Miles") || !contains(m.Text, "Jane Doe\nAcme Support") || !strings.Contains(m.HTML, "Jane Doe") {
		t.Errorf("body:\n%s", m.Text)
	}
	if strings.Contains(m.Text+m.HTML, "useless") || strings.Contains(m.Text+m.HTML, "Sam") {
		t.Errorf("the customer email shows evidence or the reporter:\n%s", m.Text)
	}

	// The preview is the exact email, and when it goes.
	p := f.mail(rows[1].ID)
	if p.To[0].Address != "jane@acme.example" || !strings.HasPrefix(p.Subject, "[INC-1] Preview: boundary email to Jordan Miles") {
		t.Errorf("preview %v %q", p.To, p.Subject)
	}
	for _, line := range strings.Split(strings.TrimSpace(m.Text), "\n") {
		if !contains(p.Text, line) {
			t.Errorf("preview lacks the line %q", line)
		}
	}
	if !contains(p.Text, "Subject:  Re: Invoice 4471") || !contains(p.Text, "Wednesday 12 March 2025 at 09:40 UTC") {
		t.Errorf("preview:\n%s", p.Text)
	}

	// Nothing goes to the customer during the hold; then exactly once.
	tr := &fakeTransport{}
	d := f.dispatcher(tr)
	drain(t, d)
	for _, s := range tr.Sent() {
		if s.Customer {
			t.Fatalf("sent the customer email during its hold")
		}
	}
	f.clk.Advance(10 * time.Minute)
	drain(t, d)
	f.clk.Advance(time.Hour)
	drain(t, d)
	var got []*OutMail
	for _, s := range tr.Sent() {
		if s.Customer {
			got = append(got, s)
		}
	}
	if len(got) != 1 {
		t.Fatalf("customer emails delivered: %d, want 1", len(got))
	}
	if g := got[0]; g.Text != m.Text || g.HTML != m.HTML || g.Subject != m.Subject || g.MessageID != m.MessageID {
		t.Errorf("delivered email differs from the stored one")
	}
	if r := f.outbox()[3]; r.State != OutSent {
		t.Errorf("customer row %s", r.State)
	}

	// A second BOUNDARY is refused, with the way forward.
	rows = f.do(jane, "BOUNDARY", Processed)
	if got := summary(rows); got != "command_result→jane@acme.example" {
		t.Fatalf("second BOUNDARY queued %s", got)
	}
	r := f.mail(rows[0].ID)
	if !strings.Contains(r.Subject, "Not done: BOUNDARY") || !strings.Contains(r.Text, "has been sent already") || !strings.Contains(r.Text, "ESCALATE") {
		t.Errorf("refusal %q:\n%s", r.Subject, r.Text)
	}
}

func TestCommands(t *testing.T) {
	type check func(t *testing.T, f *fixture, rows []OutboxRow)
	mailTo := func(rows []OutboxRow, f *fixture, template, rcpt string) *OutMail {
		for _, r := range rows {
			if r.Template == template && r.Recipient == rcpt {
				return f.mail(r.ID)
			}
		}
		f.t.Fatalf("no %s to %s among %s", template, rcpt, summary(rows))
		return nil
	}
	tests := []struct {
		name   string
		setup  func(f *fixture) // before the command
		from   Person
		text   string
		state  string // after
		events []string
		queued string // template→recipient of the new outbox rows
		check  check
	}{
		{name: "ASSIGN me", from: jane, text: "ASSIGN me", state: StateAcknowledged,
			events: []string{EventState, EventCommand}, queued: "command_result→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				inc, _ := f.incident(1)
				if inc.Lead.Address != "jane@acme.example" {
					t.Errorf("lead %v", inc.Lead)
				}
				m := mailTo(rows, f, templates.CommandResult, "jane@acme.example")
				if m.Subject != "[INC-1] Done: ASSIGN me" || !contains(m.Text, "You are now the lead of INC-1") {
					t.Errorf("receipt %q:\n%s", m.Subject, m.Text)
				}
			}},
		{name: "TAKE", from: omar, text: "take", state: StateAcknowledged,
			events: []string{EventState, EventCommand}, queued: "command_result→omar@acme.example"},
		{name: "ASSIGN another lead", from: jane, text: "ASSIGN Omar <omar@acme.example>", state: StateAcknowledged,
			events: []string{EventState, EventCommand}, queued: "command_result→omar@acme.example command_result→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				inc, _ := f.incident(1)
				if inc.Lead != omar {
					t.Errorf("lead %v", inc.Lead)
				}
				if m := mailTo(rows, f, templates.CommandResult, "omar@acme.example"); !contains(m.Text, "Jane Doe made you the lead of INC-1") {
					t.Errorf("new lead's notice:\n%s", m.Text)
				}
			}},
		{name: "ASSIGN a non-lead", from: jane, text: "ASSIGN sam@acme.example", state: StateReported,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				if m := mailTo(rows, f, templates.CommandResult, "jane@acme.example"); !contains(m.Text, "not a lead") {
					t.Errorf("receipt:\n%s", m.Text)
				}
			}},
		{name: "ESCALATE", from: jane, text: "ESCALATE pat.lee@globex.example Pat Lee", state: StateEscalated,
			events: []string{EventMailQueued, EventState, EventMailQueued, EventCommand},
			queued: "escalation→pat.lee@globex.example customer_preview→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				m := mailTo(rows, f, templates.Escalation, "pat.lee@globex.example")
				if m.To[0] != (Person{Name: "Pat Lee", Address: "pat.lee@globex.example"}) || m.InReplyTo != "" || !m.Customer {
					t.Errorf("escalation To %v In-Reply-To %q", m.To, m.InReplyTo)
				}
				if !contains(m.Text, "Dear Pat Lee") || !contains(m.Text, "Jordan Miles") || contains(m.Text, "useless") {
					t.Errorf("escalation:\n%s", m.Text)
				}
			}},
		{name: "ESCALATE to a teammate", from: jane, text: "ESCALATE alex@acme.example", state: StateReported,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example"},
		{name: "ESCALATE to the customer", from: jane, text: "ESCALATE jordan@globex.example", state: StateReported,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example"},
		{name: "ESCALATE without address", from: jane, text: "ESCALATE Pat", state: StateReported,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example"},
		{name: "SEVER", from: jane, text: "SEVER", state: StateSevered,
			events: []string{EventMailQueued, EventState, EventMailQueued, EventMailQueued, EventCommand},
			queued: "parting_ways→jordan@globex.example customer_preview→jane@acme.example reporter_outcome→sam@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				inc, _ := f.incident(1)
				if inc.Severed.IsZero() {
					t.Errorf("severed_at not set")
				}
				if o := rowsOf(rows, templates.ReporterOutcome)[0]; o.State != OutHeld || !o.NotBefore.Equal(rows[0].NotBefore) {
					t.Errorf("the reporter's outcome note is not held with the email: %+v", o)
				}
				m := mailTo(rows, f, templates.PartingWays, "jordan@globex.example")
				if !contains(m.Text, "end our support relationship") || m.From.Name != "Jane Doe, Acme Support" {
					t.Errorf("parting ways from %v:\n%s", m.From, m.Text)
				}
			}},
		{name: "SEVER from boundary_sent", setup: func(f *fixture) { f.setState(1, StateBoundarySent) }, from: jane, text: "part", state: StateSevered},
		{name: "SEVER twice", setup: func(f *fixture) { f.setState(1, StateSevered) }, from: jane, text: "SEVER", state: StateSevered,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example"},
		{name: "BOUNDARY after escalation", setup: func(f *fixture) { f.setState(1, StateEscalated) }, from: jane, text: "BOUNDARY", state: StateEscalated,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				m := mailTo(rows, f, templates.CommandResult, "jane@acme.example")
				if !contains(m.Text, "step back") || !contains(m.Text, "What you can do now:") || !contains(m.Text, "SEVER") {
					t.Errorf("refusal:\n%s", m.Text)
				}
			}},
		{name: "APOLOGY", from: jane, text: "APOLOGY", state: StateAcknowledged,
			events: []string{EventState, EventMailQueued, EventCommand},
			queued: "reporter_outcome→sam@acme.example command_result→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				if m := mailTo(rows, f, templates.ReporterOutcome, "sam@acme.example"); !strings.Contains(m.Subject, "has apologised") {
					t.Errorf("thank-you %q", m.Subject)
				}
				if m := mailTo(rows, f, templates.CommandResult, "jane@acme.example"); !contains(m.Text, "RESOLVE") {
					t.Errorf("receipt:\n%s", m.Text)
				}
			}},
		{name: "APOLOGY after HANDOFF", setup: func(f *fixture) { f.do(sam, "HANDOFF", Processed) }, from: jane, text: "apologized", state: StateAcknowledged,
			queued: "command_result→jane@acme.example"},
		{name: "RESOLVE with a note", from: jane, text: "RESOLVE they apologised on the phone", state: StateResolved,
			events: []string{EventState, EventMailQueued, EventCommand},
			queued: "reporter_outcome→sam@acme.example command_result→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				inc, _ := f.incident(1)
				if inc.Closed.IsZero() {
					t.Errorf("closed_at not set")
				}
				if m := mailTo(rows, f, templates.CommandResult, "jane@acme.example"); !contains(m.Text, "they apologised on the phone") {
					t.Errorf("receipt lacks the note:\n%s", m.Text)
				}
				if m := mailTo(rows, f, templates.ReporterOutcome, "sam@acme.example"); contains(m.Text, "phone") || !strings.Contains(m.Subject, "Resolved") {
					t.Errorf("the reporter's note %q:\n%s", m.Subject, m.Text)
				}
			}},
		{name: "RESOLVE after HANDOFF still tells the outcome", setup: func(f *fixture) { f.do(sam, "HANDOFF", Processed) }, from: jane, text: "RESOLVE", state: StateResolved,
			queued: "reporter_outcome→sam@acme.example command_result→jane@acme.example"},
		{name: "CLOSE", from: omar, text: "close", state: StateClosed,
			queued: "reporter_outcome→sam@acme.example command_result→omar@acme.example"},
		{name: "REOPEN", setup: func(f *fixture) { f.setState(1, StateClosed) }, from: jane, text: "REOPEN", state: StateAcknowledged,
			events: []string{EventState, EventCommand}, queued: "command_result→jane@acme.example"},
		{name: "REOPEN while open", from: jane, text: "REOPEN", state: StateReported,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example"},
		{name: "BOUNDARY when closed", setup: func(f *fixture) { f.setState(1, StateClosed) }, from: jane, text: "BOUNDARY", state: StateClosed,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				if m := mailTo(rows, f, templates.CommandResult, "jane@acme.example"); !contains(m.Text, "REOPEN") {
					t.Errorf("receipt:\n%s", m.Text)
				}
			}},
		{name: "NOTE", from: jane, text: "NOTE called their account manager", state: StateReported,
			events: []string{EventNote}, queued: "command_result→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				_, ev := f.incident(1)
				if last := ev[len(ev)-2]; !strings.Contains(last.Detail, "called their account manager") {
					t.Errorf("note event %+v", last)
				}
			}},
		{name: "NOTE by the reporter", from: sam, text: "note he called again today", state: StateReported,
			events: []string{EventNote}, queued: "command_result→sam@acme.example"},
		{name: "NOTE without text", from: jane, text: "NOTE", state: StateReported,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example"},
		{name: "STATUS", from: jane, text: "STATUS", state: StateReported,
			events: []string{EventCommand}, queued: "command_result→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				m := mailTo(rows, f, templates.CommandResult, "jane@acme.example")
				for _, want := range []string{"State: reported", "Lead: none yet", "Customer: Jordan Miles <jordan@globex.example>, globex.example", "Reported by: Sam Rivera", "Messages: 1"} {
					if !contains(m.Text, want) {
						t.Errorf("STATUS lacks %q:\n%s", want, m.Text)
					}
				}
			}},
		{name: "STATUS by the reporter", from: sam, text: "status", state: StateReported, queued: "command_result→sam@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				m := mailTo(rows, f, templates.CommandResult, "sam@acme.example")
				if !contains(m.Text, "Reply NOTE <text>, STATUS, HANDOFF or HELP") {
					t.Errorf("the reporter is offered:\n%s", m.Text)
				}
			}},
		{name: "SHOW", from: jane, text: "SHOW", state: StateReported,
			events: []string{EventMailQueued, EventCommand}, queued: "lead_notice→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				m := mailTo(rows, f, templates.LeadNotice, "jane@acme.example")
				if len(m.Attachments) != 1 || !strings.Contains(string(m.Attachments[0].Data), "useless") || m.Attachments[0].Filename != "INC-1-evidence-1.eml" {
					t.Errorf("SHOW attachments %v", m.Attachments)
				}
				if !contains(m.Text, "Content warning") {
					t.Errorf("SHOW without a content warning:\n%s", m.Text)
				}
			}},
		{name: "SHOW by the reporter", from: sam, text: "SHOW", state: StateReported,
			events: []string{EventRefused}, queued: "command_result→sam@acme.example"},
		{name: "HELP", from: jane, text: "help", state: StateReported, queued: "help→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				if m := mailTo(rows, f, templates.Help, "jane@acme.example"); !contains(m.Text, "Reply BOUNDARY, ESCALATE <address> [name], SEVER") {
					t.Errorf("help:\n%s", m.Text)
				}
			}},
		{name: "HANDOFF", from: sam, text: "HANDOFF", state: StateReported,
			events: []string{EventCommand}, queued: "command_result→sam@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				if inc, _ := f.incident(1); !inc.HandedOff {
					t.Errorf("not handed off")
				}
			}},
		{name: "HANDOFF by a lead", from: jane, text: "HANDOFF", state: StateReported,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				if m := mailTo(rows, f, templates.CommandResult, "jane@acme.example"); !contains(m.Text, "ASSIGN <address>") {
					t.Errorf("receipt:\n%s", m.Text)
				}
			}},
		{name: "a teammate tries SEVER", from: sam, text: "SEVER", state: StateReported,
			events: []string{EventRefused}, queued: "command_result→sam@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				m := mailTo(rows, f, templates.CommandResult, "sam@acme.example")
				if !contains(m.Text, "Only a lead may SEVER") || !contains(m.Text, "NOTE <text>") {
					t.Errorf("receipt:\n%s", m.Text)
				}
			}},
		{name: "not a command", from: jane, text: "Thanks, I'll deal with it tomorrow", state: StateReported,
			events: []string{EventNote}, queued: "command_result→jane@acme.example",
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				m := mailTo(rows, f, templates.CommandResult, "jane@acme.example")
				if !strings.Contains(m.Subject, "Not understood") || !contains(m.Text, "Thanks, I'll deal with it tomorrow") || !contains(m.Text, "BOUNDARY") {
					t.Errorf("receipt %q:\n%s", m.Subject, m.Text)
				}
			}},
		{name: "several commands", from: jane, text: "ASSIGN me\nNOTE on it\nSTATUS\n\nJane", state: StateAcknowledged,
			events: []string{EventState, EventCommand, EventNote, EventCommand},
			queued: "command_result→jane@acme.example command_result→jane@acme.example command_result→jane@acme.example"},
		{name: "too many commands", from: jane, text: strings.Repeat("NOTE x\n", 11), state: StateReported,
			queued: strings.TrimSpace(strings.Repeat("command_result→jane@acme.example ", 11)),
			check: func(t *testing.T, f *fixture, rows []OutboxRow) {
				if m := f.mail(rows[10].ID); !contains(m.Text, "at most 10 commands") {
					t.Errorf("last receipt:\n%s", m.Text)
				}
			}},
		{name: "CANCEL with nothing pending", from: jane, text: "CANCEL", state: StateReported,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example"},
		{name: "APPROVE with nothing pending", from: jane, text: "APPROVE", state: StateReported,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example"},
		{name: "RESEND with nothing failed", from: jane, text: "RESEND", state: StateReported,
			events: []string{EventRefused}, queued: "command_result→jane@acme.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			n := f.eventCount(1)
			rows := f.do(tt.from, tt.text, Processed)
			if st := f.state(1); st != tt.state {
				t.Errorf("state %s, want %s", st, tt.state)
			}
			if tt.queued != "" {
				if got := summary(rows); got != tt.queued {
					t.Errorf("queued %s\nwant %s", got, tt.queued)
				}
			}
			if tt.events != nil {
				if got := kindsOf(f.eventsSince(1, n)); !slices.Equal(withoutMailQueued(got), withoutMailQueued(append(tt.events, EventMailQueued))) {
					t.Errorf("events %v, want %v", got, tt.events)
				}
			}
			for _, r := range rows {
				if r.Customer {
					continue
				}
				m := f.mail(r.ID)
				if !strings.HasPrefix(m.Subject, "[INC-1] ") || m.AutoSubmitted != "auto-generated" {
					t.Errorf("%s: subject %q, Auto-Submitted %q", r.Template, m.Subject, m.AutoSubmitted)
				}
			}
			if tt.check != nil {
				tt.check(t, f, rows)
			}
		})
	}
}

// withoutMailQueued drops mail_queued events: which emails were queued is
// checked on the outbox.
func withoutMailQueued(kinds []string) []string {
	return slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return k == EventMailQueued })
}

func (e *env) setState(id int64, state string) {
	e.t.Helper()
	if _, err := e.st.db.Exec("UPDATE incidents SET state = ? WHERE id = ?", state, id); err != nil {
		e.t.Fatal(err)
	}
}

// TestCommandSecurity: nobody but a verified lead makes backstop write to
// a customer.
func TestCommandSecurity(t *testing.T) {
	evil := func(in *Inbound) *Inbound {
		// Any number of passing results from servers that are not ours.
		for range 5 {
			in.Auth = append(in.Auth, AuthResult{ServID: "mx.evil.example", DMARCPass: []string{"acme.example"}, DKIMPass: []string{"acme.example"}})
		}
		return in
	}
	tests := []struct {
		name string
		mut  func(*Config)
		in   func(f *fixture) *Inbound
		why  string
	}{
		{"forged From without a token", nil, func(f *fixture) *Inbound {
			// A new email, subject-tagged, claiming to be Jane, passing
			// DMARC at our own server even (a look-alike would not).
			in := f.plain(jane, "Re: [INC-1] New incident")
			in.Kind, in.ReplyText = "reply", "SEVER"
			return verify(in)
		}, "no valid reply token"},
		{"forged From with a token stolen from another lead's notice", nil, func(f *fixture) *Inbound {
			return f.command(f.notice["omar@acme.example"], jane, "SEVER")
		}, "no valid reply token"},
		{"a valid token for another person", nil, func(f *fixture) *Inbound {
			return f.command(f.notice["jane@acme.example"], omar, "SEVER")
		}, "no valid reply token"},
		{"a valid token for another incident", nil, func(f *fixture) *Inbound {
			// Jane's token for INC-2 rides along in References; the reply
			// is addressed with Sam's INC-1 token.
			f.handle(f.forward(sam, abuse(casey, "s", "b", f.clk.Now())), Processed)
			var inc2 *OutMail
			for _, r := range f.outbox() {
				if r.IncidentID == 2 && r.Recipient == "jane@acme.example" {
					inc2 = f.mail(r.ID)
				}
			}
			in := f.command(f.ack, jane, "SEVER")
			in.InReplyTo = []string{inc2.MessageID}
			in.References = []string{inc2.MessageID}
			return in
		}, "no valid reply token"},
		{"Authentication-Results from an untrusted authserv-id", nil, func(f *fixture) *Inbound {
			return evil(f.replyTo(f.notice["jane@acme.example"], jane, "SEVER"))
		}, "no Authentication-Results header from a trusted server"},
		{"untrusted results only, domain policy", func(c *Config) { c.Verify = VerifyByDomain }, func(f *fixture) *Inbound {
			return evil(f.replyTo(f.notice["jane@acme.example"], jane, "SEVER"))
		}, "no Authentication-Results header from a trusted server"},
		{"trusted server, another domain", nil, func(f *fixture) *Inbound {
			in := f.replyTo(f.notice["jane@acme.example"], jane, "SEVER")
			in.Auth = []AuthResult{{ServID: "MX.ACME.EXAMPLE", DMARCPass: []string{"evil.example"}, DKIMPass: []string{"evil.example"}}}
			return in
		}, "no Authentication-Results header from a trusted server"},
		{"token only, but policy both", nil, func(f *fixture) *Inbound {
			return f.replyTo(f.notice["jane@acme.example"], jane, "SEVER")
		}, "DMARC or DKIM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mut []func(*Config)
			if tt.mut != nil {
				mut = append(mut, tt.mut)
			}
			f := newFixture(t, mut...)
			in := tt.in(f)
			before := len(f.outbox())
			n := f.eventCount(1)
			f.handle(in, Quarantined)
			rows := f.outbox()[before:]
			if got, want := summary(rows), "security_notice→jane@acme.example security_notice→omar@acme.example"; got != want {
				t.Fatalf("queued %s, want %s", got, want)
			}
			if f.state(1) != StateReported {
				t.Errorf("state changed to %s", f.state(1))
			}
			m := f.mail(rows[0].ID)
			if !contains(m.Text, "SEVER") || !contains(m.Text, tt.why) || !contains(m.Text, "jane@acme.example") && !contains(m.Text, "omar@acme.example") {
				t.Errorf("security notice:\n%s", m.Text)
			}
			ev := f.eventsSince(1, n)
			if !hasEvent(ev, EventRefused, "SEVER: refused: the sender could not be verified") {
				t.Errorf("events %v", ev)
			}
			for _, e := range ev {
				if e.Kind == EventRefused && e.MessageID != in.MessageID {
					t.Errorf("refusal does not name the message: %+v", e)
				}
			}
			if n := f.count("SELECT count(*) FROM messages WHERE class = ? AND disposition = 'quarantined' AND raw IS NOT NULL", ClassUnverified); n != 1 {
				t.Errorf("the refused message is not kept in quarantine")
			}
			// Nothing to the customer, nothing to the claimed sender.
			for _, r := range f.outbox() {
				if r.Customer || r.Template == templates.CommandResult {
					t.Errorf("queued %s to %s", r.Template, r.Recipient)
				}
			}
		})
	}
}

func TestVerifyPolicies(t *testing.T) {
	t.Run("token", func(t *testing.T) {
		f := newFixture(t, func(c *Config) { c.Verify = VerifyByToken; c.TrustedAuthServIDs = nil })
		f.handle(f.replyTo(f.notice["jane@acme.example"], jane, "ASSIGN me"), Processed)
		if f.state(1) != StateAcknowledged {
			t.Errorf("a token alone does not verify under verify: token")
		}
	})
	t.Run("domain", func(t *testing.T) {
		f := newFixture(t, func(c *Config) { c.Verify = VerifyByDomain })
		in := f.plain(jane, "Re: [INC-1] New incident")
		in.Kind, in.ReplyText = "reply", "ASSIGN me"
		in.Auth = []AuthResult{{ServID: "mx.acme.example", DKIMPass: []string{"acme.example"}}}
		f.handle(in, Processed)
		if f.state(1) != StateAcknowledged {
			t.Errorf("aligned DKIM from a trusted server does not verify under verify: domain")
		}
	})
	t.Run("both, +tag stripped", func(t *testing.T) {
		f := newFixture(t)
		in := f.command(f.notice["jane@acme.example"], jane, "ASSIGN me")
		in.To = []Person{{Address: "escalations@acme.example"}} // the server dropped the +tag
		f.handle(in, Processed)
		if f.state(1) != StateAcknowledged {
			t.Errorf("a token in In-Reply-To does not verify")
		}
	})
	t.Run("quoted text never executed", func(t *testing.T) {
		f := newFixture(t)
		in := f.command(f.notice["jane@acme.example"], jane, "STATUS")
		in.Raw = []byte("From: jane@acme.example\r\nSubject: Re: x\r\n\r\nSTATUS\r\n\r\nOn Wed, Backstop wrote:\r\n> SEVER\r\n> BOUNDARY\r\n")
		f.handle(in, Processed)
		if f.state(1) != StateReported {
			t.Errorf("state %s: a quoted command was executed", f.state(1))
		}
		for _, r := range f.outbox() {
			if r.Customer {
				t.Errorf("a quoted command queued %s", r.Template)
			}
		}
	})
	t.Run("no role", func(t *testing.T) {
		// Omar was a lead when he got his notice; he is no longer.
		f := newFixture(t)
		cfg := testConfig(f.clk)
		if _, err := NewDesk(cfg, f.st, loadTemplates(t)); err != nil {
			t.Fatal(err)
		}
		f.desk = f.st.desk.Load()
		rows := f.do(omar, "SEVER", Processed)
		if got := summary(rows); got != "command_result→omar@acme.example" {
			t.Fatalf("queued %s", got)
		}
		if m := f.mail(rows[0].ID); !contains(m.Text, "Only a lead may SEVER") || !contains(m.Text, "What you can do now: HELP") {
			t.Errorf("receipt:\n%s", m.Text)
		}
		if f.state(1) != StateReported {
			t.Errorf("state %s", f.state(1))
		}
	})
	t.Run("unverified reply without a command", func(t *testing.T) {
		f := newFixture(t)
		before := len(f.outbox())
		f.handle(f.replyTo(f.notice["jane@acme.example"], jane, "thanks"), Processed)
		if n := len(f.outbox()); n != before {
			t.Errorf("an unverified reply was answered")
		}
		_, ev := f.incident(1)
		if last := ev[len(ev)-1]; last.Kind != EventNote || !strings.Contains(last.Detail, "sender not verified") {
			t.Errorf("last event %+v", last)
		}
	})
}

func TestHoldAndCancel(t *testing.T) {
	f := newFixture(t)
	f.do(jane, "BOUNDARY", Processed)
	f.clk.Advance(5 * time.Minute)
	n := f.eventCount(1)
	rows := f.do(jane, "CANCEL", Processed)
	if got := summary(rows); got != "command_result→jane@acme.example" {
		t.Fatalf("queued %s", got)
	}
	if m := f.mail(rows[0].ID); !contains(m.Text, "Cancelled the boundary email to jordan@globex.example") || !contains(m.Text, "back to reported") {
		t.Errorf("receipt:\n%s", m.Text)
	}
	if f.state(1) != StateReported {
		t.Errorf("state %s after CANCEL", f.state(1))
	}
	ev := f.eventsSince(1, n)
	if !hasEvent(ev, EventMailCancelled, "boundary to jordan@globex.example") || !hasEvent(ev, EventState, "boundary_sent → reported (CANCEL)") {
		t.Errorf("events %v", ev)
	}
	tr := &fakeTransport{}
	d := f.dispatcher(tr)
	f.clk.Advance(time.Hour)
	drain(t, d)
	for _, m := range tr.Sent() {
		if m.Customer {
			t.Errorf("a cancelled email went out")
		}
	}

	// BOUNDARY again, answering the notice from before the CANCEL: a
	// replay, refused.
	if rows := f.do(jane, "BOUNDARY", Processed); !contains(f.mail(rows[0].ID).Text, "before the CANCEL") {
		t.Errorf("BOUNDARY answering an email older than the CANCEL:\n%s", f.mail(rows[0].ID).Text)
	}
	// BOUNDARY again, answering the CANCEL's receipt, sent after its hold;
	// CANCEL is then too late.
	f.handle(f.command(f.mail(rows[0].ID), jane, "BOUNDARY"), Processed)
	f.clk.Advance(10 * time.Minute)
	drain(t, d)
	rows = f.do(jane, "stop", Processed)
	if m := f.mail(rows[0].ID); !strings.Contains(m.Subject, "Not done") || !contains(m.Text, "was already sent, at") {
		t.Errorf("late CANCEL %q:\n%s", m.Subject, m.Text)
	}
	if f.state(1) != StateBoundarySent {
		t.Errorf("state %s", f.state(1))
	}
}

func TestCancelByAnotherLead(t *testing.T) {
	f := newFixture(t)
	f.do(jane, "SEVER", Processed)
	rows := f.do(omar, "CANCEL", Processed)
	if got := summary(rows); got != "command_result→jane@acme.example command_result→omar@acme.example" {
		t.Fatalf("queued %s", got)
	}
	if m := f.mail(rows[0].ID); !contains(m.Text, "Omar Haddad cancelled the parting-ways email") {
		t.Errorf("Jane was told:\n%s", m.Text)
	}
	inc, _ := f.incident(1)
	if inc.State != StateReported || !inc.Severed.IsZero() {
		t.Errorf("after CANCEL: %s, severed %v", inc.State, inc.Severed)
	}
	for _, r := range f.outbox() {
		if r.Template == templates.ReporterOutcome && r.State != OutCancelled {
			t.Errorf("the reporter's outcome note was not cancelled with the email: %s", r.State)
		}
	}
	if s, _ := f.st.Severed(context.Background()); len(s) != 0 {
		t.Errorf("severed after CANCEL: %+v", s)
	}
}

func TestPendingCustomerEmailBlocks(t *testing.T) {
	f := newFixture(t)
	f.do(jane, "BOUNDARY", Processed)
	for _, text := range []string{"SEVER", "RESOLVE", "CLOSE"} {
		rows := f.do(omar, text, Processed)
		if m := f.mail(rows[len(rows)-1].ID); !contains(m.Text, "still pending") || !contains(m.Text, "CANCEL") {
			t.Errorf("%s while a boundary email is held:\n%s", text, m.Text)
		}
	}
	// An escalation to someone else may go while the boundary email waits.
	rows := f.do(jane, "ESCALATE hr@globex.example", Processed)
	if got := summary(rows); got != "escalation→hr@globex.example customer_preview→jane@acme.example" {
		t.Errorf("queued %s", got)
	}
	if n := f.count("SELECT count(*) FROM outbox WHERE customer = 1"); n != 2 {
		t.Errorf("%d customer emails", n)
	}
}

func TestHoldZero(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Hold = 0 })
	rows := f.do(jane, "BOUNDARY", Processed)
	if rows[0].State != OutQueued || !rows[0].NotBefore.Equal(f.clk.Now()) {
		t.Errorf("customer row %s not before %v", rows[0].State, rows[0].NotBefore)
	}
	if p := f.mail(rows[1].ID); !contains(p.Text, "It goes out shortly") {
		t.Errorf("preview:\n%s", p.Text)
	}
	tr := &fakeTransport{}
	drain(t, f.dispatcher(tr))
	if !slices.ContainsFunc(tr.Sent(), func(m *OutMail) bool { return m.Customer }) {
		t.Errorf("not sent at once")
	}
}

func TestCustomerReplyToLead(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.CustomerReplyTo = ReplyToLead; c.EnvelopeSender = "support@acme.example" })
	rows := f.do(jane, "BOUNDARY", Processed)
	m := f.mail(rows[0].ID)
	if len(m.ReplyTo) != 1 || m.ReplyTo[0].Address != "jane@acme.example" {
		t.Errorf("Reply-To %v", m.ReplyTo)
	}
	if m.Sender != nil || m.EnvelopeFrom != "support@acme.example" {
		t.Errorf("From is the envelope sender: want no Sender, got %v (envelope %s)", m.Sender, m.EnvelopeFrom)
	}
}

func TestTwoPersonRule(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SeverApprovals = 2 })
	rows := f.do(jane, "SEVER", Processed)
	if got := summary(rows); got != "parting_ways→jordan@globex.example customer_preview→jane@acme.example customer_preview→omar@acme.example" {
		t.Fatalf("queued %s", got)
	}
	if rows[0].State != OutAwaitingApproval {
		t.Errorf("row %s", rows[0].State)
	}
	if p := f.mail(rows[2].ID); !strings.Contains(p.Subject, "Needs a second lead") || !contains(p.Text, "reply APPROVE") {
		t.Errorf("omar's preview %q:\n%s", p.Subject, p.Text)
	}
	if f.state(1) != StateReported {
		t.Errorf("state %s before approval", f.state(1))
	}
	tr := &fakeTransport{}
	d := f.dispatcher(tr)
	f.clk.Advance(48 * time.Hour)
	drain(t, d)
	if slices.ContainsFunc(tr.Sent(), func(m *OutMail) bool { return m.Customer }) {
		t.Fatalf("sent without approval")
	}
	// The lead who asked cannot approve.
	rows = f.do(jane, "APPROVE", Processed)
	if m := f.mail(rows[0].ID); !contains(m.Text, "You asked for this parting-ways email yourself") {
		t.Errorf("self-approval:\n%s", m.Text)
	}
	// Omar approves: the hold starts now; both see who approved.
	n := f.eventCount(1)
	rows = f.do(omar, "APPROVE", Processed)
	if got := summary(rows); got != "customer_preview→jane@acme.example customer_preview→omar@acme.example reporter_outcome→sam@acme.example" {
		t.Fatalf("queued %s", got)
	}
	if p := f.mail(rows[0].ID); !contains(p.Text, "(approved by Omar Haddad)") || !contains(p.Text, "Friday 14 March 2025 at 09:40 UTC") {
		t.Errorf("jane's preview:\n%s", p.Text)
	}
	inc, _ := f.incident(1)
	if inc.State != StateSevered || inc.Lead != jane || inc.Severed.IsZero() {
		t.Errorf("incident %s lead %v severed %v", inc.State, inc.Lead, inc.Severed)
	}
	if !hasEvent(f.eventsSince(1, n), EventState, "reported → severed (APPROVE)") {
		t.Errorf("events %v", f.eventsSince(1, n))
	}
	row := f.outbox()[3]
	if row.State != OutHeld || row.ApprovedBy != "omar@acme.example" || row.RequestedBy != "jane@acme.example" {
		t.Errorf("row %+v", row)
	}
	drain(t, d)
	f.clk.Advance(10 * time.Minute)
	drain(t, d)
	var cust []*OutMail
	for _, m := range tr.Sent() {
		if m.Customer {
			cust = append(cust, m)
		}
	}
	if len(cust) != 1 || cust[0].From.Name != "Jane Doe, Acme Support" {
		t.Fatalf("customer emails %v", cust)
	}
	sev, err := f.st.Severed(context.Background())
	if err != nil || len(sev) != 1 {
		t.Fatalf("Severed: %v %v", sev, err)
	}
	if s := sev[0]; s.Customer.Address != "jordan@globex.example" || s.Organisation != "globex.example" || s.Incident != "INC-1" ||
		s.RequestedBy != "jane@acme.example" || s.ApprovedBy != "omar@acme.example" || s.Email != OutSent || s.State != StateSevered {
		t.Errorf("severed entry %+v", s)
	}
	// APPROVE again: nothing waits.
	rows = f.do(omar, "APPROVE", Processed)
	if m := f.mail(rows[0].ID); !contains(m.Text, "Nothing on INC-1 is waiting for approval") {
		t.Errorf("second APPROVE:\n%s", m.Text)
	}
}

// crashingTransport accepts the customer email and then "dies" before
// backstop records that it was sent: the goroutine delivering it exits.
type crashingTransport struct{ fakeTransport }

func (c *crashingTransport) Deliver(ctx context.Context, m *OutMail) error {
	err := c.fakeTransport.Deliver(ctx, m)
	if m.Customer {
		runtime.Goexit()
	}
	return err
}

func TestCrashBetweenSendingAndSent(t *testing.T) {
	f := newFixture(t)
	f.do(jane, "BOUNDARY", Processed)
	f.clk.Advance(10 * time.Minute)
	crash := &crashingTransport{}
	d := f.dispatcher(crash)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if sent, err := d.SendNext(context.Background()); err != nil || !sent {
				return
			}
		}
	})
	wg.Wait()
	custID := f.count("SELECT id FROM outbox WHERE customer = 1")
	var state string
	f.st.db.QueryRow("SELECT state FROM outbox WHERE id = ?", custID).Scan(&state)
	if state != OutSending {
		t.Fatalf("after the crash the row is %s, want sending", state)
	}
	first := crash.Sent()[len(crash.Sent())-1]

	// The next start: uncertain, the leads told, nothing resent.
	tr := &fakeTransport{}
	d = f.dispatcher(tr)
	if err := d.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	f.clk.Advance(24 * time.Hour)
	drain(t, d)
	for _, m := range tr.Sent() {
		if m.Customer {
			t.Fatalf("the uncertain customer email was sent again")
		}
	}
	var notices []string
	for _, m := range tr.Sent() {
		if m.Template == templates.UncertainDelivery {
			notices = append(notices, m.Rcpt[0])
			if !contains(m.Text, "reply RESEND") {
				t.Errorf("notice:\n%s", m.Text)
			}
		}
	}
	if !slices.Equal(notices, []string{"jane@acme.example", "omar@acme.example"}) {
		t.Errorf("uncertain-delivery notices to %v", notices)
	}

	// A lead decides: RESEND, with the same Message-ID.
	rows := f.do(jane, "RESEND", Processed)
	if m := f.mail(rows[0].ID); !contains(m.Text, "same Message-ID") {
		t.Errorf("receipt:\n%s", m.Text)
	}
	drain(t, d)
	var again []*OutMail
	for _, m := range tr.Sent() {
		if m.Customer {
			again = append(again, m)
		}
	}
	if len(again) != 1 || again[0].MessageID != first.MessageID || again[0].Text != first.Text {
		t.Fatalf("resent %d, Message-ID %v, want one with %s", len(again), again, first.MessageID)
	}
	rows = f.do(jane, "RESEND", Processed)
	if m := f.mail(rows[0].ID); !strings.Contains(m.Subject, "Not done") {
		t.Errorf("a second RESEND was not refused: %q", m.Subject)
	}
}

func TestBounce(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.CustomerBounceAddress = "bounces@acme.example" })
	f.do(jane, "BOUNDARY", Processed)
	f.clk.Advance(10 * time.Minute)
	tr := &fakeTransport{}
	d := f.dispatcher(tr)
	drain(t, d)
	cust := f.outbox()[3]
	if cust.State != OutSent {
		t.Fatalf("row %s", cust.State)
	}
	m := f.mail(cust.ID)
	dsn := func(status ...DeliveryStatus) *Inbound {
		b := f.plain(Person{Name: "Mail Delivery System", Address: "MAILER-DAEMON@mx.globex.example"}, "Undelivered Mail Returned to Sender")
		b.NullSender, b.Bounce, b.AutoReason = true, true, "multipart/report; report-type=delivery-status"
		b.To = []Person{{Address: m.EnvelopeFrom}}
		b.BounceStatus = status
		return b
	}
	// A delay report changes nothing.
	before := len(f.outbox())
	f.handle(dsn(DeliveryStatus{Recipient: "jordan@globex.example", Action: "delayed", Status: "4.4.1"}), Processed)
	if f.outbox()[3].State != OutSent || len(f.outbox()) != before {
		t.Fatalf("a delay report marked the email undelivered")
	}
	n := f.eventCount(1)
	f.handle(dsn(DeliveryStatus{Recipient: "jordan@globex.example", Action: "failed", Status: "5.1.1"}), Processed)
	row := f.outbox()[3]
	if row.State != OutBounced || !strings.Contains(row.LastError, "5.1.1") {
		t.Errorf("row %s %q", row.State, row.LastError)
	}
	rows := f.outbox()[before:]
	if got := summary(rows); got != "delivery_failed→jane@acme.example" {
		t.Fatalf("queued %s", got)
	}
	if nm := f.mail(rows[0].ID); !strings.Contains(nm.Subject, "Not delivered: boundary email to Jordan Miles") || !contains(nm.Text, "5.1.1") {
		t.Errorf("notice %q:\n%s", nm.Subject, nm.Text)
	}
	if !hasEvent(f.eventsSince(1, n), EventMailBounced, "boundary to jordan@globex.example") {
		t.Errorf("events %v", f.eventsSince(1, n))
	}
	// The same bounce found by the original's Message-ID only.
	f2 := newFixture(t)
	f2.do(jane, "BOUNDARY", Processed)
	f2.clk.Advance(10 * time.Minute)
	drain(t, f2.dispatcher(&fakeTransport{}))
	m2 := f2.mail(f2.outbox()[3].ID)
	b := f2.plain(Person{Address: "postmaster@globex.example"}, "failure notice")
	b.Bounce, b.AutoReason = true, "From: postmaster"
	b.BounceOriginalID = m2.MessageID
	f2.handle(b, Processed)
	// Anyone can quote a Message-ID: not believed, and the leads are told.
	if st := f2.outbox()[3].State; st != OutSent {
		t.Errorf("unauthenticated bounce by Message-ID: %s", st)
	}
	if got := summary(f2.outbox()[5:]); got != "security_notice→jane@acme.example security_notice→omar@acme.example" {
		t.Errorf("queued %s", got)
	}
	// With the exact recipient, from a domain a trusted server
	// authenticated: believed.
	b = f2.plain(Person{Address: "postmaster@globex.example"}, "failure notice")
	b.Bounce, b.AutoReason = true, "From: postmaster"
	b.BounceOriginalID = m2.MessageID
	b.BounceStatus = []DeliveryStatus{{Recipient: "jordan@globex.example", Action: "failed", Status: "5.1.1"}}
	b.Auth = []AuthResult{{ServID: "mx.acme.example", DMARCPass: []string{"globex.example"}}}
	f2.handle(b, Processed)
	if st := f2.outbox()[3].State; st != OutBounced {
		t.Errorf("bounce by Message-ID: %s", st)
	}
}

func TestCustomerEmailCaps(t *testing.T) {
	// Three emails so far (ack, two lead notices). A customer email and
	// its preview both fit under the cap, or neither is queued.
	for _, tt := range []struct {
		cap    int
		queued string
	}{
		{3, ""}, // the refusal's receipt is suppressed too
		{4, "command_result→jane@acme.example"}, // room for the refusal only
		{5, "parting_ways→jordan@globex.example customer_preview→jane@acme.example"},
	} {
		t.Run(fmt.Sprint(tt.cap), func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.MaxPerIncidentHour = tt.cap })
			n := f.eventCount(1)
			before := len(f.outbox())
			f.handle(f.command(f.notice["jane@acme.example"], jane, "SEVER"), Processed)
			rows := f.outbox()[before:]
			if got := summary(rows); got != tt.queued {
				t.Fatalf("queued %q, want %q", got, tt.queued)
			}
			ev := f.eventsSince(1, n)
			if strings.Contains(tt.queued, "parting_ways") {
				if f.state(1) != StateSevered || hasEvent(ev, EventNoticeHeldBack, "customer_preview") {
					t.Errorf("state %s, events %v", f.state(1), ev)
				}
				return
			}
			if f.state(1) != StateReported {
				t.Errorf("state %s", f.state(1))
			}
			if !hasEvent(ev, EventRefused, "not queued: at most "+fmt.Sprint(tt.cap)+" emails per incident per hour") || (tt.queued == "") != hasEvent(ev, EventNoticeHeldBack, "command_result") {
				t.Errorf("events %v", ev)
			}
		})
	}
}

func TestSeveredCustomerWritesDirectly(t *testing.T) {
	f := newFixture(t)
	f.do(jane, "SEVER", Processed)
	n := f.eventCount(1)
	in := f.plain(jordan, "You can't do this")
	f.handle(in, Quarantined)
	ev := f.eventsSince(1, n)
	if !hasEvent(ev, EventQuarantined, "the customer of INC-1 (severed) wrote to backstop directly") {
		t.Errorf("events %v", ev)
	}
	for _, r := range f.outbox() {
		if r.Recipient == "jordan@globex.example" && r.Template != templates.PartingWays {
			t.Errorf("answered the customer: %s", r.Template)
		}
	}
	// A teammate's forward of their later mail is evidence on the same incident.
	f.handle(f.forward(sam, abuse(jordan, "Again", "still here", f.clk.Now())), Processed)
	if len(f.incidents()) != 1 {
		t.Errorf("a new incident for a severed customer")
	}
}

func TestTemplateOverrideReachesCustomer(t *testing.T) {
	dir := t.TempDir()
	body := "Subject: A word about our conversations\n\nDear {{.Customer.Name}},\n\nPlease keep it civil.\n\n{{.Lead.Name}}\n"
	if err := os.WriteFile(filepath.Join(dir, "boundary.txt"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	cfg := testConfig(clk)
	st := newStore(t)
	desk, err := NewDesk(cfg, st, set)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, desk: desk, clk: clk}
	e.handle(e.forward(sam, abuse(jordan, "s", "x", clk.Now())), Processed)
	notice := e.mail(e.outbox()[1].ID)
	e.handle(e.command(notice, jane, "BOUNDARY"), Processed)
	rows := e.outbox()[2:]
	m, p := e.mail(rows[0].ID), e.mail(rows[1].ID)
	if m.Subject != "A word about our conversations" || m.Text != "Dear Jordan Miles,\n\nPlease keep it civil.\n\nJane Doe\n" {
		t.Errorf("customer email %q:\n%s", m.Subject, m.Text)
	}
	if !contains(p.Text, "Please keep it civil.") {
		t.Errorf("preview:\n%s", p.Text)
	}

	// A template that does not parse never gets as far as a desk.
	if err := os.WriteFile(filepath.Join(dir, "parting_ways.txt"), []byte("Subject: x\n\n{{.Customer.Nme}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := templates.Load(dir); err == nil || !strings.Contains(err.Error(), "parting_ways.txt") {
		t.Errorf("broken template: %v", err)
	}
}

func TestPreview(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// The preview of INC-1's boundary email is the email BOUNDARY queues.
	r, pm, err := f.desk.Preview(ctx, templates.Boundary, 1, jane)
	if err != nil {
		t.Fatal(err)
	}
	rows := f.do(jane, "BOUNDARY", Processed)
	m := f.mail(rows[0].ID)
	if r.Text != m.Text || r.HTML != m.HTML || pm.Subject != m.Subject || pm.From != m.From || pm.Sender != nil || m.Sender != nil ||
		!slices.Equal(pm.ReplyTo, m.ReplyTo) || pm.InReplyTo != m.InReplyTo || !slices.Equal(pm.To, m.To) || !pm.Customer || pm.AutoSubmitted != "" {
		t.Errorf("preview %+v\ndiffers from the email %+v", pm, m)
	}
	// Every template previews, with and without an incident.
	for _, name := range loadTemplates(t).Names() {
		for _, id := range []int64{0, 1} {
			r, m, err := f.desk.Preview(ctx, name, id, Person{})
			if err != nil {
				t.Errorf("Preview(%s, %d): %v", name, id, err)
				continue
			}
			if r.Text == "" || m.Subject == "" || len(m.To) != 1 {
				t.Errorf("Preview(%s, %d): %q to %v", name, id, m.Subject, m.To)
			}
			if tagged := strings.HasPrefix(m.Subject, "[INC-"); templates.IsCustomer(name) && tagged || !templates.IsCustomer(name) && id != 0 && !tagged {
				t.Errorf("Preview(%s, %d) subject %q", name, id, m.Subject)
			}
			if templates.IsCustomer(name) && m.From.Address != "support@acme.example" {
				t.Errorf("Preview(%s, %d) From %v", name, id, m.From)
			}
		}
	}
	if _, _, err := f.desk.Preview(ctx, templates.Boundary, 42, Person{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown incident: %v", err)
	}
	if _, _, err := f.desk.Preview(ctx, "boundry", 1, Person{}); err == nil {
		t.Errorf("unknown template previewed")
	}
}

func TestReplyToQuarantineNoticeCommands(t *testing.T) {
	e := newEnv(t)
	e.handle(e.plain(jordan, "spam"), Quarantined)
	notice := e.mail(e.outbox()[0].ID)
	e.handle(e.command(notice, jane, "HELP"), Processed)
	if got := summary(e.outbox()[1:]); got != "help→jane@acme.example" {
		t.Errorf("HELP on a notice about no incident: %s", got)
	}
	e.handle(e.command(notice, jane, "SEVER"), Processed)
	m := e.mail(e.outbox()[2].ID)
	if !contains(m.Text, "about no incident") || strings.HasPrefix(m.Subject, "[INC-") {
		t.Errorf("SEVER on a notice about no incident %q:\n%s", m.Subject, m.Text)
	}
}

// TestForwardToSevered walks an incident from forward to severed with
// one-word replies, as a lead would from a phone.
func TestForwardToSevered(t *testing.T) {
	f := newFixture(t)
	tr := &fakeTransport{}
	d := f.dispatcher(tr)
	step := func(from Person, text, state string) {
		t.Helper()
		f.do(from, text, Processed)
		f.clk.Advance(11 * time.Minute)
		drain(t, d)
		if got := f.state(1); got != state {
			t.Fatalf("after %s: %s, want %s", text, got, state)
		}
	}
	step(jane, "mine", StateAcknowledged)
	step(jane, "boundary", StateBoundarySent)
	step(jane, "escalate hr@globex.example", StateEscalated)
	step(jane, "sever", StateSevered)
	var got []string
	for _, m := range tr.Sent() {
		if m.Customer {
			got = append(got, m.Template+"→"+m.Rcpt[0])
		}
	}
	want := []string{"boundary→jordan@globex.example", "escalation→hr@globex.example", "parting_ways→jordan@globex.example"}
	if !slices.Equal(got, want) {
		t.Errorf("customer emails %v, want %v", got, want)
	}
	// The parting-ways email threads under the customer's message and the
	// boundary email, and mentions when that went.
	var boundary, parting *OutMail
	for _, m := range tr.Sent() {
		switch m.Template {
		case templates.Boundary:
			boundary = m
		case templates.PartingWays:
			parting = m
		}
	}
	if !slices.Equal(parting.References, []string{customerMID, boundary.MessageID}) || parting.InReplyTo != boundary.MessageID {
		t.Errorf("parting-ways threading %q %v", parting.InReplyTo, parting.References)
	}
	if !contains(parting.Text, "On 12 March 2025 we wrote to you") {
		t.Errorf("parting ways:\n%s", parting.Text)
	}
	// Sam heard how it ended, once it went out.
	var outcomes []*OutMail
	for _, m := range tr.Sent() {
		if m.Template == templates.ReporterOutcome {
			outcomes = append(outcomes, m)
		}
	}
	if len(outcomes) != 1 || outcomes[0].Rcpt[0] != "sam@acme.example" {
		t.Errorf("outcome notes %v", outcomes)
	}
	step(jane, "close", StateClosed)
	sev, _ := f.st.Severed(context.Background())
	if len(sev) != 1 || sev[0].State != StateClosed || sev[0].Lead != jane {
		t.Errorf("a closed incident's customer stays severed: %+v", sev)
	}
}

func TestSecondReporter(t *testing.T) {
	f := newFixture(t)
	f.handle(f.forward(alex, abuse(jordan, "Invoice 4471", "again", f.clk.Now())), Processed)
	var alexAck *OutMail
	for _, r := range f.outbox() {
		if r.Template == templates.ReporterAck && r.Recipient == "alex@acme.example" {
			alexAck = f.mail(r.ID)
		}
	}
	before := len(f.outbox())
	f.handle(f.command(alexAck, alex, "HANDOFF"), Processed)
	if got := summary(f.outbox()[before:]); got != "command_result→alex@acme.example" {
		t.Fatalf("HANDOFF by the second reporter: %s", got)
	}
	if inc, _ := f.incident(1); inc.HandedOff {
		t.Errorf("the first reporter is marked handed off")
	}
	rows := f.do(jane, "APOLOGY", Processed)
	if got := summary(rowsOf(rows, templates.ReporterOutcome)); got != "reporter_outcome→sam@acme.example" {
		t.Errorf("thanked %s", got)
	}
	rows = f.do(jane, "RESOLVE", Processed)
	if got := summary(rowsOf(rows, templates.ReporterOutcome)); got != "reporter_outcome→sam@acme.example reporter_outcome→alex@acme.example" {
		t.Errorf("outcome to %s", got)
	}
}

// uncertainError is what the SMTP sender returns when the connection broke
// after the end of DATA: temporary, but the server may have the message.
type uncertainError struct{}

func (uncertainError) Error() string           { return "smtp: connection lost after the message was sent" }
func (uncertainError) Temporary() bool         { return true }
func (uncertainError) DeliveryUncertain() bool { return true }

// TestUncertainSMTPFailure: a customer email whose SMTP transaction broke
// after DATA is not retried like a 4xx: it becomes uncertain, the leads are
// told, and only RESEND sends it again. An internal email is retried.
func TestUncertainSMTPFailure(t *testing.T) {
	f := newFixture(t)
	f.do(jane, "BOUNDARY", Processed)
	f.clk.Advance(10 * time.Minute)
	tr := &fakeTransport{fail: func(m *OutMail, attempt int) error {
		if attempt == 1 {
			return uncertainError{}
		}
		return nil
	}}
	d := f.dispatcher(tr)
	drain(t, d)
	f.clk.Advance(24 * time.Hour)
	drain(t, d)
	var customer, notices int
	for _, m := range tr.Sent() {
		if m.Customer {
			customer++
		}
		if m.Template == templates.UncertainDelivery {
			notices++
		}
	}
	if customer != 0 {
		t.Fatalf("the customer email was retried %d times after an uncertain delivery", customer)
	}
	if notices == 0 {
		t.Error("the leads were not told that delivery is uncertain")
	}
	var state string
	f.st.db.QueryRow("SELECT state FROM outbox WHERE customer = 1").Scan(&state)
	if state != OutUncertain {
		t.Errorf("customer email is %s, want %s", state, OutUncertain)
	}
}
