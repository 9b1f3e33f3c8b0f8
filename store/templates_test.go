package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// A webhook names the second of its change; a sync earlier in that same second does not make
// it stale, a value held from a later second does.
func TestTemplateWebhookOfTheSyncsSecondApplies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Tx(t)
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "plantillas"})
	must(t, err)
	second := time.Date(2026, 12, 6, 8, 31, 31, 0, time.UTC)
	synced := second.Add(530 * time.Millisecond)
	var id int64
	must(t, db.QueryRow(ctx, `INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status, quality, state_changed_at)
		VALUES ($1, 'w', 'm1', 'promo', 'es', 'MARKETING', 'APPROVED', 'UNKNOWN', jsonb_build_object('quality', $2::timestamptz))
		RETURNING id`, ws.ID, synced).Scan(&id))

	res, err := store.TemplateSetState(ctx, db, id, "quality", "YELLOW", "", "webhook", second)
	must(t, err)
	if res.Stale || !res.Changed {
		t.Fatalf("a report from the sync's second: %+v, want applied", res)
	}
	res, err = store.TemplateSetState(ctx, db, id, "quality", "RED", "", "webhook", second.Add(-time.Second))
	must(t, err)
	if !res.Stale || res.Changed {
		t.Fatalf("a report from the second before: %+v, want stale", res)
	}
	var q string
	must(t, db.QueryRow(ctx, `SELECT quality FROM templates WHERE id = $1`, id).Scan(&q))
	if q != "YELLOW" {
		t.Fatalf("quality %s, want YELLOW", q)
	}
}

// A sync stores the template list as Meta gave it when it was read: a status a webhook reported
// after that read (Meta paused the template while the list was being stored) is newer and stays;
// it used to be overwritten by the list's older APPROVED. A list read after the webhook wins.
func TestTemplateSyncKeepsNewerWebhookState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Tx(t)
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "plantillas"})
	must(t, err)
	sync := func(status string, readAt time.Time) store.Template {
		t.Helper()
		up, err := store.TemplateUpsert(ctx, db, ws.ID, store.TemplateSync{WABAID: "w", MetaID: "m1", Name: "promo", Language: "es",
			Category: "MARKETING", Status: status, Quality: "GREEN", ReadAt: readAt}, "sync")
		must(t, err)
		return up.Template
	}
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	tmpl := sync("APPROVED", t0)
	if _, err := store.TemplateSetState(ctx, db, tmpl.ID, "status", "PAUSED", "LOW_QUALITY", "webhook", t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := sync("APPROVED", t0.Add(5*time.Second)); got.Status != "PAUSED" {
		t.Errorf("a list read before the pause overwrote it: status %s", got.Status)
	}
	if got := sync("APPROVED", t0.Add(20*time.Second)); got.Status != "APPROVED" {
		t.Errorf("a list read after the pause: status %s, want APPROVED", got.Status)
	}
}
