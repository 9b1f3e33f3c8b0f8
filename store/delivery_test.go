package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// deliveryFixture inserts a workspace, a contact, a running campaign and n recipients in state
// sent (wamid "w<i>"), and returns their ids.
func deliveryFixture(t *testing.T, db store.DBTX, n int) (wsID, contactID, campaignID int64, recipientIDs []int64) {
	t.Helper()
	ctx := context.Background()
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "delivery"})
	if err != nil {
		t.Fatal(err)
	}
	wsID = ws.ID
	must(t, db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, 'c', 'running') RETURNING id`, wsID).Scan(&campaignID))
	for i := 0; i < n; i++ {
		var cid, rid int64
		must(t, db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164) VALUES ($1, $2) RETURNING id`,
			wsID, fmt.Sprintf("+57300%07d", i)).Scan(&cid))
		must(t, db.QueryRow(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, attempts)
			VALUES ($1, $2, $3, $4, 'sent', $5, 1) RETURNING id`, wsID, campaignID, cid, fmt.Sprintf("+57300%07d", i), fmt.Sprintf("w%d", i)).Scan(&rid))
		if i == 0 {
			contactID = cid
		}
		recipientIDs = append(recipientIDs, rid)
	}
	return
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ev(ws int64, wamid, status string, at time.Time) store.StatusEvent {
	return store.StatusEvent{WorkspaceID: &ws, WAMID: wamid, Status: status, OccurredAt: at}
}

// storeStatuses stores and applies status events as one caller does: the webhook job
// (StatusEventsIngest) or StatusEventsInsert followed by StatusEventsApply (the sweeper's and
// the send job's apply). It returns how many events were applied.
type storeStatuses func(ctx context.Context, db store.DBTX, events []store.StatusEvent) (int, error)

var statusPaths = map[string]storeStatuses{
	"Ingest": func(ctx context.Context, db store.DBTX, events []store.StatusEvent) (int, error) {
		res, err := store.StatusEventsIngest(ctx, db, events)
		return res.Applied, err
	},
	"InsertApply": func(ctx context.Context, db store.DBTX, events []store.StatusEvent) (int, error) {
		w, err := store.StatusEventsInsert(ctx, db, events)
		if err != nil {
			return 0, err
		}
		return store.StatusEventsApply(ctx, db, w)
	},
}

func TestStatusEventsApply(t *testing.T) {
	t.Parallel()
	for name, apply := range statusPaths {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testStatusEventsApply(t, apply)
		})
	}
}

func testStatusEventsApply(t *testing.T, apply storeStatuses) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

	t.Run("NeverMovesBackwardsAndReadImpliesDelivered", func(t *testing.T) {
		t.Parallel()
		db := pgtest.Tx(t)
		ws, _, _, rids := deliveryFixture(t, db, 1)
		for _, e := range []store.StatusEvent{ev(ws, "w0", "read", t0.Add(3*time.Second)), ev(ws, "w0", "delivered", t0.Add(2*time.Second)), ev(ws, "w0", "sent", t0.Add(time.Second)), ev(ws, "w0", "read", t0.Add(9*time.Second))} {
			_, err := apply(ctx, db, []store.StatusEvent{e})
			must(t, err)
		}
		var state string
		var delivered, read time.Time
		must(t, db.QueryRow(ctx, `SELECT state, delivered_at, read_at FROM recipients WHERE id = $1`, rids[0]).Scan(&state, &delivered, &read))
		if state != "read" || !delivered.Equal(t0.Add(2*time.Second)) || !read.Equal(t0.Add(3*time.Second)) {
			t.Fatalf("state %s delivered %v read %v", state, delivered, read)
		}
		var n int
		must(t, db.QueryRow(ctx, `SELECT count(*) FROM status_events WHERE wamid = 'w0'`).Scan(&n))
		if n != 3 {
			t.Fatalf("%d events, want 3 (duplicate counted once)", n)
		}
	})

	t.Run("DuplicatesInOneBatchCountOnce", func(t *testing.T) {
		t.Parallel()
		db := pgtest.Tx(t)
		ws, _, _, rids := deliveryFixture(t, db, 1)
		n, err := apply(ctx, db, []store.StatusEvent{ev(ws, "w0", "delivered", t0), ev(ws, "w0", "read", t0.Add(time.Second)), ev(ws, "w0", "delivered", t0)})
		must(t, err)
		if n != 2 {
			t.Fatalf("applied %d events, want 2", n)
		}
		n, err = apply(ctx, db, []store.StatusEvent{ev(ws, "w0", "read", t0.Add(time.Second))})
		must(t, err)
		if n != 0 {
			t.Fatalf("applied a duplicate again (%d)", n)
		}
		var state string
		must(t, db.QueryRow(ctx, `SELECT state FROM recipients WHERE id = $1`, rids[0]).Scan(&state))
		if state != "read" {
			t.Fatalf("state %s, want read", state)
		}
	})

	t.Run("UnknownWAMIDAppliedLater", func(t *testing.T) {
		t.Parallel()
		db := pgtest.Tx(t)
		ws, _, _, rids := deliveryFixture(t, db, 1)
		n, err := apply(ctx, db, []store.StatusEvent{ev(ws, "late", "delivered", t0)})
		must(t, err)
		if n != 0 {
			t.Fatalf("applied %d events for an unknown wamid", n)
		}
		_, err = db.Exec(ctx, `UPDATE recipients SET wamid = 'late' WHERE id = $1`, rids[0])
		must(t, err)
		must(t, store.StatusEventsApplyForWAMID(ctx, db, "late"))
		var state string
		must(t, db.QueryRow(ctx, `SELECT state FROM recipients WHERE id = $1`, rids[0]).Scan(&state))
		if state != "delivered" {
			t.Fatalf("state %s, want delivered", state)
		}
	})

	t.Run("CallbackDataSettlesUnknownSend", func(t *testing.T) {
		t.Parallel()
		db := pgtest.Tx(t)
		ws, _, cid, rids := deliveryFixture(t, db, 1)
		_, err := db.Exec(ctx, `UPDATE recipients SET state = 'unknown', wamid = NULL WHERE id = $1`, rids[0])
		must(t, err)
		e := ev(ws, "wx", "sent", t0)
		e.CallbackData = store.CallbackData(cid, rids[0])
		_, err = apply(ctx, db, []store.StatusEvent{e})
		must(t, err)
		var state, wamid string
		must(t, db.QueryRow(ctx, `SELECT state, wamid FROM recipients WHERE id = $1`, rids[0]).Scan(&state, &wamid))
		if state != "sent" || wamid != "wx" {
			t.Fatalf("state %s wamid %s", state, wamid)
		}
	})

	t.Run("OtherWorkspaceCannotTouch", func(t *testing.T) {
		t.Parallel()
		db := pgtest.Tx(t)
		_, _, _, rids := deliveryFixture(t, db, 1)
		other, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "other"})
		must(t, err)
		_, err = apply(ctx, db, []store.StatusEvent{ev(other.ID, "w0", "failed", t0)})
		must(t, err)
		var state string
		must(t, db.QueryRow(ctx, `SELECT state FROM recipients WHERE id = $1`, rids[0]).Scan(&state))
		if state != "sent" {
			t.Fatalf("another workspace's webhook moved the recipient to %s", state)
		}
	})

	t.Run("ErrorCodesChangeContact", func(t *testing.T) {
		t.Parallel()
		db := pgtest.Tx(t)
		ws, _, _, rids := deliveryFixture(t, db, 3)
		var events []store.StatusEvent
		for i, code := range []int{131050, 131026, 131049} {
			e := ev(ws, fmt.Sprintf("w%d", i), "failed", t0)
			c := code
			e.ErrorCode, e.ErrorTitle = &c, "x"
			events = append(events, e)
		}
		n, err := apply(ctx, db, events)
		must(t, err)
		if n != 3 {
			t.Fatalf("applied %d, want 3", n)
		}
		var stopped bool
		var undeliverable int
		var cooled *time.Time
		var retry *time.Time
		must(t, db.QueryRow(ctx, `SELECT marketing_stopped FROM contacts c JOIN recipients r ON r.contact_id = c.id WHERE r.id = $1`, rids[0]).Scan(&stopped))
		must(t, db.QueryRow(ctx, `SELECT undeliverable_count FROM contacts c JOIN recipients r ON r.contact_id = c.id WHERE r.id = $1`, rids[1]).Scan(&undeliverable))
		must(t, db.QueryRow(ctx, `SELECT cooled_until, r.retry_at FROM contacts c JOIN recipients r ON r.contact_id = c.id WHERE r.id = $1`, rids[2]).Scan(&cooled, &retry))
		if !stopped || undeliverable != 1 || cooled == nil || !cooled.Equal(t0.Add(24*time.Hour)) || retry == nil || !retry.Equal(t0.Add(24*time.Hour)) {
			t.Fatalf("stopped %v undeliverable %d cooled %v retry %v", stopped, undeliverable, cooled, retry)
		}
		var kinds int
		must(t, db.QueryRow(ctx, `SELECT count(*) FROM consent_events WHERE workspace_id = $1`, ws).Scan(&kinds))
		if kinds != 2 {
			t.Fatalf("%d consent events, want 2", kinds)
		}
	})
}
