package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

// campaignIn makes a campaign named name in workspace wsID and walks it through states.
func campaignIn(t testing.TB, env *testEnv, wsID int64, name string, states ...store.CampaignState) int64 {
	t.Helper()
	ctx := context.Background()
	c, err := store.CampaignCreate(ctx, env.db, store.Campaign{WorkspaceID: wsID, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range states {
		moveCampaign(t, env, wsID, c.ID, to)
	}
	return c.ID
}

func moveCampaign(t testing.TB, env *testEnv, wsID, id int64, to store.CampaignState) {
	t.Helper()
	if _, err := store.CampaignTransition(context.Background(), env.db, wsID, id, to, store.TransitionParams{Actor: store.ActorSystem}); err != nil {
		t.Fatal(err)
	}
}

// stays checks that the page is not reloaded for 2.5 s (a timer of the page itself says when
// the time is up: a reload would clear it).
func (c *chrome) stays(what string) {
	c.t.Helper()
	c.run("marking the page", js(`window.__calm = false; setTimeout(function () { window.__calm = true; }, 2500)`))
	c.waitJS(what, `window.__calm === true`, 10*time.Second)
}

// The progress endpoint answers for the campaigns asked, final ones too, in the workspace only,
// and lists the workspace's active campaigns.
func TestProgressJSONAnswersForTheCampaignsShown(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	done := campaignIn(t, env, env.wsA.ID, "Terminada", store.CampaignScheduled, store.CampaignRunning, store.CampaignCompleted)
	running := campaignIn(t, env, env.wsA.ID, "En curso", store.CampaignScheduled, store.CampaignRunning)
	otherWS := campaignIn(t, env, env.wsB.ID, "Ajena", store.CampaignScheduled)
	p := env.as(store.RoleAnalyst).get(fmt.Sprintf("/ui/progress.json?id=%d&id=%d", done, otherWS)).expect(t, http.StatusOK)
	var out struct {
		Campaigns []progressItem `json:"campaigns"`
		Active    []activeItem   `json:"active"`
	}
	if err := json.Unmarshal([]byte(p.Body), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Campaigns) != 1 || out.Campaigns[0].ID != done || out.Campaigns[0].State != "completed" || out.Campaigns[0].StateText != "terminada" {
		t.Fatalf("campaigns %+v, want only %d, completed", out.Campaigns, done)
	}
	if len(out.Active) != 1 || out.Active[0] != (activeItem{ID: running, State: "running"}) {
		t.Fatalf("active %+v, want only %d running", out.Active, running)
	}
	// A repeated id is answered once; a poll asking for more campaigns than a page shows is refused.
	p = env.as(store.RoleAnalyst).get(fmt.Sprintf("/ui/progress.json?id=%d&id=%d", done, done)).expect(t, http.StatusOK)
	if err := json.Unmarshal([]byte(p.Body), &out); err != nil || len(out.Campaigns) != 1 {
		t.Fatalf("a repeated id: %d campaigns (%v)", len(out.Campaigns), err)
	}
	many := strings.Repeat(fmt.Sprintf("id=%d&", done), maxProgressIDs+1)
	env.as(store.RoleAnalyst).get("/ui/progress.json?"+many).expect(t, http.StatusBadRequest)
}

// A campaign page polls only while the campaign may change, and reloads once when it does:
// a completed campaign's page used to reload itself every second.
func TestBrowserCampaignPageReloadsOnlyWhenItsStateChanges(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	env := newTestEnv(t)
	done := campaignIn(t, env, env.wsA.ID, "Terminada", store.CampaignScheduled, store.CampaignRunning, store.CampaignCompleted)
	running := seedRunning(t, env, 2)
	c := newChrome(t, env)
	c.login("owner@tienda.test")

	c.visit(fmt.Sprintf("/campaigns/%d", done))
	c.stays("the completed campaign's page staying put")

	c.visit(fmt.Sprintf("/campaigns/%d", running))
	c.waitJS("the running campaign polled", `document.querySelector("[data-poll]").dataset.updated`, 10*time.Second)
	c.run("marking the page", js(`window.__notReloaded = true`))
	c.stays("the running campaign's page staying put while it runs")
	if !get(c, "reading the mark", chromedp.Evaluate[bool](`window.__notReloaded === true`)) {
		t.Fatal("the running campaign's page reloaded while nothing changed")
	}
	moveCampaign(t, env, env.wsA.ID, running, store.CampaignCompleted)
	c.waitJS("the page reloaded showing it completed", `window.__notReloaded !== true && document.querySelector("#state").textContent.trim() === "terminada"`, 15*time.Second)
	c.stays("the now completed campaign's page staying put")
}

// The dashboard and the campaigns list see a campaign they show finish, and the dashboard sees
// a new one start: the poll used to ask for the active campaigns only and skip the others.
func TestBrowserListsSeeCampaignsFinishAndStart(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	env := newTestEnv(t)
	first := campaignIn(t, env, env.wsA.ID, "Primera", store.CampaignScheduled, store.CampaignRunning)
	second := campaignIn(t, env, env.wsA.ID, "Segunda", store.CampaignScheduled, store.CampaignRunning)
	c := newChrome(t, env)
	c.login("owner@tienda.test")

	badge := func(id int64) string {
		return fmt.Sprintf(`document.querySelector('[data-campaign="%d"] [data-field="state"]').textContent.trim()`, id)
	}
	c.visit("/")
	c.waitJS("the dashboard polled", `document.querySelector("[data-poll]").dataset.updated`, 10*time.Second)
	c.run("marking the page", js(`window.__notReloaded = true`))
	moveCampaign(t, env, env.wsA.ID, first, store.CampaignCompleted)
	c.waitJS("the dashboard's card showing the campaign completed", badge(first)+` === "terminada"`, 15*time.Second)
	c.stays("the dashboard staying put")

	third := campaignIn(t, env, env.wsA.ID, "Tercera", store.CampaignScheduled)
	c.waitJS("the dashboard showing the new campaign", fmt.Sprintf(`window.__notReloaded !== true && !!document.querySelector('[data-campaign="%d"]')`, third), 15*time.Second)

	c.visit("/campaigns")
	c.waitJS("the list polled", `document.querySelector("[data-poll]").dataset.updated`, 10*time.Second)
	moveCampaign(t, env, env.wsA.ID, second, store.CampaignCancelled)
	c.waitJS("the list's card showing the campaign cancelled", badge(second)+` === "cancelada"`, 15*time.Second)
}

// A campaign of more recipients than the API streams directly: its export links lead to the
// exports page, where the export runs as a job. With a download attribute, Chrome saved the
// exports page's HTML as the file instead and stayed on the campaign page.
func TestBrowserLargeCampaignExportLandsOnTheExportsPage(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	env := newTestEnv(t)
	id := seedRunning(t, env, reports.DirectRowLimit+1)
	c := newChrome(t, env)
	c.login("analyst@tienda.test")
	c.visit(fmt.Sprintf("/campaigns/%d", id))
	c.click("#export-xlsx")
	c.waitJS("the exports page listing the export", `location.pathname === "/exports" && document.querySelectorAll("tr[data-export]").length === 1`, 20*time.Second)
}

// The segment builder's live preview shows why it could not count: the API's message in the
// preview panel, with the field of the condition at fault, and the problem under that
// condition (the message used to go to a data attribute nobody sees).
func TestBrowserSegmentPreviewShowsItsErrors(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	env := newTestEnv(t)
	var id int64
	if err := env.db.QueryRow(context.Background(), `INSERT INTO segments (workspace_id, name, definition)
		VALUES ($1, 'Edades', '{"all":[{"field":"attribute","key":"edad","type":"number","op":"eq","value":30}]}') RETURNING id`, env.wsA.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	c := newChrome(t, env)
	c.login("marketer@tienda.test")
	c.visit(fmt.Sprintf("/segments/%d", id))
	c.waitJS("the first preview", `document.querySelector("#seg-preview").dataset.updated`, 10*time.Second)
	c.run("typing a word as the number", js(`var i = document.querySelectorAll("#builder .cond input")[1]; i.value = "abc"; i.dispatchEvent(new Event("input"))`))
	c.waitJS("the preview's problem shown in the panel", `(function () {
		var box = document.querySelector("#seg-preview #preview-error");
		return box && !box.hidden && box.offsetParent !== null && /atributo edad: .*'abc' no lo es/.test(box.textContent);
	})()`, 15*time.Second)
	c.screenshots("segment-preview-error")
	c.waitJS("the problem shown under its condition", `/'abc' no lo es/.test(document.querySelector('#builder .cond.has-error .field-error').textContent)`, 5*time.Second)
}
