package workflow

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"backstop/templates"
)

// outItem is an email to put in the outbox.
type outItem struct {
	incident  *Incident // nil: about no incident (quarantine notices)
	template  string
	to        Person
	customer  bool // never set: customer emails go through queueCustomer
	data      *templates.Data
	attach    []storedAttachment
	state     string    // OutQueued (default) or OutHeld
	notBefore time.Time // zero: now
	cause     string    // Message-ID of the email that caused it, for the audit trail
	first     bool      // the first notice about a new incident: never held back (caps.go)
	summary   bool      // a summary of held-back notices: never itself held back
	// scheduled emails (digest, reminders, check-ins) skip the hourly
	// caps: the scheduler bounds them by construction (one per lead per
	// week, one per incident per interval), and a cap must not lose them.
	scheduled bool
}

// storedMail is the outbox's mail column: an OutMail without what has its
// own column. Evidence attachments refer to the stored message instead of
// copying it.
type storedMail struct {
	From          Person             `json:"from"`
	Sender        *Person            `json:"sender,omitempty"`
	To            []Person           `json:"to"`
	Cc            []Person           `json:"cc,omitempty"`
	ReplyTo       []Person           `json:"reply_to,omitempty"`
	InReplyTo     string             `json:"in_reply_to,omitempty"`
	References    []string           `json:"references,omitempty"`
	AutoSubmitted string             `json:"auto_submitted,omitempty"`
	Headers       [][2]string        `json:"headers,omitempty"`
	Text          string             `json:"text"`
	HTML          string             `json:"html"`
	Attachments   []storedAttachment `json:"attachments,omitempty"`
}

type storedAttachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Data        []byte `json:"data,omitempty"`
	MessageRow  int64  `json:"message_row,omitempty"` // the raw message of this messages row
}

// maxReferences bounds the References field: the thread's root and the most
// recent emails.
const maxReferences = 10

// queue renders an internal email and puts it in the outbox, unless a rate
// cap is reached (then the audit trail says so). Each email has one
// recipient, its own reply token and a Message-ID carrying the token, and
// threads under the earlier emails of the incident to the same recipient.
// Customer emails go through queueCustomer instead.
func (d *Desk) queue(ctx context.Context, tx *sql.Tx, now time.Time, it outItem, queued *int) error {
	_, err := d.queueMail(ctx, tx, now, it, queued)
	return err
}

// queueMail is queue reporting the outbox id (0 when a cap suppressed the
// email).
func (d *Desk) queueMail(ctx context.Context, tx *sql.Tx, now time.Time, it outItem, queued *int) (int64, error) {
	if it.customer {
		return 0, fmt.Errorf("queueing %s: customer emails go through queueCustomer", it.template)
	}
	var incID int64
	if it.incident != nil {
		incID = it.incident.ID
	}
	rcpt := strings.TrimSpace(it.to.Address)
	if !isAddress(rcpt) {
		return 0, fmt.Errorf("queueing %s: %q is not an address", it.template, it.to.Address)
	}
	if d.isForbiddenRecipient(rcpt) {
		return 0, fmt.Errorf("queueing %s: refusing to send to %s, backstop's own address", it.template, rcpt)
	}
	// Scheduled emails skip the caps (see outItem.scheduled).
	if !neverHeldBack(it) && !it.summary && !it.scheduled {
		if capped, why, err := d.capReached(ctx, tx, now, incID, lower(rcpt), it.template, 0); err != nil {
			return 0, err
		} else if capped {
			return 0, d.holdBack(ctx, tx, now, incID, rcpt, it.template, why, it.cause) // caps.go
		}
	}

	r, err := d.tmpl.Render(it.template, it.data)
	if err != nil {
		return 0, fmt.Errorf("rendering %s: %w", it.template, err)
	}
	token := Token(d.cfg.Secret, incID, rcpt)
	m := storedMail{
		From:    Person{Name: d.cfg.FromName, Address: d.cfg.Escalations},
		To:      []Person{{Name: it.to.Name, Address: rcpt}},
		ReplyTo: []Person{{Name: d.cfg.FromName, Address: tokenAddress(d.cfg.Escalations, token)}},
		Text:    r.Text,
		HTML:    r.HTML,
	}
	subject := oneLine(r.Subject)
	if it.incident != nil {
		subject = "[" + it.incident.Ref() + "] " + subject
		m.Headers = append(m.Headers, [2]string{"X-Backstop-Incident", it.incident.Ref()})
		refs, err := d.thread(ctx, tx, incID, lower(rcpt))
		if err != nil {
			return 0, err
		}
		if len(refs) > 0 {
			m.InReplyTo = refs[len(refs)-1]
			if len(refs) > maxReferences {
				refs = append(refs[:1], refs[len(refs)-maxReferences+1:]...)
			}
			m.References = refs
		}
	}
	// RFC 3834 section 5: machine-generated, not to be answered
	// automatically; Microsoft servers honour the second header.
	m.AutoSubmitted = "auto-generated"
	m.Headers = append(m.Headers, [2]string{"X-Auto-Response-Suppress", "All"})
	m.Attachments = it.attach
	id, msgID, err := d.insertOutbox(ctx, tx, now, outRecord{
		incident: incID, template: it.template, recipient: rcpt, token: token,
		messageID: newMessageID(token, d.domain), subject: subject, mail: m,
		state: it.state, notBefore: it.notBefore,
	})
	if err != nil {
		return 0, err
	}
	if queued != nil {
		*queued++
	}
	what := fmt.Sprintf("%s to %s (outbox #%d)", it.template, rcpt, id)
	if it.state == OutHeld {
		what += ", held until " + it.notBefore.In(d.cfg.Timezone).Format(eventTime)
	}
	return id, d.event(ctx, tx, incID, now, Actor, EventMailQueued, what, msgID)
}

// eventTime is how times read in event details.
const eventTime = "2 Jan 2006 15:04 MST"

// outRecord is an outbox row to insert.
type outRecord struct {
	incident    int64
	template    string
	customer    bool
	recipient   string
	token       string // "" for customer emails: they carry no reply token
	messageID   string
	subject     string
	mail        storedMail
	state       string    // OutQueued (default), OutHeld, OutAwaitingApproval
	notBefore   time.Time // zero: now
	requestedBy string
	prevState   string
}

// encode returns m as stored in the outbox's mail column: JSON, with
// "<", ">" and "&" as they are (json.Marshal's escaping of them, meant for
// HTML pages, would make an HTML body larger to store and to seal, and
// slower to write; it reads back the same either way).
func (m *storedMail) encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// insertOutbox stores an email, with the envelope sender of envelopeFor.
func (d *Desk) insertOutbox(ctx context.Context, tx *sql.Tx, now time.Time, r outRecord) (int64, string, error) {
	blob, err := r.mail.encode()
	if err != nil {
		return 0, "", fmt.Errorf("encoding %s: %w", r.template, err)
	}
	rcptJSON, _ := json.Marshal([]string{r.recipient})
	if r.state == "" {
		r.state = OutQueued
	}
	if r.notBefore.IsZero() {
		r.notBefore = now
	}
	id, err := d.st.nextID(ctx, tx, "outbox")
	if err != nil {
		return 0, "", err
	}
	// Bounces come back to local+bounce-ID-SIG@domain and name the row
	// (bounce.go).
	envelope := d.envelopeFor(id, r.customer)
	_, err = tx.ExecContext(ctx, `
		INSERT INTO outbox (id, incident_id, template, customer, recipient, token, envelope_from, rcpt, message_id, subject,
			mail, state, not_before, created_at, requested_by, prev_state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, nullID(r.incident), r.template, r.customer, lower(r.recipient), r.token, envelope, string(rcptJSON), r.messageID,
		d.st.sealString("outbox", "subject", id, r.subject),
		d.st.seal("outbox", "mail", id, blob), r.state, ms(r.notBefore), ms(now), lower(r.requestedBy), r.prevState)
	if err != nil {
		return 0, "", fmt.Errorf("queueing %s: %w", r.template, err)
	}
	return id, r.messageID, nil
}

// deliveryNotice queues a delivery notice (delivery_failed,
// uncertain_delivery) about row to each of to.
func (d *Desk) deliveryNotice(ctx context.Context, tx *sql.Tx, now time.Time, row *outRow, inc *Incident, name, reason string, to []Person) error {
	for _, lead := range to {
		data := d.baseData(inc, lead, now)
		data.Reason = reason
		data.MessageSubj = row.Subject
		data.MessageFrom = row.mail.From.String()
		rcpt := row.Recipient
		if len(row.mail.To) > 0 {
			rcpt = row.mail.To[0].String()
		}
		data.Detail = fmt.Sprintf("%s to %s (outbox #%d)", row.Template, rcpt, row.ID)
		data.EmailKind = row.Template
		data.EmailTo = templates.Person{Address: row.Recipient}
		if len(row.mail.To) > 0 {
			data.EmailTo = templates.Person(row.mail.To[0])
		}
		data.SendAt = row.Sent
		if err := d.queue(ctx, tx, now, outItem{incident: inc, template: name, to: lead, data: data, cause: row.MessageID}, nil); err != nil {
			return err
		}
	}
	return nil
}

// isForbiddenRecipient refuses backstop's own address as a recipient: that
// would be a loop.
func (d *Desk) isForbiddenRecipient(addr string) bool {
	return sameMailbox(addr, d.cfg.Escalations)
}

// capReached applies the loop brakes: emails per incident, per recipient,
// and quarantine notices per recipient, in the last hour. more is how many
// other emails of the incident are about to be queued with this one (a
// customer email and its preview must both fit, or neither goes).
func (d *Desk) capReached(ctx context.Context, tx *sql.Tx, now time.Time, incident int64, rcpt, template string, more int) (bool, string, error) {
	since := ms(now.Add(-time.Hour))
	// count counts the rows of the window, but never more than limit: a
	// cap only needs to know whether it is reached, and the indexed range
	// it walks then stays as short as the cap however many emails a burst
	// queued (or held back) within the hour.
	count := func(limit int, q string, args ...any) (int, error) {
		var n int
		err := tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM outbox WHERE "+q+" LIMIT ?)", append(args, limit)...).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("counting recent emails: %w", err)
		}
		return n, nil
	}
	if incident != 0 {
		n, err := count(d.cfg.MaxPerIncidentHour, "incident_id = ? AND created_at > ?", incident, since)
		if err != nil || n+more >= d.cfg.MaxPerIncidentHour {
			return err == nil, fmt.Sprintf("at most %d emails per incident per hour", d.cfg.MaxPerIncidentHour), err
		}
	}
	n, err := count(d.cfg.MaxPerRecipientHour, "recipient = ? AND created_at > ?", rcpt, since)
	if err != nil || n >= d.cfg.MaxPerRecipientHour {
		return err == nil, fmt.Sprintf("at most %d emails per recipient per hour", d.cfg.MaxPerRecipientHour), err
	}
	if template == templates.QuarantineNotice {
		// They answer untrusted input: a flood of spam must not use up
		// the leads' allowance for real incidents. (Security notices are
		// never held back: caps.go.)
		n, err := count(d.cfg.MaxQuarantineHour, "recipient = ? AND template = ? AND created_at > ?",
			rcpt, templates.QuarantineNotice, since)
		if err != nil || n >= d.cfg.MaxQuarantineHour {
			return err == nil, fmt.Sprintf("at most %d quarantine notices per recipient per hour", d.cfg.MaxQuarantineHour), err
		}
	}
	return false, "", nil
}

// thread returns the Message-IDs of the earlier emails of an incident to a
// recipient, oldest first: the first is the thread's root, the last the one
// a new email answers.
func (d *Desk) thread(ctx context.Context, tx *sql.Tx, incident int64, rcpt string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT message_id FROM outbox WHERE incident_id = ? AND recipient = ? AND customer = 0 ORDER BY id", incident, rcpt)
	if err != nil {
		return nil, fmt.Errorf("threading: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// oneLine makes s safe for a header: no line breaks.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

const outboxColumns = `id, incident_id, template, customer, recipient, envelope_from, rcpt, message_id, subject, mail,
	state, not_before, attempts, last_error, created_at, sent_at, requested_by, approved_by, prev_state`

// outRow is a full outbox row.
type outRow struct {
	OutboxRow
	envelope string
	rcpt     []string
	mail     storedMail
	purged   bool // the content was purged by retention
}

func (s *Store) scanOutRow(r scanner) (*outRow, error) {
	var o outRow
	var inc, notBefore, created, sent sql.NullInt64
	var rcpt string
	var blob, subject []byte
	err := r.Scan(&o.ID, &inc, &o.Template, &o.Customer, &o.Recipient, &o.envelope, &rcpt, &o.MessageID, &subject, &blob,
		&o.State, &notBefore, &o.Attempts, &o.LastError, &created, &sent, &o.RequestedBy, &o.ApprovedBy, &o.PrevState)
	if err != nil {
		return nil, err
	}
	o.IncidentID = inc.Int64
	o.NotBefore, o.Created, o.Sent = fromMS(notBefore), fromMS(created), fromMS(sent)
	if err := json.Unmarshal([]byte(rcpt), &o.rcpt); err != nil {
		return nil, fmt.Errorf("outbox #%d: bad recipient list: %w", o.ID, err)
	}
	if o.Subject, err = s.openString("outbox", "subject", o.ID, subject); err != nil {
		return nil, err
	}
	if blob, err = s.open("outbox", "mail", o.ID, blob); err != nil {
		return nil, err
	}
	if len(blob) == 0 {
		// Purged by retention (retention.evidence): the row stays, its
		// content is gone.
		o.mail = storedMail{}
		o.purged = true
		return &o, nil
	}
	if err := json.Unmarshal(blob, &o.mail); err != nil {
		return nil, fmt.Errorf("outbox #%d: bad mail: %w", o.ID, err)
	}
	return &o, nil
}

func (s *Store) loadOutRow(ctx context.Context, q querier, id int64) (*outRow, error) {
	o, err := s.scanOutRow(q.QueryRowContext(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("outbox #%d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading outbox #%d: %w", id, err)
	}
	return o, nil
}

// outMail turns a row into the email to deliver, fetching evidence
// attachments from the messages table. Evidence no longer stored is left
// out.
func (o *outRow) outMail(ctx context.Context, s *Store, q querier) (*OutMail, error) {
	if o.purged {
		return nil, fmt.Errorf("outbox #%d: its content was purged under retention.evidence", o.ID)
	}
	m := &OutMail{
		ID:            o.ID,
		IncidentID:    o.IncidentID,
		Template:      o.Template,
		Customer:      o.Customer,
		EnvelopeFrom:  o.envelope,
		Rcpt:          o.rcpt,
		From:          o.mail.From,
		Sender:        o.mail.Sender,
		To:            o.mail.To,
		Cc:            o.mail.Cc,
		ReplyTo:       o.mail.ReplyTo,
		Subject:       o.Subject,
		MessageID:     o.MessageID,
		InReplyTo:     o.mail.InReplyTo,
		References:    o.mail.References,
		AutoSubmitted: o.mail.AutoSubmitted,
		Headers:       o.mail.Headers,
		Text:          o.mail.Text,
		HTML:          o.mail.HTML,
		Created:       o.Created,
	}
	for _, a := range o.mail.Attachments {
		data := a.Data
		if a.MessageRow != 0 {
			var chunks int
			var size int64
			err := q.QueryRowContext(ctx, "SELECT raw, raw_chunks, size FROM messages WHERE id = ?", a.MessageRow).Scan(&data, &chunks, &size)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("outbox #%d: reading the attached message: %w", o.ID, err)
			}
			if chunks > 0 {
				// A large message is read chunk by chunk as it is sent.
				row := a.MessageRow
				m.Attachments = append(m.Attachments, Attachment{Filename: a.Filename, ContentType: a.ContentType, Size: size,
					Open: func(ctx context.Context) (io.ReadCloser, error) {
						r, err := s.openRaw(ctx, s.db, row)
						if err == nil && r == nil {
							err = fmt.Errorf("store: the attached message (row %d) was purged", row)
						}
						if err != nil {
							return nil, fmt.Errorf("outbox #%d: %w", o.ID, err)
						}
						return r, nil
					}})
				continue
			}
			if data, err = s.open("messages", "raw", a.MessageRow, data); err != nil {
				return nil, fmt.Errorf("outbox #%d: %w", o.ID, err)
			}
			if data == nil {
				continue
			}
		}
		m.Attachments = append(m.Attachments, Attachment{Filename: a.Filename, ContentType: a.ContentType, Data: data})
	}
	return m, nil
}

// Mail returns outbox row id as the email it delivers (or delivered).
func (s *Store) Mail(ctx context.Context, id int64) (*OutMail, error) {
	o, err := s.loadOutRow(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	return o.outMail(ctx, s, s.db)
}
