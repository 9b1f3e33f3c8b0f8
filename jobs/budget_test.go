package jobs_test

import (
	"context"
	"testing"
	"time"
)

// sameAudience adds a running campaign on b's number whose recipients are the contacts of src.
func sameAudience(t *testing.T, b *bundle, name string, src int64) int64 {
	t.Helper()
	ctx := context.Background()
	var id int64
	must(t, b.pool.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, sender_number_id, template_id, state, send_window, launched_at)
		VALUES ($1, $2, $3, $4, 'running', '{}', now()) RETURNING id`, b.ws.ID, name, b.number.ID, b.tmplID).Scan(&id))
	_, err := b.pool.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164)
		SELECT workspace_id, $2, contact_id, phone_e164 FROM recipients WHERE campaign_id = $1 ORDER BY contact_id`, src, id)
	must(t, err)
	return id
}

// TestMessagingLimitCountsPeopleOnce: two campaigns to the same 250 people under a limit of 250
// reach all of them, both campaigns: a person messaged by both counts once, also when both
// campaigns release that person in the same tick.
func TestMessagingLimitCountsPeopleOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, setupOpts{messagingLimit: 250})
	a := b.campaign(t, "A", 250, "")
	c := sameAudience(t, b, "B", a)
	client := b.start(t)
	b.kick(t, client)
	var sent, people int
	waitFor(t, 60*time.Second, "both campaigns to reach all 250 people", func() bool {
		must(t, b.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT contact_id) FROM recipients
			WHERE workspace_id = $1 AND sent_at IS NOT NULL`, b.ws.ID).Scan(&sent, &people))
		return sent == 500
	})
	var rows, counted int
	must(t, b.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT contact_id) FROM messaging_ledger WHERE workspace_id = $1`, b.ws.ID).Scan(&rows, &counted))
	if people != 250 || rows != 250 || counted != 250 {
		t.Fatalf("%d sends to %d people; the ledger has %d rows for %d people, want 250 for 250 (A %v, B %v)",
			sent, people, rows, counted, b.counts(t, a), b.counts(t, c))
	}
}

// TestMessagingLimitCountsFromTheLatestMessage: a person messaged again inside the rolling 24 h
// stays counted for 24 h from the new message, so the budget does not free up when the first
// message leaves the window. Limit 250: 249 people counted an hour ago, X counted 24 h minus 15 s
// ago; campaign B messages X again now, campaign C waits for budget with Y. When X's first
// message leaves the window 15 s later, X is still counted: Y must not be sent. (15 s: X must be
// messaged again before then, which a machine loaded by the whole suite can delay by seconds;
// had it been later, X would have spent the freed budget instead and the test would prove
// nothing.)
func TestMessagingLimitCountsFromTheLatestMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, setupOpts{messagingLimit: 250})
	f := b.campaign(t, "F", 249, "")
	_, err := b.pool.Exec(ctx, `UPDATE campaigns SET state = 'completed' WHERE id = $1`, f)
	must(t, err)
	_, err = b.pool.Exec(ctx, `INSERT INTO messaging_ledger (workspace_id, contact_id, campaign_id, counted_at)
		SELECT workspace_id, contact_id, campaign_id, now() - interval '1 hour' FROM recipients WHERE campaign_id = $1`, f)
	must(t, err)
	x := b.campaign(t, "B", 1, "")
	y := b.campaign(t, "C", 1, "")
	start := time.Now()
	_, err = b.pool.Exec(ctx, `INSERT INTO messaging_ledger (workspace_id, contact_id, campaign_id, counted_at)
		SELECT workspace_id, contact_id, campaign_id, $2::timestamptz - interval '24 hours' + interval '15 seconds'
		FROM recipients WHERE campaign_id = $1`, x, start)
	must(t, err)
	client := b.start(t)
	b.kick(t, client)
	waitFor(t, 30*time.Second, "X to be messaged again", func() bool { return b.counts(t, x)["sent"] == 1 })
	var again time.Time
	must(t, b.pool.QueryRow(ctx, `SELECT max(counted_at) FROM messaging_ledger l JOIN recipients r ON r.contact_id = l.contact_id
		WHERE r.campaign_id = $1`, x).Scan(&again))
	if !again.Before(start.Add(15 * time.Second)) {
		t.Fatalf("X was messaged again %v after the start, after its first message left the window at 15 s", again.Sub(start))
	}
	for time.Since(start) < 19*time.Second { // X's first message left the window at 15 s
		if n := b.counts(t, y)["sent"]; n != 0 {
			t.Fatalf("Y was messaged %v after X's first message left the window, though X was messaged again %v ago: 251 people in 24 h against a limit of 250",
				time.Since(start.Add(15*time.Second)).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var latest time.Time
	must(t, b.pool.QueryRow(ctx, `SELECT max(counted_at) FROM messaging_ledger l JOIN recipients r ON r.contact_id = l.contact_id
		WHERE r.campaign_id = $1`, x).Scan(&latest))
	if latest.Before(start) {
		t.Fatalf("X's ledger row still says %v, before its new message", latest)
	}
	if wr := b.campaignState(t, y).WaitReason; wr == "" {
		t.Fatalf("campaign C waits without saying why (%v)", b.counts(t, y))
	}
}

// TestCoolingDownContactsAreSkipped: contacts who hit Meta's per-person marketing cap (131049)
// in another campaign after this one's launch cool down 24 h; this campaign skips them as the
// launch would have, instead of messaging them again (which prolongs the block).
func TestCoolingDownContactsAreSkipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, setupOpts{})
	c := b.campaign(t, "B", 5, "")
	_, err := b.pool.Exec(ctx, `UPDATE contacts SET cooled_until = now() + interval '24 hours'
		WHERE id IN (SELECT contact_id FROM recipients WHERE campaign_id = $1 ORDER BY contact_id LIMIT 3)`, c)
	must(t, err)
	client := b.start(t)
	b.kick(t, client)
	waitFor(t, 30*time.Second, "the campaign to settle", func() bool {
		n := b.counts(t, c)
		return n["sent"]+n["skipped"] == 5
	})
	var cooling int
	must(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE campaign_id = $1 AND state = 'skipped' AND skip_reason = 'cooling_down'`, c).Scan(&cooling))
	if n := b.counts(t, c); n["sent"] != 2 || cooling != 3 {
		t.Fatalf("%v, %d skipped as cooling_down: want 2 sent and 3 cooling down", n, cooling)
	}
}
