package parse

import (
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Only what a person would see counts: HTMLToText leaves out every element
// a mail client does not show, so that words hidden in markup (a command in
// a display:none block, white text on a white background) are never read
// as if the sender had written them. When in doubt, text is treated as
// hidden.

// visibility is what an element passes on to its content that decides
// whether its text shows: the text and background colours in force.
type visibility struct {
	color, bg rgb // colours in force; known is false when unknown
}

// rgb is a CSS colour.
type rgb struct {
	r, g, b int
	known   bool
}

// defaultVisibility is a mail client's default: black text on white.
var defaultVisibility = visibility{color: rgb{0, 0, 0, true}, bg: rgb{255, 255, 255, true}}

// enter returns the visibility inside n, and whether n hides its content.
func (v visibility) enter(n *html.Node) (visibility, bool) {
	if n.Type != html.ElementNode {
		return v, false
	}
	for _, a := range n.Attr {
		if a.Key == "hidden" {
			return v, true // HTML "hidden" attribute
		}
	}
	switch n.DataAtom {
	case atom.Input:
		if strings.EqualFold(attr(n, "type"), "hidden") {
			return v, true
		}
	case atom.Font:
		if c, ok := parseColor(attr(n, "color")); ok {
			v.color = c
		}
	}
	if c, ok := parseColor(attr(n, "bgcolor")); ok {
		v.bg = c
	}
	decls := styleDecls(attr(n, "style"))
	num := func(k string) (float64, string, bool) { return cssLength(decls[k]) }
	zero := func(k string) bool { f, _, ok := num(k); return ok && f <= 0 }
	overflowHidden := decls["overflow"] == "hidden" || decls["overflow-y"] == "hidden" || decls["overflow-x"] == "hidden"
	switch {
	case decls["display"] == "none",
		decls["visibility"] == "hidden", decls["visibility"] == "collapse",
		strings.HasPrefix(decls["mso-hide"], "all"),
		decls["content-visibility"] == "hidden":
		return v, true
	}
	if f, _, ok := num("opacity"); ok && f < 0.2 {
		return v, true
	}
	if f, unit, ok := num("font-size"); ok && (f <= 0 || (f < 4 && (unit == "px" || unit == "pt")) || (f < 0.3 && (unit == "em" || unit == "rem")) || (f < 30 && unit == "%")) {
		return v, true
	}
	if overflowHidden && (zero("height") || zero("max-height") || zero("width") || zero("max-width") || zero("line-height")) {
		return v, true
	}
	if f, _, ok := num("text-indent"); ok && f <= -100 {
		return v, true
	}
	if p := decls["position"]; p == "absolute" || p == "fixed" {
		for _, k := range []string{"left", "top", "right", "bottom"} {
			if f, _, ok := num(k); ok && f <= -100 {
				return v, true
			}
		}
	}
	if t := decls["transform"]; strings.Contains(t, "scale(0") {
		return v, true
	}
	if c := decls["clip"]; strings.HasPrefix(c, "rect(0") {
		return v, true
	}
	if c := decls["clip-path"]; strings.HasPrefix(c, "inset(50%") || strings.HasPrefix(c, "inset(100%") || strings.HasPrefix(c, "circle(0") {
		return v, true
	}
	for _, k := range []string{"background-color", "background"} {
		if s, ok := decls[k]; ok {
			if c, ok := parseColor(firstColorToken(s)); ok {
				v.bg = c
			} else if firstColorToken(s) == "transparent" {
				// the background shows through: unchanged
			} else {
				v.bg = rgb{} // an image or something unknown
			}
		}
	}
	if s, ok := decls["color"]; ok {
		if strings.HasPrefix(s, "transparent") {
			return v, true
		}
		if c, ok := parseColor(s); ok {
			v.color = c
		} else {
			v.color = rgb{}
		}
	}
	if s, ok := decls["-webkit-text-fill-color"]; ok {
		if strings.HasPrefix(s, "transparent") {
			return v, true
		}
		if c, ok := parseColor(s); ok {
			v.color = c
		}
	}
	return v, false
}

// textHidden reports whether text is the colour of its background here.
func (v visibility) textHidden() bool {
	return v.color.known && v.bg.known && v.color.near(v.bg)
}

// near reports whether two colours are too close to tell apart.
func (c rgb) near(o rgb) bool {
	d := func(a, b int) int {
		if a > b {
			return a - b
		}
		return b - a
	}
	return d(c.r, o.r)+d(c.g, o.g)+d(c.b, o.b) <= 48
}

// styleDecls reads a style attribute into lower-case property → value,
// without "!important" and spaces.
func styleDecls(style string) map[string]string {
	if style == "" {
		return nil
	}
	out := map[string]string{}
	for decl := range strings.SplitSeq(strings.ToLower(style), ";") {
		k, v, ok := strings.Cut(decl, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(strings.ReplaceAll(v, "!important", ""))
		v = strings.Join(strings.Fields(v), " ")
		v = strings.ReplaceAll(strings.ReplaceAll(v, ", ", ","), "( ", "(")
		out[k] = v // the last declaration wins, as in CSS
	}
	return out
}

// cssLength reads "0", "12px", "0.5em", "50%" into number and unit.
func cssLength(s string) (float64, string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, "", false
	}
	i := 0
	for i < len(s) && (s[i] == '-' || s[i] == '+' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9')) {
		i++
	}
	f, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, "", false
	}
	unit, _, _ := strings.Cut(s[i:], " ")
	return f, unit, true
}

func firstColorToken(s string) string {
	if i := strings.Index(s, "rgb"); i >= 0 {
		if j := strings.IndexByte(s[i:], ')'); j >= 0 {
			return s[i : i+j+1]
		}
	}
	for _, f := range strings.Fields(s) {
		if _, ok := parseColor(f); ok || f == "transparent" {
			return f
		}
	}
	return s
}

// namedColors are the CSS colour names mail is written with.
var namedColors = map[string]rgb{
	"white": {255, 255, 255, true}, "black": {0, 0, 0, true}, "red": {255, 0, 0, true},
	"green": {0, 128, 0, true}, "blue": {0, 0, 255, true}, "yellow": {255, 255, 0, true},
	"gray": {128, 128, 128, true}, "grey": {128, 128, 128, true}, "silver": {192, 192, 192, true},
	"whitesmoke": {245, 245, 245, true}, "snow": {255, 250, 250, true}, "ivory": {255, 255, 240, true},
	"navy": {0, 0, 128, true}, "maroon": {128, 0, 0, true}, "purple": {128, 0, 128, true},
	"orange": {255, 165, 0, true}, "lightgray": {211, 211, 211, true}, "lightgrey": {211, 211, 211, true},
	"darkgray": {169, 169, 169, true}, "darkgrey": {169, 169, 169, true}, "ghostwhite": {248, 248, 255, true},
	"floralwhite": {255, 250, 240, true}, "mintcream": {245, 255, 250, true}, "azure": {240, 255, 255, true},
	"aliceblue": {240, 248, 255, true}, "seashell": {255, 245, 238, true}, "linen": {250, 240, 230, true},
}

// parseColor reads a CSS or HTML colour: a name, #rgb, #rrggbb, rgb() or
// rgba() (a transparent rgba is not a colour).
func parseColor(s string) (rgb, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if c, ok := namedColors[s]; ok {
		return c, true
	}
	if h, ok := strings.CutPrefix(s, "#"); ok {
		if len(h) == 3 || len(h) == 4 {
			h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
		}
		if len(h) == 8 {
			h = h[:6]
		}
		if len(h) != 6 {
			return rgb{}, false
		}
		n, err := strconv.ParseUint(h, 16, 32)
		if err != nil {
			return rgb{}, false
		}
		return rgb{int(n >> 16), int(n >> 8 & 0xff), int(n & 0xff), true}, true
	}
	if len(s) == 6 { // bgcolor="ffffff"
		if n, err := strconv.ParseUint(s, 16, 32); err == nil {
			return rgb{int(n >> 16), int(n >> 8 & 0xff), int(n & 0xff), true}, true
		}
	}
	if body, ok := strings.CutPrefix(s, "rgba("); ok {
		parts := strings.Split(strings.TrimSuffix(body, ")"), ",")
		if len(parts) == 4 {
			if a, err := strconv.ParseFloat(strings.TrimSpace(parts[3]), 64); err == nil && a < 0.2 {
				return rgb{}, false
			}
			return parseColor("rgb(" + strings.Join(parts[:3], ",") + ")")
		}
		return rgb{}, false
	}
	if body, ok := strings.CutPrefix(s, "rgb("); ok {
		parts := strings.Split(strings.TrimSuffix(body, ")"), ",")
		if len(parts) != 3 {
			return rgb{}, false
		}
		var c [3]int
		for i, p := range parts {
			p = strings.TrimSpace(p)
			if pct, ok := strings.CutSuffix(p, "%"); ok {
				f, err := strconv.ParseFloat(pct, 64)
				if err != nil {
					return rgb{}, false
				}
				c[i] = int(f * 255 / 100)
				continue
			}
			f, err := strconv.ParseFloat(p, 64)
			if err != nil {
				return rgb{}, false
			}
			c[i] = int(f)
		}
		return rgb{c[0], c[1], c[2], true}, true
	}
	return rgb{}, false
}

// flatVisibleText returns the visible text of n's content, at most max
// bytes, walking without recursion; v is the visibility inside n.
func flatVisibleText(n *html.Node, max int, v visibility) string {
	type item struct {
		n *html.Node
		v visibility
	}
	var b strings.Builder
	var stack []item
	push := func(parent *html.Node, v visibility) {
		var kids []*html.Node
		for k := parent.FirstChild; k != nil; k = k.NextSibling {
			kids = append(kids, k)
		}
		for i := len(kids) - 1; i >= 0; i-- {
			stack = append(stack, item{kids[i], v})
		}
	}
	push(n, v)
	for len(stack) > 0 && b.Len() < max {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch c.n.Type {
		case html.TextNode:
			if c.v.textHidden() {
				continue
			}
			b.WriteString(c.n.Data)
			b.WriteByte(' ')
			continue
		case html.ElementNode:
			switch c.n.DataAtom {
			case atom.Script, atom.Style, atom.Head, atom.Title, atom.Noscript, atom.Template, atom.Object, atom.Iframe, atom.Svg:
				continue
			}
			inner, hidden := c.v.enter(c.n)
			if hidden {
				continue
			}
			push(c.n, inner)
		case html.DocumentNode:
			push(c.n, c.v)
		}
	}
	s := b.String()
	if len(s) > max {
		s = s[:max]
	}
	return strings.Join(strings.Fields(s), " ")
}

// tokenVisibility follows visibility through a token stream, for the HTML
// the parser refuses: a stack of the open elements.
type tokenVisibility struct {
	open []openElement
}

type openElement struct {
	name   string
	v      visibility
	hidden bool
}

// voidElements have no end tag.
var voidElements = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true, atom.Hr: true, atom.Img: true,
	atom.Input: true, atom.Link: true, atom.Meta: true, atom.Param: true, atom.Source: true, atom.Track: true, atom.Wbr: true,
}

func (t *tokenVisibility) top() (visibility, bool) {
	if len(t.open) == 0 {
		return defaultVisibility, false
	}
	e := t.open[len(t.open)-1]
	return e.v, e.hidden
}

// hidden reports whether text here is hidden.
func (t *tokenVisibility) hidden() bool { v, h := t.top(); return h || v.textHidden() }

// start enters an element of the token stream.
func (t *tokenVisibility) start(z *html.Tokenizer, name []byte, hasAttr, selfClosing bool) {
	a := atom.Lookup(name)
	if voidElements[a] || selfClosing {
		return
	}
	n := &html.Node{Type: html.ElementNode, Data: string(name), DataAtom: a}
	for hasAttr {
		var k, v []byte
		k, v, hasAttr = z.TagAttr()
		n.Attr = append(n.Attr, html.Attribute{Key: string(k), Val: string(v)})
	}
	v, hidden := t.top()
	inner, h := v.enter(n)
	t.open = append(t.open, openElement{name: n.Data, v: inner, hidden: hidden || h})
}

// end leaves the innermost open element of that name (and those inside
// it); an end tag with no open element is ignored.
func (t *tokenVisibility) end(name []byte) {
	for i := len(t.open) - 1; i >= 0; i-- {
		if t.open[i].name == string(name) {
			t.open = t.open[:i]
			return
		}
	}
}

// otherReply is the reply text of the HTML part when the message has both
// parts and text (what ReplyText was read from) is not the HTML's. h is the
// HTML part already converted by the caller, or "" if it has not been.
func (pm *parsed) otherReply(text, h string) string {
	if len(pm.plain) == 0 || len(pm.html) == 0 {
		return ""
	}
	if h == "" {
		h = pm.htmlText()
	}
	if h == text {
		return ""
	}
	return ExtractReply(h)
}
