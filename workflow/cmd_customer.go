package workflow

import (
	"fmt"
	"strings"
	"time"

	"backstop/templates"
)

// Handlers of the commands that write to the customer or stop such an email: BOUNDARY, ESCALATE, SEVER, CANCEL, APPROVE, RESEND.

func (r *cmdRun) boundary() (outcome, error) {
	next, o, ok := r.transition()
	if !ok {
		return o, nil
	}
	if r.inc.Customer.Address == "" {
		return r.noCustomerAddress(), nil
	}
	return r.customerEmail(templates.Boundary, r.inc.Customer, Person{}, next, false)
}

func (r *cmdRun) noCustomerAddress() outcome {
	return refused("the customer's address is unknown (the forward did not show it), so backstop cannot write to them. Forward one of their emails as an attachment, so that its headers come along, and try again.")
}

func (r *cmdRun) escalate() (outcome, error) {
	target, ok := parseTarget(r.cmd.Args)
	if !ok {
		return refused("ESCALATE needs the address to write to: ESCALATE <address> [name], for example ESCALATE pat.lee@globex.example Pat Lee."), nil
	}
	switch {
	case r.h.d.isTeam(target.Address) || r.h.d.isForbiddenRecipient(target.Address):
		return refused("%s is on your own team: ESCALATE writes to the customer's manager, HR or CEO. To hand the incident to another lead, reply ASSIGN <address>.", target.Address), nil
	case r.inc.Customer.Address != "" && sameMailbox(target.Address, r.inc.Customer.Address):
		return refused("%s is the customer: ESCALATE writes to their manager, HR or CEO. To write to the customer, reply BOUNDARY or SEVER.", target.Address), nil
	}
	next, o, ok := r.transition()
	if !ok {
		return o, nil
	}
	return r.customerEmail(templates.Escalation, target, target, next, false)
}

// parseTarget reads "<address> [name]" (also "Name <address>", and the
// "address <mailto:address>" that phone mail apps write).
func parseTarget(args string) (Person, bool) {
	var addr string
	var name []string
	for _, f := range strings.Fields(args) {
		w := strings.Trim(f, "<>(),;\"'")
		w = strings.TrimPrefix(strings.TrimPrefix(w, "mailto:"), "MAILTO:")
		if strings.Contains(w, "@") {
			if addr == "" && isAddress(w) {
				addr = w
			}
			continue
		}
		if w != "" {
			name = append(name, w)
		}
	}
	if addr == "" {
		return Person{}, false
	}
	return Person{Name: strings.Join(name, " "), Address: addr}, true
}

func (r *cmdRun) sever() (outcome, error) {
	next, o, ok := r.transition()
	if !ok {
		return o, nil
	}
	if r.inc.Customer.Address == "" {
		return r.noCustomerAddress(), nil
	}
	return r.customerEmail(templates.PartingWays, r.inc.Customer, Person{}, next, r.h.d.cfg.SeverApprovals >= 2)
}

// customerEmail queues a customer email on the acting lead's behalf, held
// for Config.Hold (or awaiting a second lead's approval), moves the
// incident to next, and sends the lead the exact email as a preview, which
// is the command's receipt. It refuses rather than queue when an email of
// the same kind, or to the same person, is still pending, or when a rate
// cap would stop the email or its preview.
func (r *cmdRun) customerEmail(kind string, to, target Person, next string, needsApproval bool) (outcome, error) {
	h, d := r.h, r.h.d
	to.Address = strings.TrimSpace(to.Address)
	if !isAddress(to.Address) || d.isForbiddenRecipient(to.Address) {
		return refused("%q is not an address backstop can write to.", to.Address), nil
	}
	pending, err := h.outRows("incident_id = ? AND customer = 1 AND state IN (?, ?, ?, ?) AND (template = ? OR recipient = ?)",
		r.inc.ID, OutHeld, OutQueued, OutAwaitingApproval, OutSending, kind, lower(to.Address))
	if err != nil {
		return outcome{}, err
	}
	if len(pending) > 0 {
		return refused("another customer email is still pending: %s. Reply CANCEL to stop it first, or wait until it has gone.", h.describeRow(pending[0])), nil
	}
	// The email and its preview both fit under the caps, or neither goes.
	if capped, why, err := d.capReached(h.ctx, h.tx, h.now, r.inc.ID, lower(to.Address), kind, 1); err != nil || capped {
		return refused("the %s was not queued: %s. Try again later.", kindWords(kind), why), err
	}
	if capped, why, err := d.capReached(h.ctx, h.tx, h.now, r.inc.ID, lower(r.who.Address), templates.CustomerPreview, 1); err != nil || capped {
		return refused("the %s was not queued: its preview to you could not be sent (%s), and a customer email never goes out unseen. Try again later.", kindWords(kind), why), err
	}

	c, err := d.draftCustomer(h.ctx, h.tx, r.inc, kind, r.who, to, target, h.now)
	if err != nil {
		return outcome{}, err
	}
	rendered, m, subject, err := d.renderCustomer(c)
	if err != nil {
		return outcome{}, err
	}
	state, notBefore, prev := OutQueued, h.now, r.inc.State
	switch {
	case needsApproval:
		state, prev = OutAwaitingApproval, ""
	case d.cfg.Hold > 0:
		state, notBefore = OutHeld, h.now.Add(d.cfg.Hold)
	}
	id, msgID, err := d.insertOutbox(h.ctx, h.tx, h.now, outRecord{
		incident: r.inc.ID, template: kind, customer: true, recipient: to.Address,
		messageID: d.messageIDFor("", true), subject: subject, mail: m,
		state: state, notBefore: notBefore, requestedBy: r.who.Address, prevState: prev,
	})
	if err != nil {
		return outcome{}, err
	}
	h.queued++
	what := fmt.Sprintf("%s to %s (outbox #%d)", kind, to.Address, id)
	switch state {
	case OutHeld:
		what += ", held until " + notBefore.In(d.cfg.Timezone).Format(eventTime)
	case OutAwaitingApproval:
		what += ", awaiting a second lead's approval"
	}
	if err := d.event(h.ctx, h.tx, r.inc.ID, h.now, Actor, EventMailQueued, what, msgID); err != nil {
		return outcome{}, err
	}

	row := &outRow{OutboxRow: OutboxRow{ID: id, Template: kind, Customer: true, Recipient: lower(to.Address), State: state, NotBefore: notBefore, RequestedBy: lower(r.who.Address)}}
	row.mail = m
	if needsApproval {
		// The requester's copy first: it is the receipt, and fits the caps.
		leads := []Person{r.who}
		for _, l := range d.cfg.Leads {
			if !sameMailbox(l.Address, r.who.Address) {
				leads = append(leads, l)
			}
		}
		for _, l := range leads {
			if err := r.preview(l, kind, rendered, to, target, r.who, time.Time{}, Person{}, true); err != nil {
				return outcome{}, err
			}
		}
		return outcome{result: outcomeDone, replied: true,
			detail: fmt.Sprintf("the %s to %s needs a second lead's APPROVE before its hold starts (outbox #%d); every lead has the preview.", kindWords(kind), to.Address, id)}, nil
	}
	if err := r.setState(next); err != nil {
		return outcome{}, err
	}
	leadNote, err := r.becomeLead()
	if err != nil {
		return outcome{}, err
	}
	sendAt := time.Time{}
	if state == OutHeld {
		sendAt = notBefore
	}
	if err := r.preview(r.who, kind, rendered, to, target, r.who, sendAt, Person{}, false); err != nil {
		return outcome{}, err
	}
	if next == StateSevered {
		if _, err := r.tellReporters(CmdSever, r.who, true, notBefore); err != nil {
			return outcome{}, err
		}
	}
	return outcome{result: outcomeDone, replied: true, detail: h.describeRow(row) + "; outbox #" + fmt.Sprint(id) + "." + leadNote}, nil
}

// preview sends a lead the exact customer email and when it goes.
func (r *cmdRun) preview(to Person, kind string, rendered *templates.Rendered, emailTo, target, lead Person, sendAt time.Time, approver Person, awaiting bool) error {
	h := r.h
	data := h.d.baseData(r.inc, to, h.now)
	data.Preview = rendered
	data.EmailKind = kind
	data.EmailTo = templates.Person(emailTo)
	data.Target = templates.Person(target)
	data.Lead = templates.Person(lead)
	data.SendAt = sendAt
	data.Approver = templates.Person(approver)
	data.AwaitingApproval = awaiting
	return h.d.queue(h.ctx, h.tx, h.now, outItem{
		incident: r.inc, template: templates.CustomerPreview, to: to, data: data, cause: h.in.MessageID,
	}, &h.queued)
}

// cancel stops the incident's customer emails that have not gone yet (and
// the reporters' outcome notes held with them), and puts back the state
// the earliest cancelled email's command left.
func (r *cmdRun) cancel() (outcome, error) {
	h, inc := r.h, r.inc
	rows, err := h.outRows("incident_id = ? AND customer = 1 AND state IN (?, ?, ?)", inc.ID, OutHeld, OutQueued, OutAwaitingApproval)
	if err != nil {
		return outcome{}, err
	}
	if len(rows) == 0 {
		all, err := h.outRows("incident_id = ? AND customer = 1", inc.ID)
		if err != nil {
			return outcome{}, err
		}
		if len(all) == 0 {
			return refused("%s has no customer email to stop.", inc.Ref()), nil
		}
		last := all[len(all)-1]
		switch last.State {
		case OutSending:
			return refused("the %s is being handed to the mail server right now and can no longer be stopped.", kindWords(last.Template)), nil
		case OutSent, OutBounced:
			return refused("the %s to %s was already sent, at %s.", kindWords(last.Template), last.Recipient, h.when(last.Sent)), nil
		}
		return refused("no customer email is waiting to go: %s.", h.describeRow(last)), nil
	}
	var cancelled []string
	revert := ""
	severCancelled := false
	for _, o := range rows {
		res, err := h.tx.ExecContext(h.ctx, "UPDATE outbox SET state = ? WHERE id = ? AND state = ?", OutCancelled, o.ID, o.State)
		if err != nil {
			return outcome{}, fmt.Errorf("cancelling outbox #%d: %w", o.ID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			continue
		}
		if revert == "" && o.PrevState != "" {
			revert = o.PrevState
		}
		if o.Template == templates.PartingWays && o.State != OutAwaitingApproval {
			severCancelled = true
		}
		cancelled = append(cancelled, fmt.Sprintf("the %s to %s (outbox #%d)", kindWords(o.Template), o.Recipient, o.ID))
		if err := h.d.event(h.ctx, h.tx, inc.ID, h.now, h.sender, EventMailCancelled,
			fmt.Sprintf("%s to %s (outbox #%d) cancelled; it was %s", o.Template, o.Recipient, o.ID, stateWords(o.State)), h.in.MessageID); err != nil {
			return outcome{}, err
		}
		if o.RequestedBy != "" && !sameMailbox(o.RequestedBy, h.sender) {
			if l, ok := h.d.leads[o.RequestedBy]; ok {
				if err := r.tellRequester(l, o); err != nil {
					return outcome{}, err
				}
			}
		}
	}
	// Outcome notes held with a customer email go with it.
	if _, err := h.tx.ExecContext(h.ctx, "UPDATE outbox SET state = ? WHERE incident_id = ? AND customer = 0 AND state = ? AND template = ?",
		OutCancelled, inc.ID, OutHeld, templates.ReporterOutcome); err != nil {
		return outcome{}, fmt.Errorf("cancelling held outcome notes: %w", err)
	}
	detail := "cancelled " + strings.Join(cancelled, " and ") + ". Nothing was sent."
	if revert != "" && IsOpen(inc.State) && revert != inc.State {
		if err := r.setState(revert); err != nil {
			return outcome{}, err
		}
		detail += fmt.Sprintf(" %s is back to %s.", inc.Ref(), stateWords(revert))
	}
	if severCancelled {
		if _, err := h.tx.ExecContext(h.ctx, "UPDATE incidents SET severed_at = NULL WHERE id = ?", inc.ID); err != nil {
			return outcome{}, err
		}
	}
	return done("%s", detail), nil
}

// tellRequester tells the lead who asked for a customer email that another
// lead cancelled it.
func (r *cmdRun) tellRequester(lead Person, o *outRow) error {
	h := r.h
	data := h.d.baseData(r.inc, lead, h.now)
	data.Command = r.cmd.Line
	data.Outcome = outcomeDone
	data.Detail = fmt.Sprintf("%s cancelled the %s to %s that you asked for. Nothing was sent.", nameOf(r.who), kindWords(o.Template), o.Recipient)
	return h.d.queue(h.ctx, h.tx, h.now, outItem{incident: r.inc, template: templates.CommandResult, to: lead, data: data, cause: h.in.MessageID}, &h.queued)
}

// approve is a second lead's agreement to a SEVER under the two-person
// rule: its hold starts now.
func (r *cmdRun) approve() (outcome, error) {
	h, d, inc := r.h, r.h.d, r.inc
	rows, err := h.outRows("incident_id = ? AND customer = 1 AND state = ?", inc.ID, OutAwaitingApproval)
	if err != nil {
		return outcome{}, err
	}
	if len(rows) == 0 {
		return refused("nothing on %s is waiting for approval.", inc.Ref()), nil
	}
	o := rows[len(rows)-1]
	if sameMailbox(o.RequestedBy, h.sender) {
		return refused("you asked for this %s yourself: a second lead must APPROVE it.", kindWords(o.Template)), nil
	}
	r.cmd.Verb = CmdSever // the state table of the SEVER being approved
	next, refusal, ok := r.transition()
	r.cmd.Verb = CmdApprove
	if !ok {
		return refusal, nil
	}
	requester, ok := d.leads[o.RequestedBy]
	if !ok {
		requester = Person{Address: o.RequestedBy}
	}
	// Both leads must see the email and its send time.
	for i, p := range []Person{requester, r.who} {
		if capped, why, err := d.capReached(h.ctx, h.tx, h.now, inc.ID, lower(p.Address), templates.CustomerPreview, 1-i); err != nil || capped {
			return refused("not approved: the preview to %s could not be sent (%s). Try again later.", p.Address, why), err
		}
	}
	state, notBefore := OutQueued, h.now
	if d.cfg.Hold > 0 {
		state, notBefore = OutHeld, h.now.Add(d.cfg.Hold)
	}
	res, err := h.tx.ExecContext(h.ctx, "UPDATE outbox SET state = ?, not_before = ?, approved_by = ?, prev_state = ? WHERE id = ? AND state = ?",
		state, ms(notBefore), h.sender, inc.State, o.ID, OutAwaitingApproval)
	if err != nil {
		return outcome{}, fmt.Errorf("approving outbox #%d: %w", o.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return refused("the %s is no longer waiting for approval.", kindWords(o.Template)), nil
	}
	o.State, o.NotBefore = state, notBefore
	if inc.Lead.Address == "" {
		if err := r.setLead(requester); err != nil {
			return outcome{}, err
		}
	}
	if err := r.setState(next); err != nil {
		return outcome{}, err
	}
	sendAt := time.Time{}
	if state == OutHeld {
		sendAt = notBefore
	}
	rendered := &templates.Rendered{Subject: o.Subject, Text: o.mail.Text, HTML: o.mail.HTML}
	emailTo := Person{Address: o.Recipient}
	if len(o.mail.To) > 0 {
		emailTo = o.mail.To[0]
	}
	for _, to := range []Person{requester, r.who} {
		if err := r.preview(to, o.Template, rendered, emailTo, Person{}, requester, sendAt, r.who, false); err != nil {
			return outcome{}, err
		}
	}
	if _, err := r.tellReporters(CmdSever, requester, true, notBefore); err != nil {
		return outcome{}, err
	}
	return outcome{result: outcomeDone, replied: true,
		detail: fmt.Sprintf("approved the %s asked for by %s: %s", kindWords(o.Template), o.RequestedBy, h.describeRow(o))}, nil
}

// resend queues the incident's uncertain, failed or bounced emails again,
// each with its own Message-ID unchanged, so that a copy that did arrive
// is recognised as the same email.
func (r *cmdRun) resend() (outcome, error) {
	h, inc := r.h, r.inc
	rows, err := h.resendable(inc)
	if err != nil {
		return outcome{}, err
	}
	if len(rows) == 0 {
		why := ""
		if !IsOpen(inc.State) {
			why = fmt.Sprintf(" (%s is %s: REOPEN it to send a customer email again)", inc.Ref(), inc.State)
		}
		return refused("nothing on %s needs sending again: RESEND is for an email that failed, bounced or may not have gone out%s.", inc.Ref(), why), nil
	}
	var what []string
	for _, o := range rows {
		res, err := h.tx.ExecContext(h.ctx, "UPDATE outbox SET state = ?, not_before = ?, last_error = '' WHERE id = ? AND state = ?",
			OutQueued, ms(h.now), o.ID, o.State)
		if err != nil {
			return outcome{}, fmt.Errorf("resending outbox #%d: %w", o.ID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			continue
		}
		w := fmt.Sprintf("the %s to %s (outbox #%d, was %s)", kindWords(o.Template), o.Recipient, o.ID, o.State)
		if !o.Customer {
			w = fmt.Sprintf("the %s to %s (outbox #%d, was %s)", o.Template, o.Recipient, o.ID, o.State)
		}
		what = append(what, w)
		if err := h.d.event(h.ctx, h.tx, inc.ID, h.now, h.sender, EventMailResent,
			fmt.Sprintf("%s to %s (outbox #%d) queued again with the same Message-ID; it was %s", o.Template, o.Recipient, o.ID, o.State), o.MessageID); err != nil {
			return outcome{}, err
		}
	}
	if len(what) == 0 {
		return refused("nothing on %s needs sending again.", inc.Ref()), nil
	}
	return done("%s", "queued again, with the same Message-ID: "+strings.Join(what, "; ")+"."), nil
}
