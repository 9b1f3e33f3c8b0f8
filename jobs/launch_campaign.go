package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/campaigns"
	"github.com/pregon/pregon/segments"
	"github.com/pregon/pregon/store"
)

// LaunchCampaignArgs launches a scheduled campaign at its scheduled time. ScheduledAt is the
// instant the job was scheduled for: a job left over from an earlier schedule (the campaign
// was unscheduled and scheduled again) sees a different instant on the campaign and does
// nothing.
type LaunchCampaignArgs struct {
	WorkspaceID int64     `json:"workspace_id"`
	CampaignID  int64     `json:"campaign_id"`
	ScheduledAt time.Time `json:"scheduled_at"`
}

func (LaunchCampaignArgs) Kind() string { return "launch_campaign" }

func (LaunchCampaignArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueCampaign, MaxAttempts: 10} // ~4 h of retries; then launchSweep cancels it, saying why
}

// LaunchCampaignWorker freezes a campaign's audience and starts it.
type LaunchCampaignWorker struct {
	river.WorkerDefaults[LaunchCampaignArgs]
	db      *pgxpool.Pool
	log     *slog.Logger
	now     func() time.Time
	compile campaigns.CompileFunc
}

// Timeout allows a million-recipient snapshot on a slow disk.
func (w *LaunchCampaignWorker) Timeout(*river.Job[LaunchCampaignArgs]) time.Duration {
	return 15 * time.Minute
}

func (w *LaunchCampaignWorker) Work(ctx context.Context, job *river.Job[LaunchCampaignArgs]) error {
	tx, err := w.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	res, err := LaunchCampaign(ctx, tx, job.Args, LaunchOptions{Now: w.now(), Compile: w.compile})
	if err != nil {
		return err
	}
	if res.Launched {
		if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertTx(ctx, tx, PaceArgs{SenderNumberID: res.SenderNumberID}, nil); err != nil {
			return fmt.Errorf("enqueueing pacing of campaign %d: %w", job.Args.CampaignID, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing launch of campaign %d: %w", job.Args.CampaignID, err)
	}
	if res.Launched && res.Recipients > 0 {
		// The pacer and the send jobs start on the new audience at once; with statistics that
		// do not know it yet (autovacuum analyses a minute or more later) their first plans
		// were badly wrong: a 1,000 msg/s number fell to half its rate for its first ten
		// seconds. A sampled ANALYZE costs a fraction of a second, after the commit so that it
		// holds no lock of the launch.
		if _, err := w.db.Exec(ctx, `ANALYZE recipients`); err != nil {
			w.log.WarnContext(ctx, "analysing recipients after a launch", slog.Int64("campaign_id", job.Args.CampaignID), slog.Any("error", err))
		}
	}
	w.log.InfoContext(ctx, "campaign launch", slog.Int64("campaign_id", job.Args.CampaignID),
		slog.Bool("launched", res.Launched), slog.String("skipped_because", res.NotLaunched),
		slog.Int64("recipients", res.Recipients), slog.Int64("pending", res.Pending), slog.Duration("took", res.Took))
	return nil
}

// launchOverdue is how long after its time a scheduled campaign may wait for its launch job
// before launchSweep looks at it (a launch may wait for the workspace's other launches).
const launchOverdue = 2 * time.Minute

// launchSweep looks after the scheduled campaigns whose launch is overdue and whose latest
// launch job is not waiting or running: with no job left (lost with its process, or removed
// from River's tables), a new one is inserted; with the latest discarded (every attempt
// failed), the campaign is cancelled with the job's last error as the reason, instead of
// showing "scheduled" forever.
func launchSweep(ctx context.Context, db *pgxpool.Pool, client *river.Client[pgx.Tx], log *slog.Logger) error {
	rows, err := db.Query(ctx, `
		SELECT c.workspace_id, c.id, c.scheduled_at, j.state, COALESCE(j.errors[array_length(j.errors, 1)]->>'error', '')
		FROM campaigns c
		LEFT JOIN LATERAL (SELECT rj.state::text AS state, rj.errors FROM river_job rj
		                   WHERE rj.kind = 'launch_campaign' AND rj.args @> jsonb_build_object('campaign_id', c.id)
		                   ORDER BY rj.id DESC LIMIT 1) j ON true
		WHERE c.state = 'scheduled' AND c.scheduled_at < now() - $1::interval
		  AND (j.state IS NULL OR j.state IN ('discarded', 'cancelled', 'completed'))`, launchOverdue.String())
	if err != nil {
		return fmt.Errorf("finding overdue launches: %w", err)
	}
	type overdue struct {
		ws, id  int64
		at      time.Time
		state   *string // the latest launch job's; nil: none
		lastErr string
	}
	var list []overdue
	for rows.Next() {
		var o overdue
		if err := rows.Scan(&o.ws, &o.id, &o.at, &o.state, &o.lastErr); err != nil {
			rows.Close()
			return err
		}
		list = append(list, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("finding overdue launches: %w", err)
	}
	for _, o := range list {
		if o.state != nil && *o.state == "discarded" {
			why := "no se lanzó: el lanzamiento falló en todos sus intentos"
			if o.lastErr != "" {
				why += " (" + truncate(o.lastErr, 300) + ")"
			}
			_, err := store.CampaignTransition(ctx, db, o.ws, o.id, store.CampaignCancelled,
				store.TransitionParams{Actor: store.ActorRule, Reason: why, Signal: store.SignalLaunch, Value: "failed"})
			if err != nil && !errors.Is(err, store.ErrConflict) {
				return err
			}
			log.WarnContext(ctx, "overdue launch cancelled: its job failed every attempt", slog.Int64("campaign_id", o.id))
			continue
		}
		if _, err := client.Insert(ctx, LaunchCampaignArgs{WorkspaceID: o.ws, CampaignID: o.id, ScheduledAt: o.at}, nil); err != nil {
			return fmt.Errorf("re-enqueueing the overdue launch of campaign %d: %w", o.id, err)
		}
		log.WarnContext(ctx, "overdue launch had no job: enqueued again", slog.Int64("campaign_id", o.id))
	}
	return nil
}

// LaunchOptions tune LaunchCampaign.
type LaunchOptions struct {
	Now     time.Time
	Compile campaigns.CompileFunc // nil: CompileSegment
}

// LaunchResult says what a launch did.
type LaunchResult struct {
	Launched       bool
	NotLaunched    string // why nothing happened (state, stale schedule, incomplete, broadcast not confirmed)
	SenderNumberID int64
	Recipients     int64 // rows frozen (pending + skipped)
	Pending        int64
	Took           time.Duration
}

// launchLockClass is the first key of the per-workspace advisory lock launches take.
const launchLockClass int32 = 0x6c61756e // "laun"

// LaunchCampaign does the launch inside tx: re-checks the campaign under its row lock,
// compiles its segment, freezes the audience into recipients (one INSERT … SELECT, skipped rows
// carrying their reason), stores the segment definition, hash and audience size, and moves the
// campaign scheduled → running. The caller enqueues PaceArgs in the same transaction (the
// worker does). Launching a campaign that is no longer scheduled does nothing, so retries and
// duplicate jobs are safe.
func LaunchCampaign(ctx context.Context, tx pgx.Tx, args LaunchCampaignArgs, opt LaunchOptions) (LaunchResult, error) {
	start := time.Now()
	var res LaunchResult
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	// Launches in one workspace run one after another: each snapshot's frequency cap counts the
	// recipients of campaigns launched before it, which a concurrent launch's would not see.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, launchLockClass, int32(args.WorkspaceID)); err != nil {
		return res, fmt.Errorf("waiting for the workspace's other launches: %w", err)
	}
	c, err := store.CampaignGetForUpdate(ctx, tx, args.WorkspaceID, args.CampaignID)
	if errors.Is(err, store.ErrNotFound) {
		res.NotLaunched = "campaign deleted"
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("locking campaign %d: %w", args.CampaignID, err)
	}
	if c.State != store.CampaignScheduled {
		res.NotLaunched = "state " + string(c.State)
		return res, nil
	}
	if !args.ScheduledAt.IsZero() && (c.ScheduledAt == nil || !c.ScheduledAt.Truncate(time.Microsecond).Equal(args.ScheduledAt.Truncate(time.Microsecond))) {
		res.NotLaunched = "stale schedule"
		return res, nil
	}
	if c.SenderNumberID == nil || c.TemplateID == nil {
		_, err := store.CampaignTransition(ctx, tx, c.WorkspaceID, c.ID, store.CampaignCancelled, store.TransitionParams{
			Actor: store.ActorSystem, Reason: "falta el número o la plantilla al lanzar", Signal: store.SignalLaunch})
		res.NotLaunched = "incomplete"
		return res, err
	}
	ws, err := store.WorkspaceGetByID(ctx, tx, c.WorkspaceID)
	if err != nil {
		return res, err
	}
	tmpl, err := store.TemplateGetByID(ctx, tx, c.WorkspaceID, *c.TemplateID)
	if err != nil {
		return res, fmt.Errorf("reading template of campaign %d: %w", c.ID, err)
	}
	number, err := store.SenderNumberGetByID(ctx, tx, c.WorkspaceID, *c.SenderNumberID)
	if err != nil {
		return res, fmt.Errorf("reading sender number of campaign %d: %w", c.ID, err)
	}
	mapping, err := campaigns.ParseMapping(c.VariableMapping)
	if err != nil {
		return res, err
	}
	if opt.Compile == nil {
		opt.Compile = CompileSegment
	}
	aud, err := campaigns.AudienceFor(ctx, tx, c, opt.Compile, opt.Now, ws.Location())
	if err != nil {
		return res, err
	}
	// Scheduling asks for confirm_broadcast only when the segment has no conditions then; the
	// segment may have been emptied since (segments are shared and editable). A campaign that
	// would now go to the whole base without that confirmation does not launch.
	if aud.Broadcast && !c.ConfirmBroadcast {
		_, err := store.CampaignTransition(ctx, tx, c.WorkspaceID, c.ID, store.CampaignCancelled, store.TransitionParams{
			Actor: store.ActorSystem, Signal: store.SignalLaunch,
			Reason: "no se lanzó: el segmento ya no tiene condiciones y enviar a toda la base requiere confirmar el envío masivo (confirm_broadcast)"})
		res.NotLaunched = "broadcast not confirmed"
		return res, err
	}
	snap := SnapshotFor(c, ws, tmpl, mapping, aud, opt.Now)
	q, qargs, err := snap.InsertSQL()
	if err != nil {
		return res, err
	}
	// Run as segment queries are (segments.QueryMode): planned for these values, never cached
	// as a generic plan.
	tag, err := tx.Exec(ctx, q, append([]any{segments.QueryMode}, qargs...)...)
	if err != nil {
		return res, fmt.Errorf("freezing the audience of campaign %d: %w", c.ID, err)
	}
	res.Recipients = tag.RowsAffected()
	// The counters the insert's trigger just wrote: no second pass over the recipients.
	if err := tx.QueryRow(ctx, `SELECT COALESCE(sum(n), 0)::bigint FROM campaign_counters WHERE campaign_id = $1 AND state = 'pending'`,
		c.ID).Scan(&res.Pending); err != nil {
		return res, fmt.Errorf("counting pending recipients of campaign %d: %w", c.ID, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE campaigns SET segment_definition = $3, segment_hash = $4, audience_count = $5
		WHERE workspace_id = $1 AND id = $2`, c.WorkspaceID, c.ID, []byte(aud.Definition), aud.Hash, res.Recipients); err != nil {
		return res, fmt.Errorf("storing the audience of campaign %d: %w", c.ID, err)
	}
	if _, err := store.CampaignTransition(ctx, tx, c.WorkspaceID, c.ID, store.CampaignRunning, store.TransitionParams{
		Actor: store.ActorSystem, Reason: fmt.Sprintf("lanzada: %d destinatarios, %d por enviar", res.Recipients, res.Pending),
		Signal: store.SignalLaunch, Value: fmt.Sprint(res.Recipients)}); err != nil {
		return res, err
	}
	// A template or number that went bad since scheduling: launch frozen but paused, visibly.
	var pause *store.TransitionParams
	switch {
	case number.Status != store.NumberActive:
		pause = &store.TransitionParams{Actor: store.ActorRule, Reason: "el número de envío está detenido: " + number.StatusReason,
			Signal: store.SignalNumber, Value: number.Status}
	case !tmpl.Sendable():
		pause = &store.TransitionParams{Actor: store.ActorRule, Reason: "la plantilla no está aprobada: está " + store.TemplateStatusText(tmpl.Status),
			Signal: store.SignalTemplateStatus, Value: tmpl.Status}
	case badQuality(tmpl.Quality, ws.Settings):
		// The quality rule pauses running campaigns when the template drops; one that dropped
		// while this campaign was scheduled pauses it at launch, under the same signal, so the
		// auto-resume picks it up when the quality recovers.
		pause = &store.TransitionParams{Actor: store.ActorRule, Reason: "la calidad de la plantilla es " + store.QualityText(tmpl.Quality),
			Signal: store.SignalTemplateQuality, Value: tmpl.Quality}
	}
	if pause != nil {
		if _, err := store.CampaignTransition(ctx, tx, c.WorkspaceID, c.ID, store.CampaignPaused, *pause); err != nil {
			return res, err
		}
	}
	res.Launched = true
	res.SenderNumberID = number.ID
	res.Took = time.Since(start)
	return res, nil
}

// SnapshotFor builds the launch snapshot (and the plan's counts) of a campaign: its audience,
// its mapping, and the frequency cap — the campaign's, or the workspace's by default, applied to
// marketing templates only.
func SnapshotFor(c store.Campaign, ws store.Workspace, tmpl store.Template, m campaigns.Mapping, aud campaigns.Audience, now time.Time) campaigns.Snapshot {
	settings := ws.Settings.Effective()
	capN, capDays := settings.FrequencyCap, settings.FrequencyCapDays
	if c.FrequencyCap != nil {
		capN = *c.FrequencyCap
	}
	if c.FrequencyCapDays != nil {
		capDays = *c.FrequencyCapDays
	}
	if tmpl.Category != "" && tmpl.Category != "MARKETING" {
		capN = 0
	}
	return campaigns.Snapshot{
		WorkspaceID: c.WorkspaceID, CampaignID: c.ID, Audience: aud.Cond, Mapping: m,
		FrequencyCap: capN, Since: now.AddDate(0, 0, -capDays), Now: now,
	}
}

// addCampaignWorkers registers the launch, template sync and number check workers.
func addCampaignWorkers(ws *river.Workers, d Deps) {
	river.AddWorker(ws, &LaunchCampaignWorker{db: d.DB, log: d.Logger, now: d.Now, compile: CompileSegment})
	river.AddWorker(ws, &SyncTemplatesWorker{db: d.DB, wa: d.WhatsApp, log: d.Logger})
	river.AddWorker(ws, &CheckNumbersWorker{db: d.DB, wa: d.WhatsApp, log: d.Logger})
	river.AddWorker(ws, &PaceWatchdogWorker{db: d.DB, log: cmp.Or(d.Logger, slog.Default())})
}

// CampaignPeriodicJobs syncs templates and checks every number's health hourly (and at start),
// and keeps every running number's pacer chain alive.
func CampaignPeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return SyncTemplatesArgs{}, nil },
			&river.PeriodicJobOpts{ID: "sync_templates", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return CheckNumbersArgs{}, nil },
			&river.PeriodicJobOpts{ID: "check_numbers", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(PaceWatchdogInterval),
			func() (river.JobArgs, *river.InsertOpts) { return PaceWatchdogArgs{}, nil },
			&river.PeriodicJobOpts{ID: "pace_watchdog", RunOnStart: true}),
	}
}

// CompileSegment compiles a campaign's segment definition into its audience condition
// (workspace scope and eligibility included), for the launch and the launch plan alike.
func CompileSegment(workspaceID int64, definition json.RawMessage, now time.Time, loc *time.Location) (sq.Sqlizer, bool, string, error) {
	def, err := segments.Parse(definition)
	if err != nil {
		return nil, false, "", err
	}
	cond, err := segments.Compile(workspaceID, def, segments.CompileOptions{Now: now, Location: loc})
	if err != nil {
		return nil, false, "", err
	}
	return cond, def.IsEmpty(), def.Hash(), nil
}
