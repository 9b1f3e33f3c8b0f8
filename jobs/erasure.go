package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/store"
)

// EraseWebhookBodiesArgs blanks the stored raw webhook bodies that name a contact whose personal
// data was erased (store.ContactEraseScrub records what to look for; the erasure inserts this
// job in its transaction).
type EraseWebhookBodiesArgs struct {
	ScrubID int64 `json:"scrub_id"`
}

func (EraseWebhookBodiesArgs) Kind() string { return "erase_webhook_bodies" }

func (EraseWebhookBodiesArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, MaxAttempts: 50}
}

// EraseWebhookBodiesWorker walks the webhook inbox in batches.
type EraseWebhookBodiesWorker struct {
	river.WorkerDefaults[EraseWebhookBodiesArgs]
	db  *pgxpool.Pool
	log *slog.Logger
}

// NewEraseWebhookBodiesWorker builds the worker.
func NewEraseWebhookBodiesWorker(d Deps) *EraseWebhookBodiesWorker {
	w := &EraseWebhookBodiesWorker{db: d.DB, log: d.Logger}
	if w.log == nil {
		w.log = slog.Default()
	}
	return w
}

// eraseBatch is how many inbox rows one transaction of the scrub reads.
const eraseBatch = 5000

func (w *EraseWebhookBodiesWorker) Work(ctx context.Context, job *river.Job[EraseWebhookBodiesArgs]) error {
	var total int64
	for {
		n, done, wait, err := store.WebhookBodiesScrub(ctx, w.db, job.Args.ScrubID, eraseBatch)
		if err != nil {
			return err
		}
		total += n
		switch {
		case done:
			w.log.InfoContext(ctx, "webhook bodies naming an erased contact blanked", "bodies", total)
			return nil
		case wait: // a body naming the contact is not processed yet
			return river.JobSnooze(time.Minute)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
