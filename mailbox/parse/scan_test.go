package parse

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The expressions that scans replaced, for speed: each scan must find
// what its expression finds.
var (
	bracketedRe = regexp.MustCompile(`(?i)[(]?\s*[<\[(]\s*(?:mailto:)?\s*([^<>\[\]()\s,;]+@[^<>\[\]()\s,;]+?)\s*[>\])]\s*[)]?`)
	fieldLineRe = regexp.MustCompile(`^[!-9;-~]+[ \t]*:`)
	dateWordRe  = regexp.MustCompile(`[\p{L}]+\.?|\d+`)
)

// scanInputs are the lines of the testdata messages and texts that probe
// the corners of the expressions.
func scanInputs(t *testing.T) []string {
	t.Helper()
	in := []string{
		"", "@", "a@b", "<a@b>", "< a@b >", "(<a@b>)", "((a@b))", "[mailto:a@b]", "<MailTo: a@b>", "<mailto:@b>",
		"<mailto:a@b", "Name <a@@b>", "<@b>", "<a@>", "<a@b,c>", "x (a@b) y", "<\ta@b\f>\n)", "(\u00a0<a@b>)", "<é@ü.example>",
		"\xd9<a@b>\xa3", "<a@b\xff>", "Customer <c123@globex.example>", "John Doe <john@x.y<mailto:john@x.y>>",
		"On Sun, Jan 5, 2025 at 9:00 AM, Customer <c123@globex.example> wrote:", "c123@globex.example", "a@b.c", "a@-b.c",
		"\xe2\x80@x.yz", "٣@٣.٣", "x.y@日本.jp", "john.doe+tag@sub.example.co.uk)", "@@a@b.cc",
		"From: x", "From : x", "X-Foo:", ":x", " From: x", "From\t:", "Fröm: x", "From x",
		"mon. 6 janv. 2025", "6.1.2025 9.14", "2025年1月6日", "ǅ Ⅻ ٣ 12a3", "a.b.", "\xffab\xfe12",
	}
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, strings.Split(string(data), "\n")...)
	}
	return in
}

func TestScansMatchTheirExpressions(t *testing.T) {
	for _, s := range scanInputs(t) {
		if got, want := findBracketed(s, true), bracketedRe.FindStringSubmatchIndex(s); !reflect.DeepEqual(got, want) {
			t.Errorf("findBracketed(%q, true) = %v, bracketedRe finds %v", s, got, want)
		}
		if got, want := findBracketed(s, false), bracketedRe.FindStringIndex(s); !reflect.DeepEqual(got, want) {
			t.Errorf("findBracketed(%q, false) = %v, bracketedRe finds %v", s, got, want)
		}
		if got, want := findEmail(s), emailRe.FindStringIndex(s); !reflect.DeepEqual(got, want) {
			t.Errorf("findEmail(%q) = %v, emailRe finds %v", s, got, want)
		}
		if got, want := hasEmail(s), emailRe.MatchString(s); got != want {
			t.Errorf("hasEmail(%q) = %v, emailRe: %v", s, got, want)
		}
		if got, want := isFieldLine([]byte(s)), fieldLineRe.MatchString(s); got != want {
			t.Errorf("isFieldLine(%q) = %v, fieldLineRe: %v", s, got, want)
		}
		for _, v := range []string{s, strings.ToLower(s)} {
			if got, want := dateWords(v, nil), dateWordRe.FindAllString(v, -1); strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
				t.Errorf("dateWords(%q) = %q, dateWordRe finds %q", v, got, want)
			}
		}
	}
}
