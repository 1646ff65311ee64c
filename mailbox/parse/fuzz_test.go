package parse

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds are inputs of the unit tests that exercise odd corners.
var fuzzSeeds = []string{
	"",
	"From: a@example.com\r\n\r\nhi",
	"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@example.com\r\n\r\nx\r\n--b--\r\n",
	"From: a@example.com\r\nContent-Type: text/html\r\n\r\n<blockquote><div class=gmail_quote>On Mon, Jan 6, 2025 at 9:14 AM X &lt;x@y.z&gt; wrote:<blockquote>q</blockquote></div></blockquote>",
	"From: a@example.com\r\nContent-Type: text/plain; format=flowed; delsp=yes\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n> a =\r\n> b=3D\r\n",
	"From: a@example.com\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!SGVsbG8=\r\n",
	"From: a@example.com\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; x@y\r\nAction: failed\r\nStatus: 5.0.0\r\n--r--\r\n",
	"Subject: Fwd: x\r\n\r\n---------- Forwarded message ---------\nFrom: John <j@x.y>\nDate: Mon, Jan 6, 2025 at 9:14 AM\nSubject: x\n\nbody\n\nOn Sun, Jan 5, 2025 at 8:00 PM Mate <m@c.e> wrote:\n> q\n>> Am So., 5. Jan. 2025 um 18:00 Uhr schrieb J <j@x.y>:\n",
	"Subject: FW: x\r\n\r\nDe\u00a0: Jean <j@x.y>\nEnvoyé\u00a0: lundi 6 janvier 2025 09:14\nÀ\u00a0: m\nObjet\u00a0: x\n\nb\n",
	"Subject: x\r\n\r\n差出人: 山田 <y@x.jp>\n送信日時: 2025年1月6日(月) 9:14\n件名: x\n\n本文\n",
	// One-line header block (Yahoo), RFC 934 with stuffing, a multipart
	// without boundary, a leading blank line, a wrapped quote header.
	"Subject: Fwd: x\r\n\r\nnote\n----- Forwarded Message ----- From: A <a@x.y>To: b@x.ySent: Monday, January 6, 2025, 09:14 AM PSTSubject: x\n\nbody\n",
	"Subject: x\r\n\r\n------- Forwarded Message\n\nReceived: by x\nFrom: =?UTF-8?Q?Zo=C3=AB?= <z@x.y>\nSubject: s\nDate: Mon, 06 Jan 2025 09:14:02 +0100\nContent-Transfer-Encoding: quoted-printable\n\nb=C3=A4\n- --\n\n------- End of Forwarded Message\n",
	"Content-Type: multipart/alternative\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nSEVER\r\n--b1--\r\n",
	"\r\nFrom: a@x.y\r\n\r\nRESOLVE\r\n",
	"Subject: Re: x\r\n\r\nSTATUS\nOn Tue, Jan 7, 2025 at 8:02 AM B\n<\nmailto:\nb@x.y\n> wrote:\n> q\n",
}

// FuzzParse checks that no input makes Parse panic, and that what it
// returns stays proportionate to the input.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	clients, _ := filepath.Glob(filepath.Join(clientsDir, "*", "*.eml"))
	for _, file := range append(corpusFiles(f), clients...) {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(bytes.NewReader(data))
		if m == nil {
			t.Fatalf("nil message (error %v)", err)
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("json: %v", err)
		}
		if limit := 100*len(data) + 64<<10; len(out) > limit {
			t.Fatalf("%d bytes of JSON from %d bytes of input", len(out), len(data))
		}
		if len(m.Originals) > DefaultLimits.MaxOriginals {
			t.Fatalf("%d originals", len(m.Originals))
		}
		if len(m.Warnings) > maxWarnings+1 {
			t.Fatalf("%d warnings", len(m.Warnings))
		}
		if ex := m.Explain(); len(ex) > 4*len(m.Text)+64<<10 {
			t.Fatalf("%d bytes of explanation for %d bytes of text", len(ex), len(m.Text))
		}
		// Reply text is a part of the text, never quoted lines.
		for _, l := range strings.Split(m.ReplyText, "\n") {
			if strings.HasPrefix(strings.TrimLeft(l, " \t"), ">") && !strings.Contains(m.Text, l) {
				t.Fatalf("reply text line %q is not in the text", l)
			}
		}
	})
}

// FuzzExtractReply checks that reply extraction never keeps a quoted line.
func FuzzExtractReply(f *testing.F) {
	for _, s := range []string{"SEVER\n> RESOLVE\n", "a\nOn Mon, Jan 6, 2025 at 9:14 AM X <x@y.z> wrote:\n> b\n", "> q\nanswer\n", "x\n-- \nsig"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, l := range splitLines(ExtractReply(s)) {
			if l.depth > 0 {
				t.Fatalf("quoted line %q in reply text", l.text)
			}
		}
	})
}
