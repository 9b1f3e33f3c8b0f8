package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// CheckNumbersArgs reads a sender number's health from the Cloud API — quality, throughput,
// messaging limit, coexistence (is_on_biz_app, platform_type) — and records every change as a
// number event. SenderNumberID 0 checks every number (the periodic job).
type CheckNumbersArgs struct {
	SenderNumberID int64 `json:"sender_number_id,omitempty"`
}

func (CheckNumbersArgs) Kind() string { return "check_numbers" }

func (CheckNumbersArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSync, MaxAttempts: 5}
}

// CheckNumbersWorker runs CheckNumber for one or every number.
type CheckNumbersWorker struct {
	river.WorkerDefaults[CheckNumbersArgs]
	db  *pgxpool.Pool
	wa  func(store.SenderNumber) (*whatsapp.Client, error)
	log *slog.Logger
}

func (w *CheckNumbersWorker) Work(ctx context.Context, job *river.Job[CheckNumbersArgs]) error {
	if w.wa == nil {
		w.log.WarnContext(ctx, "number check skipped: no WhatsApp client configured")
		return nil
	}
	var numbers []store.SenderNumber
	if job.Args.SenderNumberID != 0 {
		n, err := store.SenderNumberGet(ctx, w.db, job.Args.SenderNumberID)
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		numbers = append(numbers, n)
	} else {
		var err error
		if numbers, err = store.SenderNumberListAll(ctx, w.db); err != nil {
			return err
		}
	}
	var errs []error
	for _, n := range numbers {
		events, err := CheckNumber(ctx, w.db, w.wa, n)
		if err != nil {
			errs = append(errs, err)
		}
		w.log.InfoContext(ctx, "number check", slog.Int64("sender_number_id", n.ID), slog.Int("changes", len(events)), slog.Any("error", err))
	}
	if job.Args.SenderNumberID == 0 {
		return nil // the periodic sweep logs failures and tries again next time
	}
	return errors.Join(errs...)
}

// CheckNumber reads one number's health, stores it, records the changes as number events, and
// raises the workspace's messaging limit to the tier Meta reports (the limit belongs to the
// portfolio, shared by all its numbers). A failed read is recorded as a "check" event.
func CheckNumber(ctx context.Context, db *pgxpool.Pool, wa func(store.SenderNumber) (*whatsapp.Client, error), n store.SenderNumber) ([]store.NumberEvent, error) {
	if wa == nil {
		return nil, errors.New("checking number: no WhatsApp client configured")
	}
	client, err := wa(n)
	if err != nil {
		return nil, fmt.Errorf("client for number %d: %w", n.ID, err)
	}
	p, err := client.GetPhoneNumber(ctx, n.PhoneNumberID)
	if err != nil {
		var we *whatsapp.Error
		code := "error"
		if errors.As(err, &we) {
			code = fmt.Sprint(we.Code)
		}
		_ = store.NumberEventInsert(ctx, db, n.WorkspaceID, n.ID, "check", "", code, map[string]string{"error": err.Error()})
		return nil, fmt.Errorf("checking number %d: %w", n.ID, err)
	}
	events, err := store.SenderNumberRecordHealth(ctx, db, n, store.NumberHealth{
		VerifiedName: p.VerifiedName, DisplayNumber: p.DisplayPhoneNumber, QualityRating: strings.ToUpper(p.QualityRating),
		ThroughputMPS: p.ThroughputMPS(), MessagingLimitTier: p.MessagingLimitTier, IsOnBizApp: p.IsOnBizApp,
		PlatformType: p.PlatformType,
	})
	if err != nil {
		return events, err
	}
	if err := stopForMetaStatus(ctx, db, n, strings.ToUpper(p.Status)); err != nil {
		return events, err
	}
	if limit, ok := p.MessagingLimit(); ok && knownLimit(limit) {
		if _, err := db.Exec(ctx, `UPDATE workspaces SET messaging_limit = $2, updated_at = now()
			WHERE id = $1 AND messaging_limit <> $2`, n.WorkspaceID, limit); err != nil {
			return events, fmt.Errorf("updating messaging limit of workspace %d: %w", n.WorkspaceID, err)
		}
	}
	return events, nil
}

// stopForMetaStatus acts on Meta's own status of the number, for a disconnection, ban or flag
// whose webhook was missed (or came while Pregón was down): a number Meta no longer connects
// (DISCONNECTED, DELETED, BANNED, MIGRATED) is marked disconnected, and one it flags or
// restricts (FLAGGED, RESTRICTED) halted; either way its running campaigns pause. A
// disconnected number Meta reports CONNECTED again is active again, as ACCOUNT_RECONNECTED
// makes it; its campaigns stay paused for the owner to resume.
func stopForMetaStatus(ctx context.Context, db *pgxpool.Pool, n store.SenderNumber, status string) error {
	var why string
	switch status {
	case "CONNECTED":
		if n.Status != store.NumberDisconnected {
			return nil
		}
		st, none := store.NumberActive, ""
		_, err := store.SenderNumberApplyWebhook(ctx, db, n.WorkspaceID, n.ID,
			store.NumberWebhookUpdate{Status: &st, StatusReason: &none}, map[string]string{"status": status, "source": "check"})
		return err
	case "DISCONNECTED", "DELETED", "BANNED", "MIGRATED":
		why = "Meta informa el número como " + status + " (revisión periódica): se detienen sus campañas"
		if n.Status != store.NumberDisconnected {
			st := store.NumberDisconnected
			if _, err := store.SenderNumberApplyWebhook(ctx, db, n.WorkspaceID, n.ID,
				store.NumberWebhookUpdate{Status: &st, StatusReason: &why}, map[string]string{"status": status, "source": "check"}); err != nil {
				return err
			}
		}
	case "FLAGGED", "RESTRICTED":
		if n.Status != store.NumberActive {
			return nil
		}
		why = "Meta informa el número como " + status + " (revisión periódica): revise su calidad antes de reanudar"
	default:
		return nil
	}
	_, err := store.CampaignsHaltForNumber(ctx, db, n.ID, store.TransitionParams{Actor: store.ActorRule, Reason: why,
		Signal: store.SignalNumber, Value: status})
	return err
}

// knownLimit reports whether limit is one a workspace accepts (store.WorkspaceUpdateByID): a
// legacy or unexpected tier is recorded as a number event but does not change the budget.
func knownLimit(limit int) bool {
	switch limit {
	case -1, 250, 1000, 2000, 10000, 100000:
		return true
	}
	return false
}
