package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// numberState reads a number's status and quality, and a campaign's state.
func (e *webhookEnv) numberState(t testing.TB, numberID, campaignID int64) (status, quality, campaign string) {
	t.Helper()
	ctx := context.Background()
	if err := e.db.QueryRow(ctx, `SELECT status, quality_rating FROM sender_numbers WHERE id = $1`, numberID).Scan(&status, &quality); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRow(ctx, `SELECT state FROM campaigns WHERE id = $1`, campaignID).Scan(&campaign); err != nil {
		t.Fatal(err)
	}
	return status, quality, campaign
}

func (e *webhookEnv) templateStatus(t testing.TB, id int64) string {
	t.Helper()
	var s string
	if err := e.db.QueryRow(context.Background(), `SELECT status FROM templates WHERE id = $1`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func accountUpdateBody(waba, metadataPNID, phone, event string) []byte {
	meta := ""
	if metadataPNID != "" {
		meta = fmt.Sprintf(`"metadata":{"phone_number_id":"%s"},`, metadataPNID)
	}
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"%s","time":1900000000,"changes":[{"field":"account_update",
		"value":{%s"phone_number":"%s","event":"%s","disconnection_info":{"reason":"FORGED","initiated_by":"SYSTEM"}}}]}]}`, waba, meta, phone, event))
}

func templateDisabledBody(waba, metadataPNID string) []byte {
	meta := ""
	if metadataPNID != "" {
		meta = fmt.Sprintf(`"metadata":{"phone_number_id":"%s"},`, metadataPNID)
	}
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"%s","time":1900000001,"changes":[{"field":"message_template_status_update",
		"value":{%s"event":"DISABLED","message_template_id":1689556908129832,"message_template_name":"promo_julio","message_template_language":"es_MX","reason":"NONE"}}]}]}`, waba, meta))
}

// A body signed with workspace B's secret never acts on workspace A's WABA: neither by naming
// A's WABA as its entry with B's own number in a metadata object, nor through a number B
// registered in A's WABA with a secret of its own.
func TestWebhookWABAForgery(t *testing.T) {
	t.Parallel()

	t.Run("EntryOfOtherWABAWithOwnNumberInMetadata", func(t *testing.T) {
		t.Parallel()
		env := newWebhookEnv(t)
		f := env.goldenFixture(t)
		env.startWorkers(t)
		env.post(accountUpdateBody(wabaA, pnidB, "5215550783881", "PARTNER_REMOVED"), secretB).expect(t, http.StatusUnauthorized)
		env.post(templateDisabledBody(wabaA, pnidB), secretB).expect(t, http.StatusUnauthorized)
		env.waitProcessed(t)
		if st, _, cs := env.numberState(t, env.numA, f.campaign); st != "active" || cs != "running" {
			t.Fatalf("A's number %s, campaign %s after B's forged account_update; want active, running", st, cs)
		}
		if s := env.templateStatus(t, f.template); s != "APPROVED" {
			t.Fatalf("A's template %s after B's forged template update, want APPROVED", s)
		}
		// A's own secret still works for the same body.
		env.post(templateDisabledBody(wabaA, ""), secretA).expect(t, http.StatusOK)
		env.waitProcessed(t)
		if s := env.templateStatus(t, f.template); s != "DISABLED" {
			t.Fatalf("A's template %s after A's own update, want DISABLED", s)
		}
	})

	t.Run("RegisteringAnotherWorkspacesWABAIsRefused", func(t *testing.T) {
		t.Parallel()
		env := newWebhookEnv(t)
		r := env.asB("owner").do(http.MethodPost, "/api/v1/numbers", map[string]any{"phone_number_id": "4440001", "waba_id": wabaA, "app_secret": "evil-secret"})
		r.expect(t, http.StatusConflict)
		if !strings.Contains(string(r.Body), "otro espacio de trabajo") {
			t.Fatalf("409 body %s, want a Spanish explanation", r.Body)
		}
		if n := env.count(t, `SELECT count(*) FROM sender_numbers WHERE phone_number_id = '4440001'`); n != 0 {
			t.Fatal("the number was stored")
		}
		// A's own workspace can add another number of its WABA.
		env.as("owner").do(http.MethodPost, "/api/v1/numbers", map[string]any{"phone_number_id": "4440002", "waba_id": wabaA}).expect(t, http.StatusCreated)
	})

	t.Run("NumberAlreadyRegisteredInAnotherWorkspacesWABA", func(t *testing.T) {
		t.Parallel()
		env := newWebhookEnv(t)
		f := env.goldenFixture(t)
		env.startWorkers(t)
		// Registered before the API refused it.
		var evil int64
		if err := env.db.QueryRow(context.Background(), `INSERT INTO sender_numbers (workspace_id, phone_number_id, waba_id, display_number, app_secret_enc)
			VALUES ($1, '4440001', $2, '15550001111', $3) RETURNING id`, env.wsB.ID, wabaA, env.srv.box.Seal("evil-secret")).Scan(&evil); err != nil {
			t.Fatal(err)
		}
		env.post(accountUpdateBody(wabaA, "", "5215550783881", "PARTNER_REMOVED"), "evil-secret").expect(t, http.StatusOK)
		env.post(accountUpdateBody(wabaA, "", "", "PARTNER_REMOVED"), "evil-secret").expect(t, http.StatusOK)
		env.post(templateDisabledBody(wabaA, ""), "evil-secret").expect(t, http.StatusOK)
		env.waitProcessed(t)
		if st, _, cs := env.numberState(t, env.numA, f.campaign); st != "active" || cs != "running" {
			t.Fatalf("A's number %s, campaign %s after B's account_update for the shared WABA; want active, running", st, cs)
		}
		if s := env.templateStatus(t, f.template); s != "APPROVED" {
			t.Fatalf("A's template %s after B's template update for the shared WABA, want APPROVED", s)
		}
		// What B signed acted on B's own number only.
		var st string
		if err := env.db.QueryRow(context.Background(), `SELECT status FROM sender_numbers WHERE id = $1`, evil).Scan(&st); err != nil {
			t.Fatal(err)
		}
		if st != "disconnected" {
			t.Fatalf("B's own number %s, want disconnected by the event naming no number", st)
		}
		var ws int64
		if err := env.db.QueryRow(context.Background(), `SELECT DISTINCT workspace_id FROM webhook_inbox`).Scan(&ws); err != nil || ws != env.wsB.ID {
			t.Fatalf("inbox rows recorded workspace %d (%v), want B's %d", ws, err, env.wsB.ID)
		}
	})
}

// A number event naming a number of the WABA that is not one of ours changes none of ours;
// one naming ours (521 or 52 for Mexico) or no number at all does.
func TestWebhookNumberEventForAnotherNumberOfWABA(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t)
	f := env.goldenFixture(t)
	env.startWorkers(t)
	quality := func(display string) []byte {
		d := ""
		if display != "" {
			d = fmt.Sprintf(`"display_phone_number":"%s",`, display)
		}
		return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"%s","time":1900000000,"changes":[{"field":"phone_number_quality_update","value":{%s"event":"FLAGGED","current_limit":"TIER_10K"}}]}]}`, wabaA, d))
	}
	env.post(quality("15559999999"), secretA).expect(t, http.StatusOK)
	env.post(accountUpdateBody(wabaA, "", "15559999999", "ACCOUNT_DELETED"), secretA).expect(t, http.StatusOK)
	env.waitProcessed(t)
	if st, q, cs := env.numberState(t, env.numA, f.campaign); st != "active" || q == "FLAGGED" || cs != "running" {
		t.Fatalf("our number %s/%s, campaign %s after events about another number of the WABA; want untouched", st, q, cs)
	}
	env.post(quality(""), secretA).expect(t, http.StatusOK)
	env.waitProcessed(t)
	if _, q, _ := env.numberState(t, env.numA, f.campaign); q != "FLAGGED" {
		t.Fatalf("quality %s after a FLAGGED naming no number, want FLAGGED", q)
	}
	env.post(accountUpdateBody(wabaA, "", "525550783881", "PARTNER_REMOVED"), secretA).expect(t, http.StatusOK)
	env.waitProcessed(t)
	if st, _, _ := env.numberState(t, env.numA, f.campaign); st != "disconnected" {
		t.Fatalf("status %s after an account_update naming our number as 52…, want disconnected", st)
	}
}
