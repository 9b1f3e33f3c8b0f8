package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// TestLedgerTestSendThenCampaign: a test send to a phone that is not a contact yet, then a
// campaign reaching the contact with that phone, count one person against the limit.
func TestLedgerTestSendThenCampaign(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t)
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "ledger", MessagingLimit: 250})
	if err != nil {
		t.Fatal(err)
	}
	var campaign, contact int64
	if err := db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, 'c', 'draft') RETURNING id`, ws.ID).Scan(&campaign); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, _, err := store.MessagingLedgerRecordTest(ctx, db, ws.ID, campaign, nil, "+573001234567", now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164, consent_at) VALUES ($1, '+573001234567', now()) RETURNING id`,
		ws.ID).Scan(&contact); err != nil {
		t.Fatal(err)
	}
	counted, err := store.MessagingLedgerCountedAmong(ctx, db, ws.ID, []int64{contact}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !counted[contact] {
		t.Fatal("the contact tested an hour ago as a phone is not counted: a campaign would count them again")
	}
	if rem, _, err := store.MessagingBudgetRemaining(ctx, db, ws.ID, now); err != nil || rem != 249 {
		t.Fatalf("remaining %d (%v), want 249", rem, err)
	}
}
