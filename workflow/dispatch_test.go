package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"backstop/templates"
)

func (e *env) dispatcher(tr Transport) *Dispatcher {
	return NewDispatcher(e.st, tr, DispatchConfig{
		Poll: 5 * time.Millisecond, MinRetry: time.Minute, MaxRetry: 10 * time.Minute, MaxAge: 3 * time.Hour,
		Now: e.clk.Now, Logger: quiet,
	})
}

// drain sends everything due.
func drain(t *testing.T, d *Dispatcher) int {
	t.Helper()
	n := 0
	for {
		sent, err := d.SendNext(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !sent {
			return n
		}
		n++
	}
}

func (e *env) states() string {
	var s []string
	for _, r := range e.outbox() {
		s = append(s, fmt.Sprintf("%s→%s:%s", r.Template, r.Recipient, r.State))
	}
	return strings.Join(s, " ")
}

func TestDispatchSends(t *testing.T) {
	e := newEnv(t)
	e.handle(e.forward(sam, abuse(jordan, "s", "a", e.clk.Now())), Processed)
	tr := &fakeTransport{}
	if n := drain(t, e.dispatcher(tr)); n != 2 {
		t.Fatalf("sent %d, want 2", n)
	}
	if got, want := e.states(), "reporter_ack→sam@acme.example:sent lead_notice→jane@acme.example:sent"; got != want {
		t.Errorf("states %s, want %s", got, want)
	}
	sent := tr.Sent()
	for i, r := range e.outbox() {
		m := sent[i]
		if m.ID != r.ID || m.MessageID != r.MessageID || m.Subject != r.Subject || !strings.HasPrefix(m.EnvelopeFrom, "escalations+bounce-") {
			t.Errorf("delivered %+v for row %+v", m, r)
		}
		if r.Sent.IsZero() || r.Attempts != 1 {
			t.Errorf("row %d sent %v attempts %d", r.ID, r.Sent, r.Attempts)
		}
	}
	if len(sent[1].Attachments) != 1 || len(sent[1].Attachments[0].Data) == 0 {
		t.Errorf("the evidence was not attached on delivery")
	}
	if n := e.count("SELECT count(*) FROM events WHERE kind = ?", EventMailSent); n != 2 {
		t.Errorf("%d sent events", n)
	}
}

func TestDispatchRetriesTemporaryFailures(t *testing.T) {
	e := newEnv(t)
	e.handle(e.forward(sam, abuse(jordan, "s", "a", e.clk.Now())), Processed)
	tr := &fakeTransport{fail: func(m *OutMail, attempt int) error {
		if m.Template == templates.LeadNotice && attempt <= 2 {
			return fmt.Errorf("sending: %w", smtpError{451})
		}
		return nil
	}}
	d := e.dispatcher(tr)
	drain(t, d)
	if got, want := e.states(), "reporter_ack→sam@acme.example:sent lead_notice→jane@acme.example:queued"; got != want {
		t.Fatalf("states %s, want %s", got, want)
	}
	row := e.outbox()[1]
	if row.Attempts != 1 || !strings.Contains(row.LastError, "451") || !row.NotBefore.After(e.clk.Now()) {
		t.Errorf("after a 451: attempts %d, error %q, not before %v (now %v)", row.Attempts, row.LastError, row.NotBefore, e.clk.Now())
	}
	if drain(t, d) != 0 {
		t.Errorf("retried before its time")
	}
	e.clk.Advance(time.Minute)
	drain(t, d) // second 451
	e.clk.Advance(2 * time.Minute)
	drain(t, d)
	if got, want := e.states(), "reporter_ack→sam@acme.example:sent lead_notice→jane@acme.example:sent"; got != want {
		t.Fatalf("states %s, want %s", got, want)
	}
	if row := e.outbox()[1]; row.Attempts != 3 || row.LastError != "" {
		t.Errorf("attempts %d, error %q", row.Attempts, row.LastError)
	}
	if tr.seen[2] != 3 || len(tr.Sent()) != 2 {
		t.Errorf("lead notice delivered %d times over %d attempts", len(tr.Sent())-1, tr.seen[2])
	}
}

func TestDispatchBackoff(t *testing.T) {
	d := NewDispatcher(nil, nil, DispatchConfig{MinRetry: time.Minute, MaxRetry: 10 * time.Minute})
	for _, tt := range []struct {
		attempts int
		max      time.Duration
	}{{1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {4, 8 * time.Minute}, {5, 10 * time.Minute}, {40, 10 * time.Minute}} {
		got := d.backoff(tt.attempts)
		if got > tt.max || got < tt.max*3/4 {
			t.Errorf("backoff(%d) = %v, want in (%v, %v]", tt.attempts, got, tt.max*3/4, tt.max)
		}
	}
}

func TestDispatchPermanentFailure(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Leads = []Person{jane, omar} })
	e.handle(e.forward(sam, abuse(jordan, "s", "a", e.clk.Now())), Processed)
	// Jane's mailbox is gone: everything to her is refused, including the
	// notice that her email failed. That notice starts no further one.
	tr := &fakeTransport{fail: func(m *OutMail, attempt int) error {
		if m.Rcpt[0] == "jane@acme.example" {
			return fmt.Errorf("rcpt: %w", smtpError{550})
		}
		return nil
	}}
	drain(t, e.dispatcher(tr))
	want := "reporter_ack→sam@acme.example:sent lead_notice→jane@acme.example:failed lead_notice→omar@acme.example:sent " +
		"delivery_failed→jane@acme.example:failed delivery_failed→omar@acme.example:sent"
	if got := e.states(); got != want {
		t.Fatalf("states\n%s\nwant\n%s", got, want)
	}
	var notice *OutMail
	for _, m := range tr.Sent() {
		if m.Template == templates.DeliveryFailed {
			notice = m
		}
	}
	if !strings.HasPrefix(notice.Subject, "[INC-1] ") || !strings.Contains(notice.Text, "550") {
		t.Errorf("delivery notice %q:\n%s", notice.Subject, notice.Text)
	}
	if row := e.outbox()[1]; !strings.Contains(row.LastError, "550") || row.Attempts != 1 {
		t.Errorf("failed row: %+v", row)
	}
	if n := e.count("SELECT count(*) FROM events WHERE kind = ? AND incident_id = 1", EventMailFailed); n != 2 {
		t.Errorf("%d failed events, want 2", n)
	}
}

func TestDispatchGivesUp(t *testing.T) {
	e := newEnv(t)
	e.handle(e.plain(jordan, "spam"), Quarantined)
	tr := &fakeTransport{fail: func(m *OutMail, attempt int) error {
		if m.Template == templates.QuarantineNotice {
			return errors.Join(errors.New("dial: connection refused"), smtpError{421})
		}
		return nil
	}}
	d := e.dispatcher(tr)
	for range 100 {
		drain(t, d)
		if e.outbox()[0].State != OutQueued {
			break
		}
		e.clk.Advance(10 * time.Minute)
	}
	row := e.outbox()[0]
	if row.State != OutFailed || !strings.Contains(row.LastError, "gave up") {
		t.Fatalf("row %+v", row)
	}
	if got := e.outbox()[1]; got.Template != templates.DeliveryFailed || got.State != OutSent {
		t.Errorf("notice row %+v", got)
	}
}

func TestDispatchRecovery(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Leads = []Person{jane, omar} })
	e.handle(e.forward(sam, abuse(jordan, "s", "a", e.clk.Now())), Processed)
	// A crash while sending two emails: the ack (internal) and, as a
	// stand-in for a customer email, Jane's notice marked as customer mail.
	if _, err := e.st.db.Exec("UPDATE outbox SET state = 'sending', attempts = 1 WHERE id IN (1, 2)"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.db.Exec("UPDATE outbox SET customer = 1 WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	before := e.outbox()
	tr := &fakeTransport{}
	d := e.dispatcher(tr)
	if err := d.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	want := "reporter_ack→sam@acme.example:sent lead_notice→jane@acme.example:uncertain lead_notice→omar@acme.example:sent " +
		"uncertain_delivery→jane@acme.example:sent uncertain_delivery→omar@acme.example:sent"
	if got := e.states(); got != want {
		t.Fatalf("states\n%s\nwant\n%s", got, want)
	}
	for _, m := range tr.Sent() {
		if m.ID == 2 {
			t.Errorf("the uncertain customer email was sent again")
		}
		if m.ID == 1 && m.MessageID != before[0].MessageID {
			t.Errorf("the interrupted internal email was resent with a new Message-ID")
		}
	}
	if n := e.count("SELECT count(*) FROM events WHERE kind = ? AND incident_id = 1", EventMailUncertain); n != 1 {
		t.Errorf("%d uncertain events", n)
	}
	// A second start finds nothing to recover.
	if err := d.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if drain(t, d) != 0 {
		t.Errorf("a second recovery sent mail")
	}
}

func TestDispatchNeverTwice(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Leads = []Person{jane, omar}
		c.MaxPerRecipientHour = 1000
		c.MaxPerIncidentHour = 1000
	})
	for i := range 10 {
		e.handle(e.forward(sam, abuse(Person{Address: fmt.Sprintf("c%d@globex.example", i)}, "s", "a", e.clk.Now())), Processed)
	}
	tr := &fakeTransport{}
	var wg sync.WaitGroup
	for range 3 {
		d := e.dispatcher(tr)
		wg.Go(func() {
			for {
				sent, err := d.SendNext(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if !sent {
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(tr.Sent()); n != 30 {
		t.Errorf("delivered %d, want 30", n)
	}
	for id, n := range tr.seen {
		if n != 1 {
			t.Errorf("outbox #%d delivered %d times", id, n)
		}
	}
}

// blockingTransport holds each delivery until released.
type blockingTransport struct {
	fakeTransport
	started chan struct{}
	release chan struct{}
}

func (b *blockingTransport) Deliver(ctx context.Context, m *OutMail) error {
	b.started <- struct{}{}
	<-b.release
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.fakeTransport.Deliver(ctx, m)
}

func TestDispatcherRun(t *testing.T) {
	e := newEnv(t)
	tr := &blockingTransport{started: make(chan struct{}), release: make(chan struct{})}
	d := e.dispatcher(tr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	e.handle(e.forward(sam, abuse(jordan, "s", "a", e.clk.Now())), Processed)
	d.Kick()
	<-tr.started
	tr.release <- struct{}{}
	<-tr.started
	// Stop while the second email is in hand: it is finished, not dropped.
	cancel()
	tr.release <- struct{}{}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	if got, want := e.states(), "reporter_ack→sam@acme.example:sent lead_notice→jane@acme.example:sent"; got != want {
		t.Errorf("states %s, want %s", got, want)
	}
}

func TestRestartResumes(t *testing.T) {
	e := newEnv(t)
	e.handle(e.forward(sam, abuse(jordan, "s", "a", e.clk.Now())), Processed)
	path := e.st.Path()
	e.st.Close()

	st, err := Open(context.Background(), path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := NewDesk(testConfig(e.clk), st, loadTemplates(t)); err != nil {
		t.Fatal(err)
	}
	tr := &fakeTransport{}
	d := NewDispatcher(st, tr, DispatchConfig{Now: e.clk.Now, Logger: quiet})
	if err := d.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := drain(t, d); n != 2 {
		t.Errorf("sent %d after a restart, want 2", n)
	}
}
