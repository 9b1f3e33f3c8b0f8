package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// replayEvent is one delivery status of message i.
type replayEvent struct {
	msg    int
	status string
	at     time.Time
	code   int
}

// replayEvents builds exactly base distinct status events for msgs messages: every message is
// sent; one in ten fails (131026 / 131049 / 131050 / 130472); the others are delivered and
// many read, some read without a delivered status (read implies it).
func replayEvents(rng *rand.Rand, msgs, base int) []replayEvent {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	codes := []int{131026, 131049, 131050, 130472}
	var evs []replayEvent
	for i := 0; i < msgs; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		evs = append(evs, replayEvent{i, "sent", at, 0})
		if i%10 == 9 {
			evs = append(evs, replayEvent{i, "failed", at.Add(2 * time.Second), codes[(i/10)%len(codes)]})
			continue
		}
		if i%10 != 8 { // i%10 == 8: read will come without delivered
			evs = append(evs, replayEvent{i, "delivered", at.Add(3 * time.Second), 0})
		}
	}
	// Reads: first every message whose delivered status never comes, then random others.
	order := rng.Perm(msgs)
	slices.SortStableFunc(order, func(a, b int) int { return boolInt(b%10 == 8) - boolInt(a%10 == 8) })
	for _, i := range order {
		if len(evs) >= base {
			break
		}
		if i%10 == 9 {
			continue
		}
		evs = append(evs, replayEvent{i, "read", t0.Add(time.Duration(i)*time.Second + 5*time.Second), 0})
	}
	return evs[:base]
}

func replayStatusJSON(prefix string, e replayEvent) map[string]any {
	st := map[string]any{
		"id": fmt.Sprintf("%s.%d", prefix, e.msg), "status": e.status, "timestamp": fmt.Sprint(e.at.Unix()),
		"recipient_id": fmt.Sprintf("57300%07d", e.msg),
	}
	if e.status == "sent" || e.status == "delivered" {
		st["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"}
	}
	if e.code != 0 {
		st["errors"] = []map[string]any{{"code": e.code, "title": "error " + fmt.Sprint(e.code)}}
	}
	return st
}

func replayBody(prefix string, evs []replayEvent) []byte {
	var sts []map[string]any
	for _, e := range evs {
		sts = append(sts, replayStatusJSON(prefix, e))
	}
	b, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": wabaA, "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp", "metadata": map[string]any{"display_phone_number": "5215550783881", "phone_number_id": pnidA},
			"statuses": sts}}}}}})
	return b
}

// TestWebhookReplayOrderIndependent replays 10,000 status events for 3,000 messages, 20 % of
// them duplicates, in shuffled order through the real endpoint (concurrent posts, concurrent
// workers), and compares every recipient and contact with an in-order replay of the same
// events without duplicates.
func TestWebhookReplayOrderIndependent(t *testing.T) {
	t.Parallel()
	const (
		msgs  = 3000
		total = 10000
		dups  = total / 5
		base  = total - dups
		batch = 10
	)
	env := newWebhookEnv(t)
	ctx := context.Background()
	ws := env.wsA.ID
	rng := rand.New(rand.NewPCG(7, 11))
	evs := replayEvents(rng, msgs, base)
	if len(evs) != base {
		t.Fatalf("built %d events, want %d", len(evs), base)
	}

	// Two campaigns with their own contacts: "ord" replayed in order, "shuf" shuffled.
	for _, prefix := range []string{"ord", "shuf"} {
		var campaign int64
		if err := env.db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, sender_number_id, state) VALUES ($1, $2, $3, 'running') RETURNING id`, ws, prefix, env.numA).Scan(&campaign); err != nil {
			t.Fatal(err)
		}
		if _, err := env.db.Exec(ctx, `
			WITH c AS (INSERT INTO contacts (workspace_id, phone_e164, attributes)
			           SELECT $1, '+57' || $3 || lpad(i::text, 7, '0'), jsonb_build_object('i', i) FROM generate_series(0, $4 - 1) i
			           RETURNING id, phone_e164, (attributes->>'i')::int AS i)
			INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, wamid, attempts)
			SELECT $1, $2, id, phone_e164, 'sending', $5 || '.' || i, 1 FROM c`,
			ws, campaign, map[string]string{"ord": "300", "shuf": "310"}[prefix], msgs, prefix); err != nil {
			t.Fatal(err)
		}
	}

	// In order, no duplicates, one body after the other, through StatusEventsInsert and
	// StatusEventsApply (the sweeper's and the send job's path): the shuffled replay below goes
	// through the job's StatusEventsIngest, so the two implementations must agree too.
	inOrder := slices.Clone(evs)
	slices.SortStableFunc(inOrder, func(a, b replayEvent) int { return a.at.Compare(b.at) })
	start := time.Now()
	tx, err := env.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for i := 0; i < len(inOrder); i += batch {
		var ses []store.StatusEvent
		for _, e := range inOrder[i:min(i+batch, len(inOrder))] {
			raw, _ := json.Marshal(replayStatusJSON("ord", e))
			se := store.StatusEvent{WorkspaceID: &ws, WAMID: fmt.Sprintf("ord.%d", e.msg), Status: e.status, OccurredAt: e.at, Raw: raw}
			if e.status == "sent" || e.status == "delivered" {
				yes := true
				se.PricingCategory, se.PricingType, se.Billable = "marketing", "regular", &yes
			}
			if e.code != 0 {
				c := e.code
				se.ErrorCode, se.ErrorTitle = &c, "error "+fmt.Sprint(c)
			}
			ses = append(ses, se)
		}
		fresh, err := store.StatusEventsInsert(ctx, tx, ses)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.StatusEventsApply(ctx, tx, fresh); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("in-order replay of %d events: %v", base, time.Since(start).Round(time.Millisecond))
	start = time.Now()

	// Shuffled with 20 % duplicates, posted concurrently through the endpoint.
	shuffled := slices.Clone(evs)
	for i := 0; i < dups; i++ {
		shuffled = append(shuffled, evs[rng.IntN(len(evs))])
	}
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if len(shuffled) != total {
		t.Fatalf("%d events to replay, want %d", len(shuffled), total)
	}
	env.startWorkers(t)
	bodies := make(chan []byte)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range bodies {
				if r := env.post(b, secretA); r.Status != http.StatusOK {
					t.Errorf("post: %d %s", r.Status, r.Body)
				}
			}
		}()
	}
	for i := 0; i < len(shuffled); i += batch {
		bodies <- replayBody("shuf", shuffled[i:min(i+batch, len(shuffled))])
	}
	close(bodies)
	wg.Wait()
	env.waitProcessed(t)
	t.Logf("shuffled replay of %d events (%d duplicates) through the endpoint: %v", total, dups, time.Since(start).Round(time.Millisecond))

	// Every recipient and contact of "shuf" equals its "ord" twin.
	type state struct {
		State                                string
		Sent, Delivered, Read, Failed, Retry *time.Time
		Code                                 *int
		Category                             string
		Billable                             *bool
		Stopped                              bool
		Undeliverable                        int
		Cooled                               *time.Time
	}
	read := func(prefix string) map[string]state {
		rows, err := env.db.Query(ctx, `SELECT substring(r.wamid FROM '[0-9]+$'), r.state, r.sent_at, r.delivered_at, r.read_at, r.failed_at, r.retry_at,
			r.error_code, r.pricing_category, r.billable, c.marketing_stopped, c.undeliverable_count, c.cooled_until
			FROM recipients r JOIN contacts c ON c.id = r.contact_id WHERE r.wamid LIKE $1 || '.%'`, prefix)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]state{}
		for rows.Next() {
			var k string
			var s state
			if err := rows.Scan(&k, &s.State, &s.Sent, &s.Delivered, &s.Read, &s.Failed, &s.Retry, &s.Code, &s.Category, &s.Billable, &s.Stopped, &s.Undeliverable, &s.Cooled); err != nil {
				t.Fatal(err)
			}
			out[k] = s
		}
		return out
	}
	ord, shuf := read("ord"), read("shuf")
	if len(ord) != msgs || len(shuf) != msgs {
		t.Fatalf("%d / %d recipients, want %d", len(ord), len(shuf), msgs)
	}
	states := map[string]int{}
	diffs := 0
	for k, o := range ord {
		s := shuf[k]
		states[o.State]++
		oj, _ := json.Marshal(o)
		sj, _ := json.Marshal(s)
		if string(oj) != string(sj) {
			if diffs++; diffs <= 5 {
				t.Errorf("message %s:\n in order %s\n shuffled %s", k, oj, sj)
			}
		}
	}
	if diffs > 0 {
		t.Fatalf("%d of %d messages differ between the shuffled and the in-order replay", diffs, msgs)
	}
	// The model: failed ones failed, read ones read (with delivered_at), the rest delivered.
	if states["failed"] != msgs/10 || states["read"]+states["delivered"] != msgs-msgs/10 || states["read"] == 0 {
		t.Fatalf("final states %v", states)
	}
	if n := env.count(t, `SELECT count(*) FROM recipients WHERE state = 'read' AND delivered_at IS NULL`); n != 0 {
		t.Fatalf("%d read recipients without delivered_at", n)
	}
	for _, prefix := range []string{"ord", "shuf"} {
		if n := env.count(t, `SELECT count(*) FROM status_events WHERE wamid LIKE $1 || '.%'`, prefix); n != base {
			t.Fatalf("%s: %d status events stored, want %d (duplicates counted once)", prefix, n, base)
		}
		if n := env.count(t, `SELECT count(*) FROM status_events WHERE wamid LIKE $1 || '.%' AND applied_at IS NULL`, prefix); n != 0 {
			t.Fatalf("%s: %d status events not applied", prefix, n)
		}
	}
	var evO, evS int
	env.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE c.phone_e164 LIKE '+57300%'), count(*) FILTER (WHERE c.phone_e164 LIKE '+57310%')
		FROM consent_events e JOIN contacts c ON c.id = e.contact_id`).Scan(&evO, &evS)
	if evO != evS || evO == 0 {
		t.Fatalf("consent events: %d in order, %d shuffled", evO, evS)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
