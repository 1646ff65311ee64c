package mailbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPConfig says how to reach the SMTP submission server that sends
// backstop's mail.
type SMTPConfig struct {
	// Addr is host:port, e.g. "smtp.example.com:587".
	Addr string
	// TLS is TLSImplicit (port 465), TLSStartTLS (port 587) or TLSNone.
	TLS TLSMode
	// TLSConfig is used for TLS; nil means the system roots and Addr's host
	// as the server name.
	TLSConfig *tls.Config
	// Username and Password authenticate with AUTH PLAIN (or LOGIN when the
	// server offers only that). No AUTH when Username is empty.
	Username, Password string
	// Auth, when set, authenticates with OAuth2 (AUTH OAUTHBEARER, RFC
	// 7628, or XOAUTH2) as Username instead of the password.
	Auth TokenSource
	// HeloName is the name given in EHLO; "localhost" when empty.
	HeloName string
	// Timeout bounds one whole Send or Check, from dialling (or taking an
	// open connection) to the end of the transaction; the context's
	// deadline applies too when it is earlier. Default 2 minutes.
	Timeout time.Duration
	// MaxConns bounds the connections open at once; a Send waits for one
	// (default 2).
	MaxConns int
	// IdleTimeout is how long a connection is kept open after a Send for
	// the next one, which then says RSET instead of connecting, saying
	// EHLO and authenticating again (default 30s). Negative: every Send
	// has a connection of its own.
	IdleTimeout time.Duration
	// MaxPerConn is how many messages one connection sends before it is
	// closed (default 100): servers limit it too.
	MaxPerConn int
}

// Defaults for the zero fields of SMTPConfig.
const (
	DefaultSMTPTimeout     = 2 * time.Minute
	DefaultSMTPMaxConns    = 2
	DefaultSMTPIdleTimeout = 30 * time.Second
	DefaultSMTPMaxPerConn  = 100
)

// Sender sends messages over SMTP. A run of messages shares one
// connection: after a successful Send the connection stays open for
// IdleTimeout, and the next Send says RSET (RFC 5321 section 4.1.1.5)
// and goes on; a connection that fails is closed and, when nothing was
// sent on it yet, replaced by a new one. At most MaxConns are open. It is
// safe for concurrent use.
type Sender struct {
	cfg SMTPConfig
	sem chan struct{} // one token per open (or opening) connection

	mu     sync.Mutex
	idle   []*smtpConn
	wake   chan struct{} // closed when a connection is put in idle
	closed bool
}

// NewSender returns a Sender for cfg. The configuration is checked at the
// first Send or Check.
func NewSender(cfg SMTPConfig) *Sender {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultSMTPMaxConns
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultSMTPIdleTimeout
	}
	if cfg.MaxPerConn <= 0 {
		cfg.MaxPerConn = DefaultSMTPMaxPerConn
	}
	return &Sender{cfg: cfg, sem: make(chan struct{}, cfg.MaxConns), wake: make(chan struct{})}
}

// Close closes the idle connections (with QUIT). Sends still in progress
// finish; their connections are closed after them.
func (s *Sender) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	for _, pc := range idle {
		if pc.timer.Stop() {
			pc.quit()
			<-s.sem
		}
	}
	return nil
}

// Stages of a send, as SendError.Stage reports them.
const (
	StageConfig   = "config"   // the SMTPConfig is unusable
	StageEnvelope = "envelope" // the sender or recipient addresses given to Send
	StageMessage  = "message"  // the message itself, refused before sending
	StageConnect  = "connect"  // dialling, the greeting, EHLO
	StageTLS      = "tls"      // STARTTLS or the TLS handshake
	StageAuth     = "auth"     // AUTH
	StageMail     = "mail"     // MAIL FROM
	StageRcpt     = "rcpt"     // RCPT TO
	StageData     = "data"     // DATA, the upload and the final reply
	StageCheck    = "check"    // NOOP in Check
)

// SendError is why a message was not sent. Temporary tells whether sending
// it again later may succeed.
type SendError struct {
	// Code is the SMTP reply code (RFC 5321 section 4.2), 0 when the
	// failure was not a reply (network, TLS, a refused message).
	Code int
	// Enhanced is the enhanced status code (RFC 3463), e.g. "5.1.1", when
	// the server gave one.
	Enhanced string
	// Message is the server's reply text, or what went wrong locally.
	Message string
	// Err is the underlying error, if any.
	Err error

	// Stage is what was being done: one of the Stage constants.
	Stage string
	// Addr is the server's address.
	Addr string
	// Rcpt is the refused recipient when Stage is StageRcpt; Refused lists
	// every refused recipient when there were several.
	Rcpt    string
	Refused []string
	// Uncertain is set when the connection failed after the whole message
	// was sent but before the server's reply to it: the server may have
	// accepted the message, and sending it again may deliver it twice
	// (RFC 5321 section 6.1).
	Uncertain bool
}

// DeliveryUncertain reports whether the server may have accepted the
// message although Send failed: the connection broke after the whole
// message was sent. Resending may deliver it twice.
func (e *SendError) DeliveryUncertain() bool { return e.Uncertain }

// Temporary reports whether sending the message again later may succeed:
// true for 4xx replies and network failures (timeouts, refused or dropped
// connections), false for 5xx replies and for problems with the
// configuration or the message.
func (e *SendError) Temporary() bool {
	if e.Code != 0 {
		return e.Code/100 == 4
	}
	switch e.Stage {
	case StageConfig, StageEnvelope, StageMessage:
		return false
	}
	return temporaryErr(e.Err)
}

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// Error says what failed and what to do about it.
func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("smtp: ")
	if e.Code != 0 {
		b.WriteString(strconv.Itoa(e.Code))
		if e.Enhanced != "" {
			b.WriteString(" " + e.Enhanced)
		}
		b.WriteString(" ")
	}
	b.WriteString(e.what())
	if e.Code != 0 && e.Message != "" {
		fmt.Fprintf(&b, " (server said: %s)", unfoldLine(e.Message))
	} else if e.Code == 0 {
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
		if e.Err != nil {
			b.WriteString(": " + e.Err.Error())
		}
	}
	if advice := e.advice(); advice != "" {
		b.WriteString("; " + advice)
	}
	return b.String()
}

// what describes the failed step.
func (e *SendError) what() string {
	at := ""
	if e.Addr != "" {
		at = " at " + e.Addr
	}
	switch e.Stage {
	case StageConfig:
		return "configuration"
	case StageEnvelope:
		return "envelope refused before sending"
	case StageMessage:
		return "message refused before sending"
	case StageConnect:
		return "connecting to the server" + at
	case StageTLS:
		return "TLS with the server" + at
	case StageAuth:
		return "authentication with the server" + at
	case StageMail:
		return "sender refused (MAIL FROM)"
	case StageRcpt:
		s := "rcpt " + e.Rcpt + " refused"
		if n := len(e.Refused); n > 1 {
			s = fmt.Sprintf("%d recipients refused (%s)", n, strings.Join(e.Refused, ", "))
		}
		return s
	case StageData:
		if e.Uncertain {
			return "no reply after the message was sent"
		}
		return "message refused (DATA)"
	case StageCheck:
		return "checking the server" + at
	}
	return "sending failed"
}

// advice says what to do, from the enhanced status code (RFC 3463), the
// reply code or the error.
func (e *SendError) advice() string {
	switch e.Stage {
	case StageConfig, StageEnvelope, StageMessage:
		return "fix it and try again"
	}
	if e.Uncertain {
		return "the server may have accepted the message: check the recipient's copy before sending it again"
	}
	if errors.Is(e.Err, errBearerRefused) {
		return "a fresh OAuth2 token was refused too; check that smtp.username is the mailbox the token is for, and the app's permissions (smtp.oauth2)"
	}
	if e.Code != 0 {
		if a := enhancedAdvice(e.Enhanced, e.Stage); a != "" {
			return a
		}
		switch e.Code {
		case 421:
			return "the server is closing the connection; will retry later"
		case 450, 451, 452:
			return "a temporary failure on the server; will retry later"
		case 530:
			return "the server requires authentication; set smtp.username and smtp.password"
		case 535:
			return "the username or password was rejected; check smtp.username and smtp.password"
		case 550, 551, 553:
			if e.Stage == StageRcpt {
				return "the address does not exist or is not accepted; check it"
			}
			return "the server refused it by policy; check that the account may send as this address"
		case 552:
			return "the message is too large for the server; send smaller attachments"
		case 554:
			return "the server rejected the transaction; read its reason above"
		}
		if e.Code/100 == 4 {
			return "a temporary failure; will retry later"
		}
		return "a permanent failure; sending the same message again will fail the same way"
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recErr tls.RecordHeaderError
	switch {
	case errors.Is(e.Err, context.Canceled):
		return "the send was cancelled; it will be retried"
	case errors.Is(e.Err, context.DeadlineExceeded), isTimeout(e.Err):
		return "the server did not answer in time; will retry later"
	case errors.As(e.Err, &hostErr):
		return "the server's certificate is for another name; set smtp.host to a name it covers, or smtp.tls_server_name to the name it carries"
	case errors.As(e.Err, &unknownAuth), errors.As(e.Err, &certErr):
		return "the server's certificate is not trusted; if it uses a private certificate authority, set smtp.ca_file to its PEM file; check smtp.host and smtp.tls_server_name"
	case errors.As(e.Err, &recErr):
		return "the server did not speak TLS; set smtp.tls to starttls for ports 587 and 25, implicit for 465"
	case e.Stage == StageTLS && errors.Is(e.Err, errNoStartTLS):
		return "set smtp.tls to implicit if the port is 465, or check smtp.addr's port"
	case e.Stage == StageAuth && errors.Is(e.Err, errNoAuth):
		return "many servers offer AUTH only over TLS: set smtp.tls to starttls or implicit, or leave smtp.username empty"
	case e.Stage == StageAuth && errors.Is(e.Err, errNoAuthMech):
		return "backstop supports PLAIN and LOGIN; enable one of them on the server"
	case e.Stage == StageAuth && errors.Is(e.Err, errNoBearer):
		return "set smtp.auth: password, or use a server that accepts OAuth2"
	case IsPermanent(e.Err):
		return "fix the configuration named above"
	case e.Stage == StageConnect && NetAdvice("smtp", e.Err) != "":
		return NetAdvice("smtp", e.Err) + "; will retry later"
	case temporaryErr(e.Err):
		return "check smtp.addr and the network; will retry later"
	}
	return ""
}

// enhancedAdvice interprets the enhanced status codes that need a specific
// action (RFC 3463 section 3).
func enhancedAdvice(enhanced, stage string) string {
	parts := strings.Split(enhanced, ".")
	if len(parts) != 3 {
		return ""
	}
	class, detail := parts[0], parts[1]+"."+parts[2]
	if class == "4" {
		switch detail {
		case "2.2":
			return "the recipient's mailbox is full; will retry later"
		case "7.0", "7.1":
			return "the server refused it for now (greylisting or rate limit); will retry later"
		}
		return ""
	}
	if class != "5" {
		return ""
	}
	switch detail {
	case "1.1":
		return "the address does not exist; check it"
	case "1.2":
		return "the recipient's domain does not exist or takes no mail; check the address"
	case "1.3":
		return "the address is malformed; check it"
	case "1.0", "1.6":
		return "the address is not accepted; check it"
	case "1.7", "1.8":
		return "the sender address is not accepted; check the From and envelope sender"
	case "2.1":
		return "the recipient's mailbox is disabled; the address is no longer in use"
	case "2.2":
		return "the recipient's mailbox is full; try again much later or reach them another way"
	case "2.3", "3.4":
		return "the message is too large; send smaller attachments"
	case "7.0", "7.1":
		if stage == StageRcpt {
			return "the server refused the recipient by policy (relaying denied?); check that smtp.username may send to it"
		}
		return "the server refused it by policy; check that smtp.username may send as the From address"
	case "7.8":
		return "the username or password was rejected; check smtp.username and smtp.password"
	case "7.9", "7.11":
		return "the server requires a stronger authentication or TLS; check smtp.tls"
	case "7.26", "7.27":
		return "the receiving server failed sender authentication (SPF/DKIM/DMARC); check the From domain's DNS"
	}
	return ""
}

var (
	errNoStartTLS = errors.New("the server does not offer STARTTLS")
	errNoAuth     = errors.New("the server does not offer AUTH")
	errNoAuthMech = errors.New("the server offers neither AUTH PLAIN nor AUTH LOGIN")
)

// temporaryErr classifies errors that are not SMTP replies: network
// failures are temporary; TLS certificate and protocol errors are not.
func temporaryErr(err error) bool {
	if err == nil {
		return false
	}
	var smtpErr *smtp.SMTPError
	if errors.As(err, &smtpErr) {
		return smtpErr.Temporary()
	}
	if isTLSErr(err) {
		return false
	}
	if errors.Is(err, errNoStartTLS) || errors.Is(err, errNoAuth) || errors.Is(err, errNoAuthMech) || errors.Is(err, errNoBearer) || IsPermanent(err) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// Send sends msg to the envelope recipients rcpt, with envelopeFrom as the
// envelope sender ("" for the null sender <>). The message is sent as is:
// header recipients and envelope recipients are independent (a Bcc is an
// envelope recipient only).
//
// The message is sent to all recipients or to none: if the server refuses
// any recipient, the transaction is abandoned (RSET) and the error names
// every refused one, so that sending again never reaches anyone twice.
// Duplicate recipients are sent to once.
//
// Errors are *SendError.
func (s *Sender) Send(ctx context.Context, envelopeFrom string, rcpt []string, msg []byte) error {
	return s.send(ctx, envelopeFrom, rcpt, bytesMessage(msg), int64(len(msg)), func() error { return checkMessage(msg) })
}

// SendComposed is Send for a composed message: it is written into the
// SMTP DATA as it is composed, so that a large attachment is read as it
// goes out and never held whole. When reading an attachment fails, the
// DATA is not ended: the connection is closed and the server drops the
// transaction (RFC 5321 section 4.1.1.4), so that no truncated message
// is delivered; the error is a permanent *SendError at StageMessage.
func (s *Sender) SendComposed(ctx context.Context, envelopeFrom string, rcpt []string, m *Composed) error {
	if m == nil {
		return &SendError{Stage: StageMessage, Message: "no message given"}
	}
	if !m.streams() {
		// Small enough to hold: sent as Send sends it, with its exact
		// size and the line check.
		var b bytes.Buffer
		b.Grow(int(m.Size()))
		if _, err := m.WriteTo(&b); err != nil {
			return &SendError{Stage: StageMessage, Err: err, Message: "the message could not be composed"}
		}
		return s.Send(ctx, envelopeFrom, rcpt, b.Bytes())
	}
	return s.send(ctx, envelopeFrom, rcpt, m, m.Size(), nil)
}

// bytesMessage is a message given whole.
type bytesMessage []byte

func (b bytesMessage) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(b)
	return int64(n), err
}

// send is Send and SendComposed: check (nil: none) checks the message.
func (s *Sender) send(ctx context.Context, envelopeFrom string, rcpt []string, msg io.WriterTo, size int64, check func() error) error {
	rcpt, err := s.checkEnvelope(envelopeFrom, rcpt)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	if err := s.checkConfig(); err != nil {
		return err
	}
	kept, err := s.acquire(ctx)
	if err != nil {
		return &SendError{Stage: StageConnect, Addr: s.cfg.Addr, Err: err}
	}
	limit := s.limit(ctx)
	sendErr := s.sendErrFunc(ctx)
	if pc := kept; pc != nil {
		stop, err := pc.use(ctx, limit)
		if err == nil {
			err = s.transaction(pc.c, sendErr, envelopeFrom, rcpt, msg, size)
		}
		stop()
		if err == nil {
			s.putIdle(pc)
			return nil
		}
		pc.close()
		if !retryFresh(err) {
			<-s.sem
			return err
		}
		// The server closed the connection it had kept open: nothing was
		// sent on it for this message, so a new connection may.
	}
	pc, stop, err := s.dial(ctx, limit, sendErr)
	if err != nil {
		<-s.sem
		return err
	}
	err = s.transaction(pc.c, sendErr, envelopeFrom, rcpt, msg, size)
	stop()
	if err != nil {
		pc.close()
		<-s.sem
		return err
	}
	s.putIdle(pc)
	return nil
}

// retryFresh reports whether a Send that failed on a connection kept open
// from before may be tried once on a new one: it failed at RSET or MAIL,
// before any recipient was accepted, because the connection was gone or
// the server is closing it (421, RFC 5321 section 3.8).
func retryFresh(err error) bool {
	var se *SendError
	if !errors.As(err, &se) || (se.Stage != StageMail && se.Stage != stageReset) {
		return false
	}
	return se.Code == 0 || se.Code == 421
}

// stageReset is the RSET that opens a Send on a connection kept open.
const stageReset = "reset"

// smtpConn is an open, authenticated SMTP connection.
type smtpConn struct {
	c     *smtp.Client
	raw   net.Conn
	dc    *deadlineConn
	sent  int
	timer *time.Timer // closes it once idle for IdleTimeout
}

// use prepares a connection kept open for a new Send: its deadline, ctx
// closing it, and RSET. stop undoes the ctx hook.
func (pc *smtpConn) use(ctx context.Context, limit time.Time) (stop func() bool, err error) {
	pc.dc.limit = limit
	stop = context.AfterFunc(ctx, func() { pc.raw.Close() })
	if err := pc.dc.SetDeadline(limit); err != nil {
		return stop, &SendError{Stage: stageReset, Err: err}
	}
	if err := pc.c.Reset(); err != nil {
		se := &SendError{Stage: stageReset, Err: err}
		var smtpErr *smtp.SMTPError
		if errors.As(err, &smtpErr) {
			se.Code = smtpErr.Code
		}
		return stop, se
	}
	return stop, nil
}

// quit says QUIT (a failure changes nothing, RFC 5321 section 4.1.1.10)
// and closes the connection.
func (pc *smtpConn) quit() {
	pc.dc.limit = time.Now().Add(5 * time.Second)
	pc.dc.SetDeadline(pc.dc.limit)
	_ = pc.c.Quit()
	pc.close()
}

func (pc *smtpConn) close() {
	pc.c.Close()
	pc.raw.Close()
}

// acquire returns a connection kept open, or nil with a token to open a
// new one, waiting while MaxConns are in use.
func (s *Sender) acquire(ctx context.Context) (*smtpConn, error) {
	for {
		if pc := s.takeIdle(); pc != nil {
			return pc, nil
		}
		s.mu.Lock()
		wake := s.wake
		s.mu.Unlock()
		if pc := s.takeIdle(); pc != nil { // one came back meanwhile
			return pc, nil
		}
		select {
		case s.sem <- struct{}{}:
			return nil, nil
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// takeIdle returns a connection kept open, if any.
func (s *Sender) takeIdle() *smtpConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.idle) > 0 {
		pc := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if pc.timer.Stop() {
			return pc
		}
		// Its idle time ran out just now: the timer closes it.
	}
	return nil
}

// putIdle keeps a connection open for the next Send, or says QUIT when it
// has sent its share, keeping is off, or the Sender is closed. Either
// way its token is given back once it is closed.
func (s *Sender) putIdle(pc *smtpConn) {
	pc.sent++
	s.mu.Lock()
	keep := !s.closed && s.cfg.IdleTimeout > 0 && pc.sent < s.cfg.MaxPerConn
	if keep {
		pc.timer = time.AfterFunc(s.cfg.IdleTimeout, func() {
			s.mu.Lock()
			s.idle = slices.DeleteFunc(s.idle, func(o *smtpConn) bool { return o == pc })
			s.mu.Unlock()
			pc.quit()
			<-s.sem
		})
		s.idle = append(s.idle, pc)
		close(s.wake)
		s.wake = make(chan struct{})
	}
	s.mu.Unlock()
	if !keep {
		pc.quit()
		<-s.sem
	}
}

// Check connects, sets up TLS, authenticates and says NOOP, to tell whether
// the configuration works. Errors are *SendError.
func (s *Sender) Check(ctx context.Context) error {
	return s.session(ctx, func(c *smtp.Client, sendErr func(stage string, err error) *SendError) error {
		if err := c.Noop(); err != nil {
			return sendErr(StageCheck, err)
		}
		return nil
	})
}

func (s *Sender) checkEnvelope(from string, rcpt []string) ([]string, error) {
	bad := func(format string, args ...any) error {
		return &SendError{Stage: StageEnvelope, Message: fmt.Sprintf(format, args...)}
	}
	if strings.ContainsAny(from, "\r\n<> \t") {
		return nil, bad("envelope sender %q is not an address", from)
	}
	if len(rcpt) == 0 {
		return nil, bad("no recipients")
	}
	seen := make(map[string]bool, len(rcpt))
	out := make([]string, 0, len(rcpt))
	for _, r := range rcpt {
		if r == "" || strings.ContainsAny(r, "\r\n<> \t") || !strings.Contains(r, "@") {
			return nil, bad("recipient %q is not an address", r)
		}
		k := strings.ToLower(r)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, r)
	}
	return out, nil
}

// checkMessage refuses what no server should be sent: an empty message and
// lines over 998 octets (RFC 5322 section 2.1.1; go-smtp servers drop the
// connection over 2000). Compose never produces such lines.
func checkMessage(msg []byte) error {
	if len(bytes.TrimSpace(msg)) == 0 {
		return &SendError{Stage: StageMessage, Message: "the message is empty"}
	}
	line := 1
	for rest := msg; len(rest) > 0; line++ {
		l, next, _ := bytes.Cut(rest, []byte("\n"))
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) > maxLineOctets {
			return &SendError{Stage: StageMessage, Message: fmt.Sprintf(
				"line %d is %d octets long, over the limit of %d (RFC 5322 section 2.1.1); encode the body as quoted-printable or base64 (Compose does)",
				line, len(l), maxLineOctets)}
		}
		rest = next
	}
	return nil
}

// session connects, sets up TLS, says EHLO, authenticates, runs f and says
// QUIT, on a connection of its own. Everything runs under one deadline: the
// earlier of ctx's and Timeout's; cancelling ctx closes the connection.
func (s *Sender) session(ctx context.Context, f func(c *smtp.Client, sendErr func(stage string, err error) *SendError) error) error {
	if err := s.checkConfig(); err != nil {
		return err
	}
	pc, stop, err := s.dial(ctx, s.limit(ctx), s.sendErrFunc(ctx))
	if err != nil {
		return err
	}
	defer stop()
	defer pc.close()
	if err := f(pc.c, s.sendErrFunc(ctx)); err != nil {
		return err
	}
	// The work is done: a failed QUIT changes nothing (RFC 5321 section
	// 4.1.1.10).
	_ = pc.c.Quit()
	return nil
}

// checkConfig reports an unusable configuration.
func (s *Sender) checkConfig() error {
	cfg := s.cfg
	host, port, err := net.SplitHostPort(cfg.Addr)
	if cfg.Addr == "" {
		return &SendError{Stage: StageConfig, Message: "smtp.addr is required; give it as host:port, e.g. smtp.example.com:587"}
	}
	if err != nil || host == "" || port == "" {
		return &SendError{Stage: StageConfig, Message: fmt.Sprintf("smtp.addr %q is not host:port; e.g. smtp.example.com:587", cfg.Addr)}
	}
	if err := cfg.TLS.Validate(host); err != nil {
		return &SendError{Stage: StageConfig, Err: err}
	}
	if cfg.Password != "" && cfg.Username == "" {
		return &SendError{Stage: StageConfig, Message: "smtp.password is set but smtp.username is empty; set both or neither"}
	}
	return nil
}

// limit is the deadline of one Send or Check: the earlier of ctx's and
// Timeout from now.
func (s *Sender) limit(ctx context.Context) time.Time {
	timeout := s.cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	limit := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(limit) {
		limit = d
	}
	return limit
}

// sendErrFunc returns the function that turns an error at a stage into a
// *SendError.
func (s *Sender) sendErrFunc(ctx context.Context) func(stage string, err error) *SendError {
	cfg := s.cfg
	return func(stage string, err error) *SendError {
		e := &SendError{Stage: stage, Addr: cfg.Addr, Err: err}
		var smtpErr *smtp.SMTPError
		if errors.As(err, &smtpErr) {
			e.Code = smtpErr.Code
			e.Message = smtpErr.Message
			if smtpErr.EnhancedCode != smtp.NoEnhancedCode && smtpErr.EnhancedCode != smtp.EnhancedCodeNotSet {
				ec := smtpErr.EnhancedCode
				e.Enhanced = fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
			}
		} else if ctxErr := ctx.Err(); ctxErr != nil {
			// The connection was closed because ctx ended: say so rather
			// than "use of closed network connection".
			e.Err = ctxErr
		}
		return e
	}
}

// dial connects, sets up TLS, says EHLO and authenticates. Until stop is
// called, ctx ending closes the connection.
func (s *Sender) dial(ctx context.Context, limit time.Time, sendErr func(stage string, err error) *SendError) (pc *smtpConn, stop func() bool, err error) {
	cfg := s.cfg
	host, _, _ := net.SplitHostPort(cfg.Addr)
	dialer := net.Dialer{Deadline: limit}
	raw, err := dialer.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, nil, sendErr(StageConnect, err)
	}
	conn := &deadlineConn{Conn: raw, limit: limit}
	if err := conn.SetDeadline(limit); err != nil {
		raw.Close()
		return nil, nil, sendErr(StageConnect, err)
	}
	unhook := context.AfterFunc(ctx, func() { raw.Close() })
	defer func() {
		if err != nil {
			unhook()
			raw.Close()
		}
	}()

	tlsConfig := cfg.TLSConfig.Clone()
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}
	if tlsConfig.MinVersion == 0 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}

	helo := cfg.HeloName
	if helo == "" {
		helo = "localhost"
	}
	var c *smtp.Client
	switch cfg.TLS {
	case TLSImplicit:
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, sendErr(StageTLS, err)
		}
		c = smtp.NewClient(tc)
	case TLSStartTLS:
		// go-smtp says EHLO localhost before STARTTLS (it can't be named);
		// the EHLO that counts, after STARTTLS, says HeloName.
		c, err = smtp.NewClientStartTLS(conn, tlsConfig)
		if err != nil {
			var smtpErr *smtp.SMTPError
			switch {
			case errors.As(err, &smtpErr) && smtpErr.Code == 454:
				return nil, nil, sendErr(StageTLS, err)
			case errors.As(err, &smtpErr) || temporaryErr(err):
				return nil, nil, sendErr(StageConnect, err)
			default:
				// The only other failure: no STARTTLS in the EHLO reply.
				return nil, nil, sendErr(StageTLS, errNoStartTLS)
			}
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()

	if err := c.Hello(helo); err != nil {
		if isTLSErr(err) {
			return nil, nil, sendErr(StageTLS, err) // STARTTLS's handshake happens here
		}
		return nil, nil, sendErr(StageConnect, err)
	}

	switch {
	case cfg.Auth != nil:
		if err := authenticateBearer(ctx, c, cfg.Username, cfg.Auth); err != nil {
			return nil, nil, sendErr(StageAuth, err)
		}
	case cfg.Username != "":
		if err := authenticate(c, cfg.Username, cfg.Password); err != nil {
			return nil, nil, sendErr(StageAuth, err)
		}
	}
	return &smtpConn{c: c, raw: raw, dc: conn}, unhook, nil
}

// authenticate uses AUTH PLAIN (RFC 4616), or LOGIN when the server offers
// only that.
func authenticate(c *smtp.Client, username, password string) error {
	if ok, _ := c.Extension("AUTH"); !ok {
		return errNoAuth
	}
	var client sasl.Client
	switch {
	case c.SupportsAuth(sasl.Plain):
		client = sasl.NewPlainClient("", username, password)
	case c.SupportsAuth(sasl.Login):
		client = sasl.NewLoginClient(username, password)
	default:
		_, mechs := c.Extension("AUTH")
		return fmt.Errorf("%w (it offers %s)", errNoAuthMech, mechs)
	}
	return c.Auth(client)
}

// authenticateBearer authenticates with an OAuth2 token; when the server
// refuses it, once more with a new token.
func authenticateBearer(ctx context.Context, c *smtp.Client, username string, src TokenSource) error {
	if ok, _ := c.Extension("AUTH"); !ok {
		return errNoAuth
	}
	mech, ok := chooseBearer(c.SupportsAuth)
	if !ok {
		_, mechs := c.Extension("AUTH")
		return fmt.Errorf("%w (it offers %s)", errNoBearer, mechs)
	}
	for attempt := 0; ; attempt++ {
		token, err := src.Token(ctx, attempt > 0)
		if err != nil {
			return fmt.Errorf("oauth2 token: %w", err)
		}
		bc := &BearerClient{Mech: mech, Username: username, Token: token}
		err = c.Auth(bc)
		var smtpErr *smtp.SMTPError
		if err == nil || attempt > 0 || !errors.As(err, &smtpErr) || smtpErr.Code/100 != 5 {
			if err != nil && errors.As(err, &smtpErr) && smtpErr.Code/100 == 5 {
				err = fmt.Errorf("%w: %w", errBearerRefused, bc.describe(err))
			}
			return err
		}
	}
}

// transaction runs MAIL, RCPT and DATA (RFC 5321 section 3.3).
func (s *Sender) transaction(c *smtp.Client, sendErr func(string, error) *SendError, from string, rcpt []string, msg io.WriterTo, size int64) error {
	opts := &smtp.MailOptions{Size: size}
	if !asciiString(from) || !asciiStrings(rcpt) {
		opts.UTF8 = true // RFC 6531
	}
	if err := c.Mail(from, opts); err != nil {
		return sendErr(StageMail, err)
	}

	var refused []*SendError
	for _, r := range rcpt {
		err := c.Rcpt(r, nil)
		if err == nil {
			continue
		}
		var smtpErr *smtp.SMTPError
		if !errors.As(err, &smtpErr) {
			return sendErr(StageRcpt, err) // the connection is gone
		}
		e := sendErr(StageRcpt, err)
		e.Rcpt = r
		refused = append(refused, e)
	}
	if len(refused) > 0 {
		_ = c.Reset()
		// Report the worst: a permanent refusal over a temporary one.
		worst := refused[0]
		for _, e := range refused {
			if !e.Temporary() && worst.Temporary() {
				worst = e
			}
		}
		if len(refused) > 1 {
			for _, e := range refused {
				worst.Refused = append(worst.Refused, e.Rcpt)
			}
		}
		return worst
	}

	w, err := c.Data()
	if err != nil {
		return sendErr(StageData, err)
	}
	dw := &dataWriter{w: w}
	if _, err := msg.WriteTo(dw); err != nil {
		// Not w.Close(): the final "." would deliver what was written
		// so far. The caller closes the connection instead.
		if dw.err == nil {
			return &SendError{Stage: StageMessage, Addr: s.cfg.Addr, Err: err,
				Message: "reading the message's content failed part-way, so it was not sent (the connection was closed before the end of DATA)"}
		}
		return sendErr(StageData, err)
	}
	if err := w.Close(); err != nil {
		e := sendErr(StageData, err)
		var smtpErr *smtp.SMTPError
		if !errors.As(err, &smtpErr) {
			// Everything was written; the reply is what's missing.
			e.Uncertain = true
		}
		return e
	}
	return nil
}

// dataWriter remembers whether writing to the server failed.
type dataWriter struct {
	w   io.Writer
	err error
}

func (d *dataWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err != nil {
		d.err = err
	}
	return n, err
}

func asciiString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func asciiStrings(l []string) bool {
	for _, s := range l {
		if !asciiString(s) {
			return false
		}
	}
	return true
}

// isTLSErr reports whether err is a TLS handshake or certificate failure.
func isTLSErr(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	var alertErr tls.AlertError
	return errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) ||
		errors.As(err, &invalidErr) || errors.As(err, &recErr) || errors.As(err, &alertErr)
}

// deadlineConn keeps every deadline go-smtp sets (or clears) at or before
// limit, so that one deadline bounds the whole session.
type deadlineConn struct {
	net.Conn
	limit time.Time
}

func (c *deadlineConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c *deadlineConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.clamp(t)) }

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}
