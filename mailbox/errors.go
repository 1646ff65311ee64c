package mailbox

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/emersion/go-imap/v2"
)

// PermanentError is a failure that trying again will not fix: a password
// or token refused, a mailbox missing that cannot be created, a
// certificate that is not trusted. A person must change something; Error
// says what, naming the configuration key. The watcher logs it at ERROR
// and retries it only every PermanentRetry.
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *PermanentError) Unwrap() error { return e.Err }

// Temporary reports false.
func (e *PermanentError) Temporary() bool { return false }

// IsPermanent reports whether err, or an error it wraps, is a
// PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// permanent marks err as permanent; nil stays nil.
func permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return &PermanentError{Err: err}
}

// temporaryCodes are the IMAP response codes (RFC 5530) of a refusal that
// may go away by itself.
var temporaryCodes = map[imap.ResponseCode]bool{
	imap.ResponseCodeUnavailable: true,
	imap.ResponseCodeInUse:       true,
	imap.ResponseCodeServerBug:   true,
	"TOOMANY":                    true,
}

// imapRefusal returns the server's tagged NO or BAD, or nil when err is not
// one (a network error, a timeout). A NO with a code of temporaryCodes is
// not a refusal either.
func imapRefusal(err error) *imap.Error {
	var imapErr *imap.Error
	if !errors.As(err, &imapErr) || imapErr.Type == imap.StatusResponseTypeBye {
		return nil
	}
	if temporaryCodes[imapErr.Code] {
		return nil
	}
	return imapErr
}

// tlsTrustErr reports whether err is a certificate the client does not
// trust (unknown authority, wrong name, expired).
func tlsTrustErr(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		verifErr *tls.CertificateVerificationError
	)
	return errors.As(err, &unknown) || errors.As(err, &hostErr) || errors.As(err, &invalid) || errors.As(err, &verifErr)
}

// tlsAdvice is what to change when the server's certificate is not trusted.
func tlsAdvice(prefix string, err error) string {
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) {
		return fmt.Sprintf("the certificate is for another name: set %s.host to a name it covers, or %s.tls_server_name to the name it carries", prefix, prefix)
	}
	return fmt.Sprintf("the certificate is not trusted: if the server uses a private certificate authority, set %s.ca_file to its PEM file; check %s.host and %s.tls_server_name", prefix, prefix, prefix)
}

// NetAdvice maps a connection error to the configuration keys involved,
// or "" when it is not one it knows. prefix is "imap" or "smtp".
func NetAdvice(prefix string, err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Sprintf("the host name %q does not resolve: check %s.host", dnsErr.Name, prefix)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the host name %q could not be resolved (DNS): check %s.host and the machine's resolver", dnsErr.Name, prefix)
	case errors.Is(err, syscall.ECONNREFUSED):
		ports := "993 with implicit TLS, 143 with starttls"
		if prefix == "smtp" {
			ports = "465 with implicit TLS, 587 with starttls"
		}
		return fmt.Sprintf("nothing listens there: check %s.host, %s.port and %s.tls (usually %s)", prefix, prefix, prefix, ports)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Sprintf("the host cannot be reached: check %s.host and the network or firewall", prefix)
	case tlsTrustErr(err):
		return tlsAdvice(prefix, err)
	case isTimeout(err):
		return fmt.Sprintf("no answer in time: check %s.host and %s.port, and that a firewall lets the connection through", prefix, prefix)
	}
	return ""
}
