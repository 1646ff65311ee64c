package parse

import (
	"fmt"
	"strings"
)

// explanation records why Parse read a message the way it did.
type explanation struct {
	source string   // which part the text comes from
	notes  []string // other decisions, in order
	cut    replyCut
	kind   string // why the message has its kind
}

func (p *parser) note(format string, args ...any) {
	if len(p.notes) < maxWarnings {
		p.notes = append(p.notes, fmt.Sprintf(format, args...))
	}
}

// Explain says, for a person, why the message was read the way it was:
// which part its text comes from, which rule found each original (a header
// block, a quote header, an attached message, an encapsulated message) and
// at which lines, and where the reply text was cut and why. Line numbers
// count the lines of the text printed below the explanation, from 1.
func (m *Message) Explain() string {
	var b strings.Builder
	h := m.how
	fmt.Fprintf(&b, "kind: %s", m.Kind)
	if h.kind != "" {
		fmt.Fprintf(&b, " (%s)", h.kind)
	}
	b.WriteString("\n")
	if h.source != "" {
		fmt.Fprintf(&b, "text: %s\n", h.source)
	}
	for _, n := range h.notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if len(m.Originals) == 0 {
		b.WriteString("originals: none found\n")
	}
	for i, o := range m.Originals {
		from := formatAddress(o.From)
		if o.From.Name == "" && o.From.Address == "" {
			from = "(no sender)"
		}
		rule := o.rule
		if rule == "" {
			rule = "(rule not recorded)"
		}
		fmt.Fprintf(&b, "original %d: %s, %q\n  found by: %s\n", i+1, from, o.Subject, rule)
	}
	if m.Note != "" {
		fmt.Fprintf(&b, "note by the forwarder: %d line(s) above the first original\n", strings.Count(m.Note, "\n")+1)
	}
	for _, d := range h.cut.dropped {
		fmt.Fprintf(&b, "reply text: dropped %s\n", d)
	}
	if h.cut.line > 0 {
		fmt.Fprintf(&b, "reply text: cut at line %d: %s\n", h.cut.line, h.cut.why)
	} else {
		b.WriteString("reply text: not cut (the whole text is the writer's, quoted lines aside)\n")
	}
	for _, w := range m.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	b.WriteString("\n")
	for i, l := range strings.Split(m.Text, "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}
