package workflow

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Config is what the desk needs to know about the organisation and its
// people.
type Config struct {
	OrgName        string
	SupportAddress string
	Timezone       *time.Location // dates in emails; nil = UTC

	// Escalations is the watched address, e.g. escalations@acme.example.
	// Replies come back to local+TOKEN@domain and backstop's Message-IDs
	// end in @domain.
	Escalations string
	// EnvelopeSender is the MAIL FROM of backstop's email. Empty or equal
	// to Escalations: local+bounce-ID@domain, so that a bounce names the
	// outbox row it is about; any other address is used as it is.
	EnvelopeSender string
	// CustomerBounceAddress is the MAIL FROM of customer emails, as
	// local+bounce-ID-SIG@domain; it must be delivered into the watched
	// mailbox. Empty: SupportAddress as it is (bounces then reach the
	// support inbox). Never Escalations: customers would learn it.
	CustomerBounceAddress string
	// FromName is the display name of backstop's From. Default "Backstop".
	FromName string

	Leads []Person
	// TeamDomains and TeamAddresses say who may report an incident.
	// Leads may always report.
	TeamDomains   []string
	TeamAddresses []string

	// Secret is the HMAC key of reply tokens (at least 32 bytes).
	Secret []byte

	// ChunkSize is the size of the sealed chunks a message larger than it
	// is stored in, so that it is never held whole (default
	// DefaultChunkSize, 1 MiB). Tests set it small.
	ChunkSize int

	// Evidence is how notices carry the reported conversation: "attach"
	// (default, a .eml attachment), "inline" (in the body, below the
	// content warning) or "none".
	Evidence string

	// Loop brakes: at most this many emails per incident, and per
	// recipient, per hour (defaults 20 and 30). Quarantine notices have
	// their own cap per recipient (default 10) so that a flood of spam
	// cannot use up the leads' allowance for real incidents.
	MaxPerIncidentHour  int
	MaxPerRecipientHour int
	MaxQuarantineHour   int

	// FreeMailDomains are added to the built-in list of free-mail domains,
	// whose users get no organisation.
	FreeMailDomains []string

	// Verify is what proves that a command comes from its From address:
	// "token" (the reply carries the reply token backstop issued to that
	// address for that incident), "domain" (an Authentication-Results
	// header from a trusted server shows DMARC, or DKIM aligned with the
	// From domain, passing) or "both" (the default).
	Verify string
	// TrustedAuthServIDs are the authserv-ids of the organisation's own
	// receiving servers (RFC 8601 section 5): Authentication-Results
	// headers from any other server are ignored. Required unless Verify is
	// "token".
	TrustedAuthServIDs []string
	// Hold is how long a customer email waits, cancellable with CANCEL,
	// before it is sent. 0 sends at once. (cmd/backstop applies the
	// configuration's default of 10 minutes; workflow takes the value as
	// given.)
	Hold time.Duration
	// SeverApprovals is how many leads must agree to a SEVER: 1 (0 means 1)
	// or 2 (a second lead's APPROVE starts the hold).
	SeverApprovals int
	// CustomerReplyTo is where customers' answers to customer emails go:
	// "support" (the default: SupportAddress) or "lead" (the lead who sent
	// it).
	CustomerReplyTo string

	// Time is the weekly digest, reminders and check-ins (timecfg.go).
	Time TimeConfig

	Now    func() time.Time // nil = time.Now
	Logger *slog.Logger     // nil = slog.Default()
	// Observer, when set, is told what each message led to once its
	// transaction committed (metrics).
	Observer Observer
}

// Observer is told what the desk did with each message, after the
// message's transaction committed; never about a duplicate. Its methods
// are called synchronously and must not block. It carries no content and
// no addresses.
type Observer interface {
	// CommandDone reports one command line: its canonical verb (CmdSever,
	// …) and outcome: "done", "refused" (verified sender, but not allowed
	// now; or sender not verified) or "unknown" (not understood).
	CommandDone(verb, outcome string)
}

// Evidence modes.
const (
	EvidenceAttach = "attach"
	EvidenceInline = "inline"
	EvidenceNone   = "none"
)

// Verification policies (Config.Verify).
const (
	VerifyByToken  = "token"
	VerifyByDomain = "domain"
	VerifyByBoth   = "both"
)

// Where customers' answers go (Config.CustomerReplyTo).
const (
	ReplyToSupport = "support"
	ReplyToLead    = "lead"
)

// Defaults of the caps.
const (
	DefaultMaxPerIncidentHour  = 20
	DefaultMaxPerRecipientHour = 30
	DefaultMaxQuarantineHour   = 10
)

// Validate reports every problem with c, one per line, each saying what to
// fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	esc := lower(c.Escalations)
	if esc == "" {
		bad("escalations", "the watched address is required (e.g. escalations@acme.example)")
	} else if l, d, ok := splitAddress(esc); !ok || l == "" || d == "" || strings.Contains(l, "+") {
		bad("escalations", "%q is not a plain address like escalations@acme.example", c.Escalations)
	}
	if b := c.CustomerBounceAddress; b != "" {
		if l, _, ok := splitAddress(b); !ok || strings.Contains(l, "+") {
			bad("customer bounce address", "%q is not a plain address like bounces@acme.example", b)
		} else if sameMailbox(b, c.Escalations) {
			bad("customer bounce address", "must not be the escalations address: customers would learn where reports go")
		}
	}
	if c.EnvelopeSender != "" {
		if _, _, ok := splitAddress(c.EnvelopeSender); !ok {
			bad("envelope sender", "%q is not an address", c.EnvelopeSender)
		}
	}
	if len(c.Leads) == 0 {
		bad("leads", "at least one lead is required")
	}
	for i, l := range c.Leads {
		switch {
		case strings.TrimSpace(l.Address) == "":
			bad(fmt.Sprintf("leads[%d]", i), "the address is missing")
		case !isAddress(l.Address):
			bad(fmt.Sprintf("leads[%d]", i), "%q is not an address", l.Address)
		case esc != "" && sameMailbox(l.Address, esc):
			bad(fmt.Sprintf("leads[%d]", i), "%s is the escalations address itself: that would make a mail loop", l.Address)
		}
	}
	for i, a := range c.TeamAddresses {
		switch {
		case !isAddress(a):
			bad(fmt.Sprintf("team addresses[%d]", i), "%q is not an address", a)
		case esc != "" && sameMailbox(a, esc):
			bad(fmt.Sprintf("team addresses[%d]", i), "%s is the escalations address itself", a)
		}
	}
	for i, d := range c.TeamDomains {
		d = lower(d)
		if d == "" || strings.ContainsAny(d, "@ ") || !strings.Contains(d, ".") {
			bad(fmt.Sprintf("team domains[%d]", i), "%q is not a domain like acme.example", c.TeamDomains[i])
		} else if isFreeMail(d, c.FreeMailDomains) {
			bad(fmt.Sprintf("team domains[%d]", i), "%s is a free-mail domain: anyone could report; list your team's addresses in team addresses instead", d)
		}
	}
	if len(c.Secret) < 32 {
		bad("secret", "the reply-token secret is %d bytes; use at least 32 random bytes", len(c.Secret))
	}
	switch c.Evidence {
	case "", EvidenceAttach, EvidenceInline, EvidenceNone:
	default:
		bad("evidence", "is %q; use attach, inline or none", c.Evidence)
	}
	if c.MaxPerIncidentHour < 0 || c.MaxPerRecipientHour < 0 || c.MaxQuarantineHour < 0 {
		bad("caps", "emails per hour must be positive (0 = the default)")
	}
	if sa := strings.TrimSpace(c.SupportAddress); sa == "" {
		bad("support address", "is required: customer emails are sent from it (e.g. support@acme.example)")
	} else if !isAddress(sa) {
		bad("support address", "%q is not an address", c.SupportAddress)
	} else if esc != "" && sameMailbox(sa, esc) {
		bad("support address", "%s is the escalations address: customers' answers would come back to backstop", sa)
	}
	switch c.Verify {
	case "", VerifyByToken, VerifyByDomain, VerifyByBoth:
	default:
		bad("commands verify", "is %q; use token, domain or both", c.Verify)
	}
	if c.Verify != VerifyByToken && len(c.TrustedAuthServIDs) == 0 {
		v := c.Verify
		if v == "" {
			v = VerifyByBoth
		}
		bad("commands trusted authserv-ids", "are required when verify is %s: name your receiving server's authserv-id (the first word of its Authentication-Results headers), or verify by token only", v)
	}
	for i, id := range c.TrustedAuthServIDs {
		if strings.TrimSpace(id) == "" || strings.ContainsAny(strings.TrimSpace(id), " ;") {
			bad(fmt.Sprintf("commands trusted authserv-ids[%d]", i), "%q is not an authserv-id (one word, such as mx.acme.example)", id)
		}
	}
	if c.Hold < 0 {
		bad("commands hold", "is %s; use 0 (send at once) or a positive duration", c.Hold)
	}
	switch c.SeverApprovals {
	case 0, 1:
	case 2:
		if len(c.Leads) < 2 {
			bad("commands sever approvals", "is 2, but there is only %d lead: a second lead could never approve; add a lead or use 1", len(c.Leads))
		}
	default:
		bad("commands sever approvals", "is %d; use 1 or 2", c.SeverApprovals)
	}
	switch c.CustomerReplyTo {
	case "", ReplyToSupport, ReplyToLead:
	default:
		bad("commands customer reply-to", "is %q; use support or lead", c.CustomerReplyTo)
	}
	c.Time.validate(c, bad)
	return errors.Join(errs...)
}

// withDefaults returns c with its zero values filled in.
func (c Config) withDefaults() Config {
	if c.Timezone == nil {
		c.Timezone = time.UTC
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.FromName == "" {
		c.FromName = "Backstop"
	}
	if c.Evidence == "" {
		c.Evidence = EvidenceAttach
	}
	if c.MaxPerIncidentHour == 0 {
		c.MaxPerIncidentHour = DefaultMaxPerIncidentHour
	}
	if c.MaxPerRecipientHour == 0 {
		c.MaxPerRecipientHour = DefaultMaxPerRecipientHour
	}
	if c.MaxQuarantineHour == 0 {
		c.MaxQuarantineHour = DefaultMaxQuarantineHour
	}
	if c.Verify == "" {
		c.Verify = VerifyByBoth
	}
	if c.SeverApprovals == 0 {
		c.SeverApprovals = 1
	}
	if c.CustomerReplyTo == "" {
		c.CustomerReplyTo = ReplyToSupport
	}
	c.SupportAddress = strings.TrimSpace(c.SupportAddress)
	c.Time = c.Time.withDefaults(c.Timezone)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// splitAddress splits a lower-cased address into local part and domain.
func splitAddress(addr string) (local, domain string, ok bool) {
	addr = lower(addr)
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}

func isAddress(addr string) bool {
	l, d, ok := splitAddress(addr)
	return ok && l != "" && d != "" && !strings.ContainsAny(addr, " <>")
}

// domainOf returns the lower-cased domain of addr, "" when it has none.
func domainOf(addr string) string {
	_, d, _ := splitAddress(addr)
	return d
}

// sameMailbox reports whether a and b are the same mailbox, ignoring case
// and a +tag in the local part.
func sameMailbox(a, b string) bool {
	la, da, ok1 := splitAddress(a)
	lb, db, ok2 := splitAddress(b)
	if !ok1 || !ok2 || da != db {
		return false
	}
	if i := strings.IndexByte(la, '+'); i >= 0 {
		la = la[:i]
	}
	if i := strings.IndexByte(lb, '+'); i >= 0 {
		lb = lb[:i]
	}
	return la == lb
}

// freeMail lists domains whose users are private people, not an
// organisation. A trailing ".*" matches any top-level suffix.
var freeMail = []string{
	"gmail.com", "googlemail.com", "outlook.com", "outlook.*", "hotmail.*", "live.*", "msn.com",
	"windowslive.com", "passport.com",
	"yahoo.*", "ymail.com", "rocketmail.com", "aol.*", "aim.com", "icloud.com", "me.com", "mac.com",
	"proton.me", "protonmail.com", "protonmail.ch", "pm.me", "tutanota.com", "tutanota.de", "tuta.io", "tutamail.com",
	"gmx.*", "web.de", "freenet.de", "t-online.de", "posteo.de", "posteo.net", "mailbox.org",
	"mail.ru", "inbox.ru", "list.ru", "bk.ru", "rambler.ru", "yandex.*", "ya.ru",
	"qq.com", "163.com", "126.com", "yeah.net", "sina.com", "sohu.com", "aliyun.com",
	"naver.com", "hanmail.net", "daum.net", "nate.com",
	"orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr", "neuf.fr",
	"libero.it", "virgilio.it", "tiscali.it", "alice.it", "tin.it",
	"seznam.cz", "centrum.cz", "wp.pl", "o2.pl", "onet.pl", "interia.pl",
	"zoho.com", "zohomail.com", "fastmail.com", "fastmail.fm", "hey.com", "hushmail.com",
	"mail.com", "email.com", "usa.com", "inbox.com", "lycos.com", "rediffmail.com",
	"btinternet.com", "sky.com", "virginmedia.com", "ntlworld.com", "talktalk.net",
	"comcast.net", "verizon.net", "att.net", "sbcglobal.net", "bellsouth.net", "cox.net", "charter.net",
	"shaw.ca", "rogers.com", "sympatico.ca", "bigpond.com", "optusnet.com.au",
	"uol.com.br", "bol.com.br", "terra.com.br", "ig.com.br",
	"rediff.com", "yopmail.com", "mailinator.com", "guerrillamail.com",
}

// isFreeMail reports whether domain belongs to a free-mail provider.
func isFreeMail(domain string, extra []string) bool {
	domain = lower(domain)
	match := func(pat string) bool {
		pat = lower(pat)
		if base, ok := strings.CutSuffix(pat, ".*"); ok {
			rest, ok := strings.CutPrefix(domain, base+".")
			// hotmail.co.uk, yahoo.de: one or two labels of suffix.
			return ok && rest != "" && strings.Count(rest, ".") <= 1
		}
		return domain == pat
	}
	for _, p := range freeMail {
		if match(p) {
			return true
		}
	}
	for _, p := range extra {
		if match(p) {
			return true
		}
	}
	return false
}

// organisationOf returns the organisation of a customer address: its domain,
// or "" for free-mail and unknown addresses.
func organisationOf(addr string, extra []string) string {
	d := domainOf(addr)
	if d == "" || isFreeMail(d, extra) {
		return ""
	}
	return d
}
