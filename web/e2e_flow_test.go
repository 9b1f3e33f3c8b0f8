package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

const (
	simPhoneNumberID = "109876543210777"
	simWABAID        = "209876543210777"
)

// newLiveEnv is newTestEnv with everything running: River workers (imports, launches, pacing,
// sends, webhooks) and the WhatsApp simulator, which posts signed status webhooks back to the
// server, so a campaign goes all the way to completed.
func newLiveEnv(t *testing.T) *testEnv {
	t.Helper()
	env := newTestEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("PREGON_TEST_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	sm := sim.New(sim.Config{
		Seed:       7,
		WebhookURL: env.http.URL + api.WebhookPath,
		AppSecret:  api.SimulatorAppSecret(env.cfg),
		Numbers: []sim.Number{{PhoneNumberID: simPhoneNumberID, WABAID: simWABAID, DisplayPhoneNumber: "573105550777",
			VerifiedName: "Tienda Andina", MPS: 80, MessagingLimitTier: "TIER_UNLIMITED"}},
		Templates: []sim.Template{{WABAID: simWABAID, Template: whatsapp.Template{
			Name: "promo_navidad", Language: "es", Status: "APPROVED", Category: "MARKETING", ParameterFormat: "POSITIONAL",
			Components: []whatsapp.TemplateComponent{
				{Type: "HEADER", Format: "TEXT", Text: "¡Navidad en Tienda Andina!"},
				{Type: "BODY", Text: "Hola {{1}}, esta semana tienes 20% de descuento en toda la tienda."},
				{Type: "FOOTER", Text: "Responde BAJA para no recibir más mensajes"},
			},
		}}},
		Statuses: sim.StatusConfig{DeliveredProb: 1, ReadProb: 1},
		Logger:   log,
	})
	sm.Start(ctx)
	simSrv := httptest.NewServer(sm)
	t.Cleanup(simSrv.Close)
	waClient := whatsapp.New(whatsapp.Config{BaseURL: simSrv.URL, Token: "sim-token"})
	wa := func(store.SenderNumber) (*whatsapp.Client, error) { return waClient, nil }

	client, err := jobs.NewClient(env.db, jobs.Deps{Config: env.cfg, DB: env.db, Box: env.box, Logger: log, WhatsApp: wa},
		jobs.ClientConfig{Workers: true, SendWorkers: 10})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Deps{Config: env.cfg, DB: env.db, River: client, Box: env.box, Logger: log, WhatsApp: wa})
	if err != nil {
		t.Fatal(err)
	}
	if err := Register(srv, Deps{DB: env.db, River: client, Box: env.box, Config: env.cfg, Logger: log}); err != nil {
		t.Fatal(err)
	}
	env.srv = srv
	env.http.Config.Handler = srv.Handler() // same URL the simulator posts webhooks to
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		client.StopAndCancel(sctx)
	})
	// the owner's only workspace is A here: the login lands there
	if _, err := env.db.Exec(ctx, `DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2`, env.wsB.ID, env.users[store.RoleOwner].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.db.Exec(ctx, `UPDATE workspaces SET messaging_limit = -1 WHERE id = $1`, env.wsA.ID); err != nil {
		t.Fatal(err)
	}
	return env
}

// click clicks selector, accepting any confirm() the click opens.
func (c *chrome) click(selector string) {
	c.t.Helper()
	c.run("clicking "+selector,
		js(`window.confirm = function () { return true; }`),
		chromedp.Click(chromedp.CSS(selector)))
}

// js runs a JavaScript statement as a step.
func js(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](expr+"; null")(ctx, t)
		return chromedp.Void{}, err
	}
}

// waitJS evaluates a JavaScript expression until it is true (timeout d, at least 30 s: one
// evaluation may take its 5 s on a machine loaded by the whole suite, and a shorter timeout
// proves nothing more, as what is waited for must come true either way). Pages that reload
// themselves (live progress) are fine: an evaluation cut by a navigation is retried.
func (c *chrome) waitJS(what, expr string, d time.Duration) {
	c.t.Helper()
	d = max(d, 30*time.Second)
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(function(){try{return !!("+expr+");}catch(e){return false;}})()"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	c.failed(what, fmt.Errorf("not true after %s (last error: %v)", d, last))
}

func (c *chrome) location() string {
	c.t.Helper()
	loc := get(c, "reading the location", chromedp.Location())
	if i := strings.Index(loc, "://"); i >= 0 {
		loc = loc[i+3:]
		if j := strings.Index(loc, "/"); j >= 0 {
			return loc[j:]
		}
	}
	return loc
}

// TestBrowserCampaignFlow is the whole job in a browser: connect a simulated number, sync
// templates, import the sample workbook, build a segment, prepare and schedule a campaign,
// watch it complete, and export the report.
func TestBrowserCampaignFlow(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	env := newLiveEnv(t)
	c := newChrome(t, env)
	c.login("owner@tienda.test")

	// 1. connect the number (simulator)
	c.visit("/settings#numbers")
	c.click("details.number-add summary")
	c.run("filling the number",
		chromedp.SendKeys(chromedp.CSS("#f-phone_number_id"), simPhoneNumberID),
		chromedp.SendKeys(chromedp.CSS("#f-waba_id"), simWABAID),
		chromedp.SendKeys(chromedp.CSS("#f-new-display"), "+57 310 555 0777"),
		chromedp.Click(chromedp.CSS(`form[action="/settings/numbers"] input[name="use_simulator"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/settings/numbers"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash-ok")),
	)
	c.screenshots("number-connected")

	// 2. templates from the (simulated) WABA
	c.visit("/templates")
	c.click("#sync-templates")
	c.run("waiting for the synced template", chromedp.WaitVisible(chromedp.CSS("tr[data-template]")))
	if got := c.text("table.templates"); !strings.Contains(got, "promo_navidad") {
		t.Fatalf("templates: %q", got)
	}
	c.screenshots("templates")

	// 3. import the sample workbook
	dir := t.TempDir()
	book := filepath.Join(dir, "clientes.xlsx")
	if err := os.WriteFile(book, sampleWorkbook(t), 0o644); err != nil {
		t.Fatal(err)
	}
	c.visit("/imports/new")
	c.screenshots("import-upload")
	c.run("uploading", chromedp.SetUploadFiles(chromedp.CSS("#f-file"), []string{book}),
		chromedp.Click(chromedp.CSS("#upload")), chromedp.WaitVisible(chromedp.CSS("#mapping-form")))
	c.run("declaring consent",
		chromedp.SetValue(chromedp.CSS(`tr[data-column="C"] select[data-kind]`), "attribute"),
		js(`document.querySelector('tr[data-column="C"] select[data-kind]').dispatchEvent(new Event("change"))`),
		chromedp.SetValue(chromedp.CSS(`tr[data-column="C"] input[data-attr]`), "ciudad"),
		chromedp.Click(chromedp.CSS("#f-consent-declared")),
		chromedp.SendKeys(chromedp.CSS("#f-consent-source"), "formulario de la tienda"),
	)
	c.screenshots("import-mapping")
	c.click("#start-import")
	c.waitJS("the import finishing", `!!document.querySelector("#import-done")`, 60*time.Second)
	if got := c.text(`[data-count="inserted"]`); got != "2" {
		t.Fatalf("inserted %q, want 2 (one invalid, one repeated)", got)
	}
	if got := c.text(`[data-count="rejected"]`); got == "0" {
		t.Fatalf("rejected %q, want the invalid row", got)
	}
	c.run("error report link", chromedp.WaitVisible(chromedp.CSS("#errors-csv")))
	c.screenshots("import-result")

	// 4. a segment built without JSON
	c.visit("/segments/new")
	c.run("building the segment",
		chromedp.SendKeys(chromedp.CSS("#f-name"), "Clientes VIP"),
		chromedp.Click(chromedp.CSS("#builder .add-condition")),
		chromedp.WaitVisible(chromedp.CSS("#builder .cond input")),
		chromedp.SendKeys(chromedp.CSS("#builder .cond input"), "vip"),
	)
	c.waitJS("the live count", `document.querySelector("#eligible").textContent.trim() === "2"`, 15*time.Second)
	c.screenshots("segment-builder")
	c.click("#save-segment")
	c.run("segment saved", chromedp.WaitVisible(chromedp.CSS(".flash-ok")))
	if def := get(c, "definition", chromedp.Value(chromedp.CSS("#f-definition"))); !strings.Contains(def, `"vip"`) {
		t.Fatalf("saved definition %s", def)
	}

	// 5. the campaign wizard
	c.visit("/campaigns/new")
	c.run("step 1",
		chromedp.SendKeys(chromedp.CSS("#f-name"), "Navidad VIP"),
		chromedp.Click(chromedp.CSS(`#wizard-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="template_id"]`)))
	c.screenshots("wizard-template")
	c.run("step 2", chromedp.Click(chromedp.CSS(`input[name="template_id"]`)), chromedp.Click(chromedp.CSS(`#wizard-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`select[name="var.0.source"]`)))
	c.run("step 3",
		chromedp.SetValue(chromedp.CSS(`select[name="var.0.field"]`), "first_name"),
		chromedp.SendKeys(chromedp.CSS(`input[name="var.0.fallback"]`), "cliente"),
		chromedp.Click(chromedp.CSS(`#wizard-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="segment_id"]`)))
	c.run("step 4", chromedp.Click(chromedp.CSS(`input[name="segment_id"]`)), chromedp.Click(chromedp.CSS(`#wizard-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="window_start"]`)))
	c.run("step 5 (all day, every day)",
		chromedp.SetValue(chromedp.CSS(`input[name="window_start"]`), "00:00"),
		chromedp.SetValue(chromedp.CSS(`input[name="window_end"]`), "00:00"),
		chromedp.Click(chromedp.CSS(`#wizard-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".plan")))
	if got := c.text(".plan .will-send"); got != "2" {
		t.Fatalf("plan will send to %q, want 2", got)
	}
	c.screenshots("wizard-review")
	c.run("test send", chromedp.SendKeys(chromedp.CSS("#f-phone"), "+573001112233"), chromedp.Click(chromedp.CSS("#test-send")),
		chromedp.WaitVisible(chromedp.CSS("#test-result")))
	if got := c.text("#test-result"); !strings.Contains(got, "wamid") && !strings.Contains(got, "+573001112233") {
		t.Fatalf("test send: %q", got)
	}
	var broadcast bool
	broadcast = get(c, "broadcast checkbox", chromedp.Evaluate[bool](`!!document.querySelector('input[name="confirm_broadcast"]')`))
	if broadcast {
		c.click(`input[name="confirm_broadcast"]`)
	}
	c.click("#schedule")
	c.run("scheduled", chromedp.WaitVisible(chromedp.CSS("#state")))

	// 6. watch it complete (the page polls and reloads itself when done); a completed campaign's
	// page no longer polls, so reads reported after the last send show when it is reloaded
	c.waitJS("the campaign completing", `document.querySelector("#state") && document.querySelector("#state").classList.contains("state-completed")`, 90*time.Second)
	c.waitJS("the funnel showing reads", `(function(){var n=document.querySelector('ul.funnel li[data-step="read"] .n');
		if (n && n.textContent.trim()==="2") return true;
		if (!window.__reloading) window.__reloading = setTimeout(function(){ location.reload(); }, 1000);
		return false;})()`, 30*time.Second)
	campaignPath := c.location()
	c.screenshots("campaign-completed")

	// 7. the report and its export
	id := strings.TrimPrefix(campaignPath, "/campaigns/")
	c.visit("/reports/campaigns/" + id)
	c.run("report", chromedp.WaitVisible(chromedp.CSS("#export-csv")))
	c.screenshots("report")
	csv := get(c, "downloading the CSV", chromedp.Evaluate[string](fmt.Sprintf(
		`fetch("/api/v1/exports/campaigns/%s?format=csv", {credentials: "same-origin"}).then(function (r) { return r.text(); })`, id),
		chromedp.EvalAwaitPromise))
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) != 3 {
		t.Fatalf("the export has %d lines, want a header and 2 recipients:\n%s", len(lines), csv)
	}

	// the contact's page shows the campaign message on the timeline
	c.visit("/contacts?q=Ana")
	c.click("tr[data-contact] a")
	c.run("contact page", chromedp.WaitVisible(chromedp.CSS("ol.timeline")))
	if got := c.text("ol.timeline"); !strings.Contains(got, "Navidad VIP") {
		t.Fatalf("timeline: %q", got)
	}
	c.screenshots("contact")
	c.visit("/")
	c.screenshots("dashboard")

	if resp, err := http.Get(env.http.URL + "/healthz"); err == nil {
		resp.Body.Close()
	}
}
