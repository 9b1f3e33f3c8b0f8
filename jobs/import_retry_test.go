package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertest"

	"github.com/pregon/pregon/importers"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// What a new attempt cannot fix fails the import at its first attempt, with a message that says
// what to do, and the job is not retried (River used to re-read the file three times and the
// user got "falló por un error interno").
func TestImportContactsDoesNotRetryTheFilesFaults(t *testing.T) {
	t.Parallel()

	requireFailedNow := func(t *testing.T, b importBundle, res *rivertest.WorkResult, err error, want string) {
		t.Helper()
		if err != nil || res == nil || res.EventKind != river.EventKindJobCancelled {
			t.Errorf("job ended with %v (%v), want cancelled: no retry", res, err)
		}
		imp := b.reload(t)
		if imp.Status != store.ImportFailed || !strings.Contains(imp.Error, want) {
			t.Errorf("import %s %q, want failed with %q", imp.Status, imp.Error, want)
		}
		if _, serr := os.Stat(b.imp.FilePath); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("the file was kept for a retry: %v", serr)
		}
	}

	t.Run("ValueTheDatabaseRefuses", func(t *testing.T) {
		t.Parallel()
		b := setupImport(t, "Nombre;Celular\nAna;3001234567\n", "{}")
		w := jobs.NewImportContactsWorker(jobs.Deps{DB: b.pool, Logger: slog.New(slog.DiscardHandler)})
		w.Run = func(context.Context, *pgxpool.Pool, importers.Params, func(importers.Progress)) (importers.Result, error) {
			return importers.Result{}, &pgconn.PgError{Code: "22021", Message: `invalid byte sequence for encoding "UTF8": 0xf1 0x61 0x3b`}
		}
		res, err := b.workWith(t, w, &river.InsertOpts{MaxAttempts: 3})
		requireFailedNow(t, b, res, err, "tiene un valor que no se puede guardar")
	})

	t.Run("HeaderOnlyFile", func(t *testing.T) {
		t.Parallel()
		b := setupImport(t, "Nombre;Celular;Correo\n", "{}")
		w := jobs.NewImportContactsWorker(jobs.Deps{DB: b.pool, Logger: slog.New(slog.DiscardHandler)})
		res, err := b.workWith(t, w, &river.InsertOpts{MaxAttempts: 3})
		requireFailedNow(t, b, res, err, "solo tiene encabezados")
	})

	t.Run("EncodingThatIsNotTheFiles", func(t *testing.T) {
		t.Parallel()
		b := setupImport(t, "Nombre;Celular\nPe\xf1a;3001234567\n", "{}")
		if _, err := b.pool.Exec(context.Background(), `UPDATE imports SET encoding = 'utf-8' WHERE id = $1`, b.imp.ID); err != nil {
			t.Fatal(err)
		}
		w := jobs.NewImportContactsWorker(jobs.Deps{DB: b.pool, Logger: slog.New(slog.DiscardHandler)})
		res, err := b.workWith(t, w, &river.InsertOpts{MaxAttempts: 3})
		requireFailedNow(t, b, res, err, "no está en UTF-8")
		if n := countContacts(t, b); n != 0 {
			t.Errorf("%d contacts imported", n)
		}
	})
}

func countContacts(t *testing.T, b importBundle) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM contacts WHERE workspace_id = $1`, b.ws.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
