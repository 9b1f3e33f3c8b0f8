package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// A 131049 usually comes in a status webhook, after Meta accepted the send with a wamid. The
// single retry 24 h later is a new send with a new wamid: it is recorded as sent and its own
// statuses apply (the first attempt's wamid once kept the retry stuck in sending).
func TestAsync131049RetryRecordsItsSend(t *testing.T) {
	ctx := context.Background()
	b, f, w := fakeGraphBundle(t)
	c := b.campaign(t, "retry", 3, "")

	// First attempt accepted by Meta with wamid W1.
	id, _, err := sendOne(t, b, w, c, "queued")
	must(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE recipients SET wamid = 'wamid.FIRST_ATTEMPT' WHERE id = $1`, id)
	must(t, err)
	// Meta's status webhook: failed 131049, 25 h ago (so the retry is due now).
	code := 131049
	ws := b.ws.ID
	must(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		_, err := store.StatusEventsIngest(ctx, tx, []store.StatusEvent{{WorkspaceID: &ws, WAMID: "wamid.FIRST_ATTEMPT", Status: "failed",
			OccurredAt: time.Now().Add(-25 * time.Hour), ErrorCode: &code, ErrorTitle: "Message failed to send because more than 1 business"}})
		return err
	}))
	var state string
	var retryAt *time.Time
	must(t, b.pool.QueryRow(ctx, `SELECT state, retry_at FROM recipients WHERE id = $1`, id).Scan(&state, &retryAt))
	if state != "failed" || retryAt == nil || retryAt.After(time.Now()) {
		t.Fatalf("after the webhook: %s retry %v", state, retryAt)
	}
	// The contact's cool-down has passed too (it was 25 h ago).
	// The pacer's claim releases it for its single retry.
	var got []store.ClaimCandidate
	must(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		// Only this recipient is releasable: the others are skipped out of the way.
		if _, err := tx.Exec(ctx, `UPDATE recipients SET state = 'skipped' WHERE campaign_id = $1 AND id <> $2`, c, id); err != nil {
			return err
		}
		got, err = store.RecipientsClaim(ctx, tx, store.ClaimParams{WorkspaceID: ws, CampaignID: c, Now: time.Now(), Limit: 10})
		if err != nil {
			return err
		}
		var ids []int64
		var slots []time.Time
		slot := time.Now().Add(150 * time.Millisecond).Truncate(time.Microsecond)
		for _, g := range got {
			ids, slots = append(ids, g.ID), append(slots, slot)
		}
		return store.RecipientsQueue(ctx, tx, ws, ids, slots, time.Now())
	}))
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("claim returned %+v, want recipient %d", got, id)
	}
	var slot time.Time
	must(t, b.pool.QueryRow(ctx, `SELECT send_slot FROM recipients WHERE id = $1`, id).Scan(&slot))
	before := f.requests.Load()
	must(t, w.Work(ctx, &river.Job[jobs.SendMessageArgs]{JobRow: &rivertype.JobRow{ID: 9}, Args: jobs.SendMessageArgs{
		RecipientID: id, CampaignID: c, WorkspaceID: ws, SenderNumberID: b.number.ID, Slot: slot}}))
	if f.requests.Load() != before+1 {
		t.Fatalf("retry made %d API calls", f.requests.Load()-before)
	}
	var wamid string
	must(t, b.pool.QueryRow(ctx, `SELECT state, wamid FROM recipients WHERE id = $1`, id).Scan(&state, &wamid))
	if state != "sent" || wamid == "wamid.FIRST_ATTEMPT" {
		t.Fatalf("Meta accepted the retry, but the recipient is %s with wamid %s (want sent with the retry's wamid)", state, wamid)
	}
	// The retry's delivery applies to the recipient.
	must(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		_, err := store.StatusEventsIngest(ctx, tx, []store.StatusEvent{{WorkspaceID: &ws, WAMID: wamid, Status: "delivered", OccurredAt: time.Now()}})
		return err
	}))
	var failedAt *time.Time
	var errCode *int
	must(t, b.pool.QueryRow(ctx, `SELECT state, failed_at, error_code FROM recipients WHERE id = $1`, id).Scan(&state, &failedAt, &errCode))
	if state != "delivered" || failedAt != nil || errCode != nil {
		t.Errorf("after the retry's delivered status: state %s, failed_at %v, error %v (want delivered, no failure left)", state, failedAt, errCode)
	}
}
