package workflow

import (
	"flag"
	"fmt"
	"html"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's command table and the golden files in testdata/")

const (
	readmeCommandsBegin = "<!-- commands: generated from workflow/commandtable.go by `go test ./workflow -run TestCommandTable -update` -->\n"
	readmeCommandsEnd   = "<!-- end of commands -->\n"
)

// commandsMarkdown is the README's command table.
func commandsMarkdown() string {
	var b strings.Builder
	b.WriteString("| command | aliases | who | in states | writes outside | what it does |\n| --- | --- | --- | --- | --- | --- |\n")
	code := func(s string) string { return "`" + strings.ReplaceAll(s, "|", `\|`) + "`" }
	for _, c := range Commands() {
		var al []string
		for _, a := range c.Aliases {
			al = append(al, code(a))
		}
		states := "any"
		if c.From != nil {
			var ss []string
			for _, st := range c.From {
				ss = append(ss, stateWords(st))
			}
			states = strings.Join(ss, ", ")
			if states == "reported, acknowledged, boundary sent, escalated, severed" {
				states = "any open"
			}
		}
		out := ""
		if c.Customer {
			out = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", code(c.Usage), strings.Join(al, ", "), c.Who, states, out, c.Does)
	}
	return b.String()
}

// TestCommandTable checks every row, and that the README's command table
// and the HELP email list exactly the commands of the table.
func TestCommandTable(t *testing.T) {
	seen := map[string]string{}
	for _, c := range commandTable {
		if c.run == nil || len(c.roles) == 0 || c.Does == "" || c.Help == "" || c.Who == "" {
			t.Errorf("%s: a row needs a handler, roles, who, what it does and a help line", c.Verb)
		}
		if !strings.HasPrefix(c.Usage, c.Verb) {
			t.Errorf("%s: usage %q does not start with the verb", c.Verb, c.Usage)
		}
		for _, w := range append([]string{c.Verb}, c.Aliases...) {
			if prev, ok := seen[w]; ok {
				t.Errorf("%s is a word of both %s and %s", w, prev, c.Verb)
			}
			seen[w] = c.Verb
		}
		for from, to := range c.moves {
			if stateOrder(from) < 0 || stateOrder(to) < 0 {
				t.Errorf("%s: unknown state in %s → %s", c.Verb, from, to)
			}
		}
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, readmeCommandsBegin), strings.Index(s, readmeCommandsEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q … %q markers around the command table", readmeCommandsBegin, readmeCommandsEnd)
	}
	want := commandsMarkdown()
	if got := s[i+len(readmeCommandsBegin) : j]; got != want {
		if *update {
			s = s[:i+len(readmeCommandsBegin)] + want + s[j:]
			if err := os.WriteFile("../README.md", []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("README.md's command table is not the command table; run go test ./workflow -run TestCommandTable -update. Want:\n%s", want)
		}
	}

	tags := regexp.MustCompile(`<[^>]*>`)
	for _, name := range []string{"help.txt", "help.html"} {
		b, err := os.ReadFile("../templates/default/" + name)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if strings.HasSuffix(name, ".html") {
			text = html.UnescapeString(tags.ReplaceAllString(text, " "))
		}
		text = strings.Join(strings.Fields(text), " ")
		for _, c := range commandTable {
			if !strings.Contains(text, c.Usage+" ") || !strings.Contains(text, c.Help) {
				t.Errorf("templates/default/%s does not list %q with its help line %q", name, c.Usage, c.Help)
			}
		}
	}
}

// TestLookalikeWords: only ASCII words are commands; a word that folds to
// one is refused, never carried out.
func TestLookalikeWords(t *testing.T) {
	tests := []struct {
		line, verb, lookalike string
	}{
		{"SEVER", CmdSever, ""},
		{"sever", CmdSever, ""},
		{"ſever", "", CmdSever},       // U+017F LATIN SMALL LETTER LONG S
		{"ＳＥＶＥＲ", "", CmdSever},       // fullwidth
		{"sévér", "", CmdSever},       // accents
		{"SE\u200bVER", "", CmdSever}, // a zero-width space inside
		{"\u212aill", "", ""},         // Kelvin sign: no command
		{"ЅЕVЕR", "", ""},             // Cyrillic look-alikes: not a command at all
		{"cloſe", "", CmdClose},       // long s again
		{"Thanks, looking", "", ""},
	}
	for _, tt := range tests {
		cmds, _ := ParseCommands(tt.line)
		if len(cmds) != 1 {
			t.Fatalf("ParseCommands(%q) = %d commands", tt.line, len(cmds))
		}
		if c := cmds[0]; c.Verb != tt.verb || c.Lookalike != tt.lookalike {
			t.Errorf("ParseCommands(%q) = verb %q lookalike %q; want %q, %q", tt.line, c.Verb, c.Lookalike, tt.verb, tt.lookalike)
		}
	}
}
