package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

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
	return river.InsertOpts{Queue: QueueImports, MaxAttempts: 3}
}

// ImportContactsWorker reads the stored file and merges it into contacts with importers.Run
// (one transaction: a retry starts from scratch and never doubles anything). Progress goes to
// the imports row; a cancellation through the API is seen at the next progress tick and rolls
// the import back. The file is deleted when the job ends, whatever the outcome.
type ImportContactsWorker struct {
	river.WorkerDefaults[ImportContactsArgs]
	deps Deps
}

// NewImportContactsWorker builds the worker (tests run it directly).
func NewImportContactsWorker(d Deps) *ImportContactsWorker { return &ImportContactsWorker{deps: d} }

// Timeout: a million-row workbook takes minutes.
func (w *ImportContactsWorker) Timeout(*river.Job[ImportContactsArgs]) time.Duration {
	return time.Hour
}

func (w *ImportContactsWorker) Work(ctx context.Context, job *river.Job[ImportContactsArgs]) error {
	a := job.Args
	db := w.deps.DB
	log := w.deps.Logger.With("import_id", a.ImportID, "workspace_id", a.WorkspaceID)
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

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	res, err := importers.Run(runCtx, db, p, func(pr importers.Progress) {
		if pr.Phase != "reading" {
			return
		}
		still, err := store.ImportSetProgress(runCtx, db, a.WorkspaceID, a.ImportID,
			store.ImportProgress{RowsRead: pr.RowsRead, RowsTotal: pr.RowsTotal, Rejected: pr.Rejected,
				Inserted: pr.Inserted, Updated: pr.Updated})
		if err != nil {
			log.WarnContext(ctx, "recording import progress", "error", err.Error())
		}
		if err == nil && !still {
			cancel(importers.ErrImportCancelled)
		}
	})
	var fe *importers.FileError
	switch {
	case err == nil:
		removeFile()
		log.InfoContext(ctx, "import completed", "rows", res.RowsRead, "inserted", res.Inserted, "updated", res.Updated,
			"rejected", res.Rejected, "duplicates", res.Duplicates, "duration", res.Duration.String())
		return nil
	case errors.Is(err, importers.ErrImportCancelled) || errors.Is(context.Cause(runCtx), importers.ErrImportCancelled):
		if ctx.Err() != nil { // the job itself was cancelled or timed out
			_ = store.ImportFinish(context.WithoutCancel(ctx), db, a.WorkspaceID, a.ImportID, store.ImportCancelled, "cancelada")
		}
		removeFile()
		return nil
	case errors.As(err, &fe):
		return w.fail(ctx, imp, removeFile, fe.Message)
	case job.Attempt >= job.MaxAttempts:
		return w.fail(ctx, imp, removeFile, "error interno: "+err.Error())
	}
	return err // retried from scratch: nothing of this attempt was kept
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
