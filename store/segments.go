package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// Segment is a saved audience: a name and a definition (segments.Definition as JSON, never
// SQL). The store keeps the JSON as given; callers validate it with segments.Parse and
// Definition.Validate before saving (api/segments.go does).
type Segment struct {
	ID          int64           `json:"id"`
	WorkspaceID int64           `json:"workspace_id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Definition  json.RawMessage `json:"definition"`
	CreatedBy   *int64          `json:"created_by,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// SegmentCreateParams are the fields of a new segment.
type SegmentCreateParams struct {
	WorkspaceID int64
	Name        string
	Description string
	Definition  json.RawMessage // already validated; empty means {} (the whole eligible base)
	CreatedBy   *int64
}

// SegmentUpdate changes the fields that are not nil.
type SegmentUpdate struct {
	Name        *string         `json:"name,omitempty"`
	Description *string         `json:"description,omitempty"`
	Definition  json.RawMessage `json:"definition,omitempty"`
}

// SegmentFilter pages through a workspace's segments, newest first.
type SegmentFilter struct {
	Cursor int64 // last id seen; the list goes by id descending
	Limit  int   // 1–500, default 50
}

const segmentColumns = `id, workspace_id, name, description, definition, created_by, created_at, updated_at`

func scanSegment(row interface{ Scan(...any) error }) (Segment, error) {
	var s Segment
	var def []byte
	err := row.Scan(&s.ID, &s.WorkspaceID, &s.Name, &s.Description, &def, &s.CreatedBy, &s.CreatedAt, &s.UpdatedAt)
	s.Definition = def
	return s, err
}

func validateSegment(name, description *string) error {
	var problems []Problem
	if name != nil {
		*name = strings.TrimSpace(*name)
		if n := utf8.RuneCountInString(*name); n == 0 || n > 200 {
			problems = append(problems, Problem{Path: "name", Message: "el segmento necesita un nombre (hasta 200 caracteres)"})
		}
	}
	if description != nil && utf8.RuneCountInString(*description) > 2000 {
		problems = append(problems, Problem{Path: "description", Message: "la descripción no puede superar 2000 caracteres"})
	}
	if problems != nil {
		return &ValidationError{Problems: problems}
	}
	return nil
}

// segmentWriteErr maps a duplicate name to ErrConflict and a segment still used by campaigns
// to ErrConflict too.
func segmentWriteErr(err error, what string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return &FieldConflictError{Path: "name", Message: "ya existe un segmento con ese nombre"}
		case "23503":
			return fmt.Errorf("%w: el segmento está en uso por campañas", ErrConflict)
		}
	}
	return fmt.Errorf("%s: %w", what, NotFoundIfNoRows(err))
}

// SegmentCreate inserts a segment.
func SegmentCreate(ctx context.Context, db DBTX, p SegmentCreateParams) (Segment, error) {
	if err := validateSegment(&p.Name, &p.Description); err != nil {
		return Segment{}, err
	}
	if len(p.Definition) == 0 {
		p.Definition = json.RawMessage(`{}`)
	}
	s, err := scanSegment(db.QueryRow(ctx, `INSERT INTO segments (workspace_id, name, description, definition, created_by)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+segmentColumns,
		p.WorkspaceID, p.Name, p.Description, string(p.Definition), p.CreatedBy))
	if err != nil {
		return Segment{}, segmentWriteErr(err, "creating a segment")
	}
	return s, nil
}

// SegmentGetByID reads a segment of the workspace; another workspace's id is ErrNotFound.
func SegmentGetByID(ctx context.Context, db DBTX, workspaceID, id int64) (Segment, error) {
	s, err := scanSegment(db.QueryRow(ctx, `SELECT `+segmentColumns+` FROM segments WHERE workspace_id = $1 AND id = $2`,
		workspaceID, id))
	if err != nil {
		return Segment{}, fmt.Errorf("reading segment %d: %w", id, NotFoundIfNoRows(err))
	}
	return s, nil
}

// SegmentList returns a page of the workspace's segments, newest first.
func SegmentList(ctx context.Context, db DBTX, workspaceID int64, f SegmentFilter) ([]Segment, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	rows, err := db.Query(ctx, `SELECT `+segmentColumns+` FROM segments
		WHERE workspace_id = $1 AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`, workspaceID, f.Cursor, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("listing segments: %w", err)
	}
	defer rows.Close()
	out := []Segment{}
	for rows.Next() {
		s, err := scanSegment(rows)
		if err != nil {
			return nil, fmt.Errorf("listing segments: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SegmentUpdateByID changes a segment of the workspace.
func SegmentUpdateByID(ctx context.Context, db DBTX, workspaceID, id int64, u SegmentUpdate) (Segment, error) {
	if err := validateSegment(u.Name, u.Description); err != nil {
		return Segment{}, err
	}
	var def *string
	if len(u.Definition) > 0 {
		d := string(u.Definition)
		def = &d
	}
	s, err := scanSegment(db.QueryRow(ctx, `UPDATE segments SET
		name = coalesce($3, name), description = coalesce($4, description),
		definition = coalesce($5::jsonb, definition), updated_at = now()
		WHERE workspace_id = $1 AND id = $2 RETURNING `+segmentColumns,
		workspaceID, id, u.Name, u.Description, def))
	if err != nil {
		return Segment{}, segmentWriteErr(err, fmt.Sprintf("updating segment %d", id))
	}
	return s, nil
}

// SegmentDelete removes a segment of the workspace. A segment that campaigns point to cannot
// be deleted (ErrConflict): campaigns keep their frozen definition, but the link stays.
func SegmentDelete(ctx context.Context, db DBTX, workspaceID, id int64) error {
	tag, err := db.Exec(ctx, `DELETE FROM segments WHERE workspace_id = $1 AND id = $2`, workspaceID, id)
	if err != nil {
		return segmentWriteErr(err, fmt.Sprintf("deleting segment %d", id))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("deleting segment %d: %w", id, ErrNotFound)
	}
	return nil
}
