package workflow

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"

	"backstop/templates"
)

// Bounce addresses are signed: an email's MAIL FROM is
// local+bounce-ID-SIG@domain, SIG an HMAC of the outbox row number under
// the secret, so that nobody can guess the address a delivery report about
// another email would come back to. A report that does not come back to a
// signed address changes nothing (see acceptBounce).

const bounceMACBytes = 5

// EventSuspiciousBounce records a delivery report that was not believed:
// it did not come back to the signed address of the email it names.
const EventSuspiciousBounce = "suspicious_bounce"

// bounceTag is the +tag of outbox row id's envelope sender.
func bounceTag(secret []byte, id int64) string {
	return "bounce-" + strconv.FormatInt(id, 10) + "-" + b32.EncodeToString(bounceMAC(secret, id))
}

func bounceMAC(secret []byte, id int64) []byte {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "bounce\x00%d", id)
	return m.Sum(nil)[:bounceMACBytes]
}

// parseBounceTag reads a bounce +tag: the row it names, and whether its
// signature verifies (compared in constant time).
func parseBounceTag(secret []byte, tag string) (id int64, signed, ok bool) {
	rest, found := strings.CutPrefix(lower(tag), "bounce-")
	if !found {
		return 0, false, false
	}
	num, sig, _ := strings.Cut(rest, "-")
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id <= 0 {
		return 0, false, false
	}
	got, err := b32.DecodeString(sig)
	return id, err == nil && hmac.Equal(got, bounceMAC(secret, id)), true
}

// envelopeFor returns the MAIL FROM of outbox row id: for customer
// emails, the signed VERP address of Config.CustomerBounceAddress, else
// the support address (never the escalations address: the customer would
// learn where reports go); for the team's, the signed VERP address of the
// escalations address, unless Config.EnvelopeSender names another one.
func (d *Desk) envelopeFor(id int64, customer bool) string {
	if customer {
		if b := strings.TrimSpace(d.cfg.CustomerBounceAddress); b != "" {
			return tokenAddress(b, bounceTag(d.cfg.Secret, id))
		}
		return d.cfg.SupportAddress
	}
	envelope := strings.TrimSpace(d.cfg.EnvelopeSender)
	if envelope == "" || strings.EqualFold(envelope, d.cfg.Escalations) {
		return tokenAddress(d.cfg.Escalations, bounceTag(d.cfg.Secret, id))
	}
	return envelope
}

// bounceAddressTag returns the +tag of a we-sent-it address: a subaddress
// of the escalations address or of the customer bounce address.
func (d *Desk) bounceAddressTag(addr string) (string, bool) {
	if tag, ok := tokenFromAddress(d.cfg.Escalations, addr); ok {
		return tag, true
	}
	if b := strings.TrimSpace(d.cfg.CustomerBounceAddress); b != "" {
		return tokenFromAddress(b, addr)
	}
	return "", false
}

// acceptBounce decides whether a delivery report about outbox row id may
// change it: when it came back to the row's signed address, or — for an
// email sent with an unsigned envelope sender (Config.EnvelopeSender, or
// a customer email with no bounce address) — when it names the row's exact
// Message-ID and recipient and its sender's domain is authenticated by a
// trusted server. It returns why not otherwise.
func (h *handling) acceptBounce(row *outRow, signed bool) (bool, string) {
	if signed {
		return true, ""
	}
	if _, _, verp := parseBounceTagOf(h.d, row.envelope); verp {
		return false, fmt.Sprintf("a delivery report about %s to %s (outbox #%d) did not come back to its signed bounce address; anyone can write such a report, so nothing was changed",
			row.Template, row.Recipient, row.ID)
	}
	exact := strings.Trim(h.in.BounceOriginalID, "<> ") == row.MessageID
	rcpt := false
	for _, s := range h.in.BounceStatus {
		if sameMailbox(s.Recipient, row.Recipient) {
			rcpt = true
		}
	}
	if exact && rcpt && h.d.domainPasses(h.in.Auth, domainOf(h.sender)) {
		return true, ""
	}
	return false, fmt.Sprintf("a delivery report about %s to %s (outbox #%d) does not name its exact Message-ID and recipient, or its sender is not authenticated by a trusted server; nothing was changed",
		row.Template, row.Recipient, row.ID)
}

func parseBounceTagOf(d *Desk, envelope string) (int64, bool, bool) {
	tag, ok := d.bounceAddressTag(envelope)
	if !ok {
		return 0, false, false
	}
	return parseBounceTag(d.cfg.Secret, tag)
}

// suspiciousBounce records a delivery report that was not believed, and
// tells the leads the first time one names that email.
func (h *handling) suspiciousBounce(row *outRow, why string) error {
	var n int
	err := h.tx.QueryRowContext(h.ctx, "SELECT count(*) FROM events WHERE kind = ? AND detail LIKE ?",
		EventSuspiciousBounce, fmt.Sprintf("%%(outbox #%d)%%", row.ID)).Scan(&n)
	if err != nil {
		return fmt.Errorf("looking for earlier suspicious bounces: %w", err)
	}
	if err := h.event(row.IncidentID, EventSuspiciousBounce, why); err != nil {
		return err
	}
	h.d.log.Warn("delivery report not believed", "outbox", row.ID, "mailbox", h.in.Mailbox, "uid", h.in.UID)
	if n > 0 {
		return nil // the leads were told about the first
	}
	var inc *Incident
	if row.IncidentID != 0 {
		if inc, err = loadIncident(h.ctx, h.tx, row.IncidentID); err != nil {
			return err
		}
	}
	return h.tellLeads(inc, templates.SecurityNotice, "", why+". Further reports like it are recorded, not reported")
}

// messageIDFor returns a new Message-ID: for the team's emails one that
// carries the reply token (bs.TOKEN.RANDOM@escalations-domain); for a
// customer email a random one at the support address's domain, which
// says nothing about backstop.
func (d *Desk) messageIDFor(token string, customer bool) string {
	if !customer {
		return newMessageID(token, d.domain)
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic("workflow: no randomness: " + err.Error())
	}
	return b32.EncodeToString(r[:]) + "@" + domainOf(d.cfg.SupportAddress)
}
