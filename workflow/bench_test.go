package workflow

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkHandleForward measures recording a new incident: the message,
// evidence, events and two outbox rows in one transaction.
func BenchmarkHandleForward(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.MaxPerRecipientHour = 1 << 30; c.MaxPerIncidentHour = 1 << 30 })
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		in := e.forward(sam, abuse(Person{Address: fmt.Sprintf("c%d@globex.example", i)}, "s", "body", e.clk.Now()))
		if _, err := e.desk.Handle(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandleDuplicate measures the dedupe path of a redelivery.
func BenchmarkHandleDuplicate(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	in := e.forward(sam, abuse(jordan, "s", "body", e.clk.Now()))
	if _, err := e.desk.Handle(ctx, in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.desk.Handle(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandleCommand measures a verified lead's STATUS: verification,
// the incident's state, events and emails, and a receipt.
func BenchmarkHandleCommand(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.MaxPerRecipientHour = 1 << 30; c.MaxPerIncidentHour = 1 << 30 })
	ctx := context.Background()
	if _, err := e.desk.Handle(ctx, e.forward(sam, abuse(jordan, "s", "body", e.clk.Now()))); err != nil {
		b.Fatal(err)
	}
	notice := e.mail(2)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.desk.Handle(ctx, e.command(notice, jane, "STATUS")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandleForwardGrouped is BenchmarkHandleForward with the
// forwards recorded in groups of 50, as a backlog's window is.
func BenchmarkHandleForwardGrouped(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.MaxPerRecipientHour = 1 << 30; c.MaxPerIncidentHour = 1 << 30 })
	ctx := context.Background()
	b.ReportAllocs()
	var g *Group
	for i := 0; b.Loop(); i++ {
		if g == nil {
			var err error
			if g, err = e.desk.BeginGroup(ctx); err != nil {
				b.Fatal(err)
			}
		}
		in := e.forward(sam, abuse(Person{Address: fmt.Sprintf("c%d@globex.example", i)}, "s", "body", e.clk.Now()))
		if _, err := g.Handle(ctx, in); err != nil {
			b.Fatal(err)
		}
		if g.Len() == 50 {
			if err := g.Commit(); err != nil {
				b.Fatal(err)
			}
			g = nil
		}
	}
	if g != nil {
		if err := g.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
