package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// requireProblemAt asserts a 422 with a Spanish problem at path that says says.
func requireProblemAt(t *testing.T, r response, path, says string) {
	t.Helper()
	r.expect(t, http.StatusUnprocessableEntity)
	var body struct {
		Details []store.Problem `json:"details"`
	}
	r.JSON(t, &body)
	for _, p := range body.Details {
		if p.Path == path && strings.Contains(p.Message, says) {
			return
		}
	}
	t.Fatalf("no problem at %s saying %q: %s", path, says, r.Body)
}

func TestCampaignScheduleInThePast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newCampaignEnv(t)
	n := e.registerNumber(t)
	e.syncTemplates(t)
	e.contacts(t, 3)
	draft := func(t *testing.T) (int64, string) {
		var cp campaignResponse
		e.as(store.RoleMarketer).do("POST", "/api/v1/campaigns", map[string]any{"name": "past", "sender_number_id": n.ID,
			"template_id": e.templateID(t, "novedades_cliente"), "variable_mapping": etaMapping(), "confirm_broadcast": true}).
			expect(t, http.StatusCreated).JSON(t, &cp)
		return cp.ID, fmt.Sprintf("/api/v1/campaigns/%d", cp.ID)
	}
	launchJobs := func(t *testing.T, id int64) int {
		var k int
		if err := e.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'launch_campaign' AND (args->>'campaign_id')::bigint = $1`, id).Scan(&k); err != nil {
			t.Fatal(err)
		}
		return k
	}

	t.Run("PatchRefusesAYearTypo", func(t *testing.T) {
		id, path := draft(t)
		requireProblemAt(t, e.as(store.RoleMarketer).do("PATCH", path, map[string]any{"scheduled_at": "1900-01-01T00:00:00Z"}), "scheduled_at", "ya pasaron")
		lastYear := time.Now().AddDate(-1, 0, 0).UTC().Truncate(time.Second)
		requireProblemAt(t, e.as(store.RoleMarketer).do("PATCH", path, map[string]any{"scheduled_at": lastYear}), "scheduled_at", "ya pasaron")
		var cp campaignResponse
		e.as(store.RoleAnalyst).do("GET", path, nil).expect(t, http.StatusOK).JSON(t, &cp)
		if cp.ScheduledAt != nil {
			t.Fatalf("campaign %d kept a past schedule: %v", id, cp.ScheduledAt)
		}
	})
	t.Run("CreateRefusesAPastDate", func(t *testing.T) {
		requireProblemAt(t, e.as(store.RoleMarketer).do("POST", "/api/v1/campaigns", map[string]any{"name": "x", "scheduled_at": "2001-03-04T10:00:00Z"}),
			"scheduled_at", "ya pasaron")
	})
	t.Run("ScheduleRefusesAPastDateInsteadOfSendingNow", func(t *testing.T) {
		id, path := draft(t)
		requireProblemAt(t, e.as(store.RoleOwner).do("POST", path+"/schedule", map[string]any{"scheduled_at": "1900-01-01T00:00:00Z"}), "scheduled_at", "ya pasaron")
		var cp campaignResponse
		e.as(store.RoleAnalyst).do("GET", path, nil).expect(t, http.StatusOK).JSON(t, &cp)
		if cp.State != store.CampaignDraft || launchJobs(t, id) != 0 {
			t.Fatalf("a past date scheduled the launch: %+v, %d jobs", cp, launchJobs(t, id))
		}
	})
	t.Run("ScheduleRefusesADraftsDateThatHasPassed", func(t *testing.T) {
		id, path := draft(t)
		// Saved for later, and the day went by.
		if _, err := e.db.Exec(ctx, `UPDATE campaigns SET scheduled_at = now() - interval '2 days' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		var plan launchPlan
		e.as(store.RoleAnalyst).do("GET", path+"/plan", nil).expect(t, http.StatusOK).JSON(t, &plan)
		if plan.Ready {
			t.Fatalf("plan ready with a schedule 2 days past: %+v", plan.Problems)
		}
		requireProblemAt(t, e.as(store.RoleOwner).do("POST", path+"/schedule", map[string]any{}), "scheduled_at", "ya pasó")
		if launchJobs(t, id) != 0 {
			t.Fatal("launch scheduled")
		}
	})
	t.Run("NowAndOmittedStillLaunchNow", func(t *testing.T) {
		for _, body := range []any{map[string]any{}, map[string]any{"scheduled_at": time.Now().Add(-time.Minute).UTC()}} {
			id, path := draft(t)
			var cp campaignResponse
			e.as(store.RoleOwner).do("POST", path+"/schedule", body).expect(t, http.StatusOK).JSON(t, &cp)
			if cp.State != store.CampaignScheduled || cp.ScheduledAt == nil || time.Since(*cp.ScheduledAt) > time.Minute || time.Until(*cp.ScheduledAt) > 0 {
				b, _ := json.Marshal(body)
				t.Fatalf("%s: %+v", b, cp)
			}
			if launchJobs(t, id) != 1 {
				t.Fatal("no launch job")
			}
		}
	})
	t.Run("FutureDateAndClearingStillWork", func(t *testing.T) {
		_, path := draft(t)
		at := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
		var cp campaignResponse
		e.as(store.RoleMarketer).do("PATCH", path, map[string]any{"scheduled_at": at}).expect(t, http.StatusOK).JSON(t, &cp)
		if cp.ScheduledAt == nil || !cp.ScheduledAt.Equal(at) {
			t.Fatalf("%+v", cp)
		}
		e.as(store.RoleMarketer).do("PATCH", path, map[string]any{"scheduled_at": "0001-01-01T00:00:00Z"}).expect(t, http.StatusOK).JSON(t, &cp)
		if cp.ScheduledAt != nil {
			t.Fatalf("zero did not clear: %+v", cp)
		}
	})
}
