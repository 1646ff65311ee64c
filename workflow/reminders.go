package workflow

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"backstop/templates"
)

// Reminders: an incident no lead has acted on (no command of a lead
// carried out on it) for Config.Time.Unacknowledged of business time is
// reminded to every lead, and again after each further such interval; after
// Config.Time.EscalateAfter the head of support gets one too, once per
// such interval. They stop as soon as a lead acts. The reminders table
// holds one row per incident, kind and interval, written in the same
// transaction as the email, so that no interval is reminded twice, also
// across restarts. Reminders are sent within business hours only; a sweep
// that finds several intervals passed (backstop was down) sends one.

const (
	reminderJobName = "reminders"
	reminderLeads   = "leads"
	reminderHead    = "head_of_support"
)

// ReminderJob is the scheduler job that sends reminders, every
// Config.Time.Sweep.
func (d *Desk) ReminderJob() Job {
	return d.sweepJob(reminderJobName, d.remind)
}

// sweepJob is a job that runs sweep every Config.Time.Sweep, at the
// present moment (the sweep finds what fell due since).
func (d *Desk) sweepJob(name string, sweep func(context.Context, *sql.Tx, time.Time) error) Job {
	return Job{
		Name:     name,
		Schedule: Every(d.cfg.Time.Sweep),
		Run: func(ctx context.Context, tx *sql.Tx, due time.Time) error {
			return sweep(ctx, tx, d.now())
		},
	}
}

// unacknowledged lists the open incidents no lead has acted on, oldest
// first, created at or before now.
func (d *Desk) unacknowledged(ctx context.Context, q querier, now time.Time) ([]*Incident, error) {
	acted, args := d.actedBy("i")
	rows, err := q.QueryContext(ctx, "SELECT "+incidentColumns+` FROM incidents i
		WHERE i.state IN (?, ?, ?, ?, ?) AND i.created_at <= ? AND NOT `+acted+` ORDER BY i.created_at, i.id`,
		append([]any{StateReported, StateAcknowledged, StateBoundarySent, StateEscalated, StateSevered, ms(now)}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("listing unacknowledged incidents: %w", err)
	}
	defer rows.Close()
	var out []*Incident
	for rows.Next() {
		in, err := scanIncident(d.st, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// remind sends the reminders due at now.
func (d *Desk) remind(ctx context.Context, tx *sql.Tx, now time.Time) error {
	tc := d.cfg.Time
	bh := *tc.BusinessHours
	if !bh.Open(now) {
		return nil
	}
	incs, err := d.unacknowledged(ctx, tx, now)
	if err != nil {
		return err
	}
	sent := 0
	for _, inc := range incs {
		waited := bh.Elapsed(inc.Created, now)
		if n := int(waited / tc.Unacknowledged); n >= 1 {
			ok, err := d.claimReminder(ctx, tx, inc.ID, reminderLeads, n, now)
			if err != nil {
				return err
			}
			if ok {
				for _, lead := range d.cfg.Leads {
					if err := d.queueReminder(ctx, tx, inc, lead, waited, n, false, now); err != nil {
						return err
					}
				}
				sent++
			}
		}
		head := tc.HeadOfSupport
		if head.Address == "" {
			continue
		}
		if m := int(waited / tc.EscalateAfter); m >= 1 {
			ok, err := d.claimReminder(ctx, tx, inc.ID, reminderHead, m, now)
			if err != nil {
				return err
			}
			if ok {
				if err := d.queueReminder(ctx, tx, inc, head, waited, m, true, now); err != nil {
					return err
				}
				sent++
			}
		}
	}
	if sent > 0 {
		d.log.Info("reminders queued", "reminders", sent)
	}
	return nil
}

// claimReminder records reminder n of kind about incident, unless one as
// late or later was sent already.
func (d *Desk) claimReminder(ctx context.Context, tx *sql.Tx, incident int64, kind string, n int, now time.Time) (bool, error) {
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT max(n) FROM reminders WHERE incident_id = ? AND kind = ?", incident, kind).Scan(&last); err != nil {
		return false, fmt.Errorf("reading reminders: %w", err)
	}
	if last.Valid && int(last.Int64) >= n {
		return false, nil
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO reminders (incident_id, kind, n, at) VALUES (?, ?, ?, ?)", incident, kind, n, ms(now))
	if err != nil {
		return false, fmt.Errorf("recording a reminder: %w", err)
	}
	return true, nil
}

func (d *Desk) queueReminder(ctx context.Context, tx *sql.Tx, inc *Incident, to Person, waited time.Duration, n int, head bool, now time.Time) error {
	data := d.baseData(inc, to, now)
	data.Reminder = &templates.Reminder{Waited: Age(waited), N: n, HeadOfSupport: head, BusinessHours: d.cfg.Time.BusinessHours.String()}
	if head && !d.isLead(to.Address) {
		data.Allowed = []string{CmdHelp} // the head of support is not a lead: commands are the leads'
	}
	_, err := d.queueMail(ctx, tx, now, outItem{incident: inc, template: templates.LeadReminder, to: to, data: data, scheduled: true}, nil)
	if err != nil {
		return err
	}
	who := "the leads"
	if head {
		who = "the head of support"
	}
	return d.event(ctx, tx, inc.ID, now, Actor, EventReminder, fmt.Sprintf("reminder %d to %s (%s): no lead has acted after %s of business hours", n, to.Address, who, Age(waited)), "")
}

// EventReminder records a reminder sent about an incident nobody acted on.
const EventReminder = "reminder"
