package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/pregon/pregon/internal/pgembed"
	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/migrations"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

// TestCrashSafety (issue #6) runs a 20,000-recipient campaign at 1,000 msg/s through 1 API
// process (`serve --no-workers`, receiving the simulator's status webhooks) and 3 real `pregon
// worker` processes, SIGKILLs workers a few times and restarts them. In the end every recipient
// was sent exactly once or is unknown and never reached Meta, none twice — the simulator's
// per-recipient counts prove it — sends whose outcome a kill lost are settled by their status
// webhooks, no status the API accepted is missing, and the counters equal a recount. About a
// minute on an idle 2-core machine; PREGON_CRASH_RECIPIENTS, PREGON_CRASH_MPS and
// PREGON_CRASH_KILLS change the sizes.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four processes for about a minute")
	}
	runChaos(t, chaosOpts{
		recipients: envInt("PREGON_CRASH_RECIPIENTS", 20000),
		workers:    3,
		mps:        envInt("PREGON_CRASH_MPS", 1000),
		maxKills:   envInt("PREGON_CRASH_KILLS", 4),
		firstKill:  2 * time.Second,
		killEvery:  [2]time.Duration{1500 * time.Millisecond, 3 * time.Second},
		// The suite runs other packages meanwhile: what must hold is progress, not speed.
		deadline: 10 * time.Minute,
		stall:    90 * time.Second,
	})
}

// TestChaos is issue #10's chaos run (make chaos; PREGON_CHAOS=1): a private Postgres cluster,
// 100,000 recipients, 1 API process and 3 worker processes, the simulator injecting 5xx answers,
// timeouts (requests that never get processed, and accepted sends whose answer is lost) and
// 130429 storms, workers SIGKILLed every few seconds and restarted, Postgres restarted once
// mid-campaign. At the end it checks that every recipient was sent exactly once or is unknown
// and never reached Meta (sends that did are settled by their status webhooks), that every
// status webhook the API accepted is in status_events and applied, that every recipient's state
// is the one its statuses give, and that the campaign counters equal a recount; then prints the
// figures. Sizes: PREGON_CHAOS_RECIPIENTS (100000), PREGON_CHAOS_WORKERS (3), PREGON_CHAOS_MPS
// (the number's throughput cap, 1000), PREGON_CHAOS_KILLS (0: one every 3–10 s until 97 % of
// the sends are done).
func TestChaos(t *testing.T) {
	if os.Getenv("PREGON_CHAOS") == "" {
		t.Skip("set PREGON_CHAOS=1 for the chaos run (make chaos)")
	}
	runChaos(t, chaosOpts{
		recipients:     envInt("PREGON_CHAOS_RECIPIENTS", 100000),
		workers:        envInt("PREGON_CHAOS_WORKERS", 3),
		mps:            envInt("PREGON_CHAOS_MPS", 1000),
		maxKills:       envInt("PREGON_CHAOS_KILLS", 0),
		firstKill:      3 * time.Second,
		killEvery:      [2]time.Duration{3 * time.Second, 10 * time.Second},
		privateCluster: true,
		restartPG:      true,
		faults: sim.Faults{ServerErrorRate: 0.01, SlowRate: 0.002, LostResponseRate: 0.002,
			SlowDelay: 20 * time.Second}, // beyond the send job's 15 s timeout
		stormEvery: 20 * time.Second,
		stormFor:   2 * time.Second,
		deadline:   45 * time.Minute,
	})
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

type chaosOpts struct {
	recipients, workers, mps int
	maxKills                 int              // 0: keep killing until the sends are done
	firstKill                time.Duration    // after the campaign starts
	killEvery                [2]time.Duration // random interval between kills
	privateCluster           bool             // a pgembed cluster of its own (restartable)
	restartPG                bool             // restart Postgres once, at 40 % of the sends
	faults                   sim.Faults       // steady fault injection
	stormEvery, stormFor     time.Duration    // 130429 storms (0: none)
	deadline                 time.Duration
	stall                    time.Duration // fail when nothing is accepted for this long (0: 2 min)
}

// chaosProc is one pregon process the test runs, kills and restarts.
type chaosProc struct {
	args   []string
	cmd    *exec.Cmd
	done   chan struct{}
	killed bool
	log    string
}

// webhookRecorder wraps the simulator's webhook client: it remembers every status of a batch
// the API answered 2xx, so the test can check that none was lost.
type webhookRecorder struct {
	next http.RoundTripper

	mu        sync.Mutex
	statuses  map[string]int   // wamid|status → times delivered
	wamids    map[int64]string // recipient id (callback data) → wamid
	posts     int
	delivered int // status events in 2xx batches (duplicates included)
}

func (w *webhookRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	res, err := w.next.RoundTrip(req)
	if err != nil || res.StatusCode < 200 || res.StatusCode > 299 {
		return res, err
	}
	var env whatsapp.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return res, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.posts++
	for _, en := range env.Entry {
		for _, ch := range en.Changes {
			if ch.Messages == nil {
				continue
			}
			for _, st := range ch.Messages.Statuses {
				w.delivered++
				w.statuses[st.ID+"|"+st.Status]++
				if _, r, ok := parseCallback(st.BizOpaqueCallbackData); ok {
					w.wamids[r] = st.ID
				}
			}
		}
	}
	return res, nil
}

// parseCallback reads store.CallbackData's "pregon:c=<campaign>;r=<recipient>".
func parseCallback(s string) (campaign, recipient int64, ok bool) {
	rest, found := strings.CutPrefix(s, "pregon:c=")
	if !found {
		return 0, 0, false
	}
	c, r, found := strings.Cut(rest, ";r=")
	if !found {
		return 0, 0, false
	}
	var err1, err2 error
	campaign, err1 = strconv.ParseInt(c, 10, 64)
	recipient, err2 = strconv.ParseInt(r, 10, 64)
	return campaign, recipient, err1 == nil && err2 == nil
}

// rankState is the recipient state of the highest status rank applied (pregon_status_rank; 0:
// none yet, the send's own answer made it sent).
var rankState = map[int]string{0: "sent", 1: "sent", 2: "delivered", 3: "read", 4: "failed"}

func runChaos(t *testing.T, o chaosOpts) {
	ctx := context.Background()
	bin := buildBinary(t)
	logDir, err := os.MkdirTemp("", "pregon-chaos-logs-")
	if err != nil {
		t.Fatal(err)
	}

	// The database: the shared test cluster, or a private one that can be restarted.
	var cluster *pgembed.Cluster
	var dbURL string
	if o.privateCluster {
		// Not t.TempDir: as root, Postgres runs as an unprivileged user who must reach it.
		dir, err := os.MkdirTemp("", "pregon-chaos-pg-")
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0o755)
		t.Cleanup(func() { os.RemoveAll(dir) })
		startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		cluster, err = pgembed.Start(startCtx, pgembed.Config{Dir: dir, Options: []string{
			"fsync=off", "synchronous_commit=off", "full_page_writes=off",
			"max_connections=600", "shared_buffers=256MB",
		}})
		cancel()
		if err != nil {
			t.Fatalf("starting the chaos run's own Postgres: %v", err)
		}
		t.Cleanup(func() { cluster.Stop() })
		dbURL = cluster.URL("pregon")
	} else {
		dbURL = pgtest.NewDBURL(t)
	}
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.MaxConns = 8
	db, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if o.privateCluster {
		if err := migrations.Up(ctx, db); err != nil {
			t.Fatal(err)
		}
	}

	// The simulator, in this process: the workers send to it, it posts signed status webhooks
	// to the API process.
	keyBytes := bytes.Repeat([]byte{7}, 32)
	appSecret, simToken := SimulatorSecrets(keyBytes)
	apiAddr := freeAddr(t)
	rec := &webhookRecorder{next: whatsapp.NewTransport(), statuses: map[string]int{}, wamids: map[int64]string{}}
	s := sim.New(sim.Config{
		Seed:       1,
		WebhookURL: "http://" + apiAddr + "/webhooks/whatsapp",
		AppSecret:  appSecret,
		Tokens:     []string{simToken},
		Numbers: []sim.Number{{PhoneNumberID: sim.DefaultPhoneNumberID, WABAID: sim.DefaultWABAID, MPS: o.mps,
			ThroughputLevel: "HIGH", MessagingLimitTier: "TIER_UNLIMITED"}},
		Templates: []sim.Template{{WABAID: sim.DefaultWABAID, Template: whatsapp.Template{
			ID: "m1", Name: "hola", Language: "es", Status: "APPROVED", Category: "MARKETING", ParameterFormat: "POSITIONAL",
			Components: []whatsapp.TemplateComponent{{Type: "BODY", Text: "Hola, tenemos novedades."}},
		}}},
		Statuses: sim.StatusConfig{DeliveredProb: 0.9, ReadProb: 0.5},
		Faults:   o.faults,
		// A Postgres restart makes the API answer 5xx for a while: the simulator keeps retrying
		// (by age, as Meta does); gaps of at most 5 s keep the run short.
		Webhooks: sim.WebhookConfig{MaxRetryGap: 5 * time.Second, HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: rec}},
	})
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	s.Start(simCtx)
	srv := httptest.NewServer(s)
	defer srv.Close()

	// The workspace, the simulated number (the health check reads Meta's HIGH level, 1,000 mps;
	// the owner's cap keeps Pregón at o.mps, the simulator's own limit), the template, and a
	// running campaign with its recipients, as a launch leaves them.
	ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "caos", MessagingLimit: -1, Settings: store.NoQuietHours})
	if err != nil {
		t.Fatal(err)
	}
	var numberID, templateID, campaignID int64
	must(t, db.QueryRow(ctx, `INSERT INTO sender_numbers (workspace_id, phone_number_id, waba_id, throughput_mps, throughput_cap, use_simulator)
		VALUES ($1, $2, $3, 1000, $4, true) RETURNING id`, ws.ID, sim.DefaultPhoneNumberID, sim.DefaultWABAID, o.mps).Scan(&numberID))
	must(t, db.QueryRow(ctx, `INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status)
		VALUES ($1, $2, 'm1', 'hola', 'es', 'MARKETING', 'APPROVED') RETURNING id`, ws.ID, sim.DefaultWABAID).Scan(&templateID))
	must(t, db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, sender_number_id, template_id, state, send_window, launched_at)
		VALUES ($1, 'caos', $2, $3, 'running', '{}', now()) RETURNING id`, ws.ID, numberID, templateID).Scan(&campaignID))
	_, err = db.Exec(ctx, `
		WITH c AS (
			INSERT INTO contacts (workspace_id, phone_e164, consent_at)
			SELECT $1, '+5730' || lpad(g::text, 8, '0'), now() FROM generate_series(1, $3) g
			RETURNING id, phone_e164)
		INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164)
		SELECT $1, $2, id, phone_e164 FROM c ORDER BY id`, ws.ID, campaignID, o.recipients)
	must(t, err)

	// The processes.
	common := append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"PREGON_SECRET_KEY="+hex.EncodeToString(keyBytes),
		"PREGON_DATA_DIR="+t.TempDir(),
		"PREGON_MIGRATE=false",
		"PREGON_LOG_LEVEL=info", // "pregon worker ready" tells when a worker runs
		"PREGON_ADDR="+apiAddr,
		"PREGON_SIMULATOR=auto",
		"PREGON_SIMULATOR_URL="+srv.URL,
		"PREGON_SEND_WORKERS="+strconv.Itoa(max(200, o.mps*9/10/o.workers+100)),
	)
	var procs []*chaosProc
	start := func(p *chaosProc) {
		f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
		p.cmd = exec.Command(bin, p.args...)
		p.cmd.Env = common
		p.cmd.Stdout, p.cmd.Stderr = f, f
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p.done, p.killed = make(chan struct{}), false
		go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); f.Close(); close(done) }(p.cmd, p.done)
	}
	stopAll := func() {
		for _, p := range procs {
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	defer stopAll()
	api := &chaosProc{args: []string{"serve", "--no-workers"}, log: filepath.Join(logDir, "api.log")}
	procs = append(procs, api)
	start(api)
	waitReady(t, apiAddr)
	for i := range o.workers {
		p := &chaosProc{args: []string{"worker"}, log: filepath.Join(logDir, fmt.Sprintf("worker-%d.log", i+1))}
		procs = append(procs, p)
		start(p)
	}
	workers := procs[1:]
	// Launch once every worker runs: sends scheduled for workers still starting would miss
	// their slots, and the pacer would slow down for a while.
	waitFor(t, time.Minute, "the workers to start", func() bool {
		for _, p := range workers {
			b, _ := os.ReadFile(p.log)
			if !bytes.Contains(b, []byte("pregon worker ready")) {
				return false
			}
		}
		return true
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("process logs in %s", logDir)
		} else {
			os.RemoveAll(logDir)
		}
	})

	// Go: the pacer's first tick, as the launch inserts it.
	inserter, err := river.NewClient(riverpgxv5.New(db), &river.Config{})
	must(t, err)
	_, err = inserter.Insert(ctx, jobs.PaceArgs{SenderNumberID: numberID}, nil)
	must(t, err)
	began := time.Now()

	// The chaos loop: kill workers, restart the dead, restart Postgres once, blow storms.
	rng := rand.New(rand.NewPCG(uint64(o.recipients), 7))
	between := func() time.Duration {
		return o.killEvery[0] + time.Duration(rng.Int64N(int64(o.killEvery[1]-o.killEvery[0])+1))
	}
	nextKill := began.Add(o.firstKill)
	nextStorm := time.Time{}
	if o.stormEvery > 0 {
		nextStorm = began.Add(o.stormEvery)
	}
	var stormUntil time.Time
	var kills, deaths, storms int
	var pgRestartAt, pgDown time.Duration
	pgRestarted := !o.restartPG
	everUnknown := map[int64]bool{}
	completed := false
	var completedAfter time.Duration
	deadline := began.Add(o.deadline)
	var lastPoll, lastProgress time.Time
	var progressAccepted int
	var lastAccepted int
	var firstAcceptAt, lastAcceptAt time.Time
	for !completed {
		now := time.Now()
		if now.After(deadline) {
			t.Fatalf("campaign not completed after %s (simulator accepted %d of %d)", o.deadline, s.AcceptedTotal(), o.recipients)
		}
		accepted := s.AcceptedTotal()
		if since := now.Sub(cmp.Or(lastAcceptAt, began)); accepted < o.recipients*97/100 && since > cmp.Or(o.stall, 2*time.Minute) {
			t.Fatalf("sending stalled: nothing accepted for %s (simulator accepted %d of %d)", since.Round(time.Second), accepted, o.recipients)
		}
		if accepted > lastAccepted {
			if lastAccepted == 0 {
				firstAcceptAt = now
			}
			lastAccepted, lastAcceptAt = accepted, now
		}
		sendsDone := accepted >= o.recipients*97/100
		// Processes that died on their own (not killed) are restarted, and counted.
		for _, p := range procs {
			select {
			case <-p.done:
				if !p.killed {
					deaths++
					t.Logf("%6.1fs %s exited by itself (%v); restarting it; log %s", time.Since(began).Seconds(), p.args[0], p.cmd.ProcessState, p.log)
				}
				start(p)
			default:
			}
		}
		if (o.maxKills == 0 || kills < o.maxKills) && !sendsDone && now.After(nextKill) {
			i := rng.IntN(len(workers))
			p := workers[i]
			p.killed = true
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
			start(p)
			kills++
			nextKill = now.Add(between())
			t.Logf("%6.1fs SIGKILL %d: worker %d (accepted so far %d)", time.Since(began).Seconds(), kills, i+1, accepted)
		}
		if !nextStorm.IsZero() && !sendsDone && now.After(nextStorm) {
			f := o.faults
			f.ThroughputStorm = true
			s.SetFaults(f)
			storms++
			stormUntil, nextStorm = now.Add(o.stormFor), now.Add(o.stormEvery)
		}
		if !stormUntil.IsZero() && now.After(stormUntil) {
			s.SetFaults(o.faults)
			stormUntil = time.Time{}
		}
		if !pgRestarted && accepted >= o.recipients*4/10 {
			pgRestarted = true
			pgRestartAt = time.Since(began)
			t0 := time.Now()
			rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err := cluster.Restart(rctx)
			cancel()
			pgDown = time.Since(t0)
			if err != nil {
				t.Fatalf("restarting Postgres: %v", err)
			}
			t.Logf("%6.1fs Postgres restarted in %s (accepted so far %d)", pgRestartAt.Seconds(), pgDown.Round(time.Millisecond), accepted)
		}
		if sendsDone && !stormUntil.IsZero() {
			s.SetFaults(o.faults)
			stormUntil = time.Time{}
		}
		if now.Sub(lastPoll) >= time.Second {
			if now.Sub(lastProgress) >= 5*time.Second {
				lastProgress = now
				var rate float64
				db.QueryRow(ctx, `SELECT rate_factor FROM number_pacing WHERE sender_number_id = $1`, numberID).Scan(&rate)
				counts, _ := store.CampaignCounts(ctx, db, ws.ID, campaignID)
				t.Logf("%6.1fs accepted %d (%d in the last 5 s), pacer rate factor %.2f, recipients %v",
					time.Since(began).Seconds(), accepted, accepted-progressAccepted, rate, counts)
				progressAccepted = accepted
			}
			lastPoll = now
			if ids, err := unknownIDs(ctx, db, campaignID); err == nil {
				for _, id := range ids {
					everUnknown[id] = true
				}
			}
			var state string
			if err := db.QueryRow(ctx, `SELECT state FROM campaigns WHERE id = $1`, campaignID).Scan(&state); err == nil {
				switch state {
				case "completed":
					completed, completedAfter = true, time.Since(began)
				case "running":
				default:
					t.Fatalf("campaign is %s", state)
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.SetFaults(sim.Faults{})
	t.Logf("campaign completed after %s", completedAfter.Round(time.Millisecond))

	// Let the webhooks drain and be processed.
	idleCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	if err := s.WaitIdle(idleCtx); err != nil {
		t.Errorf("simulator webhooks: %v", err)
	}
	cancel()
	waitFor(t, 2*time.Minute, "the webhook inbox to be processed", func() bool {
		var n int
		return db.QueryRow(ctx, `SELECT count(*) FROM webhook_inbox WHERE status = 'pending'`).Scan(&n) == nil && n == 0
	})
	if ids, err := unknownIDs(ctx, db, campaignID); err == nil {
		for _, id := range ids {
			everUnknown[id] = true
		}
	}
	// Statuses of sends that became unknown (their worker died after the call, or the answer
	// was lost) are settled by the status sweeper from the callback data. It runs every minute;
	// the test enqueues it every few seconds instead of waiting for it.
	settleStart := time.Now()
	unappliedQ := `SELECT count(*) FROM status_events se WHERE se.applied_at IS NULL`
	var lastSweep time.Time
	waitFor(t, 3*time.Minute, "every status event to be applied (status sweeper)", func() bool {
		if time.Since(lastSweep) > 3*time.Second {
			lastSweep = time.Now()
			inserter.Insert(ctx, jobs.StatusSweepArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: 3 * time.Second}})
		}
		var n int
		return db.QueryRow(ctx, unappliedQ).Scan(&n) == nil && n == 0
	})
	settledAfter := time.Since(settleStart)

	// The checks.
	st := s.Stats()
	rows, err := db.Query(ctx, `
		SELECT r.id, r.phone_e164, r.state, coalesce(r.wamid, ''),
		       coalesce((SELECT max(pregon_status_rank(se.status)) FROM status_events se WHERE se.wamid = r.wamid AND se.applied_at IS NOT NULL), 0),
		       EXISTS (SELECT 1 FROM status_events se WHERE se.wamid = r.wamid AND se.applied_at IS NULL)
		FROM recipients r WHERE r.campaign_id = $1 ORDER BY r.id`, campaignID)
	must(t, err)
	byState := map[string]int{}
	var unknownAccepted, unknownNever, settled, awaitingSweep, errs int
	report := func(format string, a ...any) {
		errs++
		if errs <= 20 {
			t.Errorf(format, a...)
		}
	}
	rec.mu.Lock()
	for rows.Next() {
		var id int64
		var phone, state, wamid string
		var appliedRank int
		var unapplied bool
		must(t, rows.Scan(&id, &phone, &state, &wamid, &appliedRank, &unapplied))
		byState[state]++
		n := st.PerRecipient[strings.TrimPrefix(phone, "+")]
		if n > 1 {
			report("recipient %d (%s) reached Meta %d times", id, phone, n)
		}
		if everUnknown[id] && state != store.RecipientUnknown {
			settled++
		}
		if hooked, ok := rec.wamids[id]; ok && wamid != hooked {
			report("recipient %d (%s) has wamid %q; its status webhooks name %q", id, phone, wamid, hooked)
		}
		switch state {
		case store.RecipientSent, store.RecipientDelivered, store.RecipientRead:
			if n != 1 {
				report("recipient %d (%s) is %s but the simulator accepted it %d times", id, phone, state, n)
			}
		case store.RecipientFailed:
			if wamid != "" && n != 1 {
				report("recipient %d (%s) failed with wamid %s but the simulator accepted it %d times", id, phone, wamid, n)
			}
		case store.RecipientUnknown:
			if n == 0 {
				unknownNever++
			} else {
				unknownAccepted++
				report("recipient %d (%s) reached Meta but is still unknown after its webhooks", id, phone)
			}
		default:
			report("recipient %d (%s) ended %s", id, phone, state)
		}
		// Its state is what its statuses say (a recipient the send recorded as sent may have no
		// status yet: rank 0 then).
		switch {
		case wamid == "" && (state == store.RecipientSent || state == store.RecipientDelivered || state == store.RecipientRead):
			report("recipient %d (%s) is %s without a wamid", id, phone, state)
		case wamid != "" && unapplied:
			awaitingSweep++
		case wamid != "":
			if want := rankState[appliedRank]; state != want {
				report("recipient %d (%s) is %s but its applied statuses say %s", id, phone, state, want)
			}
		}
	}
	rec.mu.Unlock()
	must(t, rows.Err())
	if sent := byState["sent"] + byState["delivered"] + byState["read"]; sent+byState["failed"]+byState["unknown"] != o.recipients {
		report("recipients by state %v do not add up to %d", byState, o.recipients)
	}

	// No status lost: every status in a batch the API accepted (2xx) is in status_events.
	stored := map[string]bool{}
	srows, err := db.Query(ctx, `SELECT wamid || '|' || status FROM status_events WHERE workspace_id = $1 OR workspace_id IS NULL`, ws.ID)
	must(t, err)
	for srows.Next() {
		var k string
		must(t, srows.Scan(&k))
		stored[k] = true
	}
	must(t, srows.Err())
	rec.mu.Lock()
	hooked, delivered, posts := len(rec.statuses), rec.delivered, rec.posts
	lost := 0
	for k := range rec.statuses {
		if !stored[k] {
			lost++
			if lost <= 10 {
				report("status %s was accepted by the API but is not in status_events", k)
			}
		}
	}
	rec.mu.Unlock()
	if lost > 0 || len(stored) != hooked {
		report("statuses: %d distinct delivered with a 2xx answer, %d in status_events, %d lost", hooked, len(stored), lost)
	}
	var unapplied int
	must(t, db.QueryRow(ctx, unappliedQ).Scan(&unapplied))

	// The counters the API's progress reads equal a recount of the recipients.
	counters, err := store.CampaignCounts(ctx, db, ws.ID, campaignID)
	must(t, err)
	for state, n := range byState {
		if counters[state] != int64(n) {
			report("campaign_counters[%s] = %d, recount %d (counters %v)", state, counters[state], n, counters)
		}
	}
	for state, n := range counters {
		if byState[state] == 0 && n != 0 {
			report("campaign_counters[%s] = %d, recount 0", state, n)
		}
	}
	// Pacing held globally (arrival jitter of a few tens of ms tolerated under process churn).
	if st.MaxPerSecond > o.mps*105/100 {
		report("max sends in a 1-s window %d > throughput %d (+5 %%)", st.MaxPerSecond, o.mps)
	}

	// The figures.
	span := max(lastAcceptAt.Sub(firstAcceptAt), 100*time.Millisecond)
	maxPer := 0
	for _, n := range st.PerRecipient {
		maxPer = max(maxPer, n)
	}
	pg := "none"
	if o.restartPG {
		pg = fmt.Sprintf("once, %.0f s in (at 40 %% of the sends), restart took %s", pgRestartAt.Seconds(), pgDown.Round(time.Millisecond))
	}
	f := st.FaultsInjected
	var b strings.Builder
	fmt.Fprintf(&b, "=== %s figures ===\n", t.Name())
	fmt.Fprintf(&b, "recipients        %d, %d worker processes + 1 API process, throughput cap %d msg/s\n", o.recipients, o.workers, o.mps)
	fmt.Fprintf(&b, "duration          %s to completion; webhooks settled %s later\n", completedAfter.Round(100*time.Millisecond), settledAfter.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "kills             %d SIGKILLs of workers (restarted at once); processes that died by themselves: %d\n", kills, deaths)
	fmt.Fprintf(&b, "postgres restart  %s\n", pg)
	fmt.Fprintf(&b, "faults injected   5xx %d, timeouts %d (never processed) + %d (accepted, answer lost), 130429 storms %d (%d sends rejected), 130429 by the rate limit %d\n",
		f[sim.FaultServerError], f[sim.FaultSlow], f[sim.FaultLostResponse], storms, f[sim.FaultThroughputStorm],
		st.RejectedByCode[whatsapp.CodeThroughput]-f[sim.FaultThroughputStorm])
	fmt.Fprintf(&b, "outcome           sent %d (delivered %d, read %d included), failed %d, unknown %d (never reached Meta %d, reached Meta %d)\n",
		byState["sent"]+byState["delivered"]+byState["read"], byState["delivered"], byState["read"], byState["failed"],
		byState["unknown"], unknownNever, unknownAccepted)
	fmt.Fprintf(&b, "settled           %d recipients were unknown at some point; %d of them settled by their status webhooks\n", len(everUnknown), settled)
	fmt.Fprintf(&b, "simulator         accepted %d sends, max per recipient %d, max per 1-s window %d\n", st.AcceptedTotal, maxPer, st.MaxPerSecond)
	fmt.Fprintf(&b, "throughput        %.0f msg/s achieved (%d accepted over %s of sending)\n", float64(lastAccepted)/span.Seconds(), lastAccepted, span.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "webhooks          %d POSTs answered 2xx carrying %d statuses (%d distinct); status_events %d; unapplied %d; lost %d; recipients awaiting the sweeper %d\n",
		posts, delivered, hooked, len(stored), unapplied, lost, awaitingSweep)
	fmt.Fprintf(&b, "counters          campaign_counters %v, recount %v\n", counters, byState)
	fmt.Fprintf(&b, "checks            %d problems\n", errs)
	t.Log("\n" + b.String())
	fmt.Print(b.String())
}

func unknownIDs(ctx context.Context, db *pgxpool.Pool, campaignID int64) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT id FROM recipients WHERE campaign_id = $1 AND state = 'unknown'`, campaignID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
