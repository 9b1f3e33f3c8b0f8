package web

import (
	"context"
	"net/http"
	"testing"

	"github.com/pregon/pregon/store"
)

// Lists a page offers whole read every page of the API: the reports index's templates (they
// stopped at 200), the wizard's segments (200) and approved templates (500), the segments
// (200) and templates (500) pages.
func TestListsOfferedWhole(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	ws := env.wsA.ID
	n, _ := seedDashboard(t, env)
	env.exec(t, `INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status, quality, components)
		SELECT $1, '2001', 'm' || g, 'plantilla_' || g, 'es', 'MARKETING', 'APPROVED', 'GREEN',
		       '[{"type":"BODY","text":"Hola, tenemos novedades."}]'
		FROM generate_series(1, 501) g`, ws)
	env.exec(t, `INSERT INTO segments (workspace_id, name, definition) SELECT $1, 'Segmento ' || g, '{"all":[]}' FROM generate_series(1, 201) g`, ws)
	c, err := store.CampaignCreate(ctx, env.db, store.Campaign{WorkspaceID: ws, Name: "Muchas opciones", SenderNumberID: &n.ID})
	if err != nil {
		t.Fatal(err)
	}

	an := env.as(store.RoleAnalyst)
	if got := an.get("/reports").expect(t, http.StatusOK).Doc.Find(`a[href^="/reports/templates/"]`).Length(); got != 501 {
		t.Errorf("the reports index lists %d templates, want 501", got)
	}
	if got := an.get("/templates").expect(t, http.StatusOK).Doc.Find(`td a[href^="/templates/"]`).Length(); got != 501 {
		t.Errorf("the templates page links %d templates, want 501", got)
	}
	if got := an.get("/segments").expect(t, http.StatusOK).Doc.Find(`tr[data-segment]`).Length(); got != 201 {
		t.Errorf("the segments page links %d segments, want 201", got)
	}
	mk := env.as(store.RoleMarketer)
	edit := "/campaigns/" + itoa(c.ID) + "/edit?step="
	if got := mk.get(edit+"template").expect(t, http.StatusOK).Doc.Find(`input[name="template_id"]`).Length(); got != 501 {
		t.Errorf("the wizard offers %d templates, want 501", got)
	}
	if got := mk.get(edit+"segment").expect(t, http.StatusOK).Doc.Find(`input[name="segment_id"]`).Length(); got != 201 {
		t.Errorf("the wizard offers %d segments, want 201", got)
	}
}
