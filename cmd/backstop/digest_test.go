package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"backstop/templates"
	"backstop/workflow"
)

// TestDigestEndToEnd runs the daemon against a real IMAP server and the
// embedded SMTP server. Its clock says Sunday 8 March 2026 until the
// scheduler has seen the digest job, then jumps past Monday 09:00: the
// weekly digest goes out through SMTP once, and a restart sends no second.
func TestDigestEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b, withLeads(PersonConfig{Name: "Jane Doe", Address: "jane@acme.example"}))
		var offset atomic.Int64
		offset.Store(int64(time.Until(time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC))))
		clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		h.imap.Append("INBOX", forward(t, 1, "jordan@globex.example"))
		tn := testTunables
		tn.now = clock
		tn.sweep = 200 * time.Millisecond
		h.startWith(tn)
		h.waitSent(2) // the acknowledgement, the lead notice
		st := h.store()
		db, err := sql.Open("sqlite", "file:"+h.cfg.Storage.Path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		h.eventually("the scheduler to see the digest job", func() bool {
			var n int
			db.QueryRow("SELECT count(*) FROM schedule_runs WHERE name = 'digest'").Scan(&n)
			return n == 1
		})
		offset.Add(int64(21*time.Hour + 5*time.Second)) // Monday 9 March, 09:00:05
		sent := h.waitSent(3)                           // the acknowledgement, the lead notice, the digest
		var digest *capturedMail
		for _, c := range sent {
			m := parseCaptured(t, c)
			if strings.HasPrefix(m.Subject, "Weekly digest") {
				if digest != nil {
					t.Fatal("two digests")
				}
				digest = &capturedMail{subject: m.Subject, text: m.Text, to: c.To}
			}
		}
		if digest == nil {
			t.Fatalf("no digest among %d emails", len(sent))
		}
		if digest.subject != "Weekly digest 2026-W10: 1 new incident, 1 waiting on a lead" || len(digest.to) != 1 || digest.to[0] != "jane@acme.example" {
			t.Errorf("digest %q to %v", digest.subject, digest.to)
		}
		if !strings.Contains(digest.text, "INC-1  Jordan") || strings.Contains(digest.text, "useless") {
			t.Errorf("digest text:\n%s", digest.text)
		}
		h.stop()
		h.startWith(tn)
		h.settle(st)
		time.Sleep(500 * time.Millisecond)
		if n := len(h.smtp.Sent()); n != 3 {
			t.Errorf("after a restart, %d emails were sent, want still 3 (no second digest)", n)
		}
	})
}

type capturedMail struct {
	subject, text string
	to            []string
}

// startWith runs backstop with tunables tn until stop.
func (h *harness) startWith(tn tunables) {
	saved := testTunables
	testTunables = tn
	defer func() { testTunables = saved }()
	h.start()
}

// TestDigestPreviewAndIncidentFilters runs `backstop digest --preview` and
// `backstop incidents -state -since -waiting` on a database with incidents.
func TestDigestPreviewAndIncidentFilters(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "backstop.db")
	path := filepath.Join(dir, "backstop.yaml")
	// The key comes from storage.key_file, not $BACKSTOP_STORAGE_KEY (which
	// only -db reads): digest must use the configuration's key.
	keyFile := filepath.Join(dir, "storage-key")
	if err := os.WriteFile(keyFile, []byte(testEnv(storageKeyEnv)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(storageKeyEnv, "")
	if err := os.WriteFile(path, []byte(validConfig+"storage:\n  path: "+db+"\n  key_file: "+keyFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"IMAP_PW", "SMTP_PW", "TOKEN"} {
		t.Setenv(k, testEnv(k))
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	wcfg, err := cfg.workflowConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := workflow.Open(ctx, db, testStorageKey)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	desk, err := workflow.NewDesk(wcfg, st, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	for i, cust := range []string{"jordan@globex.example", "casey@initech.example"} {
		in := &workflow.Inbound{
			Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1), MessageID: cust + ".fwd@acme.example",
			Raw:  []byte("From: sam@acme.example\r\n\r\nforwarded\r\n"),
			From: workflow.Person{Name: "Sam Rivera", Address: "sam@acme.example"}, Subject: "Fwd: Invoice 4471",
			Kind: "forward", Originals: []workflow.Original{{From: workflow.Person{Name: "Customer", Address: cust}, Subject: "Invoice 4471", Body: "You are useless."}},
		}
		if _, err := desk.Handle(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	runOK := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(ctx, args, &out, &errb); code != 0 {
			t.Fatalf("backstop %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return out.String()
	}
	out := runOK("digest", "--preview", "-config", path)
	for _, want := range []string{"To:          Jane Doe <jane@acme.example>", "Subject:     Weekly digest 20", "New incidents: 2 (2 still open)", "INC-1  Customer"} {
		if !strings.Contains(out, want) {
			t.Errorf("digest --preview lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "useless") || strings.Contains(out, "Invoice") {
		t.Errorf("the digest shows content:\n%s", out)
	}
	out = runOK("digest", "--preview", "--week", "2025-W02", "-config", path, "-html")
	if !strings.Contains(out, "Weekly digest 2025-W02") || !strings.Contains(out, "6 January 2025 to 12 January 2025") || !strings.Contains(out, "<!DOCTYPE html>") {
		t.Errorf("digest --week 2025-W02:\n%s", out)
	}
	var errb bytes.Buffer
	if code := run(ctx, []string{"digest", "--preview", "--week", "2025-W60", "-config", path}, &bytes.Buffer{}, &errb); code != 2 || !strings.Contains(errb.String(), "not an ISO week") && !strings.Contains(errb.String(), "has no week") {
		t.Errorf("a bad week: exit %d, %s", code, errb.String())
	}

	out = runOK("incidents", "-config", path, "-waiting")
	if !strings.Contains(out, "INC-1") || !strings.Contains(out, "INC-2") || strings.Index(out, "INC-1") > strings.Index(out, "INC-2") {
		t.Errorf("incidents -waiting (oldest first):\n%s", out)
	}
	out = runOK("incidents", "-config", path, "-state", "resolved,closed")
	if strings.Contains(out, "INC-") {
		t.Errorf("incidents -state resolved,closed:\n%s", out)
	}
	out = runOK("incidents", "-config", path, "-state", "open", "-since", "7d")
	if !strings.Contains(out, "INC-2") {
		t.Errorf("incidents -state open -since 7d:\n%s", out)
	}
	out = runOK("incidents", "-config", path, "-since", "2000-01-01")
	if !strings.Contains(out, "INC-1") {
		t.Errorf("incidents -since 2000-01-01:\n%s", out)
	}
	errb.Reset()
	if code := run(ctx, []string{"incidents", "-config", path, "-state", "happy"}, &bytes.Buffer{}, &errb); code != 2 || !strings.Contains(errb.String(), "-state \"happy\": use open, reported") {
		t.Errorf("a bad state: exit %d, %s", code, errb.String())
	}
}

// TestCheckinEndToEnd: a lead resolves INC-1 by reply; three days later
// (the daemon's clock jumps) the reporter gets the check-in through SMTP,
// answers it through IMAP, and the leads get the answer; the reporter gets
// no command receipt for it.
func TestCheckinEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		var offset atomic.Int64
		offset.Store(int64(time.Until(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))))
		saved := testTunables
		testTunables.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		testTunables.sweep = 200 * time.Millisecond
		defer func() { testTunables = saved }()

		ch := newCommandHarness(t, b, 0)
		jane := ch.notices["jane@acme.example"]
		ch.deliver(reply{from: "jane@acme.example", to: &jane, text: "RESOLVE", authRes: trusted("acme.example")})
		ch.handled(2)
		if got := ch.state(); got != "resolved" {
			t.Fatalf("INC-1 is %s", got)
		}
		before := len(ch.sentTo("sam@acme.example"))
		offset.Add(int64(72*time.Hour + time.Minute))
		c, m := ch.nthTo("sam@acme.example", before+1)
		if m.Subject != "[INC-1] How are you doing?" || !strings.Contains(m.Text, "how are you?") {
			t.Fatalf("check-in: %q\n%s", m.Subject, m.Text)
		}
		ch.deliver(reply{from: "sam@acme.example", to: &c, text: "Thanks for asking. It shook me more than I thought.", authRes: trusted("acme.example")})
		ch.handled(3)
		for _, lead := range []string{"jane@acme.example", "omar@acme.example"} {
			found := false
			for _, c := range ch.sentTo(lead) {
				m := parseCaptured(t, c)
				if strings.Contains(m.Subject, "answered the check-in") {
					found = strings.Contains(m.Text, "It shook me more than I thought.")
				}
			}
			if !found {
				t.Errorf("%s did not get the answer to the check-in", lead)
			}
		}
		if n := len(ch.sentTo("sam@acme.example")); n != before+1 {
			t.Errorf("sam got %d emails after the check-in, want none (no receipt for an answer)", n-before-1)
		}
	})
}
