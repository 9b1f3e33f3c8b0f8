package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"github.com/pregon/pregon/campaigns"
	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

var launchPhoneSeq atomic.Int64

// launchFixture is a workspace with a number, an approved marketing template
// ("Hola {{1}}, {{2}}") and a scheduled campaign mapping {{1}} ← first_name (fallback
// "cliente") and {{2}} ← attribute "cupon" (no fallback).
type launchFixture struct {
	db       *pgxpool.Pool
	ws       store.Workspace
	number   store.SenderNumber
	campaign store.Campaign
	at       time.Time
}

func newLaunchFixture(t testing.TB, db *pgxpool.Pool) *launchFixture {
	t.Helper()
	ctx := context.Background()
	f := &launchFixture{db: db}
	var err error
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	f.ws, err = store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "lanzamiento", MessagingLimit: 2000})
	check(err)
	f.number, err = store.SenderNumberCreate(ctx, db, store.SenderNumberCreateParams{WorkspaceID: f.ws.ID,
		PhoneNumberID: fmt.Sprintf("%d%d", time.Now().UnixNano()%1e12, launchPhoneSeq.Add(1)), WABAID: "55"})
	check(err)
	comps := `[{"type":"BODY","text":"Hola {{1}}, tu cupón {{2}}"}]`
	tr, err := store.TemplateUpsert(ctx, db, f.ws.ID, store.TemplateSync{WABAID: "55", MetaID: "1", Name: "promo", Language: "es",
		Category: "MARKETING", Status: "APPROVED", Components: json.RawMessage(comps)}, "sync")
	check(err)
	params, err := campaigns.TemplateParams("POSITIONAL", tr.Template.Components)
	check(err)
	m, err := campaigns.Bind(params, "POSITIONAL", campaigns.Mapping{Variables: []campaigns.Variable{
		{Param: campaigns.Param{Component: "body", Name: "1"}, Source: campaigns.SourceField, Key: "first_name", Fallback: "cliente"},
		{Param: campaigns.Param{Component: "body", Name: "2"}, Source: campaigns.SourceAttribute, Key: "cupon"},
	}})
	check(err)
	mj, _ := json.Marshal(m)
	f.at = time.Now().Add(-time.Second).Truncate(time.Microsecond)
	f.campaign, err = store.CampaignCreate(ctx, db, store.Campaign{WorkspaceID: f.ws.ID, Name: "Promo", SenderNumberID: &f.number.ID,
		TemplateID: &tr.Template.ID, VariableMapping: mj, ConfirmBroadcast: true, ScheduledAt: &f.at})
	check(err)
	_, err = store.CampaignTransition(ctx, db, f.ws.ID, f.campaign.ID, store.CampaignScheduled, store.TransitionParams{Actor: store.ActorUser})
	check(err)
	return f
}

// contacts inserts n marketable contacts with a coupon, set-based.
func (f *launchFixture) contacts(t testing.TB, n int, from int) {
	t.Helper()
	_, err := f.db.Exec(context.Background(), `INSERT INTO contacts (workspace_id, phone_e164, name, attributes, consent_at)
		SELECT $1, '+57300' || lpad(i::text, 7, '0'), 'Cliente ' || i, jsonb_build_object('cupon', 'C' || i), now()
		FROM generate_series($2::int, $2::int + $3::int - 1) i`, f.ws.ID, from, n)
	if err != nil {
		t.Fatal(err)
	}
}

func (f *launchFixture) args() LaunchCampaignArgs {
	return LaunchCampaignArgs{WorkspaceID: f.ws.ID, CampaignID: f.campaign.ID, ScheduledAt: f.at}
}

func TestLaunchCampaign(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	f := newLaunchFixture(t, db)
	f.contacts(t, 100, 0)
	// Excluded before the snapshot: no consent, opted out (not in the audience at all).
	_, err := db.Exec(ctx, `UPDATE contacts SET consent_at = NULL WHERE workspace_id = $1 AND phone_e164 IN ('+573000000000', '+573000000001')`, f.ws.ID)
	must2(t, err)
	_, err = db.Exec(ctx, `UPDATE contacts SET opted_out_at = now() WHERE workspace_id = $1 AND phone_e164 = '+573000000002'`, f.ws.ID)
	must2(t, err)
	// Skipped with a reason: no coupon (missing variable); no name (fallback used, not skipped);
	// two recent messages from an earlier campaign (frequency cap, workspace default 2 per 7 days).
	_, err = db.Exec(ctx, `UPDATE contacts SET attributes = '{}' WHERE workspace_id = $1 AND phone_e164 IN ('+573000000010', '+573000000011', '+573000000012')`, f.ws.ID)
	must2(t, err)
	_, err = db.Exec(ctx, `UPDATE contacts SET name = '' WHERE workspace_id = $1 AND phone_e164 = '+573000000020'`, f.ws.ID)
	must2(t, err)
	var oldCampaign, capped int64
	must2(t, db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, 'vieja', 'completed') RETURNING id`, f.ws.ID).Scan(&oldCampaign))
	must2(t, db.QueryRow(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 AND phone_e164 = '+573000000030'`, f.ws.ID).Scan(&capped))
	var other int64
	must2(t, db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, 'vieja2', 'completed') RETURNING id`, f.ws.ID).Scan(&other))
	for _, cid := range []int64{oldCampaign, other} {
		_, err = db.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, sent_at)
			VALUES ($1, $2, $3, '+573000000030', 'delivered', now() - interval '2 days')`, f.ws.ID, cid, capped)
		must2(t, err)
	}
	// A contact of another workspace never enters.
	g := newLaunchFixture(t, db)
	g.contacts(t, 5, 0)

	t.Run("RolledBackLaunchLeavesNothing", func(t *testing.T) {
		tx, err := db.Begin(ctx)
		must2(t, err)
		res, err := LaunchCampaign(ctx, tx, f.args(), LaunchOptions{})
		must2(t, err)
		if !res.Launched || res.Recipients != 97 {
			t.Fatalf("launch %+v, want 97 recipients", res)
		}
		must2(t, tx.Rollback(ctx))
		c, _ := store.CampaignGetByID(ctx, db, f.ws.ID, f.campaign.ID)
		var n int
		must2(t, db.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE campaign_id = $1`, f.campaign.ID).Scan(&n))
		if c.State != store.CampaignScheduled || n != 0 {
			t.Fatalf("after rollback: state %s, %d recipients", c.State, n)
		}
	})

	worker := &LaunchCampaignWorker{db: db, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now, compile: CompileSegment}
	tw := rivertest.NewWorker(t, riverpgxv5.New(db), &river.Config{}, worker)
	work := func(t *testing.T) {
		t.Helper()
		tx, err := db.Begin(ctx)
		must2(t, err)
		defer tx.Rollback(ctx)
		res, err := tw.Work(ctx, t, tx, f.args(), nil)
		must2(t, err)
		if res.EventKind != river.EventKindJobCompleted {
			t.Fatalf("job %s", res.EventKind)
		}
		must2(t, tx.Commit(ctx))
	}

	t.Run("FreezesTheAudience", func(t *testing.T) {
		work(t)
		c, err := store.CampaignGetByID(ctx, db, f.ws.ID, f.campaign.ID)
		must2(t, err)
		if c.State != store.CampaignRunning || c.AudienceCount != 97 || c.SegmentHash == "" || c.LaunchedAt == nil || len(c.SegmentDefinition) == 0 {
			t.Fatalf("campaign after launch: %+v", c)
		}
		counts := map[string]int{}
		rows, err := db.Query(ctx, `SELECT CASE WHEN state = 'skipped' THEN skip_reason ELSE state END, count(*) FROM recipients WHERE campaign_id = $1 GROUP BY 1`, c.ID)
		must2(t, err)
		for rows.Next() {
			var k string
			var n int
			must2(t, rows.Scan(&k, &n))
			counts[k] = n
		}
		rows.Close()
		want := map[string]int{"pending": 93, "missing_variable:body.2": 3, "frequency_cap": 1}
		if fmt.Sprint(counts) != fmt.Sprint(want) {
			t.Fatalf("recipients %v, want %v", counts, want)
		}
		var raw []byte
		must2(t, db.QueryRow(ctx, `SELECT variables FROM recipients WHERE campaign_id = $1 AND phone_e164 = '+573000000020'`, c.ID).Scan(&raw))
		m, err := campaigns.ParseMapping(c.VariableMapping)
		must2(t, err)
		r, err := m.Expand(raw)
		must2(t, err)
		if r.Value("body.1") != "cliente" || r.Value("body.2") != "C20" {
			t.Fatalf("variables %s", raw)
		}
		recs, _ := store.CampaignTransitionList(ctx, db, f.ws.ID, c.ID)
		last := recs[len(recs)-1]
		if last.ToState != store.CampaignRunning || last.Actor != store.ActorSystem || last.Signal != store.SignalLaunch {
			t.Fatalf("transition %+v", last)
		}
		rivertest.RequireInserted(ctx, t, riverpgxv5.New(db), &PaceArgs{SenderNumberID: f.number.ID}, nil)
	})

	t.Run("RetryIsANoOp", func(t *testing.T) {
		work(t)
		var n int
		must2(t, db.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE campaign_id = $1`, f.campaign.ID).Scan(&n))
		if n != 97 {
			t.Fatalf("%d recipients after a second run, want 97", n)
		}
		recs, _ := store.CampaignTransitionList(ctx, db, f.ws.ID, f.campaign.ID)
		if len(recs) != 2 {
			t.Fatalf("%d transitions, want 2 (scheduled, running)", len(recs))
		}
	})

	t.Run("SegmentSelects", func(t *testing.T) {
		h := newLaunchFixture(t, db)
		h.contacts(t, 10, 0)
		_, err := db.Exec(ctx, `UPDATE contacts SET tags = '{vip}' WHERE workspace_id = $1 AND phone_e164 IN ('+573000000001', '+573000000004', '+573000000007')`, h.ws.ID)
		must2(t, err)
		def := `{"all":[{"field":"tags","op":"has_any","value":["vip"]}]}`
		var segID int64
		must2(t, db.QueryRow(ctx, `INSERT INTO segments (workspace_id, name, definition) VALUES ($1, 'vip', $2) RETURNING id`, h.ws.ID, def).Scan(&segID))
		_, err = db.Exec(ctx, `UPDATE campaigns SET segment_id = $2 WHERE id = $1`, h.campaign.ID, segID)
		must2(t, err)
		tx, _ := db.Begin(ctx)
		defer tx.Rollback(ctx)
		res, err := LaunchCampaign(ctx, tx, h.args(), LaunchOptions{})
		if err != nil || !res.Launched || res.Recipients != 3 || res.Pending != 3 {
			t.Fatalf("%+v %v", res, err)
		}
		c, _ := store.CampaignGetByID(ctx, tx, h.ws.ID, h.campaign.ID)
		if c.SegmentHash == "" || !strings.Contains(string(c.SegmentDefinition), "vip") || c.AudienceCount != 3 {
			t.Fatalf("frozen segment %+v", c)
		}
	})

	t.Run("StaleScheduleDoesNothing", func(t *testing.T) {
		h := newLaunchFixture(t, db)
		args := h.args()
		args.ScheduledAt = h.at.Add(-time.Hour) // an older schedule's job
		tx, _ := db.Begin(ctx)
		defer tx.Rollback(ctx)
		res, err := LaunchCampaign(ctx, tx, args, LaunchOptions{})
		if err != nil || res.Launched || res.NotLaunched != "stale schedule" {
			t.Fatalf("%+v %v", res, err)
		}
	})
}

func must2(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLaunchSnapshot freezes an audience of PREGON_BENCH_LAUNCH_N contacts (default
// 1,000,000) into recipients in one transaction, the way the launch job does.
//
//	go test ./jobs -run '^$' -bench LaunchSnapshot -benchtime 1x
func BenchmarkLaunchSnapshot(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("PREGON_BENCH_LAUNCH_N")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	db := pgtest.NewDB(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f := newLaunchFixture(b, db)
		start := time.Now()
		f.contacts(b, n, 0)
		_, err := db.Exec(ctx, `ANALYZE contacts`)
		must2(b, err)
		b.Logf("fixture: %d contacts in %v", n, time.Since(start).Round(time.Millisecond))
		if os.Getenv("PREGON_BENCH_EXPLAIN") != "" {
			explainLaunch(b, db, f)
		}
		conn, err := db.Acquire(ctx)
		must2(b, err)
		var pid int
		must2(b, conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
		cpu0 := backendCPU(pid)
		b.StartTimer()
		start = time.Now()
		tx, err := conn.Begin(ctx)
		must2(b, err)
		res, err := LaunchCampaign(ctx, tx, f.args(), LaunchOptions{})
		must2(b, err)
		must2(b, insertPaceInTx(ctx, db, tx, res.SenderNumberID))
		must2(b, tx.Commit(ctx))
		took := time.Since(start)
		b.StopTimer()
		cpu := backendCPU(pid) - cpu0
		conn.Release()
		if cpu > 0 {
			b.ReportMetric(cpu.Seconds(), "backend-cpu-s/launch")
			b.Logf("the launch's Postgres backend used %v of CPU (wall time depends on the machine's load)", cpu.Round(time.Millisecond))
		}
		if res.Recipients != int64(n) {
			b.Fatalf("froze %d recipients, want %d", res.Recipients, n)
		}
		b.ReportMetric(took.Seconds(), "s/launch")
		b.ReportMetric(float64(n)/took.Seconds(), "recipients/s")
		b.Logf("launch of %d recipients: %v (in-statement %v)", n, took.Round(time.Millisecond), res.Took.Round(time.Millisecond))
		_, _ = db.Exec(ctx, `DELETE FROM recipients WHERE campaign_id = $1`, f.campaign.ID)
	}
}

// insertPaceInTx enqueues the pacer with an insert-only client, as the worker does.
func insertPaceInTx(ctx context.Context, db *pgxpool.Pool, tx pgx.Tx, numberID int64) error {
	client, err := river.NewClient(riverpgxv5.New(db), &river.Config{})
	if err != nil {
		return err
	}
	_, err = client.InsertTx(ctx, tx, PaceArgs{SenderNumberID: numberID}, nil)
	return err
}

// explainLaunch logs the plan and timings of the snapshot statement (rolled back).
func explainLaunch(b *testing.B, db *pgxpool.Pool, f *launchFixture) {
	ctx := context.Background()
	tx, err := db.Begin(ctx)
	must2(b, err)
	defer tx.Rollback(ctx)
	c, err := store.CampaignGetByID(ctx, tx, f.ws.ID, f.campaign.ID)
	must2(b, err)
	tmpl, _ := store.TemplateGetByID(ctx, tx, f.ws.ID, *c.TemplateID)
	m, _ := campaigns.ParseMapping(c.VariableMapping)
	aud, err := campaigns.AudienceFor(ctx, tx, c, CompileSegment, time.Now(), time.UTC)
	must2(b, err)
	q, args, err := SnapshotFor(c, f.ws, tmpl, m, aud, time.Now()).InsertSQL()
	must2(b, err)
	rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, WAL) "+q, args...)
	must2(b, err)
	var plan string
	for rows.Next() {
		var line string
		must2(b, rows.Scan(&line))
		plan += line + "\n"
	}
	rows.Close()
	if path := os.Getenv("PREGON_BENCH_EXPLAIN"); strings.HasSuffix(path, ".txt") {
		must2(b, os.WriteFile(path, []byte(plan), 0o644)) // the bench log truncates long plans
	}
	b.Logf("snapshot plan:\n%s", plan)
}

// backendCPU reads the user+system CPU time of a local Postgres backend from /proc (0 when the
// server is not local or /proc is unavailable): a figure independent of other processes' load.
func backendCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)        // utime, field 14
	st, _ := strconv.ParseInt(f[12], 10, 64)        // stime, field 15
	return time.Duration(ut+st) * time.Second / 100 // clock ticks (USER_HZ = 100)
}

// TestLaunchGuards: what changed between scheduling and launching, or launches running
// together, never lets a campaign send what its rules forbid.
func TestLaunchGuards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	launch := func(t *testing.T, args LaunchCampaignArgs) {
		t.Helper()
		tx, err := db.Begin(ctx)
		must2(t, err)
		defer tx.Rollback(ctx)
		if _, err := LaunchCampaign(ctx, tx, args, LaunchOptions{}); err != nil {
			t.Fatal(err)
		}
		must2(t, tx.Commit(ctx))
	}
	states := func(t *testing.T, campaignID int64) map[string]int {
		t.Helper()
		out := map[string]int{}
		rows, err := db.Query(ctx, `SELECT state || coalesce(':' || nullif(skip_reason, ''), ''), count(*) FROM recipients WHERE campaign_id = $1 GROUP BY 1`, campaignID)
		must2(t, err)
		for rows.Next() {
			var k string
			var n int
			must2(t, rows.Scan(&k, &n))
			out[k] = n
		}
		return out
	}

	t.Run("TemplateGoneRedWhileScheduledPausesAtLaunch", func(t *testing.T) {
		t.Parallel()
		f := newLaunchFixture(t, db)
		f.contacts(t, 3, 0)
		_, err := db.Exec(ctx, `UPDATE templates SET quality = 'RED' WHERE workspace_id = $1`, f.ws.ID)
		must2(t, err)
		launch(t, f.args())
		c, err := store.CampaignGetByID(ctx, db, f.ws.ID, f.campaign.ID)
		must2(t, err)
		// in words, not Meta's code (RED): the campaign's page and log show this sentence
		if c.State != store.CampaignPaused || c.PauseReason != "la calidad de la plantilla es baja" {
			t.Fatalf("campaign %s (%q), want paused for the template's quality, in words", c.State, c.PauseReason)
		}
	})

	t.Run("TemplatePausedByMetaWhileScheduledPausesAtLaunchInWords", func(t *testing.T) {
		t.Parallel()
		f := newLaunchFixture(t, db)
		f.contacts(t, 2, 0)
		_, err := db.Exec(ctx, `UPDATE templates SET status = 'PAUSED' WHERE workspace_id = $1`, f.ws.ID)
		must2(t, err)
		launch(t, f.args())
		c, err := store.CampaignGetByID(ctx, db, f.ws.ID, f.campaign.ID)
		must2(t, err)
		if c.State != store.CampaignPaused || c.PauseReason != "la plantilla no está aprobada: está pausada por Meta" {
			t.Fatalf("campaign %s (%q), want paused for the template's status, in words", c.State, c.PauseReason)
		}
	})

	t.Run("ConcurrentLaunchesShareTheFrequencyCap", func(t *testing.T) {
		t.Parallel()
		f := newLaunchFixture(t, db)
		f.contacts(t, 3, 0)
		capped := 1
		_, err := db.Exec(ctx, `UPDATE campaigns SET frequency_cap = $2, frequency_cap_days = 7 WHERE id = $1`, f.campaign.ID, capped)
		must2(t, err)
		second := f.campaign
		second.ID, second.Name = 0, "Promo 2"
		second, err = store.CampaignCreate(ctx, db, second)
		must2(t, err)
		_, err = db.Exec(ctx, `UPDATE campaigns SET frequency_cap = $2, frequency_cap_days = 7 WHERE id = $1`, second.ID, capped)
		must2(t, err)
		_, err = store.CampaignTransition(ctx, db, f.ws.ID, second.ID, store.CampaignScheduled, store.TransitionParams{Actor: store.ActorUser})
		must2(t, err)
		// The first launch holds its transaction open while the second starts.
		tx1, err := db.Begin(ctx)
		must2(t, err)
		defer tx1.Rollback(ctx)
		_, err = LaunchCampaign(ctx, tx1, f.args(), LaunchOptions{})
		must2(t, err)
		done := make(chan struct{})
		go func() {
			defer close(done)
			launch(t, LaunchCampaignArgs{WorkspaceID: f.ws.ID, CampaignID: second.ID, ScheduledAt: f.at})
		}()
		time.Sleep(300 * time.Millisecond)
		must2(t, tx1.Commit(ctx))
		<-done
		a, b := states(t, f.campaign.ID), states(t, second.ID)
		if a["pending"]+b["pending"] != 3 || b["skipped:frequency_cap"] != 3 {
			t.Fatalf("first launch %v, second %v: want each of the 3 contacts pending once", a, b)
		}
	})

	t.Run("CancelSkipsEveryoneNotSent", func(t *testing.T) {
		t.Parallel()
		f := newLaunchFixture(t, db)
		f.contacts(t, 4, 0)
		launch(t, f.args())
		_, err := store.CampaignTransition(ctx, db, f.ws.ID, f.campaign.ID, store.CampaignPaused, store.TransitionParams{Actor: store.ActorUser})
		must2(t, err)
		_, err = store.CampaignTransition(ctx, db, f.ws.ID, f.campaign.ID, store.CampaignCancelled, store.TransitionParams{Actor: store.ActorUser})
		must2(t, err)
		if got := states(t, f.campaign.ID); got["skipped:campaign_cancelled"] != 4 || len(got) != 1 {
			t.Fatalf("recipients after cancel %v, want all 4 skipped as campaign_cancelled", got)
		}
	})
}
