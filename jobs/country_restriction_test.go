package jobs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

// 130497 ("WABA restricted from messaging users in this country") concerns one recipient's
// country (WHATSAPP.md §5: exclude that country): the recipient fails and the number's
// campaigns go on. It used to halt every campaign of the number.
func TestCountryRestrictionFailsOnlyTheRecipient(t *testing.T) {
	ctx := context.Background()
	b, f, w := fakeGraphBundle(t)
	c1 := b.campaign(t, "uno", 5, "")
	c2 := b.campaign(t, "dos", 5, "")
	var phone string
	must(t, b.pool.QueryRow(ctx, `SELECT phone_e164 FROM recipients WHERE id = (SELECT min(id) FROM recipients WHERE campaign_id = $1)`, c1).Scan(&phone))
	f.codes[strings.TrimPrefix(phone, "+")] = 130497
	id, _, err := sendOne(t, b, w, c1, "queued")
	must(t, err)
	var state string
	var code *int
	must(t, b.pool.QueryRow(ctx, `SELECT state, error_code FROM recipients WHERE id = $1`, id).Scan(&state, &code))
	if state != "failed" || code == nil || *code != 130497 {
		t.Errorf("the restricted recipient is %s (error %v), want failed with 130497", state, code)
	}
	for _, c := range []int64{c1, c2} {
		if s := b.campaignState(t, c); s.State != store.CampaignRunning {
			t.Errorf("one recipient's country restriction (130497) left campaign %d %s", c, s.State)
		}
	}
}
