package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"backstop/templates"
)

// Customer emails (boundary, parting ways, escalation) are written on a
// lead's behalf: From is "Lead Name, OrgName" <SupportAddress>, Sender is
// the address that actually sends (when it differs from From), Reply-To is
// the lead or the support address, and they thread into the customer's
// own conversation. They carry no reply token, no incident id and no
// Auto-Submitted header: they are personal letters. Their text is rendered
// once, when the command is accepted, and stored: what goes out is exactly
// what the lead's preview showed.

// customerDraft is everything a customer email is made of.
type customerDraft struct {
	kind         string // templates.Boundary, PartingWays or Escalation
	inc          *Incident
	lead         Person // signs it
	to           Person // the customer, or the escalation target
	target       Person // escalation only
	evidence     []templates.Evidence
	boundarySent time.Time
	refs         []string // the conversation it answers, oldest first
	now          time.Time
}

// kindWords names a customer email kind in receipts.
func kindWords(kind string) string {
	switch kind {
	case templates.Boundary:
		return "boundary email"
	case templates.PartingWays:
		return "parting-ways email"
	case templates.Escalation:
		return "escalation email"
	}
	return kind + " email"
}

// draftCustomer gathers what a customer email about inc needs from the
// database: the evidence (dates only), when the boundary email went out,
// and the conversation to thread into.
func (d *Desk) draftCustomer(ctx context.Context, q querier, inc *Incident, kind string, lead, to, target Person, now time.Time) (customerDraft, error) {
	c := customerDraft{kind: kind, inc: inc, lead: lead, to: to, target: target, now: now}
	var err error
	if c.evidence, err = d.allEvidence(ctx, q, inc.ID, false); err != nil {
		return c, err
	}
	if c.boundarySent, err = boundarySent(ctx, q, inc.ID); err != nil {
		return c, err
	}
	if sameMailbox(to.Address, inc.Customer.Address) && inc.CustomerMessageID != "" {
		c.refs = append(c.refs, inc.CustomerMessageID)
	}
	rows, err := q.QueryContext(ctx, `SELECT message_id FROM outbox WHERE incident_id = ? AND customer = 1 AND recipient = ?
		AND state IN (?, ?, ?, ?) ORDER BY id`, inc.ID, lower(to.Address), OutSent, OutSending, OutUncertain, OutBounced)
	if err != nil {
		return c, fmt.Errorf("threading a customer email: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return c, err
		}
		c.refs = append(c.refs, id)
	}
	return c, rows.Err()
}

// boundarySent returns when the incident's boundary email went out, zero
// if none has.
func boundarySent(ctx context.Context, q querier, incident int64) (time.Time, error) {
	var sent sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT max(sent_at) FROM outbox WHERE incident_id = ? AND customer = 1 AND template = ? AND state IN (?, ?)`,
		incident, templates.Boundary, OutSent, OutBounced).Scan(&sent)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading when the boundary email went out: %w", err)
	}
	return fromMS(sent), nil
}

// allEvidence lists every original recorded on an incident, oldest first
// by date, with text only when withBody.
func (d *Desk) allEvidence(ctx context.Context, q querier, incident int64, withBody bool) ([]templates.Evidence, error) {
	return d.scanEvidence(ctx, q, withBody, `
		SELECT from_name, from_address, date, date_raw, subject, body FROM evidence
		WHERE incident_id = ? ORDER BY date IS NULL, date, id`, incident)
}

// customerData is the template data of a customer email. It carries no
// internal detail: no reporter, no notes, no history.
func (d *Desk) customerData(c customerDraft) *templates.Data {
	data := d.baseData(c.inc, c.to, c.now)
	// Internal ids and states never reach a customer, even through an
	// overridden template.
	data.Incident.ID = ""
	data.Incident.State = ""
	data.Reporter = templates.Person{}
	data.History = nil
	data.EvidenceMode = ""
	data.Lead = templates.Person(c.lead)
	data.Recipient = templates.Person(c.to)
	data.Target = templates.Person(c.target)
	data.Incident.Evidence = c.evidence
	if !c.boundarySent.IsZero() {
		data.BoundarySent = c.boundarySent.In(d.cfg.Timezone)
	}
	return data
}

// signature is the display name of a customer email's From: "Jane Doe,
// Acme Support".
func (d *Desk) signature(lead Person) string {
	name, org := strings.TrimSpace(lead.Name), strings.TrimSpace(d.cfg.OrgName)
	switch {
	case name != "" && org != "":
		return name + ", " + org
	case name != "":
		return name
	}
	return org
}

// renderCustomer renders a customer email and its header fields. It is the
// one code path of both the real email and `backstop templates preview`.
func (d *Desk) renderCustomer(c customerDraft) (*templates.Rendered, storedMail, string, error) {
	r, err := d.tmpl.Render(c.kind, d.customerData(c))
	if err != nil {
		return nil, storedMail{}, "", fmt.Errorf("rendering %s: %w", c.kind, err)
	}
	from := Person{Name: d.signature(c.lead), Address: d.cfg.SupportAddress}
	m := storedMail{
		From: from,
		To:   []Person{{Name: strings.TrimSpace(c.to.Name), Address: strings.TrimSpace(c.to.Address)}},
		Text: r.Text,
		HTML: r.HTML,
	}
	// No Sender field (RFC 5322 section 3.6.2): the support address is
	// the author's mailbox, and naming the escalations mailbox that
	// really sends would tell the customer where reports go.
	if d.cfg.CustomerReplyTo == ReplyToLead && isAddress(c.lead.Address) {
		m.ReplyTo = []Person{{Name: d.signature(c.lead), Address: strings.TrimSpace(c.lead.Address)}}
	} else {
		m.ReplyTo = []Person{{Name: strings.TrimSpace(d.cfg.OrgName), Address: d.cfg.SupportAddress}}
	}
	if refs := c.refs; len(refs) > 0 {
		m.InReplyTo = refs[len(refs)-1]
		if len(refs) > maxReferences {
			refs = append(refs[:1:1], refs[len(refs)-maxReferences+1:]...)
		}
		m.References = refs
	}
	return r, m, oneLine(r.Subject), nil
}

// Preview renders template name exactly as backstop would send it now, for
// `backstop templates preview NAME [--incident INC-n]`, and returns the
// email as it would be delivered (ID 0: not stored; the Message-ID is a
// fresh one; the envelope sender shows outbox id 0).
//
// For a customer email (boundary, parting_ways, escalation) of an incident
// it takes the same code path as the real email: signed by lead (zero: the
// incident's lead, else the first configured lead), threaded, with the
// evidence dates and the boundary date of the incident. An escalation goes
// to the target of the incident's latest escalation, else to a placeholder
// "manager@" the customer's domain. For an internal email it renders the
// incident's data as the desk fills it for that email, with the parts that
// only a command supplies (the command, its outcome, a reason) empty.
//
// incidentID 0 renders templates.SampleFor(name) with this configuration's
// organisation. An unknown incident gives an error wrapping ErrNotFound.
func (d *Desk) Preview(ctx context.Context, name string, incidentID int64, lead Person) (*templates.Rendered, *OutMail, error) {
	if !nameKnown(d.tmpl, name) {
		return nil, nil, fmt.Errorf("workflow: no template named %q; known: %s", name, strings.Join(d.tmpl.Names(), ", "))
	}
	now := d.now()
	if incidentID == 0 {
		return d.previewSample(name, lead, now)
	}
	inc, err := loadIncident(ctx, d.st.db, incidentID)
	if err != nil {
		return nil, nil, fmt.Errorf("workflow: preview: %w", err)
	}
	if lead.Address == "" && lead.Name == "" {
		lead = inc.Lead
		if lead.Address == "" {
			lead = d.cfg.Leads[0]
		}
	}
	if l, ok := d.leads[lower(lead.Address)]; ok && lead.Name == "" {
		lead = l
	}
	if templates.IsCustomer(name) {
		to, target := inc.Customer, Person{}
		if name == templates.Escalation {
			target, err = d.lastTarget(ctx, d.st.db, inc)
			if err != nil {
				return nil, nil, err
			}
			to = target
		}
		c, err := d.draftCustomer(ctx, d.st.db, inc, name, lead, to, target, now)
		if err != nil {
			return nil, nil, err
		}
		r, m, subject, err := d.renderCustomer(c)
		if err != nil {
			return nil, nil, err
		}
		return r, d.previewMail(inc.ID, name, true, subject, m), nil
	}
	data := d.baseData(inc, lead, now)
	data.Lead = templates.Person(inc.Lead)
	to := lead
	switch name {
	case templates.ReporterAck, templates.ReporterOutcome:
		to = inc.Reporter
		data.Recipient = templates.Person(inc.Reporter)
	case templates.LeadNotice, templates.EvidenceAdded:
		data.EvidenceMode = d.cfg.Evidence
		if data.Incident.Evidence, err = d.allEvidence(ctx, d.st.db, inc.ID, d.cfg.Evidence == EvidenceInline); err != nil {
			return nil, nil, err
		}
		tx, err := d.st.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return nil, nil, err
		}
		data.History, err = d.history(ctx, tx, inc)
		tx.Rollback()
		if err != nil {
			return nil, nil, err
		}
	}
	r, err := d.tmpl.Render(name, data)
	if err != nil {
		return nil, nil, err
	}
	m := storedMail{
		From:          Person{Name: d.cfg.FromName, Address: d.cfg.Escalations},
		To:            []Person{to},
		ReplyTo:       []Person{{Name: d.cfg.FromName, Address: tokenAddress(d.cfg.Escalations, Token(d.cfg.Secret, inc.ID, to.Address))}},
		AutoSubmitted: "auto-generated",
		Headers:       [][2]string{{"X-Backstop-Incident", inc.Ref()}, {"X-Auto-Response-Suppress", "All"}},
		Text:          r.Text,
		HTML:          r.HTML,
	}
	return r, d.previewMail(inc.ID, name, false, "["+inc.Ref()+"] "+oneLine(r.Subject), m), nil
}

func nameKnown(s *templates.Set, name string) bool {
	for _, n := range s.Names() {
		if n == name {
			return true
		}
	}
	return false
}

// previewSample renders the sample data with this configuration's
// organisation and, for customer emails, its headers.
func (d *Desk) previewSample(name string, lead Person, now time.Time) (*templates.Rendered, *OutMail, error) {
	data := templates.SampleFor(name)
	data.Org = templates.Org{Name: d.cfg.OrgName, SupportAddress: d.cfg.SupportAddress, Timezone: d.cfg.Timezone}
	if lead.Address != "" || lead.Name != "" {
		data.Lead = templates.Person(lead)
		if name == templates.CustomerPreview || !templates.IsCustomer(name) && data.Recipient == data.Lead {
			data.Recipient = templates.Person(lead)
		}
	}
	if templates.IsCustomer(name) {
		sample := &Incident{
			ID: 7, State: data.Incident.State, Customer: Person(data.Customer), Subject: data.Incident.Subject,
			Created: data.Incident.Created, Messages: data.Incident.MessageCount,
			FirstMessage: data.Incident.FirstDate, LastMessage: data.Incident.LastDate,
		}
		to := Person(data.Customer)
		if name == templates.Escalation {
			to = Person(data.Target)
		}
		c := customerDraft{
			kind: name, inc: sample, lead: Person(data.Lead), to: to, target: Person(data.Target),
			evidence: data.Incident.Evidence, boundarySent: data.BoundarySent, now: data.Now,
		}
		r, m, subject, err := d.renderCustomer(c)
		if err != nil {
			return nil, nil, err
		}
		return r, d.previewMail(0, name, true, subject, m), nil
	}
	r, err := d.tmpl.Render(name, data)
	if err != nil {
		return nil, nil, err
	}
	to := Person(data.Recipient)
	m := storedMail{
		From:          Person{Name: d.cfg.FromName, Address: d.cfg.Escalations},
		To:            []Person{to},
		AutoSubmitted: "auto-generated",
		Text:          r.Text,
		HTML:          r.HTML,
	}
	subject := oneLine(r.Subject)
	if data.Incident.ID != "" {
		subject = "[" + data.Incident.ID + "] " + subject
	}
	return r, d.previewMail(0, name, false, subject, m), nil
}

// previewMail turns a built email into the OutMail a preview shows.
func (d *Desk) previewMail(incident int64, name string, customer bool, subject string, m storedMail) *OutMail {
	token := ""
	if !customer {
		if len(m.To) > 0 {
			token = Token(d.cfg.Secret, incident, m.To[0].Address)
		}
	}
	out := &OutMail{
		IncidentID: incident, Template: name, Customer: customer,
		From: m.From, Sender: m.Sender, To: m.To, ReplyTo: m.ReplyTo,
		Subject: subject, MessageID: d.messageIDFor(token, customer), InReplyTo: m.InReplyTo, References: m.References,
		AutoSubmitted: m.AutoSubmitted, Headers: m.Headers, Text: m.Text, HTML: m.HTML,
	}
	for _, p := range m.To {
		out.Rcpt = append(out.Rcpt, p.Address)
	}
	out.EnvelopeFrom = d.envelopeFor(0, customer)
	return out
}

// lastTarget returns whom the incident's latest escalation went to, or a
// placeholder at the customer's domain.
func (d *Desk) lastTarget(ctx context.Context, q querier, inc *Incident) (Person, error) {
	var blob []byte
	err := q.QueryRowContext(ctx, `SELECT mail FROM outbox WHERE incident_id = ? AND customer = 1 AND template = ? ORDER BY id DESC LIMIT 1`,
		inc.ID, templates.Escalation).Scan(&blob)
	switch {
	case err == nil:
		var m storedMail
		if jsonErr := json.Unmarshal(blob, &m); jsonErr == nil && len(m.To) > 0 {
			return m.To[0], nil
		}
	case !errors.Is(err, sql.ErrNoRows):
		return Person{}, fmt.Errorf("reading the latest escalation: %w", err)
	}
	dom := domainOf(inc.Customer.Address)
	if dom == "" {
		dom = "example.com"
	}
	return Person{Name: "(the escalation's recipient)", Address: "manager@" + dom}, nil
}
