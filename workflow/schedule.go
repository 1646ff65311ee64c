package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// A Schedule says when a job is due.
type Schedule interface {
	// Next returns the first due moment strictly after t.
	Next(t time.Time) time.Time
}

// Weekly is due once a week, at a wall-clock time in Location (nil = UTC):
// "Monday 09:00 Europe/Berlin" stays 09:00 local across DST changes. A time
// that a DST change skips (02:30 on the night clocks go forward) is taken
// as time.Date normalises it, once.
type Weekly struct {
	Day          time.Weekday
	Hour, Minute int
	Location     *time.Location
}

// Next implements Schedule.
func (w Weekly) Next(t time.Time) time.Time {
	return nextAt(t, w.Location, w.Hour, w.Minute, func(d time.Weekday) bool { return d == w.Day })
}

// String reads like "Monday 09:00 Europe/Berlin".
func (w Weekly) String() string {
	return fmt.Sprintf("%s %02d:%02d %s", w.Day, w.Hour, w.Minute, orUTC(w.Location))
}

// Daily is due once a day at a wall-clock time in Location (nil = UTC).
type Daily struct {
	Hour, Minute int
	Location     *time.Location
}

// Next implements Schedule.
func (d Daily) Next(t time.Time) time.Time {
	return nextAt(t, d.Location, d.Hour, d.Minute, func(time.Weekday) bool { return true })
}

// nextAt returns the first moment strictly after t at hour:minute on the
// wall clock of loc (nil = UTC), on a day whose weekday on accepts.
func nextAt(t time.Time, loc *time.Location, hour, minute int, on func(time.Weekday) bool) time.Time {
	loc = orUTC(loc)
	lt := t.In(loc)
	for i := 0; i <= 8; i++ {
		d := time.Date(lt.Year(), lt.Month(), lt.Day()+i, hour, minute, 0, 0, loc)
		if on(d.Weekday()) && d.After(t) {
			return d
		}
	}
	panic("workflow: no due moment in 9 days") // unreachable: every weekday occurs in 8 days
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

// Every is due at every multiple of the duration (since the zero time):
// for sweeps that find their own work, such as reminders.
type Every time.Duration

// Next implements Schedule.
func (e Every) Next(t time.Time) time.Time {
	d := time.Duration(e)
	if d <= 0 {
		d = time.Minute
	}
	return t.Truncate(d).Add(d)
}

// A Job is work the Scheduler runs when its Schedule says it is due.
type Job struct {
	// Name identifies the job's record in the store; keep it stable
	// ("digest", "reminders", "retention").
	Name     string
	Schedule Schedule
	// Run does the work for due: the latest due moment not yet run (when
	// the daemon was down over several, they collapse into this one run).
	// It runs inside tx, and the scheduler records the run in the same
	// transaction: whatever Run writes (the mail it queues) and the record
	// commit together, or not at all. An error rolls both back; the run is
	// tried again later.
	Run func(ctx context.Context, tx *sql.Tx, due time.Time) error
}

// SchedulerConfig tunes a Scheduler. The zero value is the production
// setting.
type SchedulerConfig struct {
	// Now is the clock (nil = time.Now); tests run in virtual time.
	Now func() time.Time
	// Sleep waits d or until ctx is done (nil = a timer).
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxSleep bounds each wait, so that a changed wall clock or a
	// failed run is looked at again soon (default 1 minute).
	MaxSleep time.Duration
	Logger   *slog.Logger // nil = slog.Default()
}

// A Scheduler runs jobs at their due moments, exactly once each, across
// restarts: a run that fell due while backstop was down happens once at
// start-up (several missed runs collapse into one), and a run interrupted
// by a crash happens again, because nothing of it was committed.
//
// A job seen for the first time starts from the moment it is first seen:
// installing backstop does not send last week's digest.
type Scheduler struct {
	st   *Store
	cfg  SchedulerConfig
	jobs []Job
}

// NewScheduler returns a scheduler recording its runs in st.
func NewScheduler(st *Store, cfg SchedulerConfig) *Scheduler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.MaxSleep <= 0 {
		cfg.MaxSleep = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Scheduler{st: st, cfg: cfg}
}

// Add registers a job. Names must be unique. Add before Run.
func (s *Scheduler) Add(j Job) error {
	if j.Name == "" || j.Schedule == nil || j.Run == nil {
		return errors.New("workflow: a scheduled job needs a name, a schedule and a run function")
	}
	if slices.ContainsFunc(s.jobs, func(o Job) bool { return o.Name == j.Name }) {
		return fmt.Errorf("workflow: job %q is scheduled twice", j.Name)
	}
	s.jobs = append(s.jobs, j)
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run runs due jobs until ctx is done. A failing job is logged and tried
// again after MaxSleep; it never stops the others.
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		next, err := s.RunDue(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := s.cfg.MaxSleep
		if err == nil && !next.IsZero() {
			if d := next.Sub(s.cfg.Now()); d < wait {
				wait = max(d, 0)
			}
		}
		if err := s.cfg.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// RunDue runs every job that is due now, once, and returns the earliest
// moment a job falls due next. Errors of the jobs are joined; each job's
// run is committed or rolled back on its own.
func (s *Scheduler) RunDue(ctx context.Context) (time.Time, error) {
	var errs []error
	var next time.Time
	for _, j := range s.jobs {
		n, err := s.runJob(ctx, j)
		if err != nil && ctx.Err() != nil {
			return next, ctx.Err() // stopping: nothing failed
		}
		if err != nil {
			s.cfg.Logger.Error("scheduled job failed; it will be tried again", "job", j.Name, "err", err)
			errs = append(errs, fmt.Errorf("job %s: %w", j.Name, err))
			continue
		}
		if next.IsZero() || n.Before(next) {
			next = n
		}
	}
	return next, errors.Join(errs...)
}

// runJob runs j if it is due, in one transaction with its record, and
// returns when it is due next.
func (s *Scheduler) runJob(ctx context.Context, j Job) (time.Time, error) {
	var next time.Time
	err := s.st.tx(ctx, func(tx *sql.Tx) error {
		now := s.cfg.Now()
		var last int64
		err := tx.QueryRowContext(ctx, "SELECT due_at FROM schedule_runs WHERE name = ?", j.Name).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			// First sight: start from now.
			next = j.Schedule.Next(now)
			_, err = tx.ExecContext(ctx, "INSERT INTO schedule_runs (name, due_at, done_at) VALUES (?, ?, ?)", j.Name, ms(now), ms(now))
			return err
		}
		if err != nil {
			return fmt.Errorf("reading the schedule: %w", err)
		}
		due := j.Schedule.Next(time.UnixMilli(last))
		if due.After(now) {
			next = due
			return nil
		}
		missed := 0
		for n := j.Schedule.Next(due); !n.After(now); n = j.Schedule.Next(due) {
			due = n
			missed++
		}
		if err := j.Run(ctx, tx, due); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "UPDATE schedule_runs SET due_at = ?, done_at = ? WHERE name = ? AND due_at = ?", ms(due), ms(now), j.Name, last)
		if err != nil {
			return fmt.Errorf("recording the run: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errors.New("another backstop ran it at the same time; nothing was recorded twice")
		}
		next = j.Schedule.Next(due)
		if missed > 0 {
			s.cfg.Logger.Info("scheduled job ran late; missed runs collapsed into one", "job", j.Name, "due", due, "missed", missed)
		} else {
			s.cfg.Logger.Debug("scheduled job ran", "job", j.Name, "due", due)
		}
		return nil
	})
	return next, err
}
