package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

func TestReports(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	n, c := seedDashboard(t, env)
	tp := seedTemplate(t, env, env.wsA.ID, "promo_navidad")

	for _, role := range allRoles {
		t.Run(string(role), func(t *testing.T) {
			b := env.as(role)
			p := b.get("/reports").expect(t, http.StatusOK)
			p.has(t, `a[href="/reports/campaigns/`+itoa(c.ID)+`"]`)
			p.has(t, `a[href="/reports/templates/`+itoa(tp.ID)+`"]`)
			p.has(t, `a[href="/reports/numbers/`+itoa(n.ID)+`"]`)
			if p.Doc.Find(`a[href^="/reports/campaigns/"]`).Length() != 1 {
				t.Fatal("drafts are listed among reports")
			}

			p = b.get("/reports/campaigns/"+itoa(c.ID)).expect(t, http.StatusOK)
			p.contains(t, "h1", "Black Friday")
			p.has(t, "ul.funnel li[data-step=delivered]")
			p.has(t, `#export-csv[href="/api/v1/exports/campaigns/`+itoa(c.ID)+`?format=csv"]`)
			p.has(t, `#export-xlsx`)
			b.get("/reports/campaigns/"+itoa(c.ID)+"?bucket=day").expect(t, http.StatusOK)

			p = b.get("/reports/templates/"+itoa(tp.ID)).expect(t, http.StatusOK)
			p.contains(t, `table.history tr[data-kind="quality"]`, "calidad media")
			noRawMetaValues(t, p)
			p.has(t, `form#template-export[action="/reports/templates/`+itoa(tp.ID)+`/export"] button#export-csv[name="format"][value="csv"]`)

			p = b.get("/reports/numbers/"+itoa(n.ID)).expect(t, http.StatusOK)
			p.contains(t, "h1", "+57 300 000 0001")
			p.contains(t, "main", "20 msj/s")
		})
	}
	t.Run("OtherWorkspace404", func(t *testing.T) {
		other := env.session(env.userB.ID, env.wsB.ID)
		other.get("/reports/campaigns/"+itoa(c.ID)).expect(t, http.StatusNotFound)
		other.get("/reports/templates/"+itoa(tp.ID)).expect(t, http.StatusNotFound)
		other.get("/reports/numbers/"+itoa(n.ID)).expect(t, http.StatusNotFound)
	})
	t.Run("ExportDownloadsAsAnalyst", func(t *testing.T) {
		p := env.as(store.RoleAnalyst).get("/api/v1/exports/campaigns/" + itoa(c.ID) + "?format=csv")
		if p.Status != http.StatusOK || p.Header.Get("Content-Disposition") == "" {
			t.Fatalf("export: %d %v", p.Status, p.Header)
		}
	})
}

// A large export requested from the report page runs as a job: the browser lands on the
// exports page, which lists it (and only this workspace's) and refreshes while it runs.
func TestLargeExportFromTheBrowser(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	_, c := seedDashboard(t, env)
	b := env.as(store.RoleAnalyst)
	req, _ := http.NewRequest(http.MethodGet, env.http.URL+"/api/v1/exports/campaigns/"+itoa(c.ID)+"?format=xlsx&async=true", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	p := b.do(req)
	if p.Status != http.StatusOK || p.URL != "/exports" {
		t.Fatalf("landed on %s (%d), want the exports page", p.URL, p.Status)
	}
	p.has(t, `tr[data-export][data-status="queued"]`)
	p.has(t, `[data-reload-while-running]`)
	if n := p.Doc.Find("tr[data-export]").Length(); n != 1 {
		t.Fatalf("%d exports listed, want 1", n)
	}
	// API clients still get 202 and the export to poll.
	req, _ = http.NewRequest(http.MethodGet, env.http.URL+"/api/v1/exports/campaigns/"+itoa(c.ID)+"?format=csv&async=true", nil)
	req.Header.Set("Accept", "application/json")
	b.follow = false
	if p := b.do(req); p.Status != http.StatusAccepted {
		t.Fatalf("API client got %d, want 202", p.Status)
	}
	// The other workspace sees none of them.
	other := env.session(env.userB.ID, env.wsB.ID)
	p = other.get("/exports")
	if p.Status != http.StatusOK || p.Doc.Find("tr[data-export]").Length() != 0 {
		t.Fatalf("workspace B sees %d of A's exports (status %d)", p.Doc.Find("tr[data-export]").Length(), p.Status)
	}
}

// Rates and times use the language's decimal mark: "66,7 %" and "1,5 s" in Spanish, "66.7 %"
// and "1.5 s" in English.
func TestReportNumbersUseTheLanguagesDecimalMark(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	id := seedRunning(t, env, 3)
	for _, q := range []string{
		`UPDATE recipients SET sent_at = now() - interval '1 minute', state = 'failed' WHERE campaign_id = $1`,
		`UPDATE recipients SET state = 'delivered', delivered_at = sent_at + interval '1.5 seconds'
		WHERE campaign_id = $1 AND id IN (SELECT id FROM recipients WHERE campaign_id = $1 ORDER BY id LIMIT 2)`,
	} {
		if _, err := env.db.Exec(context.Background(), q, id); err != nil {
			t.Fatal(err)
		}
	}
	b := env.as(store.RoleAnalyst)
	for _, path := range []string{"/reports/campaigns/" + itoa(id), "/campaigns/" + itoa(id)} {
		p := b.get(path).expect(t, http.StatusOK)
		p.contains(t, `dd[data-rate="delivery"]`, "66,7 %")
		p.contains(t, `dd[data-rate="read"]`, "0 %")
	}
	p := b.get("/reports/campaigns/"+itoa(id)).expect(t, http.StatusOK)
	if got := p.text(`tr[data-latency="deliver"] td`); !strings.HasPrefix(got, "1,5 s") {
		t.Fatalf("time to deliver %q, want 1,5 s first", got)
	}
	b.get("/lang/en").expect(t, http.StatusOK)
	p = b.get("/reports/campaigns/"+itoa(id)).expect(t, http.StatusOK)
	p.contains(t, `dd[data-rate="delivery"]`, "66.7 %")
	if got := p.text(`tr[data-latency="deliver"] td`); !strings.HasPrefix(got, "1.5 s") {
		t.Fatalf("time to deliver in English %q, want 1.5 s first", got)
	}
}

// The template report's monthly columns stack the read on the delivered not read: that first
// part is labelled as what it is.
func TestTemplateReportChartLabels(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	tp := seedTemplate(t, env, env.wsA.ID, "promo_navidad")
	id := seedRunning(t, env, 3)
	for _, q := range []string{
		`UPDATE campaigns SET template_id = $2 WHERE id = $1`,
		`UPDATE recipients SET state = 'delivered', sent_at = now() - interval '1 minute', delivered_at = now() WHERE campaign_id = $1 AND $2 > 0`,
		`UPDATE recipients SET state = 'read', read_at = now() WHERE campaign_id = $1 AND $2 > 0
		   AND id = (SELECT min(id) FROM recipients WHERE campaign_id = $1)`,
	} {
		if _, err := env.db.Exec(context.Background(), q, id, tp.ID); err != nil {
			t.Fatal(err)
		}
	}
	for lang, want := range map[string][2]string{"es": {"Entregados sin leer", "Entregados sin leer 2 · Leídos 1"}, "en": {"Delivered, not read", "Delivered, not read 2 · Read 1"}} {
		b := env.as(store.RoleAnalyst)
		b.get("/lang/"+lang).expect(t, http.StatusOK)
		p := b.get("/reports/templates/"+itoa(tp.ID)).expect(t, http.StatusOK)
		if got := p.text("ul.legend li:first-child"); got != want[0] {
			t.Errorf("%s: first series labelled %q, want %q", lang, got, want[0])
		}
		p.contains(t, "svg.chart g title", want[1])
	}
}
