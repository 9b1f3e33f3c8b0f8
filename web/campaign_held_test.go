package web

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/pregon/pregon/store"
)

// A campaign's page says how many of its sends Meta holds while it assesses the template's
// quality (template pacing), in the viewer's language, and the progress poll carries the count
// for the page to follow; the held sends still count as sent.
func TestCampaignPageShowsHeldSends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newTestEnv(t)
	_, c := seedDashboard(t, env)
	moveCampaign(t, env, env.wsA.ID, c.ID, store.CampaignRunning)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := env.db.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	// Three sent (two of them held) and one delivered.
	exec(`WITH ct AS (INSERT INTO contacts (workspace_id, phone_e164, consent_at)
		SELECT $1, '+5730055500' || g, now() FROM generate_series(1, 4) g RETURNING id, phone_e164)
		INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, sent_at, held_at)
		SELECT $1, $2, id, phone_e164, CASE WHEN phone_e164 LIKE '%4' THEN 'delivered' ELSE 'sent' END, 'wamid.' || phone_e164, now(),
		       CASE WHEN phone_e164 LIKE '%1' OR phone_e164 LIKE '%2' THEN now() END
		FROM ct`, env.wsA.ID, c.ID)

	b := env.as(store.RoleAnalyst)
	page := "/campaigns/" + itoa(c.ID)
	p := b.get(page).expect(t, http.StatusOK)
	p.hasNot(t, "#held[hidden]")
	p.contains(t, "#held", "Envíos retenidos por Meta mientras evalúa la calidad de la plantilla: 2.")

	var out struct {
		Campaigns []progressItem `json:"campaigns"`
	}
	poll := b.get("/ui/progress.json?id="+itoa(c.ID)).expect(t, http.StatusOK)
	if err := json.Unmarshal([]byte(poll.Body), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Campaigns) != 1 || out.Campaigns[0].Held != 2 || out.Campaigns[0].HeldText == "" || out.Campaigns[0].Funnel["sent"] != 4 {
		t.Fatalf("progress %+v, want 2 held (its text) of 4 sent", out.Campaigns)
	}

	b.get("/lang/en").expect(t, http.StatusOK)
	b.get(page).expect(t, http.StatusOK).contains(t, "#held", "Sends Meta holds while it assesses the template's quality: 2.")

	// Meta's word on both: nothing held, the line is hidden.
	exec(`UPDATE recipients SET held_at = NULL WHERE campaign_id = $1`, c.ID)
	b.get(page).expect(t, http.StatusOK).has(t, "#held[hidden]")
}
