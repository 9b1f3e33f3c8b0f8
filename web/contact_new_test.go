package web

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

// A contact can be typed in by hand (POST /api/v1/contacts) from the list's "Nuevo contacto":
// phone, name, e-mail, tags, attributes and the consent documented with its source and text.
// A refusal shows the form again as typed, each problem next to its field. Analysts get no form.
func TestContactCreate(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()

	an := env.as(store.RoleAnalyst)
	an.get("/contacts").expect(t, http.StatusOK).hasNot(t, "a#new-contact")
	an.get("/contacts/new").expect(t, http.StatusForbidden)
	an.post("/contacts/new", url.Values{"phone": {"+573005551234"}}).expect(t, http.StatusForbidden)
	env.as(store.RoleOwner).get("/contacts/new").expect(t, http.StatusOK).has(t, "form#contact-new-form")

	mk := env.as(store.RoleMarketer)
	p := mk.get("/contacts").expect(t, http.StatusOK)
	p.has(t, `a#new-contact[href="/contacts/new"]`)
	p = mk.get("/contacts/new").expect(t, http.StatusOK)
	p.has(t, `#contact-new-form input[name="csrf_token"]`)
	p.has(t, `#contact-new-form textarea[name="attributes"]`)
	p.has(t, `#contact-new-form input[type="checkbox"][name="consent.documented"]`)

	form := url.Values{"phone": {"+57 300 555 1234"}, "name": {"Marta Gómez"}, "email": {"marta@ejemplo.com"},
		"tags": {"feria, nueva"}, "attributes": {"ciudad=Cali\nsin igual"}, "consent.documented": {"on"},
		"consent.source": {"feria del libro"}, "consent.text": {"Acepto ofertas por WhatsApp v2"}}
	// an attribute line without "=": the form again, the line named, what was typed kept
	p = mk.post("/contacts/new", form).expect(t, http.StatusUnprocessableEntity)
	p.contains(t, "#e-attributes", "línea 2")
	if v, _ := p.Doc.Find(`input[name="phone"]`).Attr("value"); v != "+57 300 555 1234" {
		t.Errorf("phone shown again as %q", v)
	}
	p.has(t, `input[name="consent.documented"][checked]`)
	// the API's problems, each next to its field
	bad := url.Values{"phone": {"12"}, "email": {"marta@"}, "attributes": {"ciudad=Cali"}, "consent.documented": {"on"}, "consent.text": {" "}}
	p = mk.post("/contacts/new", bad).expect(t, http.StatusUnprocessableEntity)
	p.has(t, "#e-phone")
	p.contains(t, "#e-email", "correo")
	p.contains(t, "#e-consent-text", "texto")
	p.has(t, "#form-error")
	if got := p.Doc.Find("#f-attributes").Text(); got != "ciudad=Cali" {
		t.Errorf("attributes shown again as %q", got)
	}

	form.Set("attributes", "ciudad=Cali\nplan = oro\n")
	p = mk.post("/contacts/new", form).expect(t, http.StatusOK)
	if !strings.HasPrefix(p.URL, "/contacts/") || p.URL == "/contacts/new" {
		t.Fatalf("after creating: at %s", p.URL)
	}
	p.has(t, ".flash-ok")
	p.contains(t, "h1", "Marta Gómez")
	p.contains(t, "#marketable", "puede recibir marketing")
	p.contains(t, "#consent-source", "feria del libro")
	p.contains(t, "dl.attributes", "oro")

	var tags []string
	var attrs map[string]any
	var source, text string
	if err := env.db.QueryRow(ctx, `SELECT tags, attributes, consent_source, consent_text FROM contacts
		WHERE workspace_id = $1 AND phone_e164 = '+573005551234'`, env.wsA.ID).Scan(&tags, &attrs, &source, &text); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, []string{"feria", "nueva"}) || attrs["ciudad"] != "Cali" || attrs["plan"] != "oro" ||
		source != "feria del libro" || text != "Acepto ofertas por WhatsApp v2" {
		t.Errorf("stored tags %v, attributes %v, consent %q %q", tags, attrs, source, text)
	}

	// without the consent ticked: stored, not marketable
	p = mk.post("/contacts/new", url.Values{"phone": {"+573005551235"}, "consent.text": {"ignorado"}}).expect(t, http.StatusOK)
	p.contains(t, "#marketable", "no recibe marketing")
}

// The contact's edit form edits its attributes too (PATCH merges them, null removes a key):
// a line taken out removes the attribute, a changed value is saved, the ones nobody touched
// keep their type.
func TestContactAttributesEdit(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	var id int64
	if err := env.db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164, name, country, attributes)
		VALUES ($1, '+573005550001', 'Ana', 'CO', '{"ciudad":"Medellín","edad":30,"vip":true,"borrar":"x"}') RETURNING id`, env.wsA.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	path := "/contacts/" + itoa(id)
	mk := env.as(store.RoleMarketer)
	p := mk.get(path).expect(t, http.StatusOK)
	shown := p.Doc.Find("#contact-form textarea[name=attributes]").Text()
	for _, line := range []string{"ciudad=Medellín", "edad=30", "vip=true", "borrar=x"} {
		if !strings.Contains(shown, line) {
			t.Errorf("the edit form shows %q, want a line %q", shown, line)
		}
	}
	env.as(store.RoleAnalyst).get(path).expect(t, http.StatusOK).hasNot(t, "textarea[name=attributes]")

	attrs := func() map[string]string {
		t.Helper()
		rows, err := env.db.Query(ctx, `SELECT key, jsonb_typeof(value) || ':' || (value #>> '{}') FROM contacts, jsonb_each(attributes) WHERE id = $1`, id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]string{}
		for rows.Next() {
			var k, v string
			rows.Scan(&k, &v)
			m[k] = v
		}
		return m
	}
	save := func(attributes string) htmlPage {
		return mk.post(path, url.Values{"name": {"Ana"}, "tags": {""}, "attributes": {attributes}})
	}
	save("ciudad=Cali\nedad=30\nvip=true\nnuevo=1\n").expect(t, http.StatusOK).has(t, ".flash-ok")
	want := map[string]string{"ciudad": "string:Cali", "edad": "number:30", "vip": "boolean:true", "nuevo": "string:1"}
	if got := attrs(); !maps.Equal(got, want) {
		t.Errorf("attributes %v, want %v", got, want)
	}
	save("ciudad=Cali\nedad=31\nvip=false\nnuevo=1").expect(t, http.StatusOK)
	want = map[string]string{"ciudad": "string:Cali", "edad": "number:31", "vip": "boolean:false", "nuevo": "string:1"}
	if got := attrs(); !maps.Equal(got, want) {
		t.Errorf("attributes %v, want %v", got, want)
	}
	// a line without "=": the page again with the line named and the text as typed; nothing saved
	p = save("ciudad=Lima\nsin igual").expect(t, http.StatusUnprocessableEntity)
	p.contains(t, "#contact-form #e-attributes", "línea 2")
	if got := p.Doc.Find("#contact-form textarea[name=attributes]").Text(); got != "ciudad=Lima\nsin igual" {
		t.Errorf("attributes shown again as %q", got)
	}
	if got := attrs(); got["ciudad"] != "string:Cali" {
		t.Errorf("a refused edit changed the attributes: %v", got)
	}
	// the API's own refusal of one attribute, next to the field with its key
	p = save("ciudad="+strings.Repeat("x", 10_001)).expect(t, http.StatusUnprocessableEntity)
	p.contains(t, "#contact-form #e-attributes", "ciudad")
}
