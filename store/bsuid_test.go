package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

func TestContactBSUID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const bsuid = "CO.4410982733"
	setup := func(t *testing.T) (store.DBTX, store.Workspace, store.Contact) {
		db := pgtest.Tx(t)
		ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "A"})
		chk(t, err)
		c, err := store.ContactCreate(ctx, db, store.ContactCreateParams{WorkspaceID: ws.ID, Phone: "+573001234567", Country: "CO", Name: "Lucía"})
		chk(t, err)
		res, err := store.WAContactEnsure(ctx, db, ws.ID, store.WAContact{WAID: "573001234567", Candidates: []string{"+573001234567"}, BSUID: bsuid})
		chk(t, err)
		if res.ID != c.ID {
			t.Fatalf("the webhook's phone found contact %d, want %d", res.ID, c.ID)
		}
		got, err := store.ContactGetByID(ctx, db, ws.ID, c.ID)
		chk(t, err)
		if got.BSUID == nil || *got.BSUID != bsuid {
			t.Fatalf("BSUID %v after a webhook gave it with the phone, want %s", got.BSUID, bsuid)
		}
		return db, ws, got
	}

	t.Run("ErasureClearsIt", func(t *testing.T) {
		t.Parallel()
		db, ws, c := setup(t)
		scrub, err := store.ContactEraseScrub(ctx, db, ws.ID, c.ID, nil)
		chk(t, err)
		got, err := store.ContactGetByID(ctx, db, ws.ID, c.ID)
		chk(t, err)
		if got.BSUID != nil {
			t.Errorf("erased contact keeps BSUID %s", *got.BSUID)
		}
		if id, err := store.ContactIDByBSUID(ctx, db, ws.ID, bsuid); err != nil || id != 0 {
			t.Errorf("the BSUID still finds contact %d (%v) after the erasure", id, err)
		}
		// Raw webhook bodies naming the BSUID are blanked like those naming the phone.
		var needles []string
		chk(t, db.QueryRow(ctx, `SELECT needles FROM erasure_scrubs WHERE id = $1`, scrub).Scan(&needles))
		if !slices.Contains(needles, bsuid) {
			t.Errorf("the webhook scrub looks for %v, not the BSUID", needles)
		}
		// A message with only the BSUID after the erasure finds nobody.
		res, err := store.WAContactEnsure(ctx, db, ws.ID, store.WAContact{BSUID: bsuid})
		chk(t, err)
		if res.ID != 0 {
			t.Errorf("a BSUID-only message after the erasure found contact %d", res.ID)
		}
	})

	t.Run("PhoneChangeClearsIt", func(t *testing.T) {
		t.Parallel()
		db, ws, c := setup(t)
		phone := "+573009999999"
		got, err := store.ContactUpdateByID(ctx, db, ws.ID, c.ID, store.ContactUpdate{Phone: &phone})
		chk(t, err)
		if got.BSUID != nil {
			t.Errorf("after the phone changed by hand the contact keeps the old number's BSUID %s", *got.BSUID)
		}
	})

	t.Run("BSUIDOnlyFindsNeverCreates", func(t *testing.T) {
		t.Parallel()
		db, ws, c := setup(t)
		res, err := store.WAContactEnsure(ctx, db, ws.ID, store.WAContact{BSUID: bsuid})
		chk(t, err)
		if res.ID != c.ID || res.Created {
			t.Errorf("BSUID alone: %+v, want contact %d found", res, c.ID)
		}
		res, err = store.WAContactEnsure(ctx, db, ws.ID, store.WAContact{BSUID: "CO.1"})
		chk(t, err)
		var n int
		chk(t, db.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, ws.ID).Scan(&n))
		if res.ID != 0 || n != 1 {
			t.Errorf("an unknown BSUID alone: %+v, %d contacts; want none found and none created", res, n)
		}
	})
}

// A status comes days after its send. By then the person may have moved to another phone, whose
// contact learned the BSUID from their messages, or the contact's phone may have been changed by
// hand: a late status neither takes the BSUID back to the old contact nor gives it to a contact
// that no longer has the phone the message went to.
func TestLateStatusesDoNotMoveBSUIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const u = "CO.4410982733"
	// A contact X at +573001111111 that a campaign message (wamid w-old) reached.
	setup := func(t *testing.T) (store.DBTX, store.Workspace, int64) {
		db := pgtest.Tx(t)
		ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "A"})
		chk(t, err)
		x, err := store.ContactCreate(ctx, db, store.ContactCreateParams{WorkspaceID: ws.ID, Phone: "+573001111111", Country: "CO"})
		chk(t, err)
		var cid int64
		chk(t, db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, 'c', 'completed') RETURNING id`, ws.ID).Scan(&cid))
		_, err = db.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, attempts)
			VALUES ($1, $2, $3, '+573001111111', 'delivered', 'w-old', 1)`, ws.ID, cid, x.ID)
		chk(t, err)
		return db, ws, x.ID
	}
	lateRead := func(t *testing.T, db store.DBTX, ws store.Workspace) {
		_, err := store.ContactsLearnBSUIDs(ctx, db, []store.BSUIDSighting{{WorkspaceID: ws.ID, WAMID: "w-old", BSUID: u}})
		chk(t, err)
	}

	t.Run("PersonMovedToANewPhone", func(t *testing.T) {
		db, ws, _ := setup(t)
		// The person writes from a new phone: its contact Y is created and learns the BSUID.
		y, err := store.WAContactEnsure(ctx, db, ws.ID, store.WAContact{WAID: "573002222222", Candidates: []string{"+573002222222"},
			E164: "+573002222222", Country: "CO", BSUID: u})
		chk(t, err)
		lateRead(t, db, ws)
		if got, _ := store.ContactIDByBSUID(ctx, db, ws.ID, u); got != y.ID {
			t.Fatalf("the late status moved the BSUID from the person's current contact %d to %d", y.ID, got)
		}
	})
	t.Run("PhoneChangedByHand", func(t *testing.T) {
		db, ws, x := setup(t)
		phone := "+573009999999"
		_, err := store.ContactUpdateByID(ctx, db, ws.ID, x, store.ContactUpdate{Phone: &phone})
		chk(t, err)
		lateRead(t, db, ws)
		c, err := store.ContactGetByID(ctx, db, ws.ID, x)
		chk(t, err)
		if c.BSUID != nil {
			t.Fatalf("the contact now at %s learned the BSUID %s of the person at its old phone", c.Phone, *c.BSUID)
		}
	})
	t.Run("StillTheSamePhone", func(t *testing.T) {
		db, ws, x := setup(t)
		lateRead(t, db, ws)
		if got, _ := store.ContactIDByBSUID(ctx, db, ws.ID, u); got != x {
			t.Fatalf("the BSUID names %d, want the contact the message reached (%d)", got, x)
		}
	})
}
