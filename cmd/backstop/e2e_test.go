package main

// End-to-end tests: the whole daemon, over loopback, against real IMAP
// servers (go-imap's in-memory server, and Dovecot when it is installed and
// BACKSTOP_TEST_DOVECOT=1) and the embedded go-smtp server. No protocol is
// mocked.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"backstop/mailbox"
	"backstop/mailbox/embedded"
	"backstop/mailbox/mailtest"
	"backstop/mailbox/parse"
	"backstop/workflow"
)

// imapBackend is a real IMAP server a test can seed and inspect.
type imapBackend interface {
	Append(mailbox string, raw []byte, flags ...imap.Flag) imap.UID
	UIDs(mailbox string) []imap.UID
	Messages(mailbox string) []mailtest.Message
	// Mailbox is the server's name for a name written with "/".
	Mailbox(name string) string
}

// backend starts one kind of IMAP server for a test.
type backend struct {
	name  string
	start func(t testing.TB) (addr, user, pass string, b imapBackend)
}

var backends = []backend{
	{"memserver", func(t testing.TB) (string, string, string, imapBackend) {
		s := mailtest.NewIMAPServer(t)
		return s.Addr, s.Username, s.Password, s
	}},
	{"dovecot", func(t testing.TB) (string, string, string, imapBackend) {
		d := mailtest.StartDovecot(t)
		return d.Addr, d.Username, d.Password, d
	}},
	{"cyrus", func(t testing.TB) (string, string, string, imapBackend) {
		c := mailtest.StartCyrus(t)
		return c.Addr, c.Username, c.Password, c
	}},
}

// forEachBackend runs a test against every IMAP server.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// harness is one backstop daemon with its IMAP and SMTP servers.
type harness struct {
	t        testing.TB
	imap     imapBackend
	imapAddr string // where the daemon connects (the server, or a proxy)
	proxy    *mailtest.Proxy
	smtp     *embedded.Server
	cfg      *Config
	logs     *syncBuffer

	sleep    func(context.Context, time.Duration) bool // the watcher's reconnect waits; nil: real time
	notifier *notifier                                 // nil: none
	tune     func(*tunables)                           // changes testTunables; nil: none

	mu     sync.Mutex
	d      *daemon
	cancel context.CancelFunc
	done   chan error
}

type harnessOption func(*harness)

// withProxy puts a fault-injecting TCP proxy between backstop and IMAP.
func withProxy() harnessOption {
	return func(h *harness) {
		h.proxy = mailtest.NewProxy(h.t, h.imapAddr)
		h.imapAddr = h.proxy.Addr
	}
}

// withLeads replaces the configured leads.
func withLeads(leads ...PersonConfig) harnessOption {
	return func(h *harness) { h.cfg.People.Leads = leads }
}

// newHarness starts the servers for a test; start() starts backstop.
func newHarness(t testing.TB, b backend, opts ...harnessOption) *harness {
	t.Helper()
	addr, user, pass, ib := b.start(t)
	srv, err := embedded.Start(embedded.Config{Domain: "acme.example", Password: "unused"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	h := &harness{t: t, imap: ib, imapAddr: addr, smtp: srv, logs: &syncBuffer{}}
	host, port, err := splitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	shost, sport, _ := splitHostPort(srv.SMTPAddr())
	h.cfg = &Config{
		Organisation: OrganisationConfig{Name: "Acme Support", SupportAddress: "support@acme.example", EscalationsAddress: "escalations@acme.example", Timezone: "UTC"},
		IMAP:         IMAPConfig{Host: host, Port: port, TLS: "none", Username: user, password: pass},
		SMTP:         SMTPConfig{Host: shost, Port: sport, TLS: "none"},
		People: PeopleConfig{
			Leads:       []PersonConfig{{Name: "Jane Doe", Address: "jane@acme.example"}},
			TeamDomains: []string{"acme.example"},
		},
		Storage:  StorageConfig{Path: filepath.Join(t.TempDir(), "backstop.db"), key: testStorageKey},
		Secrets:  SecretsConfig{secret: []byte("0123456789abcdef0123456789abcdef")},
		Commands: CommandsConfig{TrustedAuthservIDs: []string{"acme.example"}},
		// Bursts of hundreds of incidents are legitimate in these tests.
		Notices: NoticesConfig{MaxPerIncidentPerHour: 1000, MaxPerRecipientPerHour: 1000},
	}
	for _, o := range opts {
		o(h)
	}
	h.cfg.applyDefaults()
	h.cfg.IMAP.Port = mustPort(t, h.imapAddr)
	t.Cleanup(h.stop)
	return h
}

func mustPort(t testing.TB, addr string) int {
	_, p, err := splitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testTunables are short intervals so that tests wait little.
var testTunables = tunables{
	idleRestart:    time.Second,
	commandTimeout: 2 * time.Second,
	keepaliveTO:    2 * time.Second,
	minBackoff:     10 * time.Millisecond,
	maxBackoff:     200 * time.Millisecond,
	dispatchPoll:   50 * time.Millisecond,
	minRetry:       10 * time.Millisecond,
	maxRetry:       100 * time.Millisecond,
}

// start runs backstop until stop.
func (h *harness) start() {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tn := testTunables
	tn.sleep = h.sleep
	if h.tune != nil {
		h.tune(&tn)
	}
	d, err := newDaemon(context.Background(), h.cfg, log, tn)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := d.listenHTTP(); err != nil {
		d.close()
		h.t.Fatal(err)
	}
	d.notifier = h.notifier
	ctx, cancel := context.WithCancel(context.Background())
	h.d, h.cancel, h.done = d, cancel, make(chan error, 1)
	go func() { h.done <- d.run(ctx) }()
}

// stop shuts backstop down as SIGTERM would and waits for it.
func (h *harness) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.d == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("daemon: %v", err)
		}
	case <-time.After(30 * time.Second):
		h.t.Errorf("daemon did not stop within 30s of its context ending")
	}
	h.d.close()
	h.d = nil
	if h.t.Failed() {
		h.t.Logf("daemon log:\n%s", h.logs.String())
	}
}

// store opens the database for assertions (the daemon may be stopped).
func (h *harness) store() *workflow.Store {
	h.t.Helper()
	st, err := workflow.Open(context.Background(), h.cfg.Storage.Path, h.cfg.Storage.key)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { st.Close() })
	return st
}

// eventually polls cond until it holds, failing the test after a generous
// deadline. It is a wait, not a timing assertion.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("gave up waiting for %s\ndaemon log:\n%s", what, h.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) incidents(st *workflow.Store) []workflow.Incident {
	h.t.Helper()
	incs, err := st.Incidents(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return incs
}

// waitSent waits until the SMTP server has captured n messages and gives
// the daemon a moment to prove it sends no more.
func (h *harness) waitSent(n int) []embedded.Captured {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sent, err := h.smtp.WaitSent(ctx, n)
	if err != nil {
		h.t.Fatalf("waiting for %d emails, got %d: %v\ndaemon log:\n%s", n, len(sent), err, h.logs.String())
	}
	return sent
}

// settle waits until the outbox has nothing left to send.
func (h *harness) settle(st *workflow.Store) {
	h.t.Helper()
	h.eventually("the outbox to drain", func() bool {
		rows, err := st.Outbox(context.Background(), 0)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, r := range rows {
			if r.State == "queued" || r.State == "sending" {
				return false
			}
		}
		return true
	})
}

// forward builds a teammate's Gmail-style forward about a customer.
func forward(t testing.TB, n int, customer string) []byte {
	t.Helper()
	name := strings.Title(strings.Split(customer, "@")[0])
	raw, err := forwardMessage(mailbox.Address{Name: "Sam Rivera", Address: "sam@acme.example"},
		mailbox.Address{Name: name, Address: customer},
		fmt.Sprintf("<fwd-%d-%s@mail.acme.example>", n, strings.ReplaceAll(customer, "@", ".")),
		time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC).Add(time.Duration(n)*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseCaptured(t *testing.T, c embedded.Captured) *parse.Message {
	t.Helper()
	m, err := parse.Parse(bytes.NewReader(c.Raw))
	if err != nil {
		t.Fatalf("backstop sent a message it cannot parse itself: %v", err)
	}
	return m
}

func rawHeader(raw []byte, name string) string {
	hdr, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(hdr), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestForwardBecomesIncident(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		raw := forward(t, 1, "jordan@globex.example")
		h.imap.Append("INBOX", raw)
		h.start()

		sent := h.waitSent(2)
		st := h.store()
		h.settle(st)
		if got := len(h.smtp.Sent()); got != 2 {
			t.Fatalf("sent %d emails, want exactly 2 (acknowledgement, lead notice)", got)
		}
		incs := h.incidents(st)
		if len(incs) != 1 {
			t.Fatalf("%d incidents, want 1", len(incs))
		}
		inc := incs[0]
		if inc.Ref() != "INC-1" || inc.State != "reported" || inc.Customer.Address != "jordan@globex.example" ||
			inc.Organisation != "globex.example" || inc.Reporter.Address != "sam@acme.example" {
			t.Errorf("incident = %+v", inc)
		}

		byRcpt := map[string]embedded.Captured{}
		for _, c := range sent {
			byRcpt[strings.Join(c.To, ",")] = c
		}
		ack, notice := byRcpt["sam@acme.example"], byRcpt["jane@acme.example"]
		if ack.Raw == nil || notice.Raw == nil {
			t.Fatalf("emails went to %v, want sam (acknowledgement) and jane (lead notice)", byRcpt)
		}
		for _, c := range []embedded.Captured{ack, notice} {
			m := parseCaptured(t, c)
			if !strings.HasPrefix(m.Subject, "[INC-1] ") {
				t.Errorf("subject %q lacks the [INC-1] tag", m.Subject)
			}
			if got := rawHeader(c.Raw, "Auto-Submitted"); got != "auto-generated" {
				t.Errorf("Auto-Submitted = %q", got)
			}
			if len(m.ReplyTo) != 1 || !strings.HasPrefix(m.ReplyTo[0].Address, "escalations+i1-") {
				t.Errorf("Reply-To = %v, want escalations+TOKEN@acme.example", m.ReplyTo)
			}
			token := strings.TrimSuffix(strings.TrimPrefix(m.ReplyTo[0].Address, "escalations+"), "@acme.example")
			if !strings.Contains(m.MessageID, token) {
				t.Errorf("Message-ID %q does not carry the reply token %q", m.MessageID, token)
			}
			if id, ok := workflow.VerifyToken(h.cfg.Secrets.secret, token, c.To[0]); !ok || id != 1 {
				t.Errorf("token %q does not verify for %s", token, c.To[0])
			}
			if !bytes.Contains(c.Raw, []byte("text/html")) || !bytes.Contains(c.Raw, []byte("text/plain")) {
				t.Error("email lacks a text or an HTML alternative")
			}
			if rawHeader(c.Raw, "Cc") != "" || rawHeader(c.Raw, "Bcc") != "" {
				t.Error("email has Cc or Bcc")
			}
		}
		// The abusive text reaches the lead only as an attached .eml, never
		// in the reporter's acknowledgement.
		abusive := "useless excuse"
		if bytes.Contains(ack.Raw, []byte(abusive)) {
			t.Error("the reporter's acknowledgement contains the abusive text")
		}
		nm := parseCaptured(t, notice)
		if strings.Contains(nm.Text, abusive) {
			t.Error("the lead notice shows the abusive text in its body; it must be attached")
		}
		if len(nm.Attachments) != 1 || nm.Attachments[0].ContentType != "message/rfc822" {
			t.Errorf("lead notice attachments = %+v, want one message/rfc822", nm.Attachments)
		}
		if !strings.Contains(strings.ToLower(nm.Text), "content warning") {
			t.Error("lead notice has no content warning")
		}

		// The forward was moved to the processed mailbox.
		h.eventually("the forward to move to backstop/processed", func() bool {
			return len(h.imap.UIDs(h.imap.Mailbox("backstop/processed"))) == 1 && len(h.imap.UIDs("INBOX")) == 0
		})

		// A second forward about the same customer joins the incident.
		h.imap.Append("INBOX", forward(t, 2, "jordan@globex.example"))
		h.eventually("the second forward to be recorded", func() bool {
			_, ev, err := st.Incident(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ev {
				if e.Kind == "evidence" {
					return true
				}
			}
			return false
		})
		if n := len(h.incidents(st)); n != 1 {
			t.Errorf("%d incidents after the second forward, want 1", n)
		}
		// A forward about another customer with the same subject is a new incident.
		h.imap.Append("INBOX", forward(t, 3, "pat@initech.example"))
		h.eventually("the other customer's incident", func() bool { return len(h.incidents(st)) == 2 })
	})
}

func TestRestartProcessesEachMessageOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) { restartEachOnce(t, b) })
}

// restartEachOnce is TestRestartProcessesEachMessageOnce with the
// harness options given.
func restartEachOnce(t *testing.T, b backend, opts ...harnessOption) {
	const n = 40
	h := newHarness(t, b, opts...)
	for i := range n {
		h.imap.Append("INBOX", forward(t, i, fmt.Sprintf("customer%d@globex%d.example", i, i)))
	}
	st := h.store()
	// Stop and restart backstop three times mid-stream, with new mail
	// arriving while it is down each time.
	targets := []int{5, 15, 25}
	for i, k := range targets {
		h.start()
		h.eventually(fmt.Sprintf("at least %d incidents", k), func() bool { return len(h.incidents(st)) >= k })
		h.stop()
		h.imap.Append("INBOX", forward(t, n+i, fmt.Sprintf("late%d@globex.example", i)))
	}
	h.start()
	total := n + len(targets)
	h.eventually("every forward to become an incident", func() bool { return len(h.incidents(st)) == total })
	h.settle(st)
	h.stop()
	assertExactlyOnce(t, h, st, total)
}

// assertExactlyOnce checks that n forwards gave n incidents, each with one
// acknowledgement and one lead notice, and that no email went out twice.
func assertExactlyOnce(t *testing.T, h *harness, st *workflow.Store, n int) {
	t.Helper()
	incs := h.incidents(st)
	if len(incs) != n {
		t.Fatalf("%d incidents, want %d", len(incs), n)
	}
	customers := map[string]bool{}
	for _, in := range incs {
		if customers[in.Customer.Address] {
			t.Errorf("two incidents for %s", in.Customer.Address)
		}
		customers[in.Customer.Address] = true
	}
	sent := h.smtp.Sent()
	if len(sent) != 2*n {
		t.Errorf("%d emails sent, want %d (2 per incident)", len(sent), 2*n)
	}
	ids := map[string]bool{}
	for _, c := range sent {
		id := rawHeader(c.Raw, "Message-ID")
		if ids[id] {
			t.Errorf("email %s sent twice", id)
		}
		ids[id] = true
	}
	if got := len(h.imap.UIDs(h.imap.Mailbox("backstop/processed"))); got != n {
		t.Errorf("%d messages in backstop/processed, want %d", got, n)
	}
	if got := len(h.imap.UIDs("INBOX")); got != 0 {
		t.Errorf("%d messages left in INBOX", got)
	}
}

func TestBurstOf200Forwards(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const n = 200
		h := newHarness(t, b)
		h.start()
		for i := range n {
			h.imap.Append("INBOX", forward(t, i, fmt.Sprintf("c%d@org%d.example", i, i)))
		}
		st := h.store()
		h.eventually("200 incidents", func() bool { return len(h.incidents(st)) == n })
		h.settle(st)
		h.stop()
		assertExactlyOnce(t, h, st, n)
	})
}

func TestConnectionFaults(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b, withProxy())
		st := h.store()

		// A connection cut in the middle of a large message's literal: the
		// message is not committed from the truncated body, and is read whole
		// after the reconnect.
		big := forward(t, 1, "big@globex.example")
		big = bytes.Replace(big, []byte("\r\n\r\n"), []byte("\r\nX-Padding: "+strings.Repeat("x", 900)+"\r\n\r\n"), 1)
		pad := strings.Repeat(strings.Repeat("padding ", 9)+"\r\n", 20000) // ~1.5 MB
		big = append(big, []byte(pad)...)
		h.imap.Append("INBOX", big)
		h.proxy.DropAfter(int64(len(big) / 2))
		h.start()
		h.eventually("the large forward to become an incident", func() bool { return len(h.incidents(st)) == 1 })
		if h.proxy.Conns() < 2 {
			t.Errorf("the proxy saw %d connections; the cut should have forced a reconnect", h.proxy.Conns())
		}
		sent := h.waitSent(2)
		for _, c := range sent {
			if c.To[0] != "jane@acme.example" {
				continue
			}
			m := parseCaptured(t, c)
			if len(m.Attachments) != 1 || m.Attachments[0].Size < int64(len(big)) {
				t.Errorf("evidence attachment %+v is smaller than the %d-byte forward: a truncated body was committed", m.Attachments, len(big))
			}
		}

		// Dropped during IDLE: reconnect and pick up what arrived meanwhile.
		conns := h.proxy.Conns()
		h.proxy.DropAll()
		h.imap.Append("INBOX", forward(t, 2, "idle@globex.example"))
		h.eventually("the forward sent during the outage", func() bool { return len(h.incidents(st)) == 2 })
		if h.proxy.Conns() <= conns {
			t.Error("no reconnect after the connection was dropped")
		}

		// A server that stops answering (a black hole): the watchdog notices,
		// reconnects, and mail flows again once the server answers.
		conns = h.proxy.Conns()
		h.proxy.Stall()
		h.imap.Append("INBOX", forward(t, 3, "stall@globex.example"))
		h.eventually("a reconnect attempt while stalled", func() bool { return h.proxy.Conns() > conns })
		h.proxy.Unstall()
		h.eventually("the forward sent while the server was stalled", func() bool { return len(h.incidents(st)) == 3 })
		h.settle(st)
		h.stop()
		assertExactlyOnce(t, h, st, 3)
	})
}

func TestMachineMailIsNeverAnswered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.imap.Append("INBOX", fixture(t, "auto_reply.eml"))
		h.imap.Append("INBOX", fixture(t, "bounce.eml"))
		h.start()
		st := h.store()
		h.eventually("both messages to be processed", func() bool { return len(h.imap.UIDs(h.imap.Mailbox("backstop/processed"))) == 2 })
		// Something that is answered: a real forward, to know the daemon had time to answer.
		h.imap.Append("INBOX", forward(t, 1, "jordan@globex.example"))
		h.waitSent(2)
		h.settle(st)
		for _, c := range h.smtp.Sent() {
			if strings.Contains(strings.Join(c.To, ","), "globex") || strings.Contains(strings.ToLower(strings.Join(c.To, ",")), "mailer-daemon") {
				t.Errorf("backstop answered machine mail: email to %v", c.To)
			}
		}
		if got := len(h.smtp.Sent()); got != 2 {
			t.Errorf("%d emails, want only the forward's 2", got)
		}
	})
}

func TestQuarantine(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.imap.Append("INBOX", fixture(t, "outsider.eml"))
		// Cyrus refuses a message that is not mail at all on APPEND
		// ("Message contains invalid header"), as its LMTP would on
		// delivery: there, the outsider alone is quarantined.
		n := 2
		if b.name == "cyrus" {
			n = 1
		} else {
			h.imap.Append("INBOX", fixture(t, "malformed.eml"))
		}
		var before [][]byte // as the server stores them (Dovecot turns bare LF into CRLF)
		for _, m := range h.imap.Messages("INBOX") {
			before = append(before, m.Raw)
		}
		h.start()
		h.eventually("the messages in backstop/quarantine", func() bool { return len(h.imap.UIDs(h.imap.Mailbox("backstop/quarantine"))) == n })
		sent := h.waitSent(n)
		st := h.store()
		h.settle(st)
		for _, c := range h.smtp.Sent() {
			if c.To[0] != "jane@acme.example" {
				t.Errorf("quarantine told %v; only leads may be told, never the outsider", c.To)
			}
		}
		for _, c := range sent {
			m := parseCaptured(t, c)
			if strings.Contains(m.Text, "review site") {
				t.Error("the quarantine notice repeats the message's content")
			}
		}
		// The quarantined messages are kept, byte for byte. (go-imap's memory
		// server serves an empty BODY[] for a message without a header, so
		// only a real server can show the bytes.)
		if b.name == "memserver" || b.name == "cyrus" {
			return
		}
		var kept [][]byte
		for _, m := range h.imap.Messages(h.imap.Mailbox("backstop/quarantine")) {
			kept = append(kept, m.Raw)
		}
		want := before[1]
		if len(kept) != 2 || !bytes.Equal(kept[1], want) && !bytes.Equal(kept[0], want) {
			for _, k := range kept {
				t.Logf("kept %d bytes: %q", len(k), k[:min(len(k), 80)])
			}
			t.Errorf("the malformed message (%d bytes) was not kept as it was", len(want))
		}
	})
}

func TestSMTPFailures(t *testing.T) {
	h := newHarness(t, backends[0], withLeads(
		PersonConfig{Name: "Jane Doe", Address: "jane@acme.example"},
		PersonConfig{Name: "Omar Haddad", Address: "omar@acme.example"},
	))
	var mu sync.Mutex
	tries := map[string]int{}
	// The reporter's server answers 451 twice, then accepts.
	h.smtp.SetDataFailure(func(from string, rcpt []string) *smtp.SMTPError {
		mu.Lock()
		defer mu.Unlock()
		tries[rcpt[0]]++
		if rcpt[0] == "sam@acme.example" && tries[rcpt[0]] <= 2 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	})
	// Jane's address is refused for good.
	h.smtp.SetRcptFailure(func(rcpt string) *smtp.SMTPError {
		if rcpt == "jane@acme.example" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	h.imap.Append("INBOX", forward(t, 1, "jordan@globex.example"))
	h.start()
	st := h.store()
	h.eventually("the acknowledgement and a delivery-failure notice", func() bool {
		got := map[string]int{}
		for _, c := range h.smtp.Sent() {
			got[c.To[0]]++
		}
		return got["sam@acme.example"] == 1 && got["omar@acme.example"] == 2
	})
	h.settle(st)
	mu.Lock()
	if tries["sam@acme.example"] != 3 {
		t.Errorf("the acknowledgement was tried %d times, want 3 (two 451s, then accepted)", tries["sam@acme.example"])
	}
	mu.Unlock()
	rows, err := st.Outbox(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var failed int
	for _, r := range rows {
		if r.Recipient == "jane@acme.example" {
			if r.State != "failed" {
				t.Errorf("jane's notice is %s, want failed", r.State)
			}
			failed++
		}
	}
	if failed == 0 {
		t.Error("no outbox row for jane")
	}
	var notice bool
	for _, c := range h.smtp.Sent() {
		if c.To[0] == "omar@acme.example" && strings.Contains(parseCaptured(t, c).Text, "jane@acme.example") {
			notice = true
		}
	}
	if !notice {
		t.Error("the other lead was not told that jane's notice failed")
	}
}

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*syncBuffer)(nil)

// TestCheckConfigConnect: -connect logs in to both servers and says what
// works; a wrong password is reported with the server's answer.
func TestCheckConfigConnect(t *testing.T) {
	srv, err := embedded.Start(embedded.Config{Domain: "acme.example", Password: "imap-secret",
		Accounts: map[string]string{"escalations@acme.example": "smtp-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, iport, _ := splitHostPort(srv.IMAPAddr())
	_, sport, _ := splitHostPort(srv.SMTPAddr())
	cfg := strings.NewReplacer(
		"  host: imap.acme.example\n  username: escalations@acme.example\n", fmt.Sprintf("  host: 127.0.0.1\n  port: %d\n  tls: none\n  username: escalations\n", iport),
		"  host: smtp.acme.example\n", fmt.Sprintf("  host: 127.0.0.1\n  port: %d\n  tls: none\n", sport),
	).Replace(validConfig)
	path := filepath.Join(t.TempDir(), "backstop.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	t.Setenv("SMTP_PW", "smtp-secret")
	t.Setenv("TOKEN", testEnv("TOKEN"))

	t.Setenv("IMAP_PW", "imap-secret")
	var out, errOut strings.Builder
	if code := run(t.Context(), []string{"check-config", "-config", path, "-connect"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "imap 127.0.0.1") || !strings.Contains(out.String(), "logged in as escalations") ||
		!strings.Contains(out.String(), "authenticated as escalations@acme.example") {
		t.Errorf("output:\n%s", out.String())
	}

	t.Setenv("IMAP_PW", "wrong")
	out.Reset()
	errOut.Reset()
	if code := run(t.Context(), []string{"check-config", "-config", path, "-connect"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d with a wrong IMAP password, want 1", code)
	}
	if !strings.Contains(out.String(), "FAILED") {
		t.Errorf("output does not say what failed:\n%s", out.String())
	}
}
