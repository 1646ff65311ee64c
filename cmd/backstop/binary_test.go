package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"backstop/mailbox"
	"backstop/mailbox/embedded"
	"backstop/mailbox/mailtest"
	"backstop/mailbox/parse"
	"backstop/workflow"
)

// TestServeBinary builds the real binary, runs `backstop serve` against
// real servers as an operator would, and stops it with SIGTERM: it must
// have turned the forward into an incident and exit cleanly.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin, imapSrv, smtpSrv, path, db := binarySetup(t)
	imapSrv.Append("INBOX", forward(t, 1, "jordan@globex.example"))
	// Monitoring as an operator sets it up: http.listen, and systemd's
	// notify socket.
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "http:\n  listen: %s\n", httpAddr)
	f.Close()
	sock := filepath.Join(t.TempDir(), "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "serve", "-config", path)
	cmd.Env = append(binaryEnv(imapSrv), "NOTIFY_SOCKET="+sock)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := smtpSrv.WaitSent(ctx, 2); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("backstop serve sent no acknowledgement and notice: %v\n%s", err, stderr.String())
	}
	buf := make([]byte, 256)
	notify.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := notify.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "READY=1\nSTATUS=watching") {
		t.Errorf("systemd notification %q, %v; want READY=1", buf[:n], err)
	}
	for path, want := range map[string]string{"/healthz": "imap: ok: watching INBOX", "/metrics": "backstop_incidents_opened_total 1"} {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d, want 200 with %q:\n%s", path, resp.StatusCode, want, body)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("backstop serve exited with %v after SIGTERM\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		cmd.Process.Kill()
		t.Fatalf("backstop serve did not stop after SIGTERM\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "backstop stopped") {
		t.Errorf("no clean-stop line in the log:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "useless excuse") {
		t.Error("the log contains the abusive text")
	}
	st, err := workflow.Open(context.Background(), db, testStorageKey)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if incs, err := st.Incidents(context.Background()); err != nil || len(incs) != 1 {
		t.Fatalf("incidents %v, %v; want one", incs, err)
	}
	if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v, want 0600", fi.Mode().Perm())
	}
}

// binarySetup builds the binary and starts the servers it runs against:
// go-imap's memory server and the embedded SMTP server. It writes a
// configuration for them (commands lines appended to the commands section)
// and returns the binary, the servers, the configuration and database paths.
func binarySetup(t *testing.T, commands ...string) (bin string, imapSrv *mailtest.IMAPServer, smtpSrv *embedded.Server, path, db string) {
	t.Helper()
	dir := t.TempDir()
	bin = buildBinary(t, dir)
	imapSrv = mailtest.NewIMAPServer(t)
	smtpSrv, err := embedded.Start(embedded.Config{Domain: "acme.example", Password: "unused"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtpSrv.Close() })
	_, iport, _ := splitHostPort(imapSrv.Addr)
	_, sport, _ := splitHostPort(smtpSrv.SMTPAddr())
	db = filepath.Join(dir, "backstop.db")
	cfg := strings.NewReplacer(
		"  host: imap.acme.example\n  username: escalations@acme.example\n", fmt.Sprintf("  host: 127.0.0.1\n  port: %d\n  tls: none\n  username: %s\n", iport, imapSrv.Username),
		"  host: smtp.acme.example\n  username: escalations@acme.example\n  password_env: SMTP_PW\n", fmt.Sprintf("  host: 127.0.0.1\n  port: %d\n  tls: none\n", sport),
		"  trusted_authserv_ids: [mx.acme.example]\n", "  trusted_authserv_ids: [mx.acme.example]\n"+strings.Join(commands, ""),
	).Replace(validConfig) + "storage:\n  path: " + db + "\n"
	path = filepath.Join(dir, "backstop.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return bin, imapSrv, smtpSrv, path, db
}

// binaryEnv is the environment holding the secrets binarySetup's
// configuration names.
func binaryEnv(imapSrv *mailtest.IMAPServer) []string {
	return append(os.Environ(), "IMAP_PW="+imapSrv.Password, "TOKEN="+testEnv("TOKEN"))
}

// buildBinary builds backstop as an operator would (static, no cgo).
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "backstop")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestCrashDuringCustomerEmail kills backstop (SIGKILL) while the SMTP
// server holds the end of a customer email's DATA, then lets the server
// accept it: the email went out, but backstop never learnt so. After a
// restart it must not send it again; the leads are told delivery is
// uncertain, and a lead's RESEND sends it once more, with the same
// Message-ID.
func TestCrashDuringCustomerEmail(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin, imapSrv, smtpSrv, path, _ := binarySetup(t, "  hold: 0s\n")
	env := binaryEnv(imapSrv)

	var logs syncBuffer
	serve := func() *exec.Cmd { return startServe(t, bin, path, env, &logs) }
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	waitFor := func(what string, cond func([]embedded.Captured) bool) {
		t.Helper()
		for !cond(smtpSrv.Sent()) {
			if ctx.Err() != nil {
				t.Fatalf("gave up waiting for %s\n%s", what, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	to := func(rcpt string) func([]embedded.Captured) []embedded.Captured {
		return func(all []embedded.Captured) (out []embedded.Captured) {
			for _, c := range all {
				if c.To[0] == rcpt {
					out = append(out, c)
				}
			}
			return out
		}
	}
	toJane, toJordan := to("jane@acme.example"), to("jordan@globex.example")

	imapSrv.Append("INBOX", forward(t, 1, "jordan@globex.example"))
	cmd := serve()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor("the lead notice", func(s []embedded.Captured) bool { return len(toJane(s)) == 1 })

	// Hold the end of DATA of the customer email until backstop is dead.
	inData := make(chan struct{})
	release := make(chan struct{})
	smtpSrv.SetDataFailure(func(from string, rcpt []string) *smtp.SMTPError {
		if rcpt[0] == "jordan@globex.example" {
			select {
			case inData <- struct{}{}:
			default:
			}
			<-release
		}
		return nil
	})
	notice := toJane(smtpSrv.Sent())[0]
	imapSrv.Append("INBOX", leadReply(t, notice.Raw, "BOUNDARY"))
	select {
	case <-inData:
	case <-ctx.Done():
		t.Fatalf("the boundary email never reached DATA\n%s", logs.String())
	}
	cmd.Process.Kill() // a crash: no deferred cleanup, no graceful stop
	cmd.Wait()
	close(release) // the server accepts the email the dead process sent
	waitFor("the accepted boundary email", func(s []embedded.Captured) bool { return len(toJordan(s)) == 1 })

	cmd = serve()
	waitFor("the uncertain-delivery notice", func(s []embedded.Captured) bool {
		for _, c := range toJane(s) {
			if bytes.Contains(c.Raw, []byte("RESEND")) && bytes.Contains(c.Raw, []byte("may or may not")) {
				return true
			}
		}
		return false
	})
	// Nothing more reaches the customer on its own.
	imapSrv.Append("INBOX", forward(t, 2, "someone.else@initech.example"))
	waitFor("a later incident's notice", func(s []embedded.Captured) bool { return len(to("sam@acme.example")(s)) == 2 })
	if n := len(toJordan(smtpSrv.Sent())); n != 1 {
		t.Fatalf("the customer received %d copies after the restart, want the 1 the crash left", n)
	}

	// A lead decides to resend: once, with the same Message-ID.
	imapSrv.Append("INBOX", leadReply(t, notice.Raw, "RESEND"))
	waitFor("the resent email", func(s []embedded.Captured) bool { return len(toJordan(s)) == 2 })
	first, second := toJordan(smtpSrv.Sent())[0], toJordan(smtpSrv.Sent())[1]
	if rawHeader(first.Raw, "Message-ID") != rawHeader(second.Raw, "Message-ID") {
		t.Errorf("RESEND changed the Message-ID: %s, then %s", rawHeader(first.Raw, "Message-ID"), rawHeader(second.Raw, "Message-ID"))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

// startServe starts `backstop serve` with the configuration at path, its
// log going to logs.
func startServe(t *testing.T, bin, path string, env []string, logs io.Writer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "-config", path)
	cmd.Env, cmd.Stderr = env, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// leadReply is Jane's answer to a notice, as her receiving server delivers
// it: to the notice's Reply-To, with an Authentication-Results header from
// the trusted server.
func leadReply(t *testing.T, notice []byte, text string) []byte {
	t.Helper()
	m, err := parse.Parse(bytes.NewReader(notice))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := mailbox.Compose(&mailbox.Outgoing{
		From:       mailbox.Address{Name: "Jane Doe", Address: "jane@acme.example"},
		To:         outAddrs(m.ReplyTo),
		Subject:    "Re: " + m.Subject,
		MessageID:  fmt.Sprintf("<%d@phone.acme.example>", time.Now().UnixNano()),
		InReplyTo:  m.MessageID,
		References: []string{m.MessageID},
		Date:       time.Now(),
		Text:       text + "\n\nSent from my iPhone\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte("Authentication-Results: mx.acme.example; dmarc=pass header.from=acme.example\r\n"), raw...)
}

// TestCrashDuringDrain kills backstop (SIGKILL) while it works through a
// backlog, window by window, twice, then lets a third run finish: every
// forward must be recorded exactly once, each incident must have queued
// its lead notice exactly once, and nothing may be left in the mailbox.
func TestCrashDuringDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin, imapSrv, _, path, db := binarySetup(t)
	const n = 600
	for i := 1; i <= n; i++ {
		imapSrv.Append("INBOX", forward(t, i, fmt.Sprintf("customer%d@org%d.example", i, i)))
	}
	env := binaryEnv(imapSrv)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var logs syncBuffer
	run := func() *exec.Cmd { return startServe(t, bin, path, env, &logs) }
	handled := func() int { return strings.Count(logs.String(), `msg="imap: message handled"`) }
	waitHandled := func(atLeast int) {
		t.Helper()
		for handled() < atLeast {
			if ctx.Err() != nil {
				t.Fatalf("gave up waiting for %d handled messages (%d so far)\n%s", atLeast, handled(), logs.String())
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Killed right after a window was committed, while the next one is
	// fetched or decided: twice.
	for _, after := range []int{1, 200} {
		cmd := run()
		waitHandled(after)
		cmd.Process.Kill()
		cmd.Wait()
	}
	cmd := run()
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	for len(imapSrv.UIDs("INBOX")) > 0 {
		if ctx.Err() != nil {
			t.Fatalf("%d messages still in INBOX\n%s", len(imapSrv.UIDs("INBOX")), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	st, err := workflow.Open(context.Background(), db, testStorageKey)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	incs, err := st.Incidents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	customers := map[string]int{}
	for _, inc := range incs {
		customers[inc.Customer.Address]++
	}
	if len(incs) != n || len(customers) != n {
		t.Errorf("%d incidents for %d customers, want %d of each", len(incs), len(customers), n)
	}
	rows, err := st.Outbox(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	notices := map[int64]int{}
	for _, r := range rows {
		if r.Template == "lead_notice" {
			notices[r.IncidentID]++
		}
	}
	for _, inc := range incs {
		if notices[inc.ID] != 1 {
			t.Errorf("%s queued %d lead notices, want 1", inc.Ref(), notices[inc.ID])
		}
	}
	if got := len(imapSrv.UIDs("backstop/processed")); got != n {
		t.Errorf("the processed mailbox holds %d messages, want %d", got, n)
	}
	r, err := st.Verify(context.Background(), 0, true)
	if err != nil || !r.OK() {
		t.Errorf("audit trail after the crashes: %+v, %v", r, err)
	}
}
