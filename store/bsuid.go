package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// A BSUID (business-scoped user id, "MX.1349120865530274") names a WhatsApp user to one
// business portfolio. Since usernames (2026) Meta may send it without the user's phone: an
// inbound message with only from_user_id, a status with only recipient_user_id. Contacts keep
// it (contacts.bsuid) once a webhook gives it together with something that names the contact,
// so that such a message still finds its contact (WHATSAPP.md §4d: key contacts by phone and
// BSUID).

// BSUIDAttach says that a contact is the person with a BSUID.
type BSUIDAttach struct {
	WorkspaceID int64
	ContactID   int64
	BSUID       string
}

// BSUIDSighting is the BSUID a status webhook gives for a message the business sent (WAMID).
type BSUIDSighting struct {
	WorkspaceID int64
	WAMID       string
	BSUID       string
}

// BSUIDOptOut is an opt-out (keyword or button) from a user known only by a BSUID. While no
// contact has the BSUID it waits in bsuid_optouts (ContactID 0); the contact that learns the
// BSUID is opted out with it (first one wins, as every opt-out).
type BSUIDOptOut struct {
	WorkspaceID int64
	ContactID   int64
	BSUID       string
	At          time.Time
	Source      string // keyword | button
	Reason      string
	Evidence    map[string]any
}

// ContactIDByBSUID is the id of the workspace's live contact with a BSUID, 0 when none has it
// (contacts_bsuid_idx).
func ContactIDByBSUID(ctx context.Context, db DBTX, workspaceID int64, bsuid string) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 AND bsuid = $2 AND erased_at IS NULL
		ORDER BY id LIMIT 1`, workspaceID, bsuid).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("finding the contact of a BSUID in workspace %d: %w", workspaceID, err)
	}
	return id, nil
}

// sqlAttachBSUIDs follows a CTE m(workspace_id, contact_id, bsuid), one row per contact: it
// sets the live contacts' BSUIDs where they differ (att), takes each BSUID away from any other
// contact of the workspace that held it (a person who changed phone number keeps their BSUID:
// it now names the new phone's contact), and deletes and returns the opt-outs that waited for
// the BSUIDs just attached. Contacts that already have their BSUID write nothing.
var sqlAttachBSUIDs = `
att AS (
    UPDATE contacts c SET bsuid = m.bsuid, updated_at = now() FROM m
    WHERE c.id = m.contact_id AND c.workspace_id = m.workspace_id AND c.erased_at IS NULL
      AND c.bsuid IS DISTINCT FROM m.bsuid
    RETURNING c.id, c.workspace_id, c.bsuid
), moved AS (
    UPDATE contacts o SET bsuid = NULL, updated_at = now() FROM att
    WHERE o.workspace_id = att.workspace_id AND o.bsuid = att.bsuid AND o.id <> att.id
      AND o.id NOT IN (SELECT contact_id FROM m)
    RETURNING o.id
), msgs AS (
    -- messages the user sent known only by the BSUID, before a contact had it
    UPDATE messages ms SET contact_id = att.id FROM att
    WHERE ms.workspace_id = att.workspace_id AND ` + sqlUnattachedMessagesOf("ms", "att.bsuid") + `
    RETURNING ms.id
), pending AS (
    DELETE FROM bsuid_optouts p USING att
    WHERE p.workspace_id = att.workspace_id AND p.bsuid = att.bsuid
    RETURNING att.id AS contact_id, p.workspace_id, p.bsuid, p.opted_out_at, p.source, p.reason, p.evidence
)
SELECT contact_id, workspace_id, bsuid, opted_out_at, source, reason, evidence FROM pending`

// ContactsAttachBSUIDs gives contacts their BSUIDs (a webhook named the contact and the BSUID
// together: an inbound message with from and from_user_id, a reply to a campaign message) and
// applies the opt-outs that waited for them; it returns those. Run it in the webhook's
// transaction.
func ContactsAttachBSUIDs(ctx context.Context, db DBTX, attach []BSUIDAttach) ([]BSUIDOptOut, error) {
	if len(attach) == 0 {
		return nil, nil
	}
	wss, ids, bsuids := make([]int64, len(attach)), make([]int64, len(attach)), make([]string, len(attach))
	for i, a := range attach {
		wss[i], ids[i], bsuids[i] = a.WorkspaceID, a.ContactID, noNUL(a.BSUID)
	}
	rows, err := db.Query(ctx, `
		WITH m AS (
		    SELECT DISTINCT ON (contact_id) * FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS m(workspace_id, contact_id, bsuid)
		    WHERE bsuid <> '' ORDER BY contact_id
		), `+sqlAttachBSUIDs, wss, ids, bsuids)
	if err != nil {
		return nil, fmt.Errorf("attaching BSUIDs to %d contacts: %w", len(attach), err)
	}
	return applyBSUIDOptOuts(ctx, db, rows)
}

// ContactsLearnBSUIDs gives the contacts of sent messages the BSUIDs status webhooks report for
// them (recipient_user_id, contacts[].user_id), in one statement for a batch of statuses (the
// message's wamid names the recipient, recipients_wamid_idx), and applies the opt-outs that
// waited for them; it returns those. A status that beats the send's commit (no wamid yet) teaches
// nothing; the message's next status does. A status never takes a BSUID from another contact nor
// gives one to a contact whose phone changed since the send (see the statement).
func ContactsLearnBSUIDs(ctx context.Context, db DBTX, seen []BSUIDSighting) ([]BSUIDOptOut, error) {
	if len(seen) == 0 {
		return nil, nil
	}
	wss, wamids, bsuids := make([]int64, len(seen)), make([]string, len(seen)), make([]string, len(seen))
	for i, s := range seen {
		wss[i], wamids[i], bsuids[i] = s.WorkspaceID, s.WAMID, noNUL(s.BSUID)
	}
	rows, err := db.Query(ctx, `
		WITH s AS (
		    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) AS s(workspace_id, wamid, bsuid) WHERE bsuid <> ''
		), m AS (
		    -- A status may come days after its send: it only fills in a BSUID the contact lacks,
		    -- while the contact still has the phone the message went to and no other contact has
		    -- the BSUID (the person may have moved to a new phone's contact since; only an
		    -- inbound message, phone and BSUID together and current, moves a BSUID).
		    SELECT DISTINCT ON (r.contact_id) r.workspace_id, r.contact_id, s.bsuid
		    FROM s JOIN recipients r ON r.wamid = s.wamid AND r.workspace_id = s.workspace_id
		    JOIN contacts c ON c.id = r.contact_id AND c.workspace_id = r.workspace_id
		    WHERE c.bsuid IS NULL AND c.phone_e164 = r.phone_e164
		      AND NOT EXISTS (SELECT 1 FROM contacts o WHERE o.workspace_id = s.workspace_id AND o.bsuid = s.bsuid)
		    ORDER BY r.contact_id
		), `+sqlAttachBSUIDs, wss, wamids, bsuids)
	if err != nil {
		return nil, fmt.Errorf("learning BSUIDs from %d statuses: %w", len(seen), err)
	}
	return applyBSUIDOptOuts(ctx, db, rows)
}

// BSUIDOptOutRecord keeps an opt-out from a user known only by a BSUID that no contact has yet,
// to be applied when a contact learns the BSUID (ContactsAttachBSUIDs, ContactsLearnBSUIDs,
// BSUIDOptOutsApplyPending). The first one is kept. It reports whether this one was recorded.
func BSUIDOptOutRecord(ctx context.Context, db DBTX, o BSUIDOptOut) (bool, error) {
	ev, _ := json.Marshal(o.Evidence)
	if o.Evidence == nil {
		ev = []byte("{}")
	}
	tag, err := db.Exec(ctx, `INSERT INTO bsuid_optouts (workspace_id, bsuid, opted_out_at, source, reason, evidence)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace_id, bsuid) DO NOTHING`,
		o.WorkspaceID, noNUL(o.BSUID), o.At, o.Source, noNUL(o.Reason), ev)
	if err != nil {
		return false, fmt.Errorf("keeping the opt-out of a BSUID in workspace %d: %w", o.WorkspaceID, err)
	}
	return tag.RowsAffected() > 0, nil
}

// BSUIDMarketingPreference is the source of a waiting BSUID opt-out that is WhatsApp's own
// "stop marketing" (user_preferences): applied as a marketing stop, not an opt-out.
const BSUIDMarketingPreference = "user_preferences"

// BSUIDMarketingPreferenceRecord keeps a user_preferences "stop" from a user known only by a
// BSUID that no contact has yet, to be applied (as a marketing stop) when a contact learns the
// BSUID; a "resume" withdraws such a stop still waiting. An opt-out waiting for the same BSUID
// stays: it is the stronger, and the first one wins.
func BSUIDMarketingPreferenceRecord(ctx context.Context, db DBTX, workspaceID int64, bsuid string, stop bool, at time.Time, detail string) error {
	if !stop {
		if _, err := db.Exec(ctx, `DELETE FROM bsuid_optouts WHERE workspace_id = $1 AND bsuid = $2 AND source = $3 AND opted_out_at <= $4`,
			workspaceID, noNUL(bsuid), BSUIDMarketingPreference, at); err != nil {
			return fmt.Errorf("withdrawing the waiting marketing stop of a BSUID in workspace %d: %w", workspaceID, err)
		}
		return nil
	}
	_, err := BSUIDOptOutRecord(ctx, db, BSUIDOptOut{WorkspaceID: workspaceID, BSUID: bsuid, At: at, Source: BSUIDMarketingPreference,
		Reason: detail, Evidence: map[string]any{"timestamp": at.UTC().Format(time.RFC3339)}})
	return err
}

// BSUIDOptOutsApplyPending applies the waiting opt-outs whose BSUID a contact has by now (one
// recorded while another transaction was attaching the BSUID saw neither the other) and returns
// them. The status sweep runs it; the table is empty but for a few rows.
func BSUIDOptOutsApplyPending(ctx context.Context, db DBTX) ([]BSUIDOptOut, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `
		DELETE FROM bsuid_optouts p USING contacts c
		WHERE c.workspace_id = p.workspace_id AND c.bsuid = p.bsuid AND c.erased_at IS NULL
		RETURNING c.id, p.workspace_id, p.bsuid, p.opted_out_at, p.source, p.reason, p.evidence`)
	if err != nil {
		return nil, fmt.Errorf("applying waiting BSUID opt-outs: %w", err)
	}
	applied, err := applyBSUIDOptOuts(ctx, tx, rows)
	if err != nil || len(applied) == 0 {
		return nil, err
	}
	return applied, tx.Commit(ctx)
}

// sqlUnattachedMessagesOf is the condition on messages (alias m) stored without a contact from a
// user known only by the BSUID the SQL expression bsuid gives; it is the predicate of
// messages_unattached_user_idx, which finds them.
func sqlUnattachedMessagesOf(m, bsuid string) string {
	return m + ".contact_id IS NULL AND " + m + ".raw ? 'from_user_id' AND " + m + ".raw->>'from_user_id' = " + bsuid
}

// MessagesAttachByBSUID gives the messages stored without a contact from a user known only by a
// BSUID (raw from_user_id) to the contact that has that BSUID now, and returns how many. The
// status sweep runs it; an erasure runs it for the contact first (so the messages go with it).
func MessagesAttachByBSUID(ctx context.Context, db DBTX) (int64, error) {
	tag, err := db.Exec(ctx, `
		UPDATE messages m SET contact_id = c.id
		FROM contacts c
		WHERE c.workspace_id = m.workspace_id AND c.erased_at IS NULL AND `+sqlUnattachedMessagesOf("m", "c.bsuid"))
	if err != nil {
		return 0, fmt.Errorf("attaching messages to the contacts of their BSUIDs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// applyBSUIDOptOuts opts out the contacts of rows (contact_id, workspace_id, bsuid, opted_out_at,
// source, reason, evidence): opt-outs that waited for their BSUID.
func applyBSUIDOptOuts(ctx context.Context, db DBTX, rows pgx.Rows) ([]BSUIDOptOut, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BSUIDOptOut, error) {
		var o BSUIDOptOut
		err := r.Scan(&o.ContactID, &o.WorkspaceID, &o.BSUID, &o.At, &o.Source, &o.Reason, &o.Evidence)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading waiting BSUID opt-outs: %w", err)
	}
	for i, o := range out {
		if o.Evidence == nil {
			o.Evidence = map[string]any{}
		}
		o.Evidence["waited_for_bsuid"] = true
		out[i] = o
		if o.Source == BSUIDMarketingPreference {
			if _, err := WAContactMarketingPreference(ctx, db, o.WorkspaceID, o.ContactID, true, o.At, o.Reason); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := WAContactOptOut(ctx, db, o.WorkspaceID, o.ContactID, nil, o.At, o.Source, o.Reason, o.Evidence); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ContactWAID is the WhatsApp id to write to a contact at: its wa_id as Meta gave it, else its
// phone's digits; "" for an erased contact or one without a phone.
func ContactWAID(ctx context.Context, db DBTX, workspaceID, contactID int64) (string, error) {
	var waID string
	err := db.QueryRow(ctx, `SELECT coalesce(wa_id, ltrim(phone_e164, '+')) FROM contacts
		WHERE workspace_id = $1 AND id = $2 AND erased_at IS NULL AND phone_e164 LIKE '+%'`, workspaceID, contactID).Scan(&waID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the WhatsApp id of contact %d: %w", contactID, err)
	}
	return waID, nil
}
