package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"backstop/mailbox"
	"backstop/mailbox/embedded"
	"backstop/mailbox/parse"
	"backstop/workflow"
)

// The demo's cast. Passwords are for the loopback servers only.
const (
	demoDomain      = "acme.example"
	demoEscalations = "escalations@acme.example"
	demoAuthServID  = "mx.acme.example"
	demoTeammate    = "sam@acme.example"
	demoLead        = "jane@acme.example"
	demoPassword    = "demo"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	keep := fs.Bool("keep", true, "keep serving after the scenario, for your own mail client")
	dbPath := fs.String("db", "", "database `file` (default: a new temporary file)")
	imapPort := fs.Int("imap-port", 0, "IMAP `port` on 127.0.0.1 (0: any free port)")
	smtpPort := fs.Int("smtp-port", 0, "SMTP `port` on 127.0.0.1 (0: any free port)")
	verbose := fs.Bool("v", false, "show the daemon's log")
	hold := fs.Duration("hold", 15*time.Second, "how long customer emails wait, cancellable (commands.hold)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	srv, err := embedded.Start(embedded.Config{
		Domain:     demoDomain,
		Address:    demoEscalations,
		Username:   "escalations",
		Password:   demoPassword,
		AuthServID: demoAuthServID,
		Accounts: map[string]string{
			demoTeammate:            demoPassword,
			demoLead:                demoPassword,
			"omar@acme.example":     demoPassword,
			"jordan@globex.example": demoPassword,
		},
		IMAPPort: *imapPort,
		SMTPPort: *smtpPort,
	})
	if err != nil {
		return fmt.Errorf("starting the embedded mail servers: %w", err)
	}
	defer srv.Close()

	if *dbPath == "" {
		dir, err := os.MkdirTemp("", "backstop-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*dbPath = filepath.Join(dir, "backstop.db")
	}
	cfg, err := demoConfig(srv, *dbPath)
	if err != nil {
		return err
	}
	h := Duration(*hold)
	cfg.Commands.Hold = &h
	logOut := io.Discard
	if *verbose {
		logOut = stderr
	}
	log := newLogger(LogConfig{Level: "info"}, logOut)
	d, err := newDaemon(ctx, cfg, log, tunables{
		idleRestart:    time.Minute,
		commandTimeout: 30 * time.Second,
		minBackoff:     200 * time.Millisecond,
		maxBackoff:     5 * time.Second,
		dispatchPoll:   time.Second,
		minRetry:       time.Second,
		maxRetry:       30 * time.Second,
	})
	if err != nil {
		return err
	}
	defer d.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// waitCtx ends when the daemon stops, so that the scenario reports
	// why instead of waiting for emails that will never come.
	waitCtx, stopped := context.WithCancelCause(ctx)
	defer stopped(nil)
	done := make(chan error, 1)
	go func() {
		err := d.run(ctx)
		if err == nil || errors.Is(err, context.Canceled) {
			err = errors.New("it stopped")
		}
		stopped(fmt.Errorf("backstop stopped during the scenario: %w", err))
		done <- err
	}()

	fmt.Fprintf(stdout, "backstop demo: embedded IMAP on %s and SMTP on %s (loopback only)\n\n", srv.IMAPAddr(), srv.SMTPAddr())
	fmt.Fprintf(stdout, "Scenario: Sam (%s), a support teammate, forwards an abusive\nconversation with Jordan Miles of Globex to %s.\n\n", demoTeammate, demoEscalations)

	if err := sendDemoForward(ctx, srv.SMTPAddr()); err != nil {
		return fmt.Errorf("sending the scenario's forward: %w", err)
	}
	sent, err := waitSent(waitCtx, srv, 1+len(cfg.People.Leads)) // the reporter's acknowledgement and one notice per lead
	if err != nil {
		return err
	}
	if err := printIncidents(ctx, d, stdout); err != nil {
		return err
	}
	for i, c := range sent {
		printCaptured(stdout, i+1, c)
	}
	shown := len(sent)

	// Jane, a lead, answers the notice from her phone with one word.
	var notice *embedded.Captured
	for i, c := range sent {
		if len(c.To) == 1 && c.To[0] == demoLead {
			notice = &sent[i]
		}
	}
	if notice == nil {
		return fmt.Errorf("no lead notice reached %s (run with -v to see the daemon's log)", demoLead)
	}
	fmt.Fprintln(stdout, strings.Repeat("═", 72))
	fmt.Fprintf(stdout, "Jane (%s) replies to her notice from her phone: \"Boundary\".\nThe embedded SMTP server authenticates her and stamps Authentication-Results,\nas your own mail server would; backstop checks it and her reply token.\n\n", demoLead)
	if err := sendDemoReply(ctx, srv.SMTPAddr(), notice.Raw, "Boundary"); err != nil {
		return fmt.Errorf("sending Jane's reply: %w", err)
	}
	more, err := waitSent(waitCtx, srv, shown+1) // the preview of the boundary email
	if err != nil {
		return err
	}
	for _, c := range more[shown:] {
		shown++
		printCaptured(stdout, shown, c)
	}
	fmt.Fprintf(stdout, "The boundary email waits %s (commands.hold), during which Jane could reply CANCEL.\n\n", *hold)
	more, err = waitSent(waitCtx, srv, shown+1, *hold+30*time.Second) // the boundary email itself
	if err != nil {
		return err
	}
	for _, c := range more[shown:] {
		shown++
		printCaptured(stdout, shown, c)
	}
	if err := printIncidents(ctx, d, stdout); err != nil {
		return err
	}

	if !*keep {
		cancel()
		<-done
		return nil
	}
	fmt.Fprintf(stdout, `
backstop keeps running. Try it with any mail client:

  SMTP server  %s   (no TLS; AUTH PLAIN or LOGIN, or none)
  IMAP server  %s   (each account below reads its own INBOX there;
                                the watched mailbox is user escalations, password %s)
  accounts     %s (a teammate), %s (a lead),
               omar@acme.example (a lead), jordan@globex.example (a customer):
               user = the address, password "%s"
  send to      %s

Forward a conversation as Sam; read the lead notice as Jane and reply with a
command on the first line (BOUNDARY, ESCALATE hr@globex.example, SEVER,
RESOLVE, STATUS, HELP, ...). Commands count only from a lead who logged in to
send (that is what the Authentication-Results stamp proves) and who answers
backstop's own email (the reply token).

  e.g.  swaks --server %s --auth-user %s --auth-password %s \
              --from %s --to %s --attach-type message/rfc822 --attach @some.eml

Every email backstop sends is printed here. Ctrl-C stops.

`, srv.SMTPAddr(), srv.IMAPAddr(), demoPassword, demoTeammate, demoLead, demoPassword, demoEscalations,
		srv.SMTPAddr(), demoTeammate, demoPassword, demoTeammate, demoEscalations)
	for {
		more, err := srv.WaitSent(waitCtx, shown+1)
		if err != nil {
			break
		}
		for _, c := range more[shown:] {
			shown++
			printCaptured(stdout, shown, c)
		}
	}
	cancel()
	return <-done
}

// waitSent waits for the embedded SMTP server to have captured n emails.
func waitSent(ctx context.Context, srv *embedded.Server, n int, within ...time.Duration) ([]embedded.Captured, error) {
	d := 30 * time.Second
	if len(within) > 0 {
		d = within[0]
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	sent, err := srv.WaitSent(ctx, n)
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.DeadlineExceeded) && !errors.Is(cause, context.Canceled) {
		return nil, cause
	}
	if err != nil {
		return nil, fmt.Errorf("waiting for backstop's emails (%d of %d so far): %w (run with -v to see the daemon's log)", len(sent), n, err)
	}
	return sent, nil
}

// sendDemoReply answers a notice as the lead would from a phone: the
// command on the first line, the notice quoted below, to its Reply-To.
func sendDemoReply(ctx context.Context, smtpAddr string, notice []byte, command string) error {
	m, err := parse.Parse(bytes.NewReader(notice))
	if err != nil {
		return err
	}
	if len(m.ReplyTo) == 0 {
		return fmt.Errorf("the notice has no Reply-To")
	}
	var quoted strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(m.Text), "\n") {
		quoted.WriteString("> " + line + "\n")
	}
	date := time.Now()
	if m.Date != nil {
		date = *m.Date
	}
	raw, err := mailbox.Compose(&mailbox.Outgoing{
		From:       mailbox.Address{Name: "Jane Doe", Address: demoLead},
		To:         outAddrs(m.ReplyTo),
		Subject:    "Re: " + m.Subject,
		MessageID:  fmt.Sprintf("<reply-%d@phone.acme.example>", time.Now().UnixNano()),
		InReplyTo:  m.MessageID,
		References: append(m.References, m.MessageID),
		Date:       time.Now(),
		Text: fmt.Sprintf("%s\n\nSent from my iPhone\n\nOn %s, %s <%s> wrote:\n\n%s", command,
			date.Format("2 Jan 2006, at 15:04"), m.From.Name, m.From.Address, quoted.String()),
	})
	if err != nil {
		return err
	}
	s := mailbox.NewSender(mailbox.SMTPConfig{Addr: smtpAddr, TLS: mailbox.TLSNone, Username: demoLead, Password: demoPassword})
	return s.Send(ctx, demoLead, []string{m.ReplyTo[0].Address}, raw)
}

// demoConfig is the configuration the demo runs with: the embedded servers
// on loopback, Jane and Omar as leads, acme.example as the team.
func demoConfig(srv *embedded.Server, dbPath string) (*Config, error) {
	ihost, iport, err := splitHostPort(srv.IMAPAddr())
	if err != nil {
		return nil, err
	}
	shost, sport, err := splitHostPort(srv.SMTPAddr())
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	cfg := &Config{
		Organisation: OrganisationConfig{Name: "Acme Support", SupportAddress: "support@acme.example", EscalationsAddress: demoEscalations, Timezone: "UTC"},
		IMAP:         IMAPConfig{Host: ihost, Port: iport, TLS: "none", Username: "escalations", password: demoPassword},
		SMTP:         SMTPConfig{Host: shost, Port: sport, TLS: "none"},
		People: PeopleConfig{
			Leads:       []PersonConfig{{Name: "Jane Doe", Address: demoLead}, {Name: "Omar Haddad", Address: "omar@acme.example"}},
			TeamDomains: []string{demoDomain},
		},
		Storage:  StorageConfig{Path: dbPath, key: demoStorageKey()},
		Secrets:  SecretsConfig{secret: []byte(base64.StdEncoding.EncodeToString(secret))},
		Commands: CommandsConfig{TrustedAuthservIDs: []string{demoAuthServID}},
	}
	cfg.applyDefaults()
	return cfg, nil
}

// demoStorageKey is $BACKSTOP_STORAGE_KEY when set (to reopen a -db kept
// from an earlier demo), else a fresh random key: the demo's database is
// encrypted like any other.
func demoStorageKey() []byte {
	if k, err := envStorageKey(); err == nil {
		return k
	}
	k, _ := workflow.ParseKey(workflow.NewKey())
	return k
}

func splitHostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	return h, n, err
}

// sendDemoForward submits the scenario's forward as Sam would from Gmail.
func sendDemoForward(ctx context.Context, smtpAddr string) error {
	now := time.Now().UTC()
	raw, err := forwardMessage(mailbox.Address{Name: "Sam Rivera", Address: demoTeammate},
		mailbox.Address{Name: "Jordan Miles", Address: "jordan@globex.example"},
		fmt.Sprintf("<demo-%d@mail.acme.example>", now.UnixNano()), now)
	if err != nil {
		return err
	}
	s := mailbox.NewSender(mailbox.SMTPConfig{Addr: smtpAddr, TLS: mailbox.TLSNone, Username: demoTeammate, Password: demoPassword})
	return s.Send(ctx, demoTeammate, []string{demoEscalations}, raw)
}

// forwardMessage writes a teammate's forward of an abusive thread the way
// Gmail does: a note, the "Forwarded message" block, and the quoted replies.
func forwardMessage(reporter, customer mailbox.Address, messageID string, now time.Time) ([]byte, error) {
	const layout = "Mon, Jan 2, 2006 at 3:04 PM"
	orig1 := now.Add(-26 * time.Hour)
	orig2 := now.Add(-3 * time.Hour)
	first := strings.Fields(reporter.Name + " x")[0]
	body := fmt.Sprintf(`Hi, this one got really personal. I'd rather not deal with them again.

%s

---------- Forwarded message ---------
From: %s <%s>
Date: %s
Subject: Re: Ticket #4471 export still broken
To: %s <%s>

Are you incompetent or just lazy? I have told you THREE times. If this is
not fixed today I will make sure everyone knows what a useless excuse for a
support person you are. I know where your office is.

On %s, %s <%s> wrote:
> Hi, thanks for your patience. We have reproduced the export issue
> and our engineers are on it; I will update you by tomorrow.

On %s, %s <%s> wrote:
> Your export is broken again. Fix it. Now.
`, first, customer.Name, customer.Address, orig2.Format(layout), reporter.Name, reporter.Address,
		orig1.Add(2*time.Hour).Format(layout), reporter.Name, reporter.Address,
		orig1.Format(layout), customer.Name, customer.Address)
	return mailbox.Compose(&mailbox.Outgoing{
		From:      reporter,
		To:        []mailbox.Address{{Address: demoEscalations}},
		Subject:   "Fwd: Re: Ticket #4471 export still broken",
		MessageID: messageID,
		Date:      now,
		Text:      body,
	})
}

func printIncidents(ctx context.Context, d *daemon, w io.Writer) error {
	incs, err := d.store.Incidents(ctx)
	if err != nil {
		return err
	}
	for _, in := range incs {
		fmt.Fprintln(w, strings.Repeat("═", 72))
		if err := showIncident(ctx, d.store, in.ID, w); err != nil {
			return err
		}
	}
	return nil
}

// printCaptured shows an email backstop sent, as a person would read it.
func printCaptured(w io.Writer, n int, c embedded.Captured) {
	fmt.Fprintln(w, strings.Repeat("─", 72))
	msg, err := parse.Parse(bytes.NewReader(c.Raw))
	if msg == nil {
		fmt.Fprintf(w, "email %d to %s: unreadable: %v\n", n, strings.Join(c.To, ", "), err)
		return
	}
	fmt.Fprintf(w, "email %d  (envelope: %s → %s)\n", n, c.From, strings.Join(c.To, ", "))
	fmt.Fprintf(w, "From:     %s\n", addrString(msg.From))
	for _, a := range msg.To {
		fmt.Fprintf(w, "To:       %s\n", addrString(a))
	}
	for _, a := range msg.ReplyTo {
		fmt.Fprintf(w, "Reply-To: %s\n", addrString(a))
	}
	fmt.Fprintf(w, "Subject:  %s\n", msg.Subject)
	for _, a := range msg.Attachments {
		fmt.Fprintf(w, "Attached: %s (%s, %d bytes)\n", a.Filename, a.ContentType, a.Size)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.TrimSpace(msg.Text))
	fmt.Fprintln(w)
}

func addrString(a parse.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return fmt.Sprintf("%s <%s>", a.Name, a.Address)
}
