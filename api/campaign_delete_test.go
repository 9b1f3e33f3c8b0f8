package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/pregon/pregon/store"
)

func TestCampaignDeleteCancelledBeforeLaunch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newCampaignEnv(t)
	create := func() string {
		var cp campaignResponse
		e.as(store.RoleMarketer).do("POST", "/api/v1/campaigns", map[string]any{"name": "borrar"}).expect(t, http.StatusCreated).JSON(t, &cp)
		return fmt.Sprintf("/api/v1/campaigns/%d", cp.ID)
	}
	// Cancelled as a draft, never launched: it can be deleted.
	path := create()
	e.as(store.RoleOwner).do("POST", path+"/cancel", map[string]any{}).expect(t, http.StatusOK)
	e.as(store.RoleMarketer).do("DELETE", path, nil).expect(t, http.StatusForbidden) // cancelling and clearing away are the owner's
	e.as(store.RoleOwner).do("DELETE", path, nil).expect(t, http.StatusNoContent)
	e.as(store.RoleAnalyst).do("GET", path, nil).expect(t, http.StatusNotFound)

	// Cancelled after its launch reached people: kept, with a clear reason.
	path = create()
	var id int64
	fmt.Sscanf(path, "/api/v1/campaigns/%d", &id)
	e.contacts(t, 1)
	if _, err := e.db.Exec(ctx, `UPDATE campaigns SET state = 'cancelled' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state)
		SELECT workspace_id, $1, id, phone_e164, 'sent' FROM contacts WHERE workspace_id = $2 LIMIT 1`, id, e.wsA.ID); err != nil {
		t.Fatal(err)
	}
	e.as(store.RoleOwner).do("DELETE", path, nil).expect(t, http.StatusConflict)
	e.as(store.RoleAnalyst).do("GET", path, nil).expect(t, http.StatusOK)
}
