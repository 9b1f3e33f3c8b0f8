// Package api is Pregón's HTTP server: one Echo route table (routes.go), authentication and
// roles, the central error mapping, the webhook endpoint and the OpenAPI document. Handlers live
// in one file per resource and call the store, segments, importers and jobs packages; they hold
// no business rules of their own.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/internal/secret"
	"github.com/pregon/pregon/migrations"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// Deps are what the server needs from the process that runs it.
type Deps struct {
	Config config.Config
	DB     *pgxpool.Pool
	River  *river.Client[pgx.Tx] // may be insert-only (no workers in this process)
	Box    *secret.Box
	Logger *slog.Logger
	// WhatsApp returns the Cloud API client for a sender number (test sends, template sync,
	// number checks); nil disables those calls.
	WhatsApp func(n store.SenderNumber) (*whatsapp.Client, error)
	// Extra mounts handlers outside the route table (River UI, the simulator, the admin UI).
	Extra []Mount
}

// Mount is a handler mounted under a path prefix, with the minimum role it needs
// ("" = public, handled by the handler itself).
type Mount struct {
	Prefix  string
	Handler http.Handler
	Role    string
	// Operator: only the installation's operators (config AdminEmails), logged in with a
	// session, may use it (it spans every workspace: the River UI).
	Operator bool
}

// Caller is who calls a handler mounted with a Role or Operator: the handler reads it from its
// request's context with CallerOf, to keep what it does to the caller's workspace (the
// simulator's control API).
type Caller struct {
	WorkspaceID int64
	Role        store.Role
	// Operator: a logged-in operator of the installation (config AdminEmails), whom a handler
	// may let act on every workspace.
	Operator bool
}

type callerKey struct{}

// CallerOf returns the caller of a mounted handler's request; ok is false on a public mount.
func CallerOf(ctx context.Context) (c Caller, ok bool) {
	c, ok = ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// withCaller puts the authenticated principal in the request's context as a Caller, for a
// mounted handler (an http.Handler, which sees no Echo context); operator says whether it is an
// operator (on an operator-only mount requireOperator already checked: true, no second query).
func withCaller(operator func(context.Context, *Principal) (bool, error)) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := principal(c)
			op, err := operator(c.Request().Context(), p)
			if err != nil {
				return err
			}
			ctx := context.WithValue(c.Request().Context(), callerKey{}, Caller{WorkspaceID: p.WorkspaceID, Role: p.Role, Operator: op})
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}

// isOperator reports whether p is an operator of the installation: a logged-in user (not an
// API token, which belongs to one workspace) whose account the installation made an operator
// (users.operator: `pregon user create --operator`, the demo seed) and whose e-mail is still in
// the configuration's AdminEmails. A workspace cannot make one: an e-mail alone is not enough.
func (s *Server) isOperator(ctx context.Context, p *Principal) (bool, error) {
	if p.UserID == 0 || len(s.cfg.AdminEmails) == 0 {
		return false, nil
	}
	email, operator, err := store.UserIsOperator(ctx, s.db, p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the caller's account: %w", err)
	}
	return operator && s.cfg.IsAdmin(email), nil
}

// Server is the HTTP API.
type Server struct {
	e     *echo.Echo
	db    *pgxpool.Pool
	river *river.Client[pgx.Tx]
	cfg   config.Config
	box   *secret.Box
	log   *slog.Logger
	login *loginLimiter
	now   func() time.Time
	wa    func(n store.SenderNumber) (*whatsapp.Client, error)
}

// New builds the server and its route table.
func New(d Deps) (*Server, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	s := &Server{db: d.DB, river: d.River, cfg: d.Config, box: d.Box, log: d.Logger, login: newLoginLimiter(), now: time.Now, wa: d.WhatsApp}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect() // never trust X-Forwarded-For from clients
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.RequestID())
	e.Use(middleware.Recover())
	e.Use(s.requestLogger())
	s.e = e
	if err := s.mountRoutes(d.Extra); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the server as an http.Handler (tests use it with httptest).
func (s *Server) Handler() http.Handler { return s.e }

// Echo exposes the router (for the UI package to add its pages).
func (s *Server) Echo() *echo.Echo { return s.e }

// Serve runs the HTTP server on srv until ctx is cancelled, then drains in-flight requests.
func (s *Server) Serve(ctx context.Context, srv *http.Server, listen func() error) error {
	srv.Handler = s.e
	errc := make(chan error, 1)
	go func() { errc <- listen() }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

func (s *Server) requestLogger() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURIPath: true, LogMethod: true, LogLatency: true, LogRequestID: true, LogError: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			} else if v.URIPath == "/healthz" || v.URIPath == "/readyz" || v.URIPath == "/metrics" {
				level = slog.LevelDebug
			}
			attrs := []slog.Attr{
				slog.String("method", v.Method), slog.String("path", v.URIPath), slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency), slog.String("request_id", v.RequestID),
			}
			if p := principalOrNil(c); p != nil {
				attrs = append(attrs, slog.Int64("workspace_id", p.WorkspaceID))
			}
			if v.Error != nil && v.Status >= 500 {
				attrs = append(attrs, slog.String("error", v.Error.Error()))
			}
			s.log.LogAttrs(c.Request().Context(), level, "http request", attrs...)
			return nil
		},
	})
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "database unreachable", "error": err.Error()})
	}
	pending, err := migrations.Pending(ctx, s.db)
	if err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "cannot read migrations", "error": err.Error()})
	}
	if pending > 0 {
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "migrations pending", "pending": pending})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
