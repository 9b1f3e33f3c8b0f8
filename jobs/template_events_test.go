package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// templateEventEnv: a workspace with one number of WABA 1001 and one APPROVED/GREEN template
// with a running campaign on it.
func templateEventEnv(t *testing.T) (context.Context, *ProcessWebhookWorker, store.Workspace, store.SenderNumber, store.Template, int64) {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "audit"})
	must2(t, err)
	n, err := store.SenderNumberCreate(ctx, db, store.SenderNumberCreateParams{WorkspaceID: ws.ID, PhoneNumberID: "2002", WABAID: "1001"})
	must2(t, err)
	up, err := store.TemplateUpsert(ctx, db, ws.ID, store.TemplateSync{WABAID: "1001", MetaID: "777", Name: "promo", Language: "es_MX",
		Category: "MARKETING", Status: "APPROVED", Quality: "GREEN"}, "sync")
	must2(t, err)
	c, err := store.CampaignCreate(ctx, db, store.Campaign{WorkspaceID: ws.ID, Name: "c", SenderNumberID: &n.ID, TemplateID: &up.Template.ID})
	must2(t, err)
	_, err = db.Exec(ctx, `UPDATE campaigns SET state = 'running' WHERE id = $1`, c.ID)
	must2(t, err)
	w := &ProcessWebhookWorker{db: db, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now}
	return ctx, w, ws, n, up.Template, c.ID
}

func postTemplateStatus(t *testing.T, ctx context.Context, w *ProcessWebhookWorker, ws store.Workspace, event string, at time.Time) {
	t.Helper()
	body := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1001","time":%d,"changes":[{"field":"message_template_status_update",
		"value":{"event":%q,"message_template_id":777,"message_template_name":"promo","message_template_language":"es_MX","reason":"NONE"}}]}]}`,
		at.Unix(), event)
	id, err := store.WebhookInboxInsert(ctx, w.db, store.WebhookInboxRow{WorkspaceID: &ws.ID, Body: []byte(body)})
	must2(t, err)
	if _, err := w.processBatch(ctx, 0, []int64{id}, 1); err != nil {
		t.Fatal(err)
	}
}

// A REINSTATED template-status webhook (Meta: the template is active again) makes the template
// approved and sendable; stored verbatim as "REINSTATED", launches and resumes refused it until
// the next hourly sync.
func TestTemplateReinstatedIsApproved(t *testing.T) {
	ctx, w, ws, _, tmpl, cid := templateEventEnv(t)
	postTemplateStatus(t, ctx, w, ws, "PAUSED", time.Now().Add(-time.Minute))
	c, _ := store.CampaignGetByID(ctx, w.db, ws.ID, cid)
	if c.State != store.CampaignPaused {
		t.Fatalf("campaign %s after PAUSED, want paused", c.State)
	}
	postTemplateStatus(t, ctx, w, ws, "REINSTATED", time.Now())
	got, err := store.TemplateGetByID(ctx, w.db, ws.ID, tmpl.ID)
	must2(t, err)
	if !got.Sendable() || got.Status != "APPROVED" {
		t.Errorf("after REINSTATED the template reads status %q, sendable %v (want APPROVED, sendable)", got.Status, got.Sendable())
	}
}

// WHATSAPP.md §1a's phone_number_quality_update example (THROUGHPUT_UPGRADE, current_limit
// TIER_UNLIMITED, max_daily_conversations_per_business TIER_2K) leaves an Unlimited workspace
// unlimited: throughput upgrades require an Unlimited portfolio (§2), and the field may name the
// throughput. It used to drop the workspace to 2,000.
func TestThroughputUpgradeKeepsTheLimit(t *testing.T) {
	ctx, w, ws, _, _, _ := templateEventEnv(t)
	_, err := w.db.Exec(ctx, `UPDATE workspaces SET messaging_limit = -1 WHERE id = $1`, ws.ID)
	must2(t, err)
	_, err = w.db.Exec(ctx, `UPDATE sender_numbers SET display_number = '+15550783881' WHERE workspace_id = $1`, ws.ID)
	must2(t, err)
	body := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1001","time":%d,"changes":[{"field":"phone_number_quality_update",
		"value":{"display_phone_number":"15550783881","event":"THROUGHPUT_UPGRADE","old_limit":"TIER_10K","current_limit":"TIER_UNLIMITED",
		"max_daily_conversations_per_business":"TIER_2K"}}]}]}`, time.Now().Unix())
	id, err := store.WebhookInboxInsert(ctx, w.db, store.WebhookInboxRow{WorkspaceID: &ws.ID, Body: []byte(body)})
	must2(t, err)
	if _, err := w.processBatch(ctx, 0, []int64{id}, 1); err != nil {
		t.Fatal(err)
	}
	got, _ := store.WorkspaceGetByID(ctx, w.db, ws.ID)
	if got.MessagingLimit != -1 {
		t.Errorf("an Unlimited workspace dropped to %d on a throughput upgrade", got.MessagingLimit)
	}
}

// A failure reported by webhook whose code says the number is in trouble (368: temporarily
// blocked for policy violations) halts the number's campaigns, as the same code in a send's
// response does; one saying the template is (132015: paused) pauses its campaign. Meta reports
// many of these only by webhook; they used to count for the circuit breaker alone.
func TestWebhookFailureCodesStopSending(t *testing.T) {
	for _, tc := range []struct {
		code   int
		signal string
	}{{368, "error_code"}, {132015, "error_code"}, {131026, ""}} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			ctx, w, ws, _, _, cid := templateEventEnv(t)
			sentRecipient(t, w, ws.ID, cid, "+573001112233", "wamid.T1")
			body := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1001","changes":[{"field":"messages","value":{
				"messaging_product":"whatsapp","metadata":{"display_phone_number":"573000000000","phone_number_id":"2002"},
				"statuses":[{"id":"wamid.T1","status":"failed","timestamp":"%d","recipient_id":"573001112233",
				"errors":[{"code":%d,"title":"error"}]}]}}]}]}`, time.Now().Unix(), tc.code)
			id, err := store.WebhookInboxInsert(ctx, w.db, store.WebhookInboxRow{WorkspaceID: &ws.ID, Body: []byte(body)})
			must2(t, err)
			if _, err := w.processBatch(ctx, 0, []int64{id}, 1); err != nil {
				t.Fatal(err)
			}
			c, err := store.CampaignGetByID(ctx, w.db, ws.ID, cid)
			must2(t, err)
			var signal, value string
			w.db.QueryRow(ctx, `SELECT signal, value FROM campaign_transitions WHERE campaign_id = $1 AND to_state = 'paused'`, cid).Scan(&signal, &value)
			if tc.signal == "" {
				if c.State != store.CampaignRunning {
					t.Errorf("a recipient's own failure (%d) left the campaign %s", tc.code, c.State)
				}
				return
			}
			if c.State != store.CampaignPaused || signal != tc.signal || value != strconv.Itoa(tc.code) {
				t.Errorf("after a failed status with %d: campaign %s, paused by %q=%q", tc.code, c.State, signal, value)
			}
		})
	}
}

// A webhook and a sync stop campaigns on the same template statuses: FLAGGED (Meta's warning
// before pausing a low-quality template) and LIMIT_EXCEEDED paused campaigns when a sync saw them
// but not when a webhook reported them.
func TestTemplateStopStatusesAgree(t *testing.T) {
	for _, status := range []string{"FLAGGED", "LIMIT_EXCEEDED", "PENDING"} {
		t.Run(status, func(t *testing.T) {
			ctx, w, ws, _, _, cid := templateEventEnv(t)
			postTemplateStatus(t, ctx, w, ws, status, time.Now())
			c, err := store.CampaignGetByID(ctx, w.db, ws.ID, cid)
			must2(t, err)
			if c.State != store.CampaignPaused {
				t.Errorf("a %s webhook left the campaign %s", status, c.State)
			}
		})
	}
}

// A failure reported by webhook that happened before the campaign last went to running — a late
// or repeated delivery of the 132015 drops that paused it, arriving after the template's
// approval resumed it — does not pause it again: nothing would resume it. One that happened
// after the resume still does.
func TestWebhookFailureFromBeforeTheResumeDoesNotPauseAgain(t *testing.T) {
	ctx, w, ws, _, _, cid := templateEventEnv(t)
	sentRecipient(t, w, ws.ID, cid, "+573001112233", "wamid.T1")
	sentRecipient(t, w, ws.ID, cid, "+573004445566", "wamid.T2")
	// Paused by the drops a minute ago, resumed by the template's approval now.
	_, err := store.CampaignTransition(ctx, w.db, ws.ID, cid, store.CampaignPaused, store.TransitionParams{Actor: store.ActorRule, Signal: store.SignalErrorCode, Value: "132015"})
	must2(t, err)
	_, err = store.CampaignTransition(ctx, w.db, ws.ID, cid, store.CampaignRunning, store.TransitionParams{Actor: store.ActorRule, Signal: store.SignalTemplateStatus, Value: "APPROVED"})
	must2(t, err)
	drop := func(wamid string, at time.Time) {
		t.Helper()
		body := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1001","changes":[{"field":"messages","value":{
			"messaging_product":"whatsapp","metadata":{"display_phone_number":"573000000000","phone_number_id":"2002"},
			"statuses":[{"id":%q,"status":"failed","timestamp":"%d","recipient_id":"573001112233",
			"errors":[{"code":132015,"title":"Template paused"}]}]}}]}]}`, wamid, at.Unix())
		id, err := store.WebhookInboxInsert(ctx, w.db, store.WebhookInboxRow{WorkspaceID: &ws.ID, Body: []byte(body)})
		must2(t, err)
		if _, err := w.processBatch(ctx, 0, []int64{id}, 1); err != nil {
			t.Fatal(err)
		}
	}
	drop("wamid.T1", time.Now().Add(-time.Minute))
	if c, err := store.CampaignGetByID(ctx, w.db, ws.ID, cid); err != nil || c.State != store.CampaignRunning {
		t.Fatalf("a drop from before the resume, delivered after it: campaign %s (%v), want running", c.State, err)
	}
	drop("wamid.T2", time.Now().Add(2*time.Second))
	if c, err := store.CampaignGetByID(ctx, w.db, ws.ID, cid); err != nil || c.State != store.CampaignPaused {
		t.Fatalf("a drop after the resume: campaign %s (%v), want paused", c.State, err)
	}
}

// sentRecipient is a consented contact of phone and its recipient in campaign cid, sent as wamid.
func sentRecipient(t *testing.T, w *ProcessWebhookWorker, wsID, cid int64, phone, wamid string) {
	t.Helper()
	ctx := context.Background()
	var contact int64
	must2(t, w.db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164, consent_at) VALUES ($1, $2, now()) RETURNING id`,
		wsID, phone).Scan(&contact))
	_, err := w.db.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, attempts)
		VALUES ($1, $2, $3, $4, 'sent', $5, 1)`, wsID, cid, contact, phone, wamid)
	must2(t, err)
}
