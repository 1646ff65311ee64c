package workflow

import (
	"slices"
)

// Role of a command's sender on an incident.
type role int

const (
	roleNone     role = iota // verified, but neither a lead nor a reporter of the incident
	roleReporter             // forwarded evidence to the incident
	roleLead                 // a lead from the configuration
)

// CommandInfo documents one command: for HELP, receipts and the README.
type CommandInfo struct {
	Verb     string   // "ESCALATE"
	Usage    string   // "ESCALATE <address> [name]"
	Aliases  []string // other words read as this command ("ESC")
	Who      string   // "leads", "leads and the reporter", "anyone verified"
	Does     string   // what it does, for the README
	Help     string   // its line in the HELP email (templates/default/help.*)
	From     []string // the states it applies in; nil: any state
	Customer bool     // it writes (or sends again) to someone outside the team
}

// commandSpec is one row of the command table.
type commandSpec struct {
	CommandInfo

	// args says whether the command takes words after it: a no-argument
	// command followed by words ("Close call, that one") is not read as
	// a command.
	args bool
	// roles may use it; anyone else gets roleRefusal.
	roles []role
	// moves is its state table: current state → next state. A state
	// missing is refused with transitionRefusal. nil: the command does
	// not move the incident and applies in any state.
	moves map[string]string
	// noIncident: allowed on a reply about no incident (HELP).
	noIncident bool
	// run carries it out, after the role check (and, unless noIncident,
	// with r.inc set). The state check is the handler's, through
	// r.transition(), so that it can refuse for a better reason first.
	run func(r *cmdRun) (outcome, error)
}

// commandTable is every command, one row each, in the order of HELP.
//
// To add a command:
//  1. add its Cmd constant (command.go);
//  2. add a row here: verb, usage, aliases, who (words), what it does,
//     its HELP line; the
//     roles that may use it, the states it moves (nil: any state,
//     unchanged), whether it writes to the customer, and its handler;
//  3. write the handler, a method of *cmdRun returning outcome (done or
//     refused), in the file of its family: cmd_customer.go (writes to the
//     customer), cmd_incident.go (looks after the incident), cmd_info.go
//     (informs), or a new cmd_<family>.go;
//  4. run `go test ./workflow -run TestCommandTable -update` to regenerate
//     the README's command table, and add the command to the help
//     template (templates/default/help.{txt,html}); the test checks both.
//
// The table is filled in init: its handlers refer to it (through
// NextState and usage), which a package-level initialiser may not.
var commandTable []commandSpec

// The ladder is reported → acknowledged → boundary_sent → escalated →
// severed; a lead may skip steps (clear and strong abuse needs no ladder),
// never go back down it. SEVER, RESOLVE and CLOSE work from any open
// state. CANCEL puts back the state a cancelled customer email's command
// left.
func init() {
	lead, leadOrReporter := []role{roleLead}, []role{roleLead, roleReporter}
	commandTable = []commandSpec{
		{CommandInfo: CommandInfo{Verb: CmdBoundary, Usage: "BOUNDARY", Aliases: []string{"WARN"}, Who: "leads", Customer: true,
			Does: "the boundary email to the customer: this behaviour is not acceptable, and what happens if it continues",
			Help: "Ask the customer, calmly and firmly, to keep it respectful."},
			roles: lead, run: (*cmdRun).boundary,
			moves: map[string]string{StateReported: StateBoundarySent, StateAcknowledged: StateBoundarySent}},
		{CommandInfo: CommandInfo{Verb: CmdEscalate, Usage: "ESCALATE <address> [name]", Aliases: []string{"ESC"}, Who: "leads", Customer: true,
			Does: "the escalation email to the customer's manager, HR or CEO, with a factual summary",
			Help: "Write to the customer's manager or HR."},
			roles: lead, args: true, run: (*cmdRun).escalate,
			moves: map[string]string{StateReported: StateEscalated, StateAcknowledged: StateEscalated,
				StateBoundarySent: StateEscalated, StateEscalated: StateEscalated}},
		{CommandInfo: CommandInfo{Verb: CmdSever, Usage: "SEVER", Aliases: []string{"PART", "PARTWAYS", "PART-WAYS"}, Who: "leads", Customer: true,
			Does: "the parting-ways email to the customer (with two-lead approval when configured)",
			Help: "Part ways: end support for the customer."},
			roles: lead, run: (*cmdRun).sever,
			moves: map[string]string{StateReported: StateSevered, StateAcknowledged: StateSevered,
				StateBoundarySent: StateSevered, StateEscalated: StateSevered}},
		{CommandInfo: CommandInfo{Verb: CmdApology, Usage: "APOLOGY", Aliases: []string{"APOLOGISED", "APOLOGIZED"}, Who: "leads",
			Does: "records that the customer apologised and thanks the reporter; RESOLVE then closes it",
			Help: "Record that the customer has apologised."},
			roles: lead, run: (*cmdRun).apology,
			moves: map[string]string{StateReported: StateAcknowledged, StateAcknowledged: StateAcknowledged,
				StateBoundarySent: StateBoundarySent, StateEscalated: StateEscalated, StateSevered: StateSevered}},
		{CommandInfo: CommandInfo{Verb: CmdCancel, Usage: "CANCEL", Aliases: []string{"STOP"}, Who: "leads",
			Does: "stops the customer emails on hold (or awaiting approval) and restores the state",
			Help: "Stop a customer email while it is on hold."},
			roles: lead, run: (*cmdRun).cancel},
		{CommandInfo: CommandInfo{Verb: CmdApprove, Usage: "APPROVE", Aliases: []string{"APPROVED"}, Who: "another lead", Customer: true,
			Does: "a second lead's approval of a SEVER under the two-person rule; starts its hold",
			Help: "Agree to a SEVER that another lead asked for, when two leads must agree."},
			roles: lead, run: (*cmdRun).approve},
		{CommandInfo: CommandInfo{Verb: CmdResend, Usage: "RESEND", Who: "leads", Customer: true,
			Does: "sends an uncertain, failed or bounced email again, with the same Message-ID",
			Help: "Send an email again that failed or may not have arrived."},
			roles: lead, run: (*cmdRun).resend},
		{CommandInfo: CommandInfo{Verb: CmdAssign, Usage: "ASSIGN <address|me>", Aliases: []string{"TAKE", "MINE"}, Who: "leads",
			Does: "makes a lead the owner (TAKE, MINE and a bare ASSIGN mean ASSIGN me); the new lead is told",
			Help: "Make one lead the owner."},
			roles: lead, args: true, run: (*cmdRun).assign,
			moves: map[string]string{StateReported: StateAcknowledged, StateAcknowledged: StateAcknowledged,
				StateBoundarySent: StateBoundarySent, StateEscalated: StateEscalated, StateSevered: StateSevered}},
		{CommandInfo: CommandInfo{Verb: CmdCustomer, Usage: "CUSTOMER <address> [name]", Who: "leads",
			Does: "says who the customer is when backstop could not tell (or corrects it); later forwards about them join this incident",
			Help: "Say who the customer is, when backstop could not tell."},
			roles: lead, args: true, run: (*cmdRun).customer},
		{CommandInfo: CommandInfo{Verb: CmdNote, Usage: "NOTE <text>", Who: "leads and the reporter",
			Does: "adds a note to the audit trail",
			Help: "Add a note for the other leads."},
			roles: leadOrReporter, args: true, run: (*cmdRun).note},
		{CommandInfo: CommandInfo{Verb: CmdStatus, Usage: "STATUS", Who: "leads and the reporter",
			Does: "where the incident stands: state, lead, pending emails, latest events",
			Help: "Where it stands, and what has happened so far."},
			roles: leadOrReporter, run: (*cmdRun).status},
		{CommandInfo: CommandInfo{Verb: CmdShow, Usage: "SHOW", Who: "leads",
			Does: "sends the whole reported conversation to the asking lead, behind a content warning",
			Help: "Receive the reported conversation."},
			roles: lead, run: (*cmdRun).show},
		{CommandInfo: CommandInfo{Verb: CmdResolve, Usage: "RESOLVE [note]", Aliases: []string{"RESOLVED"}, Who: "leads",
			Does: "marks the incident resolved; the reporter is told",
			Help: "Mark it resolved, for example after an apology."},
			roles: lead, args: true, run: (*cmdRun).finishIncident,
			moves: map[string]string{StateReported: StateResolved, StateAcknowledged: StateResolved, StateBoundarySent: StateResolved,
				StateEscalated: StateResolved, StateSevered: StateResolved}},
		{CommandInfo: CommandInfo{Verb: CmdClose, Usage: "CLOSE", Aliases: []string{"CLOSED"}, Who: "leads",
			Does: "closes the incident; the reporter is told",
			Help: "Close it: nothing more will happen."},
			roles: lead, run: (*cmdRun).finishIncident,
			moves: map[string]string{StateReported: StateClosed, StateAcknowledged: StateClosed, StateBoundarySent: StateClosed,
				StateEscalated: StateClosed, StateSevered: StateClosed}},
		{CommandInfo: CommandInfo{Verb: CmdReopen, Usage: "REOPEN", Who: "leads",
			Does: "opens a resolved or closed incident again (back to acknowledged)",
			Help: "Open a resolved or closed incident again."},
			roles: lead, run: (*cmdRun).reopen,
			moves: map[string]string{StateResolved: StateAcknowledged, StateClosed: StateAcknowledged}},
		{CommandInfo: CommandInfo{Verb: CmdHandoff, Usage: "HANDOFF", Aliases: []string{"HAND-OFF"}, Who: "the reporter",
			Does: "the reporter gets nothing more about the incident but its outcome (a lead hands over with ASSIGN)",
			Help: "Get no more mail about this incident."},
			roles: []role{roleReporter}, run: (*cmdRun).handoff},
		{CommandInfo: CommandInfo{Verb: CmdNoCheckin, Usage: "NO-CHECKIN", Aliases: []string{"NOCHECKIN"}, Who: "leads",
			Does: "the reporter gets no check-in (how are you?) once the incident is resolved or severed",
			Help: "Send the reporter no check-in once it ends."},
			roles: lead, run: (*cmdRun).noCheckin},
		{CommandInfo: CommandInfo{Verb: CmdDigest, Usage: "DIGEST OFF|ON", Who: "leads",
			Does: "stops (OFF) or restarts (ON) the weekly digest to the lead who asks; any backstop email may be answered",
			Help: "Stop (OFF) or restart (ON) your weekly digest."},
			roles: lead, args: true, noIncident: true, run: (*cmdRun).digest},
		{CommandInfo: CommandInfo{Verb: CmdHelp, Usage: "HELP", Aliases: []string{"?"}, Who: "anyone verified",
			Does: "the list of commands allowed now",
			Help: "This list."},
			roles: []role{roleLead, roleReporter, roleNone}, noIncident: true, run: (*cmdRun).help},
	}
	for i := range commandTable {
		c := &commandTable[i]
		for st := range c.moves {
			c.From = append(c.From, st)
		}
		slices.SortFunc(c.From, func(a, b string) int { return stateOrder(a) - stateOrder(b) })
	}
}

// stateOrder is a state's place on the ladder, for listing states.
func stateOrder(st string) int {
	return slices.Index([]string{StateReported, StateAcknowledged, StateBoundarySent, StateEscalated, StateSevered,
		StateResolved, StateClosed}, st)
}

// Commands lists every command with its usage, aliases, who may use it,
// the states it applies in and what it does, in the order HELP shows them.
func Commands() []CommandInfo {
	out := make([]CommandInfo, len(commandTable))
	for i, c := range commandTable {
		out[i] = c.CommandInfo
		out[i].Aliases = slices.Clone(c.Aliases)
		out[i].From = slices.Clone(c.From)
	}
	return out
}

// NextState returns the state a command moves an incident in state to, and
// whether the command is allowed there at all. Commands that do not move
// incidents (NOTE, STATUS, SHOW, HELP, HANDOFF, CANCEL, APPROVE, RESEND)
// report the state unchanged and true.
func NextState(verb, state string) (string, bool) {
	spec, ok := lookupSpec(verb)
	if !ok || spec.moves == nil {
		return state, true
	}
	next, ok := spec.moves[state]
	return next, ok
}

func lookupSpec(verb string) (*commandSpec, bool) {
	for i := range commandTable {
		if commandTable[i].Verb == verb {
			return &commandTable[i], true
		}
	}
	return nil, false
}

func specOf(verb string) *commandSpec {
	if c, ok := lookupSpec(verb); ok {
		return c
	}
	panic("workflow: unknown verb " + verb)
}

// mayUse reports whether someone in role r may use verb.
func mayUse(r role, verb string) bool { return slices.Contains(specOf(verb).roles, r) }

// usage returns the usage line of verb: "ESCALATE <address> [name]".
func usage(verb string) string { return specOf(verb).Usage }
