package api

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/reports/reportstest"
	"github.com/pregon/pregon/store"
)

// BenchmarkCampaignReportEndpoint measures GET /campaigns/:id/report on a generated campaign
// (PREGON_BENCH_RECIPIENTS, default 1,000,000 recipients with ~2.6 status events each):
//
//	PREGON_BENCH_RECIPIENTS=1000000 go test ./api/ -run '^$' -bench CampaignReportEndpoint -benchtime 50x -timeout 60m
//
// It reports the first request (live counts; aggregation starts in the background), the
// background aggregation time, the latency of cached requests (p50, p95,
// max), and of requests served while a background refresh recomputes a stale report.
func BenchmarkCampaignReportEndpoint(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("PREGON_BENCH_RECIPIENTS")); err == nil && v > 0 {
		n = v
	}
	// Go runs a benchmark with b.N = 1 before the real run: build the fixture once.
	if benchReport.env == nil {
		env := newTestEnv(&benchTB{b})
		ctx := context.Background()
		start := time.Now()
		cid, err := reportstest.Campaign(ctx, env.db, env.wsA.ID, n)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range []string{"recipients", "status_events", "contacts", "campaign_counters"} {
			if _, err := env.db.Exec(ctx, `VACUUM ANALYZE `+t); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("fixture: %d recipients in %.1fs", n, time.Since(start).Seconds())
		benchReport.env, benchReport.cid = env, cid
	}
	env, cid, ctx := benchReport.env, benchReport.cid, context.Background()
	env.t = b
	path := fmt.Sprintf("/api/v1/campaigns/%d/report", cid)
	get := func() (time.Duration, reports.CampaignReport) {
		t0 := time.Now()
		r := env.as(store.RoleAnalyst).do(http.MethodGet, path, nil).expect(b, http.StatusOK)
		d := time.Since(t0)
		var rep reports.CampaignReport
		r.JSON(b, &rep)
		return d, rep
	}
	if benchReport.cold == 0 {
		// The first request answers with the live counts and starts the aggregation in the
		// background; poll until the report is complete.
		first, rep := get()
		if !rep.Computing || rep.States["read"] == 0 {
			b.Fatalf("first request: computing=%v states=%v", rep.Computing, rep.States)
		}
		t0 := time.Now()
		for rep.Stale && time.Since(t0) < 10*time.Minute {
			time.Sleep(200 * time.Millisecond)
			_, rep = get()
		}
		if rep.Funnel.Audience != int64(n) {
			b.Fatalf("audience %d", rep.Funnel.Audience)
		}
		b.Logf("first request %v (live counts, computing); background aggregation %d ms (ready after %.1fs)",
			first, rep.ComputeMS, time.Since(t0).Seconds())
		benchReport.first, benchReport.cold = first, time.Duration(rep.ComputeMS)*time.Millisecond
	}
	cold := benchReport.cold

	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		d, _ := get()
		lat = append(lat, d)
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(cold.Milliseconds()), "aggregate-ms")
	b.ReportMetric(float64(benchReport.first.Microseconds())/1000, "first-ms")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(pct(1), "max-ms")

	// A new status event makes the cache stale: requests keep being served from it while one
	// background refresh recomputes.
	benchReport.runs++
	if _, err := env.db.Exec(ctx, `INSERT INTO status_events (workspace_id, wamid, status, occurred_at) VALUES ($1, $2, 'played', now())`,
		env.wsA.ID, fmt.Sprintf("wamid.%d.%d", cid, 100+benchReport.runs)); err != nil {
		b.Fatal(err)
	}
	var stale []time.Duration
	t0 := time.Now()
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); {
		d, rep := get()
		stale = append(stale, d)
		if !rep.Stale {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	slices.Sort(stale)
	b.ReportMetric(float64(stale[len(stale)-1].Microseconds())/1000, "during-refresh-max-ms")
	b.Logf("%d recipients: first request %v, aggregation %v; cached p50 %.1f ms p95 %.1f ms max %.1f ms over %d requests; "+
		"while refreshing (%.1fs): %d requests, max %v",
		n, benchReport.first, cold, pct(0.5), pct(0.95), pct(1), len(lat), time.Since(t0).Seconds(), len(stale), stale[len(stale)-1])
}

var benchReport struct {
	env   *testEnv
	cid   int64
	first time.Duration
	cold  time.Duration
	runs  int
}

// benchTB keeps the fixture's database alive across the benchmark's runs (its cleanups never run;
// the test cluster is throwaway).
type benchTB struct{ testing.TB }

func (benchTB) Cleanup(func()) {}
