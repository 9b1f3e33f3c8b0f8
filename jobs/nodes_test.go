package jobs_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

type probeArgs struct{}

func (probeArgs) Kind() string { return "probe" }

// probeWorker holds its jobs until the test ends when hold is set (a process busy with them),
// and completes them at once otherwise.
type probeWorker struct {
	river.WorkerDefaults[probeArgs]
	hold bool
}

func (w *probeWorker) Work(ctx context.Context, _ *river.Job[probeArgs]) error {
	if w.hold {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// probeClient starts a River client named id working the probe jobs of the given queues.
func probeClient(t *testing.T, db *pgxpool.Pool, id string, hold bool, queues ...string) *river.Client[pgx.Tx] {
	t.Helper()
	ws := river.NewWorkers()
	river.AddWorker(ws, &probeWorker{hold: hold})
	qs := map[string]river.QueueConfig{}
	for _, q := range queues {
		qs[q] = river.QueueConfig{MaxWorkers: 1} // a held job keeps a process from fetching more
	}
	c, err := river.NewClient(riverpgxv5.New(db), &river.Config{
		ID: id, Workers: ws, Queues: qs,
		FetchPollInterval: 50 * time.Millisecond, FetchCooldown: 10 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.StopAndCancel(ctx)
	})
	return c
}

// The running jobs of a worker process that stopped beating (killed) or stopped with jobs
// still running are given back to River and run again elsewhere; those of a live process, and
// of a process that never beat, are left alone.
func TestJobsOfDeadWorkersAreRescued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	inserter, err := river.NewClient(riverpgxv5.New(db), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Each process works its own queue, so each job goes to the process the test means.
	insert := func(queue string, maxAttempts int) int64 {
		t.Helper()
		res, err := inserter.Insert(ctx, probeArgs{}, &river.InsertOpts{Queue: queue, MaxAttempts: maxAttempts})
		if err != nil {
			t.Fatal(err)
		}
		return res.Job.ID
	}
	job := func(id int64) *rivertype.JobRow {
		t.Helper()
		j, err := inserter.JobGet(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	waitState := func(id int64, state rivertype.JobState, by string) *rivertype.JobRow {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			j := job(id)
			if j.State == state && (by == "" || len(j.AttemptedBy) > 0 && j.AttemptedBy[len(j.AttemptedBy)-1] == by) {
				return j
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %d: %s attempted by %v, want %s by %q", id, j.State, j.AttemptedBy, state, by)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	deps := jobs.Deps{DB: db, Config: config.Config{WorkerDeadAfter: 10 * time.Second}, Logger: slog.New(slog.DiscardHandler)}
	rescue := func() {
		t.Helper()
		if err := jobs.NewRescueOrphanedJobsWorker(deps).Work(ctx, &river.Job[jobs.RescueOrphanedJobsArgs]{}); err != nil {
			t.Fatal(err)
		}
	}

	// Process "killed" was running two jobs, one with attempts left, one on its last, when it
	// was killed: it beat for the last time a minute ago. Process "alive" beats and runs one;
	// "unknown" never beat.
	killedRetry, killedLast := insert("killed", 3), insert("killed", 1)
	if _, err := db.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() - interval '1 minute',
		attempted_by = ARRAY['killed'] WHERE id IN ($1, $2)`, killedRetry, killedLast); err != nil {
		t.Fatal(err)
	}
	if err := store.WorkerNodeBeat(ctx, db, "killed", "host-a", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE worker_nodes SET seen_at = now() - interval '1 minute' WHERE client_id = 'killed'`); err != nil {
		t.Fatal(err)
	}
	alive := insert("alive", 3)
	aliveClient := probeClient(t, db, "alive", true, "alive")
	beat, err := jobs.StartHeartbeat(ctx, deps, aliveClient.ID())
	if err != nil {
		t.Fatal(err)
	}
	waitState(alive, rivertype.JobStateRunning, "alive")
	unknown := insert("unknown", 3)
	probeClient(t, db, "unknown", true, "unknown")
	waitState(unknown, rivertype.JobStateRunning, "unknown")

	rescue()
	if j := job(killedLast); j.State != rivertype.JobStateDiscarded || len(j.Errors) != 1 {
		t.Errorf("job on its last attempt: %s, errors %v; want discarded with the rescue's error", j.State, j.Errors)
	}
	if j := job(alive); j.State != rivertype.JobStateRunning {
		t.Errorf("job of a live process: %s, want running", j.State)
	}
	if j := job(unknown); j.State != rivertype.JobStateRunning {
		t.Errorf("job of a process without heartbeat: %s, want running (River's rescuer's)", j.State)
	}
	// A survivor runs the rescued job: its second attempt, the first's error saying why.
	probeClient(t, db, "survivor", false, "killed", "alive")
	j := waitState(killedRetry, rivertype.JobStateCompleted, "survivor")
	if j.Attempt != 2 || len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Error, "killed") || !strings.Contains(j.Errors[0].Error, "rescued") {
		t.Errorf("rescued job: attempt %d, errors %+v; want attempt 2 and the rescue's error naming the dead process", j.Attempt, j.Errors)
	}

	// A process whose shutdown timed out with a job still running marks itself stopped: the
	// job goes at once, without waiting for the heartbeats to age.
	beat.Stop()
	rescue()
	waitState(alive, rivertype.JobStateCompleted, "survivor")

	// Forgetting gone processes keeps those a running job still names.
	if _, err := store.WorkerNodesPrune(ctx, db, 0); err != nil {
		t.Fatal(err)
	}
	var left []string
	rows, _ := db.Query(ctx, `SELECT client_id FROM worker_nodes ORDER BY client_id`)
	if left, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("worker_nodes after pruning: %v, want none (no running job names them)", left)
	}
}

// A live process's heartbeat keeps its row fresh: a short dead-after never makes it dead.
func TestHeartbeatKeepsALiveWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	deps := jobs.Deps{DB: db, Config: config.Config{WorkerDeadAfter: 1200 * time.Millisecond}, Logger: slog.New(slog.DiscardHandler)}
	c := probeClient(t, db, "steady", true, river.QueueDefault)
	beat, err := jobs.StartHeartbeat(ctx, deps, c.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer beat.Stop()
	inserter, err := river.NewClient(riverpgxv5.New(db), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := inserter.Insert(ctx, probeArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Three dead-after windows, rescuing every 100 ms: the job stays with its process.
	for end := time.Now().Add(3600 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if err := jobs.NewRescueOrphanedJobsWorker(deps).Work(ctx, &river.Job[jobs.RescueOrphanedJobsArgs]{}); err != nil {
			t.Fatal(err)
		}
	}
	j, err := inserter.JobGet(ctx, res.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != rivertype.JobStateRunning || j.Attempt != 1 {
		t.Errorf("job of a live process: %s at attempt %d, want running at its first", j.State, j.Attempt)
	}
}
