package api

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

// TestAddingUsersCannotTakeOverAccounts: accounts are shared by workspaces, so a workspace's
// owner can neither set the password of an account that already exists (the owner of workspace
// A pre-creating the account workspace B will invite, to log in to B with a password A chose)
// nor change an existing member's role through "add user" (which skipped the last-owner check).
func TestAddingUsersCannotTakeOverAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t)

	e.as(store.RoleOwner).do("POST", "/api/v1/users", map[string]any{"email": "jefa@zapateria.test", "password": "clave-del-atacante", "role": "analyst"}).
		expect(t, http.StatusCreated)
	var refusal Error
	e.asB(store.RoleOwner).do("POST", "/api/v1/users", map[string]any{"email": "jefa@zapateria.test", "password": "clave-de-la-duena-b", "role": "owner"}).
		expect(t, http.StatusConflict).JSON(t, &refusal)
	if !strings.Contains(refusal.Message, "ya existe una cuenta") {
		t.Fatalf("the refusal does not say the account exists: %+v", refusal)
	}
	var members int
	if err := e.db.QueryRow(ctx, `SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.workspace_id = $1 AND u.email = 'jefa@zapateria.test'`, e.wsB.ID).Scan(&members); err != nil {
		t.Fatal(err)
	}
	if members != 0 {
		t.Fatal("the refused invitation still made the account a member of workspace B")
	}
	// Knowing the account exists, B may still add it without a password: its owner logs in with their own.
	e.asB(store.RoleOwner).do("POST", "/api/v1/users", map[string]any{"email": "jefa@zapateria.test", "role": "analyst"}).expect(t, http.StatusCreated)

	// "Add user" with an existing member's e-mail does not change their role (the last owner
	// stays owner; roles change through PATCH /users/:id and its checks).
	e.as(store.RoleOwner).do("POST", "/api/v1/users", map[string]any{"email": "duena@tienda.test", "password": "una-clave-larga", "role": "owner"}).
		expect(t, http.StatusCreated)
	var owner store.User
	if err := e.db.QueryRow(ctx, `SELECT u.id, u.email FROM users u JOIN memberships m ON m.user_id = u.id
		WHERE m.workspace_id = $1 AND m.role = 'owner' ORDER BY u.id LIMIT 1`, e.wsA.ID).Scan(&owner.ID, &owner.Email); err != nil {
		t.Fatal(err)
	}
	e.as(store.RoleOwner).do("POST", "/api/v1/users", map[string]any{"email": owner.Email, "role": "analyst"}).expect(t, http.StatusConflict)
	var role string
	if err := e.db.QueryRow(ctx, `SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2`, e.wsA.ID, owner.ID).Scan(&role); err != nil {
		t.Fatal(err)
	}
	if role != "owner" {
		t.Fatalf("adding an existing member changed their role to %s", role)
	}
}

// TestTokensFollowTheirCreator: an API token never has more rights than the person who made it:
// lowering their role lowers it, removing them from the workspace revokes it.
func TestTokensFollowTheirCreator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t)
	e.as(store.RoleOwner).do("POST", "/api/v1/users", map[string]any{"email": "duena@tienda.test", "password": "una-clave-larga", "role": "owner"}).
		expect(t, http.StatusCreated) // another owner: the workspace keeps one
	var u store.User
	e.as(store.RoleOwner).do("POST", "/api/v1/users", map[string]any{"email": "socia@tienda.test", "password": "una-clave-larga", "role": "owner"}).
		expect(t, http.StatusCreated).JSON(t, &u)
	secret, _, err := store.APITokenCreate(ctx, e.db, store.APITokenCreateParams{WorkspaceID: e.wsA.ID, Name: "integración", Role: store.RoleOwner, CreatedBy: &u.ID})
	if err != nil {
		t.Fatal(err)
	}
	hers := caller{e, secret}
	hers.do("GET", "/api/v1/users", nil).expect(t, http.StatusOK)

	e.as(store.RoleOwner).do("PATCH", "/api/v1/users/"+strconv.FormatInt(u.ID, 10), map[string]any{"role": "marketer"}).expect(t, http.StatusOK)
	hers.do("GET", "/api/v1/users", nil).expect(t, http.StatusForbidden) // owner-only now refused
	hers.do("GET", "/api/v1/contacts", nil).expect(t, http.StatusOK)     // a marketer's reads still work

	e.as(store.RoleOwner).do("DELETE", "/api/v1/users/"+strconv.FormatInt(u.ID, 10), nil).expect(t, http.StatusNoContent)
	hers.do("GET", "/api/v1/contacts", nil).expect(t, http.StatusUnauthorized)
}

// TestLoginTakesJSONOnly: a form posted from another site must not log the browser in (login
// CSRF: the victim would then work inside the attacker's account).
func TestLoginTakesJSONOnly(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.as(store.RoleOwner).do("POST", "/api/v1/users", map[string]any{"email": "atacante@evil.test", "password": "clave-del-atacante", "role": "analyst"}).
		expect(t, http.StatusCreated)
	req, _ := http.NewRequest("POST", e.http.URL+"/api/v1/auth/login", strings.NewReader("email=atacante%40evil.test&password=clave-del-atacante"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnsupportedMediaType || len(res.Cookies()) != 0 {
		t.Fatalf("a form login answered %d with cookies %v, want 415 and none", res.StatusCode, res.Cookies())
	}
	req, _ = http.NewRequest("POST", e.http.URL+"/api/v1/auth/login", strings.NewReader(`{"email":"atacante@evil.test","password":"clave-del-atacante"}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if res, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("a JSON login answered %d", res.StatusCode)
	}
}

// TestOperatorOnlyMount: a mount that spans every workspace (the River UI) opens only for the
// installation's operators logged in with a session, never for a workspace's owner or token.
func TestOperatorOnlyMount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hs, e := operatorServer(t, "Ops@Pregon.test") // e-mails compare without case
	db := e.db
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "Tienda"})
	if err != nil {
		t.Fatal(err)
	}
	// The operator's account is the installation's (pregon user create --operator); the
	// owner's is an ordinary one.
	for _, email := range []string{"ops@pregon.test", "duena@tienda.test"} {
		op := email == "ops@pregon.test"
		if _, err := store.UserCreate(ctx, db, store.UserCreateParams{WorkspaceID: ws.ID, Email: email, Password: "una-clave-larga", Role: store.RoleOwner,
			Installation: op, Operator: op}); err != nil {
			t.Fatal(err)
		}
	}
	token, _, err := store.APITokenCreate(ctx, db, store.APITokenCreateParams{WorkspaceID: ws.ID, Name: "owner", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	get := func(email, bearer string) int {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		if email != "" {
			res, err := c.Post(hs.URL+"/api/v1/auth/login", "application/json",
				strings.NewReader(`{"email":"`+email+`","password":"una-clave-larga"}`))
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("login %s: %v %v", email, err, res.Status)
			}
			res.Body.Close()
		}
		req, _ := http.NewRequest("GET", hs.URL+"/admin/river/api/jobs", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := get("ops@pregon.test", ""); got != http.StatusOK {
		t.Errorf("the operator: %d, want 200", got)
	}
	if got := get("duena@tienda.test", ""); got != http.StatusForbidden {
		t.Errorf("a workspace's owner: %d, want 403", got)
	}
	if got := get("", token); got != http.StatusForbidden {
		t.Errorf("an owner API token: %d, want 403", got)
	}
	if got := get("", ""); got != http.StatusUnauthorized {
		t.Errorf("nobody: %d, want 401", got)
	}
}
