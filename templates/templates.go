// Package templates holds the emails backstop sends and renders them.
//
// Every template NAME (the constants in data.go) has two files:
//
//   - NAME.txt, a text/template whose first line is "Subject: …", then a
//     blank line, then the plain-text body;
//   - NAME.html, an html/template holding the HTML body only. Render wraps
//     it in a minimal document, unless the file starts its own
//     (<!DOCTYPE or <html).
//
// The defaults are embedded in the binary. Load reads them and, given a
// directory, lets a file there of the same name replace any one of them.
// Load renders every template against sample and sparse data, so that a
// mistake (a misspelt field, a nil pointer) stops backstop at startup with
// the file and line, never when an email is due.
//
// Subjects never carry the incident tag. The workflow prefixes "[INC-n] "
// to the subject of internal emails itself; customer emails (Boundary,
// PartingWays, Escalation) carry no internal id at all.
//
// Evidence bodies, the abusive text itself, reach only one template:
// LeadNotice with EvidenceMode "inline". Render clears them for every other
// template and mode, and Load refuses a template that tries to show them
// anywhere else.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"
)

//go:embed default/*.txt default/*.html
var defaultFS embed.FS

// names lists every template, in the order of data.go.
var names = []string{
	ReporterAck, LeadNotice, EvidenceAdded, QuarantineNotice, CommandResult,
	Help, CustomerPreview, UncertainDelivery, DeliveryFailed, SecurityNotice, ReporterOutcome, HeldBack,
	WeeklyDigest, LeadReminder, Checkin, CheckinReply,
	Boundary, PartingWays, Escalation,
}

// customerTemplates are the emails that go to customers (or, for
// Escalation, to the customer's manager): never any internal detail.
var customerTemplates = []string{Boundary, PartingWays, Escalation}

// IsCustomer reports whether the template name is an email to a customer
// or to the customer's manager, which carries no "[INC-n]" tag.
func IsCustomer(name string) bool { return slices.Contains(customerTemplates, name) }

// Defaults returns the embedded default templates, as NAME.txt and
// NAME.html at the root of the file system: a starting point for
// overrides.
func Defaults() fs.FS {
	sub, err := fs.Sub(defaultFS, "default")
	if err != nil {
		panic(err) // "default" is a valid, embedded path
	}
	return sub
}

// Set is a loaded set of templates, one per name. It is safe for
// concurrent use.
type Set struct {
	byName map[string]*tmpl
}

type tmpl struct {
	name     string
	textFile string // where NAME.txt came from, as shown in errors
	htmlFile string
	override bool // either file came from the override directory
	subject  *texttemplate.Template
	text     *texttemplate.Template
	html     *htmltemplate.Template
	htmlDoc  bool // the HTML file is a whole document: don't wrap it
}

// Load returns the embedded templates, each replaced by dir/NAME.txt or
// dir/NAME.html when that file exists (dir "" means no overrides). Files
// in dir that are not templates backstop uses are an error; names starting
// with "." (editor leftovers) are ignored. Every template is then rendered
// against sample and sparse data; the first problem of each file is
// reported with its path and line.
func Load(dir string) (*Set, error) {
	src := make(map[string]source, 2*len(names)) // file name -> source
	for _, n := range names {
		for _, ext := range []string{".txt", ".html"} {
			b, err := defaultFS.ReadFile("default/" + n + ext)
			if err != nil {
				return nil, fmt.Errorf("templates: embedded default %s%s is missing: %w", n, ext, err)
			}
			src[n+ext] = source{path: n + ext, text: string(b)}
		}
	}
	var errs []error
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("templates: reading the override directory: %w", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			if _, known := src[e.Name()]; !known || e.IsDir() {
				errs = append(errs, fmt.Errorf("templates: %s is not a template backstop uses; known: %s (each as NAME.txt and/or NAME.html)",
					path, strings.Join(names, ", ")))
				continue
			}
			b, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("templates: reading %s: %w", path, err))
				continue
			}
			if !utf8.Valid(b) {
				errs = append(errs, fmt.Errorf("templates: %s is not UTF-8 text; save it as UTF-8", path))
				continue
			}
			src[e.Name()] = source{path: path, text: string(b), override: true}
		}
	}

	s := &Set{byName: make(map[string]*tmpl, len(names))}
	for _, n := range names {
		t, err := parseFiles(n, src[n+".txt"], src[n+".html"])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := t.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		s.byName[n] = t
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

type source struct {
	path     string
	text     string
	override bool
}

// parseFiles builds the three templates of one name. The body template keeps
// the file's line numbers: its source is the file with the subject line
// blanked out.
func parseFiles(name string, txt, html source) (*tmpl, error) {
	t := &tmpl{name: name, textFile: txt.path, htmlFile: html.path, override: txt.override || html.override}
	text := strings.ReplaceAll(txt.text, "\r\n", "\n")
	first, rest, _ := strings.Cut(text, "\n")
	if !hasPrefixFold(first, "Subject:") {
		return nil, fmt.Errorf("templates: %s:1: the first line must be \"Subject: …\", then a blank line, then the body", txt.path)
	}
	second, body, _ := strings.Cut(rest, "\n")
	if strings.TrimSpace(second) != "" {
		return nil, fmt.Errorf("templates: %s:2: the line after the subject must be blank; the body starts on line 3", txt.path)
	}
	var err error
	if t.subject, err = newText(txt.path).Parse(first[len("Subject:"):]); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if t.text, err = newText(txt.path).Parse("\n\n" + body); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	h := strings.ReplaceAll(html.text, "\r\n", "\n")
	if t.html, err = htmltemplate.New(html.path).Funcs(htmltemplate.FuncMap(funcs)).Option("missingkey=error").Parse(h); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	start := strings.ToLower(strings.TrimSpace(h))
	t.htmlDoc = strings.HasPrefix(start, "<!doctype") || strings.HasPrefix(start, "<html")
	return t, nil
}

func newText(name string) *texttemplate.Template {
	return texttemplate.New(name).Funcs(texttemplate.FuncMap(funcs)).Option("missingkey=error")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// bodySentinel marks evidence bodies in validation data: it must show up
// only where evidence may be shown.
const bodySentinel = "QQEVIDENCEBODYSENTINEL"

// validate renders t against sample data in every evidence mode and
// against sparse data, and checks that evidence text appears only where
// it may.
func (t *tmpl) validate() error {
	hint := ""
	if t.override {
		hint = " (fix the file, or remove it to use the built-in template)"
	}
	for _, c := range validationCases(t.name) {
		r, err := t.render(c.data, false)
		if err != nil {
			return fmt.Errorf("%w%s", err, hint)
		}
		mayShow := t.name == LeadNotice && c.data.EvidenceMode == "inline"
		if !mayShow && strings.Contains(r.Subject+r.Text, bodySentinel) {
			return fmt.Errorf("templates: %s shows evidence text (.Body); only lead_notice may, and only with evidence: inline%s", t.textFile, hint)
		}
		if !mayShow && strings.Contains(r.HTML, bodySentinel) {
			return fmt.Errorf("templates: %s shows evidence text (.Body); only lead_notice may, and only with evidence: inline%s", t.htmlFile, hint)
		}
		if c.sample && r.Subject == "" {
			return fmt.Errorf("templates: %s:1: the subject renders empty with sample data%s", t.textFile, hint)
		}
		if c.sample && strings.TrimSpace(r.Text) == "" {
			return fmt.Errorf("templates: %s: the body renders empty with sample data%s", t.textFile, hint)
		}
		if strings.Contains(r.Subject+r.Text, "<no value>") {
			return fmt.Errorf("templates: %s prints \"<no value>\": a variable it uses is missing%s", t.textFile, hint)
		}
	}
	return nil
}

type validationCase struct {
	data   *Data
	sample bool
}

func validationCases(name string) []validationCase {
	var cs []validationCase
	for _, mode := range []string{"attach", "inline", "none", ""} {
		d := SampleFor(name)
		d.EvidenceMode = mode
		for i := range d.Incident.Evidence {
			d.Incident.Evidence[i].Body = fmt.Sprintf("%s%d", bodySentinel, i)
		}
		cs = append(cs, validationCase{data: d, sample: true})
		cs = append(cs, validationCase{data: &Data{EvidenceMode: mode}})
		cs = append(cs, validationCase{data: &Data{
			EvidenceMode: mode,
			Incident:     Incident{Evidence: []Evidence{{Body: bodySentinel}}},
			History:      []string{""},
			Allowed:      []string{""},
			Preview:      &Rendered{},
		}})
	}
	return cs
}

// Names returns the names of all templates, in a stable order.
func (s *Set) Names() []string { return slices.Clone(names) }

// Render renders the template name with d. Times in d are shown in
// d.Org.Timezone (UTC when nil). Evidence bodies are passed on only to
// LeadNotice with EvidenceMode "inline"; Render clears them otherwise.
//
// The subject is a single trimmed line without the "[INC-n]" tag: the
// workflow adds that to internal emails. The text is tidied: trailing
// spaces and runs of blank lines removed, lines longer than 78 characters
// wrapped at spaces, CRLF turned into LF, ending in one newline.
func (s *Set) Render(name string, d *Data) (*Rendered, error) {
	t, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("templates: no template named %q; known: %s", name, strings.Join(names, ", "))
	}
	if d == nil {
		return nil, fmt.Errorf("templates: rendering %s: no data (nil *Data)", name)
	}
	return t.render(d, true)
}

// render executes the three templates. With strip, evidence bodies are
// cleared unless this template may show them.
func (t *tmpl) render(d *Data, strip bool) (*Rendered, error) {
	d = prepare(d, strip && !(t.name == LeadNotice && d.EvidenceMode == "inline"))
	var b bytes.Buffer
	if err := t.subject.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("templates: rendering %s subject: %w", t.name, err)
	}
	r := &Rendered{Subject: oneLine(b.String())}
	b.Reset()
	if err := t.text.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("templates: rendering %s text: %w", t.name, err)
	}
	r.Text = tidyText(b.String())
	b.Reset()
	if err := t.html.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("templates: rendering %s HTML: %w", t.name, err)
	}
	if t.htmlDoc {
		r.HTML = b.String()
	} else {
		r.HTML = htmlDocument(r.Subject, b.String())
	}
	return r, nil
}

// prepare returns a copy of d with its times in the organisation's time
// zone, EmailTo filled in from EmailKind when empty and, with strip,
// without evidence bodies. d itself is not changed.
func prepare(d *Data, strip bool) *Data {
	c := *d
	loc := c.Org.Timezone
	if loc == nil {
		loc = time.UTC
	}
	in := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.In(loc)
	}
	c.Now, c.SendAt, c.BoundarySent = in(c.Now), in(c.SendAt), in(c.BoundarySent)
	c.Incident.Created = in(c.Incident.Created)
	c.Incident.FirstDate, c.Incident.LastDate = in(c.Incident.FirstDate), in(c.Incident.LastDate)
	if c.EmailTo == (Person{}) {
		switch c.EmailKind {
		case Escalation:
			c.EmailTo = c.Target
		case Boundary, PartingWays:
			c.EmailTo = c.Customer
		}
	}
	c.Incident.Evidence = slices.Clone(c.Incident.Evidence)
	for i := range c.Incident.Evidence {
		e := &c.Incident.Evidence[i]
		e.Date = in(e.Date)
		if strip {
			e.Body = ""
		}
	}
	return &c
}

// htmlDocument wraps an HTML body fragment in a minimal document with
// inline styles only (mail clients drop <style> and external resources).
func htmlDocument(subject, body string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n")
	b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	b.WriteString("<title>" + htmltemplate.HTMLEscapeString(subject) + "</title>\n</head>\n")
	b.WriteString("<body style=\"margin:0;padding:16px;background:#ffffff;\">\n")
	b.WriteString("<div style=\"max-width:640px;font-family:Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5;color:#222222;\">\n")
	b.WriteString(strings.TrimSpace(body))
	b.WriteString("\n</div>\n</body>\n</html>\n")
	return b.String()
}
