package templates

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// funcs are the functions every template may call, text and HTML alike.
// Functions meant for pipelines take the piped value last:
// {{.Allowed | join ", "}}, {{.Organisation | default "none"}}.
// funcDocs documents them; keep the two in step.
var funcs = map[string]any{
	"date":     formatTime("Mon 2 Jan 2006 15:04 MST"),
	"datetime": formatTime("Monday 2 January 2006 at 15:04 MST"),
	"day":      formatTime("2 January 2006"),
	"msgdate":  msgdate,
	"days":     days,
	"join":     func(sep string, items []string) string { return strings.Join(items, sep) },
	"list":     func(items ...string) []string { return items },
	"andlist":  func(items []string) string { return series(items, "and") },
	"orlist":   func(items []string) string { return series(items, "or") },
	"upper":    strings.ToUpper,
	"default":  defaultValue,
	"plural":   plural,
	"indent":   indent,
	"wrap":     func(s string) string { return wrapText(s, 72) },
	"first":    firstName,
	"name":     personName,
	"person":   personString,
	"state":    stateText,
	"kind":     kindText,
	"re":       re,
}

// funcDoc documents one template function.
type funcDoc struct {
	Usage   string
	Meaning string
}

// funcDocs documents funcs, in the order VARIABLES.md lists them.
var funcDocs = []funcDoc{
	{"date .Now", `date and time in the organisation's time zone: "Mon 6 Jan 2025 09:14 CET"; "unknown date" for a zero time`},
	{"datetime .SendAt", `longer form: "Monday 6 January 2025 at 09:14 CET"`},
	{"day .BoundarySent", `the day only, as in a letter: "6 January 2025"`},
	{"msgdate .", `an evidence item's date: its Date, else its DateRaw as written, else "unknown date"`},
	{"days .Incident.Evidence | andlist", `the distinct days of the evidence, oldest first, for andlist: "6, 7 and 8 January 2025"`},
	{`join ", " .Allowed`, `joins a list with a separator`},
	{`list "STATUS" "HELP"`, `makes a list, e.g. a default command list`},
	{"andlist .", `"A", "A and B", "A, B and C"`},
	{"orlist .", `"A", "A or B", "A, B or C"`},
	{"upper .Command", `upper case`},
	{`default "no organisation" .Organisation`, `the value, or the default when the value is empty (blank text, zero time, empty list)`},
	{`plural .Incident.MessageCount "message" "messages"`, `the number with the right word: "1 message", "3 messages"`},
	{"indent 4 .Note", `puts n spaces before every non-empty line`},
	{"wrap .Note", `wraps text at 72 columns for text emails, keeping its line breaks`},
	{"first .Recipient.Name", `the first word of a name, for greetings: "Jane"`},
	{"name .Customer", `a person's name, else their address`},
	{"person .Customer", `"Jordan Miles <jordan.miles@globex.example>", or whichever half is known`},
	{"state .Incident.State", `an incident state in words: "boundary_sent" reads "boundary email sent"`},
	{"kind .EmailKind", `an email template name in words: "escalation" reads "escalation email"`},
	{"re .Incident.Subject", `"Re: " before a subject, unless it already starts with Re:`},
}

const unknownDate = "unknown date"

func formatTime(layout string) func(time.Time) string {
	return func(t time.Time) string {
		if t.IsZero() {
			return unknownDate
		}
		return t.Format(layout)
	}
}

func msgdate(e Evidence) string {
	if !e.Date.IsZero() {
		return e.Date.Format("Mon 2 Jan 2006 15:04 MST")
	}
	if s := strings.TrimSpace(e.DateRaw); s != "" {
		return s
	}
	return unknownDate
}

// days returns the distinct days of the dated evidence, oldest first,
// ready for andlist: the month and year are written once per run of days
// in the same month, so andlist gives "6, 7 and 8 January 2025".
func days(ev []Evidence) []string {
	var ts []time.Time
	for _, e := range ev {
		if !e.Date.IsZero() {
			ts = append(ts, e.Date)
		}
	}
	slices.SortFunc(ts, time.Time.Compare)
	var out []string
	var last time.Time
	for i, t := range ts {
		y, m, d := t.Date()
		if i > 0 {
			ly, lm, ld := last.Date()
			if y == ly && m == lm && d == ld {
				continue
			}
			if y == ly && m == lm {
				out[len(out)-1] = strconv.Itoa(ld) // the month is written later
			}
		}
		out = append(out, t.Format("2 January 2006"))
		last = t
	}
	return out
}

func series(items []string, conj string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + conj + " " + items[len(items)-1]
}

// defaultValue returns v, or def when v is empty: nil, blank text, a zero
// value, or an empty list.
func defaultValue(def, v any) any {
	if isEmpty(v) {
		return def
	}
	return v
}

func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	if s, ok := v.(string); ok {
		return strings.TrimSpace(s) == ""
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	if t, ok := v.(time.Time); ok {
		return t.IsZero()
	}
	return rv.IsZero()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", max(n, 0))
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

func firstName(name string) string {
	f := strings.Fields(name)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func personName(p Person) string {
	if n := strings.TrimSpace(p.Name); n != "" {
		return n
	}
	return strings.TrimSpace(p.Address)
}

func personString(p Person) string {
	n, a := strings.TrimSpace(p.Name), strings.TrimSpace(p.Address)
	switch {
	case n != "" && a != "":
		return n + " <" + a + ">"
	case n != "":
		return n
	}
	return a
}

var states = map[string]string{
	"reported":      "reported, no action yet",
	"acknowledged":  "acknowledged by a lead",
	"boundary_sent": "boundary email sent",
	"escalated":     "escalated to the customer's manager or HR",
	"severed":       "support ended (severed)",
	"resolved":      "resolved",
	"closed":        "closed",
}

func stateText(s string) string {
	if t, ok := states[s]; ok {
		return t
	}
	if s == "" {
		return "unknown"
	}
	return strings.ReplaceAll(s, "_", " ")
}

var kinds = map[string]string{
	Boundary:          "boundary email",
	PartingWays:       "parting-ways email",
	Escalation:        "escalation email",
	ReporterAck:       "thank-you note to the reporter",
	LeadNotice:        "incident notice",
	EvidenceAdded:     "new-evidence notice",
	QuarantineNotice:  "quarantine notice",
	CommandResult:     "command receipt",
	Help:              "command list",
	CustomerPreview:   "preview",
	UncertainDelivery: "delivery notice",
	DeliveryFailed:    "delivery notice",
	SecurityNotice:    "security notice",
	ReporterOutcome:   "outcome note to the reporter",
	HeldBack:          "summary of held-back notices",
}

func kindText(name string) string {
	if k, ok := kinds[name]; ok {
		return k
	}
	return "email"
}

func re(subject string) string {
	s := strings.TrimSpace(subject)
	if hasPrefixFold(s, "re:") {
		return s
	}
	return "Re: " + s
}

// oneLine makes a subject: control characters and line breaks become
// spaces, runs of spaces one, the ends trimmed.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}

// textWidth is where tidyText wraps lines it did not get short enough.
const textWidth = 78

// maxWord is the longest run without spaces kept whole. RFC 5322 section
// 2.1.1 limits lines to 998 octets; leave room for indentation.
const maxWord = 900

// tidyText normalises a rendered text body: LF line ends, no control
// characters but tabs, no trailing spaces, no leading, trailing or doubled
// blank lines, lines wrapped at 78 columns, one final newline.
func tidyText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return '\n'
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	// Written as it goes, one line at a time (every email's text passes
	// here): a blank line is written only once a line follows it.
	var b strings.Builder
	b.Grow(len(s) + len(s)/32)
	started, blank := false, false
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			blank = started
			continue
		}
		if blank {
			b.WriteByte('\n')
			blank = false
		}
		started = true
		if utf8.RuneCountInString(l) <= textWidth && len(l) <= maxWord {
			b.WriteString(l) // fits: wrapLine's first case, without a slice
			b.WriteByte('\n')
			continue
		}
		for _, w := range wrapLine(l, textWidth) {
			b.WriteString(w)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// wrapText wraps each line of s at width, keeping s's own line breaks.
func wrapText(s string, width int) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	var out []string
	for _, l := range lines {
		out = append(out, wrapLine(strings.TrimRight(l, " \t"), width)...)
	}
	return strings.Join(out, "\n")
}

// wrapLine breaks one line at spaces so that each piece fits in width
// columns where possible. Continuation lines keep the line's indentation,
// and hang under the text of a list item ("- ", "* ", "1. "). Words longer
// than maxWord bytes are cut.
func wrapLine(line string, width int) []string {
	if utf8.RuneCountInString(line) <= width && len(line) <= maxWord {
		return []string{line}
	}
	rest := strings.TrimLeft(line, " \t")
	lead := line[:len(line)-len(rest)]
	hang := lead + strings.Repeat(" ", markerWidth(rest))
	if utf8.RuneCountInString(hang) > width/2 {
		hang = lead
		if utf8.RuneCountInString(hang) > width/2 {
			hang = ""
		}
	}
	var out []string
	cur, curLen := lead, utf8.RuneCountInString(lead)
	empty := true
	for _, w := range strings.Fields(rest) {
		for len(w) > maxWord {
			cut := maxWord
			for cut > 0 && !utf8.RuneStart(w[cut]) {
				cut--
			}
			if !empty {
				out = append(out, cur)
			}
			out = append(out, hang+w[:cut])
			w = w[cut:]
			cur, curLen, empty = hang, utf8.RuneCountInString(hang), true
		}
		wl := utf8.RuneCountInString(w)
		switch {
		case empty:
			cur += w
			curLen += wl
			empty = false
		case curLen+1+wl > width:
			out = append(out, cur)
			cur, curLen = hang+w, utf8.RuneCountInString(hang)+wl
		default:
			cur += " " + w
			curLen += 1 + wl
		}
	}
	if !empty {
		out = append(out, cur)
	}
	return out
}

// markerWidth is the width of a list marker starting s ("- ", "* ",
// "12. "), or 0.
func markerWidth(s string) int {
	if strings.HasPrefix(s, "- ") || strings.HasPrefix(s, "* ") {
		return 2
	}
	i := 0
	for i < len(s) && i < 3 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > 0 && strings.HasPrefix(s[i:], ". ") {
		return i + 2
	}
	return 0
}
