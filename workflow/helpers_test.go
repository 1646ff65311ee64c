package workflow

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"backstop/templates"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 12, 9, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	tmplOnce sync.Once
	tmplSet  *templates.Set
	tmplErr  error
)

func loadTemplates(t testing.TB) *templates.Set {
	t.Helper()
	tmplOnce.Do(func() { tmplSet, tmplErr = templates.Load("") })
	if tmplErr != nil {
		t.Fatalf("templates.Load: %v", tmplErr)
	}
	return tmplSet
}

func newStore(t testing.TB) *Store {
	t.Helper()
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "backstop.db"), testKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var (
	jane   = Person{Name: "Jane Doe", Address: "jane@acme.example"}
	omar   = Person{Name: "Omar Haddad", Address: "omar@acme.example"}
	sam    = Person{Name: "Sam Rivera", Address: "sam@acme.example"}
	alex   = Person{Name: "Alex Kim", Address: "alex@acme.example"}
	jordan = Person{Name: "Jordan Miles", Address: "jordan@globex.example"}
	casey  = Person{Name: "Casey Vance", Address: "casey@initech.example"}
)

func testConfig(clk *clock) Config {
	return Config{
		OrgName:        "Acme Support",
		SupportAddress: "support@acme.example",
		Escalations:    "escalations@acme.example",
		Leads:          []Person{jane},
		TeamDomains:    []string{"acme.example"},
		Secret:         testSecret,
		// Commands: both checks, trusting the organisation's own MX.
		TrustedAuthServIDs: []string{"mx.acme.example"},
		Hold:               10 * time.Minute,
		Now:                clk.Now,
		Logger:             quiet,
	}
}

type env struct {
	t     testing.TB
	st    *Store
	desk  *Desk
	clk   *clock
	uid   uint32
	mu    sync.Mutex
	msgID int
}

func newEnv(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	clk := newClock()
	cfg := testConfig(clk)
	for _, m := range mutate {
		m(&cfg)
	}
	st := newStore(t)
	d, err := NewDesk(cfg, st, loadTemplates(t))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, st: st, desk: d, clk: clk}
}

// next returns the next UID and a fresh Message-ID.
func (e *env) next() (uint32, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.uid++
	e.msgID++
	return e.uid, fmt.Sprintf("m%d@mail.example", e.msgID)
}

func rawMessage(from Person, subject, body string) []byte {
	return []byte(fmt.Sprintf("From: %s\r\nTo: escalations@acme.example\r\nSubject: %s\r\n\r\n%s\r\n", from, subject, body))
}

// forward is a team member's forward of originals.
func (e *env) forward(from Person, originals ...Original) *Inbound {
	uid, mid := e.next()
	subject := "Fwd: " + originals[0].Subject
	return &Inbound{
		Mailbox: "INBOX", UIDValidity: 1, UID: uid, MessageID: mid,
		Raw:  rawMessage(from, subject, "forwarded: "+originals[0].Body),
		From: from, To: []Person{{Address: "escalations@acme.example"}},
		Subject: subject, Date: e.clk.Now(),
		Kind: "forward", Note: "this one got personal", Originals: originals,
	}
}

// plain is a message that is neither a forward nor a reply.
func (e *env) plain(from Person, subject string) *Inbound {
	uid, mid := e.next()
	return &Inbound{
		Mailbox: "INBOX", UIDValidity: 1, UID: uid, MessageID: mid,
		Raw:  rawMessage(from, subject, "hello"),
		From: from, To: []Person{{Address: "escalations@acme.example"}},
		Subject: subject, Date: e.clk.Now(), Kind: "other",
	}
}

func abuse(from Person, subject, body string, date time.Time) Original {
	return Original{From: from, To: []Person{sam}, Subject: subject, Date: date, DateRaw: date.Format(time.RFC1123Z), Body: body}
}

func (e *env) handle(in *Inbound, want Disposition) {
	e.t.Helper()
	got, err := e.desk.Handle(context.Background(), in)
	if err != nil {
		e.t.Fatalf("Handle(uid %d): %v", in.UID, err)
	}
	if got != want {
		e.t.Fatalf("Handle(uid %d) = %v, want %v", in.UID, got, want)
	}
}

func (e *env) outbox() []OutboxRow {
	e.t.Helper()
	rows, err := e.st.Outbox(context.Background(), 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func (e *env) mail(id int64) *OutMail {
	e.t.Helper()
	m, err := e.st.Mail(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) incidents() []Incident {
	e.t.Helper()
	incs, err := e.st.Incidents(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return incs
}

func (e *env) incident(id int64) (*Incident, []Event) {
	e.t.Helper()
	in, ev, err := e.st.Incident(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return in, ev
}

// count runs a count query.
func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.st.db.QueryRow(q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// summary describes outbox rows as "template→recipient" for comparisons.
func summary(rows []OutboxRow) string {
	var parts []string
	for _, r := range rows {
		parts = append(parts, r.Template+"→"+r.Recipient)
	}
	return strings.Join(parts, " ")
}

// fakeTransport records deliveries; fail injects errors.
type fakeTransport struct {
	mu   sync.Mutex
	sent []*OutMail
	fail func(m *OutMail, attempt int) error
	seen map[int64]int
}

func (f *fakeTransport) Deliver(ctx context.Context, m *OutMail) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[int64]int{}
	}
	f.seen[m.ID]++
	if f.fail != nil {
		if err := f.fail(m, f.seen[m.ID]); err != nil {
			return err
		}
	}
	f.sent = append(f.sent, m)
	return nil
}

func (f *fakeTransport) Sent() []*OutMail {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*OutMail(nil), f.sent...)
}

// smtpError is a reply code classified the way the SMTP sender does.
type smtpError struct{ code int }

func (e smtpError) Error() string   { return fmt.Sprintf("smtp: %d something went wrong", e.code) }
func (e smtpError) Temporary() bool { return e.code/100 == 4 }

// testKey is the storage key of the tests' databases.
var testKey = bytes.Repeat([]byte{0x42}, KeySize)

// countEvents counts the events matching where, of kind, whose (sealed)
// detail contains substr.
func (e *env) countEvents(where, kind, substr string) int {
	e.t.Helper()
	evs, err := e.st.events(context.Background(), where)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Kind == kind && strings.Contains(ev.Detail, substr) {
			n++
		}
	}
	return n
}
