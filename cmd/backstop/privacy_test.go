package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"backstop/workflow"
)

// testStorageKey is the storage key of the tests' databases; testEnv and
// the process environment ($BACKSTOP_STORAGE_KEY, also for the binaries
// the tests run) give it.
var testStorageKey = []byte("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")

func init() {
	os.Setenv(storageKeyEnv, testEnv(storageKeyEnv))
}

// canary are words only the customers' messages hold (hand-picked: no
// template, address or header of backstop's has them).
var canary = []string{"zorblaxian", "quibbleworth", "frindlepox", "snargleflap", "wumpuscrud"}

// canaryForward is a teammate's forward whose customer wrote canary[n] in
// the subject and the text.
func canaryForward(t testing.TB, n int) []byte {
	raw := string(forward(t, n, fmt.Sprintf("c%d@org%d.example", n, n)))
	w := canary[n%len(canary)]
	raw = strings.Replace(raw, "incompetent", w, 1)
	raw = strings.Replace(raw, "export still broken", w+" still broken", -1)
	return []byte(raw)
}

// grepDB lists the words found in the database file and its WAL.
func grepDB(t *testing.T, path string, words []string) []string {
	t.Helper()
	var found []string
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				found = append(found, filepath.Base(f)+": "+w)
			}
		}
	}
	return found
}

// TestPrivacyAtRest runs the daemon over the in-process IMAP server with a
// canary corpus, greps the database files and the debug log while it runs
// and after it stopped, then uses verify, export, purge and rotate-key as
// an operator would.
func TestPrivacyAtRest(t *testing.T) {
	h := newHarness(t, backends[0])
	const n = 10
	for i := range n {
		h.imap.Append("INBOX", canaryForward(t, i))
	}
	h.start()
	st := h.store()
	h.eventually("all incidents", func() bool { return len(h.incidents(st)) == n })
	h.settle(st)
	db := h.cfg.Storage.Path
	if found := grepDB(t, db, canary); len(found) > 0 {
		t.Errorf("in clear while running: %v", found)
	}
	h.stop()
	st.Close()
	if found := grepDB(t, db, canary); len(found) > 0 {
		t.Errorf("in clear after stop: %v", found)
	}
	for _, w := range canary {
		if strings.Contains(h.logs.String(), w) {
			t.Errorf("the debug log holds %q", w)
		}
	}
	for _, f := range []string{db, db + "-wal"} {
		if fi, err := os.Stat(f); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}

	// The operator's commands.
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "backstop.yaml")
	os.WriteFile(cfgPath, []byte(validConfig+"storage:\n  path: "+db+"\n"), 0o600)
	for _, k := range []string{"IMAP_PW", "SMTP_PW", "TOKEN", storageKeyEnv} {
		t.Setenv(k, testEnv(k))
	}
	cli := func(args ...string) (string, int) {
		var out, errOut strings.Builder
		code := run(context.Background(), args, &out, &errOut)
		return out.String() + errOut.String(), code
	}
	if out, code := cli("verify", "-config", cfgPath); code != 0 || !strings.Contains(out, "OK: the audit trail is intact") {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}

	zipPath := filepath.Join(dir, "inc-3.zip")
	if out, code := cli("export", "-config", cfgPath, "INC-3", "-out", zipPath); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
	fi, err := os.Stat(zipPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v %v, want mode 0600", fi, err)
	}
	checkExport(t, zipPath, canary[2])
	if out, code := cli("export", "-config", cfgPath, "INC-3", "-out", zipPath); code == 0 || !strings.Contains(out, "exists") {
		t.Errorf("a second export over the first: exit %d\n%s", code, out)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".backstop-export-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	st = h.store()
	_, evs, err := st.Incident(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Kind != workflow.EventExported || !strings.HasPrefix(last.Actor, "operator ") || !strings.Contains(last.Detail, "inc-3.zip") {
		t.Errorf("the export's event: %+v", last)
	}
	st.Close()

	if out, code := cli("purge", "-config", cfgPath, "-dry-run"); code != 0 || !strings.Contains(out, "would purge: evidence of none") {
		t.Errorf("purge -dry-run: exit %d\n%s", code, out)
	}
	if out, code := cli("rotate-key", "-config", cfgPath); code != 0 || !strings.Contains(out, "values re-encrypted under data key") {
		t.Errorf("rotate-key: exit %d\n%s", code, out)
	}
	if out, code := cli("verify", "-config", cfgPath); code != 0 {
		t.Errorf("verify after rotate-key: exit %d\n%s", code, out)
	}
	if found := grepDB(t, db, canary); len(found) > 0 {
		t.Errorf("in clear after rotation: %v", found)
	}

	// The wrong key is refused, and says what to do.
	t.Setenv(storageKeyEnv, workflow.NewKey())
	if out, code := cli("verify", "-config", cfgPath); code == 0 || !strings.Contains(out, "wrong storage key") {
		t.Errorf("verify with the wrong key: exit %d\n%s", code, out)
	}
	t.Setenv(storageKeyEnv, "")
	if out, code := cli("verify", "-config", cfgPath); code == 0 || !strings.Contains(out, "openssl rand -base64 32") {
		t.Errorf("verify without a key: exit %d\n%s", code, out)
	}
}

// checkExport opens an export and checks its parts against its manifest.
func checkExport(t *testing.T, path, word string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	var received, sent int
	for name, data := range files {
		switch {
		case strings.HasPrefix(name, "received/"):
			received++
			if !bytes.Contains(data, []byte(word)) {
				t.Errorf("%s does not hold the original's text", name)
			}
		case strings.HasPrefix(name, "sent/"):
			sent++
		}
	}
	if received != 1 || sent < 2 {
		t.Errorf("%d originals and %d sent emails in the export, want 1 and the notice and acknowledgement: %v", received, sent, keys(files))
	}
	for _, name := range []string{"audit.json", "audit.txt", "SHA256SUMS"} {
		if len(files[name]) == 0 {
			t.Errorf("%s missing from the export", name)
		}
	}
	if !strings.Contains(string(files["audit.txt"]), "hash ") || !strings.Contains(string(files["audit.json"]), `"prev_hash"`) {
		t.Error("the audit trail in the export lacks its hash chain")
	}
	sums := 0
	for _, line := range strings.Split(strings.TrimSpace(string(files["SHA256SUMS"])), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("manifest line %q", line)
		}
		h := sha256.Sum256(files[name])
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("manifest: %s does not match", name)
		}
		sums++
	}
	if sums != len(files)-1 {
		t.Errorf("the manifest lists %d files of %d", sums, len(files)-1)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestServeRunsRetentionAndChecksTheTrail: serve purges what is due at
// start and on its ticker, and says at start-up when the trail was altered.
func TestServeRunsRetentionAndChecksTheTrail(t *testing.T) {
	h := newHarness(t, backends[0])
	h.imap.Append("INBOX", canaryForward(t, 0))
	h.start()
	st := h.store()
	h.eventually("the incident", func() bool { return len(h.incidents(st)) == 1 })
	h.settle(st)
	h.stop()
	st.Close()

	// Closed a while ago: a hand-made shortcut past RESOLVE, in plain SQL.
	raw, err := sql.Open("sqlite", h.cfg.Storage.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("UPDATE incidents SET state = 'closed', closed_at = ?", time.Now().Add(-200*24*time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}

	serve := func() (*syncBuffer, func()) {
		logs := &syncBuffer{}
		tn := testTunables
		tn.retentionEvery = 20 * time.Millisecond
		d, err := newDaemon(context.Background(), h.cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), tn)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.run(ctx) }()
		return logs, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("daemon: %v", err)
			}
			d.close()
		}
	}
	logs, stop := serve()
	h.eventually("the retention purge", func() bool { return strings.Contains(logs.String(), "retention purge") })
	stop()
	if !strings.Contains(logs.String(), "evidence_purged=INC-1") {
		t.Errorf("the log does not say what was purged:\n%s", logs.String())
	}
	var n int
	raw.QueryRow("SELECT count(*) FROM messages WHERE raw IS NOT NULL").Scan(&n)
	if n != 0 {
		t.Errorf("%d raw messages left after the purge", n)
	}

	if _, err := raw.Exec("UPDATE events SET actor = 'someone else' WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	logs, stop = serve()
	h.eventually("the start-up check", func() bool { return strings.Contains(logs.String(), "AUDIT TRAIL ALTERED") })
	stop()
	if !strings.Contains(logs.String(), "event #1 (INC-1): its content does not match its hash") {
		t.Errorf("the start-up check does not name the broken link:\n%s", logs.String())
	}
}

// TestStoreCommandsNeedTheDatabase: verify, purge, export and rotate-key on
// a path with no database say so, instead of making an empty one (which
// verify would call intact).
func TestStoreCommandsNeedTheDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "backstop.db")
	path := filepath.Join(dir, "backstop.yaml")
	if err := os.WriteFile(path, []byte(validConfig+"storage:\n  path: "+db+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"IMAP_PW", "SMTP_PW", "TOKEN"} {
		t.Setenv(k, testEnv(k))
	}
	for _, args := range [][]string{
		{"verify", "-config", path},
		{"purge", "-config", path, "-dry-run"},
		{"export", "-config", path, "INC-1", "-out", filepath.Join(dir, "x.zip")},
		{"rotate-key", "-config", path},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code == 0 || !strings.Contains(errb.String(), "no database at") {
			t.Errorf("backstop %s: exit %d, stderr %q", strings.Join(args, " "), code, errb.String())
		}
		if _, err := os.Stat(db); err == nil {
			t.Fatalf("backstop %s created %s", args[0], db)
		}
	}
}
