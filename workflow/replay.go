package workflow

import (
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A command is tied to its moment. Each command that changes an incident
// or writes to the customer records what it answered (the backstop email
// in In-Reply-To or References) and the incident's state version. A reply
// that answers an email older than the incident's last CANCEL, or that
// repeats a command already carried out (same sender, same text, same
// email answered), is refused with a receipt: a replayed message cannot
// undo a CANCEL. An ordinary second command answers a later email (the
// receipt of the first), or says something else, and goes through.

// guarded reports whether a command is tied to its moment.
func guarded(verb string) bool {
	s := specOf(verb)
	return s.moves != nil || s.Customer
}

// answered returns the backstop email a reply answers, newest reference
// first: its Message-ID and when it was queued, or "" when it names none.
func (h *handling) answered() (string, time.Time, error) {
	ids := append([]string{}, h.in.InReplyTo...)
	for i := len(h.in.References) - 1; i >= 0; i-- {
		ids = append(ids, h.in.References[i])
	}
	for _, id := range ids {
		id = strings.Trim(strings.TrimSpace(id), "<>")
		if id == "" {
			continue
		}
		var at int64
		err := h.tx.QueryRowContext(h.ctx, "SELECT created_at FROM outbox WHERE message_id = ?", id).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return "", time.Time{}, fmt.Errorf("looking up the email answered: %w", err)
		}
		return id, time.UnixMilli(at), nil
	}
	return "", time.Time{}, nil
}

// commandText is a command as compared for replays.
func commandText(c Command) string {
	return strings.ToUpper(c.Verb) + " " + strings.Join(strings.Fields(c.Args), " ")
}

// commandDigest is what command_log keeps of a command: an HMAC of its
// text under the token secret, never the text, since a command's
// arguments (a RESOLVE note, a name) are note text and stay encrypted at
// rest. Replays are found by equality, which the digest keeps.
func commandDigest(secret []byte, c Command) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("command\x00" + commandText(c)))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// replayed refuses a guarded command that answers an email older than the
// incident's last CANCEL, or repeats one already carried out.
func (r *cmdRun) replayed() (outcome, bool, error) {
	h := r.h
	// A command that would be refused anyway gets the refusal that says
	// why (its state, nothing waiting), not this one.
	if _, ok := NextState(r.cmd.Verb, r.inc.State); !ok {
		return outcome{}, false, nil
	}
	var waiting []*outRow
	var err error
	switch r.cmd.Verb {
	case CmdApprove:
		waiting, err = h.outRows("incident_id = ? AND customer = 1 AND state = ?", r.inc.ID, OutAwaitingApproval)
	case CmdResend:
		waiting, err = h.resendable(r.inc)
	default:
		waiting = []*outRow{nil}
	}
	if err != nil || len(waiting) == 0 {
		return outcome{}, false, err
	}
	answers, at, err := h.answered()
	if err != nil {
		return outcome{}, false, err
	}
	var cancelled sql.NullInt64
	err = h.tx.QueryRowContext(h.ctx, "SELECT max(at) FROM events WHERE incident_id = ? AND kind = ?", r.inc.ID, EventMailCancelled).Scan(&cancelled)
	if err != nil {
		return outcome{}, false, fmt.Errorf("looking for a CANCEL: %w", err)
	}
	if cancelled.Valid && (answers == "" || at.Before(time.UnixMilli(cancelled.Int64))) {
		what := "does not say which backstop email it answers"
		if answers != "" {
			what = "answers a backstop email of " + h.when(at)
		}
		return refused("this reply %s, before the CANCEL of %s: a command given before a CANCEL is never carried out again. If you mean it now, reply %s to the latest backstop email about %s.",
			what, h.when(time.UnixMilli(cancelled.Int64)), r.cmd.Verb, r.inc.Ref()), true, nil
	}
	var when int64
	err = h.tx.QueryRowContext(h.ctx, `SELECT at FROM command_log WHERE incident_id = ? AND sender = ? AND command = ? AND answers = ?
		ORDER BY id DESC LIMIT 1`, r.inc.ID, h.sender, commandDigest(h.d.cfg.Secret, r.cmd), answers).Scan(&when)
	if errors.Is(err, sql.ErrNoRows) {
		return outcome{}, false, nil
	}
	if err != nil {
		return outcome{}, false, fmt.Errorf("looking for the same command: %w", err)
	}
	return refused("you sent this same command in reply to the same email on %s, and it was carried out then: a command is never carried out twice from one email. If you mean it again, reply %s to the latest backstop email about %s.",
		h.when(time.UnixMilli(when)), r.cmd.Verb, r.inc.Ref()), true, nil
}

// logCommand records a guarded command carried out: who, what, the email
// it answered and the incident's state version after it.
func (r *cmdRun) logCommand() error {
	h := r.h
	answers, _, err := h.answered()
	if err != nil {
		return err
	}
	_, err = h.tx.ExecContext(h.ctx, `INSERT INTO command_log (incident_id, sender, command, answers, state_version, message_id, at)
		VALUES (?, ?, ?, ?, (SELECT state_version FROM incidents WHERE id = ?), ?, ?)`,
		r.inc.ID, h.sender, commandDigest(h.d.cfg.Secret, r.cmd), answers, r.inc.ID, h.in.MessageID, ms(h.now))
	if err != nil {
		return fmt.Errorf("recording the command: %w", err)
	}
	return nil
}
