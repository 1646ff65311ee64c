package workflow

import (
	"strings"
)

// Never lose a report for want of parsing: a message from a team member
// to escalations@ that is not a reply to backstop is a report. When no
// forwarded original can be read in it, it opens an incident with the
// customer unknown and the whole message as evidence; the reporter is told
// it reached the leads, and the leads that the customer could not be
// identified and how to set it (CUSTOMER <address> [name]). Only mail from
// outside the team is quarantined.

// maxRawEvidence bounds the raw bytes kept as the evidence text of a
// message whose text could not be read at all (the whole raw message is
// kept in the messages table regardless).
const maxRawEvidence = 256 << 10

// reportUnread opens an incident, customer unknown, for a team member's
// message in which no original could be read; why says what was missing.
func (h *handling) reportUnread(why string) (Disposition, error) {
	in := *h.in
	rep := h.reporter()
	body := strings.TrimSpace(in.Text)
	if body == "" {
		body = strings.TrimSpace(in.ReplyText)
	}
	if body == "" && in.bodySize() > 0 {
		body = strings.ToValidUTF8(string(in.prefix(maxRawEvidence)), "\uFFFD")
	}
	in.Originals = []Original{{From: rep, Subject: in.Subject, Date: in.Date, MessageID: in.MessageID, Body: body}}
	h.in = &in
	h.unread = why
	return h.newIncident(Person{})
}

// leadWarning is what a lead notice must say beyond the summary: that the
// customer is unknown and how to set it, and what went wrong reading the
// message (the parser's warnings: evidence may be partial).
func (h *handling) leadWarning(inc *Incident) string {
	var parts []string
	if inc.Customer.Address == "" {
		s := "backstop could not identify the customer"
		if h.unread != "" {
			s += ": " + h.unread + ", so the whole message is the evidence"
		}
		s += ". Reply CUSTOMER <address> [name] to set it; later forwards about that customer then join this incident"
		parts = append(parts, s)
	}
	if len(h.in.Warnings) > 0 {
		parts = append(parts, "reading the message: "+truncate(strings.Join(h.in.Warnings, "; "), maxNote))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ". ") + "."
}

// repliesToBackstop reports whether the message is addressed to one of
// backstop's emails: a reply address with a token, or a reference to a
// Message-ID backstop wrote.
func (h *handling) repliesToBackstop() bool {
	for _, a := range h.in.recipients() {
		if _, ok := tokenFromAddress(h.d.cfg.Escalations, a); ok {
			return true
		}
	}
	for _, id := range append(append([]string{}, h.in.InReplyTo...), h.in.References...) {
		if _, ok := tokenFromMessageID(id, h.d.domain); ok {
			return true
		}
	}
	return false
}
