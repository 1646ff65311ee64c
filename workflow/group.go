package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// A Group records several messages in one transaction, for a backlog that
// arrives together: each message in a savepoint of its own, so that one
// that fails is rolled back alone, and all of them made durable by one
// Commit. Within the group each message sees what the ones before it
// recorded, exactly as if each had committed on its own; only the moment
// they become durable moves, to Commit. Nothing outside the store may act
// on a message of a group before Commit returned nil: the mail it queued
// is not visible to the dispatcher until then, and the caller moves the
// messages out of the mailbox only after it. A crash before Commit
// records none of them, and they are all offered again.
//
// A Group holds the store's one connection until Commit or Rollback:
// the dispatcher and the scheduler wait meanwhile, so keep it to a run of
// messages that are at hand.
type Group struct {
	d     *Desk
	tx    *sql.Tx
	done  []func() // logs and observer calls, once committed
	count int
}

// BeginGroup starts a group. ctx bounds the whole group: when it ends, the
// transaction is rolled back (give it one that outlives a shutdown
// request, so that messages in hand are finished).
func (d *Desk) BeginGroup(ctx context.Context) (*Group, error) {
	tx, err := d.st.begin(ctx)
	if err != nil {
		return nil, err
	}
	return &Group{d: d, tx: tx}, nil
}

// Len returns how many messages the group recorded so far.
func (g *Group) Len() int { return g.count }

// Handle decides and records in within the group, like Desk.Handle. An
// error means that message was rolled back (the others stay): the caller
// should offer it again, after committing the group or within it.
func (g *Group) Handle(ctx context.Context, in *Inbound) (disp Disposition, err error) {
	if in == nil {
		return 0, errors.New("workflow: Handle called without a message")
	}
	if g.tx == nil {
		return 0, errors.New("workflow: Handle called on a group already committed or rolled back")
	}
	// The message in hand is finished even when ctx ends (a shutdown):
	// its statements take microseconds, and the group's own context
	// (BeginGroup) still bounds the transaction. A context that can end
	// would also cost database/sql a goroutine for every query, to
	// watch it.
	ctx = context.WithoutCancel(ctx)
	if _, err := g.tx.ExecContext(ctx, "SAVEPOINT message"); err != nil {
		return 0, g.d.notRecorded(in, fmt.Errorf("store: starting a savepoint: %w", err))
	}
	ok := false
	defer func() {
		if ok {
			return
		}
		// An error or a panic: undo this message only, and count the
		// row ids afresh (nextID), since its rows are gone.
		g.d.st.forgetIDs()
		_, rerr := g.tx.ExecContext(ctx, "ROLLBACK TO message")
		if rerr == nil {
			_, rerr = g.tx.ExecContext(ctx, "RELEASE message")
		}
		if rerr != nil {
			// The transaction itself is broken: nothing of the group can
			// be committed any more.
			g.rollback()
			err = errors.Join(err, fmt.Errorf("store: rolling back a savepoint: %w; the group's earlier messages were not recorded either", rerr))
		}
	}()
	h, disp, err := g.d.handleIn(ctx, g.tx, in)
	if err != nil {
		return 0, g.d.notRecorded(in, err)
	}
	if _, err := g.tx.ExecContext(ctx, "RELEASE message"); err != nil {
		return 0, g.d.notRecorded(in, fmt.Errorf("store: releasing a savepoint: %w", err))
	}
	ok = true
	g.count++
	g.done = append(g.done, func() { g.d.handled(h, disp) })
	return disp, nil
}

// Commit makes every message of the group durable. An error means none of
// them was recorded.
func (g *Group) Commit() error {
	if g.tx == nil {
		return errors.New("workflow: the group was rolled back; its messages were not recorded")
	}
	err := g.tx.Commit()
	g.tx = nil
	if err != nil {
		return fmt.Errorf("store: committing %d message(s): %w", g.count, err)
	}
	g.d.st.askCheckpoint()
	for _, f := range g.done {
		f()
	}
	g.done = nil
	return nil
}

// Rollback abandons the group: none of its messages is recorded. It does
// nothing after Commit.
func (g *Group) Rollback() {
	g.rollback()
}

func (g *Group) rollback() {
	if g.tx != nil {
		g.tx.Rollback()
		g.tx = nil
		g.d.st.forgetIDs()
	}
	g.done = nil
}
