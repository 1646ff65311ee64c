package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
)

// IMAPConfig says which mailbox to watch and how. Zero fields take the
// defaults documented on each; tests set the tunables small.
type IMAPConfig struct {
	// Addr is the server's host:port.
	Addr string
	// TLS is how the connection is secured (default TLSImplicit).
	// TLSNone is refused unless Addr is a loopback address.
	TLS TLSMode
	// TLSConfig is used for TLSImplicit and TLSStartTLS; nil means the
	// system roots. ServerName defaults to the host of Addr.
	TLSConfig *tls.Config
	// Username and Password log in (IMAP LOGIN, RFC 9051 section 6.2.3).
	Username, Password string
	// Auth, when set, logs in with SASL (AUTHENTICATE, RFC 9051 section
	// 6.2.2) instead of LOGIN: OAuth2 with XOAUTH2 or OAUTHBEARER.
	Auth TokenSource

	// Mailbox is the mailbox watched for new messages (default "INBOX").
	Mailbox string
	// Processed receives messages once their outcome is committed
	// (default "Processed"); Quarantine receives messages that could not
	// be processed (default "Quarantine"). Both are created when missing.
	Processed, Quarantine string

	// PollInterval is how often the mailbox is polled with NOOP when the
	// server lacks IDLE (default 1m).
	PollInterval time.Duration
	// IdleRestart is how long one IDLE lasts at most before it is
	// re-issued and the mailbox re-synchronised (default and maximum 25m;
	// RFC 2177 asks for less than 29m). Keepalive is usually shorter.
	IdleRestart time.Duration
	// Keepalive is how long the connection may stay quiet before IDLE is
	// ended and re-issued (or, without IDLE, a NOOP sent), to prove the
	// connection still works (default 1m40s). The server must answer
	// within KeepaliveTimeout (default 20s): a connection a NAT or
	// firewall dropped silently is noticed within Keepalive +
	// KeepaliveTimeout, 2 minutes by default.
	Keepalive, KeepaliveTimeout time.Duration
	// CommandTimeout bounds how long the watcher waits for any server
	// response, or for progress while a message is downloaded (default
	// 2m). On expiry the connection is closed and opened again.
	CommandTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before reconnecting or
	// retrying a failed handler (defaults 1s and 25s: processing resumes
	// within 30 seconds of a server coming back after any outage). The
	// delay doubles with each attempt, with full jitter.
	MinBackoff, MaxBackoff time.Duration
	// PermanentRetry is the delay before trying again after a
	// PermanentError (default 15m): a refused password is not tried in a
	// loop that would lock the account.
	PermanentRetry time.Duration
	// Sleep waits for d or until ctx is done and reports whether d
	// elapsed; nil means the real clock. Tests run the reconnect loop on
	// virtual time with it.
	Sleep func(ctx context.Context, d time.Duration) bool
	// MaxMessageSize is the largest message downloaded (default 50 MiB).
	// Larger ones are delivered with TooLarge set and no body.
	MaxMessageSize int64
	// SpoolAbove is the size above which a message is streamed to a
	// temporary file in SpoolDir rather than held in memory (default
	// DefaultSpoolAbove, 1 MiB; negative: every message). SpoolDir
	// defaults to os.TempDir().
	SpoolAbove int64
	SpoolDir   string
	// FetchWindow is how many waiting messages are fetched with one UID
	// FETCH and, once each is committed, moved with one UID MOVE (default
	// 128).
	FetchWindow int

	// Logger receives one line per connection attempt, per message and per
	// problem: UIDs, sizes and errors, never message content (default
	// slog.Default()).
	Logger *slog.Logger
}

// Defaults for the zero fields of IMAPConfig.
const (
	DefaultIMAPMailbox       = "INBOX"
	DefaultProcessedMailbox  = "Processed"
	DefaultQuarantineMailbox = "Quarantine"
	DefaultPollInterval      = time.Minute
	DefaultIdleRestart       = 25 * time.Minute
	DefaultKeepalive         = 100 * time.Second
	DefaultKeepaliveTimeout  = 20 * time.Second
	DefaultCommandTimeout    = 2 * time.Minute
	DefaultMinBackoff        = time.Second
	DefaultMaxBackoff        = 25 * time.Second
	DefaultPermanentRetry    = 15 * time.Minute
	DefaultMaxMessageSize    = 50 << 20
	DefaultFetchWindow       = 128
)

// The keywords that mark a handled message on a server that offers neither
// MOVE nor UIDPLUS, where it cannot be moved without a plain EXPUNGE.
const (
	KeywordProcessed   imap.Flag = "$BackstopProcessed"
	KeywordQuarantined imap.Flag = "$BackstopQuarantined"
)

const (
	maxIdleRestart  = 25 * time.Minute
	abortReaderWait = 5 * time.Second
)

// Delivery is one message handed to the Handler.
type Delivery struct {
	// Mailbox, UIDValidity and UID identify the message on the server
	// (RFC 9051 section 2.3.1.1).
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	// Size is the message's size in bytes: RFC822.SIZE, and exactly
	// len(Raw) when Raw is set.
	Size int64
	// Raw is the whole message as the server stores it, read completely
	// (never a truncated body); nil when TooLarge or spooled.
	Raw []byte
	// Spool holds the message instead of Raw when it is larger than
	// IMAPConfig.SpoolAbove: a temporary file (mode 0600, already removed
	// from its directory), read completely, closed once the handler
	// returned. Body reads either.
	Spool io.ReaderAt
	// SHA256 is the hex SHA-256 of a spooled message, computed as it was
	// read; "" otherwise.
	SHA256 string
	spool  *sealedFile // Spool, to close
	// TooLarge is set when Size exceeds IMAPConfig.MaxMessageSize: the body
	// was not downloaded.
	TooLarge bool
	// Unreadable is set, with the server's last answer, when the server
	// refused to return the message MaxFetchFailures times in a row (a
	// damaged message on the server). Raw is nil; the handler records and
	// quarantines it rather than letting it block the mailbox forever.
	Unreadable string
	// Redelivered is set for a message at or below the checkpoint: its
	// outcome was committed before but it was not moved yet (a crash or a
	// lost connection in between). The handler returns the recorded
	// disposition without acting again.
	Redelivered bool
	// Prepared is what a Preparer's Prepare left for Handle; nil otherwise.
	Prepared any
}

// Disposition is what the watcher does with a message once the handler
// has committed its outcome.
type Disposition int

// The dispositions a Handler returns.
const (
	// Processed moves the message to the processed mailbox.
	Processed Disposition = iota + 1
	// Quarantined moves the message to the quarantine mailbox: it could not
	// be processed. The handler has recorded it and told the leads.
	Quarantined
	// Keep leaves the message where it is. It is offered again, as
	// Redelivered, the next time the watcher connects.
	Keep
)

// String returns the disposition's name.
func (d Disposition) String() string {
	switch d {
	case Processed:
		return "processed"
	case Quarantined:
		return "quarantined"
	case Keep:
		return "keep"
	default:
		return fmt.Sprintf("Disposition(%d)", int(d))
	}
}

// Handler processes one message and commits its outcome (including the
// UID, so that Checkpoint.LastUID reflects it) before it returns.
//
// An error means nothing was committed: the watcher backs off and offers
// the same message again; it never skips ahead. The context Handle gets is
// not cancelled when Run's context is, so that the message in hand is
// finished on shutdown: Handle must bound its own work.
type Handler interface {
	Handle(ctx context.Context, d *Delivery) (Disposition, error)
}

// Checkpoint tells where processing stopped.
type Checkpoint interface {
	// LastUID is the highest UID committed for this mailbox under
	// uidValidity, 0 if none (and 0 after a UIDVALIDITY change: then
	// everything is rescanned and the handler dedupes by Message-ID).
	LastUID(ctx context.Context, mailbox string, uidValidity uint32) (uint32, error)
}

// Watcher watches an IMAP mailbox and hands every message to a Handler,
// exactly once per committed outcome, in ascending UID order.
type Watcher struct {
	cfg  IMAPConfig
	cp   Checkpoint
	h    Handler
	log  *slog.Logger
	keys mailboxKeys

	status statusBox

	// fetchFailures counts, per UIDVALIDITY and UID, the server's refusals
	// to return a message, across reconnects.
	mu            sync.Mutex
	fetchFailures map[[2]uint32]int
}

// MaxFetchFailures is how many times in a row the server may refuse to
// return a message (a NO to UID FETCH, or no body) before it is delivered
// as Unreadable. Cut connections do not count.
const MaxFetchFailures = 5

// fetchRefused records a refusal and reports whether the message is now
// to be given up as unreadable.
func (w *Watcher) fetchRefused(uidValidity, uid uint32) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fetchFailures == nil {
		w.fetchFailures = map[[2]uint32]int{}
	}
	k := [2]uint32{uidValidity, uid}
	w.fetchFailures[k]++
	if w.fetchFailures[k] >= MaxFetchFailures {
		delete(w.fetchFailures, k)
		return true
	}
	return false
}

// NewWatcher returns a watcher for cfg, with defaults applied to zero
// fields. Configuration errors are reported by Run and Check.
func NewWatcher(cfg IMAPConfig, cp Checkpoint, h Handler) *Watcher {
	if cfg.TLS == "" {
		cfg.TLS = TLSImplicit
	}
	if cfg.Mailbox == "" {
		cfg.Mailbox = DefaultIMAPMailbox
	}
	if cfg.Processed == "" {
		cfg.Processed = DefaultProcessedMailbox
	}
	if cfg.Quarantine == "" {
		cfg.Quarantine = DefaultQuarantineMailbox
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.IdleRestart <= 0 {
		cfg.IdleRestart = DefaultIdleRestart
	}
	cfg.IdleRestart = min(cfg.IdleRestart, maxIdleRestart)
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = DefaultKeepalive
	}
	if cfg.KeepaliveTimeout <= 0 {
		cfg.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	if cfg.PermanentRetry <= 0 {
		cfg.PermanentRetry = DefaultPermanentRetry
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.SpoolAbove == 0 {
		cfg.SpoolAbove = DefaultSpoolAbove
	}
	if cfg.FetchWindow <= 0 {
		cfg.FetchWindow = DefaultFetchWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Watcher{
		cfg:  cfg,
		cp:   cp,
		h:    h,
		log:  cfg.Logger.With("mailbox", cfg.Mailbox),
		keys: defaultMailboxKeys,
	}
}

// validate reports configuration errors, naming the setting to fix.
func (w *Watcher) validate() error {
	cfg := &w.cfg
	if cfg.Addr == "" {
		return errors.New("imap: config: imap.addr is required (host:port)")
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return fmt.Errorf("imap: config: imap.addr %q is not host:port: %w", cfg.Addr, err)
	}
	if err := cfg.TLS.Validate(host); err != nil {
		return fmt.Errorf("imap: config: imap.tls: %w", err)
	}
	if cfg.Username == "" {
		return errors.New("imap: config: imap.username is required")
	}

	for _, m := range []struct{ key, name string }{{"imap.processed", cfg.Processed}, {"imap.quarantine", cfg.Quarantine}} {
		if strings.EqualFold(m.name, cfg.Mailbox) {
			return fmt.Errorf("imap: config: %s must differ from the watched mailbox %q", m.key, cfg.Mailbox)
		}
	}
	return nil
}

// Run watches the mailbox until ctx is done, reconnecting after every
// failure, forever: after a temporary failure with exponential backoff up
// to MaxBackoff (logged at WARN), after a PermanentError every
// PermanentRetry (logged at ERROR, with what to change). On shutdown it
// finishes the message in hand (handler and move), logs out and returns
// nil. It returns an error only for an invalid configuration. Run must not
// be called concurrently on one Watcher.
func (w *Watcher) Run(ctx context.Context) error {
	if err := w.validate(); err != nil {
		return err
	}
	if w.cp == nil || w.h == nil {
		return errors.New("imap: watcher needs a checkpoint and a handler")
	}
	attempt := 0
	for {
		up, err := w.session(ctx)
		if ctx.Err() != nil {
			w.status.set(func(st *WatchStatus) { st.Watching, st.Err = false, context.Canceled })
			return nil
		}
		if err == nil {
			err = errors.New("imap: session ended")
		}
		perm := IsPermanent(err)
		w.status.set(func(st *WatchStatus) {
			st.Watching, st.Err, st.Permanent, st.Since = false, err, perm, time.Now()
			st.Reconnects++
		})
		var local *spoolError
		if up && !errors.As(err, &local) {
			// The connection worked: start the backoff over. Not when
			// this side failed (the spool directory): reconnecting at
			// once would only log in again and again.
			attempt = 0
		}
		attempt++
		var delay time.Duration
		if perm {
			delay = w.cfg.PermanentRetry
			w.log.Error("imap: cannot watch the mailbox until the configuration or the account is fixed", "err", err, "retry_in", delay)
		} else {
			delay = backoff(w.cfg.MinBackoff, w.cfg.MaxBackoff, attempt)
			w.log.Warn("imap: connection failed; reconnecting", "attempt", attempt, "retry_in", delay.Round(time.Millisecond), "err", err)
		}
		if !w.sleep(ctx, delay) {
			return nil
		}
	}
}

// sleep waits with cfg.Sleep, or the real clock, in steps of at most
// Keepalive, recording a heartbeat after each: a long wait after a
// permanent failure is not taken for a hung watcher.
func (w *Watcher) sleep(ctx context.Context, d time.Duration) bool {
	if w.cfg.Sleep != nil {
		return w.cfg.Sleep(ctx, d)
	}
	for d > 0 {
		step := min(d, w.cfg.Keepalive)
		if !sleep(ctx, step) {
			return false
		}
		d -= step
		w.beat()
	}
	return true
}

// beat records that the watch loop is alive.
func (w *Watcher) beat() {
	now := time.Now()
	w.status.set(func(st *WatchStatus) { st.Heartbeat = now })
}

// WatchStatus is how the watcher is doing, for health checks and metrics.
type WatchStatus struct {
	// Watching is true while the watched mailbox is selected and watched.
	Watching bool
	// Since is when Watching or Err last changed.
	Since time.Time
	// LastActivity is when the server last answered a command.
	LastActivity time.Time
	// Heartbeat is when the watch loop last showed it is alive: an answer
	// from the server, or a step of a wait between attempts. It is at most
	// Keepalive + CommandTimeout old while the loop works (systemd's
	// watchdog is fed from it).
	Heartbeat time.Time
	// Err is why the watcher is not watching (nil before the first
	// attempt and while watching); Permanent is IsPermanent(Err).
	Err       error
	Permanent bool
	// Reconnects counts the connections that ended and were opened again.
	Reconnects int64
}

// Status returns the watcher's current status. It is safe to call at any
// time from any goroutine.
func (w *Watcher) Status() WatchStatus {
	return w.status.get()
}

// statusBox guards a WatchStatus.
type statusBox struct {
	mu sync.Mutex
	st WatchStatus
}

func (b *statusBox) get() WatchStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

func (b *statusBox) set(f func(*WatchStatus)) {
	b.mu.Lock()
	f(&b.st)
	b.mu.Unlock()
}

// setWatching records that the mailbox is watched.
func (w *Watcher) setWatching() {
	w.status.set(func(st *WatchStatus) {
		st.Watching, st.Err, st.Permanent, st.Since = true, nil, false, time.Now()
	})
}

// activity records an answer from the server.
func (w *Watcher) activity() {
	now := time.Now()
	w.status.set(func(st *WatchStatus) { st.LastActivity, st.Heartbeat = now, now })
}

// CheckReport is what Check found on the server.
type CheckReport struct {
	// Steps are what worked, in order ("connected", "TLS verified", "logged
	// in as …"): the report says how far the check got when it failed.
	Steps []string
	// Capabilities are the server's, sorted.
	Capabilities []string
	// Names describes the server's hierarchy separator and namespace.
	Names string
	// Mailboxes are the watched, processed and quarantine mailboxes.
	Mailboxes []MailboxCheck
}

// Check connects, logs in, checks that the watched mailbox exists and can
// be opened (read-only), and that the processed and quarantine mailboxes
// exist, creating them when missing as serve would: the "check-config
// -connect" probe. The report tells what worked even when err is not nil.
func (w *Watcher) Check(ctx context.Context) (*CheckReport, error) {
	r := &CheckReport{}
	if err := w.validate(); err != nil {
		return r, err
	}
	s := w.newSession()
	stop, err := s.connect(ctx)
	if err != nil {
		return r, err
	}
	defer s.close()
	defer stop()
	step := "connected to " + w.cfg.Addr
	if w.cfg.TLS != TLSNone {
		step += " (TLS " + string(w.cfg.TLS) + ", certificate verified)"
	}
	r.Steps = append(r.Steps, step)
	if err := s.login(ctx); err != nil {
		return r, err
	}
	r.Steps = append(r.Steps, "logged in as "+w.cfg.Username)
	if err := s.capabilities(); err != nil {
		return r, err
	}
	for c := range s.caps {
		r.Capabilities = append(r.Capabilities, string(c))
	}
	slices.Sort(r.Capabilities)
	if err := s.resolveNames(); err != nil {
		return r, err
	}
	r.Names = s.ns.String()
	if _, err := s.selectMailbox(true); err != nil {
		return r, err
	}
	r.Mailboxes = append(r.Mailboxes, MailboxCheck{Key: w.keys.watched, Configured: w.cfg.Mailbox, Server: s.watched, Status: "exists"})
	for _, m := range []struct{ key, conf, name string }{
		{w.keys.processed, w.cfg.Processed, s.processed},
		{w.keys.quarantine, w.cfg.Quarantine, s.quarantine},
	} {
		mc := MailboxCheck{Key: m.key, Configured: m.conf, Server: m.name, Status: "exists"}
		created, err := s.ensureMailbox(m.key, m.name)
		if err != nil {
			return r, err
		}
		if created {
			mc.Status = "created"
		}
		if s.caps.Has(imap.CapSpecialUse) {
			info, err := s.lookup(m.name)
			if err != nil {
				return r, err
			}
			mc.Warning = specialUseWarning(info)
		}
		r.Mailboxes = append(r.Mailboxes, mc)
	}
	s.logout()
	return r, nil
}

// backoff returns the delay before attempt n (1-based): full jitter
// between min and min·2^(n-1), capped at max.
func backoff(minD, maxD time.Duration, n int) time.Duration {
	ceil := maxD
	if n < 62 {
		if c := minD << (n - 1); c > 0 && c < maxD {
			ceil = c
		}
	}
	if ceil <= minD {
		return minD
	}
	return minD + rand.N(ceil-minD+1)
}

// sleep waits for d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// timeoutError is returned when the watchdog closed a connection because
// the server did not answer in time.
type timeoutError struct {
	op      string
	timeout time.Duration
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("no answer from the server within %v; connection closed", e.timeout)
}

// Timeout reports true: the server did not answer in time.
func (e *timeoutError) Timeout() bool { return true }

// Temporary reports true: a new connection may work.
func (e *timeoutError) Temporary() bool { return true }
