package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pregon/pregon/whatsapp"
)

// benchWebhookWorkers is PREGON_BENCH_WEBHOOK_WORKERS (0: the default).
func benchWebhookWorkers() int { return envInt("PREGON_BENCH_WEBHOOK_WORKERS", 0) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkWebhookIngest is the sustained-ingestion benchmark: an open-loop Go load generator
// posts signed status webhooks (PREGON_BENCH_WEBHOOK_BATCH statuses each) on loopback at
// PREGON_BENCH_WEBHOOK_RATE status events/s for PREGON_BENCH_WEBHOOK_SECONDS, from
// PREGON_BENCH_WEBHOOK_CONCURRENCY connections, while River workers process them. Latency is
// measured from each request's scheduled time (no coordinated omission). It reports accepted
// events/s, p50/p99/max acknowledgement latency, the largest backlog of unprocessed bodies, how
// long the backlog took to drain after the load stopped, how many events/s were processed
// during the load, and checks that every event reached status_events and every recipient its
// final state (zero loss). PREGON_BENCH_WEBHOOK_DEFERRED=1 starts the workers only once every
// body is stored, to measure processing alone (events/s of the drain);
// PREGON_BENCH_WEBHOOK_WORKERS sets the webhook workers (default: jobs.NewClient's).
//
//	go test ./api -run '^$' -bench BenchmarkWebhookIngest -benchtime 1x -v
func BenchmarkWebhookIngest(b *testing.B) {
	rate := envInt("PREGON_BENCH_WEBHOOK_RATE", 6000)
	seconds := envInt("PREGON_BENCH_WEBHOOK_SECONDS", 20)
	batch := envInt("PREGON_BENCH_WEBHOOK_BATCH", 10)
	conc := envInt("PREGON_BENCH_WEBHOOK_CONCURRENCY", 64)
	for i := 0; i < b.N; i++ {
		benchWebhookIngest(b, rate, seconds, batch, conc)
	}
}

func benchWebhookIngest(b *testing.B, rate, seconds, batch, conc int) {
	b.StopTimer()
	ctx := context.Background()
	env := newWebhookEnv(b)
	total := rate * seconds
	total -= total % (3 * batch)
	msgs := total / 3
	var campaign int64
	if err := env.db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, sender_number_id, state) VALUES ($1, 'bench', $2, 'running') RETURNING id`, env.wsA.ID, env.numA).Scan(&campaign); err != nil {
		b.Fatal(err)
	}
	if _, err := env.db.Exec(ctx, `INSERT INTO contacts (workspace_id, phone_e164) SELECT $1, '+5730' || lpad(i::text, 8, '0') FROM generate_series(1, $2) i`, env.wsA.ID, msgs); err != nil {
		b.Fatal(err)
	}
	if _, err := env.db.Exec(ctx, `INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, sending_at)
		SELECT workspace_id, $2, id, phone_e164, 'sending', 'wamid.bench.' || id, now() FROM contacts WHERE workspace_id = $1`, env.wsA.ID, campaign); err != nil {
		b.Fatal(err)
	}
	var firstID int64
	env.db.QueryRow(ctx, `SELECT min(id) FROM contacts WHERE workspace_id = $1`, env.wsA.ID).Scan(&firstID)

	// Bodies: event j is message j % msgs, status j / msgs (all sent, then delivered, then read),
	// so every body touches `batch` different recipients, as a campaign in flight does. Each
	// status names its recipient's BSUID (recipient_user_id), as Meta's do since usernames: the
	// first teaches the contact its BSUID, the others find it known.
	statuses := []string{"sent", "delivered", "read"}
	bodies := make([][]byte, 0, total/batch)
	t0 := time.Now().Unix()
	for j := 0; j < total; j += batch {
		var sb strings.Builder
		fmt.Fprintf(&sb, `{"object":"whatsapp_business_account","entry":[{"id":"%s","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"5215550783881","phone_number_id":"%s"},"statuses":[`, wabaA, pnidA)
		for k := j; k < j+batch; k++ {
			if k > j {
				sb.WriteByte(',')
			}
			m, st := k%msgs, k/msgs
			fmt.Fprintf(&sb, `{"id":"wamid.bench.%d","status":"%s","timestamp":"%d","recipient_id":"5730%08d","recipient_user_id":"CO.%016d","pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"marketing"}}`,
				firstID+int64(m), statuses[st], t0+int64(st), m, 4400000000000000+m)
		}
		sb.WriteString(`]}}]}]}`)
		bodies = append(bodies, []byte(sb.String()))
	}
	sigs := make([]string, len(bodies))
	for i, body := range bodies {
		sigs[i] = whatsapp.Sign(body, []byte(secretA))
	}

	// The endpoint gets its own pool, as an API process does: the workers' pool (20
	// connections, busy with batches) must not make acknowledgements wait for a connection.
	apiCfg := env.db.Config().Copy()
	apiCfg.MaxConns = int32(envInt("PREGON_BENCH_WEBHOOK_API_CONNS", 10))
	apiPool, err := pgxpool.NewWithConfig(ctx, apiCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer apiPool.Close()
	env.srv.db = apiPool
	// The benchmark's own queries (backlog samples, drain checks) use a pool of their own,
	// left out of the CPU figures.
	monCfg := env.db.Config().Copy()
	monCfg.MaxConns = 2
	monCfg.ConnConfig.RuntimeParams["application_name"] = benchMonitorApp
	mon, err := pgxpool.NewWithConfig(ctx, monCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer mon.Close()
	noWorkers := os.Getenv("PREGON_BENCH_WEBHOOK_NO_WORKERS") != ""
	deferred := os.Getenv("PREGON_BENCH_WEBHOOK_DEFERRED") != ""
	if !noWorkers && !deferred {
		env.startWorkers(b)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, MaxConnsPerHost: conc}, Timeout: 30 * time.Second}
	url := env.http.URL + WebhookPath
	warmUp(b, client, url, apiPool, conc)

	// Backlog sampler.
	var maxBacklog atomic.Int64
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tk := time.NewTicker(250 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tk.C:
				var n int64
				mon.QueryRow(ctx, `SELECT count(*) FROM webhook_inbox WHERE status = 'pending'`).Scan(&n)
				if n > maxBacklog.Load() {
					maxBacklog.Store(n)
				}
			}
		}
	}()

	type job struct {
		i     int
		sched time.Time
	}
	jobsCh := make(chan job, len(bodies))
	lat := make([]time.Duration, len(bodies))
	var failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for jb := range jobsCh {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[jb.i]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(whatsapp.SignatureHeader, sigs[jb.i])
				res, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", res.StatusCode)
					}
				}
				lat[jb.i] = time.Since(jb.sched)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	bodyRate := float64(rate) / float64(batch)
	pgCPU0, goCPU0 := backendCPU(b, mon), processCPU()
	b.StartTimer()
	start := time.Now()
	for i := range bodies {
		sched := start.Add(time.Duration(float64(i) / bodyRate * float64(time.Second)))
		if d := time.Until(sched); d > 0 {
			time.Sleep(d)
		}
		jobsCh <- job{i, sched}
	}
	close(jobsCh)
	wg.Wait()
	sendDur := time.Since(start)
	var doneDuringLoad int64
	mon.QueryRow(ctx, `SELECT count(*) FROM webhook_inbox WHERE status <> 'pending'`).Scan(&doneDuringLoad)
	// Drain: processing must catch up.
	drainStart := time.Now()
	if deferred {
		env.startWorkers(b)
	}
	deadline := drainStart.Add(5 * time.Minute)
	for !noWorkers {
		var n int64
		mon.QueryRow(ctx, `SELECT count(*) FROM webhook_inbox WHERE status = 'pending'`).Scan(&n)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d bodies still pending 5 min after the load", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	drain := time.Since(drainStart)
	b.StopTimer()
	pgCPU := cpuSince(pgCPU0, backendCPU(b, mon))
	goCPU := processCPU() - goCPU0
	close(stopSampling)
	sampler.Wait()

	if n := failures.Load(); n > 0 {
		b.Fatalf("%d requests failed (first: %v)", n, firstErr.Load())
	}
	var stored, read int
	env.db.QueryRow(ctx, `SELECT count(*) FROM status_events`).Scan(&stored)
	env.db.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE campaign_id = $1 AND state = 'read'`, campaign).Scan(&read)
	if !noWorkers && (stored != total || read != msgs) {
		b.Fatalf("loss: %d of %d status events stored, %d of %d recipients read", stored, total, read, msgs)
	}
	if os.Getenv("PREGON_BENCH_WEBHOOK_PER_SECOND") != "" {
		per := map[int][]time.Duration{}
		for i, l := range lat {
			sec := int(float64(i) / bodyRate)
			per[sec] = append(per[sec], l)
		}
		for sec := 0; sec < len(per); sec++ {
			ls := per[sec]
			slices.Sort(ls)
			b.Logf("second %d: p50 %v p99 %v max %v", sec, ls[len(ls)/2], ls[len(ls)*99/100], ls[len(ls)-1])
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	accepted := float64(total) / sendDur.Seconds()
	b.ReportMetric(accepted, "events/s")
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
	b.ReportMetric(float64(maxBacklog.Load()), "max_backlog_bodies")
	b.ReportMetric(drain.Seconds(), "drain_s")
	processing := float64(doneDuringLoad*int64(batch)) / sendDur.Seconds()
	if deferred {
		processing = float64(total) / drain.Seconds()
	}
	b.ReportMetric(processing, "processed_events/s")
	b.ReportMetric(pgCPU.Seconds()*1e6/float64(total), "pg_cpu_us/event")
	b.ReportMetric(goCPU.Seconds()*1e6/float64(total), "go_cpu_us/event")
	b.Logf("%d status events in %d bodies of %d over %.1fs: %.0f events/s accepted (target %d); ack p50 %v p99 %v max %v; %.0f events/s processed (%s); backlog max %d bodies; drained %v after the load; zero loss (%d events stored, %d recipients read)",
		total, len(bodies), batch, sendDur.Seconds(), accepted, rate, pct(0.5), pct(0.99), lat[len(lat)-1],
		processing, map[bool]string{false: "during the load", true: "after it, workers started once every body was stored"}[deferred],
		maxBacklog.Load(), drain.Round(time.Millisecond), stored, read)
	b.Logf("CPU (load-independent): Postgres backends of the test database %.1f s, this Go process (endpoint, workers and load generator) %.1f s: %.0f + %.0f µs per event",
		pgCPU.Seconds(), goCPU.Seconds(), pgCPU.Seconds()*1e6/float64(total), goCPU.Seconds()*1e6/float64(total))
}

// benchMonitorApp names the connections of the benchmark's own queries.
const benchMonitorApp = "pregon-bench-monitor"

// backendCPU is the CPU time used so far by each Postgres backend connected to the
// benchmark's database but its own monitoring connections (from /proc; the test server runs on
// this machine), by pid.
func backendCPU(b *testing.B, db *pgxpool.Pool) map[int]time.Duration {
	b.Helper()
	rows, err := db.Query(context.Background(), `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND application_name <> $1`, benchMonitorApp)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	out := map[int]time.Duration{}
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // not on this machine, or gone
		}
		// Fields after the command name (which is in parentheses): utime and stime are the
		// 12th and 13th, in clock ticks (100 a second on Linux).
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[int(pid)] = time.Duration(ut+st) * 10 * time.Millisecond
	}
	return out
}

// cpuSince is the CPU the backends used between two backendCPU readings (a backend that
// appeared in between counts from zero).
func cpuSince(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range after {
		d += t - before[pid]
	}
	return d
}

// processCPU is the CPU time (user + system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// warmUp opens the load generator's connections (each posts one body with a wrong signature,
// answered 401 without a write) and the endpoint's database connections, and gives the workers
// a second to start, so the figures are those of a server already running when Meta's traffic
// arrives, not of its first connections.
func warmUp(b *testing.B, client *http.Client, url string, pool *pgxpool.Pool, conc int) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"object":"whatsapp_business_account","entry":[]}`))
			req.Header.Set(whatsapp.SignatureHeader, "sha256=00")
			if res, err := client.Do(req); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	conns := make([]*pgxpool.Conn, 0, pool.Config().MaxConns)
	for range pool.Config().MaxConns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	wg.Wait()
	time.Sleep(time.Second)
}
