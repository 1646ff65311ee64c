package workflow

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Command verbs, as leads and reporters write them (any case).
const (
	CmdSever    = "SEVER"
	CmdBoundary = "BOUNDARY"
	CmdEscalate = "ESCALATE"
	CmdApology  = "APOLOGY"
	CmdResolve  = "RESOLVE"
	CmdAssign   = "ASSIGN"
	CmdHandoff  = "HANDOFF"
	CmdNote     = "NOTE"
	CmdStatus   = "STATUS"
	CmdShow     = "SHOW"
	CmdCancel   = "CANCEL"
	CmdApprove  = "APPROVE"
	CmdResend   = "RESEND"
	CmdReopen   = "REOPEN"
	CmdClose    = "CLOSE"
	CmdHelp     = "HELP"
)

// CommandInfo documents one command: for HELP, receipts and the README.
type CommandInfo struct {
	Verb    string   // "ESCALATE"
	Usage   string   // "ESCALATE <address> [name]"
	Aliases []string // other words read as this command ("ESC")
	Who     string   // "leads", "leads and the reporter", "anyone verified"
	Does    string   // one line
}

// Role of a command's sender on an incident.
type role int

const (
	roleNone     role = iota // verified, but neither a lead nor a reporter of the incident
	roleReporter             // forwarded evidence to the incident
	roleLead                 // a lead from the configuration
)

// commandTable is every command, in the order of HELP. args says whether the
// command takes words after it: a no-argument command followed by words
// ("Close call, that one") is not read as a command.
type commandSpec struct {
	CommandInfo
	args  bool
	roles []role
}

var commandTable = []commandSpec{
	{CommandInfo{CmdBoundary, "BOUNDARY", []string{"WARN"}, "leads",
		"the boundary email to the customer: this behaviour is not acceptable, and what happens if it continues"}, false, []role{roleLead}},
	{CommandInfo{CmdEscalate, "ESCALATE <address> [name]", []string{"ESC"}, "leads",
		"the escalation email to the customer's manager, HR or CEO, with a factual summary"}, true, []role{roleLead}},
	{CommandInfo{CmdSever, "SEVER", []string{"PART", "PARTWAYS", "PART-WAYS"}, "leads",
		"the parting-ways email to the customer (with two-lead approval when configured)"}, false, []role{roleLead}},
	{CommandInfo{CmdApology, "APOLOGY", []string{"APOLOGISED", "APOLOGIZED"}, "leads",
		"records that the customer apologised and thanks the reporter; RESOLVE then closes it"}, false, []role{roleLead}},
	{CommandInfo{CmdCancel, "CANCEL", []string{"STOP"}, "leads",
		"stops the customer emails on hold (or awaiting approval) and restores the state"}, false, []role{roleLead}},
	{CommandInfo{CmdApprove, "APPROVE", []string{"APPROVED"}, "leads",
		"a second lead's approval of a SEVER under the two-person rule; starts its hold"}, false, []role{roleLead}},
	{CommandInfo{CmdResend, "RESEND", nil, "leads",
		"sends an uncertain, failed or bounced email again, with the same Message-ID"}, false, []role{roleLead}},
	{CommandInfo{CmdAssign, "ASSIGN <address|me>", []string{"TAKE", "MINE"}, "leads",
		"makes a lead the owner (TAKE, MINE and a bare ASSIGN mean ASSIGN me)"}, true, []role{roleLead}},
	{CommandInfo{CmdNote, "NOTE <text>", nil, "leads and the reporter",
		"adds a note to the audit trail"}, true, []role{roleLead, roleReporter}},
	{CommandInfo{CmdStatus, "STATUS", nil, "leads and the reporter",
		"where the incident stands: state, lead, pending emails, latest events"}, false, []role{roleLead, roleReporter}},
	{CommandInfo{CmdShow, "SHOW", nil, "leads",
		"sends the whole reported conversation to the asking lead, behind a content warning"}, false, []role{roleLead}},
	{CommandInfo{CmdResolve, "RESOLVE [note]", []string{"RESOLVED"}, "leads",
		"marks the incident resolved; the reporter is told"}, true, []role{roleLead}},
	{CommandInfo{CmdClose, "CLOSE", []string{"CLOSED"}, "leads",
		"closes the incident; the reporter is told"}, false, []role{roleLead}},
	{CommandInfo{CmdReopen, "REOPEN", nil, "leads",
		"opens a resolved or closed incident again"}, false, []role{roleLead}},
	{CommandInfo{CmdHandoff, "HANDOFF", []string{"HAND-OFF"}, "the reporter",
		"the reporter gets nothing more about the incident but its outcome (a lead hands over with ASSIGN)"}, false, []role{roleReporter}},
	{CommandInfo{CmdHelp, "HELP", []string{"?"}, "anyone verified",
		"the list of commands"}, false, []role{roleLead, roleReporter, roleNone}},
}

// Commands lists every command with its usage, aliases, who may use it and
// what it does, in the order HELP shows them.
func Commands() []CommandInfo {
	out := make([]CommandInfo, len(commandTable))
	for i, c := range commandTable {
		out[i] = c.CommandInfo
		out[i].Aliases = append([]string(nil), c.Aliases...)
	}
	return out
}

// Command is one command line of a reply.
type Command struct {
	Verb string // canonical verb (CmdSever, …); "" when the line is not a command
	Word string // the word as written
	Args string // the rest of the line, trimmed
	Line string // the line as read, trimmed and at most maxCommandLine bytes
}

// MaxCommands is how many commands one reply may carry; the rest are
// refused.
const MaxCommands = 10

const maxCommandLine = 200

// ParseCommands reads the commands at the top of a reply's own text (never
// its quoted part: the caller passes the reply text only). Each non-empty
// line from the top whose first word is a command or an alias (any case,
// trailing ":", ".", "!" or "," ignored, "*bold*" markers too) is a
// command; reading stops at the first line that is not. When the first
// non-empty line is not a command, the result is one Command with an
// empty Verb, carrying that line. It returns at most MaxCommands commands,
// and more reports whether further command lines were left unread. Empty
// text gives nothing.
func ParseCommands(text string) (cmds []Command, more bool) {
	for raw := range strings.SplitSeq(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line := strings.TrimSpace(strings.Trim(raw, "\u00a0\ufeff"))
		if strings.HasPrefix(line, ">") {
			break // quoted text starts: never read from it
		}
		if line == "" {
			continue
		}
		c, ok := parseCommandLine(line)
		if !ok {
			if len(cmds) == 0 {
				cmds = append(cmds, Command{Line: clip(line)})
			}
			break
		}
		if len(cmds) == MaxCommands {
			more = true
			break
		}
		cmds = append(cmds, c)
	}
	return cmds, more
}

// parseCommandLine reads one line as a command.
func parseCommandLine(line string) (Command, bool) {
	word, rest, _ := strings.Cut(line, " ")
	if i := strings.IndexFunc(word, unicode.IsSpace); i >= 0 {
		word, rest = word[:i], word[i:]+" "+rest
	}
	rest = strings.TrimSpace(rest)
	w := strings.Trim(word, "*_")
	if w != "?" {
		w = strings.TrimRight(w, ":.!,;")
	}
	verb, ok := lookupVerb(w)
	if !ok {
		return Command{}, false
	}
	spec := specOf(verb)
	if rest != "" && !spec.args {
		return Command{}, false
	}
	c := Command{Verb: verb, Word: w, Args: rest, Line: clip(line)}
	switch strings.ToUpper(w) {
	case "TAKE", "MINE":
		if rest != "" {
			return Command{}, false
		}
		c.Args = "me"
	}
	return c, true
}

func lookupVerb(word string) (string, bool) {
	up := strings.ToUpper(word)
	for _, c := range commandTable {
		if up == c.Verb {
			return c.Verb, true
		}
		for _, a := range c.Aliases {
			if up == a {
				return c.Verb, true
			}
		}
	}
	return "", false
}

func specOf(verb string) commandSpec {
	for _, c := range commandTable {
		if c.Verb == verb {
			return c
		}
	}
	panic("workflow: unknown verb " + verb)
}

// mayUse reports whether someone in role r may use verb.
func mayUse(r role, verb string) bool {
	for _, x := range specOf(verb).roles {
		if x == r {
			return true
		}
	}
	return false
}

// usage returns the usage line of verb: "ESCALATE <address> [name]".
func usage(verb string) string { return specOf(verb).Usage }

// clip bounds a line kept in events and receipts.
func clip(s string) string {
	if len(s) <= maxCommandLine {
		return s
	}
	n := maxCommandLine
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
