package jobs

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// The periodic number check acts on Meta's own status of the number, so a disconnection or a
// flag whose webhook was missed stops sending: a disconnected number is marked so, a flagged one
// halted, and their running campaigns pause. A connected number changes nothing.
func TestCheckNumberActsOnMetaStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		meta, was, number string
		campaign          store.CampaignState
	}{
		{"DISCONNECTED", store.NumberActive, store.NumberDisconnected, store.CampaignPaused},
		{"FLAGGED", store.NumberActive, store.NumberHalted, store.CampaignPaused},
		{"CONNECTED", store.NumberActive, store.NumberActive, store.CampaignRunning},
		// Reconnected while the webhook was missed: active again, the campaign left for the owner.
		{"CONNECTED", store.NumberDisconnected, store.NumberActive, store.CampaignPaused},
	} {
		t.Run(tc.meta+"_"+tc.was, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := pgtest.NewDB(t)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"id":"2002","display_phone_number":"+57 300 0000000","quality_rating":"GREEN","status":%q,
					"whatsapp_business_manager_messaging_limit":"TIER_2K"}`, tc.meta)
			}))
			t.Cleanup(srv.Close)
			client := whatsapp.New(whatsapp.Config{BaseURL: srv.URL, Token: "t"})
			wa := func(store.SenderNumber) (*whatsapp.Client, error) { return client, nil }
			ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "check"})
			must2(t, err)
			n, err := store.SenderNumberCreate(ctx, db, store.SenderNumberCreateParams{WorkspaceID: ws.ID, PhoneNumberID: "2002", WABAID: "1001"})
			must2(t, err)
			c, err := store.CampaignCreate(ctx, db, store.Campaign{WorkspaceID: ws.ID, Name: "c", SenderNumberID: &n.ID})
			must2(t, err)
			state := store.CampaignRunning
			if tc.was == store.NumberDisconnected {
				state = store.CampaignPaused
			}
			_, err = db.Exec(ctx, `UPDATE campaigns SET state = $2 WHERE id = $1`, c.ID, state)
			must2(t, err)
			_, err = db.Exec(ctx, `UPDATE sender_numbers SET status = $2 WHERE id = $1`, n.ID, tc.was)
			must2(t, err)
			n.Status = tc.was

			if _, err := CheckNumber(ctx, db, wa, n); err != nil {
				t.Fatal(err)
			}
			got, err := store.SenderNumberGetByID(ctx, db, ws.ID, n.ID)
			must2(t, err)
			camp, err := store.CampaignGetByID(ctx, db, ws.ID, c.ID)
			must2(t, err)
			if got.Status != tc.number || camp.State != tc.campaign {
				t.Errorf("Meta says %s: number %s, campaign %s (want %s, %s)", tc.meta, got.Status, camp.State, tc.number, tc.campaign)
			}
		})
	}
}
