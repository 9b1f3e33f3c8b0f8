package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/pregon/pregon/store"
)

// PaceArgs asks the pacer to release the next recipients of a sender number's running
// campaigns. Launch and resume insert it in their transaction; the pacer re-inserts itself
// while work remains.
//
// Jobs are unique per number and per second (the period of their scheduled time), so any
// number of inserts — launch, resume, the pacer's own successor — collapse into at most one
// run per number per second.
type PaceArgs struct {
	SenderNumberID int64 `json:"sender_number_id" river:"unique"`
}

func (PaceArgs) Kind() string { return "pace" }

func (PaceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueCampaign, MaxAttempts: 1000,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Second}}
}

// PaceConfig tunes the pacer and the send job. Zero fields take the defaults below.
type PaceConfig struct {
	// Tick is how often a number's pacer runs while it has work (default 1 s).
	Tick time.Duration
	// Horizon: each tick hands out send slots up to now + Horizon (default 3 s), so a late
	// tick never leaves the number idle.
	Horizon time.Duration
	// Lead: a send job becomes available this long before its first slot (default 600 ms); it
	// waits for each slot itself. It must exceed the sends queue's FetchPollInterval (plus 10 %
	// jitter) so that jobs are fetched before their slot. A job holds one worker for about
	// Lead + BatchSpan + API latency, so a number needs only a handful of workers at any rate.
	Lead time.Duration
	// Grace: a send that cannot call the API within Grace after its slot gives the slot up and
	// its recipient goes back to pending (default 10 ms): late sends never bunch up. Calls
	// happen in [slot, slot+Grace], so the pacer spaces slots at mps/(1+Grace/1s): any 1-s
	// window then holds at most mps calls.
	Grace time.Duration
	// Headroom is a further share of the throughput the pacer schedules (default 0.995), a
	// margin for jitter between a call's start and Meta's count of it: with calls on time, a
	// stall of a few milliseconds in transit (or in the counting process) moves a few counts
	// into the next second. 0.999 and 0.997 did not absorb it on a loaded machine (busiest
	// windows of 1,001 at 1,000 msg/s, load 5-6); a 130429 costs far more (the rate halves).
	Headroom float64
	// ClaimAhead: a send job claims its recipients (queued → sending, committed, re-checking
	// that the campaign runs) this long before their slots (default 100 ms), so that the claim's
	// latency on a busy database is spent before the slot and each call goes out at its slot
	// with no round trip. The number's send gate (store.SendGateClose) still orders every call
	// before a pause's commit: a pause waits for the calls already claimed (at most ClaimAhead
	// + ClaimEvery), and nothing is claimed or called after it commits.
	ClaimAhead time.Duration
	// ClaimEvery: a send job claims the recipients of this much of its slots together, in one
	// statement on one connection holding the send gate (default 40 ms: about 40 recipients at
	// 1,000 msg/s).
	ClaimEvery time.Duration
	// ClaimConcurrency: claim rounds a send job may have in flight at once, each holding a
	// connection from its claim until its last call starts (default 6; a round lasts about
	// ClaimAhead + ClaimEvery).
	ClaimConcurrency int
	// BatchSpan: the pacer puts the recipients of this much of a number's slots into one send
	// job (default 250 ms), so River carries a few jobs a second, not one per message.
	BatchSpan time.Duration
	// SentFlush: accepted sends are recorded at least this often (default 20 ms), many per
	// statement.
	SentFlush time.Duration
	// StaleQueued: a recipient queued for a slot this far in the past has no send job that
	// will still send it (its job gave the slot up, or died with its worker); the pacer puts
	// it back to pending (default 2 s; any value above Grace is safe, as a send job claims its
	// recipient only while it still holds that slot).
	StaleQueued time.Duration
	// StaleSending: a recipient in sending this long belongs to a send that died during or
	// after the API call; it becomes unknown for the webhook to settle (default 45 s; sends
	// time out after SendTimeout).
	StaleSending time.Duration
	// SendTimeout bounds one API call (default 15 s).
	SendTimeout time.Duration
	// MaxWait is the longest a waiting number (window closed, budget used up) sleeps between
	// ticks (default 60 s).
	MaxWait time.Duration
}

func (c PaceConfig) withDefaults() PaceConfig {
	c.Tick = cmp.Or(c.Tick, time.Second)
	c.Horizon = cmp.Or(c.Horizon, 3*time.Second)
	c.Lead = cmp.Or(c.Lead, 600*time.Millisecond)
	c.Grace = cmp.Or(c.Grace, 10*time.Millisecond)
	c.Headroom = cmp.Or(c.Headroom, 0.995)
	c.ClaimAhead = cmp.Or(c.ClaimAhead, 100*time.Millisecond)
	c.ClaimEvery = cmp.Or(c.ClaimEvery, 40*time.Millisecond)
	c.ClaimConcurrency = cmp.Or(c.ClaimConcurrency, 6)
	c.BatchSpan = cmp.Or(c.BatchSpan, 250*time.Millisecond)
	c.SentFlush = cmp.Or(c.SentFlush, 20*time.Millisecond)
	c.StaleQueued = cmp.Or(c.StaleQueued, 2*time.Second)
	c.StaleSending = cmp.Or(c.StaleSending, 45*time.Second)
	c.SendTimeout = cmp.Or(c.SendTimeout, 15*time.Second)
	c.MaxWait = cmp.Or(c.MaxWait, time.Minute)
	return c
}

// PaceWorker releases a sender number's recipients within its throughput and the workspace's
// rolling 24 h messaging budget. One tick, in one transaction under the number's pacing-row
// lock: repair what crashed sends left, pick the running campaigns inside their send window,
// claim pending recipients (FOR UPDATE SKIP LOCKED, fair share per campaign, budget spent only
// by recipients outside an open service window and not yet counted; with hold_active_chats,
// contacts chatting with the owner wait for the chat's end: store.RecipientsClaim), mark them
// queued with a send slot each (slots spaced 1/rate apart, continuing where the last tick
// stopped, so no 1-s window holds more than the throughput), and insert their send jobs.
// Waiting campaigns say why in wait_reason; finished ones complete (store.CampaignWorkGet:
// nothing left to send or in flight, and no send Meta still holds for template pacing within
// store.HoldLimit).
type PaceWorker struct {
	river.WorkerDefaults[PaceArgs]
	db  *pgxpool.Pool
	now func() time.Time
	log *slog.Logger
	cfg PaceConfig
}

// NewPaceWorker builds the pacer from the shared dependencies.
func NewPaceWorker(d Deps) *PaceWorker {
	return &PaceWorker{db: d.DB, now: orNow(d.Now), log: cmp.Or(d.Logger, slog.Default()), cfg: d.Pacing.withDefaults()}
}

func (w *PaceWorker) Timeout(*river.Job[PaceArgs]) time.Duration { return 30 * time.Second }

func (w *PaceWorker) Work(ctx context.Context, job *river.Job[PaceArgs]) error {
	client := river.ClientFromContext[pgx.Tx](ctx)
	numberID := job.Args.SenderNumberID
	now := w.now()

	// The successor goes in first, in its own transaction, so a worker killed mid-tick never
	// breaks the chain. A tick that finds the number waiting moves it later.
	var running bool
	if err := w.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM campaigns WHERE sender_number_id = $1 AND state = 'running')`,
		numberID).Scan(&running); err != nil {
		return fmt.Errorf("checking running campaigns of number %d: %w", numberID, err)
	}
	if !running {
		return nil
	}
	next := now.Truncate(time.Second).Add(w.cfg.Tick)
	succ, err := insertAvailableAt(ctx, w.db, client, PaceArgs{SenderNumberID: numberID}, next)
	if err != nil {
		return fmt.Errorf("scheduling next pace tick of number %d: %w", numberID, err)
	}

	// Repairs first, each statement on its own: a transaction that held the counter rows they
	// touch until the tick's end would deadlock with the send jobs' claims.
	requeued, unknown, err := w.recoverStale(ctx, numberID, now)
	if err != nil {
		return fmt.Errorf("pacing number %d: %w", numberID, err)
	}

	tx, err := w.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	res, err := w.tick(ctx, tx, client, numberID, now, requeued)
	res.requeued, res.unknown = requeued, unknown
	if err != nil {
		return fmt.Errorf("pacing number %d: %w", numberID, err)
	}
	if res.wake.After(next) && succ != nil && succ.ID != job.ID {
		// The postponed successor gives up its uniqueness (its second, next): a resume or a
		// launch inserting a pace job in that second would otherwise be merged into it and wait
		// until wake (a minute). The two chains merge at the next second both insert a
		// successor for; while the number only waits they tick apart, each once per wake.
		if _, err := tx.Exec(ctx, `UPDATE river_job SET scheduled_at = $2, unique_key = NULL WHERE id = $1 AND state IN ('available', 'scheduled')`,
			succ.ID, res.wake); err != nil {
			return fmt.Errorf("postponing next pace tick of number %d: %w", numberID, err)
		}
	}
	if err := store.RecipientsQueue(ctx, tx, res.workspaceID, res.queueIDs, res.queueSlots, now); err != nil {
		return fmt.Errorf("pacing number %d: %w", numberID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing pace tick of number %d: %w", numberID, err)
	}
	if res.released > 0 || res.requeued > 0 || res.unknown > 0 {
		w.log.DebugContext(ctx, "pace tick", slog.Int64("sender_number_id", numberID), slog.Int("released", res.released),
			slog.Int64("requeued", res.requeued), slog.Int64("unknown", res.unknown))
	}
	return nil
}

type tickResult struct {
	queueIDs          []int64
	queueSlots        []time.Time
	workspaceID       int64
	released          int
	requeued, unknown int64
	wake              time.Time // when the next tick is useful
}

// campaignPlan is one running campaign's part in a tick.
type campaignPlan struct {
	c          store.Campaign
	window     store.SendWindow // its own, or the workspace's hours outside quiet hours
	inWindow   bool
	candidates []store.ClaimCandidate
	picked     []store.ClaimCandidate
	budgetHeld bool // it had candidates the budget did not allow
}

// recoverStale repairs what crashed or late sends left in the number's running campaigns
// (store.RecipientsRecoverStale), outside the tick's transaction.
func (w *PaceWorker) recoverStale(ctx context.Context, numberID int64, now time.Time) (requeued, unknown int64, err error) {
	campaigns, err := store.CampaignsRunningForNumber(ctx, w.db, numberID)
	if err != nil || len(campaigns) == 0 {
		return 0, 0, err
	}
	byWorkspace := map[int64][]int64{}
	for _, c := range campaigns {
		byWorkspace[c.WorkspaceID] = append(byWorkspace[c.WorkspaceID], c.ID)
	}
	for wsID, ids := range byWorkspace {
		q, u, err := store.RecipientsRecoverStale(ctx, w.db, wsID, ids, now.Add(-w.cfg.StaleQueued), now.Add(-w.cfg.StaleSending))
		if err != nil {
			return requeued, unknown, err
		}
		requeued, unknown = requeued+q, unknown+u
	}
	return requeued, unknown, nil
}

// tick releases the number's next slots inside tx; requeued is how many recipients
// recoverStale found with a missed slot.
func (w *PaceWorker) tick(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], numberID int64, now time.Time, requeued int64) (tickResult, error) {
	res := tickResult{wake: now.Add(w.cfg.Tick)}
	number, err := store.SenderNumberGet(ctx, tx, numberID)
	if errors.Is(err, store.ErrNotFound) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	pacing, ok, err := store.NumberPacingLock(ctx, tx, number.WorkspaceID, numberID)
	if err != nil || !ok {
		return res, err // another tick holds the number
	}
	campaigns, err := store.CampaignsRunningForNumber(ctx, tx, numberID)
	if err != nil || len(campaigns) == 0 {
		return res, err
	}
	ws, err := store.WorkspaceGetByID(ctx, tx, number.WorkspaceID)
	if err != nil {
		return res, err
	}
	loc := ws.Location()

	// The rate: the number's throughput, the pacer's headroom, and the 130429 back-off, which
	// recovers 10 % a tick once its back-off period is over.
	backingOff := pacing.BackoffUntil != nil && !now.After(*pacing.BackoffUntil)
	if missed := float64(requeued); missed > 3 && missed > 0.02*float64(number.EffectiveMPS())*w.cfg.Tick.Seconds() {
		// Many slots were missed (more than 2 % of a tick's): the workers (or the database)
		// could not keep up with the rate. Slow down as for a 130429 and recover gradually,
		// rather than hand out slots that will be missed too. A few late sends on a busy
		// machine are simply released again. At most once per back-off period: the slots
		// found missed in the next ticks were mostly handed out before this cut (they are
		// found StaleQueued late), and compounding cuts for one stall (0.8³ in three ticks)
		// kept the number at half its rate for ten seconds after it had recovered.
		if !backingOff {
			pacing.RateFactor = math.Max(0.05, pacing.RateFactor*0.8)
			until := now.Add(2 * time.Second)
			pacing.BackoffUntil = &until
		}
	} else if pacing.RateFactor < 1 && !backingOff {
		pacing.RateFactor = math.Min(1, pacing.RateFactor*1.1)
	}
	// Meta's throughput counts the number's other messages too (people writing to it, the owner
	// answering from the phone app): leave them the share they took in the last seconds, up to
	// 80 % of it; the 130429 back-off covers a burst beyond that.
	traffic, err := store.NumberRecentTraffic(ctx, tx, numberID, now)
	if err != nil {
		return res, err
	}
	mps := float64(number.EffectiveMPS())
	mps -= math.Min(traffic, 0.8*mps)
	rate := mps * w.cfg.Headroom * pacing.RateFactor / (1 + w.cfg.Grace.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	start := now.Add(w.cfg.Lead)
	if pacing.NextSlotAt.After(start) {
		start = pacing.NextSlotAt
	}
	slots := 0
	if end := now.Add(w.cfg.Horizon); end.After(start) && number.Status == store.NumberActive {
		slots = int(end.Sub(start) / interval)
	}

	wake := now.Add(w.cfg.MaxWait)
	plans := make([]*campaignPlan, 0, len(campaigns))
	var active []*campaignPlan
	for _, c := range campaigns {
		if c.WorkspaceID != ws.ID {
			continue
		}
		p := &campaignPlan{c: c, window: ws.Settings.Window(c.SendWindow)}
		p.inWindow = p.window.Contains(now, loc)
		plans = append(plans, p)
		if p.inWindow {
			active = append(active, p)
		} else if open := p.window.NextOpen(now, loc); open.After(now) && open.Before(wake) {
			wake = open
		}
	}

	// Fair share: every active campaign may take an equal share of the slots; what one cannot
	// use goes to the others in a second pass. The second pass runs in the same transaction,
	// whose own locks SKIP LOCKED does not skip: it excludes what the first pass claimed, or
	// those recipients would come back and take a second slot each.
	if slots > 0 && len(active) > 0 {
		share := (slots + len(active) - 1) / len(active)
		for _, p := range active {
			p.candidates, err = store.RecipientsClaim(ctx, tx, store.ClaimParams{
				WorkspaceID: ws.ID, CampaignID: p.c.ID, Now: now, Limit: share})
			if err != nil {
				return res, err
			}
		}
		left := slots
		for _, p := range active {
			left -= len(p.candidates)
		}
		for _, p := range active {
			if left <= 0 {
				break
			}
			if len(p.candidates) < share {
				continue
			}
			claimed := make([]int64, len(p.candidates))
			for i, cand := range p.candidates {
				claimed[i] = cand.ID
			}
			more, err := store.RecipientsClaim(ctx, tx, store.ClaimParams{
				WorkspaceID: ws.ID, CampaignID: p.c.ID, Now: now, Limit: left, Exclude: claimed})
			if err != nil {
				return res, err
			}
			p.candidates = append(p.candidates, more...)
			left -= len(more)
		}
	}
	// The messaging budget: a contact spends it once per rolling 24 h, unless its service
	// window is open. Under a limit, who is counted is read again once the workspace's budget
	// is locked: another number's pacer may have counted a candidate since it was selected.
	budget := -1 // unlimited
	var resetsAt time.Time
	countedNow := map[int64]bool{}
	if ws.MessagingLimit >= 0 && len(active) > 0 {
		if err := store.MessagingBudgetLock(ctx, tx, ws.ID); err != nil {
			return res, err
		}
		if budget, resetsAt, err = store.MessagingBudgetRemaining(ctx, tx, ws.ID, now); err != nil {
			return res, err
		}
		var uncounted []int64
		for _, p := range active {
			for _, cand := range p.candidates {
				if !cand.InWindow && !cand.Counted {
					uncounted = append(uncounted, cand.ContactID)
				}
			}
		}
		if countedNow, err = store.MessagingLedgerCountedAmong(ctx, tx, ws.ID, uncounted, now); err != nil {
			return res, err
		}
	}
	// Pick round-robin across campaigns so their sends interleave within the slots.
	var order []*campaignPlan
	var picked []store.ClaimCandidate
	counted := map[int64][]int64{}  // campaign → contacts spending budget
	countedHere := map[int64]bool{} // contacts counted by this tick (shared by two campaigns: once)
	var recounted []int64           // contacts already counted: a send now keeps them counted
	for i := 0; len(picked) < slots; i++ {
		progress := false
		for _, p := range active {
			if i >= len(p.candidates) || len(picked) >= slots {
				continue
			}
			progress = true
			cand := p.candidates[i]
			switch {
			case cand.InWindow:
			case cand.Counted || countedNow[cand.ContactID]:
				recounted = append(recounted, cand.ContactID)
			case countedHere[cand.ContactID]:
			default:
				if budget == 0 {
					p.budgetHeld = true
					continue
				}
				if budget > 0 {
					budget--
				}
				countedHere[cand.ContactID] = true
				counted[p.c.ID] = append(counted[p.c.ID], cand.ContactID)
			}
			p.picked = append(p.picked, cand)
			picked = append(picked, cand)
			order = append(order, p)
		}
		if !progress {
			break
		}
	}

	if len(picked) > 0 {
		// Claiming took time: slots start no earlier than a lead from now.
		if s := w.now().Add(w.cfg.Lead); s.After(start) {
			start = s
		}
		ids := make([]int64, len(picked))
		slotsAt := make([]time.Time, len(picked))
		var params []river.InsertManyParams
		var batch *SendMessageArgs
		for i, cand := range picked {
			slot := start.Add(time.Duration(i) * interval).Truncate(time.Microsecond)
			ids[i], slotsAt[i] = cand.ID, slot
			if batch == nil || slot.Sub(batch.Slot) >= w.cfg.BatchSpan {
				params = append(params, river.InsertManyParams{
					Args:       &SendMessageArgs{WorkspaceID: ws.ID, SenderNumberID: numberID, Slot: slot},
					InsertOpts: &river.InsertOpts{ScheduledAt: slot.Add(-w.cfg.Lead)},
				})
				batch = params[len(params)-1].Args.(*SendMessageArgs)
			}
			batch.Recipients = append(batch.Recipients, cand.ID)
			batch.OffsetsUS = append(batch.OffsetsUS, slot.Sub(batch.Slot).Microseconds())
		}
		// Marking them queued touches the campaign counters every send job also updates: it
		// is the tick's last statement (see Work), so those rows stay locked only briefly.
		res.queueIDs, res.queueSlots, res.workspaceID = ids, slotsAt, ws.ID
		for cid, contacts := range counted {
			if err := store.MessagingLedgerRecord(ctx, tx, ws.ID, cid, contacts, now); err != nil {
				return res, err
			}
		}
		if err := store.MessagingLedgerTouch(ctx, tx, ws.ID, recounted, now); err != nil {
			return res, err
		}
		if err := insertManyAvailable(ctx, tx, client, params); err != nil {
			return res, fmt.Errorf("inserting %d send jobs: %w", len(params), err)
		}
		pacing.NextSlotAt = start.Add(time.Duration(len(picked)) * interval)
		pacing.Released += int64(len(picked))
		res.released = len(picked)
	}
	pacing.LastTickAt = &now
	if err := store.NumberPacingSave(ctx, tx, pacing); err != nil {
		return res, err
	}

	// Wait reasons, completion and when to come back.
	busy := false
	for _, p := range plans {
		reason := ""
		switch {
		case !p.inWindow:
			open := p.window.NextOpen(now, loc)
			reason = fmt.Sprintf("fuera de la ventana de envío, se reanuda %s", formatWhen(open, now, loc))
		case len(p.picked) > 0:
			busy = true
		case p.budgetHeld:
			reason = fmt.Sprintf("esperando el límite de mensajería (%d destinatarios únicos por 24 h), se reanuda ~%s",
				ws.MessagingLimit, formatWhen(resetsAt, now, loc))
			if !resetsAt.IsZero() && resetsAt.Before(wake) {
				wake = resetsAt
			}
		case slots == 0 && number.Status != store.NumberActive:
			reason = "el número de envío está detenido"
		case slots == 0:
			busy = true // throughput used up for this horizon: come back next tick
		case len(p.candidates) == 0:
			work, err := store.CampaignWorkGet(ctx, tx, ws.ID, p.c.ID, now)
			if err != nil {
				return res, err
			}
			switch {
			case work.Done():
				if _, err := store.CampaignTransition(ctx, tx, ws.ID, p.c.ID, store.CampaignCompleted, store.TransitionParams{
					Actor: store.ActorSystem, Signal: store.SignalFinished,
					Reason: "todos los destinatarios tienen un resultado final",
				}); err != nil && !errors.Is(err, store.ErrConflict) {
					return res, err
				}
				continue
			case work.Active:
				busy = true // sends in flight, or retries later: keep ticking
				if next, err := store.CampaignNextRetryAt(ctx, tx, ws.ID, p.c.ID); err == nil && next != nil && next.After(now) && next.Before(wake) {
					wake = *next
				}
			default:
				// Only sends Meta holds for template pacing are left: it releases or drops them
				// (a drop is sent again) within about an hour. Tick slowly (MaxWait) until their
				// statuses arrive or store.HoldLimit passes.
				reason = heldReason(work.Held)
				if work.HeldUntil.Before(wake) {
					wake = work.HeldUntil
				}
			}
		}
		if reason != p.c.WaitReason {
			if err := store.CampaignSetWaitReason(ctx, tx, p.c.ID, reason); err != nil {
				return res, err
			}
		}
	}
	if busy {
		wake = now.Add(w.cfg.Tick)
	}
	res.wake = wake
	return res, nil
}

// heldReason is the wait reason of a campaign that waits only for sends Meta holds.
func heldReason(n int64) string {
	if n == 1 {
		return "Meta retiene 1 envío mientras evalúa la calidad de la plantilla (decide en ~1 h)"
	}
	return fmt.Sprintf("Meta retiene %d envíos mientras evalúa la calidad de la plantilla (decide en ~1 h)", n)
}

// formatWhen says when something resumes in the workspace's time zone: "14:05" today,
// otherwise "lun 25/11 08:00".
func formatWhen(t, now time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "pronto"
	}
	lt, ln := t.In(loc), now.In(loc)
	if lt.YearDay() == ln.YearDay() && lt.Year() == ln.Year() {
		return lt.Format("15:04")
	}
	days := []string{"dom", "lun", "mar", "mié", "jue", "vie", "sáb"}
	return days[lt.Weekday()] + " " + lt.Format("02/01 15:04")
}

// insertManyAvailable inserts jobs whose ScheduledAt lies (slightly) in the future as available
// rather than scheduled. River's scheduler promotes scheduled jobs only every few seconds, far
// too coarse for send slots milliseconds apart; an available job is fetched only once its
// scheduled_at has passed (River's fetch filters scheduled_at <= now()), so the slot still holds.
func insertManyAvailable(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], params []river.InsertManyParams) error {
	res, err := client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(res))
	for _, r := range res {
		if r.Job != nil && r.Job.State == rivertype.JobStateScheduled {
			ids = append(ids, r.Job.ID)
		}
	}
	if len(ids) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE river_job SET state = 'available' WHERE id = ANY($1) AND state = 'scheduled'`, ids); err != nil {
			return fmt.Errorf("making %d jobs available: %w", len(ids), err)
		}
	}
	return nil
}

// insertAvailableAt inserts one job due at at (see insertManyAvailable) in its own transaction
// and returns it (the existing job when a unique one is already there).
func insertAvailableAt(ctx context.Context, db *pgxpool.Pool, client *river.Client[pgx.Tx], args river.JobArgs, at time.Time) (*rivertype.JobRow, error) {
	var row *rivertype.JobRow
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		res, err := client.InsertTx(ctx, tx, args, &river.InsertOpts{ScheduledAt: at})
		if err != nil {
			return err
		}
		row = res.Job
		if !res.UniqueSkippedAsDuplicate && row.State == rivertype.JobStateScheduled {
			_, err = tx.Exec(ctx, `UPDATE river_job SET state = 'available' WHERE id = $1 AND state = 'scheduled'`, row.ID)
		}
		return err
	})
	return row, err
}

// PaceWatchdogArgs restarts the pacer chain of every sender number with a running campaign. The
// chain re-inserts itself at each tick, but a worker killed mid-tick, before its successor
// committed, leaves the number's last pace job "running" until River rescues it (an hour
// later): the leader inserts this every few seconds, and its pace jobs collapse with a live
// chain's successors (unique per number and second).
type PaceWatchdogArgs struct{}

func (PaceWatchdogArgs) Kind() string { return "pace_watchdog" }

func (PaceWatchdogArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueCampaign, MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByPeriod: PaceWatchdogInterval}}
}

// PaceWatchdogInterval is how often the leader checks every running number's pacer chain.
const PaceWatchdogInterval = 5 * time.Second

// PaceWatchdogWorker inserts a pace job for each number whose chain broke: it has a running
// campaign, its pacer has not ticked in the last seconds (or never has, for a campaign launched
// more than a few seconds ago: the first pace job died with its process), and no pace job is
// waiting to run (a waiting number's successor may be scheduled up to PaceConfig.MaxWait
// ahead). It also looks after scheduled campaigns whose launch is overdue (launchSweep).
type PaceWatchdogWorker struct {
	river.WorkerDefaults[PaceWatchdogArgs]
	db  *pgxpool.Pool
	log *slog.Logger
}

func (w *PaceWatchdogWorker) Work(ctx context.Context, job *river.Job[PaceWatchdogArgs]) error {
	if err := launchSweep(ctx, w.db, river.ClientFromContext[pgx.Tx](ctx), w.log); err != nil {
		return err
	}
	rows, err := w.db.Query(ctx, `
		SELECT DISTINCT c.sender_number_id FROM campaigns c
		LEFT JOIN number_pacing p ON p.sender_number_id = c.sender_number_id
		WHERE c.state = 'running'
		  AND (p.last_tick_at < now() - interval '3 seconds'
		       OR (p.last_tick_at IS NULL AND c.launched_at < now() - interval '5 seconds'))
		  AND NOT EXISTS (SELECT 1 FROM river_job j
		                  WHERE j.kind = 'pace' AND j.state IN ('available', 'scheduled', 'retryable')
		                    AND (j.args->>'sender_number_id')::bigint = c.sender_number_id)`)
	if err != nil {
		return fmt.Errorf("finding running numbers without a pacer: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("finding running numbers without a pacer: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: PaceArgs{SenderNumberID: id}}
	}
	if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertMany(ctx, params); err != nil {
		return fmt.Errorf("restarting the pacer of %d numbers: %w", len(ids), err)
	}
	w.log.InfoContext(ctx, "pacer chains restarted", slog.Any("sender_number_ids", ids))
	return nil
}
