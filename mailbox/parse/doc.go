// Package parse is the reading of mail: it turns the bytes of a message into
// what backstop needs to know about it — its headers, its text (HTML
// converted, legacy charsets decoded), the forwarded originals it carries
// (attached messages and the inline forwards and quote headers of the common
// clients), what its sender wrote above any quote, and whether a machine
// wrote it (RFC 3834 auto-replies, RFC 3464 delivery reports).
//
// It is format only: no network, no state. The transport (IMAP, SMTP) is
// package mailbox; parse imports nothing of backstop.
package parse
