// Package embedded runs the mail servers of the demo and of tests inside the
// process, on 127.0.0.1: an IMAP server (go-imap's imapserver with the
// in-memory imapmemserver backend) holding the escalations mailbox, and an
// SMTP server (go-smtp) that delivers mail for the escalations address into
// it and captures everything else for display.
//
// The SMTP server accepts mail with or without AUTH (PLAIN and LOGIN are
// offered on the plain loopback connection), stamps what it delivers with
// Return-Path, Delivered-To, Received and Authentication-Results (RFC 8601)
// the way a real border server does, and fails on demand
// (SetRcptFailure, SetDataFailure).
//
// The IMAP server offers IMAP4rev1 and IMAP4rev2 by default, hence IDLE,
// MOVE, UIDPLUS and NAMESPACE. Two traits of go-imap's server that clients
// must tolerate (see the team's mail-stack notes): it answers "+ idling"
// before it listens for updates, so a message appended in that instant is
// reported only at the next event; and it sends a spurious extra EXPUNGE
// on MOVE. Re-sync by UID and assert with UIDs and STATUS, not counts.
// It does not support CONDSTORE.
package embedded

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"
)

// Config describes the servers to start.
type Config struct {
	// Domain is the mail domain, e.g. "acme.example". Required.
	Domain string
	// Address is the escalations mailbox's address; mail for it, or for a
	// subaddress of it (escalations+anything@domain), is delivered into its
	// INBOX. Default "escalations@" + Domain.
	Address string
	// Username and Password are the IMAP login of the escalations mailbox.
	// Username defaults to Address's local part; Password is required.
	Username, Password string
	// Accounts are the SMTP AUTH users (address -> password), so that a
	// person can send with any mail client, as a lead would. Each also has
	// an IMAP mailbox (login: the address) where the mail captured for it
	// is kept, to be read and answered from a mail client.
	Accounts map[string]string
	// AuthServID is the authserv-id of the Authentication-Results fields
	// the SMTP server adds (RFC 8601 section 2.5). Default Domain.
	AuthServID string
	// IMAPPort and SMTPPort are the ports to listen on; 0 picks free ones.
	IMAPPort, SMTPPort int
	// Mailboxes are created besides INBOX (e.g. "Processed", "Quarantine").
	Mailboxes []string
	// IMAPCaps are the IMAP capabilities offered; nil means IMAP4rev1 and
	// IMAP4rev2 (with IDLE, MOVE, UIDPLUS, NAMESPACE, ...).
	IMAPCaps imap.CapSet
	// MaxMessageBytes is the largest message the SMTP server accepts
	// (advertised with SIZE); default 25 MiB.
	MaxMessageBytes int64
	// Logger receives connection and delivery events (never message
	// content); nil discards them.
	Logger *slog.Logger
}

// Captured is a message the SMTP server took for someone other than the
// escalations mailbox: what backstop sent to a customer or a lead.
type Captured struct {
	From string    // envelope sender, "" for <>
	To   []string  // envelope recipients (not the escalations address)
	Raw  []byte    // the message exactly as received
	At   time.Time // when the server accepted it
}

// Server is a running pair of IMAP and SMTP servers. Its methods are safe
// for concurrent use.
type Server struct {
	cfg       Config
	localPart string // of cfg.Address, lower case
	domain    string // lower case
	log       *slog.Logger

	user     *imapmemserver.User
	imapSrv  *imapserver.Server
	imapLn   net.Listener
	smtpSrv  *smtp.Server
	smtpLn   net.Listener
	serveWG  sync.WaitGroup
	closeOne sync.Once
	closing  atomic.Bool

	mu       sync.Mutex
	sent     []Captured
	changed  chan struct{} // closed and replaced at every capture
	subs     map[int]func(Captured)
	nextSub  int
	rcptFail func(rcpt string) *smtp.SMTPError
	dataFail func(from string, rcpt []string) *smtp.SMTPError
	accounts map[string]account // by lower-case name
}

type account struct {
	mailbox        *imapmemserver.User // its IMAP mailbox, where mail for it is kept too
	name, password string
}

// DefaultMaxMessageBytes is Config.MaxMessageBytes when it is zero.
const DefaultMaxMessageBytes = 25 << 20

// Start starts both servers on 127.0.0.1.
func Start(cfg Config) (*Server, error) {
	if cfg.Domain == "" {
		return nil, errors.New("embedded: Domain is required, e.g. acme.example")
	}
	if cfg.Address == "" {
		cfg.Address = "escalations@" + cfg.Domain
	}
	local, domain, ok := strings.Cut(cfg.Address, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(cfg.Address, " <>\r\n") {
		return nil, fmt.Errorf("embedded: Address %q is not an email address; give it as local@domain", cfg.Address)
	}
	if cfg.Username == "" {
		cfg.Username = local
	}
	if cfg.Password == "" {
		return nil, errors.New("embedded: Password is required (the IMAP login of the escalations mailbox)")
	}
	if cfg.AuthServID == "" {
		cfg.AuthServID = cfg.Domain
	}
	if strings.ContainsAny(cfg.AuthServID, " \t;()\"\r\n") {
		return nil, fmt.Errorf("embedded: AuthServID %q must be a single token such as mx.%s", cfg.AuthServID, cfg.Domain)
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.IMAPCaps == nil {
		cfg.IMAPCaps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	s := &Server{
		cfg:       cfg,
		localPart: strings.ToLower(local),
		domain:    strings.ToLower(domain),
		log:       logger,
		changed:   make(chan struct{}),
		subs:      map[int]func(Captured){},
		accounts:  map[string]account{},
	}
	for name, pw := range cfg.Accounts {
		s.accounts[strings.ToLower(name)] = account{name: name, password: pw}
	}

	// IMAP: one user owning the escalations mailbox.
	mem := imapmemserver.New()
	s.user = imapmemserver.NewUser(cfg.Username, cfg.Password)
	for _, name := range append([]string{"INBOX"}, cfg.Mailboxes...) {
		if err := s.user.Create(name, nil); err != nil {
			return nil, fmt.Errorf("embedded: creating mailbox %q: %w", name, err)
		}
	}
	mem.AddUser(s.user)
	// Every SMTP account also has an IMAP mailbox (login: the address), so
	// that a person can read backstop's emails in a mail client and reply.
	for key, a := range s.accounts {
		if strings.EqualFold(a.name, cfg.Username) {
			continue
		}
		a.mailbox = imapmemserver.NewUser(a.name, a.password)
		if err := a.mailbox.Create("INBOX", nil); err != nil {
			return nil, fmt.Errorf("embedded: creating the INBOX of %s: %w", a.name, err)
		}
		mem.AddUser(a.mailbox)
		s.accounts[key] = a
	}
	s.imapSrv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return idleSession{mem.NewSession().(imapserver.SessionIMAP4rev2)}, nil, nil
		},
		Caps:         cfg.IMAPCaps,
		Logger:       printfLogger{logger.With("server", "imap")},
		InsecureAuth: true, // plain loopback
	})

	// SMTP.
	s.smtpSrv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, conn: c}, nil
	}))
	s.smtpSrv.Domain = cfg.Domain
	s.smtpSrv.AllowInsecureAuth = true // AUTH on plain loopback
	s.smtpSrv.MaxMessageBytes = cfg.MaxMessageBytes
	s.smtpSrv.MaxRecipients = 100
	s.smtpSrv.EnableSMTPUTF8 = true // the backend stores bytes as they come
	s.smtpSrv.ReadTimeout = 5 * time.Minute
	s.smtpSrv.WriteTimeout = time.Minute
	s.smtpSrv.ErrorLog = printfLogger{logger.With("server", "smtp")}

	var err error
	if s.imapLn, err = listen(cfg.IMAPPort); err != nil {
		return nil, fmt.Errorf("embedded: IMAP: %w", err)
	}
	if s.smtpLn, err = listen(cfg.SMTPPort); err != nil {
		s.imapLn.Close()
		return nil, fmt.Errorf("embedded: SMTP: %w", err)
	}
	s.serveWG.Add(2)
	go func() {
		defer s.serveWG.Done()
		if err := s.imapSrv.Serve(s.imapLn); err != nil && !s.closing.Load() {
			logger.Error("embedded IMAP server stopped", "err", err)
		}
	}()
	go func() {
		defer s.serveWG.Done()
		if err := s.smtpSrv.Serve(s.smtpLn); err != nil && !s.closing.Load() {
			logger.Error("embedded SMTP server stopped", "err", err)
		}
	}()
	logger.Info("embedded mail servers started", "imap", s.IMAPAddr(), "smtp", s.SMTPAddr(), "mailbox", cfg.Address)
	return s, nil
}

func listen(port int) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("listening on 127.0.0.1:%d: %w; pick another port or 0 for any", port, err)
	}
	return ln, nil
}

// IMAPAddr is the IMAP server's address (host:port, no TLS).
func (s *Server) IMAPAddr() string { return s.imapLn.Addr().String() }

// SMTPAddr is the SMTP server's address (host:port, no TLS).
func (s *Server) SMTPAddr() string { return s.smtpLn.Addr().String() }

// Close stops both servers and closes their connections.
func (s *Server) Close() error {
	var err error
	s.closeOne.Do(func() {
		s.closing.Store(true)
		err = errors.Join(s.smtpSrv.Close(), s.imapSrv.Close())
		// A server closed before its Serve goroutine registered the
		// listener would accept forever: close the listeners ourselves.
		s.smtpLn.Close()
		s.imapLn.Close()
		s.serveWG.Wait()
	})
	return err
}

// Deliver appends raw, unchanged, into the escalations INBOX, as if it had
// just arrived; idling IMAP clients are told.
func (s *Server) Deliver(raw []byte) error {
	return s.DeliverTo("INBOX", raw)
}

// DeliverTo appends raw, unchanged, into a mailbox of the escalations user.
func (s *Server) DeliverTo(mailbox string, raw []byte) error {
	_, err := s.user.Append(mailbox, bytes.NewReader(raw), &imap.AppendOptions{Time: time.Now()})
	if err != nil {
		return fmt.Errorf("embedded: appending to %s: %w", mailbox, err)
	}
	return nil
}

// Sent returns every captured message so far, oldest first.
func (s *Server) Sent() []Captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Captured(nil), s.sent...)
}

// WaitSent waits until at least n messages have been captured and returns
// them all, or returns ctx's error with those captured so far.
func (s *Server) WaitSent(ctx context.Context, n int) ([]Captured, error) {
	for {
		s.mu.Lock()
		sent := append([]Captured(nil), s.sent...)
		changed := s.changed
		s.mu.Unlock()
		if len(sent) >= n {
			return sent, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return sent, fmt.Errorf("embedded: waiting for %d sent messages, got %d: %w", n, len(sent), ctx.Err())
		}
	}
}

// Subscribe calls f with every message captured from now on, in the SMTP
// session's goroutine before the server answers the client: f should be
// quick and must not call Close. The returned function unsubscribes.
func (s *Server) Subscribe(f func(Captured)) (cancel func()) {
	s.mu.Lock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = f
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}
}

// SetRcptFailure makes the SMTP server answer RCPT TO with the error f
// returns for a recipient; nil (or f returning nil) accepts.
func (s *Server) SetRcptFailure(f func(rcpt string) *smtp.SMTPError) {
	s.mu.Lock()
	s.rcptFail = f
	s.mu.Unlock()
}

// SetDataFailure makes the SMTP server answer the end of DATA with the
// error f returns; nil (or f returning nil) accepts. A refused message is
// neither delivered nor captured.
func (s *Server) SetDataFailure(f func(from string, rcpt []string) *smtp.SMTPError) {
	s.mu.Lock()
	s.dataFail = f
	s.mu.Unlock()
}

func (s *Server) capture(c Captured) {
	for _, rcpt := range c.To {
		s.mu.Lock()
		a, ok := s.accounts[strings.ToLower(rcpt)]
		s.mu.Unlock()
		if ok && a.mailbox != nil {
			msg := append([]byte("Delivered-To: "+rcpt+"\r\n"), c.Raw...)
			if _, err := a.mailbox.Append("INBOX", bytes.NewReader(msg), &imap.AppendOptions{Time: c.At}); err != nil {
				s.log.Error("embedded smtp: keeping a copy for an account failed", "rcpt", rcpt, "err", err)
			}
		}
	}
	s.mu.Lock()
	s.sent = append(s.sent, c)
	close(s.changed)
	s.changed = make(chan struct{})
	subs := make([]func(Captured), 0, len(s.subs))
	for id := 0; id < s.nextSub; id++ {
		if f, ok := s.subs[id]; ok {
			subs = append(subs, f)
		}
	}
	s.mu.Unlock()
	for _, f := range subs {
		f(c)
	}
}

// isLocal reports whether rcpt is the escalations address or a subaddress
// of it (local+detail@domain).
func (s *Server) isLocal(rcpt string) bool {
	local, domain, ok := strings.Cut(strings.ToLower(rcpt), "@")
	if !ok || domain != s.domain {
		return false
	}
	base, _, _ := strings.Cut(local, "+")
	return local == s.localPart || base == s.localPart
}

func (s *Server) checkAccount(username, password string) (string, bool) {
	s.mu.Lock()
	a, ok := s.accounts[strings.ToLower(username)]
	s.mu.Unlock()
	if !ok || subtle.ConstantTimeCompare([]byte(a.password), []byte(password)) != 1 {
		return "", false
	}
	return a.name, true
}

// printfLogger adapts slog to the servers' Printf-style error logs.
type printfLogger struct{ l *slog.Logger }

func (p printfLogger) Printf(format string, v ...any) {
	p.l.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (p printfLogger) Println(v ...any) {
	p.l.Warn(strings.TrimSpace(fmt.Sprintln(v...)))
}
