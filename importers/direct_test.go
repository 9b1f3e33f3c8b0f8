package importers

import (
	"context"
	"testing"

	"github.com/pregon/pregon/store"
)

// A contact created by someone else after the import read the workspace's phones: the chunk
// holding its phone goes through the merge, which updates it, and nothing is lost or doubled.
// (Not parallel: it sets a package hook.)
func TestRunConcurrentInsert(t *testing.T) {
	ctx := context.Background()
	b := setupRun(t)
	path := writeFile(t, "lista.csv", []byte("Celular;Nombre;Acepta\n"+
		"3001111111;Uno;sí\n3002222222;Dos;sí\n3003333333;Tres;no\n3004444444;Cuatro;sí\n"))
	testHookPhonesLoaded = func() {
		if _, err := b.pool.Exec(ctx, `INSERT INTO contacts (workspace_id, phone_e164, country, name) VALUES ($1, '+573003333333', 'CO', 'Otro')`, b.ws.ID); err != nil {
			t.Error(err)
		}
	}
	defer func() { testHookPhonesLoaded = nil }()
	res, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 3 || res.Updated != 1 || res.RowsRead != 4 {
		t.Fatalf("result %+v", res)
	}
	cs := b.contacts(t)
	if len(cs) != 4 || cs["+573003333333"].Name != "Tres" || cs["+573001111111"].Name != "Uno" || cs["+573004444444"].ConsentAt == nil {
		t.Fatalf("contacts %+v", cs)
	}
	if n := b.count(t, `SELECT count(*) FROM consent_events WHERE workspace_id = $1 AND kind = 'opt_in'`, b.ws.ID); n != 3 {
		t.Errorf("%d opt_in events, want 3", n)
	}
	if n := b.count(t, `SELECT count(*) FROM consent_events e JOIN contacts c ON c.id = e.contact_id
		WHERE c.workspace_id = $1 AND e.evidence = c.consent_evidence AND (e.evidence->>'import_id')::bigint = $2`, b.ws.ID, res.ImportID); n != 3 {
		t.Errorf("%d events carry their contact's evidence, want 3", n)
	}
}

// Deleting contacts deletes their consent events, and deleting a workspace its contacts
// (migration 0060 keeps the cascades of the foreign keys it drops).
func TestContactCascades(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupRun(t)
	path := writeFile(t, "lista.csv", []byte("Celular;Nombre;Acepta\n3001111111;Uno;sí\n3002222222;Dos;sí\n"))
	if _, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path}, nil); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM consent_events WHERE workspace_id = $1`, b.ws.ID); n != 2 {
		t.Fatalf("%d consent events", n)
	}
	if _, err := b.pool.Exec(ctx, `DELETE FROM contacts WHERE workspace_id = $1 AND phone_e164 = '+573001111111'`, b.ws.ID); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM consent_events WHERE workspace_id = $1`, b.ws.ID); n != 1 {
		t.Fatalf("%d consent events after deleting a contact, want 1", n)
	}
	if _, err := b.pool.Exec(ctx, `DELETE FROM workspaces WHERE id = $1`, b.ws.ID); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, b.ws.ID); n != 0 {
		t.Errorf("%d contacts after deleting the workspace", n)
	}
	if n := b.count(t, `SELECT count(*) FROM consent_events WHERE workspace_id = $1`, b.ws.ID); n != 0 {
		t.Errorf("%d consent events after deleting the workspace", n)
	}
}

// The consent events of an import run by a user name that user as their actor; deleting the
// user keeps the events and clears the actor (the delete trigger of migration 0090, which
// replaced the foreign key).
func TestRunActorKeptAndClearedOnUserDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupRun(t)
	u, err := store.UserCreate(ctx, b.pool, store.UserCreateParams{WorkspaceID: b.ws.ID, Email: "ana@example.com",
		Password: "una clave larga", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	other, err := store.UserCreate(ctx, b.pool, store.UserCreateParams{WorkspaceID: b.ws.ID, Email: "beto@example.com",
		Password: "otra clave larga", Role: store.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "lista.csv", []byte("Celular;Nombre;Acepta\n3001111111;Uno;sí\n3002222222;Dos;sí\n3003333333;Tres;no\n"))
	if _, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path, UserID: u.ID}, nil); err != nil {
		t.Fatal(err)
	}
	path = writeFile(t, "otra.csv", []byte("Celular;Nombre;Acepta\n3004444444;Cuatro;sí\n"))
	if _, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path, UserID: other.ID}, nil); err != nil {
		t.Fatal(err)
	}
	q := `SELECT count(*) FROM consent_events WHERE workspace_id = $1 AND kind = 'opt_in' AND actor_user_id = $2`
	if n := b.count(t, q, b.ws.ID, u.ID); n != 2 {
		t.Fatalf("%d opt_in events with the user as actor, want 2", n)
	}
	if _, err := b.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM consent_events WHERE workspace_id = $1 AND kind = 'opt_in' AND actor_user_id IS NULL`, b.ws.ID); n != 2 {
		t.Errorf("%d opt_in events without an actor after deleting the user, want 2", n)
	}
	if n := b.count(t, q, b.ws.ID, other.ID); n != 1 {
		t.Errorf("%d opt_in events of the other user, want 1 (untouched)", n)
	}
}

// A re-import that documents consent for a contact who had none records it on the contact and
// as an opt_in event with the same source, text and evidence (the merge path).
func TestMergeGrantsConsentWithItsEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupRun(t)
	if _, err := b.pool.Exec(ctx, `INSERT INTO contacts (workspace_id, phone_e164, country, name) VALUES ($1, '+573001111111', 'CO', 'Uno')`, b.ws.ID); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "lista.csv", []byte("Celular;Nombre;Acepta;Origen\n3001111111;Uno;sí;feria\n"))
	res, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path, Mode: store.ImportModeUpdate,
		Consent: Declaration{Text: "Acepto ofertas v3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Updated != 1 || res.WithoutConsent != 0 {
		t.Fatalf("result %+v", res)
	}
	var source, text, evRow string
	err = b.pool.QueryRow(ctx, `SELECT e.source, e.consent_text, e.evidence->>'row' FROM consent_events e JOIN contacts c ON c.id = e.contact_id
		WHERE c.workspace_id = $1 AND e.kind = 'opt_in' AND e.source = c.consent_source AND e.consent_text = c.consent_text
		  AND e.evidence = c.consent_evidence AND (e.evidence->>'import_id')::bigint = $2`, b.ws.ID, res.ImportID).Scan(&source, &text, &evRow)
	if err != nil {
		t.Fatalf("no opt_in event matching the contact's consent: %v", err)
	}
	if source != "feria" || text != "Acepto ofertas v3" || evRow != "2" {
		t.Errorf("event: source %q, text %q, row %s", source, text, evRow)
	}
}
