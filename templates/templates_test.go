package templates

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// loadDefaults loads the embedded templates once per test.
func loadDefaults(t *testing.T) *Set {
	t.Helper()
	s, err := Load("")
	if err != nil {
		t.Fatalf("Load(\"\"): %v", err)
	}
	return s
}

// overrideDir writes files into a temporary directory, for Load.
func overrideDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dataCase is one kind of data every template must render.
type dataCase struct {
	name   string
	sample bool // realistic data: stricter checks apply
	data   func(tmpl string) *Data
}

var dataCases = []dataCase{
	{"sample/attach", true, func(n string) *Data { d := SampleFor(n); d.EvidenceMode = "attach"; return d }},
	{"sample/inline", true, func(n string) *Data { d := SampleFor(n); d.EvidenceMode = "inline"; return d }},
	{"sample/none", true, func(n string) *Data { d := SampleFor(n); d.EvidenceMode = "none"; return d }},
	{"sample/awaiting-approval", true, func(n string) *Data {
		d := SampleFor(n)
		d.AwaitingApproval, d.SendAt = true, time.Time{}
		d.EmailKind = PartingWays
		return d
	}},
	{"sample/refused", true, func(n string) *Data {
		d := SampleFor(n)
		d.Outcome, d.Detail = "refused", "ASSIGN needs a lead's address, or me."
		d.Allowed = []string{"ASSIGN <address|me>", "STATUS", "HELP"}
		return d
	}},
	{"sample/unknown-command", true, func(n string) *Data {
		d := SampleFor(n)
		d.Outcome, d.Command, d.Detail = "unknown", "Thanks, I'll look at it tomorrow", ""
		return d
	}},
	{"sample/resolved", true, func(n string) *Data { d := SampleFor(n); d.Incident.State = "resolved"; return d }},
	{"sample/free-mail", true, func(n string) *Data {
		d := SampleFor(n)
		d.Organisation, d.History = "", nil
		d.Customer.Name = ""
		return d
	}},
	{"sample/many-days", true, func(n string) *Data {
		d := SampleFor(n)
		for i := range 6 {
			d.Incident.Evidence = append(d.Incident.Evidence, Evidence{From: d.Customer, Date: at(10+i, 9, 0)})
		}
		d.Incident.MessageCount, d.Incident.LastDate = len(d.Incident.Evidence), at(15, 9, 0)
		return d
	}},
	{"sparse/zero", false, func(string) *Data { return &Data{} }},
	{"sparse/inline", false, func(string) *Data { return &Data{EvidenceMode: "inline"} }},
	{"sparse/empty-items", false, func(string) *Data {
		return &Data{
			EvidenceMode: "inline",
			Incident:     Incident{Evidence: []Evidence{{}}},
			History:      []string{""},
			Allowed:      []string{""},
			Preview:      &Rendered{},
		}
	}},
}

func TestDefaultsAreComplete(t *testing.T) {
	s := loadDefaults(t)
	if got := s.Names(); !slices.Equal(got, names) {
		t.Errorf("Names() = %v, want %v", got, names)
	}
	var files []string
	err := fs.WalkDir(Defaults(), ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range names {
		want = append(want, n+".html", n+".txt")
	}
	slices.Sort(files)
	slices.Sort(want)
	if !slices.Equal(files, want) {
		t.Errorf("embedded files = %v, want %v", files, want)
	}
}

func TestRenderEveryTemplate(t *testing.T) {
	s := loadDefaults(t)
	for _, name := range names {
		for _, dc := range dataCases {
			t.Run(name+"/"+dc.name, func(t *testing.T) {
				r, err := s.Render(name, dc.data(name))
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				if strings.ContainsAny(r.Subject, "\r\n") || r.Subject != strings.TrimSpace(r.Subject) {
					t.Errorf("subject %q is not a single trimmed line", r.Subject)
				}
				if r.Subject == "" {
					t.Error("empty subject")
				}
				if strings.HasPrefix(r.Subject, "[") {
					t.Errorf("subject %q carries a tag; the workflow adds it", r.Subject)
				}
				if !strings.HasSuffix(r.Text, "\n") || strings.HasSuffix(r.Text, "\n\n") {
					t.Errorf("text should end in exactly one newline: %q", tail(r.Text))
				}
				if strings.Contains(r.Text, "\r") {
					t.Error("text contains CR; Render returns LF line ends")
				}
				for i, line := range strings.Split(r.Text, "\n") {
					if len(line) > 998 {
						t.Errorf("text line %d is %d bytes; RFC 5322 allows 998", i+1, len(line))
					}
					// With realistic data, every line is ours to keep short.
					if dc.sample && utf8.RuneCountInString(line) > textWidth {
						t.Errorf("text line %d is %d characters, over %d: %q", i+1, utf8.RuneCountInString(line), textWidth, line)
					}
					if line != strings.TrimRight(line, " \t") {
						t.Errorf("text line %d has trailing space: %q", i+1, line)
					}
				}
				for _, out := range []string{r.Subject, r.Text, r.HTML} {
					if strings.Contains(out, "<no value>") {
						t.Errorf("output contains <no value>:\n%s", out)
					}
				}
				if !strings.HasPrefix(r.HTML, "<!DOCTYPE html>") || !strings.Contains(r.HTML, "</html>") {
					t.Errorf("HTML is not a whole document: %q…", head(r.HTML))
				}
				if strings.Contains(r.HTML, "<script") || strings.Contains(r.HTML, "src=") || strings.Contains(r.HTML, "<link") {
					t.Error("HTML loads or runs something; it must be self-contained")
				}
			})
		}
	}
}

func TestInternalEmailsEndWithCommands(t *testing.T) {
	s := loadDefaults(t)
	for _, name := range names {
		if IsCustomer(name) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			d := SampleFor(name)
			r, err := s.Render(name, d)
			if err != nil {
				t.Fatal(err)
			}
			// The last paragraph, or the two last when it is a command table.
			paras := strings.Split(strings.TrimSpace(r.Text), "\n\n")
			last := paras[len(paras)-1]
			if strings.HasPrefix(last, "  ") && len(paras) > 1 {
				last = paras[len(paras)-2] + "\n\n" + last
			}
			if flat := strings.ToLower(strings.ReplaceAll(last, "\n", " ")); !strings.Contains(flat, "reply") || !strings.Contains(flat, "first line") {
				t.Errorf("text does not end with the commands to reply with:\n%s", last)
			}

			// Allowed replaces the default list.
			d.Allowed = []string{"REOPEN", "NOTE <text>"}
			r, err = s.Render(name, d)
			if err != nil {
				t.Fatal(err)
			}
			paras = strings.Split(strings.TrimSpace(r.Text), "\n\n")
			if last := paras[len(paras)-1]; !strings.Contains(last, "Reply REOPEN or NOTE <text>") {
				t.Errorf("with Allowed set, text ends with %q", last)
			}
			if !strings.Contains(r.HTML, "Reply REOPEN or NOTE &lt;text&gt;") {
				t.Error("with Allowed set, HTML does not list them")
			}
		})
	}
}

func TestEvidenceBodyOnlyInInlineLeadNotice(t *testing.T) {
	const body = "SENTINEL-abusive-words-<b>"
	s := loadDefaults(t)
	for _, name := range names {
		for _, mode := range []string{"attach", "inline", "none", "", "bogus"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				d := SampleFor(name)
				d.EvidenceMode = mode
				if len(d.Incident.Evidence) == 0 { // quarantine notices have no incident
					d.Incident.Evidence = Sample().Incident.Evidence
				}
				for i := range d.Incident.Evidence {
					d.Incident.Evidence[i].Body = body
				}
				r, err := s.Render(name, d)
				if err != nil {
					t.Fatal(err)
				}
				want := name == LeadNotice && mode == "inline"
				gotText := strings.Contains(r.Subject+r.Text, "SENTINEL-abusive-words")
				gotHTML := strings.Contains(r.HTML, "SENTINEL-abusive-words")
				if gotText != want || gotHTML != want {
					t.Errorf("evidence body in text: %v, in HTML: %v; want %v", gotText, gotHTML, want)
				}
				if want && !strings.Contains(r.HTML, "SENTINEL-abusive-words-&lt;b&gt;") {
					t.Error("evidence body is not escaped in HTML")
				}
				// Render works on a copy: the caller's data is unchanged.
				if len(d.Incident.Evidence) > 0 && d.Incident.Evidence[0].Body != body {
					t.Error("Render changed the caller's evidence")
				}
			})
		}
	}
}

func TestLeadNoticeEvidenceModes(t *testing.T) {
	s := loadDefaults(t)
	tests := []struct {
		mode string
		want []string // in text, in this order
	}{
		{"attach", []string{"Customer:", "Content warning", "attached", "What you can do"}},
		{"inline", []string{"Customer:", "What you can do", "Content warning", "The conversation follows", "Sample message 1", "End of the conversation", "Reply BOUNDARY"}},
		{"none", []string{"Customer:", "Content warning", "Reply SHOW to receive it", "What you can do"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			d := Sample()
			d.EvidenceMode = tt.mode
			r, err := s.Render(LeadNotice, d)
			if err != nil {
				t.Fatal(err)
			}
			rest := r.Text
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("%q missing or out of order in:\n%s", w, r.Text)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestCustomerEmailsKeepInternalsOut(t *testing.T) {
	s := loadDefaults(t)
	d := Sample()
	internal := []string{
		d.Incident.ID, "INC-", d.Reporter.Name, d.Reporter.Address, d.Note,
		d.History[0], d.History[1], "backstop", "[INC", d.Detail, "content warning",
	}
	for _, name := range customerTemplates {
		for _, dc := range dataCases {
			t.Run(name+"/"+dc.name, func(t *testing.T) {
				r, err := s.Render(name, dc.data(name))
				if err != nil {
					t.Fatal(err)
				}
				all := strings.ToLower(r.Subject + "\n" + r.Text + "\n" + r.HTML)
				for _, w := range internal {
					if w != "" && strings.Contains(all, strings.ToLower(w)) {
						t.Errorf("customer email contains %q", w)
					}
				}
			})
		}
	}
}

func TestCustomerEmailsAreSigned(t *testing.T) {
	s := loadDefaults(t)
	for _, name := range customerTemplates {
		t.Run(name, func(t *testing.T) {
			r, err := s.Render(name, SampleFor(name))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(r.Text, "\nJane Doe\nAcme Support\n") {
				t.Errorf("text is not signed with the lead's name and organisation:\n%s", tail(r.Text))
			}
			if !strings.Contains(r.HTML, "Jane Doe<br>\nAcme Support") {
				t.Error("HTML is not signed with the lead's name and organisation")
			}
		})
	}
	r, err := s.Render(Escalation, SampleFor(Escalation))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Dear Pat Lee,", "3 messages", "6, 7 and 8 January 2025", "On 9 January 2025 we wrote"} {
		if !strings.Contains(strings.ReplaceAll(r.Text, "\n", " "), w) {
			t.Errorf("escalation lacks %q:\n%s", w, r.Text)
		}
	}
}

func TestHTMLEscapesData(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	s := loadDefaults(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			d := SampleFor(name)
			d.Customer.Name, d.Organisation, d.Reporter.Name = evil, evil, evil
			d.Lead.Name, d.Recipient.Name, d.Target.Name, d.EmailTo.Name = evil, evil, evil, evil
			d.Command, d.Detail, d.Note, d.Reason, d.MessageSubj = evil, evil, evil, evil, evil
			d.History, d.Allowed = []string{evil}, []string{evil}
			d.Incident.Subject = evil
			d.EvidenceMode = "inline"
			for i := range d.Incident.Evidence {
				d.Incident.Evidence[i].Body, d.Incident.Evidence[i].Subject = evil, evil
			}
			d.Preview.Text, d.Preview.Subject = evil, evil
			r, err := s.Render(name, d)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(r.HTML, "<script") {
				t.Errorf("HTML contains an unescaped <script>")
			}
			if !strings.Contains(r.HTML, "&lt;script&gt;") {
				t.Errorf("HTML shows none of the data it was given")
			}
		})
	}
}

func TestRenderUsesOrgTimezone(t *testing.T) {
	s := loadDefaults(t)
	d := Sample()
	d.Org.Timezone = time.FixedZone("JST", 9*60*60)
	d.Incident.Created = time.Date(2025, 1, 8, 15, 52, 0, 0, time.UTC)
	r, err := s.Render(LeadNotice, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "opened Thu 9 Jan 2025 00:52 JST") {
		t.Errorf("creation time not shown in the organisation's zone:\n%s", r.Text)
	}
	d.Org.Timezone = nil
	if r, err = s.Render(LeadNotice, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "opened Wed 8 Jan 2025 15:52 UTC") {
		t.Errorf("without a zone, times should be UTC:\n%s", r.Text)
	}
	if d.Incident.Created.Location() != time.UTC {
		t.Error("Render changed the caller's times")
	}
}

func TestEmailToFallsBackByKind(t *testing.T) {
	s := loadDefaults(t)
	tests := []struct {
		kind string
		want string
	}{
		{Boundary, "boundary email to Jordan Miles"},
		{PartingWays, "parting-ways email to Jordan Miles"},
		{Escalation, "escalation email to Pat Lee"},
	}
	for _, tt := range tests {
		d := Sample()
		d.EmailKind, d.EmailTo = tt.kind, Person{}
		r, err := s.Render(CustomerPreview, d)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Subject, tt.want) {
			t.Errorf("EmailKind %s: subject %q lacks %q", tt.kind, r.Subject, tt.want)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	s := loadDefaults(t)
	if _, err := s.Render("nope", Sample()); err == nil || !strings.Contains(err.Error(), `no template named "nope"; known: reporter_ack`) {
		t.Errorf("unknown name: err = %v", err)
	}
	if _, err := s.Render(Boundary, nil); err == nil || !strings.Contains(err.Error(), "nil *Data") {
		t.Errorf("nil data: err = %v", err)
	}
}

func TestOverride(t *testing.T) {
	dir := overrideDir(t, map[string]string{
		// CRLF, as saved by some editors.
		"boundary.txt":      "Subject: A word, {{.Customer.Name}}\r\n\r\nDear {{.Customer.Name}},\r\nplease be kind.\r\n{{.Lead.Name}}\r\n",
		"help.html":         "<p>Custom help for {{.Recipient.Name}}</p>",
		"escalation.txt":    "subject: {{re .Incident.Subject}}\n\nHello {{.Target.Name}}.\n",
		".boundary.txt.swp": "editor leftovers are ignored",
		"reporter_ack.html": "<!DOCTYPE html><html><body>Thanks {{.Recipient.Name}}</body></html>",
	})
	s, err := Load(dir)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	r, err := s.Render(Boundary, Sample())
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "A word, Jordan Miles" || r.Text != "Dear Jordan Miles,\nplease be kind.\nJane Doe\n" {
		t.Errorf("override not used: %q / %q", r.Subject, r.Text)
	}
	if !strings.Contains(r.HTML, "Dear Jordan Miles,") || !strings.Contains(r.HTML, "not acceptable") {
		t.Error("boundary.html should still be the default")
	}
	if r, _ = s.Render(Help, Sample()); !strings.Contains(r.HTML, "Custom help for Jane Doe") || !strings.Contains(r.Text, "The usual path") {
		t.Errorf("help: HTML override with default text expected, got %q", r.HTML)
	}
	if r, _ = s.Render(Escalation, SampleFor(Escalation)); r.Subject != "Re: Invoice 4471" || r.Text != "Hello Pat Lee.\n" {
		t.Errorf("escalation override: %q / %q", r.Subject, r.Text)
	}
	if r, _ = s.Render(ReporterAck, SampleFor(ReporterAck)); r.HTML != "<!DOCTYPE html><html><body>Thanks Sam Rivera</body></html>" {
		t.Errorf("a whole-document HTML override should be used as is: %q", r.HTML)
	}
}

func TestOverrideErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error; "DIR" stands for the directory
	}{
		{
			name:  "unclosed action",
			files: map[string]string{"boundary.txt": "Subject: Hi\n\nDear {{.Customer.Name}},\n{{.Nope\n"},
			want:  []string{"unclosed action started at DIR/boundary.txt:4"},
		},
		{
			name:  "no such field",
			files: map[string]string{"boundary.txt": "Subject: Hi\n\nDear {{.Customer.Name}},\n\n{{.NoSuchField}}\n"},
			want:  []string{"DIR/boundary.txt:5:", "NoSuchField", "remove it to use the built-in template"},
		},
		{
			name:  "no such field in the subject",
			files: map[string]string{"boundary.txt": "Subject: {{.Incident.Nope}}\n\nDear you,\n"},
			want:  []string{"DIR/boundary.txt:1:", "Nope"},
		},
		{
			name:  "no such field in HTML",
			files: map[string]string{"lead_notice.html": "<p>Hi</p>\n<p>{{.Customer.Nickname}}</p>\n"},
			want:  []string{"DIR/lead_notice.html:2:", "Nickname"},
		},
		{
			name:  "nil pointer with sparse data",
			files: map[string]string{"customer_preview.txt": "Subject: Preview\n\n{{.Preview.Subject}}\n"},
			want:  []string{"DIR/customer_preview.txt:3:", "nil pointer"},
		},
		{
			name:  "unknown function",
			files: map[string]string{"help.txt": "Subject: Help\n\n{{shout .Org.Name}}\n"},
			want:  []string{"DIR/help.txt:3:", `"shout" not defined`},
		},
		{
			name:  "no subject line",
			files: map[string]string{"help.txt": "Hello {{.Recipient.Name}}\n"},
			want:  []string{"DIR/help.txt:1:", `the first line must be "Subject: …"`},
		},
		{
			name:  "no blank line after the subject",
			files: map[string]string{"help.txt": "Subject: Help\nHello\n"},
			want:  []string{"DIR/help.txt:2:", "must be blank"},
		},
		{
			name:  "unknown file",
			files: map[string]string{"boundry.txt": "Subject: typo\n\nx\n"},
			want:  []string{"DIR/boundry.txt is not a template backstop uses; known: reporter_ack, lead_notice,"},
		},
		{
			name:  "evidence shown where it may not be",
			files: map[string]string{"reporter_ack.txt": "Subject: Thanks\n\n{{range .Incident.Evidence}}{{.Body}}{{end}}\n"},
			want:  []string{"DIR/reporter_ack.txt shows evidence text (.Body)"},
		},
		{
			name:  "evidence shown in lead_notice outside inline mode",
			files: map[string]string{"lead_notice.html": "{{range .Incident.Evidence}}<pre>{{.Body}}</pre>{{end}}"},
			want:  []string{"DIR/lead_notice.html shows evidence text (.Body)"},
		},
		{
			name:  "not UTF-8",
			files: map[string]string{"help.txt": "Subject: Caf\xe9\n\nx\n"},
			want:  []string{"DIR/help.txt is not UTF-8"},
		},
		{
			name:  "empty subject",
			files: map[string]string{"help.txt": "Subject: {{.Command | upper | printf \"%.0s\"}}\n\nx\n"},
			want:  []string{"DIR/help.txt:1: the subject renders empty"},
		},
		{
			name: "several problems at once",
			files: map[string]string{
				"help.txt":     "Subject: Help\n\n{{.Nope}}\n",
				"boundary.txt": "Subject: Hi\n\n{{.Nope}}\n",
			},
			want: []string{"DIR/help.txt:3:", "DIR/boundary.txt:3:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := overrideDir(t, tt.files)
			s, err := Load(dir)
			if err == nil {
				t.Fatalf("Load succeeded (%d templates); want an error", len(s.byName))
			}
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "DIR/", dir+string(filepath.Separator))
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestOverrideDirProblems(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "boundary.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "is not a template backstop uses") {
		t.Errorf("a directory named like a template: err = %v", err)
	}
	missing := filepath.Join(t.TempDir(), "nowhere")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing directory: err = %v", err)
	}
}

func TestConcurrentRender(t *testing.T) {
	s := loadDefaults(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(names))
	for i := range 4 {
		for _, name := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := SampleFor(name)
				d.EvidenceMode = []string{"attach", "inline", "none", ""}[i]
				if _, err := s.Render(name, d); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSampleIsFresh(t *testing.T) {
	a, b := Sample(), Sample()
	a.Incident.Evidence[0].Body = "changed"
	a.History[0] = "changed"
	a.Preview.Text = "changed"
	if b.Incident.Evidence[0].Body == "changed" || b.History[0] == "changed" || b.Preview.Text == "changed" {
		t.Error("Sample() returns shared data")
	}
	if got := SampleFor(ReporterAck).Recipient; got != Sample().Reporter {
		t.Errorf("SampleFor(ReporterAck).Recipient = %v, want the reporter", got)
	}
}

func TestFuncs(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	t0 := time.Date(2025, 1, 6, 9, 14, 0, 0, cet)
	ev := func(ts ...time.Time) []Evidence {
		var out []Evidence
		for _, t := range ts {
			out = append(out, Evidence{Date: t})
		}
		return out
	}
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, cet) }
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"date", funcs["date"].(func(time.Time) string)(t0), "Mon 6 Jan 2025 09:14 CET"},
		{"date zero", funcs["date"].(func(time.Time) string)(time.Time{}), "unknown date"},
		{"datetime", funcs["datetime"].(func(time.Time) string)(t0), "Monday 6 January 2025 at 09:14 CET"},
		{"day", funcs["day"].(func(time.Time) string)(t0), "6 January 2025"},
		{"msgdate raw", msgdate(Evidence{DateRaw: " Mon, 6 Jan 2025 "}), "Mon, 6 Jan 2025"},
		{"msgdate none", msgdate(Evidence{}), "unknown date"},
		{"days one", series(days(ev(t0)), "and"), "6 January 2025"},
		{"days same month", series(days(ev(day(2025, 1, 8), day(2025, 1, 6), day(2025, 1, 7), day(2025, 1, 7))), "and"), "6, 7 and 8 January 2025"},
		{"days across months", series(days(ev(day(2024, 12, 30), day(2024, 12, 31), day(2025, 1, 2), time.Time{})), "and"), "30, 31 December 2024 and 2 January 2025"},
		{"days none", len(days(ev(time.Time{}))), 0},
		{"orlist", series([]string{"A", "B", "C"}, "or"), "A, B or C"},
		{"orlist two", series([]string{"A", "B"}, "or"), "A or B"},
		{"orlist none", series(nil, "or"), ""},
		{"default empty", defaultValue("x", "  "), "x"},
		{"default set", defaultValue("x", "y"), "y"},
		{"default nil list", defaultValue("x", []string(nil)), "x"},
		{"default zero time", defaultValue("x", time.Time{}), "x"},
		{"default zero int", defaultValue("x", 0), "x"},
		{"default nil pointer", defaultValue("x", (*Rendered)(nil)), "x"},
		{"plural one", plural(1, "message", "messages"), "1 message"},
		{"plural zero", plural(0, "message", "messages"), "0 messages"},
		{"indent", indent(2, "a\n\nb"), "  a\n\n  b"},
		{"wrap", wrapText(strings.Repeat("word ", 20), 72), strings.TrimSpace(strings.Repeat("word ", 14)) + "\n" + strings.TrimSpace(strings.Repeat("word ", 6))},
		{"wrap keeps breaks", wrapText("a\nb", 72), "a\nb"},
		{"first", firstName("  Jane  Doe "), "Jane"},
		{"first empty", firstName(""), ""},
		{"name", personName(Person{Address: "a@x"}), "a@x"},
		{"person", personString(Person{Name: "A", Address: "a@x"}), "A <a@x>"},
		{"person name only", personString(Person{Name: "A"}), "A"},
		{"state", stateText("boundary_sent"), "boundary email sent"},
		{"state unknown", stateText("on_hold"), "on hold"},
		{"kind", kindText(PartingWays), "parting-ways email"},
		{"kind unknown", kindText("x"), "email"},
		{"re", re("Invoice"), "Re: Invoice"},
		{"re twice", re("RE: Invoice"), "RE: Invoice"},
		{"upper", funcs["upper"].(func(string) string)("sever"), "SEVER"},
	}
	for _, tt := range tests {
		if fmt.Sprint(tt.got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	for name := range funcs {
		if !slices.ContainsFunc(funcDocs, func(d funcDoc) bool { return strings.HasPrefix(d.Usage, name+" ") }) {
			t.Errorf("function %s is not documented in funcDocs", name)
		}
	}
	if len(funcDocs) != len(funcs) {
		t.Errorf("%d funcDocs for %d funcs", len(funcDocs), len(funcs))
	}
}

func TestTidyText(t *testing.T) {
	long := strings.Repeat("x", 2000)
	tests := []struct {
		name, in, want string
	}{
		{"blank runs", "\n\n\na\n\n\n\nb\n\n\n", "a\n\nb\n"},
		{"trailing space", "a  \t\nb", "a\nb\n"},
		{"CRLF and CR", "a\r\nb\rc", "a\nb\nc\n"},
		{"controls", "a\x00b\x1b[31mc\td", "ab[31mc\td\n"},
		{"empty", "\n \n", ""},
		{
			"wrap with hanging list indent",
			"  - " + strings.Repeat("word ", 20),
			"  - " + strings.TrimSpace(strings.Repeat("word ", 15)) + "\n    " + strings.TrimSpace(strings.Repeat("word ", 5)) + "\n",
		},
		{
			"wrap keeps indentation",
			"    " + strings.Repeat("abc ", 25),
			"    " + strings.TrimSpace(strings.Repeat("abc ", 18)) + "\n    " + strings.TrimSpace(strings.Repeat("abc ", 7)) + "\n",
		},
	}
	for _, tt := range tests {
		if got := tidyText(tt.in); got != tt.want {
			t.Errorf("%s: tidyText(%q)\n got %q\nwant %q", tt.name, tt.in, got, tt.want)
		}
	}
	out := tidyText("see " + long + " there")
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 998 {
			t.Errorf("a %d-byte word left a %d-byte line", len(long), len(l))
		}
	}
	if strings.ReplaceAll(out, "\n", "") != "see"+long+"there" {
		t.Error("cutting a long word lost or added text")
	}
	if got := oneLine(" Re:\r\n  Invoice\t4471\x00 "); got != "Re: Invoice 4471" {
		t.Errorf("oneLine = %q", got)
	}
}

func head(s string) string { return s[:min(len(s), 80)] }
func tail(s string) string { return s[max(0, len(s)-80):] }
