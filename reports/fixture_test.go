package reports_test

import (
	"context"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// launch is the hand-built fixture campaign's launch time (09:00 in Bogotá).
var launch = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

type fixture struct {
	ws         store.Workspace
	campaignID int64
	templateID int64
	numberID   int64
}

// buildFixture creates a campaign with nine recipients whose columns agree with their status
// events, as the webhooks would have left them:
//
//	r1 read       sent +0s, delivered +10s, read +100s; replied +200s; marketing, billable
//	r2 delivered  sent +5s, delivered +25s; opted out +2h; marketing, billable; contact in PE
//	r3 failed     sent +6s, failed 131049 +3700s
//	r4 failed     refused synchronously (no wamid) 130472 at +7s
//	r5 skipped    frequency_cap
//	r6 skipped    opted_out
//	r7 delivered  sent +8s, delivered +7200s; marketing, billable
//	r8 pending
//	r9 read       sent +9s, read +3609s (no delivered event); utility, not billable
func buildFixture(t *testing.T, db store.DBTX) fixture {
	t.Helper()
	ctx := context.Background()
	var f fixture
	f.ws = newWorkspace(t, db, "Tienda Fixture")
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	row := func(dst *int64, q string, args ...any) {
		t.Helper()
		if err := db.QueryRow(ctx, q, args...).Scan(dst); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	ws := f.ws.ID
	row(&f.numberID, `INSERT INTO sender_numbers (workspace_id, phone_number_id, waba_id, throughput_mps)
		VALUES ($1, 'pn-fixture-'||$1::bigint, 'waba-1', 80) RETURNING id`, ws)
	row(&f.templateID, `INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status, quality)
		VALUES ($1, 'waba-1', 'm-1', 'promo_marzo', 'es', 'MARKETING', 'APPROVED', 'GREEN') RETURNING id`, ws)
	exec(`INSERT INTO template_events (workspace_id, template_id, kind, old_value, new_value, source, created_at) VALUES
		($1, $2, 'status', 'PENDING', 'APPROVED', 'webhook', $3), ($1, $2, 'quality', 'GREEN', 'YELLOW', 'webhook', $3::timestamptz + interval '5 hours')`,
		ws, f.templateID, launch.Add(-24*time.Hour))
	row(&f.campaignID, `INSERT INTO campaigns (workspace_id, name, sender_number_id, template_id, state, segment_definition,
			segment_hash, audience_count, launched_at)
		VALUES ($1, 'Promo marzo', $2, $3, 'running', '{"all":[{"tag":"vip"}]}', 'sha256:abc', 9, $4) RETURNING id`,
		ws, f.numberID, f.templateID, launch)
	exec(`INSERT INTO contacts (workspace_id, phone_e164, country, name, attributes, consent_at, consent_source, consent_text, consent_evidence, created_at)
		SELECT $1, '+57300000000' || g, CASE WHEN g = 2 THEN 'PE' ELSE 'CO' END, 'Cliente ' || g,
		       jsonb_build_object('ciudad', CASE WHEN g % 2 = 0 THEN 'Cali' ELSE 'Bogotá, D.C.' END, 'puntos', g * 10),
		       $2::timestamptz - interval '10 days', 'import', 'Acepto recibir ofertas', '{"import_id": 3, "row": 7}',
		       $2::timestamptz - interval '10 days'
		FROM generate_series(1, 9) g`, ws, launch)
	type rec struct {
		n                                      int
		state, skip, wamid                     string
		code                                   int
		sent, delivered, read, failed, replied int // seconds after launch, -1 = none
		optedOut                               int
		category                               string
		billable                               *bool
	}
	yes, no := true, false
	recs := []rec{
		{1, "read", "", "wamid.r1", 0, 0, 10, 100, -1, 200, -1, "marketing", &yes},
		{2, "delivered", "", "wamid.r2", 0, 5, 25, -1, -1, -1, 7200, "marketing", &yes},
		{3, "failed", "", "wamid.r3", 131049, 6, -1, -1, 3700, -1, -1, "", nil},
		{4, "failed", "", "", 130472, -1, -1, -1, 7, -1, -1, "", nil},
		{5, "skipped", "frequency_cap", "", 0, -1, -1, -1, -1, -1, -1, "", nil},
		{6, "skipped", "opted_out", "", 0, -1, -1, -1, -1, -1, -1, "", nil},
		{7, "delivered", "", "wamid.r7", 0, 8, 7200, -1, -1, -1, -1, "marketing", &yes},
		{8, "pending", "", "", 0, -1, -1, -1, -1, -1, -1, "", nil},
		{9, "read", "", "wamid.r9", 0, 9, 3609, 3609, -1, -1, -1, "utility", &no},
	}
	at := func(s int) *time.Time {
		if s < 0 {
			return nil
		}
		t := launch.Add(time.Duration(s) * time.Second)
		return &t
	}
	for _, r := range recs {
		var wamid *string
		if r.wamid != "" {
			wamid = &r.wamid
		}
		var code *int
		if r.code != 0 {
			code = &r.code
		}
		exec(`INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, skip_reason, wamid, error_code,
				sent_at, delivered_at, read_at, failed_at, replied_at, opted_out_at, pricing_category, billable)
			SELECT $1, $2, c.id, c.phone_e164, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
			FROM contacts c WHERE c.workspace_id = $1 AND c.phone_e164 = '+57300000000' || $3::int`,
			ws, f.campaignID, r.n, r.state, r.skip, wamid, code, at(r.sent), at(r.delivered), at(r.read), at(r.failed),
			at(r.replied), at(r.optedOut), r.category, r.billable)
		if r.wamid == "" {
			continue
		}
		events := []struct {
			status string
			s      int
		}{{"sent", r.sent}, {"delivered", r.delivered}, {"read", r.read}, {"failed", r.failed}}
		for _, e := range events {
			if e.s < 0 || (r.n == 9 && e.status == "delivered") {
				continue
			}
			var ecode *int
			if e.status == "failed" {
				ecode = code
			}
			exec(`INSERT INTO status_events (workspace_id, wamid, status, occurred_at, error_code, pricing_category, billable, applied_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, now())`, ws, r.wamid, e.status, at(e.s), ecode, r.category, r.billable)
		}
	}
	return f
}
