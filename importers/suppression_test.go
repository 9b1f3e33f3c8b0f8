package importers

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/pregon/pregon/internal/secret"
	"github.com/pregon/pregon/store"
)

// Opt-outs are never undone by an import, not even after the person's data was erased: a
// contact who opted out and was erased left their phone's keyed hash on the suppression list,
// and a later import of an old list rejects that row, saying why, while the others import.
func TestRunRejectsErasedOptOuts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupRun(t)
	box, err := secret.New(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := b.pool.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164, name, consent_at, opted_out_at)
		VALUES ($1, '+573001234567', 'Marta', now(), now()) RETURNING id`, b.ws.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ContactEraseScrub(ctx, b.pool, b.ws.ID, id, box.Hash); err != nil {
		t.Fatal(err)
	}
	csv := []byte("Nombre;Celular;Acepta\nMarta;300 123 4567;sí\nLuis;310 987 6543;sí\n")
	res, err := runFile(t, b, "lista.csv", csv, Params{PhoneHash: box.Hash})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 1 || res.Rejected != 1 {
		t.Errorf("inserted %d, rejected %d (want Luis in, Marta out)", res.Inserted, res.Rejected)
	}
	errs := importErrors(t, b, res.ImportID)
	if !slices.Equal(errs, []string{"2|Celular|" + suppressedReason}) {
		t.Errorf("error report %q", errs)
	}
	var n int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE workspace_id = $1 AND phone_e164 = '+573001234567'`,
		b.ws.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("the erased opted-out number is a contact again (%d, %v)", n, err)
	}
}
