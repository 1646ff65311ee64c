package mailbox

import (
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// namespace is how the server names mailboxes: its hierarchy delimiter and
// the prefix of the personal namespace (RFC 2342; "INBOX." on servers that
// keep every mailbox under INBOX).
type namespace struct {
	delim  rune // 0: the server has a flat namespace
	prefix string
}

// String describes the namespace for logs and check-config.
func (ns namespace) String() string {
	d := "none (flat)"
	if ns.delim != 0 {
		d = fmt.Sprintf("%q", string(ns.delim))
	}
	if ns.prefix == "" {
		return "hierarchy separator " + d
	}
	return fmt.Sprintf("hierarchy separator %s, personal namespace %q", d, ns.prefix)
}

// serverName turns a configured mailbox name into the server's: "/" in the
// configuration means "the server's separator", so backstop/processed
// becomes backstop.processed where the separator is ".". A name already
// written with the server's separator is kept. Under a personal namespace
// prefix (Courier, Cyrus with altnamespace off: "INBOX.") the prefix is
// added unless the name has it. INBOX is INBOX everywhere (RFC 9051
// section 5.1).
func (ns namespace) serverName(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if ns.delim != 0 && ns.delim != '/' {
		name = strings.ReplaceAll(name, "/", string(ns.delim))
	}
	if ns.prefix != "" && !hasPrefixFold(name, ns.prefix) && !hasPrefixFold(name, "INBOX"+string(ns.delim)) {
		name = ns.prefix + name
	}
	return name
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// learnNamespace asks the server how it names mailboxes: NAMESPACE
// (RFC 2342, part of IMAP4rev2) when offered, else LIST "" "", which
// returns the hierarchy delimiter of the root (RFC 9051 section 6.3.9).
func (s *session) learnNamespace() error {
	if s.caps.Has(imap.CapNamespace) || s.caps.Has(imap.CapIMAP4rev2) {
		var data *imap.NamespaceData
		err := s.run("namespace", func() error {
			var err error
			data, err = s.c.Namespace().Wait()
			return err
		})
		if err == nil && len(data.Personal) > 0 {
			s.ns = namespace{delim: data.Personal[0].Delim, prefix: data.Personal[0].Prefix}
			return nil
		}
	}
	return s.run(`list "" ""`, func() error {
		list, err := s.c.List("", "", nil).Collect()
		if err != nil {
			return err
		}
		if len(list) > 0 {
			s.ns = namespace{delim: list[0].Delim}
		}
		return nil
	})
}

// mailboxInfo is what LIST says about one mailbox.
type mailboxInfo struct {
	exists bool // listed and selectable
	attrs  []imap.MailboxAttr
}

// lookup lists one mailbox by its server name. LIST of a name holding
// the wildcards * or % would match others: those names are only found
// among the results by exact comparison.
func (s *session) lookup(name string) (mailboxInfo, error) {
	var info mailboxInfo
	err := s.run("list "+name, func() error {
		list, err := s.c.List("", name, nil).Collect()
		if err != nil {
			return err
		}
		for _, l := range list {
			if l.Mailbox == name || (strings.EqualFold(name, "INBOX") && strings.EqualFold(l.Mailbox, "INBOX")) {
				info.attrs = l.Attrs
				info.exists = !slices.Contains(l.Attrs, imap.MailboxAttrNoSelect) && !slices.Contains(l.Attrs, imap.MailboxAttrNonExistent)
			}
		}
		return nil
	})
	return info, err
}

// purgedUses are the special uses (RFC 6154) of mailboxes that servers
// and mail clients empty on their own: a bad place to keep evidence.
var purgedUses = []imap.MailboxAttr{imap.MailboxAttrTrash, imap.MailboxAttrJunk}

// specialUseWarning says why a mailbox is a bad place for backstop's
// messages, or "" when it is fine.
func specialUseWarning(info mailboxInfo) string {
	for _, a := range info.attrs {
		for _, p := range purgedUses {
			if strings.EqualFold(string(a), string(p)) {
				return fmt.Sprintf("the server marks it %s (RFC 6154): servers and mail clients empty such mailboxes on their own; choose another", a)
			}
		}
	}
	return ""
}

// MailboxCheck is what check-config found about one configured mailbox.
type MailboxCheck struct {
	// Key is the configuration key (imap.mailbox, imap.processed_mailbox, …).
	Key string
	// Configured is the name as written in the configuration, Server the
	// name on the server.
	Configured, Server string
	// Status is "exists" or "created".
	Status string
	// Warning is set when the mailbox works but should be changed.
	Warning string
}

// mailboxKeys names the configuration keys of the mailboxes, for errors.
type mailboxKeys struct{ watched, processed, quarantine string }

// defaultMailboxKeys are backstop's configuration keys.
var defaultMailboxKeys = mailboxKeys{"imap.mailbox", "imap.processed_mailbox", "imap.quarantine_mailbox"}
