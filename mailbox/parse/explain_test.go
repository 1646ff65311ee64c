package parse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExplain checks that Explain names the rule that found each original
// and the line where the reply text was cut.
func TestExplain(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"gmail_en_reply_line_above", []string{"kind: reply", "dropped quote header line 2", "dropped quoted (\">\") lines 3-7", "   1  SEVER"}},
		{"nmh_de_rfc934", []string{"carries its own raw header", "found by: header block lines 4-7, below the separator line 3", "cut at line 3: separator"}},
		{"yahoo_de_textonly", []string{"(all its fields on one line)"}},
		{"outlook_en_fw_replystyle", []string{"found by: quote header line 3; subject taken from the forward's own subject"}},
		{"mailer_en_rfc822_emptybody", []string{"attached message", "its raw part is the evidence"}},
		{"webmail_en_htmlsource", []string{"its body was HTML source"}},
		{"gmail_en_reply_sever", []string{"reply text: dropped quote header lines"}},
		{"android_en_reply_dashes_top", []string{"cut at line 2: quote header line 2 above unquoted text"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "corpus", tt.file+".eml"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := Parse(f)
			if err != nil {
				t.Fatal(err)
			}
			got := m.Explain()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Explain lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestExplainEncapsulatedLine: the note on an encapsulated message names
// the text line below its separator, counting an earlier separator line
// that no raw header followed (hand-written input).
func TestExplainEncapsulatedLine(t *testing.T) {
	raw := "From: lead@acme.example\r\nTo: escalations@acme.example\r\nSubject: fwd\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n" +
		"See below.\r\n" + // 1
		"------- Forwarded Message\r\n" + // 2: no header follows
		"\r\n" + // 3
		"no header here\r\n" + // 4
		"------- Forwarded Message\r\n" + // 5
		"\r\n" + // 6
		"From: a@customer.example\r\nTo: support@acme.example\r\nSubject: rude\r\nMessage-ID: <r1@customer.example>\r\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nYou are useless.\r\n\r\n" +
		"------- End of Forwarded Message\r\n"
	m, err := Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Explain(); !strings.Contains(got, "the message at text line 6 (below") {
		t.Errorf("Explain does not place the message at text line 6:\n%s", got)
	}
}
