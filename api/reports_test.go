package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/reports/reportstest"
	"github.com/pregon/pregon/store"
)

func reportFixture(t *testing.T, env *testEnv, n int) (campaignID, templateID, numberID int64) {
	t.Helper()
	ctx := context.Background()
	id, err := reportstest.Campaign(ctx, env.db, env.wsA.ID, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.db.QueryRow(ctx, `SELECT template_id, sender_number_id FROM campaigns WHERE id = $1`, id).Scan(&templateID, &numberID); err != nil {
		t.Fatal(err)
	}
	return id, templateID, numberID
}

func TestReportsAPI(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	cid, tid, nid := reportFixture(t, env, 300)
	paths := []string{
		fmt.Sprintf("/api/v1/campaigns/%d/report", cid),
		fmt.Sprintf("/api/v1/templates/%d/report?from=2026-01&to=2026-06", tid),
		fmt.Sprintf("/api/v1/numbers/%d/report?days=3", nid),
		fmt.Sprintf("/api/v1/exports/campaigns/%d?format=csv", cid),
		fmt.Sprintf("/api/v1/exports/templates/%d?format=xlsx&from=2026-01-01", tid),
	}
	t.Run("AnalystsMayRead", func(t *testing.T) {
		for _, p := range paths {
			env.requireRoles(t, http.MethodGet, p, nil, store.RoleAnalyst)
			env.as(store.RoleAnalyst).do(http.MethodGet, p, nil).expect(t, http.StatusOK)
		}
		env.requireRoles(t, http.MethodGet, "/api/v1/exports/contacts", nil, store.RoleMarketer)
		env.as(store.RoleAnalyst).do(http.MethodPost, "/api/v1/exports", map[string]any{"kind": "contacts", "format": "csv"}).expect(t, http.StatusForbidden)
	})
	t.Run("OtherWorkspace404", func(t *testing.T) {
		for _, p := range paths {
			env.requireIsolation(t, http.MethodGet, p, nil)
		}
		env.requireIsolation(t, http.MethodPost, "/api/v1/exports", map[string]any{"kind": "campaign", "campaign_id": cid, "format": "csv"})
	})
	t.Run("CampaignReportFigures", func(t *testing.T) {
		var rep reports.CampaignReport
		env.as(store.RoleAnalyst).do(http.MethodGet, paths[0], nil).expect(t, http.StatusOK).JSON(t, &rep)
		// 300 recipients: per 100, 2 skipped, 3 failed, 5 sent, 20 delivered, 70 read.
		if rep.Funnel.Audience != 300 || rep.Funnel.Skipped != 6 || rep.Funnel.Failed != 9 || rep.Funnel.Delivered != 270 || rep.Funnel.Read != 210 {
			t.Fatalf("funnel = %+v", rep.Funnel)
		}
		if len(rep.FailedBy) != 3 || rep.FailedBy[0].TitleES == "" || rep.Timeline.Bucket != "hour" || len(rep.Timeline.Points) == 0 {
			t.Fatalf("report = %+v", rep)
		}
		var minute reports.CampaignReport
		env.as(store.RoleAnalyst).do(http.MethodGet, paths[0]+"?bucket=minute", nil).expect(t, http.StatusOK).JSON(t, &minute)
		if minute.Timeline.Bucket != "minute" || len(minute.Timeline.Points) <= len(rep.Timeline.Points) {
			t.Fatalf("minute timeline: %d points vs %d hourly", len(minute.Timeline.Points), len(rep.Timeline.Points))
		}
		env.as(store.RoleAnalyst).do(http.MethodGet, paths[0]+"?bucket=week", nil).expect(t, http.StatusUnprocessableEntity)
	})
	t.Run("JobExportSameBytesAsDirect", func(t *testing.T) {
		asOf := reportstest.Base.Add(45 * time.Minute).Format(time.RFC3339)
		for _, format := range []string{"csv", "xlsx"} {
			direct := env.as(store.RoleAnalyst).do(http.MethodGet,
				fmt.Sprintf("/api/v1/exports/campaigns/%d?format=%s&as_of=%s&attributes=ciudad,plan", cid, format, asOf), nil).expect(t, http.StatusOK)
			if direct.Header.Get("X-Export-Rows") != "300" {
				t.Fatalf("rows header = %q", direct.Header.Get("X-Export-Rows"))
			}
			var e reports.Export
			env.as(store.RoleAnalyst).do(http.MethodPost, "/api/v1/exports", map[string]any{
				"kind": "campaign", "campaign_id": cid, "format": format, "as_of": asOf, "attributes": []string{"ciudad", "plan"},
			}).expect(t, http.StatusAccepted).JSON(t, &e)
			if e.Status != reports.ExportQueued || e.RowsTotal != 300 {
				t.Fatalf("export = %+v", e)
			}
			var kind string
			if err := env.db.QueryRow(context.Background(), `SELECT kind FROM river_job WHERE args->>'export_id' = $1`, fmt.Sprint(e.ID)).Scan(&kind); err != nil || kind != "export" {
				t.Fatalf("no export job inserted: %v %q", err, kind)
			}
			w := jobs.NewExportWorker(jobs.Deps{Config: env.srv.cfg, DB: env.db})
			if err := w.Work(context.Background(), &river.Job[jobs.ExportArgs]{JobRow: &rivertype.JobRow{}, Args: jobs.ExportArgs{ExportID: e.ID}}); err != nil {
				t.Fatal(err)
			}
			path := fmt.Sprintf("/api/v1/exports/%d", e.ID)
			env.as(store.RoleAnalyst).do(http.MethodGet, path, nil).expect(t, http.StatusOK).JSON(t, &e)
			if e.Status != reports.ExportCompleted || e.Progress != 1 || e.DownloadURL != path+"/download" || e.FileSize != int64(len(direct.Body)) {
				t.Fatalf("export after the job = %+v", e)
			}
			file := env.as(store.RoleAnalyst).do(http.MethodGet, e.DownloadURL, nil).expect(t, http.StatusOK)
			if !bytes.Equal(file.Body, direct.Body) {
				t.Fatalf("%s: job file (%d bytes) differs from the direct download (%d bytes)", format, len(file.Body), len(direct.Body))
			}
			env.requireIsolation(t, http.MethodGet, path, nil)
			env.requireIsolation(t, http.MethodGet, e.DownloadURL, nil)

			// After the retention the hourly cleanup deletes the file; the export stays listed
			// as expired and its download answers 410.
			var filePath string
			if err := env.db.QueryRow(context.Background(), `UPDATE exports SET finished_at = now() - $2::interval
				WHERE id = $1 RETURNING file_path`, e.ID, reports.ExportRetention+time.Hour).Scan(&filePath); err != nil {
				t.Fatal(err)
			}
			if n, err := jobs.NewCleanupWorker(jobs.Deps{DB: env.db}).DeleteExportFiles(context.Background()); err != nil || n != 1 {
				t.Fatalf("cleanup deleted %d export files (%v), want 1", n, err)
			}
			if _, err := os.Stat(filePath); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("expired export file %s still there: %v", filePath, err)
			}
			var expired reports.Export
			env.as(store.RoleAnalyst).do(http.MethodGet, path, nil).expect(t, http.StatusOK).JSON(t, &expired)
			if !expired.Expired || expired.DownloadURL != "" || expired.FileSHA256 == "" {
				t.Fatalf("expired export = %+v", expired)
			}
			env.as(store.RoleAnalyst).do(http.MethodGet, path+"/download", nil).expect(t, http.StatusGone)
		}
		var list listOf[reports.Export]
		env.as(store.RoleAnalyst).do(http.MethodGet, "/api/v1/exports?limit=1", nil).expect(t, http.StatusOK).JSON(t, &list)
		if len(list.Data) != 1 || list.NextCursor == nil {
			t.Fatalf("list = %+v", list)
		}
		var listB listOf[reports.Export]
		env.asB(store.RoleOwner).do(http.MethodGet, "/api/v1/exports", nil).expect(t, http.StatusOK).JSON(t, &listB)
		if len(listB.Data) != 0 {
			t.Fatalf("workspace B sees %d exports of A", len(listB.Data))
		}
	})
	t.Run("AsyncQueryAnswers202", func(t *testing.T) {
		r := env.as(store.RoleAnalyst).do(http.MethodGet, fmt.Sprintf("/api/v1/exports/campaigns/%d?format=xlsx&async=true", cid), nil).expect(t, http.StatusAccepted)
		var e reports.Export
		r.JSON(t, &e)
		if r.Header.Get("Location") != fmt.Sprintf("/api/v1/exports/%d", e.ID) {
			t.Fatalf("location = %q", r.Header.Get("Location"))
		}
		env.as(store.RoleAnalyst).do(http.MethodGet, fmt.Sprintf("/api/v1/exports/%d/download", e.ID), nil).expect(t, http.StatusConflict)
	})
	t.Run("ALinkFromAnotherSiteStartsNoJob", func(t *testing.T) {
		// A session's cookie goes with a GET from another site's link (SameSite=Lax): such a
		// request may read nothing back, and may not start an export job either.
		ctx := context.Background()
		u, err := store.UserCreate(ctx, env.db, store.UserCreateParams{WorkspaceID: env.wsA.ID, Email: "analista-x@example.com", Password: "una-clave-larga", Role: store.RoleAnalyst})
		if err != nil {
			t.Fatal(err)
		}
		cookie, _, err := store.SessionCreate(ctx, env.db, u.ID, env.wsA.ID)
		if err != nil {
			t.Fatal(err)
		}
		exports := func() int {
			var n int
			if err := env.db.QueryRow(ctx, `SELECT count(*) FROM exports WHERE workspace_id = $1`, env.wsA.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		get := func(site string) int {
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/exports/campaigns/%d?format=csv&async=true", env.http.URL, cid), nil)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Sec-Fetch-Site", site)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		before := exports()
		if code := get("cross-site"); code != http.StatusForbidden {
			t.Errorf("a cross-site link answered %d, want 403", code)
		}
		if n := exports(); n != before {
			t.Errorf("a cross-site link recorded %d exports", n-before)
		}
		if code := get("same-origin"); code != http.StatusAccepted {
			t.Errorf("Pregón's own link answered %d, want 202", code)
		}
		if n := exports(); n != before+1 {
			t.Errorf("Pregón's own link recorded %d exports, want 1", n-before)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		env.as(store.RoleAnalyst).do(http.MethodGet, fmt.Sprintf("/api/v1/exports/campaigns/%d?format=pdf", cid), nil).expect(t, http.StatusUnprocessableEntity)
		env.as(store.RoleAnalyst).do(http.MethodGet, fmt.Sprintf("/api/v1/exports/campaigns/%d?as_of=yesterday", cid), nil).expect(t, http.StatusBadRequest)
	})
}
