package jobs

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/pregon/pregon/internal/metrics"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// identityChange handles a system message that says the user changed number
// (user_changed_number: from is the old number, system.wa_id the new one) or BSUID
// (user_changed_user_id: from_user_id is the old BSUID, system.user_id the new one), in the
// batch's transaction. The message goes to the timeline of the contact of the old identity, in
// the workspace of the number it came to; no contact is created for an old identity that none
// has (a number the person left is nobody to add), and nothing changes then. Only the first
// delivery of the message (its wamid) changes anything.
func (p *webhookRun) identityChange(ctx context.Context, num store.WebhookRoute, m whatsapp.Message) error {
	ws, sys := num.WorkspaceID, m.System
	oldBSUID := strings.TrimSpace(m.FromUserID)
	var old int64
	var err error
	switch {
	case sys.Type == whatsapp.SystemUserChangedNumber:
		old, err = store.WAContactFind(ctx, p.tx, ws, waContact(m.From, oldBSUID, ""))
	case oldBSUID != "":
		old, err = store.ContactIDByBSUID(ctx, p.tx, ws, oldBSUID)
	}
	if err != nil {
		return err
	}
	at := p.sane(m.Timestamp.Time(), "message timestamp")
	if at.IsZero() {
		at = p.w.now().UTC()
	}
	var contactID *int64
	if old != 0 {
		contactID = &old
	}
	raw, _ := json.Marshal(m)
	numberID := num.NumberID
	_, inserted, err := store.MessageInsert(ctx, p.tx, store.Message{
		WorkspaceID: ws, SenderNumberID: &numberID, ContactID: contactID, Direction: store.DirectionInbound,
		WAMID: m.ID, Type: m.Type, Body: sys.Body, OccurredAt: at, Raw: raw,
	})
	if err != nil || !inserted {
		return err // a repeated message has had its effects already
	}
	metrics.WebhookEvents.WithLabelValues(sys.Type).Inc()
	log := p.w.log.With(slog.Int64("workspace_id", ws), slog.Int64("inbox_id", p.inboxID), slog.String("message_wamid", m.ID))

	if sys.Type == whatsapp.SystemUserChangedUserID {
		res, err := store.ContactBSUIDChanged(ctx, p.tx, ws, oldBSUID, strings.TrimSpace(sys.UserID))
		if err != nil {
			return err
		}
		p.w.logBSUIDOptOuts(ctx, res.OptOuts)
		switch {
		case res.ConflictID != 0:
			p.note("user_changed_user_id: contact %d already has the new BSUID; contact %d keeps the old one", res.ConflictID, res.ContactID)
			log.WarnContext(ctx, "a user's BSUID changed to one another contact has: neither contact changed",
				slog.Int64("contact_id", res.ContactID), slog.Int64("other_contact_id", res.ConflictID))
		case res.ContactID != 0:
			log.InfoContext(ctx, "a user's BSUID changed: their contact has the new one", slog.Int64("contact_id", res.ContactID),
				slog.Int64("waiting_opt_outs_moved", res.Moved))
		default:
			p.note("user_changed_user_id: no contact has the old BSUID")
		}
		return nil
	}

	newWAID := digits(sys.NewNumber())
	switch {
	case old == 0:
		p.note("user_changed_number: no contact has the old number %s: nothing changed", store.RedactPhone(m.From))
		return nil
	case newWAID == "":
		p.note("user_changed_number without the new number: nothing changed")
		return nil
	}
	c := waContact(newWAID, "", "")
	res, err := store.ContactNumberChanged(ctx, p.tx, store.NumberChange{
		WorkspaceID: ws, ContactID: old, NewWAID: newWAID, NewE164: cmpOr(c.E164, "+"+newWAID), Candidates: c.Candidates,
		Country: c.Country, Valid: c.E164 != "", At: at,
		Evidence: map[string]any{"message_wamid": m.ID, "inbox_id": p.inboxID},
	})
	if err != nil {
		return err
	}
	switch {
	case res.Moved:
		log.InfoContext(ctx, "a user changed number: their contact has the new one", slog.Int64("contact_id", old),
			slog.Int64("unsent_recipients_moved", res.Recipients))
	case res.OtherContactID != 0:
		p.note("user_changed_number: contact %d already has the new number; contact %d left out of audiences", res.OtherContactID, old)
		log.InfoContext(ctx, "a user changed number to another contact's: the old contact leaves every audience",
			slog.Int64("contact_id", old), slog.Int64("other_contact_id", res.OtherContactID), slog.Bool("opt_out_carried", res.OptedOut))
	}
	return nil
}
