package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

func TestCampaignDeleteByState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Tx(t)
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "delete"})
	must(t, err)
	var contactID int64
	must(t, db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164) VALUES ($1, '+573010000001') RETURNING id`, ws.ID).Scan(&contactID))
	campaign := func(state string, recipients bool) int64 {
		var id int64
		must(t, db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, $2, $2) RETURNING id`, ws.ID, state).Scan(&id))
		if recipients {
			_, err := db.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, skip_reason)
				VALUES ($1, $2, $3, '+573010000001', 'skipped', 'campaign_cancelled')`, ws.ID, id, contactID)
			must(t, err)
		}
		return id
	}
	gone := func(id int64) bool {
		_, err := store.CampaignGetByID(ctx, db, ws.ID, id)
		return errors.Is(err, store.ErrNotFound)
	}

	t.Run("DraftIsDeleted", func(t *testing.T) {
		id := campaign("draft", false)
		must(t, store.CampaignDelete(ctx, db, ws.ID, id))
		if !gone(id) {
			t.Fatal("draft still there")
		}
	})
	t.Run("CancelledBeforeLaunchIsDeleted", func(t *testing.T) {
		id := campaign("cancelled", false)
		must(t, store.CampaignDelete(ctx, db, ws.ID, id))
		if !gone(id) {
			t.Fatal("cancelled campaign that never launched still there")
		}
	})
	t.Run("CancelledAfterLaunchIsKept", func(t *testing.T) {
		id := campaign("cancelled", true)
		err := store.CampaignDelete(ctx, db, ws.ID, id)
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "después de lanzarse") {
			t.Fatalf("err %v, want a conflict saying it launched", err)
		}
		if gone(id) {
			t.Fatal("a launched campaign was deleted with its recipients")
		}
	})
	t.Run("OthersAreRefusedAsBefore", func(t *testing.T) {
		for _, state := range []string{"scheduled", "running", "paused", "completed"} {
			id := campaign(state, state != "scheduled")
			err := store.CampaignDelete(ctx, db, ws.ID, id)
			if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "solo se puede borrar una campaña en borrador") {
				t.Fatalf("%s: err %v", state, err)
			}
			if gone(id) {
				t.Fatalf("%s campaign deleted", state)
			}
		}
	})
}
