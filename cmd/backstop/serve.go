package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	minBackoff     time.Duration
	maxBackoff     time.Duration
	dispatchPoll   time.Duration
	minRetry       time.Duration
	maxRetry       time.Duration
}

// daemon is backstop wired together: watcher → pipeline → desk → outbox → sender.
type daemon struct {
	cfg        *Config
	log        *slog.Logger
	store      *workflow.Store
	desk       *workflow.Desk
	dispatcher *workflow.Dispatcher
	watcher    *mailbox.Watcher
	sender     *mailbox.Sender
	templates  *templates.Set
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
	log.Info("backstop serving", "mailbox", cfg.IMAP.Mailbox, "imap", cfg.IMAP.Host, "smtp", cfg.SMTP.Host, "db", cfg.Storage.Path)
	err = d.run(ctx)
	log.Info("backstop stopped")
	return err
}

// newDaemon opens the store, loads the templates and builds every part.
func newDaemon(ctx context.Context, cfg *Config, log *slog.Logger, tn tunables) (*daemon, error) {
	tmpl, err := templates.Load(cfg.Templates.Dir)
	if err != nil {
		return nil, err
	}
	wcfg, err := cfg.workflowConfig()
	wcfg.Logger = log
	if err != nil {
		return nil, err
	}
	store, err := workflow.Open(ctx, cfg.Storage.Path)
	if err != nil {
		return nil, err
	}
	desk, err := workflow.NewDesk(wcfg, store, tmpl)
	if err != nil {
		store.Close()
		return nil, err
	}
	sender := mailbox.NewSender(cfg.smtpConfig(tn))
	d := &daemon{cfg: cfg, log: log, store: store, desk: desk, sender: sender, templates: tmpl}
	d.dispatcher = workflow.NewDispatcher(store, &smtpTransport{sender: sender}, workflow.DispatchConfig{
		Poll:     tn.dispatchPoll,
		MinRetry: tn.minRetry,
		MaxRetry: tn.maxRetry,
		Logger:   log,
	})
	p := &pipeline{desk: desk, kick: d.dispatcher.Kick, log: log}
	d.watcher = mailbox.NewWatcher(cfg.imapConfig(tn, log), store, p)
	return d, nil
}

// run runs the watcher and the dispatcher until ctx is done, then lets each
// finish the message in hand.
func (d *daemon) run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, part := range []struct {
		name string
		run  func(context.Context) error
	}{{"watcher", d.watcher.Run}, {"dispatcher", d.dispatcher.Run}, {"checkpoints", d.checkpoints}} {
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

func (d *daemon) close() {
	d.sender.Close()
	if err := d.store.Close(); err != nil {
		d.log.Error("closing the store", "err", err)
	}
}

func (c *Config) imapConfig(tn tunables, log *slog.Logger) mailbox.IMAPConfig {
	return mailbox.IMAPConfig{
		Addr:           net.JoinHostPort(c.IMAP.Host, strconv.Itoa(c.IMAP.Port)),
		TLS:            mailbox.TLSMode(c.IMAP.TLS),
		TLSConfig:      tn.imapTLS,
		Username:       c.IMAP.Username,
		Password:       c.IMAP.password,
		Mailbox:        c.IMAP.Mailbox,
		Processed:      c.IMAP.ProcessedMailbox,
		Quarantine:     c.IMAP.QuarantineMailbox,
		PollInterval:   time.Duration(c.IMAP.PollInterval),
		IdleRestart:    tn.idleRestart,
		CommandTimeout: tn.commandTimeout,
		MinBackoff:     tn.minBackoff,
		MaxBackoff:     tn.maxBackoff,
		MaxMessageSize: c.IMAP.MaxMessageSize,
		Logger:         log,
	}
}

func (c *Config) smtpConfig(tn tunables) mailbox.SMTPConfig {
	return mailbox.SMTPConfig{
		Addr:      net.JoinHostPort(c.SMTP.Host, strconv.Itoa(c.SMTP.Port)),
		TLS:       mailbox.TLSMode(c.SMTP.TLS),
		TLSConfig: tn.smtpTLS,
		Username:  c.SMTP.Username,
		Password:  c.SMTP.password,
	}
}

func (c *Config) workflowConfig() (workflow.Config, error) {
	loc, err := time.LoadLocation(c.Organisation.Timezone)
	if err != nil {
		return workflow.Config{}, fmt.Errorf("config: organisation.timezone: %w", err)
	}
	wc := workflow.Config{
		OrgName:             c.Organisation.Name,
		SupportAddress:      c.Organisation.SupportAddress,
		Timezone:            loc,
		Escalations:         c.Organisation.EscalationsAddress,
		EnvelopeSender:      c.SMTP.EnvelopeSender,
		TeamDomains:         c.People.TeamDomains,
		TeamAddresses:       c.People.TeamAddresses,
		Secret:              c.Secrets.secret,
		Evidence:            c.Notices.Evidence,
		MaxPerIncidentHour:  c.Notices.MaxPerIncidentPerHour,
		MaxPerRecipientHour: c.Notices.MaxPerRecipientPerHour,
		Verify:              c.Commands.Verify,
		TrustedAuthServIDs:  c.Commands.TrustedAuthservIDs,
		SeverApprovals:      c.Commands.SeverApprovals,
		CustomerReplyTo:     c.Commands.CustomerReplyTo,
	}
	if c.Commands.Hold != nil {
		wc.Hold = time.Duration(*c.Commands.Hold)
	}
	for _, l := range c.People.Leads {
		wc.Leads = append(wc.Leads, workflow.Person{Name: l.Name, Address: l.Address})
	}
	return wc, nil
}
