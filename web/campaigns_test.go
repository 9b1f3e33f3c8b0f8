package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

// seedAudience inserts n contacts with documented consent (and one without) and a segment of
// the "vip" ones in workspace wsID; it returns the segment id.
func seedAudience(t testing.TB, env *testEnv, wsID int64, n int) int64 {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if _, err := env.db.Exec(ctx, `INSERT INTO contacts (workspace_id, phone_e164, name, country, tags, attributes, consent_at, consent_source)
			VALUES ($1, $2, $3, 'CO', '{vip}', '{"ciudad":"Medellín"}', now(), 'import')`,
			wsID, fmt.Sprintf("+5730055%05d", i), fmt.Sprintf("Cliente %d Pérez", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.db.Exec(ctx, `INSERT INTO contacts (workspace_id, phone_e164, name, tags) VALUES ($1, '+573009999999', 'Sin Consentimiento', '{vip}')`, wsID); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := env.db.QueryRow(ctx, `INSERT INTO segments (workspace_id, name, description, definition)
		VALUES ($1, 'Clientes VIP', 'etiqueta vip', '{"all":[{"field":"tags","op":"has_any","value":["vip"]}]}') RETURNING id`, wsID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCampaignWizard(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	n, _ := seedDashboard(t, env)
	tp := seedTemplate(t, env, env.wsA.ID, "promo_navidad")
	seg := seedAudience(t, env, env.wsA.ID, 5)
	mk := env.as(store.RoleMarketer)

	// step 1: a name is required, shown next to the field
	p := mk.get("/campaigns/new").expect(t, http.StatusOK)
	p.has(t, `input[name="sender_number_id"][value="`+itoa(n.ID)+`"]`)
	p = mk.post("/campaigns/new", url.Values{"name": {""}, "sender_number_id": {itoa(n.ID)}}).expect(t, http.StatusUnprocessableEntity)
	p.contains(t, "#e-name", "obligatorio")
	p = mk.post("/campaigns/new", url.Values{"name": {"Navidad VIP"}, "sender_number_id": {itoa(n.ID)}}).expect(t, http.StatusOK)
	if !strings.HasSuffix(p.URL, "/edit") {
		t.Fatalf("after creating at %s", p.URL)
	}
	p.has(t, `.steps li[aria-current="step"]`)
	p.has(t, `input[name="template_id"][value="`+itoa(tp.ID)+`"]`)
	form := p.has(t, "#wizard-form")
	action, _ := form.Attr("action")

	// template → variables
	p = mk.post(action, url.Values{"step": {"template"}, "template_id": {itoa(tp.ID)}}).expect(t, http.StatusOK)
	p.has(t, `input[name="var.0.param"][value="body.1"]`)
	p.has(t, `input[name="var.1.param"][value="body.2"]`)
	// a literal left empty: the error is next to that variable
	p = mk.post(action, url.Values{"step": {"variables"},
		"var.0.param": {"body.1"}, "var.0.source": {"field"}, "var.0.field": {"first_name"}, "var.0.fallback": {"amig@"},
		"var.1.param": {"body.2"}, "var.1.source": {"literal"}, "var.1.value": {""}}).expect(t, http.StatusUnprocessableEntity)
	p.contains(t, "#e-var-1", "texto fijo")
	p = mk.post(action, url.Values{"step": {"variables"},
		"var.0.param": {"body.1"}, "var.0.source": {"field"}, "var.0.field": {"first_name"}, "var.0.fallback": {"amig@"},
		"var.1.param": {"body.2"}, "var.1.source": {"literal"}, "var.1.value": {"zapatos"}}).expect(t, http.StatusOK)
	p.has(t, `input[name="segment_id"][value="`+itoa(seg)+`"]`)
	// segment → schedule
	p = mk.post(action, url.Values{"step": {"segment"}, "segment_id": {itoa(seg)}}).expect(t, http.StatusOK)
	p.has(t, `input[name="window_start"]`)
	p = mk.post(action, url.Values{"step": {"schedule"}, "window_start": {"25:00"}, "window_end": {"20:00"}}).expect(t, http.StatusUnprocessableEntity)
	p.contains(t, "#e-window_start", "hora inválida")
	p = mk.post(action, url.Values{"step": {"schedule"}, "window_start": {"00:00"}, "window_end": {"00:00"},
		"weekday": {"0", "1", "2", "3", "4", "5", "6"}}).expect(t, http.StatusOK)

	// review: plan, preview with the mapping, no schedule button for a marketer
	p.contains(t, ".plan .will-send", "5")
	// the contacts of the segment left out by consent, in all and by reason: seedAudience's
	// one without consent, and one more who opted out (shown after a reload)
	if _, err := env.db.Exec(context.Background(), `INSERT INTO contacts (workspace_id, phone_e164, name, tags, consent_at, consent_source, opted_out_at)
		VALUES ($1, '+573008888888', 'Se Dio de Baja', '{vip}', now(), 'import', now())`, env.wsA.ID); err != nil {
		t.Fatal(err)
	}
	p = mk.get(strings.TrimSuffix(action, "/edit")+"/edit?step=review").expect(t, http.StatusOK)
	p.contains(t, ".plan .will-send", "5")
	p.contains(t, ".plan dd.matched", "7")
	p.contains(t, ".plan dd.not-eligible", "2")
	p.contains(t, `.plan dt[data-reason="no_consent"]`, "sin consentimiento")
	p.contains(t, `.plan dd[data-reason="no_consent"]`, "1")
	p.contains(t, `.plan dt[data-reason="opted_out"]`, "se dieron de baja")
	p.contains(t, `.plan dd[data-reason="opted_out"]`, "1")
	p.hasNot(t, `.plan [data-reason="invalid_phone"]`)
	p.contains(t, ".bubble .body", "Hola [first_name], tenemos 20% de descuento en zapatos.")
	p.has(t, "#owner-only")
	p.hasNot(t, "#schedule")
	id := strings.TrimSuffix(strings.TrimPrefix(action, "/campaigns/"), "/edit")
	mk.post("/campaigns/"+id+"/schedule", nil).expect(t, http.StatusForbidden)
	// test send without a WhatsApp client: the error is shown, nothing crashes
	p = mk.post("/campaigns/"+id+"/test", url.Values{"phone": {"+573001112233"}})
	p.has(t, "#test-result")

	// analysts cannot open the wizard
	env.as(store.RoleAnalyst).get("/campaigns/new").expect(t, http.StatusForbidden)
	env.as(store.RoleAnalyst).get("/campaigns/"+id+"/edit?step=review").expect(t, http.StatusForbidden)

	// the owner schedules it
	own := env.as(store.RoleOwner)
	p = own.get("/campaigns/"+id+"/edit?step=review").expect(t, http.StatusOK)
	p.has(t, "#schedule:not([disabled])")
	// (the segment compiler may see every definition as a broadcast: confirm it)
	p = own.post("/campaigns/"+id+"/schedule", url.Values{"confirm_broadcast": {"on"}}).expect(t, http.StatusOK)
	if p.URL != "/campaigns/"+id {
		t.Fatalf("after scheduling at %s", p.URL)
	}
	p.contains(t, "#state", "programada")
	p.has(t, "#action-unschedule")
	p.has(t, "#action-cancel")

	for _, role := range allRoles {
		p := env.as(role).get("/campaigns/"+id).expect(t, http.StatusOK)
		p.has(t, "ul.funnel li[data-step=audience]")
		p.has(t, "#export-csv")
		p.has(t, `table.transitions tr[data-to="scheduled"]`)
		if role == store.RoleOwner {
			p.has(t, ".campaign-actions")
		} else {
			p.hasNot(t, ".campaign-actions")
			env.as(role).post("/campaigns/"+id+"/cancel", nil).expect(t, http.StatusForbidden)
		}
		l := env.as(role).get("/campaigns").expect(t, http.StatusOK)
		l.has(t, `li[data-campaign="`+id+`"]`)
	}
	// workspace B sees nothing of it
	other := env.session(env.userB.ID, env.wsB.ID)
	other.get("/campaigns/"+id).expect(t, http.StatusNotFound)
	other.post("/campaigns/"+id+"/cancel", nil).expect(t, http.StatusNotFound)

	// cancel
	p = own.post("/campaigns/"+id+"/cancel", nil).expect(t, http.StatusOK)
	p.contains(t, "#state", "cancelada")
	p.hasNot(t, ".campaign-actions form:not(#delete-campaign)")
	p.has(t, "#delete-campaign") // cancelled before its launch: it can go
}

// seedRunning makes a running campaign in workspace A with n pending recipients on a new
// number and returns its id.
func seedRunning(t testing.TB, env *testEnv, n int) int64 {
	t.Helper()
	ctx := context.Background()
	num, err := store.SenderNumberCreate(ctx, env.db, store.SenderNumberCreateParams{WorkspaceID: env.wsA.ID, PhoneNumberID: "5005",
		WABAID: "6006", DisplayNumber: "+57 300 000 0005", UseSimulator: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := store.CampaignCreate(ctx, env.db, store.Campaign{WorkspaceID: env.wsA.ID, Name: "Promo en curso", SenderNumberID: &num.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []store.CampaignState{store.CampaignScheduled, store.CampaignRunning} {
		if _, err := store.CampaignTransition(ctx, env.db, env.wsA.ID, c.ID, to, store.TransitionParams{Actor: store.ActorSystem}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.db.Exec(ctx, `
		WITH ct AS (
			INSERT INTO contacts (workspace_id, phone_e164, name, consent_at)
			SELECT $1, '+5731000' || lpad(g::text, 5, '0'), 'Persona ' || g, now() FROM generate_series(1, $3) g
			RETURNING id, phone_e164)
		INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164) SELECT $1, $2, id, phone_e164 FROM ct`,
		env.wsA.ID, c.ID, n); err != nil {
		t.Fatal(err)
	}
	if _, err := env.db.Exec(ctx, `UPDATE campaigns SET audience_count = $2 WHERE id = $1`, c.ID, n); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func TestCampaignPauseResume(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	id := itoa(seedRunning(t, env, 3))
	own := env.as(store.RoleOwner)
	p := own.get("/campaigns/"+id).expect(t, http.StatusOK)
	p.has(t, "#action-pause")
	p.hasNot(t, "#action-resume")
	env.as(store.RoleMarketer).post("/campaigns/"+id+"/pause", nil).expect(t, http.StatusForbidden)
	p = own.post("/campaigns/"+id+"/pause", url.Values{"reason": {"revisar la plantilla"}}).expect(t, http.StatusOK)
	p.contains(t, "#state", "pausada")
	p.contains(t, `table.transitions tr[data-to="paused"]`, "revisar la plantilla")
	p.has(t, "#action-resume")
	p = own.post("/campaigns/"+id+"/resume", nil).expect(t, http.StatusOK)
	p.contains(t, "#state", "enviando")
	// the dashboard lists it with its progress
	d := env.as(store.RoleAnalyst).get("/").expect(t, http.StatusOK)
	d.has(t, `li[data-campaign="`+id+`"] progress`)
	d.contains(t, `li[data-campaign="`+id+`"]`, "0 de 3 procesados")
}

// The schedule step's frequency cap left empty means the workspace's cap: the field shows
// empty for a draft without one of its own, and saving the step unchanged keeps it that way
// (not 0, which would switch the cap off).
func TestWizardFrequencyCapDefaultsToWorkspace(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	c, err := store.CampaignCreate(ctx, env.db, store.Campaign{WorkspaceID: env.wsA.ID, Name: "Tope"})
	if err != nil {
		t.Fatal(err)
	}
	id := itoa(c.ID)
	mk := env.as(store.RoleMarketer)
	capOf := func() *int {
		t.Helper()
		var n *int
		if err := env.db.QueryRow(ctx, `SELECT frequency_cap FROM campaigns WHERE id = $1`, c.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	p := mk.get("/campaigns/"+id+"/edit?step=schedule").expect(t, http.StatusOK)
	if v, _ := p.has(t, "#f-frequency_cap").Attr("value"); v != "" {
		t.Fatalf("frequency cap field shows %q for a draft without a cap of its own, want empty", v)
	}
	mk.post("/campaigns/"+id+"/edit", formOf(p, "#wizard-form")).expect(t, http.StatusOK)
	if n := capOf(); n != nil {
		t.Fatalf("saving the step unchanged stored frequency_cap %d, want NULL (the workspace's)", *n)
	}
	// a cap of its own is shown and kept; emptying the field goes back to the workspace's
	form := formOf(p, "#wizard-form")
	form.Set("frequency_cap", "0")
	form.Set("stay", "1")
	p = mk.post("/campaigns/"+id+"/edit", form).expect(t, http.StatusOK)
	if n := capOf(); n == nil || *n != 0 {
		t.Fatalf("frequency_cap %v, want 0 (no cap) when typed", n)
	}
	if v, _ := p.has(t, "#f-frequency_cap").Attr("value"); v != "0" {
		t.Fatalf("frequency cap field shows %q, want 0", v)
	}
	form.Set("frequency_cap", "")
	mk.post("/campaigns/"+id+"/edit", form).expect(t, http.StatusOK)
	if n := capOf(); n != nil {
		t.Fatalf("emptying the field stored frequency_cap %d, want NULL", *n)
	}
}
