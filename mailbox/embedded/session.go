package embedded

import (
	"errors"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// session is one SMTP connection.
type session struct {
	srv  *Server
	conn *smtp.Conn
	user string // the authenticated account, "" without AUTH
	from string
	rcpt []string
}

var _ smtp.AuthSession = (*session)(nil)

// AuthMechanisms offers PLAIN (RFC 4616) and LOGIN.
func (s *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

// Auth checks the credentials against Config.Accounts.
func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		name, ok := s.srv.checkAccount(username, password)
		if !ok {
			s.srv.log.Info("embedded smtp: authentication failed", "username", username)
			return smtp.ErrAuthFailed
		}
		s.user = name
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && !strings.EqualFold(identity, username) {
				return smtp.ErrAuthFailed // no acting as someone else
			}
			return check(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// Mail starts a transaction.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.from = from
	s.rcpt = nil
	return nil
}

// Rcpt adds a recipient, unless a failure is injected for it.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	fail := s.srv.rcptFail
	s.srv.mu.Unlock()
	if fail != nil {
		if err := fail(to); err != nil {
			return err
		}
	}
	for _, r := range s.rcpt {
		if strings.EqualFold(r, to) {
			return nil
		}
	}
	s.rcpt = append(s.rcpt, to)
	return nil
}

// Data delivers the message to the escalations mailbox for its local
// recipients and captures it for the others.
func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	fail := s.srv.dataFail
	s.srv.mu.Unlock()
	if fail != nil {
		if err := fail(s.from, append([]string(nil), s.rcpt...)); err != nil {
			return err
		}
	}

	now := time.Now()
	var others []string
	for _, rcpt := range s.rcpt {
		if !s.srv.isLocal(rcpt) {
			others = append(others, rcpt)
			continue
		}
		msg := s.srv.stamp(raw, stampInfo{
			from: s.from, rcpt: rcpt, user: s.user, helo: s.conn.Hostname(),
			remote: s.conn.Conn().RemoteAddr().String(), at: now,
		})
		if err := s.srv.Deliver(msg); err != nil {
			s.srv.log.Error("embedded smtp: delivery failed", "rcpt", rcpt, "err", err)
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Could not store the message, try again later"}
		}
		s.srv.log.Info("embedded smtp: delivered", "from", s.from, "rcpt", rcpt, "bytes", len(msg), "auth", s.user)
	}
	if len(others) > 0 {
		s.srv.log.Info("embedded smtp: captured", "from", s.from, "to", others, "bytes", len(raw), "auth", s.user)
		s.srv.capture(Captured{From: s.from, To: others, Raw: raw, At: now})
	}
	return nil
}

// Reset ends the transaction; the authentication stays.
func (s *session) Reset() {
	s.from, s.rcpt = "", nil
}

// Logout ends the session.
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN (draft-murchison-sasl-login),
// which go-sasl has only as a client: "Username:", "Password:".
type loginServer struct {
	check    func(username, password string) error
	username string
	step     int
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		// The username came as the initial response.
		fallthrough
	case 1:
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.check(l.username, string(response))
	}
	return nil, false, errors.New("sasl: LOGIN exchange already finished")
}
