package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"backstop/templates"
)

// Desk decides what each incoming message means and records it: the
// message, the incident change, the audit trail and any outgoing mail, in
// one transaction.
type Desk struct {
	cfg         Config
	st          *Store
	tmpl        *templates.Set
	log         *slog.Logger
	leads       map[string]Person // lower-cased address → lead
	team        map[string]bool   // lower-cased addresses
	teamDomains map[string]bool
	trusted     map[string]bool // lower-cased trusted authserv-ids
	domain      string          // of the escalations address
	heldLog     heldBackLog     // when a held-back notice was last logged at Warn, per recipient
}

// NewDesk checks cfg and returns a desk recording into st and rendering
// emails with t. The desk also becomes the store's notifier: a Dispatcher on
// st tells the leads about failed and uncertain deliveries through it.
func NewDesk(cfg Config, st *Store, t *templates.Set) (*Desk, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil || t == nil {
		return nil, errors.New("workflow: NewDesk needs a store and templates")
	}
	cfg = cfg.withDefaults()
	d := &Desk{
		cfg:         cfg,
		st:          st,
		tmpl:        t,
		log:         cfg.Logger,
		leads:       map[string]Person{},
		team:        map[string]bool{},
		teamDomains: map[string]bool{},
		trusted:     map[string]bool{},
		domain:      domainOf(cfg.Escalations),
	}
	for _, id := range cfg.TrustedAuthServIDs {
		d.trusted[lower(id)] = true
	}
	for _, l := range cfg.Leads {
		l.Address = strings.TrimSpace(l.Address)
		d.leads[lower(l.Address)] = l
	}
	for _, a := range cfg.TeamAddresses {
		d.team[lower(a)] = true
	}
	for _, dom := range cfg.TeamDomains {
		d.teamDomains[lower(dom)] = true
	}
	st.desk.Store(d)
	return d, nil
}

// isLead reports whether addr is a lead's.
func (d *Desk) isLead(addr string) bool {
	_, ok := d.leads[lower(addr)]
	return ok
}

// isTeam reports whether addr belongs to someone who may report: a lead, a
// listed team address, an address at a team domain, or backstop itself.
func (d *Desk) isTeam(addr string) bool {
	a := lower(addr)
	if a == "" {
		return false
	}
	return d.isLead(a) || d.team[a] || d.teamDomains[domainOf(a)] || sameMailbox(a, d.cfg.Escalations)
}

func (d *Desk) now() time.Time { return d.cfg.Now() }

// dedupeKey identifies a message across mailboxes and UIDVALIDITY changes:
// its Message-ID with a digest of its content (dedupe.go), since the sender
// chooses the Message-ID and anyone can borrow one.
func dedupeKey(in *Inbound) string {
	if id := strings.Trim(strings.TrimSpace(in.MessageID), "<>"); id != "" {
		return id + " " + contentDigest(in) // without Raw: From, Subject, Date
	}
	if in.hasBody() {
		if sum, err := in.digest(); err == nil {
			return "sha256:" + sum
		}
	}
	// A too-large message without Message-ID: only its place identifies it.
	return fmt.Sprintf("uid:%s/%d/%d", in.Mailbox, in.UIDValidity, in.UID)
}

// handling is the state of one Handle call, inside its transaction.
type handling struct {
	d   *Desk
	ctx context.Context
	tx  *sql.Tx
	in  *Inbound
	now time.Time

	sender   string // lower-cased From address
	earlier  int64  // messages row of a different message with the same Message-ID
	unread   string // why a team member's report names no customer (reportUnread)
	rowID    int64  // messages row
	class    string
	incident int64
	opened   int64 // the incident this message opened, if any
	queued   int
	dup      bool
	commands [][2]string // verb, outcome: for Config.Observer after commit
}

// Handle classifies in and records the outcome in one transaction. A
// message already recorded (same mailbox, UIDVALIDITY and UID, or same
// Message-ID) returns its recorded disposition and changes nothing, so that
// a redelivery after a crash is harmless. An error means nothing was
// recorded: the caller should try the message again later.
func (d *Desk) Handle(ctx context.Context, in *Inbound) (Disposition, error) {
	if in == nil {
		return 0, errors.New("workflow: Handle called without a message")
	}
	var (
		h    *handling
		disp Disposition
	)
	err := d.st.tx(ctx, func(tx *sql.Tx) error {
		var err error
		h, disp, err = d.handleIn(ctx, tx, in)
		return err
	})
	if err != nil {
		return 0, d.notRecorded(in, err)
	}
	d.handled(h, disp)
	return disp, nil
}

// handleIn decides and records in within tx.
func (d *Desk) handleIn(ctx context.Context, tx *sql.Tx, in *Inbound) (*handling, Disposition, error) {
	h := &handling{d: d, ctx: ctx, tx: tx, in: in, now: d.now(), sender: lower(in.From.Address)}
	disp, err := h.run()
	return h, disp, err
}

// notRecorded logs and wraps the error of a message whose outcome was
// rolled back.
func (d *Desk) notRecorded(in *Inbound, err error) error {
	d.log.Error("message not recorded; it will be retried", "mailbox", in.Mailbox, "uid", in.UID, "err", err)
	return fmt.Errorf("workflow: handling message uid %d: %w", in.UID, err)
}

// handled logs a committed outcome and tells the observer.
func (d *Desk) handled(h *handling, disp Disposition) {
	in := h.in
	attrs := []any{"mailbox", in.Mailbox, "uid", in.UID, "disposition", disp.String()}
	if h.dup {
		attrs = append(attrs, "duplicate", true)
	} else {
		attrs = append(attrs, "class", h.class, "queued", h.queued)
	}
	if h.incident != 0 {
		attrs = append(attrs, "incident", Ref(h.incident))
	}
	if d.isTeam(h.sender) {
		attrs = append(attrs, "from", h.sender)
	}
	d.log.Info("message handled", attrs...)
	if o := d.cfg.Observer; o != nil && !h.dup {
		for _, c := range h.commands {
			o.CommandDone(c[0], c[1])
		}
	}
}

func (h *handling) run() (Disposition, error) {
	in := h.in
	// A spooled message that cannot be read is not recorded (it is
	// offered again) before its dedupe key, which reads it too, could be
	// made of its header fields alone (contentDigest).
	if _, err := in.digest(); err != nil {
		return 0, err
	}
	if err := h.collisions(); err != nil { // dedupe.go
		return 0, err
	}
	if disp, found, err := h.recorded(); err != nil || found {
		h.dup = found
		if err == nil {
			err = advance(h.ctx, h.tx, in.Mailbox, in.UIDValidity, in.UID, h.now)
		}
		return disp, err
	}
	if err := advance(h.ctx, h.tx, in.Mailbox, in.UIDValidity, in.UID, h.now); err != nil {
		return 0, err
	}

	switch {
	case in.TooLarge:
		return h.quarantine(ClassTooLarge, fmt.Sprintf("the message is %d bytes, over the size limit; it was not downloaded: ask the sender to forward it without large attachments", in.Size), 0)
	case in.ParseError != "":
		return h.quarantine(ClassMalformed, "the message could not be read as email: "+in.ParseError, 0)
	}
	if reason := h.autoReason(); reason != "" {
		return h.auto(reason)
	}
	if own, err := h.ownMessage(); err != nil {
		return 0, err
	} else if own {
		return h.auto("one of backstop's own emails came back")
	}

	insider := h.d.isTeam(h.sender)
	forward := in.Kind == "forward" && len(in.Originals) > 0
	if forward && insider {
		if cust, ok := h.d.customerOf(in.Originals, in.From); ok {
			return h.forward(cust)
		}
	}
	// A forward that names a customer never gets here: it is threaded by
	// its customer, never by subject. What is left may be matched by the
	// [INC-n] tag too: no customer is involved.
	m, ok, err := h.matchReply()
	if err != nil {
		return 0, err
	}
	if ok {
		return h.reply(m)
	}
	if forward && insider {
		// Every forwarded message is from the team: open an incident
		// with the customer unknown rather than drop the report.
		return h.forward(Person{})
	}
	if insider && h.repliesToBackstop() {
		// Addressed to one of backstop's emails, but its token or
		// Message-ID verifies for no incident: never read as a report.
		return h.quarantine(ClassUnmatched, "a reply to one of backstop's emails whose reply address or references could not be verified: reply to backstop's latest email about the incident", 0)
	}
	if insider {
		// A report is never lost for want of parsing (unknown.go).
		why := "no forwarded message could be read in it"
		if in.Kind == "reply" {
			why = "it answers none of backstop's emails, and no forwarded message could be read in it"
		}
		return h.reportUnread(why)
	}
	reason := "the sender is not on the team: backstop takes reports only from the team and never answers outsiders"
	inc, state, err := h.customerIncident()
	if err != nil {
		return 0, err
	}
	if inc != 0 {
		// A customer writing to backstop directly: recorded on their
		// incident, never answered.
		reason = fmt.Sprintf("the customer of %s (%s) wrote to backstop directly; backstop never answers customers: %s", Ref(inc), stateWords(state), reason)
	}
	return h.quarantine(ClassOutsider, reason, inc)
}

// customerIncident returns the latest incident whose customer is the
// sender, 0 when none.
func (h *handling) customerIncident() (int64, string, error) {
	if h.sender == "" {
		return 0, "", nil
	}
	var id int64
	var state string
	err := h.tx.QueryRowContext(h.ctx, "SELECT id, state FROM incidents WHERE customer_address = ? ORDER BY id DESC LIMIT 1", h.sender).Scan(&id, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("looking for the sender's incident: %w", err)
	}
	return id, state, nil
}

// recorded looks for the message among those already handled.
func (h *handling) recorded() (Disposition, bool, error) {
	var disp string
	err := h.tx.QueryRowContext(h.ctx, `
		SELECT disposition FROM messages
		WHERE dedupe_key = ? OR (uid IS NOT NULL AND mailbox = ? AND uidvalidity = ? AND uid = ?)
		LIMIT 1`, dedupeKey(h.in), h.in.Mailbox, int64(h.in.UIDValidity), nullUID(h.in.UID)).Scan(&disp)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("looking for an earlier copy: %w", err)
	}
	dp, err := parseDisposition(disp)
	return dp, err == nil, err
}

func nullUID(uid uint32) sql.NullInt64 {
	if uid == 0 {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(uid), Valid: true}
}

// record inserts the messages row.
func (h *handling) record(class string, disp Disposition, incident int64, reason string, keepRaw bool) error {
	in := h.in
	var raw []byte
	chunks := 0
	if keepRaw && in.hasBody() {
		if n := in.bodySize(); n > int64(h.d.cfg.ChunkSize) {
			chunks = chunkCount(n, h.d.cfg.ChunkSize)
		} else if raw = in.Raw; raw == nil {
			raw = in.prefix(int(n)) // a small spooled message
		}
	}
	size := in.Size
	if size == 0 {
		size = in.bodySize()
	}
	id, err := h.d.st.nextID(h.ctx, h.tx, "messages")
	if err != nil {
		return err
	}
	st := h.d.st
	sum, err := in.digest()
	if err != nil {
		return err
	}
	var auth string
	if len(in.AuthResults) > 0 {
		b, _ := json.Marshal(in.AuthResults)
		auth = string(b)
	}
	_, err = h.tx.ExecContext(h.ctx, `
		INSERT INTO messages (id, mailbox, uidvalidity, uid, dedupe_key, message_id, from_address, subject,
			received_at, size, class, disposition, reason, incident_id, raw, sha256, auth_results, raw_chunks)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, in.Mailbox, int64(in.UIDValidity), nullUID(in.UID), dedupeKey(in), in.MessageID, h.sender,
		st.sealString("messages", "subject", id, in.Subject),
		ms(h.now), size, class, disp.String(), st.sealString("messages", "reason", id, reason), nullID(incident),
		st.seal("messages", "raw", id, raw), sum, auth, chunks)
	if err != nil {
		return fmt.Errorf("recording the message: %w", err)
	}
	if chunks > 0 {
		if err := h.storeChunks(id, chunks); err != nil {
			return err
		}
	}
	h.rowID = id
	h.class = class
	h.incident = incident
	return h.recordCollision()
}

// event appends to the audit trail.
func (d *Desk) event(ctx context.Context, tx *sql.Tx, incident int64, at time.Time, actor, kind, detail, messageID string) error {
	if actor == "" {
		actor = "(unknown sender)"
	}
	return d.st.appendEvent(ctx, tx, incident, at, actor, kind, detail, messageID)
}

func (h *handling) event(incident int64, kind, detail string) error {
	return h.d.event(h.ctx, h.tx, incident, h.now, h.sender, kind, detail, h.in.MessageID)
}

// autoReason says why a message was written by a machine and must never be
// answered (RFC 3834), or "" for a human message.
func (h *handling) autoReason() string {
	in := h.in
	local, _, _ := splitAddress(h.sender)
	switch {
	case in.AutoReason != "":
		return in.AutoReason
	case in.Bounce:
		return "delivery status report"
	case in.NullSender:
		return "null sender"
	case local == "mailer-daemon" || local == "postmaster":
		return "sender " + local
	case sameMailbox(h.sender, h.d.cfg.Escalations):
		return "sent by backstop's own address"
	}
	if _, ok := tokenFromMessageID(in.MessageID, h.d.domain); ok {
		return "one of backstop's own emails came back"
	}
	return ""
}

// ownMessage reports whether the message is one backstop sent (a customer
// email's Message-ID carries no token): a copy that came back.
func (h *handling) ownMessage() (bool, error) {
	id := strings.Trim(strings.TrimSpace(h.in.MessageID), "<>")
	if id == "" {
		return false, nil
	}
	var one int
	err := h.tx.QueryRowContext(h.ctx, "SELECT 1 FROM outbox WHERE message_id = ?", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for an own Message-ID: %w", err)
	}
	return true, nil
}

// auto records an auto-reply or bounce. It is never answered. A bounce
// that names one of backstop's emails is noted on its incident.
func (h *handling) auto(reason string) (Disposition, error) {
	in := h.in
	class := ClassAuto
	if in.Bounce {
		class = ClassBounce
	}
	outboxID, incident, signed, err := h.bouncedRow()
	if err != nil {
		return 0, err
	}
	if err := h.record(class, Processed, incident, reason, false); err != nil {
		return 0, err
	}
	if incident != 0 || outboxID != 0 {
		detail := reason
		if outboxID != 0 {
			detail += fmt.Sprintf("; about outbox #%d", outboxID)
		}
		if len(in.BounceRecipients) > 0 {
			detail += "; failed recipients: " + strings.Join(in.BounceRecipients, ", ")
		}
		if err := h.event(incident, EventAuto, detail); err != nil {
			return 0, err
		}
	}
	if in.Bounce && outboxID != 0 && bounceFailed(in.BounceStatus) {
		row, err := h.d.st.loadOutRow(h.ctx, h.tx, outboxID)
		if err != nil {
			return 0, err
		}
		if ok, why := h.acceptBounce(row, signed); !ok {
			return Processed, h.suspiciousBounce(row, why) // bounce.go
		}
		if err := h.markBounced(outboxID); err != nil {
			return 0, err
		}
	}
	return Processed, nil
}

// bounceFailed reports whether a delivery status report says delivery
// failed: any recipient block with action "failed", or no blocks at all (a
// bounce that is not a standard report). Reports that only say delayed,
// delivered, relayed or expanded do not.
func bounceFailed(st []DeliveryStatus) bool {
	if len(st) == 0 {
		return true
	}
	for _, s := range st {
		if lower(s.Action) == "failed" {
			return true
		}
	}
	return false
}

// markBounced marks a sent email undelivered after a bounce came back for
// it, and tells the lead. The bounce itself is never answered.
func (h *handling) markBounced(id int64) error {
	in := h.in
	row, err := h.d.st.loadOutRow(h.ctx, h.tx, id)
	if err != nil {
		return err
	}
	if row.State != OutSent && row.State != OutUncertain {
		return nil // not sent yet (or already settled): a bounce can't be about it
	}
	var parts []string
	for _, s := range in.BounceStatus {
		p := s.Recipient
		if s.Action != "" || s.Status != "" {
			p += ": " + strings.TrimSpace(s.Action+" "+s.Status)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 && len(in.BounceRecipients) > 0 {
		parts = append(parts, "failed recipients: "+strings.Join(in.BounceRecipients, ", "))
	}
	reason := "a bounce came back"
	if len(parts) > 0 {
		reason += " (" + strings.Join(parts, "; ") + ")"
	}
	if s := strings.TrimSpace(in.Subject); s != "" {
		reason += ": " + truncate(oneLine(s), 200)
	}
	res, err := h.tx.ExecContext(h.ctx, "UPDATE outbox SET state = ?, last_error = ? WHERE id = ? AND state = ?", OutBounced, reason, id, row.State)
	if err != nil {
		return fmt.Errorf("marking outbox #%d bounced: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil
	}
	if err := h.d.event(h.ctx, h.tx, row.IncidentID, h.now, Actor, EventMailBounced,
		fmt.Sprintf("%s to %s (outbox #%d): %s", row.Template, row.Recipient, row.ID, reason), row.MessageID); err != nil {
		return err
	}
	if row.Template == templates.DeliveryFailed || row.Template == templates.UncertainDelivery {
		return nil // never a notice about a notice: no loops
	}
	var inc *Incident
	if row.IncidentID != 0 {
		if inc, err = loadIncident(h.ctx, h.d.st, h.tx, row.IncidentID); err != nil {
			return err
		}
	}
	var to []Person
	switch {
	case row.Customer && h.d.isLead(row.RequestedBy):
		to = []Person{h.d.leads[row.RequestedBy]}
	case row.Customer && inc != nil && h.d.isLead(inc.Lead.Address):
		to = []Person{h.d.leads[lower(inc.Lead.Address)]}
	default:
		for _, l := range h.d.cfg.Leads {
			if !sameMailbox(l.Address, row.Recipient) {
				to = append(to, l)
			}
		}
	}
	return h.d.deliveryNotice(h.ctx, h.tx, h.now, row, inc, templates.DeliveryFailed, reason, to)
}

// recipients are the addresses a message was sent to: To, Cc, and the
// Delivered-To/X-Original-To traces of the receiving server.
func (in *Inbound) recipients() []string {
	var addrs []string
	for _, p := range append(append([]Person{}, in.To...), in.Cc...) {
		addrs = append(addrs, p.Address)
	}
	return append(addrs, in.DeliveredTo...)
}

// bouncedRow finds the outbox row a bounce or auto-reply is about: by the
// envelope address it came back to (local+bounce-ID-SIG@domain, signed
// when the signature verifies) or by the Message-ID it quotes or answers.
func (h *handling) bouncedRow() (outboxID, incident int64, signed bool, err error) {
	in := h.in
	for _, a := range in.recipients() {
		tag, ok := h.d.bounceAddressTag(a)
		if !ok {
			continue
		}
		if id, signed, ok := parseBounceTag(h.d.cfg.Secret, tag); ok {
			o, inc, err := h.outboxIncident("id = ?", id)
			if err != nil || o != 0 {
				return o, inc, signed, err
			}
		}
	}
	ids := append([]string{in.BounceOriginalID}, in.InReplyTo...)
	for _, id := range ids {
		if id = strings.Trim(strings.TrimSpace(id), "<>"); id == "" {
			continue
		}
		if o, inc, err := h.outboxIncident("message_id = ?", id); err != nil || o != 0 {
			return o, inc, false, err
		}
	}
	return 0, 0, false, nil
}

func (h *handling) outboxIncident(where string, arg any) (outboxID, incident int64, err error) {
	var inc sql.NullInt64
	err = h.tx.QueryRowContext(h.ctx, "SELECT id, incident_id FROM outbox WHERE "+where, arg).Scan(&outboxID, &inc)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("looking up a bounced email: %w", err)
	}
	return outboxID, inc.Int64, nil
}

// quarantine records a message that cannot be processed and tells the
// leads: sender, subject and reason, never the content.
func (h *handling) quarantine(class, reason string, incident int64) (Disposition, error) {
	if err := h.record(class, Quarantined, incident, reason, true); err != nil {
		return 0, err
	}
	if err := h.event(incident, EventQuarantined, class+": "+reason); err != nil {
		return 0, err
	}
	var inc *Incident
	if incident != 0 {
		var err error
		if inc, err = loadIncident(h.ctx, h.d.st, h.tx, incident); err != nil {
			return 0, err
		}
	}
	if err := h.tellLeads(inc, templates.QuarantineNotice, "", reason); err != nil {
		return 0, err
	}
	return Quarantined, nil
}

// tellLeads queues a notice about the message in hand to every lead: who
// sent it, its subject, and why; never its content.
func (h *handling) tellLeads(inc *Incident, template, command, reason string) error {
	for _, lead := range h.d.cfg.Leads {
		data := h.d.baseData(inc, lead, h.now)
		data.Command = command
		data.Reason = reason
		data.MessageFrom = h.in.From.String()
		if data.MessageFrom == "" {
			data.MessageFrom = "(no sender)"
		}
		data.MessageSubj = h.in.Subject
		err := h.d.queue(h.ctx, h.tx, h.now, outItem{
			incident: inc, template: template, to: lead, data: data, cause: h.in.MessageID,
		}, &h.queued)
		if err != nil {
			return err
		}
	}
	return nil
}

// match is an incident a reply answers.
type match struct {
	incident int64
	how      string // "reply token", "References", "subject tag"
	issuedTo string // whom the token was issued to ("" for the subject tag)
}

var subjectTag = regexp.MustCompile(`(?i)\[INC-([0-9]{1,18})\]`)

// matchReply finds the incident a reply answers: by the token in the address
// it was sent to, then by a token in a Message-ID it answers, then by the
// [INC-n] tag in its subject. A token that does not verify matches nothing.
func (h *handling) matchReply() (match, bool, error) {
	in := h.in
	for _, a := range in.recipients() {
		tok, ok := tokenFromAddress(h.d.cfg.Escalations, a)
		if !ok {
			continue
		}
		m, ok, err := h.verify(tok, "reply token")
		if err != nil || ok {
			return m, ok, err
		}
	}
	ids := append([]string{}, in.InReplyTo...)
	for i := len(in.References) - 1; i >= 0; i-- {
		ids = append(ids, in.References[i])
	}
	for _, id := range ids {
		tok, ok := tokenFromMessageID(id, h.d.domain)
		if !ok {
			continue
		}
		m, ok, err := h.verify(tok, "References")
		if err != nil || ok {
			return m, ok, err
		}
	}
	if sm := subjectTag.FindStringSubmatch(in.Subject); sm != nil {
		if id, err := strconv.ParseInt(sm[1], 10, 64); err == nil {
			exists, err := incidentExists(h.ctx, h.tx, id)
			if err != nil || exists {
				return match{incident: id, how: "subject tag"}, exists, err
			}
		}
	}
	return match{}, false, nil
}

// verify checks a token: it must verify for the recipient it was issued to
// (found in the outbox), or for the sender, and name an existing incident
// (or none, for quarantine notices).
func (h *handling) verify(tok, how string) (match, bool, error) {
	id, ok := ParseToken(tok)
	if !ok {
		return match{}, false, nil
	}
	rows, err := h.tx.QueryContext(h.ctx, `SELECT DISTINCT recipient FROM outbox WHERE token = ? LIMIT 8`, lower(tok))
	if err != nil {
		return match{}, false, fmt.Errorf("looking up a reply token: %w", err)
	}
	var issued []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return match{}, false, err
		}
		issued = append(issued, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return match{}, false, err
	}
	issued = append(issued, h.sender)
	for _, r := range issued {
		if r == "" {
			continue
		}
		if _, ok := VerifyToken(h.d.cfg.Secret, tok, r); !ok {
			continue
		}
		if id != 0 {
			exists, err := incidentExists(h.ctx, h.tx, id)
			if err != nil || !exists {
				return match{}, false, err
			}
		}
		return match{incident: id, how: how, issuedTo: r}, true, nil
	}
	h.d.log.Warn("a reply token did not verify", "mailbox", h.in.Mailbox, "uid", h.in.UID, "via", how)
	return match{}, false, nil
}

func incidentExists(ctx context.Context, tx *sql.Tx, id int64) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM incidents WHERE id = ?", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// maxNote bounds the reply text kept in a note event.
const maxNote = 4000

// reply handles a reply to backstop's email: the commands at the top of
// its own text (never its quoted part), carried out when the sender is
// verified (Config.Verify) and allowed (a lead; the reporter for NOTE,
// HANDOFF and STATUS). Every command gets a receipt. A command from a
// sender who cannot be verified changes nothing: the message is
// quarantined and the leads, never the claimed sender, get a security
// notice. A reply without a command is recorded as a note (and, from a
// verified sender about an incident, answered with the command list). A
// reply from outside the team is quarantined.
func (h *handling) reply(m match) (Disposition, error) {
	in := h.in
	var inc *Incident
	if m.incident != 0 {
		var err error
		if inc, err = loadIncident(h.ctx, h.d.st, h.tx, m.incident); err != nil {
			return 0, err
		}
	}
	allowed := h.d.isTeam(h.sender) || (inc != nil && h.sender != "" && h.sender == lower(inc.Reporter.Address))
	if !allowed || sameMailbox(h.sender, h.d.cfg.Escalations) {
		what := "a reply to one of backstop's notices"
		if inc != nil {
			what = "a reply about " + inc.Ref()
		}
		return h.quarantine(ClassOutsider, what+" from an address outside the team (matched by "+m.how+"); nothing was done", m.incident)
	}
	cmds, more := ParseCommands(in.ReplyText)
	hasCommand := len(cmds) > 0 && (cmds[0].Verb != "" || cmds[0].Lookalike != "")
	disagree := ""
	if in.ReplyHTML != "" {
		htmlCmds, _ := ParseCommands(in.ReplyHTML)
		if a, b := commandWords(cmds), commandWords(htmlCmds); a != b {
			disagree = fmt.Sprintf("the plain-text and HTML versions of your reply carry different commands (plain text: %s; HTML: %s), so nothing was done: a command counts only when it is what you saw. Reply again with the command on the first line", a, b)
			hasCommand = true
			cmds = append(cmds, htmlCmds...)
		}
	}
	matched := "matched by " + m.how
	if m.issuedTo != "" && m.issuedTo != h.sender {
		matched += ", token issued to " + m.issuedTo
	}
	auth := h.authenticate(m.incident)
	if !auth.ok && hasCommand {
		return h.refuseUnverified(inc, m, cmds, auth.why)
	}
	reason := matched
	if auth.ok {
		reason += "; sender verified by " + auth.how
	} else {
		reason += "; sender not verified"
	}
	if err := h.record(ClassReply, Processed, m.incident, reason, false); err != nil {
		return 0, err
	}
	if inc != nil {
		if err := touchIncident(h.ctx, h.tx, inc.ID, h.now); err != nil {
			return 0, err
		}
	}
	if !hasCommand && inc != nil {
		// An answer to a check-in is the teammate's, for the leads: no receipt.
		if ok, err := h.checkinReply(inc); err != nil || ok {
			return Processed, err
		}
	}
	if !hasCommand {
		detail := "reply (" + matched
		if !auth.ok {
			detail += "; sender not verified: " + auth.why
		}
		detail += ")"
		if text := strings.TrimSpace(in.ReplyText); text != "" {
			detail += ": " + truncate(text, maxNote)
		}
		if err := h.event(m.incident, EventNote, detail); err != nil {
			return 0, err
		}
		// Only a verified sender is answered, and only about an incident:
		// a word on a notice about no incident asks for nothing.
		if !auth.ok || inc == nil {
			return Processed, nil
		}
		if len(cmds) == 0 {
			cmds = []Command{{Line: ""}}
		}
	}
	if disagree != "" {
		if err := h.refuseAll(inc, cmds, disagree); err != nil {
			return 0, err
		}
		return Processed, nil
	}
	if err := h.runCommands(inc, cmds, more); err != nil {
		return 0, err
	}
	return Processed, nil
}

// refuseUnverified records commands whose sender could not be verified:
// nothing is done, the message is quarantined, and every lead gets a
// security notice. The claimed sender is never answered: the From may be
// forged.
func (h *handling) refuseUnverified(inc *Incident, m match, cmds []Command, why string) (Disposition, error) {
	in := h.in
	if err := h.record(ClassUnverified, Quarantined, m.incident, "commands refused: "+why, true); err != nil {
		return 0, err
	}
	var lines []string
	for _, c := range cmds {
		if c.Verb == "" && c.Lookalike == "" {
			continue
		}
		lines = append(lines, c.Line)
		h.commands = append(h.commands, [2]string{c.Verb, outcomeRefused})
		if err := h.event(m.incident, EventRefused, c.Line+": refused: "+why); err != nil {
			return 0, err
		}
	}
	h.d.log.Warn("command refused: sender not verified", "incident", m.incident, "mailbox", in.Mailbox, "uid", in.UID, "verify", h.d.cfg.Verify)
	if err := h.tellLeads(inc, templates.SecurityNotice, strings.Join(lines, " / "), why); err != nil {
		return 0, err
	}
	return Quarantined, nil
}

func touchIncident(ctx context.Context, tx *sql.Tx, id int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, "UPDATE incidents SET updated_at = ? WHERE id = ?", ms(now), id)
	return err
}

// truncate cuts s to at most n bytes at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + " …"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
