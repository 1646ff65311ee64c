package workflow

import (
	"fmt"
	"strings"
	"time"
)

// BusinessHours are the days and hours leads are at work, in Location:
// reminders count only this time and are sent only within it.
type BusinessHours struct {
	Days       [7]bool // indexed by time.Weekday
	Start, End int     // minutes after local midnight; Start < End
	Location   *time.Location
}

// DefaultBusinessHours is Monday to Friday, 09:00 to 17:00, in loc.
func DefaultBusinessHours(loc *time.Location) BusinessHours {
	b := BusinessHours{Start: 9 * 60, End: 17 * 60, Location: loc}
	for d := time.Monday; d <= time.Friday; d++ {
		b.Days[d] = true
	}
	return b
}

func (b BusinessHours) loc() *time.Location {
	if b.Location == nil {
		return time.UTC
	}
	return b.Location
}

// window returns the business hours [start, end) of the local day i days
// after t's; ok is false on a day off.
func (b BusinessHours) window(t time.Time, i int) (start, end time.Time, ok bool) {
	lt := t.In(b.loc())
	day := time.Date(lt.Year(), lt.Month(), lt.Day()+i, 0, 0, 0, 0, b.loc())
	if !b.Days[day.Weekday()] {
		return time.Time{}, time.Time{}, false
	}
	// time.Date, not day.Add: a DST change that night must not shift the hours.
	start = time.Date(day.Year(), day.Month(), day.Day(), 0, b.Start, 0, 0, b.loc())
	end = time.Date(day.Year(), day.Month(), day.Day(), 0, b.End, 0, 0, b.loc())
	return start, end, true
}

// Open reports whether t is within business hours.
func (b BusinessHours) Open(t time.Time) bool {
	s, e, ok := b.window(t, 0)
	return ok && !t.Before(s) && t.Before(e)
}

func (b BusinessHours) hasDays() bool {
	for _, d := range b.Days {
		if d {
			return true
		}
	}
	return false
}

// NextOpen returns t when it is within business hours, else the start of
// the next business hours.
func (b BusinessHours) NextOpen(t time.Time) time.Time {
	return b.Add(t, 0)
}

// Add returns the moment d of business time after t. The result is always
// within business hours: time that runs out exactly at closing time ends
// at the next opening.
func (b BusinessHours) Add(t time.Time, d time.Duration) time.Time {
	if !b.hasDays() || b.End <= b.Start {
		return t.Add(d)
	}
	for i := 0; ; i++ {
		s, e, ok := b.window(t, i)
		if !ok || !t.Before(e) {
			continue
		}
		begin := s
		if t.After(s) {
			begin = t
		}
		if avail := e.Sub(begin); d < avail {
			return begin.Add(d)
		} else {
			d -= avail
		}
	}
}

// Elapsed returns the business time between from and to (0 when to is not
// after from).
func (b BusinessHours) Elapsed(from, to time.Time) time.Duration {
	if !to.After(from) || !b.hasDays() || b.End <= b.Start {
		return 0
	}
	var sum time.Duration
	lf := from.In(b.loc())
	for i := 0; ; i++ {
		if day := time.Date(lf.Year(), lf.Month(), lf.Day()+i, 0, 0, 0, 0, b.loc()); day.After(to) {
			return sum
		}
		s, e, ok := b.window(from, i)
		if !ok {
			continue
		}
		lo, hi := s, e
		if from.After(lo) {
			lo = from
		}
		if to.Before(hi) {
			hi = to
		}
		if hi.After(lo) {
			sum += hi.Sub(lo)
		}
	}
}

// Day is the length of one business day.
func (b BusinessHours) Day() time.Duration {
	return time.Duration(b.End-b.Start) * time.Minute
}

// String reads like "Mon–Fri 09:00–17:00 Europe/Berlin".
func (b BusinessHours) String() string {
	var days []string
	for d := time.Sunday; d <= time.Saturday; d++ {
		if b.Days[(d+1)%7] { // Monday first
			days = append(days, ((d + 1) % 7).String()[:3])
		}
	}
	ds := strings.Join(days, ",")
	if ds == "Mon,Tue,Wed,Thu,Fri" {
		ds = "Mon–Fri"
	}
	return fmt.Sprintf("%s %02d:%02d–%02d:%02d %s", ds, b.Start/60, b.Start%60, b.End/60, b.End%60, b.loc())
}
