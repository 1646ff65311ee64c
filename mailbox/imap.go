package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// moveMode is how a message leaves the watched mailbox.
type moveMode int

const (
	// modeMove uses UID MOVE (RFC 6851).
	modeMove moveMode = iota
	// modeUIDPlus uses UID COPY, UID STORE +FLAGS (\Deleted) and UID
	// EXPUNGE of that one UID (RFC 4315 section 2.1).
	modeUIDPlus
	// modeKeyword marks the message with a keyword and leaves it: without
	// UID EXPUNGE the only way to expunge is a plain EXPUNGE, which also
	// removes every other message someone flagged \Deleted.
	modeKeyword
)

func (m moveMode) String() string {
	return [...]string{"move", "uidplus", "keyword"}[m]
}

// session is one connection to the server, from dial to logout.
type session struct {
	w    *Watcher
	cfg  *IMAPConfig
	log  *slog.Logger
	raw  net.Conn // the TCP connection: closing it unblocks everything
	c    *imapclient.Client
	caps imap.CapSet
	mode moveMode
	// hints receives a token when the server reports EXISTS. It is only a
	// hint: the mailbox is re-synchronised by UID either way.
	hints chan struct{}
	// disposing reports the end of the move of the last committed window,
	// running while the next one is decided (batch.go); nil when none is.
	disposing chan error

	// ns is how the server names mailboxes; watched, processed and
	// quarantine are the configured mailboxes under their server names.
	ns                             namespace
	watched, processed, quarantine string

	uidValidity uint32
	checkpoint  imap.UID // LastUID at session start
	last        imap.UID // highest UID handled in this session
}

func (w *Watcher) newSession() *session {
	return &session{w: w, cfg: &w.cfg, log: w.log, hints: make(chan struct{}, 1)}
}

// session runs one connection until it fails or ctx is done. up reports
// whether it got as far as watching the mailbox.
func (w *Watcher) session(ctx context.Context) (up bool, err error) {
	s := w.newSession()
	stop, err := s.connect(ctx)
	if err != nil {
		return false, err
	}
	defer s.close()
	err = s.prepare(ctx)
	// From here on shutdown is graceful: the message in hand is finished.
	stop()
	if err != nil {
		return false, err
	}
	w.setWatching()
	if err := s.redeliver(ctx); err != nil {
		return true, err
	}
	for ctx.Err() == nil {
		if err := s.sync(ctx); err != nil {
			return true, err
		}
		if ctx.Err() != nil {
			break
		}
		if err := s.wait(ctx); err != nil {
			return true, err
		}
	}
	s.logout()
	return true, nil
}

// guard runs f under the watchdog: when f makes no progress for
// CommandTimeout, the connection is closed, which makes every pending
// Wait return. The client itself never times out while waiting for a
// response to start. f calls kick to report progress.
func (s *session) guard(op string, f func(kick func()) error) error {
	return s.guardFor(s.cfg.CommandTimeout, op, f)
}

// guardFor is guard with another timeout.
func (s *session) guardFor(timeout time.Duration, op string, f func(kick func()) error) error {
	var fired atomic.Bool
	t := time.AfterFunc(timeout, func() {
		if fired.Swap(true) {
			return
		}
		s.log.Warn("imap: no answer from the server; closing the connection", "op", op, "timeout", timeout)
		s.raw.Close()
	})
	err := f(func() {
		if !fired.Load() {
			t.Reset(timeout)
		}
	})
	t.Stop()
	if fired.Load() {
		return fmt.Errorf("imap: %s: %w", op, &timeoutError{op: op, timeout: timeout})
	}
	if err != nil {
		return fmt.Errorf("imap: %s: %w", op, err)
	}
	s.w.activity()
	return nil
}

// run is guard for a command that reports no progress.
func (s *session) run(op string, f func() error) error {
	return s.guard(op, func(func()) error { return f() })
}

// connect dials, sets up TLS and waits for the greeting. Until stop is
// called, ctx being done closes the connection.
func (s *session) connect(ctx context.Context) (stop func() bool, err error) {
	cfg := s.cfg
	host, _, _ := net.SplitHostPort(cfg.Addr)
	d := net.Dialer{Timeout: cfg.CommandTimeout}
	raw, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		if advice := NetAdvice("imap", err); advice != "" {
			return nil, fmt.Errorf("imap: connect to %s: %w (%s)", cfg.Addr, err, advice)
		}
		return nil, fmt.Errorf("imap: connect to %s: %w", cfg.Addr, err)
	}
	s.raw = raw
	stop = context.AfterFunc(ctx, func() { raw.Close() })

	var tlsConfig *tls.Config
	if cfg.TLSConfig != nil {
		tlsConfig = cfg.TLSConfig.Clone()
	} else {
		tlsConfig = new(tls.Config)
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}
	opts := &imapclient.Options{
		TLSConfig: tlsConfig,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Runs on the client's reader goroutine: never block here.
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case s.hints <- struct{}{}:
					default:
					}
				}
			},
		},
	}

	switch cfg.TLS {
	case TLSImplicit:
		if tlsConfig.NextProtos == nil {
			tlsConfig.NextProtos = []string{"imap"}
		}
		tc := tls.Client(raw, tlsConfig)
		err = s.run("TLS handshake with "+cfg.Addr, func() error { return tc.HandshakeContext(ctx) })
		if err == nil {
			s.c = imapclient.New(tc, opts)
		}
	case TLSStartTLS:
		err = s.run("STARTTLS with "+cfg.Addr, func() error {
			var err error
			s.c, err = imapclient.NewStartTLS(raw, opts)
			return err
		})
	default:
		s.c = imapclient.New(raw, opts)
	}
	if err == nil {
		err = s.run("greeting from "+cfg.Addr, s.c.WaitGreeting)
	}
	if err != nil {
		stop()
		s.close()
		if tlsTrustErr(err) {
			return nil, permanent(fmt.Errorf("%w (%s)", err, tlsAdvice("imap", err)))
		}
		return nil, err
	}
	return stop, nil
}

// close closes the connection.
func (s *session) close() {
	if s.c != nil {
		s.c.Close()
	} else if s.raw != nil {
		s.raw.Close()
	}
}

// logout says goodbye (RFC 9051 section 6.1.3); errors don't matter then.
func (s *session) logout() {
	s.run("logout", func() error { return s.c.Logout().Wait() })
}

// abort closes the connection and waits for the client's reader goroutine
// to end. Needed after a literal was cut: the reader then goes on reading
// while the literal is drained, and the two race on the same buffer.
func (s *session) abort() {
	s.raw.Close()
	select {
	case <-s.c.Closed():
	case <-time.After(abortReaderWait):
		s.log.Error("imap: client reader did not stop after the connection was closed")
	}
}

// login logs in with LOGIN and the password (RFC 9051 section 6.2.3), or
// with SASL when IMAPConfig.Auth is set. A refusal is permanent: the same
// credentials will be refused again.
func (s *session) login(ctx context.Context) error {
	if s.cfg.Auth != nil {
		return s.authenticate(ctx)
	}
	err := s.run("login as "+s.cfg.Username, func() error {
		return s.c.Login(s.cfg.Username, s.cfg.Password).Wait()
	})
	refusal := imapRefusal(err)
	switch {
	case err == nil:
		return nil
	case refusal == nil:
		return err
	case s.cfg.TLS == TLSNone && refusal.Code == imap.ResponseCodePrivacyRequired:
		return permanent(fmt.Errorf("%w (the server refuses passwords without TLS: set imap.tls to starttls or implicit)", err))
	default:
		return permanent(fmt.Errorf("%w (check the username and password: imap.username, and imap.password_env or imap.password_file)", err))
	}
}

func (s *session) capabilities() error {
	return s.run("capability", func() error {
		caps, err := s.c.Capability().Wait()
		s.caps = caps
		return err
	})
}

// prepare logs in, chooses how to move messages, creates the target
// mailboxes, selects the watched mailbox and reads the checkpoint.
func (s *session) prepare(ctx context.Context) error {
	if err := s.login(ctx); err != nil {
		return err
	}
	if err := s.capabilities(); err != nil {
		return err
	}
	if err := s.resolveNames(); err != nil {
		return err
	}
	switch {
	case s.caps.Has(imap.CapMove):
		s.mode = modeMove
	case s.caps.Has(imap.CapUIDPlus):
		s.mode = modeUIDPlus
	default:
		s.mode = modeKeyword
	}
	for _, m := range []struct{ key, name string }{{s.w.keys.processed, s.processed}, {s.w.keys.quarantine, s.quarantine}} {
		if _, err := s.ensureMailbox(m.key, m.name); err != nil {
			return err
		}
		if s.caps.Has(imap.CapSpecialUse) {
			if info, err := s.lookup(m.name); err == nil {
				if warn := specialUseWarning(info); warn != "" {
					s.log.Warn("imap: "+m.key+" "+m.name+": "+warn, "key", m.key)
				}
			}
		}
	}
	data, err := s.selectMailbox(false)
	if err != nil {
		return err
	}
	s.uidValidity = data.UIDValidity
	last, err := s.w.cp.LastUID(ctx, s.cfg.Mailbox, s.uidValidity)
	if err != nil {
		return fmt.Errorf("imap: read checkpoint of %s (UIDVALIDITY %d): %w", s.cfg.Mailbox, s.uidValidity, err)
	}
	s.checkpoint, s.last = imap.UID(last), imap.UID(last)
	s.log = s.log.With("uidvalidity", s.uidValidity)

	attrs := []any{"uidnext", data.UIDNext, "checkpoint", last, "messages", data.NumMessages,
		"move", s.mode.String(), "idle", s.caps.Has(imap.CapIdle)}
	if last == 0 && data.NumMessages > 0 {
		attrs = append(attrs, "note", "no checkpoint for this UIDVALIDITY: scanning every message (duplicates are recognised by Message-ID)")
	}
	attrs = append(attrs, "names", s.ns.String())
	s.log.Info("imap: watching", attrs...)
	if data.UIDNext > 0 && imap.UID(last) >= data.UIDNext {
		s.log.Warn("imap: checkpoint is above the mailbox's UIDNEXT; new messages below it will be offered as redelivered",
			"checkpoint", last, "uidnext", data.UIDNext)
	}
	if s.mode == modeKeyword && !keepsKeywords(data.PermanentFlags) {
		s.log.Warn("imap: the server lacks MOVE and UIDPLUS and does not keep custom keywords; processed messages stay in the mailbox and are offered again after each reconnect",
			"permanentflags", fmt.Sprint(data.PermanentFlags))
	}
	return nil
}

// keepsKeywords reports whether PERMANENTFLAGS allow our keywords
// (RFC 9051 section 7.1: \* means new keywords can be created).
func keepsKeywords(flags []imap.Flag) bool {
	return hasFlag(flags, imap.FlagWildcard) ||
		(hasFlag(flags, KeywordProcessed) && hasFlag(flags, KeywordQuarantined))
}

// hasFlag compares flags without regard to case: servers may return
// them lower-cased (RFC 9051 section 2.3.2 makes them case-insensitive).
func hasFlag(flags []imap.Flag, flag imap.Flag) bool {
	return slices.ContainsFunc(flags, func(f imap.Flag) bool {
		return strings.EqualFold(string(f), string(flag))
	})
}

// resolveNames learns how the server names mailboxes and turns the
// configured names into the server's.
func (s *session) resolveNames() error {
	if err := s.learnNamespace(); err != nil {
		return err
	}
	s.watched = s.ns.serverName(s.cfg.Mailbox)
	s.processed = s.ns.serverName(s.cfg.Processed)
	s.quarantine = s.ns.serverName(s.cfg.Quarantine)
	return nil
}

func (s *session) selectMailbox(readOnly bool) (*imap.SelectData, error) {
	var data *imap.SelectData
	err := s.run(fmt.Sprintf("select %s", s.watched), func() error {
		var err error
		data, err = s.c.Select(s.watched, &imap.SelectOptions{ReadOnly: readOnly}).Wait()
		return err
	})
	if imapRefusal(err) != nil {
		return nil, permanent(fmt.Errorf("%w (the watched mailbox %q cannot be opened; %s: does it exist? check %s)",
			err, s.watched, s.ns, s.w.keys.watched))
	}
	return data, err
}

// ensureMailbox creates a mailbox unless it exists (RFC 9051 section
// 6.3.4). created reports whether it was created now. A refusal to create
// a missing mailbox is permanent, with the configuration key to change.
func (s *session) ensureMailbox(key, name string) (created bool, err error) {
	err = s.run("create "+name, func() error { return s.c.Create(name, nil).Wait() })
	if err == nil {
		s.log.Info("imap: created mailbox", "name", name)
		return true, nil
	}
	var imapErr *imap.Error
	if !errors.As(err, &imapErr) {
		return false, err
	}
	if imapErr.Code == imap.ResponseCodeAlreadyExists {
		return false, nil
	}
	// Some servers refuse an existing name without ALREADYEXISTS.
	if serr := s.run("status "+name, func() error {
		_, err := s.c.Status(name, &imap.StatusOptions{UIDValidity: true}).Wait()
		return err
	}); serr == nil {
		return false, nil
	}
	if imapRefusal(err) == nil {
		return false, err
	}
	return false, permanent(fmt.Errorf("%w (the server refuses to create %q; %s: set %s to a name it accepts, with / between levels, or create the mailbox yourself)",
		err, name, s.ns, key))
}

// search returns the UIDs in set, ascending, leaving out in keyword mode
// the messages already marked as handled.
func (s *session) search(set imap.UIDSet) ([]imap.UID, error) {
	criteria := &imap.SearchCriteria{UID: []imap.UIDSet{set}}
	if s.mode == modeKeyword {
		criteria.NotFlag = []imap.Flag{KeywordProcessed, KeywordQuarantined}
	}
	var uids []imap.UID
	err := s.run("search UID "+set.String(), func() error {
		data, err := s.c.UIDSearch(criteria, nil).Wait()
		if err != nil {
			return err
		}
		uids = data.AllUIDs()
		return nil
	})
	slices.Sort(uids)
	return uids, err
}

// redeliver offers again the messages at or below the checkpoint that are
// still in the mailbox: committed before, not moved yet.
func (s *session) redeliver(ctx context.Context) error {
	if s.checkpoint == 0 {
		return nil
	}
	uids, err := s.search(imap.UIDSet{{Start: 1, Stop: s.checkpoint}})
	if err != nil {
		return err
	}
	uids = slices.DeleteFunc(uids, func(u imap.UID) bool { return u > s.checkpoint })
	if len(uids) > 0 {
		s.log.Info("imap: offering committed messages that were not moved yet", "count", len(uids))
	}
	return s.processAll(ctx, uids, true)
}

// sync handles every message above the last one handled, until a search
// finds none. EXISTS is only a hint; this is what finds new messages.
func (s *session) sync(ctx context.Context) error {
	for ctx.Err() == nil {
		select {
		case <-s.hints:
		default:
		}
		if s.last == imap.UID(^uint32(0)) {
			return nil
		}
		// "UID n:*" always includes the highest UID, even below n
		// (RFC 9051 section 6.4.8): filter.
		uids, err := s.search(imap.UIDSet{{Start: s.last + 1, Stop: 0}})
		if err != nil {
			return err
		}
		uids = slices.DeleteFunc(uids, func(u imap.UID) bool { return u <= s.last })
		if len(uids) == 0 {
			return nil
		}
		if err := s.processAll(ctx, uids, false); err != nil {
			return err
		}
	}
	return nil
}

// meta is what is fetched about a message before its body.
type meta struct {
	size  int64
	flags []imap.Flag
}

func (s *session) fetchMeta(uids []imap.UID) (map[imap.UID]meta, error) {
	metas := make(map[imap.UID]meta, len(uids))
	set := imap.UIDSetNum(uids...)
	err := s.run("fetch sizes of UID "+set.String(), func() error {
		bufs, err := s.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true, Flags: true}).Collect()
		for _, b := range bufs {
			if b.UID != 0 {
				metas[b.UID] = meta{size: b.RFC822Size, flags: b.Flags}
			}
		}
		return err
	})
	return metas, err
}

// fetchBody downloads one message with UID FETCH BODY.PEEK[] (leaving
// \Seen alone), streaming the literal into a buffer of exactly its size.
// found is false when the message no longer exists.
//
// A cut connection makes the literal end early without an error; the
// error shows only at FetchCommand.Close. So the body counts only when
// the bytes read equal the literal's size and Close returned nil.
func (s *session) fetchBody(uid imap.UID) (raw *body, found, tooLarge bool, err error) {
	op := fmt.Sprintf("fetch UID %d", uid)
	err = s.guard(op, func(kick func()) error {
		fc := s.c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{
			UID:         true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		})
		var readErr error
	messages:
		for msg := fc.Next(); msg != nil; msg = fc.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				body, ok := item.(imapclient.FetchItemDataBodySection)
				if !ok || body.Literal == nil || raw != nil || tooLarge {
					continue
				}
				if raw, tooLarge, readErr = s.readBody(body.Literal, kick); readErr != nil {
					break messages
				}
			}
		}
		closeErr := fc.Close()
		if readErr != nil {
			return readErr
		}
		return closeErr
	})
	if err != nil {
		raw.close() // a spooled body that does not count
		return nil, false, false, err
	}
	if raw != nil || tooLarge {
		return raw, true, tooLarge, nil
	}
	// No body came back: the message was expunged meanwhile, or its FETCH
	// response was taken for unsolicited data. Only the first is a reason
	// to move on.
	uids, err := s.search(imap.UIDSetNum(uid))
	if err != nil {
		return nil, false, false, err
	}
	if slices.Contains(uids, uid) {
		return nil, false, false, fmt.Errorf("imap: %s: %w", op, errNoBody)
	}
	s.log.Info("imap: message vanished before it was fetched", "uid", uid)
	return nil, false, false, nil
}

// readBody reads one BODY[] literal into a buffer of exactly its size,
// or, above SpoolAbove, into a spool file (spool.go). A literal larger
// than MaxMessageSize (RFC822.SIZE said otherwise) is drained, not held,
// and reported as tooLarge. A literal that ends early is a cut
// connection: the session is aborted and err says so.
func (s *session) readBody(l imap.LiteralReader, kick func()) (b *body, tooLarge bool, err error) {
	size := l.Size()
	lit := progressReader{r: l, kick: kick}
	if size > s.cfg.MaxMessageSize {
		if n, err := io.Copy(io.Discard, lit); n != size {
			return nil, false, s.cut(n, size, err)
		}
		return nil, true, nil
	}
	if size > s.cfg.SpoolAbove {
		b, n, err := spool(s.cfg.SpoolDir, lit, size)
		var disk *spoolError
		if errors.As(err, &disk) {
			// The disk, not the server, failed: read the rest of the
			// literal, so that the connection stays in step, and report
			// it (the message stays on the server).
			rest, rerr := io.Copy(io.Discard, lit)
			if n+rest != size {
				return nil, false, s.cut(n+rest, size, rerr)
			}
			return nil, false, fmt.Errorf("spooling a %d-byte message: %w", size, err)
		}
		if n != size || err != nil {
			return nil, false, s.cut(n, size, err)
		}
		return b, false, nil
	}
	buf := make([]byte, size)
	if n, err := io.ReadFull(lit, buf); int64(n) != size {
		return nil, false, s.cut(int64(n), size, err)
	}
	return &body{raw: buf, size: size}, false, nil
}

// cut aborts the session over a literal that ended after n of its size
// bytes (err: what the read said, if anything): the connection was cut.
func (s *session) cut(n, size int64, err error) error {
	s.abort()
	if err != nil {
		return fmt.Errorf("body cut after %d of %d bytes: %v", n, size, err)
	}
	return fmt.Errorf("body cut after %d of %d bytes", n, size)
}

// errNoBody is a FETCH that succeeded without returning the message.
var errNoBody = errors.New("the server returned no body")

// progressReader tells the watchdog about every successful read.
type progressReader struct {
	r    io.Reader
	kick func()
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.kick()
	}
	return n, err
}

// handle calls the handler until it succeeds, backing off between
// attempts. ok is false when ctx ended first: nothing was committed.
func (s *session) handle(ctx context.Context, d *Delivery) (disp Disposition, ok bool) {
	// The message in hand is finished on shutdown.
	hctx := context.WithoutCancel(ctx)
	for attempt := 1; ; attempt++ {
		disp, err := s.callHandler(hctx, d)
		if err == nil {
			return disp, true
		}
		delay := backoff(s.cfg.MinBackoff, s.cfg.MaxBackoff, attempt)
		s.log.Error("imap: handler failed; will offer the same message again", "uid", d.UID,
			"attempt", attempt, "retry_in", delay.Round(time.Millisecond), "err", err)
		if !sleep(ctx, delay) {
			return 0, false
		}
	}
}

// callHandler turns a handler panic into an error: the message is offered
// again rather than the daemon crashing.
func (s *session) callHandler(ctx context.Context, d *Delivery) (disp Disposition, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("handler panicked: %v", v)
		}
	}()
	return s.w.h.Handle(ctx, d)
}

// dispose moves handled messages out of the watched mailbox, or marks
// them where they cannot be moved safely: one command for the whole set.
func (s *session) dispose(set imap.UIDSet, disp Disposition) error {
	var (
		dest    string
		keyword imap.Flag
	)
	var key string
	switch disp {
	case Processed:
		dest, keyword, key = s.processed, KeywordProcessed, s.w.keys.processed
	case Quarantined:
		dest, keyword, key = s.quarantine, KeywordQuarantined, s.w.keys.quarantine
	case Keep:
		return nil
	default:
		s.log.Error("imap: handler returned an unknown disposition; leaving the message in place", "uid", set.String(), "disposition", int(disp))
		return nil
	}

	switch s.mode {
	case modeMove:
		return s.retryCreate(key, dest, func() error {
			return s.run(fmt.Sprintf("move UID %s to %s", set, dest), func() error {
				// Client.Move falls back to COPY + STORE + a plain EXPUNGE
				// when it believes MOVE is missing: only call it when the
				// capability is certainly there.
				if !s.c.Caps().Has(imap.CapMove) {
					return errors.New("MOVE is no longer advertised")
				}
				_, err := s.c.Move(set, dest).Wait()
				return err
			})
		})
	case modeUIDPlus:
		// RFC 4315 section 2.1: UID EXPUNGE removes only the given UIDs,
		// never the other messages flagged \Deleted.
		if err := s.retryCreate(key, dest, func() error {
			return s.run(fmt.Sprintf("copy UID %s to %s", set, dest), func() error {
				_, err := s.c.Copy(set, dest).Wait()
				return err
			})
		}); err != nil {
			return err
		}
		if err := s.run(fmt.Sprintf("flag UID %s \\Deleted", set), func() error {
			return s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		}); err != nil {
			return err
		}
		return s.run(fmt.Sprintf("expunge UID %s", set), func() error {
			return s.c.UIDExpunge(set).Close()
		})
	default:
		return s.run(fmt.Sprintf("flag UID %s %s", set, keyword), func() error {
			return s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{keyword}}, nil).Close()
		})
	}
}

// retryCreate runs f and, when the server says the destination is missing
// (TRYCREATE, RFC 9051 section 7.1), creates it and runs f once more.
func (s *session) retryCreate(key, dest string, f func() error) error {
	err := f()
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeTryCreate {
		if _, cerr := s.ensureMailbox(key, dest); cerr != nil {
			return cerr
		}
		err = f()
	}
	return err
}

// wait blocks until the mailbox may have changed: IDLE (RFC 2177) until
// the server reports something or Keepalive passes, or, without IDLE, a
// NOOP after PollInterval or Keepalive, whichever is shorter. Ending IDLE
// (DONE) or the NOOP is the keepalive probe: it must be answered within
// KeepaliveTimeout, or the connection is taken for dead (a NAT or firewall
// that dropped it without a reset) and closed.
func (s *session) wait(ctx context.Context) error {
	if !s.caps.Has(imap.CapIdle) {
		return s.poll(ctx)
	}
	var idle *imapclient.IdleCommand
	if err := s.run("idle", func() error {
		var err error
		idle, err = s.c.Idle()
		return err
	}); err != nil {
		return err
	}
	t := time.NewTimer(min(s.cfg.IdleRestart, s.cfg.Keepalive))
	defer t.Stop()
	lost := false
	select {
	case <-ctx.Done():
	case <-s.hints:
	case <-t.C:
	case <-s.c.Closed():
		lost = true
	}
	// On a black-holed connection, DONE gets no answer: the watchdog
	// notices and closes it.
	err := s.guardFor(s.cfg.KeepaliveTimeout, "end idle", func(func()) error {
		if err := idle.Close(); err != nil {
			return err
		}
		return idle.Wait()
	})
	if err == nil && lost {
		err = errors.New("imap: connection closed by the server during IDLE")
	}
	return err
}

func (s *session) poll(ctx context.Context) error {
	t := time.NewTimer(min(s.cfg.PollInterval, s.cfg.Keepalive))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-s.c.Closed():
		return errors.New("imap: connection closed by the server")
	case <-t.C:
	}
	return s.guardFor(s.cfg.KeepaliveTimeout, "noop", func(func()) error { return s.c.Noop().Wait() })
}
