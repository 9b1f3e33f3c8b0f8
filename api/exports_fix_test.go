package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

// runExportJob works export id's job as the worker would.
func runExportJob(t *testing.T, env *testEnv, id int64) {
	t.Helper()
	w := jobs.NewExportWorker(jobs.Deps{Config: env.srv.cfg, DB: env.db})
	if err := w.Work(context.Background(), &river.Job[jobs.ExportArgs]{JobRow: &rivertype.JobRow{}, Args: jobs.ExportArgs{ExportID: id}}); err != nil {
		t.Fatal(err)
	}
}

// A contacts export holds personal data and consent evidence: analysts may not create one, so
// they may not download one a marketer made either, nor be offered its link.
func TestExportContactsDownloadNeedsMarketer(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	cid, _, _ := reportFixture(t, env, 20)

	var contacts, campaign reports.Export
	env.as(store.RoleMarketer).do(http.MethodPost, "/api/v1/exports", map[string]any{"kind": "contacts", "format": "csv"}).
		expect(t, http.StatusAccepted).JSON(t, &contacts)
	env.as(store.RoleAnalyst).do(http.MethodPost, "/api/v1/exports", map[string]any{"kind": "campaign", "campaign_id": cid, "format": "csv"}).
		expect(t, http.StatusAccepted).JSON(t, &campaign)
	runExportJob(t, env, contacts.ID)
	runExportJob(t, env, campaign.ID)
	path := fmt.Sprintf("/api/v1/exports/%d", contacts.ID)

	t.Run("AnalystDownloadForbidden", func(t *testing.T) {
		env.as(store.RoleAnalyst).do(http.MethodGet, path+"/download", nil).expect(t, http.StatusForbidden)
		env.requireIsolation(t, http.MethodGet, path+"/download", nil)
	})
	t.Run("MarketerAndOwnerDownload", func(t *testing.T) {
		for _, role := range []store.Role{store.RoleMarketer, store.RoleOwner} {
			var e reports.Export
			env.as(role).do(http.MethodGet, path, nil).expect(t, http.StatusOK).JSON(t, &e)
			if e.DownloadURL != path+"/download" {
				t.Fatalf("%s: download_url = %q", role, e.DownloadURL)
			}
			if f := env.as(role).do(http.MethodGet, e.DownloadURL, nil).expect(t, http.StatusOK); !bytes.HasPrefix(f.Body, []byte("\ufeffcontact_id,")) { // the BOM, then the header
				t.Fatalf("%s: file starts %.40q", role, f.Body)
			}
		}
	})
	t.Run("AnalystNotOfferedTheLink", func(t *testing.T) {
		var e reports.Export
		env.as(store.RoleAnalyst).do(http.MethodGet, path, nil).expect(t, http.StatusOK).JSON(t, &e)
		if e.Status != reports.ExportCompleted || e.DownloadURL != "" {
			t.Fatalf("analyst sees contacts export %+v, want completed without download_url", e)
		}
		var list listOf[reports.Export]
		env.as(store.RoleAnalyst).do(http.MethodGet, "/api/v1/exports", nil).expect(t, http.StatusOK).JSON(t, &list)
		links := map[int64]string{}
		for _, e := range list.Data {
			links[e.ID] = e.DownloadURL
		}
		if l, ok := links[contacts.ID]; !ok || l != "" {
			t.Fatalf("analyst's list: contacts export listed %v with link %q, want listed without link", ok, l)
		}
		if links[campaign.ID] != fmt.Sprintf("/api/v1/exports/%d/download", campaign.ID) {
			t.Fatalf("analyst's list: campaign export link %q", links[campaign.ID])
		}
		var mine listOf[reports.Export]
		env.as(store.RoleMarketer).do(http.MethodGet, "/api/v1/exports", nil).expect(t, http.StatusOK).JSON(t, &mine)
		if i := slices.IndexFunc(mine.Data, func(e reports.Export) bool { return e.ID == contacts.ID }); i < 0 || mine.Data[i].DownloadURL != path+"/download" {
			t.Fatalf("marketer's list lacks the contacts export's link: %+v", mine.Data)
		}
	})
}

// Months and days in template reports and exports are the workspace's calendar: for a Bogotá
// workspace (UTC−5), March starts at 2026-03-01T05:00Z.
func TestReportTemplatePeriodInWorkspaceTimeZone(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	ws := env.wsA.ID
	if _, err := env.db.Exec(ctx, `UPDATE workspaces SET time_zone = 'America/Bogota' WHERE id = $1`, ws); err != nil {
		t.Fatal(err)
	}
	var numberID, templateID int64
	if err := env.db.QueryRow(ctx, `INSERT INTO sender_numbers (workspace_id, phone_number_id, waba_id, throughput_mps)
		VALUES ($1, 'pn-tz-'||$1::bigint, 'waba-tz', 80) RETURNING id`, ws).Scan(&numberID); err != nil {
		t.Fatal(err)
	}
	if err := env.db.QueryRow(ctx, `INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status, quality)
		VALUES ($1, 'waba-tz', 'm-tz', 'promo_tz', 'es', 'MARKETING', 'APPROVED', 'GREEN') RETURNING id`, ws).Scan(&templateID); err != nil {
		t.Fatal(err)
	}
	// One campaign of one recipient per launch, sent at launch.
	launches := []struct {
		name string
		at   time.Time
	}{
		{"Febrero local", time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)}, // Feb 28 21:00 in Bogotá
		{"Marzo inicio", time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)},  // Mar 1 01:00
		{"Marzo final", time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)},   // Mar 31 22:00
		{"Abril local", time.Date(2026, 4, 1, 5, 30, 0, 0, time.UTC)},  // Apr 1 00:30
	}
	for i, l := range launches {
		var campaignID int64
		if err := env.db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, sender_number_id, template_id, state, segment_definition,
				segment_hash, audience_count, launched_at, completed_at)
			VALUES ($1, $2, $3, $4, 'completed', '{"all":[{"tag":"vip"}]}', 'sha256:tz', 1, $5, $5) RETURNING id`,
			ws, l.name, numberID, templateID, l.at).Scan(&campaignID); err != nil {
			t.Fatal(err)
		}
		wamid := fmt.Sprintf("wamid.tz%d", i)
		steps := []struct {
			q    string
			args []any
		}{
			{`INSERT INTO contacts (workspace_id, phone_e164, country, name, consent_at, created_at)
			 VALUES ($1, '+57310000000' || $2::int, 'CO', 'Cliente', $3::timestamptz - interval '1 day', $3::timestamptz - interval '1 day')`,
				[]any{ws, i, l.at}},
			{`INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, sent_at, pricing_category, billable)
			 SELECT $1, $4, c.id, c.phone_e164, 'sent', $5, $3, 'marketing', true
			 FROM contacts c WHERE c.workspace_id = $1 AND c.phone_e164 = '+57310000000' || $2::int`,
				[]any{ws, i, l.at, campaignID, wamid}},
			{`INSERT INTO status_events (workspace_id, wamid, status, occurred_at, pricing_category, billable, applied_at)
			 VALUES ($1, $2, 'sent', $3, 'marketing', true, now())`,
				[]any{ws, wamid, l.at}},
		}
		for _, st := range steps {
			if _, err := env.db.Exec(ctx, st.q, st.args...); err != nil {
				t.Fatalf("%s: %v", st.q, err)
			}
		}
	}
	const asOf = "2026-05-01T00:00:00Z"
	campaignsOf := func(t *testing.T, query string) []string {
		t.Helper()
		r := env.as(store.RoleAnalyst).do(http.MethodGet, fmt.Sprintf("/api/v1/exports/templates/%d?format=csv&as_of=%s&%s", templateID, asOf, query), nil).
			expect(t, http.StatusOK)
		recs, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, rec := range recs[1:] {
			names = append(names, rec[1])
		}
		if r.Header.Get("X-Export-Rows") != fmt.Sprint(len(names)) {
			t.Fatalf("X-Export-Rows = %s, file has %d rows", r.Header.Get("X-Export-Rows"), len(names))
		}
		return names
	}
	march := []string{"Marzo inicio", "Marzo final"}

	t.Run("TemplateReportMonths", func(t *testing.T) {
		var rep reports.TemplateReport
		env.as(store.RoleAnalyst).do(http.MethodGet, fmt.Sprintf("/api/v1/templates/%d/report?from=2026-03&to=2026-04", templateID), nil).
			expect(t, http.StatusOK).JSON(t, &rep)
		if len(rep.Months) != 1 || rep.Months[0].Month != "2026-03" || rep.Months[0].Sends != 2 {
			t.Fatalf("months = %+v, want only 2026-03 with 2 sends", rep.Months)
		}
	})
	t.Run("TemplateExportMonthsAndDays", func(t *testing.T) {
		for _, q := range []string{"from=2026-03&to=2026-04", "from=2026-03-01&to=2026-04-01"} {
			if got := campaignsOf(t, q); !slices.Equal(got, march) {
				t.Fatalf("%s: campaigns %v, want %v", q, got, march)
			}
		}
	})
	t.Run("RFC3339Unchanged", func(t *testing.T) {
		got := campaignsOf(t, "from=2026-03-01T00:00:00Z&to=2026-04-01T04:00:00Z")
		if want := []string{"Febrero local", "Marzo inicio", "Marzo final"}; !slices.Equal(got, want) {
			t.Fatalf("campaigns %v, want %v", got, want)
		}
	})
	t.Run("PostExportPeriod", func(t *testing.T) {
		var e reports.Export
		env.as(store.RoleAnalyst).do(http.MethodPost, "/api/v1/exports", map[string]any{
			"kind": "template", "template_id": templateID, "format": "csv", "from": "2026-03", "to": "2026-04-01", "as_of": asOf,
		}).expect(t, http.StatusAccepted).JSON(t, &e)
		from, to := time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 5, 0, 0, 0, time.UTC)
		if !e.Spec.From.Equal(from) || !e.Spec.To.Equal(to) || e.RowsTotal != 2 {
			t.Fatalf("export spec from %s to %s, %d rows; want %s to %s, 2 rows", e.Spec.From, e.Spec.To, e.RowsTotal, from, to)
		}
	})
}
