package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/importers"
	"github.com/pregon/pregon/store"
)

// ImportContactsArgs runs one confirmed import (an imports row in status queued). The API
// inserts it in the transaction that confirms the import.
type ImportContactsArgs struct {
	WorkspaceID int64 `json:"workspace_id"`
	ImportID    int64 `json:"import_id" river:"unique"`
}

func (ImportContactsArgs) Kind() string { return "import_contacts" }

func (ImportContactsArgs) InsertOpts() river.InsertOpts {
	// One job per import, ever: a second confirm (the row still queued or running) must not run
	// the file a second time beside the first (ByArgs: the fields tagged river:"unique").
	return river.InsertOpts{Queue: QueueImports, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ImportContactsWorker reads the stored file and merges it into contacts with importers.Run
// (one transaction: a retry starts from scratch and never doubles anything). Progress goes to
// the imports row; a cancellation through the API is seen at the next progress tick and rolls
// the import back. The file is deleted when the import ends (completed, failed or cancelled by
// the user); when the job is interrupted (worker shutdown, timeout, a database error) it is
// kept for River's next attempt, and the last attempt fails the import. What a new attempt
// cannot fix — the file (a *importers.FileError) or a value in it that the database refuses —
// fails the import at once, with its message, and is not retried.
type ImportContactsWorker struct {
	river.WorkerDefaults[ImportContactsArgs]
	deps Deps
	// Run imports the file; nil means importers.Run (tests replace it).
	Run func(ctx context.Context, pool *pgxpool.Pool, p importers.Params, progress func(importers.Progress)) (importers.Result, error)
}

// NewImportContactsWorker builds the worker (tests run it directly).
func NewImportContactsWorker(d Deps) *ImportContactsWorker { return &ImportContactsWorker{deps: d} }

// Timeout: a million-row workbook takes minutes.
func (w *ImportContactsWorker) Timeout(*river.Job[ImportContactsArgs]) time.Duration {
	return time.Hour
}

// User-facing messages of a failed import (the details go to the log, never to the user: they
// may name the server's files).
const (
	importFailedInternal    = "la importación falló por un error interno; vuelva a subir el archivo o consulte al administrador"
	importFailedInterrupted = "la importación se interrumpió (el servidor se detuvo o tardó demasiado) y no se reintentará; no se guardó ningún contacto: vuelva a subir el archivo"
)

func (w *ImportContactsWorker) Work(ctx context.Context, job *river.Job[ImportContactsArgs]) (err error) {
	a := job.Args
	db := w.deps.DB
	log := w.logger().With("import_id", a.ImportID, "workspace_id", a.WorkspaceID)
	imp, err := store.ImportGetByID(ctx, db, a.WorkspaceID, a.ImportID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	removeFile := func() {
		if imp.FilePath != "" {
			if err := os.Remove(imp.FilePath); err != nil && !errors.Is(err, os.ErrNotExist) {
				log.WarnContext(ctx, "deleting import file", "error", err.Error())
			}
		}
		_ = store.ImportClearFile(context.WithoutCancel(ctx), db, a.WorkspaceID, a.ImportID)
	}
	// A panic here would leave the import running with its file kept: River would retry it
	// (and panic again) and discard the job. Fail the import now, once.
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		log.ErrorContext(ctx, "import panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		if ferr := store.ImportFinish(context.WithoutCancel(ctx), db, a.WorkspaceID, a.ImportID, store.ImportFailed, importFailedInternal); ferr != nil {
			err = fmt.Errorf("import %d panicked (%v), then recording its failure: %w", a.ImportID, v, ferr)
			return
		}
		removeFile()
		err = river.JobCancel(fmt.Errorf("import %d panicked: %v", a.ImportID, v))
	}()
	if imp.Status.Final() {
		removeFile()
		return nil // cancelled before it started
	}
	running, err := store.ImportStart(ctx, db, a.WorkspaceID, a.ImportID)
	if err != nil {
		return err
	}
	if !running {
		removeFile()
		return nil
	}

	p := importers.Params{
		WorkspaceID: a.WorkspaceID, ImportID: a.ImportID, UserID: derefZero(imp.CreatedBy), Path: imp.FilePath,
		Format: importers.Format(imp.Format), SHA256: imp.FileSHA256, Mode: imp.Mode, HeaderRow: imp.HeaderRow,
		Open: importers.Options{Sheet: imp.Sheet, Encoding: imp.Encoding, Separator: imp.Separator, TmpDir: os.TempDir()},
	}
	if w.deps.Box != nil {
		p.PhoneHash = w.deps.Box.Hash // the suppression list (erased opt-outs)
	}
	if len(imp.Mapping) > 0 && string(imp.Mapping) != "{}" {
		var m importers.Mapping
		if err := json.Unmarshal(imp.Mapping, &m); err != nil {
			return w.fail(ctx, imp, removeFile, fmt.Sprintf("mapeo de columnas ilegible: %v", err))
		}
		p.Mapping = &m
	}
	if len(imp.Consent) > 0 {
		if err := json.Unmarshal(imp.Consent, &p.Consent); err != nil {
			return w.fail(ctx, imp, removeFile, fmt.Sprintf("declaración de consentimiento ilegible: %v", err))
		}
	}

	run := w.Run
	if run == nil {
		run = importers.Run
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	res, err := run(runCtx, db, p, func(pr importers.Progress) {
		if pr.Phase != "reading" {
			return
		}
		still, err := store.ImportSetProgress(runCtx, db, a.WorkspaceID, a.ImportID,
			store.ImportProgress{RowsRead: pr.RowsRead, RowsTotal: pr.RowsTotal, Rejected: pr.Rejected,
				Inserted: pr.Inserted, Updated: pr.Updated})
		if err != nil && runCtx.Err() == nil {
			log.WarnContext(ctx, "recording import progress", "error", err.Error())
		}
		if err == nil && !still {
			cancel(importers.ErrImportCancelled)
		}
	})
	err = importers.ValueError(err) // what Run returns already is; a replaced Run's may not be
	var fe *importers.FileError
	switch {
	case err == nil:
		removeFile()
		log.InfoContext(ctx, "import completed", "rows", res.RowsRead, "inserted", res.Inserted, "updated", res.Updated,
			"rejected", res.Rejected, "duplicates", res.Duplicates, "duration", res.Duration.String())
		return nil
	case errors.As(err, &fe):
		log.WarnContext(ctx, "import failed on its file", "code", fe.Code, "error", err.Error())
		return w.fail(ctx, imp, removeFile, fe.Message)
	}
	// Cancelled through the API (the row says so), or ended meanwhile: nothing more to do.
	// Anything else, a worker shutdown or the job's timeout included, rolled the import back
	// and leaves it to River's next attempt, file kept.
	cur, gerr := store.ImportGetByID(context.WithoutCancel(ctx), db, a.WorkspaceID, a.ImportID)
	if gerr == nil && cur.Status.Final() {
		removeFile()
		return nil
	}
	if job.Attempt >= job.MaxAttempts {
		log.ErrorContext(ctx, "import failed on its last attempt", "attempt", job.Attempt, "error", err.Error())
		msg := importFailedInternal
		if ctx.Err() != nil {
			msg = importFailedInterrupted
		}
		return w.fail(ctx, imp, removeFile, msg)
	}
	log.WarnContext(ctx, "import interrupted, River will retry it", "attempt", job.Attempt, "error", err.Error())
	if rerr := store.ImportRequeue(context.WithoutCancel(ctx), db, a.WorkspaceID, a.ImportID); rerr != nil {
		log.WarnContext(ctx, "requeueing import", "error", rerr.Error())
	}
	return err
}

func (w *ImportContactsWorker) logger() *slog.Logger {
	if w.deps.Logger == nil {
		return slog.Default()
	}
	return w.deps.Logger
}

func (w *ImportContactsWorker) fail(ctx context.Context, imp store.Import, removeFile func(), msg string) error {
	if err := store.ImportFinish(context.WithoutCancel(ctx), w.deps.DB, imp.WorkspaceID, imp.ID, store.ImportFailed, msg); err != nil {
		return err
	}
	removeFile()
	return river.JobCancel(errors.New(msg))
}

func derefZero(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
