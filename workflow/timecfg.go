package workflow

import (
	"fmt"
	"time"
)

// TimeConfig is what time does (Config.Time): the weekly digest to the
// leads, reminders about incidents nobody acted on, and check-ins with the
// teammates who reported them. The zero value is the defaults.
type TimeConfig struct {
	// BusinessHours are when reminders count and are sent; nil = Monday to
	// Friday 09:00–17:00 in Config.Timezone.
	BusinessHours *BusinessHours
	// Digest is when the weekly digest goes out; nil = Monday 09:00 in
	// Config.Timezone. It covers the 7 days before the digest's day,
	// midnight to midnight local time.
	Digest *Weekly
	// DigestRecipients are the leads who get the digest; nil = every lead.
	// Each must be a lead: the digest names the teammates affected.
	DigestRecipients []Person
	// Unacknowledged is how much business time an incident may wait for a
	// lead's first action before the leads are reminded, and again after
	// each further such interval (0 = 4 hours).
	Unacknowledged time.Duration
	// EscalateAfter is how much business time without a lead's action
	// makes the reminder go to HeadOfSupport too, and again after each
	// further such interval (0 = one business day).
	EscalateAfter time.Duration
	// HeadOfSupport gets the escalated reminders; zero = no one.
	HeadOfSupport Person
	// CheckinAfter is how long after an incident is resolved or severed
	// the reporter gets a check-in, sent within business hours (0 = 72h).
	CheckinAfter time.Duration
	// CheckinAfterHandoff sends check-ins to reporters who replied HANDOFF
	// too (default false: they asked for nothing more).
	CheckinAfterHandoff bool
	// Sweep is how often reminders and check-ins are looked for (0 = 5m).
	Sweep time.Duration
}

// Defaults of TimeConfig.
const (
	DefaultUnacknowledged = 4 * time.Hour
	DefaultCheckinAfter   = 72 * time.Hour
	DefaultSweep          = 5 * time.Minute
)

// withDefaults fills in the zero values; loc is Config.Timezone.
func (t TimeConfig) withDefaults(loc *time.Location) TimeConfig {
	if t.BusinessHours == nil {
		b := DefaultBusinessHours(loc)
		t.BusinessHours = &b
	} else if t.BusinessHours.Location == nil {
		b := *t.BusinessHours
		b.Location = loc
		t.BusinessHours = &b
	}
	if t.Digest == nil {
		t.Digest = &Weekly{Day: time.Monday, Hour: 9, Location: loc}
	} else if t.Digest.Location == nil {
		w := *t.Digest
		w.Location = loc
		t.Digest = &w
	}
	if t.Unacknowledged == 0 {
		t.Unacknowledged = DefaultUnacknowledged
	}
	if t.EscalateAfter == 0 {
		t.EscalateAfter = t.BusinessHours.Day()
	}
	if t.CheckinAfter == 0 {
		t.CheckinAfter = DefaultCheckinAfter
	}
	if t.Sweep == 0 {
		t.Sweep = DefaultSweep
	}
	return t
}

// validate reports problems as Validate does.
func (t TimeConfig) validate(c *Config, bad func(field, format string, args ...any)) {
	if b := t.BusinessHours; b != nil {
		if !b.hasDays() {
			bad("schedule business hours", "name at least one day")
		}
		if b.Start < 0 || b.End > 24*60 || b.End <= b.Start {
			bad("schedule business hours", "must start before they end, within one day (e.g. 09:00–17:00)")
		}
	}
	if w := t.Digest; w != nil && (w.Hour < 0 || w.Hour > 23 || w.Minute < 0 || w.Minute > 59) {
		bad("digest time", "%02d:%02d is not a time of day", w.Hour, w.Minute)
	}
	for i, p := range t.DigestRecipients {
		found := false
		for _, l := range c.Leads {
			found = found || sameMailbox(l.Address, p.Address)
		}
		if !found {
			bad(fmt.Sprintf("digest recipients[%d]", i), "%s is not a lead: the digest names the teammates affected, so it goes to leads only", p.Address)
		}
	}
	if t.Unacknowledged < 0 || t.EscalateAfter < 0 || t.CheckinAfter < 0 || t.Sweep < 0 {
		bad("reminders/checkins", "durations must be positive (0 = the default)")
	}
	if a := t.HeadOfSupport.Address; a != "" && !isAddress(a) {
		bad("people head of support", "%q is not an address", a)
	}
}

// Jobs are the desk's scheduled jobs: the weekly digest, reminders and
// check-ins. cmd/backstop adds them to the Scheduler it runs in serve.
func (d *Desk) Jobs() []Job {
	return []Job{d.DigestJob(), d.ReminderJob(), d.CheckinJob()}
}
