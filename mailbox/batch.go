package mailbox

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// A backlog is worked through in windows: the bodies of up to
// IMAPConfig.FetchWindow messages (and at most windowBytes of them) come
// with one UID FETCH, each message is handed to the handler in ascending
// UID order, the handler commits their outcomes (each in its own
// transaction, or all at once when it is a Committer), and then the
// window's committed messages leave the mailbox with one UID MOVE per
// destination. A crash anywhere leaves committed messages at or below the
// checkpoint, which the next session offers again as redelivered: the
// guarantees are those of one message at a time, and the server is asked
// to rescan the mailbox once per window rather than once per message.

// windowBytes bounds the bodies one window holds in memory. A message
// larger than this is a window of its own.
const windowBytes = 8 << 20

// processAll handles uids in ascending order, window by window.
func (s *session) processAll(ctx context.Context, uids []imap.UID, redelivered bool) (err error) {
	// The last window's messages are moved before this returns (before
	// IDLE, or the session's end).
	defer func() {
		if derr := s.awaitDispose(); err == nil {
			err = derr
		}
	}()
	windows, stop := s.fetchWindows(ctx, uids, redelivered)
	defer stop()
	for w := range windows {
		if w.err != nil {
			return w.err
		}
		done, err := s.processWindow(ctx, w, redelivered)
		if err != nil || !done {
			return err // !done: shutdown
		}
	}
	return nil
}

// window is a run of waiting messages and what one UID FETCH brought of
// them (none for a window of one: fetchBody's path).
type window struct {
	uids   []imap.UID
	metas  map[imap.UID]meta
	bodies map[imap.UID]*body
	err    error
	// ahead are its deliveries being prepared since it was fetched
	// (prepareAhead), and stopAhead ends that.
	ahead     map[imap.UID]*preparedDelivery
	stopAhead func()
}

// release stops preparing a window and closes its spooled bodies.
func (w *window) release() {
	if w.stopAhead != nil {
		w.stopAhead()
	}
	for _, b := range w.bodies {
		b.close()
	}
	w.bodies = nil
}

// fetchWindows fetches uids' sizes and bodies window by window, one
// window ahead of the caller: the next window's FETCH runs while the
// caller decides the current one, and the server's work on the move of the
// one before (startDispose) overlaps too. A fetched window's messages start
// being prepared at once (prepareAhead), so that the first of them is
// ready when the caller takes it. A failure ends the channel with a window
// holding only err. stop ends it early and releases what it fetched and
// the caller did not take.
func (s *session) fetchWindows(ctx context.Context, uids []imap.UID, redelivered bool) (<-chan window, func()) {
	ch := make(chan window) // unbuffered: two windows' bodies at most
	quit := make(chan struct{})
	finished := make(chan struct{})
	send := func(w window) bool {
		select {
		case ch <- w:
			return true
		case <-quit:
			w.release()
			return false
		}
	}
	go func() {
		defer close(finished)
		defer close(ch)
		for chunk := range slices.Chunk(uids, s.cfg.FetchWindow) {
			metas, err := s.fetchMeta(chunk)
			if err != nil {
				send(window{err: err})
				return
			}
			for len(chunk) > 0 {
				if ctx.Err() != nil {
					return
				}
				n := s.windowLen(chunk, metas)
				w := window{uids: chunk[:n], metas: metas}
				w.bodies, w.err = s.fetchWindow(w.uids, metas)
				if w.err == nil {
					w.ahead, w.stopAhead = s.prepareAhead(w.uids, metas, redelivered, w.bodies)
				}
				if !send(w) || w.err != nil {
					return
				}
				chunk = chunk[n:]
			}
		}
	}()
	return ch, func() {
		close(quit)
		<-finished
	}
}

// windowLen returns how many of uids form the next window: as many as
// fit in windowBytes of bodies, at least one.
func (s *session) windowLen(uids []imap.UID, metas map[imap.UID]meta) int {
	var total int64
	for i, uid := range uids {
		if m, ok := metas[uid]; ok && m.size <= s.cfg.MaxMessageSize {
			total += m.size
		}
		if i > 0 && total > windowBytes {
			return i
		}
	}
	return len(uids)
}

// skip reports whether a message is not to be handled: it vanished before
// its size was fetched, or, in keyword mode, it is marked as handled
// already (the search did not filter it).
func (s *session) skip(uid imap.UID, m meta, ok bool) bool {
	if !ok {
		s.log.Info("imap: message vanished before it was fetched", "uid", uid)
		return true
	}
	return s.mode == modeKeyword && (hasFlag(m.flags, KeywordProcessed) || hasFlag(m.flags, KeywordQuarantined))
}

// fetchWindow downloads the bodies of the messages of uids to be handled,
// with one UID FETCH (none for a single one: fetchBody's path). A refusal
// of the whole command leaves bodies nil: the messages are then fetched
// one by one, which finds the one the server cannot return.
func (s *session) fetchWindow(uids []imap.UID, metas map[imap.UID]meta) (map[imap.UID]*body, error) {
	var want []imap.UID
	for _, uid := range uids {
		if m, ok := metas[uid]; ok && m.size <= s.cfg.MaxMessageSize && !s.skip(uid, m, true) {
			want = append(want, uid)
		}
	}
	if len(want) <= 1 {
		return nil, nil
	}
	bodies, err := s.fetchBodies(want)
	var refused *imap.Error
	if errors.As(err, &refused) {
		s.log.Warn("imap: the server refused a window of messages; fetching them one by one", "uids", imap.UIDSetNum(want...).String(), "err", err)
		return nil, nil
	}
	return bodies, err
}

// processWindow hands each message of a fetched window to the handler, in
// order, has the handler commit them, then starts moving the committed
// ones. done is false when ctx ended first (the messages committed until
// then are disposed of; the others stay for the next session).
func (s *session) processWindow(ctx context.Context, w window, redelivered bool) (done bool, err error) {
	uids, metas, bodies := w.uids, w.metas, w.bodies
	defer w.release() // a spooled body not handled (shutdown, error)
	ahead := w.ahead
	if w.stopAhead == nil {
		var stopAhead func()
		ahead, stopAhead = s.prepareAhead(uids, metas, redelivered, bodies)
		defer stopAhead()
	}

	// Whatever way this returns, a Committer's outcomes are committed
	// (or rolled back), so that the store is not left in a transaction;
	// messages are moved only after a commit that succeeded.
	committed := false
	defer func() {
		if !committed {
			if err := s.commit(ctx); err != nil {
				s.log.Error("imap: committing the window's messages failed; they stay in place and are offered again", "err", err)
			}
		}
	}()

	handled := map[Disposition][]imap.UID{}
	var logs [][]any // "message handled", once committed
	done = true
	for _, uid := range uids {
		if ctx.Err() != nil {
			done = false
			break
		}
		m, ok := metas[uid]
		if !s.skip(uid, m, ok) {
			var (
				d     *Delivery
				found bool
				err   error
			)
			if a, ok := ahead[uid]; ok {
				<-a.ready
				d, found = a.d, true
			} else {
				d, found, err = s.delivery(uid, m, redelivered, bodies)
			}
			if err != nil {
				return false, err
			}
			if found {
				disp, ok := s.handle(ctx, d)
				d.release()
				if !ok {
					done = false // shutdown while the handler kept failing
					break
				}
				logs = append(logs, []any{"uid", uid, "size", d.Size, "spooled", d.Spool != nil, "too_large", d.TooLarge,
					"redelivered", redelivered, "disposition", disp.String()})
				handled[disp] = append(handled[disp], uid)
				delete(bodies, uid)
				if d.Raw != nil && d.Size > windowBytes {
					// A large message's buffers are garbage now: give the
					// memory back to the system rather than keep the peak.
					// (A spooled one never was in memory: no forced GC.)
					d.Raw = nil
					debug.FreeOSMemory()
				}
			}
		}
		if !redelivered {
			s.last = uid
		}
	}
	committed = true
	if err := s.commit(ctx); err != nil {
		return false, fmt.Errorf("committing the window's messages (they stay in place and are offered again): %w", err)
	}
	for _, attrs := range logs {
		s.log.Info("imap: message handled", attrs...)
	}
	// The window before this one must have left the mailbox first: moves
	// stay in UID order, and one is in flight at a time.
	if err := s.awaitDispose(); err != nil {
		return false, err
	}
	s.startDispose(handled)
	return done, nil
}

// startDispose moves a committed window's messages out of the mailbox
// while the next window is fetched and decided: the server's work on the
// MOVE (Dovecot rescans the folder) overlaps backstop's on the next
// messages. A crash before it finished leaves committed messages in the
// mailbox, at or below the checkpoint, as with a crash before any move:
// they are offered again as redelivered. awaitDispose collects it.
func (s *session) startDispose(handled map[Disposition][]imap.UID) {
	if len(handled) == 0 {
		return
	}
	done := make(chan error, 1)
	s.disposing = done
	go func() {
		var err error
		for _, disp := range []Disposition{Processed, Quarantined} {
			if len(handled[disp]) > 0 && err == nil {
				err = s.dispose(imap.UIDSetNum(handled[disp]...), disp)
			}
			delete(handled, disp)
		}
		if err == nil {
			for disp, uids := range handled {
				s.dispose(imap.UIDSetNum(uids...), disp) // Keep, or an unknown one it reports
			}
		}
		done <- err
	}()
}

// awaitDispose waits for the move startDispose started, if any.
func (s *session) awaitDispose() error {
	if s.disposing == nil {
		return nil
	}
	err := <-s.disposing
	s.disposing = nil
	return err
}

// Committer is implemented by a Handler that makes its outcomes durable
// in groups, as a backlog arrives, rather than one transaction per
// message: the watcher calls Commit once it handled a window's messages
// (or stopped handling them), and moves them out of the mailbox only when
// Commit returned nil. An error from Commit means none of the messages
// handled since the last Commit was recorded: they stay in the mailbox,
// above the checkpoint, and are offered again. A Handle that fails must
// leave the outcomes before it either committed or reported by the next
// Commit's error: the watcher waits before it offers the failed message
// again.
type Committer interface {
	Commit(ctx context.Context) error
}

// commit calls the handler's Commit, when it is a Committer.
func (s *session) commit(ctx context.Context) error {
	c, ok := s.w.h.(Committer)
	if !ok {
		return nil
	}
	return c.Commit(context.WithoutCancel(ctx))
}

// Preparer is implemented by a Handler that can do ahead, concurrently,
// the part of its work that commits nothing, such as reading the message.
// Within a window, Prepare runs for the next messages while Handle runs
// for the current one; Handle is called in order as always, for a
// delivery whose Prepare has returned. Prepare leaves its result in
// Delivery.Prepared; it must not fail (Handle reports the problem).
type Preparer interface {
	Prepare(d *Delivery)
}

// preparedDelivery is a delivery being prepared ahead.
type preparedDelivery struct {
	d     *Delivery
	ready chan struct{} // closed once Prepare returned
}

// prepareAhead starts preparing, in order on one goroutine, the deliveries
// of the window whose bodies it brought, when the handler is a Preparer.
// stop ends it after the delivery in hand.
func (s *session) prepareAhead(uids []imap.UID, metas map[imap.UID]meta, redelivered bool, bodies map[imap.UID]*body) (ahead map[imap.UID]*preparedDelivery, stop func()) {
	p, ok := s.w.h.(Preparer)
	if !ok || len(bodies) == 0 {
		return nil, func() {}
	}
	ahead = make(map[imap.UID]*preparedDelivery, len(bodies))
	var order []*preparedDelivery
	for _, uid := range uids {
		m, ok := metas[uid]
		_, have := bodies[uid]
		if !ok || !have || s.skip(uid, m, true) {
			continue
		}
		// Its body is in the window: delivery does no I/O for it.
		d, _, _ := s.delivery(uid, m, redelivered, bodies)
		a := &preparedDelivery{d: d, ready: make(chan struct{})}
		ahead[uid] = a
		order = append(order, a)
	}
	quit := make(chan struct{})
	go func() {
		for _, a := range order {
			select {
			case <-quit:
			default:
				prepare(p, a.d)
			}
			close(a.ready)
		}
	}()
	return ahead, func() { close(quit) }
}

// prepare calls Prepare; a panic leaves the delivery unprepared, for
// Handle to deal with.
func prepare(p Preparer, d *Delivery) {
	defer func() {
		if recover() != nil {
			d.Prepared = nil
		}
	}()
	p.Prepare(d)
}

// delivery builds the Delivery of one message, with its body from the
// window's fetch or, when the window did not bring it, fetched alone.
// found is false when the message no longer exists.
func (s *session) delivery(uid imap.UID, m meta, redelivered bool, bodies map[imap.UID]*body) (d *Delivery, found bool, err error) {
	d = &Delivery{
		Mailbox:     s.cfg.Mailbox,
		UIDValidity: s.uidValidity,
		UID:         uint32(uid),
		Size:        m.size,
		Redelivered: redelivered,
	}
	if m.size > s.cfg.MaxMessageSize {
		d.TooLarge = true
		return d, true, nil
	}
	if b, ok := bodies[uid]; ok {
		b.into(d)
		return d, true, nil
	}
	raw, found, tooLarge, err := s.fetchBody(uid)
	var refused *imap.Error
	if err != nil && (errors.As(err, &refused) || errors.Is(err, errNoBody)) && s.w.fetchRefused(s.uidValidity, uint32(uid)) {
		s.log.Warn("imap: giving up fetching a message the server keeps refusing; it goes to quarantine", "uid", uid, "err", err)
		d.Unreadable = err.Error()
		return d, true, nil
	}
	switch {
	case err != nil:
		return nil, false, err
	case tooLarge:
		d.TooLarge = true
	case !found:
		return nil, false, nil
	default:
		raw.into(d)
	}
	return d, true, nil
}

// fetchBodies downloads the bodies of uids with one UID FETCH
// BODY.PEEK[] (leaving \Seen alone), each into a buffer of exactly its
// literal's size. A message it does not return (expunged meanwhile,
// larger than MaxMessageSize after all) is left out; delivery fetches it
// alone. As in fetchBody, the bodies count only when every literal was
// read whole and FetchCommand.Close returned nil.
func (s *session) fetchBodies(uids []imap.UID) (map[imap.UID]*body, error) {
	bodies := make(map[imap.UID]*body, len(uids))
	set := imap.UIDSetNum(uids...)
	err := s.guard("fetch UID "+set.String(), func(kick func()) error {
		fc := s.c.Fetch(set, &imap.FetchOptions{
			UID:         true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		})
		var readErr error
	messages:
		for msg := fc.Next(); msg != nil; msg = fc.Next() {
			var (
				uid imap.UID
				raw *body
			)
			for item := msg.Next(); item != nil; item = msg.Next() {
				switch item := item.(type) {
				case imapclient.FetchItemDataUID:
					uid = item.UID
				case imapclient.FetchItemDataBodySection:
					if item.Literal == nil || raw != nil {
						continue
					}
					if raw, _, readErr = s.readBody(item.Literal, kick); readErr != nil {
						break messages
					}
				}
			}
			if uid != 0 && raw != nil {
				bodies[uid] = raw
			} else {
				raw.close()
			}
		}
		closeErr := fc.Close()
		if readErr != nil {
			return readErr
		}
		return closeErr
	})
	if err != nil {
		for _, b := range bodies {
			b.close()
		}
		return nil, err
	}
	return bodies, nil
}
