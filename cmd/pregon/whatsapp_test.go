package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/internal/secret"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// TestSimulatorControlIsScopedToTheWorkspace: every workspace shares the embedded simulator,
// whose webhooks the endpoint trusts for every simulator number. Its control API, mounted as
// `serve` mounts it, lets an owner act on their own simulator numbers only, and keeps what
// spans the installation (statistics, faults, reset) for its operators.
func TestSimulatorControlIsScopedToTheWorkspace(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	cfg, err := config.Load(func(k string) string {
		if k == "PREGON_ADMIN_EMAILS" {
			return "ops@pregon.test"
		}
		return ""
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.SecretKey = t.TempDir(), bytes.Repeat([]byte{7}, 32)
	box, _ := secret.New(cfg.SecretKey)
	log := slog.New(slog.DiscardHandler)
	client, err := jobs.NewClient(db, jobs.Deps{Config: cfg, DB: db, Box: box, Logger: log}, jobs.ClientConfig{Workers: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	sm := newEmbeddedSimulator(cfg, base+api.WebhookPath, log)
	simCtx, stopSim := context.WithCancel(ctx)
	t.Cleanup(stopSim)
	sm.Start(simCtx)
	srv, err := api.New(api.Deps{Config: cfg, DB: db, River: client, Box: box, Logger: log, Extra: simulatorMounts(sm, db)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Stop(context.Background()) })

	// Workspace A has the simulator's number and a contact; B has neither. The operator is a
	// member of B.
	wsA, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "A", Settings: store.NoQuietHours})
	must(t, err)
	wsB, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "B", Settings: store.NoQuietHours})
	must(t, err)
	_, err = db.Exec(ctx, `INSERT INTO sender_numbers (workspace_id, phone_number_id, waba_id, display_number, use_simulator, coexistence)
		VALUES ($1, $2, $3, '573105550123', true, true)`, wsA.ID, demoPhoneNumberID, demoWABAID)
	must(t, err)
	var contactA int64
	must(t, db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164, name, consent_at) VALUES ($1, '+573001112233', 'Cliente de A', now()) RETURNING id`,
		wsA.ID).Scan(&contactA))
	tokA, _, err := store.APITokenCreate(ctx, db, store.APITokenCreateParams{WorkspaceID: wsA.ID, Name: "a", Role: store.RoleOwner})
	must(t, err)
	tokB, _, err := store.APITokenCreate(ctx, db, store.APITokenCreateParams{WorkspaceID: wsB.ID, Name: "b", Role: store.RoleOwner})
	must(t, err)
	_, err = store.UserCreate(ctx, db, store.UserCreateParams{WorkspaceID: wsB.ID, Email: "ops@pregon.test", Name: "Operación",
		Password: "clave-de-operacion-1", Role: store.RoleOwner, Installation: true, Operator: true})
	must(t, err)

	// call makes a control call with a bearer token, or with the operator's session when tok
	// is "".
	jar, _ := cookiejar.New(nil)
	session := &http.Client{Jar: jar}
	var csrf string
	call := func(tok, method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		c := http.DefaultClient
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		} else {
			req.Header.Set("X-CSRF-Token", csrf)
			c = session
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Logf("%s %s → %d %s", method, path, res.StatusCode, bytes.TrimSpace(b))
		return res.StatusCode
	}
	stop := `{"phone_number_id":"` + demoPhoneNumberID + `","from":"573001112233","text":"STOP"}`

	t.Run("AnotherWorkspaceCannotActOnTheNumber", func(t *testing.T) {
		for _, c := range []struct{ path, body string }{
			{"/sim/_sim/inbound", stop},
			{"/sim/_sim/inbound", `{"from":"573001112233","text":"STOP"}`}, // the simulator's first number
			{"/sim/_sim/numbers/account", `{"phone_number_id":"` + demoPhoneNumberID + `","event":"PARTNER_REMOVED","reason":"PRIMARY_INACTIVITY"}`},
			{"/sim/_sim/numbers/quality", `{"phone_number_id":"` + demoPhoneNumberID + `","event":"FLAGGED"}`},
			{"/sim/_sim/user_preferences", `{"phone_number_id":"` + demoPhoneNumberID + `","wa_id":"573001112233","value":"stop"}`},
			{"/sim/_sim/templates/quality", `{"name":"novedades_cliente","language":"es","quality":"RED"}`},
		} {
			if got := call(tokB, "POST", c.path, c.body); got != http.StatusForbidden {
				t.Errorf("B's owner: POST %s %s → %d, want 403", c.path, c.body, got)
			}
		}
		if got := call(tokB, "GET", "/sim/_sim/templates?waba_id="+demoWABAID, ""); got != http.StatusForbidden {
			t.Errorf("B's owner lists A's templates: %d, want 403", got)
		}
		st := sm.Stats()
		if st.Inbound != 0 || st.Webhooks.Events != 0 {
			t.Errorf("refused calls reached the simulator: %d inbound, %d webhook events", st.Inbound, st.Webhooks.Events)
		}
	})

	t.Run("TheOwnerActsOnTheirOwnNumber", func(t *testing.T) {
		if got := call(tokA, "GET", "/sim/_sim/templates?waba_id="+demoWABAID, ""); got != http.StatusOK {
			t.Errorf("A's owner lists their templates: %d", got)
		}
		if got := call(tokA, "POST", "/sim/_sim/inbound", stop); got != http.StatusOK {
			t.Fatalf("A's owner simulates a STOP on their number: %d", got)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			var out *time.Time
			must(t, db.QueryRow(ctx, `SELECT opted_out_at FROM contacts WHERE id = $1`, contactA).Scan(&out))
			if out != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the STOP A's owner simulated did not opt the contact out within 20 s")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("InstallationWideCallsAreForOperators", func(t *testing.T) {
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/sim/_sim/stats", ""}, {"GET", "/sim/_sim/templates", ""},
			{"POST", "/sim/_sim/faults", `{"throughput_storm":true}`}, {"POST", "/sim/_sim/reset", ""},
		} {
			if got := call(tokA, c.method, c.path, c.body); got != http.StatusForbidden {
				t.Errorf("an owner: %s %s → %d, want 403", c.method, c.path, got)
			}
		}
		res, err := session.Post(hs.URL+"/api/v1/auth/login", "application/json", strings.NewReader(`{"email":"ops@pregon.test","password":"clave-de-operacion-1"}`))
		must(t, err)
		var lr struct {
			CSRFToken string `json:"csrf_token"`
		}
		must(t, json.NewDecoder(res.Body).Decode(&lr))
		res.Body.Close()
		csrf = lr.CSRFToken
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/sim/_sim/stats", ""}, {"POST", "/sim/_sim/faults", `{}`}, {"POST", "/sim/_sim/reset", ""},
			{"POST", "/sim/_sim/numbers/account", `{"phone_number_id":"` + demoPhoneNumberID + `","event":"VERIFIED_ACCOUNT"}`},
		} {
			if got := call("", c.method, c.path, c.body); got != http.StatusOK {
				t.Errorf("the operator: %s %s → %d, want 200", c.method, c.path, got)
			}
		}
	})
}
