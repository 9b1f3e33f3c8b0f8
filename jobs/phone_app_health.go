package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/store"
)

// PhoneAppHealthArgs checks the coexistence numbers' phone apps: one silent for 10 days gets a
// warning (number event + GET /api/v1/numbers/:id/phone-app); Meta disconnects it at ~14 days.
type PhoneAppHealthArgs struct{}

func (PhoneAppHealthArgs) Kind() string { return "phone_app_health" }

func (PhoneAppHealthArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSync, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Minute}}
}

// PhoneAppHealthWorker raises the silence warnings.
type PhoneAppHealthWorker struct {
	river.WorkerDefaults[PhoneAppHealthArgs]
	db  *pgxpool.Pool
	log *slog.Logger
	now func() time.Time
}

// NewPhoneAppHealthWorker builds the worker.
func NewPhoneAppHealthWorker(d Deps) *PhoneAppHealthWorker {
	w := &PhoneAppHealthWorker{db: d.DB, log: d.Logger, now: d.Now}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.now == nil {
		w.now = time.Now
	}
	return w
}

func (w *PhoneAppHealthWorker) Work(ctx context.Context, job *river.Job[PhoneAppHealthArgs]) error {
	ids, err := store.PhoneAppSilentNumbersWarn(ctx, w.db, w.now())
	if err != nil {
		return err
	}
	for _, id := range ids {
		w.log.WarnContext(ctx, "phone app of a coexistence number silent for 10 days; Meta disconnects at ~14", "sender_number_id", id)
	}
	return nil
}

// StatusSweepArgs is the webhook safety net: it applies delivery statuses left unapplied by a
// race with a send's commit (or stored for an unknown send that a callback now names), and
// re-enqueues stored bodies whose job was lost (claimed by a batch that failed). The webhook
// job and the send job normally settle everything at once.
type StatusSweepArgs struct{}

func (StatusSweepArgs) Kind() string { return "status_sweep" }

func (StatusSweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: 30 * time.Second}}
}

// StatusSweepWorker runs the sweep.
type StatusSweepWorker struct {
	river.WorkerDefaults[StatusSweepArgs]
	db  *pgxpool.Pool
	log *slog.Logger
}

// NewStatusSweepWorker builds the worker.
func NewStatusSweepWorker(d Deps) *StatusSweepWorker {
	w := &StatusSweepWorker{db: d.DB, log: d.Logger}
	if w.log == nil {
		w.log = slog.Default()
	}
	return w
}

func (w *StatusSweepWorker) Work(ctx context.Context, job *river.Job[StatusSweepArgs]) error {
	n, err := store.StatusEventsApplyPending(ctx, w.db, 5000)
	if err != nil {
		return err
	}
	if n > 0 {
		w.log.InfoContext(ctx, "late delivery statuses applied", "events", n)
	}
	if n, err := store.StatusEventsScrubErased(ctx, w.db); err != nil {
		return err
	} else if n > 0 {
		w.log.InfoContext(ctx, "late webhook bodies naming an erased contact blanked", "bodies", n)
	}
	if n, err := store.RecipientsDropStaleRetries(ctx, w.db); err != nil {
		return err
	} else if n > 0 {
		w.log.InfoContext(ctx, "sends dropped with 132015 as their campaign completed keep their failure", "recipients", n)
	}
	// An opt-out waiting for its BSUID recorded while another transaction attached the BSUID.
	applied, err := store.BSUIDOptOutsApplyPending(ctx, w.db)
	if err != nil {
		return err
	}
	for _, o := range applied {
		w.log.InfoContext(ctx, "an opt-out that waited for its BSUID was applied to the contact that has it",
			slog.Int64("workspace_id", o.WorkspaceID), slog.Int64("contact_id", o.ContactID), slog.String("source", o.Source))
	}
	// Messages a username user sent before a contact had their BSUID join that contact.
	if n, err := store.MessagesAttachByBSUID(ctx, w.db); err != nil {
		return err
	} else if n > 0 {
		w.log.InfoContext(ctx, "messages sent before their BSUID was known joined its contact", "messages", n)
	}
	orphans, err := store.WebhookInboxOrphans(ctx, w.db, time.Minute, 1000)
	if err != nil || len(orphans) == 0 {
		return err
	}
	var params []river.InsertManyParams
	for i := 0; i < len(orphans); i += WebhookBatchSize {
		params = append(params, river.InsertManyParams{Args: ProcessWebhookArgs{InboxIDs: orphans[i:min(i+WebhookBatchSize, len(orphans))]}})
	}
	if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertMany(ctx, params); err != nil {
		return fmt.Errorf("re-enqueuing %d orphaned webhooks: %w", len(orphans), err)
	}
	w.log.WarnContext(ctx, "orphaned webhooks re-enqueued", "count", len(orphans))
	return nil
}

// WebhookPeriodicJobs are the periodic jobs of webhook processing (listed in PeriodicJobs).
func WebhookPeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return PhoneAppHealthArgs{}, nil },
			&river.PeriodicJobOpts{ID: "phone_app_health", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return StatusSweepArgs{}, nil },
			&river.PeriodicJobOpts{ID: "status_sweep"}),
	}
}

// addWebhookWorkers registers the webhook workers (one line in AddWorkers).
func addWebhookWorkers(ws *river.Workers, d Deps) {
	river.AddWorker(ws, NewProcessWebhookWorker(d))
	river.AddWorker(ws, NewPhoneAppHealthWorker(d))
	river.AddWorker(ws, NewStatusSweepWorker(d))
	river.AddWorker(ws, NewOptOutConfirmWorker(d))
}
