package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/campaigns"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// SendMessageArgs sends a batch of a sender number's recipients, each in its pacer-assigned
// slot: Recipients[i] holds the slot Slot + OffsetsUS[i] µs. The pacer inserts one job per
// number per PaceConfig.BatchSpan of slots, so River carries a few jobs a second, not one per
// message. A job with RecipientID set (and no Recipients) sends that one recipient at Slot.
type SendMessageArgs struct {
	WorkspaceID    int64     `json:"workspace_id"`
	SenderNumberID int64     `json:"sender_number_id"`
	Slot           time.Time `json:"slot"` // the first slot; also recipients.send_slot, the job's claim on its recipient
	Recipients     []int64   `json:"recipients,omitempty"`
	OffsetsUS      []int64   `json:"offsets_us,omitempty"`
	RecipientID    int64     `json:"recipient_id,omitempty"`
	CampaignID     int64     `json:"campaign_id,omitempty"`
}

func (SendMessageArgs) Kind() string { return "send_message" }

func (SendMessageArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSend, MaxAttempts: 5}
}

// claims lists the job's recipients with their slots, in slot order.
func (a SendMessageArgs) claims() []store.SendClaim {
	if len(a.Recipients) == 0 {
		if a.RecipientID == 0 {
			return nil
		}
		return []store.SendClaim{{ID: a.RecipientID, Slot: a.Slot}}
	}
	out := make([]store.SendClaim, 0, len(a.Recipients))
	for i, id := range a.Recipients {
		var off int64
		if i < len(a.OffsetsUS) {
			off = a.OffsetsUS[i]
		}
		out = append(out, store.SendClaim{ID: id, Slot: a.Slot.Add(time.Duration(off) * time.Microsecond)})
	}
	return out
}

// SendMessageWorker sends exactly once or never. For every slot as it comes due it claims the
// recipients due (queued → sending, one statement, only while their campaign is running, the
// campaign row share-locked so a pause and a claim are strictly ordered), commits, and calls the
// API right away: the campaign is checked milliseconds before each call, and no call starts
// for a recipient claimed after a pause committed. A recipient found already sending (an
// earlier run died after its call) becomes unknown and is left to the status webhook, which
// the callback data names. The error class decides what follows: retry later through the
// pacer, fail the recipient, pause the campaign, or halt the number. Accepted sends are
// recorded in small batches.
type SendMessageWorker struct {
	river.WorkerDefaults[SendMessageArgs]
	db      *pgxpool.Pool
	now     func() time.Time
	log     *slog.Logger
	cfg     PaceConfig
	senders *senderCache
	sleep   func(ctx context.Context, d time.Duration) error
}

// NewSendMessageWorker builds the send job from the shared dependencies.
func NewSendMessageWorker(d Deps) *SendMessageWorker {
	var factory func(n store.SenderNumber) (Sender, error)
	if d.WhatsApp != nil {
		factory = func(n store.SenderNumber) (Sender, error) { return d.WhatsApp(n) }
	}
	w := &SendMessageWorker{db: d.DB, now: orNow(d.Now), log: cmp.Or(d.Logger, slog.Default()),
		cfg: d.Pacing.withDefaults(), senders: newSenderCache(d.DB, factory), sleep: sleepCtx}
	w.senders.now = w.now
	return w
}

func (w *SendMessageWorker) Timeout(*river.Job[SendMessageArgs]) time.Duration {
	return w.cfg.SendTimeout + w.cfg.BatchSpan + w.cfg.Lead + 30*time.Second
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

var fromSending = []string{store.RecipientSending}

func (w *SendMessageWorker) Work(ctx context.Context, job *river.Job[SendMessageArgs]) error {
	a := job.Args
	items := a.claims()
	if len(items) == 0 {
		return nil
	}
	if early := items[0].Slot.Sub(w.now()) - w.cfg.Lead; early > time.Second {
		return river.JobSnooze(early)
	}
	if job.Attempt > 1 {
		// An earlier run may have died during a call: what it left in sending becomes unknown.
		if _, err := store.RecipientsResolveUnclaimed(ctx, w.db, a.WorkspaceID, items); err != nil {
			return err
		}
	}
	b := &sendBatch{w: w, a: a, rec: newSentRecorder(w, a.WorkspaceID)}
	started := w.now()
	err := b.run(ctx, items)
	b.wg.Wait()
	if err2 := b.rec.close(); err == nil {
		err = err2
	}
	if w.log.Enabled(ctx, slog.LevelDebug) {
		b.mu.Lock()
		w.log.DebugContext(ctx, "send batch", slog.Int("recipients", len(items)), slog.Duration("started_before_first_slot", items[0].Slot.Sub(started)),
			slog.Int("claims", b.claims), slog.Int("claimed", b.claimed), slog.Int("missed", b.missed), slog.Int("late", b.late),
			slog.Duration("claim_max", b.claimMax), slog.Duration("claim_avg", b.claimSum/time.Duration(max(1, b.claims))))
		b.mu.Unlock()
	}
	return err
}

// sendBatch is one job's run.
type sendBatch struct {
	w   *SendMessageWorker
	a   SendMessageArgs
	rec *sentRecorder
	wg  sync.WaitGroup // calls and claims in flight
	mu  sync.Mutex
	err error
	// statistics, for the debug log
	claims, claimed, missed, late int
	claimMax, claimSum            time.Duration
}

func (b *sendBatch) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

func (b *sendBatch) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// run walks the slots in rounds of ClaimEvery: ClaimAhead before a round's first slot, the
// round enters the number's send gate, claims its recipients together and calls each at its
// slot (see round). At most ClaimConcurrency rounds are in flight. Recipients whose slot
// passed by more than Grace before their round could start stay queued: the pacer releases
// them again.
func (b *sendBatch) run(ctx context.Context, items []store.SendClaim) error {
	w := b.w
	sem := make(chan struct{}, w.cfg.ClaimConcurrency)
	var missed []store.SendClaim
	defer func() {
		// Missed slots of a running campaign stay queued: the pacer releases them again (and
		// slows the number down if many are missed). Those of a campaign paused or cancelled
		// meanwhile are settled now, as a claim would have.
		b.mu.Lock()
		b.missed += len(missed)
		b.mu.Unlock()
		if len(missed) > 0 {
			if _, err := store.RecipientsResolveUnclaimed(context.WithoutCancel(ctx), w.db, b.a.WorkspaceID, missed); err != nil {
				b.fail(err)
			}
		}
	}()
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j].Slot.Sub(items[i].Slot) < w.cfg.ClaimEvery {
			j++
		}
		if err := w.sleep(ctx, items[i].Slot.Add(-w.cfg.ClaimAhead).Sub(w.now())); err != nil {
			return nil // stopping: what is left stays queued, the pacer releases it again
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		if err := b.failed(); err != nil {
			<-sem
			return err
		}
		now := w.now()
		for i < j && now.After(items[i].Slot.Add(w.cfg.Grace)) {
			missed = append(missed, items[i])
			i++
		}
		if i == j {
			<-sem
			continue
		}
		group := items[i:j]
		i = j
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer func() { <-sem }()
			if err := b.round(ctx, group); err != nil {
				b.fail(err)
			}
		}()
	}
	return nil
}

// round sends one group of recipients whose slots are close together. On a connection of its
// own it enters the number's send gate, claims the group (one statement: queued → sending,
// committed, only while the campaign runs), calls each recipient at its slot, and leaves the
// gate once every call has started: a pause waits at the gate for those calls, and no call
// starts after it commits (store.SendGateClose). The claim's latency is spent before the
// slots, not within Grace.
func (b *sendBatch) round(ctx context.Context, group []store.SendClaim) (err error) {
	w, a := b.w, b.a
	conn, err := w.db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquiring a connection to send: %w", err)
	}
	if err := store.SendGateEnter(ctx, conn, a.SenderNumberID); err != nil {
		conn.Conn().Close(context.WithoutCancel(ctx)) // the lock may be held: drop the session
		conn.Release()
		if ctx.Err() != nil {
			return nil // stopping: the group stays queued
		}
		return err
	}
	var started sync.WaitGroup
	defer func() {
		started.Wait()
		if err := store.SendGateLeave(context.WithoutCancel(ctx), conn, a.SenderNumberID); err != nil {
			w.log.ErrorContext(ctx, "leaving the send gate", slog.Any("error", err))
			conn.Conn().Close(context.WithoutCancel(ctx)) // closing the session releases it
		}
		conn.Release()
	}()

	t0 := w.now()
	claimed, err := store.RecipientsClaimForSend(ctx, conn, a.WorkspaceID, group, t0)
	took := w.now().Sub(t0)
	b.mu.Lock()
	b.claims++
	b.claimed += len(claimed)
	b.claimSum += took
	b.claimMax = max(b.claimMax, took)
	b.mu.Unlock()
	if err != nil {
		// The claim may have committed: its recipients stay in sending until a retry of this
		// job (or the pacer's sweep) marks them unknown. Nothing was called.
		return err
	}
	if len(claimed) < len(group) {
		got := make(map[int64]bool, len(claimed))
		for _, r := range claimed {
			got[r.ID] = true
		}
		missed := make([]store.SendClaim, 0, len(group)-len(claimed))
		for _, it := range group {
			if !got[it.ID] {
				missed = append(missed, it)
			}
		}
		if _, err := store.RecipientsResolveUnclaimed(ctx, conn, a.WorkspaceID, missed); err != nil {
			return err
		}
	}
	if len(claimed) == 0 {
		return nil
	}
	// From here on the recipients are in sending; every path below must move them on.
	number, sender, err := w.senders.get(ctx, a.WorkspaceID, a.SenderNumberID)
	if err == nil && number.Status != store.NumberActive {
		err = fmt.Errorf("sender number %d is %s", number.ID, number.Status)
	}
	// The claim returns its rows in no particular order: call them in slot order, or a
	// recipient would wait for another's later slot and miss its own.
	slices.SortFunc(claimed, func(x, y store.RecipientSend) int { return x.SendSlot.Compare(*y.SendSlot) })
	var back []store.SendClaim // nothing went out: back to pending
	var stalled []store.SendClaim
	var stalledMu sync.Mutex
	mappings := map[int64]campaigns.Mapping{} // each campaign's, parsed once per round
	for _, r := range claimed {
		slot := *r.SendSlot
		msg, err := msgOr(r, err, mappings)
		if err == nil {
			if wait := slot.Sub(w.now()); wait > 0 {
				if err := w.sleep(ctx, wait); err != nil {
					back = append(back, store.SendClaim{ID: r.ID, Slot: slot})
					continue
				}
			}
			if w.now().After(slot.Add(w.cfg.Grace)) {
				// Too late for its slot: calling now could put more sends in some second than
				// the throughput allows.
				err = errLateSlot
			}
		}
		if err != nil {
			back = append(back, store.SendClaim{ID: r.ID, Slot: slot})
			if !errors.Is(err, errLateSlot) {
				w.log.WarnContext(ctx, "preparing send", slog.Int64("recipient_id", r.ID), slog.Any("error", err))
			}
			continue
		}
		b.wg.Add(1)
		started.Add(1)
		go func() {
			defer b.wg.Done()
			if w.now().After(slot.Add(w.cfg.Grace)) {
				// The process stalled between the check above and this goroutine's start (a
				// loaded machine): calling now would bunch sends beyond the throughput.
				stalledMu.Lock()
				stalled = append(stalled, store.SendClaim{ID: r.ID, Slot: slot})
				stalledMu.Unlock()
				started.Done()
				return
			}
			b.call(ctx, r, number, sender, msg, started.Done)
		}()
	}
	started.Wait()
	back = append(back, stalled...)
	if len(back) > 0 {
		b.mu.Lock()
		b.late += len(back)
		b.mu.Unlock()
		// On the round's own connection: waiting for another one while holding this could
		// starve the pool.
		return store.RecipientsUnclaim(context.WithoutCancel(ctx), conn, a.WorkspaceID, back)
	}
	return nil
}

// msgOr is r's message, unless err; mappings caches the campaigns' parsed variable mappings.
func msgOr(r store.RecipientSend, err error, mappings map[int64]campaigns.Mapping) (whatsapp.TemplateMessage, error) {
	if err != nil {
		return whatsapp.TemplateMessage{}, err
	}
	if r.TemplateName == "" {
		return whatsapp.TemplateMessage{}, fmt.Errorf("campaign %d has no template", r.CampaignID)
	}
	m, ok := mappings[r.CampaignID]
	if !ok {
		if m, err = campaigns.ParseMapping(r.Mapping); err != nil {
			return whatsapp.TemplateMessage{}, fmt.Errorf("decoding the mapping of campaign %d: %w", r.CampaignID, err)
		}
		mappings[r.CampaignID] = m
	}
	return buildMessage(r, m)
}

// call makes one API call and records its outcome.
// started is called as the call begins (the round then leaves the send gate).
func (b *sendBatch) call(ctx context.Context, r store.RecipientSend, number store.SenderNumber, sender Sender, msg whatsapp.TemplateMessage, started func()) {
	w := b.w
	callCtx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout)
	started()
	res, sendErr := sender.SendTemplate(callCtx, number.PhoneNumberID, msg)
	cancel()
	if sendErr == nil {
		b.rec.add(store.SentOutcome{RecipientID: r.ID, WAMID: res.WAMID, WAID: res.WAID, At: w.now(), Held: res.Held()})
		return
	}
	// The outcome must be recorded even if the job's context ends now.
	a := SendMessageArgs{RecipientID: r.ID, CampaignID: r.CampaignID, WorkspaceID: b.a.WorkspaceID, SenderNumberID: b.a.SenderNumberID, Slot: *r.SendSlot}
	if err := w.recordError(context.WithoutCancel(ctx), a, r, number, sendErr); err != nil {
		// It stays in sending: the pacer's sweep makes it unknown for the webhook to settle.
		w.log.ErrorContext(ctx, "recording send error", slog.Int64("recipient_id", r.ID), slog.Any("error", err))
	}
}

// sentRecorder writes accepted sends in batches (every SentFlush, or sooner when many wait):
// a crash before a flush leaves them in sending, which the pacer's sweep turns into unknown
// for the webhooks to settle.
type sentRecorder struct {
	w           *SendMessageWorker
	workspaceID int64
	ch          chan store.SentOutcome
	done        chan error
}

func newSentRecorder(w *SendMessageWorker, workspaceID int64) *sentRecorder {
	r := &sentRecorder{w: w, workspaceID: workspaceID, ch: make(chan store.SentOutcome, 256), done: make(chan error, 1)}
	go r.loop()
	return r
}

func (r *sentRecorder) add(o store.SentOutcome) { r.ch <- o }

func (r *sentRecorder) close() error {
	close(r.ch)
	return <-r.done
}

func (r *sentRecorder) loop() {
	var firstErr error
	var buf []store.SentOutcome
	flush := func() {
		if len(buf) == 0 {
			return
		}
		if err := store.RecipientsMarkSent(context.Background(), r.w.db, r.workspaceID, buf); err != nil {
			r.w.log.Error("recording sends", slog.Int("sends", len(buf)), slog.Any("error", err))
			if firstErr == nil {
				firstErr = err
			}
		}
		buf = buf[:0]
	}
	t := time.NewTicker(r.w.cfg.SentFlush)
	defer t.Stop()
	for {
		select {
		case o, ok := <-r.ch:
			if !ok {
				flush()
				r.done <- firstErr
				return
			}
			buf = append(buf, o)
			if len(buf) >= 200 {
				flush()
			}
		case <-t.C:
			flush()
		}
	}
}

var errLateSlot = errors.New("send slot missed")

// buildMessage renders the recipient's frozen variables, with m its campaign's variable
// mapping, into the template send.
func buildMessage(r store.RecipientSend, m campaigns.Mapping) (whatsapp.TemplateMessage, error) {
	rendered, err := m.Expand(r.Variables)
	if err != nil {
		return whatsapp.TemplateMessage{}, fmt.Errorf("decoding variables of recipient %d: %w", r.ID, err)
	}
	return whatsapp.TemplateMessage{
		To:                    r.Phone,
		Name:                  r.TemplateName,
		Language:              r.TemplateLanguage,
		Components:            rendered.Components(),
		BizOpaqueCallbackData: store.CallbackData(r.CampaignID, r.ID),
	}, nil
}

// maybeSent reports whether a failed call may nevertheless have reached Meta: no HTTP answer
// and not a failure to connect.
func maybeSent(err error) bool {
	var e *whatsapp.Error
	if !errors.As(err, &e) {
		return true // e.g. a 2xx without a message id
	}
	if !e.Network {
		return e.HTTPStatus >= 200 && e.HTTPStatus <= 299 // a 2xx we could not read
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	return true
}

func errorCode(err error) (int, string) {
	var e *whatsapp.Error
	if errors.As(err, &e) {
		title := cmp.Or(e.Title, whatsapp.ErrorTitle(e.Code, "es"), e.Message)
		return e.Code, title
	}
	return 0, err.Error()
}

func (w *SendMessageWorker) recordError(ctx context.Context, a SendMessageArgs, r store.RecipientSend, number store.SenderNumber, sendErr error) error {
	now := w.now()
	class := whatsapp.Classify(sendErr)
	code, title := errorCode(sendErr)
	var e *whatsapp.Error
	isGraph := errors.As(sendErr, &e) && !e.Network
	logAttrs := []any{slog.Int64("recipient_id", a.RecipientID), slog.Int64("campaign_id", a.CampaignID),
		slog.Int("code", code), slog.String("class", class.String())}

	if !isGraph && maybeSent(sendErr) {
		// The request may have been accepted: never retry, let the webhook settle it.
		w.log.WarnContext(ctx, "send outcome unknown", append(logAttrs, slog.Any("error", sendErr))...)
		_, err := store.RecipientSetState(ctx, w.db, a.WorkspaceID, a.RecipientID, fromSending, nil, store.RecipientUnknown, now)
		return err
	}
	reason := fmt.Sprintf("Meta rechazó el envío: %d %s", code, title)
	switch class {
	case whatsapp.ClassRetry:
		// Back to pending, due after Meta's advised wait; the pacer gives it a fresh slot so
		// retries never break the throughput.
		wait := max(whatsapp.RetryAfter(sendErr), time.Second)
		if r.Attempts > 8 {
			return w.fail(ctx, a, r, code, title, now)
		}
		if whatsapp.Throttle(sendErr) {
			if err := store.NumberPacingThrottle(ctx, w.db, a.WorkspaceID, a.SenderNumberID, now, 2*time.Second); err != nil {
				return err
			}
		}
		return store.RecipientRetryLater(ctx, w.db, a.WorkspaceID, a.RecipientID, now.Add(wait), code, title)

	case whatsapp.ClassRecipient:
		retried := false
		err := pgx.BeginFunc(ctx, w.db, func(tx pgx.Tx) error {
			switch code {
			case whatsapp.CodeEcosystemEngagement: // 131049: one retry, after ≥ 24 h
				if err := store.ContactCoolDown(ctx, tx, a.WorkspaceID, r.ContactID, now.Add(24*time.Hour)); err != nil {
					return err
				}
				if r.Attempts <= 1 {
					retried = true
					return store.RecipientRetryLater(ctx, tx, a.WorkspaceID, a.RecipientID, now.Add(24*time.Hour), code, title)
				}
			case whatsapp.CodeUserStoppedMarketing: // 131050
				if err := store.ContactMarketingStop(ctx, tx, a.WorkspaceID, r.ContactID, strconv.Itoa(code),
					"WhatsApp: la persona detuvo los mensajes de marketing de la empresa (131050)",
					map[string]any{"recipient_id": r.ID, "campaign_id": r.CampaignID}, now); err != nil {
					return err
				}
			case whatsapp.CodeUndeliverable: // 131026
				if err := store.ContactUndeliverable(ctx, tx, a.WorkspaceID, r.ContactID); err != nil {
					return err
				}
			}
			_, err := store.RecipientMarkFailed(ctx, tx, a.WorkspaceID, a.RecipientID, code, title, now)
			return err
		})
		if err != nil || retried {
			return err
		}
		return w.breakerAfter(ctx, a)

	case whatsapp.ClassCampaign, whatsapp.ClassNumber:
		w.log.WarnContext(ctx, "stopping on send error", append(logAttrs, slog.Any("class", class))...)
		if err := store.RecipientRetryLater(ctx, w.db, a.WorkspaceID, a.RecipientID, now, code, title); err != nil {
			return err
		}
		return stopForErrorClass(ctx, w.db, class, a.WorkspaceID, a.CampaignID, number.ID, store.TransitionParams{
			Actor: store.ActorRule, Reason: reason, Signal: store.SignalErrorCode, Value: strconv.Itoa(code)})

	default: // unknown error with a definite answer: this recipient failed
		return w.fail(ctx, a, r, code, title, now)
	}
}

func (w *SendMessageWorker) fail(ctx context.Context, a SendMessageArgs, r store.RecipientSend, code int, title string, now time.Time) error {
	if _, err := store.RecipientMarkFailed(ctx, w.db, a.WorkspaceID, a.RecipientID, code, title, now); err != nil {
		return err
	}
	return w.breakerAfter(ctx, a)
}

// breakerAfter, once a failure is recorded, runs the campaign's circuit breaker.
func (w *SendMessageWorker) breakerAfter(ctx context.Context, a SendMessageArgs) error {
	return campaignBreaker(ctx, w.db, a.WorkspaceID, a.CampaignID)
}

// stopForErrorClass stops what an error of class says is in trouble: a ClassNumber error halts
// every running campaign of the number, a ClassCampaign error pauses the campaign; other classes
// stop nothing. A send's response and a failed status webhook both come here.
func stopForErrorClass(ctx context.Context, db *pgxpool.Pool, class whatsapp.Class, workspaceID, campaignID, numberID int64, p store.TransitionParams) error {
	switch class {
	case whatsapp.ClassNumber:
		_, err := store.CampaignsHaltForNumber(ctx, db, numberID, p)
		return err
	case whatsapp.ClassCampaign:
		_, err := store.CampaignTransition(ctx, db, workspaceID, campaignID, store.CampaignPaused, p)
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return nil
}

// campaignBreaker pauses a campaign when the failure share among its last N outcomes passes
// the workspace's threshold (N and the ratio from the workspace settings; judged once
// min(N, 20) outcomes exist). Failures count whether the send got them at once or Meta
// reported them later by webhook.
func campaignBreaker(ctx context.Context, db *pgxpool.Pool, workspaceID, campaignID int64) error {
	ws, err := store.WorkspaceGetByID(ctx, db, workspaceID)
	if err != nil {
		return err
	}
	s := ws.Settings.Effective()
	outcomes, failures, err := store.CampaignBreakerStats(ctx, db, workspaceID, campaignID, s.BreakerWindow)
	if err != nil {
		return err
	}
	if outcomes < min(s.BreakerWindow, 20) || float64(failures) <= s.BreakerFailureRatio*float64(outcomes) {
		return nil
	}
	ratio := float64(failures) / float64(outcomes)
	_, err = store.CampaignTransition(ctx, db, workspaceID, campaignID, store.CampaignPaused, store.TransitionParams{
		Actor: store.ActorRule, Signal: store.SignalCircuitBreaker, Value: strconv.FormatFloat(ratio, 'f', 2, 64),
		Reason: fmt.Sprintf("%d de los últimos %d envíos fallaron (%.0f %%, umbral %.0f %%)", failures, outcomes, ratio*100, s.BreakerFailureRatio*100),
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}
