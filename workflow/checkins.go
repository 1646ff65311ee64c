package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"backstop/templates"
)

// Check-ins: Config.Time.CheckinAfter after an incident is resolved or
// severed, each teammate who reported it gets a short email asking how
// they are, within business hours. Those who replied HANDOFF get it only
// with Config.Time.CheckinAfterHandoff; a lead's NO-CHECKIN switches it off
// for the incident. The checkins table holds one row per incident and
// reporter, written with the email: a check-in is sent once. An answer is
// recorded on the incident (EventCheckinReply) and passed to the leads; it
// never reaches a digest.

const checkinJobName = "checkins"

// CheckinLate bounds how late a check-in is still sent: an incident that
// ended longer ago than CheckinAfter plus this (backstop was down, or the
// incident predates check-ins) gets none, and the check-in is recorded on
// it as skipped, once (a checkins row without outbox_id).
const CheckinLate = 7 * 24 * time.Hour

// EventCheckin records a check-in sent or skipped; EventCheckinReply a
// reporter's answer to one.
const (
	EventCheckin      = "checkin"
	EventCheckinReply = "checkin_reply"
)

// CheckinJob is the scheduler job that sends check-ins, every
// Config.Time.Sweep.
func (d *Desk) CheckinJob() Job {
	return d.sweepJob(checkinJobName, d.checkins)
}

// checkins sends the check-ins due at now.
func (d *Desk) checkins(ctx context.Context, tx *sql.Tx, now time.Time) error {
	tc := d.cfg.Time
	if !tc.BusinessHours.Open(now) {
		return nil
	}
	// Whole days are calendar days in the organisation's time zone (3
	// days after 16:30 is 16:30, across a DST change too): the query
	// allows an hour either way, addDays decides.
	dueBefore := ms(now.Add(-tc.CheckinAfter + time.Hour))
	notBefore := ms(now.Add(-tc.CheckinAfter - CheckinLate))
	// The moment it ended: when it was severed, else when it was resolved.
	// One that ended before notBefore is too late for a check-in: it is
	// listed until its skip is recorded (any checkins row for it).
	rows, err := tx.QueryContext(ctx, "SELECT "+incidentColumns+` FROM incidents i
		WHERE i.no_checkin = 0
		AND ((i.severed_at IS NOT NULL AND i.severed_at <= ?)
		  OR (i.severed_at IS NULL AND i.state = ? AND i.closed_at <= ?))
		AND (coalesce(i.severed_at, i.closed_at) >= ?
		  OR NOT EXISTS (SELECT 1 FROM checkins c WHERE c.incident_id = i.id))
		ORDER BY i.id`, dueBefore, StateResolved, dueBefore, notBefore)
	if err != nil {
		return fmt.Errorf("looking for check-ins due: %w", err)
	}
	var incs []*Incident
	for rows.Next() {
		in, err := scanIncident(d.st, rows)
		if err != nil {
			rows.Close()
			return err
		}
		incs = append(incs, in)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	h := &handling{d: d, ctx: ctx, tx: tx, now: now}
	sent, late := 0, 0
	for _, inc := range incs {
		ended := inc.Severed
		if ended.IsZero() {
			ended = inc.Closed
		}
		due := addDays(ended, tc.CheckinAfter, d.cfg.Timezone)
		if due.After(now) {
			continue
		}
		tooLate := ms(ended) < notBefore
		reps, err := h.reportersOf(inc)
		if err != nil {
			return err
		}
		for _, rep := range reps {
			var one int
			err := tx.QueryRowContext(ctx, "SELECT 1 FROM checkins WHERE incident_id = ? AND address = ?", inc.ID, rep.Address).Scan(&one)
			if err == nil {
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("reading check-ins: %w", err)
			}
			var outboxID sql.NullInt64
			detail := "check-in with " + rep.Address
			switch {
			case tooLate:
				detail += fmt.Sprintf(" skipped: it fell due %s, more than %s ago (backstop was not running, or the incident predates check-ins)",
					due.In(d.cfg.Timezone).Format("Mon 2 Jan 2006 15:04"), Age(CheckinLate))
				late++
			case rep.handedOff && !tc.CheckinAfterHandoff:
				detail += " skipped: they handed off (checkins.after_handoff is false)"
			default:
				data := d.baseData(inc, rep.Person, now)
				id, err := d.queueMail(ctx, tx, now, outItem{incident: inc, template: templates.Checkin, to: rep.Person, data: data, scheduled: true}, nil)
				if err != nil {
					return err
				}
				outboxID = sql.NullInt64{Int64: id, Valid: true}
				detail += fmt.Sprintf(" (outbox #%d)", id)
				sent++
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO checkins (incident_id, address, at, outbox_id) VALUES (?, ?, ?, ?)",
				inc.ID, rep.Address, ms(now), outboxID); err != nil {
				return fmt.Errorf("recording a check-in: %w", err)
			}
			if err := d.event(ctx, tx, inc.ID, now, Actor, EventCheckin, detail, ""); err != nil {
				return err
			}
		}
		if tooLate {
			// Also with nobody to check in with (a lead reported it), so
			// that the incident is not listed again.
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO checkins (incident_id, address, at) VALUES (?, ?, ?)",
				inc.ID, lower(inc.Reporter.Address), ms(now)); err != nil {
				return fmt.Errorf("recording a check-in: %w", err)
			}
		}
	}
	if sent > 0 {
		d.log.Info("check-ins queued", "checkins", sent)
	}
	if late > 0 {
		d.log.Warn("check-ins skipped: too late to send; recorded on their incidents", "checkins", late, "late_after", CheckinLate)
	}
	return nil
}

// checkinReply handles a reply without a command from a teammate who got a
// check-in about inc: their answer is recorded on the incident and passed
// to the leads, and they get no command receipt. ok is false when the
// sender got no check-in about inc.
func (h *handling) checkinReply(inc *Incident) (bool, error) {
	var one int
	err := h.tx.QueryRowContext(h.ctx, "SELECT 1 FROM checkins WHERE incident_id = ? AND address = ? AND outbox_id IS NOT NULL",
		inc.ID, h.sender).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading check-ins: %w", err)
	}
	text := truncate(strings.TrimSpace(h.in.ReplyText), maxNote)
	if err := h.event(inc.ID, EventCheckinReply, "answer to the check-in: "+text); err != nil {
		return false, err
	}
	from := h.senderPerson()
	for _, lead := range h.d.cfg.Leads {
		data := h.d.baseData(inc, lead, h.now)
		data.MessageFrom = from.String()
		data.Note = text
		if err := h.d.queue(h.ctx, h.tx, h.now, outItem{incident: inc, template: templates.CheckinReply, to: lead, data: data, cause: h.in.MessageID}, &h.queued); err != nil {
			return false, err
		}
	}
	return true, nil
}

// addDays adds d to t, whole days as calendar days in loc.
func addDays(t time.Time, d time.Duration, loc *time.Location) time.Time {
	days, rest := int(d/(24*time.Hour)), d%(24*time.Hour)
	lt := t.In(loc)
	return time.Date(lt.Year(), lt.Month(), lt.Day()+days, lt.Hour(), lt.Minute(), lt.Second(), lt.Nanosecond(), loc).Add(rest)
}
