package workflow

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"backstop/templates"
)

// The run of one command: role and state checks, the receipt, and what every handler shares.

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
	if who.Name == "" && h.sender != "" {
		// A teammate whose reply carries no display name is known from
		// the incidents they reported: greet them by name.
		err := h.tx.QueryRowContext(h.ctx, `SELECT reporter_name FROM incidents WHERE reporter_address = ? AND reporter_name != ''
			ORDER BY id DESC LIMIT 1`, h.sender).Scan(&who.Name)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("looking up the sender's name: %w", err)
		}
	}
	r0, err := h.roleOf(inc)
	if err != nil {
		return err
	}
	var last *cmdRun
	for _, c := range cmds {
		if inc != nil {
			if inc, err = loadIncident(h.ctx, h.d.st, h.tx, inc.ID); err != nil {
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
		o := outcome{result: outcomeUnknown}
		if c.Lookalike != "" {
			o.detail = fmt.Sprintf("%q is not %s: it is written with letters that are not plain ASCII (%s), so nothing was done. Commands are read only when written in plain letters; type the command again rather than paste it.",
				c.Word, c.Lookalike, nonASCII(c.Word))
		}
		return o, nil
	}
	if !mayUse(r.role, c.Verb) {
		return r.roleRefusal(), nil
	}
	if r.inc == nil && !specOf(c.Verb).noIncident {
		return refused("the email you answered is about no incident, and commands act on an incident: reply to a backstop email about the incident instead."), nil
	}
	if r.inc != nil && guarded(c.Verb) {
		if o, replay, err := r.replayed(); err != nil || replay { // replay.go
			return o, err
		}
	}
	return specOf(c.Verb).run(r)
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
		inc, err := loadIncident(h.ctx, h.d.st, h.tx, r.inc.ID)
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
		if r.inc != nil && r.cmd.Verb != "" && guarded(r.cmd.Verb) {
			if err := r.logCommand(); err != nil {
				return err
			}
		}
		if err := h.event(r.incID(), kind, r.cmd.Line+": "+o.detail); err != nil {
			return err
		}
	case outcomeRefused:
		if err := h.event(r.incID(), EventRefused, r.cmd.Line+": refused: "+o.detail); err != nil {
			return err
		}
	case outcomeUnknown:
		if r.cmd.Lookalike != "" {
			if err := h.event(r.incID(), EventRefused, r.cmd.Line+": refused: "+o.detail); err != nil {
				return err
			}
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
	if inc.Customer.Address == "" {
		// backstop could not tell who the customer is: saying so
		// comes first.
		out = append(out, usage(CmdCustomer))
	}
	// An incident this message opened has no email yet but the notices
	// this message queued: none pending for the customer, none to resend.
	fresh := inc.ID == h.opened
	var pending, resend []*outRow
	var err error
	if !fresh {
		if pending, err = h.outRows("incident_id = ? AND customer = 1 AND state IN (?, ?, ?)", inc.ID, OutHeld, OutQueued, OutAwaitingApproval); err != nil {
			return nil, err
		}
		if resend, err = h.resendable(inc); err != nil {
			return nil, err
		}
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
		o, err := h.d.st.scanOutRow(rows)
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
	_, err := h.tx.ExecContext(h.ctx, `UPDATE incidents SET state = ?, updated_at = ?, closed_at = ?, state_version = state_version + 1,
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

// pendingCustomer lists customer emails not yet handed to the mail server.
func (h *handling) pendingCustomer(incident int64) ([]*outRow, error) {
	return h.outRows("incident_id = ? AND customer = 1 AND state IN (?, ?, ?, ?)", incident, OutHeld, OutQueued, OutAwaitingApproval, OutSending)
}

// nonASCII lists the letters of s that are not ASCII, as U+XXXX.
func nonASCII(s string) string {
	var out []string
	for _, r := range s {
		if r >= utf8.RuneSelf {
			out = append(out, fmt.Sprintf("%c U+%04X", r, r))
		}
	}
	return strings.Join(out, ", ")
}

// commandWords is the commands of a reply as a comparable list
// ("SEVER, NOTE"), "none" when it carries none.
func commandWords(cmds []Command) string {
	var w []string
	for _, c := range cmds {
		switch {
		case c.Verb != "":
			w = append(w, c.Verb)
		case c.Lookalike != "":
			w = append(w, c.Word)
		}
	}
	if len(w) == 0 {
		return "none"
	}
	return strings.Join(w, ", ")
}

// refuseAll refuses a reply's commands as a whole, with one receipt.
func (h *handling) refuseAll(inc *Incident, cmds []Command, why string) error {
	var lines []string
	for _, c := range cmds {
		if c.Verb != "" || c.Lookalike != "" {
			lines = append(lines, c.Line)
		}
	}
	who := h.senderPerson()
	rl, err := h.roleOf(inc)
	if err != nil {
		return err
	}
	r := &cmdRun{h: h, inc: inc, who: who, role: rl, cmd: Command{Line: clip(strings.Join(lines, " / "))}}
	return r.finish(refused("%s", why))
}
