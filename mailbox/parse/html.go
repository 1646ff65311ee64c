package parse

import (
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// ruleLine is the divider Outlook writes above a quoted or forwarded header
// block in plain text; HTMLToText writes it for <hr> and for the dividers
// mail clients draw with CSS (Outlook's border-top, #divRplyFwdMsg).
const ruleLine = "________________________________"

// maxHTMLDepth bounds the element nesting HTMLToText follows with
// structure; deeper elements contribute their text only.
const maxHTMLDepth = 200

// HTMLToText converts an HTML mail body to readable plain text: paragraphs
// and line breaks, list items ("- "), table rows as lines, links as
// "text <url>" when the URL differs from the text. Quoted text
// (<blockquote>, Yahoo's and Proton Mail's quote containers) is prefixed
// with "> " per level, the way plain-text mail quotes, and Outlook's
// reply/forward divider becomes a line of underscores, so that the same
// rules find quotes and forwarded header blocks in both kinds of body.
// Signature blocks marked by the client (Gmail, Outlook on the web,
// Thunderbird) are preceded by the "-- " separator. Scripts, styles and the
// document head are dropped.
func HTMLToText(s string) string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		// Too deeply nested for the parser: read it token by token,
		// keeping line breaks and quote levels.
		return tokensToText(s)
	}
	w := &htmlWriter{vis: defaultVisibility}
	w.walk(doc, 0)
	return w.String()
}

type htmlLine struct {
	depth int
	text  string
}

type htmlWriter struct {
	out      []htmlLine
	cur      strings.Builder
	curDepth int
	depth    int // blockquote level
	pre      int
	listNums []int      // item counters of open lists; -1 for unordered
	vis      visibility // colours in force (visible.go)

	anyText  bool   // a non-blank line has been written
	blankEnd int    // blank lines at the end of out
	lastText string // the last non-blank line written
}

// maxQuoteDepth bounds the "> " prefixes written for nested quotes.
const maxQuoteDepth = 30

func (w *htmlWriter) hasContent() bool {
	return w.cur.Len() > 0 || w.anyText
}

func (w *htmlWriter) push(l htmlLine) {
	if l.depth > maxQuoteDepth {
		l.depth = maxQuoteDepth
	}
	w.out = append(w.out, l)
	if l.text == "" {
		w.blankEnd++
		return
	}
	w.blankEnd = 0
	w.anyText = true
	w.lastText = l.text
}

func (w *htmlWriter) endLine() {
	w.push(htmlLine{depth: w.curDepth, text: strings.TrimRight(w.cur.String(), " ")})
	w.cur.Reset()
	w.curDepth = w.depth
}

// block makes sure the output continues on a fresh line, with n-1 blank
// lines before it.
func (w *htmlWriter) block(n int) {
	if w.cur.Len() > 0 {
		w.endLine()
	}
	if !w.hasContent() {
		return
	}
	for blank := w.blankEnd; blank < n-1; blank++ {
		w.push(htmlLine{depth: w.depth})
	}
	w.curDepth = w.depth
}

func (w *htmlWriter) text(s string) {
	if w.pre > 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		for i, part := range strings.Split(s, "\n") {
			if i > 0 {
				w.endLine()
			}
			w.write(strings.ReplaceAll(part, "\u00a0", " "))
		}
		return
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\u00a0' || r == '\u200b' {
			space = true
			continue
		}
		if space && (b.Len() > 0 || w.cur.Len() > 0) {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	if space && b.Len() > 0 {
		b.WriteByte(' ')
	}
	if b.Len() == 0 && space && w.cur.Len() > 0 {
		b.WriteByte(' ')
	}
	w.write(b.String())
}

func (w *htmlWriter) write(s string) {
	if s == "" {
		return
	}
	if w.cur.Len() == 0 {
		w.curDepth = w.depth
		if w.pre == 0 {
			s = strings.TrimLeft(s, " ")
		}
		if s == "" {
			return
		}
	} else if strings.HasSuffix(w.cur.String(), " ") && strings.HasPrefix(s, " ") {
		s = s[1:]
	}
	w.cur.WriteString(s)
}

func (w *htmlWriter) rule() {
	w.block(1)
	if w.lastText == ruleLine {
		return
	}
	w.write(ruleLine)
	w.endLine()
}

func (w *htmlWriter) String() string {
	if w.cur.Len() > 0 {
		w.endLine()
	}
	var b strings.Builder
	blank := 0
	started := false
	for _, l := range w.out {
		if strings.TrimSpace(l.text) == "" {
			if started {
				blank++
			}
			continue
		}
		if blank > 0 {
			b.WriteString(strings.TrimRight(strings.Repeat("> ", l.depth), " "))
			b.WriteByte('\n')
		}
		blank = 0
		started = true
		b.WriteString(strings.Repeat("> ", l.depth))
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if strings.EqualFold(c, class) {
			return true
		}
	}
	return false
}

// The clients' markup HTMLToText reads as structure.
var (
	// quoteDivClasses mark a div holding the quoted message (Yahoo, Proton).
	quoteDivClasses = []string{"yahoo_quoted", "protonmail_quote"}
	// ruleDivClasses mark a div drawn as a divider above the original
	// (Zoho); Outlook's is id="divRplyFwdMsg" or a solid border-top.
	ruleDivClasses = []string{"zmail_extra_hr"}
	// signatureIDs mark a signature element by id; any class naming
	// "signature" (but not "no-signature") does too.
	signatureIDs = map[string]bool{"signature": true, "ms-outlook-mobile-signature": true}
)

func hasAnyClass(n *html.Node, classes []string) bool {
	for _, c := range classes {
		if hasClass(n, c) {
			return true
		}
	}
	return false
}

func isBlockAtom(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
		atom.Ul, atom.Ol, atom.Table, atom.Tr, atom.Section, atom.Article, atom.Header,
		atom.Footer, atom.Address, atom.Center, atom.Form, atom.Fieldset, atom.Dl, atom.Dt,
		atom.Dd, atom.Main, atom.Nav, atom.Aside, atom.Figure, atom.Tbody, atom.Thead, atom.Tfoot,
		atom.Caption, atom.Details, atom.Summary:
		return true
	}
	return false
}

func (w *htmlWriter) walk(n *html.Node, level int) {
	switch n.Type {
	case html.TextNode:
		if !w.vis.textHidden() {
			w.text(n.Data)
		}
		return
	case html.DocumentNode:
		w.children(n, level)
		return
	case html.ElementNode:
	default:
		return
	}
	saved := w.vis
	vis, hidden := w.vis.enter(n) // visible.go: hidden elements are not read
	if hidden {
		return
	}
	w.vis = vis
	defer func() { w.vis = saved }()
	if level > maxHTMLDepth {
		w.flatText(n)
		return
	}
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Head, atom.Title, atom.Noscript, atom.Template, atom.Object, atom.Iframe, atom.Svg:
		return
	case atom.Br:
		w.endLine()
		return
	case atom.Hr:
		w.rule()
		return
	case atom.Img:
		return
	case atom.A:
		w.link(n, level)
		return
	}
	id := strings.ToLower(attr(n, "id"))
	class := strings.ToLower(attr(n, "class"))
	style := strings.ToLower(attr(n, "style"))

	quote := n.DataAtom == atom.Blockquote || (n.DataAtom == atom.Div && hasAnyClass(n, quoteDivClasses))
	if n.DataAtom == atom.Div && (strings.HasPrefix(id, "divrplyfwdmsg") || hasAnyClass(n, ruleDivClasses) ||
		(strings.Contains(style, "border-top") && strings.Contains(style, "solid") && !strings.Contains(style, "border-top:none") && !strings.Contains(style, "border-top: none"))) {
		w.rule()
	}
	if signatureIDs[id] || strings.Contains(class, "signature") && !strings.Contains(class, "no-signature") ||
		strings.Contains(class, "gmail_signature") || strings.Contains(class, "moz-signature") {
		w.block(1)
		if !strings.HasPrefix(strings.TrimSpace(flatTextOf(n, 8)), "--") {
			w.write("-- ")
			w.endLine()
		}
	}

	switch {
	case quote:
		w.block(1)
		w.depth++
		w.curDepth = w.depth
		w.children(n, level)
		w.block(1)
		w.depth--
		w.curDepth = w.depth
		return
	case n.DataAtom == atom.Pre:
		w.block(1)
		w.pre++
		w.children(n, level)
		w.pre--
		w.block(1)
		return
	case n.DataAtom == atom.Li:
		w.block(1)
		marker := "- "
		if k := len(w.listNums); k > 0 && w.listNums[k-1] >= 0 {
			w.listNums[k-1]++
			marker = strconv.Itoa(w.listNums[k-1]) + ". "
		}
		w.write(marker)
		w.children(n, level)
		w.block(1)
		return
	case n.DataAtom == atom.Ul || n.DataAtom == atom.Ol:
		w.block(1)
		num := -1
		if n.DataAtom == atom.Ol {
			num = 0
		}
		w.listNums = append(w.listNums, num)
		w.children(n, level)
		w.listNums = w.listNums[:len(w.listNums)-1]
		w.block(1)
		return
	case n.DataAtom == atom.Td || n.DataAtom == atom.Th:
		if w.cur.Len() > 0 {
			w.write(" ")
		}
		w.children(n, level)
		if w.cur.Len() > 0 {
			w.write(" ")
		}
		return
	case n.DataAtom == atom.P || (n.DataAtom >= atom.H1 && n.DataAtom <= atom.H6 && isHeading(n.DataAtom)):
		gap := 2
		if strings.Contains(class, "msonormal") || strings.Contains(style, "margin:0") || strings.Contains(style, "margin: 0") {
			gap = 1
		}
		w.block(gap)
		w.children(n, level)
		w.block(gap)
		return
	case isBlockAtom(n.DataAtom):
		w.block(1)
		w.children(n, level)
		w.block(1)
		return
	}
	w.children(n, level)
}

func isHeading(a atom.Atom) bool {
	switch a {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		return true
	}
	return false
}

func (w *htmlWriter) children(n *html.Node, level int) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c, level+1)
	}
}

// link writes an anchor as its text, followed by " <url>" when the target
// says more than the text. A mailto link shows its address.
func (w *htmlWriter) link(n *html.Node, level int) {
	href := strings.TrimSpace(attr(n, "href"))
	txt := strings.TrimSpace(cleanSpaces(flatTextOf(n, 4096)))
	w.children(n, level)
	if href == "" || strings.HasPrefix(href, "#") || strings.HasPrefix(strings.ToLower(href), "javascript:") {
		return
	}
	target := href
	if strings.HasPrefix(strings.ToLower(target), "mailto:") {
		target = target[len("mailto:"):]
		if i := strings.IndexByte(target, '?'); i >= 0 {
			target = target[:i]
		}
	}
	if txt == "" {
		w.write(target)
		return
	}
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
		return strings.TrimSuffix(strings.TrimPrefix(s, "www."), "/")
	}
	if norm(txt) == norm(target) || strings.Contains(strings.ToLower(txt), strings.ToLower(target)) {
		return
	}
	// A name linked to its address inside "<...>" already shows it.
	if strings.HasSuffix(w.cur.String(), "<"+txt) || strings.HasSuffix(w.cur.String(), "[mailto:"+txt) {
		return
	}
	w.write(" <" + target + ">")
}

// flatText writes the text of n without structure (for very deep trees).
func (w *htmlWriter) flatText(n *html.Node) {
	w.text(flatVisibleText(n, 1<<20, w.vis))
}

// flatTextOf returns the visible text of the element n, at most max bytes.
func flatTextOf(n *html.Node, max int) string {
	return flatVisibleText(n, max, defaultVisibility)
}

// tokensToText converts HTML the parser refuses (nesting deeper than it
// allows) with a tokenizer: text, line breaks at block elements, quote
// levels at blockquotes; scripts and styles dropped.
func tokensToText(s string) string {
	w := &htmlWriter{vis: defaultVisibility}
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0
	var vis tokenVisibility // visible.go
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return w.String()
		case html.TextToken:
			if skip == 0 && !vis.hidden() {
				w.text(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			vis.start(z, name, hasAttr, tt == html.SelfClosingTagToken)
			a := atom.Lookup(name)
			switch {
			case a == atom.Script || a == atom.Style || a == atom.Head:
				skip++
			case a == atom.Br:
				w.endLine()
			case a == atom.Hr:
				w.rule()
			case a == atom.Blockquote:
				w.block(1)
				w.depth++
				w.curDepth = w.depth
			case a == atom.P:
				w.block(2)
			case isBlockAtom(a) || a == atom.Li:
				w.block(1)
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			vis.end(name)
			a := atom.Lookup(name)
			switch {
			case (a == atom.Script || a == atom.Style || a == atom.Head) && skip > 0:
				skip--
			case a == atom.Blockquote && w.depth > 0:
				w.block(1)
				w.depth--
				w.curDepth = w.depth
			case a == atom.P:
				w.block(2)
			case isBlockAtom(a) || a == atom.Li:
				w.block(1)
			}
		}
	}
}
