package workflow

import (
	"testing"
	"time"
)

func TestSinceWhen(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	now := time.Date(2026, 3, 12, 9, 30, 0, 0, time.UTC) // 10:30 in Berlin
	for _, c := range []struct {
		since time.Time
		tz    *time.Location
		want  string
	}{
		{now.Add(-time.Hour), time.UTC, "08:30 UTC"},
		{now.Add(-10 * time.Hour), time.UTC, "Wed 11 Mar 23:30 UTC"},
		{now.Add(-10 * time.Hour), berlin, "00:30 CET"}, // the same day in Berlin
		{now.Add(-11 * time.Hour), berlin, "Wed 11 Mar 23:30 CET"},
		{now.AddDate(-1, 0, 0), time.UTC, "Wed 12 Mar 09:30 UTC"},
	} {
		if got := sinceWhen(c.since, now, c.tz); got != c.want {
			t.Errorf("sinceWhen(%v, %v) = %q, want %q", c.since, c.tz, got, c.want)
		}
	}
}

// TestHeldBackLog: a flood of held-back notices logs one warning per
// recipient and hour; the rest are debug lines.
func TestHeldBackLog(t *testing.T) {
	t0 := time.Date(2025, 3, 12, 9, 0, 0, 0, time.UTC)
	var l heldBackLog
	for _, c := range []struct {
		rcpt string
		at   time.Duration
		want bool
	}{
		{"sam@acme.example", 0, true},
		{"sam@acme.example", time.Minute, false},
		{"jane@acme.example", time.Minute, true},
		{"sam@acme.example", 59 * time.Minute, false},
		{"sam@acme.example", 61 * time.Minute, true},
		{"sam@acme.example", 62 * time.Minute, false},
		{"jane@acme.example", 62 * time.Minute, true},
		{"sam@acme.example", 30 * time.Minute, true}, // the clock went back
	} {
		if got := l.first(c.rcpt, t0.Add(c.at)); got != c.want {
			t.Errorf("first(%s, +%v) = %v, want %v", c.rcpt, c.at, got, c.want)
		}
	}
}
