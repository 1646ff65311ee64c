package parse

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus/*.golden.json from the parser's output")

// corpusFiles lists the corpus messages.
func corpusFiles(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.eml"))
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

// goldenJSON is what `backstop parse` prints for a message.
func goldenJSON(m *Message) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// TestCorpus parses every message of testdata/corpus and compares the
// result with its golden JSON (rewritten with -update), then checks the
// hand-written key facts of NAME.expect.json, so that a golden file cannot
// silently hold a wrong answer.
func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	if len(files) == 0 {
		t.Fatal("no corpus in testdata/corpus")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			m, perr := Parse(bytes.NewReader(raw))
			if m == nil {
				t.Fatalf("Parse returned no message (error %v)", perr)
			}
			got, err := goldenJSON(m)
			if err != nil {
				t.Fatal(err)
			}
			base := strings.TrimSuffix(file, ".eml")
			golden := base + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("no golden file (run go test ./mailbox/parse -run Corpus -update): %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("output differs from %s:\n%s", golden, lineDiff(string(want), string(got)))
				}
			}
			if exp, err := os.ReadFile(base + ".expect.json"); err == nil {
				checkExpect(t, m, perr, exp)
			} else if !os.IsNotExist(err) {
				t.Fatal(err)
			}
		})
	}
}

// lineDiff shows the first lines where two texts differ.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			b.WriteString("  want: " + w + "\n  got:  " + g + "\n")
			if shown++; shown >= 8 {
				break
			}
		}
	}
	return b.String()
}

// expectation is a NAME.expect.json file: the key facts of a corpus
// message, written by hand (see testdata/corpus/README.md). A missing key
// is not checked.
type expectation struct {
	Kind      *string `json:"kind"`
	Originals *[]struct {
		FromAddress     *string `json:"from_address"`
		FromName        *string `json:"from_name"`
		SubjectContains string  `json:"subject_contains"`
		Date            string  `json:"date"`
		BodyContains    string  `json:"body_contains"`
		BodyExcludes    string  `json:"body_excludes"`
	} `json:"originals"`
	NoteContains          string  `json:"note_contains"`
	NoteEmpty             *bool   `json:"note_empty"`
	ReplyText             *string `json:"reply_text"`
	ReplyExcludes         string  `json:"reply_excludes"`
	AttachmentUnsupported string  `json:"attachment_unsupported"`
	Auto                  *bool   `json:"auto"`
	AutoBounce            *bool   `json:"auto_bounce"`
	WarningContains       string  `json:"warning_contains"`
}

// checkExpect checks a message against its NAME.expect.json.
func checkExpect(t *testing.T, m *Message, perr error, data []byte) {
	t.Helper()
	var exp expectation
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&exp); err != nil {
		t.Fatalf("expect.json: %v", err)
	}
	if perr != nil {
		t.Errorf("expect: Parse error %v", perr)
	}
	if exp.Kind != nil && string(m.Kind) != *exp.Kind {
		t.Errorf("expect: kind = %s, want %s", m.Kind, *exp.Kind)
	}
	if exp.Originals != nil {
		want := *exp.Originals
		if len(m.Originals) != len(want) {
			t.Errorf("expect: %d originals, want %d", len(m.Originals), len(want))
		}
		for i, w := range want {
			if i >= len(m.Originals) {
				break
			}
			o := m.Originals[i]
			if w.FromAddress != nil && o.From.Address != *w.FromAddress {
				t.Errorf("expect: original %d from address %q, want %q", i, o.From.Address, *w.FromAddress)
			}
			if w.FromName != nil && o.From.Name != *w.FromName {
				t.Errorf("expect: original %d from name %q, want %q", i, o.From.Name, *w.FromName)
			}
			if !strings.Contains(o.Subject, w.SubjectContains) {
				t.Errorf("expect: original %d subject %q, want it to contain %q", i, o.Subject, w.SubjectContains)
			}
			if w.Date != "" {
				want, err := time.Parse(time.RFC3339, w.Date)
				if err != nil {
					t.Fatalf("expect.json: date %q: %v", w.Date, err)
				}
				if o.Date == nil || !o.Date.Equal(want) {
					t.Errorf("expect: original %d date %v (raw %q), want %s", i, o.Date, o.DateRaw, w.Date)
				}
			}
			if !strings.Contains(o.Body, w.BodyContains) {
				t.Errorf("expect: original %d body %q, want it to contain %q", i, o.Body, w.BodyContains)
			}
			if w.BodyExcludes != "" && strings.Contains(o.Body, w.BodyExcludes) {
				t.Errorf("expect: original %d body %q, want it without %q", i, o.Body, w.BodyExcludes)
			}
		}
	}
	if !strings.Contains(m.Note, exp.NoteContains) {
		t.Errorf("expect: note %q, want it to contain %q", m.Note, exp.NoteContains)
	}
	if exp.NoteEmpty != nil && (m.Note == "") != *exp.NoteEmpty {
		t.Errorf("expect: note %q, want empty %v", m.Note, *exp.NoteEmpty)
	}
	if exp.ReplyText != nil && m.ReplyText != *exp.ReplyText {
		t.Errorf("expect: reply_text %q, want %q", m.ReplyText, *exp.ReplyText)
	}
	if exp.ReplyExcludes != "" && strings.Contains(m.ReplyText, exp.ReplyExcludes) {
		t.Errorf("expect: reply_text %q, want it without %q", m.ReplyText, exp.ReplyExcludes)
	}
	if exp.AttachmentUnsupported != "" {
		found := false
		for _, a := range m.Attachments {
			found = found || (a.Unsupported && a.Filename == exp.AttachmentUnsupported)
		}
		if !found {
			t.Errorf("expect: no unsupported attachment %q in %+v", exp.AttachmentUnsupported, m.Attachments)
		}
	}
	if exp.Auto != nil && (m.Auto.Reason != "") != *exp.Auto {
		t.Errorf("expect: auto %+v, want automatic %v", m.Auto, *exp.Auto)
	}
	if exp.AutoBounce != nil && m.Auto.Bounce != *exp.AutoBounce {
		t.Errorf("expect: auto %+v, want bounce %v", m.Auto, *exp.AutoBounce)
	}
	if exp.WarningContains != "" && !hasWarning(m, exp.WarningContains) {
		t.Errorf("expect: warnings %q, want one containing %q", m.Warnings, exp.WarningContains)
	}
}
