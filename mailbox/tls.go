package mailbox

import (
	"fmt"
	"net"
	"strings"
)

// TLSMode says how a connection to a mail server is secured.
type TLSMode string

// The TLS modes for IMAP and SMTP connections.
const (
	// TLSImplicit starts TLS as soon as the connection opens (IMAP port
	// 993, SMTP submission port 465; RFC 8314).
	TLSImplicit TLSMode = "implicit"
	// TLSStartTLS connects in plain text and upgrades with STARTTLS
	// before logging in (IMAP port 143, SMTP port 587).
	TLSStartTLS TLSMode = "starttls"
	// TLSNone never encrypts. The password then crosses the network in
	// clear text, so it is allowed only to a loopback host.
	TLSNone TLSMode = "none"
)

// Validate checks that m is a known mode and that TLSNone is used only with
// a loopback host (localhost, 127.0.0.0/8, ::1). host may carry a port.
func (m TLSMode) Validate(host string) error {
	switch m {
	case TLSImplicit, TLSStartTLS:
		return nil
	case TLSNone:
		if isLoopback(host) {
			return nil
		}
		return fmt.Errorf("tls mode %q sends the password in clear text and is allowed only to a loopback host (localhost, 127.0.0.1, ::1), not %q: use %q or %q", m, host, TLSImplicit, TLSStartTLS)
	case "":
		return fmt.Errorf("tls mode is empty: use %q, %q, or %q (loopback only)", TLSImplicit, TLSStartTLS, TLSNone)
	default:
		return fmt.Errorf("unknown tls mode %q: use %q, %q, or %q (loopback only)", string(m), TLSImplicit, TLSStartTLS, TLSNone)
	}
}

// isLoopback reports whether host (optionally host:port) names the
// loopback interface. Names other than "localhost" are not resolved.
func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
