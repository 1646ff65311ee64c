package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"backstop/workflow"
)

// TimeSections are the top-level sections about time: business hours, the
// weekly digest, reminders and check-ins. They are inlined into Config.
type TimeSections struct {
	// Schedule says when the leads are at work.
	Schedule ScheduleConfig `yaml:"schedule"`
	// Digest is the weekly digest to the leads.
	Digest DigestConfig `yaml:"digest"`
	// Reminders go to the leads when an incident waits for a lead's action.
	Reminders RemindersConfig `yaml:"reminders"`
	// Checkins ask the teammate who reported an incident how they are.
	Checkins CheckinsConfig `yaml:"checkins"`
}

// ScheduleConfig is the organisation's working time, in organisation.timezone.
type ScheduleConfig struct {
	// BusinessHours are when reminders count and are sent (default Mon–Fri 09:00–17:00).
	BusinessHours BusinessHoursConfig `yaml:"business_hours"`
}

// BusinessHoursConfig is days and hours of work.
type BusinessHoursConfig struct {
	// Days are the working days: mon, tue, wed, thu, fri, sat, sun (default mon–fri).
	Days []string `yaml:"days"`
	// Start is when the working day starts, "09:00" (default).
	Start string `yaml:"start"`
	// End is when it ends, "17:00" (default).
	End string `yaml:"end"`
}

// DigestConfig is the weekly digest.
type DigestConfig struct {
	// Weekday is the day it goes out (default monday). It covers the 7 days before.
	Weekday string `yaml:"weekday"`
	// Time is when it goes out, local time (default "09:00").
	Time string `yaml:"time"`
	// Recipients are the leads' addresses who get it (default: every lead).
	// A lead may also reply DIGEST OFF / DIGEST ON to any digest.
	Recipients []string `yaml:"recipients"`
}

// RemindersConfig is when incidents nobody acted on are reminded.
type RemindersConfig struct {
	// Unacknowledged is the business time an incident may wait for a lead's
	// first action before all leads are reminded, and again after each
	// further such interval (default 4h; 1d is one business day).
	Unacknowledged DayDuration `yaml:"unacknowledged"`
	// EscalateAfter is the business time without a lead's action after which
	// people.head_of_support is reminded too (default 1d, one business day).
	EscalateAfter DayDuration `yaml:"escalate_after"`
}

// CheckinsConfig is the check-in with the reporter.
type CheckinsConfig struct {
	// After is how long after an incident is resolved or severed the
	// reporter is asked how they are (default 3d: calendar days; sent within
	// business hours).
	After DayDuration `yaml:"after"`
	// AfterHandoff also checks in with reporters who replied HANDOFF (default false).
	AfterHandoff bool `yaml:"after_handoff"`
}

// DayDuration is a duration written as "90m", "4h" or "3d" (whole days).
type DayDuration struct {
	Days int
	Dur  time.Duration
	set  bool
}

// UnmarshalYAML reads "4h", "1d", "2d12h" is not allowed: days alone or a Go duration.
func (d *DayDuration) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	if s, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(s)
		if err != nil || days < 0 {
			return fmt.Errorf("line %d: %q is not a number of days (write it like 3d, or as a duration like 4h)", n.Line, v)
		}
		*d = DayDuration{Days: days, set: true}
		return nil
	}
	dur, err := time.ParseDuration(v)
	if err != nil || dur < 0 {
		return fmt.Errorf("line %d: %q is not a duration (write it like 4h, 90m or 3d)", n.Line, v)
	}
	*d = DayDuration{Dur: dur, set: true}
	return nil
}

// in returns d with a day as long as day.
func (d DayDuration) in(day time.Duration) time.Duration {
	return time.Duration(d.Days)*day + d.Dur
}

// String writes d as it was written.
func (d DayDuration) String() string {
	if d.Days > 0 {
		return strconv.Itoa(d.Days) + "d"
	}
	return d.Dur.String()
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// parseWeekday reads "monday", "Mon", "mon".
func parseWeekday(s string) (time.Weekday, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < 3 {
		return 0, false
	}
	d, ok := weekdays[s[:3]]
	if ok && len(s) > 3 && !strings.EqualFold(d.String(), s) {
		return 0, false
	}
	return d, ok
}

// parseClock reads "09:00" as minutes after midnight.
func parseClock(s string) (int, bool) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 24 || mm < 0 || mm > 59 || hh == 24 && mm != 0 {
		return 0, false
	}
	return hh*60 + mm, true
}

func (c *Config) applyTimeDefaults() {
	bh := &c.Schedule.BusinessHours
	if len(bh.Days) == 0 {
		bh.Days = []string{"mon", "tue", "wed", "thu", "fri"}
	}
	if bh.Start == "" {
		bh.Start = "09:00"
	}
	if bh.End == "" {
		bh.End = "17:00"
	}
	if c.Digest.Weekday == "" {
		c.Digest.Weekday = "monday"
	}
	if c.Digest.Time == "" {
		c.Digest.Time = "09:00"
	}
	if !c.Reminders.Unacknowledged.set {
		c.Reminders.Unacknowledged = DayDuration{Dur: workflow.DefaultUnacknowledged, set: true}
	}
	if !c.Reminders.EscalateAfter.set {
		c.Reminders.EscalateAfter = DayDuration{Days: 1, set: true}
	}
	if !c.Checkins.After.set {
		c.Checkins.After = DayDuration{Days: 3, set: true}
	}
}

// validateTime checks the time sections and people.head_of_support.
func (c *Config) validateTime() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{File: c.path, Line: c.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	bh := c.Schedule.BusinessHours
	for i, d := range bh.Days {
		if _, ok := parseWeekday(d); !ok {
			bad(fmt.Sprintf("schedule.business_hours.days.%d", i), "%q is not a day; write mon, tue, wed, thu, fri, sat or sun", d)
		}
	}
	start, ok1 := parseClock(bh.Start)
	if !ok1 {
		bad("schedule.business_hours.start", "%q is not a time of day; write it like \"09:00\"", bh.Start)
	}
	end, ok2 := parseClock(bh.End)
	if !ok2 {
		bad("schedule.business_hours.end", "%q is not a time of day; write it like \"17:00\"", bh.End)
	}
	if ok1 && ok2 && end <= start {
		bad("schedule.business_hours.end", "is %s, not after start %s: business hours run within one day", bh.End, bh.Start)
	}
	if _, ok := parseWeekday(c.Digest.Weekday); !ok {
		bad("digest.weekday", "%q is not a day of the week; write monday, tuesday, …", c.Digest.Weekday)
	}
	if m, ok := parseClock(c.Digest.Time); !ok || m >= 24*60 {
		bad("digest.time", "%q is not a time of day; write it like \"09:00\"", c.Digest.Time)
	}
	for i, a := range c.Digest.Recipients {
		found := false
		for _, l := range c.People.Leads {
			found = found || strings.EqualFold(l.Address, strings.TrimSpace(a))
		}
		if !found {
			bad(fmt.Sprintf("digest.recipients.%d", i), "%s is not one of people.leads: the digest names the teammates affected, so it goes to leads only", a)
		}
	}
	if c.Reminders.Unacknowledged.in(time.Hour) <= 0 {
		bad("reminders.unacknowledged", "must be longer than 0 (e.g. 4h)")
	}
	if c.Reminders.EscalateAfter.in(time.Hour) <= 0 {
		bad("reminders.escalate_after", "must be longer than 0 (e.g. 1d, one business day)")
	}
	if h := c.People.HeadOfSupport; h.Address != "" || h.Name != "" {
		if _, err := parseAddress(h.Address); err != nil {
			bad("people.head_of_support.address", "%q is not an email address (write it as name@domain)", h.Address)
		}
	}
	return errs
}

func parseAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "@") || strings.ContainsAny(s, " <>") {
		return "", fmt.Errorf("%q is not an address", s)
	}
	return s, nil
}

// timeConfig is the workflow's view of the time sections.
func (c *Config) timeConfig(loc *time.Location) workflow.TimeConfig {
	bh := workflow.BusinessHours{Location: loc}
	for _, d := range c.Schedule.BusinessHours.Days {
		if wd, ok := parseWeekday(d); ok {
			bh.Days[wd] = true
		}
	}
	bh.Start, _ = parseClock(c.Schedule.BusinessHours.Start)
	bh.End, _ = parseClock(c.Schedule.BusinessHours.End)
	day, _ := parseWeekday(c.Digest.Weekday)
	at, _ := parseClock(c.Digest.Time)
	tc := workflow.TimeConfig{
		BusinessHours:       &bh,
		Digest:              &workflow.Weekly{Day: day, Hour: at / 60, Minute: at % 60, Location: loc},
		Unacknowledged:      c.Reminders.Unacknowledged.in(bh.Day()),
		EscalateAfter:       c.Reminders.EscalateAfter.in(bh.Day()),
		HeadOfSupport:       workflow.Person{Name: c.People.HeadOfSupport.Name, Address: c.People.HeadOfSupport.Address},
		CheckinAfter:        c.Checkins.After.in(24 * time.Hour),
		CheckinAfterHandoff: c.Checkins.AfterHandoff,
	}
	for _, a := range c.Digest.Recipients {
		for _, l := range c.People.Leads {
			if strings.EqualFold(l.Address, strings.TrimSpace(a)) {
				tc.DigestRecipients = append(tc.DigestRecipients, workflow.Person{Name: l.Name, Address: l.Address})
			}
		}
	}
	return tc
}
