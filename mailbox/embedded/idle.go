package embedded

import (
	"sync"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"
)

// idleRecheck is how often an IDLE session looks for updates that
// go-imap's tracker did not signal.
const idleRecheck = 250 * time.Millisecond

// idleSession fixes a race in go-imap's in-memory server: its IDLE only
// wakes for updates queued after IDLE began, so a message delivered
// between the client's last command and its IDLE waited for the next
// delivery (or the client's IDLE restart, minutes later). RFC 2177 wants
// the client told at once. idleSession reports what is pending when IDLE
// starts, and looks again every idleRecheck while it lasts. Its writes
// stay serial: the tracker's Idle is stopped before each Poll.
type idleSession struct {
	imapserver.SessionIMAP4rev2
}

// Idle implements imapserver.Session.
func (s idleSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	for {
		if err := s.Poll(w, true); err != nil {
			return err
		}
		inner := make(chan struct{})
		var once sync.Once
		end := func() { once.Do(func() { close(inner) }) }
		t := time.AfterFunc(idleRecheck, end)
		go func() {
			select {
			case <-stop:
				end()
			case <-inner:
			}
		}()
		err := s.SessionIMAP4rev2.Idle(w, inner)
		t.Stop()
		end()
		if err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		default:
		}
	}
}
