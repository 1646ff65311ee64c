package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"backstop/mailbox"
)

// smtpHealth remembers whether the SMTP server was reachable at the last
// try: a connection, TLS or login failure makes it unreachable; a refused
// recipient does not.
type smtpHealth struct {
	mu  sync.Mutex
	err error
}

// record notes the result of one send.
func (h *smtpHealth) record(err error) {
	var se *mailbox.SendError
	if err != nil && !(errors.As(err, &se) && isServerStage(se.Stage)) {
		err = nil // the server answered: it is reachable
	}
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
}

func isServerStage(stage string) bool {
	switch stage {
	case mailbox.StageConnect, mailbox.StageTLS, mailbox.StageAuth, mailbox.StageConfig:
		return true
	}
	return false
}

// state reports whether SMTP was reachable at the last try (true before
// any), and why not.
func (h *smtpHealth) state() (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err == nil, h.err
}

// healthz answers 200 when IMAP is watching and SMTP was reachable at the
// last try, else 503; the body says why, one line per part.
func (d *daemon) healthz(w http.ResponseWriter, r *http.Request) {
	ok := true
	var b strings.Builder
	st := d.watcher.Status()
	switch {
	case st.Watching:
		fmt.Fprintf(&b, "imap: ok: watching %s since %s\n", d.cfg.IMAP.Mailbox, st.Since.UTC().Format(time.RFC3339))
	case st.Err != nil:
		ok = false
		kind := "temporary failure, retrying"
		if st.Permanent {
			kind = "PERMANENT failure: fix the configuration or the account"
		}
		fmt.Fprintf(&b, "imap: not watching (%s): %v\n", kind, st.Err)
	default:
		ok = false
		b.WriteString("imap: not watching yet: connecting\n")
	}
	if reachable, err := d.smtp.state(); reachable {
		b.WriteString("smtp: ok: reachable at the last try (or not tried yet)\n")
	} else {
		ok = false
		fmt.Fprintf(&b, "smtp: unreachable at the last try: %v\n", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	io.WriteString(w, b.String())
}

// serveHTTP serves /healthz and /metrics on http.listen until ctx is done.
func (d *daemon) serveHTTP(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", d.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	d.log.Info("http: serving /healthz and /metrics", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: %w (check http.listen)", err)
	}
	return nil
}

// buildVersion returns the module version and VCS revision the binary was
// built from (debug.ReadBuildInfo); "(devel)" and "unknown" when not known.
func buildVersion() (version, revision string) {
	version, revision = "(devel)", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if bi.Main.Version != "" {
		version = bi.Main.Version
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified {
		revision += "+modified"
	}
	return version, revision
}

// runVersion prints the version.
func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	version, revision := buildVersion()
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(stdout, "backstop %s (revision %s, %s)\n", version, revision, goVersion)
	return nil
}
