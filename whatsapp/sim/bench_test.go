package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

// BenchmarkClientToSimulator drives the real client against the simulator over loopback HTTP
// with many goroutines (throughput limit off, unique recipients, unlimited tier) while the
// simulator emits signed webhooks to a trivial receiver. Reports sends/s, p50/p99 send latency
// and webhook events/s.
func BenchmarkClientToSimulator(b *testing.B) {
	var hookEvents atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer hook.Close()
	s := sim.New(sim.Config{
		Seed: 1, WebhookURL: hook.URL, AppSecret: appSecret, Tokens: []string{token},
		Numbers:  []sim.Number{{PhoneNumberID: phoneID, MPS: -1, MessagingLimitTier: "TIER_UNLIMITED"}},
		Statuses: sim.StatusConfig{DeliveredProb: 0.95, ReadProb: 0.6, SentDelay: 5 * time.Millisecond, DeliveredDelay: 10 * time.Millisecond, ReadDelay: 20 * time.Millisecond},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := whatsapp.New(whatsapp.Config{BaseURL: srv.URL, Token: token})

	var seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(32) // 32 × GOMAXPROCS goroutines
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			n := seq.Add(1)
			t0 := time.Now()
			_, err := client.SendTemplate(context.Background(), phoneID, promo(fmt.Sprintf("+52155%08d", n)))
			local = append(local, time.Since(t0))
			if err != nil {
				b.Error(err)
				return
			}
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	drainCtx, drainCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer drainCancel()
	_ = s.WaitIdle(drainCtx)
	total := time.Since(start)
	cpuPerSend := (cpuTime() - cpu0) / time.Duration(max(b.N, 1))
	hookEvents.Store(int64(s.Stats().Webhooks.Events))
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sends/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(hookEvents.Load())/total.Seconds(), "webhook_events/s")
	b.ReportMetric(float64(s.Stats().Webhooks.Delivered)/total.Seconds(), "webhook_posts/s")
	// CPU (client + simulator + receiver, user+system) per send including its webhooks: the
	// machine-independent cost; 2 idle cores sustain about 2 s / cpu_us_per_send.
	b.ReportMetric(float64(cpuPerSend.Microseconds()), "cpu_us/send")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSimulatorHandler measures the send handler alone (no network, no webhook
// emission): the simulator's own cost per accepted send.
func BenchmarkSimulatorHandler(b *testing.B) {
	s := sim.New(sim.Config{Seed: 1, Tokens: []string{token},
		Numbers: []sim.Number{{PhoneNumberID: phoneID, MPS: -1, MessagingLimitTier: "TIER_UNLIMITED"}}})
	bodies := make([][]byte, 1024)
	for i := range bodies {
		bodies[i], _ = json.Marshal(whatsapp.NewTemplateRequest(promo(fmt.Sprintf("+52155%08d", i))))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", "/v23.0/"+phoneID+"/messages", bytes.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 { // 400: pair limit after 45 rounds
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
