package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp/sim"
)

// TestTestSendMessagingLimit: a test send reaches a person like a campaign does, so it counts
// against the workspace's messaging limit (unique people in 24 h): once per phone, refused
// with a clear error when the limit is used up, and not counted when Meta refuses it.
func TestTestSendMessagingLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newCampaignEnv(t)
	n := e.registerNumber(t)
	e.syncTemplates(t)
	e.contacts(t, 3)
	if _, err := e.db.Exec(ctx, `UPDATE workspaces SET messaging_limit = 3 WHERE id = $1`, e.wsA.ID); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/campaigns/%d/test", e.promoDraft(t, n.ID))
	counted := func() (n int) {
		t.Helper()
		if err := e.db.QueryRow(ctx, `SELECT count(*) FROM messaging_ledger WHERE workspace_id = $1`, e.wsA.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	send := func(phone string, status int) response {
		t.Helper()
		return e.as(store.RoleMarketer).do("POST", path, map[string]any{"phone": phone}).expect(t, status)
	}

	send("+573009990001", http.StatusOK) // the team's own phone, no contact
	send("+573009990001", http.StatusOK) // the same person again: counted once
	if c := counted(); c != 1 {
		t.Fatalf("two tests to one phone counted %d times, want 1", c)
	}
	send("+573000000001", http.StatusOK) // a contact
	if c := counted(); c != 2 {
		t.Fatalf("counted %d, want 2", c)
	}
	// A contact who wrote in the last 24 h has an open service window: it does not count.
	if _, err := e.db.Exec(ctx, `UPDATE contacts SET last_inbound_at = now() WHERE workspace_id = $1 AND phone_e164 = '+573000000002'`, e.wsA.ID); err != nil {
		t.Fatal(err)
	}
	send("+573000000002", http.StatusOK)
	if c := counted(); c != 2 {
		t.Fatalf("a contact with an open window was counted: %d, want 2", c)
	}

	// Meta refuses the send (the template turned RED): nobody was reached, nothing counts.
	if err := e.sim.SetTemplateQuality("promo_temporada", "es_MX", "RED"); err != nil {
		t.Fatal(err)
	}
	send("+573009990002", http.StatusBadGateway)
	if c := counted(); c != 2 {
		t.Fatalf("a refused test send was counted: %d, want 2", c)
	}
	if err := e.sim.SetTemplateStatus("promo_temporada", "es_MX", "APPROVED", ""); err != nil {
		t.Fatal(err)
	}

	send("+573009990003", http.StatusOK) // the third person: the limit is used up
	var refusal Error
	send("+573009990004", http.StatusConflict).JSON(t, &refusal)
	if refusal.Code != "messaging_limit_reached" {
		t.Fatalf("over the limit: %+v", refusal)
	}
	if got := e.sim.Accepted("+573009990004"); got != 0 {
		t.Fatalf("a test over the messaging limit reached Meta (%d)", got)
	}
	send("+573009990001", http.StatusOK) // already counted in the window: still allowed
	if c := counted(); c != 3 {
		t.Fatalf("counted %d, want 3", c)
	}

	// Erasing a contact takes its phone out of the ledger's rows; they still count.
	var id int64
	if err := e.db.QueryRow(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 AND phone_e164 = '+573000000001'`, e.wsA.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := store.ContactErase(ctx, e.db, e.wsA.ID, id); err != nil {
		t.Fatal(err)
	}
	var left int
	e.db.QueryRow(ctx, `SELECT count(*) FROM messaging_ledger WHERE phone_e164 = '+573000000001'`).Scan(&left)
	if left != 0 || counted() != 3 {
		t.Fatalf("after erasure: %d rows still name the phone, %d counted", left, counted())
	}
}

// TestTestSendGuards: a test send is a real marketing message, so it follows the campaign's
// rules: not to a contact without documented consent, not from a number that is not active,
// and a number-level refusal from Meta (368: restricted) halts the number as a campaign's
// send does.
func TestTestSendGuards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newCampaignEnv(t)
	n := e.registerNumber(t)
	e.syncTemplates(t)
	e.contacts(t, 2)
	if _, err := e.db.Exec(ctx, `UPDATE contacts SET consent_at = NULL WHERE workspace_id = $1 AND phone_e164 = '+573000000001'`, e.wsA.ID); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/campaigns/%d/test", e.promoDraft(t, n.ID))
	send := func(phone string, status int) Error {
		t.Helper()
		var e2 Error
		r := e.as(store.RoleMarketer).do("POST", path, map[string]any{"phone": phone}).expect(t, status)
		if status != http.StatusOK {
			r.JSON(t, &e2)
		}
		return e2
	}

	if got := send("+573000000001", http.StatusUnprocessableEntity); got.Message == "" || e.sim.Accepted("+573000000001") != 0 {
		t.Fatalf("a test to a contact without consent: %+v, simulator accepted %d", got, e.sim.Accepted("+573000000001"))
	}

	e.sim.SetFaults(sim.Faults{Blocked: true})
	send("+573000000000", http.StatusBadGateway)
	var status, reason string
	if err := e.db.QueryRow(ctx, `SELECT status, status_reason FROM sender_numbers WHERE id = $1`, n.ID).Scan(&status, &reason); err != nil {
		t.Fatal(err)
	}
	if status != store.NumberHalted || !strings.Contains(reason, "368") {
		t.Fatalf("after a 368 on a test send the number is %s (%q), want halted", status, reason)
	}
	e.sim.SetFaults(sim.Faults{})
	if got := send("+573009990001", http.StatusConflict); got.Code != "number_not_active" || e.sim.Accepted("+573009990001") != 0 {
		t.Fatalf("a test from a halted number: %+v, simulator accepted %d", got, e.sim.Accepted("+573009990001"))
	}
}

// promoDraft drafts a campaign of promo_temporada on number, every variable mapped, and returns its id.
func (e *campaignEnv) promoDraft(t *testing.T, number int64) int64 {
	t.Helper()
	var cp campaignResponse
	e.as(store.RoleMarketer).do("POST", "/api/v1/campaigns", map[string]any{"name": "Prueba", "sender_number_id": number,
		"template_id": e.templateID(t, "promo_temporada"), "variable_mapping": map[string]any{"variables": []map[string]any{
			{"component": "header", "type": "image", "source": "literal", "value": "https://tienda.example/img/t.jpg"},
			{"component": "body", "name": "1", "source": "field", "key": "first_name", "fallback": "cliente"},
			{"component": "body", "name": "2", "source": "literal", "value": "20%"},
			{"component": "button", "button_index": 0, "button_type": "url", "source": "field", "key": "phone"},
		}}}).expect(t, http.StatusCreated).JSON(t, &cp)
	return cp.ID
}
