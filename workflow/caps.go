package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"backstop/templates"
)

// Caps brake loops without hiding anything. The first notice about a new
// incident and every security notice always go out. Any other notice a cap
// stops is held back: recorded (held_back table, and an event of kind
// EventNoticeHeldBack that metrics and digests count), and summarised in
// one held_back email to its recipient once their cap frees again
// (EventHeldBackSummary). Quarantine notices have a budget of their own
// (Config.MaxQuarantineHour), so that spam cannot use up the allowance of
// real incidents or of security notices.

// Event kinds of the caps.
const (
	EventNoticeHeldBack  = "notice_held_back"  // a cap held a notice back; it is in the next summary
	EventHeldBackSummary = "held_back_summary" // the summary of held-back notices went to a recipient
)

// neverHeldBack reports whether a notice goes out whatever the caps.
func neverHeldBack(it outItem) bool {
	return it.first || it.template == templates.SecurityNotice
}

// holdBack records a notice a cap stopped.
func (d *Desk) holdBack(ctx context.Context, tx *sql.Tx, now time.Time, incident int64, rcpt, template, why, cause string) error {
	level := slog.LevelDebug
	if d.heldLog.first(lower(rcpt), now) {
		level = slog.LevelWarn
	}
	d.log.Log(ctx, level, "notice held back: rate cap reached", "incident", incident, "template", template, "cap", why,
		"note", "the next ones to this recipient within the hour are logged at debug level; all are in the held-back summary")
	_, err := tx.ExecContext(ctx, "INSERT INTO held_back (recipient, incident_id, template, at) VALUES (?, ?, ?, ?)",
		lower(rcpt), nullID(incident), template, ms(now))
	if err != nil {
		return fmt.Errorf("recording a held-back notice: %w", err)
	}
	return d.event(ctx, tx, incident, now, Actor, EventNoticeHeldBack,
		fmt.Sprintf("%s to %s held back: %s; it will be in a summary once the cap allows", template, rcpt, why), cause)
}

// heldBackLog keeps a flood of held-back notices from flooding the log
// too: the first for a recipient in an hour is a warning, the others are
// debug lines (each is recorded, counted in the metrics and summarised).
type heldBackLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// first reports whether no notice to rcpt was logged as held back in the
// hour before now, and notes now as the last time.
func (l *heldBackLog) first(rcpt string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	t, seen := l.last[rcpt]
	if seen && now.Sub(t) < time.Hour && !now.Before(t) {
		return false
	}
	l.last[rcpt] = now
	for r, t := range l.last { // forget the quiet ones
		if now.Sub(t) >= time.Hour {
			delete(l.last, r)
		}
	}
	return true
}

// summariseHeldBack sends each recipient whose cap has freed one email
// summarising the notices held back for them. The dispatcher calls it
// before each round of sending.
func (d *Desk) summariseHeldBack(ctx context.Context, now time.Time) error {
	var one int
	err := d.st.db.QueryRowContext(ctx, "SELECT 1 FROM held_back WHERE summarised_at IS NULL LIMIT 1").Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // nothing held back: no write transaction
	}
	if err != nil {
		return fmt.Errorf("looking for held-back notices: %w", err)
	}
	return d.st.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT recipient, incident_id, min(at) OVER (PARTITION BY recipient) FROM held_back
			WHERE summarised_at IS NULL ORDER BY recipient, id`)
		if err != nil {
			return fmt.Errorf("reading held-back notices: %w", err)
		}
		type pending struct {
			n         int
			incidents map[int64]bool
			since     time.Time
		}
		byRcpt := map[string]*pending{}
		var order []string
		for rows.Next() {
			var rcpt string
			var inc sql.NullInt64
			var since int64
			if err := rows.Scan(&rcpt, &inc, &since); err != nil {
				rows.Close()
				return err
			}
			p := byRcpt[rcpt]
			if p == nil {
				p = &pending{incidents: map[int64]bool{}, since: time.UnixMilli(since)}
				byRcpt[rcpt] = p
				order = append(order, rcpt)
			}
			p.n++
			if inc.Valid {
				p.incidents[inc.Int64] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, rcpt := range order {
			p := byRcpt[rcpt]
			if capped, _, err := d.capReached(ctx, tx, now, 0, rcpt, templates.HeldBack, 0); err != nil || capped {
				if err != nil {
					return err
				}
				continue
			}
			detail := fmt.Sprintf("%d more %s held back since %s%s, see `backstop incidents`",
				p.n, plural(p.n, "notice", "notices"), sinceWhen(p.since, now, d.cfg.Timezone), incidentRange(p.incidents))
			to := Person{Address: rcpt}
			if l, ok := d.leads[rcpt]; ok {
				to = l
			}
			data := d.baseData(nil, to, now)
			data.Detail = detail
			if _, err := d.queueMail(ctx, tx, now, outItem{template: templates.HeldBack, to: to, data: data, summary: true}, nil); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE held_back SET summarised_at = ? WHERE recipient = ? AND summarised_at IS NULL", ms(now), rcpt); err != nil {
				return fmt.Errorf("marking held-back notices summarised: %w", err)
			}
			if err := d.event(ctx, tx, 0, now, Actor, EventHeldBackSummary, "to "+rcpt+": "+detail, ""); err != nil {
				return err
			}
		}
		return nil
	})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// incidentRange is ": INC-40…INC-51" for a run of incidents, else a list
// (at most ten), or "" for none.
func incidentRange(set map[int64]bool) string {
	var ids []int64
	for id := range set {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return ""
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	first, last := ids[0], ids[len(ids)-1]
	if len(ids) > 1 && last-first+1 == int64(len(ids)) {
		return ": " + Ref(first) + "…" + Ref(last)
	}
	var refs []string
	for i, id := range ids {
		if i == 10 {
			refs = append(refs, fmt.Sprintf("and %d more", len(ids)-10))
			break
		}
		refs = append(refs, Ref(id))
	}
	return ": " + strings.Join(refs, ", ")
}

// sinceWhen is a moment of the past for a summary: its time of day when it
// was today (in the organisation's time zone), else with its date too.
func sinceWhen(t, now time.Time, tz *time.Location) string {
	t, now = t.In(tz), now.In(tz)
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04 MST")
	}
	return t.Format("Mon 2 Jan 15:04 MST")
}
