package web

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// seedTemplate upserts an approved marketing template with a body variable and a button.
func seedTemplate(t testing.TB, env *testEnv, wsID int64, name string) store.Template {
	t.Helper()
	ctx := context.Background()
	comps := json.RawMessage(`[{"type":"HEADER","format":"TEXT","text":"¡Hola!"},
		{"type":"BODY","text":"Hola {{1}}, tenemos 20% de descuento en {{2}}.","example":{"body_text":[["Ana","zapatos"]]}},
		{"type":"FOOTER","text":"Responda BAJA para no recibir más"},
		{"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"Me interesa"}]}]`)
	_, err := store.TemplateUpsert(ctx, env.db, wsID, store.TemplateSync{WABAID: "2001", MetaID: "m-" + name, Name: name, Language: "es",
		Category: "MARKETING", Status: "APPROVED", Quality: "GREEN", ParameterFormat: "POSITIONAL", Components: comps}, "sync")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := store.TemplateList(ctx, env.db, wsID, store.TemplateFilter{Name: name})
	if err != nil || len(ts) == 0 {
		t.Fatalf("seeded template not found: %v", err)
	}
	if _, err := store.TemplateSetState(ctx, env.db, ts[0].ID, "quality", "YELLOW", "calidad en baja", "webhook", time.Time{}); err != nil {
		t.Fatal(err)
	}
	return ts[0]
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	tp := seedTemplate(t, env, env.wsA.ID, "promo_navidad")
	other := seedTemplate(t, env, env.wsB.ID, "solo_de_b")

	for _, role := range allRoles {
		t.Run(string(role), func(t *testing.T) {
			b := env.as(role)
			p := b.get("/templates").expect(t, http.StatusOK)
			row := p.has(t, `tr[data-template="`+itoa(tp.ID)+`"]`)
			if p.Doc.Find(`tr[data-template="`+itoa(other.ID)+`"]`).Length() != 0 {
				t.Fatal("another workspace's template is listed")
			}
			if row.Find(".badge.cat").Text() != "MARKETING" || row.Find(".st-approved").Length() != 1 || row.Find(".q-yellow").Length() != 1 {
				t.Fatalf("badges: %s", row.Text())
			}
			p.contains(t, `tr[data-template="`+itoa(tp.ID)+`"]`, "body.1")
			if role == store.RoleAnalyst {
				p.hasNot(t, "#sync-templates")
			} else {
				p.has(t, "#sync-templates")
			}
			p = b.get("/templates/"+itoa(tp.ID)).expect(t, http.StatusOK)
			p.contains(t, ".bubble .body", "Hola {{1}}, tenemos 20% de descuento")
			p.contains(t, ".bubble", "Me interesa")
			p.contains(t, "table.history", "YELLOW")
			p.contains(t, "main", "la variable {{2}} del cuerpo")
		})
	}
	t.Run("Filter", func(t *testing.T) {
		p := env.as(store.RoleAnalyst).get("/templates?status=REJECTED").expect(t, http.StatusOK)
		p.hasNot(t, "tr[data-template]")
	})
	t.Run("OtherWorkspace404", func(t *testing.T) {
		env.as(store.RoleOwner).get("/templates/"+itoa(other.ID)).expect(t, http.StatusNotFound)
	})
	t.Run("SyncRoles", func(t *testing.T) {
		env.as(store.RoleAnalyst).post("/templates/sync", nil).expect(t, http.StatusForbidden)
		// no WhatsApp client in this server: the failure is shown as a flash, not a crash
		p := env.as(store.RoleMarketer).post("/templates/sync", nil).expect(t, http.StatusOK)
		p.has(t, ".flash")
	})
}
