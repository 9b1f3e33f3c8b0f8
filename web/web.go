// Package web is Pregón's admin UI: server-rendered html/template pages, a little plain
// JavaScript (live progress, the segment builder, drag & drop) and one stylesheet, all embedded
// with go:embed and parsed and checked when Register runs. Spanish first, English available.
//
// Pages are mounted on the API server's router and use its session authentication, CSRF check
// and roles (api.Server.Authenticate, api.RequireRole). Handlers call the same store and
// service functions the REST handlers call; the UI holds no business rules of its own.
// Analysts get read-only pages and marketers cannot launch: the templates hide what a role
// cannot do and the routes refuse it anyway.
package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/internal/secret"
	"github.com/pregon/pregon/store"
)

// Deps are what the UI needs from the process that runs it.
type Deps struct {
	DB     *pgxpool.Pool
	River  *river.Client[pgx.Tx] // may be insert-only
	Box    *secret.Box           // not used by the pages today (secrets are sealed by the API); kept for callers
	Config config.Config
	Logger *slog.Logger
	Now    func() time.Time // tests; default time.Now
}

// ui holds the parsed templates and the collaborators of every handler.
type ui struct {
	srv   *api.Server
	db    *pgxpool.Pool
	river *river.Client[pgx.Tx]
	cfg   config.Config
	log   *slog.Logger
	now   func() time.Time
	tmpl  *templates
}

// Register parses and checks the UI's templates and mounts its pages on srv's router. It fails
// when a template does not parse or uses a message key missing from a language.
func Register(srv *api.Server, d Deps) error {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	t, err := parseTemplates()
	if err != nil {
		return fmt.Errorf("parsing the admin UI's templates: %w", err)
	}
	u := &ui{srv: srv, db: d.DB, river: d.River, cfg: d.Config, log: d.Logger.With("component", "web"), now: d.Now, tmpl: t}
	u.routes(srv.Echo())
	return nil
}

// routes is the UI's route table. Every page needs a session; min is the least role that may
// open it (write actions name their own, stricter role).
func (u *ui) routes(e *echo.Echo) {
	const (
		A = store.RoleAnalyst
		M = store.RoleMarketer
		O = store.RoleOwner
	)
	e.GET("/static/*", u.static)
	e.GET("/login", u.loginForm, u.htmlErrors)
	e.POST("/login", u.loginSubmit, u.htmlErrors)
	e.GET("/lang/:lang", u.setLang)
	e.RouteNotFound("/*", u.notFound)

	page := func(method, path string, h echo.HandlerFunc, min store.Role) {
		e.Add(method, path, h, u.htmlErrors, u.srv.Authenticate, sessionOnly, api.RequireRole(min))
	}
	data := func(method, path string, h echo.HandlerFunc, min store.Role) {
		e.Add(method, path, h, u.srv.Authenticate, sessionOnly, api.RequireRole(min))
	}
	page(http.MethodPost, "/logout", u.logout, A)
	page(http.MethodPost, "/switch", u.switchWorkspace, A)

	page(http.MethodGet, "/", u.dashboard, A)
	data(http.MethodGet, "/ui/progress.json", u.progressJSON, A)

	page(http.MethodGet, "/settings", u.settings, A)
	page(http.MethodPost, "/settings/password", u.passwordChange, A)
	page(http.MethodPost, "/settings/invitations/:id/accept", u.invitation(true), A)
	page(http.MethodPost, "/settings/invitations/:id/decline", u.invitation(false), A)
	page(http.MethodPost, "/settings/workspace", u.settingsWorkspace, O)
	page(http.MethodPost, "/settings/users", u.userAdd, O)
	page(http.MethodPost, "/settings/users/:id/role", u.userRole, O)
	page(http.MethodPost, "/settings/users/:id/remove", u.userRemove, O)
	page(http.MethodPost, "/settings/tokens", u.tokenCreate, O)
	page(http.MethodPost, "/settings/tokens/:id/revoke", u.tokenRevoke, O)
	page(http.MethodPost, "/settings/numbers", u.numberAdd, O)
	page(http.MethodPost, "/settings/numbers/:id", u.numberEdit, O)
	page(http.MethodPost, "/settings/numbers/:id/check", u.numberCheck, O)
	page(http.MethodPost, "/settings/numbers/:id/delete", u.numberDelete, O)

	page(http.MethodGet, "/campaigns", u.campaignsList, A)
	page(http.MethodGet, "/campaigns/new", u.campaignNew, M)
	page(http.MethodPost, "/campaigns/new", u.campaignCreate, M)
	page(http.MethodGet, "/campaigns/:id", u.campaignShow, A)
	page(http.MethodGet, "/campaigns/:id/edit", u.campaignEdit, M)
	page(http.MethodPost, "/campaigns/:id/edit", u.campaignSave, M)
	page(http.MethodPost, "/campaigns/:id/test", u.campaignTest, M)
	page(http.MethodPost, "/campaigns/:id/delete", u.campaignDelete, M)
	page(http.MethodPost, "/campaigns/:id/schedule", u.campaignSchedule, O)
	page(http.MethodPost, "/campaigns/:id/:action", u.campaignAction, O)

	page(http.MethodGet, "/contacts", u.contactsList, A)
	page(http.MethodGet, "/contacts/new", u.contactNew, M)
	page(http.MethodPost, "/contacts/new", u.contactCreate, M)
	page(http.MethodPost, "/contacts/tags", u.contactsTags, M)
	page(http.MethodGet, "/contacts/:id", u.contactShow, A)
	page(http.MethodPost, "/contacts/:id", u.contactSave, M)
	page(http.MethodPost, "/contacts/:id/opt-out", u.contactOptOut, M)
	page(http.MethodPost, "/contacts/:id/opt-in", u.contactOptIn, M)
	page(http.MethodPost, "/contacts/:id/erase", u.contactErase, O)

	page(http.MethodGet, "/imports", u.importsList, A)
	page(http.MethodGet, "/imports/new", u.importNew, M)
	// The upload's size is checked before the session's CSRF check reads the form.
	e.Add(http.MethodPost, "/imports/new", u.importUpload, u.htmlErrors, u.uploadLimit, u.srv.Authenticate, sessionOnly, api.RequireRole(M))
	page(http.MethodGet, "/imports/:id", u.importShow, A)
	page(http.MethodPost, "/imports/:id/confirm", u.importConfirm, M)
	page(http.MethodPost, "/imports/:id/cancel", u.importCancel, M)

	page(http.MethodGet, "/segments", u.segmentsList, A)
	page(http.MethodGet, "/segments/new", u.segmentNew, M)
	page(http.MethodPost, "/segments/new", u.segmentSave, M)
	page(http.MethodGet, "/segments/:id", u.segmentShow, A)
	page(http.MethodPost, "/segments/:id", u.segmentSave, M)
	page(http.MethodPost, "/segments/:id/delete", u.segmentDelete, M)

	page(http.MethodGet, "/reports", u.reportsIndex, A)
	page(http.MethodGet, "/exports", u.exportsList, A)
	page(http.MethodPost, "/exports/contacts", u.exportContacts, M)
	page(http.MethodGet, "/reports/templates/:id/export", u.exportTemplate, A)
	page(http.MethodGet, "/reports/campaigns/:id", u.reportCampaign, A)
	page(http.MethodGet, "/reports/templates/:id", u.reportTemplate, A)
	page(http.MethodGet, "/reports/numbers/:id", u.reportNumber, A)

	page(http.MethodGet, "/templates", u.templatesList, A)
	page(http.MethodGet, "/templates/:id", u.templateShow, A)
	page(http.MethodPost, "/templates/sync", u.templatesSync, M)

}

// notFound answers unknown paths: an HTML page for people, the API's JSON under /api/.
func (u *ui) notFound(c echo.Context) error {
	if strings.HasPrefix(c.Request().URL.Path, "/api/") || strings.Contains(c.Request().Header.Get("Accept"), "application/json") {
		return echo.ErrNotFound
	}
	pg, err := u.newPage(c, "", "error.title")
	if err != nil {
		return err
	}
	pg.Data = map[string]any{"Status": http.StatusNotFound, "Code": "not_found", "Message": ""}
	return u.render(c, http.StatusNotFound, "error", pg)
}

// sessionOnly keeps API tokens out of the UI: pages are for people who logged in.
func sessionOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p := api.PrincipalOf(c); p == nil || p.UserID == 0 {
			return &api.Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "inicie sesión"}
		}
		return next(c)
	}
}
