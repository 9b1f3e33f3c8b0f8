// Package store holds Pregón's domain types and the SQL that reads and writes them. Domain types
// import nothing from Echo or River; storage functions are noun-first (CampaignGetByID,
// ContactList…), take ctx first and a DBTX so they run on the pool or inside a transaction.
package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTX is satisfied by *pgxpool.Pool, *pgx.Conn and pgx.Tx.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Errors the API maps to HTTP statuses.
var (
	ErrNotFound  = errors.New("not found")
	ErrConflict  = errors.New("conflict")
	ErrForbidden = errors.New("forbidden")
)

// ValidationError reports bad input, field by field.
type ValidationError struct {
	Problems []Problem `json:"problems"`
}

// FieldConflictError is a conflict about one field's value (a name already taken). It is
// ErrConflict for errors.Is and names the field by its JSON path, so that a form shows the
// message next to that field.
type FieldConflictError struct {
	Path    string
	Message string
}

func (e *FieldConflictError) Error() string { return ErrConflict.Error() + ": " + e.Message }

func (e *FieldConflictError) Unwrap() error { return ErrConflict }

// Problem is one bad field: a JSON path and a message a person understands.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0].Path + ": " + e.Problems[0].Message
	}
	return "invalid input"
}

// Invalid builds a ValidationError with one problem.
func Invalid(path, message string) *ValidationError {
	return &ValidationError{Problems: []Problem{{Path: path, Message: message}}}
}

// IsUniqueViolation reports whether err is a Postgres unique violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// IsTextNotStorable reports whether Postgres refused a value for a character text and jsonb
// cannot hold: the NUL character (a "\x00" byte in text, "\u0000" in JSON).
func IsTextNotStorable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "22021" || pgErr.Code == "22P05")
}

// NotFoundIfNoRows turns pgx.ErrNoRows into ErrNotFound.
func NotFoundIfNoRows(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// collectCounts reads (label, count) rows into a map.
func collectCounts(rows pgx.Rows) (map[string]int64, error) {
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var label string
		var n int64
		if err := rows.Scan(&label, &n); err != nil {
			return nil, err
		}
		out[label] = n
	}
	return out, rows.Err()
}
