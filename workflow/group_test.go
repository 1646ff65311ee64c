package workflow

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// groupInputs is a backlog: forwards about three customers, one of whom is
// reported twice (the second forward joins the first incident).
func groupInputs(e *env) []*Inbound {
	var ins []*Inbound
	for i, c := range []string{"a", "b", "a", "c"} {
		who := Person{Name: "Customer " + c, Address: c + "@globex.example"}
		ins = append(ins, e.forward(sam, abuse(who, "s", fmt.Sprintf("body %d", i), e.clk.Now())))
	}
	return ins
}

// storeSummary describes what a store recorded, for comparisons.
func storeSummary(e *env) string {
	var b strings.Builder
	for _, inc := range e.incidents() {
		_, events := e.incident(inc.ID)
		var kinds []string
		for _, ev := range events {
			kinds = append(kinds, ev.Kind)
		}
		fmt.Fprintf(&b, "%s %s %s [%s]\n", inc.Ref(), inc.State, inc.Customer.Address, strings.Join(kinds, " "))
	}
	b.WriteString(summary(e.outbox()))
	fmt.Fprintf(&b, "\nmessages %d", e.count("SELECT count(*) FROM messages"))
	return b.String()
}

// TestGroupEqualsOneByOne: a backlog recorded in one group leaves the store
// as handling it message by message does.
func TestGroupEqualsOneByOne(t *testing.T) {
	ctx := context.Background()
	one := newEnv(t)
	for _, in := range groupInputs(one) {
		one.handle(in, Processed)
	}
	grouped := newEnv(t)
	g, err := grouped.desk.BeginGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range groupInputs(grouped) {
		if disp, err := g.Handle(ctx, in); err != nil || disp != Processed {
			t.Fatalf("Group.Handle(uid %d) = %v, %v", in.UID, disp, err)
		}
	}
	if g.Len() != 4 {
		t.Errorf("Len = %d, want 4", g.Len())
	}
	if err := g.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, want := storeSummary(grouped), storeSummary(one); got != want {
		t.Errorf("grouped store:\n%s\n\none by one:\n%s", got, want)
	}
	verifyChains(t, grouped)
}

// TestGroupFailureIsAlone: a message that fails inside a group is rolled
// back alone; the others commit, and the row ids it took are given again.
func TestGroupFailureIsAlone(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	// A failure injected in the real database: inserting b's incident fails.
	if _, err := e.st.db.Exec(`CREATE TEMP TRIGGER fail_b BEFORE INSERT ON incidents
		WHEN NEW.customer_address = 'b@globex.example' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	ins := groupInputs(e)
	g, err := e.desk.BeginGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range ins {
		_, err := g.Handle(ctx, in)
		if (err != nil) != (i == 1) {
			t.Fatalf("Group.Handle(message %d) error = %v", i, err)
		}
	}
	if err := g.Commit(); err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, inc := range e.incidents() {
		refs = append(refs, inc.Ref()+" "+inc.Customer.Address)
	}
	if got, want := strings.Join(refs, ", "), "INC-2 c@globex.example, INC-1 a@globex.example"; got != want {
		t.Errorf("incidents = %s, want %s", got, want)
	}
	if n := e.count("SELECT count(*) FROM messages WHERE uid = ?", ins[1].UID); n != 0 {
		t.Errorf("the failed message left %d row(s)", n)
	}
	verifyChains(t, e)

	// Offered again once the fault is gone, it is recorded like any other.
	if _, err := e.st.db.Exec("DROP TRIGGER fail_b"); err != nil {
		t.Fatal(err)
	}
	e.handle(ins[1], Processed)
	if n := len(e.incidents()); n != 3 {
		t.Errorf("%d incidents after the retry, want 3", n)
	}
}

// TestGroupRollback: nothing of a group rolled back is recorded, and a
// group cannot be used after it ended.
func TestGroupRollback(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	g, err := e.desk.BeginGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ins := groupInputs(e)
	if _, err := g.Handle(ctx, ins[0]); err != nil {
		t.Fatal(err)
	}
	g.Rollback()
	if n := e.count("SELECT count(*) FROM messages"); n != 0 {
		t.Errorf("%d message(s) recorded after Rollback", n)
	}
	if len(e.outbox()) != 0 {
		t.Error("mail queued after Rollback")
	}
	if _, err := g.Handle(ctx, ins[1]); err == nil {
		t.Error("Handle after Rollback succeeded")
	}
	if err := g.Commit(); err == nil {
		t.Error("Commit after Rollback succeeded")
	}
	e.handle(ins[0], Processed) // the store is usable again
}

func verifyChains(t *testing.T, e *env) {
	t.Helper()
	r, err := e.st.Verify(context.Background(), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Errorf("audit trail broken: %+v", r.Problems)
	}
}

// TestGroupContextEnds: when the group's context ends before Commit, the
// transaction is rolled back: Commit fails, nothing is recorded, and the
// messages are recorded when offered again.
func TestGroupContextEnds(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	g, err := e.desk.BeginGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ins := groupInputs(e)
	for _, in := range ins[:2] {
		if _, err := g.Handle(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := g.Commit(); err == nil {
		t.Fatal("Commit succeeded after the group's context ended")
	}
	if n := e.count("SELECT count(*) FROM messages"); n != 0 {
		t.Errorf("%d message(s) recorded by a group whose commit failed", n)
	}
	if len(e.outbox()) != 0 {
		t.Error("mail queued by a group whose commit failed")
	}
	for _, in := range ins[:2] {
		e.handle(in, Processed)
	}
	if n := len(e.incidents()); n != 2 {
		t.Errorf("%d incidents after the messages were offered again, want 2", n)
	}
	verifyChains(t, e)
}
