package workflow

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestOpenCreatesPrivateFile(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "backstop.db")
	st, err := Open(context.Background(), path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if os.IsNotExist(err) && p != path {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), mode)
		}
	}
	var mode string
	if err := st.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q (%v), want wal", mode, err)
	}
	var fk int
	if err := st.db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign keys %d (%v)", fk, err)
	}
}

func TestOpenTightensExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backstop.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := Open(context.Background(), path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600", fi.Mode().Perm())
	}
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "backstop.db")
	for i := range 3 {
		st, err := Open(ctx, path, testKey)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var v int
		st.db.QueryRow("PRAGMA user_version").Scan(&v)
		if v != SchemaVersion() || v < 1 {
			t.Errorf("open %d: schema version %d, want %d", i, v, SchemaVersion())
		}
		if i == 0 {
			if _, err := st.db.Exec("INSERT INTO sync_state VALUES ('INBOX', 1, 7, 0)"); err != nil {
				t.Fatal(err)
			}
		}
		if uid, err := st.LastUID(ctx, "INBOX", 1); err != nil || uid != 7 {
			t.Errorf("open %d: data lost: LastUID %d %v", i, uid, err)
		}
		st.Close()
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "backstop.db")
	st, err := Open(ctx, path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.db.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, err = Open(ctx, path, testKey)
	if err == nil || !strings.Contains(err.Error(), "newer backstop") {
		t.Fatalf("Open = %v, want a refusal naming a newer backstop", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "missing", "backstop.db"), testKey); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("missing directory: %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o600)
	if _, err := Open(ctx, junk, testKey); err == nil {
		t.Errorf("junk file opened")
	}
	if _, err := Open(ctx, "", testKey); err == nil {
		t.Errorf("empty path opened")
	}
}

func TestLastUID(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	if uid, err := st.LastUID(ctx, "INBOX", 5); err != nil || uid != 0 {
		t.Fatalf("empty: %d %v", uid, err)
	}
	for _, step := range []struct {
		uv, uid uint32
	}{{5, 3}, {5, 9}, {5, 4}} {
		err := st.tx(ctx, func(tx *sql.Tx) error { return advance(ctx, tx, "INBOX", step.uv, step.uid, newClock().Now()) })
		if err != nil {
			t.Fatal(err)
		}
	}
	if uid, _ := st.LastUID(ctx, "INBOX", 5); uid != 9 {
		t.Errorf("LastUID = %d, want 9 (never backwards)", uid)
	}
	if uid, _ := st.LastUID(ctx, "Other", 5); uid != 0 {
		t.Errorf("another mailbox: %d", uid)
	}
}

// TestConcurrentHandle drives the desk from several goroutines, as a
// watcher and CLI commands might: every message is recorded exactly once,
// without SQLITE_BUSY.
func TestConcurrentHandle(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxPerIncidentHour = 1000; c.MaxPerRecipientHour = 1000; c.MaxQuarantineHour = 1000 })
	const workers, each = 6, 12
	ins := make([][]*Inbound, workers)
	for w := range workers {
		for i := range each {
			var in *Inbound
			switch i % 3 {
			case 0:
				in = e.forward(sam, abuse(Person{Address: fmt.Sprintf("c%d@globex.example", i)}, "s", fmt.Sprintf("w%d i%d", w, i), e.clk.Now()))
			case 1:
				in = e.plain(jordan, "spam")
			default:
				in = e.plain(Person{Address: "MAILER-DAEMON@x.example"}, "bounce")
			}
			ins[w] = append(ins[w], in)
		}
	}
	tr := &fakeTransport{}
	d := e.dispatcher(tr)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for _, in := range ins[w] {
				// Each message twice, the second time as a redelivery.
				for range 2 {
					if _, err := e.desk.Handle(context.Background(), in); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := d.SendNext(context.Background()); err != nil {
				t.Error(err)
			}
			if _, err := e.st.Stats(context.Background()); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if n := e.count("SELECT count(*) FROM messages"); n != workers*each {
		t.Errorf("%d messages recorded, want %d", n, workers*each)
	}
	// Forwards for the same customer from different workers share an
	// incident: 4 customers (i = 0, 3, 6, 9).
	if n := len(e.incidents()); n != 4 {
		t.Errorf("%d incidents, want 4", n)
	}
	stats, err := e.st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Messages[ClassForward] != workers*4 || stats.Quarantined != workers*4 || stats.Messages[ClassAuto] != workers*4 {
		t.Errorf("stats %+v", stats)
	}
	if stats.Incidents != 4 || stats.OpenIncidents != 4 {
		t.Errorf("stats %+v", stats)
	}
}

// TestStatementCache runs the same statement text inside its own open
// rows, and again after, through the connection's statement cache.
func TestStatementCache(t *testing.T) {
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "backstop.db"), testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	const q = "SELECT value FROM cache_test WHERE value >= ? ORDER BY value"
	err = st.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "CREATE TABLE cache_test (value INTEGER)"); err != nil {
			return err
		}
		for i := range 3 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO cache_test (value) VALUES (?)", i); err != nil {
				return err
			}
		}
		for range 2 {
			rows, err := tx.QueryContext(ctx, q, 0)
			if err != nil {
				return err
			}
			var got []string
			for rows.Next() {
				var v int
				rows.Scan(&v)
				// The same text while its rows are open: a statement of its own.
				var n int
				if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM ("+q+")", v).Scan(&n); err != nil {
					return err
				}
				var first int
				if err := tx.QueryRowContext(ctx, q, v).Scan(&first); err != nil {
					return err
				}
				got = append(got, fmt.Sprintf("%d:%d:%d", v, n, first))
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if want := "0:3:0 1:2:1 2:1:2"; strings.Join(got, " ") != want {
				t.Errorf("got %q, want %q", strings.Join(got, " "), want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointTruncatesWAL: after many writes, Checkpoint leaves an empty
// WAL.
func TestCheckpointTruncatesWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backstop.db")
	st, err := Open(context.Background(), path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.db.ExecContext(ctx, "CREATE TABLE wal_test (v BLOB)"); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if _, err := st.db.ExecContext(ctx, "INSERT INTO wal_test (v) VALUES (randomblob(8192))"); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("no WAL written: %v", err)
	}
	busy, _, err := st.Checkpoint(ctx)
	if err != nil || busy {
		t.Fatalf("checkpoint: busy %v, %v", busy, err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Errorf("WAL after the checkpoint: %d bytes (%v), want 0", fi.Size(), err)
	}
}
