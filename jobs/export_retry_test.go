package jobs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

// An export whose job fails with attempts left stays queued, saying it will be retried (it
// showed "failed" and later "completed"); on the last attempt it fails, with the reason.
func TestExportFailureWaitsForItsRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "exportar"})
	must(t, err)
	e, err := reports.ExportCreate(ctx, db, reports.ExportSpec{WorkspaceID: ws.ID, Kind: reports.KindContacts, Format: reports.CSV}, nil, 0)
	must(t, err)
	// The data folder is a file: the export cannot create its folder (a full or broken disk).
	blocked := filepath.Join(t.TempDir(), "data")
	must(t, os.WriteFile(blocked, nil, 0o600))
	w := jobs.NewExportWorker(jobs.Deps{DB: db, Config: config.Config{DataDir: blocked}})
	run := func(attempt int) reports.Export {
		t.Helper()
		job := &river.Job[jobs.ExportArgs]{JobRow: &rivertype.JobRow{ID: 1, Attempt: attempt, MaxAttempts: 3}, Args: jobs.ExportArgs{ExportID: e.ID}}
		if err := w.Work(ctx, job); err == nil {
			t.Fatal("the export worked with no data folder")
		}
		got, err := reports.ExportGetByID(ctx, db, ws.ID, e.ID)
		must(t, err)
		return got
	}
	if got := run(1); got.Status != reports.ExportQueued || !strings.Contains(got.Error, "se reintentará") {
		t.Errorf("first attempt failed: export %s %q, want queued and to be retried", got.Status, got.Error)
	}
	if got := run(3); got.Status != reports.ExportFailed || got.Error == "" {
		t.Errorf("last attempt failed: export %s %q, want failed with the reason", got.Status, got.Error)
	}
}
