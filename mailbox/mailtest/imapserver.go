package mailtest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// The test user of the servers this package starts.
const (
	DefaultUsername = "escalations"
	DefaultPassword = "secret"
)

// IMAPServer is go-imap's in-memory IMAP server, running in-process on the
// loopback interface with one user and an INBOX.
type IMAPServer struct {
	// Addr is the plain-text address (127.0.0.1:port). The server offers
	// STARTTLS there and also accepts LOGIN without TLS.
	Addr string
	// TLSAddr is the implicit-TLS address.
	TLSAddr string
	// Username and Password log in as the test user.
	Username, Password string
	// Cert is the server's certificate; Cert.ClientConfig() trusts it.
	Cert *Cert

	account
	server *imapserver.Server
}

// IMAPOption configures NewIMAPServer.
type IMAPOption func(*imapOptions)

type imapOptions struct {
	hide         []string
	fetchFailure func(uid imap.UID) error
}

// WithoutCaps hides capabilities (e.g. imap.CapMove, imap.CapUIDPlus,
// imap.CapIdle) from the server's CAPABILITY responses, so that clients
// take their fallbacks. IMAP4rev2 is hidden too, since it implies most
// extensions. Capabilities are hidden on plain-text and implicit-TLS
// connections, but no longer after STARTTLS.
func WithoutCaps(caps ...imap.Cap) IMAPOption {
	return func(o *imapOptions) {
		for _, c := range caps {
			o.hide = append(o.hide, string(c))
		}
	}
}

// NewIMAPServer starts an in-memory IMAP server on 127.0.0.1:0 with the
// user DefaultUsername/DefaultPassword and an empty INBOX. It is closed
// when the test ends.
func NewIMAPServer(t testing.TB, opts ...IMAPOption) *IMAPServer {
	t.Helper()
	var o imapOptions
	for _, opt := range opts {
		opt(&o)
	}

	mem := imapmemserver.New()
	user := imapmemserver.NewUser(DefaultUsername, DefaultPassword)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatalf("mailtest: create INBOX: %v", err)
	}
	mem.AddUser(user)

	cert := NewCert(t)
	s := &IMAPServer{
		Username: DefaultUsername,
		Password: DefaultPassword,
		Cert:     cert,
	}
	s.server = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			sess := mem.NewSession()
			if o.fetchFailure != nil {
				sess = &faultSession{SessionIMAP4rev2: sess.(imapserver.SessionIMAP4rev2), fetchFailure: o.fetchFailure}
			}
			return sess, nil, nil
		},
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {},
			imap.CapIMAP4rev2: {},
		},
		TLSConfig:    cert.ServerConfig(), // STARTTLS
		InsecureAuth: true,                // loopback tests log in without TLS too
		Logger:       newTestLogger(t),
	})

	ln := listen(t)
	tlsTCP := listen(t)
	var tlsLn net.Listener = tls.NewListener(tlsTCP, cert.ServerConfig())
	if len(o.hide) > 0 {
		ln = &filterListener{Listener: ln, caps: o.hide}
		tlsLn = &filterListener{Listener: tlsLn, caps: o.hide}
	}
	s.Addr = ln.Addr().String()
	s.TLSAddr = tlsLn.Addr().String()
	s.account.init(t, s.Addr, s.Username, s.Password)

	done := make(chan struct{}, 2)
	for _, l := range []net.Listener{ln, tlsLn} {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := s.server.Serve(l); err != nil && !errors.Is(err, net.ErrClosed) {
				t.Logf("mailtest: IMAP server: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		s.server.Close()
		<-done
		<-done
	})
	return s
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	return ln
}

// testLogger sends the server's own error log to the test log, where it
// is shown only for failed or verbose tests. Connections cut on purpose
// are common here and not worth a line. Lines that come after the test's
// cleanup are dropped (t.Logf would panic then).
type testLogger struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func newTestLogger(t testing.TB) *testLogger {
	l := &testLogger{t: t}
	// Registered before the server's own cleanup, so it runs after it.
	t.Cleanup(func() {
		l.mu.Lock()
		l.done = true
		l.mu.Unlock()
	})
	return l
}

func (l *testLogger) Printf(format string, args ...any) {
	for _, a := range args {
		if err, ok := a.(error); ok && (errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)) {
			return
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("imapserver: "+format, args...)
	}
}
