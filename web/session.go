package web

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/store"
)

// loginCSRFCookie protects the login form itself (there is no session yet): the form carries
// the same random value as this cookie (double submit).
const loginCSRFCookie = "pregon_login_csrf"

// sessionCookie is the API server's session cookie (api/auth.go); the workspace switch needs
// its value to move the session.
const sessionCookie = "pregon_session"

type loginData struct {
	Next  string
	Email string
}

func (u *ui) loginForm(c echo.Context) error {
	if p := u.peekSession(c); p {
		return c.Redirect(http.StatusSeeOther, localPath(c.QueryParam("next")))
	}
	return u.renderLogin(c, http.StatusOK, loginData{Next: localPath(c.QueryParam("next"))}, "")
}

// peekSession reports whether the request carries a live session, without failing.
func (u *ui) peekSession(c echo.Context) bool {
	ck, err := c.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return false
	}
	_, err = store.SessionGet(c.Request().Context(), u.db, ck.Value)
	return err == nil
}

func (u *ui) renderLogin(c echo.Context, status int, d loginData, formErr string) error {
	pg, err := u.newPage(c, "", "login.title")
	if err != nil {
		return err
	}
	tok := store.RandomToken(18)
	c.SetCookie(&http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/login", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: strings.HasPrefix(u.cfg.PublicURL, "https://")})
	pg.CSRF = tok
	pg.FormError = formErr
	pg.Data = d
	return u.render(c, status, "login", pg)
}

func (u *ui) loginSubmit(c echo.Context) error {
	lang := langOf(c)
	d := loginData{Next: localPath(c.FormValue("next")), Email: strings.TrimSpace(c.FormValue("email"))}
	ck, err := c.Cookie(loginCSRFCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(c.FormValue("csrf_token"))) != 1 {
		return u.renderLogin(c, http.StatusForbidden, d, translate(lang, "login.expired"))
	}
	pw := c.FormValue("password")
	if d.Email == "" || pw == "" {
		return u.renderLogin(c, http.StatusUnprocessableEntity, d, translate(lang, "login.required"))
	}
	ws, _ := strconv.ParseInt(c.FormValue("workspace_id"), 10, 64)
	if _, err := u.srv.Login(c, d.Email, pw, ws); err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			key := "login.bad_credentials"
			switch ae.Code {
			case "rate_limited":
				key = "login.rate_limited"
			case "no_workspace":
				key = "login.no_workspace"
			}
			return u.renderLogin(c, ae.Status, d, translate(lang, key))
		}
		return err
	}
	c.SetCookie(&http.Cookie{Name: loginCSRFCookie, Value: "", Path: "/login", MaxAge: -1})
	return c.Redirect(http.StatusSeeOther, d.Next)
}

func (u *ui) logout(c echo.Context) error {
	if err := u.srv.Logout(c); err != nil {
		return err
	}
	return u.redirectFlash(c, "/login", "ok", "logout.done")
}

func (u *ui) switchWorkspace(c echo.Context) error {
	id, _ := strconv.ParseInt(c.FormValue("workspace_id"), 10, 64)
	ck, err := c.Cookie(sessionCookie)
	if err != nil {
		return &api.Error{Status: http.StatusUnauthorized, Code: "unauthorized"}
	}
	ctx := c.Request().Context()
	if err := store.SessionSwitchWorkspace(ctx, u.db, ck.Value, id); err != nil {
		return err
	}
	ws, err := store.WorkspaceGetByID(ctx, u.db, id)
	if err != nil {
		return err
	}
	return u.redirectFlash(c, "/", "ok", "switch.done", ws.Name)
}
