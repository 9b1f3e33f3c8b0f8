// Package jobs holds Pregón's River job kinds, one file per kind (args + worker), and the
// wiring every process shares: queue names, the worker registry and the River client.
//
// Work that must happen with a database change is inserted with InsertTx in that change's
// transaction; a job's own rows (a recipient's state, an import's counters) are what make a
// retry safe.
package jobs

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/internal/secret"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// Queue names.
const (
	QueueDefault  = river.QueueDefault // small housekeeping jobs
	QueueImports  = "imports"          // contact imports (long, few)
	QueueCampaign = "campaigns"        // launches, pacing ticks
	QueueSend     = "sends"            // send jobs, each a batch of one number's slots
	QueueWebhooks = "webhooks"         // webhook inbox processing
	QueueExports  = "exports"          // large exports
	QueueSync     = "sync"             // template and number sync, health checks
)

// Deps are the collaborators workers need. Fields are added as job kinds need them.
type Deps struct {
	Config config.Config
	DB     *pgxpool.Pool
	Box    *secret.Box
	Logger *slog.Logger
	Now    func() time.Time
	// WhatsApp returns the Cloud API client for a sender number (its own token, or the
	// simulator when it has no credentials). Wired by cmd/pregon; tests point it at a fake.
	WhatsApp func(n store.SenderNumber) (*whatsapp.Client, error)
	// Pacing tunes the pacer and the send job (zero: defaults, see PaceConfig).
	Pacing PaceConfig
}

// AddWorkers registers every job kind's worker.
func AddWorkers(ws *river.Workers, d Deps) error {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	river.AddWorker(ws, &CleanupWorker{db: d.DB})
	river.AddWorker(ws, NewEraseWebhookBodiesWorker(d))
	river.AddWorker(ws, NewExportWorker(d))
	river.AddWorker(ws, NewPaceWorker(d))
	river.AddWorker(ws, NewSendMessageWorker(d))
	river.AddWorker(ws, NewImportContactsWorker(d))
	river.AddWorker(ws, NewRescueOrphanedJobsWorker(d))
	addWebhookWorkers(ws, d)
	addCampaignWorkers(ws, d)
	return nil
}

// PeriodicJobs are the leader's periodic jobs.
func PeriodicJobs(d Deps) []*river.PeriodicJob {
	return append([]*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return CleanupArgs{}, nil },
			&river.PeriodicJobOpts{ID: "cleanup", RunOnStart: true}),
		rescuePeriodicJob(d),
	}, append(WebhookPeriodicJobs(), CampaignPeriodicJobs()...)...)
}

// ClientConfig says how a River client should run in this process.
type ClientConfig struct {
	Workers     bool // false: an insert-only client (API-only replicas, CLI)
	SendWorkers int  // concurrency of the sends queue
	// WebhookWorkers is the concurrency of the webhooks queue. Each job processes up to
	// WebhookBatchSize pending bodies, so a few workers keep up with thousands of events per
	// second; more only make batches contend for the same rows and take CPU from the endpoint.
	WebhookWorkers int
}

// NewClient builds the River client for this process.
func NewClient(pool *pgxpool.Pool, d Deps, cc ClientConfig) (*river.Client[pgx.Tx], error) {
	cfg := &river.Config{
		Logger:      d.Logger.With("component", "river"),
		MaxAttempts: 10,
		JobTimeout:  5 * time.Minute,
	}
	if cc.Workers {
		ws := river.NewWorkers()
		if err := AddWorkers(ws, d); err != nil {
			return nil, err
		}
		if cc.SendWorkers <= 0 {
			cc.SendWorkers = 200
		}
		if cc.WebhookWorkers <= 0 {
			cc.WebhookWorkers = 4
		}
		// The endpoint gives a job bodies for up to 100 ms while River has not started it
		// (api.webhookJobReuse), so inserts (and their notifications) are rare under load: poll
		// often enough that a job skipped while an endpoint commit held it is fetched soon.
		webhookQueue := river.QueueConfig{MaxWorkers: cc.WebhookWorkers, FetchPollInterval: 100 * time.Millisecond, FetchCooldown: 10 * time.Millisecond}
		cfg.Workers = ws
		cfg.PeriodicJobs = PeriodicJobs(d)
		cfg.FetchCooldown = 20 * time.Millisecond
		cfg.FetchPollInterval = 500 * time.Millisecond
		cfg.Queues = map[string]river.QueueConfig{
			QueueDefault:  {MaxWorkers: 10},
			QueueImports:  {MaxWorkers: 2},
			QueueCampaign: {MaxWorkers: 10},
			// Send jobs become available PaceConfig.Lead (600 ms) before their first slot, and
			// LISTEN/NOTIFY does not wake a fetch at that moment: poll often enough to fetch them
			// well before it.
			QueueSend:     {MaxWorkers: cc.SendWorkers, FetchPollInterval: 100 * time.Millisecond, FetchCooldown: 10 * time.Millisecond},
			QueueWebhooks: webhookQueue,
			QueueExports:  {MaxWorkers: 2},
			QueueSync:     {MaxWorkers: 4},
		}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("creating River client: %w", err)
	}
	return client, nil
}
