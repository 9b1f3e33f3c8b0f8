package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// OptOutConfirmArgs sends the workspace's opt-out confirmation (settings.opt_out_confirmation)
// to a person who just opted out, inside the customer service window their message opened.
// The webhook job inserts it, once per opting-out message.
type OptOutConfirmArgs struct {
	WorkspaceID    int64     `json:"workspace_id" river:"unique"`
	SenderNumberID int64     `json:"sender_number_id"`
	ContactID      int64     `json:"contact_id"`
	WAID           string    `json:"wa_id"`
	InboundWAMID   string    `json:"inbound_wamid" river:"unique"`
	InboundAt      time.Time `json:"inbound_at"`
}

func (OptOutConfirmArgs) Kind() string { return "opt_out_confirm" }

func (OptOutConfirmArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, MaxAttempts: 5}
}

// OptOutConfirmWorker sends the confirmation and records it on the contact's timeline.
type OptOutConfirmWorker struct {
	river.WorkerDefaults[OptOutConfirmArgs]
	db  *pgxpool.Pool
	wa  func(n store.SenderNumber) (*whatsapp.Client, error)
	log *slog.Logger
	now func() time.Time
}

// NewOptOutConfirmWorker builds the worker.
func NewOptOutConfirmWorker(d Deps) *OptOutConfirmWorker {
	w := &OptOutConfirmWorker{db: d.DB, wa: d.WhatsApp, log: d.Logger, now: d.Now}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.now == nil {
		w.now = time.Now
	}
	return w
}

func (w *OptOutConfirmWorker) Work(ctx context.Context, job *river.Job[OptOutConfirmArgs]) error {
	a := job.Args
	if w.now().Sub(a.InboundAt) > 23*time.Hour {
		return river.JobCancel(errors.New("the customer service window has closed"))
	}
	ws, err := store.WorkspaceGetByID(ctx, w.db, a.WorkspaceID)
	if err != nil {
		return err
	}
	text := ws.Settings.OptOutConfirmation
	marker := "opt_out_confirmation:" + a.InboundWAMID
	var sent bool
	if err := w.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE workspace_id = $1 AND contact_id = $2
		AND direction = 'outbound' AND payload = $3)`, a.WorkspaceID, a.ContactID, marker).Scan(&sent); err != nil {
		return err
	}
	if text == "" || sent {
		return nil
	}
	n, err := store.SenderNumberGetByID(ctx, w.db, a.WorkspaceID, a.SenderNumberID)
	if err != nil {
		return err
	}
	if w.wa == nil {
		return river.JobCancel(errors.New("no WhatsApp client configured"))
	}
	client, err := w.wa(n)
	if err != nil {
		return err
	}
	res, err := client.SendText(ctx, n.PhoneNumberID, "+"+a.WAID, text, false)
	if err != nil {
		return fmt.Errorf("sending the opt-out confirmation to contact %d: %w", a.ContactID, err)
	}
	numberID, contactID := n.ID, a.ContactID
	_, _, err = store.MessageInsert(context.WithoutCancel(ctx), w.db, store.Message{
		WorkspaceID: a.WorkspaceID, SenderNumberID: &numberID, ContactID: &contactID, Direction: store.DirectionOutbound,
		WAMID: res.WAMID, Type: "text", Body: text, Payload: marker, ContextWAMID: a.InboundWAMID, OccurredAt: w.now().UTC(),
	})
	return err
}
