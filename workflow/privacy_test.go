package workflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// canary are words no template or address holds: they appear only in what
// customers and teammates wrote (subjects, bodies, notes, raw messages).
var canary = []string{"zorblaxian", "quibbleworth", "frindlepox", "snargleflap", "wumpuscrud", "grobbleneck"}

// grepFiles returns the canary words found in the database file or its WAL.
func grepFiles(t *testing.T, path string, words []string) []string {
	t.Helper()
	var found []string
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, w := range words {
			if bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(w))) {
				found = append(found, filepath.Base(f)+": "+w)
			}
		}
	}
	return found
}

// canaryFixture processes a corpus carrying the canary words: forwards,
// notes, a SHOW (evidence inline in an email), a quarantined outsider.
func canaryFixture(t *testing.T) *fixture {
	f := newFixture(t, func(c *Config) { c.Evidence = EvidenceInline })
	for i, w := range canary {
		in := f.forward(sam, abuse(jordan, "Invoice 4471 "+canary[5], "You "+w+" people, I will "+canary[(i+1)%len(canary)]+" you.", f.clk.Now().Add(-time.Duration(i)*time.Minute)))
		in.Note = "he called me a " + w
		f.handle(in, Processed)
	}
	f.do(jane, "NOTE the customer said "+canary[0]+" again on the phone", Processed)
	f.do(jane, "SHOW", Processed)
	// A command's arguments are note text: command_log keeps only an HMAC.
	f.do(jane, "RESOLVE he wrote "+canary[1]+" and apologised", Processed)
	out := f.plain(Person{Address: "stranger@elsewhere.example"}, "hello")
	out.Raw = rawMessage(out.From, "hello", "you "+canary[2]+" lot")
	f.handle(out, Quarantined)
	return f
}

func TestNothingInClearAtRest(t *testing.T) {
	f := canaryFixture(t)
	// The words went through: they are there, decrypted.
	_, ev := f.incident(1)
	var all strings.Builder
	for _, e := range ev {
		all.WriteString(e.Detail)
	}
	for _, r := range f.outbox() {
		m := f.mail(r.ID)
		all.WriteString(m.Text)
		for _, a := range m.Attachments {
			all.Write(a.Data)
		}
	}
	for _, w := range canary {
		if !strings.Contains(all.String(), w) {
			t.Errorf("%q is not in the decrypted trail and emails: the corpus did not go through", w)
		}
	}
	// While open (WAL in use) and after closing.
	if found := grepFiles(t, f.st.Path(), canary); len(found) > 0 {
		t.Errorf("in clear while running: %v", found)
	}
	path := f.st.Path()
	f.st.Close()
	if found := grepFiles(t, path, canary); len(found) > 0 {
		t.Errorf("in clear after close: %v", found)
	}
}

func TestKeyRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "backstop.db")

	// Missing key: nothing is created.
	if _, err := Open(ctx, path, nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Open without key: %v, want ErrNoKey", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open without key created %s", path)
	}

	st, err := Open(ctx, path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, clk: newClock()}
	d, err := NewDesk(testConfig(e.clk), st, loadTemplates(t))
	if err != nil {
		t.Fatal(err)
	}
	e.desk = d
	e.handle(e.forward(sam, abuse(jordan, "s", "You are useless.", e.clk.Now())), Processed)
	st.Close()

	snapshot := func() map[string][32]byte {
		m := map[string][32]byte{}
		entries, _ := os.ReadDir(dir)
		for _, en := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, en.Name()))
			m[en.Name()] = sha256.Sum256(b)
		}
		return m
	}
	before := snapshot()
	other := bytes.Repeat([]byte{0x17}, KeySize)
	_, err = Open(ctx, path, other)
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), KeyID(other)) || !strings.Contains(err.Error(), KeyID(testKey)) {
		t.Fatalf("Open with the wrong key: %v; want ErrWrongKey naming both key ids", err)
	}
	if _, err := Open(ctx, path, nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Open without key: %v", err)
	}
	after := snapshot()
	for name, sum := range before {
		if after[name] != sum {
			t.Errorf("%s changed by a refused Open", name)
		}
	}
	if len(after) != len(before) {
		t.Errorf("files before %v, after %v", before, after)
	}
}

// sealedUnder counts the values of every sealed column by data key id.
func sealedUnder(t *testing.T, st *Store) map[string]int {
	t.Helper()
	m := map[string]int{}
	for _, c := range SealedColumns {
		rows, err := st.db.Query("SELECT " + c.Column + " FROM " + c.Table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v []byte
			rows.Scan(&v)
			switch {
			case len(v) == 0:
			case isSealed(v):
				m[sealedKeyID(v)]++
			default:
				m["clear"]++
			}
		}
		rows.Close()
	}
	return m
}

func TestRotateKeyInterruptedAndResumed(t *testing.T) {
	f := canaryFixture(t)
	ctx := context.Background()
	old := sealedUnder(t, f.st)
	if len(old) != 1 || old["clear"] != 0 {
		t.Fatalf("before rotation: %v, want every value under one key", old)
	}

	// A second Store on the same file plays `backstop rotate-key` while
	// this one (serve) goes on handling mail.
	rot, err := Open(ctx, f.st.Path(), testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer rot.Close()
	defer func(n int) { batchSize = n }(batchSize)
	batchSize = 3
	rctx, cancel := context.WithCancel(ctx)
	batches := 0
	rot.afterBatch = func() {
		batches++
		if batches == 4 {
			cancel() // interrupted
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 40; i++ {
			select {
			case <-stop:
				return
			default:
			}
			in := f.forward(sam, abuse(jordan, "more", "serving during rotation "+canary[i%len(canary)], f.clk.Now()))
			if _, err := f.desk.Handle(ctx, in); err != nil {
				t.Errorf("Handle during rotation: %v", err)
				return
			}
			time.Sleep(20 * time.Millisecond) // mail arrives; it does not hold the lock forever
		}
	}()
	_, err = rot.RotateKey(rctx, nil)
	if err == nil {
		t.Fatal("RotateKey was not interrupted")
	}
	mid := sealedUnder(t, rot)
	if len(mid) < 2 {
		t.Errorf("after the interruption: %v, want values under both keys", mid)
	}
	rot.afterBatch = nil
	rs, err := rot.RotateKey(ctx, nil)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Resumed || rs.Resealed == 0 {
		t.Errorf("second RotateKey = %+v, want a resumed rotation", rs)
	}
	final := sealedUnder(t, f.st)
	if len(final) != 1 || final[rs.Key] == 0 {
		t.Errorf("after rotation: %v, want every value under %s", final, rs.Key)
	}
	var keys int
	f.st.db.QueryRow("SELECT count(*) FROM seal_keys").Scan(&keys)
	if keys != 1 {
		t.Errorf("%d data keys left, want 1", keys)
	}
	// Serve still reads everything, and the trail is intact.
	for _, r := range f.outbox() {
		f.mail(r.ID)
	}
	if rep, err := f.st.Verify(ctx, 0, true); err != nil || !rep.OK() {
		t.Fatalf("Verify after rotation: %v %v", err, rep.Problems)
	}
}

func TestChangeStorageKey(t *testing.T) {
	f := canaryFixture(t)
	ctx := context.Background()
	newKey := bytes.Repeat([]byte{0x99}, KeySize)
	if _, err := f.st.RotateKey(ctx, newKey); err != nil {
		t.Fatal(err)
	}
	path := f.st.Path()
	f.st.Close()
	if _, err := Open(ctx, path, testKey); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old storage key after the change: %v, want ErrWrongKey", err)
	}
	st, err := Open(ctx, path, newKey)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if rep, err := st.Verify(ctx, 0, true); err != nil || !rep.OK() {
		t.Fatalf("Verify under the new key: %v %v", err, rep)
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper string // SQL
		want   string // in the first problem
		fn     func(st *Store)
	}{
		{"event kind changed", "UPDATE events SET kind = 'note' WHERE id = 3", "event #3 (INC-1): its content does not match its hash", nil},
		{"event removed", "DELETE FROM events WHERE id = 3", "event #4 (INC-1): its link to the previous event is broken", nil},
		{"event detail swapped", "UPDATE events SET detail = (SELECT detail FROM events WHERE id = 2) WHERE id = 4", "event #4 (INC-1): its detail does not decrypt", nil},
		{"evidence text moved to another row", "UPDATE evidence SET body = (SELECT body FROM evidence WHERE id = 1) WHERE id = 2", "evidence row #2: body does not decrypt", nil},
		{"evidence hash changed", "UPDATE evidence SET sha256 = '00' WHERE id = 2", "evidence row #2: body does not match its recorded SHA-256", nil},
		{"raw message hash changed", "UPDATE messages SET sha256 = 'ff' WHERE id = 1", "messages row #1: raw does not match", nil},
		{"raw message and its hash replaced, with the key", "", "messages row #2: raw does not match the SHA-256 the audit trail recorded for it", func(st *Store) {
			fake := []byte("From: jordan@globex.example\r\n\r\nI was polite.\r\n")
			if _, err := st.db.Exec("UPDATE messages SET raw = ?, sha256 = ? WHERE id = 2", st.seal("messages", "raw", 2, fake), digest(fake)); err != nil {
				panic(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := canaryFixture(t)
			if rep, err := f.st.Verify(ctx, 0, true); err != nil || !rep.OK() {
				t.Fatalf("Verify before tampering: %v %v", err, rep.Problems)
			}
			if tt.fn != nil {
				tt.fn(f.st)
			} else if _, err := f.st.db.Exec(tt.tamper); err != nil {
				t.Fatal(err)
			}
			rep, err := f.st.Verify(ctx, 0, true)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || !strings.Contains(rep.Problems[0].String(), tt.want) {
				t.Fatalf("problems %v, want first %q", rep.Problems, tt.want)
			}
			if tt.name == "event kind changed" {
				if _, err := f.st.VerifyTail(ctx, 1000); err == nil || !strings.Contains(err.Error(), "event #3") {
					t.Errorf("VerifyTail: %v, want the broken link named", err)
				}
			}
		})
	}
}

func TestRetentionPurgesFromTheFiles(t *testing.T) {
	f := canaryFixture(t)
	ctx := context.Background()
	st := f.st
	// The sealed bytes of every evidence value: after the purge they must
	// be in neither file (a key leaked later must find nothing).
	var sealed [][]byte
	for _, q := range []string{"SELECT raw FROM messages WHERE raw IS NOT NULL", "SELECT body FROM evidence", "SELECT mail FROM outbox WHERE incident_id = 1"} {
		rows, err := st.db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v []byte
			rows.Scan(&v)
			if len(v) > 64 {
				sealed = append(sealed, v[headerSize+12:headerSize+12+32]) // 32 bytes of ciphertext
			}
		}
		rows.Close()
	}
	f.do(jane, "RESOLVE", Processed)
	sendAll(t, f.env)
	ret := Retention{Evidence: 180 * 24 * time.Hour, Audit: 3 * 365 * 24 * time.Hour, Quarantine: 30 * 24 * time.Hour}

	// Day 29: nothing is due.
	rep, err := st.Purge(ctx, ret, f.clk.Now().Add(29*24*time.Hour), false)
	if err != nil || !rep.Empty() {
		t.Fatalf("day 29: %+v %v", rep, err)
	}
	// Day 31: the quarantined outsider's mail goes.
	rep, err = st.Purge(ctx, ret, f.clk.Now().Add(31*24*time.Hour), false)
	if err != nil || rep.Quarantined != 1 || len(rep.Evidence) != 0 {
		t.Fatalf("day 31: %+v %v", rep, err)
	}
	// Day 181: a dry run changes nothing, then the evidence goes.
	day181 := f.clk.Now().Add(181 * 24 * time.Hour)
	if rep, err = st.Purge(ctx, ret, day181, true); err != nil || len(rep.Evidence) != 1 {
		t.Fatalf("dry run: %+v %v", rep, err)
	}
	if n := f.count("SELECT count(*) FROM evidence WHERE body != ''"); n == 0 {
		t.Fatal("the dry run purged")
	}
	if rep, err = st.Purge(ctx, ret, day181, false); err != nil || len(rep.Evidence) != 1 || rep.Evidence[0] != 1 {
		t.Fatalf("day 181: %+v %v", rep, err)
	}
	for q, want := range map[string]int{
		"SELECT count(*) FROM evidence WHERE body != '' OR subject != ''":                0,
		"SELECT count(*) FROM evidence WHERE sha256 != ''":                               7, // the fact, with its hash
		"SELECT count(*) FROM messages WHERE raw IS NOT NULL":                            0,
		"SELECT count(*) FROM outbox WHERE incident_id = 1 AND length(mail) > 0":         0,
		"SELECT count(*) FROM events WHERE incident_id = 1 AND kind = 'evidence_purged'": 1,
	} {
		if n := f.count(q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
	if r, err := st.Verify(ctx, 0, true); err != nil || !r.OK() {
		t.Fatalf("Verify after the evidence purge: %v %v", err, r.Problems)
	}
	// The purged values are in neither file.
	for _, path := range []string{st.Path(), st.Path() + "-wal"} {
		b, _ := os.ReadFile(path)
		for _, s := range sealed {
			if bytes.Contains(b, s) {
				t.Errorf("%s still holds purged ciphertext", filepath.Base(path))
				break
			}
		}
	}
	// Three years: the incident goes, with the rows other features keep
	// about it, and its end is recorded.
	if _, err := st.db.Exec("INSERT INTO reminders (incident_id, kind, n, at) VALUES (1, 'leads', 1, 0)"); err != nil {
		t.Fatal(err)
	}
	rep, err = st.Purge(ctx, ret, f.clk.Now().Add(3*366*24*time.Hour), false)
	if err != nil || len(rep.Audit) != 1 {
		t.Fatalf("3 years: %+v %v", rep, err)
	}
	if n := f.count("SELECT count(*) FROM incidents") + f.count("SELECT count(*) FROM events WHERE incident_id IS NOT NULL") +
		f.count("SELECT count(*) FROM outbox WHERE incident_id IS NOT NULL") + f.count("SELECT count(*) FROM reminders"); n != 0 {
		t.Errorf("%d rows left of the incident", n)
	}
	evs, _ := st.Events(ctx)
	if last := evs[len(evs)-1]; last.Kind != EventIncidentPurged || !strings.Contains(last.Detail, "INC-1") {
		t.Errorf("last event about no incident: %+v", last)
	}
	if r, err := st.Verify(ctx, 0, true); err != nil || !r.OK() {
		t.Fatalf("Verify after the audit purge: %v %v", err, r.Problems)
	}
}

// sendAll sends everything due, so that the rows reach a final state.
func sendAll(t *testing.T, e *env) {
	t.Helper()
	tr := &fakeTransport{}
	dp := NewDispatcher(e.st, tr, DispatchConfig{Now: func() time.Time { return e.clk.Now().Add(time.Hour) }})
	for {
		ok, err := dp.SendNext(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
	}
}

// TestEncryptExistingDatabase: a database written before encryption (its
// values in clear) is sealed by the first Open with a key.
func TestEncryptExistingDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		ms[0].sql, ms[1].sql, "PRAGMA user_version = 2",
		`INSERT INTO incidents (id, state, customer_address, reporter_address, created_at, updated_at) VALUES (1, 'reported', 'jordan@globex.example', 'sam@acme.example', 1, 1)`,
		`INSERT INTO messages (id, mailbox, uidvalidity, uid, dedupe_key, subject, received_at, class, disposition, incident_id, raw)
			VALUES (1, 'INBOX', 1, 1, 'a@b', 'Fwd: hi', 1, 'forward', 'processed', 1, CAST('From: x` + "\r\n\r\n" + `you zorblaxian' AS BLOB))`,
		`INSERT INTO evidence (id, incident_id, message_row, idx, subject, body) VALUES (1, 1, 1, 0, 'hi', 'you quibbleworth')`,
		`INSERT INTO events (id, incident_id, at, actor, kind, detail) VALUES (1, 1, 1, 'sam@acme.example', 'reported', 'note: frindlepox'), (2, NULL, 2, 'backstop', 'quarantined', 'x')`,
		`INSERT INTO outbox (id, incident_id, template, recipient, rcpt, message_id, mail, state, not_before, created_at)
			VALUES (1, 1, 'lead_notice', 'jane@acme.example', '["jane@acme.example"]', 'm@x', CAST('{"text":"snargleflap"}' AS BLOB), 'sent', 1, 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	if found := grepFiles(t, path, canary[:4]); len(found) != 4 {
		t.Fatalf("the old database should hold the words in clear: %v", found)
	}
	st, err := Open(ctx, path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	enc := st.Encrypted()
	if enc == nil || enc.Resealed != 7 {
		t.Fatalf("Encrypted() = %+v, want 7 values sealed", enc)
	}
	if found := grepFiles(t, path, canary); len(found) > 0 {
		t.Errorf("in clear after the first start with a key: %v", found)
	}
	_, evs, err := st.Incident(ctx, 1)
	if err != nil || len(evs) != 1 || evs[0].Detail != "note: frindlepox" || evs[0].Hash == "" {
		t.Fatalf("events after encryption: %+v %v", evs, err)
	}
	if r, err := st.Verify(ctx, 0, true); err != nil || !r.OK() || r.Messages != 1 || r.Evidence != 1 {
		t.Fatalf("Verify: %+v %v", r, err)
	}
	st.Close()
	// The second start says nothing.
	st2, err := Open(ctx, path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if st2.Encrypted() != nil {
		t.Error("the second start encrypted again")
	}
}

// TestLeastExposure: evidence goes to leads only, SHOW's answer only to the
// lead who asked; the reporter never gets the abusive text back; notices
// about quarantined mail carry none of its content.
func TestLeastExposure(t *testing.T) {
	f := canaryFixture(t)
	holds := func(m *OutMail) string {
		all := m.Subject + m.Text + m.HTML
		for _, a := range m.Attachments {
			all += string(a.Data)
		}
		for _, w := range canary {
			if strings.Contains(all, w) {
				return w
			}
		}
		return ""
	}
	shows := 0
	for _, r := range f.outbox() {
		m := f.mail(r.ID)
		w := holds(m)
		switch {
		case r.Recipient == sam.Address && w != "":
			t.Errorf("the reporter's %s (outbox #%d) holds %q", r.Template, r.ID, w)
		case r.Template == "quarantine_notice" && w != "":
			t.Errorf("a quarantine notice holds %q", w)
		case w != "" && r.Recipient != jane.Address && r.Recipient != omar.Address:
			t.Errorf("%s to %s holds %q: evidence goes to leads only", r.Template, r.Recipient, w)
		}
		if r.Template == "lead_notice" && strings.Contains(m.Text, canary[0]) {
			shows++
			if r.Recipient != jane.Address {
				t.Errorf("SHOW's answer went to %s, not the lead who asked", r.Recipient)
			}
		}
	}
	if shows != 1 {
		t.Errorf("%d answers to SHOW, want 1", shows)
	}
}
