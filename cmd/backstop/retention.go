package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"backstop/workflow"
)

// verifyTail is how many of the latest events serve checks at start-up.
const verifyTail = 1000

// checkStoreAtStart says, once, that a database made before encryption was
// encrypted, and verifies the tail of the audit trail. A broken trail is
// logged as an error naming the first broken link, and serving goes on:
// the escalations mailbox must not go unwatched because someone altered
// the record (`backstop verify` reports it in full and exits 1).
func checkStoreAtStart(ctx context.Context, st *workflow.Store, log *slog.Logger) error {
	if enc := st.Encrypted(); enc != nil {
		log.Info("database encrypted at rest: the values stored in clear by an earlier backstop are now sealed",
			"values", enc.Resealed, "data_key", enc.Key, "db", st.Path())
	}
	rep, err := st.VerifyTail(ctx, verifyTail)
	switch {
	case rep != nil && !rep.OK():
		log.Error("AUDIT TRAIL ALTERED: "+err.Error(), "first_broken", rep.Problems[0].String(), "problems", len(rep.Problems))
	case err != nil:
		return err
	default:
		log.Info("audit trail verified", "latest_events", rep.Events)
	}
	return nil
}

// runRetention purges what retention says is due, at start and then every
// 24 hours (tunables.retentionEvery), until ctx is done. A failed purge is
// logged and tried again at the next tick: serving goes on.
func (d *daemon) runRetention(ctx context.Context) error {
	every := d.tn.retentionEvery
	if every <= 0 {
		every = 24 * time.Hour
	}
	now := d.tn.now
	if now == nil {
		now = time.Now
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rep, err := d.store.Purge(ctx, d.cfg.retention(), now(), false)
		switch {
		case err != nil:
			d.log.Error("retention purge failed; it runs again at the next tick", "err", err)
		case !rep.Empty():
			d.log.Info("retention purge", purgeAttrs(rep)...)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func purgeAttrs(rep workflow.PurgeReport) []any {
	return []any{"evidence_purged", refs(rep.Evidence), "incidents_removed", refs(rep.Audit),
		"quarantined_purged", rep.Quarantined, "old_events_removed", rep.OldEvents}
}

func refs(ids []int64) string {
	if len(ids) == 0 {
		return "none"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = workflow.Ref(id)
	}
	return strings.Join(s, ",")
}
