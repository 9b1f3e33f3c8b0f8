package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// fakeGraph answers sends with the Graph error configured for the recipient's phone, or success.
type fakeGraph struct {
	mu       sync.Mutex
	codes    map[string]int // digits of "to" → error code (-1: drop the connection after reading)
	requests atomic.Int64
}

func (f *fakeGraph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	var req whatsapp.MessageRequest
	json.NewDecoder(r.Body).Decode(&req)
	to := strings.TrimPrefix(req.To, "+")
	f.mu.Lock()
	code, ok := f.codes[to]
	f.mu.Unlock()
	switch {
	case ok && code == -1:
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	case ok:
		w.Header().Set("Content-Type", "application/json")
		status := 400
		if code == 190 {
			status = 401
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":"(#%d) error","type":"OAuthException","code":%d,"error_data":{"details":"simulated"},"fbtrace_id":"x"}}`, code, code)
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":"%s","wa_id":"%s"}],"messages":[{"id":"wamid.%s"}]}`, req.To, to, to)
	}
}

// fakeGraphBundle is a bundle whose sends go to a fakeGraph, with its send worker; a generous
// grace: on a busy test machine a send slot is never missed here.
func fakeGraphBundle(t *testing.T) (*bundle, *fakeGraph, *jobs.SendMessageWorker) {
	t.Helper()
	b := setup(t, setupOpts{pacing: jobs.PaceConfig{Grace: 2 * time.Second}})
	f := &fakeGraph{codes: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := whatsapp.New(whatsapp.Config{BaseURL: srv.URL, Token: "t"})
	b.deps.WhatsApp = func(store.SenderNumber) (*whatsapp.Client, error) { return client, nil }
	return b, f, jobs.NewSendMessageWorker(b.deps)
}

// sendOne queues the campaign's first pending recipient for a slot just ahead and works its
// send job directly.
func sendOne(t *testing.T, b *bundle, w *jobs.SendMessageWorker, campaignID int64, state string) (recipientID int64, phone string, err error) {
	t.Helper()
	ctx := context.Background()
	slot := time.Now().Add(150 * time.Millisecond).Truncate(time.Microsecond)
	must(t, b.pool.QueryRow(ctx, `UPDATE recipients SET state = $2, send_slot = $3, sending_at = now()
		WHERE id = (SELECT min(id) FROM recipients WHERE campaign_id = $1 AND state = 'pending') RETURNING id, phone_e164`,
		campaignID, state, slot).Scan(&recipientID, &phone))
	args := jobs.SendMessageArgs{RecipientID: recipientID, CampaignID: campaignID, WorkspaceID: b.ws.ID, SenderNumberID: b.number.ID, Slot: slot}
	err = w.Work(ctx, &river.Job[jobs.SendMessageArgs]{JobRow: &rivertype.JobRow{ID: 1}, Args: args})
	return recipientID, strings.TrimPrefix(phone, "+"), err
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	type recipientRow struct {
		State     string
		ErrorCode *int
		RetryAt   *time.Time
		Attempts  int
	}
	readRecipient := func(t *testing.T, b *bundle, id int64) recipientRow {
		var r recipientRow
		must(t, b.pool.QueryRow(ctx, `SELECT state, error_code, retry_at, attempts FROM recipients WHERE id = $1`, id).Scan(&r.State, &r.ErrorCode, &r.RetryAt, &r.Attempts))
		return r
	}
	setupFake := func(t *testing.T) (*bundle, *fakeGraph, *jobs.SendMessageWorker, int64) {
		b, f, w := fakeGraphBundle(t)
		return b, f, w, b.campaign(t, "errores", 30, "")
	}
	// next sets the code the fake answers for the campaign's next pending recipient.
	next := func(t *testing.T, b *bundle, f *fakeGraph, c int64, code int) {
		var phone string
		must(t, b.pool.QueryRow(ctx, `SELECT phone_e164 FROM recipients WHERE id = (SELECT min(id) FROM recipients WHERE campaign_id = $1 AND state = 'pending')`, c).Scan(&phone))
		f.mu.Lock()
		f.codes[strings.TrimPrefix(phone, "+")] = code
		f.mu.Unlock()
	}

	t.Run("SentStoresWAMIDAndWAID", func(t *testing.T) {
		t.Parallel()
		b, f, w, c := setupFake(t)
		id, phone, err := sendOne(t, b, w, c, "queued")
		must(t, err)
		var state, wamid, waID, contactWAID string
		must(t, b.pool.QueryRow(ctx, `SELECT r.state, r.wamid, r.wa_id, c.wa_id FROM recipients r JOIN contacts c ON c.id = r.contact_id WHERE r.id = $1`, id).Scan(&state, &wamid, &waID, &contactWAID))
		if state != "sent" || wamid != "wamid."+phone || waID != phone || contactWAID != phone {
			t.Fatalf("state %s wamid %s wa_id %s contact wa_id %s", state, wamid, waID, contactWAID)
		}
		if f.requests.Load() != 1 {
			t.Fatalf("%d requests", f.requests.Load())
		}
	})

	t.Run("FoundSendingBecomesUnknownNeverResent", func(t *testing.T) {
		t.Parallel()
		b, f, w, c := setupFake(t)
		id, _, err := sendOne(t, b, w, c, "sending")
		must(t, err)
		if r := readRecipient(t, b, id); r.State != "unknown" {
			t.Fatalf("state %s, want unknown", r.State)
		}
		if n := f.requests.Load(); n != 0 {
			t.Fatalf("%d API calls for a recipient found sending, want 0", n)
		}
	})

	t.Run("RetriedBatchSettlesItsCrashedSendsAndSendsTheRest", func(t *testing.T) {
		t.Parallel()
		b, f, w, c := setupFake(t)
		// A batch of three whose first run died after calling the API for the first recipient:
		// it is found in sending, the other two are still queued for slots ahead.
		first := time.Now().Add(150 * time.Millisecond).Truncate(time.Microsecond)
		rows, err := b.pool.Query(ctx, `SELECT id FROM recipients WHERE campaign_id = $1 ORDER BY id LIMIT 3`, c)
		must(t, err)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		must(t, err)
		offsets := []int64{0, 20_000, 40_000}
		for i, id := range ids {
			state := "queued"
			if i == 0 {
				state = "sending"
			}
			_, err := b.pool.Exec(ctx, `UPDATE recipients SET state = $2, send_slot = $3, sending_at = now() WHERE id = $1`,
				id, state, first.Add(time.Duration(offsets[i])*time.Microsecond))
			must(t, err)
		}
		args := jobs.SendMessageArgs{WorkspaceID: b.ws.ID, SenderNumberID: b.number.ID, Slot: first, Recipients: ids, OffsetsUS: offsets}
		must(t, w.Work(ctx, &river.Job[jobs.SendMessageArgs]{JobRow: &rivertype.JobRow{ID: 3, Attempt: 2}, Args: args}))
		if r := readRecipient(t, b, ids[0]); r.State != "unknown" {
			t.Errorf("recipient found sending: %s, want unknown", r.State)
		}
		for _, id := range ids[1:] {
			if r := readRecipient(t, b, id); r.State != "sent" {
				t.Errorf("recipient %d: %s, want sent", id, r.State)
			}
		}
		if n := f.requests.Load(); n != 2 {
			t.Errorf("%d API calls, want 2", n)
		}
	})

	t.Run("PausedCampaignSendsNothing", func(t *testing.T) {
		t.Parallel()
		b, f, w, c := setupFake(t)
		_, err := store.CampaignTransition(ctx, b.pool, b.ws.ID, c, store.CampaignPaused, store.TransitionParams{Actor: store.ActorUser, Reason: "pausa"})
		must(t, err)
		id, _, err := sendOne(t, b, w, c, "queued")
		must(t, err)
		if r := readRecipient(t, b, id); r.State != "pending" || f.requests.Load() != 0 {
			t.Fatalf("state %s after %d calls, want pending after 0", r.State, f.requests.Load())
		}
	})

	t.Run("ThrottleGoesBackToPendingAndSlowsTheNumber", func(t *testing.T) {
		t.Parallel()
		b, f, w, c := setupFake(t)
		next(t, b, f, c, 130429)
		id, _, err := sendOne(t, b, w, c, "queued")
		must(t, err)
		r := readRecipient(t, b, id)
		if r.State != "pending" || r.RetryAt == nil {
			t.Fatalf("recipient %+v, want pending with a retry time", r)
		}
		p, err := store.NumberPacingGet(ctx, b.pool, b.ws.ID, b.number.ID)
		must(t, err)
		if p.RateFactor != 0.5 || p.Throttles != 1 || p.BackoffUntil == nil {
			t.Fatalf("pacing %+v, want halved rate and a back-off", p)
		}
	})

	t.Run("EcosystemCapRetriesOnceAfter24h", func(t *testing.T) {
		t.Parallel()
		b, f, w, c := setupFake(t)
		next(t, b, f, c, 131049)
		id, _, err := sendOne(t, b, w, c, "queued")
		must(t, err)
		r := readRecipient(t, b, id)
		if r.State != "pending" || r.RetryAt == nil || time.Until(*r.RetryAt) < 23*time.Hour {
			t.Fatalf("recipient %+v, want pending for ≥ 24 h", r)
		}
		var cooled *time.Time
		must(t, b.pool.QueryRow(ctx, `SELECT c.cooled_until FROM contacts c JOIN recipients r ON r.contact_id = c.id WHERE r.id = $1`, id).Scan(&cooled))
		if cooled == nil {
			t.Fatal("contact not cooled down")
		}
		// The single retry: a second 131049 fails it.
		_, err = b.pool.Exec(ctx, `UPDATE recipients SET state = 'queued', send_slot = $2, retry_at = NULL WHERE id = $1`, id, time.Now().Add(150*time.Millisecond).Truncate(time.Microsecond))
		must(t, err)
		var slot time.Time
		must(t, b.pool.QueryRow(ctx, `SELECT send_slot FROM recipients WHERE id = $1`, id).Scan(&slot))
		must(t, w.Work(ctx, &river.Job[jobs.SendMessageArgs]{JobRow: &rivertype.JobRow{ID: 2}, Args: jobs.SendMessageArgs{
			RecipientID: id, CampaignID: c, WorkspaceID: b.ws.ID, SenderNumberID: b.number.ID, Slot: slot}}))
		if r := readRecipient(t, b, id); r.State != "failed" || r.Attempts != 2 {
			t.Fatalf("after the retry: %+v, want failed after 2 attempts", r)
		}
	})

	t.Run("MarketingStoppedFailsAndStopsTheContact", func(t *testing.T) {
		t.Parallel()
		b, f, w, c := setupFake(t)
		next(t, b, f, c, 131050)
		id, _, err := sendOne(t, b, w, c, "queued")
		must(t, err)
		if r := readRecipient(t, b, id); r.State != "failed" || r.ErrorCode == nil || *r.ErrorCode != 131050 {
			t.Fatalf("recipient %+v", r)
		}
		var stopped bool
		var events int
		must(t, b.pool.QueryRow(ctx, `SELECT c.marketing_stopped, (SELECT count(*) FROM consent_events e WHERE e.contact_id = c.id AND e.kind = 'marketing_stop')
			FROM contacts c JOIN recipients r ON r.contact_id = c.id WHERE r.id = $1`, id).Scan(&stopped, &events))
		if !stopped || events != 1 {
			t.Fatalf("marketing_stopped %v, consent events %d", stopped, events)
		}
	})

	t.Run("UndeliverableCountsOnTheContact", func(t *testing.T) {
		t.Parallel()
		b, f, w, c := setupFake(t)
		next(t, b, f, c, 131026)
		id, _, err := sendOne(t, b, w, c, "queued")
		must(t, err)
		var n int
		must(t, b.pool.QueryRow(ctx, `SELECT c.undeliverable_count FROM contacts c JOIN recipients r ON r.contact_id = c.id WHERE r.id = $1`, id).Scan(&n))
		if r := readRecipient(t, b, id); r.State != "failed" || n != 1 {
			t.Fatalf("recipient %+v, undeliverable_count %d", r, n)
		}
	})

	for _, tc := range []struct {
		name       string
		code       int
		haltNumber bool
	}{
		{"TemplatePausedPausesTheCampaign", 132015, false},
		{"TemplateDisabledPausesTheCampaign", 132016, false},
		{"SpamLimitHaltsTheNumber", 131048, true},
		{"AccountLockedHaltsTheNumber", 131031, true},
		{"ExpiredTokenHaltsTheNumber", 190, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, f, w, c := setupFake(t)
			other := b.campaign(t, "otra", 1, "")
			next(t, b, f, c, tc.code)
			id, _, err := sendOne(t, b, w, c, "queued")
			must(t, err)
			if r := readRecipient(t, b, id); r.State != "pending" {
				t.Fatalf("recipient %s, want pending (nothing was sent)", r.State)
			}
			if got := b.campaignState(t, c); got.State != store.CampaignPaused || !strings.Contains(got.PauseReason, fmt.Sprint(tc.code)) {
				t.Fatalf("campaign %s (%q), want paused naming %d", got.State, got.PauseReason, tc.code)
			}
			trs, err := store.CampaignTransitionList(ctx, b.pool, b.ws.ID, c)
			must(t, err)
			last := trs[len(trs)-1]
			if last.Actor != store.ActorRule || last.Signal != store.SignalErrorCode || last.Value != fmt.Sprint(tc.code) {
				t.Fatalf("transition %+v", last)
			}
			n, err := store.SenderNumberGetByID(ctx, b.pool, b.ws.ID, b.number.ID)
			must(t, err)
			otherState := b.campaignState(t, other).State
			if tc.haltNumber {
				if n.Status != store.NumberHalted || otherState != store.CampaignPaused {
					t.Fatalf("number %s, other campaign %s: want halted and paused", n.Status, otherState)
				}
			} else if n.Status != store.NumberActive || otherState != store.CampaignRunning {
				t.Fatalf("number %s, other campaign %s: want untouched", n.Status, otherState)
			}
		})
	}

	t.Run("DroppedConnectionIsUnknownNotRetried", func(t *testing.T) {
		t.Parallel()
		b, f, w, c := setupFake(t)
		next(t, b, f, c, -1)
		id, _, err := sendOne(t, b, w, c, "queued")
		must(t, err)
		if r := readRecipient(t, b, id); r.State != "unknown" {
			t.Fatalf("state %s, want unknown (the request may have been accepted)", r.State)
		}
	})

	t.Run("RefusedConnectionGoesBackToPending", func(t *testing.T) {
		t.Parallel()
		b, _, _, c := setupFake(t)
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		client := whatsapp.New(whatsapp.Config{BaseURL: url, Token: "t"})
		b.deps.WhatsApp = func(store.SenderNumber) (*whatsapp.Client, error) { return client, nil }
		id, _, err := sendOne(t, b, jobs.NewSendMessageWorker(b.deps), c, "queued")
		must(t, err)
		if r := readRecipient(t, b, id); r.State != "pending" || r.RetryAt == nil {
			t.Fatalf("recipient %+v, want pending with a retry time", r)
		}
	})

	t.Run("CircuitBreakerPausesTheCampaign", func(t *testing.T) {
		t.Parallel()
		b, f, w, c := setupFake(t)
		_, err := store.WorkspaceUpdateByID(ctx, b.pool, b.ws.ID, store.WorkspaceUpdate{Settings: &store.WorkspaceSettings{BreakerWindow: 10, BreakerFailureRatio: 0.3}})
		must(t, err)
		for i := 0; i < 14 && b.campaignState(t, c).State == store.CampaignRunning; i++ {
			if i%2 == 0 {
				next(t, b, f, c, 131026)
			}
			_, _, err := sendOne(t, b, w, c, "queued")
			must(t, err)
		}
		got := b.campaignState(t, c)
		if got.State != store.CampaignPaused {
			t.Fatalf("campaign %s after 50 %% failures, want paused", got.State)
		}
		trs, err := store.CampaignTransitionList(ctx, b.pool, b.ws.ID, c)
		must(t, err)
		if last := trs[len(trs)-1]; last.Signal != store.SignalCircuitBreaker || last.Actor != store.ActorRule {
			t.Fatalf("transition %+v", last)
		}
	})
}
