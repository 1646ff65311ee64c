package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"backstop/templates"
)

// DispatchConfig tunes the dispatcher. Zero values take the defaults.
type DispatchConfig struct {
	Poll        time.Duration // look for due mail at least this often (default 30s)
	MinRetry    time.Duration // first retry after a temporary failure (default 1m)
	MaxRetry    time.Duration // longest wait between retries (default 1h)
	MaxAge      time.Duration // give up retrying after this long (default 24h)
	SendTimeout time.Duration // bound on one delivery (default 5m)
	Now         func() time.Time
	Logger      *slog.Logger
}

func (c DispatchConfig) withDefaults() DispatchConfig {
	if c.Poll <= 0 {
		c.Poll = 30 * time.Second
	}
	if c.MinRetry <= 0 {
		c.MinRetry = time.Minute
	}
	if c.MaxRetry <= 0 {
		c.MaxRetry = time.Hour
	}
	if c.MaxRetry < c.MinRetry {
		c.MaxRetry = c.MinRetry
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 24 * time.Hour
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 5 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Dispatcher delivers the outbox: due rows oldest first, one at a time.
// A row is marked sending in its own committed transaction before it is
// handed to the transport and sent after, so that a row is never sent twice
// by one dispatcher and a crash in between is noticed at the next start.
// Run one dispatcher per database.
type Dispatcher struct {
	st   *Store
	tr   Transport
	cfg  DispatchConfig
	log  *slog.Logger
	kick chan struct{}
}

// NewDispatcher returns a dispatcher delivering st's outbox through tr.
// Notices about failed and uncertain deliveries go to the leads through the
// Desk made on st (NewDesk); without one they are only logged and recorded.
func NewDispatcher(st *Store, tr Transport, cfg DispatchConfig) *Dispatcher {
	cfg = cfg.withDefaults()
	return &Dispatcher{st: st, tr: tr, cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1)}
}

// Kick tells the dispatcher that mail was queued: it looks at once.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then returns ctx's error after finishing
// the delivery in hand. It first recovers rows a crash left in sending.
func (d *Dispatcher) Run(ctx context.Context) error {
	if err := d.Recover(ctx); err != nil {
		return err
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next, err := d.drain(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			d.log.Error("outbox: dispatch failed; will retry", "err", err)
			next = d.cfg.Now().Add(d.cfg.MinRetry)
		}
		wait := d.cfg.Poll
		if !next.IsZero() {
			if w := next.Sub(d.cfg.Now()); w < wait {
				wait = max(w, time.Millisecond)
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.kick:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// drain sends every due row, then returns when the next one is due (zero
// when nothing is waiting).
func (d *Dispatcher) drain(ctx context.Context) (time.Time, error) {
	if desk := d.st.desk.Load(); desk != nil {
		// Notices the caps held back are summarised once they allow.
		if err := desk.summariseHeldBack(ctx, d.cfg.Now()); err != nil {
			return time.Time{}, err
		}
	}
	for ctx.Err() == nil {
		sent, err := d.SendNext(ctx)
		if err != nil {
			return time.Time{}, err
		}
		if !sent {
			break
		}
	}
	var next sql.NullInt64
	err := d.st.db.QueryRowContext(ctx, "SELECT min(not_before) FROM outbox WHERE state IN (?, ?)", OutQueued, OutHeld).Scan(&next)
	if err != nil {
		return time.Time{}, fmt.Errorf("outbox: finding the next due email: %w", err)
	}
	return fromMS(next), nil
}

// SendNext delivers the oldest due row, if any, and reports whether it
// found one. Run calls it in a loop; tests may call it directly.
func (d *Dispatcher) SendNext(ctx context.Context) (bool, error) {
	now := d.cfg.Now()
	var row *outRow
	err := d.st.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		var state string
		err := tx.QueryRowContext(ctx, `
			SELECT id, state FROM outbox WHERE state IN (?, ?) AND not_before <= ?
			ORDER BY not_before, id LIMIT 1`, OutQueued, OutHeld, ms(now)).Scan(&id, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		// Compare-and-set: only a row still in the state we read is ours.
		res, err := tx.ExecContext(ctx, "UPDATE outbox SET state = ?, attempts = attempts + 1 WHERE id = ? AND state = ?", OutSending, id, state)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		row, err = loadOutRow(ctx, tx, id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("outbox: claiming the next email: %w", err)
	}
	if row == nil {
		return false, nil
	}
	// From here on, finish the send in hand even when ctx ends: an
	// interrupted SMTP transaction would leave the row uncertain.
	ctx = context.WithoutCancel(ctx)
	m, err := row.outMail(ctx, d.st.db)
	if err != nil {
		err = temporaryError{err} // a database hiccup; MaxAge bounds the retries
	} else {
		sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
		err = d.tr.Deliver(sctx, m)
		cancel()
	}
	return true, d.settle(ctx, row, err)
}

// temporaryError marks an error as worth retrying.
type temporaryError struct{ error }

func (e temporaryError) Unwrap() error   { return e.error }
func (e temporaryError) Temporary() bool { return true }

// temporary reports whether err says that retrying may help.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// uncertain reports whether err says the message may have been delivered
// despite the error (the connection broke after the end of DATA).
func uncertain(err error) bool {
	var u interface{ DeliveryUncertain() bool }
	return errors.As(err, &u) && u.DeliveryUncertain()
}

// settle records the outcome of a delivery.
func (d *Dispatcher) settle(ctx context.Context, row *outRow, sendErr error) error {
	now := d.cfg.Now()
	attempts := row.Attempts // counted when the row was claimed
	return d.st.tx(ctx, func(tx *sql.Tx) error {
		if sendErr == nil {
			if err := casState(ctx, tx, row.ID, OutSending, OutSent, "sent_at = ?, last_error = ''", ms(now)); err != nil {
				return err
			}
			d.log.Info("outbox: sent", "outbox", row.ID, "incident", row.IncidentID, "template", row.Template, "attempts", attempts)
			return d.event(ctx, tx, row, now, EventMailSent, fmt.Sprintf("%s to %s (outbox #%d)", row.Template, row.Recipient, row.ID))
		}
		msg := sendErr.Error()
		if row.Customer && uncertain(sendErr) {
			// The server may have accepted it before the connection broke:
			// a customer email is never risked twice.
			reason := "the connection to the mail server broke after the whole email was handed over, so it may or may not have gone out; it will not be sent again automatically: " + msg
			if err := casState(ctx, tx, row.ID, OutSending, OutUncertain, "last_error = ?", reason); err != nil {
				return err
			}
			d.log.Error("outbox: customer email may or may not have gone out; not resending", "outbox", row.ID, "incident", row.IncidentID, "err", sendErr)
			if err := d.event(ctx, tx, row, now, EventMailUncertain, fmt.Sprintf("%s (outbox #%d): %s", row.Template, row.ID, reason)); err != nil {
				return err
			}
			return d.notifyLeads(ctx, tx, now, row, templates.UncertainDelivery, reason)
		}
		if temporary(sendErr) && now.Sub(row.Created) < d.cfg.MaxAge {
			wait := d.backoff(attempts)
			if err := casState(ctx, tx, row.ID, OutSending, OutQueued, "not_before = ?, last_error = ?", ms(now.Add(wait)), msg); err != nil {
				return err
			}
			d.log.Warn("outbox: temporary failure; will retry", "outbox", row.ID, "template", row.Template, "attempts", attempts, "retry_in", wait, "err", sendErr)
			return nil
		}
		reason := msg
		if temporary(sendErr) {
			reason = fmt.Sprintf("gave up after %d attempts over %s: %s", attempts, d.cfg.MaxAge, msg)
		}
		if err := casState(ctx, tx, row.ID, OutSending, OutFailed, "last_error = ?", reason); err != nil {
			return err
		}
		d.log.Error("outbox: delivery failed", "outbox", row.ID, "template", row.Template, "attempts", attempts, "err", sendErr)
		if err := d.event(ctx, tx, row, now, EventMailFailed, fmt.Sprintf("%s to %s (outbox #%d): %s", row.Template, row.Recipient, row.ID, reason)); err != nil {
			return err
		}
		if row.Template == templates.DeliveryFailed {
			return nil // never a notice about a notice: no loops
		}
		return d.notifyLeads(ctx, tx, now, row, templates.DeliveryFailed, reason)
	})
}

// casState moves a row from one state to another, and fails when the row
// is no longer in the state expected.
func casState(ctx context.Context, tx *sql.Tx, id int64, from, to, set string, args ...any) error {
	q := "UPDATE outbox SET state = ?"
	if set != "" {
		q += ", " + set
	}
	q += " WHERE id = ? AND state = ?"
	args = append([]any{to}, args...)
	args = append(args, id, from)
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("outbox #%d: %s → %s: %w", id, from, to, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("outbox #%d: expected state %s, found another: is a second dispatcher running on this database?", id, from)
	}
	return nil
}

// backoff is the wait before attempt n+1: MinRetry·2^(n-1), at most
// MaxRetry, less up to a quarter of jitter.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	w := d.cfg.MinRetry
	for i := 1; i < attempts && w < d.cfg.MaxRetry; i++ {
		w *= 2
	}
	w = min(w, d.cfg.MaxRetry)
	if q := int64(w / 4); q > 0 {
		w -= time.Duration(rand.Int64N(q))
	}
	return w
}

func (d *Dispatcher) event(ctx context.Context, tx *sql.Tx, row *outRow, now time.Time, kind, detail string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO events (incident_id, at, actor, kind, detail, message_id) VALUES (?, ?, ?, ?, ?, ?)`,
		nullID(row.IncidentID), ms(now), Actor, kind, detail, row.MessageID)
	return err
}

// notifyLeads queues a delivery notice about row to every lead.
func (d *Dispatcher) notifyLeads(ctx context.Context, tx *sql.Tx, now time.Time, row *outRow, name, reason string) error {
	desk := d.st.desk.Load()
	if desk == nil {
		d.log.Warn("outbox: no desk to tell the leads", "outbox", row.ID, "notice", name)
		return nil
	}
	var inc *Incident
	if row.IncidentID != 0 {
		var err error
		if inc, err = loadIncident(ctx, tx, row.IncidentID); err != nil {
			return err
		}
	}
	return desk.deliveryNotice(ctx, tx, now, row, inc, name, reason, desk.cfg.Leads)
}

// Recover looks for rows a crash left in sending. Such an email may or may
// not have reached the SMTP server. An internal email is queued again with
// the same Message-ID; a customer email becomes uncertain and is never
// resent automatically, and the leads are told. Run calls it first.
func (d *Dispatcher) Recover(ctx context.Context) error {
	now := d.cfg.Now()
	var ids []int64
	rows, err := d.st.db.QueryContext(ctx, "SELECT id FROM outbox WHERE state = ? ORDER BY id", OutSending)
	if err != nil {
		return fmt.Errorf("outbox: looking for interrupted deliveries: %w", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		err := d.st.tx(ctx, func(tx *sql.Tx) error {
			row, err := loadOutRow(ctx, tx, id)
			if err != nil {
				return err
			}
			if !row.Customer {
				d.log.Warn("outbox: delivery was interrupted; sending again with the same Message-ID", "outbox", id, "template", row.Template)
				return casState(ctx, tx, id, OutSending, OutQueued, "not_before = ?", ms(now))
			}
			const reason = "backstop stopped while handing this email to the mail server: it may or may not have gone out, so it will not be sent again automatically"
			if err := casState(ctx, tx, id, OutSending, OutUncertain, "last_error = ?", reason); err != nil {
				return err
			}
			d.log.Error("outbox: customer email may or may not have gone out; not resending", "outbox", id, "incident", row.IncidentID)
			if err := d.event(ctx, tx, row, now, EventMailUncertain, fmt.Sprintf("%s (outbox #%d): %s", row.Template, id, reason)); err != nil {
				return err
			}
			return d.notifyLeads(ctx, tx, now, row, templates.UncertainDelivery, reason)
		})
		if err != nil {
			return fmt.Errorf("outbox: recovering #%d: %w", id, err)
		}
	}
	return nil
}
