package api

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()

	t.Run("RejectsMissingGarbageAndMalformedTokensWithJSON401", func(t *testing.T) {
		for _, tok := range []string{"", "garbage", "pregon_" + strings.Repeat("x", 43)} {
			r := caller{env, tok}.do(http.MethodGet, "/api/v1/me", nil)
			r.expect(t, http.StatusUnauthorized)
			var e Error
			r.JSON(t, &e)
			if e.Code != "unauthorized" {
				t.Fatalf("code %q", e.Code)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, env.http.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
		res, _ := http.DefaultClient.Do(req)
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("basic auth: %d", res.StatusCode)
		}
	})

	t.Run("RevokedAndExpiredTokensStopWorking", func(t *testing.T) {
		secret, tok, err := store.APITokenCreate(ctx, env.db, store.APITokenCreateParams{WorkspaceID: env.wsA.ID, Name: "tmp", Role: store.RoleAnalyst})
		if err != nil {
			t.Fatal(err)
		}
		caller{env, secret}.do(http.MethodGet, "/api/v1/me", nil).expect(t, http.StatusOK)
		env.as(store.RoleOwner).do(http.MethodDelete, "/api/v1/tokens/"+itoa(tok.ID), nil).expect(t, http.StatusNoContent)
		caller{env, secret}.do(http.MethodGet, "/api/v1/me", nil).expect(t, http.StatusUnauthorized)

		past := time.Now().Add(-time.Minute)
		expired, _, err := store.APITokenCreate(ctx, env.db, store.APITokenCreateParams{WorkspaceID: env.wsA.ID, Name: "old", Role: store.RoleOwner, ExpiresAt: &past})
		if err != nil {
			t.Fatal(err)
		}
		caller{env, expired}.do(http.MethodGet, "/api/v1/me", nil).expect(t, http.StatusUnauthorized)
	})

	t.Run("TokensAreStoredHashed", func(t *testing.T) {
		var n int
		env.db.QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE position($1::bytea in token_hash) > 0`, []byte(env.tokens[env.wsA.ID][store.RoleOwner])).Scan(&n)
		if n != 0 {
			t.Fatal("token secret found in api_tokens")
		}
	})

	t.Run("MeReportsWorkspaceAndRole", func(t *testing.T) {
		var me meResponse
		env.as(store.RoleMarketer).do(http.MethodGet, "/api/v1/me", nil).expect(t, http.StatusOK).JSON(t, &me)
		if me.Workspace.ID != env.wsA.ID || me.Role != store.RoleMarketer {
			t.Fatalf("me = workspace %d role %s", me.Workspace.ID, me.Role)
		}
	})
}

func TestRolesAndIsolation(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	u, err := store.UserCreate(ctx, env.db, store.UserCreateParams{WorkspaceID: env.wsA.ID, Email: "ana@example.com", Password: "una-clave-larga", Role: store.RoleMarketer})
	if err != nil {
		t.Fatal(err)
	}
	_, tokA, _ := store.APITokenCreate(ctx, env.db, store.APITokenCreateParams{WorkspaceID: env.wsA.ID, Name: "x", Role: store.RoleAnalyst})

	env.requireRoles(t, http.MethodGet, "/api/v1/workspace", nil, store.RoleAnalyst)
	env.requireRoles(t, http.MethodPatch, "/api/v1/workspace", map[string]any{}, store.RoleOwner)
	env.requireRoles(t, http.MethodGet, "/api/v1/users", nil, store.RoleOwner)
	env.requireRoles(t, http.MethodGet, "/api/v1/tokens", nil, store.RoleOwner)
	env.requireRoles(t, http.MethodPost, "/api/v1/tokens", map[string]any{"name": "n", "role": "analyst"}, store.RoleOwner)

	env.requireIsolation(t, http.MethodPatch, "/api/v1/users/"+itoa(u.ID), map[string]any{"role": "analyst"})
	env.requireIsolation(t, http.MethodDelete, "/api/v1/users/"+itoa(u.ID), nil)
	env.requireIsolation(t, http.MethodDelete, "/api/v1/tokens/"+itoa(tokA.ID), nil)
	// and A's resources are untouched
	var role string
	env.db.QueryRow(ctx, `SELECT role FROM memberships WHERE user_id = $1 AND workspace_id = $2`, u.ID, env.wsA.ID).Scan(&role)
	if role != "marketer" {
		t.Fatalf("role changed to %q by another workspace", role)
	}
	env.as(store.RoleOwner).do(http.MethodGet, "/api/v1/users/abc", nil).expect(t, http.StatusNotFound)

	t.Run("WorkspaceUpdateValidatesEveryField", func(t *testing.T) {
		r := env.as(store.RoleOwner).do(http.MethodPatch, "/api/v1/workspace", map[string]any{
			"time_zone": "Mars/Olympus", "default_country": "colombia", "messaging_limit": 7,
		}).expect(t, http.StatusUnprocessableEntity)
		var e struct {
			Details []store.Problem `json:"details"`
		}
		r.JSON(t, &e)
		if len(e.Details) != 3 {
			t.Fatalf("want 3 problems, got %+v", e.Details)
		}
		env.as(store.RoleOwner).do(http.MethodPatch, "/api/v1/workspace", map[string]any{"time_zone": "America/Mexico_City"}).expect(t, http.StatusOK)
	})

	t.Run("LastOwnerCannotBeDemoted", func(t *testing.T) {
		owner, _ := store.UserCreate(ctx, env.db, store.UserCreateParams{WorkspaceID: env.wsB.ID, Email: "solo@example.com", Password: "una-clave-larga", Role: store.RoleOwner})
		env.asB(store.RoleOwner).do(http.MethodPatch, "/api/v1/users/"+itoa(owner.ID), map[string]any{"role": "analyst"}).expect(t, http.StatusUnprocessableEntity)
	})
}

func TestSessionLoginCSRFAndRateLimit(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	if _, err := store.UserCreate(ctx, env.db, store.UserCreateParams{WorkspaceID: env.wsA.ID, Email: "dueña@example.com", Password: "una-clave-larga", Role: store.RoleOwner}); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	post := func(path, body string, csrf string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, env.http.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post("/api/v1/auth/login", `{"email":"dueña@example.com","password":"mala-clave-xx"}`, ""); res.StatusCode != 401 {
		t.Fatalf("bad password: %d", res.StatusCode)
	}
	res := post("/api/v1/auth/login", `{"email":"DUEÑA@example.com","password":"una-clave-larga"}`, "")
	if res.StatusCode != 200 {
		t.Fatalf("login: %d", res.StatusCode)
	}
	u, _ := url.Parse(env.http.URL)
	var session *http.Cookie
	for _, c := range jar.Cookies(u) {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	for _, h := range res.Header.Values("Set-Cookie") {
		if !strings.Contains(h, "HttpOnly") || !strings.Contains(h, "SameSite=Lax") {
			t.Fatalf("cookie flags: %s", h)
		}
	}
	var csrf string
	env.db.QueryRow(ctx, `SELECT csrf_token FROM sessions LIMIT 1`).Scan(&csrf)
	// state-changing request without CSRF is refused, with it accepted
	if res := post("/api/v1/tokens", `{"name":"t","role":"analyst"}`, ""); res.StatusCode != http.StatusForbidden {
		t.Fatalf("no csrf: %d", res.StatusCode)
	}
	if res := post("/api/v1/tokens", `{"name":"t","role":"analyst"}`, csrf); res.StatusCode != http.StatusCreated {
		t.Fatalf("with csrf: %d", res.StatusCode)
	}
	// logout ends the session
	post("/api/v1/auth/logout", ``, "")
	req, _ := http.NewRequest(http.MethodGet, env.http.URL+"/api/v1/me", nil)
	req.AddCookie(session)
	r2, _ := http.DefaultClient.Do(req)
	if r2.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", r2.StatusCode)
	}
	// repeated failures are rate limited
	limited := false
	for i := 0; i < 10; i++ {
		if post("/api/v1/auth/login", `{"email":"otro@example.com","password":"nope-nope-nope"}`, "").StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("10 bad logins were never rate limited")
	}
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	caller{env, ""}.do(http.MethodGet, "/api/openapi.json", nil).expect(t, http.StatusOK).JSON(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	n := 0
	for _, r := range env.srv.Echo().Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") || strings.HasSuffix(r.Path, "*") || r.Path == "/api/v1/auth/login" || r.Path == "/api/v1/auth/logout" {
			continue
		}
		p := pathParam.ReplaceAllString(r.Path, "{$1}")
		if doc.Paths[p][strings.ToLower(r.Method)] == nil {
			t.Errorf("route %s %s is not in /api/openapi.json", r.Method, r.Path)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d /api/v1 routes seen", n)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	caller{env, ""}.do(http.MethodGet, "/healthz", nil).expect(t, http.StatusOK)
	caller{env, ""}.do(http.MethodGet, "/readyz", nil).expect(t, http.StatusOK)
	if _, err := env.db.Exec(context.Background(), `DELETE FROM pregon_migrations WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	caller{env, ""}.do(http.MethodGet, "/readyz", nil).expect(t, http.StatusServiceUnavailable)
}

func itoa(n int64) string { return strconvFormat(n) }

func TestMetricsAreServedToLoopbackOnly(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	r := caller{env, ""}.do(http.MethodGet, "/metrics", nil).expect(t, http.StatusOK)
	if !strings.Contains(string(r.Body), "go_goroutines") {
		t.Fatalf("metrics body lacks go_goroutines: %.200s", r.Body)
	}
	env.srv.cfg.MetricsToken = "s3cret"
	caller{env, ""}.do(http.MethodGet, "/metrics", nil).expect(t, http.StatusUnauthorized)
	caller{env, "s3cret"}.do(http.MethodGet, "/metrics", nil).expect(t, http.StatusOK)
}
