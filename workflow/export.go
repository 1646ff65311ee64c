package workflow

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// StoredMessage is a message as backstop received it, for an export.
type StoredMessage struct {
	ID          int64 // messages row
	MessageID   string
	From        string
	Received    time.Time
	Class       string
	SHA256      string   // of Raw as received; kept after Raw is purged
	AuthResults []string // the Authentication-Results it arrived with, top first
	Raw         []byte   // nil when not kept or purged
}

// Messages returns the messages recorded on an incident, oldest first,
// decrypted.
func (s *Store) Messages(ctx context.Context, incident int64) ([]StoredMessage, error) {
	var out []StoredMessage
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, message_id, from_address, received_at, class, sha256, auth_results
			FROM messages WHERE incident_id = ? ORDER BY id`, incident)
		if err != nil {
			return err
		}
		for rows.Next() {
			var o StoredMessage
			var at int64
			var auth string
			if err := rows.Scan(&o.ID, &o.MessageID, &o.From, &at, &o.Class, &o.SHA256, &auth); err != nil {
				rows.Close()
				return err
			}
			o.Received = time.UnixMilli(at).UTC()
			if auth != "" {
				json.Unmarshal([]byte(auth), &o.AuthResults)
			}
			out = append(out, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// The raw message, in the column or in chunks (chunks.go).
		for i := range out {
			r, err := s.openRaw(ctx, tx, out[i].ID)
			if err != nil || r == nil {
				if err != nil {
					return err
				}
				continue
			}
			// Room for Size bytes and the read that finds the end:
			// bytes.Buffer grows (copying the whole) when less than
			// MinRead is free, which for a large message doubled it.
			buf := bytes.NewBuffer(make([]byte, 0, r.Size+bytes.MinRead))
			_, err = buf.ReadFrom(r)
			r.Close()
			if err != nil {
				return err
			}
			out[i].Raw = buf.Bytes()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: reading the messages of %s: %w", Ref(incident), err)
	}
	return out, nil
}
