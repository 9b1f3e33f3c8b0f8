package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// User is a person who logs in to the admin UI.
type User struct {
	ID          int64      `json:"id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	Role        Role       `json:"role,omitempty"` // in the workspace it was read for
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at,omitempty"`
}

// Membership is a user's role in one workspace.
type Membership struct {
	WorkspaceID   int64  `json:"workspace_id"`
	WorkspaceName string `json:"workspace_name"`
	Role          Role   `json:"role"`
}

// ErrBadCredentials means the e-mail or password did not match.
var ErrBadCredentials = errors.New("bad credentials")

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 10

// HashPassword hashes a password with bcrypt.
func HashPassword(pw string) (string, error) {
	if len(pw) < MinPasswordLength {
		return "", Invalid("password", "la contraseña debe tener al menos 10 caracteres")
	}
	if len(pw) > 72 {
		return "", Invalid("password", "la contraseña no puede tener más de 72 caracteres")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	return string(h), err
}

// UserCreateParams are the fields of a new user and its first membership.
type UserCreateParams struct {
	WorkspaceID int64
	Email       string
	Name        string
	Password    string
	Role        Role
	// Operator is set by the installation's operator (the command line): an existing account
	// may then be given a password (ignored: it keeps its own) and an existing member a new role.
	Operator bool
}

// UserCreate inserts a user (or finds the existing one by e-mail) and gives it a role in the
// workspace. An existing account's password is never changed, and a workspace owner cannot
// pretend to set it: with a password for an existing account, or for someone already a member,
// it is a conflict that says so. (Accounts are shared by workspaces: otherwise the owner of one
// workspace could pre-create the account of a person another workspace invites later, and
// log in there with the password they chose.)
func UserCreate(ctx context.Context, db DBTX, p UserCreateParams) (User, error) {
	email := strings.TrimSpace(strings.ToLower(p.Email))
	if _, err := mail.ParseAddress(email); err != nil || email == "" {
		return User{}, Invalid("email", "correo electrónico inválido")
	}
	if !p.Role.Valid() {
		return User{}, Invalid("role", "rol inválido: owner, marketer o analyst")
	}
	var u User
	err := db.QueryRow(ctx, `SELECT id, email, name, created_at, last_login_at FROM users WHERE lower(email) = $1`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &u.LastLoginAt)
	if err = NotFoundIfNoRows(err); errors.Is(err, ErrNotFound) {
		hash, err := HashPassword(p.Password)
		if err != nil {
			return User{}, err
		}
		err = db.QueryRow(ctx, `INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3)
			RETURNING id, email, name, created_at, last_login_at`, email, p.Name, hash).
			Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &u.LastLoginAt)
		if err != nil {
			return User{}, err
		}
	} else if err != nil {
		return User{}, err
	} else if p.Password != "" && !p.Operator {
		return User{}, fmt.Errorf("%w: ya existe una cuenta con el correo %s y su contraseña es la de esa persona: no se puede fijar desde aquí. "+
			"Agréguela sin contraseña solo si esa persona le confirma que la cuenta es suya", ErrConflict, email)
	}
	if p.Operator {
		_, err = db.Exec(ctx, `INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3)
			ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role`, p.WorkspaceID, u.ID, p.Role)
		u.Role = p.Role
		return u, err
	}
	tag, err := db.Exec(ctx, `INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3)
		ON CONFLICT (workspace_id, user_id) DO NOTHING`, p.WorkspaceID, u.ID, p.Role)
	if err != nil {
		return User{}, fmt.Errorf("adding %s to workspace %d: %w", email, p.WorkspaceID, err)
	}
	if tag.RowsAffected() == 0 {
		return User{}, fmt.Errorf("%w: %s ya es miembro de este espacio de trabajo: cambie su rol en la lista de usuarios", ErrConflict, email)
	}
	u.Role = p.Role
	return u, nil
}

// UserAuthenticate checks an e-mail and password.
func UserAuthenticate(ctx context.Context, db DBTX, email, password string) (User, error) {
	var u User
	var hash string
	err := db.QueryRow(ctx, `SELECT id, email, name, created_at, last_login_at, password_hash FROM users WHERE lower(email) = lower($1)`,
		strings.TrimSpace(email)).Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &u.LastLoginAt, &hash)
	if err != nil {
		// Spend the same time as a real check so timing does not reveal which e-mails exist.
		bcrypt.CompareHashAndPassword([]byte("$2a$10$7EqJtq98hPqEX7fNZaFWoOhi5BWX4Z5sTGY.VVPMuB9cTz6JZK4ai"), []byte(password))
		return u, ErrBadCredentials
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return u, ErrBadCredentials
	}
	_, err = db.Exec(ctx, `UPDATE users SET last_login_at = now() WHERE id = $1`, u.ID)
	return u, err
}

// UserMemberships lists the workspaces a user belongs to.
func UserMemberships(ctx context.Context, db DBTX, userID int64) ([]Membership, error) {
	rows, err := db.Query(ctx, `SELECT m.workspace_id, w.name, m.role FROM memberships m
		JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 ORDER BY w.name, w.id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		if err := rows.Scan(&m.WorkspaceID, &m.WorkspaceName, &m.Role); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UserList lists the users of a workspace with their roles.
func UserList(ctx context.Context, db DBTX, workspaceID int64) ([]User, error) {
	rows, err := db.Query(ctx, `SELECT u.id, u.email, u.name, m.role, u.created_at, u.last_login_at
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 ORDER BY u.id`, workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.CreatedAt, &u.LastLoginAt); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UserGetInWorkspace reads a user with its role in the workspace.
func UserGetInWorkspace(ctx context.Context, db DBTX, workspaceID, userID int64) (User, error) {
	var u User
	err := db.QueryRow(ctx, `SELECT u.id, u.email, u.name, m.role, u.created_at, u.last_login_at
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 AND u.id = $2`, workspaceID, userID).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.CreatedAt, &u.LastLoginAt)
	return u, NotFoundIfNoRows(err)
}

// UserSetRole changes a member's role. The last owner cannot be demoted.
func UserSetRole(ctx context.Context, db DBTX, workspaceID, userID int64, role Role) error {
	if !role.Valid() {
		return Invalid("role", "rol inválido: owner, marketer o analyst")
	}
	if role != RoleOwner {
		if err := ensureAnotherOwner(ctx, db, workspaceID, userID); err != nil {
			return err
		}
	}
	tag, err := db.Exec(ctx, `UPDATE memberships SET role = $3 WHERE workspace_id = $1 AND user_id = $2`, workspaceID, userID, role)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	// A token never has more rights than the person who made it.
	_, err = db.Exec(ctx, `UPDATE api_tokens SET role = $3 WHERE workspace_id = $1 AND created_by = $2 AND revoked_at IS NULL
		AND `+sqlRoleRank("role")+` > `+sqlRoleRank("$3::text"), workspaceID, userID, role)
	if err != nil {
		return fmt.Errorf("lowering the API tokens of user %d to %s: %w", userID, role, err)
	}
	return nil
}

// sqlRoleRank orders roles in SQL: analyst 1, marketer 2, owner 3.
func sqlRoleRank(expr string) string {
	return `(CASE ` + expr + ` WHEN 'owner' THEN 3 WHEN 'marketer' THEN 2 ELSE 1 END)`
}

// UserRemove removes a member from the workspace (the user row stays for other workspaces), with
// their sessions there and the API tokens they created.
func UserRemove(ctx context.Context, db DBTX, workspaceID, userID int64) error {
	if err := ensureAnotherOwner(ctx, db, workspaceID, userID); err != nil {
		return err
	}
	tag, err := db.Exec(ctx, `DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2`, workspaceID, userID)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	if err == nil {
		_, err = db.Exec(ctx, `DELETE FROM sessions WHERE workspace_id = $1 AND user_id = $2`, workspaceID, userID)
	}
	if err == nil { // the API tokens they made leave with them
		_, err = db.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE workspace_id = $1 AND created_by = $2 AND revoked_at IS NULL`,
			workspaceID, userID)
	}
	return err
}

func ensureAnotherOwner(ctx context.Context, db DBTX, workspaceID, userID int64) error {
	var others int
	err := db.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner' AND user_id <> $2`,
		workspaceID, userID).Scan(&others)
	if err != nil {
		return err
	}
	var isOwner bool
	db.QueryRow(ctx, `SELECT role = 'owner' FROM memberships WHERE workspace_id = $1 AND user_id = $2`, workspaceID, userID).Scan(&isOwner)
	if isOwner && others == 0 {
		return Invalid("role", "el espacio de trabajo necesita al menos un propietario")
	}
	return nil
}

// Session is a logged-in browser.
type Session struct {
	UserID      int64
	WorkspaceID int64
	Role        Role
	CSRFToken   string
	ExpiresAt   time.Time
}

// SessionTTL is how long a session lives without use.
const SessionTTL = 7 * 24 * time.Hour

// SessionCreate starts a session and returns the cookie secret.
func SessionCreate(ctx context.Context, db DBTX, userID, workspaceID int64) (string, Session, error) {
	secret := RandomToken(32)
	csrf := RandomToken(24)
	sum := sha256.Sum256([]byte(secret))
	s := Session{UserID: userID, WorkspaceID: workspaceID, CSRFToken: csrf, ExpiresAt: time.Now().Add(SessionTTL)}
	_, err := db.Exec(ctx, `INSERT INTO sessions (id_hash, user_id, workspace_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		sum[:], userID, workspaceID, csrf, s.ExpiresAt)
	return secret, s, err
}

// SessionGet reads a live session by its cookie secret (with the user's current role) and
// extends it.
func SessionGet(ctx context.Context, db DBTX, secret string) (Session, error) {
	sum := sha256.Sum256([]byte(secret))
	var s Session
	err := db.QueryRow(ctx, `
		UPDATE sessions s SET last_seen_at = now(), expires_at = greatest(s.expires_at, now() + make_interval(secs => $2))
		FROM memberships m
		WHERE s.id_hash = $1 AND s.expires_at > now() AND m.user_id = s.user_id AND m.workspace_id = s.workspace_id
		RETURNING s.user_id, s.workspace_id, m.role, s.csrf_token, s.expires_at`, sum[:], SessionTTL.Seconds()).
		Scan(&s.UserID, &s.WorkspaceID, &s.Role, &s.CSRFToken, &s.ExpiresAt)
	return s, NotFoundIfNoRows(err)
}

// SessionSwitchWorkspace moves a session to another workspace the user belongs to.
func SessionSwitchWorkspace(ctx context.Context, db DBTX, secret string, workspaceID int64) error {
	sum := sha256.Sum256([]byte(secret))
	tag, err := db.Exec(ctx, `UPDATE sessions s SET workspace_id = $2 FROM memberships m
		WHERE s.id_hash = $1 AND m.user_id = s.user_id AND m.workspace_id = $2`, sum[:], workspaceID)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// SessionDelete ends a session.
func SessionDelete(ctx context.Context, db DBTX, secret string) error {
	sum := sha256.Sum256([]byte(secret))
	_, err := db.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, sum[:])
	return err
}

// RandomToken returns n random bytes, URL-safe base64 encoded.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
