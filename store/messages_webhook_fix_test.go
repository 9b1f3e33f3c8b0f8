package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// Errors reach logs and River's job errors: they name the workspace and a redacted number,
// never a person's whole phone number.
func TestWAContactEnsureErrorsHidePhoneNumbers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := pgtest.Tx(t)
	if _, err := tx.Exec(ctx, `
		CREATE FUNCTION refuse_contact() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'refused'; END $$;
		CREATE TRIGGER refuse_contact BEFORE INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION refuse_contact();`); err != nil {
		t.Fatal(err)
	}
	_, err := store.WAContactEnsure(ctx, tx, 999999999, store.WAContact{
		WAID: "5215511111112", Candidates: []string{"+525511111112"}, E164: "+525511111112"})
	if err == nil {
		t.Fatal("creating a contact the database refuses succeeded")
	}
	if strings.Contains(err.Error(), "5511111112") || !strings.Contains(err.Error(), "999999999") {
		t.Fatalf("error %q: want the workspace and no phone number", err)
	}
}

// A stored body that keeps failing is set aside once; one processed meanwhile is left alone.
func TestWebhookInboxFail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := pgtest.Tx(t)
	var pending, done int64
	if err := tx.QueryRow(ctx, `INSERT INTO webhook_inbox (body) VALUES ('{}') RETURNING id`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, `INSERT INTO webhook_inbox (body, status) VALUES ('{}', 'processed') RETURNING id`).Scan(&done); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{pending, done} {
		if err := store.WebhookInboxFail(ctx, tx, id, "no se pudo procesar: x\x00"); err != nil {
			t.Fatal(err)
		}
	}
	var st1, st2, e string
	if err := tx.QueryRow(ctx, `SELECT (SELECT status FROM webhook_inbox WHERE id = $1), (SELECT error FROM webhook_inbox WHERE id = $1),
		(SELECT status FROM webhook_inbox WHERE id = $2)`, pending, done).Scan(&st1, &e, &st2); err != nil {
		t.Fatal(err)
	}
	if st1 != "unparseable" || e != "no se pudo procesar: x" || st2 != "processed" {
		t.Fatalf("pending → %s %q, processed → %s; want unparseable with the reason, processed untouched", st1, e, st2)
	}
}
