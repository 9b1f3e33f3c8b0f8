package web

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

// The contact page names where consent and opt-outs came from in words (a button, a keyword,
// WhatsApp's stop…); a source a person typed is shown as typed.
func TestContactSourcesInWords(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	var out, typed int64
	if err := env.db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164, name, consent_at, consent_source, opted_out_at, opt_out_source, opt_out_reason)
		VALUES ($1, '+573001110001', 'Ana', now(), 'import', now(), 'button', 'No recibir más') RETURNING id`, env.wsA.ID).Scan(&out); err != nil {
		t.Fatal(err)
	}
	for _, ev := range [][2]string{{"opt_in", "import"}, {"marketing_stop", "131050"}, {"opt_out", "button"}} {
		if _, err := env.db.Exec(ctx, `INSERT INTO consent_events (workspace_id, contact_id, kind, source, reason) VALUES ($1, $2, $3, $4, '')`,
			env.wsA.ID, out, ev[0], ev[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164, name, consent_at, consent_source)
		VALUES ($1, '+573001110002', 'Luis', now(), 'formulario de la tienda') RETURNING id`, env.wsA.ID).Scan(&typed); err != nil {
		t.Fatal(err)
	}

	b := env.as(store.RoleMarketer)
	p := b.get("/contacts/"+itoa(out)).expect(t, http.StatusOK)
	p.contains(t, "#consent-source", "importación")
	if got := p.text("#opted-out"); !strings.Contains(got, "· botón de baja — No recibir más") || strings.Contains(got, "button") {
		t.Fatalf("opted out %q, want the source in words", got)
	}
	p.contains(t, `ul.consent-history li[data-kind="opt_out"]`, "botón de baja")
	p.contains(t, `ul.consent-history li[data-kind="opt_in"]`, "importación")
	p.contains(t, `ul.consent-history li[data-kind="marketing_stop"]`, "WhatsApp detuvo el marketing (131050)")
	if h := p.text("ul.consent-history"); strings.Contains(h, "button") || regexp.MustCompile(`· import\b`).MatchString(h) {
		t.Fatalf("raw codes in the history: %q", h)
	}
	en := env.as(store.RoleMarketer)
	en.get("/lang/en")
	en.get("/contacts/"+itoa(out)).expect(t, http.StatusOK).contains(t, "#opted-out", "opt-out button")

	b.get("/contacts/"+itoa(typed)).expect(t, http.StatusOK).contains(t, "#consent-source", "formulario de la tienda")
}
