package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// fakeClock is an injectable clock for the pacer.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// pacer returns a function running one pace tick at the clock's time, outside River's
// scheduling (an insert-only client is in the context for the send jobs it inserts).
func pacer(t *testing.T, b *bundle, clock *fakeClock) func() {
	t.Helper()
	d := b.deps
	d.Now = clock.Now
	w := jobs.NewPaceWorker(d)
	client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{})
	must(t, err)
	ctx := rivertest.WorkContext(context.Background(), client)
	return func() {
		t.Helper()
		must(t, w.Work(ctx, &river.Job[jobs.PaceArgs]{JobRow: &rivertype.JobRow{ID: -1}, Args: jobs.PaceArgs{SenderNumberID: b.number.ID}}))
	}
}

func TestPacing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RollingBudgetOver48SimulatedHours", func(t *testing.T) {
		t.Parallel()
		const limit = 250
		b := setup(t, setupOpts{mps: 80, messagingLimit: limit})
		c := b.campaign(t, "presupuesto", 700, "")
		t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		// 30 contacts wrote to the business an hour before: their service window is open for
		// the first 23 h, so they do not spend the budget then.
		_, err := b.pool.Exec(ctx, `UPDATE contacts SET last_inbound_at = $2 WHERE id IN (
			SELECT contact_id FROM recipients WHERE campaign_id = $1 ORDER BY id LIMIT 30)`, c, t0.Add(-time.Hour))
		must(t, err)
		clock := &fakeClock{t: t0}
		tick := pacer(t, b, clock)
		var ticks []time.Time
		sawWait := ""
		for now := t0; now.Before(t0.Add(72 * time.Hour)); now = now.Add(10 * time.Minute) {
			clock.Set(now)
			tick()
			ticks = append(ticks, now)
			// The send jobs' part, instantly: everything queued is sent.
			_, err := b.pool.Exec(ctx, `UPDATE recipients SET state = 'sent', sent_at = $2 WHERE campaign_id = $1 AND state = 'queued'`, c, now)
			must(t, err)
			if wr := b.campaignState(t, c).WaitReason; wr != "" && sawWait == "" {
				sawWait = wr
			}
			if b.campaignState(t, c).State == store.CampaignCompleted {
				break
			}
		}
		if !strings.Contains(sawWait, "límite de mensajería") || !strings.Contains(sawWait, "se reanuda ~") {
			t.Errorf("wait reason %q, want the messaging limit and when it resumes", sawWait)
		}
		// In every rolling 24 h window, the recipients released outside an open service window
		// are at most the limit.
		for _, at := range ticks {
			var n int
			must(t, b.pool.QueryRow(ctx, `SELECT count(DISTINCT r.contact_id) FROM recipients r JOIN contacts ct ON ct.id = r.contact_id
				WHERE r.campaign_id = $1 AND r.queued_at > $2::timestamptz - interval '24 hours' AND r.queued_at <= $2
				  AND NOT coalesce(ct.last_inbound_at > r.queued_at - interval '24 hours', false)`, c, at).Scan(&n))
			if n > limit {
				t.Fatalf("%d budget-spending recipients in the 24 h before %s, limit %d", n, at, limit)
			}
		}
		counts := b.counts(t, c)
		if counts["sent"] != 700 || b.campaignState(t, c).State != store.CampaignCompleted {
			t.Fatalf("after the run: %v, campaign %s", counts, b.campaignState(t, c).State)
		}
		var last time.Time
		must(t, b.pool.QueryRow(ctx, `SELECT max(queued_at) FROM recipients WHERE campaign_id = $1`, c).Scan(&last))
		// 700 = 250 + 30 free on day 1, 250 on day 2, 170 on day 3.
		if last.Sub(t0) < 48*time.Hour || last.Sub(t0) > 49*time.Hour {
			t.Errorf("last release %s after start, want just after 48 h", last.Sub(t0))
		}
		rem, _, err := store.MessagingBudgetRemaining(ctx, b.pool, b.ws.ID, last)
		must(t, err)
		if rem != limit-170 {
			t.Errorf("budget remaining %d at the end, want %d", rem, limit-170)
		}
	})

	t.Run("NothingOutsideTheSendWindow", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{mps: 80})
		c := b.campaign(t, "ventana", 50, `{"start":"08:00","end":"20:00","weekdays":[1,2,3,4,5]}`)
		bogota, _ := time.LoadLocation("America/Bogota")
		clock := &fakeClock{t: time.Date(2026, 11, 27, 21, 30, 0, 0, bogota)} // Friday night
		tick := pacer(t, b, clock)
		tick()
		if n := b.counts(t, c)["queued"]; n != 0 {
			t.Fatalf("%d released outside the window", n)
		}
		if wr := b.campaignState(t, c).WaitReason; !strings.Contains(wr, "fuera de la ventana") || !strings.Contains(wr, "lun 30/11 08:00") {
			t.Fatalf("wait reason %q", wr)
		}
		clock.Set(time.Date(2026, 11, 30, 8, 0, 1, 0, bogota)) // Monday morning
		tick()
		if n := b.counts(t, c)["queued"]; n != 50 {
			t.Fatalf("%d released inside the window, want 50", n)
		}
		if wr := b.campaignState(t, c).WaitReason; wr != "" {
			t.Fatalf("wait reason %q kept while sending", wr)
		}
	})

	t.Run("SlotsNeverExceedTheThroughputAcrossTicks", func(t *testing.T) {
		t.Parallel()
		const mps = 20 // a coexistence number
		b, c, t0, clock, tick := coexistenceCampaign(t, "coexistencia", 500)
		for now := t0; now.Before(t0.Add(20 * time.Second)); now = now.Add(700 * time.Millisecond) {
			clock.Set(now)
			tick()
			_, err := b.pool.Exec(ctx, `UPDATE recipients SET state = 'sent' WHERE campaign_id = $1 AND state = 'queued' AND send_slot <= $2`, c, now)
			must(t, err)
		}
		rows, err := b.pool.Query(ctx, `SELECT send_slot FROM recipients WHERE campaign_id = $1 AND send_slot IS NOT NULL ORDER BY send_slot`, c)
		must(t, err)
		var slots []time.Time
		for rows.Next() {
			var s time.Time
			must(t, rows.Scan(&s))
			slots = append(slots, s)
		}
		must(t, rows.Err())
		if len(slots) < 300 {
			t.Fatalf("only %d slots handed out in 20 s at %d mps", len(slots), mps)
		}
		if n, from := busiestWindow(slots); n > mps {
			t.Fatalf("%d slots within 1.01 s from %s (throughput %d)", n, from, mps)
		}
	})

	t.Run("PeopleWritingToTheNumberTakeTheirShareOfItsThroughput", func(t *testing.T) {
		t.Parallel()
		// A coexistence number (20 msg/s) that people write to 10 times a second, and whose
		// owner answers from the phone app twice a second: the pacer hands out about 8 slots a
		// second, not 20, or Meta would count 32 and answer 130429.
		b, c, t0, clock, tick := coexistenceCampaign(t, "chat", 1000)
		// Every 100 ms a person writes; every 500 ms the owner answers from the app.
		next := t0.Add(-store.NumberTrafficWindow)
		traffic := func(to time.Time) {
			for ; next.Before(to); next = next.Add(100 * time.Millisecond) {
				dirs := []string{"inbound"}
				if next.Sub(t0)%(500*time.Millisecond) == 0 {
					dirs = append(dirs, "echo")
				}
				for _, dir := range dirs {
					_, err := b.pool.Exec(ctx, `INSERT INTO messages (workspace_id, sender_number_id, direction, wamid, occurred_at)
						VALUES ($1, $2, $3, $4, $5)`, b.ws.ID, b.number.ID, dir, "wamid.chat."+dir+"."+next.Format(time.RFC3339Nano), next)
					must(t, err)
				}
			}
		}
		for now := t0; now.Before(t0.Add(20 * time.Second)); now = now.Add(700 * time.Millisecond) {
			traffic(now)
			clock.Set(now)
			tick()
			_, err := b.pool.Exec(ctx, `UPDATE recipients SET state = 'sent' WHERE campaign_id = $1 AND state = 'queued' AND send_slot <= $2`, c, now)
			must(t, err)
		}
		var slots int
		must(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE campaign_id = $1 AND send_slot >= $2 AND send_slot < $3`,
			c, t0.Add(5*time.Second), t0.Add(15*time.Second)).Scan(&slots))
		t.Logf("%d slots in 10 s beside 12 other messages a second", slots)
		// 10 s at 20 − 12 = 8 msg/s, less the pacer's margins (0.995 / 1.01), give or take
		// the window's edges; 10 a second (echoes not counted) would be about 98.
		if slots > 88 || slots < 70 {
			t.Fatalf("%d slots in 10 s while the number had 12 other messages a second, want 70–88 (8 a second)", slots)
		}
	})

	t.Run("PauseStopsSendsWithinASecond", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{mps: 40})
		rec := recordSends(b)
		c := b.campaign(t, "pausa", 400, "")
		client := b.start(t)
		b.kick(t, client)
		waitFor(t, 30*time.Second, "the first sends", func() bool { return b.sim.AcceptedTotal() >= 40 })
		_, err := store.CampaignTransition(ctx, b.pool, b.ws.ID, c, store.CampaignPaused, store.TransitionParams{Actor: store.ActorUser, Reason: "revisión"})
		must(t, err)
		committed := time.Now()
		waitFor(t, 30*time.Second, "queued recipients back to pending", func() bool {
			n := b.counts(t, c)
			return n["queued"] == 0 && n["sending"] == 0
		})
		// Nothing is in flight any more: nothing more may reach the simulator, and no call
		// started once the pause had committed (checked on the calls' starts: the simulator
		// counts a send when its request arrives, which a loaded machine can delay by as much
		// as the second this test used to allow).
		atPause := b.sim.AcceptedTotal()
		time.Sleep(2 * time.Second)
		if after := b.sim.AcceptedTotal(); after != atPause {
			t.Fatalf("%d sends more after the pause", after-atPause)
		}
		for _, r := range rec.sends() {
			if r.start.After(committed) {
				t.Fatalf("a send started %v after the pause committed", r.start.Sub(committed))
			}
		}
		if n := b.counts(t, c)["pending"]; n == 0 {
			t.Fatal("nothing left pending after the pause")
		}
		// Resume (as the API does: transition + pace job) and finish.
		_, err = store.CampaignTransition(ctx, b.pool, b.ws.ID, c, store.CampaignRunning, store.TransitionParams{Actor: store.ActorUser})
		must(t, err)
		b.kick(t, client)
		waitFor(t, 30*time.Second, "completion after resume", func() bool { return b.campaignState(t, c).State == store.CampaignCompleted })
		st := b.sim.Stats()
		for to, n := range st.PerRecipient {
			if n != 1 {
				t.Fatalf("recipient %s received %d messages", to, n)
			}
		}
		if st.AcceptedTotal != 400 {
			t.Fatalf("accepted %d, want 400", st.AcceptedTotal)
		}
	})
}

// coexistenceCampaign is a running campaign of n recipients on a coexistence number (20
// msg/s), and a pacer ticking at the fake clock's time, which starts now.
func coexistenceCampaign(t *testing.T, name string, n int) (b *bundle, campaign int64, t0 time.Time, clock *fakeClock, tick func()) {
	t.Helper()
	b = setup(t, setupOpts{mps: 80})
	_, err := b.pool.Exec(context.Background(), `UPDATE sender_numbers SET coexistence = true WHERE id = $1`, b.number.ID)
	must(t, err)
	campaign = b.campaign(t, name, n, "")
	t0 = time.Now()
	clock = &fakeClock{t: t0}
	return b, campaign, t0, clock, pacer(t, b, clock)
}

// TestQuietHours: a campaign without a send window of its own follows the workspace's quiet
// hours (20:00–08:00 by default): nothing at night, everything from 08:00.
func TestQuietHours(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, setupOpts{mps: 80})
	_, err := b.pool.Exec(ctx, `UPDATE workspaces SET settings = '{}' WHERE id = $1`, b.ws.ID) // the defaults
	must(t, err)
	c := b.campaign(t, "noche", 30, "")
	bogota, _ := time.LoadLocation("America/Bogota")
	clock := &fakeClock{t: time.Date(2026, 11, 27, 3, 0, 0, 0, bogota)}
	tick := pacer(t, b, clock)
	tick()
	if n := b.counts(t, c)["queued"]; n != 0 {
		t.Fatalf("%d released at 03:00, inside the quiet hours", n)
	}
	if wr := b.campaignState(t, c).WaitReason; !strings.Contains(wr, "fuera de la ventana") || !strings.Contains(wr, "08:00") {
		t.Fatalf("wait reason %q, want the window and 08:00", wr)
	}
	clock.Set(time.Date(2026, 11, 27, 8, 0, 1, 0, bogota))
	tick()
	if n := b.counts(t, c)["queued"]; n != 30 {
		t.Fatalf("%d released at 08:00, want 30", n)
	}
}

// TestContactsWhoLeaveAfterTheLaunch: a campaign's audience is frozen at launch, but a contact
// who opts out, is stopped by WhatsApp or is erased afterwards gets nothing more: pending
// recipients are skipped when the pacer would release them, queued ones when their send job
// would claim them, each with the reason.
func TestContactsWhoLeaveAfterTheLaunch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, setupOpts{mps: 20})
	c := b.campaign(t, "bajas", 60, "")
	type member struct {
		recipient, contact int64
		phone              string
	}
	var audience []member
	rows, err := b.pool.Query(ctx, `SELECT id, contact_id, phone_e164 FROM recipients WHERE campaign_id = $1 ORDER BY contact_id`, c)
	must(t, err)
	for rows.Next() {
		var m member
		must(t, rows.Scan(&m.recipient, &m.contact, &m.phone))
		audience = append(audience, m)
	}
	must(t, rows.Err())

	// Before the first release: a manual opt-out, WhatsApp's stop, an erasure.
	_, err = store.ContactOptOut(ctx, b.pool, b.ws.ID, audience[0].contact, "pidió no recibir más", 0)
	must(t, err)
	_, err = store.WAContactMarketingPreference(ctx, b.pool, b.ws.ID, audience[1].contact, true, time.Now(), "stop")
	must(t, err)
	must(t, store.ContactErase(ctx, b.pool, b.ws.ID, audience[2].contact))
	want := map[int64]string{audience[0].recipient: "opted_out", audience[1].recipient: "marketing_stopped", audience[2].recipient: "erased"}

	client := b.start(t)
	b.kick(t, client)
	// After the release: the queued recipient whose slot is furthest away opts out.
	var late member
	waitFor(t, 10*time.Second, "a recipient queued a second ahead", func() bool {
		return b.pool.QueryRow(ctx, `SELECT id, contact_id, phone_e164 FROM recipients
			WHERE campaign_id = $1 AND state = 'queued' AND send_slot > now() + interval '1 second'
			ORDER BY send_slot DESC LIMIT 1`, c).Scan(&late.recipient, &late.contact, &late.phone) == nil
	})
	_, err = store.ContactOptOut(ctx, b.pool, b.ws.ID, late.contact, "respondió BAJA", 0)
	must(t, err)
	want[late.recipient] = "opted_out"

	waitFor(t, 30*time.Second, "the campaign completed", func() bool { return b.campaignState(t, c).State == store.CampaignCompleted })
	gone := map[string]bool{}
	for _, m := range append(audience[:3:3], late) {
		gone[strings.TrimPrefix(m.phone, "+")] = true
	}
	st := b.sim.Stats()
	for to, n := range st.PerRecipient {
		if gone[to] {
			t.Errorf("%s got %d message(s) after leaving", to, n)
		} else if n != 1 {
			t.Errorf("%s got %d messages", to, n)
		}
	}
	if st.AcceptedTotal != len(audience)-len(want) {
		t.Errorf("simulator accepted %d sends, want %d", st.AcceptedTotal, len(audience)-len(want))
	}
	for id, reason := range want {
		var state, got string
		must(t, b.pool.QueryRow(ctx, `SELECT state, skip_reason FROM recipients WHERE id = $1`, id).Scan(&state, &got))
		if state != store.RecipientSkipped || got != reason {
			t.Errorf("recipient %d: %s (%q), want skipped (%q)", id, state, got, reason)
		}
	}
	counts, err := store.CampaignCounts(ctx, b.pool, b.ws.ID, c)
	must(t, err)
	if got, want := fmtCounts(counts), fmtCounts(b.counts(t, c)); got != want {
		t.Errorf("counters %s, recount %s", got, want)
	}
}

// TestPauseAtHighThroughput pauses a campaign sending at 500 msg/s: no call may start after
// the pause has committed (each recipient is claimed, checking the campaign under a share lock
// on its row, only as its slot comes due, and called right after), and nobody gets a message
// twice. It logs the latency from the pause's commit to the last accepted send.
func TestPauseAtHighThroughput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const mps = 500
	b := setup(t, setupOpts{mps: mps})
	rec := recordSends(b)
	c := b.campaign(t, "pausa-rapida", 4000, "")
	rc := b.start(t)
	b.kick(t, rc)
	waitFor(t, 30*time.Second, "sending at full speed", func() bool { return b.sim.AcceptedTotal() >= 800 })

	pauseStart := time.Now()
	_, err := store.CampaignTransition(ctx, b.pool, b.ws.ID, c, store.CampaignPaused, store.TransitionParams{Actor: store.ActorUser, Reason: "revisión"})
	must(t, err)
	committed := time.Now()
	// Every send job still holding a slot finds the campaign paused and puts its recipients back
	// to pending (as their slots come due: up to the pacer's 3-s horizon). A recipient whose
	// slot was missed before the pause stays queued until the resume re-releases it.
	waitFor(t, 30*time.Second, "queued and sending recipients settled", func() bool {
		var left int
		must(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE campaign_id = $1
			AND (state = 'sending' OR (state = 'queued' AND send_slot > $2))`, c, pauseStart).Scan(&left))
		return left == 0
	})
	time.Sleep(500 * time.Millisecond)

	var inFlight, after, acceptedAfter int
	var lastAccept time.Time
	for _, r := range rec.sends() {
		switch {
		case r.start.After(committed):
			after++
			if r.accepted {
				acceptedAfter++
			}
		case r.start.After(pauseStart):
			inFlight++ // started while the pause was committing
		}
		if r.accepted && r.end.After(lastAccept) {
			lastAccept = r.end
		}
	}
	st := b.sim.Stats()
	t.Logf("pause took %v to commit; %d calls started while it committed; %d started after it (%d accepted); "+
		"last accepted send answered %v after the commit; %d accepted in all, busiest 1-s window %d (throughput %d)",
		committed.Sub(pauseStart).Round(time.Microsecond), inFlight, after, acceptedAfter,
		lastAccept.Sub(committed).Round(time.Millisecond), st.AcceptedTotal, st.MaxPerSecond, mps)
	if after > 0 {
		t.Errorf("%d calls started after the pause committed (%d accepted)", after, acceptedAfter)
	}
	// The pacing is checked on the slots and the calls' starts; the simulator's count, at the
	// requests' arrival, allows 100 ms of their lag.
	checkPaced(t, b, rec, mps, mps/10)
	for to, n := range st.PerRecipient {
		if n != 1 {
			t.Fatalf("recipient %s received %d messages", to, n)
		}
	}
	counts := b.counts(t, c)
	if sent := counts["sent"] + counts["delivered"] + counts["read"]; sent != int64(st.AcceptedTotal) || counts["pending"] == 0 {
		t.Errorf("after the pause: %v; simulator accepted %d", counts, st.AcceptedTotal)
	}
}

// A pacer with nothing to do for a while (its campaign's send window is closed) postpones its
// next run; a resume or launch inserting a pace job in the second that run was first due for is
// not merged into it (it would wait until the postponed time, up to a minute) but runs now.
func TestPostponedTickLeavesRoomForAResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, setupOpts{mps: 80})
	now := time.Now().In(b.ws.Location())
	window := fmt.Sprintf(`{"start":%q,"end":%q}`, now.Add(2*time.Hour).Format("15:04"), now.Add(3*time.Hour).Format("15:04"))
	b.campaign(t, "más tarde", 5, window)
	clock := &fakeClock{t: time.Now()}
	tick := pacer(t, b, clock)
	tick()
	var postponed time.Time
	must(t, b.pool.QueryRow(ctx, `SELECT scheduled_at FROM river_job WHERE kind = 'pace'`).Scan(&postponed))
	if postponed.Before(time.Now().Add(30 * time.Second)) {
		t.Fatalf("the waiting pacer's next run is at %s, want it postponed (MaxWait)", postponed)
	}
	// The second the successor was first due for: a resume then.
	time.Sleep(time.Until(clock.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
	client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{})
	must(t, err)
	res, err := client.Insert(ctx, jobs.PaceArgs{SenderNumberID: b.number.ID}, nil)
	must(t, err)
	if res.UniqueSkippedAsDuplicate {
		t.Fatalf("the resume's pace job was merged into the run postponed to %s", postponed)
	}
}
