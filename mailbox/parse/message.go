package parse

import "time"

// Address is a mailbox as written in a header or a forwarded header block.
// Address is empty when the text names a person but gives no address; it is
// never guessed.
type Address struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// Kind says what a parsed message is, as far as its text tells.
type Kind string

// The kinds of message Parse distinguishes.
const (
	KindForward Kind = "forward" // carries one or more forwarded originals
	KindReply   Kind = "reply"   // answers an earlier message (In-Reply-To, quote header)
	KindOther   Kind = "other"   // neither
)

// Original is one message of a forwarded conversation, as the forward shows
// it: from a message/rfc822 part, an attached .eml, an inline header block
// or a quote header ("On …, X wrote:").
type Original struct {
	From    Address    `json:"from"`
	To      []Address  `json:"to"`
	Cc      []Address  `json:"cc"`
	Subject string     `json:"subject"`
	Date    *time.Time `json:"date"`     // nil when the text could not be read as a date
	DateRaw string     `json:"date_raw"` // the date exactly as written
	// MessageID is the original's Message-ID where the forward carries it
	// (attached messages); empty for inline forwards.
	MessageID string `json:"message_id,omitempty"`
	// Body is the original's own text, without the next quoted level.
	Body string `json:"body"`

	rule string // the rule that found it, for Explain
}

// Attachment describes one attachment; its content is not kept.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	// Unsupported is set for attachments that should be read but cannot be
	// (an Outlook .msg file); the reason is in the message's Warnings.
	Unsupported bool `json:"unsupported,omitempty"`
}

// Auto describes why a message was written by a machine rather than a
// person: an auto-reply, a bounce or a delivery report. The zero value means
// the message looks human.
type Auto struct {
	// Reason is a short description ("Auto-Submitted: auto-replied",
	// "multipart/report; report-type=delivery-status", "null sender"), empty
	// for a human message.
	Reason string `json:"reason,omitempty"`
	// Bounce is set for non-delivery and delivery status reports.
	Bounce bool `json:"bounce,omitempty"`
	// Recipients of a delivery status report (RFC 3464 Final-Recipient),
	// with their Action and Status.
	Failed []DeliveryStatus `json:"failed,omitempty"`
	// OriginalMessageID is the Message-ID of the message a report is about,
	// when the report includes its headers.
	OriginalMessageID string `json:"original_message_id,omitempty"`
}

// DeliveryStatus is one per-recipient block of a delivery status report
// (RFC 3464 section 2.3).
type DeliveryStatus struct {
	Recipient string `json:"recipient"`
	Action    string `json:"action"`
	Status    string `json:"status"`
}

// Message is a parsed message: its own headers, what kind it is, and what it
// carries. It is what `backstop parse` prints as JSON.
type Message struct {
	MessageID   string     `json:"message_id"`
	InReplyTo   []string   `json:"in_reply_to"`
	References  []string   `json:"references"`
	From        Address    `json:"from"`
	Sender      *Address   `json:"sender,omitempty"`
	ReplyTo     []Address  `json:"reply_to"`
	To          []Address  `json:"to"`
	Cc          []Address  `json:"cc"`
	DeliveredTo []string   `json:"delivered_to"` // Delivered-To and X-Original-To values
	ReturnPath  string     `json:"return_path"`  // "" for a null sender <>
	Date        *time.Time `json:"date"`
	Subject     string     `json:"subject"`
	// AuthResults holds the raw values of every Authentication-Results
	// header (RFC 8601), top first. Whose to trust is the caller's policy.
	AuthResults []string `json:"auth_results,omitempty"`
	Auto        Auto     `json:"auto"`

	Kind Kind `json:"kind"`
	// Note is what the forwarder wrote above the forward; empty when nothing.
	Note string `json:"note"`
	// Originals are the forwarded messages, outermost first (as they appear).
	Originals []Original `json:"originals"`
	// ReplyText is only what the sender wrote: no quoted text, no signature.
	ReplyText string `json:"reply_text"`
	// ReplyHTML is the sender's own text as the HTML part shows it, when
	// the message has both a plain-text and an HTML part and ReplyText was
	// read from the plain text: a reader of commands checks that both say
	// the same. Empty otherwise.
	ReplyHTML string `json:"-"`
	// Text is the whole readable text body (HTML converted).
	Text        string       `json:"-"`
	Attachments []Attachment `json:"attachments"`
	// Warnings are problems met while parsing that did not stop it
	// (unknown charset, invalid base64, limits reached).
	Warnings []string `json:"warnings"`

	how explanation // why it was read this way, for Explain
}
