package web

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
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
			if row.Find(".badge.cat").Text() != "marketing" || row.Find(".st-approved").Text() != "aprobada" || row.Find(".q-yellow").Text() != "calidad media" {
				t.Fatalf("badges: %s", row.Text())
			}
			// Meta's values in words; the filter's options keep them as values
			if got := p.text(`#f-status option[value="APPROVED"]`); got != "aprobada" {
				t.Fatalf("status filter option APPROVED reads %q", got)
			}
			if got := p.text(`#f-category option[value="UTILITY"]`); got != "utilidad" {
				t.Fatalf("category filter option UTILITY reads %q", got)
			}
			noRawMetaValues(t, p)
			p.contains(t, `tr[data-template="`+itoa(tp.ID)+`"]`, "body.1")
			if role == store.RoleAnalyst {
				p.hasNot(t, "#sync-templates")
			} else {
				p.has(t, "#sync-templates")
			}
			p = b.get("/templates/"+itoa(tp.ID)).expect(t, http.StatusOK)
			p.contains(t, ".bubble .body", "Hola {{1}}, tenemos 20% de descuento")
			p.contains(t, ".bubble", "Me interesa")
			p.contains(t, "table.history", "calidad media")
			p.contains(t, `table.history tr[data-kind="quality"] td:nth-child(2)`, "calidad")
			p.contains(t, `table.history tr[data-kind="quality"] td:nth-child(3)`, "calidad alta")
			p.contains(t, `table.history tr[data-kind="quality"] td:nth-child(5)`, "aviso de Meta")
			p.contains(t, "main", "la variable {{2}} del cuerpo")
			noRawMetaValues(t, p)
		})
	}
	t.Run("English", func(t *testing.T) {
		b := env.as(store.RoleAnalyst)
		b.get("/lang/en").expect(t, http.StatusOK)
		p := b.get("/templates").expect(t, http.StatusOK)
		row := p.has(t, `tr[data-template="`+itoa(tp.ID)+`"]`)
		if row.Find(".st-approved").Text() != "approved" || row.Find(".q-yellow").Text() != "medium quality" || row.Find(".badge.cat").Text() != "marketing" {
			t.Fatalf("English badges: %s", row.Text())
		}
		p = b.get("/templates/"+itoa(tp.ID)).expect(t, http.StatusOK)
		p.contains(t, `table.history tr[data-kind="quality"]`, "high quality")
		noRawMetaValues(t, p)
	})
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

// noRawMetaValues fails if the page's text shows one of Meta's raw values (GREEN, APPROVED,
// MARKETING…) instead of its words.
func noRawMetaValues(t testing.TB, p htmlPage) {
	t.Helper()
	text := p.text("main")
	for _, raw := range []string{"GREEN", "YELLOW", "RED", "UNKNOWN", "APPROVED", "PENDING", "PAUSED", "REJECTED", "DISABLED", "DELETED", "MARKETING", "UTILITY", "AUTHENTICATION"} {
		if regexp.MustCompile(`\b` + raw + `\b`).MatchString(text) {
			t.Errorf("%s shows %s: %s", p.URL, raw, truncate(text, 600))
		}
	}
}
