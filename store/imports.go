package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// ImportStatus is where an import is.
type ImportStatus string

// Import statuses: uploaded → queued → running → completed | failed | cancelled.
const (
	ImportUploaded  ImportStatus = "uploaded"
	ImportQueued    ImportStatus = "queued"
	ImportRunning   ImportStatus = "running"
	ImportCompleted ImportStatus = "completed"
	ImportFailed    ImportStatus = "failed"
	ImportCancelled ImportStatus = "cancelled"
)

// Final reports whether the import has ended.
func (s ImportStatus) Final() bool {
	return s == ImportCompleted || s == ImportFailed || s == ImportCancelled
}

// Text is the status in Spanish words, for messages that name it ("la importación está
// completada"); the UI translates statuses itself (imp.status.* messages).
func (s ImportStatus) Text() string {
	switch s {
	case ImportUploaded:
		return "subida, por revisar"
	case ImportQueued:
		return "en cola"
	case ImportRunning:
		return "en curso"
	case ImportCompleted:
		return "completada"
	case ImportFailed:
		return "fallida"
	case ImportCancelled:
		return "cancelada"
	}
	return string(s)
}

// ImportMode says what an import does to contacts that already exist.
type ImportMode string

// Import modes.
const (
	ImportModeAdd       ImportMode = "add"        // only new contacts; existing ones untouched
	ImportModeUpdate    ImportMode = "update"     // fill fields from the file, add tags
	ImportModeMergeTags ImportMode = "merge_tags" // only add the file's tags to existing contacts
)

// Valid reports whether m is a known mode.
func (m ImportMode) Valid() bool {
	return m == ImportModeAdd || m == ImportModeUpdate || m == ImportModeMergeTags
}

// Import is an uploaded contact file and what became of it.
type Import struct {
	ID             int64           `json:"id"`
	WorkspaceID    int64           `json:"workspace_id"`
	CreatedBy      *int64          `json:"created_by,omitempty"`
	Filename       string          `json:"filename"`
	Format         string          `json:"format"`
	FileSHA256     string          `json:"file_sha256"`
	FileSize       int64           `json:"file_size"`
	FilePath       string          `json:"-"`
	Sheet          string          `json:"sheet"`
	HeaderRow      int             `json:"header_row"`
	Encoding       string          `json:"encoding"`
	Separator      string          `json:"separator"`
	Mapping        json.RawMessage `json:"mapping"`
	Mode           ImportMode      `json:"mode"`
	Consent        json.RawMessage `json:"consent"`
	Status         ImportStatus    `json:"status"`
	RowsTotal      int64           `json:"rows_total"`
	RowsRead       int64           `json:"rows_read"`
	Inserted       int64           `json:"inserted"`
	Updated        int64           `json:"updated"`
	Unchanged      int64           `json:"unchanged"`
	Rejected       int64           `json:"rejected"`
	Duplicates     int64           `json:"duplicates"`
	WithoutConsent int64           `json:"without_consent"`
	Error          string          `json:"error"`
	CreatedAt      time.Time       `json:"created_at"`
	StartedAt      *time.Time      `json:"started_at,omitempty"`
	FinishedAt     *time.Time      `json:"finished_at,omitempty"`
}

const importColumns = `id, workspace_id, created_by, filename, format, file_sha256, file_size, file_path, sheet,
	header_row, encoding, separator, mapping, mode, consent, status, rows_total, rows_read, inserted, updated,
	unchanged, rejected, duplicates, without_consent, error, created_at, started_at, finished_at`

func scanImport(row interface{ Scan(...any) error }) (Import, error) {
	var i Import
	err := row.Scan(&i.ID, &i.WorkspaceID, &i.CreatedBy, &i.Filename, &i.Format, &i.FileSHA256, &i.FileSize, &i.FilePath,
		&i.Sheet, &i.HeaderRow, &i.Encoding, &i.Separator, &i.Mapping, &i.Mode, &i.Consent, &i.Status, &i.RowsTotal,
		&i.RowsRead, &i.Inserted, &i.Updated, &i.Unchanged, &i.Rejected, &i.Duplicates, &i.WithoutConsent, &i.Error,
		&i.CreatedAt, &i.StartedAt, &i.FinishedAt)
	return i, NotFoundIfNoRows(err)
}

// ImportCreateParams describe an uploaded file.
type ImportCreateParams struct {
	WorkspaceID int64
	CreatedBy   int64 // 0 = none (CLI)
	Filename    string
	Format      string
	FileSHA256  string
	FileSize    int64
	FilePath    string
	Status      ImportStatus // default uploaded
	Mode        ImportMode   // default update
}

// ImportCreate records an uploaded file.
func ImportCreate(ctx context.Context, db DBTX, p ImportCreateParams) (Import, error) {
	if p.Status == "" {
		p.Status = ImportUploaded
	}
	if p.Mode == "" {
		p.Mode = ImportModeUpdate
	}
	row := db.QueryRow(ctx, `
		INSERT INTO imports (workspace_id, created_by, filename, format, file_sha256, file_size, file_path, status, mode,
		                     started_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $8 = 'running' THEN now() END)
		RETURNING `+importColumns,
		p.WorkspaceID, zeroNil(p.CreatedBy), p.Filename, p.Format, p.FileSHA256, p.FileSize, p.FilePath, p.Status, p.Mode)
	i, err := scanImport(row)
	if err != nil {
		return i, fmt.Errorf("recording import of %q: %w", p.Filename, err)
	}
	return i, nil
}

// ImportGetByID reads an import of the workspace.
func ImportGetByID(ctx context.Context, db DBTX, workspaceID, id int64) (Import, error) {
	return scanImport(db.QueryRow(ctx, `SELECT `+importColumns+` FROM imports WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
}

// ImportGetForUpdate reads and locks an import of the workspace.
func ImportGetForUpdate(ctx context.Context, db DBTX, workspaceID, id int64) (Import, error) {
	return scanImport(db.QueryRow(ctx, `SELECT `+importColumns+` FROM imports WHERE workspace_id = $1 AND id = $2 FOR UPDATE`, workspaceID, id))
}

// ImportList lists the workspace's imports, newest first, after the cursor (an id; 0 = start).
func ImportList(ctx context.Context, db DBTX, workspaceID int64, cursor int64, limit int) ([]Import, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	rows, err := db.Query(ctx, `SELECT `+importColumns+` FROM imports
		WHERE workspace_id = $1 AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, workspaceID, cursor, limit)
	if err != nil {
		return nil, fmt.Errorf("listing imports: %w", err)
	}
	defer rows.Close()
	out := []Import{}
	for rows.Next() {
		i, err := scanImport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// ImportConfirmParams are what the user confirms before the job runs.
type ImportConfirmParams struct {
	Sheet     string
	HeaderRow int
	Encoding  string
	Separator string
	Mapping   json.RawMessage
	Mode      ImportMode
	Consent   json.RawMessage
}

// ImportConfirm moves an uploaded import to queued with the confirmed settings. It fails with
// ErrConflict unless the import is still uploaded (run it in the transaction that inserts the job).
func ImportConfirm(ctx context.Context, db DBTX, workspaceID, id int64, p ImportConfirmParams) (Import, error) {
	if len(p.Consent) == 0 {
		p.Consent = json.RawMessage(`{}`)
	}
	i, err := scanImport(db.QueryRow(ctx, `
		UPDATE imports SET status = 'queued', sheet = $3, header_row = $4, encoding = $5, separator = $6,
		       mapping = $7, mode = $8, consent = $9
		WHERE workspace_id = $1 AND id = $2 AND status = 'uploaded'
		RETURNING `+importColumns, workspaceID, id, p.Sheet, p.HeaderRow, p.Encoding, p.Separator, p.Mapping, p.Mode, p.Consent))
	if err == ErrNotFound {
		if _, err2 := ImportGetByID(ctx, db, workspaceID, id); err2 == nil {
			return i, fmt.Errorf("la importación ya fue confirmada: %w", ErrConflict)
		}
	}
	return i, err
}

// ImportStart marks a queued import running; false when it is not queued any more (cancelled).
func ImportStart(ctx context.Context, db DBTX, workspaceID, id int64) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE imports SET status = 'running', started_at = now(), error = ''
		WHERE workspace_id = $1 AND id = $2 AND status IN ('queued', 'running')`, workspaceID, id)
	if err != nil {
		return false, fmt.Errorf("starting import %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ImportProgress is what a running import has done so far.
type ImportProgress struct {
	RowsRead  int64
	RowsTotal int64
	Rejected  int64
	Inserted  int64 // merged so far, committed at the end
	Updated   int64
}

// ImportSetProgress records progress of a running import. It returns false when the import is
// not running any more (cancelled through the API): the job then stops and rolls back.
func ImportSetProgress(ctx context.Context, db DBTX, workspaceID, id int64, p ImportProgress) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE imports SET rows_read = $3::bigint, rows_total = greatest($4::bigint, $3::bigint), rejected = $5,
		       inserted = $6, updated = $7
		WHERE workspace_id = $1 AND id = $2 AND status = 'running'`, workspaceID, id, p.RowsRead, p.RowsTotal, p.Rejected,
		p.Inserted, p.Updated)
	if err != nil {
		return true, fmt.Errorf("recording progress of import %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ImportCancel cancels an import that has not ended (ErrConflict when it has).
func ImportCancel(ctx context.Context, db DBTX, workspaceID, id int64) (Import, error) {
	i, err := scanImport(db.QueryRow(ctx, `UPDATE imports SET status = 'cancelled', finished_at = now(), error = 'cancelada por el usuario',
		       inserted = 0, updated = 0 -- rolled back: nothing was kept
		WHERE workspace_id = $1 AND id = $2 AND status IN ('uploaded', 'queued', 'running')
		RETURNING `+importColumns, workspaceID, id))
	if err == ErrNotFound {
		if cur, err2 := ImportGetByID(ctx, db, workspaceID, id); err2 == nil {
			return cur, fmt.Errorf("%w: la importación ya terminó: está %s", ErrConflict, cur.Status.Text())
		}
	}
	return i, err
}

// ImportFinish ends an import that did not complete: failed or cancelled, with a message.
// A completed import is recorded by the import's own transaction.
func ImportFinish(ctx context.Context, db DBTX, workspaceID, id int64, status ImportStatus, msg string) error {
	_, err := db.Exec(ctx, `UPDATE imports SET status = $3, error = $4, finished_at = now(), file_path = '',
		       inserted = 0, updated = 0
		WHERE workspace_id = $1 AND id = $2 AND status NOT IN ('completed', 'failed', 'cancelled')`, workspaceID, id, status, msg)
	if err != nil {
		return fmt.Errorf("finishing import %d: %w", id, err)
	}
	return nil
}

// ImportRequeue puts a running import back in the queue after an attempt that was interrupted
// (rolled back: its progress starts again); the job's next attempt starts it again.
func ImportRequeue(ctx context.Context, db DBTX, workspaceID, id int64) error {
	_, err := db.Exec(ctx, `UPDATE imports SET status = 'queued', rows_read = 0, rejected = 0, inserted = 0, updated = 0,
		       error = 'interrumpida; se reintentará en breve'
		WHERE workspace_id = $1 AND id = $2 AND status = 'running'`, workspaceID, id)
	if err != nil {
		return fmt.Errorf("requeueing import %d: %w", id, err)
	}
	return nil
}

// ImportFailOrphans fails the queued and running imports that no job will end: their
// import_contacts job finished (completed, cancelled or discarded after its last attempt, e.g.
// when the worker panicked) while the import did not, or it is gone and the import has not
// moved for olderThan (a command-line import runs without a job: one whose process died stays
// running). It returns the failed imports with the file path they held, for the caller to
// delete.
func ImportFailOrphans(ctx context.Context, db DBTX, olderThan time.Duration, msg string) ([]Import, error) {
	rows, err := db.Query(ctx, `
		WITH orphan AS (
			SELECT i.id, i.file_path FROM imports i
			WHERE i.status IN ('queued', 'running')
			  AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'import_contacts'
			                  AND (j.args->>'import_id')::bigint = i.id
			                  AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled'))
			  AND (EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'import_contacts'
			               AND (j.args->>'import_id')::bigint = i.id)
			       OR coalesce(i.started_at, i.created_at) < now() - make_interval(secs => $1))
			FOR UPDATE OF i SKIP LOCKED)
		UPDATE imports i SET status = 'failed', error = $2, finished_at = now(), file_path = '', inserted = 0, updated = 0
		FROM orphan o WHERE i.id = o.id
		RETURNING i.id, i.workspace_id, o.file_path`, olderThan.Seconds(), msg)
	if err != nil {
		return nil, fmt.Errorf("failing orphaned imports: %w", err)
	}
	defer rows.Close()
	var out []Import
	for rows.Next() {
		var i Import
		if err := rows.Scan(&i.ID, &i.WorkspaceID, &i.FilePath); err != nil {
			return nil, err
		}
		i.Status = ImportFailed
		out = append(out, i)
	}
	return out, rows.Err()
}

// ImportClearFile forgets the stored file's path (after deleting it).
func ImportClearFile(ctx context.Context, db DBTX, workspaceID, id int64) error {
	_, err := db.Exec(ctx, `UPDATE imports SET file_path = '' WHERE workspace_id = $1 AND id = $2`, workspaceID, id)
	return err
}

// ImportClaimFile forgets the stored file's path of an import the cleanup may delete (ended, or
// uploaded and never confirmed for olderThan) and returns it. ok is false when the import no
// longer qualifies (it was confirmed meanwhile, or someone else claimed the file): the caller
// must not delete the file then.
func ImportClaimFile(ctx context.Context, db DBTX, workspaceID, id int64, path string, olderThan time.Duration) (ok bool, err error) {
	tag, err := db.Exec(ctx, `UPDATE imports SET file_path = ''
		WHERE workspace_id = $1 AND id = $2 AND file_path = $3 AND file_path <> ''
		  AND (status IN ('completed', 'failed', 'cancelled')
		       OR (status = 'uploaded' AND created_at < now() - make_interval(secs => $4)))`,
		workspaceID, id, path, olderThan.Seconds())
	if err != nil {
		return false, fmt.Errorf("claiming the file of import %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ImportError is one line of an import's error report.
type ImportError struct {
	Row    int      `json:"row"`
	Column string   `json:"column"`
	Value  string   `json:"value"`
	Reason string   `json:"reason"`
	Raw    []string `json:"raw"`
}

// ImportErrorList reads an import's errors in row order, after row `after`.
func ImportErrorList(ctx context.Context, db DBTX, workspaceID, importID int64, after, limit int) ([]ImportError, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := db.Query(ctx, `
		SELECT e.row_number, e.column_name, e.value, e.reason, e.raw
		FROM import_errors e JOIN imports i ON i.id = e.import_id
		WHERE i.workspace_id = $1 AND e.import_id = $2 AND e.row_number > $3
		ORDER BY e.row_number, e.column_name LIMIT $4`, workspaceID, importID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("listing errors of import %d: %w", importID, err)
	}
	defer rows.Close()
	out := []ImportError{}
	for rows.Next() {
		var e ImportError
		if err := rows.Scan(&e.Row, &e.Column, &e.Value, &e.Reason, &e.Raw); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ImportFilesToDelete lists file paths of imports that have ended but still hold a file (the
// cleanup job deletes them).
func ImportFilesToDelete(ctx context.Context, db DBTX, olderThan time.Duration) ([]Import, error) {
	rows, err := db.Query(ctx, `SELECT `+importColumns+` FROM imports
		WHERE file_path <> '' AND (status IN ('completed', 'failed', 'cancelled')
		   OR (status = 'uploaded' AND created_at < now() - make_interval(secs => $1)))`, olderThan.Seconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Import
	for rows.Next() {
		i, err := scanImport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}
