package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

// CleanupArgs runs the hourly housekeeping: expired sessions go, imports that no job will end
// fail, and the stored upload files of imports that have ended (or were uploaded and never
// confirmed) go, and so do the files of
// exports older than reports.ExportRetention and webhook bodies older than
// store.WebhookInboxRetention.
type CleanupArgs struct{}

func (CleanupArgs) Kind() string { return "cleanup" }

func (CleanupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Minute}}
}

// UploadRetention is how long an uploaded file waits for its import to be confirmed before the
// cleanup deletes it.
const UploadRetention = 24 * time.Hour

// ImportOrphanAge is how long a queued or running import without any import_contacts job (a
// command-line import whose process died) waits before the cleanup fails it: longer than an
// import takes.
const ImportOrphanAge = 2 * time.Hour

// importOrphanMessage is the error of an import failed by the cleanup.
const importOrphanMessage = "la importación se interrumpió y no terminará (falló su tarea o se detuvo el proceso); no se guardó ningún contacto: vuelva a subir el archivo"

// CleanupWorker deletes expired sessions and the files of ended imports.
type CleanupWorker struct {
	river.WorkerDefaults[CleanupArgs]
	db  *pgxpool.Pool
	log *slog.Logger
	// UploadRetention, ExportRetention and WebhookRetention override the defaults (tests).
	UploadRetention  time.Duration
	ExportRetention  time.Duration
	WebhookRetention time.Duration
	// DataDir holds the uploads/ and exports/ folders (DeleteOrphanFiles); "" skips them.
	DataDir string
}

// NewCleanupWorker builds the worker (tests run it directly).
func NewCleanupWorker(d Deps) *CleanupWorker {
	return &CleanupWorker{db: d.DB, log: d.Logger, DataDir: d.Config.DataDir}
}

func (w *CleanupWorker) Work(ctx context.Context, job *river.Job[CleanupArgs]) error {
	if _, err := w.db.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now()`); err != nil {
		return fmt.Errorf("deleting expired sessions: %w", err)
	}
	if _, err := w.FailOrphanedImports(ctx); err != nil {
		return err
	}
	if _, err := w.DeleteImportFiles(ctx); err != nil {
		return err
	}
	if _, err := w.DeleteExportFiles(ctx); err != nil {
		return err
	}
	if _, err := w.DeleteOrphanFiles(ctx); err != nil {
		return err
	}
	if _, err := w.PruneWebhookInbox(ctx); err != nil {
		return err
	}
	return nil
}

// PruneWebhookInbox deletes the handled webhook bodies older than the retention, in batches
// of 10,000 (short transactions beside the endpoint's inserts), and returns how many it deleted.
func (w *CleanupWorker) PruneWebhookInbox(ctx context.Context) (int64, error) {
	cutoff := time.Now().Add(-cmp.Or(w.WebhookRetention, store.WebhookInboxRetention))
	const batch = 10000
	var total int64
	for {
		n, err := store.WebhookInboxPrune(ctx, w.db, cutoff, batch)
		total += n
		if err != nil || n < batch {
			if total > 0 {
				w.logger().InfoContext(ctx, "pruned old webhook bodies", "deleted", total)
			}
			return total, err
		}
	}
}

// DeleteExportFiles deletes the files of exports completed more than the retention ago and
// returns how many it deleted; their rows stay, and downloading them answers 410.
func (w *CleanupWorker) DeleteExportFiles(ctx context.Context) (int, error) {
	retention := cmp.Or(w.ExportRetention, reports.ExportRetention)
	paths, err := reports.ExportsExpire(ctx, w.db, retention)
	if err != nil {
		return 0, err
	}
	deleted := 0
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.logger().WarnContext(ctx, "deleting expired export file", "path", p, "error", err.Error())
			continue
		}
		deleted++
	}
	return deleted, nil
}

// DeleteOrphanFiles deletes the files in the uploads and exports folders that no imports or
// exports row names and that are older than the upload retention: what a process killed at the
// wrong moment leaves (an export's temporary file, an upload stored before its imports row).
// They hold contact lists, so they must not stay forever. It returns how many it deleted.
func (w *CleanupWorker) DeleteOrphanFiles(ctx context.Context) (int, error) {
	if w.DataDir == "" {
		return 0, nil
	}
	retention := cmp.Or(w.UploadRetention, UploadRetention)
	rows, err := w.db.Query(ctx, `SELECT file_path FROM imports WHERE file_path <> ''
		UNION SELECT file_path FROM exports WHERE file_path <> ''`)
	if err != nil {
		return 0, fmt.Errorf("listing the stored files: %w", err)
	}
	paths, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("listing the stored files: %w", err)
	}
	// Compared as absolute paths: a row may name its file relative to the working directory or
	// not, as the data folder was configured when it was written.
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return filepath.Clean(p)
	}
	named := make(map[string]bool, len(paths))
	for _, p := range paths {
		named[abs(p)] = true
	}
	cutoff := time.Now().Add(-retention)
	deleted := 0
	for _, sub := range []string{"uploads", "exports"} {
		root := filepath.Join(w.DataDir, sub)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() || named[abs(path)] {
				return nil
			}
			info, err := d.Info()
			if err != nil || info.ModTime().After(cutoff) {
				return nil // gone meanwhile, or maybe still being written or confirmed
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				w.logger().WarnContext(ctx, "deleting an orphaned file", "path", path, "error", err.Error())
				return nil
			}
			deleted++
			return nil
		})
		if err != nil {
			return deleted, fmt.Errorf("walking %s: %w", root, err)
		}
	}
	if deleted > 0 {
		w.logger().InfoContext(ctx, "deleted orphaned upload and export files", "deleted", deleted)
	}
	return deleted, nil
}

func (w *CleanupWorker) logger() *slog.Logger {
	if w.log == nil {
		return slog.Default()
	}
	return w.log
}

// FailOrphanedImports fails the queued and running imports whose job has ended without ending
// them (River discarded it after its last attempt) or is gone, deletes their files and returns
// how many it failed. Without this they would show as running forever, holding their file.
func (w *CleanupWorker) FailOrphanedImports(ctx context.Context) (int, error) {
	imps, err := store.ImportFailOrphans(ctx, w.db, ImportOrphanAge, importOrphanMessage)
	if err != nil {
		return 0, err
	}
	for _, imp := range imps {
		w.logger().WarnContext(ctx, "failed an import no job will end", "import_id", imp.ID, "workspace_id", imp.WorkspaceID)
		if imp.FilePath == "" {
			continue
		}
		if err := os.Remove(imp.FilePath); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.logger().WarnContext(ctx, "deleting import file", "import_id", imp.ID, "workspace_id", imp.WorkspaceID, "error", err.Error())
		}
	}
	return len(imps), nil
}

// DeleteImportFiles deletes the stored files of imports that have ended, and of uploads never
// confirmed within the retention, and returns how many it deleted. The import job deletes its
// file itself when it ends; this catches what a crash or an abandoned upload leaves behind. Each
// file is claimed first (its path cleared while the import still qualifies), so a file whose
// upload is being confirmed right now is never deleted under the job that will read it.
func (w *CleanupWorker) DeleteImportFiles(ctx context.Context) (int, error) {
	log := w.logger()
	retention := w.UploadRetention
	if retention <= 0 {
		retention = UploadRetention
	}
	imps, err := store.ImportFilesToDelete(ctx, w.db, retention)
	if err != nil {
		return 0, fmt.Errorf("listing import files to delete: %w", err)
	}
	deleted := 0
	for _, imp := range imps {
		ok, err := store.ImportClaimFile(ctx, w.db, imp.WorkspaceID, imp.ID, imp.FilePath, retention)
		if err != nil {
			return deleted, err
		}
		if !ok {
			continue
		}
		if err := os.Remove(imp.FilePath); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.WarnContext(ctx, "deleting import file", "import_id", imp.ID, "workspace_id", imp.WorkspaceID, "error", err.Error())
			continue
		}
		deleted++
	}
	return deleted, nil
}
