package parse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// clientsDir holds the forwards and replies that real mail clients made and
// sent through Postfix into Dovecot (see testdata/clients/README.md).
var clientsDir = filepath.Join("testdata", "clients")

// clientExpect is a CLIENT/NAME.expect.json file, written by generate.sh
// from what was put in the original and what the client was told to do,
// never from the parser's output.
type clientExpect struct {
	Client   string `json:"client"`
	Original string `json:"original"`
	Action   string `json:"action"`
	Kind     string `json:"kind"`
	// Forwards: the customer (the original's From), the original's subject,
	// the note typed above the forward ("" when none was typed), a
	// sentence of the original's body, and text that must not be in it.
	Customer     *expectAddress `json:"customer"`
	Subject      *string        `json:"subject"`
	Note         *string        `json:"note"`
	BodyContains string         `json:"body_contains"`
	BodyExcludes []string       `json:"body_excludes"`
	// The original's To and Cc addresses, for an original with several
	// recipients (in any order).
	To []string `json:"to"`
	Cc []string `json:"cc"`
	// LostByClient says why a customer name, subject or body_contains is
	// missing: the client itself left it out of what it sent.
	LostByClient string `json:"lost_by_client"`
	// Replies: exactly what the lead typed.
	ReplyText *string `json:"reply_text"`
}

// expectAddress is an expected address; a nil Name is not checked.
type expectAddress struct {
	Name    *string `json:"name"`
	Address string  `json:"address"`
}

// knownFailures lists the client fixtures the parser does not read right
// yet, with the reason. A listed fixture that starts passing fails the test:
// remove it from the list.
var knownFailures = map[string]string{}

// clientFixtures lists the fixtures as CLIENT/NAME, sorted.
func clientFixtures(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(clientsDir, "*", "*.eml"))
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, f := range files {
		client := filepath.Base(filepath.Dir(f))
		if client == "originals" {
			continue
		}
		names = append(names, client+"/"+strings.TrimSuffix(filepath.Base(f), ".eml"))
	}
	sort.Strings(names)
	return names
}

// TestClients parses every client fixture and compares the result with its
// expectation. Fixtures in knownFailures must fail, and say why.
func TestClients(t *testing.T) {
	names := clientFixtures(t)
	if len(names) == 0 {
		t.Fatal("no fixtures in testdata/clients")
	}
	exists := map[string]bool{}
	for _, name := range names {
		exists[name] = true
		t.Run(name, func(t *testing.T) {
			problems, err := checkClientFixture(name)
			if err != nil {
				t.Fatal(err)
			}
			reason, known := knownFailures[name]
			switch {
			case known && len(problems) == 0:
				t.Errorf("listed in knownFailures (%q) but read right now: remove it from the list", reason)
			case known:
				t.Logf("known failure (%s): %s", reason, strings.Join(problems, "; "))
			default:
				for _, p := range problems {
					t.Error(p)
				}
			}
		})
	}
	for name := range knownFailures {
		if !exists[name] {
			t.Errorf("knownFailures lists %s, which is not a fixture in %s", name, clientsDir)
		}
	}
}

// checkClientFixture parses CLIENT/NAME.eml and returns how the result
// differs from CLIENT/NAME.expect.json. The error is for a broken fixture.
func checkClientFixture(name string) (problems []string, err error) {
	base := filepath.Join(clientsDir, filepath.FromSlash(name))
	raw, err := os.ReadFile(base + ".eml")
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(base + ".expect.json")
	if err != nil {
		return nil, err
	}
	var exp clientExpect
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&exp); err != nil {
		return nil, fmt.Errorf("%s.expect.json: %w", base, err)
	}
	m, perr := Parse(bytes.NewReader(raw))
	if m == nil {
		return []string{fmt.Sprintf("Parse returned no message: %v", perr)}, nil
	}
	if perr != nil {
		problems = append(problems, fmt.Sprintf("Parse error: %v", perr))
	}
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if string(m.Kind) != exp.Kind {
		add("kind %s, want %s", m.Kind, exp.Kind)
	}
	switch exp.Kind {
	case "forward":
		if len(m.Originals) == 0 {
			add("no original found")
			break
		}
		o := m.Originals[0]
		if exp.Customer != nil {
			if !strings.EqualFold(o.From.Address, exp.Customer.Address) {
				add("customer address %q, want %q", o.From.Address, exp.Customer.Address)
			}
			if n := exp.Customer.Name; n != nil && o.From.Name != *n {
				add("customer name %q, want %q", o.From.Name, *n)
			}
		}
		if exp.Subject != nil && oneLine(o.Subject) != oneLine(*exp.Subject) {
			add("subject %q, want %q", o.Subject, *exp.Subject)
		}
		if exp.BodyContains != "" && !strings.Contains(oneLine(o.Body), oneLine(exp.BodyContains)) {
			add("original's body %q, want it to contain %q", clip(o.Body), exp.BodyContains)
		}
		if exp.To != nil && !sameAddresses(o.To, exp.To) {
			add("original's To %v, want %v", o.To, exp.To)
		}
		if exp.Cc != nil && !sameAddresses(o.Cc, exp.Cc) {
			add("original's Cc %v, want %v", o.Cc, exp.Cc)
		}
		for _, x := range exp.BodyExcludes {
			if strings.Contains(o.Body, x) {
				add("original's body %q, want it without %q", clip(o.Body), x)
			}
		}
		if exp.Note != nil && typed(m.Note) != typed(*exp.Note) {
			add("note %q, want %q", clip(m.Note), *exp.Note)
		}
	case "reply":
		if exp.ReplyText != nil && typed(m.ReplyText) != typed(*exp.ReplyText) {
			add("reply text %q, want %q", clip(m.ReplyText), *exp.ReplyText)
		}
	default:
		return nil, fmt.Errorf("%s.expect.json: kind %q, want forward or reply", base, exp.Kind)
	}
	return problems, nil
}

// sameAddresses reports whether got holds exactly the addresses of want,
// in any order, ignoring case.
func sameAddresses(got []Address, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]int{}
	for _, a := range got {
		seen[strings.ToLower(a.Address)]++
	}
	for _, a := range want {
		if seen[strings.ToLower(a)] == 0 {
			return false
		}
		seen[strings.ToLower(a)]--
	}
	return true
}

// typed normalises text a person typed for comparison: line ends, spaces at
// the end of lines, and blank lines around it do not count.
func typed(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\u00a0")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

// oneLine collapses every run of white space to one space, so that a
// sentence matches however a client wrapped it.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// clip shortens text for a failure message.
func clip(s string) string {
	if r := []rune(s); len(r) > 160 {
		return string(r[:160]) + "…"
	}
	return s
}
