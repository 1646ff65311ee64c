package workflow

import (
	"context"
	"database/sql"
	"fmt"
)

// Incidents lists every incident, newest first.
func (s *Store) Incidents(ctx context.Context) ([]Incident, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+incidentColumns+" FROM incidents i ORDER BY i.id DESC")
	if err != nil {
		return nil, fmt.Errorf("store: listing incidents: %w", err)
	}
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("store: listing incidents: %w", err)
		}
		out = append(out, *in)
	}
	return out, rows.Err()
}

// Incident returns incident id with its audit trail, oldest event first.
// A missing incident gives an error wrapping ErrNotFound.
func (s *Store) Incident(ctx context.Context, id int64) (*Incident, []Event, error) {
	in, err := loadIncident(ctx, s.db, id)
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
	rows, err := s.db.QueryContext(ctx, "SELECT id, incident_id, at, actor, kind, detail, message_id FROM events WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: reading events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var inc, at sql.NullInt64
		if err := rows.Scan(&e.ID, &inc, &at, &e.Actor, &e.Kind, &e.Detail, &e.MessageID); err != nil {
			return nil, fmt.Errorf("store: reading events: %w", err)
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
		o, err := scanOutRow(rows)
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
