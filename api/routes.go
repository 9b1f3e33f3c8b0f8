package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

// route is one entry of the route table: the path under /api/v1, the minimum role, and what the
// OpenAPI document says about it.
type route struct {
	method  string
	path    string
	handler echo.HandlerFunc
	role    store.Role
	summary string
	in      any // request body type, for the OpenAPI document (nil: none)
	out     any // response body type (nil: none or not JSON)
}

// routes is the route table of the REST API. Every /api/v1 route is listed here.
func (s *Server) routes() []route {
	const (
		A = store.RoleAnalyst
		M = store.RoleMarketer
		O = store.RoleOwner
	)
	return []route{
		// who am I, workspace, users, tokens
		{http.MethodGet, "/me", s.getMe, A, "Current user or token, role and workspaces", nil, meResponse{}},
		{http.MethodPost, "/auth/switch", s.postSwitchWorkspace, A, "Switch the session to another workspace of the user", switchRequest{}, nil},
		{http.MethodGet, "/workspace", s.getWorkspace, A, "Read the workspace", nil, store.Workspace{}},
		{http.MethodPatch, "/workspace", s.patchWorkspace, O, "Update the workspace (time zone, country, limits, settings)", store.WorkspaceUpdate{}, store.Workspace{}},
		{http.MethodGet, "/users", s.listUsers, O, "List the workspace's users and roles", nil, listOf[store.User]{}},
		{http.MethodPost, "/users", s.createUser, O, "Add a user to the workspace", createUserRequest{}, store.User{}},
		{http.MethodPatch, "/users/:id", s.patchUser, O, "Change a user's role", patchUserRequest{}, store.User{}},
		{http.MethodDelete, "/users/:id", s.deleteUser, O, "Remove a user from the workspace", nil, nil},
		{http.MethodGet, "/tokens", s.listTokens, O, "List API tokens", nil, listOf[store.APIToken]{}},
		{http.MethodPost, "/tokens", s.createToken, O, "Create an API token (its secret is shown once)", createTokenRequest{}, createTokenResponse{}},
		{http.MethodDelete, "/tokens/:id", s.revokeToken, O, "Revoke an API token", nil, nil},
		// reports and exports (api/reports.go, api/exports.go)
		{http.MethodGet, "/campaigns/:id/report", s.getCampaignReport, A, "Campaign report: frozen audience, funnel, failures by code (es/en titles), rates, latency percentiles, status timeline, billable messages, cost estimate with a rate card", nil, reports.CampaignReport{}},
		{http.MethodGet, "/templates/:id/report", s.getTemplateReport, A, "Template report per month: sends, delivery/read rates, failures by code, status and quality history", nil, reports.TemplateReport{}},
		{http.MethodGet, "/numbers/:id/report", s.getNumberReport, A, "Sender number report: messaging-limit budget per rolling 24 h, throughput, quality and phone-app history", nil, reports.NumberReport{}},
		{http.MethodGet, "/exports/campaigns/:id", s.getCampaignExport, A, "Export a campaign's recipients (CSV or XLSX, ?as_of=&attributes=); large exports answer 202 with a job", nil, nil},
		{http.MethodGet, "/exports/templates/:id", s.getTemplateExport, A, "Export the recipients of a template's campaigns in a period (CSV or XLSX); large exports answer 202 with a job", nil, nil},
		{http.MethodGet, "/exports/contacts", s.getContactsExport, M, "Export contacts with consent evidence, for audits (CSV or XLSX); large exports answer 202 with a job", nil, nil},
		{http.MethodPost, "/exports", s.postExport, A, "Run an export as a job (progress at /exports/{id}, file at /exports/{id}/download)", exportRequest{}, reports.Export{}},
		{http.MethodGet, "/exports", s.listExports, A, "List the workspace's job exports", nil, listOf[reports.Export]{}},
		{http.MethodGet, "/exports/:id", s.getExport, A, "An export's status and progress", nil, reports.Export{}},
		{http.MethodGet, "/exports/:id/download", s.downloadExport, A, "Download a completed export's file", nil, nil},
	}
}

// listOf is the envelope of every list response.
type listOf[T any] struct {
	Data       []T    `json:"data"`
	NextCursor *int64 `json:"next_cursor,omitempty"`
}

func (s *Server) mountRoutes(extra []Mount) error {
	e := s.e
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/api/openapi.json", s.getOpenAPI)
	e.GET("/metrics", s.metricsHandler())
	e.POST("/api/v1/auth/login", s.postLogin, middleware.BodyLimit("64K"))
	e.POST("/api/v1/auth/logout", s.postLogout)

	v1 := e.Group("/api/v1", middleware.BodyLimit("2M"), s.Authenticate)
	for _, r := range s.routes() {
		mw := []echo.MiddlewareFunc{RequireRole(r.role)}
		v1.Add(r.method, r.path, r.handler, mw...)
	}
	for _, m := range extra {
		h := echo.WrapHandler(m.Handler)
		var mw []echo.MiddlewareFunc
		if m.Role != "" {
			mw = append(mw, s.Authenticate, RequireRole(store.Role(m.Role)))
		}
		prefix := strings.TrimRight(m.Prefix, "/")
		e.Any(prefix, h, mw...)
		e.Any(prefix+"/*", h, mw...)
	}
	return nil
}
