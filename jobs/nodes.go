package jobs

import (
	"cmp"
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/store"
)

// A worker process killed in the middle of a job leaves it "running", and River's rescuer
// gives it back only after an hour or the job's timeout (an import's is an hour). Every
// process with workers beats a heartbeat (Heartbeat); the leader's RescueOrphanedJobs job gives
// the running jobs of a process that stopped beating for Config.WorkerDeadAfter back to River,
// so the survivors (or the restarted process) take them within about that time.

// DefaultWorkerDeadAfter is how long a worker process may miss its heartbeats before its
// running jobs are rescued, when the configuration does not say (PREGON_WORKER_DEAD_AFTER).
const DefaultWorkerDeadAfter = 90 * time.Second

// workerDeadAfter is the configured silence after which a worker process counts as dead.
func (d Deps) workerDeadAfter() time.Duration {
	return cmp.Or(d.Config.WorkerDeadAfter, DefaultWorkerDeadAfter)
}

// heartbeatEvery is how often a process beats: several beats fit in the dead-after window, so
// one slow or failed beat does not make a live process look dead.
func heartbeatEvery(deadAfter time.Duration) time.Duration {
	return max(deadAfter/6, 200*time.Millisecond)
}

// Heartbeat keeps the worker_nodes row of this process's River client fresh until stopped.
type Heartbeat struct {
	db       *pgxpool.Pool
	clientID string
	every    time.Duration
	log      *slog.Logger
	cancel   context.CancelFunc
	done     chan struct{}
}

// StartHeartbeat records that the process working jobs as River client clientID is alive, and
// goes on recording it in the background. Call it before the client starts working jobs, and
// Stop after the client has stopped.
func StartHeartbeat(ctx context.Context, d Deps, clientID string) (*Heartbeat, error) {
	host, _ := os.Hostname()
	pid := os.Getpid()
	if err := store.WorkerNodeBeat(ctx, d.DB, clientID, host, pid); err != nil {
		return nil, err
	}
	log := cmp.Or(d.Logger, slog.Default()).With("component", "heartbeat", "client_id", clientID)
	deadAfter := d.workerDeadAfter()
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &Heartbeat{db: d.DB, clientID: clientID, every: heartbeatEvery(deadAfter), log: log, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(h.every)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			beatCtx, cancelBeat := context.WithTimeout(ctx, h.every)
			err := store.WorkerNodeBeat(beatCtx, h.db, clientID, host, pid)
			cancelBeat()
			if err == nil {
				last = time.Now()
				continue
			}
			if ctx.Err() != nil {
				return
			}
			// Past deadAfter without a beat, another process may be given this one's jobs.
			if silent := time.Since(last); silent > deadAfter/2 {
				log.ErrorContext(ctx, "heartbeat failing: past the dead-after time, this process's running jobs will be given to others",
					"silent", silent.Round(time.Second), "dead_after", deadAfter, "error", err)
			} else {
				log.WarnContext(ctx, "heartbeat failed", "error", err)
			}
		}
	}()
	return h, nil
}

// Stop ends the heartbeat and records that the process stopped: a job it still has running
// (its shutdown timed out) is rescued at once.
func (h *Heartbeat) Stop() {
	h.cancel()
	<-h.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := store.WorkerNodeStopped(ctx, h.db, h.clientID); err != nil {
		h.log.Warn("recording this process's stop", "error", err)
	}
}

// RescueOrphanedJobsArgs gives the running jobs of dead worker processes back to River.
type RescueOrphanedJobsArgs struct{}

func (RescueOrphanedJobsArgs) Kind() string { return "rescue_orphaned_jobs" }

// workerNodeRetention is how long a stopped or dead process is remembered.
const workerNodeRetention = 24 * time.Hour

// RescueOrphanedJobsWorker runs store.JobsRescueOrphaned and forgets long-gone processes.
type RescueOrphanedJobsWorker struct {
	river.WorkerDefaults[RescueOrphanedJobsArgs]
	deps Deps
	log  *slog.Logger
}

// NewRescueOrphanedJobsWorker builds the worker.
func NewRescueOrphanedJobsWorker(d Deps) *RescueOrphanedJobsWorker {
	return &RescueOrphanedJobsWorker{deps: d, log: cmp.Or(d.Logger, slog.Default())}
}

func (w *RescueOrphanedJobsWorker) Timeout(*river.Job[RescueOrphanedJobsArgs]) time.Duration {
	return 30 * time.Second
}

func (w *RescueOrphanedJobsWorker) Work(ctx context.Context, _ *river.Job[RescueOrphanedJobsArgs]) error {
	rescued, err := store.JobsRescueOrphaned(ctx, w.deps.DB, w.deps.workerDeadAfter())
	if err != nil {
		return err
	}
	for _, r := range rescued {
		w.log.WarnContext(ctx, "a job of a dead worker process was given back to River",
			slog.Int64("job_id", r.ID), slog.String("kind", r.Kind), slog.String("state", r.State),
			slog.String("dead_client_id", r.ClientID), slog.Time("last_heartbeat", r.SeenAt))
	}
	_, err = store.WorkerNodesPrune(ctx, w.deps.DB, workerNodeRetention)
	return err
}

// rescuePeriodicJob runs RescueOrphanedJobsWorker a few times per dead-after window.
func rescuePeriodicJob(d Deps) *river.PeriodicJob {
	every := max(d.workerDeadAfter()/3, time.Second)
	return river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return RescueOrphanedJobsArgs{}, nil },
		&river.PeriodicJobOpts{ID: "rescue_orphaned_jobs", RunOnStart: true})
}
