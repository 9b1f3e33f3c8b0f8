package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

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
