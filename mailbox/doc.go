// Package mailbox is mail as transport and format: it watches an IMAP
// mailbox, parses MIME messages (forwards, replies, reports), composes
// outgoing messages and sends them over SMTP.
//
// It knows nothing of incidents or workflow, and imports no other package
// of backstop.
package mailbox
