package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

// Marketers and owners start a contacts export (CSV or XLSX) from the exports page and see it
// listed; analysts get no form (the API refuses them the contacts' personal data).
func TestExportsStartContacts(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	seedAudience(t, env, env.wsA.ID, 2)

	an := env.as(store.RoleAnalyst)
	an.get("/exports").expect(t, http.StatusOK).hasNot(t, "#contacts-export")
	an.post("/exports/contacts", url.Values{"format": {"csv"}}).expect(t, http.StatusForbidden)

	for _, role := range []store.Role{store.RoleMarketer, store.RoleOwner} {
		b := env.as(role)
		p := b.get("/exports").expect(t, http.StatusOK)
		p.has(t, `form#contacts-export[method="post"] select[name="format"] option[value="csv"]`)
		p.has(t, `form#contacts-export option[value="xlsx"]`)
	}
	mk := env.as(store.RoleMarketer)
	p := mk.post("/exports/contacts", url.Values{"format": {"xlsx"}, "attributes": {"ciudad"}}).expect(t, http.StatusOK)
	if p.URL != "/exports" {
		t.Fatalf("after starting: at %s", p.URL)
	}
	p.has(t, ".flash-ok")
	if n := p.Doc.Find("tr[data-export]").Length(); n != 1 {
		t.Fatalf("%d exports listed, want the one started", n)
	}
	var kind, format, params string
	if err := env.db.QueryRow(ctx, `SELECT kind, format, params::text FROM exports WHERE workspace_id = $1`, env.wsA.ID).Scan(&kind, &format, &params); err != nil {
		t.Fatal(err)
	}
	if kind != "contacts" || format != "xlsx" || !strings.Contains(params, "ciudad") {
		t.Errorf("export %s %s %s, want contacts xlsx with the attribute ciudad", kind, format, params)
	}
	// a format the API refuses: the page again with its message, the choice kept
	p = mk.post("/exports/contacts", url.Values{"format": {"pdf"}}).expect(t, http.StatusUnprocessableEntity)
	p.contains(t, "#form-error", "csv o xlsx")
}

// A template's export is offered with a period: from and to are days, to included (the API's
// to is exclusive); another workspace's template answers 404.
func TestTemplateExportPeriod(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	tp := seedTemplate(t, env, env.wsA.ID, "promo_navidad")
	an := env.as(store.RoleAnalyst)
	p := an.get("/reports/templates/"+itoa(tp.ID)).expect(t, http.StatusOK)
	p.has(t, `form#template-export[method="get"] input[name="from"][type="date"]`)
	p.has(t, `form#template-export input[name="to"][type="date"]`)
	p.has(t, `form#template-export button[name="format"][value="xlsx"]`)

	base := "/reports/templates/" + itoa(tp.ID) + "/export"
	an.follow = false
	res := an.get(base+"?from=2026-11-01&to=2026-11-30&format=xlsx").expect(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/api/v1/exports/templates/"+itoa(tp.ID)+"?format=xlsx&from=2026-11-01&to=2026-12-01" {
		t.Errorf("led to %q", loc)
	}
	res = an.get(base+"?format=csv").expect(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/api/v1/exports/templates/"+itoa(tp.ID)+"?format=csv" {
		t.Errorf("without a period, led to %q", loc)
	}
	res = an.get(base+"?from=2026-11-30&to=2026-11-01&format=csv").expect(t, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/reports/templates/"+itoa(tp.ID) {
		t.Errorf("a reversed period led to %q", loc)
	}
	an.get(base+"?from=30/11/2026&format=csv").expect(t, http.StatusBadRequest)
	// followed, the API answers with the file
	an.follow = true
	req, _ := http.NewRequest(http.MethodGet, env.http.URL+base+"?from=2026-11-01&to=2026-11-30&format=csv", nil)
	r, err := an.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Content-Type"), "csv") {
		t.Errorf("the export answered %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	env.session(env.userB.ID, env.wsB.ID).get(base+"?format=csv").expect(t, http.StatusNotFound)
}
