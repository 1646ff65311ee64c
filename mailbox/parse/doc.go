// Package parse is the reading of mail: it turns the bytes of a message into
// what backstop needs to know about it — its headers, its text (HTML
// converted, legacy charsets decoded), the forwarded originals it carries
// (attached messages and the inline forwards and quote headers of the common
// clients), what its sender wrote above any quote, and whether a machine
// wrote it (RFC 3834 auto-replies, RFC 3464 delivery reports).
//
// The rules are general and the words are data: a forwarded header block
// is a run of known labels in any layout (one per line, or all on one line
// as Yahoo writes them); a quote header is a line or a few lines ending in a
// name and address above quoted text, with or without a "wrote" verb; a
// message copied with its raw header (RFC 934 encapsulation, a forward that
// copies every header) is read as a message. The labels, separator phrases,
// quote verbs and subject prefixes are one row per language in labels.go.
// What cannot be read cleanly is read best effort with a warning, and an
// attached message whose body decodes to nothing keeps its raw part:
// evidence is never emptier than the message. Message.Explain says which
// rule found what.
//
// It is format only: no network, no state. The transport (IMAP, SMTP) is
// package mailbox; parse imports nothing of backstop.
package parse
