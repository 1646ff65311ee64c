package embedded_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-smtp"

	"backstop/mailbox"
	"backstop/mailbox/embedded"
)

const (
	domain     = "acme.example"
	escalation = "escalations@acme.example"
	imapUser   = "escalations"
	imapPass   = "imap-secret"
)

// newServer starts the embedded servers with a lead account.
func newServer(t *testing.T) *embedded.Server {
	t.Helper()
	srv, err := embedded.Start(embedded.Config{
		Domain:    domain,
		Password:  imapPass,
		Accounts:  map[string]string{"lead@acme.example": "lead-pw", "Backstop@Acme.Example": "bs-pw"},
		Mailboxes: []string{"Processed", "Quarantine"},
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// newSender returns a mailbox.Sender for srv's SMTP server, authenticated
// when user is set.
func newSender(srv *embedded.Server, user, password string) *mailbox.Sender {
	return mailbox.NewSender(mailbox.SMTPConfig{
		Addr: srv.SMTPAddr(), TLS: mailbox.TLSNone, Username: user, Password: password, HeloName: "client.test",
	})
}

// newIMAPClient logs in to the escalations mailbox.
func newIMAPClient(t *testing.T, srv *embedded.Server) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(srv.IMAPAddr(), nil)
	if err != nil {
		t.Fatalf("IMAP dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(imapUser, imapPass).Wait(); err != nil {
		t.Fatalf("IMAP login: %v", err)
	}
	return c
}

// messages returns the raw messages of a mailbox in UID order.
func messages(t *testing.T, srv *embedded.Server, mbox string) [][]byte {
	t.Helper()
	c := newIMAPClient(t, srv)
	data, err := c.Select(mbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("SELECT %s: %v", mbox, err)
	}
	if data.NumMessages == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatalf("FETCH: %v", err)
	}
	var out [][]byte
	for _, m := range msgs {
		out = append(out, m.FindBodySection(section))
	}
	return out
}

func compose(t *testing.T, from string, to ...string) []byte {
	t.Helper()
	o := &mailbox.Outgoing{
		From:    mailbox.Address{Name: "Sender", Address: from},
		Subject: "Escalation",
		Text:    "Please look at this.\n",
	}
	for _, a := range to {
		o.To = append(o.To, mailbox.Address{Address: a})
	}
	raw, err := mailbox.Compose(o)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// header returns the top-level header of raw as go-message reads it
// (unfolded values, top first).
func header(t *testing.T, raw []byte) textproto.MIMEHeader {
	t.Helper()
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("reading header: %v", err)
	}
	return h
}

func TestSendDeliversAndCaptures(t *testing.T) {
	srv := newServer(t)
	msg := compose(t, "support@acme.example", escalation, "customer@customer.example")
	rcpts := []string{escalation, "Escalations+inc-42@ACME.example", "customer@customer.example", "lead@acme.example"}
	if err := newSender(srv, "", "").Send(context.Background(), "support@acme.example", rcpts, msg); err != nil {
		t.Fatalf("Send: %v", err)
	}

	inbox := messages(t, srv, "INBOX")
	if len(inbox) != 2 {
		t.Fatalf("INBOX has %d messages, want 2 (one per escalations address)", len(inbox))
	}
	for i, want := range []string{escalation, "Escalations+inc-42@ACME.example"} {
		raw := inbox[i]
		h := header(t, raw)
		if got := h.Get("Delivered-To"); got != want {
			t.Errorf("message %d: Delivered-To = %q, want %q", i, got, want)
		}
		if got := h.Get("Return-Path"); got != "<support@acme.example>" {
			t.Errorf("message %d: Return-Path = %q", i, got)
		}
		if got := h.Get("Received"); !strings.Contains(got, "from client.test ([127.0.0.1])") || !strings.Contains(got, "with ESMTP id") || !strings.Contains(got, "for <"+want+">") {
			t.Errorf("message %d: Received = %q", i, got)
		}
		// Unauthenticated mail claiming our own domain fails DMARC.
		if got := h.Get("Authentication-Results"); got != "acme.example; dmarc=fail header.from=acme.example" {
			t.Errorf("message %d: Authentication-Results = %q", i, got)
		}
		// The message itself follows the added fields, unchanged.
		if !bytes.HasSuffix(raw, msg) {
			t.Errorf("message %d: the original is not intact at the end:\n%s", i, raw)
		}
	}

	sent := srv.Sent()
	if len(sent) != 1 {
		t.Fatalf("Sent() = %d messages, want 1", len(sent))
	}
	c := sent[0]
	if c.From != "support@acme.example" || strings.Join(c.To, ",") != "customer@customer.example,lead@acme.example" ||
		!bytes.Equal(c.Raw, msg) || c.At.IsZero() {
		t.Errorf("captured %+v", c)
	}
}

func TestAuthenticationResults(t *testing.T) {
	tests := []struct {
		name       string
		user, pass string
		from       string
		want       string // the field as written, folded
		wantResult map[string]string
	}{
		{
			name: "authenticated as the From address", user: "lead@acme.example", pass: "lead-pw", from: "Lead@ACME.example",
			want: "Authentication-Results: acme.example;\r\n\tauth=pass smtp.auth=lead@acme.example;\r\n" +
				"\tdmarc=pass header.from=acme.example;\r\n\tdkim=pass header.d=acme.example\r\n",
			wantResult: map[string]string{"auth": "pass", "dmarc": "pass", "dkim": "pass"},
		},
		{
			name: "account names are case-insensitive", user: "backstop@acme.example", pass: "bs-pw", from: "backstop@acme.example",
			want: "Authentication-Results: acme.example;\r\n\tauth=pass smtp.auth=Backstop@Acme.Example;\r\n" +
				"\tdmarc=pass header.from=acme.example;\r\n\tdkim=pass header.d=acme.example\r\n",
			wantResult: map[string]string{"auth": "pass", "dmarc": "pass", "dkim": "pass"},
		},
		{
			name: "authenticated as someone else", user: "lead@acme.example", pass: "lead-pw", from: "ceo@acme.example",
			want:       "Authentication-Results: acme.example;\r\n\tauth=pass smtp.auth=lead@acme.example;\r\n\tdmarc=fail header.from=acme.example\r\n",
			wantResult: map[string]string{"auth": "pass", "dmarc": "fail"},
		},
		{
			name: "not authenticated, own domain", from: "lead@acme.example",
			want:       "Authentication-Results: acme.example;\r\n\tdmarc=fail header.from=acme.example\r\n",
			wantResult: map[string]string{"dmarc": "fail"},
		},
		{
			name: "not authenticated, other domain", from: "angry@customer.example",
			want:       "Authentication-Results: acme.example;\r\n\tdmarc=none header.from=customer.example\r\n",
			wantResult: map[string]string{"dmarc": "none"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			msg := compose(t, tt.from, escalation)
			if err := newSender(srv, tt.user, tt.pass).Send(context.Background(), tt.from, []string{escalation}, msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			inbox := messages(t, srv, "INBOX")
			if len(inbox) != 1 {
				t.Fatalf("INBOX has %d messages", len(inbox))
			}
			if !bytes.Contains(inbox[0], []byte(tt.want)) {
				t.Errorf("delivered header lacks\n%s\ngot:\n%s", tt.want, inbox[0])
			}
			// go-msgauth reads it.
			id, results, err := authres.Parse(header(t, inbox[0]).Get("Authentication-Results"))
			if err != nil || id != domain {
				t.Fatalf("authres.Parse: id %q, %v", id, err)
			}
			got := map[string]string{}
			for _, r := range results {
				switch r := r.(type) {
				case *authres.AuthResult:
					got["auth"] = string(r.Value)
				case *authres.DMARCResult:
					got["dmarc"] = string(r.Value)
				case *authres.DKIMResult:
					got["dkim"] = string(r.Value)
				}
			}
			if len(got) != len(tt.wantResult) {
				t.Errorf("results %v, want %v", got, tt.wantResult)
			}
			for k, v := range tt.wantResult {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestForgedAuthenticationResultsRemoved(t *testing.T) {
	srv := newServer(t)
	forged := "Authentication-Results: acme.example;\r\n\tauth=pass smtp.auth=ceo@acme.example;\r\n\tdmarc=pass header.from=acme.example\r\n" +
		"Authentication-Results: (looks legit) ACME.Example 1; dkim=pass header.d=acme.example\r\n" +
		"Authentication-Results: \"acme.example\"; dmarc=pass header.from=acme.example\r\n"
	foreign := "Authentication-Results: mx.customer.example; dkim=pass header.d=customer.example\r\n"
	msg := []byte(forged + foreign +
		"From: CEO <ceo@acme.example>\r\nTo: escalations@acme.example\r\nSubject: trust me\r\n" +
		"Authentication-Results: acme.example; dmarc=pass header.from=acme.example\r\n" +
		"\r\nAuthentication-Results: acme.example; in the body, left alone\r\n")
	if err := newSender(srv, "", "").Send(context.Background(), "ceo@acme.example", []string{escalation}, msg); err != nil {
		t.Fatal(err)
	}
	inbox := messages(t, srv, "INBOX")
	if len(inbox) != 1 {
		t.Fatalf("INBOX has %d messages", len(inbox))
	}
	got := inbox[0]
	values := header(t, got)["Authentication-Results"]
	if len(values) != 2 || values[0] != "acme.example; dmarc=fail header.from=acme.example" ||
		values[1] != "mx.customer.example; dkim=pass header.d=customer.example" {
		t.Errorf("Authentication-Results = %q; want only ours (fail) and the foreign one", values)
	}
	if !bytes.Contains(got, []byte(foreign)) {
		t.Error("the foreign Authentication-Results was changed")
	}
	if !bytes.HasSuffix(got, []byte("\r\n\r\nAuthentication-Results: acme.example; in the body, left alone\r\n")) {
		t.Errorf("the body was changed:\n%s", got)
	}
}

func TestFailureInjection(t *testing.T) {
	tests := []struct {
		name     string
		rcpt     *smtp.SMTPError
		data     *smtp.SMTPError
		wantCode int
		wantTemp bool
	}{
		{"rcpt 451", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try later"}, nil, 451, true},
		{"rcpt 550", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}, nil, 550, false},
		{"data 451", nil, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try later"}, 451, true},
		{"data 554", nil, &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Spam"}, 554, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			var sawFrom string
			var sawRcpt []string
			srv.SetRcptFailure(func(rcpt string) *smtp.SMTPError {
				if rcpt == "bob@customer.example" {
					return tt.rcpt
				}
				return nil
			})
			srv.SetDataFailure(func(from string, rcpt []string) *smtp.SMTPError {
				sawFrom, sawRcpt = from, rcpt
				return tt.data
			})
			msg := compose(t, "support@acme.example", "bob@customer.example")
			err := newSender(srv, "", "").Send(context.Background(), "support@acme.example", []string{"bob@customer.example", escalation}, msg)
			var se *mailbox.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send error = %v, want a *mailbox.SendError", err)
			}
			if se.Code != tt.wantCode || se.Temporary() != tt.wantTemp {
				t.Errorf("code %d temporary %v, want %d %v: %v", se.Code, se.Temporary(), tt.wantCode, tt.wantTemp, err)
			}
			if tt.data != nil && (sawFrom != "support@acme.example" || len(sawRcpt) != 2) {
				t.Errorf("data failure saw from %q rcpt %q", sawFrom, sawRcpt)
			}
			if n := len(srv.Sent()); n != 0 {
				t.Errorf("%d messages captured after a failure", n)
			}
			if n := len(messages(t, srv, "INBOX")); n != 0 {
				t.Errorf("%d messages delivered after a failure", n)
			}

			// Clearing the failures lets mail through again.
			srv.SetRcptFailure(nil)
			srv.SetDataFailure(nil)
			if err := newSender(srv, "", "").Send(context.Background(), "support@acme.example", []string{"bob@customer.example"}, msg); err != nil {
				t.Errorf("after clearing failures: %v", err)
			}
		})
	}
}

func TestAuthFailure(t *testing.T) {
	srv := newServer(t)
	err := newSender(srv, "lead@acme.example", "wrong").Send(context.Background(), "lead@acme.example", []string{escalation}, compose(t, "lead@acme.example", escalation))
	var se *mailbox.SendError
	if !errors.As(err, &se) || se.Code != 535 || se.Temporary() {
		t.Errorf("Send with a wrong password: %v", err)
	}
}

// TestAuthLoginByHand speaks AUTH LOGIN without an initial response, as
// some mail clients do.
func TestAuthLoginByHand(t *testing.T) {
	srv := newServer(t)
	conn, err := net.Dial("tcp", srv.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tp := textproto.NewConn(conn)
	expect := func(code int) string {
		t.Helper()
		_, msg, err := tp.ReadResponse(code)
		if err != nil {
			t.Fatalf("want %d: %v", code, err)
		}
		return msg
	}
	b64 := base64.StdEncoding.EncodeToString
	expect(220)
	tp.PrintfLine("EHLO client.test")
	if caps := expect(250); !strings.Contains(caps, "AUTH PLAIN LOGIN") {
		t.Errorf("EHLO reply lacks AUTH PLAIN LOGIN:\n%s", caps)
	}
	tp.PrintfLine("AUTH LOGIN")
	if got := expect(334); got != b64([]byte("Username:")) {
		t.Errorf("first challenge %q", got)
	}
	tp.PrintfLine("%s", b64([]byte("lead@acme.example")))
	if got := expect(334); got != b64([]byte("Password:")) {
		t.Errorf("second challenge %q", got)
	}
	tp.PrintfLine("%s", b64([]byte("lead-pw")))
	expect(235)
	tp.PrintfLine("MAIL FROM:<lead@acme.example>")
	expect(250)
	tp.PrintfLine("RCPT TO:<%s>", escalation)
	expect(250)
	tp.PrintfLine("DATA")
	expect(354)
	w := tp.DotWriter()
	w.Write([]byte("From: lead@acme.example\r\nSubject: by hand\r\n\r\nSEVER\r\n"))
	w.Close()
	expect(250)
	tp.PrintfLine("QUIT")
	expect(221)

	inbox := messages(t, srv, "INBOX")
	if len(inbox) != 1 || !bytes.Contains(inbox[0], []byte("auth=pass smtp.auth=lead@acme.example;")) {
		t.Errorf("INBOX = %q", inbox)
	}
}

func TestWaitSentAndSubscribe(t *testing.T) {
	srv := newServer(t)
	var mu sync.Mutex
	var seen []embedded.Captured
	cancelSub := srv.Subscribe(func(c embedded.Captured) {
		mu.Lock()
		seen = append(seen, c)
		mu.Unlock()
	})

	// Nothing sent yet: WaitSent gives up with the context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := srv.WaitSent(ctx, 1); !errors.Is(err, context.Canceled) || len(got) != 0 {
		t.Errorf("WaitSent on a cancelled context = %d, %v", len(got), err)
	}

	s := newSender(srv, "", "")
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			to := []string{"customer" + string(rune('a'+i)) + "@customer.example"}
			if err := s.Send(context.Background(), "support@acme.example", to, compose(t, "support@acme.example", to...)); err != nil {
				t.Error(err)
			}
		})
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := srv.WaitSent(ctx, 3)
	if err != nil || len(got) != 3 {
		t.Fatalf("WaitSent = %d, %v", len(got), err)
	}
	wg.Wait()
	mu.Lock()
	if len(seen) != 3 {
		t.Errorf("subscriber saw %d messages, want 3", len(seen))
	}
	mu.Unlock()

	cancelSub()
	if err := s.Send(context.Background(), "support@acme.example", []string{"x@customer.example"}, compose(t, "support@acme.example", "x@customer.example")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Errorf("subscriber called after unsubscribing")
	}
	if len(srv.Sent()) != 4 {
		t.Errorf("Sent() = %d, want 4", len(srv.Sent()))
	}
}

func TestIMAP(t *testing.T) {
	srv := newServer(t)
	raw := []byte("From: angry@customer.example\r\nTo: support@acme.example\r\nSubject: raw\r\n\r\nbody\r\n")
	if err := srv.Deliver(raw); err != nil {
		t.Fatal(err)
	}
	if err := srv.Deliver(raw); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeliverTo("Nope", raw); err == nil {
		t.Error("DeliverTo a missing mailbox succeeded")
	}

	c := newIMAPClient(t, srv)
	for _, capName := range []imap.Cap{imap.CapIdle, imap.CapMove, imap.CapUIDPlus, imap.CapNamespace} {
		if !c.Caps().Has(capName) {
			t.Errorf("server lacks %s", capName)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(1), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil || len(msgs) != 1 || !bytes.Equal(msgs[0].FindBodySection(section), raw) {
		t.Fatalf("UID FETCH 1 = %v, %v; want the delivered message unchanged", msgs, err)
	}
	// MOVE with UIDPLUS: the message leaves INBOX for Processed.
	moved, err := c.Move(imap.UIDSetNum(1), "Processed").Wait()
	if err != nil {
		t.Fatalf("UID MOVE: %v", err)
	}
	if moved.DestUIDs.String() != "1" {
		t.Errorf("COPYUID dest = %v", moved.DestUIDs)
	}
	for mbox, want := range map[string]uint32{"Processed": 1, "Quarantine": 0} {
		st, err := c.Status(mbox, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || *st.NumMessages != want {
			t.Errorf("STATUS %s = %v, %v; want %d messages", mbox, st, err, want)
		}
	}
	uids, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil || len(uids.AllUIDs()) != 1 || uids.AllUIDs()[0] != 2 {
		t.Errorf("UID SEARCH ALL in INBOX = %v, %v; want UID 2 only", uids, err)
	}

	idle, err := c.Idle()
	if err != nil {
		t.Fatalf("IDLE: %v", err)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("IDLE done: %v", err)
	}

	// A wrong password is refused.
	c2, err := imapclient.DialInsecure(srv.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login(imapUser, "wrong").Wait(); err == nil {
		t.Error("IMAP login with a wrong password succeeded")
	}
}

// TestIdleReportsPending: a message delivered after the client's last
// command and before its IDLE is reported as soon as IDLE starts (go-imap's
// own tracker waited for the next delivery; the demo's first forward was
// lost in that window on a slow machine).
func TestIdleReportsPending(t *testing.T) {
	srv := newServer(t)
	exists := make(chan uint32, 4)
	c, err := imapclient.DialInsecure(srv.IMAPAddr(), &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					exists <- *data.NumMessages
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(imapUser, imapPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := uint32(1); i <= 2; i++ {
		if err := srv.Deliver([]byte("From: a@customer.example\r\nSubject: x\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
		idle, err := c.Idle()
		if err != nil {
			t.Fatalf("IDLE: %v", err)
		}
		select {
		case n := <-exists:
			if n != i {
				t.Errorf("EXISTS %d, want %d", n, i)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("IDLE never reported message %d, delivered before it started", i)
		}
		if err := idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := idle.Wait(); err != nil {
			t.Fatalf("IDLE done: %v", err)
		}
	}
}

func TestStartErrors(t *testing.T) {
	srv := newServer(t)
	_, port, _ := net.SplitHostPort(srv.SMTPAddr())
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	tests := []struct {
		name string
		cfg  embedded.Config
		want string
	}{
		{"no domain", embedded.Config{Password: "x"}, "Domain is required"},
		{"no password", embedded.Config{Domain: domain}, "Password is required"},
		{"bad address", embedded.Config{Domain: domain, Password: "x", Address: "escalations"}, "not an email address"},
		{"port in use", embedded.Config{Domain: domain, Password: "x", SMTPPort: p}, "pick another port"},
	}
	for _, tt := range tests {
		s, err := embedded.Start(tt.cfg)
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Start error = %v, want %q", tt.name, err, tt.want)
		}
	}
	// Close is idempotent.
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	srv.Close()
}

// TestAccountMailbox: mail captured for an account is also kept in that
// account's own IMAP INBOX, so a person can read and answer it.
func TestAccountMailbox(t *testing.T) {
	srv := newServer(t)
	raw := compose(t, "escalations@acme.example", "lead@acme.example")
	if err := newSender(srv, "", "").Send(context.Background(), "escalations@acme.example", []string{"lead@acme.example"}, raw); err != nil {
		t.Fatal(err)
	}
	c, err := imapclient.DialInsecure(srv.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("lead@acme.example", "lead-pw").Wait(); err != nil {
		t.Fatalf("the account cannot log in to IMAP: %v", err)
	}
	data, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.NumMessages != 1 {
		t.Fatalf("the account's INBOX holds %d messages, want 1", data.NumMessages)
	}
	if len(srv.Sent()) != 1 {
		t.Errorf("captured %d, want 1", len(srv.Sent()))
	}
}
