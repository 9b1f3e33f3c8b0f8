package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PhoneHasher is the keyed hash of an E.164 phone that suppressed_phones keeps (secret.Box.Hash).
type PhoneHasher func(e164 string) []byte

// ErrSuppressed is returned for a phone whose contact opted out and was then erased: it cannot
// be added again (by the API or an import) without the person's own new opt-in.
var ErrSuppressed = fmt.Errorf("%w: este número se dio de baja y luego se borraron sus datos; no se puede volver a agregar", ErrConflict)

// PhoneSuppressed reports since when the phone with this hash is suppressed in the workspace
// (nil: it is not).
func PhoneSuppressed(ctx context.Context, db DBTX, workspaceID int64, hash []byte) (*time.Time, error) {
	var at time.Time
	err := db.QueryRow(ctx, `SELECT opted_out_at FROM suppressed_phones WHERE workspace_id = $1 AND phone_hash = $2`,
		workspaceID, hash).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checking the suppression list: %w", err)
	}
	return &at, nil
}

// SuppressedPhoneHashes is the workspace's suppression list, for an import to check its rows
// against (keys: string(hash)).
func SuppressedPhoneHashes(ctx context.Context, db DBTX, workspaceID int64) (map[string]struct{}, error) {
	rows, err := db.Query(ctx, `SELECT phone_hash FROM suppressed_phones WHERE workspace_id = $1`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("reading the suppression list: %w", err)
	}
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("reading the suppression list: %w", err)
	}
	out := make(map[string]struct{}, len(hashes))
	for _, h := range hashes {
		out[string(h)] = struct{}{}
	}
	return out, nil
}

// suppressBeforeErasure adds the contact's phone to the suppression list when they opted out or
// WhatsApp stopped their marketing; called in the erasure's transaction, before the phone goes.
func suppressBeforeErasure(ctx context.Context, tx pgx.Tx, workspaceID, id int64, hash PhoneHasher) error {
	if hash == nil {
		return nil
	}
	var phone string
	var at time.Time
	err := tx.QueryRow(ctx, `SELECT phone_e164, COALESCE(opted_out_at, marketing_stopped_at, now()) FROM contacts
		WHERE workspace_id = $1 AND id = $2 AND erased_at IS NULL AND (opted_out_at IS NOT NULL OR marketing_stopped)`,
		workspaceID, id).Scan(&phone, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the opt-out of contact %d: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO suppressed_phones (workspace_id, phone_hash, opted_out_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, workspaceID, hash(phone), at); err != nil {
		return fmt.Errorf("keeping the opt-out of contact %d: %w", id, err)
	}
	return nil
}
