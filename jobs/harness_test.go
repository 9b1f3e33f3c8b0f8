package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

const (
	simPhoneID = sim.DefaultPhoneNumberID
	simWABA    = sim.DefaultWABAID
)

// simTemplates is one parameterless marketing template, enough to exercise sending.
func simTemplates() []sim.Template {
	return []sim.Template{{WABAID: simWABA, Template: whatsapp.Template{
		Name: "hola", Language: "es", Status: "APPROVED", Category: "MARKETING", ParameterFormat: "POSITIONAL",
		Components: []whatsapp.TemplateComponent{{Type: "BODY", Text: "Hola, tenemos novedades."}},
	}}}
}

// bundle is what a sending test works with.
type bundle struct {
	pool   *pgxpool.Pool
	sim    *sim.Simulator
	simURL string
	deps   jobs.Deps
	ws     store.Workspace
	number store.SenderNumber
	tmplID int64
}

type setupOpts struct {
	mps            int // the number's throughput (Pregón and simulator)
	messagingLimit int
	simConfig      func(*sim.Config)
	pacing         jobs.PaceConfig
}

func setup(t testing.TB, o setupOpts) *bundle {
	t.Helper()
	ctx := context.Background()
	if o.mps == 0 {
		o.mps = 80
	}
	if o.messagingLimit == 0 {
		o.messagingLimit = -1
	}
	cfg := sim.Config{
		Numbers:   []sim.Number{{PhoneNumberID: simPhoneID, WABAID: simWABA, MPS: o.mps, MessagingLimitTier: "TIER_UNLIMITED"}},
		Templates: simTemplates(),
		Statuses:  sim.StatusConfig{DeliveredProb: 1, ReadProb: 0.5},
	}
	if o.simConfig != nil {
		o.simConfig(&cfg)
	}
	s := sim.New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)

	pcfg, err := pgxpool.ParseConfig(pgtest.NewDBURL(t))
	must(t, err)
	pcfg.MaxConns = 60 // sends at 1,000/s need more than pgtest's default 20
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	must(t, err)
	t.Cleanup(pool.Close)
	b := &bundle{pool: pool, sim: s, simURL: srv.URL}
	b.ws, err = store.WorkspaceCreate(ctx, b.pool, store.WorkspaceCreateParams{Name: "pacing", MessagingLimit: o.messagingLimit,
		Settings: store.NoQuietHours}) // the tests run at any hour; TestQuietHours sets them
	must(t, err)
	var numberID int64
	must(t, b.pool.QueryRow(ctx, `INSERT INTO sender_numbers (workspace_id, phone_number_id, waba_id, throughput_mps, use_simulator)
		VALUES ($1, $2, $3, $4, true) RETURNING id`, b.ws.ID, simPhoneID, simWABA, o.mps).Scan(&numberID))
	b.number, err = store.SenderNumberGetByID(ctx, b.pool, b.ws.ID, numberID)
	must(t, err)
	must(t, b.pool.QueryRow(ctx, `INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status)
		VALUES ($1, $2, 'm1', 'hola', 'es', 'MARKETING', 'APPROVED') RETURNING id`, b.ws.ID, simWABA).Scan(&b.tmplID))
	client := whatsapp.New(whatsapp.Config{BaseURL: srv.URL, Token: "test-token"})
	logLevel := slog.LevelWarn
	if os.Getenv("PREGON_TEST_DEBUG") != "" {
		logLevel = slog.LevelDebug
	}
	b.deps = jobs.Deps{
		DB:       b.pool,
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})),
		WhatsApp: func(store.SenderNumber) (*whatsapp.Client, error) { return client, nil },
		Pacing:   o.pacing,
	}
	return b
}

// campaign inserts a running campaign of n pending recipients (new contacts) on the number.
func (b *bundle) campaign(t testing.TB, name string, n int, window string) int64 {
	t.Helper()
	ctx := context.Background()
	var id int64
	if window == "" {
		window = "{}"
	}
	must(t, b.pool.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, sender_number_id, template_id, state, send_window, launched_at)
		VALUES ($1, $2, $3, $4, 'running', $5, now()) RETURNING id`, b.ws.ID, name, b.number.ID, b.tmplID, window).Scan(&id))
	_, err := b.pool.Exec(ctx, `
		WITH c AS (
			INSERT INTO contacts (workspace_id, phone_e164, consent_at)
			SELECT $1, '+5730' || lpad(($2 * 1000000 + g)::text, 8, '0'), now() FROM generate_series(1, $3) g
			RETURNING id, phone_e164)
		INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164)
		SELECT $1, $2, id, phone_e164 FROM c ORDER BY id`, b.ws.ID, id, n)
	must(t, err)
	// As the launch does: the pacer's and the send jobs' first plans see the new audience.
	_, err = b.pool.Exec(ctx, `ANALYZE recipients, contacts`)
	must(t, err)
	return id
}

// start runs a River client with the pacer and the send job; it stops when the test ends.
func (b *bundle) start(t testing.TB) *river.Client[pgx.Tx] {
	t.Helper()
	return b.startWith(t, 400, 50*time.Millisecond)
}

// startWith is start with the sends queue's concurrency and fetch poll interval.
func (b *bundle) startWith(t testing.TB, sendWorkers int, poll time.Duration) *river.Client[pgx.Tx] {
	t.Helper()
	ws := river.NewWorkers()
	river.AddWorker(ws, jobs.NewPaceWorker(b.deps))
	river.AddWorker(ws, jobs.NewSendMessageWorker(b.deps))
	client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{
		Logger:            b.deps.Logger,
		Workers:           ws,
		FetchCooldown:     10 * time.Millisecond,
		FetchPollInterval: poll,
		Queues: map[string]river.QueueConfig{
			jobs.QueueCampaign: {MaxWorkers: 4},
			jobs.QueueSend:     {MaxWorkers: sendWorkers},
		},
		TestOnly: true,
	})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	must(t, client.Start(ctx))
	t.Cleanup(func() {
		cancel()
		stopCtx, c2 := context.WithTimeout(context.Background(), 10*time.Second)
		defer c2()
		client.StopAndCancel(stopCtx)
	})
	return client
}

// kick inserts the number's pace job, as launch and resume do.
func (b *bundle) kick(t testing.TB, client *river.Client[pgx.Tx]) {
	t.Helper()
	_, err := client.Insert(context.Background(), jobs.PaceArgs{SenderNumberID: b.number.ID}, nil)
	must(t, err)
}

func (b *bundle) campaignState(t testing.TB, id int64) store.Campaign {
	t.Helper()
	c, err := store.CampaignGetByID(context.Background(), b.pool, b.ws.ID, id)
	must(t, err)
	return c
}

func (b *bundle) counts(t testing.TB, campaignID int64) map[string]int64 {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT state, count(*) FROM recipients WHERE campaign_id = $1 GROUP BY state`, campaignID)
	must(t, err)
	out := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		must(t, rows.Scan(&s, &n))
		out[s] = n
	}
	must(t, rows.Err())
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func fmtCounts(m map[string]int64) string { return fmt.Sprint(m) }
