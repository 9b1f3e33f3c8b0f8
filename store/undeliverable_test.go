package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// A contact whose messages WhatsApp reports undeliverable (131026) three times, through status
// webhooks or send responses, leaves every audience with that reason: sending again only burns
// the messaging limit and the number's quality. A message from the person proves their
// WhatsApp works and brings them back.
func TestUndeliverableContactsLeaveAudiences(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "undeliverable"})
	must(t, err)
	var contactID int64
	must(t, db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164, consent_at) VALUES ($1, '+573001112233', now()) RETURNING id`,
		ws.ID).Scan(&contactID))
	// Four campaigns reach the contact: the first two failures come by webhook, the third in a
	// send response; the fourth campaign still has the contact pending.
	campaigns := make([]int64, 4)
	for i := range campaigns {
		state, wamid := "sent", any(fmt.Sprintf("wamid.u%d", i))
		if i == 3 {
			state, wamid = "pending", nil
		}
		must(t, db.QueryRow(ctx, `WITH c AS (INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, $2, 'running') RETURNING id)
			INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, attempts)
			SELECT $1, c.id, $3, '+573001112233', $4, $5, 1 FROM c RETURNING campaign_id`,
			ws.ID, fmt.Sprintf("c%d", i), contactID, state, wamid).Scan(&campaigns[i]))
	}
	marketable := func() store.Contact {
		t.Helper()
		c, err := store.ContactGetByID(ctx, db, ws.ID, contactID)
		must(t, err)
		return c
	}
	code := 131026
	for i := range 2 {
		must(t, pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			_, err := store.StatusEventsIngest(ctx, tx, []store.StatusEvent{{WorkspaceID: &ws.ID, WAMID: fmt.Sprintf("wamid.u%d", i),
				Status: "failed", OccurredAt: time.Now(), ErrorCode: &code, ErrorTitle: "Message undeliverable"}})
			return err
		}))
	}
	if c := marketable(); !c.Marketable || c.UndeliverableCount != 2 {
		t.Fatalf("after two 131026: marketable %v, count %d (want still marketable, 2)", c.Marketable, c.UndeliverableCount)
	}
	must(t, store.ContactUndeliverable(ctx, db, ws.ID, contactID))
	c := marketable()
	if c.Marketable || len(c.NotMarketable) != 1 || c.NotMarketable[0].Code != "undeliverable" {
		t.Fatalf("after the third 131026: marketable %v, reasons %+v (want undeliverable)", c.Marketable, c.NotMarketable)
	}
	// The running campaign skips the contact when it releases them.
	var got []store.ClaimCandidate
	must(t, pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		got, err = store.RecipientsClaim(ctx, tx, store.ClaimParams{WorkspaceID: ws.ID, CampaignID: campaigns[3], Now: time.Now(), Limit: 10})
		return err
	}))
	var state, reason string
	must(t, db.QueryRow(ctx, `SELECT state, skip_reason FROM recipients WHERE campaign_id = $1`, campaigns[3]).Scan(&state, &reason))
	if len(got) != 0 || state != "skipped" || reason != "undeliverable" {
		t.Errorf("releasing the pending recipient: claimed %d, state %s, reason %q (want skipped as undeliverable)", len(got), state, reason)
	}
	// The person writes to the business: their WhatsApp works.
	must(t, store.WAContactTouchInbound(ctx, db, ws.ID, contactID, time.Now()))
	if c := marketable(); !c.Marketable || c.UndeliverableCount != 0 {
		t.Errorf("after a message from the person: marketable %v %+v, count %d (want marketable again)", c.Marketable, c.NotMarketable, c.UndeliverableCount)
	}
}
