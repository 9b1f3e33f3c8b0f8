package sim_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

const (
	appSecret = "app-secret"
	token     = "tok-numero-1"
	phoneID   = sim.DefaultPhoneNumberID
	wabaID    = sim.DefaultWABAID
)

// clock is a settable clock for the simulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// receiver is a webhook endpoint that verifies signatures and records parsed bodies.
type receiver struct {
	mu        sync.Mutex
	bodies    []*whatsapp.Envelope
	badSig    int
	failFirst int // answer 500 to this many POSTs first
	posts     int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.posts++
	if !whatsapp.VerifySignature(b, r.Header.Get(whatsapp.SignatureHeader), []byte(appSecret)) {
		rc.badSig++
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if rc.failFirst > 0 {
		rc.failFirst--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	env, err := whatsapp.ParseWebhook(b)
	if err != nil {
		rc.badSig++ // counted as a bad delivery
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.bodies = append(rc.bodies, env)
}

func (rc *receiver) envelopes() []*whatsapp.Envelope {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*whatsapp.Envelope(nil), rc.bodies...)
}

func (rc *receiver) statuses() []whatsapp.Status {
	var out []whatsapp.Status
	for _, e := range rc.envelopes() {
		out = append(out, e.Statuses()...)
	}
	return out
}

func (rc *receiver) changes(field string) []whatsapp.Change {
	var out []whatsapp.Change
	for _, e := range rc.envelopes() {
		for _, en := range e.Entry {
			for _, c := range en.Changes {
				if c.Field == field {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

type bundle struct {
	sim    *sim.Simulator
	srv    *httptest.Server
	client *whatsapp.Client
	hook   *receiver
	clock  *clock
	stop   context.CancelFunc // stops the webhook emitter (also at cleanup)
}

// setup starts a simulator behind a real HTTP server with a webhook receiver; tweak adjusts
// the config (fast webhook timings are preset).
func setup(t *testing.T, tweak func(*sim.Config)) *bundle {
	t.Helper()
	b := &bundle{hook: &receiver{}, clock: &clock{t: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)}}
	hookSrv := httptest.NewServer(b.hook)
	t.Cleanup(hookSrv.Close)
	cfg := sim.Config{
		Seed: 42, WebhookURL: hookSrv.URL, AppSecret: appSecret, Tokens: []string{token}, Now: b.clock.Now,
		Statuses: sim.StatusConfig{DeliveredProb: 1, ReadProb: 0.5, SentDelay: time.Millisecond, DeliveredDelay: 2 * time.Millisecond, ReadDelay: 3 * time.Millisecond},
		Webhooks: sim.WebhookConfig{FlushInterval: 5 * time.Millisecond, RetryBase: 5 * time.Millisecond},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	b.sim = sim.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b.stop = cancel
	b.sim.Start(ctx)
	b.srv = httptest.NewServer(b.sim)
	t.Cleanup(b.srv.Close)
	b.client = whatsapp.New(whatsapp.Config{BaseURL: b.srv.URL, Token: token, Timeout: 5 * time.Second})
	return b
}

// waitIdle waits for every scheduled webhook to be delivered.
func (b *bundle) waitIdle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

func promo(to string) whatsapp.TemplateMessage {
	return whatsapp.TemplateMessage{To: to, Name: "promo_temporada", Language: "es_MX", BizOpaqueCallbackData: "campaign=7;to=" + to,
		Components: []whatsapp.Component{
			whatsapp.Header(whatsapp.HeaderMedia("IMAGE", whatsapp.Media{ID: "1339522734477770"})),
			whatsapp.Body(whatsapp.Text("Ana"), whatsapp.Text("20%")),
			whatsapp.URLButton(0, "ana-20"),
			whatsapp.QuickReplyButton(1, "OPTOUT:campaign7"),
		}}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// code returns the Graph error code of err, or -1.
func code(err error) int {
	var e *whatsapp.Error
	if err == nil {
		return 0
	}
	if ok := asErr(err, &e); !ok {
		return -1
	}
	return e.Code
}

// outcomes maps each wamid to "failed<code>" when a failed status arrived, else "sent" when a
// sent status did; webhooks may arrive in any order.
func (rc *receiver) outcomes() map[string]string {
	out := map[string]string{}
	for _, s := range rc.statuses() {
		switch {
		case s.Status == "failed" && len(s.Errors) > 0:
			out[s.ID] = "failed" + strconv.Itoa(s.Errors[0].Code)
		case s.Status == "sent" && out[s.ID] == "":
			out[s.ID] = "sent"
		}
	}
	return out
}
