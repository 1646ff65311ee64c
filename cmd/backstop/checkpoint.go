package main

import (
	"context"
	"time"
)

// checkpointInterval is how often serve checkpoints the database's WAL.
const checkpointInterval = 5 * time.Minute

// checkpoints truncates the WAL every checkpointInterval until ctx is
// done, so that it cannot grow without bound (a reader that held it open,
// such as a long backstop export, can keep SQLite's own checkpoints from
// completing).
func (d *daemon) checkpoints(ctx context.Context) error {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		busy, pages, err := d.store.Checkpoint(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			d.log.Error("checkpointing the database; will try again", "err", err, "retry_in", checkpointInterval)
		case busy:
			d.log.Warn("database checkpoint incomplete: a reader holds the WAL; will try again", "wal_pages", pages, "retry_in", checkpointInterval)
		}
	}
}
