package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// A status webhook that arrives after a contact's erasure (a late "read" of a message sent
// before it) names their WhatsApp id: the status sweep blanks its raw body and what its status
// event kept, and leaves other contacts' webhooks as they are.
func TestLateWebhooksAboutErasedContactsAreBlanked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	ws, campaignID, contacts := ledgerFixture(t, db, "borrado tardío", "+57304", 2)
	lucia := contacts[0]
	for i, c := range contacts {
		_, err := db.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, attempts)
			SELECT $1, $2, id, phone_e164, 'delivered', $3, 1 FROM contacts WHERE id = $4`, ws.ID, campaignID, []string{"wamid.L", "wamid.P"}[i], c)
		must(t, err)
	}
	must(t, store.ContactErase(ctx, db, ws.ID, lucia))
	// Then Meta's "read" statuses arrive, Lucía's naming her WhatsApp id.
	late := func(wamid, waID string) (inbox int64) {
		t.Helper()
		body := `{"statuses":[{"id":"` + wamid + `","status":"read","recipient_id":"` + waID + `"}]}`
		must(t, db.QueryRow(ctx, `INSERT INTO webhook_inbox (workspace_id, body, status) VALUES ($1, convert_to($2, 'UTF8'), 'processed') RETURNING id`,
			ws.ID, body).Scan(&inbox))
		_, err := db.Exec(ctx, `INSERT INTO status_events (workspace_id, wamid, status, occurred_at, recipient_wa_id, inbox_id, raw)
			VALUES ($1, $2, 'read', $3, $4, $5, $6)`, ws.ID, wamid, time.Now(), waID, inbox, body)
		must(t, err)
		return inbox
	}
	hers, his := late("wamid.L", "573040000000"), late("wamid.P", "573040000001")

	n, err := store.StatusEventsScrubErased(ctx, db)
	must(t, err)
	body := func(id int64) (s string) {
		must(t, db.QueryRow(ctx, `SELECT convert_from(body, 'UTF8') FROM webhook_inbox WHERE id = $1`, id).Scan(&s))
		return s
	}
	var waID, raw string
	must(t, db.QueryRow(ctx, `SELECT recipient_wa_id, raw::text FROM status_events WHERE wamid = 'wamid.L' AND status = 'read'`).Scan(&waID, &raw))
	if n != 1 || strings.Contains(body(hers), "573040000000") || waID != "" || strings.Contains(raw, "573040000000") {
		t.Errorf("blanked %d bodies; hers %q, her event wa_id %q raw %s (want all blank)", n, body(hers), waID, raw)
	}
	if !strings.Contains(body(his), "573040000001") {
		t.Errorf("Pedro's webhook was blanked: %q", body(his))
	}
	if n, err := store.StatusEventsScrubErased(ctx, db); err != nil || n != 0 {
		t.Errorf("a second sweep blanked %d bodies (%v), want none", n, err)
	}
}
