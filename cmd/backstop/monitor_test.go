package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"backstop/mailbox"
)

// get fetches a URL of the daemon's HTTP endpoint.
func (h *harness) get(path string) (int, string) {
	h.t.Helper()
	h.mu.Lock()
	addr := h.d.httpLn.Addr().String()
	h.mu.Unlock()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func withHTTP() harnessOption {
	return func(h *harness) { h.cfg.HTTP.Listen = "127.0.0.1:0" }
}

// TestHealthAndMetrics reads /healthz and /metrics over HTTP while backstop
// works on a real IMAP server: each metric the README documents is there,
// with the counts of what happened, and no address or content in them.
func TestHealthAndMetrics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b, withHTTP())
		h.start()
		h.imap.Append("INBOX", forward(t, 1, "jordan@globex.example"))
		h.eventually("the forward to be processed", func() bool {
			return len(h.imap.UIDs(h.imap.Mailbox("backstop/processed"))) == 1
		})
		h.waitSent(2) // the lead's notice and the reporter's acknowledgement
		h.settle(h.store())

		code, body := h.get("/healthz")
		if code != http.StatusOK || !strings.Contains(body, "imap: ok: watching INBOX") || !strings.Contains(body, "smtp: ok") {
			t.Errorf("/healthz = %d:\n%s", code, body)
		}
		code, body = h.get("/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics = %d", code)
		}
		for _, want := range []string{
			`backstop_messages_handled_total{class="forward"} 1`,
			`backstop_incidents_opened_total 1`,
			`backstop_outbox_messages{state="sent"} 2`,
			`backstop_smtp_send_attempts_total 2`,
			`backstop_smtp_send_failures_total{kind="temporary"} 0`,
			`backstop_commands_refused_total 0`,
			`backstop_notices_held_back_total 0`,
			`backstop_imap_watching 1`,
			`backstop_imap_reconnects_total 0`,
			`backstop_smtp_reachable 1`,
			`backstop_parse_duration_seconds_count 1`,
			`backstop_build_info{revision=`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		// What is really exported, not only the names listed in
		// TestMetricsDocumented, is in the README.
		documented := readmeMetrics(t)
		for _, m := range regexp.MustCompile(`(?m)^# TYPE (backstop_[a-z_]+) `).FindAllStringSubmatch(body, -1) {
			if !documented[m[1]] {
				t.Errorf("/metrics exports %s, which README.md does not document", m[1])
			}
		}
		if m := regexp.MustCompile(`backstop_imap_last_activity_timestamp_seconds (\S+)`).FindStringSubmatch(body); m == nil || m[1] == "0" {
			t.Errorf("no IMAP activity time in /metrics")
		}
		for _, secret := range []string{"@", "jordan", "globex"} {
			for _, line := range strings.Split(body, "\n") {
				if strings.HasPrefix(line, "backstop_") && strings.Contains(line, secret) {
					t.Errorf("metric line carries %q: %s", secret, line)
				}
			}
		}
	})
}

// TestHealthFailsOnWrongPassword: a refused password makes /healthz fail
// with the reason, is logged at ERROR once, and over a minute of virtual
// time backstop logs in once: no storm that would lock the account.
func TestHealthFailsOnWrongPassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b, withHTTP(), withProxy())
		h.cfg.IMAP.password = "wrong"
		var mu sync.Mutex
		var virtual time.Duration
		passed := make(chan struct{})
		h.sleep = func(ctx context.Context, d time.Duration) bool {
			mu.Lock()
			before := virtual
			virtual += d
			over := virtual >= time.Minute
			mu.Unlock()
			if before < time.Minute && over {
				close(passed)
			}
			if over {
				<-ctx.Done()
				return false
			}
			return true
		}
		h.start()
		select {
		case <-passed:
		case <-time.After(60 * time.Second):
			t.Fatalf("the watcher never waited past a minute of virtual time\n%s", h.logs.String())
		}
		code, body := h.get("/healthz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "PERMANENT") || !strings.Contains(body, "imap.password") {
			t.Errorf("/healthz = %d:\n%s", code, body)
		}
		if n := h.proxy.Conns(); n != 1 {
			t.Errorf("%d IMAP connections in a minute of virtual time, want 1", n)
		}
		if n := strings.Count(h.logs.String(), "level=ERROR"); n != 1 {
			t.Errorf("%d ERROR lines, want 1:\n%s", n, h.logs.String())
		}
		if strings.Contains(body, "wrong") || strings.Contains(h.logs.String(), "wrong") {
			t.Errorf("the password appears in /healthz or the log")
		}
	})
}

// TestSystemdNotify: under systemd (NOTIFY_SOCKET set) backstop says
// READY=1 once it watches, then WATCHDOG=1 while the watch loop is alive.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	env := map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": ""}
	n := newNotifier(func(k string) string { return env[k] })
	if n.watchdog != 200*time.Millisecond {
		t.Fatalf("watchdog %v, want 200ms", n.watchdog)
	}
	var mu sync.Mutex
	st := mailbox.WatchStatus{}
	status := func() mailbox.WatchStatus {
		mu.Lock()
		defer mu.Unlock()
		s := st
		if s.Watching {
			s.Heartbeat = time.Now()
		}
		return s
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		n.run(ctx, status, discardLogger{})
		close(done)
	}()
	mu.Lock()
	st.Watching = true
	mu.Unlock()

	var got []string
	buf := make([]byte, 256)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for !slices.Contains(got, "WATCHDOG=1") {
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, string(buf[:k]))
	}
	cancel()
	<-done
	if got[0] != "READY=1\nSTATUS=watching" {
		t.Errorf("first notification %q, want READY=1", got[0])
	}
}

type discardLogger struct{}

func (discardLogger) Warn(string, ...any) {}

// TestVersion: `backstop version` prints the module version and revision.
func TestVersion(t *testing.T) {
	var out, errOut strings.Builder
	if code := run(t.Context(), []string{"version"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !regexp.MustCompile(`^backstop \S+ \(revision \S+, go\S+\)\n$`).MatchString(out.String()) {
		t.Errorf("version output %q", out.String())
	}
}

// TestMetricsDocumented: every metric backstop exports is listed in the
// README's "Health and metrics" section, and every one listed there exists.
func TestMetricsDocumented(t *testing.T) {
	doc := readmeMetrics(t)
	names := []string{metricMessages, metricIncidents, metricCommands, metricRefused, metricOutbox, metricSendAttempts,
		metricSendFailures, metricHeldBack, metricReconnects, metricLastActivity, metricWatching, metricSMTPReachable,
		metricParse, metricBuild}
	for _, n := range names {
		if !doc[n] {
			t.Errorf("%s is not documented in README.md", n)
		}
		delete(doc, n)
	}
	for n := range doc {
		t.Errorf("README.md documents %s, which backstop does not export", n)
	}
}

// readmeMetrics returns the metric names README.md mentions.
func readmeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]bool{}
	for _, m := range regexp.MustCompile("`(backstop_[a-z_]+)`").FindAllStringSubmatch(string(readme), -1) {
		doc[m[1]] = true
	}
	return doc
}
