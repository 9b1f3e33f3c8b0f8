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
