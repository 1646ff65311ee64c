package workflow_test

import (
	"context"
	"database/sql"
	"log"
	"time"

	"backstop/workflow"
)

// A periodic job, such as retention, runs on the scheduler: its work and
// the record of its run commit in one transaction.
func ExampleScheduler() {
	ctx := context.Background()
	key, err := workflow.ParseKey("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=") // from storage.key_file
	if err != nil {
		log.Fatal(err)
	}
	st, err := workflow.Open(ctx, "/var/lib/backstop/backstop.db", key)
	if err != nil {
		log.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	s := workflow.NewScheduler(st, workflow.SchedulerConfig{})
	err = s.Add(workflow.Job{
		Name:     "retention",
		Schedule: workflow.Daily{Hour: 3, Location: berlin}, // 03:00 local, every day, DST or not
		Run: func(ctx context.Context, tx *sql.Tx, due time.Time) error {
			_, err := tx.ExecContext(ctx, "UPDATE messages SET raw = NULL WHERE disposition = 'quarantined' AND received_at < ?",
				due.AddDate(0, 0, -90).UnixMilli())
			return err
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(s.Run(ctx)) // until ctx is done
}
