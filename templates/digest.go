package templates

import "time"

// Digest is the content of the weekly digest to the leads. It holds ids,
// names, states, dates and counts only: never a word of the customers'
// messages, their subjects or attachment names. Lists are empty when there
// is nothing to show.
type Digest struct {
	Week       string    // ISO week of the period: "2026-W40"
	Start, End time.Time // the period, [Start, End), midnight to midnight local time
	// Quiet is true when nothing happened and nothing waits: the digest
	// says so in one friendly line.
	Quiet bool

	Opened          int     // incidents opened in the period
	OpenedStillOpen int     // of those, how many are still open
	Open            int     // incidents open now
	OpenByState     []Count // open incidents now, by state (Name is the state)
	// Waiting are open incidents no lead has acted on yet, oldest first.
	Waiting []Waiting
	// Actions are the leads' actions in the period: boundary emails,
	// escalations, severances, resolutions, apologies (Name in words).
	Actions []Count
	// Response is the time from report to the first lead action for the
	// incidents opened in the period (first) and in each of the 4 weeks
	// before it.
	Response []Response
	// Severed are the customers severed in the period.
	Severed []Severed
	// Repeat are customers and organisations with more than one incident
	// in the 90 days up to the end of the period.
	Repeat []Repeat
	// Teammates are the names of the teammates who reported an incident
	// in the period (the digest goes to leads only).
	Teammates []string
	// Undelivered are customer emails whose delivery is uncertain or
	// failed, waiting for a lead's decision (RESEND or not).
	Undelivered []Undelivered
	// HeldBack is how many notices the caps held back in the period.
	HeldBack int
	// Chart is incidents opened per week over the last 12 weeks, oldest
	// first, ending with the period.
	Chart []ChartWeek
}

// Count is a named number.
type Count struct {
	Name string
	N    int
}

// Waiting is an incident waiting on a lead.
type Waiting struct {
	ID       string // "INC-7"
	State    string
	Customer string // the customer's name (or address when no name is known)
	Opened   time.Time
	Age      string // "2 days 3 h": how long it has waited
}

// Response is the time from report to first lead action in one week.
type Response struct {
	Week      string // "2026-W40"
	Incidents int    // opened that week
	Acted     int    // of those, how many a lead acted on
	Median    string // "1 h 5 min"; "" when none was acted on
	Worst     string // the longest; "" when none was acted on
}

// Severed is a customer severed in the period.
type Severed struct {
	ID           string // the incident, "INC-7"
	Customer     string
	Organisation string // "" for free-mail customers
	At           time.Time
}

// Repeat is a customer or organisation with several incidents.
type Repeat struct {
	Who       string   // a customer's name, or an organisation's domain
	Incidents []string // "INC-3", oldest first
}

// Undelivered is a customer email waiting for a decision.
type Undelivered struct {
	ID    string // the incident, "INC-7"
	Kind  string // template name: boundary, parting_ways, escalation (`kind` puts it in words)
	To    string // the recipient's name or address
	State string // uncertain, failed or bounced
	Since time.Time
}

// ChartWeek is one bar of the chart.
type ChartWeek struct {
	Week  string // "W40"
	Label string // the Monday: "29 Sep"
	N     int
	Bar   string // N as a bar of "#" for the text part (at most 40)
	Width int    // the bar's width in pixels for the HTML part (0–240)
}

// Reminder says why a reminder is sent.
type Reminder struct {
	Waited        string // business time the incident has waited: "4 h"
	N             int    // the how-manieth reminder about the incident
	HeadOfSupport bool   // this one also goes to the head of support
	BusinessHours string // "Mon–Fri 09:00–17:00 Europe/Berlin"
}

func sampleDigest() *Digest {
	at := func(month time.Month, day, h, m int) time.Time {
		return time.Date(2025, month, day, h, m, 0, 0, sampleZone)
	}
	return &Digest{
		Week: "2025-W02", Start: at(time.January, 6, 0, 0), End: at(time.January, 13, 0, 0),
		Opened: 3, OpenedStillOpen: 2, Open: 4,
		OpenByState: []Count{{"reported", 1}, {"acknowledged", 2}, {"boundary sent", 1}},
		Waiting:     []Waiting{{ID: "INC-7", State: "reported", Customer: "Jordan Miles", Opened: at(time.January, 8, 16, 52), Age: "4 days 16 h"}},
		Actions:     []Count{{"boundary emails", 1}, {"escalations", 0}, {"severances", 1}, {"resolutions", 2}, {"apologies", 0}},
		Response: []Response{
			{Week: "2025-W02", Incidents: 3, Acted: 2, Median: "1 h 10 min", Worst: "3 h 5 min"},
			{Week: "2025-W01", Incidents: 1, Acted: 1, Median: "25 min", Worst: "25 min"},
			{Week: "2024-W52"}, {Week: "2024-W51", Incidents: 2, Acted: 2, Median: "2 h", Worst: "5 h 30 min"}, {Week: "2024-W50"},
		},
		Severed:     []Severed{{ID: "INC-6", Customer: "Casey Vance", Organisation: "initech.example", At: at(time.January, 9, 11, 20)}},
		Repeat:      []Repeat{{Who: "globex.example", Incidents: []string{"INC-3", "INC-5", "INC-7"}}},
		Teammates:   []string{"Sam Rivera", "Alex Kim"},
		Undelivered: []Undelivered{{ID: "INC-5", Kind: Boundary, To: "Alex Chen", State: "uncertain", Since: at(time.January, 7, 10, 0)}},
		HeldBack:    0,
		Chart: []ChartWeek{
			{"W43", "21 Oct", 1, "#", 40}, {"W44", "28 Oct", 0, "", 0}, {"W45", "4 Nov", 2, "##", 80},
			{"W46", "11 Nov", 1, "#", 40}, {"W47", "18 Nov", 0, "", 0}, {"W48", "25 Nov", 0, "", 0},
			{"W49", "2 Dec", 1, "#", 40}, {"W50", "9 Dec", 0, "", 0}, {"W51", "16 Dec", 2, "##", 80},
			{"W52", "23 Dec", 0, "", 0}, {"W01", "30 Dec", 1, "#", 40}, {"W02", "6 Jan", 3, "###", 120},
		},
	}
}

// Last is the last day of the period (the day before End).
func (d *Digest) Last() time.Time {
	return time.Date(d.End.Year(), d.End.Month(), d.End.Day()-1, 0, 0, 0, 0, d.End.Location())
}
