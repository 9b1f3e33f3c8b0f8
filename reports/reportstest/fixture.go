// Package reportstest builds large, deterministic report fixtures with generate_series, for the
// reports and API tests and benchmarks.
package reportstest

import (
	"context"
	"fmt"
	"time"

	"github.com/pregon/pregon/store"
)

// Base is the fixture campaign's launch time.
var Base = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

// Campaign creates, in workspace ws, a sender number, a template, a launched campaign with n
// recipients (and their contacts) and their status events, and returns the campaign id.
// Per 100 recipients (by id modulo 100): 2 skipped, 3 failed after sent (131026, 131049,
// 131050), 5 sent, 20 delivered, 70 read — about 2.6 status events per recipient. Every 50th
// recipient replied; recipients 37 modulo 200 opted out. Sends are spread over the first hour.
func Campaign(ctx context.Context, db store.DBTX, ws int64, n int) (int64, error) {
	var numberID, templateID, campaignID int64
	tag := fmt.Sprintf("%d-%d", ws, time.Now().UnixNano())
	err := db.QueryRow(ctx, `INSERT INTO sender_numbers (workspace_id, phone_number_id, waba_id, display_number)
		VALUES ($1, $2, 'waba-'||$2, '+57 300 000 0000') RETURNING id`, ws, "pn-"+tag).Scan(&numberID)
	if err == nil {
		err = db.QueryRow(ctx, `INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status, quality)
			VALUES ($1, 'waba-pn-'||$2, 'meta-'||$2, 'promo_'||$2, 'es', 'MARKETING', 'APPROVED', 'GREEN') RETURNING id`, ws, tag).Scan(&templateID)
	}
	if err == nil {
		err = db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, sender_number_id, template_id, state,
				segment_definition, segment_hash, audience_count, launched_at, completed_at)
			VALUES ($1, 'Campaña '||$2, $3, $4, 'completed', '{"all":[{"tag":"clientes"}]}', 'sha256:fixture', $5, $6::timestamptz, $6::timestamptz + interval '2 hours')
			RETURNING id`, ws, tag, numberID, templateID, n, Base).Scan(&campaignID)
	}
	if err != nil {
		return 0, fmt.Errorf("creating the fixture campaign: %w", err)
	}
	steps := []string{
		// contacts: one per recipient
		`INSERT INTO contacts (workspace_id, phone_e164, wa_id, country, name, attributes, tags, consent_at, consent_source, created_at)
		 SELECT $1, '+5730' || lpad((g + $2::bigint * 10000000)::text, 10, '0'), '5730' || lpad((g + $2::bigint * 10000000)::text, 10, '0'),
		        'CO', 'Persona ' || g,
		        jsonb_build_object('ciudad', (ARRAY['Bogotá','Medellín','Cali','Barranquilla','Lima, Perú'])[g % 5 + 1], 'plan', 'p' || (g % 3), 'fixture', $2::bigint),
		        ARRAY['clientes'], $4::timestamptz - interval '30 days', 'import', $4::timestamptz - interval '30 days'
		 FROM generate_series(1, $3::int) g`,
		// recipients, with states and the timestamps the webhooks would have set
		`INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, skip_reason, wamid, error_code,
		        sent_at, delivered_at, read_at, failed_at, replied_at, opted_out_at, pricing_category, billable)
		 SELECT $1, $2, c.id, c.phone_e164, s.state,
		        CASE WHEN s.state = 'skipped' THEN 'frequency_cap' ELSE '' END,
		        CASE WHEN s.state <> 'skipped' THEN 'wamid.' || $2 || '.' || c.g END,
		        CASE WHEN s.state = 'failed' THEN (ARRAY[131026, 131049, 131050])[mm.m - 1] END,
		        CASE WHEN s.state <> 'skipped' THEN t.sent END,
		        CASE WHEN s.state IN ('delivered', 'read') THEN t.sent + (c.g % 37) * interval '1 second' END,
		        CASE WHEN s.state = 'read' THEN t.sent + (37 + c.g % 600) * interval '1 second' END,
		        CASE WHEN s.state = 'failed' THEN t.sent + interval '3 seconds' END,
		        CASE WHEN c.g % 50 = 0 AND s.state = 'read' THEN t.sent + interval '20 minutes' END,
		        CASE WHEN c.g % 200 = 37 AND s.state IN ('delivered', 'read') THEN t.sent + interval '30 minutes' END,
		        CASE WHEN s.state IN ('delivered', 'read') THEN 'marketing' ELSE '' END,
		        CASE WHEN s.state IN ('delivered', 'read') THEN true END
		 FROM (SELECT row_number() OVER (ORDER BY id) AS g, id, phone_e164 FROM contacts WHERE workspace_id = $1 AND attributes @> jsonb_build_object('fixture', $2::bigint)) c,
		      LATERAL (SELECT (c.g % 100)::int AS m) mm,
		      LATERAL (SELECT CASE WHEN mm.m < 2 THEN 'skipped' WHEN mm.m < 5 THEN 'failed' WHEN mm.m < 10 THEN 'sent'
		                           WHEN mm.m < 30 THEN 'delivered' ELSE 'read' END AS state) s,
		      LATERAL (SELECT $4::timestamptz + (c.g * 3600 / $3::int) * interval '1 second' AS sent) t`,
		// status events: sent for every attempt, then delivered, read or failed
		`INSERT INTO status_events (workspace_id, wamid, status, occurred_at, recipient_wa_id, error_code, error_title,
		        pricing_category, pricing_type, billable, applied_at)
		 SELECT $1, r.wamid, ev.status, ev.at, '', ev.code, '', ev.cat, ev.ptype, ev.bill, now()
		 FROM recipients r,
		      LATERAL (VALUES ('sent', r.sent_at, NULL::int, 'marketing', 'regular', true),
		                      ('delivered', r.delivered_at, NULL, '', '', NULL::boolean),
		                      ('read', r.read_at, NULL, '', '', NULL),
		                      ('failed', r.failed_at, r.error_code, '', '', NULL)) ev(status, at, code, cat, ptype, bill)
		 WHERE r.workspace_id = $1 AND r.campaign_id = $2 AND r.wamid IS NOT NULL AND ev.at IS NOT NULL`,
	}
	args := [][]any{{ws, campaignID, n, Base}, {ws, campaignID, n, Base}, {ws, campaignID}}
	for i, q := range steps {
		if _, err := db.Exec(ctx, q, args[i]...); err != nil {
			return 0, fmt.Errorf("fixture step %d: %w", i+1, err)
		}
	}
	if _, err := db.Exec(ctx, `ANALYZE contacts; ANALYZE recipients; ANALYZE status_events`); err != nil {
		return 0, err
	}
	return campaignID, nil
}
