package mailtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"syscall"
	"testing"
	"time"
)

// currentUser returns the names of the user and group the test runs as,
// for a server (named in a failure) that is to run as them.
func currentUser(t testing.TB, server string) (name, group string) {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatalf("mailtest: %s: %v", server, err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatalf("mailtest: %s: %v", server, err)
	}
	return u.Username, g.Name
}

// daemon is the master process of a real test server (Dovecot, Cyrus).
type daemon struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// start starts cmd with its stdout and stderr appended to logPath and
// waits up to 15s until every addr listens; a server that does not is
// stopped. A file, never a pipe: the servers' children keep stdout and
// stderr open, and Wait would block until they exit.
func (p *daemon) start(name string, cmd *exec.Cmd, logPath string, addrs ...string) error {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	go func() {
		p.exitErr = cmd.Wait()
		close(exited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, addr := range addrs {
		if err := waitListening(ctx, addr, exited, &p.exitErr); err != nil {
			p.stop()
			return fmt.Errorf("%s did not start: %w", name, err)
		}
	}
	return nil
}

// stop stops the process (SIGTERM, then SIGKILL after 10s).
func (p *daemon) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}
