// Package workflow is backstop's domain: incidents, the classification of
// incoming messages, the leads' reply commands and who may give them, the
// incident states, the audit trail, customer emails sent on a lead's behalf
// (held, cancellable, exactly as previewed), outgoing mail through an outbox
// table, reply tokens, threading, rate caps and the dispatcher that delivers
// the outbox; and what time does: a [Scheduler] of wall-clock jobs, the
// weekly digest to the leads, reminders within [BusinessHours] and
// check-ins with the teammates who reported.
//
// Everything is kept in one SQLite database (modernc.org/sqlite, no cgo).
// Each incoming message is handled in one transaction that records the
// message, the incident change, its events and any outgoing mail, so that a
// crash at any point leaves either all of it or none of it.
//
// workflow knows no protocol: it never imports mailbox or a mail library.
// cmd/backstop turns parsed messages into [Inbound] values and delivers
// [OutMail] values through a [Transport].
//
// Abusive content is never logged: log records carry ids, classes and the
// addresses of team members only.
package workflow
