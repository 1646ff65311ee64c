package mailbox

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testSMTP is a go-smtp server on 127.0.0.1:0 that records what it gets and
// fails on demand.
type testSMTP struct {
	addr string
	cert *x509.Certificate // the server's certificate, for clients to trust

	mu       sync.Mutex
	sessions int
	inflight int // transactions between MAIL and the end of DATA
	maxBusy  int // the most in flight at once
	conns    []*smtp.Conn
	mails    []receivedMail
	authMech string // last AUTH mechanism used
	// failures, nil = accept
	rcptFail func(rcpt string) error
	dataFail func() error
	// dropAfterData closes the connection after reading the message
	// instead of replying.
	dropAfterData bool
	sizeSeen      int64
	helo          string
	// tokens are the OAuth2 access tokens accepted, for the user they
	// belong to.
	tokens map[string]string
}

type receivedMail struct {
	from string
	rcpt []string
	data []byte
	user string
}

type smtpServerOptions struct {
	mechs    []string // AUTH mechanisms offered; nil = none
	tls      TLSMode  // none, starttls (STARTTLS offered), implicit
	maxBytes int64
}

// testAccounts are the users the test server accepts.
var testAccounts = map[string]string{"backstop@acme.example": "s3cret"}

func newTestSMTP(t *testing.T, opts smtpServerOptions) *testSMTP {
	t.Helper()
	ts := &testSMTP{}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		ts.mu.Lock()
		ts.sessions++
		ts.conns = append(ts.conns, c)
		ts.mu.Unlock()
		return &testSession{ts: ts, conn: c, mechs: opts.mechs}, nil
	})
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = true
	// Connection errors the tests provoke (TLS mismatches) are expected.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if opts.maxBytes > 0 {
		srv.MaxMessageBytes = opts.maxBytes
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.tls == TLSStartTLS || opts.tls == TLSImplicit {
		cert, certDER := newTestCert(t)
		ts.cert, _ = x509.ParseCertificate(certDER)
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
		if opts.tls == TLSStartTLS {
			srv.TLSConfig = cfg
		} else {
			ln = tls.NewListener(ln, cfg)
		}
	}
	ts.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ts
}

// clientTLS trusts the test server's certificate.
func (ts *testSMTP) clientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ts.cert)
	return &tls.Config{RootCAs: pool}
}

func (ts *testSMTP) received() []receivedMail {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]receivedMail(nil), ts.mails...)
}

type testSession struct {
	ts    *testSMTP
	conn  *smtp.Conn
	mechs []string
	user  string
	from  string
	rcpt  []string
}

func (s *testSession) AuthMechanisms() []string { return s.mechs }

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	s.ts.mu.Lock()
	s.ts.authMech = mech
	s.ts.mu.Unlock()
	check := func(username, password string) error {
		if p, ok := testAccounts[username]; !ok || p != password {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			return check(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	case sasl.OAuthBearer:
		return authFailed{sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if err := s.checkToken(o.Username, o.Token); err != nil {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			return nil
		})}, nil
	case MechXOAuth2:
		return &xoauth2Server{check: s.checkToken}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *testSession) checkToken(username, token string) error {
	s.ts.mu.Lock()
	defer s.ts.mu.Unlock()
	if u, ok := s.ts.tokens[token]; !ok || u != username {
		return smtp.ErrAuthFailed
	}
	s.user = username
	return nil
}

// authFailed turns go-sasl's own failure into the 535 real servers send
// (go-smtp answers anything else with 454).
type authFailed struct{ sasl.Server }

func (a authFailed) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := a.Server.Next(response)
	var smtpErr *smtp.SMTPError
	if err != nil && !errors.As(err, &smtpErr) {
		err = smtp.ErrAuthFailed
	}
	return challenge, done, err
}

// xoauth2Server is the server side of XOAUTH2 as Google and Microsoft
// document it: a failure is a JSON challenge, answered by an empty line,
// then the 535.
type xoauth2Server struct {
	check  func(username, token string) error
	failed bool
}

func (x *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	if x.failed {
		return nil, true, smtp.ErrAuthFailed
	}
	if response == nil {
		return []byte{}, false, nil
	}
	parts := strings.Split(string(response), "\x01")
	var user, token string
	for _, p := range parts {
		if v, ok := strings.CutPrefix(p, "user="); ok {
			user = v
		}
		if v, ok := strings.CutPrefix(p, "auth=Bearer "); ok {
			token = v
		}
	}
	if x.check(user, token) == nil {
		return nil, true, nil
	}
	x.failed = true
	return []byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`), false, nil
}

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check    func(username, password string) error
	username string
	step     int
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.username, string(response))
	}
}

func (s *testSession) Mail(from string, opts *smtp.MailOptions) error {
	s.ts.mu.Lock()
	s.ts.sizeSeen = opts.Size
	s.ts.helo = s.conn.Hostname()
	s.ts.inflight++
	s.ts.maxBusy = max(s.ts.maxBusy, s.ts.inflight)
	s.ts.mu.Unlock()
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.ts.mu.Lock()
	f := s.ts.rcptFail
	s.ts.mu.Unlock()
	if f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	s.rcpt = append(s.rcpt, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	defer func() {
		s.ts.mu.Lock()
		s.ts.inflight--
		s.ts.mu.Unlock()
	}()
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ts.mu.Lock()
	f, drop := s.ts.dataFail, s.ts.dropAfterData
	s.ts.mu.Unlock()
	if drop {
		s.conn.Conn().Close()
		return errors.New("dropped")
	}
	if f != nil {
		if err := f(); err != nil {
			return err
		}
	}
	s.ts.mu.Lock()
	s.ts.mails = append(s.ts.mails, receivedMail{from: s.from, rcpt: s.rcpt, data: data, user: s.user})
	s.ts.mu.Unlock()
	return nil
}

func (s *testSession) Reset()        { s.from, s.rcpt = "", nil }
func (s *testSession) Logout() error { return nil }

// dropAll closes every connection from the server's side, as a server
// does with connections idle too long.
func (ts *testSMTP) dropAll() {
	ts.mu.Lock()
	conns := ts.conns
	ts.conns = nil
	ts.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func newTestCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "backstop test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der
}

func testMessage(t *testing.T) []byte {
	t.Helper()
	raw, err := Compose(&Outgoing{
		From:    Address{Name: "Acme Support", Address: "support@acme.example"},
		To:      []Address{{Address: "customer@customer.example"}},
		Subject: "About your messages",
		Text:    "Please keep it civil.\n.\nA line with a lone dot above.\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// sendError asserts that err is a *SendError and returns it.
func sendError(t *testing.T, err error) *SendError {
	t.Helper()
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("error = %v (%T), want a *SendError", err, err)
	}
	return se
}

func TestSendPlain(t *testing.T) {
	ts := newTestSMTP(t, smtpServerOptions{})
	s := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone, HeloName: "backstop.acme.example"})
	msg := testMessage(t)
	err := s.Send(context.Background(), "bounces@acme.example",
		[]string{"customer@customer.example", "Customer@Customer.example", "lead@acme.example"}, msg)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := ts.received()
	if len(got) != 1 {
		t.Fatalf("server got %d messages, want 1", len(got))
	}
	m := got[0]
	if m.from != "bounces@acme.example" {
		t.Errorf("MAIL FROM = %q", m.from)
	}
	if strings.Join(m.rcpt, ",") != "customer@customer.example,lead@acme.example" {
		t.Errorf("RCPT TO = %q, want each recipient once", m.rcpt)
	}
	if !bytes.Equal(m.data, msg) {
		t.Errorf("the server got a different message:\n%q\nwant\n%q", m.data, msg)
	}
	if ts.sizeSeen != int64(len(msg)) {
		t.Errorf("MAIL SIZE = %d, want %d", ts.sizeSeen, len(msg))
	}
	if ts.helo != "backstop.acme.example" {
		t.Errorf("EHLO name = %q", ts.helo)
	}
	if m.user != "" {
		t.Errorf("authenticated as %q without a username", m.user)
	}
}

func TestSendNullSender(t *testing.T) {
	ts := newTestSMTP(t, smtpServerOptions{})
	s := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone})
	if err := s.Send(context.Background(), "", []string{"lead@acme.example"}, testMessage(t)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := ts.received(); len(got) != 1 || got[0].from != "" {
		t.Errorf("got %+v, want one message from <>", got)
	}
}

func TestSendAuth(t *testing.T) {
	tests := []struct {
		name      string
		mechs     []string
		user      string
		password  string
		wantMech  string
		wantStage string
		wantCode  int
		wantText  string
	}{
		{"plain preferred", []string{sasl.Login, sasl.Plain}, "backstop@acme.example", "s3cret", sasl.Plain, "", 0, ""},
		{"login fallback", []string{sasl.Login}, "backstop@acme.example", "s3cret", sasl.Login, "", 0, ""},
		{"wrong password", []string{sasl.Plain}, "backstop@acme.example", "guess", sasl.Plain, StageAuth, 535, "check smtp.username and smtp.password"},
		{"wrong password login", []string{sasl.Login}, "backstop@acme.example", "guess", sasl.Login, StageAuth, 535, "check smtp.username and smtp.password"},
		{"no auth offered", nil, "backstop@acme.example", "s3cret", "", StageAuth, 0, "does not offer AUTH"},
		{"no usable mechanism", []string{"CRAM-MD5"}, "backstop@acme.example", "s3cret", "", StageAuth, 0, "neither AUTH PLAIN nor AUTH LOGIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestSMTP(t, smtpServerOptions{mechs: tt.mechs})
			s := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone, Username: tt.user, Password: tt.password})
			err := s.Send(context.Background(), "backstop@acme.example", []string{"c@customer.example"}, testMessage(t))
			if tt.wantStage == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if got := ts.received(); len(got) != 1 || got[0].user != tt.user {
					t.Errorf("received %+v, want one message authenticated as %s", got, tt.user)
				}
			} else {
				se := sendError(t, err)
				if se.Stage != tt.wantStage || se.Code != tt.wantCode || se.Temporary() {
					t.Errorf("got stage %s code %d temporary %v, want %s %d permanent", se.Stage, se.Code, se.Temporary(), tt.wantStage, tt.wantCode)
				}
				if !strings.Contains(err.Error(), tt.wantText) {
					t.Errorf("error %q does not say %q", err, tt.wantText)
				}
				if len(ts.received()) != 0 {
					t.Error("a message was sent after failed authentication")
				}
			}
			if ts.authMech != tt.wantMech {
				t.Errorf("AUTH mechanism = %q, want %q", ts.authMech, tt.wantMech)
			}
		})
	}
}

func TestSendTLS(t *testing.T) {
	for _, mode := range []TLSMode{TLSStartTLS, TLSImplicit} {
		t.Run(string(mode), func(t *testing.T) {
			ts := newTestSMTP(t, smtpServerOptions{tls: mode, mechs: []string{sasl.Plain}})
			s := NewSender(SMTPConfig{Addr: ts.addr, TLS: mode, TLSConfig: ts.clientTLS(),
				Username: "backstop@acme.example", Password: "s3cret", HeloName: "backstop.acme.example"})
			if err := s.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := s.Send(context.Background(), "backstop@acme.example", []string{"c@customer.example"}, testMessage(t)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if got := ts.received(); len(got) != 1 || got[0].user != "backstop@acme.example" {
				t.Errorf("received %+v", got)
			}
			if ts.helo != "backstop.acme.example" {
				t.Errorf("EHLO after TLS = %q, want the HeloName", ts.helo)
			}

			// The same server without trusting its certificate.
			s = NewSender(SMTPConfig{Addr: ts.addr, TLS: mode})
			err := s.Send(context.Background(), "backstop@acme.example", []string{"c@customer.example"}, testMessage(t))
			se := sendError(t, err)
			if se.Stage != StageTLS || se.Temporary() || !strings.Contains(err.Error(), "not trusted") {
				t.Errorf("untrusted certificate: stage %s temporary %v: %v", se.Stage, se.Temporary(), err)
			}
		})
	}
}

func TestSendTLSMismatch(t *testing.T) {
	plain := newTestSMTP(t, smtpServerOptions{})
	tests := []struct {
		name string
		mode TLSMode
		want string
	}{
		{"starttls without STARTTLS", TLSStartTLS, "does not offer STARTTLS"},
		{"implicit on a plain port", TLSImplicit, "did not speak TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSender(SMTPConfig{Addr: plain.addr, TLS: tt.mode})
			err := s.Check(context.Background())
			se := sendError(t, err)
			if se.Stage != StageTLS || se.Temporary() || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("stage %s temporary %v: %v; want a permanent TLS error saying %q", se.Stage, se.Temporary(), err, tt.want)
			}
		})
	}
}

func TestSendRcptRefused(t *testing.T) {
	tests := []struct {
		name      string
		fail      map[string]*smtp.SMTPError
		wantRcpt  string
		wantTemp  bool
		wantTexts []string
	}{
		{
			name:      "unknown user",
			fail:      map[string]*smtp.SMTPError{"bob@x.example": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}},
			wantRcpt:  "bob@x.example",
			wantTexts: []string{"smtp: 550 5.1.1 rcpt bob@x.example refused", "the address does not exist; check it", "No such user"},
		},
		{
			name:      "greylisted",
			fail:      map[string]*smtp.SMTPError{"bob@x.example": {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted, try later"}},
			wantRcpt:  "bob@x.example",
			wantTemp:  true,
			wantTexts: []string{"451 4.7.1 rcpt bob@x.example refused", "will retry later"},
		},
		{
			name: "one temporary, one permanent",
			fail: map[string]*smtp.SMTPError{
				"alice@x.example": {Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"},
				"bob@x.example":   {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
			},
			wantRcpt:  "bob@x.example",
			wantTexts: []string{"2 recipients refused (alice@x.example, bob@x.example)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestSMTP(t, smtpServerOptions{})
			ts.rcptFail = func(rcpt string) error {
				if e := tt.fail[rcpt]; e != nil {
					return e
				}
				return nil
			}
			s := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone})
			err := s.Send(context.Background(), "backstop@acme.example",
				[]string{"alice@x.example", "bob@x.example", "carol@x.example"}, testMessage(t))
			se := sendError(t, err)
			if se.Stage != StageRcpt || se.Rcpt != tt.wantRcpt || se.Temporary() != tt.wantTemp {
				t.Errorf("stage %s rcpt %s temporary %v, want rcpt %s temporary %v", se.Stage, se.Rcpt, se.Temporary(), tt.wantRcpt, tt.wantTemp)
			}
			for _, want := range tt.wantTexts {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			// All or none: carol must not get it alone.
			if got := ts.received(); len(got) != 0 {
				t.Errorf("the message was sent to %v despite a refused recipient", got[0].rcpt)
			}
		})
	}
}

func TestSendDataRefused(t *testing.T) {
	tests := []struct {
		code     int
		enhanced smtp.EnhancedCode
		wantTemp bool
	}{
		{451, smtp.EnhancedCode{4, 3, 0}, true},
		{554, smtp.EnhancedCode{5, 7, 1}, false},
		{550, smtp.EnhancedCode{5, 7, 26}, false},
	}
	for _, tt := range tests {
		ts := newTestSMTP(t, smtpServerOptions{})
		ts.dataFail = func() error { return &smtp.SMTPError{Code: tt.code, EnhancedCode: tt.enhanced, Message: "nope"} }
		s := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone})
		err := s.Send(context.Background(), "backstop@acme.example", []string{"c@x.example"}, testMessage(t))
		se := sendError(t, err)
		if se.Stage != StageData || se.Code != tt.code || se.Temporary() != tt.wantTemp || se.Uncertain {
			t.Errorf("%d: stage %s code %d temporary %v uncertain %v", tt.code, se.Stage, se.Code, se.Temporary(), se.Uncertain)
		}
	}
}

func TestSendTooLargeRefusedAtMail(t *testing.T) {
	ts := newTestSMTP(t, smtpServerOptions{maxBytes: 100})
	s := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone})
	err := s.Send(context.Background(), "backstop@acme.example", []string{"c@x.example"}, testMessage(t))
	se := sendError(t, err)
	if se.Stage != StageMail || se.Code != 552 || se.Temporary() || !strings.Contains(err.Error(), "too large") {
		t.Errorf("stage %s code %d: %v", se.Stage, se.Code, err)
	}
}

func TestSendLongLineRefusedBeforeSending(t *testing.T) {
	ts := newTestSMTP(t, smtpServerOptions{})
	s := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone})
	msg := []byte("From: a@acme.example\r\nSubject: x\r\n\r\nshort\r\n" + strings.Repeat("x", 999) + "\r\n")
	err := s.Send(context.Background(), "a@acme.example", []string{"c@x.example"}, msg)
	se := sendError(t, err)
	if se.Stage != StageMessage || se.Temporary() || !strings.Contains(err.Error(), "line 5 is 999 octets") {
		t.Errorf("stage %s: %v", se.Stage, err)
	}
	// 998 octets is allowed.
	msg = []byte("From: a@acme.example\r\n\r\n" + strings.Repeat("x", 998) + "\n")
	if err := s.Send(context.Background(), "a@acme.example", []string{"c@x.example"}, msg); err != nil {
		t.Errorf("a 998-octet line: %v", err)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.sessions != 1 {
		t.Errorf("%d connections, want 1 (none for the refused message)", ts.sessions)
	}
}

func TestSendBadInput(t *testing.T) {
	tests := []struct {
		name  string
		cfg   SMTPConfig
		from  string
		rcpt  []string
		msg   []byte
		stage string
		want  string
	}{
		{"no addr", SMTPConfig{TLS: TLSNone}, "a@b.example", []string{"c@d.example"}, []byte("x"), StageConfig, "smtp.addr is required"},
		{"addr without port", SMTPConfig{Addr: "smtp.example.com", TLS: TLSStartTLS}, "a@b.example", []string{"c@d.example"}, []byte("x"), StageConfig, "not host:port"},
		{"no tls mode", SMTPConfig{Addr: "127.0.0.1:25"}, "a@b.example", []string{"c@d.example"}, []byte("x"), StageConfig, "tls mode"},
		{"clear text to a remote host", SMTPConfig{Addr: "smtp.example.com:25", TLS: TLSNone}, "a@b.example", []string{"c@d.example"}, []byte("x"), StageConfig, "loopback"},
		{"password without username", SMTPConfig{Addr: "127.0.0.1:25", TLS: TLSNone, Password: "x"}, "a@b.example", []string{"c@d.example"}, []byte("x"), StageConfig, "smtp.username is empty"},
		{"no recipients", SMTPConfig{Addr: "127.0.0.1:25", TLS: TLSNone}, "a@b.example", nil, []byte("x"), StageEnvelope, "no recipients"},
		{"recipient injection", SMTPConfig{Addr: "127.0.0.1:25", TLS: TLSNone}, "a@b.example", []string{"c@d.example>\r\nRCPT TO:<e@f.example"}, []byte("x"), StageEnvelope, "is not an address"},
		{"bad sender", SMTPConfig{Addr: "127.0.0.1:25", TLS: TLSNone}, "a b", []string{"c@d.example"}, []byte("x"), StageEnvelope, "envelope sender"},
		{"empty message", SMTPConfig{Addr: "127.0.0.1:25", TLS: TLSNone}, "a@b.example", []string{"c@d.example"}, []byte("\r\n"), StageMessage, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewSender(tt.cfg).Send(context.Background(), tt.from, tt.rcpt, tt.msg)
			se := sendError(t, err)
			if se.Stage != tt.stage || se.Temporary() || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("stage %s temporary %v: %v; want permanent %s saying %q", se.Stage, se.Temporary(), err, tt.stage, tt.want)
			}
		})
	}
}

func TestSendConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = NewSender(SMTPConfig{Addr: addr, TLS: TLSNone}).Send(context.Background(), "a@b.example", []string{"c@d.example"}, testMessage(t))
	se := sendError(t, err)
	if se.Stage != StageConnect || !se.Temporary() || !strings.Contains(err.Error(), "will retry later") {
		t.Errorf("stage %s temporary %v: %v", se.Stage, se.Temporary(), err)
	}
}

// stalledServer accepts connections and never says anything.
func stalledServer(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 10)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			ch <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), ch
}

func TestSendCancelled(t *testing.T) {
	addr, accepted := stalledServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-accepted
		cancel()
	}()
	err := NewSender(SMTPConfig{Addr: addr, TLS: TLSNone}).Send(ctx, "a@b.example", []string{"c@d.example"}, testMessage(t))
	se := sendError(t, err)
	if !errors.Is(err, context.Canceled) || !se.Temporary() || se.Stage != StageConnect {
		t.Errorf("stage %s temporary %v: %v; want a temporary cancellation", se.Stage, se.Temporary(), err)
	}
}

func TestSendTimeout(t *testing.T) {
	addr, _ := stalledServer(t)
	err := NewSender(SMTPConfig{Addr: addr, TLS: TLSNone, Timeout: 50 * time.Millisecond}).
		Send(context.Background(), "a@b.example", []string{"c@d.example"}, testMessage(t))
	se := sendError(t, err)
	if !se.Temporary() || !isTimeout(err) || !strings.Contains(err.Error(), "did not answer in time") {
		t.Errorf("temporary %v: %v; want a temporary timeout", se.Temporary(), err)
	}

	// The context's deadline counts too.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = NewSender(SMTPConfig{Addr: addr, TLS: TLSNone}).Send(ctx, "a@b.example", []string{"c@d.example"}, testMessage(t))
	if se := sendError(t, err); !se.Temporary() {
		t.Errorf("ctx deadline: %v is not temporary", err)
	}
}

func TestSendConnectionDroppedAfterData(t *testing.T) {
	ts := newTestSMTP(t, smtpServerOptions{})
	ts.dropAfterData = true
	err := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone}).Send(context.Background(), "a@b.example", []string{"c@d.example"}, testMessage(t))
	se := sendError(t, err)
	if se.Stage != StageData || !se.Uncertain || !se.Temporary() || !strings.Contains(err.Error(), "may have accepted") {
		t.Errorf("stage %s uncertain %v temporary %v: %v", se.Stage, se.Uncertain, se.Temporary(), err)
	}
}

func TestSenderConcurrent(t *testing.T) {
	ts := newTestSMTP(t, smtpServerOptions{mechs: []string{sasl.Plain}})
	s := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone, Username: "backstop@acme.example", Password: "s3cret"})
	msg := testMessage(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			errs <- s.Send(context.Background(), "backstop@acme.example", []string{"c@d.example"}, msg)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(ts.received()); n != 8 {
		t.Errorf("server got %d messages, want 8", n)
	}
}

func TestSendErrorClassification(t *testing.T) {
	tests := []struct {
		err      *SendError
		wantTemp bool
		want     string
	}{
		{&SendError{Stage: StageRcpt, Code: 550, Enhanced: "5.1.1", Rcpt: "bob@x", Message: "unknown"}, false,
			"smtp: 550 5.1.1 rcpt bob@x refused (server said: unknown); the address does not exist; check it"},
		{&SendError{Stage: StageRcpt, Code: 450, Rcpt: "bob@x"}, true, "450 rcpt bob@x refused; a temporary failure on the server; will retry later"},
		{&SendError{Stage: StageMail, Code: 421}, true, "closing the connection"},
		{&SendError{Stage: StageAuth, Code: 530}, false, "requires authentication"},
		{&SendError{Stage: StageData, Code: 552, Enhanced: "5.3.4"}, false, "too large"},
		{&SendError{Stage: StageData, Code: 599}, false, "a permanent failure"},
		{&SendError{Stage: StageConnect, Err: io.ErrUnexpectedEOF}, true, "unexpected EOF"},
		{&SendError{Stage: StageConnect, Err: context.DeadlineExceeded}, true, "did not answer in time"},
		{&SendError{Stage: StageTLS, Err: x509.UnknownAuthorityError{}}, false, "not trusted"},
		{&SendError{Stage: StageConfig, Message: "smtp.addr is required"}, false, "smtp: configuration: smtp.addr is required"},
	}
	for _, tt := range tests {
		if got := tt.err.Temporary(); got != tt.wantTemp {
			t.Errorf("%v: Temporary() = %v, want %v", tt.err, got, tt.wantTemp)
		}
		if !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("Error() = %q, want it to contain %q", tt.err.Error(), tt.want)
		}
	}
}

func TestSendCheckAuthFailure(t *testing.T) {
	ts := newTestSMTP(t, smtpServerOptions{mechs: []string{sasl.Plain}})
	err := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone, Username: "backstop@acme.example", Password: "wrong"}).Check(context.Background())
	if se := sendError(t, err); se.Stage != StageAuth || se.Code != 535 {
		t.Errorf("Check: %v", err)
	}
}

// TestSenderReusesConnection: a run of emails goes over one connection,
// with RSET between them; a connection the server closed meanwhile is
// replaced, and each email arrives once.
func TestSenderReusesConnection(t *testing.T) {
	ts := newTestSMTP(t, smtpServerOptions{mechs: []string{sasl.Plain}})
	s := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone, Username: "backstop@acme.example", Password: "s3cret"})
	defer s.Close()
	msg := testMessage(t)
	send := func() {
		t.Helper()
		if err := s.Send(context.Background(), "backstop@acme.example", []string{"c@d.example"}, msg); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		send()
	}
	ts.mu.Lock()
	sessions := ts.sessions
	ts.mu.Unlock()
	if sessions != 1 {
		t.Errorf("5 emails over %d connections, want 1", sessions)
	}

	ts.dropAll() // the server closes the idle connection
	send()
	send()
	ts.mu.Lock()
	sessions = ts.sessions
	ts.mu.Unlock()
	if sessions != 2 {
		t.Errorf("%d connections after the server closed the first, want 2", sessions)
	}
	if n := len(ts.received()); n != 7 {
		t.Errorf("server got %d messages, want 7", n)
	}
}

// TestSenderBoundsConnections: concurrent sends never open more than
// MaxConns connections, and a connection is used for at most MaxPerConn
// emails.
func TestSenderBoundsConnections(t *testing.T) {
	ts := newTestSMTP(t, smtpServerOptions{mechs: []string{sasl.Plain}})
	s := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone, Username: "backstop@acme.example", Password: "s3cret",
		MaxConns: 2, MaxPerConn: 5})
	defer s.Close()
	msg := testMessage(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if err := s.Send(context.Background(), "backstop@acme.example", []string{"c@d.example"}, msg); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.mails) != 40 {
		t.Errorf("server got %d messages, want 40", len(ts.mails))
	}
	if ts.maxBusy > 2 {
		t.Errorf("%d transactions at once, want at most 2", ts.maxBusy)
	}
	if ts.sessions < 8 {
		t.Errorf("40 emails over %d connections, want at least 8 (5 per connection)", ts.sessions)
	}
}

// tokenList hands out the tokens in order, recording refresh requests.
type tokenList struct {
	mu        sync.Mutex
	tokens    []string
	refreshes int
}

func (l *tokenList) Token(ctx context.Context, refresh bool) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if refresh {
		l.refreshes++
	}
	if len(l.tokens) == 0 {
		return "", &PermanentError{Err: errors.New("no more tokens")}
	}
	t := l.tokens[0]
	l.tokens = l.tokens[1:]
	return t, nil
}

// TestSendOAuth2: AUTH OAUTHBEARER where offered, else XOAUTH2; a refused
// token is replaced once, and a second refusal is a permanent failure.
func TestSendOAuth2(t *testing.T) {
	const user = "backstop@acme.example"
	tests := []struct {
		name      string
		mechs     []string
		tokens    []string // handed out in order
		wantMech  string
		wantErr   string
		refreshes int
	}{
		{"oauthbearer preferred", []string{sasl.Plain, MechXOAuth2, sasl.OAuthBearer}, []string{"good"}, sasl.OAuthBearer, "", 0},
		{"xoauth2 where it is all", []string{MechXOAuth2}, []string{"good"}, MechXOAuth2, "", 0},
		{"refused, renewed once", []string{MechXOAuth2}, []string{"expired", "good"}, MechXOAuth2, "", 1},
		{"oauthbearer refused, renewed once", []string{sasl.OAuthBearer}, []string{"expired", "good"}, sasl.OAuthBearer, "", 1},
		{"refused twice", []string{MechXOAuth2}, []string{"expired", "revoked"}, MechXOAuth2, "smtp.oauth2", 1},
		{"oauthbearer refused twice", []string{sasl.OAuthBearer}, []string{"expired", "revoked"}, sasl.OAuthBearer, "smtp.oauth2", 1},
		{"no bearer mechanism", []string{sasl.Plain}, []string{"good"}, "", "neither AUTH OAUTHBEARER nor AUTH XOAUTH2", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestSMTP(t, smtpServerOptions{mechs: tt.mechs})
			ts.tokens = map[string]string{"good": user}
			src := &tokenList{tokens: tt.tokens}
			s := NewSender(SMTPConfig{Addr: ts.addr, TLS: TLSNone, Username: user, Auth: src})
			err := s.Send(context.Background(), user, []string{"c@customer.example"}, testMessage(t))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if got := ts.received(); len(got) != 1 || got[0].user != user {
					t.Errorf("received %+v, want one message authenticated as %s", got, user)
				}
			} else {
				se := sendError(t, err)
				if se.Stage != StageAuth || se.Temporary() || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v (stage %s, temporary %v); want a permanent auth failure saying %q", err, se.Stage, se.Temporary(), tt.wantErr)
				}
			}
			if ts.authMech != tt.wantMech {
				t.Errorf("AUTH mechanism = %q, want %q", ts.authMech, tt.wantMech)
			}
			if src.refreshes != tt.refreshes {
				t.Errorf("%d refreshes, want %d", src.refreshes, tt.refreshes)
			}
		})
	}
}
