// Package mailbox is mail as transport: it watches an IMAP mailbox, composes
// outgoing messages and sends them over SMTP.
//
// The reading of mail (MIME, forwards, replies, reports) is its own package,
// [backstop/mailbox/parse]; mailbox knows nothing of incidents or workflow,
// and imports no other package of backstop.
package mailbox
