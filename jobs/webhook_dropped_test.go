package jobs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"github.com/pregon/pregon/store"
)

// postStatus runs the webhook job on one status webhook for wamid (failed ones with code).
func postStatus(t *testing.T, ctx context.Context, w *ProcessWebhookWorker, ws store.Workspace, wamid, status string, code int, at time.Time) {
	t.Helper()
	errs := ""
	if code != 0 {
		errs = fmt.Sprintf(`,"errors":[{"code":%d,"title":"Template is paused"}]`, code)
	}
	body := fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"1001","changes":[{"field":"messages","value":{
		"messaging_product":"whatsapp","metadata":{"display_phone_number":"573000000000","phone_number_id":"2002"},
		"statuses":[{"id":%q,"status":%q,"timestamp":"%d","recipient_id":"573001112233"%s}]}}]}]}`, wamid, status, at.Unix(), errs)
	id, err := store.WebhookInboxInsert(ctx, w.db, store.WebhookInboxRow{WorkspaceID: &ws.ID, Body: []byte(body)})
	must2(t, err)
	if _, err := w.processBatch(ctx, 0, []int64{id}, 1); err != nil {
		t.Fatal(err)
	}
}

// Meta's pacing holds a send; on bad feedback it pauses the template and drops the held
// message with a failed status webhook carrying 132015 (WHATSAPP.md §3). When the template is
// reinstated and the campaign resumes, the recipient is released for a new send, like one whose
// send was refused at once with 132015; unless a delivered or read of the same message came in
// after all. A second dropped recipient (the control) is released in every case.
func TestWebhookDropped132015IsSentAgain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after string // a later status of the dropped send, before the resume
		again bool
	}{
		{"AfterTheResume", "", true},
		{"DuplicateFailedChangesNothing", "failed", true},
		{"NotWhenDeliveredAfterAll", "delivered", false},
		{"NotWhenReadAfterAll", "read", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, w, ws, _, _, cid := templateEventEnv(t)
			client, err := river.NewClient(riverpgxv5.New(w.db), &river.Config{})
			must2(t, err)
			ctx = rivertest.WorkContext(ctx, client)
			_, err = w.db.Exec(ctx, `UPDATE workspaces SET settings = settings || '{"auto_resume":true}' WHERE id = $1`, ws.ID)
			must2(t, err)
			// Both accepted as held_for_quality_assessment: recorded as sent.
			var ids []int64
			for i, phone := range []string{"+573001112233", "+573001112244"} {
				var contact, id int64
				must2(t, w.db.QueryRow(ctx, `INSERT INTO contacts (workspace_id, phone_e164, consent_at) VALUES ($1, $2, now()) RETURNING id`,
					ws.ID, phone).Scan(&contact))
				must2(t, w.db.QueryRow(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, attempts, sent_at, outcome_at)
					VALUES ($1, $2, $3, $4, 'sent', $5, 1, now(), now()) RETURNING id`, ws.ID, cid, contact, phone, fmt.Sprintf("wamid.HELD%d", i+1)).Scan(&id))
				ids = append(ids, id)
			}
			rid, ctl := ids[0], ids[1]
			now := time.Now()
			// The drops reach the running campaign first: it pauses it (error_code 132015).
			postStatus(t, ctx, w, ws, "wamid.HELD1", "failed", 132015, now.Add(-3*time.Minute))
			postStatus(t, ctx, w, ws, "wamid.HELD2", "failed", 132015, now.Add(-3*time.Minute))
			postTemplateStatus(t, ctx, w, ws, "PAUSED", now.Add(-2*time.Minute))
			c, err := store.CampaignGetByID(ctx, w.db, ws.ID, cid)
			must2(t, err)
			if c.State != store.CampaignPaused {
				t.Fatalf("campaign %s after the drop, want paused", c.State)
			}
			switch tc.after {
			case "failed":
				postStatus(t, ctx, w, ws, "wamid.HELD1", "failed", 132015, now.Add(-3*time.Minute))
			case "delivered", "read":
				postStatus(t, ctx, w, ws, "wamid.HELD1", tc.after, 0, now.Add(-time.Minute))
			}
			postTemplateStatus(t, ctx, w, ws, "REINSTATED", now)
			c, err = store.CampaignGetByID(ctx, w.db, ws.ID, cid)
			must2(t, err)
			if c.State != store.CampaignRunning {
				t.Fatalf("campaign %s after REINSTATED, want running", c.State)
			}
			var signals int
			must2(t, w.db.QueryRow(ctx, `SELECT count(*) FROM campaign_transitions WHERE campaign_id = $1 AND signal = 'circuit_breaker'`, cid).Scan(&signals))
			if signals != 0 {
				t.Errorf("the drop counted for the circuit breaker")
			}
			got, err := store.RecipientsClaim(ctx, w.db, store.ClaimParams{WorkspaceID: ws.ID, CampaignID: cid, Now: time.Now(), Limit: 10})
			must2(t, err)
			released := map[int64]bool{}
			for _, g := range got {
				released[g.ID] = true
			}
			if want := 1 + map[bool]int{true: 1}[tc.again]; len(got) != want || !released[ctl] || released[rid] != tc.again {
				var state string
				var retryAt *time.Time
				must2(t, w.db.QueryRow(ctx, `SELECT state, retry_at FROM recipients WHERE id = $1`, rid).Scan(&state, &retryAt))
				t.Fatalf("the resumed campaign released %+v (recipient %d %s, retry_at %v); want the control %d, and %d: %v", got, rid, state, retryAt, ctl, rid, tc.again)
			}
		})
	}
}
