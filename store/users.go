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
	LastLoginAt *time.Time `json:"last_login_at,omitempty"` // read for a workspace: the last login in it
	// Pending: the account existed already and the person has not accepted the workspace's
	// invitation yet; the workspace then sees the e-mail only (no name, no dates).
	Pending bool `json:"pending,omitempty"`
}

// Membership is a user's role in one workspace (or, from UserInvitations, the role offered).
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
	// ReservedEmails are e-mails a workspace may not create an account for (the installation's
	// operators, PREGON_ADMIN_EMAILS): only the installation creates those.
	ReservedEmails []string
	// Installation is set by the installation itself (the command line, the demo seed): an
	// existing account then becomes a member at once (no invitation) and an existing member
	// gets the new role; an existing account's password is kept unless Operator takes it over.
	Installation bool
	// Operator (with Installation only) makes the account an installation operator. An account
	// that was not one yet takes Password as its password and loses its sessions: whoever
	// created it before (a workspace owner who typed the operator's e-mail) cannot keep it.
	Operator bool
}

// UserCreate inserts a user (or finds the existing one by e-mail) and gives it a role in the
// workspace.
//
// Accounts are shared by workspaces, so for an account that already exists a workspace owner
// gets an invitation, not a member: the membership is pending until the person accepts it
// (UserInvitationAccept), gives no access meanwhile, and the User returned carries the e-mail
// and role only: nothing another workspace knows about the person (their name, their last
// login). An existing account's password is never changed, and a workspace owner cannot pretend
// to set it: with a password for an existing account, or for someone already a member, it is a
// conflict that says so (otherwise the owner of one workspace could pre-create the account of a
// person another workspace invites later, and log in there with the password they chose).
func UserCreate(ctx context.Context, db DBTX, p UserCreateParams) (User, error) {
	email := strings.TrimSpace(strings.ToLower(p.Email))
	if _, err := mail.ParseAddress(email); err != nil || email == "" {
		return User{}, Invalid("email", "correo electrónico inválido")
	}
	if !p.Role.Valid() {
		return User{}, Invalid("role", "rol inválido: owner, marketer o analyst")
	}
	var u User
	var wasOperator bool
	err := db.QueryRow(ctx, `SELECT id, email, name, created_at, operator FROM users WHERE lower(email) = $1`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt, &wasOperator)
	existed := true
	if err = NotFoundIfNoRows(err); errors.Is(err, ErrNotFound) {
		existed = false
		if !p.Installation {
			for _, r := range p.ReservedEmails {
				if strings.EqualFold(strings.TrimSpace(r), email) {
					return User{}, Invalid("email", "ese correo es de un operador de la instalación: solo la instalación crea su cuenta")
				}
			}
		}
		hash, err := HashPassword(p.Password)
		if err != nil {
			return User{}, err
		}
		err = db.QueryRow(ctx, `INSERT INTO users (email, name, password_hash, operator) VALUES ($1, $2, $3, $4)
			RETURNING id, email, name, created_at`, email, p.Name, hash, p.Installation && p.Operator).
			Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt)
		if err != nil {
			return User{}, err
		}
	} else if err != nil {
		return User{}, err
	} else if p.Password != "" && !p.Installation {
		return User{}, fmt.Errorf("%w: ya existe una cuenta con el correo %s y su contraseña es la de esa persona: no se puede fijar desde aquí. "+
			"Agréguela sin contraseña: recibirá una invitación que debe aceptar", ErrConflict, email)
	}
	if p.Installation {
		if existed && p.Operator && !wasOperator {
			// The installation takes the account over: whoever made it keeps nothing.
			hash, err := HashPassword(p.Password)
			if err != nil {
				return User{}, err
			}
			if _, err := db.Exec(ctx, `UPDATE users SET operator = true, password_hash = $2 WHERE id = $1`, u.ID, hash); err != nil {
				return User{}, fmt.Errorf("making %s an operator: %w", email, err)
			}
			if _, err := db.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, u.ID); err != nil {
				return User{}, err
			}
		}
		_, err = db.Exec(ctx, `INSERT INTO memberships (workspace_id, user_id, role, accepted_at) VALUES ($1, $2, $3, now())
			ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role, accepted_at = coalesce(memberships.accepted_at, now())`,
			p.WorkspaceID, u.ID, p.Role)
		u.Role = p.Role
		return u, err
	}
	// A new account is the workspace's own and a member at once; an existing one is invited.
	tag, err := db.Exec(ctx, `INSERT INTO memberships (workspace_id, user_id, role, accepted_at) VALUES ($1, $2, $3, CASE WHEN $4 THEN NULL ELSE now() END)
		ON CONFLICT (workspace_id, user_id) DO NOTHING`, p.WorkspaceID, u.ID, p.Role, existed)
	if err != nil {
		return User{}, fmt.Errorf("adding %s to workspace %d: %w", email, p.WorkspaceID, err)
	}
	if tag.RowsAffected() == 0 {
		return User{}, fmt.Errorf("%w: %s ya es miembro de este espacio de trabajo (o ya fue invitado): cambie su rol en la lista de usuarios", ErrConflict, email)
	}
	if existed {
		return User{ID: u.ID, Email: email, Role: p.Role, Pending: true}, nil
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

// UserMemberships lists the workspaces a user belongs to (invitations not accepted yet are not
// among them).
func UserMemberships(ctx context.Context, db DBTX, userID int64) ([]Membership, error) {
	return memberships(ctx, db, `SELECT m.workspace_id, w.name, m.role FROM memberships m
		JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 AND m.accepted_at IS NOT NULL ORDER BY w.name, w.id`, userID)
}

// UserInvitations lists the workspaces that invited the user and the role each offers.
func UserInvitations(ctx context.Context, db DBTX, userID int64) ([]Membership, error) {
	return memberships(ctx, db, `SELECT m.workspace_id, w.name, m.role FROM memberships m
		JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 AND m.accepted_at IS NULL ORDER BY m.created_at, w.id`, userID)
}

func memberships(ctx context.Context, db DBTX, query string, userID int64) ([]Membership, error) {
	rows, err := db.Query(ctx, query, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Membership{}
	for rows.Next() {
		var m Membership
		if err := rows.Scan(&m.WorkspaceID, &m.WorkspaceName, &m.Role); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UserInvitationAccept makes the user a member of a workspace that invited them (ErrNotFound
// when there is no such invitation).
func UserInvitationAccept(ctx context.Context, db DBTX, userID, workspaceID int64) error {
	tag, err := db.Exec(ctx, `UPDATE memberships SET accepted_at = now() WHERE user_id = $1 AND workspace_id = $2 AND accepted_at IS NULL`,
		userID, workspaceID)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// UserInvitationDecline refuses a workspace's invitation (ErrNotFound when there is none).
func UserInvitationDecline(ctx context.Context, db DBTX, userID, workspaceID int64) error {
	tag, err := db.Exec(ctx, `DELETE FROM memberships WHERE user_id = $1 AND workspace_id = $2 AND accepted_at IS NULL`, userID, workspaceID)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// UserLoginWorkspace is the membership a login opens: the workspace asked for when the user
// belongs to it, else the one they used last, else the one they joined first. Never the first
// by name: any workspace's owner chooses their workspace's name.
func UserLoginWorkspace(ctx context.Context, db DBTX, userID, requested int64) (Membership, error) {
	var m Membership
	err := db.QueryRow(ctx, `SELECT m.workspace_id, w.name, m.role FROM memberships m
		JOIN workspaces w ON w.id = m.workspace_id JOIN users u ON u.id = m.user_id
		WHERE m.user_id = $1 AND m.accepted_at IS NOT NULL
		ORDER BY m.workspace_id = $2 DESC, coalesce(m.workspace_id = u.last_workspace_id, false) DESC, m.accepted_at, m.workspace_id
		LIMIT 1`, userID, requested).Scan(&m.WorkspaceID, &m.WorkspaceName, &m.Role)
	return m, NotFoundIfNoRows(err)
}

// UserIsOperator reads whether the installation made the account an operator, and its e-mail
// (the caller also checks the e-mail is still in the configuration's PREGON_ADMIN_EMAILS).
func UserIsOperator(ctx context.Context, db DBTX, userID int64) (email string, operator bool, err error) {
	err = db.QueryRow(ctx, `SELECT email, operator FROM users WHERE id = $1`, userID).Scan(&email, &operator)
	return email, operator, NotFoundIfNoRows(err)
}

// UserMarkOperator makes an existing account an operator, by e-mail (ErrNotFound when none has
// it). Only the installation calls it.
func UserMarkOperator(ctx context.Context, db DBTX, email string) error {
	tag, err := db.Exec(ctx, `UPDATE users SET operator = true WHERE lower(email) = lower($1)`, strings.TrimSpace(email))
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// UserChangePassword sets a new password after checking the current one (same rules as
// everywhere: HashPassword) and ends the user's other sessions; keepSession is the cookie secret
// of the session that asked ("" ends them all). API tokens belong to workspaces and stay.
func UserChangePassword(ctx context.Context, db DBTX, userID int64, current, next, keepSession string) error {
	var hash string
	if err := db.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&hash); err != nil {
		return NotFoundIfNoRows(err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(current)) != nil {
		return Invalid("current_password", "la contraseña actual no es correcta")
	}
	if current == next {
		return Invalid("password", "la contraseña nueva debe ser distinta de la actual")
	}
	newHash, err := HashPassword(next)
	if err != nil {
		return err
	}
	if _, err := db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, newHash); err != nil {
		return fmt.Errorf("changing the password of user %d: %w", userID, err)
	}
	sum := sha256.Sum256([]byte(keepSession))
	if _, err := db.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2`, userID, sum[:]); err != nil {
		return fmt.Errorf("ending the other sessions of user %d: %w", userID, err)
	}
	return nil
}

// userColumns read a member for a workspace: a pending invitation shows the e-mail only.
const userColumns = `u.id, u.email, CASE WHEN m.accepted_at IS NULL THEN '' ELSE u.name END, m.role,
	CASE WHEN m.accepted_at IS NULL THEN m.created_at ELSE u.created_at END, m.last_login_at, m.accepted_at IS NULL`

// UserList lists the users of a workspace with their roles, invitations not accepted included.
func UserList(ctx context.Context, db DBTX, workspaceID int64) ([]User, error) {
	rows, err := db.Query(ctx, `SELECT `+userColumns+`
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 ORDER BY u.id`, workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.CreatedAt, &u.LastLoginAt, &u.Pending); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UserGetInWorkspace reads a user with its role in the workspace (a pending invitation too).
func UserGetInWorkspace(ctx context.Context, db DBTX, workspaceID, userID int64) (User, error) {
	var u User
	err := db.QueryRow(ctx, `SELECT `+userColumns+`
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 AND u.id = $2`, workspaceID, userID).
		Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.CreatedAt, &u.LastLoginAt, &u.Pending)
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
	err := db.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner' AND user_id <> $2
		AND accepted_at IS NOT NULL`,
		workspaceID, userID).Scan(&others)
	if err != nil {
		return err
	}
	var isOwner bool
	db.QueryRow(ctx, `SELECT role = 'owner' AND accepted_at IS NOT NULL FROM memberships WHERE workspace_id = $1 AND user_id = $2`, workspaceID, userID).Scan(&isOwner)
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

// SessionMaxAge is how long a session lives however much it is used: after it, the person logs
// in again (a stolen cookie does not last forever, and a password changed elsewhere takes
// effect everywhere within that time even if nothing ended the session).
const SessionMaxAge = 30 * 24 * time.Hour

// SessionCreate starts a session and returns the cookie secret. The workspace becomes the one
// the user used last (the next login opens it) and their last login there.
func SessionCreate(ctx context.Context, db DBTX, userID, workspaceID int64) (string, Session, error) {
	secret := RandomToken(32)
	csrf := RandomToken(24)
	sum := sha256.Sum256([]byte(secret))
	s := Session{UserID: userID, WorkspaceID: workspaceID, CSRFToken: csrf, ExpiresAt: time.Now().Add(SessionTTL)}
	_, err := db.Exec(ctx, `INSERT INTO sessions (id_hash, user_id, workspace_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		sum[:], userID, workspaceID, csrf, s.ExpiresAt)
	if err != nil {
		return "", Session{}, err
	}
	if err := workspaceUsed(ctx, db, userID, workspaceID); err != nil {
		return "", Session{}, err
	}
	return secret, s, nil
}

// workspaceUsed records that the user opened the workspace: their last workspace, their last
// login in it.
func workspaceUsed(ctx context.Context, db DBTX, userID, workspaceID int64) error {
	_, err := db.Exec(ctx, `WITH m AS (UPDATE memberships SET last_login_at = now() WHERE user_id = $1 AND workspace_id = $2)
		UPDATE users SET last_workspace_id = $2 WHERE id = $1`, userID, workspaceID)
	if err != nil {
		return fmt.Errorf("recording user %d's use of workspace %d: %w", userID, workspaceID, err)
	}
	return nil
}

// SessionGet reads a live session by its cookie secret (with the user's current role) and
// extends it by SessionTTL, never past SessionMaxAge from its creation (the login).
func SessionGet(ctx context.Context, db DBTX, secret string) (Session, error) {
	sum := sha256.Sum256([]byte(secret))
	var s Session
	err := db.QueryRow(ctx, `
		UPDATE sessions s SET last_seen_at = now(),
			expires_at = least(greatest(s.expires_at, now() + make_interval(secs => $2)), s.created_at + make_interval(secs => $3))
		FROM memberships m
		WHERE s.id_hash = $1 AND s.expires_at > now() AND s.created_at > now() - make_interval(secs => $3)
		  AND m.user_id = s.user_id AND m.workspace_id = s.workspace_id AND m.accepted_at IS NOT NULL
		RETURNING s.user_id, s.workspace_id, m.role, s.csrf_token, s.expires_at`, sum[:], SessionTTL.Seconds(), SessionMaxAge.Seconds()).
		Scan(&s.UserID, &s.WorkspaceID, &s.Role, &s.CSRFToken, &s.ExpiresAt)
	return s, NotFoundIfNoRows(err)
}

// SessionSwitchWorkspace moves a session to another workspace the user belongs to.
func SessionSwitchWorkspace(ctx context.Context, db DBTX, secret string, workspaceID int64) error {
	sum := sha256.Sum256([]byte(secret))
	var userID int64
	err := db.QueryRow(ctx, `UPDATE sessions s SET workspace_id = $2 FROM memberships m
		WHERE s.id_hash = $1 AND m.user_id = s.user_id AND m.workspace_id = $2 AND m.accepted_at IS NOT NULL
		RETURNING s.user_id`, sum[:], workspaceID).Scan(&userID)
	if err != nil {
		return NotFoundIfNoRows(err)
	}
	return workspaceUsed(ctx, db, userID, workspaceID)
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
