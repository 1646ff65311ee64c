package parse

import (
	"strings"
	"unicode"
)

// CleanText makes a display name or subject read from mail safe to use
// anywhere: control characters, line and paragraph separators and the
// invisible bidirectional controls become spaces, runs of spaces become
// one, and the ends are trimmed. A name that decodes (RFC 2047) to text
// with a line break would otherwise be refused by every header it is
// written into later.
func CleanText(s string) string {
	if s == "" {
		return s
	}
	clean := true
	for _, r := range s {
		if unsafeRune(r) || r == ' ' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || unsafeRune(r) }), " ")
}

func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r), r == '\u2028', r == '\u2029', r == '\u0085', r == '\ufeff':
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f', r == '\u061c':
		return true // bidirectional controls
	}
	return false
}

// cleanNames cleans, once and at the edge, the names and subjects of a
// parsed message and of the messages it forwards, so that everything
// downstream can use them as they are.
func cleanNames(m *Message) {
	cleanAddr := func(a *Address) {
		a.Name = CleanText(a.Name)
		if strings.ContainsFunc(a.Address, func(r rune) bool { return r == ' ' || unsafeRune(r) }) {
			a.Address = strings.Join(strings.FieldsFunc(a.Address, func(r rune) bool { return r == ' ' || unsafeRune(r) }), "")
		}
	}
	cleanList := func(as []Address) {
		for i := range as {
			cleanAddr(&as[i])
		}
	}
	cleanAddr(&m.From)
	if m.Sender != nil {
		cleanAddr(m.Sender)
	}
	cleanList(m.ReplyTo)
	cleanList(m.To)
	cleanList(m.Cc)
	m.Subject = CleanText(m.Subject)
	for i := range m.Originals {
		o := &m.Originals[i]
		cleanAddr(&o.From)
		cleanList(o.To)
		cleanList(o.Cc)
		o.Subject = CleanText(o.Subject)
	}
}
