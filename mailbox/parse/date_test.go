package parse

import (
	"strings"
	"testing"
	"time"
)

func TestParseLooseDate(t *testing.T) {
	cet := time.FixedZone("", 3600)
	tests := []struct {
		in         string
		monthFirst bool
		want       string // RFC 3339 in loc CET unless the text has a zone; "" = not a date
	}{
		{"Mon, 6 Jan 2025 09:14:00 +0000", false, "2025-01-06T09:14:00Z"},
		{"Mon, 06 Jan 2025 09:14:00 +0100 (CET)", false, "2025-01-06T09:14:00+01:00"},
		{"Mon, Jan 6, 2025 at 9:14 AM", true, "2025-01-06T09:14:00+01:00"},
		{"Mon, Jan 6, 2025 at 9:14 PM", true, "2025-01-06T21:14:00+01:00"},
		{"Monday, January 6, 2025 9:14 AM", true, "2025-01-06T09:14:00+01:00"},
		{"Monday, January 6, 2025, 09:14:00 AM GMT+1", true, "2025-01-06T09:14:00+01:00"},
		{"Monday, January 6, 2025 at 12:05 AM EST", true, "2025-01-06T00:05:00-05:00"},
		{"6 January 2025 at 09:14", false, "2025-01-06T09:14:00+01:00"},
		{"January 6, 2025 at 9:14:00 AM PST", true, "2025-01-06T09:14:00-08:00"},
		{"On Monday, January 6th, 2025 at 9:14 AM", true, "2025-01-06T09:14:00+01:00"},
		{"6. Januar 2025 um 09:14", false, "2025-01-06T09:14:00+01:00"},
		{"Montag, 6. Januar 2025 09:14", false, "2025-01-06T09:14:00+01:00"},
		{"Mo., 6. Jan. 2025 um 09:14 Uhr", false, "2025-01-06T09:14:00+01:00"},
		{"lundi 6 janvier 2025 09:14", false, "2025-01-06T09:14:00+01:00"},
		{"mar. 7 janv. 2025 à 09:14", false, "2025-01-07T09:14:00+01:00"},
		{"lunes, 6 de enero de 2025 9:14", false, "2025-01-06T09:14:00+01:00"},
		{"lun 6 gen 2025 alle ore 09:14", false, "2025-01-06T09:14:00+01:00"},
		{"segunda-feira, 6 de janeiro de 2025 09:14", false, "2025-01-06T09:14:00+01:00"},
		{"maandag 6 januari 2025 09:14", false, "2025-01-06T09:14:00+01:00"},
		{"den 6 januari 2025 09:14", false, "2025-01-06T09:14:00+01:00"},
		{"6. januar 2025 kl. 09.14", false, "2025-01-06T09:14:00+01:00"},
		{"maanantai 6. tammikuuta 2025 9.14", false, "2025-01-06T09:14:00+01:00"},
		{"6.1.2025 9.14", false, "2025-01-06T09:14:00+01:00"},
		{"poniedziałek, 6 stycznia 2025 09:14", false, "2025-01-06T09:14:00+01:00"},
		{"pondělí 6. ledna 2025 9:14", false, "2025-01-06T09:14:00+01:00"},
		{"po 6. 1. 2025 v 9:14", false, "2025-01-06T09:14:00+01:00"},
		{"понедельник, 6 января 2025 г. 9:14", false, "2025-01-06T09:14:00+01:00"},
		{"6 Ocak 2025 Pazartesi 09:14", false, "2025-01-06T09:14:00+01:00"},
		{"2025年1月6日(月) 9:14", false, "2025-01-06T09:14:00+01:00"},
		{"2025年1月6日 星期一 下午 3:14", false, "2025-01-06T15:14:00+01:00"},
		{"2025/01/06 9:14", false, "2025-01-06T09:14:00+01:00"},
		{"2025년 1월 6일 (월) 오후 3:14", false, "2025-01-06T15:14:00+01:00"},
		{"1/6/25 9:14 AM", true, "2025-01-06T09:14:00+01:00"},
		{"06/01/2025 09:14", false, "2025-01-06T09:14:00+01:00"},
		{"13/01/2025 09:14", true, "2025-01-13T09:14:00+01:00"},
		{"2025-01-06 09:14", false, "2025-01-06T09:14:00+01:00"},
		{"2025-01-06T09:14:00Z", false, "2025-01-06T09:14:00Z"},
		{"Monday", false, ""},
		{"yesterday at noon", false, ""},
		{"", false, ""},
		{"31 February 2025", false, ""},
	}
	for _, tt := range tests {
		got, ok := parseLooseDate(tt.in, cet, tt.monthFirst)
		if tt.want == "" {
			if ok {
				t.Errorf("parseLooseDate(%q) = %v, want no date", tt.in, got)
			}
			continue
		}
		if !ok {
			t.Errorf("parseLooseDate(%q): no date, want %s", tt.in, tt.want)
			continue
		}
		want, _ := time.Parse(time.RFC3339, tt.want)
		if !got.Equal(want) {
			t.Errorf("parseLooseDate(%q) = %s, want %s", tt.in, got.Format(time.RFC3339), tt.want)
		}
	}
}

// TestAmbiguousNumericDates: "06/01/2025" reads month-first in English,
// but a message cannot be newer than the forward that carries it, so the
// day-first reading wins when the forward is dated 6 January.
func TestAmbiguousNumericDates(t *testing.T) {
	tests := []struct {
		forwardDate, sent, want string
	}{
		{"Mon, 6 Jan 2025 10:00:00 +0100", "06/01/2025 09:14:22", "2025-01-06T09:14:22+01:00"},
		{"Mon, 2 Jun 2025 10:00:00 +0200", "06/01/2025 09:14:22", "2025-06-01T09:14:22+02:00"},
		{"Tue, 14 Jan 2025 10:00:00 +0100", "1/13/2025 17:02", "2025-01-13T17:02:00+01:00"},
	}
	for _, tt := range tests {
		raw := "From: Sam <sam@acme.example>\r\nTo: escalations@acme.example\r\nSubject: FW: refund\r\nDate: " + tt.forwardDate +
			"\r\n\r\nsee below\r\n\r\n------ Original Message ------\r\nFrom: \"Jordan Miles\" <jordan@globex.example>\r\n" +
			"To: support@acme.example\r\nSent: " + tt.sent + "\r\nSubject: refund\r\n\r\nRefund me.\r\n"
		m, err := Parse(strings.NewReader(raw))
		if err != nil || len(m.Originals) != 1 || m.Originals[0].Date == nil {
			t.Fatalf("Parse: %v, %+v", err, m)
		}
		if got := m.Originals[0].Date.Format(time.RFC3339); got != tt.want {
			t.Errorf("forward of %s, sent %q: date %s, want %s", tt.forwardDate, tt.sent, got, tt.want)
		}
	}
}
