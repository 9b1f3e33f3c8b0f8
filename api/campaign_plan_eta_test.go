package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// etaMapping maps novedades_cliente's two body parameters.
func etaMapping() map[string]any {
	return map[string]any{"variables": []map[string]any{
		{"component": "body", "name": "nombre", "source": "field", "key": "first_name", "fallback": "cliente"},
		{"component": "body", "name": "tienda", "source": "literal", "value": "Tienda Centro"},
	}}
}

// etaSetup makes workspace A's limit 10 per 24 h, counts its first 10 contacts (of 20) in the
// ledger at the given hours ago (one per contact), and drafts a campaign, sendable at any time,
// to the segment of the contacts with tag x (the first `tagged` by id, or the last when negative).
func etaSetup(t *testing.T, hoursAgo []int, tagged int, scheduledAt *time.Time) (*campaignEnv, int64) {
	t.Helper()
	ctx := context.Background()
	e := newCampaignEnv(t)
	n := e.registerNumber(t)
	e.syncTemplates(t)
	e.contacts(t, 20)
	if _, err := e.db.Exec(ctx, `UPDATE workspaces SET messaging_limit = 10 WHERE id = $1`, e.wsA.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `INSERT INTO messaging_ledger (workspace_id, contact_id, counted_at)
		SELECT c.workspace_id, c.id, now() - make_interval(hours => h.h)
		FROM (SELECT id, workspace_id, row_number() OVER (ORDER BY id) AS i FROM contacts WHERE workspace_id = $1) c
		JOIN unnest($2::int[]) WITH ORDINALITY h(h, i) ON h.i = c.i`, e.wsA.ID, hoursAgo); err != nil {
		t.Fatal(err)
	}
	order := "ASC"
	if tagged < 0 {
		order, tagged = "DESC", -tagged
	}
	if _, err := e.db.Exec(ctx, `UPDATE contacts SET tags = '{x}' WHERE workspace_id = $1
		AND id IN (SELECT id FROM contacts WHERE workspace_id = $1 ORDER BY id `+order+` LIMIT $2)`, e.wsA.ID, tagged); err != nil {
		t.Fatal(err)
	}
	var sg segmentResponse
	e.as(store.RoleMarketer).do("POST", "/api/v1/segments", map[string]any{"name": "x",
		"definition": map[string]any{"all": []any{map[string]any{"field": "tags", "op": "has_any", "value": []string{"x"}}}}}).
		expect(t, http.StatusCreated).JSON(t, &sg)
	draft := map[string]any{"name": "eta", "sender_number_id": n.ID, "segment_id": sg.ID,
		"template_id": e.templateID(t, "novedades_cliente"), "variable_mapping": etaMapping(),
		"send_window": map[string]any{"start": "00:00", "end": "00:00"}}
	if scheduledAt != nil {
		draft["scheduled_at"] = *scheduledAt
	}
	var cp campaignResponse
	e.as(store.RoleMarketer).do("POST", "/api/v1/campaigns", draft).expect(t, http.StatusCreated).JSON(t, &cp)
	return e, cp.ID
}

func TestCampaignPlanETAFollowsTheLedger(t *testing.T) {
	t.Parallel()

	t.Run("FutureStartFindsTheBudgetFreeAgain", func(t *testing.T) {
		t.Parallel()
		// All 10 used an hour ago; 5 people planned 3 days from now, when all 10 are free.
		at := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
		e, id := etaSetup(t, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 5, &at)
		var plan launchPlan
		e.as(store.RoleAnalyst).do("GET", fmt.Sprintf("/api/v1/campaigns/%d/plan", id), nil).expect(t, http.StatusOK).JSON(t, &plan)
		if plan.Audience.WillSend != 5 || !plan.StartsAt.Equal(at) {
			t.Fatalf("plan %+v", plan)
		}
		if plan.ETA.BudgetBound || plan.ETA.Seconds > 60 || plan.ETA.Text != "menos de 1 min a 80 mensajes/s" {
			t.Fatalf("5 people 3 days from now under a free 10/24 h budget: ETA %+v", plan.ETA)
		}
		if hasWarning(plan, "budget") {
			t.Fatalf("budget warning for a campaign the budget covers: %+v", plan.Warnings)
		}
		if plan.Budget.Remaining != 0 || plan.Budget.RemainingAtStart != 10 {
			t.Fatalf("budget %+v, want 0 left now and 10 at the start", plan.Budget)
		}
	})

	t.Run("SpreadUsageFreesOneSlotAtATime", func(t *testing.T) {
		t.Parallel()
		// 10 counted 23 h, 21 h, … 5 h ago: one slot frees every 2 h, the tenth in 19 h.
		e, id := etaSetup(t, []int{23, 21, 19, 17, 15, 13, 11, 9, 7, 5}, -10, nil)
		var plan launchPlan
		e.as(store.RoleAnalyst).do("GET", fmt.Sprintf("/api/v1/campaigns/%d/plan", id), nil).expect(t, http.StatusOK).JSON(t, &plan)
		if plan.Audience.WillSend != 10 {
			t.Fatalf("audience %+v", plan.Audience)
		}
		if !plan.ETA.BudgetBound || plan.ETA.Seconds < 19*3600-120 || plan.ETA.Seconds > 19*3600+120 {
			t.Fatalf("10 new people, slots freeing one every 2 h for 19 h: ETA %+v", plan.ETA)
		}
		if plan.ETA.Text != "~19 h: 10 por 24 h (límite de mensajería)" {
			t.Fatalf("ETA text %q", plan.ETA.Text)
		}
		var msg string
		for _, w := range plan.Warnings {
			if w.Code == "budget" {
				msg = w.Message
			}
		}
		if !strings.Contains(msg, "quedarán 0") || !strings.Contains(msg, "~19 h") {
			t.Fatalf("budget warning %q", msg)
		}
	})
}
