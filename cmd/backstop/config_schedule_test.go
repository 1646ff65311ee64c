package main

import (
	"strings"
	"testing"
	"time"
)

func TestConfigTimeDefaults(t *testing.T) {
	cfg, err := parseConfig("test.yaml", []byte(validConfig), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation("Europe/Berlin")
	tc := cfg.timeConfig(loc)
	if got := tc.BusinessHours.String(); got != "Mon–Fri 09:00–17:00 Europe/Berlin" {
		t.Errorf("business hours %s", got)
	}
	if got := tc.Digest.String(); got != "Monday 09:00 Europe/Berlin" {
		t.Errorf("digest %s", got)
	}
	if tc.Unacknowledged != 4*time.Hour || tc.EscalateAfter != 8*time.Hour || tc.CheckinAfter != 72*time.Hour || tc.CheckinAfterHandoff {
		t.Errorf("defaults: %+v", tc)
	}
}

func TestConfigTime(t *testing.T) {
	cfg, err := parseConfig("test.yaml", []byte(validConfig+`schedule:
  business_hours: {days: [mon, tue, wed, thu], start: "08:30", end: "16:30"}
digest: {weekday: Friday, time: "16:00", recipients: [jane@acme.example]}
reminders: {unacknowledged: 2h, escalate_after: 2d}
checkins: {after: 5d, after_handoff: true}
`), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.timeConfig(time.UTC)
	if got := tc.BusinessHours.String(); got != "Mon,Tue,Wed,Thu 08:30–16:30 UTC" {
		t.Errorf("business hours %s", got)
	}
	if got := tc.Digest.String(); got != "Friday 16:00 UTC" {
		t.Errorf("digest %s", got)
	}
	if tc.Unacknowledged != 2*time.Hour || tc.EscalateAfter != 16*time.Hour || tc.CheckinAfter != 120*time.Hour || !tc.CheckinAfterHandoff {
		t.Errorf("values: %+v", tc)
	}
	if len(tc.DigestRecipients) != 1 || tc.DigestRecipients[0].Name != "Jane Doe" {
		t.Errorf("recipients %v", tc.DigestRecipients)
	}
}

func TestConfigTimeErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"schedule:\n  business_hours:\n    days: [mon, funday]\n", "config test.yaml:25: schedule.business_hours.days.1 \"funday\" is not a day"},
		{"schedule:\n  business_hours:\n    start: \"18:00\"\n", "schedule.business_hours.end is 17:00, not after start 18:00"},
		{"digest:\n  weekday: someday\n", "config test.yaml:24: digest.weekday \"someday\" is not a day of the week"},
		{"digest:\n  time: \"25:00\"\n", "digest.time \"25:00\" is not a time of day"},
		{"digest:\n  recipients: [sam@acme.example]\n", "digest.recipients.0 sam@acme.example is not one of people.leads"},
		{"reminders:\n  unacknowledged: 0h\n", "reminders.unacknowledged must be longer than 0"},
		{"reminders:\n  unacknowledged: soon\n", "\"soon\" is not a duration"},
		{"checkins:\n  after: 3 days\n", "\"3 days\" is not a duration"},
		{"checkins:\n  never: true\n", "field never not found in checkins"},
	}
	for _, tt := range tests {
		_, err := parseConfig("test.yaml", []byte(validConfig+tt.yaml), testEnv)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.yaml, err, tt.want)
		}
	}
	_, err := parseConfig("test.yaml", []byte(strings.Replace(validConfig, "  team_domains:", "  head_of_support: {name: Hana, address: hana}\n  team_domains:", 1)), testEnv)
	if err == nil || !strings.Contains(err.Error(), "people.head_of_support.address \"hana\" is not an email address") {
		t.Errorf("head of support: %v", err)
	}
}
