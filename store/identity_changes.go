package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// WhatsApp tells the business that a person changed identity with a "system" inbound message
// (WHATSAPP.md §4d): user_changed_number (a new phone number, and with it a new BSUID) and
// user_changed_user_id (a new BSUID). The person's contact follows them, keeping its consent
// and opt-outs (the same person); a number the person left never stays marketable under their
// name, since WhatsApp may give it to someone else.

// NumberChange is WhatsApp's word that the person of a contact changed number.
type NumberChange struct {
	WorkspaceID int64
	ContactID   int64  // the contact of the old number
	NewWAID     string // digits, as Meta sends them
	NewE164     string // normalised (package phone)
	// Candidates are the E.164 forms another contact may hold the new number in
	// (phone.WAIDToE164Candidates); NewE164 is one of them.
	Candidates []string
	Country    string // ISO region of NewE164 ("" = unknown)
	Valid      bool   // the normalisation accepted NewE164
	At         time.Time
	Evidence   map[string]any // message_wamid, inbox_id…
}

// NumberChanged is what ContactNumberChanged did.
type NumberChanged struct {
	// OldPhone is the contact's number before; "" when nothing was done (the contact is erased,
	// or already has the new number).
	OldPhone string
	// Moved: the contact has the new number now. Otherwise OtherContactID, the contact that
	// already had it, is the person's from now on, and the old contact left every audience.
	Moved          bool
	OtherContactID int64
	// OptedOut: the other contact was opted out (or WhatsApp's marketing stop applied to it)
	// because the person had opted out with the old number.
	OptedOut bool
	// Recipients is how many unsent campaign messages to the contact went to the new number.
	Recipients int64
}

// ContactNumberChanged applies a number change to the contact of the old number, in the webhook's
// transaction. When no other live contact of the workspace has the new number, the contact takes
// it (wa_id and country too); its BSUID is cleared (WhatsApp issues a new one with the number,
// learned from the next webhook that names it), its consent, opt-out and WhatsApp stop stay, and
// its campaign messages not sent yet go to the new number. When another contact has it, the two
// are not merged: an opt-out (or WhatsApp's stop) of the old contact is applied to the other one,
// and the old contact leaves every audience (phone_valid false, number_changed_at). Either way
// the consent history of each contact concerned records the change in words.
func ContactNumberChanged(ctx context.Context, db DBTX, ch NumberChange) (NumberChanged, error) {
	var (
		res             NumberChanged
		oldPhone        string
		optedOutAt      *time.Time
		optOutSource    string
		optOutReason    string
		stopped         bool
		stoppedAt       *time.Time
		ws, id, newE164 = ch.WorkspaceID, ch.ContactID, noNUL(ch.NewE164)
	)
	err := db.QueryRow(ctx, `SELECT phone_e164, opted_out_at, opt_out_source, opt_out_reason, marketing_stopped, marketing_stopped_at
		FROM contacts WHERE workspace_id = $1 AND id = $2 AND erased_at IS NULL FOR UPDATE`, ws, id).
		Scan(&oldPhone, &optedOutAt, &optOutSource, &optOutReason, &stopped, &stoppedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("reading contact %d for a number change: %w", id, err)
	}
	if oldPhone == newE164 || newE164 == "" {
		return res, nil
	}
	res.OldPhone = oldPhone
	candidates := ch.Candidates
	if !slices.Contains(candidates, newE164) {
		candidates = append(slices.Clip(candidates), newE164)
	}
	var other int64
	err = db.QueryRow(ctx, `SELECT id FROM contacts
		WHERE workspace_id = $1 AND erased_at IS NULL AND id <> $4
		  AND (($2 <> '' AND wa_id = $2) OR phone_e164 = ANY($3::text[]))
		ORDER BY ($2 <> '' AND wa_id = $2) DESC, array_position($3::text[], phone_e164), id
		LIMIT 1 FOR UPDATE`, ws, noNUL(ch.NewWAID), candidates, id).Scan(&other)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return res, fmt.Errorf("finding the contact of the new number of contact %d: %w", id, err)
	}
	evidence := func(extra map[string]any) map[string]any {
		ev := maps.Clone(ch.Evidence)
		if ev == nil {
			ev = map[string]any{}
		}
		maps.Copy(ev, extra)
		return ev
	}
	event := func(contactID int64, reason string, extra map[string]any) error {
		return consentEventInsert(ctx, db, ConsentEvent{WorkspaceID: ws, ContactID: contactID, Kind: "number_changed",
			Source: SourceWhatsAppSystem, Reason: reason, Evidence: evidence(extra)})
	}

	if other == 0 {
		if _, err := db.Exec(ctx, `UPDATE contacts SET phone_e164 = $3, wa_id = NULLIF($4, ''), country = COALESCE(NULLIF($5, ''), country),
			    bsuid = NULL, phone_valid = $6, undeliverable_count = 0, number_changed_at = NULL, updated_at = now()
			WHERE workspace_id = $1 AND id = $2`, ws, id, newE164, noNUL(ch.NewWAID), ch.Country, ch.Valid); err != nil {
			return res, fmt.Errorf("moving contact %d to its new number: %w", id, err)
		}
		// Campaign messages not sent yet go where the person is now (a send goes to the
		// recipient's phone, frozen at the launch).
		tag, err := db.Exec(ctx, `UPDATE recipients SET phone_e164 = $4, wa_id = NULL, updated_at = now()
			WHERE workspace_id = $1 AND contact_id = $2 AND phone_e164 = $3
			  AND (state IN ('pending', 'queued') OR (state = 'failed' AND retry_at IS NOT NULL))`, ws, id, oldPhone, newE164)
		if err != nil {
			return res, fmt.Errorf("moving the unsent messages of contact %d to its new number: %w", id, err)
		}
		res.Moved, res.Recipients = true, tag.RowsAffected()
		return res, event(id, fmt.Sprintf("WhatsApp: cambió de número de %s a %s", oldPhone, newE164), nil)
	}

	res.OtherContactID = other
	var otherPhone string
	if err := db.QueryRow(ctx, `SELECT phone_e164 FROM contacts WHERE id = $1`, other).Scan(&otherPhone); err != nil {
		return res, fmt.Errorf("reading contact %d: %w", other, err)
	}
	if _, err := db.Exec(ctx, `UPDATE contacts SET phone_valid = false, undeliverable_count = 0, number_changed_at = $3,
		    bsuid = NULL, updated_at = now()
		WHERE workspace_id = $1 AND id = $2`, ws, id, ch.At); err != nil {
		return res, fmt.Errorf("leaving contact %d out of audiences after a number change: %w", id, err)
	}
	if err := event(id, fmt.Sprintf("WhatsApp: cambió de número de %s a %s, el número del contacto n.º %d; este contacto deja de recibir marketing",
		oldPhone, otherPhone, other), map[string]any{"other_contact_id": other}); err != nil {
		return res, err
	}
	if err := event(other, fmt.Sprintf("WhatsApp: la persona del contacto n.º %d cambió de número de %s a %s, el de este contacto",
		id, oldPhone, otherPhone), map[string]any{"other_contact_id": id}); err != nil {
		return res, err
	}
	if optedOutAt != nil {
		reason := fmt.Sprintf("se había dado de baja con su número anterior %s (contacto n.º %d)", oldPhone, id)
		if optOutReason != "" {
			reason += ": " + optOutReason
		}
		newly, err := contactOptOutAt(ctx, db, ws, other, *optedOutAt, optOutSource, reason, evidence(map[string]any{"other_contact_id": id}))
		if err != nil {
			return res, err
		}
		res.OptedOut = res.OptedOut || newly
	}
	if stopped {
		at := ch.At
		if stoppedAt != nil {
			at = *stoppedAt
		}
		changed, err := WAContactMarketingPreference(ctx, db, ws, other, true, at,
			fmt.Sprintf("WhatsApp detuvo el marketing a su número anterior %s (contacto n.º %d)", oldPhone, id))
		if err != nil {
			return res, err
		}
		res.OptedOut = res.OptedOut || changed
	}
	return res, nil
}

// BSUIDChanged is what ContactBSUIDChanged did.
type BSUIDChanged struct {
	ContactID int64 // the contact that had the old BSUID (0: none had it)
	// ConflictID is another contact that already had the new BSUID: neither contact changed.
	ConflictID int64
	// Moved is how many opt-outs waiting for the old BSUID now wait for the new one; OptOuts
	// are those applied to the contact that has the new BSUID.
	Moved   int64
	OptOuts []BSUIDOptOut
}

// ContactBSUIDChanged applies WhatsApp's word that a person's BSUID changed, in the webhook's
// transaction: opt-outs waiting for the old BSUID (bsuid_optouts) wait for the new one (a keyword
// or button opt-out prevails over a waiting marketing stop, else the earlier one), and the
// contact with the old BSUID takes the new one, which applies them, unless another contact of the
// workspace has the new BSUID already: then both are left as they are (ConflictID) and the
// waiting opt-outs go to the contact that has it.
func ContactBSUIDChanged(ctx context.Context, db DBTX, workspaceID int64, oldBSUID, newBSUID string) (BSUIDChanged, error) {
	var res BSUIDChanged
	oldBSUID, newBSUID = noNUL(oldBSUID), noNUL(newBSUID)
	if oldBSUID == "" || newBSUID == "" || oldBSUID == newBSUID {
		return res, nil
	}
	tag, err := db.Exec(ctx, `
		WITH gone AS (DELETE FROM bsuid_optouts WHERE workspace_id = $1 AND bsuid = $2 RETURNING *)
		INSERT INTO bsuid_optouts AS p (workspace_id, bsuid, opted_out_at, source, reason, evidence, created_at)
		SELECT workspace_id, $3, opted_out_at, source, reason, evidence, created_at FROM gone
		ON CONFLICT (workspace_id, bsuid) DO UPDATE SET opted_out_at = EXCLUDED.opted_out_at, source = EXCLUDED.source,
		    reason = EXCLUDED.reason, evidence = EXCLUDED.evidence
		WHERE (p.source = $4) > (EXCLUDED.source = $4)
		   OR ((p.source = $4) = (EXCLUDED.source = $4) AND EXCLUDED.opted_out_at < p.opted_out_at)`,
		workspaceID, oldBSUID, newBSUID, BSUIDMarketingPreference)
	if err != nil {
		return res, fmt.Errorf("moving the waiting opt-outs of a changed BSUID in workspace %d: %w", workspaceID, err)
	}
	res.Moved = tag.RowsAffected()
	if res.ContactID, err = ContactIDByBSUID(ctx, db, workspaceID, oldBSUID); err != nil {
		return res, err
	}
	holder, err := ContactIDByBSUID(ctx, db, workspaceID, newBSUID)
	if err != nil {
		return res, err
	}
	if holder != 0 {
		rows, err := db.Query(ctx, `
			DELETE FROM bsuid_optouts p USING contacts c
			WHERE p.workspace_id = $1 AND p.bsuid = $2 AND c.id = $3
			RETURNING c.id, p.workspace_id, p.bsuid, p.opted_out_at, p.source, p.reason, p.evidence`, workspaceID, newBSUID, holder)
		if err != nil {
			return res, fmt.Errorf("applying the waiting opt-outs of a changed BSUID in workspace %d: %w", workspaceID, err)
		}
		if res.OptOuts, err = applyBSUIDOptOuts(ctx, db, rows); err != nil {
			return res, err
		}
		if res.ContactID != 0 {
			res.ConflictID = holder
		}
		return res, nil
	}
	if res.ContactID != 0 {
		res.OptOuts, err = ContactsAttachBSUIDs(ctx, db, []BSUIDAttach{{WorkspaceID: workspaceID, ContactID: res.ContactID, BSUID: newBSUID}})
	}
	return res, err
}
