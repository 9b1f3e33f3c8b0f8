package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/whatsapp/sim"
)

// messagesBody is a messages change of workspace A's number carrying inner (contacts,
// messages or statuses).
func messagesBody(inner string) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"%s","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"%s"},%s}}]}]}`, wabaA, pnidA, inner))
}

// Common ways of asking to stop, and Meta's marketing opt-out button, opt the contact out;
// an ordinary question with a keyword in it does not.
func TestWebhookOptOutPhrases(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t)
	env.startWorkers(t)
	optOut := map[string]string{
		"5215512340001": `"type":"text","text":{"body":"Baja por favor"}`,
		"5215512340002": `"type":"text","text":{"body":"No más mensajes"}`,
		"5215512340003": `"type":"button","button":{"payload":"Detener promociones","text":"Detener promociones"},"context":{"from":"1","id":"wamid.X"}`,
		"5215512340004": `"type":"button","button":{"payload":"Stop promotions","text":"Stop promotions"},"context":{"from":"1","id":"wamid.X"}`,
		"5215512340005": `"type":"text","text":{"body":"Quiero darme de baja"}`,
		"5215512340006": `"type":"text","text":{"body":"Dame de baja"}`,
		"5215512340007": `"type":"text","text":{"body":"Cancelar suscripción"}`,
		"5511912340008": `"type":"text","text":{"body":"Não quero mais"}`,
	}
	ordinary := map[string]string{
		"5215512340101": `"type":"text","text":{"body":"¿no hay baja de precio?"}`,
		"5215512340102": `"type":"text","text":{"body":"Para cuándo llega?"}`,
		"5215512340103": `"type":"text","text":{"body":"no más de 2 por favor"}`,
	}
	post := func(from, msg string) {
		env.post(messagesBody(fmt.Sprintf(`"messages":[{"from":"%s","id":"wamid.%s","timestamp":"1750091058",%s}]`, from, from, msg)), secretA).expect(t, http.StatusOK)
	}
	for from, msg := range optOut {
		post(from, msg)
	}
	for from, msg := range ordinary {
		post(from, msg)
	}
	env.waitProcessed(t)
	optedOut := func(waID string) bool {
		var out bool
		if err := env.db.QueryRow(context.Background(), `SELECT opted_out_at IS NOT NULL FROM contacts WHERE wa_id = $1`, waID).Scan(&out); err != nil {
			t.Fatalf("contact %s: %v", waID, err)
		}
		return out
	}
	for from, msg := range optOut {
		if !optedOut(from) {
			t.Errorf("%s did not opt out", msg)
		}
	}
	for from, msg := range ordinary {
		if optedOut(from) {
			t.Errorf("%s opted out", msg)
		}
	}
}

// Values Postgres cannot store (NUL characters, impossible timestamps, error codes beyond an
// integer) are cleaned or set aside: the body is processed, never left pending.
func TestWebhookImpossibleValues(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t)
	env.goldenFixture(t)
	env.startWorkers(t)
	ctx := context.Background()
	for _, inner := range []string{
		`"contacts":[{"wa_id":"5215511111111","profile":{"name":"X"}}],"messages":[{"from":"5215511111111","id":"wamid.NUL","timestamp":"1750091058","type":"text","text":{"body":"BAJA\u0000"}}]`,
		`"contacts":[{"wa_id":"5215511111112","profile":{"name":"Jo\u0000se"}}],"messages":[{"from":"5215511111112","id":"wamid.NULNAME","timestamp":"1750091058","type":"text","text":{"body":"hola"}}]`,
		`"statuses":[{"id":"wamid.TEMPLATE_MSG","status":"delivered","timestamp":"1750030073000","recipient_id":"16505551234"}]`,
		`"statuses":[{"id":"wamid.X2","status":"delivered","timestamp":"-99999999999999","recipient_id":"16505551234"}]`,
		`"statuses":[{"id":"wamid.X3","status":"failed","timestamp":"1750030073","errors":[{"code":99999999999}]}]`,
		`"messages":[{"from":"5215511111113","id":"wamid.FUTURE","timestamp":"99999999999999","type":"text","text":{"body":"hola"}}]`,
	} {
		env.post(messagesBody(inner), secretA).expect(t, http.StatusOK)
	}
	env.waitProcessed(t)
	if n := env.count(t, `SELECT count(*) FROM webhook_inbox WHERE status <> 'processed'`); n != 0 {
		t.Fatalf("%d bodies not processed", n)
	}
	var optedOut bool
	var name string
	if err := env.db.QueryRow(ctx, `SELECT opted_out_at IS NOT NULL FROM contacts WHERE wa_id = '5215511111111'`).Scan(&optedOut); err != nil || !optedOut {
		t.Fatalf(`"BAJA\u0000" did not opt out (%v)`, err)
	}
	if err := env.db.QueryRow(ctx, `SELECT name FROM contacts WHERE wa_id = '5215511111112'`).Scan(&name); err != nil || name != "Jose" {
		t.Fatalf("profile name %q (%v), want Jose", name, err)
	}
	var at time.Time
	if err := env.db.QueryRow(ctx, `SELECT occurred_at FROM status_events WHERE wamid = 'wamid.TEMPLATE_MSG'`).Scan(&at); err != nil || !at.Equal(time.Unix(1750030073, 0)) {
		t.Fatalf("a timestamp in milliseconds stored as %v (%v), want %v", at, err, time.Unix(1750030073, 0).UTC())
	}
	if err := env.db.QueryRow(ctx, `SELECT occurred_at FROM status_events WHERE wamid = 'wamid.X2'`).Scan(&at); err != nil || at.Year() < 2020 {
		t.Fatalf("an impossible timestamp stored as %v (%v), want the time of processing", at, err)
	}
	if n := env.count(t, `SELECT count(*) FROM webhook_inbox WHERE error LIKE '%impossible%'`); n != 2 {
		t.Fatalf("%d bodies note an impossible timestamp, want 2", n)
	}
}

// A user known only by a username (BSUID: from_user_id, no from) who answers a campaign
// message with BAJA opts that recipient's contact out.
func TestWebhookOptOutWithoutPhoneNumber(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t)
	f := env.goldenFixture(t)
	env.startWorkers(t)
	env.post(messagesBody(`"contacts":[{"user_id":"MX.123","profile":{"name":"X"}}],"messages":[{"from_user_id":"MX.123","id":"wamid.BSUID","timestamp":"1750091058","type":"text","text":{"body":"BAJA"},"context":{"from":"1","id":"wamid.TEMPLATE_MSG"}}]`), secretA).expect(t, http.StatusOK)
	env.waitProcessed(t)
	if n := env.count(t, `SELECT count(*) FROM contacts WHERE id = $1 AND opted_out_at IS NOT NULL`, f.contact); n != 1 {
		t.Fatal("the recipient's contact did not opt out")
	}
	if n := env.count(t, `SELECT count(*) FROM recipients WHERE id = $1 AND opted_out_at IS NOT NULL AND replied_at IS NOT NULL`, f.recipient); n != 1 {
		t.Fatal("the recipient is not marked replied and opted out")
	}
	if n := env.count(t, `SELECT count(*) FROM messages WHERE wamid = 'wamid.BSUID' AND contact_id = $1`, f.contact); n != 1 {
		t.Fatal("the message is not on the contact's timeline")
	}
}

// A body that fails in Postgres the same way at every attempt is set aside (unparseable, with
// the reason) instead of staying pending and failing every batch that claims it; the bodies
// processed with it are not held back.
func TestWebhookBodyThatAlwaysFailsIsSetAside(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t)
	ctx := context.Background()
	// A value this database refuses (as it would one out of a column's range).
	if _, err := env.db.Exec(ctx, `
		CREATE FUNCTION refuse_message() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.body = 'rechazado' THEN RAISE EXCEPTION 'value refused' USING ERRCODE = '22003'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_message BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_message();`); err != nil {
		t.Fatal(err)
	}
	env.post(messagesBody(`"messages":[{"from":"5215511110001","id":"wamid.BAD","timestamp":"1750091058","type":"text","text":{"body":"rechazado"}}]`), secretA).expect(t, http.StatusOK)
	env.post(messagesBody(`"messages":[{"from":"5215511110002","id":"wamid.GOOD","timestamp":"1750091058","type":"text","text":{"body":"hola"}}]`), secretA).expect(t, http.StatusOK)
	env.startWorkers(t)
	env.waitProcessed(t)
	var status, reason string
	if err := env.db.QueryRow(ctx, `SELECT status, error FROM webhook_inbox WHERE body::text LIKE '%' || encode('wamid.BAD', 'hex') || '%'`).Scan(&status, &reason); err != nil {
		t.Fatal(err)
	}
	if status != "unparseable" || !strings.Contains(reason, "no se pudo procesar") {
		t.Fatalf("failing body: %s %q, want unparseable with the reason", status, reason)
	}
	if n := env.count(t, `SELECT count(*) FROM messages WHERE wamid = 'wamid.GOOD'`); n != 1 {
		t.Fatal("the good body was not processed")
	}
}

// TestWebhookSimulatorBSUIDOptOut runs a campaign through the simulator: its status webhooks
// teach the contact the BSUID Meta gives the person (recipient_user_id, contacts[].user_id),
// and a later "BAJA" from that person, who adopted a username and is named by the BSUID alone
// (from_user_id, no from), opts the contact out. The BAJA is typed, not an answer to the
// campaign message (no context): only the BSUID the statuses taught names the contact.
func TestWebhookSimulatorBSUIDOptOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newWebhookEnv(t)
	sm, campaign := runSimCampaign(t, env, `{}`, sim.StatusConfig{DeliveredProb: 1, ReadProb: 1}, 20, 1)
	const phone = "+573000000001" // runSimCampaign's first contact
	bsuid := sm.UserID(phone)
	var contact int64
	if err := env.db.QueryRow(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 AND phone_e164 = $2`, env.wsA.ID, phone).Scan(&contact); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the campaign message to be read", func() bool {
		return env.count(t, `SELECT count(*) FROM recipients WHERE campaign_id = $1 AND contact_id = $2 AND state = 'read'`, campaign, contact) == 1
	})
	if n := env.count(t, `SELECT count(*) FROM contacts WHERE id = $1 AND bsuid = $2`, contact, bsuid); n != 1 {
		t.Fatalf("the contact did not learn its BSUID %s from the status webhooks", bsuid)
	}

	if _, err := sm.SendInbound(sim.Inbound{PhoneNumberID: pnidA, UserID: bsuid, Text: "BAJA"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the username-only BAJA to opt the contact out", func() bool {
		return env.count(t, `SELECT count(*) FROM contacts WHERE id = $1 AND opted_out_at IS NOT NULL AND opt_out_source = 'keyword'`, contact) == 1
	})
	if n := env.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, env.wsA.ID); n != 1 {
		t.Fatalf("%d contacts in the workspace: the BSUID-only message made a contact of its own", n)
	}
}
