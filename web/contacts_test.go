package web

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/xuri/excelize/v2"

	"github.com/pregon/pregon/store"
)

func TestContacts(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	seedAudience(t, env, env.wsA.ID, 3)
	seedAudience(t, env, env.wsB.ID, 1)
	ctx := context.Background()
	var id, idB, noConsent int64
	env.db.QueryRow(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 AND phone_e164 = '+573005500001'`, env.wsA.ID).Scan(&id)
	env.db.QueryRow(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 AND consent_at IS NULL`, env.wsA.ID).Scan(&noConsent)
	env.db.QueryRow(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 LIMIT 1`, env.wsB.ID).Scan(&idB)
	if _, err := env.db.Exec(ctx, `INSERT INTO messages (workspace_id, contact_id, direction, wamid, type, body, occurred_at)
		VALUES ($1, $2, 'echo', 'wamid.echo1', 'text', 'Hola, te escribo desde la tienda', now()),
		       ($1, $2, 'inbound', 'wamid.in1', 'text', '¿Tienen talla 38?', now() - interval '1 hour')`, env.wsA.ID, id); err != nil {
		t.Fatal(err)
	}

	for _, role := range allRoles {
		t.Run(string(role), func(t *testing.T) {
			b := env.as(role)
			p := b.get("/contacts").expect(t, http.StatusOK)
			if n := p.Doc.Find("tr[data-contact]").Length(); n != 4 {
				t.Fatalf("%d contacts listed, want 4 (B's must not show)", n)
			}
			p = b.get("/contacts?q=Cliente+1").expect(t, http.StatusOK)
			p.has(t, `tr[data-contact="`+itoa(id)+`"]`)
			p = b.get("/contacts?marketable=false").expect(t, http.StatusOK)
			p.has(t, `tr[data-contact="`+itoa(noConsent)+`"]`)
			if p.Doc.Find("tr[data-contact]").Length() != 1 {
				t.Fatal("marketable filter ignored")
			}
			p = b.get("/contacts/"+itoa(id)).expect(t, http.StatusOK)
			p.contains(t, "h1", "Cliente 1 Pérez")
			p.contains(t, "dl.attributes", "Medellín")
			p.has(t, `ol.timeline li[data-kind="echo"]`)
			p.contains(t, `ol.timeline li[data-kind="inbound"]`, "talla 38")
			if role == store.RoleAnalyst {
				p.hasNot(t, "#optout-form")
				p.hasNot(t, "#contact-form")
			} else {
				p.has(t, "#optout-form")
				p.has(t, "#contact-form")
			}
			if role == store.RoleOwner { // erasing is for good: owners only
				p.has(t, "#erase-form")
			} else {
				p.hasNot(t, "#erase-form")
			}
		})
	}
	t.Run("ManualOptOut", func(t *testing.T) {
		env.as(store.RoleAnalyst).post("/contacts/"+itoa(id)+"/opt-out", url.Values{"reason": {"x"}}).expect(t, http.StatusForbidden)
		// without a reason: the page again, the error next to the opt-out's reason
		p := env.as(store.RoleMarketer).post("/contacts/"+itoa(id)+"/opt-out", url.Values{"reason": {"  "}}).expect(t, http.StatusUnprocessableEntity)
		p.contains(t, "#optout-form #e-reason", "motivo")
		p.contains(t, "#form-error", "No se pudo registrar la baja")
		p.contains(t, "#marketable", "puede recibir marketing")
		p.hasNot(t, "#contact-form .has-error")
		p = env.as(store.RoleMarketer).post("/contacts/"+itoa(id)+"/opt-out", url.Values{"reason": {"lo pidió por teléfono"}}).expect(t, http.StatusOK)
		p.has(t, ".flash-ok")
		p.contains(t, "#marketable", "no recibe marketing")
		p.contains(t, `ul.consent-history li[data-kind="opt_out"]`, "lo pidió por teléfono")
		p.hasNot(t, "#optout-form")
	})
	t.Run("OptInAgain", func(t *testing.T) {
		p := env.as(store.RoleMarketer).post("/contacts/"+itoa(id)+"/opt-in", url.Values{"reason": {""}}).expect(t, http.StatusUnprocessableEntity)
		p.has(t, "#form-error") // a reason is required: nothing recorded
		p.contains(t, "#marketable", "no recibe marketing")
		// what was typed stays, the error is next to the missing field
		p = env.as(store.RoleMarketer).post("/contacts/"+itoa(id)+"/opt-in", url.Values{"reason": {"escribió ALTA"}, "text": {""}}).expect(t, http.StatusUnprocessableEntity)
		if v, _ := p.has(t, "#f-optin-reason").Attr("value"); v != "escribió ALTA" {
			t.Fatalf("typed reason lost: %q", v)
		}
		p.has(t, "#e-optin-text")
		p.hasNot(t, "#e-optin-reason")
		p.contains(t, "#form-error", "No se pudo registrar el consentimiento")
		if v, _ := p.has(t, "#contact-form #f-name").Attr("value"); v != "Cliente 1 Pérez" {
			t.Fatalf("the edit form shows %q, want the stored name", v)
		}
		p = env.as(store.RoleMarketer).post("/contacts/"+itoa(id)+"/opt-in", url.Values{"reason": {"escribió ALTA por WhatsApp"}, "text": {"v2"}}).expect(t, http.StatusOK)
		p.has(t, ".flash-ok")
		p.hasNot(t, "#optin-form")
		p.has(t, "#optout-form")
		if !strings.Contains(p.Doc.Find("ul.consent-history").Text(), "escribió ALTA") {
			t.Fatalf("opt-in not in the consent history: %q", p.Doc.Find("ul.consent-history").Text())
		}
	})
	t.Run("EditDetails", func(t *testing.T) {
		form := func() url.Values {
			return url.Values{"name": {"Cliente Uno"}, "email": {"uno@example.com"}, "language": {"es"}, "tags": {"vip, mayorista;feria"}}
		}
		env.as(store.RoleAnalyst).post("/contacts/"+itoa(id), form()).expect(t, http.StatusForbidden)
		p := env.as(store.RoleMarketer).post("/contacts/"+itoa(id), form()).expect(t, http.StatusOK)
		p.has(t, ".flash-ok")
		p.contains(t, "h1", "Cliente Uno")
		var tags []string
		env.db.QueryRow(ctx, `SELECT tags FROM contacts WHERE id = $1`, id).Scan(&tags)
		if strings.Join(tags, ",") != "feria,mayorista,vip" && strings.Join(tags, ",") != "vip,mayorista,feria" {
			t.Fatalf("tags %v", tags)
		}
		p = env.as(store.RoleMarketer).post("/contacts/"+itoa(id), url.Values{"name": {"Cliente Dos"}, "email": {"no-es-un-correo"},
			"language": {"pt"}, "tags": {"vip, nueva"}}).expect(t, http.StatusUnprocessableEntity)
		p.contains(t, "#form-error", "No se pudo guardar el contacto")
		// the edits stay in the open form, the error next to the e-mail
		p.has(t, "details.edit[open]")
		p.has(t, "#contact-form #e-email")
		for field, want := range map[string]string{"name": "Cliente Dos", "email": "no-es-un-correo", "language": "pt", "tags": "vip, nueva"} {
			if v, _ := p.has(t, "#contact-form #f-"+field).Attr("value"); v != want {
				t.Errorf("after the rejected edit, %s shows %q, want %q as typed", field, v, want)
			}
		}
		p.contains(t, "h1", "Cliente Uno") // the stored name above
		var email string
		env.db.QueryRow(ctx, `SELECT coalesce(email, '') FROM contacts WHERE id = $1`, id).Scan(&email)
		if email != "uno@example.com" {
			t.Fatalf("a rejected edit changed the email to %q", email)
		}
	})
	t.Run("Erase", func(t *testing.T) {
		env.as(store.RoleAnalyst).post("/contacts/"+itoa(noConsent)+"/erase", url.Values{}).expect(t, http.StatusForbidden)
		env.as(store.RoleMarketer).post("/contacts/"+itoa(noConsent)+"/erase", url.Values{}).expect(t, http.StatusForbidden)
		p := env.as(store.RoleOwner).post("/contacts/"+itoa(noConsent)+"/erase", url.Values{}).expect(t, http.StatusOK)
		p.has(t, ".flash-ok")
		var erased bool
		env.db.QueryRow(ctx, `SELECT erased_at IS NOT NULL FROM contacts WHERE id = $1`, noConsent).Scan(&erased)
		if !erased {
			t.Fatal("contact not erased")
		}
		p = env.as(store.RoleMarketer).get("/contacts/"+itoa(noConsent)).expect(t, http.StatusOK)
		p.hasNot(t, "#contact-form")
		p.hasNot(t, "#erase-form")
	})
	t.Run("OtherWorkspace404", func(t *testing.T) {
		env.as(store.RoleOwner).get("/contacts/"+itoa(idB)).expect(t, http.StatusNotFound)
		env.as(store.RoleOwner).post("/contacts/"+itoa(idB)+"/opt-out", url.Values{"reason": {"x"}}).expect(t, http.StatusNotFound)
		env.as(store.RoleOwner).post("/contacts/"+itoa(idB), url.Values{"name": {"x"}}).expect(t, http.StatusNotFound)
		env.as(store.RoleOwner).post("/contacts/"+itoa(idB)+"/opt-in", url.Values{"reason": {"x"}}).expect(t, http.StatusNotFound)
		env.as(store.RoleOwner).post("/contacts/"+itoa(idB)+"/erase", url.Values{}).expect(t, http.StatusNotFound)
		var erased bool
		env.db.QueryRow(ctx, `SELECT erased_at IS NOT NULL FROM contacts WHERE id = $1`, idB).Scan(&erased)
		if erased {
			t.Fatal("the other workspace's contact was erased")
		}
	})
}

// sampleWorkbook is a small contact list as people keep them: a title row above the headers,
// a local number, an invalid one and a repeated one.
func sampleWorkbook(t testing.TB) []byte {
	t.Helper()
	f := excelize.NewFile()
	rows := [][]any{
		{"Clientes tienda — noviembre"},
		{"Nombre", "Celular", "Ciudad", "Etiquetas"},
		{"Ana Gómez", "300 123 4567", "Medellín", "vip"},
		{"Luis Pérez", "+57 311 765 4321", "Bogotá", "vip, mayorista"},
		{"Sin Número", "123", "Cali", ""},
		{"Ana Repetida", "3001234567", "Medellín", "vip"},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// upload posts a file to the UI's upload form.
func (b *browser) upload(path, name string, data []byte) htmlPage {
	b.env.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf_token", b.csrf)
	w, _ := mw.CreateFormFile("file", name)
	io.Copy(w, bytes.NewReader(data))
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.env.http.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

func TestImportWizard(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	mk := env.as(store.RoleMarketer)

	p := mk.get("/imports/new").expect(t, http.StatusOK)
	p.has(t, `form#upload-form[enctype="multipart/form-data"] input[type=file][name=file]`)
	p.has(t, "[data-dropzone]")
	p = mk.upload("/imports/new", "vacío.csv", nil).expect(t, http.StatusUnprocessableEntity)
	p.has(t, "#e-file")

	p = mk.upload("/imports/new", "clientes.xlsx", sampleWorkbook(t)).expect(t, http.StatusOK)
	if !strings.HasPrefix(p.URL, "/imports/") {
		t.Fatalf("after upload at %s", p.URL)
	}
	id := strings.TrimPrefix(p.URL, "/imports/")
	if v, _ := p.has(t, "#f-header_row").Attr("value"); v != "2" {
		t.Fatalf("header row detected as %q, want 2", v)
	}
	phoneCol := p.has(t, `tr[data-column="B"] select[data-kind] option[selected]`)
	if v, _ := phoneCol.Attr("value"); v != "phone" {
		t.Fatalf("column B guessed as %q", v)
	}
	p.contains(t, `tr[data-column="C"] .samples`, "Medellín")
	p.contains(t, "table.preview", "Luis Pérez")

	// the analyst sees the import read-only; cannot confirm
	a := env.as(store.RoleAnalyst).get("/imports/"+id).expect(t, http.StatusOK)
	a.has(t, ".notice")
	a.hasNot(t, "#mapping-form")
	env.as(store.RoleAnalyst).post("/imports/"+id+"/confirm", nil).expect(t, http.StatusForbidden)

	// build the form as the page has it, change column C to an attribute "ciudad"
	form := formOf(p, "#mapping-form")
	p.Doc.Find(`tr[data-column="C"] select[data-kind]`).Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		form.Set(name, "attribute")
	})
	keyName, _ := p.Doc.Find(`tr[data-column="C"] input[data-attr]`).Attr("name")
	form.Set(keyName, "Ciudad Natal!")
	// declared consent without a source: the error is next to the source field
	form.Set("consent.declared", "on")
	p = mk.post("/imports/"+id+"/confirm", form).expect(t, http.StatusUnprocessableEntity)
	p.has(t, "#e-consent-source")
	form.Set("consent.source", "formulario de la tienda")
	p = mk.post("/imports/"+id+"/confirm", form).expect(t, http.StatusUnprocessableEntity)
	p.has(t, "#form-error")
	form.Set(keyName, "ciudad")
	p = mk.post("/imports/"+id+"/confirm", form).expect(t, http.StatusOK)
	p.has(t, "#import-progress[data-import-poll]")
	p.has(t, "#import-progress progress")

	// a workbook with two sheets: the sheet can be chosen and the file is read again
	f := excelize.NewFile()
	f.SetSheetRow("Sheet1", "A1", &[]any{"notas", "sin teléfonos"})
	f.NewSheet("Clientes")
	f.SetSheetRow("Clientes", "A1", &[]any{"Nombre", "WhatsApp"})
	f.SetSheetRow("Clientes", "A2", &[]any{"Marta", "+57 320 555 1234"})
	var two bytes.Buffer
	f.Write(&two)
	p = mk.upload("/imports/new", "dos hojas.xlsx", two.Bytes()).expect(t, http.StatusOK)
	p.has(t, `#f-sheet option:contains("Clientes")`)
	p = mk.get(p.URL+"?sheet=Clientes&header_row=0").expect(t, http.StatusOK)
	p.contains(t, "table.preview", "Marta")
	if v, _ := p.Doc.Find(`#mapping-form input[name="sheet"]`).Attr("value"); v != "Clientes" {
		t.Fatalf("sheet kept as %q", v)
	}

	l := env.as(store.RoleAnalyst).get("/imports").expect(t, http.StatusOK)
	l.has(t, `tr[data-import="`+id+`"]`)
	env.session(env.userB.ID, env.wsB.ID).get("/imports/"+id).expect(t, http.StatusNotFound)
}

// "Ver más" pages on with the same filters: the next page of a tag's contacts is still only
// that tag's.
func TestContactsMoreKeepsFilters(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	if _, err := env.db.Exec(context.Background(), `
		INSERT INTO contacts (workspace_id, phone_e164, name, tags)
		SELECT $1, '+5731100' || lpad(g::text, 5, '0'), 'Contacto ' || g, CASE WHEN g % 2 = 0 THEN '{pag}'::text[] ELSE '{otra}'::text[] END
		FROM generate_series(1, 140) g`, env.wsA.ID); err != nil {
		t.Fatal(err)
	}
	b := env.as(store.RoleAnalyst)
	seen := map[string]bool{}
	p := b.get("/contacts?tag=pag&q=Contacto").expect(t, http.StatusOK)
	for page := 1; ; page++ {
		p.Doc.Find("tr[data-contact]").Each(func(_ int, s *goquery.Selection) {
			if !strings.Contains(s.Text(), "pag") {
				t.Fatalf("page %d lists a contact without the tag: %q", page, strings.Join(strings.Fields(s.Text()), " "))
			}
			id, _ := s.Attr("data-contact")
			seen[id] = true
		})
		more, ok := p.Doc.Find("a#more").Attr("href")
		if !ok {
			break
		}
		u, err := url.Parse(more)
		if err != nil || u.Path != "/contacts" || u.Query().Get("tag") != "pag" || u.Query().Get("q") != "Contacto" || u.Query().Get("cursor") == "" {
			t.Fatalf("page %d: more link %q, want /contacts with tag=pag, q=Contacto and a cursor", page, more)
		}
		p = b.get(more).expect(t, http.StatusOK)
	}
	if len(seen) != 70 {
		t.Fatalf("paging through tag=pag listed %d contacts, want 70", len(seen))
	}
}

// A contact's consent evidence is listed with labels in the page's language, the import it
// came from linked.
func TestContactConsentEvidenceInWords(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	var id int64
	if err := env.db.QueryRow(context.Background(), `INSERT INTO contacts (workspace_id, phone_e164, name, consent_at, consent_source, consent_evidence)
		VALUES ($1, '+573001110000', 'Con Evidencia', now(), 'import', '{"import_id": 42, "file_sha256": "ab12cd", "row": 7}') RETURNING id`, env.wsA.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	b := env.as(store.RoleAnalyst)
	p := b.get("/contacts/"+itoa(id)).expect(t, http.StatusOK)
	for key, want := range map[string]string{"import_id": "Importación", "file_sha256": "Huella del archivo (SHA-256)", "row": "Fila del archivo"} {
		if got := p.text(`dt[data-evidence="` + key + `"]`); got != want {
			t.Errorf("evidence %s labelled %q, want %q", key, got, want)
		}
	}
	p.has(t, `dt[data-evidence="import_id"] + dd a[href="/imports/42"]`)
	p.contains(t, `dt[data-evidence="file_sha256"] + dd`, "ab12cd")
	if strings.Contains(p.text("main"), "file_sha256") {
		t.Fatal("the raw evidence key is shown")
	}
	b.get("/lang/en").expect(t, http.StatusOK)
	p = b.get("/contacts/"+itoa(id)).expect(t, http.StatusOK)
	if got := p.text(`dt[data-evidence="row"]`); got != "Row in the file" {
		t.Errorf("English evidence label %q", got)
	}
}

// A campaign message in a contact's timeline shows its state in words.
func TestContactTimelineStateInWords(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	cid := seedRunning(t, env, 1)
	var id int64
	if err := env.db.QueryRow(context.Background(), `UPDATE recipients SET state = 'delivered', sent_at = now(), delivered_at = now()
		WHERE campaign_id = $1 RETURNING contact_id`, cid).Scan(&id); err != nil {
		t.Fatal(err)
	}
	p := env.as(store.RoleAnalyst).get("/contacts/"+itoa(id)).expect(t, http.StatusOK)
	p.contains(t, "ol.timeline li .badge", "entregado")
	if strings.Contains(p.text("ol.timeline"), "delivered") {
		t.Fatalf("timeline shows the raw state: %q", p.text("ol.timeline"))
	}
}

// A contact's page shows the WhatsApp user id (BSUID) webhooks taught it, beside the wa_id.
func TestContactShowsBSUID(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	var id int64
	if err := env.db.QueryRow(context.Background(), `INSERT INTO contacts (workspace_id, phone_e164, wa_id, bsuid, name)
		VALUES ($1, '+525512345678', '5215512345678', 'MX.1349120865530274', 'Ana') RETURNING id`, env.wsA.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	p := env.as(store.RoleAnalyst).get("/contacts/"+itoa(id)).expect(t, http.StatusOK)
	p.contains(t, "#bsuid", "MX.1349120865530274")
}
