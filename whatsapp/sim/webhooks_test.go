package sim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

func TestWebhooksSignedBatchedAndComplete(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) {
		c.Numbers = []sim.Number{{PhoneNumberID: phoneID, MPS: -1}}
		c.Statuses.ReadProb = 1
		c.Webhooks.BatchSize = 10
		c.Webhooks.FlushInterval = 20 * time.Millisecond
	})
	ctx := context.Background()
	sent := map[string]string{} // wamid → biz
	for i := range 20 {
		m := promo(fmt.Sprintf("+52155%08d", i))
		res, err := b.client.SendTemplate(ctx, phoneID, m)
		if err != nil {
			t.Fatal(err)
		}
		sent[res.WAMID] = m.BizOpaqueCallbackData
	}
	b.waitIdle(t)
	eq(t, "bad signatures", b.hook.badSig, 0)
	statuses := b.hook.statuses()
	eq(t, "statuses", len(statuses), 60) // sent, delivered, read each
	multi := 0
	for _, env := range b.hook.envelopes() {
		eq(t, "object", env.Object, "whatsapp_business_account")
		eq(t, "entry id", string(env.Entry[0].ID), wabaID)
		v := env.Entry[0].Changes[0].Messages
		eq(t, "phone_number_id", string(v.Metadata.PhoneNumberID), phoneID)
		if len(v.Contacts) == 0 || !strings.HasPrefix(v.Contacts[0].UserID, "MX.") || len(v.Contacts[0].UserID) != 19 {
			t.Errorf("status contacts = %+v", v.Contacts)
		}
		if len(env.Statuses()) > 1 {
			multi++
		}
	}
	if multi == 0 {
		t.Error("no webhook body carried several statuses")
	}
	seen := map[string]map[string]bool{}
	for _, s := range statuses {
		biz, ok := sent[s.ID]
		if !ok {
			t.Fatalf("status for unknown wamid %s", s.ID)
		}
		eq(t, "biz echoed", s.BizOpaqueCallbackData, biz)
		if s.Timestamp.Time().IsZero() {
			t.Error("missing timestamp")
		}
		if !strings.HasPrefix(s.RecipientID, "52155") {
			t.Errorf("recipient_id = %s", s.RecipientID)
		}
		if seen[s.ID] == nil {
			seen[s.ID] = map[string]bool{}
		}
		seen[s.ID][s.Status] = true
		switch s.Status {
		case "sent", "delivered":
			if s.Pricing == nil || s.Pricing.Category != "marketing" || s.Pricing.PricingModel != "PMP" || !*s.Pricing.Billable {
				t.Errorf("%s pricing = %+v", s.Status, s.Pricing)
			}
		case "read":
			if s.Pricing != nil {
				t.Error("pricing on read as well as delivered")
			}
		}
	}
	for id, st := range seen {
		if !st["sent"] || !st["delivered"] || !st["read"] {
			t.Errorf("%s: statuses %v", id, st)
		}
	}
	ws := b.sim.Stats().Webhooks
	eq(t, "pending", ws.Pending, 0)
	eq(t, "failed", ws.Failed, 0)
	eq(t, "events", ws.Events, 60)
}

func TestWebhookRetriesAfterReceiverError(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.hook.mu.Lock()
	b.hook.failFirst = 2
	b.hook.mu.Unlock()
	res, err := b.client.SendTemplate(context.Background(), phoneID, promo("+5215512345678"))
	if err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t)
	ws := b.sim.Stats().Webhooks
	if ws.Retries < 2 || ws.Failed != 0 || ws.Delivered == 0 {
		t.Errorf("webhook stats = %+v", ws)
	}
	found := false
	for _, s := range b.hook.statuses() {
		found = found || (s.ID == res.WAMID && s.Status == "sent")
	}
	if !found {
		t.Error("sent status never arrived after the receiver recovered")
	}
}

// A receiver that is down for longer than a few quick retries (a deploy, a database restart)
// still gets the events once it is back: Meta keeps retrying with decreasing frequency for up
// to 7 days, so the simulator retries by age, not by a handful of attempts.
func TestWebhookRetriesOutlastAnOutage(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) {
		c.Webhooks.RetryBase = time.Millisecond
		c.Webhooks.MaxRetryGap = 20 * time.Millisecond // the default minute, shortened for the test
	})
	b.hook.mu.Lock()
	b.hook.failFirst = 15 // more failed POSTs than any fixed small attempt limit allowed
	b.hook.mu.Unlock()
	id, err := b.sim.SendInbound(sim.Inbound{PhoneNumberID: phoneID, From: "5215512345678", Text: "BAJA"})
	if err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t)
	ws := b.sim.Stats().Webhooks
	eq(t, "failed", ws.Failed, 0)
	eq(t, "attempts", ws.Attempts, 16)
	got := false
	for _, env := range b.hook.envelopes() {
		for _, m := range env.InboundMessages() {
			got = got || m.ID == id
		}
	}
	if !got {
		t.Errorf("the inbound message never arrived after the outage; webhook stats %+v", ws)
	}
}

// A batch is given up once it is older than MaxAge, however few attempts it had.
func TestWebhookGivesUpByAge(t *testing.T) {
	t.Parallel()
	var posts atomic.Int32
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(dead.Close)
	b := setup(t, func(c *sim.Config) {
		c.WebhookURL = dead.URL
		c.Webhooks.RetryBase = 10 * time.Millisecond
		c.Webhooks.MaxRetryGap = 40 * time.Millisecond
		c.Webhooks.MaxAge = 300 * time.Millisecond
	})
	start := time.Now()
	if _, err := b.sim.SendInbound(sim.Inbound{PhoneNumberID: phoneID, From: "5215512345678", Text: "hola"}); err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t)
	ws := b.sim.Stats().Webhooks
	eq(t, "failed", ws.Failed, 1)
	eq(t, "pending", ws.Pending, 0)
	// Gaps 10, 20, 40, 40, … ms: about 9 attempts fit in 300 ms (fewer on a busy machine).
	if ws.Attempts < 3 || time.Since(start) < 250*time.Millisecond {
		t.Errorf("gave up after %d attempts and %v; want retries for about MaxAge (300 ms)", ws.Attempts, time.Since(start))
	}
}

// Stopping the simulator gives up the batches waiting for a retry at once: nothing waits for
// the long gaps of a receiver that has been down for a while.
func TestWebhookStopGivesUpPendingRetries(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(dead.Close)
	b := setup(t, func(c *sim.Config) {
		c.WebhookURL = dead.URL
		c.Webhooks.RetryBase = time.Hour // the batch waits an hour after its first failure
	})
	if _, err := b.sim.SendInbound(sim.Inbound{PhoneNumberID: phoneID, From: "5215512345678", Text: "hola"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.sim.Stats().Webhooks.Retries == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no retry scheduled: %+v", b.sim.Stats().Webhooks)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.sim.WaitIdle(ctx); err != nil {
		t.Fatalf("stopped simulator still has a pending retry: %v (%+v)", err, b.sim.Stats().Webhooks)
	}
	ws := b.sim.Stats().Webhooks
	eq(t, "failed", ws.Failed, 1)
	eq(t, "attempts", ws.Attempts, 1)
}

// MaxAttempts is the test option that drops a dead receiver's events after a few tries.
func TestWebhookGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	var posts atomic.Int32
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(dead.Close)
	b := setup(t, func(c *sim.Config) {
		c.WebhookURL = dead.URL
		c.Webhooks.MaxAttempts = 3
		c.Webhooks.RetryBase = time.Millisecond
	})
	if _, err := b.client.SendTemplate(context.Background(), phoneID, promo("+5215512345678")); err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t)
	ws := b.sim.Stats().Webhooks
	if ws.Failed == 0 || ws.Attempts != 3*ws.Failed {
		t.Errorf("webhook stats = %+v (posts %d)", ws, posts.Load())
	}
}

// outcome summarises a run for determinism checks.
func runOutcome(t *testing.T, seed int64) []string {
	b := setup(t, func(c *sim.Config) {
		c.Seed = seed
		c.Numbers = []sim.Number{{PhoneNumberID: phoneID, MPS: -1}}
		c.Statuses = sim.StatusConfig{FailedProb: 0.3, DeliveredProb: 0.8, ReadProb: 0.5, SentDelay: time.Millisecond, DeliveredDelay: time.Millisecond, ReadDelay: time.Millisecond}
	})
	var out []string
	for i := range 30 {
		res, err := b.client.SendTemplate(context.Background(), phoneID, promo(fmt.Sprintf("+52155%08d", i)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.WAMID)
	}
	b.waitIdle(t)
	byID := map[string][]string{}
	for _, s := range b.hook.statuses() {
		tag := s.Status
		if len(s.Errors) > 0 {
			tag += fmt.Sprint(s.Errors[0].Code)
		}
		byID[s.ID] = append(byID[s.ID], tag)
	}
	for i, id := range out {
		st := byID[id]
		// delivery order inside one wamid may vary with batching; sort for comparison
		out[i] = id + " " + strings.Join(sortStrings(st), ",")
	}
	return out
}

func sortStrings(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

func TestDeterministicWithSeed(t *testing.T) {
	t.Parallel()
	a, again, other := runOutcome(t, 7), runOutcome(t, 7), runOutcome(t, 8)
	if !reflect.DeepEqual(a, again) {
		t.Errorf("same seed, different runs:\n%v\n%v", a, again)
	}
	if reflect.DeepEqual(a, other) {
		t.Error("different seeds gave identical runs")
	}
	failed := 0
	for _, line := range a {
		if strings.Contains(line, "failed") {
			failed++
			if !strings.Contains(line, "failed131026") && !strings.Contains(line, "failed131049") &&
				!strings.Contains(line, "failed131050") && !strings.Contains(line, "failed130472") {
				t.Errorf("failure code outside the mix: %s", line)
			}
		}
	}
	if failed == 0 || failed == len(a) {
		t.Errorf("failed %d of %d with FailedProb 0.3", failed, len(a))
	}
}

func TestDuplicatesAndReordering(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) {
		c.Numbers = []sim.Number{{PhoneNumberID: phoneID, MPS: -1}}
		c.Statuses = sim.StatusConfig{DeliveredProb: 1, ReadProb: 1, DuplicateProb: 1, ReorderProb: 1,
			// Reordered, read comes ~5 ms after the send and delivered ~300 ms after: the two
			// are scheduled one after the other, and a stall between them longer than the gap
			// (35 ms with a 40 ms ReadDelay, seen possible on a loaded machine) would put
			// delivered first by itself.
			SentDelay: time.Millisecond, DeliveredDelay: 5 * time.Millisecond, ReadDelay: 300 * time.Millisecond}
		c.Webhooks.FlushInterval = time.Millisecond
		c.Webhooks.Senders = 1
	})
	res, err := b.client.SendTemplate(context.Background(), phoneID, promo("+5215512345678"))
	if err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t)
	var order []string
	for _, s := range b.hook.statuses() {
		if s.ID == res.WAMID {
			order = append(order, s.Status)
		}
	}
	eq(t, "events with duplicates", len(order), 6)
	ri, di := -1, -1
	for i, s := range order {
		if s == "read" && ri < 0 {
			ri = i
		}
		if s == "delivered" && di < 0 {
			di = i
		}
	}
	if ri < 0 || di < 0 || ri > di {
		t.Errorf("want read before delivered, got %v", order)
	}
}

func TestRepliesCarryContextAndPayload(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *sim.Config) {
		c.Numbers = []sim.Number{{PhoneNumberID: phoneID, MPS: -1}}
		c.Replies = sim.ReplyConfig{Prob: 1, ButtonShare: 1, Delay: time.Millisecond}
	})
	res, err := b.client.SendTemplate(context.Background(), phoneID, promo("+5215512345678"))
	if err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t)
	var msgs []whatsapp.Message
	for _, e := range b.hook.envelopes() {
		msgs = append(msgs, e.InboundMessages()...)
	}
	if len(msgs) != 1 {
		t.Fatalf("inbound messages = %d", len(msgs))
	}
	m := msgs[0]
	eq(t, "type", m.Type, "button")
	eq(t, "context id", m.Context.ID, res.WAMID)
	eq(t, "from", m.From, "5215512345678")
	eq(t, "payload is the one sent", m.Button.Payload, "OPTOUT:campaign7")
	eq(t, "label", m.Button.Text, "No recibir más")

	// Opt-out words only.
	b2 := setup(t, func(c *sim.Config) {
		c.Numbers = []sim.Number{{PhoneNumberID: phoneID, MPS: -1}}
		c.Replies = sim.ReplyConfig{Prob: 1, OptOutShare: 1, Delay: time.Millisecond}
	})
	words := map[string]bool{}
	for i := range 30 {
		if _, err := b2.client.SendTemplate(context.Background(), phoneID, promo(fmt.Sprintf("+52155%08d", i))); err != nil {
			t.Fatal(err)
		}
	}
	b2.waitIdle(t)
	for _, e := range b2.hook.envelopes() {
		for _, m := range e.InboundMessages() {
			words[m.ReplyText()] = true
		}
	}
	if !reflect.DeepEqual(words, map[string]bool{"BAJA": true, "STOP": true, "no más": true}) {
		t.Errorf("opt-out replies = %v", words)
	}
	eq(t, "inbound count", b2.sim.Stats().Inbound, 30)
}
