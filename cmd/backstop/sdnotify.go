package main

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"backstop/mailbox"
)

// notifier speaks systemd's notify protocol (sd_notify(3)): one datagram
// per state change to the unix socket named by NOTIFY_SOCKET. Without
// NOTIFY_SOCKET (not under systemd, or Type= is not notify) it does
// nothing.
type notifier struct {
	socket string
	// watchdog is WATCHDOG_USEC when it is meant for this process (see
	// WATCHDOG_PID), else 0.
	watchdog time.Duration
}

// newNotifier reads the environment systemd sets.
func newNotifier(getenv func(string) string) *notifier {
	n := &notifier{socket: getenv("NOTIFY_SOCKET")}
	if usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64); err == nil && usec > 0 {
		pid := getenv("WATCHDOG_PID")
		if pid == "" || pid == strconv.Itoa(os.Getpid()) {
			n.watchdog = time.Duration(usec) * time.Microsecond
		}
	}
	return n
}

// notify sends one state, such as "READY=1" or "WATCHDOG=1".
func (n *notifier) notify(state string) error {
	if n.socket == "" {
		return nil
	}
	name := n.socket
	if name[0] == '@' { // an abstract socket
		name = "\x00" + name[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// run sends READY=1 once the watcher watches for the first time (or its
// first attempt failed: systemd would otherwise time the start out and
// restart backstop, and a refused password would be tried at each
// restart; STATUS= says why it is not watching, and /healthz fails), then,
// when systemd asks for a watchdog, WATCHDOG=1 at half its interval as
// long as the watch loop shows it is alive (its heartbeat is younger than
// the interval): a hung loop stops feeding the watchdog and systemd
// restarts backstop. STOPPING=1 on the way out.
func (n *notifier) run(ctx context.Context, status func() mailbox.WatchStatus, log interface{ Warn(string, ...any) }) {
	if n.socket == "" {
		return
	}
	ready := false
	tick := 250 * time.Millisecond
	if n.watchdog > 0 {
		tick = min(tick, n.watchdog/2)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var lastPing time.Time
	for {
		select {
		case <-ctx.Done():
			n.notify("STOPPING=1")
			return
		case <-t.C:
		}
		st := status()
		if !ready && (st.Watching || st.Err != nil) {
			ready = true
			state := "READY=1\nSTATUS=watching"
			if !st.Watching {
				state = "READY=1\nSTATUS=not watching: " + firstLine(st.Err.Error())
			}
			if err := n.notify(state); err != nil {
				log.Warn("systemd: notify READY=1", "err", err)
			}
		}
		if n.watchdog > 0 && time.Since(lastPing) >= n.watchdog/2 {
			if beat := st.Heartbeat; !beat.IsZero() && time.Since(beat) < n.watchdog {
				if err := n.notify("WATCHDOG=1"); err != nil {
					log.Warn("systemd: notify WATCHDOG=1", "err", err)
				}
				lastPing = time.Now()
			}
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
