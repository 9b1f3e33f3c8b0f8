package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// The golden payloads (testdata/webhooks) name the simulator's default number and WABA.
const (
	pnidA    = "106540352242922"
	wabaA    = "102290129340398"
	pnidB    = "333000111"
	wabaB    = "333000999"
	secretA  = "app-secret-of-workspace-a"
	secretB  = "app-secret-of-workspace-b"
	verifyTA = "verify-token-a"
)

// webhookEnv is the API test environment plus a sender number in each workspace, each with its
// own app secret.
type webhookEnv struct {
	*testEnv
	numA, numB int64
}

func newWebhookEnv(t testing.TB) *webhookEnv {
	t.Helper()
	env := &webhookEnv{testEnv: newTestEnv(t)}
	ctx := context.Background()
	box := env.srv.box
	err := env.db.QueryRow(ctx, `INSERT INTO sender_numbers (workspace_id, phone_number_id, waba_id, display_number, app_secret_enc, verify_token, coexistence)
		VALUES ($1, $2, $3, '5215550783881', $4, $5, true) RETURNING id`, env.wsA.ID, pnidA, wabaA, box.Seal(secretA), store.VerifyTokenHash(verifyTA)).Scan(&env.numA)
	if err != nil {
		t.Fatal(err)
	}
	err = env.db.QueryRow(ctx, `INSERT INTO sender_numbers (workspace_id, phone_number_id, waba_id, display_number, app_secret_enc, verify_token)
		VALUES ($1, $2, $3, '573001112233', $4, $5) RETURNING id`, env.wsB.ID, pnidB, wabaB, box.Seal(secretB), store.VerifyTokenHash("verify-token-b")).Scan(&env.numB)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// post sends a webhook body signed with secret ("" = no signature header).
func (e *webhookEnv) post(body []byte, secret string) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+WebhookPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, []byte(secret)))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("posting webhook: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Body: b, Header: res.Header}
}

func (e *webhookEnv) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// startWorkers runs a River client with every worker on the test database.
func (e *webhookEnv) startWorkers(t testing.TB) {
	t.Helper()
	e.startWebhookWorkers(t, benchWebhookWorkers())
}

// startWebhookWorkers starts River workers with n webhook workers (0: the default).
func (e *webhookEnv) startWebhookWorkers(t testing.TB, n int) {
	t.Helper()
	client, err := jobs.NewClient(e.db, jobs.Deps{Config: e.srv.cfg, DB: e.db, Box: e.srv.box, Logger: e.srv.log}, jobs.ClientConfig{Workers: true, WebhookWorkers: n})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client.Stop(ctx)
	})
}

// waitProcessed polls until no stored webhook is pending.
func (e *webhookEnv) waitProcessed(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := e.count(t, `SELECT count(*) FROM webhook_inbox WHERE status = 'pending'`)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			var errs string
			e.db.QueryRow(context.Background(), `SELECT coalesce(string_agg(DISTINCT array_to_string(errors::text[], ' '), ' | '), '') FROM river_job WHERE kind = 'process_webhook' AND errors IS NOT NULL`).Scan(&errs)
			t.Fatalf("%d webhooks still pending after 30 s; job errors: %s", n, errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/webhooks/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWebhookVerifyHandshake(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t)
	get := func(q url.Values) response {
		res, err := http.Get(env.http.URL + WebhookPath + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return response{Status: res.StatusCode, Body: b}
	}
	r := get(url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {"1158201444"}, "hub.verify_token": {verifyTA}})
	if r.Status != http.StatusOK || string(r.Body) != "1158201444" {
		t.Fatalf("good token: %d %q, want 200 with the raw challenge", r.Status, r.Body)
	}
	for name, q := range map[string]url.Values{
		"WrongToken":   {"hub.mode": {"subscribe"}, "hub.challenge": {"1"}, "hub.verify_token": {"nope"}},
		"EmptyToken":   {"hub.mode": {"subscribe"}, "hub.challenge": {"1"}, "hub.verify_token": {""}},
		"WrongMode":    {"hub.mode": {"unsubscribe"}, "hub.challenge": {"1"}, "hub.verify_token": {verifyTA}},
		"NoChallenge":  {"hub.mode": {"subscribe"}, "hub.verify_token": {verifyTA}},
		"NoParameters": {},
	} {
		if r := get(q); r.Status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, r.Status)
		}
	}
	// A registered number's verify token is kept as its hash only; the handshake takes the
	// token, not the stored hash.
	n, err := store.SenderNumberCreate(context.Background(), env.db, store.SenderNumberCreateParams{WorkspaceID: env.wsA.ID,
		PhoneNumberID: "777000111", WABAID: wabaA, VerifyToken: "mi-token-de-verificacion"})
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	env.db.QueryRow(context.Background(), `SELECT verify_token FROM sender_numbers WHERE id = $1`, n.ID).Scan(&stored)
	if stored != store.VerifyTokenHash("mi-token-de-verificacion") || strings.Contains(stored, "mi-token") {
		t.Fatalf("verify token stored as %q", stored)
	}
	if r := get(url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {"7"}, "hub.verify_token": {"mi-token-de-verificacion"}}); r.Status != http.StatusOK {
		t.Fatalf("the registered token: %d", r.Status)
	}
	if r := get(url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {"7"}, "hub.verify_token": {stored}}); r.Status != http.StatusForbidden {
		t.Fatalf("the stored hash as a token: %d, want 403", r.Status)
	}
}

func statusBody(pnid, wamid, status string) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"%s","changes":[{"field":"messages","value":{
		"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"%s"},
		"statuses":[{"id":"%s","status":"%s","timestamp":"1750030073","recipient_id":"5215512345678"}]}}]}]}`, wabaA, pnid, wamid, status))
}

func TestWebhookSignature(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t)
	ctx := context.Background()
	requireNothingStored := func(t *testing.T) {
		t.Helper()
		if n := env.count(t, `SELECT count(*) FROM webhook_inbox`); n != 0 {
			t.Fatalf("%d inbox rows stored for a rejected webhook", n)
		}
		if n := env.count(t, `SELECT count(*) FROM river_job WHERE kind = 'process_webhook'`); n != 0 {
			t.Fatalf("%d jobs inserted for a rejected webhook", n)
		}
	}
	body := statusBody(pnidA, "wamid.1", "sent")
	both := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[
		{"id":"%s","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"%s"},"statuses":[]}}]},
		{"id":"%s","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"%s"},"statuses":[]}}]}]}`, wabaB, pnidB, wabaA, pnidA))

	// Each case must answer 401 and store nothing.
	for name, tc := range map[string]struct {
		body   []byte
		sign   func(b []byte) string
		result string
	}{
		"Missing":   {body, func([]byte) string { return "" }, "bad_signature"},
		"Forged":    {body, func(b []byte) string { return whatsapp.Sign(b, []byte("guessed")) }, "bad_signature"},
		"Malformed": {body, func([]byte) string { return "sha256=zz" }, "bad_signature"},
		"WrongAlgorithm": {body, func(b []byte) string {
			return strings.Replace(whatsapp.Sign(b, []byte(secretA)), "sha256=", "sha1=", 1)
		}, "bad_signature"},
		"OtherBody":               {body, func([]byte) string { return whatsapp.Sign([]byte("{}"), []byte(secretA)) }, "bad_signature"},
		"OtherWorkspacesSecret":   {body, func(b []byte) string { return whatsapp.Sign(b, []byte(secretB)) }, "bad_signature"},
		"OwnNumberPlusOtherOne":   {both, func(b []byte) string { return whatsapp.Sign(b, []byte(secretB)) }, "bad_signature"},
		"UnknownNumberForged":     {statusBody("999999", "wamid.2", "sent"), func(b []byte) string { return whatsapp.Sign(b, []byte("guessed")) }, "bad_signature"},
		"SimulatorSecretRealNumb": {body, func(b []byte) string { return whatsapp.Sign(b, []byte(SimulatorAppSecret(env.srv.cfg))) }, "bad_signature"},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, env.http.URL+WebhookPath, bytes.NewReader(tc.body))
			if sig := tc.sign(tc.body); sig != "" {
				req.Header.Set(whatsapp.SignatureHeader, sig)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), tc.result) {
				t.Fatalf("status %d body %s, want 401 %s", res.StatusCode, b, tc.result)
			}
			requireNothingStored(t)
		})
	}

	t.Run("UnknownNumberSignedByAKnownApp", func(t *testing.T) {
		// A number removed from Pregón while Meta still sends for it: the body is signed by an
		// app secret Pregón knows, so it is answered 200 (Meta would retry it for days and may
		// disable the subscription) and kept as unroutable, acting on nothing.
		gone := newWebhookEnv(t)
		gone.post(statusBody("999999", "wamid.2", "sent"), secretA).expect(t, http.StatusOK)
		var ws *int64
		var status string
		if err := gone.db.QueryRow(ctx, `SELECT workspace_id, status FROM webhook_inbox`).Scan(&ws, &status); err != nil {
			t.Fatal(err)
		}
		if ws != nil || status != "unroutable" {
			t.Fatalf("stored for workspace %v as %s, want no workspace, unroutable", ws, status)
		}
		if n := gone.count(t, `SELECT count(*) FROM river_job WHERE kind = 'process_webhook'`); n != 0 {
			t.Fatalf("%d processing jobs queued for an unroutable body", n)
		}
	})

	t.Run("StaleSecret", func(t *testing.T) {
		// The owner rotated the app secret: bodies signed with the old one are refused.
		stale := newWebhookEnv(t)
		if _, err := stale.db.Exec(ctx, `UPDATE sender_numbers SET app_secret_enc = $2 WHERE id = $1`, stale.numA, stale.srv.box.Seal("rotated")); err != nil {
			t.Fatal(err)
		}
		stale.post(body, secretA).expect(t, http.StatusUnauthorized)
		if n := stale.count(t, `SELECT count(*) FROM webhook_inbox`); n != 0 {
			t.Fatalf("stale secret stored %d rows", n)
		}
		stale.post(body, "rotated").expect(t, http.StatusOK)
	})

	t.Run("GoodSignatureStoresBodyAndJobTogether", func(t *testing.T) {
		good := newWebhookEnv(t)
		good.post(body, secretA).expect(t, http.StatusOK)
		var id, ws, num int64
		var stored []byte
		var status string
		if err := good.db.QueryRow(ctx, `SELECT id, workspace_id, sender_number_id, body, status FROM webhook_inbox`).Scan(&id, &ws, &num, &stored, &status); err != nil {
			t.Fatal(err)
		}
		if ws != good.wsA.ID || num != good.numA || !bytes.Equal(stored, body) || status != "pending" {
			t.Fatalf("stored ws %d num %d status %s body equal %v", ws, num, status, bytes.Equal(stored, body))
		}
		if n := good.count(t, `SELECT count(*) FROM river_job j JOIN webhook_inbox i ON i.job_id = j.id
			WHERE i.id = $1 AND j.kind = 'process_webhook' AND j.queue = 'webhooks' AND j.state = 'available'`, id); n != 1 {
			t.Fatalf("%d processing jobs for inbox %d, want 1", n, id)
		}
	})

	t.Run("SimulatorNumberUsesSimulatorSecret", func(t *testing.T) {
		sim := newWebhookEnv(t)
		if _, err := sim.db.Exec(ctx, `UPDATE sender_numbers SET use_simulator = true, app_secret_enc = NULL WHERE id = $1`, sim.numA); err != nil {
			t.Fatal(err)
		}
		sim.post(body, secretA).expect(t, http.StatusUnauthorized)
		sim.post(body, SimulatorAppSecret(sim.srv.cfg)).expect(t, http.StatusOK)
	})
}

func TestWebhookUnparseableIsStoredNotProcessed(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t)
	truncated := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"` + wabaA + `","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"` + pnidA + `"},"statuses":[{"id":"wam`)
	env.post(truncated, secretA).expect(t, http.StatusOK)
	garbage := []byte("hola, esto no es JSON")
	env.post(garbage, secretA).expect(t, http.StatusOK)
	env.post([]byte("también basura"), "desconocido").expect(t, http.StatusUnauthorized)
	if n := env.count(t, `SELECT count(*) FROM webhook_inbox WHERE status = 'unparseable' AND processed_at IS NOT NULL`); n != 2 {
		t.Fatalf("%d unparseable rows, want 2", n)
	}
	if n := env.count(t, `SELECT count(*) FROM river_job WHERE kind = 'process_webhook'`); n != 0 {
		t.Fatalf("%d jobs for unparseable bodies, want 0", n)
	}
}

func TestWebhookOversizedBody(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t)
	big := append([]byte(`{"entry":[{"id":"`+wabaA+`","changes":[]}],"pad":"`), bytes.Repeat([]byte("x"), MaxWebhookBody)...)
	big = append(big, `"}`...)
	env.post(big, secretA).expect(t, http.StatusRequestEntityTooLarge)
	// Without a Content-Length (chunked), the limit still holds.
	req, _ := http.NewRequest(http.MethodPost, env.http.URL+WebhookPath, io.MultiReader(bytes.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(big, []byte(secretA)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d, want 413", res.StatusCode)
	}
	// A 3 MB body is fine.
	ok := append([]byte(`{"object":"whatsapp_business_account","entry":[{"id":"`+wabaA+`","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"`+pnidA+`"},"pad":"`), bytes.Repeat([]byte("y"), 3<<20-200)...)
	ok = append(ok, `"}}]}]}`...)
	env.post(ok, secretA).expect(t, http.StatusOK)
	if n := env.count(t, `SELECT count(*) FROM webhook_inbox`); n != 1 {
		t.Fatalf("%d rows stored, want 1 (the 3 MB body)", n)
	}
}

// goldenFixture is workspace A's data the golden payloads talk about.
type goldenFixture struct {
	contact, campaign, template, recipient int64
}

func (e *webhookEnv) goldenFixture(t testing.TB) goldenFixture {
	t.Helper()
	ctx := context.Background()
	var f goldenFixture
	q := func(sql string, dst *int64, args ...any) {
		t.Helper()
		if err := e.db.QueryRow(ctx, sql, args...).Scan(dst); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	ws := e.wsA.ID
	q(`INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status, quality)
		VALUES ($1, $2, '1689556908129832', 'promo_julio', 'es_MX', 'MARKETING', 'APPROVED', 'GREEN') RETURNING id`, &f.template, ws, wabaA)
	var other int64
	q(`INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status, quality)
		VALUES ($1, $2, '', 'welcome_template', 'en_US', 'UTILITY', 'APPROVED', 'GREEN') RETURNING id`, &other, ws, wabaA)
	q(`INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status, quality)
		VALUES ($1, $2, '806312974732580', 'recordatorio_cita', 'es_MX', 'UTILITY', 'APPROVED', 'GREEN') RETURNING id`, &other, ws, wabaA)
	q(`INSERT INTO contacts (workspace_id, phone_e164, wa_id, consent_at) VALUES ($1, '+16505551234', NULL, now()) RETURNING id`, &f.contact, ws)
	q(`INSERT INTO campaigns (workspace_id, name, sender_number_id, template_id, state) VALUES ($1, 'Julio', $2, $3, 'running') RETURNING id`, &f.campaign, ws, e.numA, f.template)
	q(`INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, sent_at)
		VALUES ($1, $2, $3, '+16505551234', 'sent', 'wamid.TEMPLATE_MSG', now()) RETURNING id`, &f.recipient, ws, f.campaign, f.contact)
	return f
}

func TestWebhookGoldenPayloads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	setup := func(t *testing.T, files ...string) (*webhookEnv, goldenFixture) {
		env := newWebhookEnv(t)
		f := env.goldenFixture(t)
		env.startWorkers(t)
		for _, name := range files {
			env.post(golden(t, name), secretA).expect(t, http.StatusOK)
		}
		env.waitProcessed(t)
		return env, f
	}

	t.Run("Statuses", func(t *testing.T) {
		t.Parallel()
		env := newWebhookEnv(t)
		f := env.goldenFixture(t)
		ws := env.wsA.ID
		for _, w := range []string{"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBIyQjM2RTlERTY4QjFGNzUwNDgA", "wamid.SECOND", "wamid.THIRD", "wamid.HBgLFAILED"} {
			var cid int64
			env.db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164) VALUES ($1, $2) RETURNING id`, ws, "+52155"+fmt.Sprint(len(w))+w[len(w)-3:]).Scan(&cid)
			if _, err := env.db.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid) VALUES ($1, $2, $3, 'x', 'sending', $4)`, ws, f.campaign, cid, w); err != nil {
				t.Fatal(err)
			}
		}
		env.startWorkers(t)
		env.post(golden(t, "status_sent.json"), secretA).expect(t, http.StatusOK)
		env.post(golden(t, "status_failed.json"), secretA).expect(t, http.StatusOK)
		env.post(golden(t, "status_sent.json"), secretA).expect(t, http.StatusOK) // Meta retried: counted once
		env.waitProcessed(t)
		want := map[string]string{"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBIyQjM2RTlERTY4QjFGNzUwNDgA": "sent", "wamid.SECOND": "delivered", "wamid.THIRD": "read", "wamid.HBgLFAILED": "failed"}
		for w, st := range want {
			var state, cat string
			var delivered, retry *time.Time
			var code *int
			if err := env.db.QueryRow(ctx, `SELECT state, pricing_category, delivered_at, error_code, retry_at FROM recipients WHERE wamid = $1`, w).Scan(&state, &cat, &delivered, &code, &retry); err != nil {
				t.Fatal(err)
			}
			if state != st {
				t.Errorf("%s: state %s, want %s", w, state, st)
			}
			if w == "wamid.THIRD" && delivered == nil {
				t.Errorf("played without delivered must set delivered_at")
			}
			if w == "wamid.SECOND" && cat != "marketing" {
				t.Errorf("pricing category %q, want marketing", cat)
			}
			if w == "wamid.HBgLFAILED" && (code == nil || *code != 131049 || retry == nil) {
				t.Errorf("failed: code %v retry %v, want 131049 with a retry ≥ 24 h later", code, retry)
			}
		}
		if n := env.count(t, `SELECT count(*) FROM status_events`); n != 4 {
			t.Errorf("%d status events, want 4 (the retried body counted once, unknown number dropped)", n)
		}
		if n := env.count(t, `SELECT count(*) FROM status_events WHERE billable AND pricing_category = 'marketing' AND pricing_type = 'regular'`); n != 2 {
			t.Errorf("%d events with pricing stored, want 2", n)
		}
		var cooled time.Time
		if err := env.db.QueryRow(ctx, `SELECT c.cooled_until FROM contacts c JOIN recipients r ON r.contact_id = c.id WHERE r.wamid = 'wamid.HBgLFAILED'`).Scan(&cooled); err != nil {
			t.Fatal(err)
		}
		if want := time.Unix(1751142888, 0).Add(24 * time.Hour); !cooled.Equal(want) {
			t.Errorf("cooled_until %v, want %v", cooled, want)
		}
	})

	t.Run("InboundOptOutsRepliesAndTimeline", func(t *testing.T) {
		t.Parallel()
		env, f := setup(t, "inbound_messages.json", "inbound_messages.json")
		var optedOut, lastInbound *time.Time
		var source, waID, phone string
		var consent *time.Time
		if err := env.db.QueryRow(ctx, `SELECT opted_out_at, opt_out_source, last_inbound_at, wa_id, phone_e164, consent_at FROM contacts WHERE id = $1`, f.contact).
			Scan(&optedOut, &source, &lastInbound, &waID, &phone, &consent); err != nil {
			t.Fatal(err)
		}
		// The last message says the user changed number (user_changed_number): the contact
		// follows them, opted out as before; a system message opens no service window.
		if optedOut == nil || source != "keyword" || waID != "16515551234" || phone != "+16515551234" || lastInbound == nil || !lastInbound.Equal(time.Unix(1750091058, 0)) {
			t.Fatalf("contact: opted_out %v source %q wa_id %q phone %s last_inbound %v", optedOut, source, waID, phone, lastInbound)
		}
		if n := env.count(t, `SELECT count(*) FROM consent_events WHERE contact_id = $1 AND kind = 'number_changed'
			AND reason = 'WhatsApp: cambió de número de +16505551234 a +16515551234'`, f.contact); n != 1 {
			t.Errorf("%d number change events, want 1 (the body was delivered twice)", n)
		}
		var replied, recOptedOut *time.Time
		if err := env.db.QueryRow(ctx, `SELECT replied_at, opted_out_at FROM recipients WHERE id = $1`, f.recipient).Scan(&replied, &recOptedOut); err != nil {
			t.Fatal(err)
		}
		if replied == nil || recOptedOut == nil {
			t.Fatalf("recipient: replied %v opted_out %v, want both set by the OPTOUT button tap", replied, recOptedOut)
		}
		if n := env.count(t, `SELECT count(*) FROM messages WHERE direction = 'inbound' AND contact_id = $1`, f.contact); n != 15 {
			t.Errorf("%d inbound messages, want 15 (stored once although delivered twice)", n)
		}
		if n := env.count(t, `SELECT count(*) FROM messages WHERE wamid = 'wamid.BUTTON' AND campaign_id = $1 AND payload = 'OPTOUT:campaign42'`, f.campaign); n != 1 {
			t.Errorf("button reply not attributed to the campaign")
		}
		if n := env.count(t, `SELECT count(*) FROM consent_events WHERE contact_id = $1 AND kind = 'opt_out'`, f.contact); n != 2 {
			t.Errorf("%d opt-out consent events, want 2 (keyword and button, once each)", n)
		}

		var tl timelineResponse
		env.as(store.RoleAnalyst).do(http.MethodGet, fmt.Sprintf("/api/v1/contacts/%d/timeline?limit=500", f.contact), nil).expect(t, http.StatusOK).JSON(t, &tl)
		kinds := map[string]int{}
		for _, it := range tl.Data {
			kinds[it.Kind]++
		}
		if kinds["inbound"] != 15 || kinds["campaign"] != 1 {
			t.Fatalf("timeline kinds %v, want 15 inbound and 1 campaign send", kinds)
		}
		env.requireIsolation(t, http.MethodGet, fmt.Sprintf("/api/v1/contacts/%d/timeline", f.contact), nil)
		env.as(store.RoleAnalyst).do(http.MethodGet, fmt.Sprintf("/api/v1/contacts/%d/timeline?limit=0", f.contact), nil).expect(t, http.StatusUnprocessableEntity)
	})

	t.Run("UserPreferences", func(t *testing.T) {
		t.Parallel()
		env, f := setup(t, "user_preferences.json")
		var stopped bool
		env.db.QueryRow(ctx, `SELECT marketing_stopped FROM contacts WHERE id = $1`, f.contact).Scan(&stopped)
		if !stopped {
			t.Fatal("stop did not set marketing_stopped")
		}
		var consent *time.Time
		if err := env.db.QueryRow(ctx, `SELECT marketing_stopped, consent_at FROM contacts WHERE wa_id = '16505551235'`).Scan(&stopped, &consent); err != nil {
			t.Fatalf("unknown user not created: %v", err)
		}
		if stopped || consent != nil {
			t.Fatalf("resumed unknown user: stopped %v consent %v, want a contact without consent", stopped, consent)
		}
		// An older "resume" arriving late does not undo the newer stop.
		late := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"` + wabaA + `","changes":[{"field":"user_preferences","value":{"metadata":{"phone_number_id":"` + pnidA + `"},
			"user_preferences":[{"wa_id":"16505551234","category":"marketing_messages","value":"resume","timestamp":1731700000}]}}]}]}`)
		env.post(late, secretA).expect(t, http.StatusOK)
		env.waitProcessed(t)
		env.db.QueryRow(ctx, `SELECT marketing_stopped FROM contacts WHERE id = $1`, f.contact).Scan(&stopped)
		if !stopped {
			t.Fatal("an older resume undid a newer stop")
		}
	})

	t.Run("TemplatesPauseAndRecord", func(t *testing.T) {
		t.Parallel()
		env, f := setup(t, "template_status.json", "template_quality.json", "template_category.json")
		var state, reason string
		env.db.QueryRow(ctx, `SELECT state, pause_reason FROM campaigns WHERE id = $1`, f.campaign).Scan(&state, &reason)
		if state != "paused" || !strings.Contains(reason, "pausada por Meta") {
			t.Fatalf("campaign %s (%q), want paused by the template status", state, reason)
		}
		var actor, signal, value string
		env.db.QueryRow(ctx, `SELECT actor, signal, value FROM campaign_transitions WHERE campaign_id = $1 ORDER BY id DESC LIMIT 1`, f.campaign).Scan(&actor, &signal, &value)
		if actor != "rule" || signal != "template_status" || value != "PAUSED" {
			t.Fatalf("transition %s/%s/%s", actor, signal, value)
		}
		if n := env.count(t, `SELECT count(*) FROM template_events WHERE source = 'webhook'`); n != 3 {
			t.Errorf("%d template events, want 3 (status PAUSED, quality YELLOW en-US→en_US, category)", n)
		}
		if n := env.count(t, `SELECT count(*) FROM templates WHERE name = 'welcome_template' AND quality = 'YELLOW'`); n != 1 {
			t.Errorf("quality not stored")
		}
		if n := env.count(t, `SELECT count(*) FROM templates WHERE name = 'recordatorio_cita' AND category = 'MARKETING'`); n != 1 {
			t.Errorf("category not stored")
		}
	})

	t.Run("TemplateAutoResume", func(t *testing.T) {
		t.Parallel()
		env := newWebhookEnv(t)
		f := env.goldenFixture(t)
		if _, err := env.db.Exec(ctx, `UPDATE workspaces SET settings = '{"auto_resume":true,"pause_on_yellow":true}' WHERE id = $1`, env.wsA.ID); err != nil {
			t.Fatal(err)
		}
		env.startWorkers(t)
		quality := func(q string) []byte {
			return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"` + wabaA + `","changes":[{"field":"message_template_quality_update","value":{"previous_quality_score":"GREEN","new_quality_score":"` + q + `","message_template_id":1689556908129832,"message_template_name":"promo_julio","message_template_language":"es_MX"}}]}]}`)
		}
		state := func() string {
			var s string
			env.db.QueryRow(ctx, `SELECT state FROM campaigns WHERE id = $1`, f.campaign).Scan(&s)
			return s
		}
		env.post(quality("YELLOW"), secretA).expect(t, http.StatusOK)
		env.waitProcessed(t)
		if s := state(); s != "paused" {
			t.Fatalf("YELLOW with pause_on_yellow: %s, want paused", s)
		}
		env.post(quality("GREEN"), secretA).expect(t, http.StatusOK)
		env.waitProcessed(t)
		// The resume is a paused → running transition by the rule; the running workers may
		// complete the campaign right after it (the fixture has nothing left to send).
		var resumes int
		env.db.QueryRow(ctx, `SELECT count(*) FROM campaign_transitions WHERE campaign_id = $1
			AND from_state = 'paused' AND to_state = 'running' AND actor = 'rule'`, f.campaign).Scan(&resumes)
		if s := state(); resumes != 1 || (s != "running" && s != "completed") {
			t.Fatalf("GREEN with auto_resume: state %s, %d automatic resumes; want one resume", s, resumes)
		}
		if n := env.count(t, `SELECT count(*) FROM river_job WHERE kind = 'pace' AND (args->>'sender_number_id')::bigint = $1`, env.numA); n < 1 {
			t.Fatalf("resume did not enqueue the pacer")
		}
	})

	// Template and number webhooks processed out of order: the newest report wins, and a late
	// old one neither overwrites the state nor pauses anything.
	t.Run("OutOfOrderTemplateAndNumberUpdates", func(t *testing.T) {
		t.Parallel()
		env := newWebhookEnv(t)
		f := env.goldenFixture(t)
		env.startWorkers(t)
		quality := func(at int, prev, q string) []byte {
			return fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"%s","time":%d,"changes":[{"field":"message_template_quality_update","value":{"previous_quality_score":"%s","new_quality_score":"%s","message_template_id":1689556908129832,"message_template_name":"promo_julio","message_template_language":"es_MX"}}]}]}`, wabaA, at, prev, q)
		}
		number := func(at int, event string) []byte {
			return fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"%s","time":%d,"changes":[{"field":"phone_number_quality_update","value":{"display_phone_number":"15550783881","event":"%s","current_limit":"TIER_10K"}}]}]}`, wabaA, at, event)
		}
		// Meta sent RED at t0 and GREEN at t0+100; they reach Pregón the other way round.
		env.post(quality(1900000100, "RED", "GREEN"), secretA).expect(t, http.StatusOK)
		env.post(number(1900000100, "UNFLAGGED"), secretA).expect(t, http.StatusOK)
		env.waitProcessed(t)
		env.post(quality(1900000000, "GREEN", "RED"), secretA).expect(t, http.StatusOK)
		env.post(number(1900000000, "FLAGGED"), secretA).expect(t, http.StatusOK)
		env.waitProcessed(t)
		var tq, nq, nstatus, cstate string
		env.db.QueryRow(ctx, `SELECT quality FROM templates WHERE id = $1`, f.template).Scan(&tq)
		env.db.QueryRow(ctx, `SELECT quality_rating, status FROM sender_numbers WHERE id = $1`, env.numA).Scan(&nq, &nstatus)
		env.db.QueryRow(ctx, `SELECT state FROM campaigns WHERE id = $1`, f.campaign).Scan(&cstate)
		if tq != "GREEN" || nq != "GREEN" || nstatus == "halted" {
			t.Fatalf("template quality %s, number quality %s status %s; want the newest reports (GREEN, GREEN, not halted)", tq, nq, nstatus)
		}
		if n := env.count(t, `SELECT count(*) FROM campaign_transitions WHERE campaign_id = $1 AND to_state = 'paused'`, f.campaign); n != 0 || cstate == "paused" {
			t.Fatalf("a stale RED/FLAGGED paused the campaign (state %s, %d pauses)", cstate, n)
		}
		// In order, the same reports do pause.
		env.post(quality(1900000200, "GREEN", "RED"), secretA).expect(t, http.StatusOK)
		env.waitProcessed(t)
		if n := env.count(t, `SELECT count(*) FROM campaign_transitions WHERE campaign_id = $1 AND to_state = 'paused'`, f.campaign); n != 1 {
			t.Fatalf("a newer RED made %d pauses, want 1", n)
		}
	})

	t.Run("NumbersLimitsAndDisconnection", func(t *testing.T) {
		t.Parallel()
		env, f := setup(t, "phone_number_quality.json", "business_capability.json")
		var limit int
		env.db.QueryRow(ctx, `SELECT messaging_limit FROM workspaces WHERE id = $1`, env.wsA.ID).Scan(&limit)
		if limit != 2000 {
			t.Fatalf("messaging limit %d, want 2000 (the newest report: the quality update's entry time is after the capability update's)", limit)
		}
		newer := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"` + wabaA + `","time":1900000000,"changes":[{"field":"business_capability_update","value":{"max_daily_conversations_per_business":"UNLIMITED"}}]}]}`)
		env.post(newer, secretA).expect(t, http.StatusOK)
		env.post(golden(t, "business_capability.json"), secretA).expect(t, http.StatusOK) // late and old: ignored
		env.waitProcessed(t)
		env.db.QueryRow(ctx, `SELECT messaging_limit FROM workspaces WHERE id = $1`, env.wsA.ID).Scan(&limit)
		if limit != -1 {
			t.Fatalf("messaging limit %d, want -1 from the newest update", limit)
		}
		var mps int
		var quality, status string
		env.db.QueryRow(ctx, `SELECT throughput_mps, quality_rating, status FROM sender_numbers WHERE id = $1`, env.numA).Scan(&mps, &quality, &status)
		if mps != 1000 || quality != "FLAGGED" || status != "halted" {
			t.Fatalf("number: mps %d quality %s status %s", mps, quality, status)
		}
		if n := env.count(t, `SELECT count(*) FROM number_events WHERE sender_number_id = $1 AND kind = 'limit'`, env.numA); n < 3 {
			t.Errorf("%d limit events, want ≥ 3", n)
		}
		if n := env.count(t, `SELECT count(*) FROM campaigns WHERE id = $1 AND state = 'paused'`, f.campaign); n != 1 {
			t.Errorf("FLAGGED did not pause the number's campaign")
		}
		var limitB int
		env.db.QueryRow(ctx, `SELECT messaging_limit FROM workspaces WHERE id = $1`, env.wsB.ID).Scan(&limitB)
		if limitB != 250 {
			t.Errorf("workspace B's limit changed to %d", limitB)
		}
	})

	t.Run("AccountUpdatePrimaryInactivity", func(t *testing.T) {
		t.Parallel()
		env, f := setup(t, "account_update.json")
		var status, reason string
		env.db.QueryRow(ctx, `SELECT status, status_reason FROM sender_numbers WHERE id = $1`, env.numA).Scan(&status, &reason)
		if status != "disconnected" || !strings.Contains(reason, "PRIMARY_INACTIVITY") {
			t.Fatalf("number %s (%q), want disconnected for PRIMARY_INACTIVITY", status, reason)
		}
		var signal, value string
		env.db.QueryRow(ctx, `SELECT signal, value FROM campaign_transitions WHERE campaign_id = $1 AND to_state = 'paused' ORDER BY id LIMIT 1`, f.campaign).Scan(&signal, &value)
		if signal != "account_update" || value != "PRIMARY_INACTIVITY" {
			t.Fatalf("pause signal %s=%s", signal, value)
		}
		var h store.PhoneAppHealth
		env.as(store.RoleAnalyst).do(http.MethodGet, fmt.Sprintf("/api/v1/numbers/%d/phone-app-health", env.numA), nil).expect(t, http.StatusOK).JSON(t, &h)
		if h.Status != "disconnected" || len(h.RecentEvents) == 0 {
			t.Fatalf("health %+v", h)
		}
		env.requireIsolation(t, http.MethodGet, fmt.Sprintf("/api/v1/numbers/%d/phone-app-health", env.numA), nil)
	})

	t.Run("Coexistence", func(t *testing.T) {
		t.Parallel()
		env, _ := setup(t, "smb_message_echoes.json", "smb_app_state_sync.json", "history.json")
		if n := env.count(t, `SELECT count(*) FROM messages WHERE direction = 'echo' AND wamid = 'wamid.ECHO' AND body = 'Hola, ya tenemos tu pedido'`); n != 1 {
			t.Fatalf("echo not on the timeline")
		}
		var last time.Time
		env.db.QueryRow(ctx, `SELECT last_phone_activity_at FROM sender_numbers WHERE id = $1`, env.numA).Scan(&last)
		if !last.Equal(time.Unix(1700255121, 0)) {
			t.Fatalf("last phone activity %v", last)
		}
		var name string
		var consent *time.Time
		if err := env.db.QueryRow(ctx, `SELECT name, consent_at FROM contacts WHERE workspace_id = $1 AND phone_e164 = '+525512345678'`, env.wsA.ID).Scan(&name, &consent); err != nil {
			t.Fatalf("synced contact (MX 521… → +52…) not created: %v", err)
		}
		if name != "Pablo Morales" || consent != nil {
			t.Fatalf("synced contact %q consent %v, want named and without consent", name, consent)
		}
		if n := env.count(t, `SELECT count(*) FROM messages WHERE direction = 'history'`); n != 1 {
			t.Fatalf("%d history messages, want 1", n)
		}
		if n := env.count(t, `SELECT count(*) FROM number_events WHERE kind = 'history' AND new_value = '2593109'`); n != 1 {
			t.Fatalf("declined history not recorded")
		}
		// The phone app has been silent since 2023: the health job warns once.
		w := jobs.NewPhoneAppHealthWorker(jobs.Deps{DB: env.db, Logger: env.srv.log})
		for i := 0; i < 2; i++ {
			if err := w.Work(ctx, &river.Job[jobs.PhoneAppHealthArgs]{}); err != nil {
				t.Fatal(err)
			}
		}
		if n := env.count(t, `SELECT count(*) FROM number_events WHERE kind = 'phone_activity' AND new_value = 'silent'`); n != 1 {
			t.Fatalf("%d silence warnings, want 1", n)
		}
		var h store.PhoneAppHealth
		env.as(store.RoleAnalyst).do(http.MethodGet, fmt.Sprintf("/api/v1/numbers/%d/phone-app-health", env.numA), nil).expect(t, http.StatusOK).JSON(t, &h)
		if h.Warning == "" || h.WarnedAt == nil || h.SilentDays == nil || *h.SilentDays < 10 {
			t.Fatalf("health shows no warning: %+v", h)
		}
	})
}

func batchTestBody(i int) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"%s","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"%s"},"statuses":[{"id":"wamid.batch.%d","status":"delivered","timestamp":"1764000000","recipient_id":"573001234567"}]}}]}]}`, wabaA, pnidA, i))
}

// A batch processes the bodies of other jobs too, and deletes those jobs in its transaction:
// under load a job runs per batch, not per stored body. Every body is processed once, and no
// job is left waiting for bodies already processed.
func TestWebhookBatchDeletesJobsOfProcessedBodies(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t)
	const bodies = 12
	for i := range bodies {
		env.post(batchTestBody(i), secretA).expect(t, http.StatusOK)
		time.Sleep(webhookJobReuse + 20*time.Millisecond) // a job each
	}
	if n := env.count(t, `SELECT count(DISTINCT job_id) FROM webhook_inbox WHERE status = 'pending'`); n != bodies {
		t.Fatalf("%d jobs named by %d bodies posted one after the other, want one each", n, bodies)
	}
	// One worker: the first job's batch claims every body before any other job starts. With
	// several, a loaded machine can start each job before a batch reaches it (CI saw 12 of
	// 12 once); those jobs find their bodies claimed and end at once.
	env.startWebhookWorkers(t, 1)
	env.waitProcessed(t)
	deadline := time.Now().Add(30 * time.Second)
	for env.count(t, `SELECT count(*) FROM river_job WHERE kind = 'process_webhook' AND state <> 'completed'`) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("process_webhook jobs still unfinished 30 s after every body was processed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := env.count(t, `SELECT count(*) FROM status_events WHERE wamid LIKE 'wamid.batch.%'`); n != bodies {
		t.Fatalf("%d status events stored, want %d", n, bodies)
	}
	ran := env.count(t, `SELECT count(*) FROM river_job WHERE kind = 'process_webhook'`)
	if ran > 1 {
		t.Fatalf("%d of %d jobs ran; the batches should have deleted the jobs of the bodies they processed", ran, bodies)
	}
	t.Logf("%d bodies processed by %d jobs", bodies, ran)
}

// A committer gives its bodies to its recent job while River has not started it, holding the
// job until the commit so that neither River nor a processing batch can take or delete it in
// between; once River has started it (or it is no longer recent) the commit gets a new job,
// which would otherwise not see the new bodies. Every body is processed.
func TestWebhookCommitsShareANotStartedJob(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t)
	ctx := context.Background()
	h := &webhookEndpoint{s: env.srv}
	j := &reusableJob{}
	n := 0
	store1 := func(tx pgx.Tx) int64 {
		t.Helper()
		id, err := h.processingJob(ctx, tx, j)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.WebhookInboxInsertMany(ctx, tx, []store.WebhookInboxRow{{Body: batchTestBody(n), JobID: &id}}); err != nil {
			t.Fatal(err)
		}
		n++
		return id
	}
	commit := func(tx pgx.Tx) {
		t.Helper()
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	begin := func() pgx.Tx {
		t.Helper()
		tx, err := env.db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}

	tx := begin()
	first := store1(tx)
	commit(tx)

	tx = begin()
	j.at = time.Now() // recent
	if id := store1(tx); id != first {
		t.Fatalf("second commit got job %d, want the recent one %d", id, first)
	}
	// While the commit holds the job, River's fetch (FOR UPDATE SKIP LOCKED) and a batch that
	// processed its first body cannot take it.
	var free int
	if err := env.db.QueryRow(ctx, `SELECT count(*) FROM (SELECT id FROM river_job WHERE id = $1 FOR UPDATE SKIP LOCKED) j`, first).Scan(&free); err != nil {
		t.Fatal(err)
	}
	if free != 0 {
		t.Fatal("a job held by a commit could be locked by River's fetch")
	}
	other := begin()
	firstRow := store.WebhookInboxRow{ID: 1, JobID: &first}
	if err := other.QueryRow(ctx, `SELECT id FROM webhook_inbox ORDER BY id LIMIT 1`).Scan(&firstRow.ID); err != nil {
		t.Fatal(err)
	}
	done, err := store.WebhookInboxDoneJobs(ctx, other, []store.WebhookInboxRow{firstRow}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 0 {
		t.Fatalf("a batch would delete job %v while a commit is adding bodies to it", done)
	}
	other.Rollback(ctx)
	commit(tx)

	// River started the job: the next commit needs a new one.
	if _, err := env.db.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() WHERE id = $1`, first); err != nil {
		t.Fatal(err)
	}
	tx = begin()
	j.at = time.Now()
	second := store1(tx)
	commit(tx)
	if second == first {
		t.Fatal("a commit gave its body to a job River had started")
	}
	// Not recent any more: a new one too.
	tx = begin()
	j.at = time.Now().Add(-time.Second)
	if third := store1(tx); third == second {
		t.Fatal("a commit reused a job older than webhookJobReuse")
	}
	commit(tx)

	if _, err := env.db.Exec(ctx, `UPDATE river_job SET state = 'available' WHERE id = $1`, first); err != nil {
		t.Fatal(err)
	}
	env.startWorkers(t)
	env.waitProcessed(t)
	if got := env.count(t, `SELECT count(*) FROM status_events WHERE wamid LIKE 'wamid.batch.%'`); got != n {
		t.Fatalf("%d status events stored, want %d", got, n)
	}
}
