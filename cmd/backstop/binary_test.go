package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"backstop/mailbox/embedded"
	"backstop/mailbox/mailtest"
	"backstop/workflow"
)

// TestServeBinary builds the real binary, runs `backstop serve` against
// real servers as an operator would, and stops it with SIGTERM: it must
// have turned the forward into an incident and exit cleanly.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "backstop")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	imapSrv := mailtest.NewIMAPServer(t)
	smtpSrv, err := embedded.Start(embedded.Config{Domain: "acme.example", Password: "unused"})
	if err != nil {
		t.Fatal(err)
	}
	defer smtpSrv.Close()
	_, iport, _ := splitHostPort(imapSrv.Addr)
	_, sport, _ := splitHostPort(smtpSrv.SMTPAddr())
	db := filepath.Join(dir, "backstop.db")
	cfg := strings.NewReplacer(
		"  host: imap.acme.example\n  username: escalations@acme.example\n", fmt.Sprintf("  host: 127.0.0.1\n  port: %d\n  tls: none\n  username: %s\n", iport, imapSrv.Username),
		"  host: smtp.acme.example\n  username: escalations@acme.example\n  password_env: SMTP_PW\n", fmt.Sprintf("  host: 127.0.0.1\n  port: %d\n  tls: none\n", sport),
	).Replace(validConfig) + "storage:\n  path: " + db + "\n"
	path := filepath.Join(dir, "backstop.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	imapSrv.Append("INBOX", forward(t, 1, "jordan@globex.example"))

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "serve", "-config", path)
	cmd.Env = append(os.Environ(), "IMAP_PW="+imapSrv.Password, "TOKEN="+testEnv("TOKEN"))
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
	st, err := workflow.Open(context.Background(), db)
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
