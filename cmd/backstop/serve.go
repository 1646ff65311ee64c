package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"backstop/mailbox"
	"backstop/templates"
	"backstop/workflow"
)

// tunables are the intervals and timeouts tests and the demo shorten.
type tunables struct {
	imapTLS        *tls.Config // nil: system roots
	smtpTLS        *tls.Config
	idleRestart    time.Duration
	commandTimeout time.Duration
	keepaliveTO    time.Duration // how long a keepalive probe may wait for its answer
	minBackoff     time.Duration
	maxBackoff     time.Duration
	permanentRetry time.Duration
	sleep          func(context.Context, time.Duration) bool // nil: real time
	dispatchPoll   time.Duration
	minRetry       time.Duration
	maxRetry       time.Duration
	retentionEvery time.Duration    // how often serve purges what retention says is due; default 24h
	now            func() time.Time // the clock of the desk, the scheduler and retention; nil = time.Now
	sweep          time.Duration    // how often reminders and check-ins are looked for; 0 = workflow's default
	spoolAbove     int64            // mailbox.IMAPConfig.SpoolAbove; 0 = its default, <0 = every message
	spoolDir       string           // mailbox.IMAPConfig.SpoolDir; "" = the database's directory
	chunkSize      int              // workflow.Config.ChunkSize; 0 = its default
}

// daemon is backstop wired together: watcher → pipeline → desk → outbox → sender.
type daemon struct {
	cfg        *Config
	log        *slog.Logger
	store      *workflow.Store
	desk       *workflow.Desk
	dispatcher *workflow.Dispatcher
	watcher    *mailbox.Watcher
	scheduler  *workflow.Scheduler // the digest, reminders and check-ins
	sender     *mailbox.Sender
	templates  *templates.Set
	smtp       *smtpHealth
	metrics    *metrics
	httpLn     net.Listener // nil: http.listen is empty
	notifier   *notifier
	tn         tunables
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "backstop.yaml", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	gc := tuneGC(os.Getenv)
	stopProfile, err := startProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	d, err := newDaemon(ctx, cfg, log, tunables{})
	if err != nil {
		return err
	}
	defer d.close()
	if err := d.listenHTTP(); err != nil {
		return err
	}
	d.notifier = newNotifier(os.Getenv)
	log.Info("backstop serving", "mailbox", cfg.IMAP.Mailbox, "imap", cfg.IMAP.Host, "smtp", cfg.SMTP.Host, "db", cfg.Storage.Path, "gogc", gc)
	err = d.run(ctx)
	log.Info("backstop stopped")
	return err
}

// newDaemon opens the store, loads the templates and builds every part.
func newDaemon(ctx context.Context, cfg *Config, log *slog.Logger, tn tunables) (_ *daemon, err error) {
	tmpl, err := templates.Load(cfg.Templates.Dir)
	if err != nil {
		return nil, err
	}
	wcfg, err := cfg.workflowConfig()
	if err != nil {
		return nil, err
	}
	wcfg.Logger = log
	wcfg.Now = tn.now
	wcfg.Time.Sweep = tn.sweep
	wcfg.ChunkSize = tn.chunkSize
	store, err := cfg.openStore(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			store.Close()
		}
	}()
	if err := checkStoreAtStart(ctx, store, log); err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, log: log, store: store, templates: tmpl, smtp: &smtpHealth{}, tn: tn}
	var watcher *mailbox.Watcher // set below; the metrics read it
	d.metrics = newMetrics(store, func() mailbox.WatchStatus { return watcher.Status() }, d.smtp, log)
	wcfg.Observer = d.metrics
	desk, err := workflow.NewDesk(wcfg, store, tmpl)
	if err != nil {
		return nil, err
	}
	scfg, err := cfg.smtpConfig(tn)
	if err != nil {
		return nil, err
	}
	icfg, err := cfg.imapConfig(tn, log)
	if err != nil {
		return nil, err
	}
	sender := mailbox.NewSender(scfg)
	d.desk, d.sender = desk, sender
	d.dispatcher = workflow.NewDispatcher(store, &smtpTransport{sender: sender, health: d.smtp, metrics: d.metrics}, workflow.DispatchConfig{
		Poll:     tn.dispatchPoll,
		MinRetry: tn.minRetry,
		MaxRetry: tn.maxRetry,
		Logger:   log,
	})
	d.scheduler = workflow.NewScheduler(store, workflow.SchedulerConfig{Now: tn.now, MaxSleep: tn.sweep, Logger: log})
	for _, j := range desk.Jobs() {
		if err := d.scheduler.Add(j); err != nil {
			return nil, err
		}
	}
	p := &pipeline{desk: desk, kick: d.dispatcher.Kick, log: log, parseTime: d.metrics.parse.Observe}
	d.watcher = mailbox.NewWatcher(icfg, store, p)
	watcher = d.watcher
	return d, nil
}

// run runs the watcher and the dispatcher until ctx is done, then lets each
// finish the message in hand.
func (d *daemon) run(ctx context.Context) error {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parts := []struct {
		name string
		run  func(context.Context) error
	}{{"watcher", d.watcher.Run}, {"dispatcher", d.dispatcher.Run}, {"scheduler", d.scheduler.Run}, {"retention", d.runRetention}, {"checkpoints", d.checkpoints}}
	if d.httpLn != nil {
		parts = append(parts, struct {
			name string
			run  func(context.Context) error
		}{"http", func(ctx context.Context) error { return d.serveHTTP(ctx, d.httpLn) }})
	}
	if d.notifier != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.notifier.run(ctx, d.watcher.Status, d.log)
		}()
	}
	errc := make(chan error, len(parts))
	for _, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := part.run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", part.name, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// listenHTTP opens http.listen, when set, so that a port in use fails
// the start with the key named.
func (d *daemon) listenHTTP() error {
	if d.cfg.HTTP.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", d.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen %s: %w (choose a free port, or leave http.listen empty)", d.cfg.HTTP.Listen, err)
	}
	d.httpLn = ln
	return nil
}

func (d *daemon) close() {
	d.sender.Close()
	if d.httpLn != nil {
		d.httpLn.Close()
	}
	if err := d.store.Close(); err != nil {
		d.log.Error("closing the store", "err", err)
	}
}

func (c *Config) imapConfig(tn tunables, log *slog.Logger) (mailbox.IMAPConfig, error) {
	tlsConfig, err := c.IMAP.tlsConfig(tn.imapTLS)
	if err != nil {
		return mailbox.IMAPConfig{}, fmt.Errorf("config: imap.%w", err)
	}
	mc := mailbox.IMAPConfig{
		Addr:             net.JoinHostPort(c.IMAP.Host, strconv.Itoa(c.IMAP.Port)),
		TLS:              mailbox.TLSMode(c.IMAP.TLS),
		TLSConfig:        tlsConfig,
		Username:         c.IMAP.Username,
		Password:         c.IMAP.password,
		Mailbox:          c.IMAP.Mailbox,
		Processed:        c.IMAP.ProcessedMailbox,
		Quarantine:       c.IMAP.QuarantineMailbox,
		PollInterval:     time.Duration(c.IMAP.PollInterval),
		IdleRestart:      tn.idleRestart,
		Keepalive:        time.Duration(c.IMAP.Keepalive),
		CommandTimeout:   tn.commandTimeout,
		KeepaliveTimeout: tn.keepaliveTO,
		MinBackoff:       tn.minBackoff,
		MaxBackoff:       tn.maxBackoff,
		PermanentRetry:   tn.permanentRetry,
		Sleep:            tn.sleep,
		MaxMessageSize:   c.IMAP.MaxMessageSize,
		SpoolAbove:       tn.spoolAbove,
		SpoolDir:         c.spoolDir(tn),
		Logger:           log,
	}
	if c.IMAP.Auth == "oauth2" {
		mc.Auth = newTokenSource("imap.oauth2", c.IMAP.OAuth2, nil)
	}
	return mc, nil
}

func (c *Config) smtpConfig(tn tunables) (mailbox.SMTPConfig, error) {
	tlsConfig, err := c.SMTP.tlsConfig(tn.smtpTLS)
	if err != nil {
		return mailbox.SMTPConfig{}, fmt.Errorf("config: smtp.%w", err)
	}
	mc := mailbox.SMTPConfig{
		Addr:      net.JoinHostPort(c.SMTP.Host, strconv.Itoa(c.SMTP.Port)),
		TLS:       mailbox.TLSMode(c.SMTP.TLS),
		TLSConfig: tlsConfig,
		Username:  c.SMTP.Username,
		Password:  c.SMTP.password,
	}
	if c.SMTP.Auth == "oauth2" {
		mc.Auth = newTokenSource("smtp.oauth2", c.SMTP.OAuth2, nil)
	}
	return mc, nil
}

func (c *Config) workflowConfig() (workflow.Config, error) {
	loc, err := time.LoadLocation(c.Organisation.Timezone)
	if err != nil {
		return workflow.Config{}, fmt.Errorf("config: organisation.timezone: %w", err)
	}
	wc := workflow.Config{
		OrgName:               c.Organisation.Name,
		SupportAddress:        c.Organisation.SupportAddress,
		Timezone:              loc,
		Escalations:           c.Organisation.EscalationsAddress,
		EnvelopeSender:        c.SMTP.EnvelopeSender,
		CustomerBounceAddress: c.SMTP.CustomerBounceAddress,
		TeamDomains:           c.People.TeamDomains,
		TeamAddresses:         c.People.TeamAddresses,
		Secret:                c.Secrets.secret,
		Evidence:              c.Notices.Evidence,
		MaxPerIncidentHour:    c.Notices.MaxPerIncidentPerHour,
		MaxPerRecipientHour:   c.Notices.MaxPerRecipientPerHour,
		Verify:                c.Commands.Verify,
		TrustedAuthServIDs:    c.Commands.TrustedAuthservIDs,
		SeverApprovals:        c.Commands.SeverApprovals,
		CustomerReplyTo:       c.Commands.CustomerReplyTo,
		Time:                  c.timeConfig(loc),
	}
	if c.Commands.Hold != nil {
		wc.Hold = time.Duration(*c.Commands.Hold)
	}
	for _, l := range c.People.Leads {
		wc.Leads = append(wc.Leads, workflow.Person{Name: l.Name, Address: l.Address})
	}
	return wc, nil
}

// spoolDir is where large messages are spooled while they are handled:
// the database's directory, which holds them next anyway and is on disk
// (a /tmp on tmpfs would hold them in memory again). The files are
// unlinked at once (mailbox/spool.go).
func (c *Config) spoolDir(tn tunables) string {
	if tn.spoolDir != "" {
		return tn.spoolDir
	}
	return filepath.Dir(c.Storage.Path)
}
