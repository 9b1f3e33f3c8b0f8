package jobs_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp/sim"
)

// TestChaos runs a campaign through real `pregon worker` processes and SIGKILLs them again and
// again; in the end every recipient is sent exactly once or marked unknown, and the simulator
// (a real HTTP server the workers reach through PREGON_SIMULATOR_URL) never received anyone
// twice. Slow (a couple of minutes): it runs with PREGON_CHAOS=1 (make chaos). Sizes:
// PREGON_CHAOS_RECIPIENTS (default 20000), PREGON_CHAOS_WORKERS (3), PREGON_CHAOS_KILLS (10),
// PREGON_CHAOS_MPS (500).
func TestChaos(t *testing.T) {
	if os.Getenv("PREGON_CHAOS") == "" {
		t.Skip("set PREGON_CHAOS=1 to kill real worker processes (make chaos)")
	}
	env := func(name string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
			return v
		}
		return def
	}
	recipients, workers, kills, mps := env("PREGON_CHAOS_RECIPIENTS", 20000), env("PREGON_CHAOS_WORKERS", 3), env("PREGON_CHAOS_KILLS", 10), env("PREGON_CHAOS_MPS", 500)
	ctx := context.Background()

	// The binary, built as `make build` does.
	dir := t.TempDir()
	bin := filepath.Join(dir, "pregon")
	_, file, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", bin, "./cmd/pregon")
	build.Dir = filepath.Join(filepath.Dir(file), "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building pregon: %v\n%s", err, out)
	}

	s := sim.New(sim.Config{
		Numbers: []sim.Number{{PhoneNumberID: simPhoneID, WABAID: simWABA, MPS: mps, ThroughputLevel: "HIGH",
			MessagingLimitTier: "TIER_UNLIMITED"}},
		Templates: simTemplates(),
	})
	srv := httptest.NewServer(s)
	defer srv.Close()

	dbURL := pgtest.NewDBURL(t)
	pool, err := pgxpool.New(ctx, dbURL)
	must(t, err)
	defer pool.Close()
	b := &bundle{pool: pool, sim: s, simURL: srv.URL}
	b.ws, err = store.WorkspaceCreate(ctx, pool, store.WorkspaceCreateParams{Name: "chaos", MessagingLimit: -1})
	must(t, err)
	var numberID int64
	// The number's health check reads Meta's throughput level (HIGH: 1,000 mps); the owner's
	// cap keeps Pregón at mps, the simulator's own limit.
	must(t, pool.QueryRow(ctx, `INSERT INTO sender_numbers (workspace_id, phone_number_id, waba_id, throughput_mps, throughput_cap, use_simulator)
		VALUES ($1, $2, $3, 1000, $4, true) RETURNING id`, b.ws.ID, simPhoneID, simWABA, mps).Scan(&numberID))
	b.number, err = store.SenderNumberGetByID(ctx, pool, b.ws.ID, numberID)
	must(t, err)
	must(t, pool.QueryRow(ctx, `INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status)
		VALUES ($1, $2, 'm1', 'hola', 'es', 'MARKETING', 'APPROVED') RETURNING id`, b.ws.ID, simWABA).Scan(&b.tmplID))
	c := b.campaign(t, "caos", recipients, "")
	inserter, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	must(t, err)
	_, err = inserter.Insert(ctx, jobs.PaceArgs{SenderNumberID: numberID}, nil)
	must(t, err)

	procEnv := append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"PREGON_SIMULATOR=auto",
		"PREGON_SIMULATOR_URL="+srv.URL,
		"PREGON_SECRET_KEY="+strings.Repeat("ab", 32),
		"PREGON_DATA_DIR="+dir,
		"PREGON_MIGRATE=false",
		"PREGON_LOG_LEVEL=warn",
		"PREGON_SEND_WORKERS=200",
	)
	logf, err := os.Create(filepath.Join(os.TempDir(), "pregon-chaos-workers.log"))
	must(t, err)
	defer logf.Close()
	startWorker := func() *exec.Cmd {
		cmd := exec.Command(bin, "worker")
		cmd.Env = procEnv
		cmd.Stdout, cmd.Stderr = logf, logf
		must(t, cmd.Start())
		return cmd
	}
	procs := make([]*exec.Cmd, workers)
	for i := range procs {
		procs[i] = startWorker()
	}
	defer func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}()

	rng := rand.New(rand.NewPCG(1, 2))
	started := time.Now()
	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(1500+rng.IntN(2500)) * time.Millisecond)
		i := rng.IntN(len(procs))
		procs[i].Process.Signal(syscall.SIGKILL)
		procs[i].Wait()
		procs[i] = startWorker()
		t.Logf("%5.1fs kill %d of worker %d: accepted so far %d", time.Since(started).Seconds(), k+1, i, s.AcceptedTotal())
	}
	deadline := time.Duration(recipients/mps)*time.Second*3 + 3*time.Minute
	waitFor(t, deadline, "the campaign to complete", func() bool { return b.campaignState(t, c).State == store.CampaignCompleted })
	t.Logf("completed after %s", time.Since(started).Round(time.Second))

	counts := b.counts(t, c)
	t.Logf("recipients by state: %v; simulator accepted %d, max per second %d (throughput %d)", counts, s.AcceptedTotal(), s.MaxPerSecond(), mps)
	if counts["pending"]+counts["queued"]+counts["sending"] != 0 {
		t.Fatalf("unfinished recipients: %v", counts)
	}
	st := s.Stats()
	for to, n := range st.PerRecipient {
		if n > 1 {
			t.Errorf("recipient +%s received %d messages", to, n)
		}
	}
	// Every recipient marked sent was accepted exactly once; unknown ones at most once.
	rows, err := pool.Query(ctx, `SELECT phone_e164, state FROM recipients WHERE campaign_id = $1`, c)
	must(t, err)
	var sent, unknown, unknownDelivered int
	for rows.Next() {
		var phone, state string
		must(t, rows.Scan(&phone, &state))
		n := st.PerRecipient[strings.TrimPrefix(phone, "+")]
		switch state {
		case "sent", "delivered", "read":
			sent++
			if n != 1 {
				t.Errorf("%s is %s but the simulator accepted it %d times", phone, state, n)
			}
		case "unknown":
			unknown++
			unknownDelivered += n
		default:
			t.Errorf("%s ended %s", phone, state)
		}
	}
	must(t, rows.Err())
	if sent+unknown != recipients {
		t.Errorf("sent %d + unknown %d != %d recipients", sent, unknown, recipients)
	}
	// Pacing is checked strictly in TestSending; here three processes restart every few seconds
	// on a 2-core machine and the simulator shares the CPU, so arrival jitter of a few tens of
	// milliseconds is tolerated (5 %).
	if st.MaxPerSecond > mps*105/100 {
		t.Errorf("max sends in a 1-s window %d > throughput %d (+5 %%)", st.MaxPerSecond, mps)
	}
	t.Logf("sent %d, unknown %d (of which the simulator had accepted %d)", sent, unknown, unknownDelivered)
	fmt.Fprintln(os.Stderr, "worker log:", logf.Name())
}
