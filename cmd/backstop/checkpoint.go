package main

import (
	"context"
	"time"
)

// checkpointInterval is how often serve checkpoints the database's WAL.
const checkpointInterval = 5 * time.Minute

// passiveCheckpointInterval is how often the WAL is copied into the
// database in the background (and after every group of messages).
const passiveCheckpointInterval = time.Second

// checkpoints truncates the WAL every checkpointInterval until ctx is
// done, so that it cannot grow without bound (a reader that held it open,
// such as a long backstop export, can keep SQLite's own checkpoints from
// completing).
func (d *daemon) checkpoints(ctx context.Context) error {
	// The WAL is copied into the database as it fills, by a connection of
	// its own, rather than by the commits that fill it.
	background := make(chan struct{})
	go func() {
		defer close(background)
		if err := d.store.RunCheckpoints(ctx, passiveCheckpointInterval); err != nil {
			d.log.Error("checkpointing the database in the background stopped; SQLite's own checkpoints do it from now on", "err", err)
		}
	}()
	defer func() { <-background }()
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
