package workflow

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The audit trail is hash-chained: each incident's events form one chain
// (events about no incident, chain 0, another), and each event carries the
// hash of the event before it in its chain (prev_hash) and its own hash:
//
//	hash = hex(SHA-256("backstop event v1" | prev_hash | id | chain | at | actor | kind | detail | message_id))
//
// with the fields JSON-encoded as one array, detail in clear (so that a key
// rotation leaves the chain as it is). Changing, removing or reordering an
// event breaks the chain at that event; Verify names it.

// shaMark precedes the SHA-256 of the forward in the detail of its
// reported/evidence event.
const shaMark = "; sha256 "

const (
	headQuery     = "SELECT hash FROM events WHERE incident_id = ? ORDER BY id DESC LIMIT 1"
	headNullQuery = "SELECT hash FROM events WHERE incident_id IS NULL ORDER BY id DESC LIMIT 1"
	// slotQuery gives the next event's id and its chain's head in one go
	// (they are needed for every event).
	slotQuery = `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
		coalesce((SELECT id FROM events ORDER BY id DESC LIMIT 1), 0)) + 1, (` + headQuery + `)`
	slotNullQuery = `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
		coalesce((SELECT id FROM events ORDER BY id DESC LIMIT 1), 0)) + 1, (` + headNullQuery + `)`
)

// chainOf is the chain an event belongs to.
func chainOf(incident int64) int64 { return incident }

// eventHash computes an event's hash.
func eventHash(prev string, id, chain int64, at int64, actor, kind, detail, messageID string) string {
	b, _ := json.Marshal([]any{"backstop event v1", prev, id, chain, at, actor, kind, detail, messageID})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// chainHead returns the hash of the last event of a chain: "" for an empty
// chain, or its anchor when retention removed all of it.
func (s *Store) chainHead(ctx context.Context, q querier, chain int64) (string, error) {
	if tx, ok := q.(*sql.Tx); ok {
		s.idsMu.Lock()
		h, known := s.heads[chain]
		known = known && s.idsTx == tx
		s.idsMu.Unlock()
		if known {
			return h, nil
		}
	}
	var h string
	var err error
	if chain == 0 {
		err = s.query(ctx, q, headNullQuery).Scan(&h)
	} else {
		err = s.query(ctx, q, headQuery, chain).Scan(&h)
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = q.QueryRowContext(ctx, "SELECT hash FROM chain_anchors WHERE chain = ?", chain).Scan(&h)
		if errors.Is(err, sql.ErrNoRows) {
			return "", nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("reading the head of the audit trail: %w", err)
	}
	return h, nil
}

// appendEvent is the one way an event enters the audit trail: it chains
// it to the previous event of its incident and seals its detail.
func (s *Store) appendEvent(ctx context.Context, tx *sql.Tx, incident int64, at time.Time, actor, kind, detail, messageID string) (err error) {
	chain := chainOf(incident)
	id, err := s.nextID(ctx, tx, "events")
	if err != nil {
		return err
	}
	prev, err := s.chainHead(ctx, tx, chain)
	if err != nil {
		return err
	}
	h := eventHash(prev, id, chain, ms(at), actor, kind, detail, messageID)
	_, err = tx.ExecContext(ctx, `INSERT INTO events (id, incident_id, at, actor, kind, detail, message_id, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, nullID(incident), ms(at), actor, kind, s.sealString("events", "detail", id, detail), messageID, prev, h)
	if err != nil {
		return fmt.Errorf("recording a %s event: %w", kind, err)
	}
	s.idsMu.Lock()
	s.useTx(tx)
	s.heads[chain] = h
	s.idsMu.Unlock()
	return nil
}

// newChain records that chain starts empty in tx: the chain of an
// incident tx just created (ids are never reused, so no event or anchor
// of it can exist), which chainHead then need not look for.
func (s *Store) newChain(tx *sql.Tx, chain int64) {
	s.idsMu.Lock()
	s.useTx(tx)
	s.heads[chain] = ""
	s.idsMu.Unlock()
}

// forgetHead drops what chainHead knows of chain, after its events or
// anchor changed other than by appendEvent.
func (s *Store) forgetHead(chain int64) {
	s.idsMu.Lock()
	delete(s.heads, chain)
	s.idsMu.Unlock()
}

// countDetails counts the events of an incident (0: about no incident) of
// kind whose detail contains substr. The detail is sealed: SQL cannot
// look into it (LIKE), this does.
func (s *Store) countDetails(ctx context.Context, q querier, incident int64, kind, substr string) (int, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, detail FROM events WHERE incident_id IS ? AND kind = ?", nullID(incident), kind)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id int64
		var v []byte
		if err := rows.Scan(&id, &v); err != nil {
			return 0, err
		}
		d, err := s.openString("events", "detail", id, v)
		if err != nil {
			return 0, err
		}
		if strings.Contains(d, substr) {
			n++
		}
	}
	return n, rows.Err()
}

// AppendEvent records an event done outside a mail (an export, a purge)
// in the audit trail. incident 0: about no incident.
func (s *Store) AppendEvent(ctx context.Context, incident int64, actor, kind, detail string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return s.appendEvent(ctx, tx, incident, time.Now(), actor, kind, detail, "")
	})
}

// backfillChain chains the events of a database made before the trail was
// hash-chained, oldest first. Their detail may be in clear or sealed.
func (s *Store) backfillChain(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT id, coalesce(incident_id, 0), at, actor, kind, detail, message_id FROM events WHERE hash = '' ORDER BY id")
		if err != nil {
			return err
		}
		type ev struct {
			id, chain, at           int64
			actor, kind, detail, mi string
		}
		var evs []ev
		for rows.Next() {
			var e ev
			var d []byte
			if err := rows.Scan(&e.id, &e.chain, &e.at, &e.actor, &e.kind, &d, &e.mi); err != nil {
				rows.Close()
				return err
			}
			e.detail = string(d)
			evs = append(evs, e)
		}
		rows.Close()
		heads := map[int64]string{}
		for _, e := range evs {
			if isSealed([]byte(e.detail)) {
				p, err := s.open("events", "detail", e.id, []byte(e.detail))
				if err != nil {
					return err
				}
				e.detail = string(p)
			}
			prev, ok := heads[e.chain]
			if !ok {
				// The chain's earlier events, if any, are chained already.
				err := tx.QueryRowContext(ctx, "SELECT hash FROM events WHERE coalesce(incident_id, 0) = ? AND id < ? ORDER BY id DESC LIMIT 1", e.chain, e.id).Scan(&prev)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
			}
			h := eventHash(prev, e.id, e.chain, e.at, e.actor, e.kind, e.detail, e.mi)
			if _, err := tx.ExecContext(ctx, "UPDATE events SET prev_hash = ?, hash = ? WHERE id = ?", prev, h, e.id); err != nil {
				return err
			}
			heads[e.chain] = h
		}
		return nil
	})
}

// Problem is one thing Verify found wrong.
type Problem struct {
	Table string // events, messages or evidence
	Row   int64
	Chain int64 // events: the incident (0: about no incident)
	What  string
}

func (p Problem) String() string {
	if p.Table == "events" {
		ref := "events about no incident"
		if p.Chain != 0 {
			ref = Ref(p.Chain)
		}
		return fmt.Sprintf("event #%d (%s): %s", p.Row, ref, p.What)
	}
	return fmt.Sprintf("%s row #%d: %s", p.Table, p.Row, p.What)
}

// VerifyReport is what Verify checked and found.
type VerifyReport struct {
	Events   int // events checked
	Chains   int // chains (incidents, and events about no incident)
	Messages int // stored originals whose SHA-256 was checked
	Evidence int // evidence texts whose SHA-256 was checked
	Heads    map[int64]string
	Problems []Problem // in id order: the first is the first broken link
}

// OK reports whether nothing was found wrong.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

// Verify checks the audit trail's hash chains from event fromID on (0:
// all of it), and, when evidence is set, the SHA-256 of every stored
// original and evidence text. It reads in one transaction.
func (s *Store) Verify(ctx context.Context, fromID int64, evidence bool) (*VerifyReport, error) {
	r := &VerifyReport{Heads: map[int64]string{}}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		recorded, err := s.verifyEvents(ctx, tx, fromID, r)
		if err != nil {
			return err
		}
		if evidence {
			return s.verifyEvidence(ctx, tx, r, recorded)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: verifying: %w", err)
	}
	return r, nil
}

// recordedSum is the SHA-256 a reported/evidence event recorded for the
// forward it is about.
type recordedSum struct {
	event int64
	sum   string
}

// verifyEvents checks the chains and returns, by "chain/Message-ID", the
// SHA-256 the trail recorded for each forward.
func (s *Store) verifyEvents(ctx context.Context, tx *sql.Tx, fromID int64, r *VerifyReport) (map[string]recordedSum, error) {
	recorded := map[string]recordedSum{}
	anchors := map[int64]string{}
	rows, err := tx.QueryContext(ctx, "SELECT chain, hash FROM chain_anchors")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c int64
		var h string
		rows.Scan(&c, &h)
		anchors[c] = h
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, "SELECT id, coalesce(incident_id, 0), at, actor, kind, detail, message_id, prev_hash, hash FROM events WHERE id >= ? ORDER BY id", fromID)
	if err != nil {
		return nil, err
	}
	type ev struct {
		id, chain, at               int64
		actor, kind, mi, prev, hash string
		detail                      []byte
	}
	var evs []ev
	for rows.Next() {
		var e ev
		if err := rows.Scan(&e.id, &e.chain, &e.at, &e.actor, &e.kind, &e.detail, &e.mi, &e.prev, &e.hash); err != nil {
			rows.Close()
			return nil, err
		}
		evs = append(evs, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	heads := map[int64]string{}
	for _, e := range evs {
		r.Events++
		prev, seen := heads[e.chain]
		if !seen {
			r.Chains++
			if fromID > 0 {
				err := tx.QueryRowContext(ctx, "SELECT hash FROM events WHERE coalesce(incident_id, 0) = ? AND id < ? ORDER BY id DESC LIMIT 1", e.chain, e.id).Scan(&prev)
				if errors.Is(err, sql.ErrNoRows) {
					prev = anchors[e.chain]
				} else if err != nil {
					return nil, err
				}
			} else {
				prev = anchors[e.chain]
			}
		}
		bad := func(what string) {
			r.Problems = append(r.Problems, Problem{Table: "events", Row: e.id, Chain: e.chain, What: what})
		}
		detail, err := s.open("events", "detail", e.id, e.detail)
		switch {
		case err != nil:
			bad("its detail does not decrypt (altered, or moved from another row)")
		case e.prev != prev:
			bad("its link to the previous event is broken (an event before it was removed, inserted or altered)")
		case eventHash(e.prev, e.id, e.chain, e.at, e.actor, e.kind, string(detail), e.mi) != e.hash:
			bad("its content does not match its hash (the event was altered)")
		}
		heads[e.chain] = e.hash
		if err == nil && (e.kind == EventReported || e.kind == EventEvidence) {
			if _, sum, ok := strings.Cut(string(detail), shaMark); ok {
				recorded[strconv.FormatInt(e.chain, 10)+"/"+e.mi] = recordedSum{e.id, sum}
			}
		}
	}
	for c, h := range heads {
		r.Heads[c] = h
	}
	return recorded, nil
}

func (s *Store) verifyEvidence(ctx context.Context, tx *sql.Tx, r *VerifyReport, recorded map[string]recordedSum) error {
	check := func(table, column, query string, count *int) error {
		rows, err := tx.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var v []byte
			var sum, key string
			if err := rows.Scan(&id, &v, &sum, &key); err != nil {
				return err
			}
			*count++
			p, err := s.open(table, column, id, v)
			rec, inTrail := recorded[key]
			switch {
			case err != nil:
				r.Problems = append(r.Problems, Problem{Table: table, Row: id, What: column + " does not decrypt (altered, or moved from another row)"})
			case sum != "" && digest(p) != sum:
				r.Problems = append(r.Problems, Problem{Table: table, Row: id, What: column + " does not match its recorded SHA-256 " + sum})
			case inTrail && rec.sum != digest(p):
				r.Problems = append(r.Problems, Problem{Table: table, Row: id, What: fmt.Sprintf("%s does not match the SHA-256 the audit trail recorded for it (event #%d)", column, rec.event)})
			}
		}
		return rows.Err()
	}
	if err := check("messages", "raw", "SELECT id, raw, sha256, coalesce(incident_id, 0) || '/' || message_id FROM messages WHERE raw IS NOT NULL ORDER BY id", &r.Messages); err != nil {
		return err
	}
	if err := s.verifyChunks(ctx, tx, r, recorded); err != nil {
		return err
	}
	return check("evidence", "body", "SELECT id, body, sha256, '' FROM evidence WHERE body != '' ORDER BY id", &r.Evidence)
}

// readTx runs f in a transaction it rolls back: a consistent read.
func (s *Store) readTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	s.forgetIDs()
	if err := s.keys.load(ctx, tx); err != nil {
		return err
	}
	return f(tx)
}

// VerifyTail checks the last n events of the trail (serve's start-up
// check). It returns an error naming the first broken link.
func (s *Store) VerifyTail(ctx context.Context, n int) (*VerifyReport, error) {
	var from int64
	err := s.db.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) - ? + 1 FROM events", n).Scan(&from)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if from < 1 {
		from = 1
	}
	rep, err := s.Verify(ctx, from, false)
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		return rep, fmt.Errorf("store: the audit trail of %s is broken at %s; run `backstop verify` for the whole report (events from #%s checked)", s.path, rep.Problems[0], strconv.FormatInt(from, 10))
	}
	return rep, nil
}

// verifyChunks checks the messages stored in chunks (chunks.go): each
// chunk opens in its place, none is missing or extra, and the whole
// matches its recorded SHA-256 and the one the audit trail recorded.
func (s *Store) verifyChunks(ctx context.Context, tx *sql.Tx, r *VerifyReport, recorded map[string]recordedSum) error {
	type large struct {
		id       int64
		chunks   int
		sum, key string
	}
	var ls []large
	rows, err := tx.QueryContext(ctx, `SELECT id, raw_chunks, sha256, coalesce(incident_id, 0) || '/' || message_id FROM messages WHERE raw_chunks > 0 ORDER BY id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var l large
		if err := rows.Scan(&l.id, &l.chunks, &l.sum, &l.key); err != nil {
			rows.Close()
			return err
		}
		ls = append(ls, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, l := range ls {
		r.Messages++
		bad := func(what string) {
			r.Problems = append(r.Problems, Problem{Table: "messages", Row: l.id, What: what})
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM message_chunks WHERE message_id = ?", l.id).Scan(&n); err != nil {
			return err
		}
		if n != l.chunks {
			bad(fmt.Sprintf("raw is stored in %d chunks, but %d were recorded (chunks removed or added)", n, l.chunks))
			continue
		}
		h := sha256.New()
		cr := &chunkReader{ctx: ctx, s: s, q: tx, msg: l.id, count: l.chunks, sum: h}
		if _, err := io.Copy(io.Discard, cr); err != nil {
			bad("raw does not read back: " + err.Error())
			continue
		}
		got := hex.EncodeToString(h.Sum(nil))
		rec, inTrail := recorded[l.key]
		switch {
		case l.sum != "" && got != l.sum:
			bad("raw does not match its recorded SHA-256 " + l.sum)
		case inTrail && rec.sum != got:
			bad(fmt.Sprintf("raw does not match the SHA-256 the audit trail recorded for it (event #%d)", rec.event))
		}
	}
	// Chunks past a message's count (added, or left behind by a purge).
	extra, err := tx.QueryContext(ctx, `SELECT c.message_id, count(*) FROM message_chunks c JOIN messages m ON m.id = c.message_id
		WHERE c.idx >= m.raw_chunks GROUP BY c.message_id ORDER BY c.message_id`)
	if err != nil {
		return err
	}
	defer extra.Close()
	for extra.Next() {
		var id int64
		var n int
		if err := extra.Scan(&id, &n); err != nil {
			return err
		}
		if !slices.ContainsFunc(ls, func(l large) bool { return l.id == id }) {
			r.Problems = append(r.Problems, Problem{Table: "messages", Row: id, What: fmt.Sprintf("%d chunks of raw are stored for a message recorded without them", n)})
		}
	}
	return extra.Err()
}
