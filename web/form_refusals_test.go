package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

// A form the API refuses with a conflict (a name already taken, a change the contact's state
// no longer allows) comes back with what was typed and the message next to its field or on
// top, as a validation error does, not as an error page that throws the work away.
func TestFormsShowConflicts(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	seg := seedAudience(t, env, env.wsA.ID, 2)
	mk := env.as(store.RoleMarketer)

	t.Run("SegmentNameTaken", func(t *testing.T) {
		def := `{"all":[{"field":"attribute","key":"ciudad","op":"eq","value":"Medellín"}]}`
		for _, path := range []string{"/segments/new", "/segments/" + itoa(seg) + "x"} {
			if strings.HasSuffix(path, "x") { // an existing segment renamed to a taken name
				var other int64
				if err := env.db.QueryRow(context.Background(), `INSERT INTO segments (workspace_id, name, definition)
					VALUES ($1, 'Otro', '{}') RETURNING id`, env.wsA.ID).Scan(&other); err != nil {
					t.Fatal(err)
				}
				path = "/segments/" + itoa(other)
			}
			p := mk.post(path, url.Values{"name": {"Clientes VIP"}, "description": {"los de Medellín"}, "definition": {def}}).
				expect(t, http.StatusConflict)
			p.contains(t, "#segment-form #e-name", "ya existe un segmento con ese nombre")
			if strings.Contains(p.Body, "conflict") {
				t.Fatalf("%s: the sentinel word reached the page", path)
			}
			if v, _ := p.has(t, "#f-definition").Attr("value"); v != def {
				t.Fatalf("%s: the definition built is lost: %q", path, v)
			}
			if v, _ := p.has(t, "#f-name").Attr("value"); v != "Clientes VIP" {
				t.Fatalf("%s: the name typed is lost: %q", path, v)
			}
			if v, _ := p.has(t, "#f-description").Attr("value"); v != "los de Medellín" {
				t.Fatalf("%s: the description typed is lost: %q", path, v)
			}
			p.has(t, "#save-segment")
		}
	})
	t.Run("ContactAlreadyConsented", func(t *testing.T) {
		var id int64
		if err := env.db.QueryRow(context.Background(), `SELECT id FROM contacts WHERE workspace_id = $1 AND consent_at IS NOT NULL LIMIT 1`,
			env.wsA.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		// a page opened before someone else recorded the consent
		p := mk.post("/contacts/"+itoa(id)+"/opt-in", url.Values{"reason": {"escribió ALTA"}, "text": {"v2"}}).expect(t, http.StatusConflict)
		p.contains(t, "#form-error", "No se pudo registrar el consentimiento: el contacto ya tiene consentimiento documentado (importación)")
		p.has(t, "#contact-form")
	})
}
