package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/internal/secret"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// person is a browser-like client: a cookie jar and the CSRF token of its session.
type person struct {
	t    testing.TB
	base string
	c    *http.Client
	csrf string
}

func newPerson(t testing.TB, base string) *person {
	jar, _ := cookiejar.New(nil)
	return &person{t: t, base: base, c: &http.Client{Jar: jar}}
}

// login logs in with JSON and returns the status and the answer.
func (p *person) login(email, password string) (int, loginResponse) {
	p.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	res, err := p.c.Post(p.base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	var lr loginResponse
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &lr); err != nil {
			p.t.Fatal(err)
		}
		p.csrf = lr.CSRFToken
	}
	return res.StatusCode, lr
}

func (p *person) do(method, path string, body any) response {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, p.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(csrfHeader, p.csrf)
	res, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Body: b, Header: res.Header}
}

// operatorServer is a server whose configuration's PREGON_ADMIN_EMAILS is adminEmails, with a
// stand-in for the River UI (every workspace's jobs) mounted for operators.
func operatorServer(t *testing.T, adminEmails string) (*httptest.Server, *testEnv) {
	t.Helper()
	db := pgtest.NewDB(t)
	cfg, err := config.Load(func(k string) string {
		if k == "PREGON_ADMIN_EMAILS" {
			return adminEmails
		}
		return ""
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.SecretKey = t.TempDir(), bytes.Repeat([]byte{7}, 32)
	box, _ := secret.New(cfg.SecretKey)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	client, err := jobs.NewClient(db, jobs.Deps{Config: cfg, DB: db, Box: box, Logger: log}, jobs.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	allJobs := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("every workspace's jobs")) })
	srv, err := New(Deps{Config: cfg, DB: db, River: client, Box: box, Logger: log,
		Extra: []Mount{{Prefix: "/admin/river", Handler: allJobs, Operator: true}}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs, &testEnv{t: t, db: db, srv: srv, http: hs}
}

// TestWorkspaceOwnerCannotMakeAnOperator: the River UI shows every workspace's jobs, so only
// an account the installation made an operator, with its e-mail in PREGON_ADMIN_EMAILS, opens
// it. A workspace owner can create accounts with any e-mail and a password they choose; they
// must never get there by typing the operator's e-mail (audit: e-mail squatting).
func TestWorkspaceOwnerCannotMakeAnOperator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hs, e := operatorServer(t, "ops@pregon.test")
	ws, err := store.WorkspaceCreate(ctx, e.db, store.WorkspaceCreateParams{Name: "Tenant malicioso"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := store.APITokenCreate(ctx, e.db, store.APITokenCreateParams{WorkspaceID: ws.ID, Name: "o", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	river := func(p *person) int {
		t.Helper()
		return p.do("GET", "/admin/river/api/jobs", nil).Status
	}

	t.Run("CreatingTheOperatorsAccountIsRefused", func(t *testing.T) {
		r := caller{e, tok}.do("POST", "/api/v1/users", map[string]any{"email": "Ops@Pregon.test", "password": "clave-del-atacante", "role": "analyst"})
		r.expect(t, http.StatusUnprocessableEntity)
		if st, _ := newPerson(t, hs.URL).login("ops@pregon.test", "clave-del-atacante"); st != http.StatusUnauthorized {
			t.Fatalf("logging in with the squatter's password: %d, want 401", st)
		}
	})

	t.Run("AnAccountATenantMadeNeverOperates", func(t *testing.T) {
		// A tenant made the account before its e-mail was listed in PREGON_ADMIN_EMAILS (or
		// through any other path that skips the refusal): listing it later grants nothing.
		if _, err := store.UserCreate(ctx, e.db, store.UserCreateParams{WorkspaceID: ws.ID, Email: "ops@pregon.test",
			Password: "clave-del-atacante", Role: store.RoleAnalyst}); err != nil {
			t.Fatal(err)
		}
		squatter := newPerson(t, hs.URL)
		if st, _ := squatter.login("ops@pregon.test", "clave-del-atacante"); st != http.StatusOK {
			t.Fatalf("login: %d", st)
		}
		if got := river(squatter); got != http.StatusForbidden {
			t.Fatalf("an account a workspace owner made: GET /admin/river → %d, want 403", got)
		}

		// The installation makes it an operator (pregon user create --operator): it takes the
		// account over, so the squatter's password and session are gone.
		if _, err := store.UserCreate(ctx, e.db, store.UserCreateParams{WorkspaceID: ws.ID, Email: "ops@pregon.test",
			Password: "clave-del-operador", Role: store.RoleAnalyst, Installation: true, Operator: true}); err != nil {
			t.Fatal(err)
		}
		if got := river(squatter); got != http.StatusUnauthorized {
			t.Fatalf("the squatter's session after the installation took the account: %d, want 401", got)
		}
		if st, _ := newPerson(t, hs.URL).login("ops@pregon.test", "clave-del-atacante"); st != http.StatusUnauthorized {
			t.Fatalf("the squatter's password after the installation took the account: %d, want 401", st)
		}
		ops := newPerson(t, hs.URL)
		if st, _ := ops.login("ops@pregon.test", "clave-del-operador"); st != http.StatusOK {
			t.Fatalf("operator login: %d", st)
		}
		if got := river(ops); got != http.StatusOK {
			t.Fatalf("the installation's operator: GET /admin/river → %d, want 200", got)
		}
	})
}

// TestAddingAnExistingAccountIsAnInvitation: a workspace that adds an account another
// workspace already has gets an invitation, not a member: it learns nothing about the person
// (name, last login) and the person's login never lands in it until they accept, and then only
// when it is the workspace they used last (audit: a workspace renamed "AAA Soporte" captured
// the next login of a person it added on its own).
func TestAddingAnExistingAccountIsAnInvitation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t)
	if _, err := store.UserCreate(ctx, e.db, store.UserCreateParams{WorkspaceID: e.wsA.ID, Email: "ana@a.test", Name: "Ana de A",
		Password: "clave-de-ana-123", Role: store.RoleOwner}); err != nil {
		t.Fatal(err)
	}
	ana := newPerson(t, e.http.URL)
	if st, _ := ana.login("ana@a.test", "clave-de-ana-123"); st != http.StatusOK {
		t.Fatalf("login: %d", st)
	}

	var u store.User
	e.asB(store.RoleOwner).do("POST", "/api/v1/users", map[string]any{"email": "ana@a.test", "role": "owner"}).expect(t, http.StatusCreated).JSON(t, &u)
	if u.Name != "" || u.LastLoginAt != nil || !u.CreatedAt.IsZero() || !u.Pending || u.Email != "ana@a.test" {
		t.Errorf("B's answer tells more than the e-mail it typed, or is not pending: %+v", u)
	}
	var list listOf[store.User]
	e.asB(store.RoleOwner).do("GET", "/api/v1/users", nil).expect(t, http.StatusOK).JSON(t, &list)
	for _, m := range list.Data {
		if m.Email == "ana@a.test" && (m.Name != "" || m.LastLoginAt != nil || !m.Pending) {
			t.Errorf("B's user list shows A's person: %+v", m)
		}
	}
	// Not a member until she accepts: no switching into B.
	ana.do("POST", "/api/v1/auth/switch", map[string]any{"workspace_id": e.wsB.ID}).expect(t, http.StatusNotFound)

	e.asB(store.RoleOwner).do("PATCH", "/api/v1/workspace", map[string]any{"name": "AAA Soporte"}).expect(t, http.StatusOK)
	if _, lr := ana.login("ana@a.test", "clave-de-ana-123"); lr.Workspace != e.wsA.ID || len(lr.Workspaces) != 1 {
		t.Fatalf("Ana's login opened workspace %d with %+v; want A (%d) only", lr.Workspace, lr.Workspaces, e.wsA.ID)
	}

	t.Run("ThePersonAcceptsOrDeclines", func(t *testing.T) {
		var inv listOf[store.Membership]
		ana.do("GET", "/api/v1/me/invitations", nil).expect(t, http.StatusOK).JSON(t, &inv)
		if len(inv.Data) != 1 || inv.Data[0].WorkspaceID != e.wsB.ID || inv.Data[0].Role != store.RoleOwner {
			t.Fatalf("invitations: %+v", inv.Data)
		}
		e.asB(store.RoleOwner).do("POST", "/api/v1/me/invitations/"+strconv.FormatInt(e.wsB.ID, 10)+"/accept", nil).expect(t, http.StatusBadRequest)
		ana.do("POST", "/api/v1/me/invitations/"+strconv.FormatInt(e.wsB.ID, 10)+"/accept", nil).expect(t, http.StatusNoContent)
		ana.do("POST", "/api/v1/me/invitations/"+strconv.FormatInt(e.wsB.ID, 10)+"/accept", nil).expect(t, http.StatusNotFound)

		// A member now: B sees her name, but not when she last logged in elsewhere.
		var m store.User
		e.asB(store.RoleOwner).do("PATCH", "/api/v1/users/"+strconv.FormatInt(u.ID, 10), map[string]any{"role": "owner"}).expect(t, http.StatusOK).JSON(t, &m)
		if m.Name != "Ana de A" || m.Pending || m.LastLoginAt != nil {
			t.Errorf("after accepting, B reads %+v; want her name and no login in B yet", m)
		}
		// Logins open the workspace she used last, whatever the names.
		ana.do("POST", "/api/v1/auth/switch", map[string]any{"workspace_id": e.wsB.ID}).expect(t, http.StatusNoContent)
		if _, lr := ana.login("ana@a.test", "clave-de-ana-123"); lr.Workspace != e.wsB.ID {
			t.Errorf("after using B, the login opened %d, want B (%d)", lr.Workspace, e.wsB.ID)
		}
		ana.do("POST", "/api/v1/auth/switch", map[string]any{"workspace_id": e.wsA.ID}).expect(t, http.StatusNoContent)
		if _, lr := ana.login("ana@a.test", "clave-de-ana-123"); lr.Workspace != e.wsA.ID {
			t.Errorf("after going back to A, the login opened %d, want A (%d)", lr.Workspace, e.wsA.ID)
		}

		// Declining removes the invitation; B cannot see that she declined beyond the row going.
		ws3, err := store.WorkspaceCreate(ctx, e.db, store.WorkspaceCreateParams{Name: "000 Primero"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.UserCreate(ctx, e.db, store.UserCreateParams{WorkspaceID: ws3.ID, Email: "ana@a.test", Role: store.RoleAnalyst}); err != nil {
			t.Fatal(err)
		}
		ana.do("POST", "/api/v1/me/invitations/"+strconv.FormatInt(ws3.ID, 10)+"/decline", nil).expect(t, http.StatusNoContent)
		ana.do("GET", "/api/v1/me/invitations", nil).expect(t, http.StatusOK).JSON(t, &inv)
		if len(inv.Data) != 0 {
			t.Errorf("invitations after declining: %+v", inv.Data)
		}
	})
}

// TestPasswordChange: a person changes their own password with the current one; their other
// sessions end (someone who had the old password is out), this one and the API tokens stay.
func TestPasswordChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t)
	u, err := store.UserCreate(ctx, e.db, store.UserCreateParams{WorkspaceID: e.wsA.ID, Email: "luz@a.test", Password: "clave-vieja-123", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := store.APITokenCreate(ctx, e.db, store.APITokenCreateParams{WorkspaceID: e.wsA.ID, Name: "de Luz", Role: store.RoleOwner, CreatedBy: &u.ID})
	if err != nil {
		t.Fatal(err)
	}
	here, elsewhere := newPerson(t, e.http.URL), newPerson(t, e.http.URL)
	for _, p := range []*person{here, elsewhere} {
		if st, _ := p.login("luz@a.test", "clave-vieja-123"); st != http.StatusOK {
			t.Fatalf("login: %d", st)
		}
	}
	here.do("POST", "/api/v1/me/password", map[string]any{"current_password": "no-es-la-clave", "password": "clave-nueva-456"}).expect(t, http.StatusUnprocessableEntity)
	here.do("POST", "/api/v1/me/password", map[string]any{"current_password": "clave-vieja-123", "password": "corta"}).expect(t, http.StatusUnprocessableEntity)
	caller{e, tok}.do("POST", "/api/v1/me/password", map[string]any{"current_password": "clave-vieja-123", "password": "clave-nueva-456"}).
		expect(t, http.StatusBadRequest)
	elsewhere.do("GET", "/api/v1/me", nil).expect(t, http.StatusOK)

	here.do("POST", "/api/v1/me/password", map[string]any{"current_password": "clave-vieja-123", "password": "clave-nueva-456"}).expect(t, http.StatusNoContent)
	here.do("GET", "/api/v1/me", nil).expect(t, http.StatusOK)
	elsewhere.do("GET", "/api/v1/me", nil).expect(t, http.StatusUnauthorized)
	caller{e, tok}.do("GET", "/api/v1/users", nil).expect(t, http.StatusOK)
	if st, _ := newPerson(t, e.http.URL).login("luz@a.test", "clave-vieja-123"); st != http.StatusUnauthorized {
		t.Errorf("the old password still logs in: %d", st)
	}
	if st, _ := newPerson(t, e.http.URL).login("luz@a.test", "clave-nueva-456"); st != http.StatusOK {
		t.Errorf("the new password does not log in: %d", st)
	}
}

// TestSessionsEndThirtyDaysAfterLogin: using a session extends it, but never past
// store.SessionMaxAge from the login: then the person logs in again.
func TestSessionsEndThirtyDaysAfterLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t)
	if _, err := store.UserCreate(ctx, e.db, store.UserCreateParams{WorkspaceID: e.wsA.ID, Email: "sol@a.test", Password: "clave-de-sol-1", Role: store.RoleOwner}); err != nil {
		t.Fatal(err)
	}
	p := newPerson(t, e.http.URL)
	if st, _ := p.login("sol@a.test", "clave-de-sol-1"); st != http.StatusOK {
		t.Fatalf("login: %d", st)
	}
	// Logged in 29 days ago and used every day since: still in, but the session ends at day 30.
	if _, err := e.db.Exec(ctx, `UPDATE sessions SET created_at = now() - interval '29 days'`); err != nil {
		t.Fatal(err)
	}
	p.do("GET", "/api/v1/me", nil).expect(t, http.StatusOK)
	var left time.Duration
	if err := e.db.QueryRow(ctx, `SELECT extract(epoch FROM expires_at - now())::bigint * 1000000000 FROM sessions`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left > 24*time.Hour+time.Minute {
		t.Errorf("a session logged in 29 days ago was extended to %v from now; want at most a day", left)
	}
	if _, err := e.db.Exec(ctx, `UPDATE sessions SET created_at = now() - interval '31 days', expires_at = now() + interval '6 days'`); err != nil {
		t.Fatal(err)
	}
	var refusal Error
	p.do("GET", "/api/v1/me", nil).expect(t, http.StatusUnauthorized).JSON(t, &refusal)
	if !strings.Contains(refusal.Message, "inicie sesión") {
		t.Errorf("refusal: %+v", refusal)
	}
}
