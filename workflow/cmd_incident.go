package workflow

import (
	"fmt"
	"strings"
	"time"

	"backstop/templates"
)

// Handlers of the commands that look after an incident: APOLOGY, RESOLVE, CLOSE, REOPEN, ASSIGN, HANDOFF.

// reporter is a teammate who forwarded evidence to an incident.
type reporter struct {
	Person
	handedOff bool
}

// reportersOf lists the incident's reporters who are not leads, the first
// reporter first.
func (h *handling) reportersOf(inc *Incident) ([]reporter, error) {
	var out []reporter
	seen := map[string]bool{}
	handed := map[string]bool{}
	rows, err := h.tx.QueryContext(h.ctx, "SELECT address FROM handoffs WHERE incident_id = ?", inc.ID)
	if err != nil {
		return nil, fmt.Errorf("reading hand-offs: %w", err)
	}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			rows.Close()
			return nil, err
		}
		handed[a] = true
	}
	rows.Close()
	add := func(p Person) {
		a := lower(p.Address)
		if a == "" || seen[a] || h.d.isLead(a) {
			return
		}
		seen[a] = true
		out = append(out, reporter{Person: Person{Name: p.Name, Address: a}, handedOff: handed[a] || (a == lower(inc.Reporter.Address) && inc.HandedOff)})
	}
	add(inc.Reporter)
	rows, err = h.tx.QueryContext(h.ctx, "SELECT from_address FROM messages WHERE incident_id = ? AND class = ? GROUP BY from_address ORDER BY min(id)", inc.ID, ClassForward)
	if err != nil {
		return nil, fmt.Errorf("reading the reporters: %w", err)
	}
	var others []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			rows.Close()
			return nil, err
		}
		others = append(others, a)
	}
	rows.Close()
	for _, a := range others {
		add(Person{Address: a})
	}
	return out, nil
}

// tellReporters sends the reporters the outcome of verb (or, for APOLOGY,
// a thank-you, which handed-off reporters do not get). With hold, the note
// waits as long as the customer email does, and CANCEL stops both. It
// returns the names of those told.
func (r *cmdRun) tellReporters(verb string, lead Person, hold bool, notBefore time.Time) ([]string, error) {
	h := r.h
	reps, err := h.reportersOf(r.inc)
	if err != nil {
		return nil, err
	}
	var told []string
	for _, rep := range reps {
		if verb == CmdApology && rep.handedOff {
			continue
		}
		data := h.d.baseData(r.inc, rep.Person, h.now)
		data.Command = verb
		data.Lead = templates.Person(lead)
		data.Allowed = []string{usage(CmdNote), CmdStatus}
		item := outItem{incident: r.inc, template: templates.ReporterOutcome, to: rep.Person, data: data, cause: h.in.MessageID}
		if hold && notBefore.After(h.now) {
			data.SendAt = notBefore
			item.state, item.notBefore = OutHeld, notBefore
		}
		if _, err := h.d.queueMail(h.ctx, h.tx, h.now, item, &h.queued); err != nil {
			return nil, err
		}
		told = append(told, nameOf(rep.Person))
	}
	return told, nil
}

func nameOf(p Person) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Address
}

func (r *cmdRun) apology() (outcome, error) {
	next, o, ok := r.transition()
	if !ok {
		return o, nil
	}
	if err := r.setState(next); err != nil {
		return outcome{}, err
	}
	leadNote, err := r.becomeLead()
	if err != nil {
		return outcome{}, err
	}
	told, err := r.tellReporters(CmdApology, r.who, false, time.Time{})
	if err != nil {
		return outcome{}, err
	}
	thanked := "No reporter was thanked (none, or they handed off)."
	if len(told) > 0 {
		thanked = "Thanked for reporting it: " + strings.Join(told, ", ") + "."
	}
	return outcome{result: outcomeDone, kind: EventCommand,
		detail: "recorded that the customer apologised. " + thanked + " When it's settled, reply RESOLVE to close the incident." + leadNote}, nil
}

// finishIncident is RESOLVE and CLOSE.
func (r *cmdRun) finishIncident() (outcome, error) {
	next, o, ok := r.transition()
	if !ok {
		return o, nil
	}
	pending, err := r.h.pendingCustomer(r.inc.ID)
	if err != nil {
		return outcome{}, err
	}
	if len(pending) > 0 {
		return refused("a customer email is still pending: %s. Reply CANCEL to stop it, or %s once it has gone.", r.h.describeRow(pending[0]), r.cmd.Verb), nil
	}
	if err := r.setState(next); err != nil {
		return outcome{}, err
	}
	leadNote, err := r.becomeLead()
	if err != nil {
		return outcome{}, err
	}
	told, err := r.tellReporters(r.cmd.Verb, r.who, false, time.Time{})
	if err != nil {
		return outcome{}, err
	}
	detail := fmt.Sprintf("%s is %s.", r.inc.Ref(), next)
	if len(told) > 0 {
		detail += " Told the reporter: " + strings.Join(told, ", ") + "."
	}
	o = outcome{result: outcomeDone, detail: detail + leadNote}
	if r.cmd.Verb == CmdResolve && r.cmd.Args != "" {
		o.note = r.cmd.Args
	}
	return o, nil
}

func (r *cmdRun) reopen() (outcome, error) {
	next, o, ok := r.transition()
	if !ok {
		return o, nil
	}
	if err := r.setState(next); err != nil {
		return outcome{}, err
	}
	return done("%s is open again (%s).", r.inc.Ref(), stateWords(next)), nil
}

func (r *cmdRun) assign() (outcome, error) {
	h := r.h
	target := r.who
	if a := strings.TrimSpace(r.cmd.Args); a != "" && !strings.EqualFold(a, "me") {
		p, ok := parseTarget(a)
		if !ok {
			return refused("ASSIGN needs a lead's address or \"me\": ASSIGN <address|me>."), nil
		}
		l, isLead := h.d.leads[lower(p.Address)]
		if !isLead {
			return refused("%s is not a lead, and only a lead can own an incident. (A teammate who wants no more mail about it replies HANDOFF.)", p.Address), nil
		}
		target = Person{Name: l.Name, Address: strings.TrimSpace(l.Address)}
	}
	next, o, ok := r.transition()
	if !ok {
		return o, nil
	}
	if sameMailbox(r.inc.Lead.Address, target.Address) && r.inc.State == next {
		return done("%s is already the lead of %s.", nameOf(target), r.inc.Ref()), nil
	}
	if err := r.setLead(target); err != nil {
		return outcome{}, err
	}
	if err := r.setState(next); err != nil {
		return outcome{}, err
	}
	if !sameMailbox(target.Address, r.who.Address) {
		allowed, err := h.allowedFor(r.inc, roleLead, target.Address)
		if err != nil {
			return outcome{}, err
		}
		data := h.d.baseData(r.inc, target, h.now)
		data.Command = r.cmd.Line
		data.Outcome = outcomeDone
		data.Detail = fmt.Sprintf("%s made you the lead of %s. Customer emails you ask for are signed with your name.", nameOf(r.who), r.inc.Ref())
		data.Allowed = allowed
		err = h.d.queue(h.ctx, h.tx, h.now, outItem{incident: r.inc, template: templates.CommandResult, to: target, data: data, cause: h.in.MessageID}, &h.queued)
		if err != nil {
			return outcome{}, err
		}
		return done("%s is now the lead of %s, and has been told.", target.String(), r.inc.Ref()), nil
	}
	return done("you are now the lead of %s.", r.inc.Ref()), nil
}

func (r *cmdRun) handoff() (outcome, error) {
	h := r.h
	_, err := h.tx.ExecContext(h.ctx, "INSERT INTO handoffs (incident_id, address, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		r.inc.ID, h.sender, ms(h.now))
	if err != nil {
		return outcome{}, fmt.Errorf("recording a hand-off: %w", err)
	}
	if h.sender == lower(r.inc.Reporter.Address) {
		if _, err := h.tx.ExecContext(h.ctx, "UPDATE incidents SET handed_off = 1, updated_at = ? WHERE id = ?", ms(h.now), r.inc.ID); err != nil {
			return outcome{}, fmt.Errorf("recording a hand-off: %w", err)
		}
	}
	return done("you'll get nothing more about %s except how it ends. Thank you for reporting it.", r.inc.Ref()), nil
}
