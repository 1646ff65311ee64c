package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"backstop/mailbox/mailtest"
)

// watchPrivacyMarker is in the subject and body of every test message: it
// must never appear in the watcher's log.
const watchPrivacyMarker = "you-are-all-idiots-7f3a"

// watchDeadline bounds every wait in these tests: generous, never a
// timing assertion.
const watchDeadline = 20 * time.Second

// watchBackend is what the in-memory server and Dovecot both offer.
type watchBackend interface {
	Append(mailbox string, raw []byte, flags ...imap.Flag) imap.UID
	UIDs(mailbox string) []imap.UID
	Messages(mailbox string) []mailtest.Message
	RecreateMailbox(name string) uint32
	UIDValidity(mailbox string) uint32
	CreateMailbox(name string)
	NewClient(t testing.TB) *imapclient.Client
	Separator() rune
}

// watchServer is one backend under test.
type watchServer struct {
	watchBackend
	name               string
	addr, tlsAddr      string
	username, password string
	cert               *mailtest.Cert
}

var watchBackends = []struct {
	name  string
	start func(t *testing.T) *watchServer
}{
	{"memserver", func(t *testing.T) *watchServer {
		s := mailtest.NewIMAPServer(t)
		return &watchServer{s, "memserver", s.Addr, s.TLSAddr, s.Username, s.Password, s.Cert}
	}},
	{"dovecot", func(t *testing.T) *watchServer {
		d := mailtest.StartDovecot(t)
		return &watchServer{d, "dovecot", d.Addr, d.TLSAddr, d.Username, d.Password, d.Cert}
	}},
	{"cyrus", func(t *testing.T) *watchServer {
		c := mailtest.StartCyrus(t)
		return &watchServer{c, "cyrus", c.Addr, c.TLSAddr, c.Username, c.Password, c.Cert}
	}},
}

// forEachWatchBackend runs the same test against every backend; Dovecot
// skips unless enabled (see mailtest.StartDovecot).
func forEachWatchBackend(t *testing.T, f func(t *testing.T, srv *watchServer)) {
	for _, b := range watchBackends {
		t.Run(b.name, func(t *testing.T) { f(t, b.start(t)) })
	}
}

// watchMessage returns a message with Message-ID <id@test.example>, padded
// to at least size bytes.
func watchMessage(id string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Angry Customer <angry@customer.example>\r\n")
	fmt.Fprintf(&b, "To: escalations@support.example\r\n")
	fmt.Fprintf(&b, "Subject: %s %s\r\n", watchPrivacyMarker, id)
	fmt.Fprintf(&b, "Message-ID: <%s@test.example>\r\n", id)
	fmt.Fprintf(&b, "Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\n")
	fmt.Fprintf(&b, "%s: message %s\r\n", watchPrivacyMarker, id)
	for b.Len() < size {
		b.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n")
	}
	return b.Bytes()
}

func watchMessageID(raw []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(strings.Trim(m.Header.Get("Message-ID"), "<>"), "@test.example")
}

// watchStore is the test seam for the workflow: an in-memory Checkpoint
// and Handler that commits each outcome and dedupes by Message-ID.
type watchStore struct {
	mu        sync.Mutex
	last      map[string]uint32      // mailbox/uidvalidity -> highest committed UID
	outcome   map[string]Disposition // Message-ID -> recorded disposition
	processed map[string]int         // Message-ID -> times processed for real
	calls     []Delivery             // every Handle call, in order
	spools    []spoolInfo            // every spooled delivery, in order
	order     []string               // Message-IDs in the order first processed
	changed   chan struct{}

	// Hooks, set before the watcher starts.
	fail        func(d *Delivery) error       // injected failure, before commit
	disposition func(d *Delivery) Disposition // default Processed, TooLarge -> Quarantined
	afterCommit func(d *Delivery)
}

func newWatchStore() *watchStore {
	return &watchStore{
		last:      make(map[string]uint32),
		outcome:   make(map[string]Disposition),
		processed: make(map[string]int),
		changed:   make(chan struct{}),
	}
}

func watchKey(mailbox string, uidValidity uint32) string {
	return fmt.Sprintf("%s/%d", mailbox, uidValidity)
}

func (st *watchStore) LastUID(ctx context.Context, mailbox string, uidValidity uint32) (uint32, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.last[watchKey(mailbox, uidValidity)], nil
}

func (st *watchStore) Handle(ctx context.Context, d *Delivery) (Disposition, error) {
	st.mu.Lock()
	c := *d
	c.Raw = bytes.Clone(d.Raw)
	if d.Spool != nil {
		// A spooled message is recorded as read from its file, with
		// what the file was like while the handler had it.
		raw, err := io.ReadAll(d.Body())
		if err != nil {
			st.mu.Unlock()
			return 0, err
		}
		c.Raw = raw
		st.spools = append(st.spools, spoolSeen(d, raw))
	}
	st.calls = append(st.calls, c)
	st.broadcastLocked()
	fail, choose, after := st.fail, st.disposition, st.afterCommit
	st.mu.Unlock()

	if fail != nil {
		if err := fail(d); err != nil {
			return 0, err
		}
	}
	id := watchMessageID(c.Raw)
	if d.TooLarge {
		id = fmt.Sprintf("too-large/%d/%d", d.UIDValidity, d.UID)
	}

	st.mu.Lock()
	disp, seen := st.outcome[id]
	if !seen {
		disp = Processed
		if d.TooLarge {
			disp = Quarantined
		}
		if choose != nil {
			disp = choose(d)
		}
		st.outcome[id] = disp
		st.processed[id]++
		st.order = append(st.order, id)
	}
	k := watchKey(d.Mailbox, d.UIDValidity)
	st.last[k] = max(st.last[k], d.UID)
	st.broadcastLocked()
	st.mu.Unlock()

	if after != nil {
		after(d)
	}
	return disp, nil
}

func (st *watchStore) broadcastLocked() {
	close(st.changed)
	st.changed = make(chan struct{})
}

// waitFor waits until cond (called with the store locked) holds.
func (st *watchStore) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), watchDeadline)
	defer cancel()
	for {
		st.mu.Lock()
		ok, changed := cond(), st.changed
		st.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

// waitProcessed waits until every id has been processed.
func (st *watchStore) waitProcessed(t *testing.T, ids ...string) {
	t.Helper()
	st.waitFor(t, fmt.Sprintf("%d messages processed", len(ids)), func() bool {
		for _, id := range ids {
			if st.processed[id] == 0 {
				return false
			}
		}
		return true
	})
}

// checkOnce fails unless each id was processed exactly once and nothing
// else was.
func (st *watchStore) checkOnce(t *testing.T, ids ...string) {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, id := range ids {
		if n := st.processed[id]; n != 1 {
			t.Errorf("%s processed %d times, want once", id, n)
		}
	}
	if len(st.processed) != len(ids) {
		t.Errorf("processed %d distinct messages (%v), want %d", len(st.processed), st.order, len(ids))
	}
}

func (st *watchStore) snapshot() []Delivery {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(st.calls)
}

// watchLog collects the watcher's log for the test log and for checks.
type watchLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	t    testing.TB
	done bool
}

func (l *watchLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.done {
		l.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (l *watchLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newWatchLog returns a logger whose output is checked, when the test
// ends, for message content.
func newWatchLog(t *testing.T) (*slog.Logger, *watchLog) {
	l := &watchLog{t: t}
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.done = true
		if bytes.Contains(l.buf.Bytes(), []byte(watchPrivacyMarker)) {
			t.Errorf("message content appeared in the watcher's log")
		}
	})
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})), l
}

// watchConfig is a configuration for addr with small tunables.
func watchConfig(t *testing.T, srv *watchServer, addr string) (IMAPConfig, *watchLog) {
	logger, log := newWatchLog(t)
	return IMAPConfig{
		Addr:           addr,
		TLS:            TLSNone,
		Username:       srv.username,
		Password:       srv.password,
		Mailbox:        "INBOX",
		Processed:      "Processed",
		Quarantine:     "Quarantine",
		PollInterval:   50 * time.Millisecond,
		IdleRestart:    300 * time.Millisecond,
		CommandTimeout: 5 * time.Second,
		// The keepalive probe gets the same time as every command.
		KeepaliveTimeout: 5 * time.Second,
		MinBackoff:       10 * time.Millisecond,
		MaxBackoff:       200 * time.Millisecond,
		// Tests re-create mailboxes under the watcher: a watched mailbox
		// missing for a moment is a permanent failure, retried soon here.
		PermanentRetry: 200 * time.Millisecond,
		MaxMessageSize: 4 << 20,
		Logger:         logger,
	}, log
}

// runningWatcher is a Watcher running in the background.
type runningWatcher struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startWatcher(t *testing.T, cfg IMAPConfig, st *watchStore) *runningWatcher {
	t.Helper()
	return startWatcherWith(t, cfg, st, st)
}

// startWatcherWith is startWatcher with a handler of its own (a Preparer,
// a Committer) in front of st.
func startWatcherWith(t *testing.T, cfg IMAPConfig, st *watchStore, h Handler) *runningWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningWatcher{cancel: cancel, done: make(chan error, 1)}
	w := NewWatcher(cfg, st, h)
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it: the message in hand is finished and
// moved before Run returns, so the server's state can be checked after.
func (r *runningWatcher) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run = %v, want nil after cancel", err)
			}
		case <-time.After(watchDeadline):
			t.Errorf("Run did not return after cancel")
		}
	})
}

func watchIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return ids
}

// waitMailbox polls the server until mailbox holds n messages.
func waitMailbox(t *testing.T, srv *watchServer, mailbox string, n int) {
	t.Helper()
	deadline := time.Now().Add(watchDeadline)
	for len(srv.UIDs(mailbox)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d messages, want %d", mailbox, len(srv.UIDs(mailbox)), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func checkMailbox(t *testing.T, srv *watchServer, mailbox string, ids ...string) {
	t.Helper()
	var got []string
	for _, m := range srv.Messages(mailbox) {
		got = append(got, watchMessageID(m.Raw))
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", mailbox, got, want)
	}
}

// TestWatchDeliversInOrder: messages already there and messages arriving
// while idling are each delivered exactly once, whole, by ascending UID,
// then moved to the processed mailbox.
func TestWatchDeliversInOrder(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st := newWatchStore()
		ids := watchIDs("order", 6)
		raws := map[string][]byte{}
		for _, id := range ids[:3] {
			raws[id] = watchMessage(id, 200)
			srv.Append("INBOX", raws[id])
		}
		cfg, _ := watchConfig(t, srv, srv.addr)
		w := startWatcher(t, cfg, st)
		st.waitProcessed(t, ids[:3]...)
		for _, id := range ids[3:] {
			raws[id] = watchMessage(id, 5000)
			srv.Append("INBOX", raws[id])
		}
		st.waitProcessed(t, ids...)
		w.stop(t)

		st.checkOnce(t, ids...)
		calls := st.snapshot()
		for i, c := range calls {
			id := watchMessageID(c.Raw)
			if !bytes.Equal(c.Raw, raws[id]) || c.Size != int64(len(c.Raw)) {
				t.Errorf("delivery %d (UID %d): %d bytes, Size %d; want exactly the %d bytes appended", i, c.UID, len(c.Raw), c.Size, len(raws[id]))
			}
			if c.Redelivered || c.TooLarge || c.Mailbox != "INBOX" || c.UIDValidity == 0 {
				t.Errorf("delivery %d: %+v", i, c)
			}
			if i > 0 && c.UID <= calls[i-1].UID {
				t.Errorf("UID %d delivered after UID %d", c.UID, calls[i-1].UID)
			}
		}
		st.mu.Lock()
		if !slices.Equal(st.order, ids) {
			t.Errorf("processing order %v, want %v", st.order, ids)
		}
		st.mu.Unlock()
		checkMailbox(t, srv, "INBOX")
		checkMailbox(t, srv, "Processed", ids...)
	})
}

// TestWatchRestart: a new watcher with the same checkpoint processes
// nothing twice and loses nothing appended while none was running.
func TestWatchRestart(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st := newWatchStore()
		ids := watchIDs("restart", 5)
		for _, id := range ids[:3] {
			srv.Append("INBOX", watchMessage(id, 100))
		}
		cfg, _ := watchConfig(t, srv, srv.addr)
		w := startWatcher(t, cfg, st)
		st.waitProcessed(t, ids[:3]...)
		w.stop(t)

		for _, id := range ids[3:] {
			srv.Append("INBOX", watchMessage(id, 100))
		}
		w = startWatcher(t, cfg, st)
		st.waitProcessed(t, ids...)
		w.stop(t)

		st.checkOnce(t, ids...)
		if n := len(st.snapshot()); n != len(ids) {
			t.Errorf("%d handler calls, want %d (nothing offered twice)", n, len(ids))
		}
		checkMailbox(t, srv, "INBOX")
		checkMailbox(t, srv, "Processed", ids...)
	})
}

// TestWatchRedelivery: messages at or below the checkpoint that are still
// in the mailbox (committed, then a crash before the move) are offered
// again with Redelivered set; the handler returns the recorded
// disposition and they are moved accordingly.
func TestWatchRedelivery(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st := newWatchStore()
		srv.Append("INBOX", watchMessage("redeliver-0", 100))
		uid := srv.Append("INBOX", watchMessage("redeliver-1", 100))
		srv.Append("INBOX", watchMessage("redeliver-2", 100))
		// The store committed the first two before the crash.
		validity := srv.UIDValidity("INBOX")
		st.last[watchKey("INBOX", validity)] = uint32(uid)
		st.outcome["redeliver-0"] = Processed
		st.outcome["redeliver-1"] = Quarantined

		cfg, _ := watchConfig(t, srv, srv.addr)
		w := startWatcher(t, cfg, st)
		st.waitProcessed(t, "redeliver-2")
		w.stop(t)

		st.checkOnce(t, "redeliver-2")
		calls := st.snapshot()
		var got []string
		for _, c := range calls {
			got = append(got, fmt.Sprintf("%s:%v", watchMessageID(c.Raw), c.Redelivered))
		}
		want := []string{"redeliver-0:true", "redeliver-1:true", "redeliver-2:false"}
		if !slices.Equal(got, want) {
			t.Errorf("deliveries %v, want %v", got, want)
		}
		checkMailbox(t, srv, "INBOX")
		checkMailbox(t, srv, "Processed", "redeliver-0", "redeliver-2")
		checkMailbox(t, srv, "Quarantine", "redeliver-1")
	})
}

// TestWatchCrashBetweenCommitAndMove: the connection dies right after the
// handler committed; the message is offered again as redelivered, not
// processed twice, and moved exactly once.
func TestWatchCrashBetweenCommitAndMove(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		p := mailtest.NewProxy(t, srv.addr)
		st := newWatchStore()
		var once sync.Once
		st.afterCommit = func(d *Delivery) { once.Do(p.DropAll) }
		srv.Append("INBOX", watchMessage("crash-0", 100))
		cfg, _ := watchConfig(t, srv, p.Addr)
		w := startWatcher(t, cfg, st)
		st.waitFor(t, "a redelivery", func() bool {
			return slices.ContainsFunc(st.calls, func(d Delivery) bool { return d.Redelivered })
		})
		w.stop(t)
		st.checkOnce(t, "crash-0")
		checkMailbox(t, srv, "INBOX")
		checkMailbox(t, srv, "Processed", "crash-0")
	})
}

// TestWatchUIDValidityChange: after the mailbox is re-created (new
// UIDVALIDITY), everything in it is scanned again; what was processed
// before is recognised by Message-ID.
func TestWatchUIDValidityChange(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		const box = "Watched" // Dovecot cannot delete INBOX
		srv.CreateMailbox(box)
		p := mailtest.NewProxy(t, srv.addr)
		st := newWatchStore()
		srv.Append(box, watchMessage("validity-0", 100))
		srv.Append(box, watchMessage("validity-1", 100))
		cfg, _ := watchConfig(t, srv, p.Addr)
		cfg.Mailbox = box
		startWatcher(t, cfg, st)
		st.waitProcessed(t, "validity-0", "validity-1")
		old := srv.UIDValidity(box)

		// Restored from a backup: a new mailbox with one known message and
		// one new one, under a new UIDVALIDITY.
		validity := srv.RecreateMailbox(box)
		srv.Append(box, watchMessage("validity-1", 100))
		srv.Append(box, watchMessage("validity-2", 100))
		p.DropAll()
		st.waitProcessed(t, "validity-2")
		st.waitFor(t, "validity-1 offered under the new UIDVALIDITY", func() bool {
			// Not compared with validity: right after a re-create Dovecot's
			// STATUS may still answer for the deleted mailbox.
			return slices.ContainsFunc(st.calls, func(d Delivery) bool {
				return d.UIDValidity != old && watchMessageID(d.Raw) == "validity-1"
			})
		})
		st.checkOnce(t, "validity-0", "validity-1", "validity-2")
		if validity == old {
			t.Fatalf("UIDVALIDITY did not change")
		}
	})
}

// TestWatchDropMidFetch: a connection cut in the middle of a message's
// literal never yields a delivery with a truncated body; the message is
// delivered whole after reconnecting.
func TestWatchDropMidFetch(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		p := mailtest.NewProxy(t, srv.addr)
		st := newWatchStore()
		cfg, log := watchConfig(t, srv, p.Addr)
		srv.Append("INBOX", watchMessage("cut-0", 100))
		startWatcher(t, cfg, st)
		st.waitProcessed(t, "cut-0")

		raw := watchMessage("cut-1", 1<<20)
		p.DropAfter(256 << 10) // well inside the 1 MiB literal
		srv.Append("INBOX", raw)
		st.waitProcessed(t, "cut-1")

		for _, c := range st.snapshot() {
			if watchMessageID(c.Raw) == "cut-1" && !bytes.Equal(c.Raw, raw) {
				t.Errorf("delivery of %d bytes, want the whole %d", len(c.Raw), len(raw))
			}
		}
		st.checkOnce(t, "cut-0", "cut-1")
		if p.Conns() < 2 {
			t.Errorf("%d connections, want a reconnect", p.Conns())
		}
		if !strings.Contains(log.String(), "body cut after") {
			t.Errorf("no log of the cut literal; the cut missed the body")
		}
	})
}

// TestWatchDropDuringIdle: a connection lost while idling is re-opened and
// what arrived meanwhile is picked up.
func TestWatchDropDuringIdle(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		p := mailtest.NewProxy(t, srv.addr)
		st := newWatchStore()
		cfg, _ := watchConfig(t, srv, p.Addr)
		cfg.IdleRestart = 2 * time.Second
		srv.Append("INBOX", watchMessage("idle-0", 100))
		startWatcher(t, cfg, st)
		st.waitProcessed(t, "idle-0")
		waitMailbox(t, srv, "INBOX", 0) // moved: the watcher is idling now

		p.DropAll()
		srv.Append("INBOX", watchMessage("idle-1", 100))
		st.waitProcessed(t, "idle-1")
		st.checkOnce(t, "idle-0", "idle-1")
		if p.Conns() < 2 {
			t.Errorf("%d connections, want a reconnect", p.Conns())
		}
	})
}

// TestWatchExistsIsOnlyAHint: a server whose EXISTS responses never
// arrive (lost, or sent late as go-imap's memserver does when an APPEND
// races the start of IDLE) still has its messages found: the watcher
// searches by UID whenever IDLE ends.
func TestWatchExistsIsOnlyAHint(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		p := mailtest.NewProxy(t, srv.addr)
		p.HideExists()
		st := newWatchStore()
		cfg, _ := watchConfig(t, srv, p.Addr)
		startWatcher(t, cfg, st)
		ids := watchIDs("hint", 3)
		for _, id := range ids {
			srv.Append("INBOX", watchMessage(id, 100))
		}
		st.waitProcessed(t, ids...)
		st.checkOnce(t, ids...)
	})
}

// TestWatchStalledServer: a server that stops answering without closing
// (a black hole, during IDLE and on new connections) is detected by the
// watchdog; the watcher keeps reconnecting and recovers.
func TestWatchStalledServer(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		p := mailtest.NewProxy(t, srv.addr)
		st := newWatchStore()
		cfg, log := watchConfig(t, srv, p.Addr)
		cfg.CommandTimeout = 300 * time.Millisecond
		cfg.IdleRestart = 200 * time.Millisecond
		srv.Append("INBOX", watchMessage("stall-0", 100))
		startWatcher(t, cfg, st)
		st.waitProcessed(t, "stall-0")
		waitMailbox(t, srv, "INBOX", 0) // moved: the watcher is idling now

		p.Stall()
		ctx, cancel := context.WithTimeout(context.Background(), watchDeadline)
		defer cancel()
		// The idling connection times out, then at least two new ones.
		if err := p.WaitConns(ctx, p.Conns()+2); err != nil {
			t.Fatal(err)
		}
		srv.Append("INBOX", watchMessage("stall-1", 100))
		p.Unstall()
		st.waitProcessed(t, "stall-1")
		st.checkOnce(t, "stall-0", "stall-1")
		if !strings.Contains(log.String(), "no answer from the server") {
			t.Errorf("watchdog expiry not logged")
		}
	})
}

// TestWatchMoveModes: with MOVE, with UIDPLUS only, and with neither, a
// message flagged \Deleted by someone else survives: only UID MOVE or UID
// EXPUNGE of the handled UID is used, never a plain EXPUNGE. Without both,
// handled messages stay, marked with a keyword, and are not offered again
// after a restart.
func TestWatchMoveModes(t *testing.T) {
	modes := []struct {
		name string
		hide []string
	}{
		{"move", nil},
		{"uidplus", []string{"MOVE"}},
		{"keyword", []string{"MOVE", "UIDPLUS"}},
	}
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		for _, mode := range modes {
			t.Run(mode.name, func(t *testing.T) {
				box := "Box-" + mode.name
				srv.CreateMailbox(box)
				p := mailtest.NewProxy(t, srv.addr)
				p.HideCaps(mode.hide...)
				st := newWatchStore()
				// Someone else's message, flagged \Deleted, that the handler
				// leaves alone.
				st.disposition = func(d *Delivery) Disposition {
					if watchMessageID(d.Raw) == "other" {
						return Keep
					}
					if watchMessageID(d.Raw) == "bad" {
						return Quarantined
					}
					return Processed
				}
				srv.Append(box, watchMessage("other", 100), imap.FlagDeleted)
				srv.Append(box, watchMessage("good", 100))
				srv.Append(box, watchMessage("bad", 100))
				cfg, log := watchConfig(t, srv, p.Addr)
				cfg.Mailbox = box
				cfg.Processed = "Processed-" + mode.name
				cfg.Quarantine = "Quarantine-" + mode.name
				w := startWatcher(t, cfg, st)
				st.waitProcessed(t, "other", "good", "bad")
				w.stop(t)
				st.checkOnce(t, "other", "good", "bad")
				if !strings.Contains(log.String(), "move="+mode.name) {
					t.Errorf("watcher did not use mode %s", mode.name)
				}

				msgs := srv.Messages(box)
				flags := map[string]mailtest.Message{}
				for _, m := range msgs {
					flags[watchMessageID(m.Raw)] = m
				}
				if m, ok := flags["other"]; !ok || !m.HasFlag(imap.FlagDeleted) {
					t.Fatalf("the other \\Deleted message did not survive: %v", msgs)
				}
				if mode.name != "keyword" {
					checkMailbox(t, srv, box, "other")
					checkMailbox(t, srv, cfg.Processed, "good")
					checkMailbox(t, srv, cfg.Quarantine, "bad")
					return
				}
				checkMailbox(t, srv, box, "other", "good", "bad")
				if !flags["good"].HasFlag(KeywordProcessed) || !flags["bad"].HasFlag(KeywordQuarantined) {
					t.Errorf("keywords missing: good %v, bad %v", flags["good"].Flags, flags["bad"].Flags)
				}
				// A restart offers only the kept message again, not the marked.
				calls := len(st.snapshot())
				w = startWatcher(t, cfg, st)
				st.waitFor(t, "the kept message offered again", func() bool { return len(st.calls) > calls })
				w.stop(t)
				for _, c := range st.snapshot()[calls:] {
					if id := watchMessageID(c.Raw); id != "other" || !c.Redelivered {
						t.Errorf("after restart: %s offered (redelivered %v); want only the kept message", id, c.Redelivered)
					}
				}
			})
		}
	})
}

// TestWatchHandlerErrorRetried: a failing handler gets the same message
// again after a backoff, and nothing after it is offered meanwhile.
func TestWatchHandlerErrorRetried(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st := newWatchStore()
		failures := 0
		st.fail = func(d *Delivery) error {
			if watchMessageID(d.Raw) == "retry-001" && failures < 3 {
				failures++
				return errors.New("database is locked")
			}
			if watchMessageID(d.Raw) == "retry-002" && failures == 3 {
				failures++
				panic("handler bug")
			}
			return nil
		}
		ids := watchIDs("retry", 4)
		for _, id := range ids {
			srv.Append("INBOX", watchMessage(id, 100))
		}
		cfg, _ := watchConfig(t, srv, srv.addr)
		w := startWatcher(t, cfg, st)
		st.waitProcessed(t, ids...)
		w.stop(t)
		st.checkOnce(t, ids...)
		var got []string
		for _, c := range st.snapshot() {
			got = append(got, watchMessageID(c.Raw))
		}
		want := []string{"retry-000", "retry-001", "retry-001", "retry-001", "retry-001", "retry-002", "retry-002", "retry-003"}
		if !slices.Equal(got, want) {
			t.Errorf("handler calls %v, want %v", got, want)
		}
	})
}

// TestWatchTooLarge: a message above MaxMessageSize is delivered without
// its body, with its size, and quarantined.
func TestWatchTooLarge(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st := newWatchStore()
		raw := watchMessage("huge", 64<<10)
		uid := srv.Append("INBOX", raw)
		srv.Append("INBOX", watchMessage("small", 100))
		cfg, _ := watchConfig(t, srv, srv.addr)
		cfg.MaxMessageSize = 16 << 10
		w := startWatcher(t, cfg, st)
		st.waitProcessed(t, "small")
		w.stop(t)
		calls := st.snapshot()
		if len(calls) != 2 {
			t.Fatalf("%d deliveries, want 2", len(calls))
		}
		if c := calls[0]; !c.TooLarge || c.Raw != nil || c.Size != int64(len(raw)) || c.UID != uint32(uid) {
			t.Errorf("large delivery: TooLarge %v, %d bytes, Size %d, UID %d; want TooLarge, no body, Size %d, UID %d",
				c.TooLarge, len(c.Raw), c.Size, c.UID, len(raw), uid)
		}
		checkMailbox(t, srv, "Quarantine", "huge")
		checkMailbox(t, srv, "Processed", "small")
	})
}

// TestWatchBurst: 200 messages appended while the watcher runs are each
// processed exactly once, in order.
func TestWatchBurst(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st := newWatchStore()
		cfg, _ := watchConfig(t, srv, srv.addr)
		w := startWatcher(t, cfg, st)
		ids := watchIDs("burst", 200)
		for _, id := range ids {
			srv.Append("INBOX", watchMessage(id, 300))
		}
		st.waitProcessed(t, ids...)
		w.stop(t)
		st.checkOnce(t, ids...)
		st.mu.Lock()
		if !slices.Equal(st.order, ids) {
			t.Errorf("processing order differs from arrival order")
		}
		st.mu.Unlock()
		checkMailbox(t, srv, "INBOX")
		if n := len(srv.UIDs("Processed")); n != len(ids) {
			t.Errorf("Processed holds %d messages, want %d", n, len(ids))
		}
	})
}

// TestWatchPolling: without IDLE the watcher polls with NOOP.
func TestWatchPolling(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		p := mailtest.NewProxy(t, srv.addr)
		p.HideCaps("IDLE")
		st := newWatchStore()
		cfg, log := watchConfig(t, srv, p.Addr)
		startWatcher(t, cfg, st)
		srv.Append("INBOX", watchMessage("poll-0", 100))
		st.waitProcessed(t, "poll-0")
		srv.Append("INBOX", watchMessage("poll-1", 100))
		st.waitProcessed(t, "poll-1")
		st.checkOnce(t, "poll-0", "poll-1")
		if !strings.Contains(log.String(), "idle=false") {
			t.Errorf("watcher did not notice the missing IDLE")
		}
	})
}

// TestWatchTLS: implicit TLS and STARTTLS, checked against the test CA.
func TestWatchTLS(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		for _, tc := range []struct {
			mode TLSMode
			addr string
		}{
			{TLSImplicit, srv.tlsAddr},
			{TLSStartTLS, srv.addr},
		} {
			t.Run(string(tc.mode), func(t *testing.T) {
				st := newWatchStore()
				id := "tls-" + string(tc.mode)
				srv.Append("INBOX", watchMessage(id, 100))
				cfg, _ := watchConfig(t, srv, tc.addr)
				cfg.TLS = tc.mode
				cfg.TLSConfig = srv.cert.ClientConfig()

				ctx, cancel := context.WithTimeout(context.Background(), watchDeadline)
				defer cancel()
				r, err := NewWatcher(cfg, st, st).Check(ctx)
				if err != nil || !slices.Contains(r.Capabilities, "IMAP4rev1") {
					t.Fatalf("Check = %+v, %v; want IMAP4rev1 among the capabilities", r, err)
				}
				w := startWatcher(t, cfg, st)
				st.waitProcessed(t, id)
				w.stop(t)

				// A server the client does not trust is refused.
				cfg.TLSConfig = nil
				_, err = NewWatcher(cfg, st, st).Check(ctx)
				if err == nil {
					t.Fatalf("Check trusted a self-signed certificate")
				}
				if !IsPermanent(err) || !strings.Contains(err.Error(), "imap.ca_file") {
					t.Errorf("Check = %v; want a permanent error naming imap.ca_file", err)
				}
			})
		}
	})
}

// virtualClock runs the watcher's reconnect loop on virtual time: each
// sleep advances it at once. Once it passes end, sleeping blocks until the
// test cancels.
type virtualClock struct {
	mu     sync.Mutex
	now    time.Duration
	end    time.Duration
	sleeps []time.Duration
	ended  chan struct{}
}

func newVirtualClock(end time.Duration) *virtualClock {
	return &virtualClock{end: end, ended: make(chan struct{})}
}

func (c *virtualClock) Sleep(ctx context.Context, d time.Duration) bool {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	before := c.now
	c.now += d
	passed := before < c.end && c.now >= c.end
	over := c.now >= c.end
	c.mu.Unlock()
	if passed {
		close(c.ended)
	}
	if over {
		<-ctx.Done()
		return false
	}
	return true
}

// TestWatchLoginFailure: a refused password is a permanent failure: one
// ERROR that names the keys to check, the status says why nothing is
// watched, and over a minute of virtual time only one login is attempted
// (no storm that would lock the account); the next try waits 15 minutes.
func TestWatchLoginFailure(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st := newWatchStore()
		proxy := mailtest.NewProxy(t, srv.addr)
		cfg, log := watchConfig(t, srv, proxy.Addr)
		cfg.Password = "wrong"
		cfg.PermanentRetry = 0 // the default, 15m
		ctx, cancel := context.WithTimeout(context.Background(), watchDeadline)
		defer cancel()
		_, err := NewWatcher(cfg, st, st).Check(ctx)
		if err == nil || !strings.Contains(err.Error(), "check the username and password") || !IsPermanent(err) {
			t.Fatalf("Check = %v, want a permanent error with a hint about the credentials", err)
		}
		var imapErr *imap.Error
		if !errors.As(err, &imapErr) {
			t.Errorf("error %v does not wrap the *imap.Error", err)
		}
		checkConns := proxy.Conns()

		clock := newVirtualClock(time.Minute)
		cfg.Sleep = clock.Sleep
		w := NewWatcher(cfg, st, st)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(runCtx) }()
		select {
		case <-clock.ended:
		case <-ctx.Done():
			t.Fatal("the watcher never slept past a minute of virtual time")
		}
		status := w.Status()
		stop()
		<-done

		if n := proxy.Conns() - checkConns; n != 1 {
			t.Errorf("%d logins in a minute of virtual time, want 1", n)
		}
		if len(clock.sleeps) == 0 || clock.sleeps[0] != DefaultPermanentRetry {
			t.Errorf("slept %v, want %v after a refused login", clock.sleeps, DefaultPermanentRetry)
		}
		if n := strings.Count(log.String(), "level=ERROR"); n != 1 {
			t.Errorf("%d ERROR lines, want 1:\n%s", n, log.String())
		}
		if status.Watching || !status.Permanent || status.Err == nil {
			t.Errorf("status %+v; want not watching, a permanent error", status)
		}
		if strings.Contains(log.String(), "wrong") {
			t.Errorf("password in the log")
		}
	})
}

// TestWatchTemporaryFailureRetried: a server that is down is retried with
// the short backoff, never more than MaxBackoff apart (25s by default, so
// that processing resumes within 30s of the server coming back).
func TestWatchTemporaryFailureRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	st := newWatchStore()
	cfg, log := watchConfig(t, &watchServer{username: "u", password: "p"}, addr)
	cfg.MinBackoff, cfg.MaxBackoff = 0, 0 // the defaults
	clock := newVirtualClock(10 * time.Minute)
	cfg.Sleep = clock.Sleep
	ctx, cancel := context.WithTimeout(context.Background(), watchDeadline)
	defer cancel()
	w := NewWatcher(cfg, st, st)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	select {
	case <-clock.ended:
	case <-ctx.Done():
		t.Fatal("the watcher never slept past 10 minutes of virtual time")
	}
	status := w.Status()
	cancel()
	<-done
	for _, d := range clock.sleeps {
		if d > DefaultMaxBackoff {
			t.Errorf("slept %v between attempts, want at most %v", d, DefaultMaxBackoff)
		}
	}
	if status.Permanent || status.Err == nil || !strings.Contains(status.Err.Error(), "imap.port") {
		t.Errorf("status %+v; want a temporary error naming imap.port", status)
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("a refused connection logged at ERROR:\n%s", log.String())
	}
}

// TestWatchShutdownFinishesMessage: cancelling Run while the handler works
// lets the handler finish and the message be moved before Run returns.
func TestWatchShutdownFinishesMessage(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st := newWatchStore()
		entered := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		st.fail = func(d *Delivery) error {
			once.Do(func() { close(entered) })
			<-release
			return nil
		}
		srv.Append("INBOX", watchMessage("shutdown-0", 100))
		srv.Append("INBOX", watchMessage("shutdown-1", 100))
		cfg, _ := watchConfig(t, srv, srv.addr)
		w := startWatcher(t, cfg, st)
		<-entered
		w.cancel()
		close(release)
		w.stop(t)
		st.checkOnce(t, "shutdown-0")
		checkMailbox(t, srv, "INBOX", "shutdown-1")
		checkMailbox(t, srv, "Processed", "shutdown-0")
	})
}

func TestWatchConfigErrors(t *testing.T) {
	st := newWatchStore()
	for _, tc := range []struct {
		cfg  IMAPConfig
		want string
	}{
		{IMAPConfig{Username: "u"}, "imap.addr is required"},
		{IMAPConfig{Addr: "mail.example.org", Username: "u"}, "not host:port"},
		{IMAPConfig{Addr: "mail.example.org:143", TLS: TLSNone, Username: "u"}, "loopback"},
		{IMAPConfig{Addr: "mail.example.org:993", TLS: "ssl", Username: "u"}, "unknown tls mode"},
		{IMAPConfig{Addr: "127.0.0.1:143", TLS: TLSNone}, "imap.username is required"},
		{IMAPConfig{Addr: "127.0.0.1:143", TLS: TLSNone, Username: "u", Processed: "inbox"}, "imap.processed must differ"},
	} {
		err := NewWatcher(tc.cfg, st, st).Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

func TestWatchTLSModeValidate(t *testing.T) {
	for _, tc := range []struct {
		mode TLSMode
		host string
		ok   bool
	}{
		{TLSImplicit, "imap.example.org", true},
		{TLSStartTLS, "imap.example.org:143", true},
		{TLSNone, "localhost", true},
		{TLSNone, "LOCALHOST.", true},
		{TLSNone, "127.0.0.1", true},
		{TLSNone, "127.8.9.10:143", true},
		{TLSNone, "::1", true},
		{TLSNone, "[::1]:143", true},
		{TLSNone, "imap.example.org", false},
		{TLSNone, "10.0.0.1", false},
		{TLSNone, "localhost.example.org", false},
		{"", "localhost", false},
		{"tls", "localhost", false},
	} {
		err := tc.mode.Validate(tc.host)
		if (err == nil) != tc.ok {
			t.Errorf("TLSMode(%q).Validate(%q) = %v, want ok=%v", tc.mode, tc.host, err, tc.ok)
		}
	}
}

func TestWatchBackoff(t *testing.T) {
	minD, maxD := 10*time.Millisecond, time.Second
	for n := 1; n < 100; n++ {
		ceil := min(maxD, minD<<min(n-1, 20))
		for range 20 {
			if d := backoff(minD, maxD, n); d < minD || d > ceil {
				t.Fatalf("backoff(attempt %d) = %v, want within [%v, %v]", n, d, minD, ceil)
			}
		}
	}
	if d := backoff(time.Second, time.Second, 5); d != time.Second {
		t.Errorf("backoff with min = max = %v", d)
	}
}

// BenchmarkFetchRaw is the floor the watcher's pipeline is compared to: a
// bare UID FETCH BODY.PEEK[] of N messages from the in-memory server, one
// message per command as the watcher does, reported as msgs/s.
func BenchmarkFetchRaw(b *testing.B) {
	srv := mailtest.NewIMAPServer(b)
	const n = 100
	raw := watchMessage("bench", 8<<10)
	var uids []imap.UID
	for range n {
		uids = append(uids, srv.Append("INBOX", raw))
	}
	c := srv.NewClient(b)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		b.Fatal(err)
	}
	section := []*imap.FetchItemBodySection{{Peek: true}}
	b.SetBytes(int64(n * len(raw)))
	b.ResetTimer()
	for b.Loop() {
		for _, uid := range uids {
			fc := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: section})
			for msg := fc.Next(); msg != nil; msg = fc.Next() {
				for item := msg.Next(); item != nil; item = msg.Next() {
					if body, ok := item.(imapclient.FetchItemDataBodySection); ok && body.Literal != nil {
						buf := make([]byte, body.Literal.Size())
						if _, err := io.ReadFull(body.Literal, buf); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			if err := fc.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// TestWatchUnreadable: a message the server refuses to return, again and
// again, is handed over as Unreadable after MaxFetchFailures attempts
// instead of blocking the mailbox forever; the messages after it flow.
func TestWatchUnreadable(t *testing.T) {
	var damaged atomic.Uint32
	s := mailtest.NewIMAPServer(t, mailtest.WithFetchFailure(func(uid imap.UID) error {
		if uint32(uid) == damaged.Load() {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "message is damaged"}
		}
		return nil
	}))
	srv := &watchServer{s, "memserver", s.Addr, s.TLSAddr, s.Username, s.Password, s.Cert}
	uid := srv.Append("INBOX", watchMessage("damaged", 100))
	damaged.Store(uint32(uid))
	srv.Append("INBOX", watchMessage("after", 100))
	st := newWatchStore()
	st.disposition = func(d *Delivery) Disposition {
		if d.Unreadable != "" {
			return Quarantined
		}
		return Processed
	}
	cfg, _ := watchConfig(t, srv, srv.addr)
	w := startWatcher(t, cfg, st)
	st.waitProcessed(t, "after")
	w.stop(t)
	calls := st.snapshot()
	if len(calls) != 2 || calls[0].Unreadable == "" || calls[0].Raw != nil || calls[0].UID != uint32(uid) {
		t.Fatalf("deliveries = %+v, want the damaged message as Unreadable, then the next", calls)
	}
	if !strings.Contains(calls[0].Unreadable, "damaged") {
		t.Errorf("Unreadable = %q, want the server's answer", calls[0].Unreadable)
	}
	if got := srv.UIDs("Quarantine"); len(got) != 1 {
		t.Errorf("Quarantine holds %v, want the damaged message", got)
	}
}

// cutAfterCommit puts count messages named prefix-N in INBOX and returns
// a store and a configuration whose connection, through a proxy, is cut
// right after the nth commit.
func cutAfterCommit(t *testing.T, srv *watchServer, n int32, prefix string, count int) (*watchStore, []string, IMAPConfig) {
	t.Helper()
	p := mailtest.NewProxy(t, srv.addr)
	st := newWatchStore()
	var commits atomic.Int32
	st.afterCommit = func(d *Delivery) {
		if commits.Add(1) == n {
			p.DropAll()
		}
	}
	ids := watchIDs(prefix, count)
	for _, id := range ids {
		srv.Append("INBOX", watchMessage(id, 100))
	}
	cfg, _ := watchConfig(t, srv, p.Addr)
	return st, ids, cfg
}

// TestWatchCrashInWindow: a backlog is fetched and moved in windows; the
// connection dies right after the third of six messages of one window was
// committed, before the window's move. The committed ones are offered
// again as redelivered, none is processed twice, and each is moved once.
func TestWatchCrashInWindow(t *testing.T) {
	for _, spool := range []bool{false, true} {
		t.Run(fmt.Sprintf("spooled=%v", spool), func(t *testing.T) {
			forEachWatchBackend(t, func(t *testing.T, srv *watchServer) { crashInWindow(t, srv, spool) })
		})
	}
}

// crashInWindow is TestWatchCrashInWindow with every message spooled or
// none.
func crashInWindow(t *testing.T, srv *watchServer, spool bool) {
	st, ids, cfg := cutAfterCommit(t, srv, 3, fmt.Sprintf("window-%v", spool), 6)
	if spool {
		cfg.SpoolAbove, cfg.SpoolDir = -1, t.TempDir()
	}
	w := startWatcher(t, cfg, st)
	st.waitProcessed(t, ids...)
	waitEmpty(t, srv, "INBOX")
	w.stop(t)
	st.checkOnce(t, ids...)
	var redelivered int
	for _, c := range st.snapshot() {
		if c.Redelivered {
			redelivered++
		}
	}
	if redelivered == 0 {
		t.Errorf("no redelivery: the cut missed the window")
	}
	checkMailbox(t, srv, "INBOX")
	checkMailbox(t, srv, "Processed", ids...)
	if spool {
		if es, _ := os.ReadDir(cfg.SpoolDir); len(es) != 0 {
			t.Errorf("%d files left in the spool directory", len(es))
		}
	}
}

// TestWatchDropMidWindowFetch: a connection cut inside the second literal
// of a window's FETCH yields no delivery at all from that window (none
// truncated, none handled before the fetch completed); every message is
// delivered whole, once, after reconnecting.
func TestWatchDropMidWindowFetch(t *testing.T) {
	for _, spool := range []bool{false, true} {
		t.Run(fmt.Sprintf("spooled=%v", spool), func(t *testing.T) {
			forEachWatchBackend(t, func(t *testing.T, srv *watchServer) { dropMidWindowFetch(t, srv, spool) })
		})
	}
}

// dropMidWindowFetch is TestWatchDropMidWindowFetch with every message
// spooled or none: a spool file of a cut window is closed, never handed.
func dropMidWindowFetch(t *testing.T, srv *watchServer, spool bool) {
	p := mailtest.NewProxy(t, srv.addr)
	st := newWatchStore()
	ids := watchIDs("cutwin", 4)
	raws := map[string][]byte{}
	for _, id := range ids {
		raws[id] = watchMessage(id, 300<<10)
		srv.Append("INBOX", raws[id])
	}
	cfg, log := watchConfig(t, srv, p.Addr)
	if spool {
		cfg.SpoolAbove, cfg.SpoolDir = -1, t.TempDir()
	}
	p.DropAfter(500 << 10) // past the first body, inside the second
	w := startWatcher(t, cfg, st)
	st.waitProcessed(t, ids...)
	waitEmpty(t, srv, "INBOX")
	w.stop(t)
	for _, c := range st.snapshot() {
		if id := watchMessageID(c.Raw); !bytes.Equal(c.Raw, raws[id]) {
			t.Errorf("delivery of %s: %d bytes, want the whole %d", id, len(c.Raw), len(raws[id]))
		}
	}
	st.checkOnce(t, ids...)
	checkMailbox(t, srv, "INBOX")
	checkMailbox(t, srv, "Processed", ids...)
	if !strings.Contains(log.String(), "body cut after") {
		t.Errorf("no log of the cut literal; the cut missed the window")
	}
	if spool {
		if es, _ := os.ReadDir(cfg.SpoolDir); len(es) != 0 {
			t.Errorf("%d files left in the spool directory", len(es))
		}
		st.mu.Lock()
		n := len(st.spools)
		st.mu.Unlock()
		if n == 0 {
			t.Error("no delivery was spooled")
		}
	}
}

// waitEmpty waits until mailbox holds no message.
func waitEmpty(t *testing.T, srv *watchServer, mailbox string) {
	t.Helper()
	deadline := time.Now().Add(watchDeadline)
	for len(srv.UIDs(mailbox)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %d messages after %v", mailbox, len(srv.UIDs(mailbox)), watchDeadline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// preparingStore is a watchStore whose handler prepares ahead: Prepare
// records the Message-ID it read, Handle finds it there.
type preparingStore struct {
	*watchStore
	prepared atomic.Int32
}

func (p *preparingStore) Prepare(d *Delivery) {
	p.prepared.Add(1)
	d.Prepared = watchMessageID(d.Raw)
}

// TestWatchPrepareAhead: a Preparer's messages are prepared ahead and
// still handled in order, each with what its own Prepare left; a cut after
// the fifth commit of a window loses and doubles nothing.
func TestWatchPrepareAhead(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st, ids, cfg := cutAfterCommit(t, srv, 5, "ahead", 12)
		ps := &preparingStore{watchStore: st}
		r := startWatcherWith(t, cfg, st, ps)

		st.waitProcessed(t, ids...)
		waitEmpty(t, srv, "INBOX")
		r.stop(t)
		st.checkOnce(t, ids...)
		st.mu.Lock()
		defer st.mu.Unlock()
		if !slices.Equal(st.order, ids) {
			t.Errorf("processing order %v, want %v", st.order, ids)
		}
		for _, c := range st.calls {
			if id := watchMessageID(c.Raw); c.Prepared != nil && c.Prepared != id {
				t.Errorf("delivery of %s carried what was prepared for %v", id, c.Prepared)
			}
		}
		if ps.prepared.Load() == 0 {
			t.Error("nothing was prepared ahead")
		}
	})
}

// TestWatchSeparators: the configured names use "/" between levels; on a
// server that separates with "." (Dovecot's stock Maildir) they become
// backstop.processed, and a name already written with the server's
// separator is kept. Against Dovecot with its stock separator and with
// "/", and the in-memory server ("/").
func TestWatchSeparators(t *testing.T) {
	servers := map[string]func(t *testing.T) *watchServer{
		"memserver": watchBackends[0].start,
		"dovecot-stock": func(t *testing.T) *watchServer {
			d := mailtest.StartDovecot(t)
			return &watchServer{d, "dovecot", d.Addr, d.TLSAddr, d.Username, d.Password, d.Cert}
		},
		"dovecot-slash": func(t *testing.T) *watchServer {
			d := mailtest.StartDovecot(t, mailtest.WithSeparator("/"))
			return &watchServer{d, "dovecot", d.Addr, d.TLSAddr, d.Username, d.Password, d.Cert}
		},
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			sep := srv.Separator()
			if name == "dovecot-stock" && sep != '.' {
				t.Fatalf("stock Dovecot separator %q, want '.'", sep)
			}
			st := newWatchStore()
			st.disposition = func(d *Delivery) Disposition {
				if strings.Contains(string(d.Raw), "quarantine-me") {
					return Quarantined
				}
				return Processed
			}
			srv.Append("INBOX", watchMessage("sep-1", 100))
			srv.Append("INBOX", watchMessage("quarantine-me", 100))
			cfg, _ := watchConfig(t, srv, srv.addr)
			cfg.Processed = "backstop/processed"
			// Already in the server's separator: kept as is.
			cfg.Quarantine = "backstop" + string(sep) + "quarantine"

			ctx, cancel := context.WithTimeout(context.Background(), watchDeadline)
			defer cancel()
			r, err := NewWatcher(cfg, st, st).Check(ctx)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			want := "backstop" + string(sep) + "processed"
			if len(r.Mailboxes) != 3 || r.Mailboxes[1].Server != want || r.Mailboxes[1].Status != "created" {
				t.Errorf("Check mailboxes %+v; want %s created", r.Mailboxes, want)
			}
			w := startWatcher(t, cfg, st)
			st.waitProcessed(t, "sep-1", "quarantine-me")
			w.stop(t)
			checkMailbox(t, srv, want, "sep-1")
			checkMailbox(t, srv, "backstop"+string(sep)+"quarantine", "quarantine-me")
		})
	}
}

// TestWatchSilentConnection: a connection that goes silent while the
// watcher idles (a NAT that dropped it without a reset) is noticed by the
// keepalive, long before IdleRestart (without it the watcher would sit in
// IDLE for 25 minutes), and the watcher reconnects and processes what
// arrived meanwhile.
func TestWatchSilentConnection(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st := newWatchStore()
		proxy := mailtest.NewProxy(t, srv.addr)
		cfg, log := watchConfig(t, srv, proxy.Addr)
		cfg.CommandTimeout = 3 * time.Second // for a command caught by the stall
		cfg.IdleRestart = 25 * time.Minute
		cfg.PollInterval = time.Hour
		cfg.Keepalive = 200 * time.Millisecond
		cfg.KeepaliveTimeout = time.Second
		w := startWatcher(t, cfg, st)
		srv.Append("INBOX", watchMessage("silent-1", 100))
		st.waitProcessed(t, "silent-1")
		waitMailbox(t, srv, "Processed", 1) // moved: the watcher idles now
		before := proxy.Conns()

		proxy.Stall()
		ctx, cancel := context.WithTimeout(context.Background(), watchDeadline)
		defer cancel()
		if err := proxy.WaitConns(ctx, before+1); err != nil {
			t.Fatalf("the watcher did not notice the silent connection: %v\n%s", err, log.String())
		}
		srv.Append("INBOX", watchMessage("silent-2", 100))
		proxy.Unstall()
		st.waitProcessed(t, "silent-1", "silent-2")
		w.stop(t)
		st.checkOnce(t, "silent-1", "silent-2")
	})
}

// TestWatchServerRestart: Dovecot stops (every connection closed, new ones
// refused) and starts again; the watcher reconnects on its own and
// processes what arrived, exactly once.
func TestWatchServerRestart(t *testing.T) {
	d := mailtest.StartDovecot(t)
	srv := &watchServer{d, "dovecot", d.Addr, d.TLSAddr, d.Username, d.Password, d.Cert}
	st := newWatchStore()
	cfg, _ := watchConfig(t, srv, srv.addr)
	cfg.MaxBackoff = 0 // the default cap, 25s
	w := startWatcher(t, cfg, st)
	srv.Append("INBOX", watchMessage("restart-1", 100))
	st.waitProcessed(t, "restart-1")
	d.Stop()
	d.Start()
	srv.Append("INBOX", watchMessage("restart-2", 100))
	st.waitProcessed(t, "restart-1", "restart-2")
	w.stop(t)
	st.checkOnce(t, "restart-1", "restart-2")
}

// groupingStore is a Committer: Handle keeps each outcome pending, and
// Commit records them all in the watchStore, or drops them all when
// failCommit fails that commit.
type groupingStore struct {
	*watchStore
	mu         sync.Mutex
	pending    []Delivery
	commits    int
	failCommit func(n int) error // n counts Commit calls from 1
}

func (g *groupingStore) Handle(ctx context.Context, d *Delivery) (Disposition, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := *d
	c.Raw = bytes.Clone(d.Raw)
	g.pending = append(g.pending, c)
	return Processed, nil
}

func (g *groupingStore) Commit(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.commits++
	pending := g.pending
	g.pending = nil
	if g.failCommit != nil {
		if err := g.failCommit(g.commits); err != nil {
			return err
		}
	}
	for i := range pending {
		if _, err := g.watchStore.Handle(ctx, &pending[i]); err != nil {
			return err
		}
	}
	return nil
}

// TestWatchCommitter: a Committer's window is moved only after its Commit
// succeeded; a failed Commit moves nothing, and the window is offered
// again and recorded once.
func TestWatchCommitter(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st := newWatchStore()
		ids := watchIDs("group", 8)
		for _, id := range ids {
			srv.Append("INBOX", watchMessage(id, 300))
		}
		failed := make(chan struct{})
		g := &groupingStore{watchStore: st, failCommit: func(n int) error {
			if n == 1 {
				close(failed)
				return errors.New("injected: the disk is full")
			}
			return nil
		}}
		cfg, log := watchConfig(t, srv, srv.addr)
		r := startWatcherWith(t, cfg, st, g)

		<-failed
		st.waitProcessed(t, ids...)
		waitEmpty(t, srv, "INBOX")
		r.stop(t)
		st.checkOnce(t, ids...)
		checkMailbox(t, srv, "Processed", ids...)
		if !strings.Contains(log.String(), "injected: the disk is full") {
			t.Errorf("the failed commit was not logged:\n%s", log)
		}
	})
}

// TestWatchWindowsAhead: with windows of three, the next window is
// fetched while one is decided and the one before is moved. Cut after the
// third commit (the fourth window fetched ahead, the third's move in
// flight) or not cut at all, every message is recorded once, in order, and
// moved once.
func TestWatchWindowsAhead(t *testing.T) {
	for _, cut := range []bool{false, true} {
		t.Run(fmt.Sprintf("cut=%v", cut), func(t *testing.T) {
			forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
				p := mailtest.NewProxy(t, srv.addr)
				st := newWatchStore()
				ids := watchIDs(fmt.Sprintf("ahead-%v", cut), 20)
				for _, id := range ids {
					srv.Append("INBOX", watchMessage(id, 200))
				}
				g := &groupingStore{watchStore: st, failCommit: func(n int) error {
					if cut && n == 3 {
						p.DropAll()
					}
					return nil
				}}
				cfg, _ := watchConfig(t, srv, p.Addr)
				cfg.FetchWindow = 3
				r := startWatcherWith(t, cfg, st, g)

				st.waitProcessed(t, ids...)
				waitEmpty(t, srv, "INBOX")
				r.stop(t)
				st.checkOnce(t, ids...)
				checkMailbox(t, srv, "Processed", ids...)
				st.mu.Lock()
				defer st.mu.Unlock()
				if !slices.Equal(st.order, ids) {
					t.Errorf("processing order %v, want %v", st.order, ids)
				}
			})
		})
	}
}
