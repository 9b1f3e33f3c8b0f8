package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

func TestSending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("PacesWithinThroughputAndCompletes", func(t *testing.T) {
		t.Parallel()
		const mps = 50
		b := setup(t, setupOpts{mps: mps})
		rec := recordSends(b)
		c1 := b.campaign(t, "uno", 250, "")
		c2 := b.campaign(t, "dos", 150, "")
		client := b.start(t)
		b.kick(t, client)

		// Both campaigns share the number: half-way through the smaller one, the larger one has
		// sent about as much (fair share), not all of its own first.
		waitFor(t, 20*time.Second, "half of the second campaign", func() bool { return b.counts(t, c2)["sent"]+b.counts(t, c2)["delivered"]+b.counts(t, c2)["read"] >= 75 })
		done1 := 250 - b.counts(t, c1)["pending"] - b.counts(t, c1)["queued"]
		if done1 < 50 || done1 > 110 {
			t.Errorf("fair share: campaign 1 progressed %d while campaign 2 reached 75", done1)
		}
		waitFor(t, 30*time.Second, "both campaigns completed", func() bool {
			return b.campaignState(t, c1).State == store.CampaignCompleted && b.campaignState(t, c2).State == store.CampaignCompleted
		})
		st := b.sim.Stats()
		if st.AcceptedTotal != 400 {
			t.Errorf("simulator accepted %d sends, want 400", st.AcceptedTotal)
		}
		for to, n := range st.PerRecipient {
			if n != 1 {
				t.Errorf("recipient %s received %d messages", to, n)
			}
		}
		// The pacing is checked on the slots and the calls' starts; the simulator's count, at
		// the requests' arrival, allows 100 ms of their lag (it saw exactly 50 under load).
		checkPaced(t, b, rec, mps, mps/10)
		if n := st.RejectedByCode[130429]; n != 0 {
			t.Errorf("%d sends rejected for throughput", n)
		}
		t.Logf("max per second %d (throughput %d)", st.MaxPerSecond, mps)
		for _, c := range []int64{c1, c2} {
			counts, err := store.CampaignCounts(ctx, b.pool, b.ws.ID, c)
			must(t, err)
			if got, want := fmtCounts(counts), fmtCounts(b.counts(t, c)); got != want {
				t.Errorf("counters %s, recount %s", got, want)
			}
			var withWAMID int
			must(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE campaign_id = $1 AND wamid IS NOT NULL AND wa_id IS NOT NULL`, c).Scan(&withWAMID))
			if withWAMID != int(b.campaignState(t, c).AudienceCount) && withWAMID == 0 {
				t.Errorf("campaign %d: no wamid stored", c)
			}
		}
		var contactsWithWAID int
		must(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE workspace_id = $1 AND wa_id IS NOT NULL`, b.ws.ID).Scan(&contactsWithWAID))
		if contactsWithWAID != 400 {
			t.Errorf("%d contacts got their wa_id, want 400", contactsWithWAID)
		}
	})
}
