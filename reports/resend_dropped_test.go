package reports_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

// A send Meta dropped by webhook with 132015 (held for pacing, template paused) waits to be
// sent again: the campaign and template reports count it as pending, as one whose send was
// refused at once with 132015, not as a failure; the export shows the drop (failed, 132015)
// until the new send replaces it, then the new send's outcome.
func TestReportsOfADroppedSend(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	f := buildFixture(t, db)
	ws := f.ws.ID
	// r10: accepted (held) with wamid.r10 at +10 s, dropped at +1 h; r11: refused at once
	// with 132015, back to pending.
	var r10 int64
	for _, r := range []struct {
		phone, state string
		wamid        any
		dst          *int64
	}{{"+573000000010", "sent", "wamid.r10", &r10}, {"+573000000011", "pending", nil, new(int64)}} {
		if err := db.QueryRow(ctx, `WITH c AS (INSERT INTO contacts (workspace_id, phone_e164, country, name, consent_at)
			    VALUES ($1, $3, 'CO', 'Cliente', now()) RETURNING id, phone_e164)
			INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, sent_at, attempts,
			    error_code, retry_at)
			SELECT $1, $2, c.id, c.phone_e164, $4, $5::text, CASE WHEN $5::text IS NOT NULL THEN $6::timestamptz END, 1,
			    CASE WHEN $5::text IS NULL THEN 132015 END, CASE WHEN $5::text IS NULL THEN $6::timestamptz END
			FROM c RETURNING id`,
			ws, f.campaignID, r.phone, r.state, r.wamid, launch.Add(10*time.Second)).Scan(r.dst); err != nil {
			t.Fatal(err)
		}
	}
	ingest := func(wamid, status string, at time.Time, code int) {
		t.Helper()
		e := store.StatusEvent{WorkspaceID: &ws, WAMID: wamid, Status: status, OccurredAt: at}
		if code != 0 {
			e.ErrorCode, e.ErrorTitle = &code, "Template is paused"
		}
		if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			_, err := store.StatusEventsIngest(ctx, tx, []store.StatusEvent{e})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	ingest("wamid.r10", "failed", launch.Add(time.Hour), store.ErrCodeTemplatePaused)

	report := func() *reports.CampaignReport {
		t.Helper()
		rep, err := reports.CampaignReportGet(ctx, db, ws, f.campaignID, reports.CampaignReportOptions{Fresh: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rep.FailedBy {
			if c.Code == store.ErrCodeTemplatePaused {
				t.Errorf("failures by code list %d × 132015", c.Count)
			}
		}
		return rep
	}
	// The fixture alone: pending 1, sent 5, delivered 4, failed 2 (131049 and 130472).
	rep := report()
	if want := (reports.Funnel{Audience: 11, Skipped: 2, Pending: 3, Sent: 5, Delivered: 4, Read: 2, Failed: 2, Replied: 1, OptedOut: 1}); rep.Funnel != want {
		t.Errorf("while the dropped send waits: funnel %+v, want %+v", rep.Funnel, want)
	}
	tr, err := reports.TemplateReportGet(ctx, db, ws, f.templateID, launch.AddDate(0, -1, 0), launch.AddDate(0, 1, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := tr.Months[0]; m.Sends != 6 || m.Failed != 2 || len(m.FailedBy) != 2 {
		t.Errorf("template month while the dropped send waits: %+v (want 6 sends, 2 failed, none 132015)", m)
	}
	spec := reports.ExportSpec{WorkspaceID: ws, Kind: reports.KindCampaign, CampaignID: f.campaignID, Format: reports.CSV,
		AsOf: launch.Add(2 * time.Hour)}
	rows, _ := csvByPhone(t, export(t, db, spec))
	if r := rows["+573000000010"]; r["state"] != "failed" || r["error_code"] != "132015" || r["wamid"] != "wamid.r10" {
		t.Errorf("the dropped send is exported as %v (want failed 132015 with its wamid)", r)
	}

	// The campaign resumes: the recipient is sent again and delivered.
	now := launch.Add(4 * time.Hour)
	got, err := store.RecipientsClaim(ctx, db, store.ClaimParams{WorkspaceID: ws, CampaignID: f.campaignID, Now: now, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range got {
		found = found || g.ID == r10
	}
	if !found {
		t.Fatalf("the resumed campaign does not release the dropped send (%+v)", got)
	}
	if err := store.RecipientsQueue(ctx, db, ws, []int64{r10}, []time.Time{now}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RecipientSetState(ctx, db, ws, r10, []string{store.RecipientQueued}, nil, store.RecipientSending, now); err != nil {
		t.Fatal(err)
	}
	if ok, err := store.RecipientMarkSent(ctx, db, ws, r10, "wamid.r10b", "", now); err != nil || !ok {
		t.Fatalf("recording the new send: %v %v", ok, err)
	}
	ingest("wamid.r10b", "delivered", now.Add(5*time.Second), 0)
	rep = report()
	if want := (reports.Funnel{Audience: 11, Skipped: 2, Pending: 2, Sent: 6, Delivered: 5, Read: 2, Failed: 2, Replied: 1, OptedOut: 1}); rep.Funnel != want {
		t.Errorf("after the new send: funnel %+v, want %+v", rep.Funnel, want)
	}
	spec.AsOf = now.Add(time.Hour)
	rows, _ = csvByPhone(t, export(t, db, spec))
	if r := rows["+573000000010"]; r["state"] != "delivered" || r["wamid"] != "wamid.r10b" || r["error_code"] != "" {
		t.Errorf("after the new send the recipient is exported as %v (want delivered with wamid.r10b)", r)
	}
}
