package api

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

// TestWebhookAutoPauseWithSimulator runs a campaign against the simulator, which posts its
// signed webhooks to the real endpoint; mid-campaign the simulator lowers the template's
// quality. The campaign must pause through the webhook rule, and the simulator must accept no
// send after the pause. It reports the latency from the webhook's arrival to the pause and to
// the last accepted send.
func TestWebhookAutoPauseWithSimulator(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, quality string
		settings      string
		signals       []string // pause signals that may win (RED also makes the simulator reject with 132015)
	}{
		{"YellowWithPauseOnYellow", "YELLOW", `{"pause_on_yellow":true}`, []string{"template_quality"}},
		{"Red", "RED", `{}`, []string{"template_quality", "template_status", "error_code"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			env := newWebhookEnv(t)
			sm, campaign := runSimCampaign(t, env, tc.settings, sim.StatusConfig{DeliveredProb: 1, ReadProb: 0.5}, 100, 3000)
			// Watch the simulator's accepted count to time its last accepted send to the millisecond.
			var watchMu sync.Mutex
			var lastAccept time.Time
			watchCtx, stopWatch := context.WithCancel(ctx)
			defer stopWatch()
			go func() {
				prev := 0
				for watchCtx.Err() == nil {
					if n := sm.AcceptedTotal(); n != prev {
						prev = n
						watchMu.Lock()
						lastAccept = time.Now()
						watchMu.Unlock()
					}
					time.Sleep(time.Millisecond)
				}
			}()
			if !eventually(30*time.Second, func() bool { return sm.AcceptedTotal() >= 200 }) {
				t.Fatalf("timed out after 30s waiting for 200 sends accepted (%d accepted): %s", sm.AcceptedTotal(), sendingState(t, env, campaign))
			}
			lowered := time.Now()
			if err := sm.SetTemplateQuality("promo_julio", "es_MX", tc.quality); err != nil {
				t.Fatal(err)
			}
			var state string
			waitUntil(t, 15*time.Second, "the campaign to pause", func() bool {
				env.db.QueryRow(ctx, `SELECT state FROM campaigns WHERE id = $1`, campaign).Scan(&state)
				return state == "paused"
			})
			pausedSeen := time.Now()
			acceptedAtPause := sm.AcceptedTotal()
			time.Sleep(2 * time.Second) // let anything in flight land: nothing more may be accepted
			acceptedLater := sm.AcceptedTotal()

			var signal, value string
			var pausedAt, webhookAt time.Time
			if err := env.db.QueryRow(ctx, `SELECT signal, value, created_at FROM campaign_transitions
				WHERE campaign_id = $1 AND to_state = 'paused' ORDER BY id LIMIT 1`, campaign).Scan(&signal, &value, &pausedAt); err != nil {
				t.Fatal(err)
			}
			env.db.QueryRow(ctx, `SELECT min(received_at) FROM webhook_inbox WHERE convert_from(body, 'UTF8') LIKE '%message_template_quality_update%'`).Scan(&webhookAt)
			var sentTotal int
			env.db.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE campaign_id = $1 AND sent_at IS NOT NULL`, campaign).Scan(&sentTotal)
			stopWatch()
			watchMu.Lock()
			lastSent := lastAccept
			watchMu.Unlock()
			t.Logf("%s: paused by %s=%s; quality lowered → webhook stored %v → pause committed %v later (poll saw it %v after lowering); "+
				"last accepted send %v after the webhook, %v after the pause; %d sent, %d accepted by the simulator, %d of them after the pause was seen",
				tc.quality, signal, value, webhookAt.Sub(lowered).Round(time.Millisecond), pausedAt.Sub(webhookAt).Round(time.Millisecond),
				pausedSeen.Sub(lowered).Round(time.Millisecond), lastSent.Sub(webhookAt).Round(time.Millisecond),
				lastSent.Sub(pausedAt).Round(time.Millisecond), sentTotal, acceptedLater, acceptedLater-acceptedAtPause)
			allowed := false
			for _, s := range tc.signals {
				allowed = allowed || s == signal
			}
			if !allowed {
				t.Fatalf("paused by %s=%s, want one of %v", signal, value, tc.signals)
			}
			// A send claims its recipient as its slot comes due, under a share lock on its
			// campaign, and calls the API right after: once the pause has committed no claim
			// succeeds, so only calls already in flight (a few ms) can reach the simulator later.
			var claimedAfter int
			env.db.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE campaign_id = $1 AND sending_at > $2`, campaign, pausedSeen).Scan(&claimedAfter)
			if claimedAfter > 0 {
				t.Fatalf("%d recipients claimed for sending after the campaign was paused", claimedAfter)
			}
			if late := acceptedLater - acceptedAtPause; late > 0 {
				t.Logf("%d sends claimed before the pause were accepted after it (calls in flight)", late)
			}
			// Calls in flight arrive within milliseconds on an idle machine; a machine loaded by
			// the whole suite can hold one back for a while, never a new claim (checked above).
			if lastSent.After(pausedAt.Add(5 * time.Second)) {
				t.Fatalf("last send accepted %v after the pause committed", lastSent.Sub(pausedAt))
			}
		})
	}
}

// runSimCampaign runs a campaign of audience contacts of workspace A through a real simulator
// (its webhooks to the endpoint, statuses as st) and real River workers at mps, with the
// workspace settings merged with settings; it returns the simulator and the campaign's id.
// simOpts change the simulator's configuration before it starts.
func runSimCampaign(t *testing.T, env *webhookEnv, settings string, st sim.StatusConfig, mps, audience int, simOpts ...func(*sim.Config)) (*sim.Simulator, int64) {
	t.Helper()
	ctx := context.Background()
	cfg := sim.Config{
		Seed:       3,
		WebhookURL: env.http.URL + WebhookPath,
		AppSecret:  SimulatorAppSecret(env.srv.cfg),
		Numbers:    []sim.Number{{PhoneNumberID: pnidA, WABAID: wabaA, MPS: mps, MessagingLimitTier: "TIER_UNLIMITED"}},
		Templates: []sim.Template{{WABAID: wabaA, Template: whatsapp.Template{
			Name: "promo_julio", Language: "es_MX", Status: "APPROVED", Category: "MARKETING", ParameterFormat: "POSITIONAL",
			Components: []whatsapp.TemplateComponent{{Type: "BODY", Text: "Hola, tenemos novedades."}},
		}}},
		Statuses: st,
	}
	for _, o := range simOpts {
		o(&cfg)
	}
	sm := sim.New(cfg)
	simCtx, stopSim := context.WithCancel(ctx)
	t.Cleanup(stopSim)
	sm.Start(simCtx)
	simSrv := httptest.NewServer(sm)
	t.Cleanup(simSrv.Close)
	metaID := sm.Templates()[0].ID

	ws := env.wsA.ID
	var tmpl, campaign int64
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := env.db.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`UPDATE sender_numbers SET use_simulator = true, app_secret_enc = NULL, throughput_mps = $2, coexistence = false WHERE id = $1`, env.numA, mps)
	exec(`UPDATE workspaces SET settings = settings || $2::jsonb, messaging_limit = -1 WHERE id = $1`, ws, settings)
	if err := env.db.QueryRow(ctx, `INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status, quality)
		VALUES ($1, $2, $3, 'promo_julio', 'es_MX', 'MARKETING', 'APPROVED', 'GREEN') RETURNING id`, ws, wabaA, metaID).Scan(&tmpl); err != nil {
		t.Fatal(err)
	}
	if err := env.db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, sender_number_id, template_id, state, launched_at)
		VALUES ($1, 'promo', $2, $3, 'running', now()) RETURNING id`, ws, env.numA, tmpl).Scan(&campaign); err != nil {
		t.Fatal(err)
	}
	exec(`WITH c AS (INSERT INTO contacts (workspace_id, phone_e164, consent_at)
		SELECT $1, '+5730' || lpad(g::text, 8, '0'), now() FROM generate_series(1, $3) g RETURNING id, phone_e164)
		INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164) SELECT $1, $2, id, phone_e164 FROM c ORDER BY id`, ws, campaign, audience)

	rc := startWorkers(t, env, simSrv.URL, 200)
	if _, err := rc.Insert(ctx, jobs.PaceArgs{SenderNumberID: env.numA}, nil); err != nil {
		t.Fatal(err)
	}
	return sm, campaign
}

// TestWebhookFailuresTripTheBreaker: failures Meta reports by webhook after accepting the
// sends (131026 undeliverable, the usual way) count for the circuit breaker like failures the
// send gets at once: a campaign all of whose messages fail pauses by itself.
func TestWebhookFailuresTripTheBreaker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newWebhookEnv(t)
	_, campaign := runSimCampaign(t, env, `{}`, sim.StatusConfig{FailedProb: 1, FailureCodes: map[int]float64{131026: 1}}, 20, 200)
	var state, signal string
	waitUntil(t, 30*time.Second, "the campaign to pause", func() bool {
		env.db.QueryRow(ctx, `SELECT state FROM campaigns WHERE id = $1`, campaign).Scan(&state)
		return state != "running"
	})
	env.db.QueryRow(ctx, `SELECT signal FROM campaign_transitions WHERE campaign_id = $1 AND to_state = 'paused' ORDER BY id LIMIT 1`, campaign).Scan(&signal)
	var sent int
	env.db.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE campaign_id = $1 AND sent_at IS NOT NULL OR campaign_id = $1 AND state = 'failed'`, campaign).Scan(&sent)
	if state != "paused" || signal != "circuit_breaker" {
		t.Fatalf("campaign %s (signal %q) after %d of 200 sends failed by webhook", state, signal, sent)
	}
	if sent >= 200 {
		t.Fatalf("paused only after all %d sends", sent)
	}
}

// startWorkers runs River workers (sendWorkers send jobs; 0: the default) against the
// simulator at simURL until the test ends.
func startWorkers(t *testing.T, env *webhookEnv, simURL string, sendWorkers int) *river.Client[pgx.Tx] {
	t.Helper()
	client := whatsapp.New(whatsapp.Config{BaseURL: simURL, Token: "sim-token"})
	deps := jobs.Deps{Config: env.srv.cfg, DB: env.db, Box: env.srv.box, Logger: env.srv.log,
		WhatsApp: func(store.SenderNumber) (*whatsapp.Client, error) { return client, nil }}
	rc, err := jobs.NewClient(env.db, deps, jobs.ClientConfig{Workers: true, SendWorkers: sendWorkers})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rc.StopAndCancel(sctx)
	})
	return rc
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !eventually(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// eventually polls cond every 10 ms for up to d and reports whether it became true.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// sendingState describes why a campaign may not be sending: its state and pause reason, its
// number's status, the workspace's settings, its recipients by state and the pacer's and send
// jobs by state with their last errors.
func sendingState(t *testing.T, env *webhookEnv, campaign int64) string {
	ctx := context.Background()
	var out strings.Builder
	var state, reason, numberStatus, settings, tz string
	env.db.QueryRow(ctx, `SELECT c.state, COALESCE(c.pause_reason, ''), n.status, w.settings::text, w.time_zone
		FROM campaigns c JOIN sender_numbers n ON n.id = c.sender_number_id JOIN workspaces w ON w.id = c.workspace_id
		WHERE c.id = $1`, campaign).Scan(&state, &reason, &numberStatus, &settings, &tz)
	fmt.Fprintf(&out, "now %s; campaign %s %q; number %s; workspace %s %s", time.Now().UTC().Format(time.RFC3339), state, reason, numberStatus, tz, settings)
	for _, q := range []string{
		`SELECT state || '=' || count(*) FROM recipients WHERE campaign_id = $1 GROUP BY state`,
		`SELECT kind || '/' || state || '=' || count(*) || COALESCE(' last error: ' || max(errors[array_length(errors, 1)]->>'error'), '')
		 FROM river_job WHERE $1::bigint > 0 GROUP BY kind, state`,
	} {
		rows, err := env.db.Query(ctx, q, campaign)
		if err != nil {
			fmt.Fprintf(&out, "; %v", err)
			continue
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out.WriteString("; " + s)
		}
		rows.Close()
	}
	return out.String()
}

// TestWebhookSimulatorInboundAndCoexistence drives the endpoint with the simulator's own
// webhooks: a "BAJA" (with the workspace's confirmation reply sent inside the window), a
// quick-reply tap, an echo from the phone app and an address-book sync.
func TestWebhookSimulatorInboundAndCoexistence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newWebhookEnv(t)
	sm := sim.New(sim.Config{Seed: 5, WebhookURL: env.http.URL + WebhookPath, AppSecret: SimulatorAppSecret(env.srv.cfg),
		Numbers: []sim.Number{{PhoneNumberID: pnidA, WABAID: wabaA, Coexistence: true}}})
	simCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	sm.Start(simCtx)
	simSrv := httptest.NewServer(sm)
	t.Cleanup(simSrv.Close)
	if _, err := env.db.Exec(ctx, `UPDATE sender_numbers SET use_simulator = true, app_secret_enc = NULL WHERE id = $1`, env.numA); err != nil {
		t.Fatal(err)
	}
	const confirmation = "Listo: no te enviaremos más promociones."
	if _, err := env.db.Exec(ctx, `UPDATE workspaces SET settings = settings || jsonb_build_object('opt_out_confirmation', $2::text) WHERE id = $1`, env.wsA.ID, confirmation); err != nil {
		t.Fatal(err)
	}
	startWorkers(t, env, simSrv.URL, 0)

	if _, err := sm.SendInbound(sim.Inbound{PhoneNumberID: pnidA, From: "5215512345678", Name: "Ana", Text: "  Baja "}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.SendInbound(sim.Inbound{PhoneNumberID: pnidA, From: "573001234567", ButtonText: "No me interesa", ButtonPayload: "OPTOUT:c1", ContextID: "wamid.unknown"}); err != nil {
		t.Fatal(err)
	}
	if err := sm.EmitEcho(pnidA, "573001234567", "Hola desde el teléfono"); err != nil {
		t.Fatal(err)
	}
	if err := sm.EmitContactSync(pnidA, []sim.ContactSync{{FullName: "Luis Pérez", PhoneNumber: "573009998877"}}); err != nil {
		t.Fatal(err)
	}
	// A username user (their message names them by BSUID alone) whose contact is known: the
	// confirmation goes to the phone the contact has.
	const sofia = "573105550000"
	if _, err := sm.SendInbound(sim.Inbound{PhoneNumberID: pnidA, From: sofia, Name: "Sofía", Text: "Hola"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "Sofía's contact learning her BSUID", func() bool {
		return env.count(t, `SELECT count(*) FROM contacts WHERE phone_e164 = '+573105550000' AND bsuid = $1`, sm.UserID(sofia)) == 1
	})
	if _, err := sm.SendInbound(sim.Inbound{PhoneNumberID: pnidA, UserID: sm.UserID(sofia), Text: "BAJA"}); err != nil {
		t.Fatal(err)
	}
	// The three opt-outs (keyword, quick reply, keyword by BSUID) get the confirmation, once
	// each, answering them.
	waitUntil(t, 15*time.Second, "the confirmation replies", func() bool {
		return env.count(t, `SELECT count(*) FROM messages WHERE direction = 'outbound' AND body = $1 AND payload LIKE 'opt_out_confirmation:%'`, confirmation) == 3
	})
	waitUntil(t, 15*time.Second, "echo and contact sync", func() bool {
		return env.count(t, `SELECT count(*) FROM messages WHERE direction = 'echo'`) == 1 &&
			env.count(t, `SELECT count(*) FROM contacts WHERE phone_e164 = '+573009998877' AND name = 'Luis Pérez' AND consent_at IS NULL`) == 1
	})
	var source string
	var waID string
	if err := env.db.QueryRow(ctx, `SELECT opt_out_source, wa_id FROM contacts WHERE phone_e164 = '+525512345678'`).Scan(&source, &waID); err != nil {
		t.Fatalf("the MX user (wa_id 521…) was not stored as +52…: %v", err)
	}
	if source != "keyword" || waID != "5215512345678" {
		t.Fatalf("opt-out source %q wa_id %q", source, waID)
	}
	if n := env.count(t, `SELECT count(*) FROM contacts WHERE phone_e164 = '+573001234567' AND opt_out_source = 'button'`); n != 1 {
		t.Fatalf("the OPTOUT quick reply did not opt the contact out")
	}
	if n := env.count(t, `SELECT count(*) FROM sender_numbers WHERE id = $1 AND last_phone_activity_at IS NOT NULL`, env.numA); n != 1 {
		t.Fatalf("the echo did not record phone-app activity")
	}
	if got := sm.AcceptedTotal(); got != 3 {
		t.Fatalf("the simulator accepted %d messages, want the 3 confirmations", got)
	}
	if n := env.count(t, `SELECT count(*) FROM contacts WHERE phone_e164 = '+573105550000' AND opt_out_source = 'keyword'`); n != 1 {
		t.Fatalf("the BAJA by BSUID alone did not opt Sofía out")
	}
}
