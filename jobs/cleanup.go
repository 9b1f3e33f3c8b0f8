package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

// CleanupArgs runs the hourly housekeeping: expired sessions go.
type CleanupArgs struct{}

func (CleanupArgs) Kind() string { return "cleanup" }

func (CleanupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Minute}}
}

// CleanupWorker deletes expired sessions.
type CleanupWorker struct {
	river.WorkerDefaults[CleanupArgs]
	db *pgxpool.Pool
}

func (w *CleanupWorker) Work(ctx context.Context, job *river.Job[CleanupArgs]) error {
	if _, err := w.db.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now()`); err != nil {
		return fmt.Errorf("deleting expired sessions: %w", err)
	}
	return nil
}
