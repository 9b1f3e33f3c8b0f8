package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

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

// A campaign whose send window is closed when it would start: the launch plan shows the
// window's next opening as its start, the duration of the sending alone, and the warning's
// date as the rest of the UI writes dates.
func TestLaunchPlanStartsWhenTheWindowOpens(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	n, _ := seedDashboard(t, env)
	tp := seedTemplate(t, env, env.wsA.ID, "promo_ventana")
	seg := seedAudience(t, env, env.wsA.ID, 3)
	mk := env.as(store.RoleMarketer)
	p := mk.post("/campaigns/new", url.Values{"name": {"Mañana"}, "sender_number_id": {itoa(n.ID)}}).expect(t, http.StatusOK)
	action, _ := p.has(t, "#wizard-form").Attr("action")
	mk.post(action, url.Values{"step": {"template"}, "template_id": {itoa(tp.ID)}}).expect(t, http.StatusOK)
	mk.post(action, url.Values{"step": {"variables"},
		"var.0.param": {"body.1"}, "var.0.source": {"literal"}, "var.0.value": {"Ana"},
		"var.1.param": {"body.2"}, "var.1.source": {"literal"}, "var.1.value": {"zapatos"}}).expect(t, http.StatusOK)
	mk.post(action, url.Values{"step": {"segment"}, "segment_id": {itoa(seg)}}).expect(t, http.StatusOK)
	// every day but today, all day: the window opens at midnight
	now := time.Now().In(env.wsA.Location())
	form := url.Values{"step": {"schedule"}, "window_start": {"00:00"}, "window_end": {"00:00"}}
	for d := 0; d < 7; d++ {
		if d != int(now.Weekday()) {
			form.Add("weekday", strconv.Itoa(d))
		}
	}
	p = mk.post(action, form).expect(t, http.StatusOK)
	opens := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, now.Location()).Format("02/01/2006 15:04")
	for sel, want := range map[string]string{".plan dd.starts": opens, `.plan [data-warning="outside_window"]`: opens, ".plan dd.eta": "menos de 1 min"} {
		if got := p.text(sel); !strings.Contains(got, want) {
			t.Errorf("%s reads %q, want %q in it", sel, got, want)
		}
	}
}
