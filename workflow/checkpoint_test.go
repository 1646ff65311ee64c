package workflow

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"
)

// TestRunCheckpoints: while RunCheckpoints runs, commits leave the WAL to
// it (the writer's automatic checkpoint is off), it copies the WAL into
// the database when a group commits, so that the next writer starts the
// WAL afresh; when it returns, SQLite's own checkpoints are back.
func TestRunCheckpoints(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	autoCheckpoint := func() int {
		var n int
		if err := st.db.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	walFrames := func() int {
		// A PASSIVE checkpoint of nothing new reports the WAL's size.
		var busy, frames, done int
		if err := st.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done); err != nil {
			t.Fatal(err)
		}
		return frames
	}
	write := func(n int) {
		for i := 0; i < n; i++ {
			err := st.tx(ctx, func(tx *sql.Tx) error {
				return st.appendEvent(ctx, tx, 0, time.Now(), Actor, "test", strings.Repeat("x", 6000), "")
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := autoCheckpoint(); got != defaultAutoCheckpoint {
		t.Fatalf("wal_autocheckpoint before = %d, want SQLite's default %d", got, defaultAutoCheckpoint)
	}

	checkpoints := make(chan [2]int, 100)
	st.afterCheckpoint = func(frames, copied int) { checkpoints <- [2]int{frames, copied} }
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.RunCheckpoints(runCtx, time.Hour) }()
	// The first checkpoint is asked for by a commit; wait for the
	// writer's own to be off first (RunCheckpoints sets it at its start).
	for autoCheckpoint() != 0 {
		select {
		case err := <-done:
			t.Fatalf("RunCheckpoints returned before it turned the writer's checkpoint off: %v", err)
		case <-time.After(time.Millisecond):
		}
	}

	write(50)
	before := walFrames()
	if before < 50 {
		t.Fatalf("the WAL holds %d frames after 50 commits", before)
	}
	st.askCheckpoint() // as Group.Commit does
	// A liveness bound, not a speed check: without a checkpoint this
	// would wait for the test binary's timeout.
	giveUp := time.After(time.Minute)
	for copied := false; !copied; {
		select {
		case c := <-checkpoints:
			copied = c[0] == c[1] && c[0] > 0 // all of the WAL is in the database
			if !copied {
				st.askCheckpoint()
			}
		case err := <-done:
			t.Fatalf("RunCheckpoints returned while asked to checkpoint: %v", err)
		case <-giveUp:
			t.Fatal("no background checkpoint copied the WAL into the database")
		}
	}
	write(1) // starts the WAL afresh
	if after := walFrames(); after >= before {
		t.Errorf("the WAL holds %d frames after the background checkpoint and one more commit, %d before: it was not restarted", after, before)
	}

	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := autoCheckpoint(); got != defaultAutoCheckpoint {
		t.Errorf("wal_autocheckpoint after RunCheckpoints = %d, want %d again", got, defaultAutoCheckpoint)
	}
}
