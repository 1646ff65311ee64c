package parse

import (
	"strings"
	"testing"
)

func TestHTMLToText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo"},
		{"breaks", "a<br>b<br><br>c", "a\nb\n\nc"},
		{"divs", "<div>a</div><div>b</div>", "a\nb"},
		{"whitespace", "<p>  lots   of\n space </p>", "lots of space"},
		{"list", "<ul><li>x</li><li>y</li></ul><ol><li>p</li><li>q</li></ol>", "- x\n- y\n1. p\n2. q"},
		{"link", `<a href="https://example.com/x">details</a>`, "details <https://example.com/x>"},
		{"link same", `<a href="https://example.com">https://example.com</a>`, "https://example.com"},
		{"mailto", `<a href="mailto:j@example.com">John</a>`, "John <j@example.com>"},
		{"mailto in brackets", `John &lt;<a href="mailto:j@example.com">j@example.com</a>&gt;`, "John <j@example.com>"},
		{"blockquote", "hi<blockquote>q1<br>q2<blockquote>qq</blockquote></blockquote>end", "hi\n> q1\n> q2\n> > qq\nend"},
		{"drop", "<head><title>t</title><style>p{}</style></head><body><script>x()</script>text</body>", "text"},
		{"table", "<table><tr><th>Subject:</th><td>hi</td></tr><tr><td>a</td><td>b</td></tr></table>", "Subject: hi\na b"},
		{"hr", "a<hr>b", "a\n" + ruleLine + "\nb"},
		{"outlook divider", `a<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in"><p class=MsoNormal><b>From:</b> x</p></div>`, "a\n" + ruleLine + "\nFrom: x"},
		{"entities", "caf&eacute; &amp; &lt;tag&gt;&nbsp;x", "café & <tag> x"},
		{"pre", "<pre>a\n  b</pre>", "a\n  b"},
		{"signature", `hi<div class="gmail_signature">Jane</div>`, "hi\n--\nJane"},
		{"too deep for the parser", strings.Repeat("<div>", 600) + "deep<blockquote>quoted</blockquote>after", "deep\n> quoted\nafter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HTMLToText(tt.in); got != tt.want {
				t.Errorf("HTMLToText = %q, want %q", got, tt.want)
			}
		})
	}
}
