package workflow

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// Person is someone named in an email.
type Person struct {
	Name    string
	Address string
}

// String formats p as a header would show it.
func (p Person) String() string {
	switch {
	case p.Name != "" && p.Address != "":
		return fmt.Sprintf("%s <%s>", p.Name, p.Address)
	case p.Address != "":
		return p.Address
	}
	return p.Name
}

// Inbound is an incoming message as workflow needs it: where it was found,
// its headers, and what the parser made of it. Message-IDs are without angle
// brackets.
type Inbound struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32 // 0 when the message does not come from IMAP

	MessageID string // "" when the message has none (a sha256 of Raw is then the dedupe key)
	Raw       []byte // the whole message; nil when TooLarge or spooled
	// Spool, when Raw is nil, holds the whole message (Size bytes): one too
	// large to hold in memory, read from a file. It is read only during
	// Desk.Handle; large messages are stored in chunks (chunks.go).
	Spool io.ReaderAt
	// SHA256 is the hex SHA-256 of the message, when the caller computed
	// it while reading; "" has the desk compute it.
	SHA256   string
	Size     int64
	TooLarge bool
	// spoolDigest is contentDigest of a spooled message, read once.
	spoolDigest string

	From        Person
	To, Cc      []Person
	DeliveredTo []string
	ReturnPath  string
	NullSender  bool // the envelope sender was <>
	Subject     string
	Date        time.Time
	InReplyTo   []string
	References  []string

	AutoReason       string // why the message was written by a machine, "" for a human
	Bounce           bool
	BounceRecipients []string
	BounceOriginalID string
	// BounceStatus holds the per-recipient blocks of a delivery status
	// report (RFC 3464 section 2.3), when the report has them. A report
	// whose blocks all say something other than "failed" (delayed,
	// delivered, relayed, expanded) does not mark an email undelivered.
	BounceStatus []DeliveryStatus
	AuthResults  []string // raw Authentication-Results values, top first
	// Auth is what the Authentication-Results headers say, top first, an
	// entry per header (cmd fills it from parse.ParseAuthResults; an
	// unreadable header is an entry with an empty ServID). Only the
	// entries at the top whose ServID is one of Config.TrustedAuthServIDs
	// are believed, down to the first that is not.
	Auth []AuthResult

	Kind      string // "forward", "reply", "other"
	Text      string // the whole readable text (HTML converted): the evidence when no original can be read
	Note      string // what the forwarder wrote above the forward
	Originals []Original
	ReplyText string
	// ReplyHTML is the sender's text as the HTML part shows it, when the
	// message has both parts and ReplyText is the plain text's: commands
	// count only when both carry the same.
	ReplyHTML   string
	Attachments []string // "name (type, size)" lines, for the audit trail
	Warnings    []string
	ParseError  string // non-empty: the message could not be parsed and is quarantined
}

// AuthResult is one Authentication-Results header (RFC 8601): the server
// that added it and the domains for which DMARC and DKIM passed, all
// lower-cased.
type AuthResult struct {
	ServID    string   // the authserv-id
	DMARCPass []string // header.from domains with dmarc=pass
	DKIMPass  []string // header.d domains with dkim=pass
	DMARCFail []string // header.from domains with another dmarc result
	DKIMFail  []string // header.d domains with another dkim result
}

// DeliveryStatus is one recipient block of a delivery status report.
type DeliveryStatus struct {
	Recipient string
	Action    string // failed, delayed, delivered, relayed, expanded
	Status    string // e.g. "5.1.1"
}

// Original is one forwarded message, outermost first in Inbound.Originals.
type Original struct {
	From      Person
	To, Cc    []Person
	Subject   string
	Date      time.Time // zero when unknown
	DateRaw   string
	MessageID string
	Body      string
}

// Disposition is what became of an incoming message: where the watcher
// files it.
type Disposition int

// Dispositions of a handled message.
const (
	// Processed messages were recorded and acted on (or deliberately not
	// answered, like auto-replies).
	Processed Disposition = iota + 1
	// Quarantined messages could not be processed or came from outside
	// the team; they are recorded and the leads are told.
	Quarantined
)

// String returns "processed" or "quarantined".
func (d Disposition) String() string {
	switch d {
	case Processed:
		return "processed"
	case Quarantined:
		return "quarantined"
	}
	return fmt.Sprintf("Disposition(%d)", int(d))
}

func parseDisposition(s string) (Disposition, error) {
	switch s {
	case "processed":
		return Processed, nil
	case "quarantined":
		return Quarantined, nil
	}
	return 0, fmt.Errorf("unknown disposition %q in the database", s)
}

// Incident states (the names the templates know). An incident is open
// until it is resolved or closed; a severed incident is still open for new
// evidence. Incidents open as reported; the lead commands move them on
// (see the command table in commandtable.go).
const (
	StateReported     = "reported"
	StateAcknowledged = "acknowledged"
	StateBoundarySent = "boundary_sent"
	StateEscalated    = "escalated"
	StateSevered      = "severed"
	StateResolved     = "resolved"
	StateClosed       = "closed"
)

// IsOpen reports whether an incident in state takes new evidence.
func IsOpen(state string) bool {
	return state != StateResolved && state != StateClosed
}

// Message classes: what an incoming message was taken to be.
const (
	ClassForward   = "forward"   // a team member's forward: evidence on an incident
	ClassReply     = "reply"     // a reply to backstop's email, recorded on its incident
	ClassOutsider  = "outsider"  // from outside the team: quarantined
	ClassUnmatched = "unmatched" // no longer recorded: a team member's mail is always a report (reportUnread)
	ClassAuto      = "auto"      // auto-reply, out-of-office, list mail, backstop's own mail
	ClassBounce    = "bounce"    // non-delivery or delivery status report
	ClassMalformed = "malformed" // could not be parsed
	ClassTooLarge  = "too_large" // over the size limit, not downloaded
	// ClassUnverified is a reply carrying commands whose sender could not
	// be verified: quarantined, nothing done, the leads told.
	ClassUnverified = "unverified"
)

// Event kinds of the audit trail.
const (
	EventReported       = "reported"        // a forward opened the incident
	EventEvidence       = "evidence"        // a forward added evidence
	EventNote           = "note"            // NOTE, or a reply to backstop's email without a command
	EventQuarantined    = "quarantined"     // a message was quarantined
	EventAuto           = "auto"            // an auto-reply or bounce concerning the incident
	EventMailQueued     = "mail_queued"     // an email was put in the outbox
	EventMailSuppressed = "mail_suppressed" // no longer written: a capped notice is held back (EventNoticeHeldBack)
	EventMailSent       = "mail_sent"       // an email was delivered to the SMTP server
	EventMailFailed     = "mail_failed"     // an email was refused or gave up on
	EventMailUncertain  = "mail_uncertain"  // a crash during sending: it may or may not have gone out
	EventMailCancelled  = "mail_cancelled"  // CANCEL stopped a held email
	EventMailBounced    = "mail_bounced"    // a bounce came back for a sent email
	EventMailResent     = "mail_resent"     // RESEND queued an uncertain or failed email again
	EventCommand        = "command"         // a lead's or reporter's command was carried out
	EventRefused        = "refused"         // a command was refused: unverified sender, role or state
	EventState          = "state"           // the incident's state changed: "acknowledged → boundary_sent"
)

// Outbox states. The dispatcher moves a row queued → sending → sent; a
// temporary failure puts it back to queued with a later not_before; a
// permanent one (or MaxAge) makes it failed. held is a customer email
// waiting out its hold window (or a reporter's outcome note held with it):
// it is sent like a queued row once not_before has passed, unless CANCEL
// made it cancelled first. awaiting_approval is a parting-ways email under
// the two-person rule: never sent until a second lead's APPROVE makes it
// held. A row found in sending at start was interrupted: an internal email
// goes back to queued (resent with the same Message-ID), a customer email
// becomes uncertain and is never resent automatically (RESEND queues it
// again, same Message-ID). bounced is a sent email a bounce came back for.
const (
	OutQueued           = "queued"
	OutHeld             = "held"
	OutAwaitingApproval = "awaiting_approval"
	OutSending          = "sending"
	OutSent             = "sent"
	OutFailed           = "failed"
	OutBounced          = "bounced"
	OutCancelled        = "cancelled"
	OutUncertain        = "uncertain"
)

// OutMail is an email in the outbox, ready to be composed. Message-IDs are
// without angle brackets.
type OutMail struct {
	ID         int64 // outbox row id
	IncidentID int64 // 0 for notices about no incident (quarantine)
	Template   string
	Customer   bool // sent to a customer on a lead's behalf

	EnvelopeFrom string
	Rcpt         []string

	From          Person
	Sender        *Person
	To, Cc        []Person
	ReplyTo       []Person
	Subject       string
	MessageID     string
	InReplyTo     string
	References    []string
	AutoSubmitted string      // "auto-generated" on notices (RFC 3834)
	Headers       [][2]string // further header fields
	Text, HTML    string
	Attachments   []Attachment
	Created       time.Time
}

// Attachment is a file attached to an OutMail.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
	// Open, when set instead of Data, reads a stored message of Size
	// bytes one chunk at a time (Store.OpenRaw): a large evidence
	// attachment is streamed, never held. It may be called more than
	// once; a read error means the stored message was altered. It reads
	// through the store's one connection: never call it inside a store
	// transaction.
	Open func(ctx context.Context) (io.ReadCloser, error)
	Size int64
}

// Transport delivers an email. An error that retrying may fix reports
// Temporary() == true (found with errors.As); any other error is permanent.
type Transport interface {
	Deliver(ctx context.Context, m *OutMail) error
}

// Incident is an incident as stored.
type Incident struct {
	ID                int64
	State             string
	Customer          Person // Address "" when the forward did not show it
	Organisation      string // "" for free-mail customers
	Reporter          Person
	Lead              Person // the assigned lead, zero when none
	Subject           string
	CustomerMessageID string // the latest original's Message-ID, when known
	HandedOff         bool
	Messages          int       // forwarded originals recorded as evidence
	FirstMessage      time.Time // date of the earliest original, zero when unknown
	LastMessage       time.Time // date of the latest original, zero when unknown
	Created           time.Time
	Updated           time.Time
	Closed            time.Time // zero while open
	Severed           time.Time // when SEVER took effect; zero if never (or cancelled)
}

// Ref returns the human id, "INC-7".
func (in *Incident) Ref() string { return Ref(in.ID) }

// Ref returns the human id of incident id, "INC-7".
func Ref(id int64) string { return fmt.Sprintf("INC-%d", id) }

// Event is one entry of the audit trail: who did what, when, through which
// message.
type Event struct {
	ID         int64
	IncidentID int64 // 0 for events about no incident (quarantine)
	At         time.Time
	Actor      string // an address, or "backstop"
	Kind       string
	Detail     string
	MessageID  string // the Message-ID of the email that caused it or was sent
	PrevHash   string // the hash of the event before it in its chain ("" for the first)
	Hash       string // SHA-256 of PrevHash and this event's content (see Store.Verify)
}

// OutboxRow is an outbox entry as the CLI lists it.
type OutboxRow struct {
	ID         int64
	IncidentID int64
	Template   string
	Customer   bool
	Recipient  string
	Subject    string
	MessageID  string
	State      string
	NotBefore  time.Time
	Attempts   int
	LastError  string
	Created    time.Time
	Sent       time.Time // zero until sent
	// Customer emails: the lead whose command queued it, the second lead
	// who approved it (two-person rule), and the incident's state before
	// the command (CANCEL restores it).
	RequestedBy string
	ApprovedBy  string
	PrevState   string
}

// Stats counts what the store holds.
type Stats struct {
	Incidents     int
	OpenIncidents int
	ByState       map[string]int // incidents by state
	Messages      map[string]int // messages by class
	Quarantined   int            // messages quarantined
	Outbox        map[string]int // outbox rows by state
}

// Actor is the actor of events backstop causes itself.
const Actor = "backstop"

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
