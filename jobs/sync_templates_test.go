package jobs

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

// TestSyncTemplatesAndCheckNumbers runs the periodic sync and health check against the
// simulator: templates and their changes are recorded, a template turning RED (which Meta
// pauses) pauses its running campaign by rule, and coming back resumes it with auto-resume on.
func TestSyncTemplatesAndCheckNumbers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	sm := sim.New(sim.Config{Seed: 2})
	ts := httptest.NewServer(sm)
	t.Cleanup(ts.Close)
	client := whatsapp.New(whatsapp.Config{BaseURL: ts.URL, Token: "t"})
	wa := func(store.SenderNumber) (*whatsapp.Client, error) { return client, nil }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	driver := riverpgxv5.New(db)

	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "sync"})
	must2(t, err)
	_, err = store.WorkspaceUpdateByID(ctx, db, ws.ID, store.WorkspaceUpdate{Settings: &store.WorkspaceSettings{AutoResume: true}})
	must2(t, err)
	n, err := store.SenderNumberCreate(ctx, db, store.SenderNumberCreateParams{WorkspaceID: ws.ID, PhoneNumberID: sim.DefaultPhoneNumberID, WABAID: sim.DefaultWABAID})
	must2(t, err)

	work := func(t *testing.T, worker any) {
		t.Helper()
		tx, err := db.Begin(ctx)
		must2(t, err)
		defer tx.Rollback(ctx)
		var res *rivertest.WorkResult
		switch w := worker.(type) {
		case *SyncTemplatesWorker:
			res, err = rivertest.NewWorker(t, driver, &river.Config{}, w).Work(ctx, t, tx, SyncTemplatesArgs{}, nil)
		case *CheckNumbersWorker:
			res, err = rivertest.NewWorker(t, driver, &river.Config{}, w).Work(ctx, t, tx, CheckNumbersArgs{}, nil)
		}
		must2(t, err)
		if res.EventKind != river.EventKindJobCompleted {
			t.Fatalf("job %s", res.EventKind)
		}
		must2(t, tx.Commit(ctx))
	}
	syncW := &SyncTemplatesWorker{db: db, wa: wa, log: log}
	checkW := &CheckNumbersWorker{db: db, wa: wa, log: log}

	t.Run("CheckNumbersRecordsHealth", func(t *testing.T) {
		work(t, checkW)
		got, _ := store.SenderNumberGetByID(ctx, db, ws.ID, n.ID)
		evs, _ := store.NumberEventList(ctx, db, ws.ID, n.ID, 10)
		if got.QualityRating != "GREEN" || got.LastCheckedAt == nil || len(evs) == 0 {
			t.Fatalf("number %+v events %+v", got, evs)
		}
		w, _ := store.WorkspaceGetByID(ctx, db, ws.ID)
		if w.MessagingLimit != 2000 { // the simulator's default tier, TIER_2K
			t.Fatalf("workspace limit %d, want 2000 from the number's tier", w.MessagingLimit)
		}
		work(t, checkW) // nothing changed: no new event
		if again, _ := store.NumberEventList(ctx, db, ws.ID, n.ID, 10); len(again) != len(evs) {
			t.Fatalf("%d events after an idle check, want %d", len(again), len(evs))
		}
	})

	var promo store.Template
	t.Run("SyncUpserts", func(t *testing.T) {
		work(t, syncW)
		list, err := store.TemplateList(ctx, db, ws.ID, store.TemplateFilter{Name: "promo_temporada"})
		must2(t, err)
		if len(list) != 1 || list[0].Status != "APPROVED" || list[0].Quality != "GREEN" {
			t.Fatalf("templates %+v", list)
		}
		promo = list[0]
	})

	t.Run("RedPausesAndRecoveryResumes", func(t *testing.T) {
		c, err := store.CampaignCreate(ctx, db, store.Campaign{WorkspaceID: ws.ID, Name: "x", SenderNumberID: &n.ID, TemplateID: &promo.ID})
		must2(t, err)
		_, err = db.Exec(ctx, `UPDATE campaigns SET state = 'running' WHERE id = $1`, c.ID)
		must2(t, err)
		must2(t, sm.SetTemplateQuality("promo_temporada", "es_MX", "RED"))
		work(t, syncW)
		got, _ := store.CampaignGetByID(ctx, db, ws.ID, c.ID)
		recs, _ := store.CampaignTransitionList(ctx, db, ws.ID, c.ID)
		if got.State != store.CampaignPaused || len(recs) == 0 || recs[len(recs)-1].Actor != "rule" ||
			(recs[len(recs)-1].Signal != store.SignalTemplateQuality && recs[len(recs)-1].Signal != store.SignalTemplateStatus) {
			t.Fatalf("after RED: %s %+v", got.State, recs)
		}
		evs, _ := store.TemplateEventList(ctx, db, ws.ID, promo.ID, 10)
		red := false
		for _, e := range evs {
			red = red || (e.Kind == "quality" && e.OldValue == "GREEN" && e.NewValue == "RED" && e.Source == "sync")
		}
		if !red {
			t.Fatalf("events %+v, want a quality RED event", evs)
		}
		// Meta may have paused the template on RED; bring it back to APPROVED and GREEN.
		_ = sm.SetTemplateStatus("promo_temporada", "es_MX", "APPROVED", "")
		must2(t, sm.SetTemplateQuality("promo_temporada", "es_MX", "GREEN"))
		work(t, syncW)
		got, _ = store.CampaignGetByID(ctx, db, ws.ID, c.ID)
		if got.State != store.CampaignRunning {
			t.Fatalf("after recovery: %s", got.State)
		}
		rivertest.RequireInserted(ctx, t, driver, &PaceArgs{SenderNumberID: n.ID}, nil)
	})
}
