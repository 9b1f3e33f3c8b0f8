package jobs

import (
	"context"
	"strings"
	"testing"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// TestLaunchUnconfirmedBroadcast: scheduling asks for confirm_broadcast only when the segment has
// no conditions at that moment. A segment emptied after scheduling must not turn an unconfirmed
// campaign into a send to the whole base at launch.
func TestLaunchUnconfirmedBroadcast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)

	// setup is a scheduled campaign on a "vip" segment (2 of 10 contacts) with the given
	// confirm_broadcast; it returns the fixture and the segment's id.
	setup := func(t *testing.T, confirmed bool) (*launchFixture, int64) {
		t.Helper()
		f := newLaunchFixture(t, db)
		f.contacts(t, 10, 0)
		_, err := db.Exec(ctx, `UPDATE contacts SET tags = '{vip}' WHERE workspace_id = $1 AND phone_e164 IN ('+573000000001', '+573000000002')`, f.ws.ID)
		must2(t, err)
		var segID int64
		must2(t, db.QueryRow(ctx, `INSERT INTO segments (workspace_id, name, definition)
			VALUES ($1, 'VIP', '{"all":[{"field":"tags","op":"has_any","value":["vip"]}]}') RETURNING id`, f.ws.ID).Scan(&segID))
		_, err = db.Exec(ctx, `UPDATE campaigns SET segment_id = $2, confirm_broadcast = $3 WHERE id = $1`, f.campaign.ID, segID, confirmed)
		must2(t, err)
		return f, segID
	}
	emptySegment := func(t *testing.T, segID int64) {
		t.Helper()
		_, err := db.Exec(ctx, `UPDATE segments SET definition = '{}' WHERE id = $1`, segID)
		must2(t, err)
	}
	launch := func(t *testing.T, f *launchFixture) LaunchResult {
		t.Helper()
		tx, err := db.Begin(ctx)
		must2(t, err)
		defer tx.Rollback(ctx)
		res, err := LaunchCampaign(ctx, tx, f.args(), LaunchOptions{})
		must2(t, err)
		must2(t, tx.Commit(ctx))
		return res
	}
	recipients := func(t *testing.T, f *launchFixture) int {
		t.Helper()
		var n int
		must2(t, db.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE campaign_id = $1`, f.campaign.ID).Scan(&n))
		return n
	}

	t.Run("SegmentEmptiedAfterSchedulingDoesNotLaunch", func(t *testing.T) {
		t.Parallel()
		f, segID := setup(t, false)
		emptySegment(t, segID)
		res := launch(t, f)
		if res.Launched || res.NotLaunched != "broadcast not confirmed" {
			t.Fatalf("launch %+v, want not launched (broadcast not confirmed)", res)
		}
		c, err := store.CampaignGetByID(ctx, db, f.ws.ID, f.campaign.ID)
		must2(t, err)
		if c.State != store.CampaignCancelled {
			t.Fatalf("campaign state %s, want cancelled", c.State)
		}
		if n := recipients(t, f); n != 0 {
			t.Fatalf("%d recipients frozen, want none", n)
		}
		recs, err := store.CampaignTransitionList(ctx, db, f.ws.ID, f.campaign.ID)
		must2(t, err)
		last := recs[len(recs)-1]
		if last.ToState != store.CampaignCancelled || last.Actor != store.ActorSystem || last.Signal != store.SignalLaunch ||
			!strings.Contains(last.Reason, "confirmar el envío masivo") {
			t.Fatalf("last transition %+v, want cancelled by the launch with the reason", last)
		}
	})

	t.Run("SegmentWithConditionsLaunchesUnconfirmed", func(t *testing.T) {
		t.Parallel()
		f, _ := setup(t, false)
		if res := launch(t, f); !res.Launched || res.Pending != 2 {
			t.Fatalf("launch %+v, want launched to the 2 VIP contacts", res)
		}
	})

	t.Run("ConfirmedBroadcastLaunchesToEveryone", func(t *testing.T) {
		t.Parallel()
		f, segID := setup(t, true)
		emptySegment(t, segID)
		if res := launch(t, f); !res.Launched || res.Pending != 10 {
			t.Fatalf("launch %+v, want launched to all 10 contacts", res)
		}
	})
}
