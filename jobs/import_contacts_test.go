package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"

	"github.com/pregon/pregon/importers"
	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

type importBundle struct {
	pool *pgxpool.Pool
	ws   store.Workspace
	imp  store.Import
}

// work runs the import job once, as River would.
func (b importBundle) work(t *testing.T) *rivertest.WorkResult {
	t.Helper()
	res, err := b.workWith(t, jobs.NewImportContactsWorker(jobs.Deps{DB: b.pool, Logger: slog.New(slog.DiscardHandler)}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// workWith runs the import job once with worker w and insert options opts, and returns the
// error the job ended with.
func (b importBundle) workWith(t *testing.T, w *jobs.ImportContactsWorker, opts *river.InsertOpts) (*rivertest.WorkResult, error) {
	t.Helper()
	ctx := context.Background()
	tw := rivertest.NewWorker(t, riverpgxv5.New(b.pool), &river.Config{}, w)
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	return tw.Work(ctx, t, tx, jobs.ImportContactsArgs{WorkspaceID: b.ws.ID, ImportID: b.imp.ID}, opts)
}

// bigCSV is a file of n valid rows, long enough to interrupt mid-import.
func bigCSV(n int) string {
	var sb strings.Builder
	sb.WriteString("telefono,nombre\n")
	for i := range n {
		fmt.Fprintf(&sb, "3%09d,Cliente %d\n", 100000000+i, i)
	}
	return sb.String()
}

func (b importBundle) reload(t *testing.T) store.Import {
	t.Helper()
	imp, err := store.ImportGetByID(context.Background(), b.pool, b.ws.ID, b.imp.ID)
	if err != nil {
		t.Fatal(err)
	}
	return imp
}

func setupImport(t *testing.T, content, mapping string) importBundle {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	ws, err := store.WorkspaceCreate(ctx, pool, store.WorkspaceCreateParams{Name: "Importa"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lista.csv")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	imp, err := store.ImportCreate(ctx, pool, store.ImportCreateParams{WorkspaceID: ws.ID, Filename: "lista.csv", Format: "csv",
		FileSHA256: strings.Repeat("a", 64), FileSize: int64(len(content)), FilePath: path})
	if err != nil {
		t.Fatal(err)
	}
	imp, err = store.ImportConfirm(ctx, pool, ws.ID, imp.ID, store.ImportConfirmParams{Mode: store.ImportModeUpdate,
		Mapping: []byte(mapping), Consent: []byte(`{"declared":true,"source":"tienda","text":"v1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	return importBundle{pool: pool, ws: ws, imp: imp}
}

func TestImportContactsWorker(t *testing.T) {
	t.Parallel()

	t.Run("CompletesAndDeletesTheFile", func(t *testing.T) {
		t.Parallel()
		b := setupImport(t, "telefono,nombre\n3001234567,Ana\n3001234567,Ana bis\nabc,Luis\n", "{}")
		if res := b.work(t); res.EventKind != river.EventKindJobCompleted {
			t.Fatalf("event %s", res.EventKind)
		}
		imp := b.reload(t)
		if imp.Status != store.ImportCompleted || imp.Inserted != 1 || imp.Duplicates != 1 || imp.Rejected != 1 || imp.FilePath != "" {
			t.Fatalf("import %+v", imp)
		}
		if _, err := os.Stat(b.imp.FilePath); !os.IsNotExist(err) {
			t.Errorf("file still there: %v", err)
		}
		c, err := store.ContactGetByPhone(context.Background(), b.pool, b.ws.ID, "+573001234567")
		if err != nil || !c.Marketable || c.ConsentSource != "tienda" {
			t.Fatalf("contact %+v %v", c, err)
		}
	})

	t.Run("BadMappingFailsWithAMessage", func(t *testing.T) {
		t.Parallel()
		b := setupImport(t, "telefono,nombre\n3001234567,Ana\n", `{"columns":[{"index":1,"kind":"name"}]}`)
		if res := b.work(t); res.EventKind != river.EventKindJobCancelled {
			t.Fatalf("event %s", res.EventKind)
		}
		imp := b.reload(t)
		if imp.Status != store.ImportFailed || !strings.Contains(imp.Error, "no hay columna de teléfono") || imp.FilePath != "" {
			t.Fatalf("import %+v", imp)
		}
		if _, err := os.Stat(b.imp.FilePath); !os.IsNotExist(err) {
			t.Errorf("file still there: %v", err)
		}
	})

	t.Run("CancelledWhileRunningRollsBack", func(t *testing.T) {
		t.Parallel()
		b := setupImport(t, bigCSV(150_000), "{}")
		ctx := context.Background()
		go func() {
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if imp, err := store.ImportGetByID(ctx, b.pool, b.ws.ID, b.imp.ID); err == nil && imp.Status == store.ImportRunning && imp.RowsRead > 0 {
					store.ImportCancel(ctx, b.pool, b.ws.ID, b.imp.ID)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		if res := b.work(t); res.EventKind != river.EventKindJobCompleted {
			t.Fatalf("event %s", res.EventKind)
		}
		imp := b.reload(t)
		if imp.Status != store.ImportCancelled || imp.Inserted != 0 || imp.FilePath != "" {
			t.Fatalf("import %+v", imp)
		}
		var n int
		if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM contacts`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d contacts after a cancelled import (%v)", n, err)
		}
	})

	t.Run("CancelledBeforeItRuns", func(t *testing.T) {
		t.Parallel()
		b := setupImport(t, "telefono\n3001234567\n", "{}")
		if _, err := store.ImportCancel(context.Background(), b.pool, b.ws.ID, b.imp.ID); err != nil {
			t.Fatal(err)
		}
		if res := b.work(t); res.EventKind != river.EventKindJobCompleted {
			t.Fatalf("event %s", res.EventKind)
		}
		if imp := b.reload(t); imp.Status != store.ImportCancelled || imp.Inserted != 0 {
			t.Fatalf("import %+v", imp)
		}
		if _, err := os.Stat(b.imp.FilePath); !os.IsNotExist(err) {
			t.Errorf("file still there: %v", err)
		}
	})

	t.Run("PanicFailsTheImportAndDeletesTheFile", func(t *testing.T) {
		t.Parallel()
		b := setupImport(t, "telefono\n3001234567\n", "{}")
		w := jobs.NewImportContactsWorker(jobs.Deps{DB: b.pool, Logger: slog.New(slog.DiscardHandler)})
		w.Run = func(context.Context, *pgxpool.Pool, importers.Params, func(importers.Progress)) (importers.Result, error) {
			var m map[string]int
			m["boom"]++ // a bug: assignment to a nil map
			return importers.Result{}, nil
		}
		res, err := b.workWith(t, w, nil)
		if res == nil || res.EventKind != river.EventKindJobCancelled {
			t.Fatalf("result %+v, error %v: want the job cancelled, not retried", res, err)
		}
		imp := b.reload(t)
		if imp.Status != store.ImportFailed || imp.FilePath != "" || imp.FinishedAt == nil ||
			!strings.Contains(imp.Error, "error interno") || strings.Contains(imp.Error, "nil map") {
			t.Fatalf("import %+v", imp)
		}
		if _, err := os.Stat(b.imp.FilePath); !os.IsNotExist(err) {
			t.Errorf("file still there: %v", err)
		}
	})

	t.Run("LastAttemptFailsWithoutServerPaths", func(t *testing.T) {
		t.Parallel()
		b := setupImport(t, "telefono\n3001234567\n", "{}")
		w := jobs.NewImportContactsWorker(jobs.Deps{DB: b.pool, Logger: slog.New(slog.DiscardHandler)})
		w.Run = func(_ context.Context, _ *pgxpool.Pool, p importers.Params, _ func(importers.Progress)) (importers.Result, error) {
			return importers.Result{}, fmt.Errorf("reading %s: input/output error", p.Path)
		}
		res, err := b.workWith(t, w, &river.InsertOpts{MaxAttempts: 1})
		if res == nil || res.EventKind != river.EventKindJobCancelled {
			t.Fatalf("result %+v, error %v", res, err)
		}
		imp := b.reload(t)
		if imp.Status != store.ImportFailed || imp.FilePath != "" || strings.Contains(imp.Error, filepath.Dir(b.imp.FilePath)) ||
			strings.Contains(imp.Error, "input/output") || !strings.Contains(imp.Error, "error interno") {
			t.Fatalf("import %+v", imp)
		}
	})

	t.Run("WorkerShutdownRetriesWithTheFileKept", func(t *testing.T) {
		t.Parallel()
		b := setupImport(t, bigCSV(150_000), "{}")
		ctx := context.Background()
		ws := river.NewWorkers()
		river.AddWorker(ws, jobs.NewImportContactsWorker(jobs.Deps{DB: b.pool, Logger: slog.New(slog.DiscardHandler)}))
		client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{
			Logger:            slog.New(slog.DiscardHandler),
			Workers:           ws,
			FetchCooldown:     10 * time.Millisecond,
			FetchPollInterval: 20 * time.Millisecond,
			Queues:            map[string]river.QueueConfig{jobs.QueueImports: {MaxWorkers: 1}},
			TestOnly:          true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ins, err := client.Insert(ctx, jobs.ImportContactsArgs{WorkspaceID: b.ws.ID, ImportID: b.imp.ID}, nil)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if imp := b.reload(t); imp.Status == store.ImportRunning && imp.RowsRead > 0 {
				break
			} else if imp.Status.Final() || time.Now().After(deadline) {
				client.StopAndCancel(ctx)
				t.Fatalf("import never seen running: %+v", imp)
			}
			time.Sleep(10 * time.Millisecond)
		}
		stopCtx, stop := context.WithTimeout(ctx, 30*time.Second)
		defer stop()
		if err := client.StopAndCancel(stopCtx); err != nil {
			t.Fatal(err)
		}

		imp := b.reload(t)
		if imp.Status != store.ImportQueued || imp.FilePath == "" || imp.Inserted != 0 {
			t.Fatalf("after the shutdown, import %+v: want it queued again with its file", imp)
		}
		if _, err := os.Stat(b.imp.FilePath); err != nil {
			t.Fatalf("file deleted: %v", err)
		}
		job, err := client.JobGet(ctx, ins.Job.ID)
		// River puts a job its shutdown interrupted back (available) or schedules a retry.
		if err != nil || (job.State != rivertype.JobStateRetryable && job.State != rivertype.JobStateAvailable) {
			t.Fatalf("job %+v (%v): want it to run again", job, err)
		}
		var n int
		if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM contacts`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d contacts after an interrupted import (%v)", n, err)
		}
		// The retry imports everything.
		if res := b.work(t); res.EventKind != river.EventKindJobCompleted {
			t.Fatalf("retry: %s", res.EventKind)
		}
		if imp := b.reload(t); imp.Status != store.ImportCompleted || imp.Inserted != 150_000 || imp.FilePath != "" {
			t.Fatalf("after the retry %+v", imp)
		}
	})
}
