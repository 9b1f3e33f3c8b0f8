package reports_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/reports/reportstest"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestCampaignReport(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	f := buildFixture(t, db)
	rc, err := reports.ParseRateCard(strings.NewReader("country_code,category,price,currency,effective_from\n" +
		"CO,marketing,0.0125,USD,2025-07-01\n57,marketing,0.0200,USD,2026-04-01\nCO,utility,0.0008,USD,2025-07-01\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := reports.CampaignReportGet(ctx, db, f.ws.ID, f.campaignID, reports.CampaignReportOptions{RateCard: rc})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("AudienceFrozenAtLaunch", func(t *testing.T) {
		if rep.Audience.Count != 9 || rep.Audience.SegmentHash != "sha256:abc" || !strings.Contains(string(rep.Audience.SegmentDefinition), "vip") {
			t.Fatalf("audience = %+v", rep.Audience)
		}
		want := map[string]int64{"read": 2, "delivered": 2, "failed": 2, "skipped": 2, "pending": 1}
		if !reflect.DeepEqual(rep.States, want) {
			t.Fatalf("states = %v, want %v", rep.States, want)
		}
	})
	t.Run("Funnel", func(t *testing.T) {
		want := reports.Funnel{Audience: 9, Skipped: 2, Pending: 1, Sent: 5, Delivered: 4, Read: 2, Failed: 2, Replied: 1, OptedOut: 1}
		if rep.Funnel != want {
			t.Fatalf("funnel = %+v, want %+v", rep.Funnel, want)
		}
		r := rep.Rates
		if !near(r.Delivery, 4.0/6) || !near(r.Read, 0.5) || !near(r.Reply, 0.25) || !near(r.OptOut, 0.25) {
			t.Fatalf("rates = %+v", r)
		}
	})
	t.Run("SkippedAndFailedWithTitles", func(t *testing.T) {
		wantSkip := []reports.ReasonCount{{Reason: "frequency_cap", Count: 1}, {Reason: "opted_out", Count: 1}}
		if !reflect.DeepEqual(rep.SkippedBy, wantSkip) {
			t.Fatalf("skipped = %+v", rep.SkippedBy)
		}
		if len(rep.FailedBy) != 2 || rep.FailedBy[0].Code != 130472 || rep.FailedBy[1].Code != 131049 {
			t.Fatalf("failed by code = %+v", rep.FailedBy)
		}
		c := rep.FailedBy[1]
		if !strings.Contains(c.TitleES, "interacción saludable") || !strings.Contains(c.TitleEN, "healthy ecosystem") {
			t.Fatalf("titles = %q / %q", c.TitleES, c.TitleEN)
		}
	})
	t.Run("Percentiles", func(t *testing.T) {
		d := rep.TimeToDeliver // 10, 20, 3600, 7192 s
		if d.Count != 4 || !near(d.P50, 1810) || !near(d.Max, 7192) {
			t.Fatalf("time to deliver = %+v", d)
		}
		r := rep.TimeToRead // 100, 3600 s
		if r.Count != 2 || !near(r.P50, 1850) || !near(r.Max, 3600) {
			t.Fatalf("time to read = %+v", r)
		}
	})
	t.Run("HourlyTimelineFromStatusEvents", func(t *testing.T) {
		want := []reports.TimelinePoint{
			{At: launch, Sent: 5, Delivered: 2, Read: 1},
			{At: launch.Add(time.Hour), Read: 1, Failed: 1},
			{At: launch.Add(2 * time.Hour), Delivered: 1},
		}
		if rep.Timeline.Bucket != "hour" || !reflect.DeepEqual(rep.Timeline.Points, want) {
			t.Fatalf("timeline = %+v", rep.Timeline)
		}
	})
	t.Run("BillableAndCost", func(t *testing.T) {
		want := []reports.CategoryCount{{Category: "marketing", Billable: 3}, {Category: "utility", NonBillable: 1}}
		if !reflect.DeepEqual(rep.Billable, want) {
			t.Fatalf("billable = %+v", rep.Billable)
		}
		// r1 and r7 in CO at the 2025-07-01 rate (the 2026-04-01 one is not yet in force); r2 in PE has no rate.
		c := rep.Cost
		if c == nil || c.Priced != 2 || c.Unpriced != 1 || len(c.Totals) != 1 || c.Totals[0] != (reports.CurrencyTotal{Currency: "USD", Amount: "0.0250"}) {
			t.Fatalf("cost = %+v", c)
		}
	})
	t.Run("NoRateCardNoPrices", func(t *testing.T) {
		rep, err := reports.CampaignReportGet(ctx, db, f.ws.ID, f.campaignID, reports.CampaignReportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Cost != nil {
			t.Fatalf("cost without a rate card: %+v", rep.Cost)
		}
	})
	t.Run("CachedUntilNewEvents", func(t *testing.T) {
		refreshed := 0
		opts := reports.CampaignReportOptions{Refresh: func() { refreshed++ }, Now: func() time.Time { return time.Now().Add(time.Minute) }}
		r1, err := reports.CampaignReportGet(ctx, db, f.ws.ID, f.campaignID, opts)
		if err != nil {
			t.Fatal(err)
		}
		if r1.Stale || refreshed != 0 {
			t.Fatalf("fresh cache reported stale (refreshed %d)", refreshed)
		}
		if _, err := db.Exec(ctx, `INSERT INTO status_events (workspace_id, wamid, status, occurred_at) VALUES ($1, 'wamid.r2', 'read', $2)`,
			f.ws.ID, launch.Add(4*time.Hour)); err != nil {
			t.Fatal(err)
		}
		r2, err := reports.CampaignReportGet(ctx, db, f.ws.ID, f.campaignID, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !r2.Stale || refreshed != 1 {
			t.Fatalf("after a new event: stale=%v refreshed=%d", r2.Stale, refreshed)
		}
		if ok, err := reports.CampaignReportRefresh(ctx, db, f.ws.ID, f.campaignID); err != nil || !ok {
			t.Fatalf("refresh: %v %v", ok, err)
		}
		r3, err := reports.CampaignReportGet(ctx, db, f.ws.ID, f.campaignID, opts)
		if err != nil {
			t.Fatal(err)
		}
		if r3.Stale || len(r3.Timeline.Points) != 4 {
			t.Fatalf("after refresh: stale=%v timeline=%+v", r3.Stale, r3.Timeline.Points)
		}
	})
	t.Run("OtherWorkspaceNotFound", func(t *testing.T) {
		other := newWorkspace(t, db, "Otra")
		if _, err := reports.CampaignReportGet(ctx, db, other.ID, f.campaignID, reports.CampaignReportOptions{}); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("err = %v, want not found", err)
		}
	})
}

func csvByPhone(t *testing.T, b []byte) (map[string]map[string]string, []string) {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(csvBody(t, b))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out[m["phone"]] = m
	}
	return out, recs[0]
}

func TestExportAsOf(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	f := buildFixture(t, db)
	spec := reports.ExportSpec{WorkspaceID: f.ws.ID, Kind: reports.KindCampaign, CampaignID: f.campaignID, Format: reports.CSV,
		Attributes: []string{"ciudad", "puntos"}}
	p := func(n string) string { return "+57300000000" + n }

	t.Run("LaterEventsExcluded", func(t *testing.T) {
		s := spec
		s.AsOf = launch.Add(time.Hour)
		rows, head := csvByPhone(t, export(t, db, s))
		wantHead := "recipient_id,phone,name,attr_ciudad,attr_puntos,state,skip_reason,wamid,sent_at_local,sent_at_utc,delivered_at_local,delivered_at_utc,read_at_local,read_at_utc,failed_at_local,failed_at_utc,error_code,error_title_es,error_title_en,replied,opted_out"
		if strings.Join(head, ",") != wantHead {
			t.Fatalf("header = %s", strings.Join(head, ","))
		}
		states := map[string]string{"1": "read", "2": "delivered", "3": "sent", "4": "failed", "5": "skipped", "6": "skipped", "7": "sent", "8": "pending", "9": "sent"}
		for n, st := range states {
			if got := rows[p(n)]["state"]; got != st {
				t.Errorf("r%s state = %q, want %q", n, got, st)
			}
		}
		r1 := rows[p("1")]
		if r1["sent_at_local"] != "2026-03-02 09:00:00" || r1["sent_at_utc"] != "2026-03-02T14:00:00Z" || r1["read_at_utc"] != "2026-03-02T14:01:40Z" ||
			r1["replied"] != "true" || r1["attr_ciudad"] != "Bogotá, D.C." || r1["attr_puntos"] != "10" || r1["wamid"] != "wamid.r1" {
			t.Errorf("r1 = %v", r1)
		}
		if r := rows[p("2")]; r["opted_out"] != "false" {
			t.Errorf("r2 opted out before it happened: %v", r)
		}
		if r := rows[p("3")]; r["failed_at_utc"] != "" || r["error_code"] != "" {
			t.Errorf("r3 shows a failure from after as_of: %v", r)
		}
		if r := rows[p("4")]; r["error_code"] != "130472" || r["failed_at_utc"] != "2026-03-02T14:00:07Z" || r["wamid"] != "" || r["error_title_en"] == "" {
			t.Errorf("r4 (synchronous failure) = %v", r)
		}
		if r := rows[p("5")]; r["skip_reason"] != "frequency_cap" {
			t.Errorf("r5 = %v", r)
		}
		if r := rows[p("7")]; r["delivered_at_utc"] != "" {
			t.Errorf("r7 shows a delivery from after as_of: %v", r)
		}
		if r := rows[p("8")]; r["wamid"] != "" || r["sent_at_utc"] != "" {
			t.Errorf("r8 = %v", r)
		}
	})
	t.Run("AllEvents", func(t *testing.T) {
		s := spec
		s.AsOf = launch.Add(3 * time.Hour)
		rows, _ := csvByPhone(t, export(t, db, s))
		if r := rows[p("3")]; r["state"] != "failed" || r["error_code"] != "131049" || r["failed_at_utc"] != "2026-03-02T15:01:40Z" {
			t.Errorf("r3 = %v", r)
		}
		if r := rows[p("7")]; r["state"] != "delivered" || r["delivered_at_local"] != "2026-03-02 11:00:00" {
			t.Errorf("r7 = %v", r)
		}
		if r := rows[p("9")]; r["state"] != "read" || r["delivered_at_utc"] != r["read_at_utc"] || r["read_at_utc"] != "2026-03-02T15:00:09Z" {
			t.Errorf("r9 (read implies delivered) = %v", r)
		}
		if r := rows[p("2")]; r["opted_out"] != "true" {
			t.Errorf("r2 = %v", r)
		}
	})
	t.Run("MutableColumnsIgnored", func(t *testing.T) {
		// A later webhook moving a recipient's columns must not change an export at an earlier as_of.
		s := spec
		s.AsOf = launch.Add(time.Hour)
		before := export(t, db, s)
		if _, err := db.Exec(context.Background(), `UPDATE recipients SET state = 'read', read_at = $2, delivered_at = $2
			WHERE workspace_id = $1 AND wamid = 'wamid.r7'`, f.ws.ID, launch.Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if after := export(t, db, s); !bytes.Equal(before, after) {
			t.Fatalf("export changed after a recipient column changed:\n%s\n%s", before, after)
		}
	})
	t.Run("XLSXDatesAndHeader", func(t *testing.T) {
		s := spec
		s.Format = reports.XLSX
		s.AsOf = launch.Add(3 * time.Hour)
		a, b := export(t, db, s), export(t, db, s)
		if !bytes.Equal(a, b) {
			t.Fatal("two XLSX runs differ")
		}
		x, err := excelize.OpenReader(bytes.NewReader(a))
		if err != nil {
			t.Fatal(err)
		}
		panes, err := x.GetPanes("Datos")
		if err != nil || !panes.Freeze || panes.YSplit != 1 {
			t.Fatalf("header not frozen: %+v %v", panes, err)
		}
		// I2 is sent_at_local of the first recipient (r1): a real date cell, 09:00 in Bogotá.
		v, err := x.GetCellValue("Datos", "I2", excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		want := (float64(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).Unix()) / 86400) + 25569
		if got, _ := parseFloat(v); !near(got, want) {
			t.Fatalf("I2 raw = %q, want serial %v", v, want)
		}
		shown, _ := x.GetCellValue("Datos", "I2")
		if shown != "2026-03-02 09:00:00" {
			t.Fatalf("I2 shows %q", shown)
		}
		st, _ := x.GetCellStyle("Datos", "A1")
		style, _ := x.GetStyle(st)
		if style == nil || style.Font == nil || !style.Font.Bold {
			t.Fatalf("header style = %+v", style)
		}
		props, _ := x.GetDocProps()
		if props.Created != "2026-03-02T17:00:00Z" {
			t.Fatalf("doc created = %q, want as_of", props.Created)
		}
	})
	t.Run("ContactsWithConsent", func(t *testing.T) {
		s := reports.ExportSpec{WorkspaceID: f.ws.ID, Kind: reports.KindContacts, Format: reports.CSV, AsOf: launch}
		rows, _ := csvByPhone(t, export(t, db, s))
		if len(rows) != 9 {
			t.Fatalf("%d contacts", len(rows))
		}
		r := rows[p("1")]
		if r["consent_source"] != "import" || r["consent_text"] != "Acepto recibir ofertas" || !strings.Contains(r["consent_evidence"], `"import_id": 3`) ||
			r["consent_at_utc"] != "2026-02-20T14:00:00Z" {
			t.Fatalf("contact 1 = %v", r)
		}
		// Before the contacts existed: nothing.
		s.AsOf = launch.Add(-11 * 24 * time.Hour)
		if rows, _ := csvByPhone(t, export(t, db, s)); len(rows) != 0 {
			t.Fatalf("%d contacts before they existed", len(rows))
		}
	})
}

func TestTemplateAndNumberReports(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	f := buildFixture(t, db)
	t.Run("TemplateMonthly", func(t *testing.T) {
		rep, err := reports.TemplateReportGet(ctx, db, f.ws.ID, f.templateID, launch.AddDate(0, -1, 0), launch.AddDate(0, 1, 0), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Months) != 1 {
			t.Fatalf("months = %+v", rep.Months)
		}
		m := rep.Months[0]
		if m.Month != "2026-03" || m.Campaigns != 1 || m.Sends != 6 || m.Delivered != 4 || m.Read != 2 || m.Failed != 2 ||
			!near(m.Rates.Delivery, 4.0/6) || !near(m.Rates.Read, 0.5) {
			t.Fatalf("month = %+v", m)
		}
		if len(m.FailedBy) != 2 || m.FailedBy[0].Code != 130472 || m.FailedBy[0].TitleES == "" {
			t.Fatalf("failed by = %+v", m.FailedBy)
		}
		if len(rep.History) != 2 || rep.History[0].Kind != "quality" || rep.History[0].NewValue != "YELLOW" || rep.History[1].NewValue != "APPROVED" {
			t.Fatalf("history = %+v", rep.History)
		}
		other := newWorkspace(t, db, "Otra T")
		if _, err := reports.TemplateReportGet(ctx, db, other.ID, f.templateID, time.Time{}, time.Time{}, nil); err == nil {
			t.Fatal("another workspace read the template report")
		}
	})
	t.Run("NumberBudgetThroughputHistory", func(t *testing.T) {
		if _, err := db.Exec(ctx, `INSERT INTO messaging_ledger (workspace_id, contact_id, campaign_id, counted_at)
			SELECT $1, c.id, CASE WHEN c.phone_e164 <> '+573000000003' THEN $2::bigint END,
			       CASE WHEN c.phone_e164 <> '+573000000003' THEN $3::timestamptz ELSE $3::timestamptz - interval '22 hours' END
			FROM contacts c WHERE c.workspace_id = $1 AND c.phone_e164 IN ('+573000000001', '+573000000002', '+573000000003')`,
			f.ws.ID, f.campaignID, launch); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `INSERT INTO number_events (workspace_id, sender_number_id, kind, old_value, new_value, created_at)
			VALUES ($1, $2, 'quality', 'GREEN', 'YELLOW', $3)`, f.ws.ID, f.numberID, launch.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		rep, err := reports.NumberReportGet(ctx, db, f.ws.ID, f.numberID, 2, launch.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if rep.MessagingLimit != 250 || rep.BudgetUsed24h != 3 || rep.BudgetByNumber != 2 {
			t.Fatalf("budget: limit %d used %d by number %d", rep.MessagingLimit, rep.BudgetUsed24h, rep.BudgetByNumber)
		}
		if len(rep.Budget) != 48 {
			t.Fatalf("%d budget points", len(rep.Budget))
		}
		var at15 reports.BudgetPoint
		for _, p := range rep.Budget {
			if p.At.Equal(launch.Add(time.Hour)) {
				at15 = p
			}
		}
		if at15.Rolling24h != 3 || at15.ByNumber24h != 2 || !near(at15.ShareOfCap, 3.0/250) {
			t.Fatalf("budget at 15:00 = %+v", at15)
		}
		tp := rep.Throughput
		if tp.AllowedMPS != 80 || tp.Sent24h != 5 || tp.PeakSecond != 1 || tp.PeakMinute != 5 || len(tp.Hourly) != 1 || tp.Hourly[0].Sent != 5 {
			t.Fatalf("throughput = %+v", tp)
		}
		if len(rep.History) != 1 || rep.History[0].NewValue != "YELLOW" {
			t.Fatalf("history = %+v", rep.History)
		}
	})
}

func TestRateCardParse(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"MissingColumn": "country_code,category,price,currency\nCO,marketing,1,USD\n",
		"BadPrice":      "country_code,category,price,currency,effective_from\nCO,marketing,abc,USD,2025-07-01\n",
		"BadDate":       "country_code,category,price,currency,effective_from\nCO,marketing,0.1,USD,07/01/2025\n",
		"BadCurrency":   "country_code,category,price,currency,effective_from\nCO,marketing,0.1,DOLLARS,2025-07-01\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := reports.ParseRateCard(strings.NewReader(in)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	rc, err := reports.ParseRateCard(strings.NewReader("\ufeffcurrency,price,category,effective_from,country_code,notes\nUSD,0.5,marketing,2025-01-01,*,x\n"))
	if err != nil {
		t.Fatal(err)
	}
	est := rc.Estimate([]reports.BillableGroup{{Country: "AR", Category: "marketing", Day: "2025-06-01", Count: 3}, {Country: "AR", Category: "marketing", Day: "2024-06-01", Count: 1}})
	if est.Priced != 3 || est.Unpriced != 1 || est.Totals[0].Amount != "1.5000" {
		t.Fatalf("estimate = %+v", est)
	}
	if (*reports.RateCard)(nil).Estimate(nil) != nil {
		t.Fatal("a nil rate card estimated a cost")
	}
}

func TestLargeCampaignFirstReportIsAsync(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	ws := newWorkspace(t, db, "Grande")
	id, err := reportstest.Campaign(ctx, db, ws.ID, reports.SyncComputeLimit+100)
	if err != nil {
		t.Fatal(err)
	}
	refreshed := 0
	opts := reports.CampaignReportOptions{Refresh: func() { refreshed++ }}
	rep, err := reports.CampaignReportGet(ctx, db, ws.ID, id, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Computing || refreshed != 1 || rep.States["read"] == 0 || rep.Funnel.Audience != 0 {
		t.Fatalf("first report: computing=%v refreshed=%d states=%v", rep.Computing, refreshed, rep.States)
	}
	if ok, err := reports.CampaignReportRefresh(ctx, db, ws.ID, id); !ok || err != nil {
		t.Fatalf("refresh: %v %v", ok, err)
	}
	if rep, err = reports.CampaignReportGet(ctx, db, ws.ID, id, opts); err != nil || rep.Computing || rep.Stale || rep.Funnel.Audience != int64(reports.SyncComputeLimit+100) {
		t.Fatalf("after refresh: %+v %v", rep, err)
	}
}

func TestCSVNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	f := buildFixture(t, db)
	if _, err := db.Exec(context.Background(), `UPDATE contacts SET name = '=HYPERLINK("http://x","y")', attributes = '{"ciudad": "-5", "puntos": "@SUM(A1)"}'
		WHERE workspace_id = $1 AND phone_e164 = '+573000000008'`, f.ws.ID); err != nil {
		t.Fatal(err)
	}
	spec := reports.ExportSpec{WorkspaceID: f.ws.ID, Kind: reports.KindCampaign, CampaignID: f.campaignID, Format: reports.CSV,
		AsOf: launch, Attributes: []string{"ciudad", "puntos"}}
	rows, _ := csvByPhone(t, export(t, db, spec))
	r := rows["+573000000008"]
	if r["name"] != `'=HYPERLINK("http://x","y")` || r["attr_ciudad"] != "-5" || r["attr_puntos"] != "'@SUM(A1)" || r["phone"] != "+573000000008" {
		t.Fatalf("row = %v", r)
	}
}

// A send Meta accepted (the send job recorded its wamid and time) whose "sent" webhook has not
// arrived, and may never (Meta does not promise one), is exported as sent, as the campaign
// report counts it; a send whose outcome is unknown is exported as unknown, not pending.
func TestExportAcceptedSendWithoutWebhook(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	f := buildFixture(t, db)
	for _, r := range []struct {
		phone, state string
		wamid        any
	}{{"+573000000010", "sent", "wamid.r10"}, {"+573000000011", "unknown", nil}} {
		if _, err := db.Exec(ctx, `WITH c AS (INSERT INTO contacts (workspace_id, phone_e164, country, name, consent_at)
			    VALUES ($1, $3, 'CO', 'Cliente', now()) RETURNING id, phone_e164)
			INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, sent_at)
			SELECT $1, $2, c.id, c.phone_e164, $4, $5::text, CASE WHEN $5::text IS NOT NULL THEN $6::timestamptz END FROM c`,
			f.ws.ID, f.campaignID, r.phone, r.state, r.wamid, launch.Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	spec := reports.ExportSpec{WorkspaceID: f.ws.ID, Kind: reports.KindCampaign, CampaignID: f.campaignID, Format: reports.CSV,
		AsOf: launch.Add(3 * time.Hour)}
	rows, _ := csvByPhone(t, export(t, db, spec))
	if r := rows["+573000000010"]; r["state"] != "sent" || r["wamid"] != "wamid.r10" || r["sent_at_utc"] != "2026-03-02T14:00:10Z" {
		t.Errorf("accepted send exported as %v", r)
	}
	if r := rows["+573000000011"]; r["state"] != "unknown" || r["wamid"] != "" {
		t.Errorf("send of unknown outcome exported as %v", r)
	}
	// Before the send, as of its launch, it was not sent yet.
	spec.AsOf = launch
	rows, _ = csvByPhone(t, export(t, db, spec))
	if r := rows["+573000000010"]; r["state"] != "pending" || r["wamid"] != "" || r["sent_at_utc"] != "" {
		t.Errorf("as of the launch, the send made 10 s later is exported as %v", r)
	}
}
