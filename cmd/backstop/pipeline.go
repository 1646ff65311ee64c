package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"backstop/mailbox"
	"backstop/mailbox/parse"
	"backstop/workflow"
)

// pipeline is the watcher's handler: it parses each message and hands the
// result to the desk, whose one transaction decides and records.
type pipeline struct {
	desk *workflow.Desk
	kick func() // wakes the dispatcher when mail was queued
	log  *slog.Logger
	// parseTime, when set, is told how long each parse took, in seconds.
	parseTime func(seconds float64)

	// group records the messages of the watcher's window in one
	// transaction, committed by Commit before the watcher moves them.
	group *workflow.Group
	// lost is set when a group was rolled back after some of its
	// messages were handled: the next Commit must fail, so that the
	// watcher moves none of them.
	lost error
}

var _ mailbox.Committer = (*pipeline)(nil)

// Prepare implements mailbox.Preparer: messages are parsed ahead, on
// another core, while the one before commits.
func (p *pipeline) Prepare(d *mailbox.Delivery) {
	d.Prepared = p.read(d)
}

// read parses a delivery, telling parseTime how long it took.
func (p *pipeline) read(d *mailbox.Delivery) *workflow.Inbound {
	start := time.Now()
	in := inbound(d)
	if p.parseTime != nil && (d.Raw != nil || d.Spool != nil) {
		p.parseTime(time.Since(start).Seconds())
	}
	return in
}

// Handle implements mailbox.Handler.
func (p *pipeline) Handle(ctx context.Context, d *mailbox.Delivery) (mailbox.Disposition, error) {
	in, ok := d.Prepared.(*workflow.Inbound)
	d.Prepared = nil // a retry reads the message afresh
	if !ok {
		in = p.read(d)
	}
	if p.group == nil {
		g, err := p.desk.BeginGroup(context.WithoutCancel(ctx))
		if err != nil {
			return mailbox.Keep, fmt.Errorf("recording message uid %d: %w", d.UID, err)
		}
		p.group = g
	}
	disp, err := p.group.Handle(ctx, in)
	if err != nil {
		// The watcher waits before it offers the message again: the
		// store's connection must not stay held meanwhile.
		if cerr := p.commitGroup(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return mailbox.Keep, fmt.Errorf("recording message uid %d: %w", d.UID, err)
	}
	if disp == workflow.Quarantined {
		return mailbox.Quarantined, nil
	}
	return mailbox.Processed, nil
}

// Commit implements mailbox.Committer: it makes the window's messages
// durable, then wakes the dispatcher for the mail they queued.
func (p *pipeline) Commit(ctx context.Context) error {
	err := p.commitGroup()
	if lost := p.lost; lost != nil {
		p.lost = nil
		return errors.Join(lost, err)
	}
	return err
}

// commitGroup commits the group in hand, if any. When that fails, the
// messages it held were not recorded: lost keeps it for Commit to report.
func (p *pipeline) commitGroup() error {
	g := p.group
	p.group = nil
	if g == nil {
		return nil
	}
	if err := g.Commit(); err != nil {
		if g.Len() > 0 {
			p.lost = fmt.Errorf("%d message(s) handled before were not recorded: %w", g.Len(), err)
		}
		return err
	}
	if g.Len() > 0 {
		p.kick()
	}
	return nil
}

// inbound parses a delivery into what the workflow needs to know.
func inbound(d *mailbox.Delivery) *workflow.Inbound {
	in := &workflow.Inbound{
		Mailbox:     d.Mailbox,
		UIDValidity: d.UIDValidity,
		UID:         d.UID,
		Raw:         d.Raw,
		Spool:       d.Spool, // a large message, read from its spool file
		SHA256:      d.SHA256,
		Size:        d.Size,
		TooLarge:    d.TooLarge,
	}
	if d.TooLarge {
		return in
	}
	if d.Unreadable != "" {
		in.ParseError = fmt.Sprintf("the IMAP server refused to return this message %d times (%s); it stays in the quarantine mailbox", mailbox.MaxFetchFailures, d.Unreadable)
		return in
	}
	msg, err := parse.Parse(d.Body())
	if err != nil {
		in.ParseError = err.Error()
	}
	if msg == nil {
		return in
	}
	fillInbound(in, msg)
	return in
}

func fillInbound(in *workflow.Inbound, m *parse.Message) {
	in.MessageID = m.MessageID
	in.From = person(m.From)
	in.To = people(m.To)
	in.Cc = people(m.Cc)
	in.DeliveredTo = m.DeliveredTo
	in.ReturnPath = m.ReturnPath
	in.Subject = m.Subject
	if m.Date != nil {
		in.Date = *m.Date
	}
	in.InReplyTo = m.InReplyTo
	in.References = m.References
	in.AutoReason = m.Auto.Reason
	in.Bounce = m.Auto.Bounce
	for _, f := range m.Auto.Failed {
		in.BounceRecipients = append(in.BounceRecipients, f.Recipient)
		in.BounceStatus = append(in.BounceStatus, workflow.DeliveryStatus{Recipient: f.Recipient, Action: f.Action, Status: f.Status})
	}
	in.BounceOriginalID = m.Auto.OriginalMessageID
	in.AuthResults = m.AuthResults
	for _, ar := range parse.ParseAuthResults(m.AuthResults) {
		in.Auth = append(in.Auth, workflow.AuthResult{ServID: ar.ServID, DMARCPass: ar.DMARCPass, DKIMPass: ar.DKIMPass,
			DMARCFail: ar.DMARCFail, DKIMFail: ar.DKIMFail})
	}
	in.Kind = string(m.Kind)
	in.Text = m.Text
	in.Note = m.Note
	in.ReplyText = m.ReplyText
	in.ReplyHTML = m.ReplyHTML
	for _, o := range m.Originals {
		wo := workflow.Original{
			From:      person(o.From),
			To:        people(o.To),
			Cc:        people(o.Cc),
			Subject:   o.Subject,
			DateRaw:   o.DateRaw,
			MessageID: o.MessageID,
			Body:      o.Body,
		}
		if o.Date != nil {
			wo.Date = *o.Date
		}
		in.Originals = append(in.Originals, wo)
	}
	for _, a := range m.Attachments {
		line := fmt.Sprintf("%s (%s, %d bytes)", a.Filename, a.ContentType, a.Size)
		if a.Unsupported {
			line += " unsupported: not read"
		}
		in.Attachments = append(in.Attachments, line)
	}
	in.Warnings = m.Warnings
}

func person(a parse.Address) workflow.Person {
	return workflow.Person{Name: a.Name, Address: a.Address}
}

func people(as []parse.Address) []workflow.Person {
	out := make([]workflow.Person, 0, len(as))
	for _, a := range as {
		out = append(out, person(a))
	}
	return out
}

// smtpTransport delivers outbox mail: it composes the MIME message and sends
// it through the configured SMTP server.
type smtpTransport struct {
	sender  *mailbox.Sender
	health  *smtpHealth // nil: not recorded
	metrics *metrics    // nil: not counted
}

// permanentError marks an error retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() error   { return e.err }
func (e permanentError) Temporary() bool { return false }

// Deliver implements workflow.Transport.
func (t *smtpTransport) Deliver(ctx context.Context, m *workflow.OutMail) error {
	c, err := composed(ctx, m)
	if err != nil {
		return permanentError{fmt.Errorf("composing outbox mail %d: %w", m.ID, err)}
	}
	// Written into the DATA as it is composed: a large evidence
	// attachment is read from the store as it goes out.
	err = t.sender.SendComposed(ctx, m.EnvelopeFrom, m.Rcpt, c)
	if t.health != nil {
		t.health.record(err)
	}
	if t.metrics != nil {
		t.metrics.sent(err)
	}
	if c.Size() > largeEmail {
		// Its chunks and encoding buffers are garbage now: give the
		// memory back to the system rather than keep the peak.
		c = nil
		debug.FreeOSMemory()
	}
	return err
}

// largeEmail is the size above which memory is returned to the system
// after sending (evidence attachments make emails this large).
const largeEmail = 8 << 20

// compose renders an outbox row as the exact bytes that go on the wire.
func compose(m *workflow.OutMail) ([]byte, error) {
	c, err := composed(context.Background(), m)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(int(c.Size()))
	if _, err := c.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// composed is compose written on demand: an attachment stored in chunks
// is read, within ctx, as it is written.
func composed(ctx context.Context, m *workflow.OutMail) (*mailbox.Composed, error) {
	out := &mailbox.Outgoing{
		From:          mbox(m.From),
		To:            mboxes(m.To),
		Cc:            mboxes(m.Cc),
		ReplyTo:       mboxes(m.ReplyTo),
		Subject:       m.Subject,
		MessageID:     m.MessageID,
		InReplyTo:     m.InReplyTo,
		References:    m.References,
		Date:          m.Created,
		AutoSubmitted: m.AutoSubmitted,
		Headers:       m.Headers,
		Text:          m.Text,
		HTML:          m.HTML,
	}
	if out.Date.IsZero() || m.Customer {
		// A customer email is dated when it leaves, after its hold: the
		// time the command was accepted is internal.
		out.Date = time.Now()
	}
	if m.Sender != nil {
		s := mbox(*m.Sender)
		out.Sender = &s
	}
	for _, a := range m.Attachments {
		oa := mailbox.OutAttachment{Filename: a.Filename, ContentType: a.ContentType, Data: a.Data, Size: a.Size}
		if open := a.Open; open != nil {
			oa.Open = func() (io.ReadCloser, error) { return open(ctx) }
		}
		out.Attachments = append(out.Attachments, oa)
	}
	if len(out.To) == 0 {
		return nil, errors.New("no recipient")
	}
	return mailbox.NewComposed(out)
}

func mbox(p workflow.Person) mailbox.Address {
	return mailbox.Address{Name: p.Name, Address: strings.TrimSpace(p.Address)}
}

func mboxes(ps []workflow.Person) []mailbox.Address {
	var out []mailbox.Address
	for _, p := range ps {
		out = append(out, mbox(p))
	}
	return out
}

// outAddrs turns addresses read from a message into addresses to write.
func outAddrs(as []parse.Address) []mailbox.Address {
	out := make([]mailbox.Address, 0, len(as))
	for _, a := range as {
		out = append(out, mailbox.Address(a))
	}
	return out
}
