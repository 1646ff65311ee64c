package workflow

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s not available: %v", name, err)
	}
	return loc
}

// The DST changes of 2026 in the three zones the tests use.
var dstZones = []struct {
	zone   string
	change time.Time // a day on which the offset changes (local date)
}{
	{"Europe/Berlin", time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC)},
	{"America/New_York", time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)},
	{"Australia/Sydney", time.Date(2026, 4, 5, 12, 0, 0, 0, time.UTC)},
}

func TestWeeklyAcrossDST(t *testing.T) {
	for _, z := range dstZones {
		t.Run(z.zone, func(t *testing.T) {
			loc := mustZone(t, z.zone)
			w := Weekly{Day: time.Monday, Hour: 9, Location: loc}
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
			offsets := map[int]bool{}
			for i := 0; i < 52; i++ {
				next := w.Next(at)
				lt := next.In(loc)
				if lt.Weekday() != time.Monday || lt.Hour() != 9 || lt.Minute() != 0 {
					t.Fatalf("run %d at %s, want Monday 09:00 local", i, lt)
				}
				if i > 0 {
					prev := at.In(loc)
					if d := lt.YearDay() - prev.YearDay(); d != 7 && d != 7-365 {
						t.Fatalf("run %d is %d days after the previous", i, d)
					}
				}
				_, off := lt.Zone()
				offsets[off] = true
				at = next
			}
			if len(offsets) != 2 {
				t.Errorf("a year of runs saw offsets %v; want a DST change", offsets)
			}
		})
	}
}

func TestWeeklySkippedHour(t *testing.T) {
	loc := mustZone(t, "Europe/Berlin")
	// 02:30 does not exist on 29 March 2026 in Berlin: it runs once that day.
	w := Weekly{Day: time.Sunday, Hour: 2, Minute: 30, Location: loc}
	at := time.Date(2026, 3, 28, 12, 0, 0, 0, loc)
	first := w.Next(at)
	second := w.Next(first)
	if first.In(loc).Day() != 29 || second.In(loc).Day() != 5 {
		t.Errorf("runs at %s and %s; want one on 29 March, the next on 5 April", first.In(loc), second.In(loc))
	}
}

func TestEveryAndDaily(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 7, 0, 0, time.UTC)
	if got := Every(5 * time.Minute).Next(at); !got.Equal(time.Date(2026, 3, 2, 10, 10, 0, 0, time.UTC)) {
		t.Errorf("Every(5m).Next = %s", got)
	}
	loc := mustZone(t, "America/New_York")
	d := Daily{Hour: 3, Location: loc}
	got := d.Next(time.Date(2026, 3, 7, 12, 0, 0, 0, loc))
	if lt := got.In(loc); lt.Day() != 8 || lt.Hour() != 3 {
		t.Errorf("Daily 03:00 after 7 March noon = %s", lt)
	}
}

func TestBusinessHours(t *testing.T) {
	loc := mustZone(t, "Europe/Berlin")
	bh := DefaultBusinessHours(loc)
	at := func(day, h, m int) time.Time { return time.Date(2026, 3, day, h, m, 0, 0, loc) } // 2 March 2026 is a Monday
	tests := []struct {
		name string
		from time.Time
		add  time.Duration
		want time.Time
	}{
		{"within the day", at(2, 10, 0), 4 * time.Hour, at(2, 14, 0)},
		{"over the evening", at(2, 15, 0), 4 * time.Hour, at(3, 11, 0)},
		{"over the weekend", at(6, 15, 0), 4 * time.Hour, at(9, 11, 0)},
		{"reported on Saturday", at(7, 11, 0), 4 * time.Hour, at(9, 13, 0)},
		{"reported at night", at(3, 23, 0), time.Hour, at(4, 10, 0)},
		{"ends at closing: next opening", at(2, 13, 0), 4 * time.Hour, at(3, 9, 0)},
		{"one business day", at(6, 15, 0), 8 * time.Hour, at(9, 15, 0)},
		{"across the DST change", at(27, 16, 0), 2 * time.Hour, at(30, 10, 0)},
		{"zero outside hours", at(7, 11, 0), 0, at(9, 9, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bh.Add(tt.from, tt.add)
			if !got.Equal(tt.want) {
				t.Errorf("Add(%s, %s) = %s, want %s", tt.from, tt.add, got.In(loc), tt.want)
			}
			if !bh.Open(got) {
				t.Errorf("Add returned %s, outside business hours", got.In(loc))
			}
			if el := bh.Elapsed(tt.from, got); el != tt.add {
				t.Errorf("Elapsed(%s, %s) = %s, want %s", tt.from, got.In(loc), el, tt.add)
			}
		})
	}
	if bh.Open(at(7, 12, 0)) || bh.Open(at(2, 17, 0)) || bh.Open(at(2, 8, 59)) || !bh.Open(at(2, 9, 0)) {
		t.Error("Open: Saturday, 17:00 and 08:59 are closed; 09:00 on Monday is open")
	}
	if got := bh.String(); got != "Mon–Fri 09:00–17:00 Europe/Berlin" {
		t.Errorf("String() = %q", got)
	}
}

// TestSchedulerRunsOnce: a job runs once per due moment, missed runs
// collapse into one, a failed run is retried, and a restart (a new
// scheduler on the same store) repeats nothing.
func TestSchedulerRunsOnce(t *testing.T) {
	st := newStore(t)
	clk := &clock{t: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)}
	var runs []time.Time
	fail := false
	job := Job{Name: "test", Schedule: Daily{Hour: 9}, Run: func(ctx context.Context, tx *sql.Tx, due time.Time) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO digest_optout (address, at) VALUES (?, ?)", due.String(), ms(due)); err != nil {
			return err
		}
		if fail {
			return errors.New("crash")
		}
		runs = append(runs, due)
		return nil
	}}
	newSched := func() *Scheduler {
		s := NewScheduler(st, SchedulerConfig{Now: clk.Now, Logger: quiet})
		if err := s.Add(job); err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	s := newSched()
	s.RunDue(ctx) // first sight: no run
	clk.Advance(30 * time.Minute)
	s.RunDue(ctx)
	if len(runs) != 0 {
		t.Fatalf("ran before 09:00: %v", runs)
	}
	clk.Advance(time.Hour) // 09:30
	s.RunDue(ctx)
	s.RunDue(ctx)
	newSched().RunDue(ctx)
	if len(runs) != 1 {
		t.Fatalf("runs = %v, want one", runs)
	}
	clk.Advance(3*24*time.Hour + time.Hour) // down over three 09:00s
	fail = true
	if _, err := newSched().RunDue(ctx); err == nil {
		t.Fatal("a failing run reported no error")
	}
	fail = false
	next, err := newSched().RunDue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || !runs[1].Equal(time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("runs = %v, want the missed three collapsed into one for 5 March", runs)
	}
	if !next.Equal(time.Date(2026, 3, 6, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("next = %s", next)
	}
	var n int
	st.db.QueryRow("SELECT count(*) FROM digest_optout").Scan(&n)
	if n != 2 {
		t.Errorf("%d runs committed their work, want 2 (the failed one rolled back)", n)
	}
}
