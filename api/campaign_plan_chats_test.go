package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/pregon/pregon/store"
)

// With "no enviar a contactos con quienes el dueño está chateando" on, the launch plan says how
// many contacts are chatting now and will be held until their chat is quiet; with it off, or
// with no chat in the last half hour, it says nothing.
func TestCampaignPlanWarnsOfHeldChats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, id := etaSetup(t, nil, 5, nil)
	if _, err := e.db.Exec(ctx, `INSERT INTO messages (workspace_id, contact_id, wamid, direction, type, body, occurred_at)
		SELECT workspace_id, id, 'wamid.chat' || id, 'inbound', 'text', 'hola', now() - interval '5 minutes'
		FROM contacts WHERE workspace_id = $1 ORDER BY id LIMIT 2`, e.wsA.ID); err != nil {
		t.Fatal(err)
	}
	plan := func() launchPlan {
		t.Helper()
		var p launchPlan
		e.as(store.RoleAnalyst).do("GET", fmt.Sprintf("/api/v1/campaigns/%d/plan", id), nil).expect(t, http.StatusOK).JSON(t, &p)
		return p
	}
	if hasWarning(plan(), "active_chats") {
		t.Error("setting off: the plan warns of held chats")
	}
	if _, err := e.db.Exec(ctx, `UPDATE workspaces SET settings = settings || '{"hold_active_chats": true}' WHERE id = $1`, e.wsA.ID); err != nil {
		t.Fatal(err)
	}
	if !hasWarning(plan(), "active_chats") {
		t.Errorf("setting on, 2 contacts chatting: no active_chats warning in %+v", plan().Warnings)
	}
	if _, err := e.db.Exec(ctx, `UPDATE messages SET occurred_at = now() - interval '2 hours' WHERE workspace_id = $1`, e.wsA.ID); err != nil {
		t.Fatal(err)
	}
	if hasWarning(plan(), "active_chats") {
		t.Error("chats two hours old still warned of")
	}
}
