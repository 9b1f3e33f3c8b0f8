package store

import (
	"context"
	"crypto/sha256"
	"strings"
	"time"
)

// APIToken is a workspace-scoped bearer token. Only its hash is stored.
type APIToken struct {
	ID          int64      `json:"id"`
	WorkspaceID int64      `json:"workspace_id"`
	Name        string     `json:"name"`
	Role        Role       `json:"role"`
	Prefix      string     `json:"prefix"`
	CreatedBy   *int64     `json:"created_by,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// TokenPrefix starts every API token so that leaked tokens are easy to recognise.
const TokenPrefix = "pregon_"

// APITokenCreateParams are the fields of a new token.
type APITokenCreateParams struct {
	WorkspaceID int64
	Name        string
	Role        Role
	CreatedBy   *int64
	ExpiresAt   *time.Time
}

// APITokenCreate makes a token and returns its secret, which is never shown again.
func APITokenCreate(ctx context.Context, db DBTX, p APITokenCreateParams) (string, APIToken, error) {
	if strings.TrimSpace(p.Name) == "" {
		return "", APIToken{}, Invalid("name", "el token necesita un nombre")
	}
	if !p.Role.Valid() {
		return "", APIToken{}, Invalid("role", "rol inválido: owner, marketer o analyst")
	}
	secret := TokenPrefix + RandomToken(32)
	sum := sha256.Sum256([]byte(secret))
	var t APIToken
	err := db.QueryRow(ctx, `INSERT INTO api_tokens (workspace_id, name, role, token_hash, prefix, created_by, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		RETURNING id, workspace_id, name, role, prefix, created_by, created_at, expires_at, last_used_at, revoked_at`,
		p.WorkspaceID, p.Name, p.Role, sum[:], secret[:len(TokenPrefix)+6], p.CreatedBy, p.ExpiresAt).
		Scan(&t.ID, &t.WorkspaceID, &t.Name, &t.Role, &t.Prefix, &t.CreatedBy, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt)
	return secret, t, err
}

// APITokenAuthenticate finds a live token by its secret and records its use.
func APITokenAuthenticate(ctx context.Context, db DBTX, secret string) (APIToken, error) {
	sum := sha256.Sum256([]byte(secret))
	var t APIToken
	// last_used_at is written at most once a minute to keep hot tokens cheap.
	err := db.QueryRow(ctx, `
		UPDATE api_tokens SET last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < now() - interval '1 minute'
		                                          THEN now() ELSE last_used_at END
		WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
		RETURNING id, workspace_id, name, role, prefix, created_by, created_at, expires_at, last_used_at, revoked_at`, sum[:]).
		Scan(&t.ID, &t.WorkspaceID, &t.Name, &t.Role, &t.Prefix, &t.CreatedBy, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt)
	return t, NotFoundIfNoRows(err)
}

// APITokenList lists a workspace's tokens, revoked ones included.
func APITokenList(ctx context.Context, db DBTX, workspaceID int64) ([]APIToken, error) {
	rows, err := db.Query(ctx, `SELECT id, workspace_id, name, role, prefix, created_by, created_at, expires_at, last_used_at, revoked_at
		FROM api_tokens WHERE workspace_id = $1 ORDER BY id`, workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []APIToken{}
	for rows.Next() {
		var t APIToken
		if err := rows.Scan(&t.ID, &t.WorkspaceID, &t.Name, &t.Role, &t.Prefix, &t.CreatedBy, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// APITokenRevoke revokes a token of the workspace.
func APITokenRevoke(ctx context.Context, db DBTX, workspaceID, id int64) error {
	tag, err := db.Exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE workspace_id = $1 AND id = $2`, workspaceID, id)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}
