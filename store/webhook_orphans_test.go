package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

type webhookJobArgs struct {
	InboxIDs []int64 `json:"inbox_ids"`
}

func (webhookJobArgs) Kind() string { return "process_webhook" }

// A pending body whose processing job has been running for longer than a webhook job can run
// (its process was killed) is an orphan for the sweeper to enqueue again, within minutes; one
// whose job started moments ago is not.
func TestWebhookInboxOrphansIncludeDeadRunningJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	client, err := river.NewClient(riverpgxv5.New(db), &river.Config{})
	must(t, err)
	body := func(startedAgo time.Duration) int64 {
		t.Helper()
		res, err := client.Insert(ctx, webhookJobArgs{}, nil)
		must(t, err)
		_, err = db.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() - make_interval(secs => $2)
			WHERE id = $1`, res.Job.ID, startedAgo.Seconds())
		must(t, err)
		var id int64
		must(t, db.QueryRow(ctx, `INSERT INTO webhook_inbox (body, status, job_id, received_at)
			VALUES (convert_to('{}', 'UTF8'), 'pending', $1, now() - interval '10 minutes') RETURNING id`, res.Job.ID).Scan(&id))
		return id
	}
	dead, alive := body(10*time.Minute), body(30*time.Second)
	got, err := store.WebhookInboxOrphans(ctx, db, time.Minute, 100)
	must(t, err)
	if !slices.Contains(got, dead) || slices.Contains(got, alive) {
		t.Errorf("orphans %v: want %d (its job running for 10 min) and not %d (running for 30 s)", got, dead, alive)
	}
}
