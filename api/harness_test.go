package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/internal/secret"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// testEnv is a real server on a fresh database with two workspaces, A and B, each with a token
// per role. Use env.as(store.RoleOwner) for workspace A and env.asB(...) for workspace B.
type testEnv struct {
	t      testing.TB
	db     *pgxpool.Pool
	srv    *Server
	http   *httptest.Server
	wsA    store.Workspace
	wsB    store.Workspace
	tokens map[int64]map[store.Role]string
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	cfg, err := config.Load(func(string) string { return "" }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = t.TempDir()
	cfg.SecretKey = bytes.Repeat([]byte{7}, 32)
	box, _ := secret.New(cfg.SecretKey)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	client, err := jobs.NewClient(db, jobs.Deps{Config: cfg, DB: db, Box: box, Logger: log}, jobs.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Deps{Config: cfg, DB: db, River: client, Box: box, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{t: t, db: db, srv: srv, tokens: map[int64]map[store.Role]string{}}
	env.http = httptest.NewServer(srv.Handler())
	t.Cleanup(env.http.Close)
	for i, ws := range []*store.Workspace{&env.wsA, &env.wsB} {
		// No quiet hours: the tests run at any hour (TestCampaignPlanFollowsQuietHours sets them).
		*ws, err = store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: fmt.Sprintf("Workspace %c", 'A'+i), Settings: store.NoQuietHours})
		if err != nil {
			t.Fatal(err)
		}
		env.tokens[ws.ID] = map[store.Role]string{}
		for _, role := range []store.Role{store.RoleOwner, store.RoleMarketer, store.RoleAnalyst} {
			secret, _, err := store.APITokenCreate(ctx, db, store.APITokenCreateParams{WorkspaceID: ws.ID, Name: string(role), Role: role})
			if err != nil {
				t.Fatal(err)
			}
			env.tokens[ws.ID][role] = secret
		}
	}
	return env
}

// caller sends requests with one token.
type caller struct {
	env   *testEnv
	token string
}

func (e *testEnv) as(role store.Role) caller  { return caller{e, e.tokens[e.wsA.ID][role]} }
func (e *testEnv) asB(role store.Role) caller { return caller{e, e.tokens[e.wsB.ID][role]} }

// response is a finished request.
type response struct {
	Status int
	Body   []byte
	Header http.Header
}

// JSON decodes the body into v, failing the test on error.
func (r response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
}

// do sends method path with body (marshalled to JSON unless it is []byte or nil).
func (c caller) do(method, path string, body any) response {
	c.env.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.env.http.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.env.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	c.env.checkDocumentedStatus(method, path, res.StatusCode)
	return response{Status: res.StatusCode, Body: b, Header: res.Header}
}

// checkDocumentedStatus fails the test when an /api/v1 route answers a success the OpenAPI
// document does not list for it, so the document stays true to every request the tests make.
func (e *testEnv) checkDocumentedStatus(method, path string, status int) {
	e.t.Helper()
	rest, ok := strings.CutPrefix(path, "/api/v1")
	if !ok || status < 200 || status > 299 {
		return
	}
	rest, _, _ = strings.Cut(rest, "?")
	var best *route
	bestParams := 0
	for _, r := range e.srv.routes() {
		if r.method != method || !routePattern(r.path).MatchString(rest) {
			continue
		}
		// a static segment wins over a parameter (/contacts/tags over /contacts/:id)
		if n := strings.Count(r.path, ":"); best == nil || n < bestParams {
			best, bestParams = &r, n
		}
	}
	if best == nil {
		e.t.Fatalf("%s %s answered %d but matches no route of the table", method, path, status)
	}
	if !slices.Contains(best.successStatuses(), status) {
		e.t.Fatalf("%s %s answered %d; the OpenAPI document lists %v for %s %s", method, path, status, best.successStatuses(), best.method, best.path)
	}
}

func routePattern(p string) *regexp.Regexp {
	return regexp.MustCompile("^" + pathParam.ReplaceAllString(regexp.QuoteMeta(p), "[^/]+") + "$")
}

// expect fails the test unless the status is want.
func (r response) expect(t testing.TB, want int) response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body: %s", r.Status, want, r.Body)
	}
	return r
}

// requireIsolation asserts that workspace B's owner gets 404 for a path naming workspace A's
// resource, for each method given (body may be nil).
func (e *testEnv) requireIsolation(t testing.TB, method, path string, body any) {
	t.Helper()
	r := e.asB(store.RoleOwner).do(method, path, body)
	if r.Status != http.StatusNotFound {
		t.Fatalf("workspace B's owner: %s %s → %d, want 404 (body %s)", method, path, r.Status, r.Body)
	}
}

// requireRoles asserts that roles below min get 403 and min itself does not.
func (e *testEnv) requireRoles(t testing.TB, method, path string, body any, min store.Role) {
	t.Helper()
	for _, role := range []store.Role{store.RoleAnalyst, store.RoleMarketer, store.RoleOwner} {
		r := e.as(role).do(method, path, body)
		if role.AtLeast(min) && r.Status == http.StatusForbidden {
			t.Fatalf("%s: %s %s → 403, want allowed (body %s)", role, method, path, r.Body)
		}
		if !role.AtLeast(min) && r.Status != http.StatusForbidden {
			t.Fatalf("%s: %s %s → %d, want 403 (body %s)", role, method, path, r.Status, r.Body)
		}
	}
}

func strconvFormat(n int64) string { return fmt.Sprint(n) }
