package workflow

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"backstop/templates"
)

// customerOf picks the customer of a forwarded conversation: the sender of
// the first original (outermost first) whose address is outside the team.
// When no original shows a non-team address but one names its sender
// without an address, that name is the customer and the address is unknown.
// Names of leads and of the reporter are not taken for a customer's. ok is
// false when every original is from the team.
func (d *Desk) customerOf(originals []Original, reporter Person) (Person, bool) {
	for _, o := range originals {
		a := strings.TrimSpace(o.From.Address)
		if a != "" && !d.isTeam(a) {
			return Person{Name: strings.TrimSpace(o.From.Name), Address: a}, true
		}
	}
	for _, o := range originals {
		name := strings.TrimSpace(o.From.Name)
		if strings.TrimSpace(o.From.Address) == "" && name != "" && !d.isLeadName(name) &&
			!strings.EqualFold(name, strings.TrimSpace(reporter.Name)) {
			return Person{Name: strings.TrimSpace(o.From.Name)}, true
		}
	}
	return Person{}, false
}

// isLeadName reports whether name is a lead's display name (a quote header
// that lost the address).
func (d *Desk) isLeadName(name string) bool {
	for _, l := range d.leads {
		if l.Name != "" && strings.EqualFold(strings.TrimSpace(l.Name), strings.TrimSpace(name)) {
			return true
		}
	}
	return false
}

// forward records a team member's forward: new evidence on the customer's
// open incident, or a new incident. Forwards are threaded by customer
// address only, never by subject; an unknown customer always gets a new
// incident, so that two customers never share one.
func (h *handling) forward(cust Person) (Disposition, error) {
	open, err := h.openIncidentOf(cust.Address)
	if err != nil {
		return 0, err
	}
	if open != nil {
		return h.addEvidence(open, cust)
	}
	return h.newIncident(cust)
}

// openIncidentOf returns the customer's open incident, nil when none.
func (h *handling) openIncidentOf(addr string) (*Incident, error) {
	addr = lower(addr)
	if addr == "" {
		return nil, nil
	}
	var id int64
	err := h.tx.QueryRowContext(h.ctx, `
		SELECT id FROM incidents WHERE customer_address = ? AND state NOT IN (?, ?)
		ORDER BY id DESC LIMIT 1`, addr, StateResolved, StateClosed).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking for the customer's open incident: %w", err)
	}
	return loadIncident(h.ctx, h.d.st, h.tx, id)
}

// customerMessageID returns the Message-ID of the latest original from the
// customer, when the forward carries it.
func customerMessageID(originals []Original, cust Person) string {
	if cust.Address == "" {
		return ""
	}
	for _, o := range originals {
		if strings.EqualFold(strings.TrimSpace(o.From.Address), cust.Address) && o.MessageID != "" {
			return strings.Trim(o.MessageID, "<> ")
		}
	}
	return ""
}

func (h *handling) reporter() Person {
	return Person{Name: strings.TrimSpace(h.in.From.Name), Address: strings.TrimSpace(h.in.From.Address)}
}

// newIncident opens an incident for cust, records the evidence, and queues
// the reporter's acknowledgement and a notice to every lead.
func (h *handling) newIncident(cust Person) (Disposition, error) {
	in := h.in
	subject := in.Subject
	for _, o := range in.Originals {
		if cust.Address != "" && strings.EqualFold(strings.TrimSpace(o.From.Address), cust.Address) && o.Subject != "" {
			subject = o.Subject
			break
		}
	}
	rep := h.reporter()
	org := organisationOf(cust.Address, h.d.cfg.FreeMailDomains)
	id, err := h.d.st.nextID(h.ctx, h.tx, "incidents")
	if err != nil {
		return 0, err
	}
	_, err = h.tx.ExecContext(h.ctx, `
		INSERT INTO incidents (id, state, customer_address, customer_name, organisation, reporter_address, reporter_name,
			subject, customer_message_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, StateReported, lower(cust.Address), cust.Name, org, lower(rep.Address), rep.Name,
		h.d.st.sealString("incidents", "subject", id, BaseSubject(subject)), customerMessageID(in.Originals, cust), ms(h.now), ms(h.now))
	if err != nil {
		return 0, fmt.Errorf("opening an incident: %w", err)
	}
	h.opened = id
	h.d.st.newChain(h.tx, chainOf(id))
	if err := h.record(ClassForward, Processed, id, "new incident", true); err != nil {
		return 0, err
	}
	added, _, err := h.addOriginals(id)
	if err != nil {
		return 0, err
	}
	custDesc := cust.Address
	switch {
	case cust.Address == "" && h.unread != "":
		custDesc = "an unknown customer (" + h.unread + "; the whole message is the evidence)"
	case cust.Address == "" && cust.Name != "":
		custDesc = cust.Name + " (address unknown)"
	case cust.Address == "":
		custDesc = "an unknown customer (every forwarded message is from the team)"
	}
	if err := h.event(id, EventReported, fmt.Sprintf("forwarded %d message(s) from %s%s", added, custDesc, h.forwardDetail())); err != nil {
		return 0, err
	}
	inc, err := loadIncident(h.ctx, h.d.st, h.tx, id)
	if err != nil {
		return 0, err
	}
	history, err := h.d.history(h.ctx, h.tx, inc)
	if err != nil {
		return 0, err
	}
	if err := h.ackReporter(inc); err != nil {
		return 0, err
	}
	for _, lead := range h.d.cfg.Leads {
		if err := h.notifyLead(inc, lead, templates.LeadNotice, history, true); err != nil {
			return 0, err
		}
	}
	return Processed, nil
}

// addEvidence adds a forward to the customer's open incident and tells the
// assigned lead (or every lead); a reporter new to the incident gets an
// acknowledgement.
func (h *handling) addEvidence(inc *Incident, cust Person) (Disposition, error) {
	in := h.in
	rep := h.reporter()
	newReporter, err := h.newReporter(inc, rep.Address)
	if err != nil {
		return 0, err
	}
	if err := h.record(ClassForward, Processed, inc.ID, "evidence for "+inc.Ref(), true); err != nil {
		return 0, err
	}
	added, known, err := h.addOriginals(inc.ID)
	if err != nil {
		return 0, err
	}
	detail := fmt.Sprintf("forwarded %d new message(s)", added)
	if known > 0 {
		detail += fmt.Sprintf(", %d already recorded", known)
	}
	if err := h.event(inc.ID, EventEvidence, detail+h.forwardDetail()); err != nil {
		return 0, err
	}
	mid := customerMessageID(in.Originals, cust)
	_, err = h.tx.ExecContext(h.ctx, `
		UPDATE incidents SET updated_at = ?,
			customer_message_id = CASE WHEN ? != '' THEN ? ELSE customer_message_id END,
			customer_name = CASE WHEN customer_name = '' THEN ? ELSE customer_name END
		WHERE id = ?`, ms(h.now), mid, mid, cust.Name, inc.ID)
	if err != nil {
		return 0, fmt.Errorf("updating %s: %w", inc.Ref(), err)
	}
	if inc, err = loadIncident(h.ctx, h.d.st, h.tx, inc.ID); err != nil {
		return 0, err
	}
	if newReporter {
		if err := h.ackReporter(inc); err != nil {
			return 0, err
		}
	}
	if added == 0 {
		// The same conversation forwarded again: nothing new for the
		// leads (the audit trail has it).
		return Processed, nil
	}
	leads := h.d.cfg.Leads
	if inc.Lead.Address != "" {
		leads = []Person{inc.Lead}
	}
	for _, lead := range leads {
		if err := h.notifyLead(inc, lead, templates.EvidenceAdded, nil, false); err != nil {
			return 0, err
		}
	}
	return Processed, nil
}

// newReporter reports whether addr has not reported on inc before.
func (h *handling) newReporter(inc *Incident, addr string) (bool, error) {
	addr = lower(addr)
	if addr == lower(inc.Reporter.Address) {
		return false, nil
	}
	var n int
	err := h.tx.QueryRowContext(h.ctx, `SELECT count(*) FROM messages WHERE incident_id = ? AND class = ? AND from_address = ?`,
		inc.ID, ClassForward, addr).Scan(&n)
	return n == 0, err
}

// forwardDetail describes the forward for the audit trail: whether its
// sender was authenticated, the forwarder's note, attachments and parser
// warnings.
func (h *handling) forwardDetail() string {
	var b strings.Builder
	// Anyone can write a teammate's address in From. A forward opens an
	// incident all the same (it costs the customer nothing: only verified
	// leads can make backstop write to a customer), but the trail says so.
	if len(h.d.trusted) > 0 && !h.d.domainPasses(h.in.Auth, domainOf(h.in.From.Address)) {
		b.WriteString("; sender not authenticated (no dmarc=pass from a trusted server): the From may be forged")
	}
	if n := strings.TrimSpace(h.in.Note); n != "" {
		b.WriteString("; note: ")
		b.WriteString(truncate(n, maxNote))
	}
	if len(h.in.Attachments) > 0 {
		b.WriteString("; attachments: ")
		b.WriteString(strings.Join(h.in.Attachments, "; "))
	}
	if len(h.in.Warnings) > 0 {
		b.WriteString("; parser warnings: ")
		b.WriteString(strings.Join(h.in.Warnings, "; "))
	}
	if h.in.hasBody() {
		// The original's hash enters the hash-chained trail: Verify
		// checks the stored message against it.
		if sum, err := h.in.digest(); err == nil {
			b.WriteString(shaMark)
			b.WriteString(sum)
		}
	}
	return b.String()
}

// addOriginals records the forwarded originals as evidence, skipping those
// the incident already has (same Message-ID, or same sender, date, subject
// and text).
func (h *handling) addOriginals(incident int64) (added, known int, err error) {
	for i, o := range h.in.Originals {
		mid := strings.Trim(strings.TrimSpace(o.MessageID), "<>")
		from := lower(o.From.Address)
		var one int
		sum := digest([]byte(o.Body))
		err := h.tx.QueryRowContext(h.ctx, `
			SELECT 1 FROM evidence WHERE incident_id = ?
			AND ((? != '' AND message_id = ?) OR (sha256 = ? AND from_address = ? AND date_raw = ?))
			LIMIT 1`, incident, mid, mid, sum, from, o.DateRaw).Scan(&one)
		if err == nil {
			known++
			continue
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, 0, fmt.Errorf("checking evidence: %w", err)
		}
		id, err := h.d.st.nextID(h.ctx, h.tx, "evidence")
		if err != nil {
			return 0, 0, err
		}
		st := h.d.st
		_, err = h.tx.ExecContext(h.ctx, `
			INSERT INTO evidence (id, incident_id, message_row, idx, from_address, from_name, date, date_raw, subject, message_id, body, sha256)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, incident, h.rowID, i, from, strings.TrimSpace(o.From.Name), nullMS(o.Date), o.DateRaw,
			st.sealString("evidence", "subject", id, o.Subject), mid, st.sealString("evidence", "body", id, o.Body), sum)
		if err != nil {
			return 0, 0, fmt.Errorf("recording evidence: %w", err)
		}
		added++
	}
	return added, known, nil
}

// ackReporter queues the acknowledgement to the teammate who forwarded.
// A lead gets the lead notice instead.
func (h *handling) ackReporter(inc *Incident) error {
	rep := h.reporter()
	if rep.Address == "" || h.d.isLead(rep.Address) {
		return nil
	}
	data := h.d.baseData(inc, rep, h.now)
	data.Reporter = templates.Person(rep)
	if h.unread != "" {
		data.Reason = "backstop could not find the customer's message in your email, so it went to the leads as it is; they will identify the customer"
	}
	return h.d.queue(h.ctx, h.tx, h.now, outItem{
		incident: inc, template: templates.ReporterAck, to: rep, data: data, cause: h.in.MessageID,
	}, &h.queued)
}

// notifyLead queues a lead notice or evidence notice, carrying the forward
// per the evidence mode.
func (h *handling) notifyLead(inc *Incident, lead Person, name string, history []string, first bool) error {
	var err error
	data := h.d.baseData(inc, lead, h.now)
	if inc.Customer.Address == "" && inc.Customer.Name != "" {
		// The lead must know that the forward showed no address.
		data.Customer.Name += " (address not in the forward)"
	}
	data.Reason = h.leadWarning(inc)
	data.History = history
	data.EvidenceMode = h.d.cfg.Evidence
	// Suggest only what the lead may do now (a severed incident takes no
	// BOUNDARY or SEVER).
	if data.Allowed, err = h.allowedFor(inc, roleLead, lead.Address); err != nil {
		return err
	}
	data.Reporter = templates.Person(h.reporter())
	if inc.ID != h.opened { // an incident this message opened sent nothing yet
		sent, err := boundarySent(h.ctx, h.tx, inc.ID)
		if err != nil {
			return err
		}
		if !sent.IsZero() {
			data.BoundarySent = sent.In(h.d.cfg.Timezone)
		}
	}
	ev, err := h.d.evidenceOf(h.ctx, h.tx, inc.ID, h.rowID, h.d.cfg.Evidence == EvidenceInline)
	if err != nil {
		return err
	}
	data.Incident.Evidence = ev
	item := outItem{incident: inc, template: name, to: lead, data: data, cause: h.in.MessageID, first: first}
	if h.d.cfg.Evidence == EvidenceAttach && h.in.hasBody() {
		item.attach = []storedAttachment{{
			Filename:    fmt.Sprintf("%s-evidence.eml", inc.Ref()),
			ContentType: "message/rfc822",
			MessageRow:  h.rowID,
		}}
	}
	return h.d.queue(h.ctx, h.tx, h.now, item, &h.queued)
}

// evidenceOf lists the originals one message brought to an incident, with
// their text only when withBody.
func (d *Desk) evidenceOf(ctx context.Context, tx *sql.Tx, incident, messageRow int64, withBody bool) ([]templates.Evidence, error) {
	return d.scanEvidence(ctx, tx, withBody, `
		SELECT id, from_name, from_address, date, date_raw, subject, body FROM evidence
		WHERE incident_id = ? AND message_row = ? ORDER BY idx`, incident, messageRow)
}

// scanEvidence runs a query over evidence rows (id, from_name, from_address,
// date, date_raw, subject, body) and returns them for templates, dates in
// the organisation's zone and bodies only when asked for.
func (d *Desk) scanEvidence(ctx context.Context, q querier, withBody bool, query string, args ...any) ([]templates.Evidence, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading evidence: %w", err)
	}
	defer rows.Close()
	var out []templates.Evidence
	for rows.Next() {
		var e templates.Evidence
		var date sql.NullInt64
		var id int64
		var subject, body []byte
		if err := rows.Scan(&id, &e.From.Name, &e.From.Address, &date, &e.DateRaw, &subject, &body); err != nil {
			return nil, err
		}
		var err error
		if e.Subject, err = d.st.openString("evidence", "subject", id, subject); err != nil {
			return nil, err
		}
		if withBody {
			if e.Body, err = d.st.openString("evidence", "body", id, body); err != nil {
				return nil, err
			}
		}
		if e.Date = fromMS(date); !e.Date.IsZero() {
			e.Date = e.Date.In(d.cfg.Timezone)
		}
		if !withBody {
			e.Body = ""
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// history returns one line per earlier incident with the same customer or
// organisation, newest first: "INC-3, 12 Mar 2025: severed (jordan@globex.example)".
func (d *Desk) history(ctx context.Context, tx *sql.Tx, inc *Incident) ([]string, error) {
	cust, org := lower(inc.Customer.Address), inc.Organisation
	if cust == "" && org == "" {
		return nil, nil
	}
	// Two indexed lookups, not one OR: SQLite would walk every earlier
	// incident by id for the OR, a cost growing with the database. And
	// merged here rather than by a UNION, which sorts three times.
	type earlier struct {
		id, created int64
		state, who  string
	}
	var found []earlier
	for _, q := range []struct{ column, value string }{{"customer_address", cust}, {"organisation", org}} {
		if q.value == "" {
			continue
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, state, created_at, customer_address, customer_name FROM incidents
			WHERE `+q.column+` = ? AND id < ? ORDER BY id DESC LIMIT `+strconv.Itoa(maxHistory), q.value, inc.ID)
		if err != nil {
			return nil, fmt.Errorf("reading the customer's history: %w", err)
		}
		for rows.Next() {
			var e earlier
			var addr, name string
			if err := rows.Scan(&e.id, &e.state, &e.created, &addr, &name); err != nil {
				rows.Close()
				return nil, err
			}
			e.who = addr
			if e.who == "" {
				e.who = name
			}
			found = append(found, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("reading the customer's history: %w", err)
		}
	}
	slices.SortFunc(found, func(a, b earlier) int { return cmp.Compare(b.id, a.id) })
	found = slices.CompactFunc(found, func(a, b earlier) bool { return a.id == b.id })
	if len(found) > maxHistory {
		found = found[:maxHistory]
	}
	var lines []string
	for _, e := range found {
		lines = append(lines, fmt.Sprintf("%s, %s: %s (%s)", Ref(e.id), time.UnixMilli(e.created).In(d.cfg.Timezone).Format("2 Jan 2006"), e.state, e.who))
	}
	return lines, nil
}

// maxHistory is how many earlier incidents a lead notice lists.
const maxHistory = 10

// baseData fills what every template may use.
func (d *Desk) baseData(inc *Incident, to Person, now time.Time) *templates.Data {
	data := &templates.Data{
		Org:          templates.Org{Name: d.cfg.OrgName, SupportAddress: d.cfg.SupportAddress, Timezone: d.cfg.Timezone},
		Recipient:    templates.Person{Name: to.Name, Address: to.Address},
		Now:          now.In(d.cfg.Timezone),
		EvidenceMode: d.cfg.Evidence,
	}
	if inc == nil {
		return data
	}
	data.Incident = templates.Incident{
		ID:           inc.Ref(),
		State:        inc.State,
		Subject:      inc.Subject,
		Created:      inc.Created.In(d.cfg.Timezone),
		MessageCount: inc.Messages,
		FirstDate:    inc.FirstMessage,
		LastDate:     inc.LastMessage,
	}
	if !inc.FirstMessage.IsZero() {
		data.Incident.FirstDate = inc.FirstMessage.In(d.cfg.Timezone)
		data.Incident.LastDate = inc.LastMessage.In(d.cfg.Timezone)
	}
	data.Customer = templates.Person(inc.Customer)
	data.Organisation = inc.Organisation
	data.Reporter = templates.Person(inc.Reporter)
	data.Lead = templates.Person(inc.Lead)
	return data
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const incidentColumns = `i.id, i.state, i.customer_address, i.customer_name, i.organisation, i.reporter_address, i.reporter_name,
	i.lead_address, i.lead_name, i.subject, i.customer_message_id, i.handed_off, i.created_at, i.updated_at, i.closed_at,
	i.severed_at,
	(SELECT count(*) FROM evidence e WHERE e.incident_id = i.id),
	(SELECT min(date) FROM evidence e WHERE e.incident_id = i.id),
	(SELECT max(date) FROM evidence e WHERE e.incident_id = i.id)`

type scanner interface{ Scan(dest ...any) error }

func scanIncident(s *Store, r scanner) (*Incident, error) {
	var in Incident
	var handed int
	var created, updated, closed, severed, first, last sql.NullInt64
	var subject []byte
	err := r.Scan(&in.ID, &in.State, &in.Customer.Address, &in.Customer.Name, &in.Organisation,
		&in.Reporter.Address, &in.Reporter.Name, &in.Lead.Address, &in.Lead.Name, &subject,
		&in.CustomerMessageID, &handed, &created, &updated, &closed, &severed, &in.Messages, &first, &last)
	if err != nil {
		return nil, err
	}
	if in.Subject, err = s.openString("incidents", "subject", in.ID, subject); err != nil {
		return nil, err
	}
	in.HandedOff = handed != 0
	in.Created, in.Updated, in.Closed, in.Severed = fromMS(created), fromMS(updated), fromMS(closed), fromMS(severed)
	in.FirstMessage, in.LastMessage = fromMS(first), fromMS(last)
	return &in, nil
}

// loadIncident reads one incident.
func loadIncident(ctx context.Context, s *Store, q querier, id int64) (*Incident, error) {
	in, err := scanIncident(s, q.QueryRowContext(ctx, "SELECT "+incidentColumns+" FROM incidents i WHERE i.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", Ref(id), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", Ref(id), err)
	}
	return in, nil
}

// subjectPrefix matches reply and forward prefixes in many languages, and
// backstop's own tag, at the start of a subject.
var subjectPrefix = regexp.MustCompile(`(?i)^\s*(?:(?:re|fwd?|fw|aw|wg|tr|rv|rif|r|i|vs|vl|sv|antw|antwort|doorst|enc|res|ynt|ilt|odp|pd|fs|továbbítás|转发|回复|答复|返信|転送|\x{0391}\x{03A0}|\x{03A3}\x{03A7}\x{0395}\x{03A4})(?:\s*\[\d+\]|\s*\(\d+\))?\s*[:：]|\[INC-\d+\])\s*`)

// BaseSubject strips reply and forward prefixes (Re:, Fwd:, FW:, WG:, TR:,
// RV:, I:, VS:, AW:, SV:, …) and [INC-n] tags from subject. It is for
// display only: backstop never threads a forward by subject.
func BaseSubject(subject string) string {
	s := strings.TrimSpace(subject)
	for {
		t := subjectPrefix.ReplaceAllString(s, "")
		if t == s {
			return s
		}
		s = t
	}
}
