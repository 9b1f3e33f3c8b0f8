package jobs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp/sim"
)

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// webhookSink is a trivial webhook receiver: it answers 200 and counts.
func webhookSink(b *testing.B) (string, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(srv.Close)
	return srv.URL, &n
}

// BenchmarkSendRate sends at a 1,000 msg/s throughput (PREGON_BENCH_MPS) for 60 s
// (PREGON_BENCH_SECONDS) against the simulator, whose status webhooks flow to a 200 receiver,
// and reports the achieved rate over the steady window and the busiest 1-s window.
//
//	go test ./jobs -run '^$' -bench BenchmarkSendRate -benchtime 1x -timeout 30m
func BenchmarkSendRate(b *testing.B) {
	mps := benchEnv("PREGON_BENCH_MPS", 1000)
	seconds := benchEnv("PREGON_BENCH_SECONDS", 60)
	for range b.N {
		runSendBench(b, mps, seconds, false)
	}
}

// BenchmarkSendRateUnlimited removes the limit: the simulator accepts any rate and the number
// is paced at PREGON_BENCH_MAX_MPS (default 3,000, above what this machine can do); it reports
// the rate actually achieved over PREGON_BENCH_SECONDS (default 30).
//
//	go test ./jobs -run '^$' -bench BenchmarkSendRateUnlimited -benchtime 1x -timeout 30m
func BenchmarkSendRateUnlimited(b *testing.B) {
	mps := benchEnv("PREGON_BENCH_MAX_MPS", 3000)
	seconds := benchEnv("PREGON_BENCH_SECONDS", 30)
	for range b.N {
		runSendBench(b, mps, seconds, true)
	}
}

func runSendBench(b *testing.B, mps, seconds int, unlimited bool) {
	ctx := context.Background()
	hookURL, hooks := webhookSink(b)
	opts := setupOpts{mps: mps, simConfig: func(c *sim.Config) {
		c.WebhookURL = hookURL
		c.Numbers[0].ThroughputLevel = "HIGH"
		if unlimited {
			c.Numbers[0].MPS = -1
		}
	}}
	if ca := benchEnv("PREGON_BENCH_CLAIM_AHEAD_MS", 0); ca > 0 {
		opts.pacing.ClaimAhead = time.Duration(ca) * time.Millisecond
	}
	if lead := benchEnv("PREGON_BENCH_LEAD_MS", 0); lead > 0 {
		opts.pacing.Lead = time.Duration(lead) * time.Millisecond
	}
	if v := benchEnv("PREGON_BENCH_CLAIM_EVERY_US", 0); v > 0 {
		opts.pacing.ClaimEvery = time.Duration(v) * time.Microsecond
	}
	if v := benchEnv("PREGON_BENCH_CLAIM_CONCURRENCY", 0); v > 0 {
		opts.pacing.ClaimConcurrency = v
	}
	if v := benchEnv("PREGON_BENCH_GRACE_MS", 0); v > 0 {
		opts.pacing.Grace = time.Duration(v) * time.Millisecond
	}
	if v := benchEnv("PREGON_BENCH_BATCH_MS", 0); v > 0 {
		opts.pacing.BatchSpan = time.Duration(v) * time.Millisecond
	}
	bd := setup(b, opts)
	simCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	bd.sim.Start(simCtx)
	n := mps*seconds + mps*8
	c := bd.campaign(b, "bench", n, "")
	b.ResetTimer()
	client := bd.startWith(b, benchEnv("PREGON_BENCH_SEND_WORKERS", 1000), time.Duration(benchEnv("PREGON_BENCH_POLL_MS", 50))*time.Millisecond)
	bd.kick(b, client)

	// Steady state: skip the first 3 s (River and the pacer warm up), then measure.
	waitFor(b, 30*time.Second, "the first sends", func() bool { return bd.sim.AcceptedTotal() > 0 })
	time.Sleep(3 * time.Second)
	a0, t0 := bd.sim.AcceptedTotal(), time.Now()
	time.Sleep(time.Duration(seconds) * time.Second)
	a1, t1 := bd.sim.AcceptedTotal(), time.Now()
	rate := float64(a1-a0) / t1.Sub(t0).Seconds()
	st := bd.sim.Stats()
	b.ReportMetric(rate, "msg/s")
	b.ReportMetric(100*rate/float64(mps), "%-of-throughput")
	b.ReportMetric(float64(st.MaxPerSecond), "max-1s-window")
	counts, err := store.CampaignCounts(ctx, bd.pool, bd.ws.ID, c)
	must(b, err)
	p, _ := store.NumberPacingGet(ctx, bd.pool, bd.ws.ID, bd.number.ID)
	b.Logf("throughput %d: %.1f msg/s over %s (%.1f %%), busiest 1-s window %d, 130429 rejections %d, webhooks POSTed %d (received %d), recipients %v, pacer released %d",
		mps, rate, t1.Sub(t0).Round(time.Millisecond), 100*rate/float64(mps), st.MaxPerSecond, st.RejectedByCode[130429],
		st.Webhooks.Delivered, hooks.Load(), counts, p.Released)
	if !unlimited && st.MaxPerSecond > mps {
		b.Errorf("busiest 1-s window %d > throughput %d", st.MaxPerSecond, mps)
	}
	_ = jobs.QueueSend
}
