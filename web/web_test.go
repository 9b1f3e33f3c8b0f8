package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

func TestTemplatesParseAndMessagesComplete(t *testing.T) {
	t.Parallel()
	tm, err := parseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"login", "error", "dashboard", "settings"} {
		if tm.pages[name] == nil {
			t.Errorf("page %s not parsed", name)
		}
	}
	// a key missing from the catalog is caught
	catalog := map[string][2]string{"test.only": {"sí", ""}}
	for k, v := range messages {
		catalog[k] = v
	}
	if err := checkMessages(catalog); err == nil || !strings.Contains(err.Error(), "test.only") {
		t.Fatalf("checkMessages with a missing English text: %v", err)
	}
	delete(catalog, "login.title")
	if err := checkMessages(catalog); err == nil || !strings.Contains(err.Error(), "login.title") {
		t.Fatalf("checkMessages with a key the templates use missing: %v", err)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)

	t.Run("RedirectsToLoginAndBack", func(t *testing.T) {
		b := env.anon()
		p := b.get("/settings").expect(t, http.StatusOK)
		if p.URL != "/login" {
			t.Fatalf("landed on %s, want /login", p.URL)
		}
		p.has(t, `form[action="/login"] input[name="csrf_token"]`)
		p.has(t, `label[for="f-email"]`)
		p.has(t, `label[for="f-password"]`)
		if v, _ := p.Doc.Find(`input[name="next"]`).Attr("value"); v != "/settings" {
			t.Fatalf("next = %q", v)
		}
		csrf, _ := p.Doc.Find(`input[name="csrf_token"]`).Attr("value")
		p = b.post("/login", url.Values{"csrf_token": {csrf}, "email": {"owner@tienda.test"}, "password": {testPassword}, "next": {"/settings"}})
		p.expect(t, http.StatusOK)
		if p.URL != "/settings" {
			t.Fatalf("after login at %s, want /settings", p.URL)
		}
		p.contains(t, ".who", "Ana owner")
		// two workspaces: the switch is shown
		p.has(t, `form[action="/switch"] select[name="workspace_id"] option`)

		// log out with the CSRF token of the page
		tok, _ := p.Doc.Find(`form[action="/logout"] input[name="csrf_token"]`).Attr("value")
		p = b.post("/logout", url.Values{"csrf_token": {tok}}).expect(t, http.StatusOK)
		if p.URL != "/login" {
			t.Fatalf("after logout at %s", p.URL)
		}
		p.has(t, ".flash-ok")
		if b.get("/").URL != "/login" {
			t.Fatal("session still alive after logout")
		}
	})

	t.Run("BadPasswordShowsError", func(t *testing.T) {
		b := env.anon()
		p := b.get("/login")
		csrf, _ := p.Doc.Find(`input[name="csrf_token"]`).Attr("value")
		p = b.post("/login", url.Values{"csrf_token": {csrf}, "email": {"analyst@tienda.test"}, "password": {"nope-nope-nope"}})
		p.expect(t, http.StatusUnauthorized)
		p.contains(t, "#form-error", "Correo o contraseña incorrectos")
		if v, _ := p.Doc.Find(`#f-email`).Attr("value"); v != "analyst@tienda.test" {
			t.Fatalf("e-mail not kept: %q", v)
		}
	})

	t.Run("LoginWithoutCSRFRefused", func(t *testing.T) {
		b := env.anon()
		p := b.post("/login", url.Values{"csrf_token": {"forged"}, "email": {"owner@tienda.test"}, "password": {testPassword}})
		p.expect(t, http.StatusForbidden)
		if b.get("/").URL != "/login" {
			t.Fatal("a login without the form's CSRF token started a session")
		}
	})

	t.Run("FormsWithoutCSRFRefused", func(t *testing.T) {
		b := env.as(store.RoleOwner)
		p := b.post("/settings/tokens", url.Values{"csrf_token": {"wrong"}, "name": {"x"}, "role": {"analyst"}})
		p.expect(t, http.StatusForbidden)
		p.contains(t, "main", "El formulario venció")
	})

	t.Run("LanguageSwitchEnglish", func(t *testing.T) {
		b := env.as(store.RoleAnalyst)
		p := b.get("/lang/en?next=/settings").expect(t, http.StatusOK)
		if p.URL != "/settings" {
			t.Fatalf("language switch went to %s", p.URL)
		}
		if l, _ := p.Doc.Find("html").Attr("lang"); l != "en" {
			t.Fatalf("html lang = %q", l)
		}
		p.contains(t, "h1", "Settings")
		p = b.get("/lang/es?next=//evil.example").expect(t, http.StatusOK)
		if p.URL != "/" {
			t.Fatalf("open redirect: landed on %s", p.URL)
		}
		// Browsers drop tabs and newlines and read "\" as "/": each of these is another site.
		for _, next := range []string{"/\t/evil.example/x", "/\n/evil.example", "/\\evil.example",
			"https://evil.example", "/\r\n//evil.example", "///evil.example"} {
			if got := localPath(next); got != "/" {
				t.Errorf("localPath(%q) = %q, want /", next, got)
			}
		}
		for _, ok := range []string{"/settings", "/contacts?tag=vip&cursor=3", "/campaigns/4#log"} {
			if got := localPath(ok); got != ok {
				t.Errorf("localPath(%q) = %q, want it kept", ok, got)
			}
		}
		p.contains(t, "h1", "Inicio")
	})

	t.Run("WorkspaceSwitch", func(t *testing.T) {
		b := env.as(store.RoleOwner)
		p := b.post("/switch", url.Values{"workspace_id": {itoa(env.wsB.ID)}}).expect(t, http.StatusOK)
		p.contains(t, ".flash-ok", "Zapatería Sur")
		if v, _ := p.Doc.Find(`#ws-select option[selected]`).Attr("value"); v != itoa(env.wsB.ID) {
			t.Fatalf("selected workspace %q", v)
		}
		// the owner is an analyst in B: read-only settings
		p = b.get("/settings").expect(t, http.StatusOK)
		p.has(t, ".notice")
		p.hasNot(t, `#workspace button[type="submit"]`)
		// a workspace the user does not belong to
		other := env.session(env.userB.ID, env.wsB.ID)
		other.post("/switch", url.Values{"workspace_id": {itoa(env.wsA.ID)}}).expect(t, http.StatusNotFound)
	})
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	_, c := seedDashboard(t, env)

	for _, role := range allRoles {
		t.Run(string(role), func(t *testing.T) {
			p := env.as(role).get("/").expect(t, http.StatusOK)
			card := p.has(t, `article.number`)
			if card.Length() != 1 {
				t.Fatalf("%d number cards, want 1 (workspace B's must not show)", card.Length())
			}
			p.contains(t, "article.number", "+57 300 000 0001")
			p.contains(t, "article.number .mps", "20 msj/s")
			p.has(t, "article.number .q-green")
			p.has(t, "article.number progress.bar")
			p.contains(t, "article.number .phone-warning", "quedan 3 días")
			p.has(t, `[data-poll] li[data-campaign="`+itoa(c.ID)+`"] progress`)
			p.contains(t, ".campaign-list", "Black Friday")
			if strings.Contains(p.text(".campaign-list"), "Borrador") {
				t.Fatal("a draft is listed among active campaigns")
			}
			if role == store.RoleAnalyst {
				p.hasNot(t, `a[href="/campaigns/new"]`)
			} else {
				p.has(t, `a[href="/campaigns/new"]`)
			}
			if role == store.RoleOwner {
				p.has(t, `a[href="/settings#numbers"]`)
			} else {
				p.hasNot(t, `a[href="/settings#numbers"]`)
			}
		})
	}

	t.Run("ProgressJSON", func(t *testing.T) {
		b := env.as(store.RoleAnalyst)
		p := b.get("/ui/progress.json").expect(t, http.StatusOK)
		if !strings.Contains(p.Body, `"state":"scheduled"`) || !strings.Contains(p.Body, `"id":`+itoa(c.ID)) || !strings.Contains(p.Body, `"funnel":{`) {
			t.Fatalf("progress: %s", p.Body)
		}
		// another workspace's campaign id gives nothing
		other := env.session(env.userB.ID, env.wsB.ID)
		p = other.get("/ui/progress.json?id="+itoa(c.ID)).expect(t, http.StatusOK)
		if strings.Contains(p.Body, "Black") || strings.Contains(p.Body, `"id":`) {
			t.Fatalf("cross-workspace progress leaked: %s", p.Body)
		}
	})
}

func TestSettings(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)

	t.Run("Roles", func(t *testing.T) {
		for _, role := range allRoles {
			p := env.as(role).get("/settings").expect(t, http.StatusOK)
			p.has(t, `#workspace select[name="time_zone"]`)
			if role == store.RoleOwner {
				p.has(t, `#workspace button[type="submit"]`)
				p.has(t, `#users table.users tr[data-user]`)
				p.has(t, `#tokens form[action="/settings/tokens"]`)
				p.has(t, `form[action="/settings/numbers"]`)
				p.hasNot(t, ".notice")
			} else {
				p.has(t, ".notice")
				p.has(t, `#workspace fieldset[disabled]`)
				p.hasNot(t, `#workspace button[type="submit"]`)
				p.hasNot(t, `#users`)
				p.hasNot(t, `#tokens`)
				p.hasNot(t, `form[action="/settings/numbers"]`)
				// and the server refuses anyway
				env.as(role).post("/settings/workspace", url.Values{"name": {"x"}}).expect(t, http.StatusForbidden)
				env.as(role).post("/settings/tokens", url.Values{"name": {"x"}, "role": {"owner"}}).expect(t, http.StatusForbidden)
			}
		}
	})

	t.Run("WorkspaceSavesAndShowsErrorsNextToFields", func(t *testing.T) {
		b := env.as(store.RoleOwner)
		form := url.Values{"name": {"Tienda Andina SAS"}, "time_zone": {"America/Lima"}, "default_country": {"PE"}, "messaging_limit": {"2000"},
			"settings.quiet_hours_start": {"21:00"}, "settings.quiet_hours_end": {"07:30"}, "settings.frequency_cap": {"3"},
			"settings.frequency_cap_days": {"7"}, "settings.pause_on_yellow": {"on"}, "settings.breaker_window": {"100"},
			"settings.breaker_failure_ratio": {"0,3"}, "settings.opt_out_keywords": {"BAJA\nSTOP\n"}}
		p := b.post("/settings/workspace", form).expect(t, http.StatusOK)
		p.has(t, ".flash-ok")
		ws, _ := store.WorkspaceGetByID(context.Background(), env.db, env.wsA.ID)
		if ws.TimeZone != "America/Lima" || ws.MessagingLimit != 2000 || ws.Settings.FrequencyCap != 3 || !ws.Settings.PauseOnYellow ||
			ws.Settings.BreakerFailureRatio != 0.3 || len(ws.Settings.OptOutKeywords) != 2 || ws.Settings.QuietHoursStart != "21:00" {
			t.Fatalf("workspace not saved: %+v", ws)
		}
		if v, _ := p.Doc.Find(`#f-time_zone option[selected]`).Attr("value"); p.text(`#f-time_zone option[selected]`) != "America/Lima" {
			t.Fatalf("time zone not shown: %q", v)
		}

		form.Set("name", "")
		form.Set("settings.quiet_hours_start", "25:00")
		// the boxes as ticked in the failed submit, not as stored
		form.Del("settings.pause_on_yellow")
		form.Set("settings.auto_resume", "on")
		p = b.post("/settings/workspace", form).expect(t, http.StatusUnprocessableEntity)
		p.contains(t, `#e-quiet_start`, "hora inválida")
		p.hasNot(t, `#workspace input[name="settings.pause_on_yellow"][checked]`)
		p.has(t, `#workspace input[name="settings.auto_resume"][checked]`)
		if v, _ := p.has(t, "#f-user-name").Attr("value"); v != "" {
			t.Fatalf("the add-user form shows %q from the workspace form", v)
		}
		if v, _ := p.Doc.Find(`#f-quiet_start`).Attr("aria-invalid"); v != "true" {
			t.Fatal("the bad field is not marked invalid")
		}
		form.Set("settings.quiet_hours_start", "21:00")
		p = b.post("/settings/workspace", form).expect(t, http.StatusUnprocessableEntity)
		p.contains(t, `#e-name`, "nombre es obligatorio")
		p.has(t, `#form-error`)
	})

	t.Run("UsersAndRoles", func(t *testing.T) {
		b := env.as(store.RoleOwner)
		p := b.post("/settings/users", url.Values{"email": {"nuevo@tienda.test"}, "name": {"Nuevo"}, "password": {"corta"}, "role": {"analyst"}})
		p.expect(t, http.StatusUnprocessableEntity)
		p.contains(t, "#e-password", "al menos 10")
		if v, _ := p.Doc.Find("#f-email").Attr("value"); v != "nuevo@tienda.test" {
			t.Fatalf("typed e-mail lost: %q", v)
		}
		p.has(t, `#users details[open] #f-user-name[value="Nuevo"]`)
		// the workspace form shares the field name "name": it keeps the business name
		if v, _ := p.has(t, "#workspace #f-name").Attr("value"); v != "Tienda Andina SAS" {
			t.Fatalf("after a failed add-user the business name field shows %q", v)
		}
		if v, _ := p.has(t, `#f-user-role option[selected]`).Attr("value"); v != "analyst" {
			t.Fatalf("typed role lost: %q", v)
		}
		p = b.post("/settings/users", url.Values{"email": {"nuevo@tienda.test"}, "name": {"Nuevo"}, "password": {testPassword}, "role": {"analyst"}})
		p.expect(t, http.StatusOK).has(t, ".flash-ok")
		row := p.has(t, `tr[data-user]:contains("nuevo@tienda.test")`)
		id, _ := row.Attr("data-user")
		p = b.post("/settings/users/"+id+"/role", url.Values{"role": {"marketer"}}).expect(t, http.StatusOK)
		if v, _ := p.Doc.Find(`#role-` + id + ` option[selected]`).Attr("value"); v != "marketer" {
			t.Fatalf("role shown %q", v)
		}
		p = b.post("/settings/users/"+id+"/remove", nil).expect(t, http.StatusOK)
		p.hasNot(t, `tr[data-user="`+id+`"]`)
		// the last owner cannot demote themselves: error next to the role
		own := itoa(env.users[store.RoleOwner].ID)
		p = b.post("/settings/users/"+own+"/role", url.Values{"role": {"analyst"}}).expect(t, http.StatusUnprocessableEntity)
		p.contains(t, "#e-role-err-"+own, "al menos un propietario")
	})

	t.Run("TokensShownOnceAndRevoked", func(t *testing.T) {
		b := env.as(store.RoleOwner)
		p := b.post("/settings/tokens", url.Values{"name": {"CRM"}, "role": {"marketer"}}).expect(t, http.StatusCreated)
		secret, _ := p.has(t, "#new-secret").Attr("value")
		if !strings.HasPrefix(secret, store.TokenPrefix) {
			t.Fatalf("secret %q", secret)
		}
		p = b.get("/settings").expect(t, http.StatusOK)
		p.hasNot(t, "#new-secret")
		if strings.Contains(p.Body, secret) {
			t.Fatal("the secret is shown again")
		}
		id, _ := p.has(t, `tr[data-token]:contains("CRM")`).Attr("data-token")
		p = b.post("/settings/tokens/"+id+"/revoke", nil).expect(t, http.StatusOK)
		p.has(t, `tr[data-token="`+id+`"].revoked`)
		p = b.post("/settings/tokens", url.Values{"name": {""}, "role": {"marketer"}}).expect(t, http.StatusUnprocessableEntity)
		p.contains(t, "#e-token-name", "nombre")
		// another workspace's token: 404
		env.session(env.userB.ID, env.wsB.ID).post("/settings/tokens/"+id+"/revoke", nil).expect(t, http.StatusNotFound)
	})

	t.Run("Numbers", func(t *testing.T) {
		b := env.as(store.RoleOwner)
		p := b.post("/settings/numbers", url.Values{"phone_number_id": {"+57 300"}, "waba_id": {"55"}}).expect(t, http.StatusUnprocessableEntity)
		p.contains(t, "#e-phone_number_id", "phone_number_id")
		p.has(t, "details.number-add[open]")
		p = b.post("/settings/numbers", url.Values{"phone_number_id": {"3001"}, "waba_id": {"4001"}, "display_number": {"+57 311"},
			"access_token": {"EAAG-secret"}, "coexistence": {"on"}}).expect(t, http.StatusOK)
		p.has(t, ".flash") // connected; its health cannot be read without a WhatsApp client here
		p = b.post("/settings/numbers", url.Values{"phone_number_id": {"3001"}, "waba_id": {"4001"}}).expect(t, http.StatusUnprocessableEntity)
		p.contains(t, "#e-phone_number_id", "ya está registrado") // next to the field, not only on top
		ns, _ := store.SenderNumberList(context.Background(), env.db, env.wsA.ID)
		if len(ns) != 1 || !ns[0].HasAccessToken || !ns[0].Coexistence {
			t.Fatalf("number: %+v", ns)
		}
		if got, _ := env.box.Open(ns[0].AccessTokenEnc); got != "EAAG-secret" {
			t.Fatalf("access token sealed as %q", got)
		}
		if strings.Contains(p.Body, "EAAG-secret") {
			t.Fatal("the access token is echoed back")
		}
		id := itoa(ns[0].ID)
		// no cap of its own: the field is empty, and saving the form unchanged works
		p = b.get("/settings").expect(t, http.StatusOK)
		if v, _ := p.has(t, "#f-n"+id+"-cap").Attr("value"); v != "" {
			t.Fatalf("throughput cap field shows %q for a number without a cap, want empty", v)
		}
		b.post("/settings/numbers/"+id, formOf(p, `form[action="/settings/numbers/`+id+`"]`)).expect(t, http.StatusOK)
		p = b.post("/settings/numbers/"+id, url.Values{"display_number": {"+57 311 222"}, "throughput_cap": {"-4"}, "status": {"active"}}).
			expect(t, http.StatusUnprocessableEntity)
		p.contains(t, "#e-n"+id+"-cap", "positivo")
		p = b.post("/settings/numbers/"+id, url.Values{"display_number": {"+57 311 222"}, "throughput_cap": {"5"}, "status": {"halted"}}).
			expect(t, http.StatusOK)
		n, _ := store.SenderNumberGetByID(context.Background(), env.db, env.wsA.ID, ns[0].ID)
		if n.Status != "halted" || n.EffectiveMPS() != 5 || !n.HasAccessToken || n.Coexistence {
			t.Fatalf("number after edit: %+v", n)
		}
		env.session(env.userB.ID, env.wsB.ID).post("/settings/numbers/"+id, url.Values{"status": {"active"}}).expect(t, http.StatusNotFound)
		// health check: owners only; without a WhatsApp client the failure is a flash
		env.as(store.RoleMarketer).post("/settings/numbers/"+id+"/check", nil).expect(t, http.StatusForbidden)
		p = b.post("/settings/numbers/"+id+"/check", nil).expect(t, http.StatusOK)
		p.has(t, ".flash")
		p.has(t, `form[action="/settings/numbers/`+id+`/check"]`)
	})
}

func TestErrorPages(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.as(store.RoleMarketer)
	p := b.post("/settings/users/1/remove", nil).expect(t, http.StatusForbidden)
	p.contains(t, "main", "Su rol no permite")
	p.has(t, "nav .nav") // the chrome is still there
	// an API token cannot open pages
	req, _ := http.NewRequest(http.MethodGet, env.http.URL+"/", nil)
	secret, _, _ := store.APITokenCreate(context.Background(), env.db, store.APITokenCreateParams{WorkspaceID: env.wsA.ID, Name: "t", Role: store.RoleOwner})
	req.Header.Set("Authorization", "Bearer "+secret)
	if got := env.anon().do(req); got.URL != "/login" {
		t.Fatalf("a bearer token opened %s", got.URL)
	}
	// static files
	if p := env.anon().get("/static/app.css"); p.Status != 200 || !strings.Contains(p.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("app.css: %d %s", p.Status, p.Header.Get("Content-Type"))
	}
	env.anon().get("/static/../web.go").expect(t, http.StatusNotFound)
	// a bad query parameter is the viewer's mistake, explained in Spanish: not a 500
	p = b.get("/campaigns?state=bogus").expect(t, http.StatusBadRequest)
	p.contains(t, "main", "estado desconocido")
	p.contains(t, `main li[data-path="state"]`, "state")
	p.has(t, "nav .nav")
	// unknown pages: HTML for people, JSON under /api/
	p = env.anon().get("/no-existe").expect(t, http.StatusNotFound)
	p.contains(t, "main", "No encontramos")
	if p = env.anon().get("/api/v2/nada"); p.Status != http.StatusNotFound || !strings.Contains(p.Body, `"code"`) {
		t.Fatalf("API 404: %d %s", p.Status, p.Body)
	}
}

// seedDashboard gives workspace A a coexistence number whose phone app was last seen 11 days
// ago, a scheduled campaign and a draft; workspace B gets a number of its own.
func seedDashboard(t testing.TB, env *testEnv) (store.SenderNumber, store.Campaign) {
	t.Helper()
	ctx := context.Background()
	seen := time.Now().Add(-11 * 24 * time.Hour)
	n, err := store.SenderNumberCreate(ctx, env.db, store.SenderNumberCreateParams{WorkspaceID: env.wsA.ID, PhoneNumberID: "1001",
		WABAID: "2001", DisplayNumber: "+57 300 000 0001", Coexistence: true, UseSimulator: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.db.Exec(ctx, `UPDATE sender_numbers SET last_phone_activity_at = $2, quality_rating = 'GREEN', messaging_limit_tier = 'TIER_250', verified_name = 'Tienda Andina' WHERE id = $1`, n.ID, seen); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SenderNumberCreate(ctx, env.db, store.SenderNumberCreateParams{WorkspaceID: env.wsB.ID, PhoneNumberID: "1002", WABAID: "2002", DisplayNumber: "+52 55 0000 0002"}); err != nil {
		t.Fatal(err)
	}
	c, err := store.CampaignCreate(ctx, env.db, store.Campaign{WorkspaceID: env.wsA.ID, Name: "Black Friday", SenderNumberID: &n.ID})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = store.CampaignTransition(ctx, env.db, env.wsA.ID, c.ID, store.CampaignScheduled, store.TransitionParams{Actor: store.ActorUser}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CampaignCreate(ctx, env.db, store.Campaign{WorkspaceID: env.wsA.ID, Name: "Borrador"}); err != nil {
		t.Fatal(err)
	}
	return n, c
}

func TestEnglishPages(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	_, c := seedDashboard(t, env)
	tp := seedTemplate(t, env, env.wsA.ID, "promo_navidad")
	seg := seedAudience(t, env, env.wsA.ID, 2)
	b := env.as(store.RoleOwner)
	b.get("/lang/en").expect(t, http.StatusOK)
	for path, h1 := range map[string]string{
		"/": "Dashboard", "/settings": "Settings", "/campaigns": "Campaigns", "/campaigns/" + itoa(c.ID): "Black Friday",
		"/campaigns/new": "New campaign", "/contacts": "Contacts", "/imports": "Imports", "/imports/new": "Import contacts",
		"/segments": "Segments", "/segments/" + itoa(seg): "Clientes VIP", "/segments/new": "New segment",
		"/templates": "Templates", "/templates/" + itoa(tp.ID): "promo_navidad", "/reports": "Reports",
		"/reports/campaigns/" + itoa(c.ID): "Black Friday",
	} {
		p := b.get(path).expect(t, http.StatusOK)
		if l, _ := p.Doc.Find("html").Attr("lang"); l != "en" {
			t.Fatalf("%s: lang %q", path, l)
		}
		p.contains(t, "main h1", h1)
		p.contains(t, "nav .nav", "Campaigns")
	}
}
