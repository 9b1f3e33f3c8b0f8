package api

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/pregon/pregon/store"
)

// Principal is who is calling: a user through a session or an API token.
type Principal struct {
	WorkspaceID int64
	UserID      int64 // 0 for API tokens
	TokenID     int64 // 0 for sessions
	Role        store.Role
	CSRFToken   string // sessions only
	session     string
}

const (
	principalKey  = "pregon.principal"
	sessionCookie = "pregon_session"
	csrfHeader    = "X-CSRF-Token"
)

func principal(c echo.Context) *Principal { return c.Get(principalKey).(*Principal) }

func principalOrNil(c echo.Context) *Principal {
	p, _ := c.Get(principalKey).(*Principal)
	return p
}

// PrincipalOf is principal for other packages mounted on the server (the admin UI).
func PrincipalOf(c echo.Context) *Principal { return principalOrNil(c) }

// Authenticate accepts `Authorization: Bearer <token>` or the session cookie. Sessions must
// send the CSRF token on every state-changing request (header X-CSRF-Token or form field
// csrf_token); bearer tokens are not sent automatically by browsers and need none.
func (s *Server) Authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.resolvePrincipal(c)
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

func (s *Server) resolvePrincipal(c echo.Context) (*Principal, error) {
	ctx := c.Request().Context()
	if h := c.Request().Header.Get(echo.HeaderAuthorization); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return nil, errUnauthorized
		}
		t, err := store.APITokenAuthenticate(ctx, s.db, strings.TrimSpace(tok))
		if errors.Is(err, store.ErrNotFound) {
			return nil, &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "token inválido, revocado o vencido"}
		}
		if err != nil {
			return nil, err
		}
		return &Principal{WorkspaceID: t.WorkspaceID, TokenID: t.ID, Role: t.Role}, nil
	}
	ck, err := c.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, errUnauthorized
	}
	sess, err := store.SessionGet(ctx, s.db, ck.Value)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "la sesión venció; inicie sesión de nuevo"}
	}
	if err != nil {
		return nil, err
	}
	p := &Principal{WorkspaceID: sess.WorkspaceID, UserID: sess.UserID, Role: sess.Role, CSRFToken: sess.CSRFToken, session: ck.Value}
	switch c.Request().Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		got := c.Request().Header.Get(csrfHeader)
		if got == "" {
			got = c.FormValue("csrf_token")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
			return nil, &Error{Status: http.StatusForbidden, Code: "csrf", Message: "falta el token CSRF o no coincide; recargue la página"}
		}
	}
	return p, nil
}

// RequireRole rejects callers below min with 403.
func RequireRole(min store.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !principal(c).Role.AtLeast(min) {
				return errForbidden
			}
			return next(c)
		}
	}
}

// requireOperator lets through the installation's operators only: a logged-in user (not an API
// token, which belongs to one workspace) whose account the installation made an operator
// (users.operator: `pregon user create --operator`, the demo seed; never a workspace owner) and
// whose e-mail is in the configuration's AdminEmails now. Both keys are needed: a workspace owner
// can create an account with any e-mail, but not the flag, so an e-mail added to
// PREGON_ADMIN_EMAILS later grants nothing to an account a tenant made; removing an e-mail from
// it takes the rights away at once.
func (s *Server) requireOperator(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		op, err := s.isOperator(c.Request().Context(), principal(c))
		if err != nil {
			return err
		}
		if op {
			return next(c)
		}
		return Errorf(http.StatusForbidden, "operators_only",
			"solo para los operadores de la instalación (PREGON_ADMIN_EMAILS): muestra los trabajos de todos los espacios de trabajo")
	}
}

// loginLimiter allows a few login attempts per client address and per e-mail.
type loginLimiter struct {
	mu sync.Mutex
	m  map[string]*limiterEntry
}

type limiterEntry struct {
	l    *rate.Limiter
	seen time.Time
}

func newLoginLimiter() *loginLimiter { return &loginLimiter{m: map[string]*limiterEntry{}} }

// allow takes one attempt for key: 5 at once, then one every 12 s.
func (l *loginLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if len(l.m) > 10000 {
		for k, e := range l.m {
			if now.Sub(e.seen) > 10*time.Minute {
				delete(l.m, k)
			}
		}
	}
	e, ok := l.m[key]
	if !ok {
		e = &limiterEntry{l: rate.NewLimiter(rate.Every(12*time.Second), 5)}
		l.m[key] = e
	}
	e.seen = now
	return e.l.Allow()
}

type loginRequest struct {
	Email       string `json:"email" form:"email"`
	Password    string `json:"password" form:"password"`
	WorkspaceID int64  `json:"workspace_id,omitempty" form:"workspace_id"`
}

type loginResponse struct {
	User       store.User         `json:"user"`
	Workspace  int64              `json:"workspace_id"`
	Role       store.Role         `json:"role"`
	CSRFToken  string             `json:"csrf_token"`
	Workspaces []store.Membership `json:"workspaces"`
}

// Login checks credentials, starts a session and sets its cookie. Exposed for the admin UI.
func (s *Server) Login(c echo.Context, email, password string, workspaceID int64) (loginResponse, error) {
	ctx := c.Request().Context()
	email = strings.TrimSpace(strings.ToLower(email))
	if !s.login.allow("ip:"+c.RealIP()) || !s.login.allow("email:"+email) {
		return loginResponse{}, &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "demasiados intentos; espere un minuto"}
	}
	u, err := store.UserAuthenticate(ctx, s.db, email, password)
	if errors.Is(err, store.ErrBadCredentials) {
		return loginResponse{}, &Error{Status: http.StatusUnauthorized, Code: "bad_credentials", Message: "correo o contraseña incorrectos"}
	}
	if err != nil {
		return loginResponse{}, err
	}
	// The workspace asked for, else the one the person used last: never the first by name.
	chosen, err := store.UserLoginWorkspace(ctx, s.db, u.ID, workspaceID)
	if errors.Is(err, store.ErrNotFound) {
		return loginResponse{}, &Error{Status: http.StatusForbidden, Code: "no_workspace", Message: "su usuario no pertenece a ningún espacio de trabajo"}
	}
	if err != nil {
		return loginResponse{}, err
	}
	ms, err := store.UserMemberships(ctx, s.db, u.ID)
	if err != nil {
		return loginResponse{}, err
	}
	secret, sess, err := store.SessionCreate(ctx, s.db, u.ID, chosen.WorkspaceID)
	if err != nil {
		return loginResponse{}, err
	}
	c.SetCookie(&http.Cookie{
		Name: sessionCookie, Value: secret, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(s.cfg.PublicURL, "https://"), Expires: sess.ExpiresAt,
	})
	return loginResponse{User: u, Workspace: chosen.WorkspaceID, Role: chosen.Role, CSRFToken: sess.CSRFToken, Workspaces: ms}, nil
}

func (s *Server) postLogin(c echo.Context) error {
	// JSON only: a form post from another site could otherwise log the browser in to the
	// attacker's account (login CSRF; the UI's own /login form carries a CSRF token).
	if ct := c.Request().Header.Get(echo.HeaderContentType); !strings.HasPrefix(strings.ToLower(ct), echo.MIMEApplicationJSON) {
		return Errorf(http.StatusUnsupportedMediaType, "json_required", "envíe el correo y la contraseña como JSON (Content-Type: application/json)")
	}
	var req loginRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	res, err := s.Login(c, req.Email, req.Password, req.WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// Logout ends the caller's session and clears the cookie.
func (s *Server) Logout(c echo.Context) error {
	if ck, err := c.Cookie(sessionCookie); err == nil {
		if err := store.SessionDelete(c.Request().Context(), s.db, ck.Value); err != nil {
			return err
		}
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return nil
}

func (s *Server) postLogout(c echo.Context) error {
	if err := s.Logout(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type switchRequest struct {
	WorkspaceID int64 `json:"workspace_id" form:"workspace_id"`
}

func (s *Server) postSwitchWorkspace(c echo.Context) error {
	p := principal(c)
	if p.session == "" {
		return Errorf(http.StatusBadRequest, "bad_request", "solo las sesiones pueden cambiar de espacio de trabajo; los tokens pertenecen a uno")
	}
	var req switchRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if err := store.SessionSwitchWorkspace(c.Request().Context(), s.db, p.session, req.WorkspaceID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password" form:"current_password"`
	Password        string `json:"password" form:"password"`
}

// ChangePassword changes the logged-in person's password (the current one is checked; the
// rules are HashPassword's) and ends their other sessions; this one and the workspaces' API
// tokens stay. Attempts are rate limited like logins: the current password is a guess.
func (s *Server) ChangePassword(c echo.Context, current, next string) error {
	p := principal(c)
	if p.session == "" {
		return Errorf(http.StatusBadRequest, "bad_request", "solo una persona con sesión iniciada cambia su contraseña; los tokens no tienen una")
	}
	if !s.login.allow("password:" + strconv.FormatInt(p.UserID, 10)) {
		return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "demasiados intentos; espere un minuto"}
	}
	return store.UserChangePassword(c.Request().Context(), s.db, p.UserID, current, next, p.session)
}

func (s *Server) postPassword(c echo.Context) error {
	var req passwordRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if err := s.ChangePassword(c, req.CurrentPassword, req.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listInvitations(c echo.Context) error {
	p := principal(c)
	if p.UserID == 0 {
		return c.JSON(http.StatusOK, listOf[store.Membership]{Data: []store.Membership{}})
	}
	inv, err := store.UserInvitations(c.Request().Context(), s.db, p.UserID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf[store.Membership]{Data: inv})
}

// invitationHandler accepts or declines the invitation of the workspace :id for the logged-in
// person (tokens belong to one workspace and have no person to invite).
func (s *Server) invitationHandler(accept bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := principal(c)
		if p.UserID == 0 {
			return Errorf(http.StatusBadRequest, "bad_request", "solo una persona con sesión iniciada responde a sus invitaciones")
		}
		id, err := pathID(c)
		if err != nil {
			return err
		}
		if accept {
			err = store.UserInvitationAccept(c.Request().Context(), s.db, p.UserID, id)
		} else {
			err = store.UserInvitationDecline(c.Request().Context(), s.db, p.UserID, id)
		}
		if err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}
