package parse

import (
	"io"
	"mime"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
)

// emailRe matches an address as written in running text or a header block.
var emailRe = regexp.MustCompile(`[\p{L}\p{N}._%+\-'!#$&*/=?^{|}~]+@[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?)+`)

// findEmail is emailRe.FindStringIndex(s), run from where a match can
// first start: a match is a run of local-part characters, an "@" and a
// domain, and the run holds no "@", so no match starts before the run
// that ends at the first "@" of s. The expression looks at nothing before
// its match.
func findEmail(s string) []int {
	q := emailStart(s)
	if q < 0 {
		return nil
	}
	loc := emailRe.FindStringIndex(s[q:])
	if loc != nil {
		loc[0] += q
		loc[1] += q
	}
	return loc
}

// hasEmail is emailRe.MatchString(s), as findEmail runs it.
func hasEmail(s string) bool {
	q := emailStart(s)
	return q >= 0 && emailRe.MatchString(s[q:])
}

// emailStart returns the start of the run of emailRe's local-part
// characters that ends at the first "@" of s, or -1 without an "@".
func emailStart(s string) int {
	q := strings.IndexByte(s, '@')
	for q > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:q])
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) && !strings.ContainsRune("._%+-'!#$&*/=?^{|}~", r) {
			break
		}
		q -= size
	}
	return q
}

// exchangeLinkRe matches an address followed by the link Exchange adds in
// plain text: "a@b<mailto:a@b>".
var exchangeLinkRe = regexp.MustCompile(`(?i)([^\s<>\[\]()]+@[^\s<>\[\]()]+?)\s*[<\[]mailto:[^\s<>\[\]]+[>\]]`)

// bracketedRe (scan_test.go) matches the address part of "Name <a@b>",
// "Name <mailto:a@b>", "Name [mailto:a@b]", "Name (a@b)" and "Name
// (<a@b>)"; findBracketed finds its matches.

// findBracketed is bracketedRe.FindStringSubmatchIndex(s) (with sub) or
// FindStringIndex(s), worked out by a scan (the expression cost
// microseconds per address). The expression, tried at each start in turn,
// takes an optional "(" (taking it first), white space, a bracket, white
// space, an optional "mailto:" (any case; taken first, then white space),
// then its group: a run of the characters [^<>\[\]()\s,;], which include
// "@". Only the whole run can be followed by the white space and closing
// bracket that must come next, so the group is the run, and it must hold
// an "@" with at least one character on each side. After the closing
// bracket come white space and an optional ")".
func findBracketed(s string, sub bool) []int {
	for p := 0; p < len(s); p++ {
		c := s[p]
		if c != '(' && c != '<' && c != '[' && !isRESpace(c) {
			continue
		}
		if c == '(' {
			if end, g, ge, ok := bracketedAfter(s, skipRESpace(s, p+1)); ok {
				return bracketedLoc(p, end, g, ge, sub)
			}
		}
		if end, g, ge, ok := bracketedAfter(s, skipRESpace(s, p)); ok {
			return bracketedLoc(p, end, g, ge, sub)
		}
	}
	return nil
}

func bracketedLoc(p, end, g, ge int, sub bool) []int {
	if sub {
		return []int{p, end, g, ge}
	}
	return []int{p, end}
}

// bracketedAfter matches the rest of bracketedRe from its opening bracket
// at s[r]: the end of the match and the group's bounds.
func bracketedAfter(s string, r int) (end, g, ge int, ok bool) {
	if r >= len(s) || s[r] != '<' && s[r] != '[' && s[r] != '(' {
		return 0, 0, 0, false
	}
	b := skipRESpace(s, r+1)
	if len(s)-b >= len("mailto:") && strings.EqualFold(s[b:b+len("mailto:")], "mailto:") {
		if end, g, ge, ok := bracketedGroup(s, skipRESpace(s, b+len("mailto:"))); ok {
			return end, g, ge, true
		}
	}
	return bracketedGroup(s, b)
}

// bracketedGroup matches bracketedRe's group at s[g] and what follows it.
func bracketedGroup(s string, g int) (end, gs, ge int, ok bool) {
	n := g
	for n < len(s) && !isAddrStop(s[n]) {
		n++
	}
	if n-g < 3 || strings.IndexByte(s[g+1:n-1], '@') < 0 {
		return 0, 0, 0, false
	}
	f := skipRESpace(s, n)
	if f >= len(s) || s[f] != '>' && s[f] != ']' && s[f] != ')' {
		return 0, 0, 0, false
	}
	end = skipRESpace(s, f+1)
	if end < len(s) && s[end] == ')' {
		end++
	}
	return end, g, n, true
}

// isAddrStop reports the bytes outside bracketedRe's address characters
// [^<>\[\]()\s,;] (all ASCII: the bytes of other characters are in).
func isAddrStop(c byte) bool {
	switch c {
	case '<', '>', '[', ']', '(', ')', ',', ';':
		return true
	}
	return isRESpace(c)
}

func skipRESpace(s string, i int) int {
	for i < len(s) && isRESpace(s[i]) {
		i++
	}
	return i
}

// isRESpace reports the white space of \s in an expression.
func isRESpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	return message.CharsetReader(charset, input)
}}

// decodeWords decodes RFC 2047 encoded words, leaving the text as it is
// when they are broken.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	// An encoded word broken by a line wrap (nmh's mhl wraps at 80
	// columns, inside words): encoded text holds no white space (RFC
	// 2047 section 5), so the white space in it is the wrap's.
	if t := brokenWordRe.ReplaceAllStringFunc(s, func(w string) string { return strings.Join(strings.Fields(w), "") }); t != s {
		if d, err := wordDecoder.DecodeHeader(t); err == nil {
			return d
		}
	}
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// brokenWordRe matches an encoded word with white space inside it.
var brokenWordRe = regexp.MustCompile(`=\?[^?\s]+\?[bBqQ]\?[^?]*\s[^?]*\?=`)

// parseLooseAddress reads one address written the way clients print them
// in forwarded header blocks and quote headers: `Name <a@b>`, `Name
// [mailto:a@b]`, `"a@b" <a@b>`, `a@b`, `Name <mailto:a@b>`, or a name
// alone (then Address is empty: it is never guessed).
func parseLooseAddress(s string) Address {
	s = strings.TrimSpace(decodeWords(cleanSpaces(s)))
	at := strings.Contains(s, "@") // every address expression needs one
	if at && containsFoldASCII(s, "mailto:") {
		s = exchangeLinkRe.ReplaceAllString(s, "$1")
	}
	s = strings.Trim(s, "*_ \t,;")
	if s == "" {
		return Address{}
	}
	var a Address
	if loc := bracketedIf(at, s, true); loc != nil {
		a.Address = s[loc[2]:loc[3]]
		rest := s[:loc[0]] + " " + s[loc[1]:]
		a.Name = cleanName(rest)
	} else if loc := findEmail(s); loc != nil {
		a.Address = s[loc[0]:loc[1]]
		a.Name = cleanName(s[:loc[0]] + " " + s[loc[1]:])
	} else {
		a.Name = cleanName(s)
	}
	a.Address = strings.Trim(strings.TrimPrefix(strings.TrimPrefix(a.Address, "mailto:"), "MAILTO:"), "'\".,;")
	if !strings.Contains(a.Address, "@") {
		a.Address = ""
	}
	if strings.EqualFold(a.Name, a.Address) {
		a.Name = ""
	}
	return a
}

// cleanName trims quotes, stray punctuation and bold markers from a
// display name.
func cleanName(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for {
		t := strings.Trim(s, " \t*_,;:<>[]()\"'“”„«»‘’")
		if t == s {
			break
		}
		s = t
	}
	s = strings.ReplaceAll(s, `\"`, `"`)
	if strings.EqualFold(s, "mailto") {
		return ""
	}
	return s
}

// parseLooseAddressList reads a list of recipients separated by "," or ";".
// Outlook's "Doe, John <john@x>" keeps its comma: a piece without an
// address is joined to the next one when that one has a bracketed address
// and no name of its own.
func parseLooseAddressList(s string) []Address {
	s = strings.TrimSpace(s)
	out := []Address{}
	if s == "" {
		return out
	}
	var pieces []string
	for _, semi := range splitOutsideQuotes(s, ';') {
		commas := splitOutsideQuotes(semi, ',')
		for i := 0; i < len(commas); i++ {
			p := commas[i]
			if i+1 < len(commas) && !strings.Contains(p, "@") {
				next := strings.TrimSpace(commas[i+1])
				if loc := findBracketed(next, false); loc != nil && !strings.Contains(strings.TrimSpace(p), " ") && loc[0] > 0 {
					// "Doe, John <john@x>": surname, given name.
					p = p + "," + commas[i+1]
					i++
				}
			}
			pieces = append(pieces, p)
		}
	}
	for _, p := range pieces {
		if strings.TrimSpace(p) == "" {
			continue
		}
		a := parseLooseAddress(p)
		if a.Name == "" && a.Address == "" {
			continue
		}
		out = append(out, a)
		if len(out) >= 500 {
			break
		}
	}
	return out
}

// splitOutsideQuotes splits s at sep where sep is outside double quotes and
// angle or square brackets.
func splitOutsideQuotes(s string, sep rune) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case quoted:
		case r == '<' || r == '[' || r == '(':
			depth++
		case (r == '>' || r == ']' || r == ')') && depth > 0:
			depth--
		case r == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// headerAddresses reads an address header of a message: go-message's strict
// parser first, the loose one when the header is not RFC 5322.
func headerAddresses(h gomail.Header, key string) []Address {
	v := h.Get(key)
	if strings.TrimSpace(v) == "" {
		return []Address{}
	}
	if brokenWordRe.MatchString(v) {
		return parseLooseAddressList(toUTF8(v)) // decodes the broken words
	}
	if list, err := h.AddressList(key); err == nil && len(list) > 0 {
		out := make([]Address, 0, len(list))
		for _, a := range list {
			addr := Address{Name: toUTF8(strings.TrimSpace(a.Name)), Address: toUTF8(a.Address)}
			if strings.EqualFold(addr.Name, addr.Address) {
				addr.Name = ""
			}
			out = append(out, addr)
		}
		return out
	}
	return parseLooseAddressList(toUTF8(v))
}

// cleanSpaces turns non-breaking and other odd spaces into plain ones.
func cleanSpaces(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c == '\t' {
			plain = false
			break
		}
	}
	if plain || !strings.ContainsAny(s, "\u00a0\u202f\u2007\u200b\u3000\t\ufeff") {
		return s
	}
	return spaceReplacer.Replace(s)
}

var spaceReplacer = strings.NewReplacer("\u00a0", " ", "\u202f", " ", "\u2007", " ", "\u200b", "", "\u3000", " ", "\t", " ", "\ufeff", "")
