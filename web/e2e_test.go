package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// chrome drives a headless Chromium against env's server and saves screenshots under
// web/testdata/screenshots/<TestName>/ (gitignored; PREGON_SCREENSHOTS overrides the folder).
type chrome struct {
	t    *testing.T
	env  *testEnv
	ctx  context.Context
	dir  string
	shot int
}

// requireChromium skips the test when Chromium is not installed.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s not found: `make test` installs Chromium (apt-get install chromium)", chromiumPath)
	}
}

func newChrome(t *testing.T, env *testEnv) *chrome {
	t.Helper()
	requireChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser (no timeout on this first call)
		t.Fatalf("starting Chromium: %v", err)
	}
	dir := os.Getenv("PREGON_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots")
	}
	dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &chrome{t: t, env: env, ctx: ctx, dir: dir}
}

// run runs actions (30 s at most), failing the test with what was being done.
func (c *chrome) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		c.failed(what, err)
	}
}

// failed saves what the browser shows and its location, then fails the test.
func (c *chrome) failed(what string, err error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if buf, e := chromedp.Run(ctx, chromedp.FullScreenshot(100)); e == nil {
		os.WriteFile(filepath.Join(c.dir, "failure.png"), buf, 0o644)
	}
	html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	c.t.Fatalf("%s (at %s): %v\n%s", what, loc, err, truncate(html, 3000))
}

// get runs one action that returns a value.
func get[T any](c *chrome, what string, a chromedp.Action[T]) T {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		c.failed(what, err)
	}
	return v
}

// visit opens path and waits for the page's main element.
func (c *chrome) visit(path string) {
	c.t.Helper()
	c.run("opening "+path, chromedp.Navigate(c.env.http.URL+path), chromedp.WaitReady(chromedp.CSS("main")))
}

// screenshots saves the current page at desktop (1280×800) and phone (390×844) widths.
func (c *chrome) screenshots(name string) {
	c.t.Helper()
	c.shot++
	for _, v := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
		emu := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if v.mobile {
			emu = append(emu, chromedp.EmulateMobile)
		}
		c.run("resizing for "+name, chromedp.EmulateViewport(v.w, v.h, emu...),
			chromedp.Sleep(150*time.Millisecond)) // let the layout settle after the resize
		if v.mobile {
			// nothing may stick out sideways at phone width (tables scroll inside their box)
			wide := get(c, "measuring "+name, chromedp.Evaluate[string](`(function () {
				if (document.documentElement.scrollWidth <= 391) return "";
				var out = [];
				document.querySelectorAll("body *").forEach(function (e) {
					var r = e.getBoundingClientRect();
					if (r.right > 391 && (!e.closest(".table-wrap") || getComputedStyle(e).position === "absolute")) out.push(e.tagName + "." + e.className + "#" + e.id + " " + Math.round(r.right));
				});
				return "scrollWidth " + document.documentElement.scrollWidth + ": " + out.slice(0, 8).join("; ");
			})()`))
			if wide != "" {
				c.t.Errorf("%s: wider than the phone screen: %s", name, wide)
			}
		}
		buf := get(c, "screenshot "+name, chromedp.FullScreenshot(100))
		f := filepath.Join(c.dir, fmt.Sprintf("%02d-%s-%s.png", c.shot, name, v.suffix))
		if err := os.WriteFile(f, buf, 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	c.run("restoring the viewport", chromedp.EmulateViewport(1280, 800))
}

// text reads the text of the first element selector matches.
func (c *chrome) text(selector string) string {
	c.t.Helper()
	return get(c, "reading "+selector, chromedp.Text(chromedp.CSS(selector)))
}

// login fills the login form as a person would.
func (c *chrome) login(email string) {
	c.t.Helper()
	c.visit("/login")
	c.run("logging in",
		chromedp.SendKeys(chromedp.CSS("#f-email"), email),
		chromedp.SendKeys(chromedp.CSS("#f-password"), testPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".who")),
	)
}

func TestBrowserLoginDashboardSettings(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	env := newTestEnv(t)
	seedDashboard(t, env)
	c := newChrome(t, env)

	c.visit("/login")
	c.screenshots("login")
	// a wrong password shows the error on the page
	c.run("bad login",
		chromedp.SendKeys(chromedp.CSS("#f-email"), "owner@tienda.test"),
		chromedp.SendKeys(chromedp.CSS("#f-password"), "equivocada-123"),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#form-error")),
	)
	if got := c.text("#form-error"); !strings.Contains(got, "incorrectos") {
		t.Fatalf("login error %q", got)
	}
	running := seedRunning(t, env, 4)
	c.login("owner@tienda.test")
	if got := c.text("h1"); got != "Inicio" {
		t.Fatalf("dashboard h1 %q", got)
	}
	// live progress: recipients move on the server, the bar follows without a reload
	sel := fmt.Sprintf(`[data-campaign="%d"] progress`, running)
	c.waitJS("the running campaign listed", fmt.Sprintf(`document.querySelector('%s').value === 0`, sel), 10*time.Second)
	c.run("marking the page", js(`window.__notReloaded = true`))
	if _, err := env.db.Exec(context.Background(), `UPDATE recipients SET state = 'sent', sent_at = now() WHERE campaign_id = $1 AND id IN (SELECT id FROM recipients WHERE campaign_id = $1 ORDER BY id LIMIT 3)`, running); err != nil {
		t.Fatal(err)
	}
	c.waitJS("the bar moving to 75 %", fmt.Sprintf(`document.querySelector('%s').value === 75 && window.__notReloaded === true`, sel), 15*time.Second)
	// counts the page updates are grouped as the server groups them, 4 digits too
	if got := get(c, "formatting a count", chromedp.Evaluate[string](`Pregon.num(1234) + " " + Pregon.num(1234567)`)); got != "1.234 1.234.567" {
		t.Fatalf("live counts formatted as %q in Spanish, want 1.234 1.234.567", got)
	}
	c.screenshots("dashboard")

	// the campaign page's funnel follows too
	c.visit(fmt.Sprintf("/campaigns/%d", running))
	c.run("marking the page", js(`window.__notReloaded = true`))
	if _, err := env.db.Exec(context.Background(), `UPDATE recipients SET state = 'read', delivered_at = now(), read_at = now() WHERE campaign_id = $1 AND state = 'sent'`, running); err != nil {
		t.Fatal(err)
	}
	c.waitJS("the funnel counting reads", `document.querySelector('#funnel li[data-step="read"] .n').textContent.trim() === "3" && window.__notReloaded === true`, 15*time.Second)
	c.screenshots("campaign-running")

	c.visit("/settings")
	// the browser's own validation catches what it can (required, min/max); the server's
	// message is shown next to the field for what it lets through, and the boxes ticked or
	// unticked before it stay so
	const autoResume = `document.querySelector('#workspace input[name="settings.auto_resume"]').checked`
	stored := get(c, "reading auto-resume", chromedp.Evaluate[bool](autoResume))
	c.run("setting a bad ratio",
		chromedp.SetAttributeValue(chromedp.CSS("#f-breaker_ratio"), "type", "text"),
		chromedp.SetValue(chromedp.CSS("#f-breaker_ratio"), "7"),
		chromedp.Click(chromedp.CSS(`#workspace input[name="settings.auto_resume"]`)),
		chromedp.Click(chromedp.CSS(`#workspace button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#e-breaker_ratio")),
	)
	if got := get(c, "reading auto-resume after the error", chromedp.Evaluate[bool](autoResume)); got == stored {
		t.Fatalf("auto-resume shows %v after the failed save, want %v as ticked", got, !stored)
	}
	c.screenshots("settings-error")
	c.run("creating a token",
		chromedp.SendKeys(chromedp.CSS("#f-token-name"), "CRM"),
		chromedp.Click(chromedp.CSS(`form[action="/settings/tokens"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#new-secret")),
	)
	secret := get(c, "reading the secret", chromedp.Value(chromedp.CSS("#new-secret")))
	if !strings.HasPrefix(secret, "pregon_") {
		t.Fatalf("secret %q", secret)
	}
	c.screenshots("settings-token")

	// English
	c.run("switching to English", chromedp.Click(chromedp.CSS(`.lang a[lang="en"]`)), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if got := c.text("main h1"); got != "Settings" {
		t.Fatalf("English h1 %q", got)
	}
	c.visit("/")
	if got := get(c, "formatting a count in English", chromedp.Evaluate[string](`Pregon.num(1234)`)); got != "1,234" {
		t.Fatalf("live counts formatted as %q in English, want 1,234", got)
	}
	c.screenshots("dashboard-en")
}
