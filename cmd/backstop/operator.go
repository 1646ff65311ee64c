package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"backstop/templates"
	"backstop/workflow"
)

// runSevered lists severed customers for a support tool's block list.
func runSevered(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("severed", stderr)
	path := fs.String("config", "backstop.yaml", "configuration `file` (for storage.path)")
	db := fs.String("db", "", "database `file`, instead of the one named in -config")
	format := fs.String("format", "csv", "output `format`: csv or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *format != "csv" && *format != "json" {
		return usageError{fmt.Sprintf("-format %q: use csv or json", *format)}
	}
	st, err := openStoreForCLI(ctx, *path, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.Severed(ctx)
	if err != nil {
		return err
	}
	type entry struct {
		Customer     string `json:"customer"`
		CustomerName string `json:"customer_name"`
		Organisation string `json:"organisation"`
		Incident     string `json:"incident"`
		SeveredAt    string `json:"severed_at"`
		Lead         string `json:"lead"`
		RequestedBy  string `json:"requested_by"`
		ApprovedBy   string `json:"approved_by"`
		State        string `json:"state"`
		Email        string `json:"email"`
	}
	entries := make([]entry, 0, len(list))
	for _, s := range list {
		entries = append(entries, entry{
			Customer: s.Customer.Address, CustomerName: s.Customer.Name, Organisation: s.Organisation,
			Incident: s.Incident, SeveredAt: s.SeveredAt.UTC().Format(time.RFC3339), Lead: s.Lead.Address,
			RequestedBy: s.RequestedBy, ApprovedBy: s.ApprovedBy, State: s.State, Email: s.Email,
		})
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	w := csv.NewWriter(stdout)
	w.Write([]string{"customer", "customer_name", "organisation", "incident", "severed_at", "lead", "requested_by", "approved_by", "state", "email"})
	for _, e := range entries {
		w.Write([]string{e.Customer, csvSafe(e.CustomerName), e.Organisation, e.Incident, e.SeveredAt, e.Lead, e.RequestedBy, e.ApprovedBy, e.State, e.Email})
	}
	w.Flush()
	return w.Error()
}

// csvSafe defuses a value a spreadsheet would run as a formula (a
// customer's display name is theirs to choose).
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// runTemplates lists the templates or previews one exactly as it would be sent.
func runTemplates(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("templates", stderr)
	path := fs.String("config", "backstop.yaml", "configuration `file`")
	db := fs.String("db", "", "database `file`, instead of the one named in -config")
	incident := fs.String("incident", "", "render for this incident (`INC-n`) instead of sample data")
	lead := fs.String("lead", "", "sign customer emails as this lead (`address`; default: the incident's lead)")
	raw := fs.Bool("raw", false, "print the whole message exactly as it would go on the wire")
	html := fs.Bool("html", false, "print the HTML body too")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(words) == 1 && words[0] == "list":
		return listTemplates(*path, stdout)
	case len(words) == 2 && words[0] == "preview":
		return previewTemplate(ctx, *path, *db, words[1], *incident, *lead, *raw, *html, stdout)
	default:
		return usageError{"expected `list` or `preview NAME`"}
	}
}

func listTemplates(configPath string, w io.Writer) error {
	dir := ""
	if _, err := os.Stat(configPath); err == nil {
		cfg, err := LoadConfig(configPath)
		if err != nil {
			return err
		}
		dir = cfg.Templates.Dir
	}
	set, err := templates.Load(dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTO\tSOURCE")
	for _, name := range set.Names() {
		to := "team"
		if templates.IsCustomer(name) {
			to = "customer (sent on a lead's behalf)"
		}
		src := "embedded"
		if dir != "" {
			var over []string
			for _, ext := range []string{".txt", ".html"} {
				if _, err := os.Stat(filepath.Join(dir, name+ext)); err == nil {
					over = append(over, filepath.Join(dir, name+ext))
				}
			}
			if len(over) > 0 {
				src = "override: " + strings.Join(over, ", ")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, to, src)
	}
	return tw.Flush()
}

func previewTemplate(ctx context.Context, configPath, dbPath, name, incident, leadAddr string, raw, html bool, w io.Writer) error {
	cfg, err := LoadConfig(configPath)
	if err != nil {
		return err
	}
	var id int64
	if incident != "" {
		if id, err = parseIncidentID(incident); err != nil {
			return err
		}
	}
	if dbPath == "" {
		dbPath = cfg.Storage.Path
	}
	if id == 0 {
		// Sample data needs no incident: don't create the real database for it.
		dir, err := os.MkdirTemp("", "backstop-preview-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dbPath = filepath.Join(dir, "preview.db")
	} else if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("no database at %s to find %s in: %w", dbPath, incident, err)
	}
	tmpl, err := templates.Load(cfg.Templates.Dir)
	if err != nil {
		return err
	}
	wcfg, err := cfg.workflowConfig()
	if err != nil {
		return err
	}
	st, err := workflow.Open(ctx, dbPath, cfg.Storage.key)
	if err != nil {
		return err
	}
	defer st.Close()
	desk, err := workflow.NewDesk(wcfg, st, tmpl)
	if err != nil {
		return err
	}
	var lead workflow.Person
	if leadAddr != "" {
		for _, l := range wcfg.Leads {
			if strings.EqualFold(l.Address, leadAddr) {
				lead = l
			}
		}
		if lead.Address == "" {
			return usageError{fmt.Sprintf("-lead %s is not a lead in %s", leadAddr, configPath)}
		}
	}
	rendered, m, err := desk.Preview(ctx, name, id, lead)
	if err != nil {
		return err
	}
	if raw {
		b, err := compose(m)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	fmt.Fprintf(w, "From:        %s\n", formatPerson(m.From))
	if m.Sender != nil {
		fmt.Fprintf(w, "Sender:      %s\n", formatPerson(*m.Sender))
	}
	for _, p := range m.To {
		fmt.Fprintf(w, "To:          %s\n", formatPerson(p))
	}
	for _, p := range m.ReplyTo {
		fmt.Fprintf(w, "Reply-To:    %s\n", formatPerson(p))
	}
	fmt.Fprintf(w, "Subject:     %s\n", m.Subject)
	if m.InReplyTo != "" {
		fmt.Fprintf(w, "In-Reply-To: <%s>\n", m.InReplyTo)
	}
	fmt.Fprintf(w, "Envelope:    MAIL FROM:<%s>\n", m.EnvelopeFrom)
	for _, a := range m.Attachments {
		fmt.Fprintf(w, "Attachment:  %s (%s)\n", a.Filename, a.ContentType)
	}
	fmt.Fprintf(w, "\n%s\n", strings.TrimRight(rendered.Text, "\n"))
	if html {
		fmt.Fprintf(w, "\n---- HTML ----\n%s\n", rendered.HTML)
	}
	return nil
}
