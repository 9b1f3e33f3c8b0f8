package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// ledgerFixture is a workspace with a 250 messaging limit, a running campaign and n contacts
// (phones prefix + 7 digits).
func ledgerFixture(t *testing.T, db store.DBTX, name, prefix string, n int) (ws store.Workspace, campaignID int64, contacts []int64) {
	t.Helper()
	ctx := context.Background()
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: name, MessagingLimit: 250})
	must(t, err)
	must(t, db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, 'c', 'running') RETURNING id`, ws.ID).Scan(&campaignID))
	for i := 0; i < n; i++ {
		var id int64
		must(t, db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164) VALUES ($1, $2) RETURNING id`, ws.ID, fmt.Sprintf("%s%07d", prefix, i)).Scan(&id))
		contacts = append(contacts, id)
	}
	return ws, campaignID, contacts
}

func TestMessagingBudgetRemaining(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Tx(t)
	ws, campaignID, contacts := ledgerFixture(t, db, "budget", "+57301", 10)
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	rem, resets, err := store.MessagingBudgetRemaining(ctx, db, ws.ID, t0)
	must(t, err)
	if rem != 250 || !resets.IsZero() {
		t.Fatalf("fresh: remaining %d resets %v", rem, resets)
	}
	must(t, store.MessagingLedgerRecord(ctx, db, ws.ID, campaignID, contacts[:4], t0))
	must(t, store.MessagingLedgerRecord(ctx, db, ws.ID, campaignID, contacts[4:], t0.Add(2*time.Hour)))
	rem, resets, err = store.MessagingBudgetRemaining(ctx, db, ws.ID, t0.Add(3*time.Hour))
	must(t, err)
	if rem != 240 || !resets.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("after 10: remaining %d resets %v", rem, resets)
	}
	// The first four leave the rolling window 24 h after they were counted.
	rem, resets, err = store.MessagingBudgetRemaining(ctx, db, ws.ID, t0.Add(24*time.Hour+time.Second))
	must(t, err)
	if rem != 244 || !resets.Equal(t0.Add(26*time.Hour)) {
		t.Fatalf("a day later: remaining %d resets %v", rem, resets)
	}
	unlimited := -1
	_, err = store.WorkspaceUpdateByID(ctx, db, ws.ID, store.WorkspaceUpdate{MessagingLimit: &unlimited})
	must(t, err)
	rem, _, err = store.MessagingBudgetRemaining(ctx, db, ws.ID, t0)
	must(t, err)
	if rem != -1 {
		t.Fatalf("unlimited: remaining %d, want -1", rem)
	}
}

func TestCampaignCountsMatchRecount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Tx(t)
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "counters"})
	must(t, err)
	var campaignID int64
	must(t, db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, 'c', 'running') RETURNING id`, ws.ID).Scan(&campaignID))
	_, err = db.Exec(ctx, `INSERT INTO contacts (workspace_id, phone_e164) SELECT $1, '+57302' || lpad(g::text, 7, '0') FROM generate_series(1, 1000) g`, ws.ID)
	must(t, err)
	_, err = db.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164)
		SELECT workspace_id, $2, id, phone_e164 FROM contacts WHERE workspace_id = $1`, ws.ID, campaignID)
	must(t, err)
	// A mix of bulk and single-row moves, including no-op updates.
	for _, q := range []string{
		`UPDATE recipients SET state = 'queued' WHERE campaign_id = $1 AND id % 3 = 0`,
		`UPDATE recipients SET state = 'sending' WHERE campaign_id = $1 AND state = 'queued' AND id % 2 = 0`,
		`UPDATE recipients SET state = 'sent' WHERE campaign_id = $1 AND state = 'sending' AND id % 5 <> 0`,
		`UPDATE recipients SET state = 'failed' WHERE campaign_id = $1 AND state = 'sending'`,
		`UPDATE recipients SET error_title = 'x' WHERE campaign_id = $1 AND state = 'failed'`,
		`UPDATE recipients SET state = 'delivered' WHERE id = (SELECT min(id) FROM recipients WHERE campaign_id = $1 AND state = 'sent')`,
		`DELETE FROM recipients WHERE id = (SELECT max(id) FROM recipients WHERE campaign_id = $1 AND state = 'pending')`,
	} {
		_, err := db.Exec(ctx, q, campaignID)
		must(t, err)
	}
	got, err := store.CampaignCounts(ctx, db, ws.ID, campaignID)
	must(t, err)
	rows, err := db.Query(ctx, `SELECT state, count(*) FROM recipients WHERE campaign_id = $1 GROUP BY state`, campaignID)
	must(t, err)
	want := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		must(t, rows.Scan(&s, &n))
		want[s] = n
	}
	must(t, rows.Err())
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("counters %v, recount %v", got, want)
	}
	other, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "other"})
	must(t, err)
	if got, _ := store.CampaignCounts(ctx, db, other.ID, campaignID); len(got) != 0 {
		t.Fatalf("another workspace reads counters %v", got)
	}
}

// Recovering stale sends skips the recipients another transaction holds (a send job claiming a
// late one) instead of waiting for it: the pacer once spent its whole timeout waiting behind
// slow claims. The held one is recovered once free, at a later tick.
func TestRecoverStaleSkipsHeldRecipients(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "stale"})
	must(t, err)
	var campaignID int64
	must(t, db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, 'c', 'running') RETURNING id`, ws.ID).Scan(&campaignID))
	_, err = db.Exec(ctx, `
		WITH c AS (INSERT INTO contacts (workspace_id, phone_e164) SELECT $1, '+57302' || lpad(g::text, 7, '0') FROM generate_series(1, 4) g RETURNING id, phone_e164)
		INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, send_slot, sending_at)
		SELECT $1, $2, id, phone_e164, CASE WHEN id % 2 = 0 THEN 'queued' ELSE 'sending' END, now() - interval '1 minute', now() - interval '1 minute'
		FROM c`, ws.ID, campaignID)
	must(t, err)
	var held []int64
	rows, err := db.Query(ctx, `SELECT min(id) FROM recipients WHERE campaign_id = $1 GROUP BY state ORDER BY 1`, campaignID)
	must(t, err)
	for rows.Next() {
		var id int64
		must(t, rows.Scan(&id))
		held = append(held, id)
	}
	must(t, rows.Err())
	tx, err := db.Begin(ctx)
	must(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SELECT 1 FROM recipients WHERE id = ANY($1) FOR UPDATE`, held)
	must(t, err)

	deadline, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cutoff := time.Now().Add(-time.Second)
	requeued, unknown, err := store.RecipientsRecoverStale(deadline, db, ws.ID, []int64{campaignID}, cutoff, cutoff)
	if err != nil {
		t.Fatalf("recovering beside a held recipient: %v", err)
	}
	if requeued != 1 || unknown != 1 {
		t.Errorf("requeued %d and unknown %d beside the held ones, want 1 and 1", requeued, unknown)
	}
	must(t, tx.Rollback(ctx))
	requeued, unknown, err = store.RecipientsRecoverStale(ctx, db, ws.ID, []int64{campaignID}, cutoff, cutoff)
	must(t, err)
	if requeued != 1 || unknown != 1 {
		t.Errorf("once free: requeued %d and unknown %d, want 1 and 1", requeued, unknown)
	}
}
