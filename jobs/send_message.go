package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/campaigns"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// SendMessageArgs sends one recipient's template message in its pacer-assigned slot.
type SendMessageArgs struct {
	RecipientID    int64     `json:"recipient_id"`
	CampaignID     int64     `json:"campaign_id"`
	WorkspaceID    int64     `json:"workspace_id"`
	SenderNumberID int64     `json:"sender_number_id"`
	Slot           time.Time `json:"slot"` // also recipients.send_slot: the job's claim on its recipient
}

func (SendMessageArgs) Kind() string { return "send_message" }

func (SendMessageArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSend, MaxAttempts: 5}
}

// SendMessageWorker sends exactly once or never. It commits the recipient's move to sending
// (after re-checking that the campaign still runs) before calling the API; a job that finds its
// recipient already sending (its process died after the call) marks it unknown and leaves it
// to the status webhook, which the callback data names. The error class decides what follows:
// retry later through the pacer, fail the recipient, pause the campaign, or halt the number.
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
	return w.cfg.SendTimeout + 30*time.Second
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

var (
	fromQueued  = []string{store.RecipientQueued}
	fromSending = []string{store.RecipientSending}
)

func (w *SendMessageWorker) Work(ctx context.Context, job *river.Job[SendMessageArgs]) error {
	a := job.Args
	slot := a.Slot
	now := w.now()
	if early := slot.Sub(now) - w.cfg.Lead; early > time.Second {
		return river.JobSnooze(early)
	}
	if now.After(slot.Add(w.cfg.Grace)) {
		// Too late for its slot: sending now could bunch with later slots. The recipient stays
		// queued for a slot that has passed; the pacer's next tick releases it again (in bulk,
		// so a burst of late jobs costs no write each).
		return nil
	}

	// Wait in queued (where a crash costs nothing: the pacer re-releases stale queued
	// recipients) until shortly before the slot.
	if err := w.sleep(ctx, slot.Sub(now)-w.cfg.ClaimAhead); err != nil {
		return err
	}
	now = w.now()

	// 1. Claim: queued → sending, committed before the API call. The fast path is one
	// statement; anything unusual is sorted out under the recipient's lock.
	r, proceed, err := store.RecipientClaimForSend(ctx, w.db, a.WorkspaceID, a.RecipientID, slot, now)
	if err != nil {
		return err
	}
	if !proceed {
		err = pgx.BeginFunc(ctx, w.db, func(tx pgx.Tx) error {
			var err error
			r, err = store.RecipientLockForSend(ctx, tx, a.WorkspaceID, a.RecipientID)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if r.SendSlot == nil || !r.SendSlot.Equal(slot) {
				return nil // re-released meanwhile: another job owns it now
			}
			switch r.State {
			case store.RecipientSending:
				// This job already called the API once and died before recording the outcome.
				// Never resend blindly: the webhook settles it through the callback data.
				_, err = store.RecipientSetState(ctx, tx, a.WorkspaceID, a.RecipientID, fromSending, &slot, store.RecipientUnknown, now)
				return err
			case store.RecipientQueued:
			default:
				return nil
			}
			switch r.CampaignState {
			case store.CampaignRunning:
			case store.CampaignPaused, store.CampaignScheduled, store.CampaignDraft:
				_, err = store.RecipientSetState(ctx, tx, a.WorkspaceID, a.RecipientID, fromQueued, &slot, store.RecipientPending, now)
				return err
			default: // cancelled or completed
				_, err = store.RecipientSkip(ctx, tx, a.WorkspaceID, a.RecipientID, fromQueued, "campaign_"+string(r.CampaignState))
				return err
			}
			proceed, err = store.RecipientSetState(ctx, tx, a.WorkspaceID, a.RecipientID, fromQueued, &slot, store.RecipientSending, now)
			r.Attempts++ // this call
			return err
		})
		if err != nil {
			return fmt.Errorf("claiming recipient %d for sending: %w", a.RecipientID, err)
		}
		if !proceed {
			return nil
		}
	}
	// From here on the recipient is in sending; every path below must move it on.
	number, sender, err := w.senders.get(ctx, a.WorkspaceID, a.SenderNumberID)
	if err == nil && number.Status != store.NumberActive {
		err = fmt.Errorf("sender number %d is %s", number.ID, number.Status)
	}
	var msg whatsapp.TemplateMessage
	if err == nil {
		msg, err = buildMessage(r)
	}
	if err == nil && w.now().After(slot.Add(w.cfg.Grace)) {
		err = errLateSlot
	}
	if err != nil {
		// Nothing went out: back to pending (the pacer or a resume releases it again).
		if _, err2 := store.RecipientSetState(ctx, w.db, a.WorkspaceID, a.RecipientID, fromSending, &slot, store.RecipientPending, w.now()); err2 != nil {
			return err2
		}
		if errors.Is(err, errLateSlot) {
			return nil
		}
		return fmt.Errorf("preparing send to recipient %d: %w", a.RecipientID, err)
	}

	// 2. Wait for the slot, then call.
	if err := w.sleep(ctx, slot.Sub(w.now())); err != nil {
		// Cancelled before the call: nothing went out.
		_, err2 := store.RecipientSetState(context.WithoutCancel(ctx), w.db, a.WorkspaceID, a.RecipientID, fromSending, &slot, store.RecipientPending, w.now())
		return cmp.Or(err2, err)
	}
	if w.now().After(slot.Add(w.cfg.Grace)) {
		// Woke too late (a busy machine): calling now could put more sends in some second
		// than the throughput allows. Nothing went out; the pacer releases it again.
		_, err := store.RecipientSetState(ctx, w.db, a.WorkspaceID, a.RecipientID, fromSending, &slot, store.RecipientPending, w.now())
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout)
	res, sendErr := sender.SendTemplate(callCtx, number.PhoneNumberID, msg)
	cancel()
	// The outcome must be recorded even if the job's context ends now.
	octx := context.WithoutCancel(ctx)
	if sendErr == nil {
		return w.recordSent(octx, a, res)
	}
	return w.recordError(octx, a, r, number, sendErr)
}

var errLateSlot = errors.New("send slot missed")

// buildMessage renders the recipient's frozen variables into the template send.
func buildMessage(r store.RecipientSend) (whatsapp.TemplateMessage, error) {
	if r.TemplateName == "" {
		return whatsapp.TemplateMessage{}, fmt.Errorf("campaign %d has no template", r.CampaignID)
	}
	var rendered campaigns.Rendered
	if len(r.Variables) > 0 && string(r.Variables) != "{}" && string(r.Variables) != "null" {
		if err := json.Unmarshal(r.Variables, &rendered); err != nil {
			return whatsapp.TemplateMessage{}, fmt.Errorf("decoding variables of recipient %d: %w", r.ID, err)
		}
	}
	return whatsapp.TemplateMessage{
		To:                    r.Phone,
		Name:                  r.TemplateName,
		Language:              r.TemplateLanguage,
		Components:            rendered.Components(),
		BizOpaqueCallbackData: store.CallbackData(r.CampaignID, r.ID),
	}, nil
}

func (w *SendMessageWorker) recordSent(ctx context.Context, a SendMessageArgs, res whatsapp.SendResult) error {
	now := w.now()
	if _, err := store.RecipientMarkSent(ctx, w.db, a.WorkspaceID, a.RecipientID, res.WAMID, res.WAID, now); err != nil {
		return fmt.Errorf("recording send of recipient %d (wamid %s): %w", a.RecipientID, res.WAMID, err)
	}
	// Statuses that arrived before this commit are applied now (after it, so a webhook
	// committing concurrently cannot be missed by both sides).
	if pending, err := store.StatusEventsPendingForWAMID(ctx, w.db, res.WAMID); err != nil || !pending {
		return nil
	}
	if err := store.StatusEventsApplyForWAMID(ctx, w.db, res.WAMID); err != nil {
		w.log.WarnContext(ctx, "applying early statuses", slog.String("wamid", res.WAMID), slog.Any("error", err))
	}
	return nil
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

	case whatsapp.ClassCampaign:
		w.log.WarnContext(ctx, "pausing campaign on send error", logAttrs...)
		if err := store.RecipientRetryLater(ctx, w.db, a.WorkspaceID, a.RecipientID, now, code, title); err != nil {
			return err
		}
		_, err := store.CampaignTransition(ctx, w.db, a.WorkspaceID, a.CampaignID, store.CampaignPaused, store.TransitionParams{
			Actor: store.ActorRule, Reason: reason, Signal: store.SignalErrorCode, Value: strconv.Itoa(code)})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		return nil

	case whatsapp.ClassNumber:
		w.log.WarnContext(ctx, "halting sender number on send error", logAttrs...)
		if err := store.RecipientRetryLater(ctx, w.db, a.WorkspaceID, a.RecipientID, now, code, title); err != nil {
			return err
		}
		_, err := store.CampaignsHaltForNumber(ctx, w.db, number.ID, store.TransitionParams{
			Actor: store.ActorRule, Reason: reason, Signal: store.SignalErrorCode, Value: strconv.Itoa(code)})
		return err

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

// breakerAfter, once a failure is recorded, pauses the campaign when the
// failure share among its last N outcomes passes the workspace's threshold (N and the ratio
// from the workspace settings; judged once min(N, 20) outcomes exist).
func (w *SendMessageWorker) breakerAfter(ctx context.Context, a SendMessageArgs) error {
	{
		ws, err := store.WorkspaceGetByID(ctx, w.db, a.WorkspaceID)
		if err != nil {
			return err
		}
		s := ws.Settings.Effective()
		outcomes, failures, err := store.CampaignBreakerStats(ctx, w.db, a.WorkspaceID, a.CampaignID, s.BreakerWindow)
		if err != nil {
			return err
		}
		if outcomes < min(s.BreakerWindow, 20) || float64(failures) <= s.BreakerFailureRatio*float64(outcomes) {
			return nil
		}
		ratio := float64(failures) / float64(outcomes)
		_, err = store.CampaignTransition(ctx, w.db, a.WorkspaceID, a.CampaignID, store.CampaignPaused, store.TransitionParams{
			Actor: store.ActorRule, Signal: store.SignalCircuitBreaker, Value: strconv.FormatFloat(ratio, 'f', 2, 64),
			Reason: fmt.Sprintf("%d de los últimos %d envíos fallaron (%.0f %%, umbral %.0f %%)", failures, outcomes, ratio*100, s.BreakerFailureRatio*100),
		})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		return nil
	}
}
