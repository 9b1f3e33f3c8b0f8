package jobs

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// A scheduled campaign whose launch is overdue is never left "scheduled" forever: with its
// launch job gone (lost with its process) a new one is enqueued for the campaign's time; with
// its job discarded after every attempt failed, the campaign is cancelled, saying why. A
// campaign whose time has just come is left to its own job.
func TestLaunchSweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	client, err := river.NewClient(riverpgxv5.New(db), &river.Config{Logger: log})
	must2(t, err)
	launchJobs := func(campaignID int64) (n int) {
		t.Helper()
		must2(t, db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'launch_campaign' AND args @> jsonb_build_object('campaign_id', $1::bigint)`,
			campaignID).Scan(&n))
		return n
	}
	due := func(ago time.Duration) *launchFixture {
		t.Helper()
		f := newLaunchFixture(t, db)
		f.at = time.Now().Add(-ago).Truncate(time.Microsecond)
		_, err := db.Exec(ctx, `UPDATE campaigns SET scheduled_at = $2 WHERE id = $1`, f.campaign.ID, f.at)
		must2(t, err)
		return f
	}
	lost, failed, fresh := due(10*time.Minute), due(10*time.Minute), due(30*time.Second)
	res, err := client.Insert(ctx, failed.args(), nil)
	must2(t, err)
	_, err = db.Exec(ctx, `UPDATE river_job SET state = 'discarded', finalized_at = now(),
		errors = ARRAY['{"attempt":10,"error":"segment: boom","at":"2026-12-06T00:00:00Z"}'::jsonb] WHERE id = $1`, res.Job.ID)
	must2(t, err)

	must2(t, launchSweep(ctx, db, client, log))

	if n := launchJobs(lost.campaign.ID); n != 1 {
		t.Errorf("overdue launch with no job: %d jobs after the sweep, want 1", n)
	}
	c, err := store.CampaignGetByID(ctx, db, failed.ws.ID, failed.campaign.ID)
	must2(t, err)
	recs, err := store.CampaignTransitionList(ctx, db, failed.ws.ID, failed.campaign.ID)
	must2(t, err)
	if c.State != store.CampaignCancelled || len(recs) == 0 || !strings.Contains(recs[len(recs)-1].Reason, "boom") {
		t.Errorf("launch job discarded: campaign %s, transitions %+v (want cancelled with the job's error)", c.State, recs)
	}
	if n := launchJobs(fresh.campaign.ID); n != 0 {
		t.Errorf("a launch due 30 s ago got %d jobs from the sweep", n)
	}
	// A second sweep adds nothing: the new job is waiting.
	must2(t, launchSweep(ctx, db, client, log))
	if n := launchJobs(lost.campaign.ID); n != 1 {
		t.Errorf("second sweep: %d jobs, want still 1", n)
	}
}

// The pace watchdog restarts a number whose pacer never ticked (its first pace job died with
// its process), once its campaign has been running for a few seconds.
func TestPaceWatchdogRestartsANumberThatNeverTicked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	f := newLaunchFixture(t, db)
	_, err := db.Exec(ctx, `UPDATE campaigns SET state = 'running', launched_at = now() - interval '1 minute' WHERE id = $1`, f.campaign.ID)
	must2(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tx, err := db.Begin(ctx)
	must2(t, err)
	defer tx.Rollback(ctx)
	_, err = rivertest.NewWorker(t, riverpgxv5.New(db), &river.Config{Logger: log}, &PaceWatchdogWorker{db: db, log: log}).
		Work(ctx, t, tx, PaceWatchdogArgs{}, nil)
	must2(t, err)
	must2(t, tx.Commit(ctx))
	var n int
	must2(t, db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'pace' AND args @> jsonb_build_object('sender_number_id', $1::bigint)`,
		f.number.ID).Scan(&n))
	if n != 1 {
		t.Errorf("a running campaign whose number never ticked: %d pace jobs after the watchdog, want 1", n)
	}
}

// An import or an export runs under one job: inserting a second for the same id is skipped as
// a duplicate (a second confirm of a queued import would have run the file twice at once).
func TestImportAndExportJobsAreUnique(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	client, err := river.NewClient(riverpgxv5.New(db), &river.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must2(t, err)
	for _, args := range []river.JobArgs{ImportContactsArgs{WorkspaceID: 1, ImportID: 7}, ExportArgs{ExportID: 7}} {
		first, err := client.Insert(ctx, args, nil)
		must2(t, err)
		second, err := client.Insert(ctx, args, nil)
		must2(t, err)
		if first.UniqueSkippedAsDuplicate || !second.UniqueSkippedAsDuplicate {
			t.Errorf("%s: second insert skipped %v, want a duplicate", args.Kind(), second.UniqueSkippedAsDuplicate)
		}
	}
}
