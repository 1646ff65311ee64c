package workflow

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// SQLite checkpoints the WAL by itself (wal_autocheckpoint, 1,000 pages),
// but inside the COMMIT that crosses the threshold: the writer, and a
// backlog's window with it, waits while pages are copied into the database
// file. RunCheckpoints does that copying from a connection of its own,
// concurrently with the writer (a PASSIVE checkpoint takes no lock a
// writer needs), and turns the writer's own off while it runs.

// defaultAutoCheckpoint is SQLite's wal_autocheckpoint default, restored
// when RunCheckpoints ends.
const defaultAutoCheckpoint = 1000

// RunCheckpoints checkpoints the WAL every interval, and at once after a
// group of messages committed, until ctx is done. Meanwhile the writer's
// automatic checkpoint is off; it is on again when this returns, for
// whatever reason, so that the WAL is never left without checkpoints. A
// failure to checkpoint is returned (the caller reports it), after the
// automatic checkpoint was turned back on.
func (s *Store) RunCheckpoints(ctx context.Context, interval time.Duration) (err error) {
	side, err := sql.Open("sqlite", s.dsn)
	if err != nil {
		return fmt.Errorf("store: opening a second connection to %s for checkpoints: %w", s.path, err)
	}
	defer side.Close()
	side.SetMaxOpenConns(1)
	if err := side.PingContext(ctx); err != nil {
		return fmt.Errorf("store: opening a second connection to %s for checkpoints: %w", s.path, err)
	}
	if err := s.setAutoCheckpoint(ctx, 0); err != nil {
		return err
	}
	defer func() {
		if rerr := s.setAutoCheckpoint(context.WithoutCancel(ctx), defaultAutoCheckpoint); rerr != nil && err == nil {
			err = rerr
		}
	}()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.checkpointNow:
		}
		var busy, logPages, done int
		// PASSIVE: copy what no reader still needs, without waiting for
		// anyone; what is left goes with the next one.
		if err := side.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &done); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("store: checkpointing the WAL of %s: %w", s.path, err)
		}
		if s.afterCheckpoint != nil {
			s.afterCheckpoint(logPages, done)
		}
	}
}

// setAutoCheckpoint sets the writer connection's wal_autocheckpoint. A
// connection the pool opens afresh has SQLite's default.
func (s *Store) setAutoCheckpoint(ctx context.Context, pages int) error {
	// PRAGMA takes no parameters; pages is a constant of ours.
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", pages)); err != nil {
		return fmt.Errorf("store: setting wal_autocheckpoint on %s: %w", s.path, err)
	}
	return nil
}

// askCheckpoint asks RunCheckpoints, if it runs, for a checkpoint now.
func (s *Store) askCheckpoint() {
	select {
	case s.checkpointNow <- struct{}{}:
	default:
	}
}
