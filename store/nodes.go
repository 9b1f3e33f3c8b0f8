package store

import (
	"context"
	"fmt"
	"time"
)

// WorkerNodeBeat records that the process whose River client is clientID is alive now.
func WorkerNodeBeat(ctx context.Context, db DBTX, clientID, hostname string, pid int) error {
	_, err := db.Exec(ctx, `
		INSERT INTO worker_nodes (client_id, hostname, pid) VALUES ($1, $2, $3)
		ON CONFLICT (client_id) DO UPDATE SET seen_at = now(), stopped_at = NULL`, clientID, hostname, pid)
	if err != nil {
		return fmt.Errorf("recording the heartbeat of worker %s: %w", clientID, err)
	}
	return nil
}

// WorkerNodeStopped records that the process whose River client is clientID has stopped its
// workers: a job it left running is rescued at once (JobsRescueOrphaned).
func WorkerNodeStopped(ctx context.Context, db DBTX, clientID string) error {
	if _, err := db.Exec(ctx, `UPDATE worker_nodes SET stopped_at = now() WHERE client_id = $1`, clientID); err != nil {
		return fmt.Errorf("recording that worker %s stopped: %w", clientID, err)
	}
	return nil
}

// RescuedJob is a running job whose process was found dead, given back to River.
type RescuedJob struct {
	ID       int64
	Kind     string
	ClientID string    // the dead process's River client
	SeenAt   time.Time // its last heartbeat
	State    string    // available, or discarded when it had no attempt left
}

// JobsRescueOrphaned gives back to River the running jobs of processes that have stopped
// (cleanly, leaving a job behind) or not beaten for deadAfter (killed): as River's own rescuer
// does, a job with attempts left is run again, with an error saying why, and one without is
// discarded. It is made available at once rather than retryable (which waits for River's
// scheduler, up to 5 s more). Jobs of processes that never beat (tests, older versions) are left to
// River's rescuer. A job the dead process's worker is somehow still running cannot complete
// afterwards: River only completes jobs that are still running.
func JobsRescueOrphaned(ctx context.Context, db DBTX, deadAfter time.Duration) ([]RescuedJob, error) {
	rows, err := db.Query(ctx, `
		WITH dead AS (
			SELECT client_id, seen_at FROM worker_nodes
			WHERE stopped_at IS NOT NULL OR seen_at < now() - make_interval(secs => $1)),
		orphans AS (
			SELECT j.id, d.client_id, d.seen_at FROM river_job j
			JOIN dead d ON d.client_id = j.attempted_by[cardinality(j.attempted_by)]
			WHERE j.state = 'running'
			ORDER BY j.id
			FOR UPDATE OF j SKIP LOCKED)
		UPDATE river_job j SET
			state = CASE WHEN j.attempt < j.max_attempts THEN 'available' ELSE 'discarded' END::river_job_state,
			scheduled_at = now(),
			finalized_at = CASE WHEN j.attempt < j.max_attempts THEN NULL ELSE now() END,
			errors = array_append(j.errors, jsonb_build_object(
				'at', now(), 'attempt', j.attempt, 'trace', '',
				'error', format('the worker process %s stopped answering (last heartbeat %s); job rescued', o.client_id, o.seen_at))),
			metadata = j.metadata || jsonb_build_object('pregon:rescued_from', o.client_id)
		FROM orphans o
		WHERE j.id = o.id
		RETURNING j.id, j.kind, o.client_id, o.seen_at, j.state::text`, deadAfter.Seconds())
	if err != nil {
		return nil, fmt.Errorf("rescuing the jobs of dead worker processes: %w", err)
	}
	defer rows.Close()
	var out []RescuedJob
	for rows.Next() {
		var r RescuedJob
		if err := rows.Scan(&r.ID, &r.Kind, &r.ClientID, &r.SeenAt, &r.State); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// WorkerNodesPrune forgets processes gone for longer than age that no running job names.
func WorkerNodesPrune(ctx context.Context, db DBTX, age time.Duration) (int64, error) {
	tag, err := db.Exec(ctx, `
		DELETE FROM worker_nodes n
		WHERE coalesce(n.stopped_at, n.seen_at) < now() - make_interval(secs => $1)
		  AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.state = 'running'
		                  AND j.attempted_by[cardinality(j.attempted_by)] = n.client_id)`, age.Seconds())
	if err != nil {
		return 0, fmt.Errorf("forgetting old worker processes: %w", err)
	}
	return tag.RowsAffected(), nil
}
