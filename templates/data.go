package templates

import "time"

// Names of the templates backstop renders. Each has a text and an HTML
// version and a subject line.
const (
	// Internal emails.
	ReporterAck       = "reporter_ack"       // to the teammate who forwarded: a lead has it
	LeadNotice        = "lead_notice"        // to every lead: new incident, summary, content warning
	EvidenceAdded     = "evidence_added"     // to the leads: a new forward joined an open incident
	QuarantineNotice  = "quarantine_notice"  // to the leads: a message could not be processed
	CommandResult     = "command_result"     // receipt for a command: read, done/refused
	Help              = "help"               // the command list
	CustomerPreview   = "customer_preview"   // to the lead: the exact customer email and its send time
	UncertainDelivery = "uncertain_delivery" // to the leads: a customer email may or may not have gone out
	DeliveryFailed    = "delivery_failed"    // to the leads: an email was refused or bounced
	SecurityNotice    = "security_notice"    // to the leads: a command was refused for lack of verification
	ReporterOutcome   = "reporter_outcome"   // to the reporter: how it ended (resolved, severed, closed), or an apology
	WeeklyDigest      = "digest"             // to each lead, weekly: the whole picture, counts and ids only
	LeadReminder      = "reminder"           // to the leads (and head of support): an incident nobody acted on
	Checkin           = "checkin"            // to the reporter, days after the end: how are you?
	CheckinReply      = "checkin_reply"      // to the leads: the reporter answered the check-in
	HeldBack          = "held_back"          // to a recipient: the notices a rate cap held back, once it frees
	// Customer emails, sent on a lead's behalf.
	Boundary    = "boundary"     // this behaviour is not acceptable; what happens if it continues
	PartingWays = "parting_ways" // we are ending the relationship
	Escalation  = "escalation"   // to the customer's manager/HR: a factual summary
)

// Person is someone named in an email.
type Person struct {
	Name    string
	Address string
}

// Org is the organisation running backstop.
type Org struct {
	Name           string
	SupportAddress string
	Timezone       *time.Location
}

// Evidence is one message of a reported conversation, without its text.
type Evidence struct {
	From    Person
	Date    time.Time // zero when unknown
	DateRaw string
	Subject string
	Body    string // set only when the lead notice shows evidence inline
}

// Incident is the view of an incident that templates see.
type Incident struct {
	ID           string // "INC-7"
	State        string
	Subject      string
	Created      time.Time
	MessageCount int
	FirstDate    time.Time
	LastDate     time.Time
	Evidence     []Evidence
}

// Data is everything a template may use. Fields that do not apply to a
// template are zero.
type Data struct {
	Org          Org
	Incident     Incident
	Customer     Person
	Organisation string // the customer's organisation, "" for free-mail
	Reporter     Person
	Lead         Person   // the lead acting or assigned
	Recipient    Person   // who this email is for
	History      []string // one line per earlier incident with this customer/organisation
	Now          time.Time

	// EvidenceMode is "attach", "inline" or "none" (lead notice).
	EvidenceMode string

	// Command receipts.
	Command string // the command line as read
	Outcome string // "done", "refused", "unknown"
	Detail  string // what happened, or why refused
	// Allowed lists the commands that make sense now ("SEVER",
	// "ESCALATE <address> [name]", …). Set it on refusals; when set on
	// any internal email, it replaces that template's default command list.
	Allowed []string

	// Customer-email previews and scheduling.
	Preview  *Rendered // the exact customer email
	SendAt   time.Time
	Approver Person
	// EmailKind is the template name of the email this one is about: the
	// one in Preview (Boundary, PartingWays, Escalation), or the one a
	// delivery notice reports (any name). "" reads as "the email".
	EmailKind string
	// AwaitingApproval is true when a customer email waits for a second
	// lead's APPROVE before it is scheduled (SendAt is then zero).
	AwaitingApproval bool
	// BoundarySent is when the boundary email went to the customer; zero
	// if none has. Escalation and parting-ways emails refer to it.
	BoundarySent time.Time
	// EmailTo is who the email named by EmailKind goes (or went) to. When
	// empty, Render fills it in: Target for an escalation, Customer for a
	// boundary or parting-ways email.
	EmailTo Person

	// Escalation target (manager/HR).
	Target Person
	Note   string

	// Quarantine and delivery notices (never message content).
	Reason      string
	MessageFrom string
	MessageSubj string

	// Digest is the weekly digest's content (digest only).
	Digest *Digest
	// Reminder says why a reminder is sent (reminder only).
	Reminder *Reminder
}

// Rendered is a rendered email: subject, text and HTML bodies.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}
