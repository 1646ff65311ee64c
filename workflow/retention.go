package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Retention says how long data is kept. A zero field keeps that data
// forever.
type Retention struct {
	// Evidence: this long after an incident was resolved, closed or
	// severed (the earliest), its raw messages, message subjects, evidence
	// texts and rendered emails are purged. The audit trail, and each
	// original's SHA-256, stay.
	Evidence time.Duration
	// Audit: this long after the same moment, everything else about the
	// incident is removed (events, outbox rows, messages, the incident);
	// the trail of events about no incident keeps one incident_purged
	// event saying so, with the removed chain's last hash.
	Audit time.Duration
	// Quarantine: quarantined messages lose their raw message and subject
	// this long after they arrived; events about no incident older than
	// Audit go too.
	Quarantine time.Duration
}

// Event kinds of retention.
const (
	EventEvidencePurged = "evidence_purged" // retention.evidence purged an incident's content
	EventIncidentPurged = "incident_purged" // retention.audit removed an incident (in the trail about no incident)
	EventExported       = "exported"        // `backstop export` wrote the incident for HR or legal
)

// PurgeReport says what a purge did, or would do (dry run).
type PurgeReport struct {
	Evidence    []int64 // incidents whose evidence was purged
	Audit       []int64 // incidents removed
	Quarantined int     // quarantined messages whose content was purged
	OldEvents   int     // events about no incident removed
}

// Empty reports whether there was nothing to purge.
func (r PurgeReport) Empty() bool {
	return len(r.Evidence) == 0 && len(r.Audit) == 0 && r.Quarantined == 0 && r.OldEvents == 0
}

// closedAt is the SQL for when an incident was resolved, closed or
// severed, the earliest; NULL while none happened.
const closedAt = `CASE WHEN closed_at IS NULL THEN severed_at WHEN severed_at IS NULL THEN closed_at ELSE min(closed_at, severed_at) END`

// Purge applies ret at now: one transaction per incident, then a
// checkpoint and an incremental vacuum, so that the purged data is gone
// from the database file and its WAL (with PRAGMA secure_delete, on since
// Open, freed space is overwritten). dryRun only reports.
func (s *Store) Purge(ctx context.Context, ret Retention, now time.Time, dryRun bool) (PurgeReport, error) {
	var rep PurgeReport
	ids := func(q string, args ...any) ([]int64, error) {
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return nil, err
			}
			out = append(out, id)
		}
		return out, rows.Err()
	}
	var err error
	if ret.Audit > 0 {
		if rep.Audit, err = ids("SELECT id FROM incidents WHERE "+closedAt+" < ? ORDER BY id", ms(now.Add(-ret.Audit))); err != nil {
			return rep, fmt.Errorf("store: finding incidents past retention.audit: %w", err)
		}
	}
	gone := map[int64]bool{}
	for _, id := range rep.Audit {
		gone[id] = true
	}
	if ret.Evidence > 0 {
		ev, err := ids("SELECT id FROM incidents WHERE evidence_purged_at IS NULL AND "+closedAt+" < ? ORDER BY id", ms(now.Add(-ret.Evidence)))
		if err != nil {
			return rep, fmt.Errorf("store: finding incidents past retention.evidence: %w", err)
		}
		for _, id := range ev {
			if !gone[id] {
				rep.Evidence = append(rep.Evidence, id)
			}
		}
	}
	var quarantined []int64
	if ret.Quarantine > 0 {
		if quarantined, err = ids("SELECT id FROM messages WHERE disposition = 'quarantined' AND received_at < ? AND (raw IS NOT NULL OR raw_chunks > 0 OR subject != '') ORDER BY id", ms(now.Add(-ret.Quarantine))); err != nil {
			return rep, fmt.Errorf("store: finding quarantined messages past retention.quarantine: %w", err)
		}
		rep.Quarantined = len(quarantined)
	}
	var oldEvents []int64
	if ret.Audit > 0 {
		if oldEvents, err = ids("SELECT id FROM events WHERE incident_id IS NULL AND at < ? ORDER BY id", ms(now.Add(-ret.Audit))); err != nil {
			return rep, fmt.Errorf("store: finding old events: %w", err)
		}
		rep.OldEvents = len(oldEvents)
	}
	if dryRun || rep.Empty() {
		return rep, nil
	}

	for _, id := range rep.Evidence {
		if err := s.tx(ctx, func(tx *sql.Tx) error { return s.purgeEvidence(ctx, tx, id, now) }); err != nil {
			return rep, fmt.Errorf("store: purging the evidence of %s: %w", Ref(id), err)
		}
	}
	if len(quarantined) > 0 {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE messages SET raw = NULL, raw_chunks = 0, subject = '' WHERE disposition = 'quarantined' AND received_at < ?", ms(now.Add(-ret.Quarantine)))
			return err
		})
		if err != nil {
			return rep, fmt.Errorf("store: purging quarantined messages: %w", err)
		}
	}
	// The old events about no incident go before the purged incidents'
	// notes join that trail.
	if len(oldEvents) > 0 {
		if err := s.tx(ctx, func(tx *sql.Tx) error { return s.trimChain(ctx, tx, 0, oldEvents[len(oldEvents)-1]) }); err != nil {
			return rep, fmt.Errorf("store: removing old events: %w", err)
		}
	}
	for _, id := range rep.Audit {
		if err := s.tx(ctx, func(tx *sql.Tx) error { return s.purgeIncident(ctx, tx, id, now) }); err != nil {
			return rep, fmt.Errorf("store: removing %s: %w", Ref(id), err)
		}
	}
	return rep, s.Compact(ctx)
}

// Compact writes the WAL back into the database file and truncates it,
// then gives free pages back to the file system, so that deleted data is
// in neither file.
func (s *Store) Compact(ctx context.Context) error {
	for _, q := range []string{"PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA incremental_vacuum", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("store: %s: %w", q, err)
		}
		for rows.Next() {
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: %s: %w", q, err)
		}
	}
	return nil
}

func (s *Store) purgeEvidence(ctx context.Context, tx *sql.Tx, id int64, now time.Time) error {
	var msgs, origs, mails int64
	for _, q := range []struct {
		n   *int64
		sql string
	}{
		{&msgs, "UPDATE messages SET raw = NULL, raw_chunks = 0, subject = '' WHERE incident_id = ? AND (raw IS NOT NULL OR raw_chunks > 0 OR subject != '')"},
		{&origs, "UPDATE evidence SET body = '', subject = '' WHERE incident_id = ? AND (body != '' OR subject != '')"},
		{&mails, "UPDATE outbox SET mail = X'' WHERE incident_id = ? AND state NOT IN ('queued', 'held', 'sending', 'awaiting_approval') AND length(mail) > 0"},
	} {
		res, err := tx.ExecContext(ctx, q.sql, id)
		if err != nil {
			return err
		}
		*q.n, _ = res.RowsAffected()
	}
	if _, err := tx.ExecContext(ctx, "UPDATE incidents SET evidence_purged_at = ? WHERE id = ?", ms(now), id); err != nil {
		return err
	}
	return s.appendEvent(ctx, tx, id, now, Actor, EventEvidencePurged,
		fmt.Sprintf("retention.evidence: the content of %d messages, %d forwarded originals (their SHA-256 kept) and %d emails was purged", msgs, origs, mails), "")
}

func (s *Store) purgeIncident(ctx context.Context, tx *sql.Tx, id int64, now time.Time) error {
	head, err := s.chainHead(ctx, tx, id)
	if err != nil {
		return err
	}
	var n int64
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE incident_id = ?", id).Scan(&n); err != nil {
		return err
	}
	// Every table that refers to incidents loses the incident's rows,
	// whichever feature added it (found from the schema's foreign keys);
	// the constraints are checked at commit, when all are gone.
	refs, err := incidentRefs(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA defer_foreign_keys = ON"); err != nil {
		return err
	}
	s.forgetHead(chainOf(id))
	qs := []string{"DELETE FROM chain_anchors WHERE chain = ?"}
	for _, r := range refs {
		qs = append(qs, fmt.Sprintf("DELETE FROM %q WHERE %q = ?", r[0], r[1]))
	}
	qs = append(qs, "DELETE FROM incidents WHERE id = ?")
	for _, q := range qs {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return s.appendEvent(ctx, tx, 0, now, Actor, EventIncidentPurged,
		fmt.Sprintf("retention.audit: %s was removed with its %d events; its trail ended with hash %s", Ref(id), n, head), "")
}

// incidentRefs lists the (table, column) pairs whose foreign key refers to
// incidents.
func incidentRefs(ctx context.Context, tx *sql.Tx) ([][2]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT m.name, f."from" FROM sqlite_master m, pragma_foreign_key_list(m.name) f
		WHERE m.type = 'table' AND f."table" = 'incidents' ORDER BY m.name`)
	if err != nil {
		return nil, fmt.Errorf("reading the tables that refer to incidents: %w", err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var r [2]string
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// trimChain removes the events of a chain up to and including event last,
// anchoring the chain at the last removed event's hash.
func (s *Store) trimChain(ctx context.Context, tx *sql.Tx, chain, last int64) error {
	var h string
	err := tx.QueryRowContext(ctx, "SELECT hash FROM events WHERE id = ?", last).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	where := "incident_id = ?"
	args := []any{chain, last}
	if chain == 0 {
		where = "incident_id IS NULL AND ? = 0"
	}
	s.forgetHead(chain)
	if _, err := tx.ExecContext(ctx, "DELETE FROM events WHERE "+where+" AND id <= ?", args...); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO chain_anchors (chain, hash, before) VALUES (?, ?, ?) ON CONFLICT (chain) DO UPDATE SET hash = excluded.hash, before = excluded.before",
		chain, h, last+1)
	return err
}
