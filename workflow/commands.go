package workflow

import (
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"backstop/templates"
)

// transitions is the state table of the commands that move an incident:
// verb → current state → next state. A verb missing for a state is refused
// in that state, with an explanation. The ladder is reported →
// acknowledged → boundary_sent → escalated → severed; a lead may skip
// steps (clear and strong abuse needs no ladder), never go back down it.
// SEVER, RESOLVE and CLOSE work from any open state. CANCEL puts back the
// state a cancelled customer email's command left.
var transitions = map[string]map[string]string{
	CmdAssign: {
		StateReported: StateAcknowledged, StateAcknowledged: StateAcknowledged,
		StateBoundarySent: StateBoundarySent, StateEscalated: StateEscalated, StateSevered: StateSevered,
	},
	CmdBoundary: {StateReported: StateBoundarySent, StateAcknowledged: StateBoundarySent},
	CmdEscalate: {
		StateReported: StateEscalated, StateAcknowledged: StateEscalated,
		StateBoundarySent: StateEscalated, StateEscalated: StateEscalated,
	},
	CmdSever: {
		StateReported: StateSevered, StateAcknowledged: StateSevered,
		StateBoundarySent: StateSevered, StateEscalated: StateSevered,
	},
	CmdApology: {
		StateReported: StateAcknowledged, StateAcknowledged: StateAcknowledged,
		StateBoundarySent: StateBoundarySent, StateEscalated: StateEscalated, StateSevered: StateSevered,
	},
	CmdResolve: {
		StateReported: StateResolved, StateAcknowledged: StateResolved, StateBoundarySent: StateResolved,
		StateEscalated: StateResolved, StateSevered: StateResolved,
	},
	CmdClose: {
		StateReported: StateClosed, StateAcknowledged: StateClosed, StateBoundarySent: StateClosed,
		StateEscalated: StateClosed, StateSevered: StateClosed,
	},
	CmdReopen: {StateResolved: StateAcknowledged, StateClosed: StateAcknowledged},
}

// NextState returns the state a command moves an incident in state to, and
// whether the command is allowed there at all. Commands that do not move
// incidents (NOTE, STATUS, SHOW, HELP, HANDOFF, CANCEL, APPROVE, RESEND)
// report the state unchanged and true.
func NextState(verb, state string) (string, bool) {
	t, ok := transitions[verb]
	if !ok {
		return state, true
	}
	next, ok := t[state]
	return next, ok
}

// Receipt outcomes (templates.Data.Outcome).
const (
	outcomeDone    = "done"
	outcomeRefused = "refused"
	outcomeUnknown = "unknown"
)

// outcome is what became of one command.
type outcome struct {
	result  string // outcomeDone, outcomeRefused, outcomeUnknown
	detail  string // what happened, or why not
	note    string // a lead's note shown in the receipt
	kind    string // event kind when done; "" = EventCommand
	replied bool   // another email (preview, help, evidence) is the receipt
}

func done(format string, args ...any) outcome {
	return outcome{result: outcomeDone, detail: fmt.Sprintf(format, args...)}
}

func refused(format string, args ...any) outcome {
	return outcome{result: outcomeRefused, detail: fmt.Sprintf(format, args...)}
}

// cmdRun carries out one command of a verified sender.
type cmdRun struct {
	h    *handling
	inc  *Incident // nil: the email answered is about no incident
	who  Person    // the sender (a lead's configured name when a lead)
	role role
	cmd  Command
}

// senderPerson is the verified sender, with a lead's configured name.
func (h *handling) senderPerson() Person {
	if l, ok := h.d.leads[h.sender]; ok {
		return Person{Name: l.Name, Address: strings.TrimSpace(l.Address)}
	}
	return Person{Name: strings.TrimSpace(h.in.From.Name), Address: strings.TrimSpace(h.in.From.Address)}
}

// roleOf is the sender's role on inc.
func (h *handling) roleOf(inc *Incident) (role, error) {
	if h.d.isLead(h.sender) {
		return roleLead, nil
	}
	if inc == nil || h.sender == "" {
		return roleNone, nil
	}
	if h.sender == lower(inc.Reporter.Address) {
		return roleReporter, nil
	}
	var n int
	err := h.tx.QueryRowContext(h.ctx, `SELECT count(*) FROM messages WHERE incident_id = ? AND class = ? AND from_address = ?`,
		inc.ID, ClassForward, h.sender).Scan(&n)
	if err != nil {
		return roleNone, fmt.Errorf("looking up the reporters: %w", err)
	}
	if n > 0 {
		return roleReporter, nil
	}
	return roleNone, nil
}

// runCommands carries out a verified sender's commands in order, each
// answered by a receipt.
func (h *handling) runCommands(inc *Incident, cmds []Command, more bool) error {
	who := h.senderPerson()
	r0, err := h.roleOf(inc)
	if err != nil {
		return err
	}
	var last *cmdRun
	for _, c := range cmds {
		if inc != nil {
			if inc, err = loadIncident(h.ctx, h.tx, inc.ID); err != nil {
				return err
			}
		}
		r := &cmdRun{h: h, inc: inc, who: who, role: r0, cmd: c}
		o, err := r.run()
		if err != nil {
			return err
		}
		if err := r.finish(o); err != nil {
			return err
		}
		last = r
	}
	if more && last != nil {
		r := *last
		r.cmd = Command{Line: fmt.Sprintf("(commands after the first %d)", MaxCommands)}
		return r.finish(refused("a reply carries at most %d commands; the lines after them were not carried out. Send them in another reply.", MaxCommands))
	}
	return nil
}

// run carries out the command.
func (r *cmdRun) run() (outcome, error) {
	c := r.cmd
	if c.Verb == "" {
		return outcome{result: outcomeUnknown}, nil
	}
	if !mayUse(r.role, c.Verb) {
		return r.roleRefusal(), nil
	}
	if r.inc == nil && c.Verb != CmdHelp {
		return refused("the email you answered is about no incident, and commands act on an incident: reply to a backstop email about the incident instead."), nil
	}
	switch c.Verb {
	case CmdBoundary:
		return r.boundary()
	case CmdEscalate:
		return r.escalate()
	case CmdSever:
		return r.sever()
	case CmdApology:
		return r.apology()
	case CmdResolve, CmdClose:
		return r.finishIncident()
	case CmdReopen:
		return r.reopen()
	case CmdAssign:
		return r.assign()
	case CmdHandoff:
		return r.handoff()
	case CmdNote:
		return r.note()
	case CmdStatus:
		return r.status()
	case CmdShow:
		return r.show()
	case CmdHelp:
		return r.help()
	case CmdCancel:
		return r.cancel()
	case CmdApprove:
		return r.approve()
	case CmdResend:
		return r.resend()
	}
	return outcome{}, fmt.Errorf("workflow: command %s has no handler", c.Verb)
}

// roleRefusal explains why the sender may not use the command.
func (r *cmdRun) roleRefusal() outcome {
	v := r.cmd.Verb
	switch {
	case r.role == roleLead && v == CmdHandoff:
		return refused("HANDOFF is for the teammate who reported an incident. A lead hands an incident to another lead with ASSIGN <address>.")
	case r.role == roleReporter:
		return refused("only a lead may %s. As the teammate who reported %s, you may reply NOTE <text>, STATUS or HANDOFF.", v, refOrNone(r.incID()))
	}
	return refused("only a lead may %s (and only a lead or the teammate who reported %s may NOTE, STATUS or HANDOFF).", v, refOrNone(r.incID()))
}

func (r *cmdRun) incID() int64 {
	if r.inc == nil {
		return 0
	}
	return r.inc.ID
}

// finish records the outcome and sends the receipt.
func (r *cmdRun) finish(o outcome) error {
	h := r.h
	if r.inc != nil {
		inc, err := loadIncident(h.ctx, h.tx, r.inc.ID)
		if err != nil {
			return err
		}
		r.inc = inc
	}
	h.commands = append(h.commands, [2]string{r.cmd.Verb, o.result})
	switch o.result {
	case outcomeDone:
		kind := o.kind
		if kind == "" {
			kind = EventCommand
		}
		if err := h.event(r.incID(), kind, r.cmd.Line+": "+o.detail); err != nil {
			return err
		}
	case outcomeRefused:
		if err := h.event(r.incID(), EventRefused, r.cmd.Line+": refused: "+o.detail); err != nil {
			return err
		}
	}
	if o.replied {
		return nil
	}
	return r.receipt(o)
}

// receipt answers the sender: what backstop read and what became of it.
func (r *cmdRun) receipt(o outcome) error {
	h := r.h
	allowed, err := r.allowed()
	if err != nil {
		return err
	}
	data := h.d.baseData(r.inc, r.who, h.now)
	data.Command = r.cmd.Line
	data.Outcome = o.result
	data.Detail = sentence(o.detail)
	data.Note = o.note
	data.Allowed = allowed
	return h.d.queue(h.ctx, h.tx, h.now, outItem{
		incident: r.inc, template: templates.CommandResult, to: r.who, data: data, cause: h.in.MessageID,
	}, &h.queued)
}

// allowed lists the commands that make sense now for the sender.
func (r *cmdRun) allowed() ([]string, error) {
	return r.h.allowedFor(r.inc, r.role, r.who.Address)
}

func (h *handling) allowedFor(inc *Incident, rl role, addr string) ([]string, error) {
	switch {
	case inc == nil:
		return []string{CmdHelp}, nil
	case rl == roleNone:
		return []string{CmdHelp}, nil
	case rl == roleReporter:
		return []string{usage(CmdNote), CmdStatus, CmdHandoff, CmdHelp}, nil
	}
	st := inc.State
	var out []string
	pending, err := h.outRows("incident_id = ? AND customer = 1 AND state IN (?, ?, ?)", inc.ID, OutHeld, OutQueued, OutAwaitingApproval)
	if err != nil {
		return nil, err
	}
	can := func(verb string) bool { _, ok := NextState(verb, st); return ok }
	for _, v := range []string{CmdBoundary, CmdEscalate, CmdSever, CmdApology} {
		if can(v) {
			out = append(out, usage(v))
		}
	}
	if len(pending) > 0 {
		out = append(out, CmdCancel)
	}
	for _, p := range pending {
		if p.State == OutAwaitingApproval && p.RequestedBy != lower(addr) {
			out = append(out, CmdApprove)
			break
		}
	}
	resend, err := h.resendable(inc)
	if err != nil {
		return nil, err
	}
	if len(resend) > 0 {
		out = append(out, CmdResend)
	}
	for _, v := range []string{CmdResolve, CmdClose, CmdReopen, CmdAssign} {
		if can(v) {
			out = append(out, usage(v))
		}
	}
	return append(out, usage(CmdNote), CmdStatus, CmdShow, CmdHelp), nil
}

// outRows reads outbox rows, oldest first.
func (h *handling) outRows(where string, args ...any) ([]*outRow, error) {
	rows, err := h.tx.QueryContext(h.ctx, "SELECT "+outboxColumns+" FROM outbox WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("reading the outbox: %w", err)
	}
	defer rows.Close()
	var out []*outRow
	for rows.Next() {
		o, err := scanOutRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// resendable lists the emails of an incident that RESEND would send again:
// uncertain, failed or bounced, except notices about deliveries, and
// customer emails only while the incident is open.
func (h *handling) resendable(inc *Incident) ([]*outRow, error) {
	return h.outRows("incident_id = ? AND state IN (?, ?, ?) AND template NOT IN (?, ?) AND (customer = 0 OR ?)", inc.ID,
		OutUncertain, OutFailed, OutBounced, templates.DeliveryFailed, templates.UncertainDelivery, IsOpen(inc.State))
}

// when formats a time for receipts.
func (h *handling) when(t time.Time) string {
	return t.In(h.d.cfg.Timezone).Format("Mon 2 Jan 2006 15:04 MST")
}

// describeRow says where a customer email stands, for receipts and STATUS.
func (h *handling) describeRow(o *outRow) string {
	to := o.Recipient
	if len(o.mail.To) > 0 {
		to = o.mail.To[0].String()
	}
	what := kindWords(o.Template) + " to " + to
	switch o.State {
	case OutHeld:
		return fmt.Sprintf("%s: on hold until %s (CANCEL stops it)", what, h.when(o.NotBefore))
	case OutQueued:
		return what + ": about to be sent (CANCEL may still stop it)"
	case OutAwaitingApproval:
		return fmt.Sprintf("%s: waiting for a second lead's APPROVE (asked by %s)", what, o.RequestedBy)
	case OutSending:
		return what + ": being handed to the mail server"
	case OutSent:
		return fmt.Sprintf("%s: sent %s", what, h.when(o.Sent))
	case OutUncertain:
		return what + ": may or may not have gone out (RESEND sends it again)"
	case OutFailed:
		return what + ": not delivered: " + clip(o.LastError)
	case OutBounced:
		return fmt.Sprintf("%s: sent %s, then bounced: %s", what, h.when(o.Sent), clip(o.LastError))
	case OutCancelled:
		return what + ": cancelled"
	}
	return what + ": " + o.State
}

// transition checks the command against the state table.
func (r *cmdRun) transition() (string, outcome, bool) {
	next, ok := NextState(r.cmd.Verb, r.inc.State)
	if ok {
		return next, outcome{}, true
	}
	return "", r.transitionRefusal(), false
}

// transitionRefusal explains why the command does not apply in the
// incident's state, and what does.
func (r *cmdRun) transitionRefusal() outcome {
	v, st, ref := r.cmd.Verb, r.inc.State, r.inc.Ref()
	switch {
	case v == CmdReopen:
		return refused("%s is open (%s): there is nothing to reopen.", ref, stateWords(st))
	case !IsOpen(st):
		return refused("%s is %s. Reply REOPEN first if there is more to do.", ref, st)
	case v == CmdSever && st == StateSevered:
		return refused("the customer of %s has been severed already (since %s).", ref, r.h.when(r.inc.Severed))
	case st == StateSevered:
		return refused("the customer of %s has been severed: backstop writes nothing more to them or about them. RESOLVE or CLOSE the incident, or NOTE <text>.", ref)
	case v == CmdBoundary && st == StateBoundarySent:
		return refused("the boundary email has been sent already. The next steps are ESCALATE <address> [name] or SEVER.")
	case v == CmdBoundary && st == StateEscalated:
		return refused("%s has been escalated already: a boundary email now would be a step back. SEVER, RESOLVE or NOTE <text>.", ref)
	}
	return refused("%s does not apply while %s is %s.", v, ref, stateWords(st))
}

// sentence capitalises the first letter of a detail for a receipt.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

func stateWords(st string) string { return strings.ReplaceAll(st, "_", " ") }

// setState moves the incident and records the change.
func (r *cmdRun) setState(to string) error {
	h := r.h
	from := r.inc.State
	if from == to {
		return nil
	}
	var closed sql.NullInt64
	if !IsOpen(to) {
		closed = sql.NullInt64{Int64: ms(h.now), Valid: true}
	}
	_, err := h.tx.ExecContext(h.ctx, `UPDATE incidents SET state = ?, updated_at = ?, closed_at = ?,
		severed_at = CASE WHEN ? THEN ? ELSE severed_at END WHERE id = ?`,
		to, ms(h.now), closed, to == StateSevered, ms(h.now), r.inc.ID)
	if err != nil {
		return fmt.Errorf("changing the state of %s: %w", r.inc.Ref(), err)
	}
	r.inc.State = to
	return h.event(r.inc.ID, EventState, fmt.Sprintf("%s → %s (%s)", from, to, r.cmd.Verb))
}

// becomeLead makes the acting lead the incident's lead when it has none,
// and says so.
func (r *cmdRun) becomeLead() (string, error) {
	if r.inc.Lead.Address != "" || r.role != roleLead {
		return "", nil
	}
	if err := r.setLead(r.who); err != nil {
		return "", err
	}
	return " You are now its lead.", nil
}

func (r *cmdRun) setLead(p Person) error {
	h := r.h
	_, err := h.tx.ExecContext(h.ctx, "UPDATE incidents SET lead_address = ?, lead_name = ?, updated_at = ? WHERE id = ?",
		lower(p.Address), p.Name, ms(h.now), r.inc.ID)
	if err != nil {
		return fmt.Errorf("setting the lead of %s: %w", r.inc.Ref(), err)
	}
	r.inc.Lead = Person{Name: p.Name, Address: lower(p.Address)}
	return nil
}

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
		messageID: newMessageID("", d.domain), subject: subject, mail: m,
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

// pendingCustomer lists customer emails not yet handed to the mail server.
func (h *handling) pendingCustomer(incident int64) ([]*outRow, error) {
	return h.outRows("incident_id = ? AND customer = 1 AND state IN (?, ?, ?, ?)", incident, OutHeld, OutQueued, OutAwaitingApproval, OutSending)
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
	rows, err := h.tx.QueryContext(h.ctx, `SELECT at, actor, kind, detail FROM events WHERE incident_id = ? AND kind NOT IN (?, ?)
		ORDER BY id DESC LIMIT 8`, inc.ID, EventMailQueued, EventMailSent)
	if err != nil {
		return outcome{}, fmt.Errorf("reading events: %w", err)
	}
	var lines []string
	for rows.Next() {
		var at int64
		var actor, kind, detail string
		if err := rows.Scan(&at, &actor, &kind, &detail); err != nil {
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
		rows, err := h.tx.QueryContext(h.ctx, "SELECT id FROM messages WHERE incident_id = ? AND class = ? AND raw IS NOT NULL ORDER BY id", inc.ID, ClassForward)
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
