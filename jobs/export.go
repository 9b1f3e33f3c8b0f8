package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

// ExportArgs runs one recorded export (an exports row) to a file under the data folder. The API
// inserts it with the row, in the same transaction, for exports too large to stream directly.
type ExportArgs struct {
	ExportID int64 `json:"export_id" river:"unique"`
}

func (ExportArgs) Kind() string { return "export" }

func (ExportArgs) InsertOpts() river.InsertOpts {
	// One job per export (ByArgs: the fields tagged river:"unique").
	return river.InsertOpts{Queue: QueueExports, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ExportWorker writes the file with the same code as the direct download (reports.Write).
type ExportWorker struct {
	river.WorkerDefaults[ExportArgs]
	deps Deps
}

// NewExportWorker builds the worker (tests run it directly).
func NewExportWorker(d Deps) *ExportWorker { return &ExportWorker{deps: d} }

// Timeout: a million-row XLSX takes tens of seconds; leave ample room.
func (w *ExportWorker) Timeout(*river.Job[ExportArgs]) time.Duration { return 30 * time.Minute }

func (w *ExportWorker) Work(ctx context.Context, job *river.Job[ExportArgs]) error {
	willRetry := job.Attempt < job.MaxAttempts
	err := reports.ExportRun(ctx, w.deps.DB, w.deps.Config.DataDir, job.Args.ExportID, willRetry)
	var invalid *store.ValidationError
	if errors.Is(err, store.ErrNotFound) || errors.As(err, &invalid) {
		return river.JobCancel(err) // retrying cannot help
	}
	return err
}
