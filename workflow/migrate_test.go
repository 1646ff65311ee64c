package workflow

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestMigrateFromV1 upgrades a database written by schema version 1, with
// an incident and outbox rows in every state it knew: nothing is lost, ids
// are kept, and the new states are allowed.
func TestMigrateFromV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "backstop.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		ms[0].sql,
		"PRAGMA user_version = 1",
		`INSERT INTO incidents (id, state, customer_address, reporter_address, created_at, updated_at) VALUES (3, 'severed', 'jordan@globex.example', 'sam@acme.example', 1, 1)`,
		`INSERT INTO outbox (id, incident_id, template, customer, recipient, token, envelope_from, rcpt, message_id, mail, state, not_before, created_at, sent_at)
			VALUES (7, 3, 'boundary', 1, 'jordan@globex.example', '', 'escalations+bounce-7@acme.example', '["jordan@globex.example"]', 'a@x', '{"text":"hi","html":""}', 'sent', 1, 1, 2),
			       (9, 3, 'lead_notice', 0, 'jane@acme.example', 'tok', 'e@x', '["jane@acme.example"]', 'b@x', '{"text":"","html":""}', 'uncertain', 1, 1, NULL)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	st, err := Open(ctx, path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.Outbox(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].ID != 7 || rows[0].State != OutSent || !rows[0].Customer || rows[1].ID != 9 || rows[1].State != OutUncertain {
		t.Fatalf("rows after the upgrade: %+v", rows)
	}
	if m, err := st.Mail(ctx, 7); err != nil || m.Text != "hi" || m.EnvelopeFrom != "escalations+bounce-7@acme.example" {
		t.Errorf("mail #7: %+v %v", m, err)
	}
	inc, _, err := st.Incident(ctx, 3)
	if err != nil || inc.State != StateSevered || !inc.Severed.IsZero() {
		t.Errorf("incident %+v %v", inc, err)
	}
	for _, state := range []string{OutAwaitingApproval, OutBounced} {
		if _, err := st.db.Exec("UPDATE outbox SET state = ? WHERE id = 9", state); err != nil {
			t.Errorf("state %s refused: %v", state, err)
		}
	}
	if _, err := st.db.Exec("UPDATE outbox SET state = 'lost' WHERE id = 9"); err == nil {
		t.Errorf("the state check is gone")
	}
	// New rows continue after the old ids: a bounce never names an old row.
	var seq int64
	if err := st.db.QueryRow("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").Scan(&seq); err != nil || seq < 9 {
		t.Errorf("outbox sequence %d %v", seq, err)
	}
}
