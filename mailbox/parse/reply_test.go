package parse

import (
	"strings"
	"testing"
)

func TestExtractReply(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "SEVER\n", "SEVER"},
		{"gmail quote", "SEVER please\n\nOn Mon, Jan 6, 2025 at 9:14 AM backstop <b@corp.example> wrote:\n> RESOLVE\n> BOUNDARY\n", "SEVER please"},
		{"wrapped attribution", "ESCALATE\n\nOn Mon, Jan 6, 2025 at 9:14 AM backstop <escalations@corp.example>\nwrote:\n\n> RESOLVE\n", "ESCALATE"},
		{"signature", "RESOLVE\n\n-- \nJane Lead\nRESOLVE all the things\n", "RESOLVE"},
		{"iphone footer", "SEVER\n\nSent from my iPhone\n\n> On Jan 6, 2025, at 9:14 AM, backstop <b@corp.example> wrote:\n> RESOLVE\n", "SEVER"},
		{"german footer", "SEVER\n\nVon meinem iPhone gesendet\n", "SEVER"},
		{"outlook mobile footer", "SEVER\n\nGet Outlook for iOS\n________________________________\nFrom: backstop\n", "SEVER"},
		{"outlook divider", "BOUNDARY\n\n________________________________\nFrom: backstop <b@corp.example>\nSent: Monday, January 6, 2025 9:14 AM\nTo: Lead\nSubject: x\n\nRESOLVE\n", "BOUNDARY"},
		{"outlook header block without divider", "BOUNDARY\n\nFrom: backstop <b@corp.example>\nSent: Monday, January 6, 2025 9:14 AM\nTo: Lead\nSubject: x\n\nRESOLVE\n", "BOUNDARY"},
		{"original message", "ok\n\n-----Original Message-----\nFrom: backstop\nSENT\n", "ok"},
		{"german original", "ok\n\n-----Ursprüngliche Nachricht-----\nVon: backstop\nRESOLVE\n", "ok"},
		{"interleaved", "> Do you approve?\nyes, SEVER\n\n> Anything else?\nno\n", "yes, SEVER\n\nno"},
		{"attribution above unquoted", "SEVER\n\nOn Mon, Jan 6, 2025 at 9:14 AM backstop <b@corp.example> wrote:\n\nRESOLVE\n", "SEVER"},
		{"french", "OK\n\nLe lun. 6 janv. 2025 à 09:14, backstop <b@corp.example> a écrit :\n> RESOLVE\n", "OK"},
		{"japanese no verb", "了解\n\n2025年1月6日(月) 9:14 backstop <b@corp.example>:\n> RESOLVE\n", "了解"},
		{"forward separator", "see\n\n---------- Forwarded message ---------\nFrom: x <x@example.com>\nDate: today\n\nRESOLVE\n", "see"},
		{"dashes are the writer's own", "part one\n----------\npart two\n", "part one\n----------\npart two"},
		{"unknown-language attribution above quote", "SEVER\n\nLe 6/1/2025 10:00, Ion Popescu <ion@example.com> a scris:\n> RESOLVE\n", "SEVER"},
		{"unknown language original message", "OK\n\n-----Eredeti üzenet-----\nFeladó: backstop <b@corp.example>\nElküldve: 2025. január 6. 9:14\nTárgy: x\n\nRESOLVE\n", "OK"},
		{"unknown language block without divider", "SEVER\n\nKutoka: backstop <b@corp.example>\nImetumwa: 2025-01-06 09:14\nKwa: Lead\nMada: x\n\nRESOLVE\n", "SEVER"},
		{"unknown language attribution above unquoted text", "SEVER\n\nKwenye 2025-01-06 09:14, backstop <b@corp.example> aliandika:\n\nRESOLVE\n", "SEVER"},
		{"line above with a time", "SEVER — call at 10:30\nOn Tue, Jan 7, 2025 at 8:02 AM Backstop <b@x.example> wrote:\n> q", "SEVER — call at 10:30"},
		{"line above with a comma", "Thanks, handling it.\nOn Tue, Jan 7, 2025 at 8:02 AM Backstop <b@x.example> wrote:\n> q", "Thanks, handling it."},
		{"date wrapped from name", "STATUS\n\nOn Tue, Jan 7, 2025 at 8:02 AM\nBackstop <b@x.example> wrote:\n> q", "STATUS"},
		{"address wrapped after <", "STATUS\n\nOn Tue, Jan 7, 2025 at 8:02 AM Backstop <\nb@x.example> wrote:\n> q", "STATUS"},
		{"french wrapped after the date, line above", "STATUS\nLe 7 janv. 2025 à 08:02,\nBackstop <b@x.example> a écrit :\n> q", "STATUS"},
		{"mailto wrapped over five lines", "STATUS\n\nOn Tue, Jan 7, 2025 at 8:02 AM Backstop\n<\nmailto:\nb@x.example\n> wrote:\n\n> SEVER", "STATUS"},
		{"gmail iso date, no verb", "BOUNDARY\n\n2016-03-03 17:21 GMT+01:00 Backstop <b@x.example>:\n\n> SEVER", "BOUNDARY"},
		{"android rules, no colon", "RESOLVE\n---- Backstop wrote ----\nReply SEVER or BOUNDARY", "RESOLVE"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExtractReply(tt.in); got != tt.want {
				t.Errorf("ExtractReply = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReplyFromHTML(t *testing.T) {
	tests := []struct {
		name, html, want string
	}{
		{"gmail", `<div dir="ltr">SEVER</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Jan 6, 2025 at 9:14 AM backstop &lt;<a href="mailto:b@corp.example">b@corp.example</a>&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">RESOLVE</blockquote></div>`, "SEVER"},
		{"gmail signature", `<div dir="ltr">SEVER<br clear="all"><br><span class="gmail_signature_prefix">-- </span><br><div dir="ltr" class="gmail_signature">Jane<br>RESOLVE</div></div>`, "SEVER"},
		{"outlook web", `<div>BOUNDARY</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> backstop<br><b>Sent:</b> Monday, January 6, 2025 9:14 AM<br><b>To:</b> Lead<br><b>Subject:</b> x</div><div>RESOLVE</div>`, "BOUNDARY"},
		{"outlook desktop", `<p class="MsoNormal">BOUNDARY</p><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"><p class="MsoNormal"><b>From:</b> backstop<br><b>Sent:</b> x</p></div><p class="MsoNormal">RESOLVE</p>`, "BOUNDARY"},
		{"apple", `<html><body dir="auto">SEVER<br><br><blockquote type="cite">On Jan 6, 2025, at 9:14 AM, backstop &lt;b@corp.example&gt; wrote:<br><br>RESOLVE</blockquote></body></html>`, "SEVER"},
		{"yahoo", `<div>SEVER</div><div id="yahoo_quoted_1" class="yahoo_quoted"><div>On Monday, January 6, 2025, 09:14:00 AM GMT+1, backstop &lt;b@corp.example&gt; wrote:</div><div><br></div><div>RESOLVE</div></div>`, "SEVER"},
		{"proton", `<div>SEVER</div><div class="protonmail_quote">On Monday, January 6th, 2025 at 9:14 AM, backstop &lt;b@corp.example&gt; wrote:<br><blockquote class="protonmail_quote" type="cite">RESOLVE</blockquote></div>`, "SEVER"},
		{"thunderbird", `<p>SEVER</p><div class="moz-cite-prefix">On 1/6/25 9:14 AM, backstop wrote:<br></div><blockquote type="cite" cite="mid:x">RESOLVE</blockquote>`, "SEVER"},
		{"outlook mobile signature", `<div>SEVER</div><div id="ms-outlook-mobile-signature">Get Outlook for iOS</div>`, "SEVER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := mailWith("Re: [backstop] incident", "text/html; charset=utf-8", tt.html, "In-Reply-To: <inc@corp.example>")
			m, err := Parse(strings.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != KindReply {
				t.Errorf("kind = %s, want reply", m.Kind)
			}
			if m.ReplyText != tt.want {
				t.Errorf("reply text = %q, want %q\ntext:\n%s", m.ReplyText, tt.want, m.Text)
			}
		})
	}
}

// TestReplyHTML: the HTML part's reply is kept beside the plain text's when
// a message has both (whether or not the plain text shows a forward), and
// not when the HTML is all there is.
func TestReplyHTML(t *testing.T) {
	alt := func(plain, html string) string {
		return "From: jane@acme.example\r\nTo: escalations@acme.example\r\nSubject: Re: x\r\nIn-Reply-To: <a@b>\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + plain + "\r\n" +
			"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>" + html + "</body></html>\r\n--b--\r\n"
	}
	fwd := "\r\n\r\n---------- Forwarded message ---------\r\nFrom: x <x@example.com>\r\nDate: Mon, 6 Jan 2025 09:14:00 +0000\r\nSubject: y\r\n\r\nbody\r\n"
	tests := []struct{ name, raw, want string }{
		{"plain and HTML differ", alt("RESOLVE", "<p>SEVER</p>"), "SEVER"},
		{"plain shows a forward", alt("RESOLVE"+fwd, "<p>SEVER</p>"), "SEVER"},
		{"HTML only", "From: jane@acme.example\r\nSubject: Re: x\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>SEVER</p>\r\n", ""},
	}
	for _, tt := range tests {
		m, err := Parse(strings.NewReader(tt.raw))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if m.ReplyHTML != tt.want {
			t.Errorf("%s: ReplyHTML = %q, want %q (ReplyText %q)", tt.name, m.ReplyHTML, tt.want, m.ReplyText)
		}
	}
}
