package parse

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// A textLine is one line of a plain-text body with its quote level ("> "
// prefixes) taken off.
type textLine struct {
	depth int
	text  string
	n     int // line number in the text, from 1 (the pieces of a one-line header block share it)

	sep      separator // parseSeparator(text), once sepKnown (see lineSeparator)
	sepKnown bool
}

// lineSeparator is parseSeparator(lines[i].text), worked out once per line:
// the rules ask it of the same line several times.
func lineSeparator(lines []textLine, i int) separator {
	if !lines[i].sepKnown {
		lines[i].sep = parseSeparator(lines[i].text)
		lines[i].sepKnown = true
	}
	return lines[i].sep
}

// splitLines cuts text into lines and reads their quote level.
func splitLines(text string) []textLine {
	raw := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	out := make([]textLine, 0, len(raw))
	for n, l := range raw {
		l = strings.TrimRight(l, " \t\r\u00a0")
		depth, i := 0, 0
		for i < len(l) {
			j := i
			for j < len(l) && (l[j] == ' ' || l[j] == '\t') && j-i < 3 {
				j++
			}
			if j < len(l) && l[j] == '>' {
				depth++
				i = j + 1
				continue
			}
			break
		}
		content := l[i:]
		if depth > 0 {
			content = strings.TrimPrefix(content, " ")
		}
		if pieces := unsquashBlock(content); pieces != nil {
			for _, p := range pieces {
				out = append(out, textLine{depth: depth, text: p, n: n + 1})
			}
			continue
		}
		out = append(out, textLine{depth: depth, text: content, n: n + 1})
	}
	return out
}

// isBlank reports a line of white space only (non-breaking and zero-width
// spaces included).
func isBlank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) && r != '\u200b' && r != '\ufeff' {
			return false
		}
	}
	return true
}

// lowerText lower-cases s, reading Turkish dotted capital I as "i".
func lowerText(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "İ", "i"))
}

// parseLabelLine reads a "Label: value" line of a forwarded header block,
// in any language of headerLabels. Labels may be bold ("*From:*"), use a
// full-width colon, or have a (non-breaking) space before the colon.
func parseLabelLine(s string) (blockField, string, bool) {
	if indexColon(s) < 0 {
		return fieldNone, "", false // most lines of a text
	}
	s = strings.TrimSpace(cleanSpaces(s))
	if s == "" {
		return fieldNone, "", false
	}
	i := indexColon(s)
	if i <= 0 || i > 48 {
		return fieldNone, "", false
	}
	label := strings.Trim(s[:i], " *_")
	colonLen := 1
	if strings.HasPrefix(s[i:], "：") {
		colonLen = len("：")
	}
	f, ok := lookupLabel(label)
	if !ok {
		return fieldNone, "", false
	}
	value := strings.TrimSpace(strings.TrimLeft(s[i+colonLen:], " *_"))
	value = strings.TrimSpace(strings.TrimSuffix(value, "*"))
	return f, value, true
}

// lookupLabel looks label up in headerLabels: lower-cased (lowerText), its
// words separated by one space. An ASCII label is folded into a buffer, not
// into new strings.
func lookupLabel(label string) (blockField, bool) {
	var buf [64]byte
	n, space := 0, false
	for i := 0; i < len(label); i++ {
		c := label[i]
		if c >= utf8.RuneSelf || n+2 > len(buf) {
			f, ok := headerLabels[lowerText(strings.Join(strings.Fields(label), " "))]
			return f, ok
		}
		switch c {
		case ' ', '\t', '\n', '\v', '\f', '\r': // unicode.IsSpace in ASCII
			space = n > 0
			continue
		}
		if space {
			buf[n] = ' '
			n++
			space = false
		}
		buf[n] = lowerASCII(c)
		n++
	}
	f, ok := headerLabels[string(buf[:n])]
	return f, ok
}

// indexColon is strings.IndexAny(s, ":："): the index of the first colon,
// ASCII or full-width, or -1.
func indexColon(s string) int {
	i := strings.IndexByte(s, ':')
	before := s
	if i >= 0 {
		before = s[:i]
	}
	if j := strings.Index(before, "："); j >= 0 {
		return j
	}
	return i
}

// headerBlock is a forwarded message's header block: a run of consecutive
// "Label: value" lines with a From-like label and at least one other.
type headerBlock struct {
	start, end int // lines [start, end)
	depth      int
	values     map[blockField]string
	english    bool // labels in English (dates with slashes are month first)
}

// findHeaderBlock reports the header block starting at line i, if any.
func findHeaderBlock(lines []textLine, i int) (headerBlock, bool) {
	f, v, ok := parseLabelLine(lines[i].text)
	if !ok {
		return headerBlock{start: i, depth: lines[i].depth}, false
	}
	hb := headerBlock{start: i, depth: lines[i].depth, values: map[blockField]string{}}
	distinct := 0
	var last blockField
	english := 0
	j := i
	for j < len(lines) && j-i < 40 {
		l := lines[j]
		if l.depth != hb.depth {
			break
		}
		if isBlank(l.text) {
			// One blank line may separate fields (one paragraph per
			// field in some HTML bodies) when a new field follows.
			if j+1 < len(lines) && lines[j+1].depth == hb.depth {
				if nf, _, ok := parseLabelLine(lines[j+1].text); ok && nf != fieldOther {
					if _, seen := hb.values[nf]; !seen {
						j++
						continue
					}
				}
			}
			break
		}
		f, v, ok = parseLabelLine(l.text)
		if !ok && j > i && isUnknownLabelLine(l.text) && j+1 < len(lines) && lines[j+1].depth == hb.depth {
			// A label the tables lack ("Sent by:", a new translation)
			// between known ones belongs to the block.
			if nf, _, ok := parseLabelLine(lines[j+1].text); ok && nf != fieldOther {
				if _, seen := hb.values[nf]; !seen {
					j++
					continue
				}
			}
		}
		if !ok && j > i && isUnknownLabelLine(l.text) && strings.ContainsAny(l.text, "@<") {
			// A label the tables lack whose value is an address list:
			// another recipient field.
			j++
			continue
		}
		if !ok {
			// A wrapped recipient list continues the previous field.
			if (last == fieldTo || last == fieldCc || last == fieldBcc) && strings.Contains(l.text, "@") &&
				indexColon(l.text) < 0 {
				hb.values[last] += " " + strings.TrimSpace(l.text)
				j++
				continue
			}
			// A subject wrapped onto an unindented line: the line after
			// it ends the block (a blank line) or is the next field.
			if last == fieldSubject && utf8.RuneCountInString(lines[j-1].text) >= minWrappedLine &&
				wrappedFieldEnds(lines, j+1, hb.depth) && !lineSeparator(lines, j).ok {
				hb.values[last] += " " + strings.TrimSpace(l.text)
				last = fieldNone
				j++
				continue
			}
			break
		}
		if _, seen := hb.values[f]; seen && f != fieldOther {
			break // a field again: the next block, or body text
		}
		if _, seen := hb.values[f]; !seen {
			distinct++
		}
		hb.values[f] = v
		if isEnglishLabel(l.text) {
			english++
		}
		last = f
		j++
	}
	_, hasFrom := hb.values[fieldFrom]
	others := 0
	for _, k := range []blockField{fieldTo, fieldCc, fieldDate, fieldSubject} {
		if _, ok := hb.values[k]; ok {
			others++
		}
	}
	if !hasFrom || others < 1 || hb.values[fieldFrom] == "" {
		return hb, false
	}
	// Trim a trailing blank line taken in hope of another field.
	for j > i && isBlank(lines[j-1].text) {
		j--
	}
	hb.end = j
	hb.english = english*2 >= distinct
	return hb, true
}

// minWrappedLine is the length from which a line may have been wrapped by
// the client that wrote it (plain-text mail is wrapped at 72 to 78
// characters; a long word may move the break earlier).
const minWrappedLine = 60

// wrappedFieldEnds reports whether line i ends a header block at the given
// depth (end of text, a blank line, another depth) or starts a field.
func wrappedFieldEnds(lines []textLine, i, depth int) bool {
	if i >= len(lines) || lines[i].depth != depth || isBlank(lines[i].text) {
		return true
	}
	f, _, ok := parseLabelLine(lines[i].text)
	return ok && f != fieldOther
}

var englishLabelRe = regexp.MustCompile(`(?i)^\s*[*_]*(from|sent|date|to|cc|subject)[*_]*\s*:`)

func isEnglishLabel(s string) bool { return englishLabelRe.MatchString(s) }

// separator describes a separator line: a rule, a "forwarded message" or
// "original message" phrase (decorated with dashes or not), or the end of
// a forwarded message.
type separator struct {
	ok      bool
	rule    bool // no words: dashes, underscores, equals signs
	forward bool // words say "forwarded" (not just "original")
	phrase  bool // words say forwarded or original
	end     bool // "End forwarded message"
}

const decorChars = "-_=*~#<>—–━─"

// mayBeDecor reports whether c can be the first or the last byte of a
// character of decorChars or a space (all of whose non-ASCII characters
// are outside ASCII in every byte).
func mayBeDecor(c byte) bool {
	return c >= utf8.RuneSelf || strings.IndexByte(decorChars+" ", c) >= 0
}

func parseSeparator(s string) separator {
	t := strings.TrimSpace(cleanSpaces(s))
	if t == "" || len(t) > 160 {
		return separator{}
	}
	core, decor := t, 0
	if mayBeDecor(t[0]) || mayBeDecor(t[len(t)-1]) {
		core = strings.Trim(t, decorChars+" ")
		decor = utf8.RuneCountInString(t) - utf8.RuneCountInString(core)
	}
	decorated := decor >= 4 && strings.ContainsAny(t[:1], decorChars)
	if core == "" {
		if utf8.RuneCountInString(t) >= 8 && !strings.ContainsAny(t, "*~#<>") {
			return separator{ok: true, rule: true}
		}
		return separator{}
	}
	if !decorated && (!endsWithColon(core) || utf8.RuneCountInString(core) > 70) {
		// Undecorated phrases ("Begin forwarded message:") end in a colon.
		return separator{}
	}
	lc := lowerText(core)
	if decorated {
		for _, w := range endForwardWords {
			if strings.Contains(lc, w) {
				return separator{ok: true, end: true}
			}
		}
	}
	for _, w := range forwardWords {
		if strings.Contains(lc, w) {
			sep := separator{ok: true, phrase: true, forward: true}
			for _, o := range originalOnlyWords {
				if strings.Contains(lc, o) {
					sep.forward = false
				}
			}
			return sep
		}
	}
	if decorated && utf8.RuneCountInString(core) <= 60 {
		// Decorated words in a language not in the tables: a separator
		// all the same, but not evidence of a forward by itself.
		return separator{ok: true}
	}
	return separator{}
}

// quoteHeader is an attribution line above quoted text: "On DATE, NAME
// wrote:" and its translations.
type quoteHeader struct {
	start, end int
	depth      int // of the quoted text that follows
	from       Address
	dateRaw    string
	english    bool
}

var (
	dateishRe = regexp.MustCompile(`\d{1,2}[:.h時시]\d{2}|\b(19|20)\d{2}\b|\d{4}\s*[年년]|\d+\s*[月월]`)
)

// findQuoteHeader reports the quote header starting at line i (wrapped over
// up to three lines), if any. A line is a quote header when it ends in a
// colon and either names a "wrote" verb of a known language, or holds a
// date or an address and is followed by more deeply quoted text (the rule
// that reads attributions in languages without a verb table entry).
func findQuoteHeader(lines []textLine, i int) (quoteHeader, bool) {
	return findQuoteHeaderIn(lines, i, false)
}

// findQuoteHeaderIn is findQuoteHeader; afterSeparator accepts a dated or
// addressed line ending in a colon without quoted text below it, as Yandex
// and Mail.ru write forwards ("-------- Пересылаемое сообщение --------"
// then "06.01.2025, 09:14, John <john@example.com>:").
func findQuoteHeaderIn(lines []textLine, i int, afterSeparator bool) (quoteHeader, bool) {
	return quoteHeaderAt(lines, i, afterSeparator, true)
}

// quoteHeaderAt is findQuoteHeaderIn; lineAbove applies the rule that
// gives a line above an attribution back to its writer.
func quoteHeaderAt(lines []textLine, i int, afterSeparator, lineAbove bool) (quoteHeader, bool) {
	d := lines[i].depth
	if isBlank(lines[i].text) {
		return quoteHeader{}, false
	}
	joined := ""
	for k := 0; k < maxQuoteHeaderLines && i+k < len(lines); k++ {
		l := lines[i+k]
		text := l.text
		if l.depth == d+1 && k > 0 && addressTailRe.MatchString(joined) && findQuoteVerb(text) != nil && endsWithColon(text) {
			// "> wrote:": the ">" closing a wrapped address, read as a
			// quote mark.
			text = ">" + text
		} else if l.depth != d || isBlank(text) {
			break
		}
		if k > 0 {
			joined += " "
		}
		joined += strings.TrimSpace(cleanSpaces(text))
		if len(joined) > 400 {
			break
		}
		if joined == "" || !endsWithColon(joined) && joined[0] != '-' && joined[0] != '=' {
			continue // neither a colon at the end nor a rule at the start
		}
		t := joined
		if k > 0 && strings.ContainsAny(t, "<>:") {
			t = wrappedAddressRe.ReplaceAllString(t, "$1")
		}
		core := strings.Trim(t, decorChars+" ")
		decorated := len(core) < len(t) && strings.ContainsAny(t[:1], "-=")
		colon := endsWithColon(core) && !strings.HasSuffix(strings.ToLower(core), "mailto:")
		if !colon && !decorated {
			continue
		}
		verb := findQuoteVerb(core)
		nextDepth, nextIdx := nextContentDepth(lines, i+k+1)
		deeper := nextIdx >= 0 && nextDepth > d
		ok := false
		switch {
		case verb != nil && (colon || decorated) && verb[1] >= len(core)/3 &&
			holdsAddressOrDate(core):
			ok = true
		case verb != nil && colon && deeper:
			ok = true
		case colon && (deeper || afterSeparator) && holdsAddressOrDate(core) && len(core) < 300:
			ok = true
		case decorated && !colon && verb != nil && endsDecorated(t) && len(core) < 120:
			// "---- Name wrote ----" (Android mail apps): a name and a
			// verb between rules.
			ok = true
		}
		if ok && k > 0 && lineAbove {
			// The first line is its writer's own when lines below it
			// are an attribution by themselves, and it cannot start one
			// (no date, no address, no leading "On") or those lines
			// already name both the date and the sender.
			for s := i + 1; s <= i+k; s++ {
				below, isQH := quoteHeaderAt(lines, s, afterSeparator, false)
				if isQH && below.end == i+k+1 &&
					(!opensAttribution(lines[i].text) || below.from.Address != "" && holdsDate(lines[s].text)) {
					return quoteHeader{}, false
				}
			}
		}
		if !ok {
			if colon {
				return quoteHeader{}, false
			}
			continue
		}
		qh := quoteHeader{start: i, end: i + k + 1, depth: d}
		if deeper {
			qh.depth = nextDepth
		}
		name, date, english := splitAttribution(core)
		qh.from = parseLooseAddress(name)
		qh.dateRaw = date
		qh.english = english
		if qh.from.Name == "" && qh.from.Address == "" {
			return quoteHeader{}, false
		}
		return qh, true
	}
	return quoteHeader{}, false
}

// holdsAddressOrDate reports an address (emailRe) or a date (dateishRe) in
// s; an address needs an "@" and a date a digit.
func holdsAddressOrDate(s string) bool {
	return hasEmail(s) || hasASCIIDigit(s) && dateishRe.MatchString(s)
}

// maxQuoteHeaderLines is how many lines a wrapped quote header may take
// ("<" and "mailto:" wrapped onto lines of their own by a relay).
const maxQuoteHeaderLines = 6

// wrappedAddressRe matches the spaces that joining wrapped lines puts
// inside "< mailto: a@b >".
var wrappedAddressRe = regexp.MustCompile(`(?i)(<|\bmailto:)\s+|\s+(>)`)

// addressTailRe matches text that ends in an address whose ">" is still
// to come.
var addressTailRe = regexp.MustCompile(`<\s*(?:mailto:\s*)?[^<>\s]+@[^<>\s]+$`)

// endsDecorated reports whether a line ends with a rule of dashes or
// equals signs, as it starts.
func endsDecorated(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasSuffix(s, "--") || strings.HasSuffix(s, "==")
}

// holdsDate reports a date or a time of day in s.
func holdsDate(s string) bool {
	if !hasASCIIDigit(s) {
		return false // both expressions need a digit
	}
	s = cleanSpaces(s)
	return dateishRe.MatchString(s) || anyTimeRe.MatchString(s)
}

// hasASCIIDigit reports a digit 0-9 in s: dateishRe and anyTimeRe cannot
// match text without one.
func hasASCIIDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			return true
		}
	}
	return false
}

// opensAttribution reports whether a line can be the first line of a
// quote header: it starts with "On", "Am", "Le"…, or holds a date, a time
// or an address.
func opensAttribution(s string) bool {
	s = cleanSpaces(s)
	if strings.ContainsAny(s, "<@(") || quoteHeaderLead.MatchString(s) {
		return true
	}
	return hasASCIIDigit(s) && (dateishRe.MatchString(s) || anyTimeRe.MatchString(s)) || parseSeparator(s).ok
}

// nextContentDepth returns the quote level and index of the first non-blank
// line at or after i (skipping at most two blank lines), or -1.
func nextContentDepth(lines []textLine, i int) (int, int) {
	for k := 0; k < 3 && i+k < len(lines); k++ {
		if !isBlank(lines[i+k].text) {
			return lines[i+k].depth, i + k
		}
	}
	return 0, -1
}

var (
	// attributionMarkers separate the name from the date in attributions
	// of some languages ("NAME 于 DATE", "DATE odesílatel NAME").
	attributionMarkerRe = regexp.MustCompile(`(?i)\s*(пользователь|odesílatel|tarihinde|さんは|さんが|님이|님의|于|於|に\s|에\s|\sот\s|ο/η)\s*`)
	anyTimeRe           = regexp.MustCompile(`\d{1,2}\s*[:.：h時시]\s*\d{2}(?:\s*[:.：分]\s*\d{2})?(?:\s*[秒초분])?`)
	leadingAMPMRe       = regexp.MustCompile(`(?i)(午前|午後|上午|下午|晚上|凌晨|中午|오전|오후)\s*$`)
)

// splitAttribution cuts an attribution ("On Mon, Jan 6, 2025 at 9:14 AM
// John Doe <john@example.com> wrote") into the name part (with its address)
// and the date part, for attributions in which the date comes first, the
// name comes first, or the verb sits between them.
func splitAttribution(t string) (name, date string, english bool) {
	t = strings.TrimSpace(strings.Trim(t, decorChars+" "))
	t = strings.TrimSpace(strings.TrimRight(t, ":： "))
	lt := lowerText(t)
	english = strings.Contains(lt, "wrote") || strings.HasPrefix(lt, "on ")
	if m := quoteHeaderLead.FindStringIndex(t); m != nil {
		t = t[m[1]:]
	}
	if v := findQuoteVerb(t); v != nil {
		before := strings.TrimSpace(t[:v[0]])
		after := strings.Trim(t[v[1]:], " ,:")
		if after != "" {
			if hasDigitOutsideAddress(after) && !hasDigitOutsideAddress(before) {
				return cleanAttrName(before), cleanAttrDate(after), english
			}
			return cleanAttrName(after), cleanAttrDate(before), english
		}
		t = before
	}
	name, date = splitNameDate(t)
	return cleanAttrName(name), cleanAttrDate(date), english
}

func hasDigitOutsideAddress(s string) bool {
	if !strings.Contains(s, "@") {
		return strings.IndexFunc(s, unicode.IsDigit) >= 0 // no address to take out
	}
	s = emailRe.ReplaceAllString(s, "")
	return strings.IndexFunc(s, unicode.IsDigit) >= 0
}

// mayHoldAttributionMarker reports whether attributionMarkerRe can match
// s: every marker but "tarihinde" has a letter outside ASCII (none that
// folds to an ASCII one).
func mayHoldAttributionMarker(s string) bool {
	return !isASCII(s) || containsFoldASCII(s, "tarihinde")
}

// containsFoldASCII reports whether s holds word (lower-case) in any mix of
// ASCII cases. It is (?i)word in an expression for ASCII words with no "k"
// or "s" (whose other cases include a non-ASCII letter), and
// strings.Contains(strings.ToLower(s), word) for ASCII s. A word that is
// not ASCII is never found in ASCII s.
func containsFoldASCII(s, word string) bool {
	if word == "" {
		return true
	}
	first, firstUp := word[0], word[0]
	if first >= 'a' && first <= 'z' {
		firstUp = first - ('a' - 'A')
	}
	for i := 0; i+len(word) <= len(s); i++ {
		if s[i] != first && s[i] != firstUp {
			continue
		}
		j := 1
		for j < len(word) && lowerASCII(s[i+j]) == word[j] {
			j++
		}
		if j == len(word) {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// splitNameDate splits "DATE, NAME <addr>", "NAME <addr>, DATE", "NAME 于
// DATE" and the like.
func splitNameDate(t string) (name, date string) {
	at := strings.Contains(t, "@") // bracketedRe and emailRe need one
	if m := indexIf(mayHoldAttributionMarker(t), attributionMarkerRe, t); m != nil && strings.TrimSpace(t[:m[0]]) != "" && strings.TrimSpace(t[m[1]:]) != "" {
		l, r := t[:m[0]], t[m[1]:]
		if hasDigitOutsideAddress(l) && !hasDigitOutsideAddress(r) {
			return r, l
		}
		if hasDigitOutsideAddress(r) && !hasDigitOutsideAddress(l) {
			return l, r
		}
	}
	if loc := bracketedIf(at, t, false); loc != nil || at && hasEmail(t) {
		if loc == nil {
			loc = findEmail(t)
		}
		left, right := t[:loc[0]], t[loc[1]:]
		addr := t[loc[0]:loc[1]]
		if !hasDigitOutsideAddress(left) {
			return left + " " + addr, right
		}
		// The name is what follows the date on the left of the address.
		cut := lastDelimiter(left)
		return left[cut:] + " " + addr, left[:cut] + " " + right
	}
	cut := lastDelimiter(t)
	if cut > 0 && cut < len(t) {
		return t[cut:], t[:cut]
	}
	if i := strings.LastIndexAny(t, ",、"); i > 0 {
		return t[i+1:], t[:i]
	}
	return t, ""
}

// indexIf is re.FindStringIndex(s) when may (a cheap test that s can match
// re) is set, and nil otherwise.
func indexIf(may bool, re *regexp.Regexp, s string) []int {
	if !may {
		return nil
	}
	return re.FindStringIndex(s)
}

// bracketedIf is findBracketed(s, sub) when may (s has an "@") is set, and
// nil otherwise.
func bracketedIf(may bool, s string, sub bool) []int {
	if !may {
		return nil
	}
	return findBracketed(s, sub)
}

// lastDelimiter returns the index just past the date in a "DATE NAME"
// text: after the last time of day (with its AM/PM, "Uhr" or zone) or,
// without one, after the last comma. It returns 0 when there is none.
func lastDelimiter(s string) int {
	locs := anyTimeRe.FindAllStringIndex(s, -1)
	if len(locs) > 0 {
		end := locs[len(locs)-1][1]
		// AM/PM, "Uhr" and zone words belong to the date; the name's
		// first word does not.
		end += suffixLen(s[end:])
		for end < len(s) && (s[end] == ',' || s[end] == ' ') {
			end++
		}
		if strings.HasPrefix(s[end:], "、") {
			end += len("、")
		}
		return end
	}
	if i := strings.LastIndexAny(s, ",、"); i >= 0 {
		if s[i] == ',' {
			return i + 1
		}
		return i + len("、")
	}
	return 0
}

// suffixLen measures the AM/PM, "Uhr" and zone words at the start of s.
func suffixLen(s string) int {
	n := 0
	for {
		rest := s[n:]
		trimmed := strings.TrimLeft(rest, " ,")
		skip := len(rest) - len(trimmed)
		word := trimmed
		if i := strings.IndexAny(word, " ,、"); i >= 0 {
			word = word[:i]
		}
		if word == "" {
			return n
		}
		lw := strings.ToLower(strings.Trim(word, "()"))
		_, isZone := zoneAbbrevs[lw]
		switch {
		case isZone, lw == "am", lw == "pm", lw == "a.m.", lw == "p.m.", lw == "uhr", lw == "h", lw == "hs",
			lw == "π.μ.", lw == "μ.μ.", lw == "πμ", lw == "μμ",
			strings.HasPrefix(lw, "gmt") || strings.HasPrefix(lw, "utc"),
			len(lw) == 5 && (lw[0] == '+' || lw[0] == '-'), len(lw) == 6 && (lw[0] == '+' || lw[0] == '-') && lw[3] == ':':
			n += skip + len(word)
		default:
			return n
		}
	}
}

func cleanAttrName(s string) string {
	if mayHoldAttributionMarker(s) {
		s = attributionMarkerRe.ReplaceAllString(" "+s+" ", " ")
	}
	s = strings.TrimSpace(s)
	if !isASCII(s) { // the AM/PM words are not ASCII
		s = leadingAMPMRe.ReplaceAllString(s, "")
	}
	return strings.Trim(s, " ,、:：")
}

func cleanAttrDate(s string) string {
	if mayHoldAttributionMarker(s) {
		s = attributionMarkerRe.ReplaceAllString(" "+s+" ", " ")
	}
	return strings.Trim(strings.Join(strings.Fields(s), " "), " ,、:：")
}

// boundary is where a forwarded or quoted message starts in a text.
type boundary struct {
	start, end int // lines taken by the separator and header block or the attribution
	lineDepth  int // quote level of the boundary's own lines
	depth      int // quote level of the message's text
	orig       Original
	fromBlock  bool // a header block (rather than an attribution)
	forward    bool // preceded by a separator that says "forwarded"
	phrase     bool // preceded by a separator with words
	rule       string
}

// findBoundary reports the forwarded header block (with the separator
// lines above it) or attribution starting at line i.
func findBoundary(lines []textLine, i int, quotes bool, loc *time.Location) (boundary, bool) {
	l := lines[i]
	if isBlank(l.text) {
		return boundary{}, false
	}
	b := boundary{start: i, lineDepth: l.depth}
	j := i
	// Separator lines (possibly several: a CSS divider above a phrase).
	for k := 0; k < 3 && j < len(lines); k++ {
		sep := lineSeparator(lines, j)
		if !sep.ok || sep.end {
			break
		}
		b.forward = b.forward || sep.forward
		b.phrase = b.phrase || sep.phrase
		j++
		for j < len(lines) && isBlank(lines[j].text) && j-i < 6 {
			j++
		}
	}
	if j < len(lines) {
		hb, ok := findHeaderBlock(lines, j)
		generic := false
		if !ok && j != i {
			// Below a separator, a header block in a language the
			// tables lack.
			hb, ok = findGenericHeaderBlock(lines, j)
			generic = ok
		}
		if ok {
			b.fromBlock = true
			b.rule = blockRule(lines, i, j, hb, generic)
			b.end = hb.end
			b.depth = hb.depth
			if d, idx := nextContentDepth(lines, hb.end); idx >= 0 && d > hb.depth {
				b.depth = d
			}
			// Zoho repeats the separator below the block.
			if d, idx := nextContentDepth(lines, hb.end); idx >= 0 && d == hb.depth {
				if sep := lineSeparator(lines, idx); sep.ok && !sep.end && (sep.phrase || !sep.rule) {
					b.end = idx + 1
				}
			}
			b.orig = originalFromBlock(hb, loc)
			return b, true
		}
	}
	afterSep := j != i && b.phrase
	if afterSep && j < len(lines) {
		i = j
	} else if !quotes || j != i {
		return boundary{}, false
	}
	if qh, ok := findQuoteHeaderIn(lines, i, afterSep); ok {
		b.rule = "quote header " + lineRange(lines, i, qh.end)
		if afterSep {
			b.rule = "quote header below the separator " + lineRange(lines, b.start, i) + ", " + lineRange(lines, i, qh.end)
		}
		b.end = qh.end
		b.depth = qh.depth
		b.orig = newOriginal()
		b.orig.From = qh.from
		b.orig.DateRaw = qh.dateRaw
		if t, ok := parseLooseDate(qh.dateRaw, loc, qh.english); ok {
			b.orig.Date = &t
		}
		return b, true
	}
	return boundary{}, false
}

// blockRule describes how a header block was found, for Explain.
func blockRule(lines []textLine, start, blockStart int, hb headerBlock, generic bool) string {
	var b strings.Builder
	if generic {
		b.WriteString("header block in a language the label tables lack (first address is the sender) ")
	} else {
		b.WriteString("header block ")
	}
	b.WriteString(lineRange(lines, blockStart, hb.end))
	if hb.end-blockStart > 1 && lines[blockStart].n == lines[hb.end-1].n {
		b.WriteString(" (all its fields on one line)")
	}
	if blockStart > start {
		b.WriteString(", below the separator " + lineRange(lines, start, blockStart))
	}
	return b.String()
}

// lineRange writes the source lines of lines[from:to] as "line 3" or
// "lines 3-5".
func lineRange(lines []textLine, from, to int) string {
	if from >= len(lines) || to <= from {
		return ""
	}
	if to > len(lines) {
		to = len(lines)
	}
	a, z := lines[from].n, lines[to-1].n
	if a == z {
		return fmt.Sprintf("line %d", a)
	}
	return fmt.Sprintf("lines %d-%d", a, z)
}

func newOriginal() Original {
	return Original{To: []Address{}, Cc: []Address{}}
}

func originalFromBlock(hb headerBlock, loc *time.Location) Original {
	o := newOriginal()
	o.From = parseLooseAddress(hb.values[fieldFrom])
	o.To = parseLooseAddressList(hb.values[fieldTo])
	o.Cc = parseLooseAddressList(hb.values[fieldCc])
	o.Subject = strings.TrimSpace(decodeWords(hb.values[fieldSubject]))
	o.DateRaw = strings.TrimSpace(hb.values[fieldDate])
	if t, ok := parseLooseDate(o.DateRaw, loc, hb.english); ok {
		o.Date = &t
	}
	return o
}

// thread is a text cut into what its writer wrote (lead) and the messages
// it forwards or quotes, outermost first.
type thread struct {
	lead      string
	originals []Original
	first     *boundary // the first boundary found, nil if none
	truncated bool      // more originals than the limit
}

type segment struct {
	depth     int
	parent    int
	fromBlock bool // opened by a forwarded header block
	lines     []string
}

// splitThread finds the forwarded and quoted messages in text. With
// quotesAnywhere false, attributions ("On … wrote:") count only inside
// forwarded text (below the first forwarded header block); the forwarder's
// own quoting above it stays in lead.
func splitThread(text string, quotesAnywhere bool, loc *time.Location, maxOriginals int) thread {
	lines := splitLines(text)
	segs := []segment{{depth: 0, parent: -1}}
	var bounds []boundary
	var th thread
	cur := 0
	inForward := quotesAnywhere
	for i := 0; i < len(lines); {
		l := lines[i]
		if !isBlank(l.text) && len(bounds) < maxOriginals {
			if cur > 0 && lineSeparator(lines, i).end {
				// "End forwarded message": back to what encloses the
				// forwarded message (and the messages it quotes).
				s := cur
				for s > 0 && !segs[s].fromBlock {
					s = segs[s].parent
				}
				if s > 0 {
					cur = segs[s].parent
				}
				i++
				continue
			}
			if b, ok := findBoundary(lines, i, inForward, loc); ok {
				p := cur
				for p > 0 && segs[p].depth > b.lineDepth {
					p = segs[p].parent
				}
				segs = append(segs, segment{depth: b.depth, parent: p, fromBlock: b.fromBlock})
				cur = len(segs) - 1
				bounds = append(bounds, b)
				if b.fromBlock {
					inForward = true
				}
				i = b.end
				continue
			}
		} else if !isBlank(l.text) && !th.truncated {
			if _, ok := findBoundary(lines, i, inForward, loc); ok {
				th.truncated = true
			}
		}
		s := cur
		if !isBlank(l.text) {
			for s > 0 && segs[s].depth > l.depth {
				s = segs[s].parent
			}
			cur = s
		}
		text := l.text
		if rel := l.depth - segs[s].depth; rel > 0 && !isBlank(text) {
			text = strings.Repeat("> ", rel) + text
		}
		segs[s].lines = append(segs[s].lines, text)
		i++
	}
	th.lead = joinTrimmed(segs[0].lines)
	th.originals = make([]Original, 0, len(bounds))
	for k, b := range bounds {
		o := b.orig
		o.rule = b.rule
		o.Body = joinTrimmed(dedent(segs[k+1].lines))
		th.originals = append(th.originals, o)
	}
	if len(bounds) > 0 {
		th.first = &bounds[0]
	}
	return th
}

// dedent removes the indentation common to every non-blank line: Yahoo
// indents quoted messages by a space in plain text.
func dedent(lines []string) []string {
	min := -1
	for _, l := range lines {
		if isBlank(l) {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " "))
		if min < 0 || n < min {
			min = n
		}
		if min == 0 {
			return lines
		}
	}
	if min <= 0 {
		return lines
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if !isBlank(l) {
			out[i] = l[min:]
		}
	}
	return out
}

// joinTrimmed joins lines, dropping leading and trailing blank lines and
// trailing separator rules, and folding runs of blank lines into one.
func joinTrimmed(lines []string) string {
	for len(lines) > 0 && (isBlank(lines[len(lines)-1]) || isRuleOnly(lines[len(lines)-1])) {
		lines = lines[:len(lines)-1]
	}
	var b strings.Builder
	blank := false
	for _, l := range lines {
		if isBlank(l) {
			blank = b.Len() > 0
			continue
		}
		if blank {
			b.WriteByte('\n')
		}
		blank = false
		b.WriteString(strings.TrimRight(l, " \t"))
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

func isRuleOnly(s string) bool {
	sep := parseSeparator(s)
	return sep.ok && (sep.rule || sep.phrase)
}

// endsWithColon reports whether s ends in a colon (ASCII or full-width),
// ignoring trailing spaces.
func endsWithColon(s string) bool {
	s = strings.TrimRight(s, " \t")
	return strings.HasSuffix(s, ":") || strings.HasSuffix(s, "：")
}

// isUnknownLabelLine reports a line shaped like "Label: value" with a short
// label of at most three words.
func isUnknownLabelLine(s string) bool {
	if indexColon(s) < 0 {
		return false
	}
	s = strings.TrimSpace(cleanSpaces(s))
	i := indexColon(s)
	if i <= 0 || i > 40 {
		return false
	}
	label := strings.Trim(s[:i], " *_")
	if label == "" || len(strings.Fields(label)) > 3 || strings.ContainsAny(label, "<>@/\\\"'()[]") {
		return false
	}
	r, _ := utf8.DecodeRuneInString(label)
	return unicode.IsLetter(r)
}

// findGenericHeaderBlock reads a header block whose labels the tables do
// not know (a language backstop has no table for), as found below a
// separator line: at least three consecutive "Label: value" lines, one of
// whose values is an address. The first value holding an address is the
// sender, the first value that reads as a date is the date.
func findGenericHeaderBlock(lines []textLine, i int) (headerBlock, bool) {
	hb := headerBlock{start: i, depth: lines[i].depth, values: map[blockField]string{}}
	j := i
	var vals []string
	for j < len(lines) && j-i < 12 && lines[j].depth == hb.depth && !isBlank(lines[j].text) {
		t := strings.TrimSpace(cleanSpaces(lines[j].text))
		if f, v, ok := parseLabelLine(t); ok {
			if _, seen := hb.values[f]; !seen {
				hb.values[f] = v
			}
			vals = append(vals, v)
		} else if isUnknownLabelLine(t) {
			k := indexColon(t)
			v := strings.TrimSpace(strings.TrimLeft(t[k:], ":： *_"))
			vals = append(vals, v)
		} else {
			break
		}
		j++
	}
	if len(vals) < 3 {
		return hb, false
	}
	if _, ok := hb.values[fieldFrom]; !ok {
		for _, v := range vals {
			if hasEmail(v) {
				hb.values[fieldFrom] = v
				break
			}
		}
	}
	if _, ok := hb.values[fieldFrom]; !ok {
		return hb, false
	}
	if _, ok := hb.values[fieldDate]; !ok {
		for _, v := range vals {
			if _, ok := parseLooseDate(v, nil, false); ok {
				hb.values[fieldDate] = v
				break
			}
		}
	}
	hb.end = j
	return hb, true
}
