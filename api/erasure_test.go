package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/riverqueue/river"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// TestErasureBlanksWebhookBodies: erasing a contact also blanks the stored raw webhook bodies
// that name their phone or WhatsApp id, by a job queued with the erasure; bodies about others
// stay, a body not processed yet waits its turn, and nothing keeps the phone once it is done.
func TestErasureBlanksWebhookBodies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newWebhookEnv(t)
	var id int64
	if err := e.db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164, wa_id, name, consent_at)
		VALUES ($1, '+5215512345678', '5215512345678', 'Lucía', now()) RETURNING id`, e.wsA.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	body := func(from, text string) string {
		return `{"object":"whatsapp_business_account","entry":[{"id":"` + wabaA + `","changes":[{"field":"messages","value":{"contacts":[{"wa_id":"` +
			from + `","profile":{"name":"Lucía"}}],"messages":[{"from":"` + from + `","type":"text","text":{"body":"` + text + `"}}]}}]}]}`
	}
	inbox := func(b, status string) (rowID int64) {
		t.Helper()
		if err := e.db.QueryRow(ctx, `INSERT INTO webhook_inbox (workspace_id, body, status) VALUES ($1, convert_to($2, 'UTF8'), $3) RETURNING id`,
			e.wsA.ID, b, status).Scan(&rowID); err != nil {
			t.Fatal(err)
		}
		return rowID
	}
	hers := inbox(body("5215512345678", "Hola, soy Lucía"), "processed")
	other := inbox(body("573001112233", "Hola, soy Pedro"), "processed")
	pending := inbox(body("5215512345678", "¿Siguen abiertos?"), "pending")
	bodyOf := func(rowID int64) (s string) {
		e.db.QueryRow(ctx, `SELECT convert_from(body, 'UTF8') FROM webhook_inbox WHERE id = $1`, rowID).Scan(&s)
		return s
	}

	e.as(store.RoleOwner).do("DELETE", "/api/v1/contacts/"+strconv.FormatInt(id, 10), nil).expect(t, http.StatusNoContent)
	var args []byte
	if err := e.db.QueryRow(ctx, `SELECT args FROM river_job WHERE kind = 'erase_webhook_bodies'`).Scan(&args); err != nil {
		t.Fatalf("no scrub job queued with the erasure: %v", err)
	}
	var job river.Job[jobs.EraseWebhookBodiesArgs]
	if err := json.Unmarshal(args, &job.Args); err != nil {
		t.Fatal(err)
	}
	w := jobs.NewEraseWebhookBodiesWorker(jobs.Deps{DB: e.db})

	var snooze *river.JobSnoozeError
	if err := w.Work(ctx, &job); !errors.As(err, &snooze) {
		t.Fatalf("with a body naming her still pending: %v, want a snooze", err)
	}
	if b := bodyOf(hers); b == body("5215512345678", "Hola, soy Lucía") || json.Valid([]byte(b)) == false {
		t.Fatalf("her processed body was not blanked: %s", b)
	}
	if b := bodyOf(other); b != body("573001112233", "Hola, soy Pedro") {
		t.Fatalf("another person's body changed: %s", b)
	}
	if b := bodyOf(pending); b != body("5215512345678", "¿Siguen abiertos?") {
		t.Fatalf("a pending body was blanked before processing: %s", b)
	}

	if _, err := e.db.Exec(ctx, `UPDATE webhook_inbox SET status = 'processed' WHERE id = $1`, pending); err != nil {
		t.Fatal(err)
	}
	if err := w.Work(ctx, &job); err != nil {
		t.Fatal(err)
	}
	if b := bodyOf(pending); b == body("5215512345678", "¿Siguen abiertos?") {
		t.Fatalf("her second body was not blanked once processed: %s", b)
	}
	var left, naming int
	e.db.QueryRow(ctx, `SELECT count(*) FROM erasure_scrubs`).Scan(&left)
	e.db.QueryRow(ctx, `SELECT count(*) FROM webhook_inbox WHERE position('5512345678'::bytea IN body) > 0`).Scan(&naming)
	if left != 0 || naming != 0 {
		t.Fatalf("after the scrub: %d scrub rows keep the phone, %d bodies still name it", left, naming)
	}
}

// An opt-out outlives the erasure of the person's data: the erasure of a contact who opted out
// keeps only a keyed hash of the phone, and the number cannot be added again to that workspace
// (by the API here; imports in importers' tests). Contacts who never opted out leave nothing.
func TestErasedOptOutStaysSuppressed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newTestEnv(t)
	m := env.as(store.RoleMarketer)
	create := func(c caller, phone string) response {
		return c.do(http.MethodPost, "/api/v1/contacts", map[string]any{"phone": phone, "name": "Marta",
			"consent": map[string]any{"source": "formulario", "text": "Acepto promociones"}})
	}
	var marta, pablo store.Contact
	create(m, "+57 300 555 0101").expect(t, http.StatusCreated).JSON(t, &marta)
	create(m, "+57 300 555 0202").expect(t, http.StatusCreated).JSON(t, &pablo)
	path := "/api/v1/contacts/" + strconv.FormatInt(marta.ID, 10)
	m.do(http.MethodPost, path+"/opt-out", map[string]any{"reason": "no quiere más mensajes"}).expect(t, http.StatusOK)
	owner := env.as(store.RoleOwner)
	owner.do(http.MethodDelete, path, nil).expect(t, http.StatusNoContent)
	owner.do(http.MethodDelete, "/api/v1/contacts/"+strconv.FormatInt(pablo.ID, 10), nil).expect(t, http.StatusNoContent)

	var n int
	var kept bool
	if err := env.db.QueryRow(ctx, `SELECT count(*), bool_or(position('3005550101' IN encode(phone_hash, 'escape')) > 0 OR encode(phone_hash, 'hex') LIKE '%3005550101%')
		FROM suppressed_phones WHERE workspace_id = $1`, env.wsA.ID).Scan(&n, &kept); err != nil {
		t.Fatal(err)
	}
	if n != 1 || kept {
		t.Fatalf("suppression list: %d entries, phone in clear %v (want only Marta's, hashed)", n, kept)
	}
	r := create(m, "3005550101").expect(t, http.StatusConflict)
	if !strings.Contains(string(r.Body), "se dio de baja") {
		t.Errorf("re-adding the erased opted-out number: %s", r.Body)
	}
	// Changing another contact's phone to it is refused too.
	var ana store.Contact
	create(m, "+57 300 555 0303").expect(t, http.StatusCreated).JSON(t, &ana)
	m.do(http.MethodPatch, "/api/v1/contacts/"+strconv.FormatInt(ana.ID, 10), map[string]any{"phone": "+573005550101"}).expect(t, http.StatusConflict)
	// Pablo never opted out: his number may come back. Workspace B never had Marta.
	create(m, "+57 300 555 0202").expect(t, http.StatusCreated)
	create(env.asB(store.RoleMarketer), "+57 300 555 0101").expect(t, http.StatusCreated)
}
