package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// TestPacingDropAfterEveryOtherSendIsSentAgain runs a campaign against the simulator whose
// first sends Meta holds for template pacing (WHATSAPP.md, Pacing); then pacing ends and the
// rest are accepted and delivered. With every other recipient final, the campaign does not
// complete: it waits for Meta's decision on the held sends, says so, and its progress shows
// them held (still counted as sent). Meta then pauses the template, dropping every held
// message with 132015: each of those recipients is sent again exactly once after the template
// is approved again, nobody else is sent twice, and the campaign completes.
func TestPacingDropAfterEveryOtherSendIsSentAgain(t *testing.T) {
	t.Parallel()
	env := newWebhookEnv(t)
	const audience = 40
	sm, campaign, count := pacedCampaign(t, env, audience)
	waitUntil(t, 30*time.Second, "10 sends held", func() bool { return sm.AcceptedTotal() >= 10 })
	// Good feedback for the template from now on: later sends are accepted and delivered.
	if err := sm.SetTemplatePacing("promo_julio", "es_MX", false); err != nil {
		t.Fatal(err)
	}
	var held int
	waitUntil(t, 60*time.Second, "every send not held to be delivered", func() bool {
		held = count(`SELECT count(*) FROM recipients WHERE campaign_id = $1 AND held_at IS NOT NULL AND state = 'sent'`)
		return held > 0 &&
			count(`SELECT count(*) FROM recipients WHERE campaign_id = $1 AND state = 'delivered' AND held_at IS NULL`) == audience-held
	})
	waitUntil(t, 30*time.Second, "the pacer to see only held sends left", func() bool {
		return count(`SELECT count(*) FROM campaigns WHERE id = $1 AND (state <> 'running' OR wait_reason LIKE 'Meta retiene%')`) == 1
	})
	path := fmt.Sprintf("/api/v1/campaigns/%d/progress", campaign)
	var prog progressResponse
	env.as(store.RoleAnalyst).do("GET", path, nil).expect(t, http.StatusOK).JSON(t, &prog)
	if prog.State != "running" || prog.Held != int64(held) || prog.Counts["sent"] != int64(held) || prog.Counts["delivered"] != int64(audience-held) ||
		!strings.Contains(prog.WaitReason, fmt.Sprintf("Meta retiene %d envío", held)) {
		t.Fatalf("progress %+v while Meta holds %d sends: want running, %d held (and sent), %d delivered, the wait reason", prog, held, held, audience-held)
	}
	if sm.AcceptedTotal() != audience {
		t.Fatalf("%d sends accepted before Meta's decision, want %d", sm.AcceptedTotal(), audience)
	}

	// Bad feedback: Meta pauses the template and drops the held messages.
	if err := sm.SetTemplateStatus("promo_julio", "es_MX", "PAUSED", "NONE"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the drops to be applied and the campaign to pause", func() bool {
		return count(`SELECT count(*) FROM recipients WHERE campaign_id = $1 AND `+store.ResendAfterDropSQL("")) == held &&
			count(`SELECT count(*) FROM campaigns WHERE id = $1 AND state = 'paused'`) == 1 &&
			count(`SELECT count(*) FROM templates t JOIN campaigns c ON c.template_id = t.id WHERE c.id = $1 AND t.status = 'PAUSED'`) == 1
	})
	if n := count(`SELECT count(*) FROM recipients WHERE campaign_id = $1 AND held_at IS NOT NULL`); n != 0 {
		t.Errorf("%d recipients still held after Meta dropped every held send", n)
	}
	// Meta reinstates a template minutes after a pause at the soonest: a couple of seconds
	// stand in for them (TestPostponedTickLeavesRoomForAResume covers a resume right after a
	// waiting pacer's tick).
	waitUntil(t, 5*time.Second, "two seconds past the pause", func() bool {
		return count(`SELECT count(*) FROM campaign_transitions WHERE campaign_id = $1 AND to_state = 'paused'
			AND now() >= date_trunc('second', created_at) + interval '2 seconds'`) == 1
	})
	if err := sm.SetTemplateStatus("promo_julio", "es_MX", "APPROVED", "NONE"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Minute, "the resumed campaign to complete", func() bool {
		return count(`SELECT count(*) FROM campaigns WHERE id = $1 AND state = 'completed'`) == 1
	})
	waitUntil(t, 30*time.Second, "the statuses of the last sends", func() bool {
		return count(`SELECT count(*) FROM recipients WHERE campaign_id = $1 AND state IN ('delivered', 'read')`) == audience
	})
	if dropped := checkDroppedSentTwice(t, env, sm, campaign); dropped != held || sm.AcceptedTotal() != audience+held {
		t.Errorf("%d held, %d dropped, %d sends accepted (want %d)", held, dropped, sm.AcceptedTotal(), audience+held)
	}
	env.as(store.RoleAnalyst).do("GET", path, nil).expect(t, http.StatusOK).JSON(t, &prog)
	if prog.Held != 0 {
		t.Errorf("progress shows %d held after the campaign completed, want 0", prog.Held)
	}
	t.Logf("%d of %d sends held, dropped after every other one was delivered, and sent again", held, audience)
}
