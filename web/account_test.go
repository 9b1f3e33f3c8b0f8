package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/pregon/pregon/store"
)

// TestBrowserAccountInvitationAndPassword: a person added by another workspace sees the
// invitation on their settings page and accepts it there (until then that workspace is not
// among theirs); they change their own password on the same page, in Spanish, and their
// other sessions end.
func TestBrowserAccountInvitationAndPassword(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	env := newTestEnv(t)
	ctx := context.Background()
	// B's owner adds A's marketer, an account that already exists: an invitation.
	b := env.session(env.userB.ID, env.wsB.ID)
	p := b.post("/settings/users", map[string][]string{"email": {"marketer@tienda.test"}, "role": {"analyst"}})
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "invitación") {
		t.Fatalf("inviting: %d %s", p.Status, p.Doc.Find(".flash").Text())
	}
	row := p.Doc.Find(`tr[data-user="` + itoa(env.users[store.RoleMarketer].ID) + `"]`)
	if strings.Contains(row.Text(), "Ana marketer") || row.Find(".badge.pending").Length() != 1 {
		t.Fatalf("B's user list shows the invited person as %q", strings.TrimSpace(row.Text()))
	}
	elsewhere := env.as(store.RoleMarketer) // the same person, logged in on another device

	c := newChrome(t, env)
	c.login("marketer@tienda.test")
	switcher := `Array.from(document.querySelectorAll('form[action="/switch"] option')).map(o => o.value).join(",")`
	if got := get(c, "reading the switcher", chromedp.Evaluate[string](switcher)); strings.Contains(got, itoa(env.wsB.ID)) {
		t.Fatalf("workspace B is in the switcher before the invitation was accepted: %s", got)
	}
	c.visit("/settings#account")
	if got := c.text(`#account [data-invitation="` + itoa(env.wsB.ID) + `"]`); !strings.Contains(got, "Zapatería Sur lo invita como") {
		t.Fatalf("invitation text %q", got)
	}
	c.screenshots("invitation")
	c.run("accepting",
		chromedp.Click(chromedp.CSS(`form[action="/settings/invitations/`+itoa(env.wsB.ID)+`/accept"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".flash-ok")),
	)
	if got := c.text(".flash-ok"); !strings.Contains(got, "Ahora es miembro de Zapatería Sur") {
		t.Fatalf("flash after accepting %q", got)
	}
	if got := get(c, "reading the switcher", chromedp.Evaluate[string](switcher)); !strings.Contains(got, itoa(env.wsB.ID)) {
		t.Fatalf("workspace B is not in the switcher after accepting: %s", got)
	}

	// A wrong current password is shown next to its field.
	c.run("changing the password with a wrong current one",
		chromedp.SendKeys(chromedp.CSS("#f-account-current"), "no-es-esta-123"),
		chromedp.SendKeys(chromedp.CSS("#f-account-password"), "clave-nueva-456"),
		chromedp.Click(chromedp.CSS(`form[action="/settings/password"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#e-account-current")),
	)
	if got := c.text("#e-account-current"); !strings.Contains(got, "contraseña actual no es correcta") {
		t.Fatalf("error next to the current password: %q", got)
	}
	elsewhere.get("/settings").expect(t, http.StatusOK)
	c.run("changing the password",
		chromedp.SendKeys(chromedp.CSS("#f-account-current"), testPassword),
		chromedp.SendKeys(chromedp.CSS("#f-account-password"), "clave-nueva-456"),
		chromedp.Click(chromedp.CSS(`form[action="/settings/password"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash-ok")),
	)
	if got := c.text(".flash-ok"); !strings.Contains(got, "Contraseña cambiada") {
		t.Fatalf("flash after the change %q", got)
	}
	c.screenshots("password-changed")
	c.visit("/settings") // this session goes on
	if got := c.text("h1"); got != "Ajustes" {
		t.Fatalf("after the change this browser shows %q", got)
	}
	if p := elsewhere.get("/settings"); p.URL != "/login" {
		t.Fatalf("the other session still opens settings (at %s, %d)", p.URL, p.Status)
	}
	if _, err := store.UserAuthenticate(ctx, env.db, "marketer@tienda.test", "clave-nueva-456"); err != nil {
		t.Fatalf("the new password does not log in: %v", err)
	}
}
