package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-message"

	"backstop/mailbox/mailtest"
)

// withLargeMessages makes the daemon spool every message above spoolAbove
// into dir and store it in chunks of chunkSize.
func withLargeMessages(spoolAbove int64, dir string, chunkSize int) harnessOption {
	return func(h *harness) {
		h.tune = func(tn *tunables) {
			tn.spoolAbove, tn.spoolDir, tn.chunkSize = spoolAbove, dir, chunkSize
		}
	}
}

// largeForward is forward n about customer with an attachment of about
// size bytes (base64 of random bytes) after its text: a teammate
// forwarding a call recording.
func largeForward(t *testing.T, n int, customer string, size int) []byte {
	t.Helper()
	small := forward(t, n, customer)
	hdr, body, ok := bytes.Cut(small, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("forward without a header")
	}
	var top, part []string
	for _, line := range strings.Split(string(hdr), "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "content-") || strings.HasPrefix(strings.ToLower(line), "mime-version") {
			part = append(part, line)
		} else {
			top = append(top, line)
		}
	}
	data := make([]byte, size*3/4)
	rand.NewChaCha8([32]byte{byte(n)}).Read(data)
	enc := base64.StdEncoding.EncodeToString(data)
	var b bytes.Buffer
	b.WriteString(strings.Join(top, "\r\n"))
	b.WriteString("\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"rec-boundary\"\r\n\r\n--rec-boundary\r\n")
	b.WriteString(strings.Join(part, "\r\n"))
	b.WriteString("\r\n\r\n")
	b.Write(body)
	b.WriteString("\r\n--rec-boundary\r\nContent-Type: audio/wav\r\nContent-Disposition: attachment; filename=\"call.wav\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--rec-boundary--\r\n")
	return b.Bytes()
}

// TestLargeForward: a forward of a few MB goes through the whole daemon
// in bounded memory: spooled from the IMAP literal, stored in sealed
// chunks, sent to the lead as an attachment streamed from the store.
// The stored raw, the export and the lead notice's attachment are byte
// for byte what the server held; the spool directory is empty after.
func TestLargeForward(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		spoolDir := t.TempDir()
		h := newHarness(t, b, withLargeMessages(256<<10, spoolDir, 100<<10))
		raw := largeForward(t, 1, "jordan@globex.example", 3<<20)
		h.imap.Append("INBOX", raw)
		h.start()

		sent := h.waitSent(2)
		st := h.store()
		h.settle(st)
		h.eventually("the forward to be moved", func() bool { return len(h.imap.Messages(h.imap.Mailbox("backstop/processed"))) == 1 })
		held := h.imap.Messages(h.imap.Mailbox("backstop/processed"))[0].Raw
		if !bytes.Equal(held, raw) {
			t.Fatalf("the server holds %d bytes, not the %d appended", len(held), len(raw))
		}
		ctx := context.Background()
		incs := h.incidents(st)
		if len(incs) != 1 || incs[0].Customer.Address != "jordan@globex.example" {
			t.Fatalf("incidents %+v, want one about jordan@globex.example", incs)
		}

		// Stored in chunks, and read back whole.
		r, err := st.OpenRaw(ctx, 1)
		if err != nil || r == nil {
			t.Fatalf("OpenRaw: %v, %v", r, err)
		}
		stored, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(stored, held) {
			t.Fatalf("stored raw: %d bytes (%v), differ from the %d the server held", len(stored), err, len(held))
		}

		// The export.
		zipPath := filepath.Join(t.TempDir(), "inc.zip")
		if _, err := exportIncident(ctx, st, incs[0].ID, zipPath); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.OpenReader(zipPath)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		var exported []byte
		for _, f := range zr.File {
			if strings.HasPrefix(f.Name, "received/") {
				rc, _ := f.Open()
				exported, _ = io.ReadAll(rc)
				rc.Close()
			}
		}
		if !bytes.Equal(exported, held) {
			t.Errorf("exported original: %d bytes, differ from the %d the server held", len(exported), len(held))
		}

		// The lead notice's attachment.
		var attached []byte
		for _, c := range sent {
			if strings.Contains(strings.Join(c.To, ","), "jane@acme.example") {
				attached = rfc822Attachment(t, c.Raw)
			}
		}
		if !bytes.Equal(attached, held) {
			t.Errorf("lead notice attachment: %d bytes, differ from the %d the server held", len(attached), len(held))
		}

		rep, err := st.Verify(ctx, 0, true)
		if err != nil || !rep.OK() {
			t.Errorf("verify: %v %v", err, rep.Problems)
		}
		if es, _ := os.ReadDir(spoolDir); len(es) != 0 {
			t.Errorf("%d files left in the spool directory", len(es))
		}
		if !strings.Contains(h.logs.String(), "spooled=true") {
			t.Error("the message was not spooled")
		}
		if strings.Contains(h.logs.String(), "incompetent or just lazy") {
			t.Error("message content in the log")
		}
	})
}

// TestRestartSpooledEachMessageOnce: with every message spooled and
// stored in chunks, stopping and restarting mid-stream still processes
// each message once and sends each email once.
func TestRestartSpooledEachMessageOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dir := t.TempDir()
		restartEachOnce(t, b, withLargeMessages(-1, dir, 512))
		if es, _ := os.ReadDir(dir); len(es) != 0 {
			t.Errorf("%d files left in the spool directory", len(es))
		}
	})
}

// TestSpoolDirDefault: large messages are spooled next to the database
// (on disk, where they go next), not in a /tmp that may be tmpfs.
func TestSpoolDirDefault(t *testing.T) {
	c := &Config{Storage: StorageConfig{Path: "/var/lib/backstop/backstop.db"}}
	if got := c.spoolDir(tunables{}); got != "/var/lib/backstop" {
		t.Errorf("spool directory %q, want the database's", got)
	}
	if got := c.spoolDir(tunables{spoolDir: "/x"}); got != "/x" {
		t.Errorf("spool directory %q, want the tunable's", got)
	}
}

// TestCrashWhileSpooling kills backstop (SIGKILL) while it streams a large
// forward from the IMAP literal into its spool file: the file was already
// unlinked, so nothing is left on disk; nothing was recorded, and after a
// restart the forward becomes one incident with each email sent once, the
// evidence attached byte for byte.
func TestCrashWhileSpooling(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc to see the spool file")
	}
	bin, imapSrv, smtpSrv, path, db := binarySetup(t)
	proxy := mailtest.NewProxy(t, imapSrv.Addr)
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, iport, _ := splitHostPort(imapSrv.Addr)
	_, pport, _ := splitHostPort(proxy.Addr)
	cfg = bytes.Replace(cfg, []byte(fmt.Sprintf("port: %d\n  tls: none\n  username", iport)), []byte(fmt.Sprintf("port: %d\n  tls: none\n  username", pport)), 1)
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	raw := largeForward(t, 1, "jordan@globex.example", 4<<20)
	imapSrv.Append("INBOX", raw)
	proxy.StallAfter(2 << 20) // inside the literal, past the 1 MiB spool threshold

	var logs syncBuffer
	serve := func() *exec.Cmd { return startServe(t, bin, path, binaryEnv(imapSrv), &logs) }
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := serve()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// The literal is held part-way; the spool file is open, and already
	// gone from the directory.
	fdDir := fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid)
	for !proxy.Stalled() || !spooling(fdDir) {
		if ctx.Err() != nil {
			t.Fatalf("backstop never opened a spool file\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(db), "backstop-spool-*")); len(left) != 0 {
		t.Errorf("spool files in the directory while spooling: %v", left)
	}
	cmd.Process.Kill() // a crash: no deferred cleanup, no graceful stop
	cmd.Wait()
	proxy.Unstall()
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(db), "backstop-spool-*")); len(left) != 0 {
		t.Errorf("spool files left after the crash: %v", left)
	}
	if n := len(smtpSrv.Sent()); n != 0 {
		t.Fatalf("%d emails sent before the forward was committed", n)
	}

	cmd = serve()
	for len(smtpSrv.Sent()) < 2 {
		if ctx.Err() != nil {
			t.Fatalf("the forward was not processed after the restart\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	sent := smtpSrv.Sent()
	if len(sent) != 2 {
		t.Fatalf("%d emails sent, want the acknowledgement and the lead notice once each", len(sent))
	}
	var attached []byte
	for _, c := range sent {
		if a := rfc822Attachment(t, c.Raw); a != nil {
			attached = a
		}
	}
	if !bytes.Equal(attached, raw) {
		t.Errorf("lead notice attachment: %d bytes, differ from the %d appended", len(attached), len(raw))
	}
	if n := len(imapSrv.UIDs("INBOX")); n != 0 {
		t.Errorf("%d messages left in INBOX", n)
	}
}

// spooling reports whether the process whose fd directory is fdDir holds
// an unlinked spool file open.
func spooling(fdDir string) bool {
	es, _ := os.ReadDir(fdDir)
	for _, e := range es {
		target, _ := os.Readlink(filepath.Join(fdDir, e.Name()))
		if strings.Contains(target, "backstop-spool-") && strings.HasSuffix(target, "(deleted)") {
			return true
		}
	}
	return false
}

// rfc822Attachment returns the message/rfc822 part of an email as sent
// (nil without one).
func rfc822Attachment(t *testing.T, raw []byte) []byte {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var attached []byte
	e.Walk(func(path []int, p *message.Entity, err error) error {
		if ct, _, _ := p.Header.ContentType(); ct == "message/rfc822" {
			attached, _ = io.ReadAll(p.Body)
		}
		return nil
	})
	return attached
}
