package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// TestPaceHoldsContactsChattingWithTheOwner: with the workspace's hold_active_chats on, a
// contact who wrote to the business, or whom the owner answered from the phone app, within
// store.ActiveChatHold is not released while the chat goes on; they are released once the chat
// is over (ActiveChatHold after its last message), not skipped.
func TestPaceHoldsContactsChattingWithTheOwner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// campaignWith is a running campaign of 4 recipients; hold sets the workspace setting. It returns
	// the campaign, its contacts in order, and the clock.
	campaignWith := func(t *testing.T, hold bool) (*bundle, int64, []int64, *fakeClock) {
		t.Helper()
		b := setup(t, setupOpts{mps: 80})
		if hold {
			_, err := b.pool.Exec(ctx, `UPDATE workspaces SET settings = settings || '{"hold_active_chats": true}' WHERE id = $1`, b.ws.ID)
			must(t, err)
		}
		c := b.campaign(t, "promo", 4, "")
		rows, err := b.pool.Query(ctx, `SELECT contact_id FROM recipients WHERE campaign_id = $1 ORDER BY contact_id`, c)
		must(t, err)
		var contacts []int64
		for rows.Next() {
			var id int64
			must(t, rows.Scan(&id))
			contacts = append(contacts, id)
		}
		must(t, rows.Err())
		return b, c, contacts, &fakeClock{t: time.Now().Truncate(time.Microsecond)}
	}
	message := func(t *testing.T, b *bundle, contactID int64, direction string, at time.Time) {
		t.Helper()
		_, err := b.pool.Exec(ctx, `INSERT INTO messages (workspace_id, sender_number_id, contact_id, direction, wamid, type, body, occurred_at)
			VALUES ($1, $2, $3, $4, $5, 'text', 'hola, ¿tienen talla M?', $6)`,
			b.ws.ID, b.number.ID, contactID, direction, fmt.Sprintf("wamid.%d.%s.%d", contactID, direction, at.UnixNano()), at)
		must(t, err)
	}
	recipient := func(t *testing.T, b *bundle, campaignID, contactID int64) (state string, retryAt *time.Time) {
		t.Helper()
		must(t, b.pool.QueryRow(ctx, `SELECT state, retry_at FROM recipients WHERE campaign_id = $1 AND contact_id = $2`,
			campaignID, contactID).Scan(&state, &retryAt))
		return state, retryAt
	}

	t.Run("HeldUntilTheChatIsOverThenSent", func(t *testing.T) {
		t.Parallel()
		b, c, contacts, clock := campaignWith(t, true)
		t0 := clock.Now()
		// Contact 0 wrote 5 minutes ago and the owner answered from the phone a minute ago;
		// contact 1 only got the owner's echo 10 minutes ago.
		message(t, b, contacts[0], "inbound", t0.Add(-5*time.Minute))
		message(t, b, contacts[0], "echo", t0.Add(-time.Minute))
		message(t, b, contacts[1], "echo", t0.Add(-10*time.Minute))
		tick := pacer(t, b, clock)
		tick()
		for i, want := range []time.Time{t0.Add(-time.Minute + store.ActiveChatHold), t0.Add(-10*time.Minute + store.ActiveChatHold)} {
			state, retryAt := recipient(t, b, c, contacts[i])
			if state != store.RecipientPending || retryAt == nil || !retryAt.Equal(want) {
				t.Fatalf("contact %d chatting: %s, retry at %v; want pending until %v", i, state, retryAt, want)
			}
		}
		for _, id := range contacts[2:] {
			if state, _ := recipient(t, b, c, id); state != store.RecipientQueued {
				t.Fatalf("contact not chatting: %s, want queued", state)
			}
		}
		// 25 minutes on: contact 1's chat is over, contact 0's is not.
		clock.Set(t0.Add(25 * time.Minute))
		tick()
		if state, _ := recipient(t, b, c, contacts[0]); state != store.RecipientPending {
			t.Fatalf("contact 0 still chatting at +25 min: %s, want pending", state)
		}
		if state, _ := recipient(t, b, c, contacts[1]); state != store.RecipientQueued {
			t.Fatalf("contact 1's chat over at +25 min: %s, want queued", state)
		}
		clock.Set(t0.Add(30 * time.Minute))
		tick()
		if state, _ := recipient(t, b, c, contacts[0]); state != store.RecipientQueued {
			t.Fatalf("contact 0's chat over at +30 min: %s, want queued", state)
		}
	})

	t.Run("OldChatsAndCampaignMessagesDoNotHold", func(t *testing.T) {
		t.Parallel()
		b, c, contacts, clock := campaignWith(t, true)
		t0 := clock.Now()
		message(t, b, contacts[0], "inbound", t0.Add(-store.ActiveChatHold-time.Minute))
		message(t, b, contacts[1], "outbound", t0.Add(-time.Minute))
		message(t, b, contacts[2], "history", t0.Add(-time.Minute))
		pacer(t, b, clock)()
		if got := b.counts(t, c); got["queued"] != 4 {
			t.Fatalf("recipients %v, want all 4 queued", fmtCounts(got))
		}
	})

	t.Run("SettingOffSendsToChattingContacts", func(t *testing.T) {
		t.Parallel()
		b, c, contacts, clock := campaignWith(t, false)
		message(t, b, contacts[0], "inbound", clock.Now().Add(-time.Minute))
		pacer(t, b, clock)()
		if got := b.counts(t, c); got["queued"] != 4 {
			t.Fatalf("recipients %v, want all 4 queued", fmtCounts(got))
		}
	})
}
