package jobs_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// The cleanup job deletes the files of ended imports and of stale uploads, and nothing else.
func TestCleanupDeletesImportFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	ws, err := store.WorkspaceCreate(ctx, pool, store.WorkspaceCreateParams{Name: "Limpieza"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mk := func(name string, status store.ImportStatus, age time.Duration) store.Import {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("Teléfono\n3001234567\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		imp, err := store.ImportCreate(ctx, pool, store.ImportCreateParams{WorkspaceID: ws.ID, Filename: name, Format: "csv",
			FileSHA256: strings.Repeat("a", 64), FileSize: 20, FilePath: path})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE imports SET status = $3, created_at = now() - make_interval(secs => $4)
			WHERE workspace_id = $1 AND id = $2`, ws.ID, imp.ID, status, age.Seconds()); err != nil {
			t.Fatal(err)
		}
		return imp
	}
	completed := mk("completed.csv", store.ImportCompleted, time.Minute)
	failed := mk("failed.csv", store.ImportFailed, time.Minute)
	cancelled := mk("cancelled.csv", store.ImportCancelled, time.Minute)
	staleUpload := mk("stale.csv", store.ImportUploaded, 48*time.Hour)
	freshUpload := mk("fresh.csv", store.ImportUploaded, time.Minute)
	running := mk("running.csv", store.ImportRunning, 48*time.Hour)
	queued := mk("queued.csv", store.ImportQueued, 48*time.Hour)
	gone := mk("gone.csv", store.ImportCompleted, time.Minute)
	os.Remove(gone.FilePath) // already deleted by the job: the path is still cleared
	// The running and queued imports have their job: they are live, whatever their age.
	inserter, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range []store.Import{running, queued} {
		if _, err := inserter.Insert(ctx, jobs.ImportContactsArgs{WorkspaceID: ws.ID, ImportID: imp.ID}, nil); err != nil {
			t.Fatal(err)
		}
	}

	deps := jobs.Deps{DB: pool, Logger: slog.New(slog.DiscardHandler)}
	w := rivertest.NewWorker(t, riverpgxv5.New(pool), &river.Config{}, jobs.NewCleanupWorker(deps))
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	res, err := w.Work(ctx, t, tx, jobs.CleanupArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("cleanup job: %s", res.EventKind)
	}

	for _, c := range []struct {
		imp  store.Import
		kept bool
	}{
		{completed, false}, {failed, false}, {cancelled, false}, {staleUpload, false}, {gone, false},
		{freshUpload, true}, {running, true}, {queued, true},
	} {
		_, statErr := os.Stat(c.imp.FilePath)
		if exists := statErr == nil; exists != c.kept {
			t.Errorf("%s: file exists %v, want %v", c.imp.Filename, exists, c.kept)
		}
		got, err := store.ImportGetByID(ctx, pool, ws.ID, c.imp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if kept := got.FilePath != ""; kept != c.kept {
			t.Errorf("%s: file_path %q after the cleanup, kept want %v", c.imp.Filename, got.FilePath, c.kept)
		}
	}

	// A second run finds nothing more to delete.
	n, err := jobs.NewCleanupWorker(deps).DeleteImportFiles(ctx)
	if err != nil || n != 0 {
		t.Fatalf("second run deleted %d (%v)", n, err)
	}
}

// Imports no job will end (their job was discarded after a panic, or is gone with the
// process that ran them) are failed and their files deleted; live ones are left alone.
func TestCleanupFailsOrphanedImports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	ws, err := store.WorkspaceCreate(ctx, pool, store.WorkspaceCreateParams{Name: "Huérfanas"})
	if err != nil {
		t.Fatal(err)
	}
	inserter, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// mk is an import in status with its job in jobState ("" = no job), started `age` ago.
	mk := func(name string, status store.ImportStatus, jobState string, age time.Duration) store.Import {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("Teléfono\n3001234567\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		imp, err := store.ImportCreate(ctx, pool, store.ImportCreateParams{WorkspaceID: ws.ID, Filename: name, Format: "csv",
			FileSHA256: strings.Repeat("a", 64), FileSize: 20, FilePath: path, Status: status})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE imports SET created_at = now() - make_interval(secs => $2),
			started_at = CASE WHEN status = 'running' THEN now() - make_interval(secs => $2) END WHERE id = $1`, imp.ID, age.Seconds()); err != nil {
			t.Fatal(err)
		}
		if jobState != "" {
			res, err := inserter.Insert(ctx, jobs.ImportContactsArgs{WorkspaceID: ws.ID, ImportID: imp.ID}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(ctx, `UPDATE river_job SET state = $2::river_job_state,
				finalized_at = CASE WHEN $2 IN ('completed', 'cancelled', 'discarded') THEN now() END WHERE id = $1`, res.Job.ID, jobState); err != nil {
				t.Fatal(err)
			}
		}
		return imp
	}
	discarded := mk("discarded.csv", store.ImportRunning, "discarded", time.Minute)
	cancelledJob := mk("cancelled-job.csv", store.ImportQueued, "cancelled", time.Minute)
	completedJob := mk("completed-job.csv", store.ImportRunning, "completed", time.Minute)
	goneJob := mk("gone-job.csv", store.ImportRunning, "", 3*time.Hour) // a command-line import whose process died
	freshCLI := mk("fresh-cli.csv", store.ImportRunning, "", 10*time.Minute)
	runningJob := mk("running-job.csv", store.ImportRunning, "running", 3*time.Hour)
	retryable := mk("retryable.csv", store.ImportQueued, "retryable", 3*time.Hour)
	available := mk("available.csv", store.ImportQueued, "available", 3*time.Hour)
	done := mk("done.csv", store.ImportCompleted, "completed", time.Minute)

	deps := jobs.Deps{DB: pool, Logger: slog.New(slog.DiscardHandler)}
	w := rivertest.NewWorker(t, riverpgxv5.New(pool), &river.Config{}, jobs.NewCleanupWorker(deps))
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if res, err := w.Work(ctx, t, tx, jobs.CleanupArgs{}, nil); err != nil || res.EventKind != river.EventKindJobCompleted {
		t.Fatalf("cleanup job: %v %v", res, err)
	}
	for _, c := range []struct {
		imp    store.Import
		status store.ImportStatus
	}{
		{discarded, store.ImportFailed}, {cancelledJob, store.ImportFailed}, {completedJob, store.ImportFailed}, {goneJob, store.ImportFailed},
		{freshCLI, store.ImportRunning}, {runningJob, store.ImportRunning}, {retryable, store.ImportQueued},
		{available, store.ImportQueued}, {done, store.ImportCompleted},
	} {
		got, err := store.ImportGetByID(ctx, pool, ws.ID, c.imp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != c.status {
			t.Errorf("%s: status %s, want %s", c.imp.Filename, got.Status, c.status)
		}
		_, statErr := os.Stat(c.imp.FilePath)
		live := c.status == store.ImportRunning || c.status == store.ImportQueued
		if exists := statErr == nil; exists != live {
			t.Errorf("%s: file exists %v, want %v", c.imp.Filename, exists, live)
		}
		if c.status == store.ImportFailed {
			if got.FilePath != "" || got.FinishedAt == nil || !strings.Contains(got.Error, "vuelva a subir el archivo") || strings.Contains(got.Error, dir) {
				t.Errorf("%s: failed import %+v", c.imp.Filename, got)
			}
		}
	}
	// A second run finds nothing more.
	if n, err := jobs.NewCleanupWorker(deps).FailOrphanedImports(ctx); err != nil || n != 0 {
		t.Fatalf("second run failed %d more (%v)", n, err)
	}
}

// A file whose upload was confirmed after it was listed is not deleted.
func TestImportClaimFileSkipsConfirmed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	ws, err := store.WorkspaceCreate(ctx, pool, store.WorkspaceCreateParams{Name: "Carrera"})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := store.ImportCreate(ctx, pool, store.ImportCreateParams{WorkspaceID: ws.ID, Filename: "a.csv", Format: "csv",
		FileSHA256: strings.Repeat("a", 64), FileSize: 1, FilePath: "/nonexistent/a.csv"})
	if err != nil {
		t.Fatal(err)
	}
	pool.Exec(ctx, `UPDATE imports SET created_at = now() - interval '2 days' WHERE id = $1`, imp.ID)
	list, err := store.ImportFilesToDelete(ctx, pool, time.Hour)
	if err != nil || len(list) != 1 {
		t.Fatalf("listed %d (%v)", len(list), err)
	}
	pool.Exec(ctx, `UPDATE imports SET status = 'queued' WHERE id = $1`, imp.ID) // confirmed meanwhile
	ok, err := store.ImportClaimFile(ctx, pool, ws.ID, imp.ID, imp.FilePath, time.Hour)
	if err != nil || ok {
		t.Fatalf("claimed a confirmed upload's file: %v %v", ok, err)
	}
}

// Webhook bodies are kept for the retention; older handled ones go, pending ones never do.
func TestCleanupPrunesOldWebhookBodies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	insert := func(status string, age time.Duration) int64 {
		t.Helper()
		var id int64
		if err := pool.QueryRow(ctx, `INSERT INTO webhook_inbox (body, status, received_at) VALUES ('{}', $1, now() - $2::interval)
			RETURNING id`, status, age).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	// in the order the endpoint stores them: ids grow with received_at
	old := 31 * 24 * time.Hour
	oldProcessed := insert(store.InboxProcessed, old)
	oldPending := insert(store.InboxPending, old)
	oldUnparseable := insert(store.InboxUnparseable, old)
	var olderStill []int64
	for range 3 {
		olderStill = append(olderStill, insert(store.InboxUnroutable, old-time.Minute))
	}
	recent := insert(store.InboxProcessed, time.Hour)

	n, err := jobs.NewCleanupWorker(jobs.Deps{DB: pool}).PruneWebhookInbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("pruned %d bodies, want 5", n)
	}
	var left []int64
	rows, _ := pool.Query(ctx, `SELECT id FROM webhook_inbox ORDER BY id`)
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		left = append(left, id)
	}
	if rows.Err() != nil || len(left) != 2 || left[0] != oldPending || left[1] != recent {
		t.Fatalf("left %v, want the old pending %d and the recent %d (pruned %d, %d, %v)", left, oldPending, recent, oldProcessed, oldUnparseable, olderStill)
	}
}

// Files a killed process leaves in the uploads and exports folders (an export's temporary file,
// an upload stored before its imports row) are deleted once older than the upload retention;
// files a row names, and recent ones, stay.
func TestCleanupDeletesOrphanedFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	ws, err := store.WorkspaceCreate(ctx, pool, store.WorkspaceCreateParams{Name: "Huérfanos"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	file := func(rel string, mtime time.Time) string {
		t.Helper()
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("Teléfono\n3001234567\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return path
	}
	orphanUpload := file("uploads/1/a1b2.csv", old)
	orphanTmp := file("exports/1/.7-123.tmp", old)
	recent := file("uploads/1/c3d4.csv", time.Now())
	named := file("uploads/1/e5f6.xlsx", old)
	if _, err := store.ImportCreate(ctx, pool, store.ImportCreateParams{WorkspaceID: ws.ID, Filename: "lista.xlsx", Format: "xlsx",
		FileSHA256: strings.Repeat("b", 64), FileSize: 20, FilePath: named}); err != nil {
		t.Fatal(err)
	}
	w := jobs.NewCleanupWorker(jobs.Deps{DB: pool, Logger: slog.Default()})
	w.DataDir = dir
	n, err := w.DeleteOrphanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	if n != 2 || exists(orphanUpload) || exists(orphanTmp) {
		t.Errorf("deleted %d; orphaned upload left %v, export temp file left %v (want both gone)", n, exists(orphanUpload), exists(orphanTmp))
	}
	if !exists(recent) || !exists(named) {
		t.Errorf("recent upload kept %v, upload named by its import kept %v (want both)", exists(recent), exists(named))
	}
}
