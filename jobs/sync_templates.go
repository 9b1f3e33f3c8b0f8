package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// SyncTemplatesArgs pulls the message templates of a workspace's WABAs (WorkspaceID 0: every
// workspace) and records every status, quality and category change as a template event.
type SyncTemplatesArgs struct {
	WorkspaceID int64 `json:"workspace_id,omitempty"`
}

func (SyncTemplatesArgs) Kind() string { return "sync_templates" }

func (SyncTemplatesArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSync, MaxAttempts: 5}
}

// SyncTemplatesWorker runs SyncTemplates.
type SyncTemplatesWorker struct {
	river.WorkerDefaults[SyncTemplatesArgs]
	db  *pgxpool.Pool
	wa  func(store.SenderNumber) (*whatsapp.Client, error)
	log *slog.Logger
}

func (w *SyncTemplatesWorker) Work(ctx context.Context, job *river.Job[SyncTemplatesArgs]) error {
	if w.wa == nil {
		w.log.WarnContext(ctx, "template sync skipped: no WhatsApp client configured")
		return nil
	}
	res, err := SyncTemplates(ctx, w.db, river.ClientFromContext[pgx.Tx](ctx), w.wa, job.Args.WorkspaceID)
	w.log.InfoContext(ctx, "template sync", slog.Int64("workspace_id", job.Args.WorkspaceID),
		slog.Int("templates", res.Templates), slog.Int("events", res.Events), slog.Any("error", err))
	return err
}

// SyncResult counts what a sync saw and changed.
type SyncResult struct {
	WABAs     int `json:"wabas"`
	Templates int `json:"templates"`
	Created   int `json:"created"`
	Events    int `json:"events"`
	Paused    int `json:"campaigns_paused"`
	Resumed   int `json:"campaigns_resumed"`
}

// SyncTemplates pulls the templates of every WABA of the workspace (0: all workspaces) through
// one of its numbers, upserts them, marks templates Meta no longer lists as DELETED, and applies
// the auto-pause rules to campaigns whose template turned bad (and auto-resume when enabled).
func SyncTemplates(ctx context.Context, db *pgxpool.Pool, rc *river.Client[pgx.Tx], wa func(store.SenderNumber) (*whatsapp.Client, error), workspaceID int64) (SyncResult, error) {
	var res SyncResult
	if wa == nil {
		return res, errors.New("syncing templates: no WhatsApp client configured")
	}
	var numbers []store.SenderNumber
	var err error
	if workspaceID != 0 {
		numbers, err = store.SenderNumberList(ctx, db, workspaceID)
	} else {
		numbers, err = store.SenderNumberListAll(ctx, db)
	}
	if err != nil {
		return res, err
	}
	type wabaKey struct {
		ws   int64
		waba string
	}
	seen := map[wabaKey]bool{}
	var errs []error
	for _, n := range numbers {
		k := wabaKey{n.WorkspaceID, n.WABAID}
		if seen[k] {
			continue
		}
		seen[k] = true
		res.WABAs++
		client, err := wa(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("client for number %d: %w", n.ID, err))
			continue
		}
		readAt := time.Now()
		list, err := client.ListTemplates(ctx, n.WABAID)
		if err != nil {
			errs = append(errs, fmt.Errorf("workspace %d: %w", n.WorkspaceID, err))
			continue
		}
		if err := syncWABA(ctx, db, rc, n.WorkspaceID, n.WABAID, list, readAt, &res); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// syncWABA stores a WABA's template list, read at readAt (a change a webhook reported since is
// newer and kept).
func syncWABA(ctx context.Context, db *pgxpool.Pool, rc *river.Client[pgx.Tx], workspaceID int64, wabaID string, list []whatsapp.Template, readAt time.Time, res *SyncResult) error {
	ws, err := store.WorkspaceGetByID(ctx, db, workspaceID)
	if err != nil {
		return err
	}
	settings := ws.Settings.Effective()
	listed := map[string]bool{}
	for _, t := range list {
		comps, _ := json.Marshal(t.Components)
		lang := normLang(t.Language)
		listed[t.Name+"/"+lang] = true
		up, err := store.TemplateUpsert(ctx, db, workspaceID, store.TemplateSync{
			WABAID: wabaID, MetaID: t.ID, Name: t.Name, Language: lang, Category: t.Category, Status: t.Status,
			Quality: t.QualityScore.Score, ParameterFormat: t.ParameterFormat, Components: comps, ReadAt: readAt,
		}, "sync")
		if err != nil {
			return err
		}
		res.Templates++
		res.Events += len(up.Events)
		if up.Created {
			res.Created++
		}
		for _, e := range up.Events {
			if up.Created && e.Kind == "status" {
				continue // first sighting: nothing is running on it yet
			}
			if err := applyTemplateRules(ctx, db, rc, up.Template, e, settings, res); err != nil {
				return err
			}
		}
	}
	// Templates Meta no longer lists were deleted there.
	existing, err := store.TemplateList(ctx, db, workspaceID, store.TemplateFilter{Limit: 10000})
	if err != nil {
		return err
	}
	for _, t := range existing {
		if t.WABAID != wabaID || listed[t.Name+"/"+t.Language] || t.Status == "DELETED" {
			continue
		}
		ch, err := store.TemplateSetState(ctx, db, t.ID, "status", "DELETED", "ya no aparece en la cuenta de WhatsApp Business", "sync", time.Time{})
		if err != nil {
			return err
		}
		if ch.Changed {
			res.Events++
			if err := applyTemplateRules(ctx, db, rc, t, store.TemplateEvent{Kind: "status", OldValue: t.Status, NewValue: "DELETED"}, settings, res); err != nil {
				return err
			}
		}
	}
	return nil
}

func normLang(l string) string {
	out := []byte(l)
	for i, c := range out {
		if c == '-' {
			out[i] = '_'
		}
	}
	return string(out)
}

// applyTemplateRules pauses the running campaigns of a template that turned bad (status
// PAUSED, DISABLED, REJECTED, DELETED…; quality RED, or YELLOW when the workspace says so) and,
// with auto-resume on, resumes the ones a template rule paused once the template is APPROVED
// with an acceptable quality again.
func applyTemplateRules(ctx context.Context, db *pgxpool.Pool, rc *river.Client[pgx.Tx], t store.Template, e store.TemplateEvent, s store.WorkspaceSettings, res *SyncResult) error {
	bad := false
	signal := store.SignalTemplateStatus
	switch e.Kind {
	case "status":
		bad = store.TemplateStopStatuses[e.NewValue]
	case "quality":
		signal = store.SignalTemplateQuality
		bad = e.NewValue == "RED" || (e.NewValue == "YELLOW" && s.PauseOnYellow)
	}
	p := store.TransitionParams{Actor: store.ActorRule, Signal: signal, Value: e.NewValue}
	if bad {
		p.Reason = fmt.Sprintf("la plantilla %s (%s) pasó de %s a %s", t.Name, t.Language, orDash(e.OldValue), e.NewValue)
		ids, err := store.CampaignsPauseForTemplate(ctx, db, t.ID, p)
		res.Paused += len(ids)
		return err
	}
	good := (e.Kind == "status" && e.NewValue == "APPROVED") ||
		(e.Kind == "quality" && (e.NewValue == "GREEN" || (e.NewValue == "YELLOW" && !s.PauseOnYellow)))
	if good && s.AutoResume && t.Status == "APPROVED" && t.Quality != "RED" && !(t.Quality == "YELLOW" && s.PauseOnYellow) {
		p.Reason = fmt.Sprintf("reanudada automáticamente: la plantilla %s está aprobada y con calidad %s", t.Name, t.Quality)
		tx, err := db.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		resumed, err := store.CampaignsResumeForTemplate(ctx, tx, t.ID, p)
		if err != nil {
			return err
		}
		if err := InsertPaceFor(ctx, rc, tx, resumed); err != nil {
			return err
		}
		res.Resumed += len(resumed)
		return tx.Commit(ctx)
	}
	return nil
}

// InsertPaceFor enqueues the pacer of each campaign's sender number, in tx (resume).
func InsertPaceFor(ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, cs []store.Campaign) error {
	done := map[int64]bool{}
	for _, c := range cs {
		if c.SenderNumberID == nil || done[*c.SenderNumberID] {
			continue
		}
		done[*c.SenderNumberID] = true
		if _, err := client.InsertTx(ctx, tx, PaceArgs{SenderNumberID: *c.SenderNumberID}, nil); err != nil {
			return fmt.Errorf("enqueueing pacing of number %d: %w", *c.SenderNumberID, err)
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
