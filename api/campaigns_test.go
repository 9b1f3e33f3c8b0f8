package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

// campaignEnv is the harness plus a simulator standing in for Meta.
type campaignEnv struct {
	*testEnv
	sim *sim.Simulator
}

func newCampaignEnv(t *testing.T) *campaignEnv {
	t.Helper()
	env := newTestEnv(t)
	sm := sim.New(sim.Config{Seed: 1})
	ts := httptest.NewServer(sm)
	t.Cleanup(ts.Close)
	client := whatsapp.New(whatsapp.Config{BaseURL: ts.URL, Token: "sim-token"})
	env.srv.wa = func(store.SenderNumber) (*whatsapp.Client, error) { return client, nil }
	return &campaignEnv{testEnv: env, sim: sm}
}

// registerNumber registers the simulator's number in workspace A as its owner.
func (e *campaignEnv) registerNumber(t *testing.T) numberResponse {
	t.Helper()
	var n numberResponse
	e.as(store.RoleOwner).do("POST", "/api/v1/numbers", map[string]any{
		"phone_number_id": sim.DefaultPhoneNumberID, "waba_id": sim.DefaultWABAID, "display_number": "+52 1 555 078 3881",
		"access_token": "EAAG-very-secret-token", "app_secret": "app-secret-shh", "verify_token": "verificame",
	}).expect(t, http.StatusCreated).JSON(t, &n)
	return n
}

func (e *campaignEnv) syncTemplates(t *testing.T) jobs.SyncResult {
	t.Helper()
	var res jobs.SyncResult
	e.as(store.RoleMarketer).do("POST", "/api/v1/templates/sync", nil).expect(t, http.StatusOK).JSON(t, &res)
	return res
}

func (e *campaignEnv) templateID(t *testing.T, name string) int64 {
	t.Helper()
	var list listOf[templateResponse]
	e.as(store.RoleAnalyst).do("GET", "/api/v1/templates?q="+name, nil).expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Data) != 1 {
		t.Fatalf("templates named %s: %d", name, len(list.Data))
	}
	return list.Data[0].ID
}

// contacts inserts marketable contacts in workspace A: "+573000000<iii>", name "Cliente i".
func (e *campaignEnv) contacts(t *testing.T, n int) {
	t.Helper()
	_, err := e.db.Exec(context.Background(), `INSERT INTO contacts (workspace_id, phone_e164, name, consent_at)
		SELECT $1, '+573000000' || lpad(i::text, 3, '0'), 'Cliente ' || i, now() FROM generate_series(0, $2 - 1) i`, e.wsA.ID, n)
	if err != nil {
		t.Fatal(err)
	}
}

func TestNumbersSecretsAndHealth(t *testing.T) {
	t.Parallel()
	e := newCampaignEnv(t)
	e.requireRoles(t, "POST", "/api/v1/numbers", map[string]any{"phone_number_id": "x"}, store.RoleOwner)
	n := e.registerNumber(t)
	if !n.HasAccessToken || !n.HasAppSecret || !n.HasVerifyToken || n.CheckError != "" {
		t.Fatalf("registered %+v", n)
	}
	// Health read from the (simulated) API at registration, recorded as events.
	if n.QualityRating != "GREEN" || n.MessagingLimitTier == "" || n.ThroughputMPS != 80 || len(n.Events) == 0 {
		t.Fatalf("health not read: %+v", n)
	}
	path := fmt.Sprintf("/api/v1/numbers/%d", n.ID)
	for _, r := range []response{
		e.as(store.RoleOwner).do("POST", "/api/v1/numbers", map[string]any{"phone_number_id": "999", "waba_id": "1", "access_token": "EAAG-very-secret-token"}),
		e.as(store.RoleAnalyst).do("GET", path, nil),
		e.as(store.RoleAnalyst).do("GET", "/api/v1/numbers", nil),
		e.as(store.RoleOwner).do("PATCH", path, map[string]any{"throughput_cap": 10, "app_secret": "app-secret-shh"}),
		e.as(store.RoleOwner).do("POST", path+"/check", nil),
	} {
		for _, secret := range []string{"EAAG-very-secret-token", "app-secret-shh", "verificame", "access_token_enc"} {
			if strings.Contains(string(r.Body), secret) {
				t.Fatalf("response leaks %q: %s", secret, r.Body)
			}
		}
	}
	// Encrypted at rest, and the box opens it.
	var enc []byte
	if err := e.db.QueryRow(context.Background(), `SELECT access_token_enc FROM sender_numbers WHERE id = $1`, n.ID).Scan(&enc); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(enc), "EAAG") {
		t.Fatal("access token stored in clear")
	}
	if got, err := e.srv.box.Open(enc); err != nil || got != "EAAG-very-secret-token" {
		t.Fatalf("open: %q %v", got, err)
	}
	var got store.SenderNumber
	e.as(store.RoleAnalyst).do("GET", path, nil).expect(t, http.StatusOK).JSON(t, &got)
	if got.EffectiveThroughput != 10 {
		t.Fatalf("effective mps %d, want the cap 10", got.EffectiveThroughput)
	}
	e.requireRoles(t, "PATCH", path, map[string]any{}, store.RoleOwner)
	e.requireIsolation(t, "GET", path, nil)
	e.requireIsolation(t, "PATCH", path, map[string]any{"throughput_cap": 5})
	e.requireIsolation(t, "GET", path+"/events", nil)
	e.requireIsolation(t, "DELETE", path, nil)
}

func TestTemplateSyncRecordsEvents(t *testing.T) {
	t.Parallel()
	e := newCampaignEnv(t)
	e.registerNumber(t)
	res := e.syncTemplates(t)
	if res.Templates != len(sim.SeedTemplates(sim.DefaultWABAID)) || res.Created != res.Templates || res.Events < res.Templates {
		t.Fatalf("first sync %+v", res)
	}
	e.requireRoles(t, "POST", "/api/v1/templates/sync", nil, store.RoleMarketer)
	id := e.templateID(t, "promo_temporada")
	var d templateDetail
	e.as(store.RoleAnalyst).do("GET", fmt.Sprintf("/api/v1/templates/%d", id), nil).expect(t, http.StatusOK).JSON(t, &d)
	var keys []string
	for _, p := range d.Parameters {
		keys = append(keys, p.Key)
	}
	if strings.Join(keys, ",") != "header.image,body.1,body.2,button.0.url" {
		t.Fatalf("parameters %v", keys)
	}
	// Meta changes quality and status: the next sync records both.
	if err := e.sim.SetTemplateQuality("promo_temporada", "es_MX", "YELLOW"); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.SetTemplateStatus("novedades_cliente", "es", "PAUSED", "NONE"); err != nil {
		t.Fatal(err)
	}
	res = e.syncTemplates(t)
	if res.Created != 0 || res.Events < 2 {
		t.Fatalf("second sync %+v", res)
	}
	e.as(store.RoleAnalyst).do("GET", fmt.Sprintf("/api/v1/templates/%d", id), nil).expect(t, http.StatusOK).JSON(t, &d)
	if d.Quality != "YELLOW" || len(d.Events) == 0 || d.Events[0].Kind != "quality" || d.Events[0].OldValue != "GREEN" || d.Events[0].NewValue != "YELLOW" || d.Events[0].Source != "sync" {
		t.Fatalf("template after sync: quality %s events %+v", d.Quality, d.Events)
	}
	// A third sync with no change records nothing.
	if res = e.syncTemplates(t); res.Events != 0 {
		t.Fatalf("idle sync recorded %d events", res.Events)
	}
	e.requireIsolation(t, "GET", fmt.Sprintf("/api/v1/templates/%d", id), nil)
}

func TestCampaignLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newCampaignEnv(t)
	n := e.registerNumber(t)
	e.syncTemplates(t)
	tmplID := e.templateID(t, "promo_temporada")
	e.contacts(t, 20)
	mapping := map[string]any{"variables": []map[string]any{
		{"component": "header", "type": "image", "source": "literal", "value": "https://tienda.example/img/t.jpg"},
		{"component": "body", "name": "1", "source": "field", "key": "first_name", "fallback": "cliente"},
		{"component": "body", "name": "2", "source": "literal", "value": "20%"},
		{"component": "button", "button_index": 0, "button_type": "url", "source": "field", "key": "phone"},
	}}
	draft := map[string]any{"name": "Temporada", "sender_number_id": n.ID, "template_id": tmplID, "variable_mapping": mapping,
		"send_window": map[string]any{"start": "00:00", "end": "00:00"}}

	// Marketers draft; analysts can't.
	e.requireRoles(t, "POST", "/api/v1/campaigns", map[string]any{"name": "x"}, store.RoleMarketer)
	bad := map[string]any{"name": "Mal", "template_id": tmplID, "variable_mapping": map[string]any{"variables": []map[string]any{
		{"component": "body", "name": "1", "source": "field", "key": "apodo"}}}}
	e.as(store.RoleMarketer).do("POST", "/api/v1/campaigns", bad).expect(t, http.StatusUnprocessableEntity)
	var cp campaignResponse
	e.as(store.RoleMarketer).do("POST", "/api/v1/campaigns", draft).expect(t, http.StatusCreated).JSON(t, &cp)
	path := fmt.Sprintf("/api/v1/campaigns/%d", cp.ID)
	if cp.State != store.CampaignDraft || cp.TimeZone != "America/Bogota" {
		t.Fatalf("draft %+v", cp)
	}

	// Plan: everyone (broadcast) needs confirmation.
	var plan launchPlan
	e.as(store.RoleAnalyst).do("GET", path+"/plan", nil).expect(t, http.StatusOK).JSON(t, &plan)
	if plan.Ready || plan.Audience.WillSend != 20 || !plan.Audience.Broadcast || plan.Throughput.MPS != 80 || plan.ETA.Text == "" {
		t.Fatalf("plan %+v", plan)
	}
	if !hasWarning(plan, "confirm_broadcast") {
		t.Fatalf("no confirm_broadcast warning: %+v", plan.Warnings)
	}

	// Test send through the same rendering, to the simulator.
	var ts testSendResponse
	e.as(store.RoleMarketer).do("POST", path+"/test", map[string]any{"phone": "+573000000003"}).expect(t, http.StatusOK).JSON(t, &ts)
	if ts.WAMID == "" || ts.Rendered.Value("body.1") != "Cliente" || ts.Rendered.Value("button.0.url") != "+573000000003" {
		t.Fatalf("test send %+v", ts)
	}
	if e.sim.Accepted("+573000000003") != 1 {
		t.Fatalf("simulator accepted %d", e.sim.Accepted("+573000000003"))
	}
	// Not to a contact who opted out: a test send is still a marketing message to that person.
	_, err := e.db.Exec(ctx, `UPDATE contacts SET opted_out_at = now() WHERE workspace_id = $1 AND phone_e164 = '+573000000004'`, e.wsA.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.as(store.RoleMarketer).do("POST", path+"/test", map[string]any{"phone": "+573000000004"}).expect(t, http.StatusUnprocessableEntity)
	if n := e.sim.Accepted("+573000000004"); n != 0 {
		t.Fatalf("a test send reached a contact who opted out (%d)", n)
	}
	if _, err := e.db.Exec(ctx, `UPDATE contacts SET opted_out_at = NULL WHERE workspace_id = $1 AND phone_e164 = '+573000000004'`, e.wsA.ID); err != nil {
		t.Fatal(err) // back in the audience the launch below counts
	}
	// A date more than a year away is a mistake, not a schedule.
	e.as(store.RoleMarketer).do("PATCH", path, map[string]any{"scheduled_at": "9999-12-31T23:59:59Z"}).expect(t, http.StatusUnprocessableEntity)

	// Schedule: owners only; without confirmation it is refused.
	e.requireRoles(t, "POST", path+"/schedule", map[string]any{"scheduled_at": "2000-01-01T00:00:00Z"}, store.RoleOwner)
	e.requireIsolation(t, "POST", path+"/schedule", map[string]any{"confirm_broadcast": true})
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	e.as(store.RoleOwner).do("POST", path+"/schedule", map[string]any{"scheduled_at": at}).expect(t, http.StatusUnprocessableEntity)
	e.as(store.RoleOwner).do("POST", path+"/schedule", map[string]any{"scheduled_at": at, "confirm_broadcast": true}).expect(t, http.StatusOK).JSON(t, &cp)
	if cp.State != store.CampaignScheduled || cp.ScheduledAt == nil || !cp.ScheduledAt.Equal(at) || cp.ScheduledAtLocal == "" {
		t.Fatalf("scheduled %+v", cp)
	}
	// The campaign's log says when in the workspace's time, as the owner reads every date.
	var logged string
	e.db.QueryRow(ctx, `SELECT reason FROM campaign_transitions WHERE campaign_id = $1 AND to_state = 'scheduled' ORDER BY id DESC LIMIT 1`, cp.ID).Scan(&logged)
	bogota, _ := time.LoadLocation("America/Bogota")
	if want := at.In(bogota).Format("02/01/2006 a las 15:04"); !strings.Contains(logged, want) {
		t.Fatalf("the log says %q, want the time in Bogotá (%s)", logged, want)
	}
	var jobAt time.Time
	if err := e.db.QueryRow(ctx, `SELECT scheduled_at FROM river_job WHERE kind = 'launch_campaign' AND (args->>'campaign_id')::bigint = $1`, cp.ID).Scan(&jobAt); err != nil {
		t.Fatalf("launch job not inserted: %v", err)
	}
	if !jobAt.Equal(at) {
		t.Fatalf("launch job at %v, want %v", jobAt, at)
	}
	e.as(store.RoleOwner).do("PATCH", path, map[string]any{"name": "otra"}).expect(t, http.StatusConflict)

	// Unschedule and schedule again for now; the first job is stale.
	e.requireRoles(t, "POST", path+"/unschedule", nil, store.RoleOwner)
	e.as(store.RoleOwner).do("POST", path+"/schedule", map[string]any{"confirm_broadcast": true}).expect(t, http.StatusOK).JSON(t, &cp)

	// The launch (as the scheduled job would run it).
	tx, err := e.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// With the args exactly as the scheduled job carries them (a "now" schedule must not look stale).
	var rawArgs []byte
	if err := e.db.QueryRow(ctx, `SELECT args FROM river_job WHERE kind = 'launch_campaign' ORDER BY id DESC LIMIT 1`).Scan(&rawArgs); err != nil {
		t.Fatal(err)
	}
	var args jobs.LaunchCampaignArgs
	if err := json.Unmarshal(rawArgs, &args); err != nil {
		t.Fatal(err)
	}
	res, err := jobs.LaunchCampaign(ctx, tx, args, jobs.LaunchOptions{})
	if err != nil || !res.Launched || res.Pending != 20 {
		t.Fatalf("launch %+v %v", res, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var prog progressResponse
	e.as(store.RoleAnalyst).do("GET", path+"/progress", nil).expect(t, http.StatusOK).JSON(t, &prog)
	if prog.State != "running" || prog.Counts["pending"] != 20 || prog.AudienceCount != 20 {
		t.Fatalf("progress %+v", prog)
	}
	e.requireIsolation(t, "GET", path+"/progress", nil)

	// Pause / resume: owners only; marketers get 403. Resume enqueues the pacer.
	e.requireIsolation(t, "POST", path+"/pause", nil)
	e.as(store.RoleMarketer).do("POST", path+"/pause", nil).expect(t, http.StatusForbidden)
	e.as(store.RoleOwner).do("POST", path+"/pause", map[string]any{"reason": "revisar textos"}).expect(t, http.StatusOK).JSON(t, &cp)
	if cp.State != store.CampaignPaused || cp.PauseReason != "revisar textos" {
		t.Fatalf("paused %+v", cp)
	}
	var paceBefore int
	_ = e.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'pace'`).Scan(&paceBefore)
	e.as(store.RoleMarketer).do("POST", path+"/resume", nil).expect(t, http.StatusForbidden)
	e.requireIsolation(t, "POST", path+"/resume", nil)
	e.as(store.RoleOwner).do("POST", path+"/resume", nil).expect(t, http.StatusOK).JSON(t, &cp)
	var paceAfter int
	_ = e.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'pace' AND (args->>'sender_number_id')::bigint = $1`, n.ID).Scan(&paceAfter)
	if cp.State != store.CampaignRunning || paceAfter == 0 {
		t.Fatalf("resumed %s, pace jobs %d → %d", cp.State, paceBefore, paceAfter)
	}
	// A resume of a running campaign is a no-op, not an error.
	e.as(store.RoleOwner).do("POST", path+"/resume", nil).expect(t, http.StatusOK)

	// Cancel, then nothing else moves it.
	e.requireIsolation(t, "POST", path+"/cancel", nil)
	e.as(store.RoleOwner).do("POST", path+"/cancel", nil).expect(t, http.StatusOK).JSON(t, &cp)
	if cp.State != store.CampaignCancelled || cp.CancelledAt == nil {
		t.Fatalf("cancelled %+v", cp)
	}
	e.as(store.RoleOwner).do("POST", path+"/resume", nil).expect(t, http.StatusConflict)

	var log listOf[store.CampaignTransitionRecord]
	e.as(store.RoleAnalyst).do("GET", path+"/transitions", nil).expect(t, http.StatusOK).JSON(t, &log)
	var seq []string
	for _, r := range log.Data {
		seq = append(seq, string(r.ToState)+"/"+r.Actor)
	}
	want := "scheduled/user draft/user scheduled/user running/system paused/user running/user cancelled/user"
	if strings.Join(seq, " ") != want {
		t.Fatalf("transitions %v\nwant %s", seq, want)
	}
	e.requireIsolation(t, "GET", path+"/transitions", nil)
	e.requireIsolation(t, "GET", path, nil)
	e.requireIsolation(t, "GET", path+"/plan", nil)

	// The listing of workspace B doesn't show it.
	var listB listOf[campaignResponse]
	e.asB(store.RoleOwner).do("GET", "/api/v1/campaigns", nil).expect(t, http.StatusOK).JSON(t, &listB)
	if len(listB.Data) != 0 {
		t.Fatalf("workspace B sees %d campaigns", len(listB.Data))
	}
}

func TestCampaignDraftIsolationAndValidation(t *testing.T) {
	t.Parallel()
	e := newCampaignEnv(t)
	n := e.registerNumber(t)
	// Workspace B cannot reference A's number in its drafts.
	r := e.asB(store.RoleOwner).do("POST", "/api/v1/campaigns", map[string]any{"name": "B", "sender_number_id": n.ID})
	r.expect(t, http.StatusUnprocessableEntity)
	var cp campaignResponse
	e.as(store.RoleMarketer).do("POST", "/api/v1/campaigns", map[string]any{"name": "A"}).expect(t, http.StatusCreated).JSON(t, &cp)
	path := fmt.Sprintf("/api/v1/campaigns/%d", cp.ID)
	e.requireIsolation(t, "PATCH", path, map[string]any{"name": "robada"})
	e.requireIsolation(t, "DELETE", path, nil)
	e.requireIsolation(t, "POST", path+"/test", map[string]any{"phone": "+573000000001"})
	e.as(store.RoleMarketer).do("PATCH", path, map[string]any{"send_window": map[string]any{"start": "25:00", "end": "08:00"}}).expect(t, http.StatusUnprocessableEntity)
	var plan launchPlan
	e.as(store.RoleAnalyst).do("GET", path+"/plan", nil).expect(t, http.StatusOK).JSON(t, &plan)
	if plan.Ready || len(plan.Problems) < 2 {
		t.Fatalf("incomplete draft plan %+v", plan)
	}
	e.as(store.RoleOwner).do("POST", path+"/schedule", map[string]any{"confirm_broadcast": true}).expect(t, http.StatusUnprocessableEntity)
	e.as(store.RoleMarketer).do("DELETE", path, nil).expect(t, http.StatusNoContent)
	e.as(store.RoleMarketer).do("GET", path, nil).expect(t, http.StatusNotFound)
}

func hasWarning(p launchPlan, code string) bool {
	for _, w := range p.Warnings {
		if w.Code == code {
			return true
		}
	}
	return false
}
