package workflow

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkDigest100k builds the weekly digest with 100,000 incidents in
// the store: two years of them (about 960 a week), each with its report
// event and, for most, a lead's command; 5% still open. The goal is under
// a second.
func BenchmarkDigest100k(b *testing.B) {
	loc := time.UTC
	e := newEnv(b, func(c *Config) { c.Leads = []Person{jane, omar} })
	ctx := context.Background()
	end := time.Date(2026, 3, 9, 0, 0, 0, 0, loc)
	first := end.AddDate(-2, 0, 0)
	span := end.Sub(first)
	r := rand.New(rand.NewPCG(1, 2))
	states := []string{StateResolved, StateClosed, StateResolved, StateClosed, StateSevered, StateResolved}
	err := e.st.tx(ctx, func(tx *sql.Tx) error {
		inc, err := tx.PrepareContext(ctx, `INSERT INTO incidents (state, customer_address, customer_name, organisation,
			reporter_address, reporter_name, subject, created_at, updated_at, closed_at, severed_at) VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		ev, err := tx.PrepareContext(ctx, `INSERT INTO events (incident_id, at, actor, kind, detail) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		for i := range 100_000 {
			created := first.Add(time.Duration(r.Int64N(int64(span))))
			st := states[r.IntN(len(states))]
			if r.IntN(20) == 0 {
				st = StateReported
			}
			c := r.IntN(20_000)
			var closed, severed sql.NullInt64
			if !IsOpen(st) {
				closed = sql.NullInt64{Int64: ms(created.Add(48 * time.Hour)), Valid: true}
			}
			if st == StateSevered {
				severed = sql.NullInt64{Int64: ms(created.Add(5 * time.Hour)), Valid: true}
			}
			res, err := inc.ExecContext(ctx, st, fmt.Sprintf("c%d@org%d.example", c, c%2000), fmt.Sprintf("Customer %d", c),
				fmt.Sprintf("org%d.example", c%2000), fmt.Sprintf("t%d@acme.example", i%50), fmt.Sprintf("Teammate %d", i%50),
				ms(created), ms(created), closed, severed)
			if err != nil {
				return err
			}
			id, _ := res.LastInsertId()
			if _, err := ev.ExecContext(ctx, id, ms(created), "t@acme.example", EventReported, "reported"); err != nil {
				return err
			}
			if st != StateReported {
				verb := []string{"ASSIGN me", "BOUNDARY", "SEVER", "RESOLVE", "APOLOGY"}[r.IntN(5)]
				at := created.Add(time.Duration(r.Int64N(int64(8 * time.Hour))))
				if _, err := ev.ExecContext(ctx, id, ms(at), jane.Address, EventCommand, verb+": done"); err != nil {
					return err
				}
			}
			_ = i
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	start := end.AddDate(0, 0, -7)
	now := end.Add(9 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		g, err := e.desk.buildDigest(ctx, e.st.db, start, end, now)
		if err != nil {
			b.Fatal(err)
		}
		if g.Opened == 0 {
			b.Fatal("no incidents in the week")
		}
	}
}
