package workflow

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Handlers of time's commands: DIGEST OFF|ON and NO-CHECKIN.

// digest switches the weekly digest off or on for the lead who asks. It
// works from a reply to any backstop email, the digest itself included.
func (r *cmdRun) digest() (outcome, error) {
	h := r.h
	addr := lower(r.who.Address)
	switch strings.ToUpper(strings.TrimSpace(r.cmd.Args)) {
	case "OFF":
		_, err := h.tx.ExecContext(h.ctx, "INSERT INTO digest_optout (address, at) VALUES (?, ?) ON CONFLICT (address) DO NOTHING", addr, ms(h.now))
		if err != nil {
			return outcome{}, fmt.Errorf("recording DIGEST OFF: %w", err)
		}
		return done("you will get no more weekly digests. Reply DIGEST ON to any backstop email to have them again."), nil
	case "ON":
		if _, err := h.tx.ExecContext(h.ctx, "DELETE FROM digest_optout WHERE address = ?", addr); err != nil {
			return outcome{}, fmt.Errorf("recording DIGEST ON: %w", err)
		}
		if !h.d.getsDigest(addr) {
			return done("noted, but the configuration sends the digest only to %s (digest.recipients): ask whoever runs backstop to add you.",
				strings.Join(h.d.digestAddresses(), ", ")), nil
		}
		return done("you will get the weekly digest again, from the next one on (%s).", h.d.cfg.Time.Digest), nil
	}
	return refused("write DIGEST OFF to stop the weekly digest, or DIGEST ON to have it again."), nil
}

// getsDigest reports whether the configuration sends the digest to addr.
func (d *Desk) getsDigest(addr string) bool {
	for _, a := range d.digestAddresses() {
		if sameMailbox(a, addr) {
			return true
		}
	}
	return false
}

func (d *Desk) digestAddresses() []string {
	list := d.cfg.Time.DigestRecipients
	if len(list) == 0 {
		list = d.cfg.Leads
	}
	var out []string
	for _, p := range list {
		out = append(out, lower(p.Address))
	}
	return out
}

// noCheckin switches the check-in with the reporters off for the incident.
func (r *cmdRun) noCheckin() (outcome, error) {
	h := r.h
	if _, err := h.tx.ExecContext(h.ctx, "UPDATE incidents SET no_checkin = 1, updated_at = ? WHERE id = ?", ms(h.now), r.inc.ID); err != nil {
		return outcome{}, fmt.Errorf("recording NO-CHECKIN: %w", err)
	}
	var sent int
	err := h.tx.QueryRowContext(h.ctx, "SELECT count(*) FROM checkins WHERE incident_id = ? AND outbox_id IS NOT NULL", r.inc.ID).Scan(&sent)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return outcome{}, fmt.Errorf("reading check-ins: %w", err)
	}
	if sent > 0 {
		return done("no further check-in about %s will be sent; %d had been sent already.", r.inc.Ref(), sent), nil
	}
	return done("the reporter of %s will get no check-in when it ends.", r.inc.Ref()), nil
}
