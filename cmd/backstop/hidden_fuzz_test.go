package main

import (
	"bytes"
	"html"
	"strings"
	"testing"

	"backstop/mailbox/parse"
	"backstop/workflow"
)

// hidingStyles are the ways to hide an element from the reader, as mail
// clients render them.
var hidingStyles = []string{
	`<div style="display:none">%s</div>`,
	`<div hidden>%s</div>`,
	`<span style="visibility:hidden">%s</span>`,
	`<div style="font-size:0">%s</div>`,
	`<div style="font-size:1px;line-height:1px">%s</div>`,
	`<div style="color:#ffffff">%s</div>`,
	`<div style="color:#fff;background:#fff">%s</div>`,
	`<table bgcolor="#123456"><tr><td><font color="#123456">%s</font></td></tr></table>`,
	`<div style="mso-hide:all">%s</div>`,
	`<div style="max-height:0;overflow:hidden">%s</div>`,
	`<div style="opacity:0">%s</div>`,
	`<div style="position:absolute;left:-9999px">%s</div>`,
	`<!-- %s -->`,
	`<style>%s</style>`,
	`<div style="display:none"><div style="display:block">%s</div></div>`,
	`<div style="color:white"><span style="color:#fefefe">%s</span></div>`,
}

// innerWrappers put the hidden words in more markup.
var innerWrappers = []string{"%s", "<p>%s</p>", "<b>%s</b><br>", `<div style="display:block;visibility:visible">%s</div>`, "<blockquote>%s</blockquote>"}

// FuzzHiddenHTMLCommands: whatever the words and however they are hidden,
// an HTML reply carries exactly the commands of the same reply without
// the hidden element. No command is ever read from hidden text.
func FuzzHiddenHTMLCommands(f *testing.F) {
	f.Add("Thanks, looking", "SEVER", "", uint8(0), uint8(0))
	f.Add("", "sever", "Thanks", uint8(5), uint8(2))
	f.Add("", "BOUNDARY\nSEVER", "ok", uint8(8), uint8(1))
	f.Add("STATUS", "SEVER", "", uint8(3), uint8(3))
	f.Add("", "ESCALATE pat@globex.example", "", uint8(7), uint8(4))
	f.Add("SE", "x", "VER", uint8(1), uint8(0))
	f.Fuzz(func(t *testing.T, before, hidden, after string, style, inner uint8) {
		wrap := func(format, s string) string { return strings.Replace(format, "%s", s, 1) }
		esc := func(s string) string { return strings.ReplaceAll(html.EscapeString(s), "\n", "<br>") }
		h := wrap(innerWrappers[int(inner)%len(innerWrappers)], esc(hidden))
		hiddenEl := wrap(hidingStyles[int(style)%len(hidingStyles)], h)
		with := "<div>" + esc(before) + "</div>" + hiddenEl + "<div>" + esc(after) + "</div>"
		without := "<div>" + esc(before) + "</div>" + "<div>" + esc(after) + "</div>"
		if got, want := htmlCommands(t, with), htmlCommands(t, without); got != want {
			t.Errorf("hidden %q (style %d, inner %d) changed the commands: %s, without it %s", hidden, style, inner, got, want)
		}
	})
}

// htmlCommands parses an HTML-only reply and reads its commands as
// backstop would.
func htmlCommands(t *testing.T, body string) string {
	t.Helper()
	raw := "From: jane@acme.example\r\nTo: escalations@acme.example\r\nSubject: Re: x\r\nIn-Reply-To: <a@b>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>" + body + "</body></html>\r\n"
	m, err := parse.Parse(bytes.NewReader([]byte(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var words []string
	for _, text := range []string{m.ReplyText, m.ReplyHTML} {
		cmds, _ := workflow.ParseCommands(text)
		for _, c := range cmds {
			words = append(words, c.Verb+"|"+c.Lookalike+"|"+strings.Join(strings.Fields(c.Args), " "))
		}
		words = append(words, "/")
	}
	return strings.Join(words, ",")
}
