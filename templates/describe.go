package templates

import (
	"slices"
	"strings"
	"text/template/parse"
)

// Variable documents one piece of Data that templates may use.
type Variable struct {
	Name      string   // as written in a template, without the dot: "Incident.ID"
	Meaning   string   // what it holds
	Templates []string // the default templates that use it
}

// variables documents Data. A person (Customer, Lead, …) is one row: it
// has .Name and .Address.
var variables = []Variable{
	{Name: "Org.Name", Meaning: "your organisation's name, as customers see it: \"Acme Support\""},
	{Name: "Org.SupportAddress", Meaning: "your customer-facing support address"},
	{Name: "Org.Timezone", Meaning: "the time zone every date is shown in (set in the configuration; used by the date functions)"},
	{Name: "Incident.ID", Meaning: "the incident's id, \"INC-7\"; internal only, never in customer emails"},
	{Name: "Incident.State", Meaning: "reported, acknowledged, boundary_sent, escalated, severed, resolved or closed (`state` puts it in words)"},
	{Name: "Incident.Subject", Meaning: "the subject of the reported conversation"},
	{Name: "Incident.Created", Meaning: "when the incident was opened"},
	{Name: "Incident.MessageCount", Meaning: "how many customer messages the incident holds"},
	{Name: "Incident.FirstDate", Meaning: "the date of the earliest message"},
	{Name: "Incident.LastDate", Meaning: "the date of the latest message"},
	{Name: "Incident.Evidence", Meaning: "the reported messages, oldest first; each has .From, .Date, .DateRaw, .Subject, .Body"},
	{Name: "Incident.Evidence.From", Meaning: "who sent the message (a person)"},
	{Name: "Incident.Evidence.Date", Meaning: "when it was sent; zero when unknown (`msgdate .` falls back to .DateRaw)"},
	{Name: "Incident.Evidence.DateRaw", Meaning: "the message's Date header as written"},
	{Name: "Incident.Evidence.Subject", Meaning: "the message's subject"},
	{Name: "Incident.Evidence.Body", Meaning: "the message text. Set only for lead_notice with evidence: inline; empty everywhere else"},
	{Name: "Customer", Meaning: "the customer who wrote the messages (a person)"},
	{Name: "Organisation", Meaning: "the customer's organisation, \"Globex\"; empty for free-mail addresses"},
	{Name: "Reporter", Meaning: "the teammate who forwarded the conversation (a person); never in customer emails"},
	{Name: "Lead", Meaning: "the lead acting on or assigned to the incident (a person); customer emails are signed with this name"},
	{Name: "Recipient", Meaning: "who this email is for (a person)"},
	{Name: "History", Meaning: "earlier incidents with this customer or organisation, one line each"},
	{Name: "Now", Meaning: "when the email is rendered"},
	{Name: "EvidenceMode", Meaning: "how lead_notice carries the conversation: attach, inline or none"},
	{Name: "Command", Meaning: "the command line as backstop read it"},
	{Name: "Outcome", Meaning: "what became of the command: done, refused or unknown"},
	{Name: "Detail", Meaning: "what happened, or why the command was refused"},
	{Name: "Allowed", Meaning: "the commands that make sense now; when set, replaces a template's default command list"},
	{Name: "Preview", Meaning: "the exact customer email: .Subject, .Text, .HTML; nil when there is none"},
	{Name: "EmailKind", Meaning: "the template name of the email this one is about: boundary, parting_ways, escalation, … (`kind` puts it in words)"},
	{Name: "SendAt", Meaning: "when the customer email goes (or went) out"},
	{Name: "AwaitingApproval", Meaning: "true when the email waits for a second lead's APPROVE before it is scheduled"},
	{Name: "Approver", Meaning: "the lead who approved the email (a person)"},
	{Name: "BoundarySent", Meaning: "when the boundary email went to the customer; zero if none has"},
	{Name: "Target", Meaning: "who the escalation goes to: the customer's manager or HR (a person)"},
	{Name: "Note", Meaning: "a lead's note (RESOLVE, NOTE), or a teammate's answer to a check-in (checkin_reply); internal, never in customer emails"},
	{Name: "Reason", Meaning: "why a message was quarantined, a command refused or a delivery failed; in lead notices and acknowledgements, what backstop could not read in a report (the customer unknown, parser warnings)"},
	{Name: "MessageFrom", Meaning: "the sender of the quarantined message or refused command"},
	{Name: "MessageSubj", Meaning: "the subject of the quarantined message or refused command"},
	{Name: "Digest", Meaning: "the weekly digest (digest only): .Week, .Start, .End, .Quiet, .Opened, .OpenedStillOpen, .Open, .OpenByState, .Waiting, .Actions, .Response, .Severed, .Repeat, .Teammates, .Undelivered, .HeldBack, .Chart; ids, names, states, dates and counts only (see templates.Digest)"},
	{Name: "Reminder", Meaning: "why a reminder is sent (reminder only): .Waited (business time), .N (the how-manieth), .HeadOfSupport, .BusinessHours"},
	{Name: "EmailTo", Meaning: "who the email named by EmailKind goes or went to (a person): the customer, the escalation Target, or a lead"},
}

// Describe lists the variables templates may use, what each holds, and
// which of the default templates use it.
func Describe() []Variable {
	uses := defaultUses()
	out := make([]Variable, len(variables))
	for i, v := range variables {
		v.Templates = nil
		for _, n := range names {
			if slices.ContainsFunc(uses[n], func(u use) bool { return u.covers(v.Name) }) {
				v.Templates = append(v.Templates, n)
			}
		}
		out[i] = v
	}
	return out
}

// use is a path into Data that a template reads. An exact use (the
// subject of if, with or range) reads that value only; any other use may
// read everything below it too (a person passed to a function).
type use struct {
	path  string
	exact bool
}

// covers reports whether reading u reads the documented variable v.
func (u use) covers(v string) bool {
	return u.path == v || strings.HasPrefix(u.path, v+".") ||
		(!u.exact && strings.HasPrefix(v, u.path+"."))
}

// defaultUses parses the embedded templates and returns the Data paths
// each reads.
func defaultUses() map[string][]use {
	out := make(map[string][]use, len(names))
	for _, n := range names {
		t, err := parseFiles(n, defaultSource(n+".txt"), defaultSource(n+".html"))
		if err != nil {
			continue // Load reports it; the tests make sure it never happens
		}
		var us []use
		for _, tree := range []*parse.Tree{t.subject.Tree, t.text.Tree, t.html.Tree} {
			w := &walker{}
			w.node(tree.Root, "", map[string]string{})
			us = append(us, w.uses...)
		}
		out[n] = us
	}
	return out
}

func defaultSource(file string) source {
	b, _ := defaultFS.ReadFile("default/" + file)
	return source{path: file, text: string(b)}
}

// walker collects the Data paths a parse tree reads. dot is the path of
// the current dot ("" for Data itself, "?" when not a path into Data);
// vars maps variables to paths.
type walker struct {
	uses []use
}

const unknownDot = "?"

func joinPath(dot string, idents []string) string {
	if dot == unknownDot {
		return unknownDot
	}
	p := strings.Join(idents, ".")
	if dot == "" {
		return p
	}
	return dot + "." + p
}

func (w *walker) add(path string, exact bool) {
	if path != unknownDot && path != "" {
		w.uses = append(w.uses, use{path: path, exact: exact})
	}
}

func (w *walker) node(n parse.Node, dot string, vars map[string]string) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			w.node(c, dot, vars)
		}
	case *parse.ActionNode:
		w.pipe(n.Pipe, dot, vars, false)
		w.declare(n.Pipe, dot, vars, false)
	case *parse.IfNode:
		w.pipe(n.Pipe, dot, vars, true)
		w.node(n.List, dot, vars)
		w.node(n.ElseList, dot, vars)
	case *parse.WithNode:
		w.pipe(n.Pipe, dot, vars, true)
		inner := scope(vars)
		w.declare(n.Pipe, dot, inner, false)
		w.node(n.List, w.path(n.Pipe, dot, vars), inner)
		w.node(n.ElseList, dot, vars)
	case *parse.RangeNode:
		w.pipe(n.Pipe, dot, vars, true)
		inner := scope(vars)
		w.declare(n.Pipe, dot, inner, true)
		w.node(n.List, w.path(n.Pipe, dot, vars), inner)
		w.node(n.ElseList, dot, vars)
	case *parse.TemplateNode:
		if n.Pipe != nil {
			w.pipe(n.Pipe, dot, vars, false)
		}
	}
}

func scope(vars map[string]string) map[string]string {
	m := make(map[string]string, len(vars)+2)
	for k, v := range vars {
		m[k] = v
	}
	return m
}

// declare records the variables a pipeline declares. In a range, the last
// declared variable is the element ({{range $i, $e := …}}).
func (w *walker) declare(p *parse.PipeNode, dot string, vars map[string]string, isRange bool) {
	if p == nil || len(p.Decl) == 0 {
		return
	}
	path := w.path(p, dot, vars)
	for i, d := range p.Decl {
		if isRange && i < len(p.Decl)-1 {
			vars[d.Ident[0]] = unknownDot // the index
			continue
		}
		vars[d.Ident[0]] = path
	}
}

// path returns the Data path a pipeline yields: a lone field or variable
// chain, else unknownDot.
func (w *walker) path(p *parse.PipeNode, dot string, vars map[string]string) string {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return unknownDot
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		return joinPath(dot, a.Ident)
	case *parse.VariableNode:
		return w.variable(a, vars)
	case *parse.DotNode:
		return dot
	}
	return unknownDot
}

func (w *walker) variable(v *parse.VariableNode, vars map[string]string) string {
	base := unknownDot
	if v.Ident[0] == "$" {
		base = ""
	} else if p, ok := vars[v.Ident[0]]; ok {
		base = p
	}
	if len(v.Ident) == 1 {
		return base
	}
	return joinPath(base, v.Ident[1:])
}

func (w *walker) pipe(p *parse.PipeNode, dot string, vars map[string]string, branch bool) {
	if p == nil {
		return
	}
	// The subject of if/with/range is an exact use when it is a lone value.
	lone := branch && len(p.Cmds) == 1 && len(p.Cmds[0].Args) == 1
	for _, c := range p.Cmds {
		var reads []string // the fields the called function reads of its arguments
		if id, ok := c.Args[0].(*parse.IdentifierNode); ok {
			reads = funcReads[id.Ident]
		}
		for _, a := range c.Args {
			var path string
			switch a := a.(type) {
			case *parse.FieldNode:
				path = joinPath(dot, a.Ident)
			case *parse.VariableNode:
				path = w.variable(a, vars)
			case *parse.DotNode:
				path = dot
			case *parse.ChainNode:
				if pn, ok := a.Node.(*parse.PipeNode); ok {
					w.pipe(pn, dot, vars, false)
				}
				continue
			case *parse.PipeNode:
				w.pipe(a, dot, vars, false)
				continue
			default:
				continue
			}
			if reads == nil {
				w.add(path, lone)
				continue
			}
			for _, f := range reads {
				w.add(joinPath(path, []string{f}), true)
			}
		}
	}
}

// funcReads lists, for functions taking an evidence item or list, the
// fields they read: so that {{msgdate .}} does not count as reading .Body.
var funcReads = map[string][]string{
	"msgdate": {"Date", "DateRaw"},
	"days":    {"Date"},
}

// templateDocs says who each template goes to and when, for VARIABLES.md.
var templateDocs = map[string]string{
	ReporterAck:       "to the teammate who forwarded: thank you, a lead has it, no need to answer the customer",
	LeadNotice:        "to every lead: a new incident, summary first, then a content warning and the conversation (attached, inline or on request)",
	EvidenceAdded:     "to the leads: more messages joined an open incident",
	QuarantineNotice:  "to the leads: a message could not be processed and was set aside",
	CommandResult:     "to whoever sent a command: done, refused or not understood",
	Help:              "the command list",
	CustomerPreview:   "to the leads: the exact customer email and when it goes out (or that it needs a second lead)",
	UncertainDelivery: "to the leads: an email may or may not have gone out; it won't be resent by itself",
	DeliveryFailed:    "to the leads: an email was refused or bounced",
	SecurityNotice:    "to the leads: a command was not accepted because its sender could not be verified",
	ReporterOutcome:   "to the teammates who reported: how the incident ended (resolved, severed, closed), or that the customer apologised; sent even after HANDOFF, except the apology note",
	HeldBack:          "to a lead or teammate, once the hourly caps allow it: how many notices the caps held back (Detail), and about which incidents",
	Boundary:          "to the customer, signed by the lead: this behaviour is not acceptable; what happens if it continues",
	PartingWays:       "to the customer, signed by the lead: we are ending the support relationship; what happens next",
	Escalation:        "to the customer's manager or HR (Target), signed by the lead: a factual summary and a request for help",
}
