package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"backstop/templates"
)

// timeEnv is an env in a time zone, with two leads and a head of support,
// whose clock starts at start.
func newTimeEnv(t *testing.T, loc *time.Location, start time.Time, mutate ...func(*Config)) *env {
	t.Helper()
	e := newEnv(t, append([]func(*Config){func(c *Config) {
		c.Leads = []Person{jane, omar}
		c.Timezone = loc
		c.Hold = 0
		c.Time.HeadOfSupport = Person{Name: "Hana Sato", Address: "hana@acme.example"}
	}}, mutate...)...)
	e.clk.t = start
	return e
}

// restart closes the store and opens it again with a new desk, as a
// restarted daemon would.
func (e *env) restart(mutate ...func(*Config)) {
	e.t.Helper()
	path := e.st.Path()
	cfg := e.desk.cfg
	for _, m := range mutate {
		m(&cfg)
	}
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	st, err := Open(context.Background(), path, testKey)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	d, err := NewDesk(cfg, st, loadTemplates(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	e.st, e.desk = st, d
}

// scheduler returns a scheduler of the desk's jobs on the env's clock.
func (e *env) scheduler(jobs ...Job) *Scheduler {
	e.t.Helper()
	s := NewScheduler(e.st, SchedulerConfig{Now: e.clk.Now, Logger: quiet})
	if len(jobs) == 0 {
		jobs = e.desk.Jobs()
	}
	for _, j := range jobs {
		if err := s.Add(j); err != nil {
			e.t.Fatal(err)
		}
	}
	return s
}

// report opens an incident: sam forwards abusive words from cust. It
// returns the incident id and the lead notices by lead address.
func (e *env) report(cust Person, subject string) (int64, map[string]*OutMail) {
	e.t.Helper()
	e.handle(e.forward(sam, abuse(cust, subject, "You are useless idiots and I will ruin you.", e.clk.Now().Add(-time.Hour))), Processed)
	var id int64
	if err := e.st.db.QueryRow("SELECT max(id) FROM incidents").Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	rows, err := e.st.Outbox(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	notices := map[string]*OutMail{}
	for _, r := range rows {
		if r.Template == templates.LeadNotice {
			notices[r.Recipient] = e.mail(r.ID)
		}
	}
	return id, notices
}

// rowsTo lists the outbox rows of template to rcpt.
func (e *env) rowsTo(template, rcpt string) []OutboxRow {
	var out []OutboxRow
	for _, r := range rowsOf(e.outbox(), template) {
		if rcpt == "" || r.Recipient == rcpt {
			out = append(out, r)
		}
	}
	return out
}

// contentWords are words of the evidence, its subjects and attachment
// names: none may appear in a digest.
var contentWords = []string{"useless", "idiots", "ruin", "Invoice", "4471", "Refund", "contract.pdf", "forwarded:", "personal"}

func TestDigestGolden(t *testing.T) {
	loc := mustZone(t, "Europe/Berlin")
	// Monday 2 March 2026, 08:00: the seeded week is 2–8 March (2026-W10).
	e := newTimeEnv(t, loc, time.Date(2026, 2, 16, 10, 0, 0, 0, loc))
	ctx := context.Background()
	// Two weeks before: Jordan's first incident, resolved the same day.
	id1, n1 := e.report(jordan, "Invoice 4471")
	e.clk.Advance(2 * time.Hour)
	e.handle(e.command(n1[jane.Address], jane, "RESOLVE"), Processed)
	// The week: Jordan again (acted on after 1 h 30 min: a boundary).
	e.clk.t = time.Date(2026, 3, 3, 10, 0, 0, 0, loc)
	_, n2 := e.report(jordan, "Re: Invoice 4471")
	e.clk.Advance(90 * time.Minute)
	e.handle(e.command(n2[jane.Address], jane, "BOUNDARY"), Processed)
	// The connection broke while it was sent: uncertain, waiting for a decision.
	if _, err := e.st.db.Exec("UPDATE outbox SET state = ? WHERE customer = 1 AND template = ?", OutUncertain, templates.Boundary); err != nil {
		t.Fatal(err)
	}
	// Casey of Initech, severed after 3 h 10 min.
	e.clk.t = time.Date(2026, 3, 4, 11, 0, 0, 0, loc)
	in := e.forward(alex, abuse(casey, "Refund now", "Pathetic. Refund or I ruin you.", e.clk.Now().Add(-time.Hour)))
	in.Attachments = []string{"contract.pdf (application/pdf, 20 kB)"}
	e.handle(in, Processed)
	id3 := e.incidents()[0].ID
	e.clk.Advance(3*time.Hour + 10*time.Minute)
	var n3 *OutMail
	for _, r := range e.rowsTo(templates.LeadNotice, omar.Address) {
		if r.IncidentID == id3 {
			n3 = e.mail(r.ID)
		}
	}
	e.handle(e.command(n3, omar, "SEVER"), Processed)
	// Another customer of Initech on Friday, nobody acted yet.
	e.clk.t = time.Date(2026, 3, 6, 16, 30, 0, 0, loc)
	e.report(Person{Name: "Dana Roe", Address: "dana@initech.example"}, "Refund")
	// A cap held a notice back.
	if err := e.st.tx(ctx, func(tx *sql.Tx) error {
		return e.desk.event(ctx, tx, 0, e.clk.Now(), Actor, EventNoticeHeldBack, "quarantine_notice to jane@acme.example held back: cap", "")
	}); err != nil {
		t.Fatal(err)
	}
	_ = id1

	e.clk.t = time.Date(2026, 3, 9, 9, 0, 0, 0, loc)
	start, end := DigestPeriod(e.clk.Now(), loc)
	mails, err := e.desk.PreviewDigest(ctx, start, end)
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 2 || mails[0].To[0].Address != jane.Address || mails[1].To[0].Address != omar.Address {
		t.Fatalf("digest goes to %d leads, want jane and omar", len(mails))
	}
	if n := len(e.rowsTo(templates.WeeklyDigest, "")); n != 0 {
		t.Fatalf("a preview left %d digests in the outbox", n)
	}
	m := mails[0]
	golden(t, "digest.golden.txt", "Subject: "+m.Subject+"\n\n"+m.Text)
	golden(t, "digest.golden.html", m.HTML)
	for _, part := range []string{m.Subject, m.Text, m.HTML} {
		for _, w := range contentWords {
			if strings.Contains(strings.ToLower(part), strings.ToLower(w)) {
				t.Errorf("the digest shows %q, a word of the evidence, a subject or an attachment name", w)
			}
		}
	}
	if strings.Contains(m.HTML, "<script") || strings.Contains(m.HTML, "<img") || strings.Contains(m.HTML, "src=") {
		t.Error("the digest's HTML loads or runs something")
	}
	for _, want := range []string{"New incidents: 3 (3 still open)", "INC-4  Dana Roe", "boundary emails 1, escalations 0, severances 1",
		"2026-W10 (this week): 2 h 20 min, 3 h 10 min (2 of 3 acted on)", "2026-W08: 2 h, 2 h (1 of 1 acted on)",
		"Jordan Miles: INC-1, INC-2", "initech.example: INC-3, INC-4", "Sam Rivera and Alex Kim",
		"Notices held back by the caps: 1", "W10 2 Mar      3 ###",
		"INC-2  boundary email to Jordan Miles: uncertain since Tue 3 Mar 2026 11:30 CET"} {
		if !contains(m.Text, want) {
			t.Errorf("digest text lacks %q", want)
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./workflow -run %s -update)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs from what was rendered (run go test ./workflow -run %s -update, then review the diff):\n%s", path, t.Name(), got)
	}
}

func TestDigestQuietWeek(t *testing.T) {
	loc := mustZone(t, "America/New_York")
	e := newTimeEnv(t, loc, time.Date(2026, 3, 9, 9, 0, 0, 0, loc))
	start, end := DigestPeriod(e.clk.Now(), loc)
	mails, err := e.desk.PreviewDigest(context.Background(), start, end)
	if err != nil {
		t.Fatal(err)
	}
	m := mails[0]
	if !strings.Contains(m.Subject, "a quiet week") || !contains(m.Text, "No incidents from 2 March 2026 to 8 March 2026, and nothing is waiting on you.") {
		t.Errorf("quiet week:\n%s\n\n%s", m.Subject, m.Text)
	}
	if strings.Contains(m.Text, "per week") || strings.Contains(m.HTML, "<table") {
		t.Error("a quiet week is one line, no chart")
	}
}

// TestQuarter runs a quarter in virtual time in each zone, across its DST
// change, with every job of the desk: incidents come in (some acted on,
// some resolved, some left alone), the daemon restarts now and then, is
// down for two weeks, and crashes in the middle of one digest run. Every
// lead gets exactly one digest per week, at 09:00 local on Monday (or one
// at start-up for the weeks missed), with the week's figures and no
// content; every incident nobody acted on is reminded on time, within
// business hours, once per interval, never after a lead acted; every
// reporter of a resolved incident is checked on once. Reminders and
// check-ins run in the first zone only (their sweeps make the simulation
// long); the digest runs in all three.
func TestQuarter(t *testing.T) {
	for zi, z := range dstZones {
		t.Run(z.zone, func(t *testing.T) {
			allJobs := zi == 0
			loc := mustZone(t, z.zone)
			const sweep = time.Hour
			start := time.Date(2026, 2, 11, 12, 0, 0, 0, loc) // a Wednesday
			e := newTimeEnv(t, loc, start, func(c *Config) { c.Time.Sweep = sweep })
			ctx := context.Background()
			end := start.AddDate(0, 3, 0)
			crashAt := time.Date(2026, 4, 13, 9, 0, 0, 0, loc) // that Monday's digest run crashes once
			downFrom, downTo := time.Date(2026, 4, 22, 0, 0, 0, 0, loc), time.Date(2026, 5, 6, 14, 0, 0, 0, loc)
			crashed := false
			newSched := func() *Scheduler {
				j := e.desk.DigestJob()
				run := j.Run
				j.Run = func(ctx context.Context, tx *sql.Tx, due time.Time) error {
					if err := run(ctx, tx, due); err != nil {
						return err
					}
					if due.Equal(crashAt) && !crashed {
						crashed = true
						return errors.New("killed in the middle of the digest run")
					}
					return nil
				}
				if !allJobs {
					s := e.scheduler(j)
					s.cfg.MaxSleep = 3 * time.Hour
					return s
				}
				s := e.scheduler(j, e.desk.ReminderJob(), e.desk.CheckinJob())
				s.cfg.MaxSleep = 24 * time.Hour
				return s
			}
			type plan struct {
				notice          *OutMail
				act, resolve    time.Time // zero: never
				acted, resolved time.Time
			}
			plans := map[int64]*plan{}
			s := newSched()
			s.RunDue(ctx)
			nextReport := start
			for step := 0; e.clk.Now().Before(end); step++ {
				now := e.clk.Now()
				if !now.Before(downFrom) && now.Before(downTo) {
					e.clk.t = downTo
					e.restart()
					s = newSched()
					continue
				}
				next, err := s.RunDue(ctx)
				if err != nil {
					// The crash: the daemon restarts and runs it again.
					e.restart()
					s = newSched()
					continue
				}
				if !now.Before(nextReport) {
					n := len(plans)
					id, notices := e.report(Person{Name: fmt.Sprintf("Customer %d", n), Address: fmt.Sprintf("c%d@org%d.example", n, n%4)}, "Invoice 4471")
					p := &plan{notice: notices[jane.Address]}
					switch n % 3 {
					case 0: // acted on after two hours, resolved a day later
						p.act, p.resolve = now.Add(2*time.Hour), now.Add(26*time.Hour)
					case 1: // acted on after three days
						p.act = now.Add(72 * time.Hour)
					default: // left alone for two weeks
						p.act = now.Add(14 * 24 * time.Hour)
					}
					plans[id] = p
					nextReport = now.Add(37 * time.Hour)
				}
				for _, p := range plans {
					if !p.act.IsZero() && p.acted.IsZero() && !now.Before(p.act) {
						e.handle(e.command(p.notice, jane, "ASSIGN me"), Processed)
						p.acted = now
					}
					if !p.resolve.IsZero() && p.resolved.IsZero() && !now.Before(p.resolve) {
						e.handle(e.command(p.notice, jane, "RESOLVE"), Processed)
						p.resolved = now
					}
				}
				if step%300 == 0 {
					e.restart()
					s = newSched()
				}
				// Sleep until the next run (a few hours at most: incidents come in meanwhile).
				e.clk.Advance(max(min(next.Sub(now), 3*time.Hour), time.Minute))
			}
			if !crashed {
				t.Fatal("the crash never happened")
			}
			incs := e.incidents()

			// Digests: one per lead per week, on time, with the week's figures.
			for _, lead := range []Person{jane, omar} {
				var weeks []string
				late := 0
				for _, r := range e.rowsTo(templates.WeeklyDigest, lead.Address) {
					lt := r.Created.In(loc)
					week := strings.TrimSuffix(strings.Fields(r.Subject)[2], ":")
					weeks = append(weeks, week)
					if lt.Weekday() != time.Monday || lt.Hour() != 9 || lt.Minute() != 0 {
						if !r.Created.Equal(downTo) {
							t.Errorf("%s got a digest at %s", lead.Address, lt)
						}
						late++
					}
					ps, pe, _ := ParseWeek(week, loc)
					opened := 0
					for _, in := range incs {
						if !in.Created.Before(ps) && in.Created.Before(pe) {
							opened++
						}
					}
					m := e.mail(r.ID)
					if !contains(m.Text, fmt.Sprintf("New incidents: %d", opened)) || contains(m.Text, fmt.Sprintf("New incidents: %d0", opened)) {
						t.Errorf("digest %s says %q…; %d incidents were opened that week", week, strings.SplitN(m.Text, "New incidents", 2)[1][:20], opened)
					}
					for _, w := range contentWords {
						if strings.Contains(m.Text+m.HTML, w) {
							t.Errorf("digest %s shows %q", week, w)
						}
					}
				}
				want := []string{"2026-W07", "2026-W08", "2026-W09", "2026-W10", "2026-W11", "2026-W12", "2026-W13",
					"2026-W14", "2026-W15", "2026-W16", "2026-W18", "2026-W19"}
				if !slices.Equal(weeks, want) {
					t.Errorf("%s got digests for %v\nwant %v (one per week; W17 collapsed into the late W18 run)", lead.Address, weeks, want)
				}
				if late != 1 {
					t.Errorf("%s got %d digests at start-up after the downtime, want 1", lead.Address, late)
				}
			}

			if !allJobs {
				return
			}
			// Reminders: on time, within business hours, once per interval, never after a lead acted.
			bh := *e.desk.cfg.Time.BusinessHours
			inDowntime := func(from, to time.Time) bool { return to.After(downFrom) && from.Before(downTo) }
			reminded := map[int64]int{}
			firstReminder := map[int64]time.Time{}
			for _, r := range rowsOf(e.outbox(), templates.LeadReminder) {
				p := plans[r.IncidentID]
				if !bh.Open(r.Created) {
					t.Errorf("a reminder about %s at %s, outside business hours", Ref(r.IncidentID), r.Created.In(loc))
				}
				if !p.acted.IsZero() && r.Created.After(p.acted) {
					t.Errorf("a reminder about %s at %s, after a lead acted at %s", Ref(r.IncidentID), r.Created.In(loc), p.acted.In(loc))
				}
				if r.Recipient == jane.Address {
					reminded[r.IncidentID]++
					if firstReminder[r.IncidentID].IsZero() {
						firstReminder[r.IncidentID] = r.Created
					}
				}
			}
			checked := 0
			for _, in := range incs {
				p := plans[in.ID]
				due := bh.Add(in.Created, 4*time.Hour)
				if (!p.acted.IsZero() && !p.acted.After(due)) || !due.Before(end.Add(-time.Hour)) || inDowntime(in.Created, due.Add(sweep)) {
					continue
				}
				first := firstReminder[in.ID]
				if first.Before(due) || first.After(due.Add(sweep)) {
					t.Errorf("%s (opened %s): first reminder at %s, want between %s and one sweep later", in.Ref(), in.Created.In(loc), first.In(loc), due.In(loc))
				}
				var n int
				e.st.db.QueryRow("SELECT count(*) FROM reminders WHERE incident_id = ? AND kind = ?", in.ID, reminderLeads).Scan(&n)
				if reminded[in.ID] != n {
					t.Errorf("%s: %d reminders to jane for %d intervals", in.Ref(), reminded[in.ID], n)
				}
				checked++
			}
			if checked < 10 {
				t.Errorf("only %d incidents' reminders were checked", checked)
			}
			if len(e.rowsTo(templates.LeadReminder, "hana@acme.example")) == 0 {
				t.Error("the head of support was never reminded")
			}

			// Check-ins: every reporter of a resolved incident, once, on time.
			checkins := map[int64]int{}
			for _, r := range rowsOf(e.outbox(), templates.Checkin) {
				checkins[r.IncidentID]++
				p := plans[r.IncidentID]
				due := bh.NextOpen(addDays(p.resolved, 72*time.Hour, loc))
				if r.Created.Before(due) || (r.Created.After(due.Add(sweep)) && !inDowntime(due, due)) {
					t.Errorf("check-in about %s at %s; resolved %s, due %s", Ref(r.IncidentID), r.Created.In(loc), p.resolved.In(loc), due.In(loc))
				}
			}
			for id, p := range plans {
				due := addDays(p.resolved, 72*time.Hour, loc)
				if p.resolved.IsZero() || !due.Before(end.Add(-48*time.Hour)) || inDowntime(due, due) {
					continue
				}
				if checkins[id] != 1 {
					t.Errorf("%s, resolved %s: %d check-ins, want 1", Ref(id), p.resolved.In(loc), checkins[id])
				}
			}
		})
	}
}

// TestDigestOffOn: a lead who answers a digest with DIGEST OFF gets none
// until DIGEST ON; the others get theirs.
func TestDigestOffOn(t *testing.T) {
	loc := mustZone(t, "Europe/Berlin")
	e := newTimeEnv(t, loc, time.Date(2026, 3, 9, 8, 0, 0, 0, loc))
	ctx := context.Background()
	s := e.scheduler(e.desk.DigestJob())
	week := func() {
		t.Helper()
		s.RunDue(ctx)
		e.clk.Advance(7 * 24 * time.Hour)
		if _, err := s.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s.RunDue(ctx) // first sight, 08:00
	e.clk.Advance(time.Hour)
	s.RunDue(ctx) // Monday 9 March, 09:00
	digests := e.rowsTo(templates.WeeklyDigest, omar.Address)
	if len(digests) != 1 {
		t.Fatalf("%d digests for omar", len(digests))
	}
	before := len(e.outbox())
	e.handle(e.command(e.mail(digests[0].ID), omar, "DIGEST OFF"), Processed)
	receipt := e.outbox()[before:]
	if summary(receipt) != "command_result→omar@acme.example" || !contains(e.mail(receipt[0].ID).Text, "will get no more weekly digests") {
		t.Fatalf("DIGEST OFF answered with %s", summary(receipt))
	}
	week()
	if got := len(e.rowsTo(templates.WeeklyDigest, omar.Address)); got != 1 {
		t.Errorf("omar got %d digests after DIGEST OFF, want still 1", got)
	}
	if got := len(e.rowsTo(templates.WeeklyDigest, jane.Address)); got != 2 {
		t.Errorf("jane got %d digests, want 2", got)
	}
	e.handle(e.command(e.mail(receipt[0].ID), omar, "digest on"), Processed)
	week()
	if got := len(e.rowsTo(templates.WeeklyDigest, omar.Address)); got != 2 {
		t.Errorf("omar got %d digests after DIGEST ON, want 2", got)
	}
	e.handle(e.command(e.mail(receipt[0].ID), omar, "DIGEST SOMETIMES"), Processed)
	last := e.outbox()[len(e.outbox())-1]
	if !contains(e.mail(last.ID).Text, "DIGEST OFF to stop the weekly digest") {
		t.Errorf("DIGEST SOMETIMES: %s", e.mail(last.ID).Text)
	}
}

// TestNoCheckin: a lead's NO-CHECKIN means no check-in for the incident.
func TestNoCheckin(t *testing.T) {
	loc := mustZone(t, "Europe/Berlin")
	e := newTimeEnv(t, loc, time.Date(2026, 3, 9, 10, 0, 0, 0, loc))
	ctx := context.Background()
	id, notices := e.report(jordan, "Invoice 4471")
	other, notices2 := e.report(casey, "Refund")
	e.handle(e.command(notices[jane.Address], jane, "NO-CHECKIN\nRESOLVE"), Processed)
	e.handle(e.command(notices2[jane.Address], jane, "RESOLVE"), Processed)
	s := e.scheduler(e.desk.CheckinJob())
	for e.clk.Now().Before(time.Date(2026, 3, 14, 0, 0, 0, 0, loc)) {
		if _, err := s.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(30 * time.Minute)
	}
	var got []string
	for _, r := range rowsOf(e.outbox(), templates.Checkin) {
		got = append(got, Ref(r.IncidentID))
	}
	if !slices.Equal(got, []string{Ref(other)}) {
		t.Errorf("check-ins about %v; want only %s (%s had NO-CHECKIN)", got, Ref(other), Ref(id))
	}
}

// TestReminders: reminders come at the right business moments, once per
// interval, also across restarts, never at night or at the weekend, the
// head of support after a business day; they stop when a lead acts.
func TestReminders(t *testing.T) {
	loc := mustZone(t, "Europe/Berlin")
	// Friday 6 March 2026, 15:00.
	e := newTimeEnv(t, loc, time.Date(2026, 3, 6, 15, 0, 0, 0, loc))
	ctx := context.Background()
	id, notices := e.report(jordan, "Invoice 4471")
	other, _ := e.report(casey, "Refund")
	e.clk.Advance(10 * time.Minute)
	e.handle(e.command(e.mail(rowsOf(e.outbox(), templates.LeadNotice)[2].ID), jane, "ASSIGN me"), Processed) // casey's: acted on
	s := e.scheduler(e.desk.ReminderJob())
	for i := 0; e.clk.Now().Before(time.Date(2026, 3, 10, 12, 0, 0, 0, loc)); i++ {
		if _, err := s.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			e.restart()
			s = e.scheduler(e.desk.ReminderJob())
		}
		if e.clk.Now().Equal(time.Date(2026, 3, 9, 16, 0, 0, 0, loc)) {
			e.handle(e.command(notices[omar.Address], omar, "NOTE looking into it"), Processed)
		}
		e.clk.Advance(5 * time.Minute)
	}
	var got []string
	for _, r := range rowsOf(e.outbox(), templates.LeadReminder) {
		if r.IncidentID != id {
			t.Errorf("a reminder about %s, which a lead acted on", Ref(r.IncidentID))
		}
		got = append(got, r.Created.In(loc).Format("Mon 15:04")+" "+r.Recipient)
	}
	want := []string{
		"Mon 11:00 jane@acme.example", "Mon 11:00 omar@acme.example", // 4 business hours: 2 on Friday, 2 on Monday
		"Mon 15:00 jane@acme.example", "Mon 15:00 omar@acme.example", "Mon 15:00 hana@acme.example", // 8: again, and the head of support
	}
	if !slices.Equal(got, want) {
		t.Errorf("reminders:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_ = other
	m := e.mail(rowsOf(e.outbox(), templates.LeadReminder)[4].ID)
	if m.Subject != "["+Ref(id)+"] Still waiting on a lead: Jordan Miles, 8 h" || !contains(m.Text, "As head of support you get this reminder too") ||
		!contains(m.Text, "Reply HELP: one word on the first line.") {
		t.Errorf("head of support's reminder:\n%s\n\n%s", m.Subject, m.Text)
	}
	m = e.mail(rowsOf(e.outbox(), templates.LeadReminder)[0].ID)
	if m.Subject != "["+Ref(id)+"] Waiting on a lead: Jordan Miles, 4 h" || !contains(m.Text, "no lead has acted on it yet: 4 h of business hours") ||
		!contains(m.Text, "ASSIGN me takes it") {
		t.Errorf("the leads' reminder:\n%s\n\n%s", m.Subject, m.Text)
	}
	for _, w := range contentWords[:3] {
		if strings.Contains(m.Text, w) {
			t.Errorf("a reminder shows %q", w)
		}
	}
}

// TestCheckins: a check-in goes once to each reporter, days after the
// incident was resolved or severed, within business hours; not to those
// who handed off; the answer lands on the incident for the leads and never
// in a digest.
func TestCheckins(t *testing.T) {
	loc := mustZone(t, "Australia/Sydney")
	// Tuesday 31 March 2026, 10:00.
	e := newTimeEnv(t, loc, time.Date(2026, 3, 31, 10, 0, 0, 0, loc))
	ctx := context.Background()
	id, notices := e.report(jordan, "Invoice 4471")
	e.handle(e.command(notices[jane.Address], jane, "RESOLVE"), Processed)
	// Alex reported another and handed off; Sam added to it.
	e.handle(e.forward(alex, abuse(casey, "Refund", "Pathetic.", e.clk.Now())), Processed)
	id2 := e.incidents()[0].ID
	var ack2, n2 *OutMail
	for _, r := range e.outbox() {
		if r.IncidentID == id2 && r.Template == templates.ReporterAck {
			ack2 = e.mail(r.ID)
		}
		if r.IncidentID == id2 && r.Template == templates.LeadNotice && r.Recipient == omar.Address {
			n2 = e.mail(r.ID)
		}
	}
	e.handle(e.command(ack2, alex, "HANDOFF"), Processed)
	e.handle(e.forward(sam, abuse(casey, "Refund", "Again.", e.clk.Now())), Processed)

	s := e.scheduler(e.desk.CheckinJob())
	for i := 0; e.clk.Now().Before(time.Date(2026, 4, 14, 0, 0, 0, 0, loc)); i++ {
		if e.clk.Now().Equal(time.Date(2026, 4, 3, 16, 30, 0, 0, loc)) { // Friday afternoon
			e.handle(e.command(n2, omar, "SEVER"), Processed)
		}
		if _, err := s.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			e.restart()
			s = e.scheduler(e.desk.CheckinJob())
		}
		e.clk.Advance(15 * time.Minute)
	}
	var got []string
	for _, r := range rowsOf(e.outbox(), templates.Checkin) {
		got = append(got, fmt.Sprintf("%s %s %s", Ref(r.IncidentID), r.Created.In(loc).Format("Mon 2 Jan 15:04"), r.Recipient))
	}
	want := []string{
		Ref(id) + " Fri 3 Apr 10:00 sam@acme.example",  // resolved Tuesday 10:00, + 72 h
		Ref(id2) + " Mon 6 Apr 16:30 sam@acme.example", // severed Friday 16:30, + 3 days across the DST change; alex handed off
	}
	if !slices.Equal(got, want) {
		t.Errorf("check-ins:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, ev := e.incident(id2)
	if !hasEvent(ev, EventCheckin, "alex@acme.example skipped: they handed off") {
		t.Error("the skipped check-in is not on the record")
	}

	// Sam answers; the leads get it, Sam gets no receipt.
	checkin := e.mail(rowsOf(e.outbox(), templates.Checkin)[0].ID)
	before := len(e.outbox())
	e.handle(e.replyTo(checkin, sam, "Thanks for asking. Honestly it shook me, I could use a day off."), Processed)
	if got := summary(e.outbox()[before:]); got != "checkin_reply→jane@acme.example checkin_reply→omar@acme.example" {
		t.Errorf("after the answer: %s", got)
	}
	_, ev = e.incident(id)
	if !hasEvent(ev, EventCheckinReply, "it shook me") {
		t.Error("the answer is not recorded on the incident")
	}
	start, end := DigestPeriod(time.Date(2026, 4, 13, 9, 0, 0, 0, loc), loc)
	mails, err := e.desk.PreviewDigest(ctx, start, end)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mails[0].Text+mails[0].HTML, "shook") {
		t.Error("the answer to a check-in reached a digest")
	}
}

// TestCheckinAfterHandoff: with checkins.after_handoff, a reporter who
// replied HANDOFF is checked on too.
func TestCheckinAfterHandoff(t *testing.T) {
	loc := mustZone(t, "America/New_York")
	for _, after := range []bool{false, true} {
		e := newTimeEnv(t, loc, time.Date(2026, 3, 2, 10, 0, 0, 0, loc), func(c *Config) { c.Time.CheckinAfterHandoff = after })
		ctx := context.Background()
		_, notices := e.report(jordan, "Invoice 4471")
		ack := e.mail(rowsOf(e.outbox(), templates.ReporterAck)[0].ID)
		e.handle(e.command(ack, sam, "HANDOFF"), Processed)
		e.handle(e.command(notices[jane.Address], jane, "RESOLVE"), Processed)
		s := e.scheduler(e.desk.CheckinJob())
		for e.clk.Now().Before(time.Date(2026, 3, 7, 0, 0, 0, 0, loc)) {
			if _, err := s.RunDue(ctx); err != nil {
				t.Fatal(err)
			}
			e.clk.Advance(time.Hour)
		}
		want := 0
		if after {
			want = 1
		}
		if got := len(e.rowsTo(templates.Checkin, sam.Address)); got != want {
			t.Errorf("after_handoff %v: %d check-ins to a reporter who handed off, want %d", after, got, want)
		}
	}
}

// TestCheckinTooLate: a check-in that fell due more than CheckinLate ago
// (backstop was down) is not sent, and its skip is on the record, once.
func TestCheckinTooLate(t *testing.T) {
	loc := mustZone(t, "Australia/Sydney")
	e := newTimeEnv(t, loc, time.Date(2026, 3, 31, 10, 0, 0, 0, loc))
	ctx := context.Background()
	id, notices := e.report(jordan, "Invoice 4471")
	e.handle(e.command(notices[jane.Address], jane, "RESOLVE"), Processed)
	e.clk.Advance(14 * 24 * time.Hour) // Tuesday 14 April, 10:00: due Friday 3 April
	for range 2 {
		s := e.scheduler(e.desk.CheckinJob())
		if _, err := s.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(time.Hour)
	}
	if got := rowsOf(e.outbox(), templates.Checkin); len(got) != 0 {
		t.Errorf("%d check-ins sent 11 days late, want none", len(got))
	}
	_, ev := e.incident(id)
	n := 0
	for _, x := range ev {
		if x.Kind == EventCheckin {
			n++
			if !strings.Contains(x.Detail, "sam@acme.example skipped: it fell due Fri 3 Apr 2026 10:00") {
				t.Errorf("check-in event %q", x.Detail)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d check-in events, want the skip recorded once", n)
	}
}
