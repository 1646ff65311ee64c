package parse

import (
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// monthNames maps month names and their usual abbreviations, lower-cased, in
// the languages backstop reads (with genitive forms where a language uses
// them in dates), to the month number.
var monthNames = map[string]int{}

func init() {
	months := [12][]string{
		{"january", "jan", "januar", "jänner", "janvier", "janv", "enero", "ene", "gennaio", "gen", "janeiro", "januari", "tammikuu", "tammikuuta", "tammik", "styczeń", "stycznia", "sty", "leden", "ledna", "led", "январь", "января", "янв", "ocak", "oca"},
		{"february", "feb", "februar", "février", "fevrier", "févr", "fevr", "febrero", "febbraio", "fevereiro", "fev", "februari", "helmikuu", "helmikuuta", "helmik", "luty", "lutego", "lut", "únor", "února", "úno", "февраль", "февраля", "фев", "февр", "şubat", "şub", "subat"},
		{"march", "mar", "märz", "mär", "mrz", "mars", "marzo", "março", "marco", "maart", "mrt", "marts", "maaliskuu", "maaliskuuta", "maalisk", "marzec", "marca", "březen", "března", "bře", "март", "марта", "мар", "mart"},
		{"april", "apr", "avril", "avr", "abril", "abr", "aprile", "huhtikuu", "huhtikuuta", "huhtik", "kwiecień", "kwietnia", "kwi", "duben", "dubna", "dub", "апрель", "апреля", "апр", "nisan", "nis"},
		{"may", "mai", "mayo", "maggio", "mag", "maio", "mei", "maj", "toukokuu", "toukokuuta", "toukok", "maja", "květen", "května", "kvě", "май", "мая", "mayıs", "mayis"},
		{"june", "jun", "juni", "juin", "junio", "giugno", "giu", "junho", "kesäkuu", "kesäkuuta", "kesäk", "czerwiec", "czerwca", "cze", "červen", "června", "čvn", "июнь", "июня", "июн", "haziran", "haz"},
		{"july", "jul", "juli", "juillet", "juil", "julio", "luglio", "lug", "julho", "heinäkuu", "heinäkuuta", "heinäk", "lipiec", "lipca", "lip", "červenec", "července", "čvc", "июль", "июля", "июл", "temmuz", "tem"},
		{"august", "aug", "août", "aout", "agosto", "ago", "augustus", "augusti", "elokuu", "elokuuta", "elok", "sierpień", "sierpnia", "sie", "srpen", "srpna", "srp", "август", "августа", "авг", "ağustos", "ağu", "agustos"},
		{"september", "sep", "sept", "septembre", "septiembre", "setiembre", "settembre", "set", "setembro", "syyskuu", "syyskuuta", "syysk", "wrzesień", "września", "wrz", "září", "zář", "сентябрь", "сентября", "сен", "сент", "eylül", "eyl", "eylul"},
		{"october", "oct", "oktober", "okt", "octobre", "octubre", "ottobre", "ott", "outubro", "out", "lokakuu", "lokakuuta", "lokak", "październik", "października", "paź", "říjen", "října", "říj", "октябрь", "октября", "окт", "ekim", "eki"},
		{"november", "nov", "novembre", "noviembre", "novembro", "marraskuu", "marraskuuta", "marrask", "listopad", "listopada", "listopadu", "lis", "ноябрь", "ноября", "ноя", "нояб", "kasım", "kas", "kasim"},
		{"december", "dec", "dezember", "dez", "décembre", "decembre", "déc", "diciembre", "dic", "dicembre", "dezembro", "desember", "des", "joulukuu", "joulukuuta", "jouluk", "grudzień", "grudnia", "gru", "prosinec", "prosince", "pro", "декабрь", "декабря", "дек", "aralık", "ara", "aralik"},
	}
	// Hungarian, Romanian, Ukrainian, Greek, Indonesian.
	more := [12][]string{
		{"január", "ianuarie", "ian", "січня", "січ", "ιανουαρίου", "ιανουάριος", "ιαν"},
		{"február", "febr", "februarie", "лютого", "лют", "φεβρουαρίου", "φεβρουάριος", "φεβ"},
		{"március", "márc", "martie", "березня", "бер", "μαρτίου", "μάρτιος", "μαρ", "maret"},
		{"április", "ápr", "aprilie", "квітня", "квіт", "απριλίου", "απρίλιος", "απρ"},
		{"május", "máj", "травня", "трав", "μαΐου", "μάιος", "μαΐ", "μαι"},
		{"június", "jún", "iunie", "iun", "червня", "черв", "ιουνίου", "ιούνιος", "ιουν"},
		{"július", "júl", "iulie", "iul", "липня", "лип", "ιουλίου", "ιούλιος", "ιουλ"},
		{"augusztus", "серпня", "серп", "αυγούστου", "αύγουστος", "αυγ", "agustus"},
		{"szeptember", "szept", "septembrie", "вересня", "вер", "σεπτεμβρίου", "σεπτέμβριος", "σεπ"},
		{"október", "octombrie", "жовтня", "жовт", "οκτωβρίου", "οκτώβριος", "οκτ"},
		{"noiembrie", "листопада", "лист", "νοεμβρίου", "νοέμβριος", "νοε"},
		{"decembrie", "грудня", "груд", "δεκεμβρίου", "δεκέμβριος", "δεκ"},
	}
	// Slovak, Croatian (the Croatian "listopad" is October, the Czech and
	// Polish one November: it keeps its Czech and Polish reading).
	skhr := [12][]string{
		{"januára", "siječanj", "siječnja"},
		{"februára", "veljača", "veljače"},
		{"ožujak", "ožujka"}, // Slovak "marca" is listed above
		{"apríla", "travanj", "travnja"},
		{"mája", "svibanj", "svibnja"},
		{"júna", "lipanj", "lipnja"},
		{"júla", "srpanj", "srpnja"},
		{"augusta", "kolovoz", "kolovoza"},
		{"septembra", "rujan", "rujna"},
		{"októbra"},
		{"novembra", "studeni", "studenoga"},
		{"decembra", "prosinac", "prosinca"},
	}
	for i := range months {
		months[i] = append(months[i], more[i]...)
		months[i] = append(months[i], skhr[i]...)
	}
	for i, names := range months {
		for _, n := range names {
			monthNames[n] = i + 1
		}
	}
}

// zoneAbbrevs are the time zone abbreviations clients print, with their
// offsets in minutes. Ambiguous ones (IST, CST in Asia) take their most
// common reading in mail.
var zoneAbbrevs = map[string]int{
	"utc": 0, "gmt": 0, "z": 0, "ut": 0, "wet": 0, "west": 60, "bst": 60,
	"cet": 60, "cest": 120, "met": 60, "mest": 120, "mez": 60, "mesz": 120,
	"eet": 120, "eest": 180, "msk": 180, "trt": 180,
	"est": -300, "edt": -240, "cst": -360, "cdt": -300, "mst": -420, "mdt": -360,
	"pst": -480, "pdt": -420, "akst": -540, "akdt": -480, "hst": -600,
	"ist": 330, "jst": 540, "kst": 540, "hkt": 480, "sgt": 480, "aest": 600, "aedt": 660,
	"nzst": 720, "nzdt": 780, "brt": -180, "art": -180,
}

var (
	reOrdinal    = regexp.MustCompile(`(\d)(st|nd|rd|th|er|e|º|ª)\b`)
	reCJKDate    = regexp.MustCompile(`(\d{2,4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]?`)
	reCJKWday    = regexp.MustCompile(`[（(]\s*[月火水木金土日一二三四五六天월화수목금토일]\s*[)）]|星期[一二三四五六日天]|週[一二三四五六日]|周[一二三四五六日]|禮拜[一二三四五六日天]|[월화수목금토일]요일|[月火水木金土日]曜日?`)
	reYMD        = regexp.MustCompile(`\b(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})\b\.?`)
	reDMY        = regexp.MustCompile(`\b(\d{1,2})\s*([./-])\s*(\d{1,2})\s*[./-]\s*(\d{2,4})\b\.?`)
	reTime       = regexp.MustCompile(`\b(\d{1,2})\s*[:.：h時시]\s*(\d{2})(?:\s*[:.：分]\s*(\d{2}))?(?:\s*[秒초])?`)
	reAMPM       = regexp.MustCompile(`(?i)^\s*(a\.?\s?m\.?|p\.?\s?m\.?|π\.?\s?μ\.?|μ\.?\s?μ\.?)(\W|$)`)
	reAMPMBefore = regexp.MustCompile(`(午前|午後|上午|下午|晚上|凌晨|中午|오전|오후)\s*$`)
	reOffset     = regexp.MustCompile(`(?i)(?:\b(?:gmt|utc|ut)\s*)?([+\-−])\s*(\d{1,2})(?::?(\d{2}))?\b`)
)

// parseLooseDate reads a date as mail clients print it in forwarded header
// blocks and quote headers, in any of the languages of monthNames: RFC 5322
// dates, "Mon, Jan 6, 2025 at 9:14 AM", "6. Januar 2025 um 09:14",
// "2025年1月6日(月) 9:14", "6.1.2025 9.14", ... Without a written zone the
// time is read in loc (the forwarder's zone, from the forward's own Date). It
// reports false when the text does not hold a full date; the caller keeps
// the raw text either way.
func parseLooseDate(s string, loc *time.Location, monthFirst bool) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 200 {
		return time.Time{}, false
	}
	if mayBeRFCDate(s) {
		if t, err := mail.ParseDate(s); err == nil {
			return t, true
		}
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, true
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	s = normalizeDigits(strings.ToLower(s))
	if !isASCII(s) {
		// The replacements and the CJK weekdays are not ASCII.
		s = dateSpaceReplacer.Replace(s)
		s = reCJKWday.ReplaceAllString(s, " ")
	}
	if mayHoldOrdinal(s) {
		s = reOrdinal.ReplaceAllString(s, "$1")
	}

	year, month, day := -1, -1, -1
	hour, min, sec := -1, 0, 0

	// Numeric dates first, so that their dots are not read as times.
	// The prefilters (a CJK year mark, a separator) skip the regexps that
	// cannot match.
	cjk := strings.Contains(s, "年") || strings.Contains(s, "년")
	sep := strings.ContainsAny(s, "-/.")
	if m := submatchIf(cjk, reCJKDate, s); m != nil {
		year, month, day = atoi(s[m[2]:m[3]]), atoi(s[m[4]:m[5]]), atoi(s[m[6]:m[7]])
		s = s[:m[0]] + " " + s[m[1]:]
	} else if m := submatchIf(sep, reYMD, s); m != nil {
		year, month, day = atoi(s[m[2]:m[3]]), atoi(s[m[4]:m[5]]), atoi(s[m[6]:m[7]])
		s = s[:m[0]] + " " + s[m[1]:]
	} else if m := submatchIf(sep, reDMY, s); m != nil {
		a, b, y := atoi(s[m[2]:m[3]]), atoi(s[m[6]:m[7]]), atoi(s[m[8]:m[9]])
		// Slashes in English are month first (1/6/25); dots and dashes, and
		// slashes elsewhere, are day first. A value over 12 settles it.
		if s[m[4]:m[5]] == "/" && monthFirst {
			a, b = b, a
		}
		if b > 12 && a <= 12 {
			a, b = b, a
		}
		day, month, year = a, b, y
		s = s[:m[0]] + " " + s[m[1]:]
	}

	// Time zone: a numeric offset, possibly after GMT/UTC, or an abbreviation.
	offset, haveZone := 0, false
	if m := submatchIf(strings.ContainsAny(s, "+-−"), reOffset, s); m != nil && timeBefore(s, m[0]) {
		h, mm := atoi(s[m[4]:m[5]]), 0
		if m[6] >= 0 {
			mm = atoi(s[m[6]:m[7]])
		}
		if h <= 14 && mm < 60 {
			offset = h*60 + mm
			if sg := s[m[2]:m[3]]; sg == "-" || sg == "−" {
				offset = -offset
			}
			haveZone = true
			s = s[:m[0]] + " " + s[m[1]:]
		}
	}

	// Time of day, with an AM/PM marker just after it (or before it, in
	// Chinese, Japanese and Korean).
	ampm := ""
	if m := reTime.FindStringSubmatchIndex(s); m != nil {
		h, mi := atoi(s[m[2]:m[3]]), atoi(s[m[4]:m[5]])
		if h <= 24 && mi < 60 {
			hour, min = h, mi
			if m[6] >= 0 {
				sec = atoi(s[m[6]:m[7]])
			}
			after := s[m[1]:]
			if len(after) > 8 {
				after = after[:8]
			}
			before := s[:m[0]]
			if len(before) > 12 {
				before = before[len(before)-12:]
			}
			if mm := reAMPM.FindString(after); mm != "" && strings.Index(after, mm) <= 2 {
				ampm = mm
			} else if mm := reAMPMBefore.FindString(before); mm != "" {
				ampm = mm
			}
			s = s[:m[0]] + " " + s[m[1]:]
		}
	}
	if hour >= 0 {
		if ampm != "" {
			w := strings.ReplaceAll(strings.ReplaceAll(ampm, ".", ""), " ", "")
			pm := strings.HasPrefix(w, "p") || strings.HasPrefix(w, "μμ") || strings.Contains(w, "午後") || strings.Contains(w, "下午") ||
				strings.Contains(w, "晚上") || strings.Contains(w, "오후") || (strings.Contains(w, "中午") && hour < 11)
			if pm && hour < 12 {
				hour += 12
			} else if !pm && hour == 12 {
				hour = 0
			}
		}
	}

	// Remaining words: month names, zone abbreviations, day and year numbers.
	type tok struct {
		s     string
		num   int
		month int
	}
	var words [16]string
	toks := make([]tok, 0, 16)
	for _, w := range dateWords(s, words[:0]) {
		t := tok{s: w, num: -1}
		if w[0] >= '0' && w[0] <= '9' {
			t.num = atoi(w)
		} else {
			key := strings.TrimSuffix(w, ".")
			if mo, ok := monthNames[key]; ok {
				t.month = mo
			} else if off, ok := zoneAbbrevs[key]; ok && !haveZone {
				offset, haveZone = off, true
			}
		}
		toks = append(toks, t)
	}
	if month < 0 {
		// Pick the month word next to the most numbers: "mar. 7 janv. 2025"
		// has Tuesday (mar.) before the day and January between day and year.
		best, bestScore := -1, -1
		for i, t := range toks {
			if t.month == 0 {
				continue
			}
			score := 0
			if i > 0 && toks[i-1].num >= 0 {
				score++
			}
			if i+1 < len(toks) && toks[i+1].num >= 0 {
				score++
			}
			if score >= bestScore {
				best, bestScore = i, score
			}
		}
		if best >= 0 {
			month = toks[best].month
		}
		var small []int
		for _, t := range toks {
			if t.num < 0 {
				continue
			}
			if len(t.s) == 4 && year < 0 {
				year = t.num
			} else if len(t.s) <= 2 {
				small = append(small, t.num)
			}
		}
		if len(small) > 0 {
			day = small[0]
			if year < 0 && len(small) > 1 {
				year = small[1]
			}
		}
	}
	if year >= 0 && year < 100 {
		year += 2000
		if year > time.Now().Year()+20 {
			year -= 100
		}
	}
	if year < 1970 || year > 2200 || month < 1 || month > 12 || day < 1 || day > 31 {
		return time.Time{}, false
	}
	if hour < 0 {
		hour = 0
	}
	if hour == 24 {
		hour = 0
	}
	if haveZone {
		loc = time.FixedZone("", offset*60)
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, 0, loc)
	if t.Day() != day {
		return time.Time{}, false // 31 February
	}
	return t, true
}

// dateWords appends the words of s to out: runs of letters (\p{L}) with
// the dot that may follow them, and runs of digits 0-9, as
// regexp.MustCompile(`[\p{L}]+\.?|\d+`).FindAllString(s, -1) finds them.
func dateWords(s string, out []string) []string {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsLetter(r):
			j := i + size
			for j < len(s) {
				r, size := utf8.DecodeRuneInString(s[j:])
				if !unicode.IsLetter(r) {
					break
				}
				j += size
			}
			if j < len(s) && s[j] == '.' {
				j++
			}
			out = append(out, s[i:j])
			i = j
		case r >= '0' && r <= '9':
			j := i + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			i += size
		}
	}
	return out
}

// submatchIf is re.FindStringSubmatchIndex(s) when may (a cheap test that
// s can match re) is set, and nil otherwise.
func submatchIf(may bool, re *regexp.Regexp, s string) []int {
	if !may {
		return nil
	}
	return re.FindStringSubmatchIndex(s)
}

// dateSpaceReplacer turns the odd spaces, commas and minus signs of dates
// into ASCII ones.
var dateSpaceReplacer = strings.NewReplacer("\u00a0", " ", "\u202f", " ", "，", ",", "、", " ", "−", "-")

// shortDayNames are the day names a date net/mail or RFC 3339 reads may
// start with.
var shortDayNames = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// mayBeRFCDate reports whether s (trimmed) can be a date net/mail.ParseDate
// or time.RFC3339 reads, so that the 48 layouts ParseDate tries (each
// failure an allocated error) are not tried on dates they cannot read. All
// those layouts start with the day of the month or the year (a digit), or
// with a day name ("Mon"), a comma, spaces and the day of the month.
func mayBeRFCDate(s string) bool {
	if s == "" {
		return false
	}
	if isDigit(s[0]) {
		return true
	}
	if len(s) < 4 || s[3] != ',' {
		return false
	}
	day := false
	for _, d := range shortDayNames {
		if strings.EqualFold(s[:3], d) {
			day = true
			break
		}
	}
	rest := strings.TrimLeft(s[4:], " ")
	return day && rest != "" && isDigit(rest[0])
}

// mayHoldOrdinal reports whether s has a digit followed by what reOrdinal
// takes off ("1st", "2nd", "1er", "1º").
func mayHoldOrdinal(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if !isDigit(s[i]) {
			continue
		}
		switch s[i+1] {
		case 's', 'n', 'r', 't', 'e':
			return true
		}
		if strings.HasPrefix(s[i+1:], "º") || strings.HasPrefix(s[i+1:], "ª") {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// timeBefore reports whether a time of day appears in s before index i, so
// that "-" in "2025-01-06" or a phone number is not read as an offset.
func timeBefore(s string, i int) bool {
	return reTime.MatchString(s[:i]) || strings.Contains(s[:i], "gmt") || strings.Contains(s[:i], "utc") ||
		strings.HasSuffix(strings.TrimSpace(s[:i]), ":00")
}

// normalizeDigits turns full-width digits and colons into ASCII.
func normalizeDigits(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= '０' && r <= '９' || r == '：' }) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return '0' + (r - '０')
		}
		if r == '：' {
			return ':'
		}
		return r
	}, s)
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimFunc(s, func(r rune) bool { return !unicode.IsDigit(r) }))
	if err != nil {
		return -1
	}
	return n
}
