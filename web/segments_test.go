package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

func TestSegments(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	seg := seedAudience(t, env, env.wsA.ID, 4)
	segB := seedAudience(t, env, env.wsB.ID, 1)
	mk := env.as(store.RoleMarketer)

	for _, role := range allRoles {
		t.Run(string(role), func(t *testing.T) {
			b := env.as(role)
			p := b.get("/segments").expect(t, http.StatusOK)
			p.contains(t, `tr[data-segment="`+itoa(seg)+`"]`, "Clientes VIP")
			p.contains(t, `tr[data-segment="`+itoa(seg)+`"] td.num`, "4")
			p.hasNot(t, `tr[data-segment="`+itoa(segB)+`"]`)
			p = b.get("/segments/"+itoa(seg)).expect(t, http.StatusOK)
			p.contains(t, "#eligible", "4")
			p.contains(t, `#excluded li[data-reason="no_consent"]`, "1")
			if n := p.Doc.Find("#sample li").Length(); n != 4 {
				t.Fatalf("sample has %d contacts", n)
			}
			def, _ := p.has(t, "#f-definition").Attr("value")
			if !strings.Contains(def, `"vip"`) {
				t.Fatalf("definition %s", def)
			}
			p.has(t, `script[src="/static/segments.js"]`)
			if role == store.RoleAnalyst {
				p.has(t, "#builder[data-readonly]")
				p.hasNot(t, "#save-segment")
				b.get("/segments/new").expect(t, http.StatusForbidden)
				b.post("/segments/"+itoa(seg), url.Values{"name": {"x"}}).expect(t, http.StatusForbidden)
			} else {
				p.has(t, "#save-segment")
			}
		})
	}

	t.Run("CreateShowsProblemsByPath", func(t *testing.T) {
		p := mk.get("/segments/new").expect(t, http.StatusOK)
		p.has(t, `#builder[data-labels]`)
		bad := `{"all":[{"field":"tags","op":"has_any","value":["vip"]},{"field":"attribute","key":"","op":"eq","value":"x"}]}`
		p = mk.post("/segments/new", url.Values{"name": {"Mal"}, "definition": {bad}}).expect(t, http.StatusUnprocessableEntity)
		li := p.has(t, "#definition-problems li[data-path]")
		if path, _ := li.First().Attr("data-path"); !strings.HasPrefix(path, "definition.all[1]") {
			t.Fatalf("problem path %q", path)
		}
		if v, _ := p.Doc.Find("#f-definition").Attr("value"); v != bad {
			t.Fatalf("the definition typed is lost: %s", v)
		}
		p = mk.post("/segments/new", url.Values{"name": {""}, "definition": {`{"all":[]}`}}).expect(t, http.StatusUnprocessableEntity)
		p.has(t, "#e-name")
		good := `{"all":[{"field":"attribute","key":"ciudad","op":"eq","value":"Medellín"}]}`
		p = mk.post("/segments/new", url.Values{"name": {"Medellín"}, "definition": {good}}).expect(t, http.StatusOK)
		p.has(t, ".flash-ok")
		p.contains(t, "#eligible", "4")
		id := strings.TrimPrefix(p.URL, "/segments/")
		p = mk.post("/segments/"+id, url.Values{"name": {"Medellín VIP"}, "definition": {good}}).expect(t, http.StatusOK)
		p.contains(t, "h1", "Medellín VIP")
		p = mk.post("/segments/"+id+"/delete", nil).expect(t, http.StatusOK)
		if p.URL != "/segments" {
			t.Fatalf("after delete at %s", p.URL)
		}
	})
	t.Run("PreviewAPIWithTheSessionAndCSRF", func(t *testing.T) {
		// what segments.js does: POST the definition with the page's CSRF token in a header
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, env.http.URL+"/api/v1/segments/preview",
			strings.NewReader(`{"definition":{"all":[{"field":"tags","op":"has_any","value":["vip"]}]}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", mk.csrf)
		p := mk.do(req)
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `"eligible":4`) {
			t.Fatalf("preview: %d %s", p.Status, p.Body)
		}
	})
	t.Run("OtherWorkspace404", func(t *testing.T) {
		env.as(store.RoleOwner).get("/segments/"+itoa(segB)).expect(t, http.StatusNotFound)
		env.as(store.RoleOwner).post("/segments/"+itoa(segB), url.Values{"name": {"x"}, "definition": {"{}"}}).expect(t, http.StatusNotFound)
	})
}

// The builder offers the workspace's launched campaigns for engagement conditions ("did not
// read Black Friday"), not drafts and not the other workspace's.
func TestSegmentBuilderOffersLaunchedCampaigns(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	_, launched := seedDashboard(t, env)
	ctx := context.Background()
	if _, err := env.db.Exec(ctx, `UPDATE campaigns SET state = 'completed' WHERE id = $1`, launched.ID); err != nil {
		t.Fatal(err)
	}
	var draft, other int64
	env.db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name) VALUES ($1, 'Borrador') RETURNING id`, env.wsA.ID).Scan(&draft)
	env.db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, 'Ajena', 'completed') RETURNING id`, env.wsB.ID).Scan(&other)
	p := env.as(store.RoleMarketer).get("/segments/new").expect(t, http.StatusOK)
	raw, _ := p.has(t, "#builder").Attr("data-campaigns")
	var got []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("data-campaigns %q: %v", raw, err)
	}
	if len(got) != 1 || got[0].ID != launched.ID || got[0].Name != launched.Name {
		t.Fatalf("campaigns offered %+v, want only %d %q (not draft %d nor the other workspace's %d)", got, launched.ID, launched.Name, draft, other)
	}
}
