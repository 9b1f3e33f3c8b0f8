package web

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/pregon/pregon/store"
)

// After a wizard step fails, its choices show as submitted: the template and segment picked
// and the sending days ticked, not the draft's stored ones (every day came back ticked).
func TestWizardStepErrorKeepsTheChoicesMade(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	n, _ := seedDashboard(t, env)
	first := seedTemplate(t, env, env.wsA.ID, "promo_uno")
	second := seedTemplate(t, env, env.wsA.ID, "promo_dos")
	seg := seedAudience(t, env, env.wsA.ID, 2)
	var seg2 int64
	if err := env.db.QueryRow(context.Background(), `INSERT INTO segments (workspace_id, name, definition)
		VALUES ($1, 'Otros', '{"all":[{"field":"tags","op":"has_any","value":["otros"]}]}') RETURNING id`, env.wsA.ID).Scan(&seg2); err != nil {
		t.Fatal(err)
	}
	mk := env.as(store.RoleMarketer)
	p := mk.post("/campaigns/new", url.Values{"name": {"Días"}, "sender_number_id": {itoa(n.ID)}}).expect(t, http.StatusOK)
	action, _ := p.has(t, "#wizard-form").Attr("action")
	mk.post(action, url.Values{"step": {"template"}, "template_id": {itoa(first.ID)}}).expect(t, http.StatusOK)
	mk.post(action, url.Values{"step": {"segment"}, "segment_id": {itoa(seg)}}).expect(t, http.StatusOK)
	// a stored value the API now refuses makes every step's save fail
	if _, err := env.db.Exec(context.Background(), `UPDATE campaigns SET frequency_cap = 500 WHERE workspace_id = $1 AND name = 'Días'`, env.wsA.ID); err != nil {
		t.Fatal(err)
	}

	p = mk.post(action, url.Values{"step": {"template"}, "template_id": {itoa(second.ID)}}).expect(t, http.StatusUnprocessableEntity)
	p.has(t, `input[name="template_id"][value="`+itoa(second.ID)+`"]:checked`)
	p.hasNot(t, `input[name="template_id"][value="`+itoa(first.ID)+`"]:checked`)

	p = mk.post(action, url.Values{"step": {"segment"}, "segment_id": {itoa(seg2)}}).expect(t, http.StatusUnprocessableEntity)
	p.has(t, `input[name="segment_id"][value="`+itoa(seg2)+`"]:checked`)
	p.hasNot(t, `input[name="segment_id"][value="`+itoa(seg)+`"]:checked`)

	p = mk.post(action, url.Values{"step": {"schedule"}, "scheduled_at": {"mañana"}, "window_start": {"09:00"}, "window_end": {"18:00"},
		"weekday": {"1", "3"}}).expect(t, http.StatusUnprocessableEntity)
	p.has(t, "#e-scheduled_at")
	var ticked []string
	p.Doc.Find(`input[name="weekday"]:checked`).Each(func(_ int, s *goquery.Selection) { v, _ := s.Attr("value"); ticked = append(ticked, v) })
	if len(ticked) != 2 || ticked[0] != "1" || ticked[1] != "3" {
		t.Fatalf("sending days ticked after the error: %v, want [1 3]", ticked)
	}
}
