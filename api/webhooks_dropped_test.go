package api

import (
	"context"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp/sim"
)

// TestPacingDropIsSentAgainAfterResume runs a campaign against the simulator with Meta's
// template pacing on (WHATSAPP.md §3): every send is accepted as held_for_quality_assessment.
// Mid-campaign the template is paused (bad feedback): Meta drops every held message with a
// failed status webhook carrying 132015 and the campaign pauses. When the template is approved
// again the campaign resumes by itself and must send each dropped recipient once more, exactly
// once, and every other recipient once: each person ends with one delivered message.
func TestPacingDropIsSentAgainAfterResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := newWebhookEnv(t)
	const audience = 100
	sm, campaign, count := pacedCampaign(t, env, audience)
	waitUntil(t, 30*time.Second, "30 sends held", func() bool { return sm.AcceptedTotal() >= 30 })
	if err := sm.SetTemplateStatus("promo_julio", "es_MX", "PAUSED", "NONE"); err != nil {
		t.Fatal(err)
	}
	// Every send accepted so far was held, and the paused template refuses the rest at once.
	held := sm.AcceptedTotal()
	waitUntil(t, 30*time.Second, "the drops to be applied and the campaign to pause", func() bool {
		return count(`SELECT count(*) FROM status_events WHERE $1 > 0 AND status = 'failed' AND error_code = 132015
			    AND applied_at IS NOT NULL`) == held &&
			count(`SELECT count(*) FROM campaigns WHERE id = $1 AND state = 'paused'`) == 1 &&
			// The template's own PAUSED webhook too (the drops alone pause the campaign): the
			// simulator delivers webhooks concurrently, and an APPROVED of the same second
			// applied before it would leave the template paused.
			count(`SELECT count(*) FROM templates t JOIN campaigns c ON c.template_id = t.id WHERE c.id = $1 AND t.status = 'PAUSED'`) == 1 &&
			count(`SELECT count(*) FROM recipients WHERE campaign_id = $1 AND state IN ('queued', 'sending')`) == 0
	})
	if n := count(`SELECT count(*) FROM recipients WHERE campaign_id = $1 AND ` + store.ResendAfterDropSQL("")); n != held {
		var states, transitions string
		if err := env.db.QueryRow(ctx, `SELECT string_agg(s, ', ') FROM (SELECT state || ' code ' || coalesce(error_code, 0) || ' retry ' || (retry_at IS NOT NULL) || ' attempts ' || attempts || ': ' || count(*) s
			FROM recipients WHERE campaign_id = $1 GROUP BY state, error_code, retry_at IS NOT NULL, attempts) x`, campaign).Scan(&states); err != nil {
			t.Fatal(err)
		}
		if err := env.db.QueryRow(ctx, `SELECT string_agg(to_state || '/' || actor || '/' || signal || '/' || value, ' → ' ORDER BY id)
			FROM campaign_transitions WHERE campaign_id = $1`, campaign).Scan(&transitions); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%d of the %d dropped sends wait to be sent again; recipients %s; transitions %s", n, held, states, transitions)
	}
	if n := count(`SELECT count(*) FROM campaign_transitions WHERE campaign_id = $1 AND signal = 'circuit_breaker'`); n != 0 {
		t.Errorf("the drops tripped the circuit breaker (%d transitions)", n)
	}

	// Meta approves the template again; pacing is over.
	if err := sm.SetTemplatePacing("promo_julio", "es_MX", false); err != nil {
		t.Fatal(err)
	}
	if err := sm.SetTemplateStatus("promo_julio", "es_MX", "APPROVED", "NONE"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for count(`SELECT count(*) FROM campaigns WHERE id = $1 AND state = 'completed'`) == 0 {
		if time.Now().After(deadline) {
			var state, tstatus, counts string
			if err := env.db.QueryRow(ctx, `SELECT c.state, t.status || ' quality ' || t.quality, (SELECT string_agg(state || '=' || n, ' ') FROM
				    (SELECT state, count(*) n FROM recipients WHERE campaign_id = c.id GROUP BY state) s)
				FROM campaigns c JOIN templates t ON t.id = c.template_id WHERE c.id = $1`, campaign).Scan(&state, &tstatus, &counts); err != nil {
				t.Fatal(err)
			}
			var transitions string
			if err := env.db.QueryRow(ctx, `SELECT string_agg(to_state || '/' || actor || '/' || signal || '/' || value, ' → ' ORDER BY id)
				FROM campaign_transitions WHERE campaign_id = $1`, campaign).Scan(&transitions); err != nil {
				t.Fatal(err)
			}
			t.Fatalf("the resumed campaign did not complete in 2 min: campaign %s, template %s, recipients %s; transitions %s", state, tstatus, counts, transitions)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let the last statuses land; nothing more may be sent.
	waitUntil(t, 30*time.Second, "the statuses of the last sends", func() bool {
		return count(`SELECT count(*) FROM recipients WHERE campaign_id = $1 AND state = 'sent'`) == 0
	})
	time.Sleep(time.Second)
	if n := count(`SELECT count(*) FROM recipients WHERE campaign_id = $1 AND state IN ('delivered', 'read')`); n != audience {
		t.Errorf("%d of %d recipients delivered after the resumed campaign completed", n, audience)
	}
	if dropped := checkDroppedSentTwice(t, env, sm, campaign); dropped != held || sm.AcceptedTotal() != audience+held {
		t.Errorf("%d held, %d recipients dropped, %d sends accepted (want %d)", held, dropped, sm.AcceptedTotal(), audience+held)
	}
	t.Logf("%d of %d sends held and dropped, sent again after the resume", held, audience)
}

// pacedCampaign runs a campaign of audience contacts through the simulator at 20 msg/s with
// Meta's template pacing on (every send held) and auto-resume; count runs a count query whose
// $1 is the campaign.
func pacedCampaign(t *testing.T, env *webhookEnv, audience int) (*sim.Simulator, int64, func(q string) int) {
	t.Helper()
	sm, campaign := runSimCampaign(t, env, `{"auto_resume":true}`, sim.StatusConfig{DeliveredProb: 1}, 20, audience,
		func(c *sim.Config) { c.Templates[0].Pacing = true })
	count := func(q string) int {
		t.Helper()
		var n int
		if err := env.db.QueryRow(context.Background(), q, campaign).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return sm, campaign, count
}

// checkDroppedSentTwice checks that Meta accepted two sends for each recipient whose first one
// it dropped with 132015 (named by the failed status's callback data) and one for everyone
// else; it returns how many were dropped.
func checkDroppedSentTwice(t *testing.T, env *webhookEnv, sm *sim.Simulator, campaign int64) (dropped int) {
	t.Helper()
	rows, err := env.db.Query(context.Background(), `SELECT r.phone_e164, r.attempts,
		    EXISTS (SELECT 1 FROM status_events se WHERE se.status = 'failed' AND se.error_code = 132015
		            AND se.callback_data = 'pregon:c=' || r.campaign_id || ';r=' || r.id)
		FROM recipients r WHERE r.campaign_id = $1`, campaign)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var phone string
		var attempts int
		var wasDropped bool
		if err := rows.Scan(&phone, &attempts, &wasDropped); err != nil {
			t.Fatal(err)
		}
		want := 1
		if wasDropped {
			want, dropped = 2, dropped+1
		}
		if got := sm.Accepted(phone); got != want {
			t.Errorf("%s (dropped %v, %d attempts): Meta accepted %d sends, want %d", phone, wasDropped, attempts, got, want)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return dropped
}
