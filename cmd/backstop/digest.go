package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"backstop/templates"
	"backstop/workflow"
)

// runDigest prints the weekly digest exactly as it would be sent, without
// sending it. The daemon sends it itself (digest.weekday, digest.time).
func runDigest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("digest", stderr)
	path := fs.String("config", "backstop.yaml", "configuration `file`")
	db := fs.String("db", "", "database `file`, instead of the one named in -config")
	preview := fs.Bool("preview", false, "print the digest as it would be sent, to each recipient; nothing is sent")
	week := fs.String("week", "", "the ISO `week` to show, like 2026-W40 (default: the one the next digest covers, as it stands now)")
	html := fs.Bool("html", false, "print the HTML part too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*preview || fs.NArg() > 0 {
		return usageError{"use --preview: backstop serve sends the digest itself, at digest.weekday and digest.time"}
	}
	cfg, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	st, err := openStoreForCLI(ctx, *path, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	tmpl, err := templates.Load(cfg.Templates.Dir)
	if err != nil {
		return err
	}
	wcfg, err := cfg.workflowConfig()
	if err != nil {
		return err
	}
	desk, err := workflow.NewDesk(wcfg, st, tmpl)
	if err != nil {
		return err
	}
	start, end := desk.NextDigestPeriod(time.Now())
	if *week != "" {
		if start, end, err = workflow.ParseWeek(*week, wcfg.Timezone); err != nil {
			return usageError{"-week: " + err.Error()}
		}
	}
	mails, err := desk.PreviewDigest(ctx, start, end)
	if err != nil {
		return err
	}
	if len(mails) == 0 {
		fmt.Fprintln(stdout, "no one gets the digest: every recipient replied DIGEST OFF")
		return nil
	}
	for i, m := range mails {
		if i > 0 {
			fmt.Fprintf(stdout, "\n%s\n\n", strings.Repeat("=", 72))
		}
		fmt.Fprintf(stdout, "From:        %s\n", formatPerson(m.From))
		for _, p := range m.To {
			fmt.Fprintf(stdout, "To:          %s\n", formatPerson(p))
		}
		fmt.Fprintf(stdout, "Subject:     %s\n\n%s\n", m.Subject, strings.TrimRight(m.Text, "\n"))
		if *html {
			fmt.Fprintf(stdout, "\n---- HTML ----\n%s\n", m.HTML)
		}
	}
	return nil
}
