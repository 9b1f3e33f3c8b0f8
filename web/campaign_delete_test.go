package web

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pregon/pregon/store"
)

// A campaign cancelled before its launch can be deleted from its page by an owner, after a
// confirm; one cancelled after it launched keeps no such button; another workspace's
// campaign answers 404.
func TestCampaignDeleteCancelled(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	cancelled := func(name string) int64 {
		t.Helper()
		c, err := store.CampaignCreate(ctx, env.db, store.Campaign{WorkspaceID: env.wsA.ID, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.CampaignTransition(ctx, env.db, env.wsA.ID, c.ID, store.CampaignCancelled, store.TransitionParams{Actor: store.ActorUser}); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	id := cancelled("Nunca salió")
	launched := cancelled("Salió y se canceló")
	if _, err := env.db.Exec(ctx, `UPDATE campaigns SET launched_at = $2 WHERE id = $1`, launched, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	path := "/campaigns/" + itoa(id)

	for _, role := range []store.Role{store.RoleMarketer, store.RoleAnalyst} {
		env.as(role).get(path).expect(t, http.StatusOK).hasNot(t, "#delete-campaign")
	}
	env.as(store.RoleMarketer).post(path+"/delete", nil).expect(t, http.StatusForbidden)
	env.as(store.RoleAnalyst).post(path+"/delete", nil).expect(t, http.StatusForbidden)
	env.session(env.userB.ID, env.wsB.ID).post(path+"/delete", nil).expect(t, http.StatusNotFound)

	own := env.as(store.RoleOwner)
	own.get("/campaigns/"+itoa(launched)).expect(t, http.StatusOK).hasNot(t, "#delete-campaign")
	p := own.get(path).expect(t, http.StatusOK)
	if confirm, _ := p.has(t, `form#delete-campaign[action="`+path+`/delete"]`).Attr("data-confirm"); confirm == "" {
		t.Error("deleting asks no confirmation")
	}
	p = own.post(path+"/delete", nil).expect(t, http.StatusOK)
	if p.URL != "/campaigns" {
		t.Fatalf("after deleting: at %s", p.URL)
	}
	p.contains(t, ".flash-ok", "Campaña eliminada")
	own.get(path).expect(t, http.StatusNotFound)
}

// In the browser, deleting a cancelled campaign asks first: declined, nothing happens.
func TestBrowserCampaignDeleteAsksFirst(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	env := newTestEnv(t)
	ctx := context.Background()
	c, err := store.CampaignCreate(ctx, env.db, store.Campaign{WorkspaceID: env.wsA.ID, Name: "Nunca salió"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CampaignTransition(ctx, env.db, env.wsA.ID, c.ID, store.CampaignCancelled, store.TransitionParams{Actor: store.ActorUser}); err != nil {
		t.Fatal(err)
	}
	exists := func() bool {
		var ok bool
		env.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM campaigns WHERE id = $1)`, c.ID).Scan(&ok)
		return ok
	}
	br := newChrome(t, env)
	br.login("owner@tienda.test")
	br.visit("/campaigns/" + itoa(c.ID))
	br.run("declining the confirm",
		js(`window.confirm = function (m) { window.__asked = m; return false; }`),
		chromedp.Click(chromedp.CSS("#delete-campaign button")))
	br.waitJS("the question asked", `typeof window.__asked === "string" && window.__asked.indexOf("¿Eliminar") === 0`, 5*time.Second)
	if !exists() {
		t.Fatal("declined, the campaign was deleted anyway")
	}
	br.click("#delete-campaign button")
	br.waitJS("the campaigns list", `location.pathname === "/campaigns" && !!document.querySelector(".flash-ok")`, 10*time.Second)
	if exists() {
		t.Fatal("accepted, the campaign is still there")
	}
}
