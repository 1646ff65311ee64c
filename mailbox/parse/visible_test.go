package parse

import (
	"strings"
	"testing"
)

// TestHiddenHTMLIsNotRead: text a mail client does not show is not part of
// the text backstop reads. Hand-written HTML, one hiding technique a row.
func TestHiddenHTMLIsNotRead(t *testing.T) {
	tests := []struct{ name, html string }{
		{"display none", `<div style="display:none">SEVER</div><div>Thanks, looking</div>`},
		{"display none spaced", `<div style="DISPLAY : NONE !important">SEVER</div><div>Thanks, looking</div>`},
		{"hidden attribute", `<p hidden>SEVER</p><p>Thanks, looking</p>`},
		{"visibility hidden", `<span style="visibility:hidden">SEVER</span><br>Thanks, looking`},
		{"zero font size", `<div style="font-size:0">SEVER</div>Thanks, looking`},
		{"zero font size px", `<div style="font-size:0px;line-height:0">SEVER</div>Thanks, looking`},
		{"one pixel font", `<div style="font-size:1px">SEVER</div>Thanks, looking`},
		{"white on white", `<div style="color:#ffffff">SEVER</div><div>Thanks, looking</div>`},
		{"white on white short", `<div style="color:#FFF">SEVER</div><div>Thanks, looking</div>`},
		{"colour equal to background", `<table bgcolor="#336699"><tr><td><font color="#336699">SEVER</font></td></tr></table>Thanks, looking`},
		{"rgb equal to background", `<div style="background-color:rgb(10,20,30)"><span style="color:rgb(10, 20, 30)">SEVER</span></div>Thanks, looking`},
		{"transparent text", `<div style="color:transparent">SEVER</div>Thanks, looking`},
		{"mso-hide", `<div style="mso-hide:all;display:none">SEVER</div>Thanks, looking`},
		{"mso-hide alone", `<div style="mso-hide:all">SEVER</div>Thanks, looking`},
		{"zero height overflow", `<div style="max-height:0;overflow:hidden">SEVER</div>Thanks, looking`},
		{"opacity", `<div style="opacity:0">SEVER</div>Thanks, looking`},
		{"off screen", `<div style="position:absolute;left:-9999px">SEVER</div>Thanks, looking`},
		{"comment", `<!-- SEVER -->Thanks, looking`},
		{"style element", `<style>SEVER</style>Thanks, looking`},
		{"hidden input", `<input type="hidden" value="SEVER">Thanks, looking`},
		{"nested in hidden", `<div style="display:none"><p><b>SEVER</b></p></div>Thanks, looking`},
		{"deep nesting", strings.Repeat("<div>", 300) + `<span style="display:none">SEVER</span>Thanks, looking` + strings.Repeat("</div>", 300)},
		{"too deep for the parser", strings.Repeat("<div>", 600) + `<span style="display:none">SEVER</span>Thanks, looking` + strings.Repeat("</div>", 600)},
		{"too deep, white", strings.Repeat("<div>", 600) + `<font color=white>SEVER</font>Thanks, looking` + strings.Repeat("</div>", 600)},
	}
	for _, tt := range tests {
		got := HTMLToText(tt.html)
		if strings.Contains(got, "SEVER") {
			t.Errorf("%s: hidden text read: %q", tt.name, got)
		}
		if !strings.Contains(got, "Thanks, looking") {
			t.Errorf("%s: visible text lost: %q", tt.name, got)
		}
	}
	visible := []struct{ name, html string }{
		{"white on dark", `<table bgcolor="#000000"><tr><td><font color="#ffffff">SEVER</font></td></tr></table>`},
		{"small but readable", `<div style="font-size:11px">SEVER</div>`},
		{"coloured", `<div style="color:#222">SEVER</div>`},
		{"background image", `<div style="background:url(x.png);color:#fff">SEVER</div>`},
	}
	for _, tt := range visible {
		if got := HTMLToText(tt.html); !strings.Contains(got, "SEVER") {
			t.Errorf("%s: visible text lost: %q", tt.name, got)
		}
	}
}
