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
	ctx := context.Background()
	deps := jobs.Deps{DB: b.pool, Logger: slog.New(slog.DiscardHandler)}
	w := rivertest.NewWorker(t, riverpgxv5.New(b.pool), &river.Config{}, jobs.NewImportContactsWorker(deps))
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	res, err := w.Work(ctx, t, tx, jobs.ImportContactsArgs{WorkspaceID: b.ws.ID, ImportID: b.imp.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
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
		var sb strings.Builder
		sb.WriteString("telefono,nombre\n")
		for i := range 150_000 {
			fmt.Fprintf(&sb, "3%09d,Cliente %d\n", 100000000+i, i)
		}
		b := setupImport(t, sb.String(), "{}")
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
}
