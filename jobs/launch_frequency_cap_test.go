package jobs

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// TestLaunchFrequencyCapCountsMarketingOnly: the workspace's cap is "at most 2 marketing
// messages per contact per 7 days". Utility messages (an appointment reminder) sent or on their
// way do not count toward it; marketing ones do.
func TestLaunchFrequencyCapCountsMarketingOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	f := newLaunchFixture(t, db)
	f.contacts(t, 6, 0)
	utility, err := store.TemplateUpsert(ctx, db, f.ws.ID, store.TemplateSync{WABAID: "55", MetaID: "2", Name: "recordatorio", Language: "es",
		Category: "UTILITY", Status: "APPROVED", Components: json.RawMessage(`[{"type":"BODY","text":"Su cita es mañana"}]`)}, "sync")
	must2(t, err)
	marketing := *f.campaign.TemplateID

	campaign := func(name, state string, templateID int64) int64 {
		t.Helper()
		var id int64
		must2(t, db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state, template_id) VALUES ($1, $2, $3, $4) RETURNING id`,
			f.ws.ID, name, state, templateID).Scan(&id))
		return id
	}
	contact := func(phone string) int64 {
		t.Helper()
		var id int64
		must2(t, db.QueryRow(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 AND phone_e164 = $2`, f.ws.ID, phone).Scan(&id))
		return id
	}
	sent := func(campaignID int64, phone string) {
		t.Helper()
		_, err := db.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, sent_at)
			VALUES ($1, $2, $3, $4, 'delivered', now() - interval '2 days')`, f.ws.ID, campaignID, contact(phone), phone)
		must2(t, err)
	}
	onItsWay := func(campaignID int64, phone string) {
		t.Helper()
		_, err := db.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state)
			VALUES ($1, $2, $3, $4, 'pending')`, f.ws.ID, campaignID, contact(phone), phone)
		must2(t, err)
	}
	utilDone1 := campaign("citas lunes", "completed", utility.Template.ID)
	utilDone2 := campaign("citas martes", "completed", utility.Template.ID)
	utilRunning := campaign("citas hoy", "running", utility.Template.ID)
	mktDone1 := campaign("promo 1", "completed", marketing)
	mktDone2 := campaign("promo 2", "completed", marketing)
	mktRunning := campaign("promo hoy", "running", marketing)

	// +573000000000: two utility reminders sent → not capped.
	sent(utilDone1, "+573000000000")
	sent(utilDone2, "+573000000000")
	// +573000000001: one marketing sent, one utility on its way → one marketing: not capped.
	sent(mktDone1, "+573000000001")
	onItsWay(utilRunning, "+573000000001")
	// +573000000002: two marketing sent → capped.
	sent(mktDone1, "+573000000002")
	sent(mktDone2, "+573000000002")
	// +573000000003: one marketing sent, one marketing on its way → capped.
	sent(mktDone1, "+573000000003")
	onItsWay(mktRunning, "+573000000003")

	tx, err := db.Begin(ctx)
	must2(t, err)
	defer tx.Rollback(ctx)
	res, err := LaunchCampaign(ctx, tx, f.args(), LaunchOptions{})
	must2(t, err)
	if !res.Launched {
		t.Fatalf("launch %+v", res)
	}
	rows, err := tx.Query(ctx, `SELECT phone_e164, state, skip_reason FROM recipients WHERE campaign_id = $1 ORDER BY phone_e164`, f.campaign.ID)
	must2(t, err)
	got := map[string]string{}
	for rows.Next() {
		var phone, state, reason string
		must2(t, rows.Scan(&phone, &state, &reason))
		got[phone] = state + " " + reason
	}
	must2(t, rows.Err())
	want := map[string]string{
		"+573000000000": "pending ", // utility messages do not count
		"+573000000001": "pending ",
		"+573000000002": "skipped frequency_cap",
		"+573000000003": "skipped frequency_cap",
		"+573000000004": "pending ",
		"+573000000005": "pending ",
	}
	for phone, w := range want {
		if got[phone] != w {
			t.Errorf("%s: %q, want %q", phone, got[phone], w)
		}
	}
}
