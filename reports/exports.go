package reports

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pregon/pregon/store"
)

// Export statuses.
const (
	ExportQueued    = "queued"
	ExportRunning   = "running"
	ExportCompleted = "completed"
	ExportFailed    = "failed"
)

// Export is a job-based export and its progress.
type Export struct {
	ID          int64      `json:"id"`
	WorkspaceID int64      `json:"workspace_id"`
	Spec        ExportSpec `json:"spec"`
	Status      string     `json:"status"` // queued | running | completed | failed
	RowsTotal   int64      `json:"rows_total"`
	RowsWritten int64      `json:"rows_written"`
	Progress    float64    `json:"progress"` // 0–1
	FileName    string     `json:"file_name"`
	FileSize    int64      `json:"file_size"`
	FileSHA256  string     `json:"file_sha256,omitempty"`
	Error       string     `json:"error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	DownloadURL string     `json:"download_url,omitempty"` // set by the API once completed
	// Expired: completed, but its file was deleted after ExportRetention.
	Expired  bool `json:"expired,omitempty"`
	filePath string
}

// FilePath is where a completed export's file is.
func (e Export) FilePath() string { return e.filePath }

const exportColumns = `id, workspace_id, kind, format, params, as_of, status, rows_total, rows_written,
	file_name, file_path, file_size, file_sha256, error, created_at, started_at, finished_at`

func scanExport(row pgx.Row) (Export, error) {
	var e Export
	var kind, format string
	var params []byte
	var asOf time.Time
	err := row.Scan(&e.ID, &e.WorkspaceID, &kind, &format, &params, &asOf, &e.Status, &e.RowsTotal, &e.RowsWritten,
		&e.FileName, &e.filePath, &e.FileSize, &e.FileSHA256, &e.Error, &e.CreatedAt, &e.StartedAt, &e.FinishedAt)
	if err != nil {
		return e, store.NotFoundIfNoRows(err)
	}
	if err := json.Unmarshal(params, &e.Spec); err != nil {
		return e, fmt.Errorf("decoding export %d's parameters: %w", e.ID, err)
	}
	e.Spec.WorkspaceID, e.Spec.Kind, e.Spec.Format, e.Spec.AsOf = e.WorkspaceID, Kind(kind), Format(format), asOf.UTC()
	e.Expired = e.Status == ExportCompleted && e.filePath == ""
	if e.RowsTotal > 0 {
		e.Progress = min(1, float64(e.RowsWritten)/float64(e.RowsTotal))
	} else if e.Status == ExportCompleted {
		e.Progress = 1
	}
	return e, nil
}

// ExportCreate records a queued export of a validated spec. Insert its job in the same
// transaction (jobs.ExportArgs).
func ExportCreate(ctx context.Context, db store.DBTX, spec ExportSpec, createdBy *int64, rowsTotal int64) (Export, error) {
	params, err := json.Marshal(spec)
	if err != nil {
		return Export{}, err
	}
	e, err := scanExport(db.QueryRow(ctx, `
		INSERT INTO exports (workspace_id, kind, format, params, as_of, rows_total, file_name, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+exportColumns,
		spec.WorkspaceID, spec.Kind, spec.Format, params, spec.AsOf, rowsTotal, spec.FileName(), createdBy))
	if err != nil {
		return e, fmt.Errorf("recording the export: %w", err)
	}
	return e, nil
}

// ExportGetByID reads an export of workspaceID.
func ExportGetByID(ctx context.Context, db store.DBTX, workspaceID, id int64) (Export, error) {
	return scanExport(db.QueryRow(ctx, `SELECT `+exportColumns+` FROM exports WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
}

// ExportList lists a workspace's exports, newest first, after cursor (an id; 0 = from the newest).
func ExportList(ctx context.Context, db store.DBTX, workspaceID int64, limit int, cursor int64) ([]Export, error) {
	if cursor <= 0 {
		cursor = 1<<63 - 1
	}
	rows, err := db.Query(ctx, `SELECT `+exportColumns+` FROM exports WHERE workspace_id = $1 AND id < $2
		ORDER BY id DESC LIMIT $3`, workspaceID, cursor, limit)
	if err != nil {
		return nil, fmt.Errorf("listing exports: %w", err)
	}
	defer rows.Close()
	out := []Export{}
	for rows.Next() {
		e, err := scanExport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ExportRun runs a queued (or interrupted) export: it writes the file under
// dataDir/exports/<workspace_id>/, reporting progress in the exports row, and marks the export
// completed with the file's size and SHA-256, or failed with the reason. A completed export
// is left alone, so a retried job is harmless. With willRetry (the job has attempts left and
// the error may pass), a failure leaves the export queued, saying it will be retried, instead
// of failed.
func ExportRun(ctx context.Context, db store.DBTX, dataDir string, id int64, willRetry bool) error {
	var wsID int64
	if err := db.QueryRow(ctx, `SELECT workspace_id FROM exports WHERE id = $1`, id).Scan(&wsID); err != nil {
		return fmt.Errorf("reading export %d: %w", id, store.NotFoundIfNoRows(err))
	}
	e, err := ExportGetByID(ctx, db, wsID, id)
	if err != nil {
		return err
	}
	if e.Status == ExportCompleted {
		return nil
	}
	if _, err := db.Exec(ctx, `UPDATE exports SET status = 'running', started_at = now(), rows_written = 0, error = ''
		WHERE id = $1`, id); err != nil {
		return fmt.Errorf("starting export %d: %w", id, err)
	}
	// The rows may have grown since the export was asked for (a contacts export): an XLSX
	// that no longer fits a sheet fails at once, for good, instead of at its last row.
	rows, runErr := Count(ctx, db, e.Spec)
	if runErr == nil {
		runErr = e.Spec.CheckSize(rows)
	}
	var path, sum string
	var size, n int64
	if runErr == nil {
		path, size, sum, n, runErr = writeExportFile(ctx, db, dataDir, e)
	}
	if runErr != nil {
		var invalid *store.ValidationError
		if willRetry && !errors.As(runErr, &invalid) {
			_, err := db.Exec(context.WithoutCancel(ctx), `UPDATE exports SET status = 'queued', error = $2 WHERE id = $1`,
				id, "interrumpida; se reintentará en breve ("+runErr.Error()+")")
			return errors.Join(runErr, err)
		}
		_, err := db.Exec(context.WithoutCancel(ctx), `UPDATE exports SET status = 'failed', error = $2, finished_at = now() WHERE id = $1`,
			id, runErr.Error())
		return errors.Join(runErr, err)
	}
	_, err = db.Exec(ctx, `UPDATE exports SET status = 'completed', rows_written = $2, rows_total = $2, file_path = $3,
		file_size = $4, file_sha256 = $5, finished_at = now() WHERE id = $1`, id, n, path, size, sum)
	if err != nil {
		return fmt.Errorf("completing export %d: %w", id, err)
	}
	return nil
}

func writeExportFile(ctx context.Context, db store.DBTX, dataDir string, e Export) (string, int64, string, int64, error) {
	dir := filepath.Join(dataDir, "exports", strconv.FormatInt(e.WorkspaceID, 10))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", 0, "", 0, fmt.Errorf("creating the exports folder: %w", err)
	}
	final := filepath.Join(dir, fmt.Sprintf("%d.%s", e.ID, e.Spec.Format))
	f, err := os.CreateTemp(dir, fmt.Sprintf(".%d-*.tmp", e.ID))
	if err != nil {
		return "", 0, "", 0, fmt.Errorf("creating the export file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(f, h)}
	n, err := Write(ctx, db, e.Spec, cw, func(rows int64) {
		db.Exec(ctx, `UPDATE exports SET rows_written = $2 WHERE id = $1`, e.ID, rows)
	})
	if err != nil {
		return "", 0, "", n, err
	}
	if err := f.Close(); err != nil {
		return "", 0, "", n, fmt.Errorf("closing the export file: %w", err)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return "", 0, "", n, fmt.Errorf("moving the export file in place: %w", err)
	}
	return final, cw.n, hex.EncodeToString(h.Sum(nil)), n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ExportRetention is how long a completed export's file stays downloadable. The row stays,
// with its size and SHA-256, so the list still says what was exported and when.
const ExportRetention = 7 * 24 * time.Hour

// ExportsExpire forgets the files of exports completed more than retention ago and returns
// their paths for the caller to delete. The path is cleared first, so a download that starts
// afterwards answers 410 rather than reading a file being deleted.
func ExportsExpire(ctx context.Context, db store.DBTX, retention time.Duration) ([]string, error) {
	rows, err := db.Query(ctx, `
		UPDATE exports e SET file_path = ''
		FROM (SELECT id, file_path FROM exports
		      WHERE status = 'completed' AND file_path <> '' AND finished_at < now() - $1::interval
		      FOR UPDATE) old
		WHERE e.id = old.id
		RETURNING old.file_path`, retention)
	if err != nil {
		return nil, fmt.Errorf("expiring export files: %w", err)
	}
	paths, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("expiring export files: %w", err)
	}
	return paths, nil
}

// FinishedAtOrZero is when the export completed (zero while it runs).
func (e Export) FinishedAtOrZero() time.Time {
	if e.FinishedAt == nil {
		return time.Time{}
	}
	return *e.FinishedAt
}
