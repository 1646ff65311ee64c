package mailtest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Message is a message as the server holds it.
type Message struct {
	UID   imap.UID
	Flags []imap.Flag
	Raw   []byte
}

// HasFlag reports whether the message carries flag, compared without
// regard to case (servers may return flags lower-cased).
func (m Message) HasFlag(flag imap.Flag) bool {
	return slices.ContainsFunc(m.Flags, func(f imap.Flag) bool {
		return strings.EqualFold(string(f), string(flag))
	})
}

// account is an administrative IMAP connection to a test server, used to
// seed and inspect mailboxes over the protocol itself. It is shared by the
// in-memory server and Dovecot so both offer the same helpers.
type account struct {
	t                  testing.TB
	addr               string
	username, password string

	mu     sync.Mutex
	client *imapclient.Client
}

func (a *account) init(t testing.TB, addr, username, password string) {
	a.t, a.addr, a.username, a.password = t, addr, username, password
	t.Cleanup(a.close)
}

func (a *account) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client != nil {
		a.client.Logout().Wait()
		a.client.Close()
		a.client = nil
	}
}

// dial opens a logged-in connection.
func dial(addr, username, password string, tlsConfig *tls.Config) (*imapclient.Client, error) {
	opts := &imapclient.Options{TLSConfig: tlsConfig}
	var (
		c   *imapclient.Client
		err error
	)
	if tlsConfig != nil {
		c, err = imapclient.DialTLS(addr, opts)
	} else {
		c, err = imapclient.DialInsecure(addr, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if err := c.Login(username, password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login to %s as %s: %w", addr, username, err)
	}
	return c, nil
}

// do runs f on the admin connection, reconnecting once if the connection
// was lost. It fails the test on error.
func (a *account) do(what string, f func(c *imapclient.Client) error) {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	var err error
	for try := 0; try < 2; try++ {
		if a.client == nil {
			a.client, err = dial(a.addr, a.username, a.password, nil)
			if err != nil {
				break
			}
		}
		err = f(a.client)
		// Right after a mailbox was deleted and created again, Dovecot
		// (maildir) may answer "Mailbox was deleted under us" for a moment.
		for wait := 0; err != nil && strings.Contains(err.Error(), "deleted under us") && wait < 40; wait++ {
			time.Sleep(50 * time.Millisecond)
			err = f(a.client)
		}
		var imapErr *imap.Error
		if err == nil || errors.As(err, &imapErr) {
			break
		}
		// A connection error: start over on a fresh connection.
		a.client.Close()
		a.client = nil
	}
	if err != nil {
		a.t.Fatalf("mailtest: %s: %v", what, err)
	}
}

// Separator returns the server's hierarchy delimiter, from LIST "" ""
// (RFC 9051 section 6.3.9); 0 for a flat namespace.
func (a *account) Separator() rune {
	a.t.Helper()
	var delim rune
	a.do(`list "" ""`, func(c *imapclient.Client) error {
		list, err := c.List("", "", nil).Collect()
		if len(list) > 0 {
			delim = list[0].Delim
		}
		return err
	})
	return delim
}

// Mailbox returns the server's name for a mailbox written with "/" between
// levels, as backstop's configuration writes it: backstop/processed is
// backstop.processed on a server that separates with ".".
func (a *account) Mailbox(name string) string {
	a.t.Helper()
	if d := a.Separator(); d != 0 && d != '/' {
		return strings.ReplaceAll(name, "/", string(d))
	}
	return name
}

// NewClient returns a new logged-in client of the test user on the
// plain-text address, closed when the test ends.
func (a *account) NewClient(t testing.TB) *imapclient.Client {
	t.Helper()
	c, err := dial(a.addr, a.username, a.password, nil)
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Append stores raw in mailbox (created if missing) with the given flags
// and returns its UID.
func (a *account) Append(mailbox string, raw []byte, flags ...imap.Flag) imap.UID {
	a.t.Helper()
	var uid imap.UID
	a.do("append to "+mailbox, func(c *imapclient.Client) error {
		for try := 0; ; try++ {
			data, err := appendMessage(c, mailbox, raw, flags)
			var imapErr *imap.Error
			if try == 0 && errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeTryCreate {
				if err := createMailbox(c, mailbox); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			uid = data.UID
			return nil
		}
	})
	return uid
}

func appendMessage(c *imapclient.Client, mailbox string, raw []byte, flags []imap.Flag) (*imap.AppendData, error) {
	cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: flags, Time: time.Now()})
	if _, err := cmd.Write(raw); err != nil {
		cmd.Close()
		cmd.Wait()
		return nil, err
	}
	if err := cmd.Close(); err != nil {
		cmd.Wait()
		return nil, err
	}
	return cmd.Wait()
}

func createMailbox(c *imapclient.Client, name string) error {
	err := c.Create(name, nil).Wait()
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	return err
}

// CreateMailbox creates a mailbox; an existing one is fine.
func (a *account) CreateMailbox(name string) {
	a.t.Helper()
	a.do("create "+name, func(c *imapclient.Client) error { return createMailbox(c, name) })
}

// DeleteMailbox deletes a mailbox and everything in it.
func (a *account) DeleteMailbox(name string) {
	a.t.Helper()
	a.do("delete "+name, func(c *imapclient.Client) error { return c.Delete(name).Wait() })
}

// RecreateMailbox deletes and creates the mailbox again, so that it gets
// a new UIDVALIDITY (RFC 9051 section 2.3.1.1). It returns the new value.
func (a *account) RecreateMailbox(name string) uint32 {
	a.t.Helper()
	old := a.UIDValidity(name)
	a.DeleteMailbox(name)
	// Dovecot answers the next command on a connection that had the
	// mailbox selected with "NO Mailbox was deleted under us": go on with
	// a new connection.
	a.close()
	a.CreateMailbox(name)
	v := a.UIDValidity(name)
	if v == old {
		a.t.Fatalf("mailtest: UIDVALIDITY of %s did not change on re-creation (%d)", name, v)
	}
	return v
}

// UIDValidity returns the mailbox's UIDVALIDITY.
func (a *account) UIDValidity(mailbox string) uint32 {
	a.t.Helper()
	var v uint32
	a.do("status "+mailbox, func(c *imapclient.Client) error {
		data, err := c.Status(mailbox, &imap.StatusOptions{UIDValidity: true}).Wait()
		if err != nil {
			return err
		}
		v = data.UIDValidity
		return nil
	})
	return v
}

// UIDs returns the UIDs of the messages in mailbox, ascending; nil when
// the mailbox is empty or does not exist.
func (a *account) UIDs(mailbox string) []imap.UID {
	a.t.Helper()
	var uids []imap.UID
	a.do("search "+mailbox, func(c *imapclient.Client) error {
		var err error
		uids, err = examine(c, mailbox, func() ([]imap.UID, error) {
			data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
			if err != nil {
				return nil, err
			}
			return data.AllUIDs(), nil
		})
		return err
	})
	slices.Sort(uids)
	return uids
}

// Messages returns the messages in mailbox with their flags and content,
// by ascending UID; nil when the mailbox is empty or does not exist.
func (a *account) Messages(mailbox string) []Message {
	a.t.Helper()
	var msgs []Message
	a.do("fetch "+mailbox, func(c *imapclient.Client) error {
		var err error
		msgs, err = examine(c, mailbox, func() ([]Message, error) {
			data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
			if err != nil || len(data.AllUIDs()) == 0 {
				return nil, err
			}
			section := &imap.FetchItemBodySection{Peek: true}
			bufs, err := c.Fetch(imap.UIDSetNum(data.AllUIDs()...), &imap.FetchOptions{
				UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section},
			}).Collect()
			if err != nil {
				return nil, err
			}
			var msgs []Message
			for _, b := range bufs {
				msgs = append(msgs, Message{UID: b.UID, Flags: b.Flags, Raw: b.FindBodySection(section)})
			}
			return msgs, nil
		})
		return err
	})
	slices.SortFunc(msgs, func(x, y Message) int { return int(x.UID) - int(y.UID) })
	return msgs
}

// examine opens mailbox read-only, runs f and closes the mailbox again. A
// mailbox that does not exist yields the zero value.
func examine[T any](c *imapclient.Client, mailbox string, f func() (T, error)) (T, error) {
	var zero T
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		var imapErr *imap.Error
		if errors.As(err, &imapErr) && imapErr.Type == imap.StatusResponseTypeNo {
			return zero, nil
		}
		return zero, err
	}
	v, err := f()
	if uerr := c.Unselect().Wait(); err == nil {
		err = uerr
	}
	return v, err
}
