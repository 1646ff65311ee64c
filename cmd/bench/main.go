// Command bench measures backstop against a real Dovecot on loopback, in
// one run: how fast a backlog of forwards drains compared with what the
// server can deliver, whether the drain is linear, how much memory the
// daemon takes idle and on a large forward, and how long a new forward
// takes to become an incident compared with a bare IDLE client's
// notification.
//
// It starts Dovecot in its stock configuration with Maildir storage (the
// helper of backstop/mailbox/mailtest; Dovecot must be installed), a
// discarding SMTP sink, and the backstop binary built from this tree, as
// a separate process, so that its memory is measured alone:
//
//	go run ./cmd/bench
//	go run ./cmd/bench -drain 2000,10000 -arrivals 200 -large 50
//
// Every figure comes from the same run on the same machine; the load
// average is printed with them, since it changes them.
package main

import (
	"bufio"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"backstop/mailbox"
	"backstop/mailbox/mailtest"
)

func main() {
	drain := flag.String("drain", "2000,10000", "comma-separated backlog `sizes` to drain, each into a fresh database")
	arrivals := flag.Int("arrivals", 200, "forwards appended one at a time to measure arrival latency (0 skips)")
	large := flag.Int("large", 50, "size in `MB` of the large forward measured for memory (0 skips)")
	bin := flag.String("backstop", "", "backstop binary to measure (default: built from ./cmd/backstop)")
	variants := flag.Int("idle-variants", 0, "appends per variant of a bare IDLE client (SELECT, EXAMINE, NOOP between IDLEs, arrivals 1.2 s apart) to time Dovecot's notification alone (0 skips)")
	profile := flag.String("cpuprofile", "", "write each backstop run's CPU profile to `prefix`-runN.pprof")
	flag.Parse()
	os.Setenv(mailtest.DovecotEnv, "1")
	if _, ok, err := mailtest.DovecotAvailable(); !ok {
		log.Fatalf("bench: dovecot is not available (apt-get install dovecot-imapd): %v", err)
	}

	t := newTB()
	current = t
	defer t.cleanup()
	b := &bench{t: t, dir: t.TempDir()}
	b.printHost()
	if *bin == "" {
		*bin = b.build()
	}
	b.bin = *bin
	b.profile = *profile
	b.dovecot = mailtest.StartDovecot(t)
	b.smtp = startSink(t)
	fmt.Printf("dovecot %s (maildir, stock settings), SMTP sink %s\n\n", dovecotVersion(), b.smtp.addr)

	var sizes []int
	for _, f := range strings.Split(*drain, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			fatalf("bench: -drain: %q is not a positive number", f)
		}
		sizes = append(sizes, n)
	}
	var drains []drainResult
	for _, n := range sizes {
		drains = append(drains, b.drain(n))
	}
	if len(drains) > 1 {
		first, last := drains[0], drains[len(drains)-1]
		fmt.Printf("linearity: %d took %.2f× as long as %d (%.1f× the messages)\n\n",
			last.n, last.took.Seconds()/first.took.Seconds(), first.n, float64(last.n)/float64(first.n))
	}
	if *large > 0 {
		b.largeForward(*large)
	}
	if *arrivals > 0 {
		b.latency(*arrivals)
	}
	if *variants > 0 {
		b.idleVariants(*variants)
	}
	fmt.Printf("load average at the end: %s\n", loadavg())
}

type bench struct {
	t       *tb
	dir     string
	bin     string
	dovecot *mailtest.Dovecot
	smtp    *sink
	runs    int
	profile string
}

func (b *bench) printHost() {
	fmt.Printf("backstop bench, %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("machine: %d CPUs, load average at the start: %s\n", numCPU(), loadavg())
}

// build compiles backstop as an operator would.
func (b *bench) build() string {
	path := filepath.Join(b.dir, "backstop")
	cmd := exec.Command("go", "build", "-o", path, "./cmd/backstop")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fatalf("bench: go build ./cmd/backstop (run the bench from the repository root): %v\n%s", err, out)
	}
	return path
}

type drainResult struct {
	n    int
	took time.Duration
}

// drain appends n forwards to a fresh mailbox, fetches them all once with
// a bare client, then starts backstop and times it until the mailbox is
// empty and every message was handled.
func (b *bench) drain(n int) drainResult {
	box := fmt.Sprintf("Drain%d", n)
	fmt.Printf("== backlog of %d forwards\n", n)
	bytes := b.appendForwards(box, n)
	fmt.Printf("appended %d forwards (%.1f MB)\n", n, float64(bytes)/1e6)

	rate := b.bareFetch(box, n)
	fmt.Printf("bare UID FETCH BODY.PEEK[] of all %d: %.0f msg/s\n", n, rate)

	load := loadavg()
	d := b.start(box, nil)
	t0 := d.started
	handled := d.waitHandled(n, 30*time.Minute)
	d.waitEmpty(b.dovecot, box)
	took := time.Since(t0)
	hwm := d.status("VmHWM")
	d.stop()
	drainRate := float64(n) / took.Seconds()
	fmt.Printf("backstop drain: %d handled in %.2f s = %.0f msg/s (%.2f%% of the bare fetch rate, 1/%.0f), peak RSS %.1f MB, load %s\n",
		len(handled), took.Seconds(), drainRate, 100*drainRate/rate, rate/drainRate, hwm, load)
	b.printSMTP()
	return drainResult{n: n, took: took}
}

// largeForward measures the daemon's memory idle and on one forward
// carrying an attachment of about mb megabytes.
func (b *bench) largeForward(mb int) {
	box := "Large"
	fmt.Printf("== one forward with a %d MB attachment\n", mb)
	b.dovecot.CreateMailbox(box)
	raw := largeForward(mb * 1e6 * 57 / 78) // base64 lines: 57 bytes → 78
	d := b.start(box, []string{fmt.Sprintf("max_message_size: %d", len(raw)+1<<20)})
	time.Sleep(2 * time.Second)
	idle, idleHWM := d.status("VmRSS"), d.status("VmHWM")
	uid := b.dovecot.Append(box, raw)
	h := d.waitHandled(1, 5*time.Minute)
	inbound := d.status("VmHWM")
	b.smtp.waitMsgs(2, 5*time.Minute) // the receipt and the leads' notice (the evidence attached)
	time.Sleep(3 * time.Second)
	peak, after := d.status("VmHWM"), d.status("VmRSS")
	d.stop()
	fmt.Printf("message %.1f MB (uid %d, handled %v)\n", float64(len(raw))/1e6, uid, len(h) == 1)
	fmt.Printf("RSS idle %.1f MB (peak before it %.1f MB); peak until it was committed %.1f MB = idle + %.1f MB; peak once its emails were sent %.1f MB = idle + %.1f MB; RSS 3 s after %.1f MB\n",
		idle, idleHWM, inbound, inbound-idle, peak, peak-idle, after)
	b.printSMTP()
}

// latency appends n forwards one at a time, at random intervals, and
// times each until backstop has committed it as an incident. In the same
// loop it appends as many to a mailbox where only a bare client IDLEs
// (RFC 2177), and times each until the server tells it (EXISTS): what the
// server can do for any client.
func (b *bench) latency(n int) {
	box, bareBox := "Live", "LiveBare"
	fmt.Printf("== arrival latency, %d forwards one at a time\n", n)
	b.dovecot.CreateMailbox(box)
	b.dovecot.CreateMailbox(bareBox)
	d := b.start(box, nil)

	c, exists := b.bareClient()
	defer c.Close()
	if _, err := c.Select(bareBox, nil).Wait(); err != nil {
		fatalf("bench: bare client: %v", err)
	}
	idle, err := c.Idle()
	if err != nil {
		fatalf("bench: bare client: IDLE: %v", err)
	}
	time.Sleep(time.Second)

	load := loadavg()
	var bare, inc []time.Duration
	admin := b.dovecot.NewClient(b.t)
	for i := range n {
		time.Sleep(100*time.Millisecond + rand.N(200*time.Millisecond))
		t0 := time.Now()
		if _, err := appendTo(admin, bareBox, forward(200000+i, "bare@org.example")); err != nil {
			fatalf("bench: append: %v", err)
		}
		select {
		case tb := <-exists:
			bare = append(bare, tb.Sub(t0))
		case <-time.After(time.Minute):
			fatalf("bench: the bare client was not told of message %d within a minute", i)
		}

		time.Sleep(100*time.Millisecond + rand.N(200*time.Millisecond))
		raw := forward(100000+i, fmt.Sprintf("live%d@org%d.example", i, i))
		t0 = time.Now()
		data, err := appendTo(admin, box, raw)
		if err != nil {
			fatalf("bench: append: %v", err)
		}
		th := d.waitUID(uint32(data.UID), time.Minute)
		inc = append(inc, th.Sub(t0))
	}
	idle.Close()
	idle.Wait()
	d.stop()
	bp50, bp99 := percentiles(bare)
	ip50, ip99 := percentiles(inc)
	fmt.Printf("bare IDLE client notified (EXISTS): p50 %6.1f ms  p99 %6.1f ms\n", ms(bp50), ms(bp99))
	fmt.Printf("backstop incident committed:        p50 %6.1f ms  p99 %6.1f ms  (p50 %+.1f ms, p99 %+.1f ms against the bare client), load %s\n",
		ms(ip50), ms(ip99), ms(ip50-bp50), ms(ip99-bp99), load)
	b.printSMTP()
}

// bareClient logs a plain IMAP client in to Dovecot; the channel gets the
// time of each EXISTS the server sends it (dropped when 16 are unread).
func (b *bench) bareClient() (*imapclient.Client, <-chan time.Time) {
	exists := make(chan time.Time, 16)
	c, err := imapclient.DialInsecure(b.dovecot.Addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case exists <- time.Now():
					default:
					}
				}
			},
		},
	})
	if err != nil {
		fatalf("bench: bare client: %v", err)
	}
	if err := c.Login(b.dovecot.Username, b.dovecot.Password).Wait(); err != nil {
		fatalf("bench: bare client: %v", err)
	}
	return c, exists
}

// idleVariants times how soon Dovecot tells a bare IDLE client of an
// APPEND, for the ways a client may differ: how it opens the mailbox,
// whether it says NOOP between IDLEs, how far apart arrivals are.
func (b *bench) idleVariants(n int) {
	fmt.Printf("== bare IDLE client variants, %d appends each\n", n)
	variants := []struct {
		name     string
		readOnly bool
		noop     bool
		gap      time.Duration
	}{
		{"SELECT, IDLE", false, false, 300 * time.Millisecond},
		{"EXAMINE, IDLE", true, false, 300 * time.Millisecond},
		{"SELECT, NOOP between IDLEs", false, true, 300 * time.Millisecond},
		{"SELECT, arrivals 1.2 s apart", false, false, 1200 * time.Millisecond},
	}
	admin := b.dovecot.NewClient(b.t)
	for k, v := range variants {
		box := fmt.Sprintf("Variant%d", k)
		b.dovecot.CreateMailbox(box)
		c, exists := b.bareClient()
		if _, err := c.Select(box, &imap.SelectOptions{ReadOnly: v.readOnly}).Wait(); err != nil {
			fatalf("bench: bare client: %v", err)
		}
		var lat []time.Duration
		for i := range n {
			idle, err := c.Idle()
			if err != nil {
				fatalf("bench: bare client: IDLE: %v", err)
			}
			time.Sleep(v.gap + rand.N(100*time.Millisecond))
			t0 := time.Now()
			if _, err := appendTo(admin, box, forward(300000+i, "variant@org.example")); err != nil {
				fatalf("bench: append: %v", err)
			}
			select {
			case t1 := <-exists:
				lat = append(lat, t1.Sub(t0))
			case <-time.After(time.Minute):
				fatalf("bench: no EXISTS within a minute")
			}
			idle.Close()
			idle.Wait()
			if v.noop {
				c.Noop().Wait()
			}
			for len(exists) > 0 {
				<-exists
			}
		}
		c.Close()
		p50, p99 := percentiles(lat)
		fmt.Printf("%-30s p50 %6.1f ms  p99 %6.1f ms\n", v.name, ms(p50), ms(p99))
	}
	fmt.Println()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return at(0.50), at(0.99)
}

// appendForwards appends n generated forwards to box over four
// connections and returns their total size.
func (b *bench) appendForwards(box string, n int) int64 {
	b.dovecot.CreateMailbox(box)
	const conns = 4
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
	)
	for k := range conns {
		c := b.dovecot.NewClient(b.t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for i := k; i < n; i += conns {
				raw := forward(i, fmt.Sprintf("c%d@org%d.example", i, i%500))
				if _, err := appendTo(c, box, raw); err != nil {
					fatalf("bench: append to %s: %v", box, err)
				}
				mu.Lock()
				total += int64(len(raw))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return total
}

func appendTo(c *imapclient.Client, box string, raw []byte) (*imap.AppendData, error) {
	cmd := c.Append(box, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		cmd.Close()
		cmd.Wait()
		return nil, err
	}
	if err := cmd.Close(); err != nil {
		return nil, err
	}
	return cmd.Wait()
}

// bareFetch fetches every body of box with one UID FETCH and returns the
// rate in messages per second.
func (b *bench) bareFetch(box string, n int) float64 {
	c := b.dovecot.NewClient(b.t)
	defer c.Close()
	if _, err := c.Select(box, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		fatalf("bench: examine %s: %v", box, err)
	}
	t0 := time.Now()
	fc := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	got := 0
	for msg := fc.Next(); msg != nil; msg = fc.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			if body, ok := item.(imapclient.FetchItemDataBodySection); ok {
				io.Copy(io.Discard, body.Literal)
				got++
			}
		}
	}
	if err := fc.Close(); err != nil || got != n {
		fatalf("bench: bare fetch: %d of %d bodies: %v", got, n, err)
	}
	return float64(n) / time.Since(t0).Seconds()
}

// daemon is one backstop serve process.
type daemon struct {
	cmd     *exec.Cmd
	started time.Time

	mu      sync.Mutex
	changed *sync.Cond
	handled map[uint32]time.Time
	exited  bool
	tail    []string
}

// handledUID returns the UID of an "imap: message handled" log line. It
// reads every line backstop logs, on the machine being measured: no
// regexp.
func handledUID(line string) (uint32, bool) {
	_, rest, ok := strings.Cut(line, `msg="imap: message handled"`)
	if !ok {
		return 0, false
	}
	_, rest, ok = strings.Cut(rest, " uid=")
	if !ok {
		return 0, false
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	uid, err := strconv.ParseUint(rest[:end], 10, 32)
	return uint32(uid), err == nil
}

// start runs backstop serve on box with a fresh database; extra lines go
// into the imap section of its configuration.
func (b *bench) start(box string, extra []string) *daemon {
	b.runs++
	dir := filepath.Join(b.dir, fmt.Sprintf("run%d", b.runs))
	if err := os.Mkdir(dir, 0o700); err != nil {
		fatalf("bench: %v", err)
	}
	_, iport, _ := net.SplitHostPort(b.dovecot.Addr)
	_, sport, _ := net.SplitHostPort(b.smtp.addr)
	imapExtra := ""
	for _, l := range extra {
		imapExtra += "  " + l + "\n"
	}
	cfg := fmt.Sprintf(`organisation:
  name: Acme Support
  support_address: support@acme.example
  escalations_address: escalations@acme.example
  timezone: Europe/Berlin
imap:
  host: 127.0.0.1
  port: %s
  tls: none
  username: %s
  password_env: IMAP_PW
  mailbox: %s
  processed_mailbox: %s-processed
  quarantine_mailbox: %s-quarantine
%ssmtp:
  host: 127.0.0.1
  port: %s
  tls: none
people:
  leads:
    - name: Jane Doe
      address: jane@acme.example
  team_domains: [acme.example]
secrets:
  token_secret_env: TOKEN
commands:
  trusted_authserv_ids: [mx.acme.example]
storage:
  path: %s
  key_env: STORAGE_KEY
log:
  level: info
`, iport, b.dovecot.Username, box, box, box, imapExtra, sport, filepath.Join(dir, "backstop.db"))
	path := filepath.Join(dir, "backstop.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		fatalf("bench: %v", err)
	}
	d := &daemon{handled: map[uint32]time.Time{}}
	d.changed = sync.NewCond(&d.mu)
	d.cmd = exec.Command(b.bin, "serve", "-config", path)
	d.cmd.Env = append(os.Environ(), "IMAP_PW="+b.dovecot.Password, "TOKEN=0123456789abcdef0123456789abcdef",
		"STORAGE_KEY="+base64.StdEncoding.EncodeToString(make([]byte, 32))) // the bench's own throwaway key
	if b.profile != "" {
		d.cmd.Env = append(d.cmd.Env, fmt.Sprintf("BACKSTOP_CPUPROFILE=%s-run%d.pprof", b.profile, b.runs))
	}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		fatalf("bench: %v", err)
	}
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		fatalf("bench: start %s: %v", b.bin, err)
	}
	b.t.Cleanup(func() { d.cmd.Process.Kill() })
	go d.read(stderr)
	d.waitLine("imap: watching", time.Minute)
	return d
}

// read notes when each UID was handled, as its log line arrives.
func (d *daemon) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		now := time.Now()
		line := sc.Text()
		d.mu.Lock()
		if uid, ok := handledUID(line); ok {
			if _, dup := d.handled[uid]; !dup {
				d.handled[uid] = now
			}
		} else {
			d.tail = append(d.tail, line)
			if len(d.tail) > 200 {
				d.tail = d.tail[100:]
			}
		}
		d.changed.Broadcast()
		d.mu.Unlock()
	}
	d.mu.Lock()
	d.exited = true
	d.changed.Broadcast()
	d.mu.Unlock()
}

// wait waits until cond holds (called with d.mu held) or the timeout.
func (d *daemon) wait(what string, timeout time.Duration, cond func() bool) {
	t := time.AfterFunc(timeout, func() { d.mu.Lock(); d.changed.Broadcast(); d.mu.Unlock() })
	defer t.Stop()
	deadline := time.Now().Add(timeout)
	d.mu.Lock()
	defer d.mu.Unlock()
	for !cond() {
		if d.exited || time.Now().After(deadline) {
			fatalf("bench: backstop: %s: exited %v, timeout %v; log tail:\n%s", what, d.exited, timeout, strings.Join(d.tail, "\n"))
		}
		d.changed.Wait()
	}
}

func (d *daemon) waitLine(text string, timeout time.Duration) {
	d.wait("log line "+text, timeout, func() bool {
		return slices.ContainsFunc(d.tail, func(l string) bool { return strings.Contains(l, text) })
	})
}

func (d *daemon) waitHandled(n int, timeout time.Duration) map[uint32]time.Time {
	d.wait(fmt.Sprintf("%d messages handled", n), timeout, func() bool { return len(d.handled) >= n })
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps(d.handled)
}

func maps(m map[uint32]time.Time) map[uint32]time.Time {
	out := make(map[uint32]time.Time, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (d *daemon) waitUID(uid uint32, timeout time.Duration) time.Time {
	var at time.Time
	d.wait(fmt.Sprintf("UID %d handled", uid), timeout, func() bool {
		var ok bool
		at, ok = d.handled[uid]
		return ok
	})
	return at
}

// waitEmpty polls until box holds no message.
func (d *daemon) waitEmpty(dc *mailtest.Dovecot, box string) {
	c := dc.NewClient(nopTB{})
	defer c.Close()
	for {
		data, err := c.Status(box, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			fatalf("bench: status %s: %v", box, err)
		}
		if *data.NumMessages == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// status returns a memory figure of /proc/PID/status in MB.
func (d *daemon) status(field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		fatalf("bench: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	fatalf("bench: no %s in /proc/PID/status", field)
	return 0
}

// stop ends the daemon with SIGTERM, as an operator would.
func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			log.Printf("bench: backstop exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		log.Printf("bench: backstop did not stop within 30 s of SIGTERM")
	}
}

// forward is a teammate's forward of an abusive customer email (the same
// shape the demo uses), unique by n.
func forward(n int, customer string) []byte {
	raw, err := mailbox.Compose(&mailbox.Outgoing{
		From:      mailbox.Address{Name: fmt.Sprintf("Agent %d", n%20), Address: fmt.Sprintf("agent%d@acme.example", n%20)},
		To:        []mailbox.Address{{Address: "escalations@acme.example"}},
		Subject:   "Fwd: Re: Ticket #4471 export still broken",
		MessageID: fmt.Sprintf("<bench-%d-%d@mail.acme.example>", n, time.Now().UnixNano()),
		Date:      time.Now(),
		Text:      forwardBody(customer),
	})
	if err != nil {
		fatalf("bench: compose: %v", err)
	}
	return raw
}

func forwardBody(customer string) string {
	return fmt.Sprintf(`Hi, this one got really personal. I'd rather not deal with them again.

---------- Forwarded message ---------
From: Customer <%s>
Date: Mon, Jan 6, 2025 at 9:00 AM
Subject: Re: Ticket #4471 export still broken
To: Agent <agent@acme.example>

Are you incompetent or just lazy? I have told you THREE times. If this is
not fixed today I will make sure everyone knows what a useless excuse for a
support person you are.

On Sun, Jan 5, 2025 at 9:00 AM, Customer <%s> wrote:
> Your export is broken again. Fix it. Now.
`, customer, customer)
}

// largeForward is a forward carrying an attachment of size bytes.
func largeForward(size int) []byte {
	data := make([]byte, size)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(data)
	raw, err := mailbox.Compose(&mailbox.Outgoing{
		From:        mailbox.Address{Name: "Agent", Address: "agent@acme.example"},
		To:          []mailbox.Address{{Address: "escalations@acme.example"}},
		Subject:     "Fwd: the recording of the call",
		MessageID:   fmt.Sprintf("<bench-large-%d@mail.acme.example>", time.Now().UnixNano()),
		Date:        time.Now(),
		Text:        forwardBody("large@customer.example"),
		Attachments: []mailbox.OutAttachment{{Filename: "call.wav", ContentType: "audio/wav", Data: data}},
	})
	if err != nil {
		fatalf("bench: compose: %v", err)
	}
	return raw
}

// sink is an SMTP server that counts and discards what it receives.
type sink struct {
	addr string
	mu   sync.Mutex
	msgs int
	sess int
}

func startSink(t *tb) *sink {
	s := &sink{}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 1 << 30
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("bench: %v", err)
	}
	s.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (b *bench) printSMTP() {
	msgs, conns := b.smtp.reset()
	fmt.Printf("SMTP: %d emails over %d connections\n\n", msgs, conns)
}

// waitMsgs waits until n messages were received since the last reset.
func (s *sink) waitMsgs(n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		got := s.msgs
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			fatalf("bench: SMTP sink: %d of %d emails within %v", got, n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reset returns and clears the counts of messages and connections.
func (s *sink) reset() (msgs, conns int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msgs, conns = s.msgs, s.sess
	s.msgs, s.sess = 0, 0
	return msgs, conns
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.sess++
	s.mu.Unlock()
	return &sinkSession{s: s}, nil
}

type sinkSession struct{ s *sink }

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.msgs++
	ss.s.mu.Unlock()
	return nil
}
func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int {
	data, _ := os.ReadFile("/proc/cpuinfo")
	return max(1, strings.Count(string(data), "processor\t:"))
}

func dovecotVersion() string {
	out, err := exec.Command("dovecot", "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	return strings.TrimSpace(string(out))
}

// tb lets the test helpers of mailtest run in a program: a failure ends
// the program after running the cleanups.
type tb struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

func newTB() *tb { return &tb{} }

func (t *tb) Helper()      {}
func (t *tb) Name() string { return "bench" }
func (t *tb) Failed() bool { return false }
func (t *tb) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}
func (t *tb) Logf(format string, args ...any) { log.Printf(format, args...) }
func (t *tb) Errorf(format string, args ...any) {
	log.Printf(format, args...)
}
func (t *tb) Fatalf(format string, args ...any) { fatalf(format, args...) }
func (t *tb) Fatal(args ...any)                 { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *tb) Skip(args ...any)                  { t.Fatal(args...) }
func (t *tb) TempDir() string {
	dir, err := os.MkdirTemp("", "backstop-bench-")
	if err != nil {
		fatalf("bench: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// cleanup runs the cleanups, last first, once.
func (t *tb) cleanup() {
	t.mu.Lock()
	fs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
}

// nopTB is for clients the caller closes itself.
type nopTB struct{ testing.TB }

func (nopTB) Helper()                           {}
func (nopTB) Cleanup(func())                    {}
func (nopTB) Fatalf(format string, args ...any) { fatalf(format, args...) }

// current is the program's tb, whose cleanups stop Dovecot and backstop.
var current *tb

// fatalf reports a failure, stops every server started and exits.
func fatalf(format string, args ...any) {
	log.Printf(format, args...)
	if current != nil {
		current.cleanup()
	}
	os.Exit(1)
}
