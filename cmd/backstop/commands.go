package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"backstop/mailbox"
	"backstop/mailbox/parse"
	"backstop/templates"
	"backstop/workflow"
)

func runCheckConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check-config", stderr)
	path := fs.String("config", "backstop.yaml", "configuration `file`")
	connect := fs.Bool("connect", false, "also log in to the IMAP and SMTP servers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	if _, err := templates.Load(cfg.Templates.Dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: configuration is valid (%d leads, templates render)\n", *path, len(cfg.People.Leads))
	if !*connect {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	log := newLogger(LogConfig{Level: "warn"}, stderr)
	var failed []string
	icfg, err := cfg.imapConfig(tunables{}, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imap %s:%d:\n", cfg.IMAP.Host, cfg.IMAP.Port)
	r, err := mailbox.NewWatcher(icfg, nil, nil).Check(ctx)
	for _, step := range r.Steps {
		fmt.Fprintf(stdout, "  ok: %s\n", step)
	}
	if r.Names != "" {
		fmt.Fprintf(stdout, "  ok: %s; capabilities: %s\n", r.Names, strings.Join(r.Capabilities, " "))
	}
	for _, m := range r.Mailboxes {
		name := m.Server
		if m.Server != m.Configured {
			name = fmt.Sprintf("%s (written %s in the config)", m.Server, m.Configured)
		}
		fmt.Fprintf(stdout, "  ok: %s %s %s\n", m.Key, name, m.Status)
		if m.Warning != "" {
			fmt.Fprintf(stdout, "  warning: %s %s: %s\n", m.Key, m.Server, m.Warning)
		}
	}
	if err != nil {
		failed = append(failed, "imap")
		fmt.Fprintf(stdout, "  FAILED: %v\n", err)
	}
	scfg, err := cfg.smtpConfig(tunables{})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "smtp %s:%d:\n", cfg.SMTP.Host, cfg.SMTP.Port)
	if err := mailbox.NewSender(scfg).Check(ctx); err != nil {
		failed = append(failed, "smtp")
		var se *mailbox.SendError
		if errors.As(err, &se) && se.Stage == mailbox.StageAuth {
			fmt.Fprintf(stdout, "  ok: connected to %s:%d (TLS %s)\n", cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS)
		}
		fmt.Fprintf(stdout, "  FAILED: %v\n", err)
	} else {
		fmt.Fprintf(stdout, "  ok: connected (TLS %s)%s\n", cfg.SMTP.TLS, map[bool]string{true: ", authenticated as " + cfg.SMTP.Username, false: ""}[cfg.SMTP.Username != ""])
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s did not work: fix the settings named above and run check-config -connect again", strings.Join(failed, " and "))
	}
	return nil
}

// openStoreForCLI opens the database named by -config (or -db), with the
// storage key of the configuration (with -db: of $BACKSTOP_STORAGE_KEY).
func openStoreForCLI(ctx context.Context, configPath, dbPath string) (*workflow.Store, error) {
	var key []byte
	if dbPath == "" {
		cfg, err := LoadConfig(configPath)
		if err != nil {
			return nil, err
		}
		dbPath, key = cfg.Storage.Path, cfg.Storage.key
	} else {
		k, err := envStorageKey()
		if err != nil {
			return nil, err
		}
		key = k
	}
	return openExistingStore(ctx, dbPath, key)
}

// openExistingStore opens a database the daemon made; it never creates
// one, so a wrong path is an error rather than an empty, intact store.
func openExistingStore(ctx context.Context, dbPath string, key []byte) (*workflow.Store, error) {
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("no database at %s (has `backstop serve` run with this configuration?): %w", dbPath, err)
	}
	return workflow.Open(ctx, dbPath, key)
}

// storageKeyEnv is where commands given -db instead of -config find the
// storage key.
const storageKeyEnv = "BACKSTOP_STORAGE_KEY"

func envStorageKey() ([]byte, error) {
	v := os.Getenv(storageKeyEnv)
	if v == "" {
		return nil, fmt.Errorf("with -db, the storage key comes from $%s, which is empty: set it to the key the database was made with (the one storage.key_env/storage.key_file names), or use -config", storageKeyEnv)
	}
	k, err := workflow.ParseKey(v)
	if err != nil {
		return nil, fmt.Errorf("$%s: %w", storageKeyEnv, err)
	}
	return k, nil
}

func runIncidents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("incidents", stderr)
	path := fs.String("config", "backstop.yaml", "configuration `file` (for storage.path)")
	db := fs.String("db", "", "database `file`, instead of the one named in -config")
	state := fs.String("state", "", "only incidents in these `states` (comma-separated; open = every open state)")
	since := fs.String("since", "", "only incidents opened since this `date` (2026-03-01) or this long ago (7d, 48h)")
	waiting := fs.Bool("waiting", false, "only open incidents no lead has acted on yet, oldest first (as the digest lists them)")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	filter, err := incidentFilter(*state, *since, time.Now())
	if err != nil {
		return err
	}
	if *waiting {
		cfg, err := LoadConfig(*path)
		if err != nil {
			return fmt.Errorf("-waiting needs the leads from the configuration: %w", err)
		}
		filter.Waiting = true
		for _, l := range cfg.People.Leads {
			filter.Leads = append(filter.Leads, l.Address)
		}
	}
	st, err := openStoreForCLI(ctx, *path, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	switch {
	case len(rest) == 0:
		return listIncidents(ctx, st, filter, stdout)
	case rest[0] == "show" && len(rest) == 2:
		id, err := parseIncidentID(rest[1])
		if err != nil {
			return err
		}
		return showIncident(ctx, st, id, stdout)
	default:
		return usageError{"expected no argument, or show INC-n"}
	}
}

func parseIncidentID(s string) (int64, error) {
	n := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "INC-")
	id, err := strconv.ParseInt(n, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Sprintf("%q is not an incident id; write it as INC-7", s)}
	}
	return id, nil
}

// incidentFilter reads the -state and -since flags.
func incidentFilter(state, since string, now time.Time) (workflow.IncidentFilter, error) {
	var f workflow.IncidentFilter
	known := append([]string{"open"}, workflow.States()...)
	for _, s := range strings.Split(state, ",") {
		if s = strings.ToLower(strings.TrimSpace(s)); s == "" {
			continue
		}
		if !slices.Contains(known, s) {
			return f, usageError{fmt.Sprintf("-state %q: use %s", s, strings.Join(known, ", "))}
		}
		f.States = append(f.States, s)
	}
	since = strings.TrimSpace(since)
	switch {
	case since == "":
	case strings.HasSuffix(since, "d"):
		n, err := strconv.Atoi(strings.TrimSuffix(since, "d"))
		if err != nil || n < 0 {
			return f, usageError{fmt.Sprintf("-since %q: write a date like 2026-03-01, or 7d, or 48h", since)}
		}
		f.Since = now.AddDate(0, 0, -n)
	default:
		if d, err := time.ParseDuration(since); err == nil && d >= 0 {
			f.Since = now.Add(-d)
		} else if t, err := time.ParseInLocation("2006-01-02", since, time.Local); err == nil {
			f.Since = t
		} else {
			return f, usageError{fmt.Sprintf("-since %q: write a date like 2026-03-01, or 7d, or 48h", since)}
		}
	}
	return f, nil
}

func listIncidents(ctx context.Context, st *workflow.Store, f workflow.IncidentFilter, w io.Writer) error {
	incs, err := st.FindIncidents(ctx, f)
	if err != nil {
		return err
	}
	if len(incs) == 0 {
		fmt.Fprintln(w, "no incidents")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCUSTOMER\tORGANISATION\tREPORTER\tOPENED\tUPDATED")
	for _, in := range incs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.Ref(), in.State, orDash(in.Customer.Address), orDash(in.Organisation),
			orDash(in.Reporter.Address), in.Created.Format("2006-01-02 15:04"), in.Updated.Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

func showIncident(ctx context.Context, st *workflow.Store, id int64, w io.Writer) error {
	in, events, err := st.Incident(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s  %s\n", in.Ref(), in.State)
	fmt.Fprintf(w, "customer:      %s\n", formatPerson(in.Customer))
	fmt.Fprintf(w, "organisation:  %s\n", orDash(in.Organisation))
	fmt.Fprintf(w, "reporter:      %s\n", formatPerson(in.Reporter))
	if in.Lead.Address != "" {
		fmt.Fprintf(w, "lead:          %s\n", formatPerson(in.Lead))
	}
	fmt.Fprintf(w, "subject:       %s\n", in.Subject)
	fmt.Fprintf(w, "opened:        %s\n", in.Created.Format(time.RFC1123Z))
	fmt.Fprintf(w, "\naudit trail:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range events {
		detail := oneLine(e.Detail)
		if e.MessageID != "" {
			detail += "  <" + e.MessageID + ">"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.At.In(time.Local).Format("2006-01-02 15:04:05"), e.Actor, e.Kind, detail)
	}
	return tw.Flush()
}

func formatPerson(p workflow.Person) string {
	switch {
	case p.Name != "" && p.Address != "":
		return fmt.Sprintf("%s <%s>", p.Name, p.Address)
	case p.Address != "":
		return p.Address
	case p.Name != "":
		return p.Name + " (address unknown)"
	}
	return "-"
}

// oneLine folds a multi-line detail into one line for tables.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runParse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("parse", stderr)
	explain := fs.Bool("explain", false, "instead of the JSON, say which rule found each forwarded original and where the reply text was cut, over the numbered text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"name one message file, or - for standard input"}
	}
	var r io.Reader = os.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	msg, perr := parse.Parse(r)
	if msg == nil {
		return fmt.Errorf("cannot read the message: %w", perr)
	}
	if *explain {
		if _, err := io.WriteString(stdout, msg.Explain()); err != nil {
			return err
		}
		if perr != nil {
			return fmt.Errorf("the message is malformed (partial result above): %w", perr)
		}
		return nil
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(msg); err != nil {
		return err
	}
	if perr != nil {
		return fmt.Errorf("the message is malformed (partial result above): %w", perr)
	}
	return nil
}
