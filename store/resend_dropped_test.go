package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// Meta's template pacing holds messages and, on bad feedback, pauses the template and drops
// every held message with a failed status carrying 132015 (WHATSAPP.md §3). Nothing reached
// the person: the recipient is sent again once its campaign runs, as a send refused at once with
// 132015 is, and only once per dropped send, whatever order the statuses of the dropped send
// arrive in.
func TestDroppedSendIsSentAgain(t *testing.T) {
	t.Parallel()
	for name, apply := range statusPaths {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testDroppedSendIsSentAgain(t, apply)
		})
	}
}

// dropEnv is two sent recipients (wamids w0 and w1, attempts 1) of a running campaign, their
// contacts marketable: rid, the one a test is about, and ctl, whose send Meta simply dropped
// (the control: it must be sent again).
type dropEnv struct {
	db       store.DBTX
	ws, cid  int64
	rid, ctl int64
	apply    storeStatuses
	t0       time.Time
	t        *testing.T
}

func newDropEnv(t *testing.T, apply storeStatuses) *dropEnv {
	t.Helper()
	db := pgtest.Tx(t)
	ws, _, cid, rids := deliveryFixture(t, db, 2)
	_, err := db.Exec(context.Background(), `UPDATE contacts SET consent_at = now() WHERE workspace_id = $1`, ws)
	must(t, err)
	return &dropEnv{db: db, ws: ws, cid: cid, rid: rids[0], ctl: rids[1], apply: apply, t: t,
		t0: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
}

// status applies one status of wamid at t0 + after (132015 when failed; with rid's callback
// data when callback).
func (e *dropEnv) status(wamid, status string, after time.Duration, callback bool) {
	e.t.Helper()
	s := ev(e.ws, wamid, status, e.t0.Add(after))
	if status == "failed" {
		code := store.ErrCodeTemplatePaused
		s.ErrorCode, s.ErrorTitle = &code, "Template is paused"
	}
	if callback {
		s.CallbackData = store.CallbackData(e.cid, e.rid)
	}
	_, err := e.apply(context.Background(), e.db, []store.StatusEvent{s})
	must(e.t, err)
}

// release is the pacer after the resume: it claims what is releasable and queues it; it
// returns the recipients queued.
func (e *dropEnv) release() []int64 {
	e.t.Helper()
	ctx := context.Background()
	now := e.t0.Add(4 * time.Hour)
	got, err := store.RecipientsClaim(ctx, e.db, store.ClaimParams{WorkspaceID: e.ws, CampaignID: e.cid, Now: now, Limit: 10})
	must(e.t, err)
	var ids []int64
	var slots []time.Time
	for _, g := range got {
		ids, slots = append(ids, g.ID), append(slots, now.Add(time.Second))
	}
	must(e.t, store.RecipientsQueue(ctx, e.db, e.ws, ids, slots, now))
	return ids
}

// send is the send job: the queued recipient goes to sending and Meta accepts it with wamid
// (empty: the answer was lost, the send is unknown).
func (e *dropEnv) send(wamid string) {
	e.t.Helper()
	ctx := context.Background()
	now := e.t0.Add(4*time.Hour + time.Second)
	ok, err := store.RecipientSetState(ctx, e.db, e.ws, e.rid, []string{store.RecipientQueued}, nil, store.RecipientSending, now)
	must(e.t, err)
	if !ok {
		e.t.Fatalf("the recipient was not queued for its new send")
	}
	if wamid == "" {
		_, err = store.RecipientSetState(ctx, e.db, e.ws, e.rid, []string{store.RecipientSending}, nil, store.RecipientUnknown, now)
		must(e.t, err)
		return
	}
	ok, err = store.RecipientMarkSent(ctx, e.db, e.ws, e.rid, wamid, "", now)
	must(e.t, err)
	if !ok {
		e.t.Fatalf("the new send was not recorded")
	}
}

type dropRecipient struct {
	state    string
	wamid    *string
	retryAt  *time.Time
	attempts int
	code     *int
}

func (e *dropEnv) recipient() dropRecipient {
	e.t.Helper()
	var r dropRecipient
	must(e.t, e.db.QueryRow(context.Background(), `SELECT state, wamid, retry_at, attempts, error_code FROM recipients WHERE id = $1`,
		e.rid).Scan(&r.state, &r.wamid, &r.retryAt, &r.attempts, &r.code))
	return r
}

func (e *dropEnv) hasWork() bool {
	e.t.Helper()
	w, err := store.CampaignWorkGet(context.Background(), e.db, e.ws, e.cid, time.Now())
	must(e.t, err)
	return !w.Done()
}

func testDroppedSendIsSentAgain(t *testing.T, apply storeStatuses) {
	ctx := context.Background()

	t.Run("OnceAfterTheResume", func(t *testing.T) {
		t.Parallel()
		e := newDropEnv(t, apply)
		e.status("w0", "failed", time.Second, false)
		if r := e.recipient(); r.state != "failed" || r.retryAt == nil || !e.hasWork() {
			t.Fatalf("after the drop: %+v, campaign has work %v (want failed, waiting to be sent again)", r, e.hasWork())
		}
		// The same failed status again (Meta retries webhooks) before the resume.
		e.status("w0", "failed", time.Second, false)
		if got := e.release(); len(got) != 1 || got[0] != e.rid {
			t.Fatalf("the resumed campaign released %v, want recipient %d", got, e.rid)
		}
		if r := e.recipient(); r.state != "queued" || r.wamid != nil {
			t.Fatalf("released: %+v (want queued, the dropped send's wamid gone)", r)
		}
		// Late statuses of the dropped send, duplicate or out of order, while queued and
		// after the new send: none touches the new attempt or releases it again.
		e.status("w0", "failed", time.Second, true)
		e.status("w0", "sent", 0, true)
		if got := e.release(); len(got) != 0 {
			t.Fatalf("released again while queued: %v", got)
		}
		e.send("w0b")
		for _, s := range []string{"failed", "delivered", "read", "sent"} {
			e.status("w0", s, 2*time.Second, true)
		}
		if r := e.recipient(); r.state != "sent" || r.wamid == nil || *r.wamid != "w0b" || r.attempts != 2 || r.code != nil {
			t.Fatalf("after late statuses of the dropped send: %+v (want sent with w0b, 2 attempts, no error)", r)
		}
		if got := e.release(); len(got) != 0 || e.hasWork() {
			t.Fatalf("released %v after the new send (work left %v): a second send", got, e.hasWork())
		}
		// The new send's own statuses apply.
		e.status("w0b", "delivered", time.Hour, false)
		if r := e.recipient(); r.state != "delivered" {
			t.Fatalf("the new send's delivered left the recipient %s", r.state)
		}
	})

	t.Run("DroppedAgainIsSentAgain", func(t *testing.T) {
		t.Parallel()
		e := newDropEnv(t, apply)
		e.status("w0", "failed", time.Second, false)
		e.release()
		e.send("w0b")
		// The template is paused a second time while the new send is held.
		e.status("w0b", "failed", time.Hour, false)
		if got := e.release(); len(got) != 1 || got[0] != e.rid {
			t.Fatalf("a second drop (a new wamid) released %v, want the recipient once more", got)
		}
		e.status("w0b", "failed", time.Hour, false)
		e.status("w0", "failed", time.Second, false)
		if r := e.recipient(); r.state != "queued" {
			t.Fatalf("late duplicates moved the recipient to %s", r.state)
		}
	})

	t.Run("NotWhenDeliveredBeforeTheFailed", func(t *testing.T) {
		t.Parallel()
		e := newDropEnv(t, apply)
		e.status("w1", "failed", time.Second, false)
		e.status("w0", "delivered", 0, false)
		e.status("w0", "failed", time.Second, false)
		if r := e.recipient(); r.retryAt != nil {
			t.Fatalf("a delivered send failed later: %+v (want no new send)", r)
		}
		if got := e.release(); len(got) != 1 || got[0] != e.ctl {
			t.Fatalf("released %v, want only the control %d: the person got the message", got, e.ctl)
		}
	})

	t.Run("NotWhenDeliveredInTheSameBatch", func(t *testing.T) {
		t.Parallel()
		e := newDropEnv(t, apply)
		code := store.ErrCodeTemplatePaused
		f := ev(e.ws, "w0", "failed", e.t0.Add(time.Second))
		f.ErrorCode = &code
		ctl := f
		ctl.WAMID = "w1"
		_, err := apply(ctx, e.db, []store.StatusEvent{f, ev(e.ws, "w0", "read", e.t0), ctl})
		must(t, err)
		if r := e.recipient(); r.retryAt != nil {
			t.Fatalf("read and failed together: %+v (want no new send)", r)
		}
		if got := e.release(); len(got) != 1 || got[0] != e.ctl {
			t.Fatalf("released %v, want only the control %d", got, e.ctl)
		}
	})

	t.Run("DeliveredAfterTheFailedCancelsIt", func(t *testing.T) {
		t.Parallel()
		e := newDropEnv(t, apply)
		e.status("w0", "failed", time.Second, false)
		if !e.hasWork() {
			t.Fatalf("the dropped send is not waiting to be sent again")
		}
		e.status("w0", "read", 2*time.Second, false)
		if r := e.recipient(); r.retryAt != nil || e.hasWork() {
			t.Fatalf("a read of the dropped send: %+v, work %v (want the new send cancelled)", r, e.hasWork())
		}
		if got := e.release(); len(got) != 0 {
			t.Fatalf("released %v after a read of the same message", got)
		}
	})

	t.Run("LateStatusDoesNotSettleAnUnknownNewSend", func(t *testing.T) {
		t.Parallel()
		e := newDropEnv(t, apply)
		e.status("w0", "failed", time.Second, true)
		e.release()
		e.send("") // the new send's answer was lost
		e.status("w0", "delivered", 2*time.Second, true)
		_, err := store.StatusEventsApplyPending(ctx, e.db, 100)
		must(t, err)
		if r := e.recipient(); r.state != "unknown" || r.wamid != nil {
			t.Fatalf("a late status of the dropped send settled the new one: %+v", r)
		}
		// The new send's own status settles it.
		e.status("w0b", "sent", time.Hour, true)
		if r := e.recipient(); r.state != "sent" || r.wamid == nil || *r.wamid != "w0b" {
			t.Fatalf("the new send's status did not settle it: %+v", r)
		}
	})

	t.Run("NotInAFinishedCampaign", func(t *testing.T) {
		t.Parallel()
		e := newDropEnv(t, apply)
		// rid's campaign has completed; ctl moves to another campaign, still running.
		var other int64
		must(t, e.db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state) VALUES ($1, 'otra', 'running') RETURNING id`, e.ws).Scan(&other))
		_, err := e.db.Exec(ctx, `UPDATE recipients SET campaign_id = $2 WHERE id = $1`, e.ctl, other)
		must(t, err)
		_, err = e.db.Exec(ctx, `UPDATE campaigns SET state = 'completed' WHERE id = $1`, e.cid)
		must(t, err)
		e.status("w0", "failed", time.Second, false)
		e.status("w1", "failed", time.Second, false)
		if r := e.recipient(); r.state != "failed" || r.retryAt != nil {
			t.Fatalf("in a completed campaign: %+v (want failed, nothing scheduled)", r)
		}
		var retry *time.Time
		must(t, e.db.QueryRow(ctx, `SELECT retry_at FROM recipients WHERE id = $1`, e.ctl).Scan(&retry))
		if retry == nil {
			t.Fatalf("in a running campaign the dropped send is not scheduled again")
		}
	})

	t.Run("CancelDropsIt", func(t *testing.T) {
		t.Parallel()
		e := newDropEnv(t, apply)
		e.status("w0", "failed", time.Second, false)
		if !e.hasWork() {
			t.Fatalf("the dropped send is not waiting to be sent again")
		}
		_, err := store.CampaignTransition(ctx, e.db, e.ws, e.cid, store.CampaignCancelled, store.TransitionParams{Actor: store.ActorUser})
		must(t, err)
		if r := e.recipient(); r.state != "failed" || r.retryAt != nil {
			t.Fatalf("in a cancelled campaign: %+v (want failed, nothing waiting)", r)
		}
	})

	t.Run("NotACircuitBreakerFailure", func(t *testing.T) {
		t.Parallel()
		e := newDropEnv(t, apply)
		_, err := e.db.Exec(ctx, `UPDATE recipients SET outcome_at = $2 WHERE id = $1`, e.rid, e.t0)
		must(t, err)
		e.status("w0", "failed", time.Second, false)
		outcomes, failures, err := store.CampaignBreakerStats(ctx, e.db, e.ws, e.cid, 20)
		must(t, err)
		if outcomes != 1 || failures != 0 {
			t.Fatalf("breaker window: %d outcomes, %d failures (a dropped send is no failure of the audience)", outcomes, failures)
		}
	})
}

// The pacer completes a campaign it saw no work in; a 132015 drop applied meanwhile must not
// leave a recipient waiting forever in a completed campaign (reported as pending, never sent):
// the completion, or the status sweep for a drop committed after it, keeps the failure without
// the retry.
func TestCompletionDropsWaitingResends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	drop := func(t *testing.T, db store.DBTX, ws int64) {
		s := ev(ws, "w0", "failed", time.Now().Add(-time.Minute))
		code := store.ErrCodeTemplatePaused
		s.ErrorCode, s.ErrorTitle = &code, "Template is paused"
		if _, err := store.StatusEventsIngest(ctx, db, []store.StatusEvent{s}); err != nil {
			t.Fatal(err)
		}
	}
	complete := func(t *testing.T, db store.DBTX, ws, cid int64) {
		if _, err := store.CampaignTransition(ctx, db, ws, cid, store.CampaignCompleted, store.TransitionParams{
			Actor: store.ActorSystem, Signal: store.SignalFinished, Reason: "todos los destinatarios tienen un resultado final"}); err != nil {
			t.Fatal(err)
		}
	}
	retryOf := func(t *testing.T, db store.DBTX, rid int64) *time.Time {
		var state string
		var retry *time.Time
		must(t, db.QueryRow(ctx, `SELECT state, retry_at FROM recipients WHERE id = $1`, rid).Scan(&state, &retry))
		if state != "failed" {
			t.Fatalf("recipient %s, want failed (132015)", state)
		}
		return retry
	}

	t.Run("DropBetweenTheCheckAndTheCompletion", func(t *testing.T) {
		pool := pgtest.NewDB(t)
		ws, _, cid, rids := deliveryFixture(t, pool, 1)
		_, err := pool.Exec(ctx, `UPDATE contacts SET consent_at = now() WHERE workspace_id = $1`, ws)
		must(t, err)
		pacer, err := pool.Begin(ctx)
		must(t, err)
		defer pacer.Rollback(ctx)
		if w, err := store.CampaignWorkGet(ctx, pacer, ws, cid, time.Now()); err != nil || !w.Done() {
			t.Fatalf("setup: work %+v (%v)", w, err)
		}
		drop(t, pool, ws) // the webhook job commits the drop meanwhile
		complete(t, pacer, ws, cid)
		must(t, pacer.Commit(ctx))
		if r := retryOf(t, pool, rids[0]); r != nil {
			t.Fatalf("completed campaign with a recipient waiting to be sent again (retry_at %v)", r)
		}
	})
	t.Run("DropCommittedAfterTheCompletionStatement", func(t *testing.T) {
		pool := pgtest.NewDB(t)
		ws, _, cid, rids := deliveryFixture(t, pool, 1)
		_, err := pool.Exec(ctx, `UPDATE contacts SET consent_at = now() WHERE workspace_id = $1`, ws)
		must(t, err)
		drop(t, pool, ws)
		// As if the completion had committed without seeing it.
		_, err = pool.Exec(ctx, `UPDATE campaigns SET state = 'completed', completed_at = now() WHERE id = $1`, cid)
		must(t, err)
		n, err := store.RecipientsDropStaleRetries(ctx, pool)
		must(t, err)
		if r := retryOf(t, pool, rids[0]); r != nil || n != 1 {
			t.Fatalf("the sweep changed %d recipients; retry_at %v, want none left", n, r)
		}
	})
}
