package workflow

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"backstop/templates"
)

// Incidents lists every incident, newest first.
func (s *Store) Incidents(ctx context.Context) ([]Incident, error) {
	return s.FindIncidents(ctx, IncidentFilter{})
}

// Incident returns incident id with its audit trail, oldest event first.
// A missing incident gives an error wrapping ErrNotFound.
func (s *Store) Incident(ctx context.Context, id int64) (*Incident, []Event, error) {
	in, err := loadIncident(ctx, s, s.db, id)
	if err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	events, err := s.events(ctx, "incident_id = ?", id)
	if err != nil {
		return nil, nil, err
	}
	return in, events, nil
}

// Events returns the audit trail about no incident (quarantined messages
// and their notices), oldest first.
func (s *Store) Events(ctx context.Context) ([]Event, error) {
	return s.events(ctx, "incident_id IS NULL")
}

func (s *Store) events(ctx context.Context, where string, args ...any) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, incident_id, at, actor, kind, detail, message_id, prev_hash, hash FROM events WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: reading events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var inc, at sql.NullInt64
		var detail []byte
		if err := rows.Scan(&e.ID, &inc, &at, &e.Actor, &e.Kind, &detail, &e.MessageID, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("store: reading events: %w", err)
		}
		var err error
		if e.Detail, err = s.openString("events", "detail", e.ID, detail); err != nil {
			return nil, err
		}
		e.IncidentID, e.At = inc.Int64, fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Outbox lists the outbox rows of an incident (all rows when incidentID is
// 0), oldest first.
func (s *Store) Outbox(ctx context.Context, incidentID int64) ([]OutboxRow, error) {
	q := "SELECT " + outboxColumns + " FROM outbox"
	var args []any
	if incidentID != 0 {
		q += " WHERE incident_id = ?"
		args = append(args, incidentID)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: listing the outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		o, err := s.scanOutRow(rows)
		if err != nil {
			return nil, fmt.Errorf("store: listing the outbox: %w", err)
		}
		out = append(out, o.OutboxRow)
	}
	return out, rows.Err()
}

// Stats counts incidents, messages and outbox rows.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{ByState: map[string]int{}, Messages: map[string]int{}, Outbox: map[string]int{}}
	count := func(q string, into map[string]int) error {
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("store: counting: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			into[k] = n
		}
		return rows.Err()
	}
	if err := count("SELECT state, count(*) FROM incidents GROUP BY state", st.ByState); err != nil {
		return st, err
	}
	if err := count("SELECT class, count(*) FROM messages GROUP BY class", st.Messages); err != nil {
		return st, err
	}
	if err := count("SELECT state, count(*) FROM outbox GROUP BY state", st.Outbox); err != nil {
		return st, err
	}
	for state, n := range st.ByState {
		st.Incidents += n
		if IsOpen(state) {
			st.OpenIncidents += n
		}
	}
	err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM messages WHERE disposition = 'quarantined'").Scan(&st.Quarantined)
	if err != nil {
		return st, fmt.Errorf("store: counting: %w", err)
	}
	return st, nil
}

// EventCounts counts the audit trail's events by kind (EventRefused, …),
// for metrics.
func (s *Store) EventCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT kind, count(*) FROM events GROUP BY kind")
	if err != nil {
		return nil, fmt.Errorf("store: counting events: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("store: counting events: %w", err)
		}
		counts[k] = n
	}
	return counts, rows.Err()
}

// SeveredEntry is a customer whose incident was severed: what the support
// tool's block list needs.
type SeveredEntry struct {
	Customer     Person // Address "" when the forward never showed it
	Organisation string // "" for free-mail customers
	IncidentID   int64
	Incident     string    // "INC-7"
	SeveredAt    time.Time // when the SEVER took effect (its hold started)
	Lead         Person    // the incident's lead
	RequestedBy  string    // the lead who asked for the parting-ways email
	ApprovedBy   string    // the second lead, under the two-person rule
	State        string    // the incident's state now (severed, or closed/resolved later)
	Email        string    // the parting-ways email's outbox state: held, sent, uncertain, bounced, …; "" if none
}

// Severed lists the customers a SEVER took effect for (and was not
// cancelled), oldest first, whatever became of their incident later: for
// `backstop severed --format csv|json`.
func (s *Store) Severed(ctx context.Context) ([]SeveredEntry, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT i.id, i.customer_address, i.customer_name, i.organisation, i.severed_at, i.lead_address, i.lead_name, i.state,
			coalesce(o.state, ''), coalesce(o.requested_by, ''), coalesce(o.approved_by, '')
		FROM incidents i
		LEFT JOIN outbox o ON o.id = (SELECT max(id) FROM outbox WHERE incident_id = i.id AND customer = 1 AND template = ?
			AND state != ?)
		WHERE i.severed_at IS NOT NULL
		ORDER BY i.severed_at, i.id`, templates.PartingWays, OutCancelled)
	if err != nil {
		return nil, fmt.Errorf("store: listing severed customers: %w", err)
	}
	defer rows.Close()
	var out []SeveredEntry
	for rows.Next() {
		var e SeveredEntry
		var at sql.NullInt64
		if err := rows.Scan(&e.IncidentID, &e.Customer.Address, &e.Customer.Name, &e.Organisation, &at, &e.Lead.Address, &e.Lead.Name,
			&e.State, &e.Email, &e.RequestedBy, &e.ApprovedBy); err != nil {
			return nil, fmt.Errorf("store: listing severed customers: %w", err)
		}
		e.Incident = Ref(e.IncidentID)
		e.SeveredAt = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
