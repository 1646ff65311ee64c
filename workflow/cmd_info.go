package workflow

import (
	"fmt"
	"strings"
	"time"

	"backstop/templates"
)

// Handlers of the commands that inform: NOTE, STATUS, SHOW, HELP.

func (r *cmdRun) note() (outcome, error) {
	text := strings.TrimSpace(r.cmd.Args)
	if text == "" {
		return refused("NOTE needs the text on the same line: NOTE <text>."), nil
	}
	o := done("noted on %s.", r.inc.Ref())
	o.kind = EventNote
	o.note = text
	return o, nil
}

// status describes the incident: state, people, customer emails, the
// latest events.
func (r *cmdRun) status() (outcome, error) {
	h, inc := r.h, r.inc
	var b strings.Builder
	fmt.Fprintf(&b, "State: %s", stateWords(inc.State))
	if !inc.Severed.IsZero() {
		fmt.Fprintf(&b, " (customer severed %s)", h.when(inc.Severed))
	}
	lead := "none yet (ASSIGN me takes it)"
	if inc.Lead.Address != "" {
		lead = inc.Lead.String()
	}
	fmt.Fprintf(&b, "\nLead: %s", lead)
	cust := inc.Customer.String()
	if cust == "" {
		cust = "unknown"
	}
	if inc.Organisation != "" {
		cust += ", " + inc.Organisation
	}
	fmt.Fprintf(&b, "\nCustomer: %s", cust)
	reps, err := h.reportersOf(inc)
	if err != nil {
		return outcome{}, err
	}
	var rs []string
	for _, rep := range reps {
		s := rep.Person.String()
		if rep.handedOff {
			s += " (handed off)"
		}
		rs = append(rs, s)
	}
	if len(rs) == 0 {
		rs = []string{inc.Reporter.String()}
	}
	fmt.Fprintf(&b, "\nReported by: %s, %s", strings.Join(rs, "; "), h.when(inc.Created))
	fmt.Fprintf(&b, "\nMessages: %d", inc.Messages)
	if r.role != roleLead {
		// The reporter sees where it stands, not the leads' notes and
		// emails.
		return done("%s", b.String()), nil
	}
	custRows, err := h.outRows("incident_id = ? AND customer = 1", inc.ID)
	if err != nil {
		return outcome{}, err
	}
	if len(custRows) > 0 {
		b.WriteString("\nCustomer emails:")
		for _, o := range custRows {
			b.WriteString("\n  - " + h.describeRow(o))
		}
	}
	rows, err := h.tx.QueryContext(h.ctx, `SELECT id, at, actor, kind, detail FROM events WHERE incident_id = ? AND kind NOT IN (?, ?)
		ORDER BY id DESC LIMIT 8`, inc.ID, EventMailQueued, EventMailSent)
	if err != nil {
		return outcome{}, fmt.Errorf("reading events: %w", err)
	}
	var lines []string
	for rows.Next() {
		var id, at int64
		var actor, kind string
		var sealed []byte
		if err := rows.Scan(&id, &at, &actor, &kind, &sealed); err != nil {
			rows.Close()
			return outcome{}, err
		}
		detail, err := h.d.st.openString("events", "detail", id, sealed)
		if err != nil {
			rows.Close()
			return outcome{}, err
		}
		lines = append(lines, fmt.Sprintf("  - %s %s, %s: %s", time.UnixMilli(at).In(h.d.cfg.Timezone).Format("2 Jan 15:04"), actor, kind, clip(detail)))
	}
	rows.Close()
	if len(lines) > 0 {
		b.WriteString("\nLatest events, newest first:")
		for _, l := range lines {
			b.WriteString("\n" + l)
		}
	}
	o := done("%s", b.String())
	o.kind = EventCommand
	return o, nil
}

// show sends the asking lead the whole reported conversation, behind the
// lead notice's content warning: inline when notices carry it inline, else
// attached (also when notices leave it out: SHOW is the lead asking).
func (r *cmdRun) show() (outcome, error) {
	h, d, inc := r.h, r.h.d, r.inc
	mode := EvidenceAttach
	if d.cfg.Evidence == EvidenceInline {
		mode = EvidenceInline
	}
	data := d.baseData(inc, r.who, h.now)
	data.EvidenceMode = mode
	ev, err := d.allEvidence(h.ctx, h.tx, inc.ID, mode == EvidenceInline)
	if err != nil {
		return outcome{}, err
	}
	data.Incident.Evidence = ev
	if data.History, err = d.history(h.ctx, h.tx, inc); err != nil {
		return outcome{}, err
	}
	item := outItem{incident: inc, template: templates.LeadNotice, to: r.who, data: data, cause: h.in.MessageID}
	if mode == EvidenceAttach {
		rows, err := h.tx.QueryContext(h.ctx, "SELECT id FROM messages WHERE incident_id = ? AND class = ? AND (raw IS NOT NULL OR raw_chunks > 0) ORDER BY id", inc.ID, ClassForward)
		if err != nil {
			return outcome{}, fmt.Errorf("reading the forwards: %w", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return outcome{}, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		for i, id := range ids {
			item.attach = append(item.attach, storedAttachment{
				Filename: fmt.Sprintf("%s-evidence-%d.eml", inc.Ref(), i+1), ContentType: "message/rfc822", MessageRow: id,
			})
		}
		if len(ids) == 0 {
			data.EvidenceMode = EvidenceNone
		}
	}
	id, err := d.queueMail(h.ctx, h.tx, h.now, item, &h.queued)
	if err != nil {
		return outcome{}, err
	}
	if id == 0 {
		return refused("the conversation could not be sent to you now: too many emails in the last hour. Try again later."), nil
	}
	return outcome{result: outcomeDone, replied: true, detail: fmt.Sprintf("sent the conversation (%d messages) to %s, outbox #%d", len(ev), r.who.Address, id)}, nil
}

func (r *cmdRun) help() (outcome, error) {
	h := r.h
	allowed, err := r.allowed()
	if err != nil {
		return outcome{}, err
	}
	data := h.d.baseData(r.inc, r.who, h.now)
	data.Allowed = allowed
	if err := h.d.queue(h.ctx, h.tx, h.now, outItem{incident: r.inc, template: templates.Help, to: r.who, data: data, cause: h.in.MessageID}, &h.queued); err != nil {
		return outcome{}, err
	}
	return outcome{result: outcomeDone, replied: true, detail: "sent the list of commands"}, nil
}
