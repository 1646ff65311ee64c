package parse

import (
	"io"
	"strings"
	"testing"
)

func TestUnsquashBlock(t *testing.T) {
	tests := []struct {
		in   string
		want []string // nil: not a header block
	}{
		{"----- Forwarded Message ----- From: A <a@x.example>To: b@x.exampleSent: Monday, January 6, 2025, 09:14 AM PSTSubject: Hi",
			[]string{"----- Forwarded Message -----", "From: A <a@x.example>", "To: b@x.example", "Sent: Monday, January 6, 2025, 09:14 AM PST", "Subject: Hi"}},
		{"Von: Jürgen <j@x.example> An: Tom <t@x.example> Gesendet: Montag, 6. Januar 2025 MEZBetreff: Ersatz",
			[]string{"Von: Jürgen <j@x.example>", "An: Tom <t@x.example>", "Gesendet: Montag, 6. Januar 2025 MEZ", "Betreff: Ersatz"}},
		{"发件人: 陈静 <c@x.example>收件人: 王 <w@x.example>主题: 投诉", []string{"发件人: 陈静 <c@x.example>", "收件人: 王 <w@x.example>", "主题: 投诉"}},
		// Prose with colons, a lone field, a lower-case word glued to a label.
		{"Note: the meeting is at 10:30, see: the agenda", nil},
		{"From: A <a@x.example>", nil},
		{"Davon: nichts. Ebenfalls: nichts. Betreff: x", nil},
	}
	for _, tt := range tests {
		got := unsquashBlock(tt.in)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("unsquashBlock(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestStillEncoded(t *testing.T) {
	tests := []struct {
		cte, body string
		want      bool
	}{
		{"base64", "SGVsbG8sIHdvcmxk\nIQ==\n", true},
		{"base64", "Hello, world!\n", false},
		{"quoted-printable", "Gr=C3=BC=C3=9Fe,=\nneue Zeile\n", true},
		{"quoted-printable", "Grüße, already decoded\n", false},
		{"quoted-printable", "plain ascii without escapes\n", false},
		{"8bit", "SGVsbG8=\n", false},
	}
	for _, tt := range tests {
		if got := stillEncoded(tt.cte, tt.body); got != tt.want {
			t.Errorf("stillEncoded(%q, %q) = %v, want %v", tt.cte, tt.body, got, tt.want)
		}
	}
}

func TestGuessBoundary(t *testing.T) {
	tests := []struct{ body, want string }{
		{"--abc123\r\nContent-Type: text/plain\r\n\r\nhi\r\n--abc123--\r\n", "abc123"},
		{"preamble\n--b1\n\nx\n--b1\n\ny\n--b1--\n", "b1"},
		{"just text\n-- \nsignature\n", ""},
		{"--once\nno second delimiter\n", ""},
	}
	for _, tt := range tests {
		r, got := guessBoundary(strings.NewReader(tt.body))
		if got != tt.want {
			t.Errorf("guessBoundary(%q) = %q, want %q", tt.body, got, tt.want)
		}
		if all, _ := io.ReadAll(r); string(all) != tt.body {
			t.Errorf("guessBoundary(%q) lost bytes: %q", tt.body, all)
		}
	}
}

func TestRemoveInvisible(t *testing.T) {
	tests := []struct{ in, want string }{
		{"NOTE called\u200b again\n\u1427\n\nOn x wrote:", "NOTE called again\n\nOn x wrote:"},
		{"SE\u00adVER", "SEVER"},
		{"> \u1427\n> q", "> q"},
		{"ᐧ inside a word stays: aᐧb", "ᐧ inside a word stays: aᐧb"},
		{"emoji 👩\u200d💻 keeps its joiner", "emoji 👩\u200d💻 keeps its joiner"},
	}
	for _, tt := range tests {
		if got := removeInvisible(tt.in); got != tt.want {
			t.Errorf("removeInvisible(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLooksLikeHTMLSource(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"<html><body><p>Hi</p></body></html>", true},
		{"<div>one</div>\n<div>two</div>\n<div><br></div>\n<p>three</p>", true},
		{"Use the <b> tag for bold, and <i> for italics.", false},
		{"a < b and c > d", false},
	}
	for _, tt := range tests {
		if got := looksLikeHTMLSource(tt.in); got != tt.want {
			t.Errorf("looksLikeHTMLSource(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
