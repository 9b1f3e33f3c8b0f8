package jobs_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// heldCampaign is a running campaign of n recipients whose template Meta paces: the pacer
// (at the fake clock's time, which follows the real one while sending) releases them and the
// send job sends them all through the simulator, which answers each
// "held_for_quality_assessment". It returns when every recipient has an outcome.
func heldCampaign(t *testing.T, n int) (b *bundle, campaign int64, clock *fakeClock, tick func()) {
	t.Helper()
	ctx := context.Background()
	b = setup(t, setupOpts{mps: 80})
	must(t, b.sim.SetTemplatePacing("hola", "es", true))
	campaign = b.campaign(t, "retenida", n, "")
	clock = &fakeClock{t: time.Now()}
	tick = pacer(t, b, clock)
	sends := jobs.NewSendMessageWorker(b.deps)
	client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{})
	must(t, err)
	wctx := rivertest.WorkContext(ctx, client)
	// A send that misses its slot on a loaded machine goes back to pending: release it again.
	for round := 0; ; round++ {
		left := b.counts(t, campaign)
		if left["pending"]+left["queued"]+left["sending"] == 0 {
			break
		}
		if round == 20 {
			t.Fatalf("recipients still to send after %d rounds: %v", round, left)
		}
		clock.Set(time.Now())
		tick()
		rows, err := b.pool.Query(ctx, `UPDATE river_job SET state = 'completed', finalized_at = now()
			WHERE kind = 'send_message' AND state IN ('available', 'scheduled') RETURNING id, args`)
		must(t, err)
		type job struct {
			id   int64
			args jobs.SendMessageArgs
		}
		var due []job
		for rows.Next() {
			var j job
			var raw []byte
			must(t, rows.Scan(&j.id, &raw))
			must(t, json.Unmarshal(raw, &j.args))
			due = append(due, j)
		}
		must(t, rows.Err())
		for _, j := range due {
			must(t, sends.Work(wctx, &river.Job[jobs.SendMessageArgs]{JobRow: &rivertype.JobRow{ID: j.id, Attempt: 1}, Args: j.args}))
		}
	}
	if held := b.heldCount(t, campaign); held != int64(n) {
		t.Fatalf("%d sends recorded as held, want %d (%v)", held, n, b.counts(t, campaign))
	}
	return b, campaign, clock, tick
}

func (b *bundle) heldCount(t *testing.T, campaign int64) int64 {
	t.Helper()
	n, err := store.CampaignHeldCount(context.Background(), b.pool, b.ws.ID, campaign)
	must(t, err)
	return n
}

// heldSpan is the earliest and latest held_at of the campaign's recipients.
func (b *bundle) heldSpan(t *testing.T, campaign int64) (first, last time.Time) {
	t.Helper()
	must(t, b.pool.QueryRow(context.Background(), `SELECT min(held_at), max(held_at) FROM recipients WHERE campaign_id = $1`,
		campaign).Scan(&first, &last))
	return first, last
}

// Meta holds sends of a paced template and decides within about an hour: good feedback
// releases them (normal statuses), bad feedback drops them (132015), which Pregón sends again
// only while the campaign has not completed. So a campaign whose last sends are held waits,
// saying why and ticking slowly, until Meta's word on each of them or store.HoldLimit.
func TestHeldSendsKeepTheCampaignRunning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// waitsForHolds checks that the campaign is running, waiting for n held sends only, and
	// that its pacer comes back later than its usual tick but within MaxWait.
	waitsForHolds := func(t *testing.T, b *bundle, c int64, clock *fakeClock, n int) {
		t.Helper()
		cp := b.campaignState(t, c)
		if cp.State != store.CampaignRunning {
			t.Fatalf("campaign %s with %d sends held, want running", cp.State, n)
		}
		if !strings.Contains(cp.WaitReason, "Meta retiene "+strconv.Itoa(n)+" envíos") || !strings.Contains(cp.WaitReason, "calidad de la plantilla") {
			t.Fatalf("wait reason %q, want Meta holding %d sends", cp.WaitReason, n)
		}
		var next time.Time
		must(t, b.pool.QueryRow(ctx, `SELECT max(scheduled_at) FROM river_job WHERE kind = 'pace' AND state IN ('available', 'scheduled')`).Scan(&next))
		now := clock.Now()
		if next.Before(now.Add(10*time.Second)) || next.After(now.Add(time.Minute+time.Second)) {
			t.Fatalf("next pace tick %v after the tick, want a slow tick (within the 60-s MaxWait)", next.Sub(now))
		}
	}

	t.Run("CompletesOnceMetaReleasesThem", func(t *testing.T) {
		t.Parallel()
		b, c, clock, tick := heldCampaign(t, 4)
		if got := b.counts(t, c); got["sent"] != 4 {
			t.Fatalf("held sends count %v, want 4 sent", got)
		}
		clock.Set(clock.Now().Add(time.Minute))
		tick()
		waitsForHolds(t, b, c, clock, 4)

		// Meta releases two: their delivered statuses end their hold; the campaign still waits.
		rows, err := b.pool.Query(ctx, `SELECT wamid FROM recipients WHERE campaign_id = $1 ORDER BY id`, c)
		must(t, err)
		wamids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		must(t, err)
		deliver := func(wamids []string) {
			t.Helper()
			events := make([]store.StatusEvent, len(wamids))
			for i, w := range wamids {
				events[i] = store.StatusEvent{WorkspaceID: &b.ws.ID, WAMID: w, Status: "delivered", OccurredAt: clock.Now()}
			}
			must(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
				_, err := store.StatusEventsIngest(ctx, tx, events)
				return err
			}))
		}
		deliver(wamids[:2])
		clock.Set(clock.Now().Add(10 * time.Minute))
		tick()
		waitsForHolds(t, b, c, clock, 2)
		if held := b.heldCount(t, c); held != 2 {
			t.Fatalf("%d held after two were released, want 2", held)
		}

		deliver(wamids[2:])
		clock.Set(clock.Now().Add(time.Minute))
		tick()
		if cp := b.campaignState(t, c); cp.State != store.CampaignCompleted {
			t.Fatalf("campaign %s (%q) once Meta released every held send, want completed", cp.State, cp.WaitReason)
		}
		if got := b.counts(t, c); got["delivered"] != 4 || b.heldCount(t, c) != 0 {
			t.Fatalf("after the release: %v, %d held; want 4 delivered, none held", got, b.heldCount(t, c))
		}
	})

	t.Run("CompletesWhenTheHoldLimitPassesWithoutWord", func(t *testing.T) {
		t.Parallel()
		b, c, clock, tick := heldCampaign(t, 3)
		first, last := b.heldSpan(t, c)
		clock.Set(first.Add(store.HoldLimit - 5*time.Minute))
		tick()
		waitsForHolds(t, b, c, clock, 3)

		clock.Set(last.Add(store.HoldLimit))
		tick()
		if cp := b.campaignState(t, c); cp.State != store.CampaignCompleted {
			t.Fatalf("campaign %s (%q) %v after the last hold, want completed", cp.State, cp.WaitReason, store.HoldLimit)
		}
		// Still sent, and still held as far as anyone knows.
		if got := b.counts(t, c); got["sent"] != 3 || b.heldCount(t, c) != 3 {
			t.Fatalf("after the hold limit: %v, %d held; want 3 sent and held", got, b.heldCount(t, c))
		}
	})
}
