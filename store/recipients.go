package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Recipient states. A recipient moves pending → queued → sending → sent | failed | skipped |
// unknown; webhooks then move sent → delivered → read (and settle unknown).
const (
	RecipientPending   = "pending"
	RecipientQueued    = "queued"
	RecipientSending   = "sending"
	RecipientUnknown   = "unknown"
	RecipientSent      = "sent"
	RecipientDelivered = "delivered"
	RecipientRead      = "read"
	RecipientFailed    = "failed"
	RecipientSkipped   = "skipped"
)

// ClaimCandidate is a releasable recipient the pacer has locked. InWindow and Counted mean it
// does not spend the messaging budget: the contact's service window is open, or the contact is
// already counted in the rolling 24 h (a send now keeps it counted for 24 h more: see
// MessagingLedgerTouch).
type ClaimCandidate struct {
	ID        int64
	ContactID int64
	InWindow  bool
	Counted   bool
}

// ActiveChatHold is how long a contact counts as chatting with the owner right now after the
// conversation's last message (the contact's inbound message, or the owner's echo sent from the
// phone app). With the workspace's hold_active_chats setting on, a campaign holds such a
// contact back until ActiveChatHold after that last message, then sends: half an hour without
// a message is when a WhatsApp chat with a shop is usually over, and a promotion in the middle
// of it reads as spam.
const ActiveChatHold = 30 * time.Minute

// ClaimParams says which recipients RecipientsClaim locks.
type ClaimParams struct {
	WorkspaceID int64
	CampaignID  int64
	Now         time.Time
	Limit       int
	// Exclude are recipients this transaction already claimed: FOR UPDATE SKIP LOCKED skips
	// the rows other transactions locked, not the transaction's own, so a second claim in the
	// same transaction (the pacer's fair share) would return them again.
	Exclude []int64
}

// RecipientsClaim locks up to p.Limit releasable recipients of a campaign (pending and due, or
// failed with 131049 and due for their single retry, or failed with 132015 (a send Meta
// dropped when it paused the template) and waiting to be sent again), in contact order (the order of the
// (campaign_id, state, contact_id) index; the launch inserts them in about that order), with
// FOR UPDATE SKIP LOCKED so concurrent claimers never block on or share a row. Recipients whose
// contact is no longer marketable (opted out, stopped by WhatsApp, erased… since the launch) are
// skipped with that reason in the same transaction instead of being returned; with the
// workspace's hold_active_chats on, recipients whose contact is chatting with the owner (a
// message in or an echo out within ActiveChatHold) are held back: their retry_at moves to
// ActiveChatHold after the chat's last message and they are released then. So fewer than
// p.Limit may come back while more remain.
//
// The chat is found through messages_contact_idx (contact_id, occurred_at): a range of the
// last ActiveChatHold of one contact's messages, read only for the rows the LIMIT lets through
// and only when the setting is on (the CASE), so the claim stays as cheap as before for large
// campaigns at every tick.
func RecipientsClaim(ctx context.Context, tx DBTX, p ClaimParams) ([]ClaimCandidate, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	exclude := p.Exclude
	if exclude == nil {
		exclude = []int64{} // <> ALL(NULL) would match nothing
	}
	// hold_active_chats is WorkspaceSettings.HoldActiveChats, read here (once per statement)
	// so that every release honours it.
	const q = `
		SELECT r.id, r.contact_id,
		       COALESCE(ct.last_inbound_at > $3::timestamptz - interval '24 hours', false),
		       EXISTS (SELECT 1 FROM messaging_ledger l WHERE l.workspace_id = r.workspace_id
		               AND l.contact_id = r.contact_id AND l.counted_at > $3::timestamptz - interval '24 hours'),
		       COALESCE(` + sqlNotMarketable + `, CASE WHEN ct.cooled_until > $3 THEN 'cooling_down' END),
		       CASE WHEN (SELECT COALESCE((w.settings->>'hold_active_chats')::boolean, false) FROM workspaces w WHERE w.id = $1)
		            THEN (SELECT max(m.occurred_at) FROM messages m WHERE m.contact_id = r.contact_id
		                  AND m.occurred_at > $5::timestamptz AND m.direction IN ('inbound', 'echo')) END
		FROM recipients r JOIN contacts ct ON ct.id = r.contact_id AND ct.workspace_id = r.workspace_id
		WHERE r.workspace_id = $1 AND r.campaign_id = $2 AND %s AND r.id <> ALL($6::bigint[])
		ORDER BY r.contact_id LIMIT $4
		FOR UPDATE OF r SKIP LOCKED`
	out := make([]ClaimCandidate, 0, p.Limit)
	var skipIDs []int64
	var skipReasons []string
	var holdIDs []int64
	var holdUntil []time.Time
	for _, cond := range []string{
		`r.state = 'pending' AND (r.retry_at IS NULL OR r.retry_at <= $3)`,
		`r.state = 'failed' AND r.retry_at <= $3 AND ` + retriedFailureSQL("r."),
	} {
		rows, err := tx.Query(ctx, fmt.Sprintf(q, cond), p.WorkspaceID, p.CampaignID, p.Now,
			p.Limit-len(out)-len(skipIDs)-len(holdIDs), p.Now.Add(-ActiveChatHold), exclude)
		if err != nil {
			return nil, fmt.Errorf("claiming recipients of campaign %d: %w", p.CampaignID, err)
		}
		for rows.Next() {
			var c ClaimCandidate
			var notMarketable *string
			var lastChat *time.Time
			if err := rows.Scan(&c.ID, &c.ContactID, &c.InWindow, &c.Counted, &notMarketable, &lastChat); err != nil {
				rows.Close()
				return nil, err
			}
			if notMarketable != nil {
				skipIDs, skipReasons = append(skipIDs, c.ID), append(skipReasons, *notMarketable)
				continue
			}
			if lastChat != nil {
				last := *lastChat
				if last.After(p.Now) { // a phone's clock ahead of ours
					last = p.Now
				}
				holdIDs, holdUntil = append(holdIDs, c.ID), append(holdUntil, last.Add(ActiveChatHold))
				continue
			}
			out = append(out, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("claiming recipients of campaign %d: %w", p.CampaignID, err)
		}
		if len(out)+len(skipIDs)+len(holdIDs) >= p.Limit {
			break
		}
	}
	if len(skipIDs) > 0 {
		if _, err := tx.Exec(ctx, `
			UPDATE recipients r SET state = CASE WHEN r.state = 'pending' THEN 'skipped' ELSE r.state END,
			    skip_reason = CASE WHEN r.state = 'pending' THEN s.reason ELSE r.skip_reason END,
			    retry_at = NULL, updated_at = now() -- a 131049 or 132015 failure stays failed, not retried
			FROM unnest($2::bigint[], $3::text[]) AS s(id, reason)
			WHERE r.workspace_id = $1 AND r.id = s.id`, p.WorkspaceID, skipIDs, skipReasons); err != nil {
			return nil, fmt.Errorf("skipping %d recipients of campaign %d no longer marketable: %w", len(skipIDs), p.CampaignID, err)
		}
	}
	if len(holdIDs) > 0 {
		// Pending (or failed awaiting its retry) as before, due once the chat is over.
		if _, err := tx.Exec(ctx, `
			UPDATE recipients r SET retry_at = s.until, updated_at = now()
			FROM unnest($2::bigint[], $3::timestamptz[]) AS s(id, until)
			WHERE r.workspace_id = $1 AND r.id = s.id`, p.WorkspaceID, holdIDs, holdUntil); err != nil {
			return nil, fmt.Errorf("holding back %d recipients of campaign %d chatting with the owner: %w", len(holdIDs), p.CampaignID, err)
		}
	}
	return out, nil
}

func RecipientsQueue(ctx context.Context, tx DBTX, workspaceID int64, ids []int64, slots []time.Time, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	// A failed recipient released for its retry (131049, or 132015: a send Meta dropped)
	// starts a new send: the first attempt's wamid and times are cleared (its statuses stay in
	// status_events), so the retry's own wamid is recorded when Meta accepts it and its
	// statuses apply, and no late status of the old wamid finds the recipient any more.
	_, err := tx.Exec(ctx, `
		UPDATE recipients r SET state = 'queued', send_slot = s.slot, queued_at = $4, retry_at = NULL,
		       wamid = CASE WHEN r.state = 'failed' THEN NULL ELSE r.wamid END,
		       sent_at = CASE WHEN r.state = 'failed' THEN NULL ELSE r.sent_at END,
		       delivered_at = CASE WHEN r.state = 'failed' THEN NULL ELSE r.delivered_at END,
		       read_at = CASE WHEN r.state = 'failed' THEN NULL ELSE r.read_at END,
		       failed_at = CASE WHEN r.state = 'failed' THEN NULL ELSE r.failed_at END,
		       outcome_at = CASE WHEN r.state = 'failed' THEN NULL ELSE r.outcome_at END,
		       held_at = NULL,
		       updated_at = now()
		FROM unnest($2::bigint[], $3::timestamptz[]) AS s(id, slot)
		WHERE r.id = s.id AND r.workspace_id = $1`, workspaceID, ids, slots, now)
	if err != nil {
		return fmt.Errorf("queueing %d recipients: %w", len(ids), err)
	}
	return nil
}

// RecipientsRecoverStale repairs what crashed send jobs left behind in the given campaigns:
// recipients queued for a slot before queuedBefore (their job never ran, or gave up) go back to
// pending; recipients in sending since before sendingBefore (the process died during or after
// the API call) become unknown, for a status webhook to settle through the callback data.
// Rows another transaction holds are skipped, not waited for: a send job claiming a late
// recipient, or recording its send, is dealing with it (the pacer waited out its whole timeout
// behind slow claims on a loaded machine); what is still stale is found at the next tick.
func RecipientsRecoverStale(ctx context.Context, tx DBTX, workspaceID int64, campaignIDs []int64, queuedBefore, sendingBefore time.Time) (requeued, unknown int64, err error) {
	tag, err := tx.Exec(ctx, `UPDATE recipients SET state = 'pending', send_slot = NULL, updated_at = now()
		WHERE id IN (SELECT id FROM recipients
		             WHERE workspace_id = $1 AND campaign_id = ANY($2) AND state = 'queued' AND send_slot < $3
		             FOR UPDATE SKIP LOCKED)
		  AND state = 'queued' AND send_slot < $3`,
		workspaceID, campaignIDs, queuedBefore)
	if err != nil {
		return 0, 0, fmt.Errorf("re-queueing stale recipients: %w", err)
	}
	requeued = tag.RowsAffected()
	tag, err = tx.Exec(ctx, `UPDATE recipients SET state = 'unknown', updated_at = now()
		WHERE id IN (SELECT id FROM recipients
		             WHERE workspace_id = $1 AND campaign_id = ANY($2) AND state = 'sending' AND sending_at < $3
		             FOR UPDATE SKIP LOCKED)
		  AND state = 'sending' AND sending_at < $3`,
		workspaceID, campaignIDs, sendingBefore)
	if err != nil {
		return 0, 0, fmt.Errorf("marking stale sends unknown: %w", err)
	}
	return requeued, tag.RowsAffected(), nil
}

// ResendAfterDropSQL is the condition on a recipients row (columns prefixed with q: "r." or "")
// of a recipient whose send Meta dropped with 132015 and that waits to be sent again once its
// campaign runs (see applyEventsSQL). Reports count it as still to send, like a send refused at
// once with 132015 (back to pending), not as a failure; the drop itself stays in status_events.
func ResendAfterDropSQL(q string) string {
	return "(" + q + "state = 'failed' AND coalesce(" + q + "error_code, 0) = 132015 AND " + q + "retry_at IS NOT NULL)"
}

// retriedFailureSQL is the condition on a failed recipients row (columns prefixed with q) whose
// failure is sent again when its retry_at comes: 131049 once (the marketing limit per person),
// 132015 (a send Meta dropped when it paused the template). The claim, the remaining work and
// the next retry share it.
func retriedFailureSQL(q string) string {
	return "(" + q + "error_code = 131049 AND " + q + "attempts <= 1 OR " + q + "error_code = 132015)"
}

// HoldLimit is how long a campaign waits for Meta's word on a send it held for template pacing
// (message_status "held_for_quality_assessment") before completing without it. Meta aims to
// decide within about an hour at p99 and releases the messages it has not decided on by then
// (WHATSAPP.md, Pacing); the quarter of an hour more is for the decision's webhooks to arrive.
// While a campaign waits, a drop (a failed status with 132015) is sent again, as in a running
// campaign; one arriving after the campaign completed keeps its failure.
const HoldLimit = 75 * time.Minute

// CampaignWork is what still keeps a campaign from completing.
type CampaignWork struct {
	// Active: recipients pending, queued or sending, or failed with 131049 or 132015 and a
	// retry scheduled.
	Active bool
	// Held counts the sends Meta holds for pacing (no status of theirs yet) that it held less
	// than HoldLimit ago; HeldUntil is when the oldest of them reaches HoldLimit.
	Held      int64
	HeldUntil time.Time
}

// Done reports whether the campaign can complete: nothing left to send or in flight, and no
// send Meta still holds within HoldLimit.
func (w CampaignWork) Done() bool { return !w.Active && w.Held == 0 }

// CampaignWorkGet reads what still keeps a campaign from completing at now: the one rule by which
// the pacer completes campaigns.
func CampaignWorkGet(ctx context.Context, db DBTX, workspaceID, campaignID int64, now time.Time) (CampaignWork, error) {
	var w CampaignWork
	var oldest *time.Time
	// Held sends are found through recipients_held_idx (held_at > $3 implies held_at IS NOT NULL).
	err := db.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM recipients WHERE workspace_id = $1 AND campaign_id = $2 AND state = 'pending')
		OR EXISTS (SELECT 1 FROM recipients WHERE workspace_id = $1 AND campaign_id = $2 AND state = 'queued')
		OR EXISTS (SELECT 1 FROM recipients WHERE workspace_id = $1 AND campaign_id = $2 AND state = 'sending')
		OR EXISTS (SELECT 1 FROM recipients WHERE workspace_id = $1 AND campaign_id = $2 AND state = 'failed'
		           AND retry_at IS NOT NULL AND `+retriedFailureSQL("")+`),
		h.n, h.oldest
		FROM (SELECT count(*) AS n, min(held_at) AS oldest FROM recipients
		      WHERE workspace_id = $1 AND campaign_id = $2 AND held_at > $3) h`,
		workspaceID, campaignID, now.Add(-HoldLimit)).Scan(&w.Active, &w.Held, &oldest)
	if err != nil {
		return w, fmt.Errorf("checking remaining work of campaign %d: %w", campaignID, err)
	}
	if oldest != nil {
		w.HeldUntil = oldest.Add(HoldLimit)
	}
	return w, nil
}

// CampaignHeldCount counts a campaign's sends Meta holds for pacing and has said nothing more
// about (however long ago: past HoldLimit the campaign no longer waits for them). They are
// sent recipients in every other count.
func CampaignHeldCount(ctx context.Context, db DBTX, workspaceID, campaignID int64) (int64, error) {
	var n int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM recipients WHERE workspace_id = $1 AND campaign_id = $2 AND held_at IS NOT NULL`,
		workspaceID, campaignID).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting held sends of campaign %d: %w", campaignID, err)
	}
	return n, nil
}

// CampaignNextRetryAt is the earliest retry_at of a campaign's releasable-later recipients (nil
// when none): the pacer sleeps until then when nothing else is pending.
func CampaignNextRetryAt(ctx context.Context, db DBTX, workspaceID, campaignID int64) (*time.Time, error) {
	var t *time.Time
	err := db.QueryRow(ctx, `SELECT min(retry_at) FROM recipients WHERE workspace_id = $1 AND campaign_id = $2
		AND retry_at IS NOT NULL AND (state = 'pending'
		    OR (state = 'failed' AND `+retriedFailureSQL("")+`))`,
		workspaceID, campaignID).Scan(&t)
	if err != nil {
		return nil, fmt.Errorf("reading next retry of campaign %d: %w", campaignID, err)
	}
	return t, nil
}

// CampaignCounts reads a campaign's live recipient counters (state → count; states with no
// recipients are absent), summed over the shards the trigger maintains. It costs at most
// 16 rows per state, whatever the audience size.
func CampaignCounts(ctx context.Context, db DBTX, workspaceID, campaignID int64) (map[string]int64, error) {
	rows, err := db.Query(ctx, `SELECT cc.state, sum(cc.n)::bigint FROM campaign_counters cc
		JOIN campaigns c ON c.id = cc.campaign_id AND c.workspace_id = $1
		WHERE cc.campaign_id = $2 GROUP BY cc.state HAVING sum(cc.n) <> 0`, workspaceID, campaignID)
	if err != nil {
		return nil, fmt.Errorf("reading counters of campaign %d: %w", campaignID, err)
	}
	defer rows.Close()
	return collectCounts(rows)
}

// RecipientSend is what a send job needs about its recipient, read under the recipient's lock.
type RecipientSend struct {
	ID               int64
	WorkspaceID      int64
	CampaignID       int64
	ContactID        int64
	Phone            string
	State            string
	SendSlot         *time.Time
	Attempts         int
	Variables        json.RawMessage // the frozen values (campaigns.Mapping.Expand)
	Mapping          json.RawMessage // the campaign's variable mapping, which the values follow
	CampaignState    CampaignState
	SenderNumberID   int64
	TemplateName     string
	TemplateLanguage string
}

// RecipientClaimForSend is a send job's one-statement fast path: it moves the recipient from
// queued to sending (attempts + 1) only while it still holds slot and its campaign is running,
// and returns what the send needs. ok is false when anything else holds; the caller then looks
// at the recipient under a lock (RecipientLockForSend) to decide what to do.
func RecipientClaimForSend(ctx context.Context, db DBTX, workspaceID, recipientID int64, slot, now time.Time) (r RecipientSend, ok bool, err error) {
	var numberID *int64
	var tname, tlang *string
	err = db.QueryRow(ctx, `
		UPDATE recipients r SET state = 'sending', sending_at = $4, attempts = r.attempts + 1, updated_at = now()
		FROM campaigns c
		WHERE r.workspace_id = $1 AND r.id = $2 AND r.state = 'queued' AND r.send_slot = $3
		  AND c.id = r.campaign_id AND c.workspace_id = r.workspace_id AND c.state = 'running'
		RETURNING r.id, r.workspace_id, r.campaign_id, r.contact_id, r.phone_e164, r.state, r.send_slot, r.attempts,
		          r.variables, c.variable_mapping, c.state, c.sender_number_id,
		          (SELECT t.name FROM templates t WHERE t.id = c.template_id AND t.workspace_id = c.workspace_id),
		          (SELECT t.language FROM templates t WHERE t.id = c.template_id AND t.workspace_id = c.workspace_id)`,
		workspaceID, recipientID, slot, now).Scan(
		&r.ID, &r.WorkspaceID, &r.CampaignID, &r.ContactID, &r.Phone, &r.State, &r.SendSlot, &r.Attempts,
		&r.Variables, &r.Mapping, &r.CampaignState, &numberID, &tname, &tlang)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("claiming recipient %d for sending: %w", recipientID, err)
	}
	if numberID != nil {
		r.SenderNumberID = *numberID
	}
	if tname != nil && tlang != nil {
		r.TemplateName, r.TemplateLanguage = *tname, *tlang
	}
	return r, true, nil
}

// RecipientLockForSend reads and row-locks a recipient with its campaign's state and template
// (inside tx). ErrNotFound when the recipient is gone.
func RecipientLockForSend(ctx context.Context, tx DBTX, workspaceID, recipientID int64) (RecipientSend, error) {
	var r RecipientSend
	var numberID *int64
	var tname, tlang *string
	err := tx.QueryRow(ctx, `
		SELECT r.id, r.workspace_id, r.campaign_id, r.contact_id, r.phone_e164, r.state, r.send_slot, r.attempts,
		       r.variables, c.variable_mapping, c.state, c.sender_number_id, t.name, t.language
		FROM recipients r
		JOIN campaigns c ON c.id = r.campaign_id AND c.workspace_id = r.workspace_id
		LEFT JOIN templates t ON t.id = c.template_id AND t.workspace_id = c.workspace_id
		WHERE r.workspace_id = $1 AND r.id = $2
		FOR UPDATE OF r`, workspaceID, recipientID).Scan(
		&r.ID, &r.WorkspaceID, &r.CampaignID, &r.ContactID, &r.Phone, &r.State, &r.SendSlot, &r.Attempts,
		&r.Variables, &r.Mapping, &r.CampaignState, &numberID, &tname, &tlang)
	if err != nil {
		return r, NotFoundIfNoRows(err)
	}
	if numberID != nil {
		r.SenderNumberID = *numberID
	}
	if tname != nil {
		r.TemplateName, r.TemplateLanguage = *tname, *tlang
	}
	return r, nil
}

// RecipientSetState moves one recipient between states, guarded: the update applies only while
// the recipient is in one of from (and, when slot is non-nil, still holds that send slot). It
// reports whether it applied. Timestamps follow the new state.
func RecipientSetState(ctx context.Context, db DBTX, workspaceID, recipientID int64, from []string, slot *time.Time, to string, now time.Time) (bool, error) {
	tag, err := db.Exec(ctx, `
		UPDATE recipients SET state = $4,
		       sending_at = CASE WHEN $4 = 'sending' THEN $5 ELSE sending_at END,
		       attempts   = CASE WHEN $4 = 'sending' THEN attempts + 1 ELSE attempts END,
		       send_slot  = CASE WHEN $4 = 'pending' THEN NULL ELSE send_slot END,
		       updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND state = ANY($3)
		  AND ($6::timestamptz IS NULL OR send_slot = $6)`,
		workspaceID, recipientID, from, to, now, slot)
	if err != nil {
		return false, fmt.Errorf("moving recipient %d to %s: %w", recipientID, to, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecipientSkip marks a recipient skipped with a reason (guarded by from, like RecipientSetState).
func RecipientSkip(ctx context.Context, db DBTX, workspaceID, recipientID int64, from []string, reason string) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE recipients SET state = 'skipped', skip_reason = $4, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND state = ANY($3)`, workspaceID, recipientID, from, reason)
	if err != nil {
		return false, fmt.Errorf("skipping recipient %d: %w", recipientID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecipientRetryLater puts a recipient that was being sent back to pending, due at retryAt, with
// the error that made it wait (the send was refused: nothing went out).
func RecipientRetryLater(ctx context.Context, db DBTX, workspaceID, recipientID int64, retryAt time.Time, code int, title string) error {
	_, err := db.Exec(ctx, `UPDATE recipients SET state = 'pending', send_slot = NULL, retry_at = $3,
		error_code = $4, error_title = $5, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND state = 'sending'`, workspaceID, recipientID, retryAt, code, title)
	if err != nil {
		return fmt.Errorf("scheduling retry of recipient %d: %w", recipientID, err)
	}
	return nil
}

// RecipientMarkSent records an accepted send in one statement: wamid and wa_id on the
// recipient (sending or, when a sweeper got there first, unknown) and the wa_id on the contact.
// It reports whether the recipient changed (false: a webhook settled it first).
func RecipientMarkSent(ctx context.Context, db DBTX, workspaceID, recipientID int64, wamid, waID string, now time.Time) (bool, error) {
	var n int
	err := db.QueryRow(ctx, `
		WITH r AS (
		    UPDATE recipients SET state = 'sent', wamid = $3, wa_id = COALESCE(NULLIF($4, ''), wa_id),
		           sent_at = COALESCE(sent_at, $5), outcome_at = $5, error_code = NULL, error_title = '', updated_at = now()
		    WHERE workspace_id = $1 AND id = $2 AND state IN ('sending', 'unknown') AND (wamid IS NULL OR wamid = $3)
		    RETURNING contact_id
		), c AS (
		    UPDATE contacts ct SET wa_id = $4, updated_at = now() FROM r
		    WHERE ct.id = r.contact_id AND ct.workspace_id = $1 AND $4 <> '' AND ct.wa_id IS DISTINCT FROM $4
		    RETURNING ct.id
		)
		SELECT (SELECT count(*) FROM r) + 0 * (SELECT count(*) FROM c)`, workspaceID, recipientID, wamid, waID, now).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("recording send of recipient %d: %w", recipientID, err)
	}
	if n == 0 {
		// A webhook settled it first (state moved past sent, wamid set through callback data).
		_, err = db.Exec(ctx, `UPDATE recipients SET wa_id = COALESCE(wa_id, NULLIF($3, '')), outcome_at = COALESCE(outcome_at, $4)
			WHERE workspace_id = $1 AND id = $2`, workspaceID, recipientID, waID, now)
		return false, err
	}
	return true, nil
}

// StatusEventsPendingForWAMID reports whether status events wait for wamid (webhooks that beat
// the send's commit): a cheap probe of a partial index, so the send job runs the full apply only
// when needed.
func StatusEventsPendingForWAMID(ctx context.Context, db DBTX, wamid string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM status_events WHERE wamid = $1 AND applied_at IS NULL)`, wamid).Scan(&ok)
	return ok, err
}

// RecipientMarkFailed records a refused send of a recipient that is being sent.
func RecipientMarkFailed(ctx context.Context, db DBTX, workspaceID, recipientID int64, code int, title string, now time.Time) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE recipients SET state = 'failed', error_code = $3, error_title = $4,
		failed_at = $5, outcome_at = $5, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND state IN ('sending', 'unknown')`, workspaceID, recipientID, code, title, now)
	if err != nil {
		return false, fmt.Errorf("recording failure of recipient %d: %w", recipientID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ContactMarketingStop records that WhatsApp refused marketing to the contact (131050): the
// contact stops being marketable and a consent event says why.
func ContactMarketingStop(ctx context.Context, db DBTX, workspaceID, contactID int64, source, reason string, evidence any, now time.Time) error {
	tag, err := db.Exec(ctx, `UPDATE contacts SET marketing_stopped = true, marketing_stopped_at = $3, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND NOT marketing_stopped`, workspaceID, contactID, now)
	if err != nil {
		return fmt.Errorf("stopping marketing to contact %d: %w", contactID, err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	ev, _ := json.Marshal(evidence)
	_, err = db.Exec(ctx, `INSERT INTO consent_events (workspace_id, contact_id, kind, source, reason, evidence, created_at)
		VALUES ($1, $2, 'marketing_stop', $3, $4, $5, $6)`, workspaceID, contactID, source, reason, ev, now)
	if err != nil {
		return fmt.Errorf("recording marketing stop of contact %d: %w", contactID, err)
	}
	return nil
}

// ContactUndeliverable counts a 131026 (undeliverable) for the contact.
func ContactUndeliverable(ctx context.Context, db DBTX, workspaceID, contactID int64) error {
	_, err := db.Exec(ctx, `UPDATE contacts SET undeliverable_count = undeliverable_count + 1,
		    phone_valid = phone_valid AND undeliverable_count + 1 < 3, updated_at = now() -- UndeliverableLimit
		WHERE workspace_id = $1 AND id = $2`, workspaceID, contactID)
	if err != nil {
		return fmt.Errorf("counting undeliverable contact %d: %w", contactID, err)
	}
	return nil
}

// ContactCoolDown keeps marketing away from the contact until until (131049).
func ContactCoolDown(ctx context.Context, db DBTX, workspaceID, contactID int64, until time.Time) error {
	_, err := db.Exec(ctx, `UPDATE contacts SET cooled_until = GREATEST(cooled_until, $3), updated_at = now()
		WHERE workspace_id = $1 AND id = $2`, workspaceID, contactID, until)
	if err != nil {
		return fmt.Errorf("cooling down contact %d: %w", contactID, err)
	}
	return nil
}

// CampaignBreakerStats counts the failures among the last window outcomes (sent or failed by the
// send job, in outcome order) of a campaign. 131049 (the person's marketing cap) and 132015 (the
// template paused: a send refused with it is not an outcome at all, it goes back to pending) say
// nothing about the audience and are not failures here.
func CampaignBreakerStats(ctx context.Context, db DBTX, workspaceID, campaignID int64, window int) (outcomes, failures int, err error) {
	err = db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 'failed' AND coalesce(error_code, 0) NOT IN (131049, 132015))
		FROM (SELECT state, error_code FROM recipients WHERE campaign_id = $2 AND workspace_id = $1 AND outcome_at IS NOT NULL
		      ORDER BY outcome_at DESC LIMIT $3) last`, workspaceID, campaignID, window).Scan(&outcomes, &failures)
	if err != nil {
		return 0, 0, fmt.Errorf("reading circuit-breaker window of campaign %d: %w", campaignID, err)
	}
	return outcomes, failures, nil
}

// RunningSend is the campaign and sender number of a send whose campaign is running.
type RunningSend struct {
	WorkspaceID, CampaignID, SenderNumberID int64
	// RunningSince is when the campaign last went to running (its launch or latest resume).
	RunningSince time.Time
}

// RunningSendsOf maps each of these wamids whose campaign is running to its campaign and number.
func RunningSendsOf(ctx context.Context, db DBTX, wamids []string) (map[string]RunningSend, error) {
	rows, err := db.Query(ctx, `SELECT r.wamid, c.workspace_id, c.id, c.sender_number_id,
		       coalesce((SELECT t.created_at FROM campaign_transitions t WHERE t.campaign_id = c.id AND t.to_state = 'running'
		                 ORDER BY t.id DESC LIMIT 1), c.created_at)
		FROM recipients r
		JOIN campaigns c ON c.id = r.campaign_id AND c.workspace_id = r.workspace_id
		WHERE r.wamid = ANY ($1) AND c.state = 'running' AND c.sender_number_id IS NOT NULL`, wamids)
	if err != nil {
		return nil, fmt.Errorf("finding the campaigns of %d failed sends: %w", len(wamids), err)
	}
	out := map[string]RunningSend{}
	var wamid string
	var s RunningSend
	_, err = pgx.ForEachRow(rows, []any{&wamid, &s.WorkspaceID, &s.CampaignID, &s.SenderNumberID, &s.RunningSince}, func() error { out[wamid] = s; return nil })
	if err != nil {
		return nil, fmt.Errorf("finding the campaigns of %d failed sends: %w", len(wamids), err)
	}
	return out, nil
}

// SendClaim is one recipient a send job asks to claim: its id and the slot it was released for.
type SendClaim struct {
	ID   int64
	Slot time.Time
}

func splitClaims(items []SendClaim) ([]int64, []time.Time) {
	ids := make([]int64, len(items))
	slots := make([]time.Time, len(items))
	for i, it := range items {
		ids[i], slots[i] = it.ID, it.Slot
	}
	return ids, slots
}

// RecipientsClaimForSend is the send job's claim, one statement for every recipient due now:
// each moves from queued to sending (attempts + 1) only while it still holds its slot and its
// campaign is running, and what the sends need comes back. The campaign rows are share-locked
// (FOR SHARE) by the claim, so a pause (an UPDATE of the campaign) and a claim are ordered: a
// claim that committed before the pause's lock was granted, or a claim that sees the campaign
// paused and claims nothing. No recipient is claimed after a pause commits, nor one whose
// contact is no longer marketable (opted out since its release…). Recipients missing from the
// result were not claimed (see RecipientsResolveUnclaimed).
//
// The recipients are found by id. "r.campaign_id + 0" keeps the planner from reaching them
// through the campaign's (campaign_id, state) index instead: right after a launch, before
// recipients is analysed, it estimated "campaign X, queued" at a row or two and read every
// queued recipient of the campaign (thousands, at 1,000 msg/s) for each claim of forty,
// which took from 300 ms to seconds on a busy machine.
func RecipientsClaimForSend(ctx context.Context, db DBTX, workspaceID int64, items []SendClaim, now time.Time) ([]RecipientSend, error) {
	if len(items) == 0 {
		return nil, nil
	}
	ids, slots := splitClaims(items)
	rows, err := db.Query(ctx, `
		WITH s AS (SELECT * FROM unnest($2::bigint[], $3::timestamptz[]) AS s(id, slot)),
		c AS (
		    SELECT c.id, c.state, c.sender_number_id, c.variable_mapping, t.name AS tname, t.language AS tlang
		    FROM campaigns c LEFT JOIN templates t ON t.id = c.template_id AND t.workspace_id = c.workspace_id
		    WHERE c.workspace_id = $1 AND c.state = 'running'
		      AND c.id IN (SELECT r.campaign_id FROM recipients r JOIN s ON s.id = r.id WHERE r.workspace_id = $1)
		    FOR SHARE OF c
		)
		UPDATE recipients r SET state = 'sending', sending_at = $4, attempts = r.attempts + 1, updated_at = now()
		FROM s, c, contacts ct
		WHERE r.workspace_id = $1 AND r.id = s.id AND r.state = 'queued' AND r.send_slot = s.slot AND c.id = r.campaign_id + 0
		  AND ct.id = r.contact_id AND ct.workspace_id = $1 AND (`+sqlNotMarketable+`) IS NULL
		RETURNING r.id, r.workspace_id, r.campaign_id, r.contact_id, r.phone_e164, r.state, r.send_slot, r.attempts,
		          r.variables, c.variable_mapping, c.state, c.sender_number_id, c.tname, c.tlang`,
		workspaceID, ids, slots, now)
	if err != nil {
		return nil, fmt.Errorf("claiming %d recipients for sending: %w", len(items), err)
	}
	defer rows.Close()
	out := make([]RecipientSend, 0, len(items))
	for rows.Next() {
		var r RecipientSend
		var numberID *int64
		var tname, tlang *string
		if err := rows.Scan(&r.ID, &r.WorkspaceID, &r.CampaignID, &r.ContactID, &r.Phone, &r.State, &r.SendSlot, &r.Attempts,
			&r.Variables, &r.Mapping, &r.CampaignState, &numberID, &tname, &tlang); err != nil {
			return nil, fmt.Errorf("claiming %d recipients for sending: %w", len(items), err)
		}
		if numberID != nil {
			r.SenderNumberID = *numberID
		}
		if tname != nil && tlang != nil {
			r.TemplateName, r.TemplateLanguage = *tname, *tlang
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claiming %d recipients for sending: %w", len(items), err)
	}
	return out, nil
}

// RecipientsResolveUnclaimed settles recipients a send job holds (same slot) but could not claim:
// one found in sending was claimed by an earlier run of the job that died during or after its
// API call, so it becomes unknown (never resent blindly: the webhook settles it through the
// callback data); one still queued whose contact is no longer marketable is skipped with the
// reason; one still queued whose campaign is paused (or back to scheduled/draft) goes back to
// pending, and one whose campaign is cancelled or completed is skipped. Anything else
// (re-released meanwhile, already settled) is left alone. It returns how many moved.
func RecipientsResolveUnclaimed(ctx context.Context, db DBTX, workspaceID int64, items []SendClaim) (int64, error) {
	if len(items) == 0 {
		return 0, nil
	}
	ids, slots := splitClaims(items)
	tag, err := db.Exec(ctx, `
		UPDATE recipients r SET
		    state = CASE WHEN r.state = 'sending' THEN 'unknown'
		                 WHEN x.not_marketable IS NOT NULL OR c.state IN ('cancelled', 'completed') THEN 'skipped'
		                 ELSE 'pending' END,
		    skip_reason = CASE WHEN r.state <> 'queued' THEN r.skip_reason
		                       WHEN x.not_marketable IS NOT NULL THEN x.not_marketable
		                       WHEN c.state IN ('cancelled', 'completed') THEN 'campaign_' || c.state
		                       ELSE r.skip_reason END,
		    send_slot = CASE WHEN r.state = 'queued' AND x.not_marketable IS NULL AND c.state NOT IN ('cancelled', 'completed')
		                     THEN NULL ELSE r.send_slot END,
		    updated_at = now()
		FROM unnest($2::bigint[], $3::timestamptz[]) AS s(id, slot), campaigns c, contacts ct,
		     LATERAL (SELECT `+sqlNotMarketable+` AS not_marketable) x
		WHERE r.workspace_id = $1 AND r.id = s.id AND r.send_slot = s.slot
		  AND c.id = r.campaign_id + 0 AND c.workspace_id = r.workspace_id -- found by id (RecipientsClaimForSend)
		  AND ct.id = r.contact_id AND ct.workspace_id = r.workspace_id
		  AND (r.state = 'sending' OR (r.state = 'queued' AND (c.state <> 'running' OR x.not_marketable IS NOT NULL)))`,
		workspaceID, ids, slots)
	if err != nil {
		return 0, fmt.Errorf("settling %d unclaimed recipients: %w", len(items), err)
	}
	return tag.RowsAffected(), nil
}

// RecipientsUnclaim puts recipients a send job claimed but did not send (it missed their
// slots, or could not prepare the message) back to pending: nothing went out.
func RecipientsUnclaim(ctx context.Context, db DBTX, workspaceID int64, items []SendClaim) error {
	if len(items) == 0 {
		return nil
	}
	ids, slots := splitClaims(items)
	_, err := db.Exec(ctx, `
		UPDATE recipients r SET state = 'pending', send_slot = NULL, updated_at = now()
		FROM unnest($2::bigint[], $3::timestamptz[]) AS s(id, slot)
		WHERE r.workspace_id = $1 AND r.id = s.id AND r.send_slot = s.slot AND r.state = 'sending'`, workspaceID, ids, slots)
	if err != nil {
		return fmt.Errorf("returning %d unsent recipients to pending: %w", len(items), err)
	}
	return nil
}

// SentOutcome is one send the Cloud API accepted. Held: Meta answered
// "held_for_quality_assessment" (template pacing) rather than "accepted".
type SentOutcome struct {
	RecipientID int64
	WAMID       string
	WAID        string
	At          time.Time
	Held        bool
}

// RecipientsMarkSent records accepted sends in one statement (RecipientMarkSent for many):
// wamid and wa_id on each recipient (sending or, when a sweeper got there first, unknown),
// held_at on those Meta held for pacing, and the wa_id on its contact; recipients a webhook
// settled first only get their wa_id and outcome time (a status already applied means the hold,
// if any, is over). Then status events that arrived before this commit (webhooks that beat it)
// are applied: after the commit, so a webhook committing concurrently cannot be missed by
// both sides.
func RecipientsMarkSent(ctx context.Context, db DBTX, workspaceID int64, sent []SentOutcome) error {
	if len(sent) == 0 {
		return nil
	}
	ids := make([]int64, len(sent))
	wamids := make([]string, len(sent))
	waids := make([]string, len(sent))
	ats := make([]time.Time, len(sent))
	held := make([]bool, len(sent))
	for i, s := range sent {
		ids[i], wamids[i], waids[i], ats[i], held[i] = s.RecipientID, s.WAMID, s.WAID, s.At, s.Held
	}
	var changed int
	err := db.QueryRow(ctx, `
		WITH s AS (SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[]) AS s(id, wamid, wa_id, at, held)),
		r AS (
		    UPDATE recipients r SET state = 'sent', wamid = s.wamid, wa_id = COALESCE(NULLIF(s.wa_id, ''), r.wa_id),
		           sent_at = COALESCE(r.sent_at, s.at), outcome_at = s.at, error_code = NULL, error_title = '',
		           held_at = CASE WHEN s.held THEN s.at END, updated_at = now()
		    FROM s
		    WHERE r.workspace_id = $1 AND r.id = s.id AND r.state IN ('sending', 'unknown') AND (r.wamid IS NULL OR r.wamid = s.wamid)
		    RETURNING r.id, r.contact_id, s.wa_id
		), c AS (
		    UPDATE contacts ct SET wa_id = r.wa_id, updated_at = now() FROM r
		    WHERE ct.id = r.contact_id AND ct.workspace_id = $1 AND r.wa_id <> '' AND ct.wa_id IS DISTINCT FROM r.wa_id
		    RETURNING ct.id
		), o AS (
		    UPDATE recipients r SET wa_id = COALESCE(r.wa_id, NULLIF(s.wa_id, '')), outcome_at = COALESCE(r.outcome_at, s.at)
		    FROM s
		    WHERE r.workspace_id = $1 AND r.id = s.id AND NOT (r.state IN ('sending', 'unknown') AND (r.wamid IS NULL OR r.wamid = s.wamid))
		    RETURNING r.id
		)
		SELECT (SELECT count(*) FROM r) + 0 * (SELECT count(*) FROM c) + 0 * (SELECT count(*) FROM o)`,
		workspaceID, ids, wamids, waids, ats, held).Scan(&changed)
	if err != nil {
		return fmt.Errorf("recording %d sends: %w", len(sent), err)
	}
	rows, err := db.Query(ctx, `SELECT DISTINCT wamid FROM status_events WHERE wamid = ANY($1) AND applied_at IS NULL`, wamids)
	if err != nil {
		return fmt.Errorf("looking for early statuses of %d sends: %w", len(sent), err)
	}
	early, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("looking for early statuses of %d sends: %w", len(sent), err)
	}
	if len(early) > 0 {
		if _, err := StatusEventsApply(ctx, db, early); err != nil {
			return fmt.Errorf("applying early statuses of %d sends: %w", len(early), err)
		}
	}
	return nil
}
