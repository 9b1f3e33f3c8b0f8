package store

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// StatusEvent is one delivery status as Meta reported it (status webhook), kept append-only:
// UNIQUE (wamid, status) makes a duplicate delivery count once.
type StatusEvent struct {
	ID              int64      `json:"id"`
	WorkspaceID     *int64     `json:"workspace_id,omitempty"`
	WAMID           string     `json:"wamid"`
	Status          string     `json:"status"` // sent | delivered | read | played | failed | (kept as sent by Meta)
	OccurredAt      time.Time  `json:"occurred_at"`
	RecipientWAID   string     `json:"recipient_wa_id,omitempty"`
	ErrorCode       *int       `json:"error_code,omitempty"`
	ErrorTitle      string     `json:"error_title,omitempty"`
	ErrorDetails    string     `json:"error_details,omitempty"`
	PricingCategory string     `json:"pricing_category,omitempty"`
	PricingType     string     `json:"pricing_type,omitempty"`
	Billable        *bool      `json:"billable,omitempty"`
	CallbackData    string     `json:"callback_data,omitempty"`
	InboxID         *int64     `json:"-"`
	Raw             []byte     `json:"-"` // the status object as received (JSON)
	ReceivedAt      time.Time  `json:"received_at"`
	AppliedAt       *time.Time `json:"applied_at,omitempty"`
}

// Error codes of failed statuses that change the contact (WHATSAPP.md §5).
const (
	ErrCodeMarketingCap     = 131049 // per-user marketing cap: cool the contact down 24 h
	ErrCodeMarketingStopped = 131050 // the user stopped marketing messages
	ErrCodeUndeliverable    = 131026 // not on WhatsApp, blocked, withheld…
	// ErrCodeTemplatePaused: the template is paused. In a failed status it is Meta dropping a
	// message it held for pacing (WHATSAPP.md §3): nothing reached the person, and the
	// recipient is sent again once the campaign resumes (see applyEventsSQL).
	ErrCodeTemplatePaused = 132015
)

// CallbackData is what the send job puts in biz_opaque_callback_data, so a status webhook can
// name the recipient of a send whose outcome was not recorded (state unknown).
func CallbackData(campaignID, recipientID int64) string {
	return fmt.Sprintf("pregon:c=%d;r=%d", campaignID, recipientID)
}

// StatusEventsInsert stores events, ignoring duplicates of (wamid, status), and returns the
// wamids of the events that were new. It does not apply them; call StatusEventsApply.
func StatusEventsInsert(ctx context.Context, db DBTX, events []StatusEvent) ([]string, error) {
	if len(events) == 0 {
		return nil, nil
	}
	events = sortedEvents(events)
	rows, err := db.Query(ctx, `
		INSERT INTO status_events (workspace_id, wamid, status, occurred_at, recipient_wa_id, error_code,
			error_title, error_details, pricing_category, pricing_type, billable, callback_data, inbox_id, raw)
		SELECT * FROM `+statusEventsUnnest+`
		ON CONFLICT (wamid, status) DO NOTHING
		RETURNING wamid`, statusEventArrays(events)...)
	if err != nil {
		return nil, fmt.Errorf("inserting %d status events: %w", len(events), err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inserting %d status events: %w", len(events), err)
	}
	return out, nil
}

// sortedEvents returns events in (wamid, status) order: concurrent batches naming the same
// events then insert them in one order and never deadlock on the unique index.
func sortedEvents(events []StatusEvent) []StatusEvent {
	events = slices.Clone(events)
	slices.SortFunc(events, func(a, b StatusEvent) int {
		return cmp.Or(strings.Compare(a.WAMID, b.WAMID), strings.Compare(a.Status, b.Status))
	})
	return events
}

// statusEventsUnnest turns the 14 arrays of statusEventArrays ($1…$14) into rows with the
// columns of status_events.
const statusEventsUnnest = `unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::int[],
	$7::text[], $8::text[], $9::text[], $10::text[], $11::bool[], $12::text[], $13::bigint[], $14::jsonb[])
	AS t (workspace_id, wamid, status, occurred_at, recipient_wa_id, error_code, error_title, error_details,
	      pricing_category, pricing_type, billable, callback_data, inbox_id, raw)`

// statusEventArrays is events as the column arrays statusEventsUnnest reads.
func statusEventArrays(events []StatusEvent) []any {
	n := len(events)
	var (
		ws       = make([]*int64, n)
		wamids   = make([]string, n)
		statuses = make([]string, n)
		at       = make([]time.Time, n)
		waids    = make([]string, n)
		codes    = make([]*int32, n)
		titles   = make([]string, n)
		details  = make([]string, n)
		cats     = make([]string, n)
		ptypes   = make([]string, n)
		bills    = make([]*bool, n)
		cbs      = make([]string, n)
		inbox    = make([]*int64, n)
		raws     = make([]string, n)
	)
	for i, e := range events {
		ws[i], wamids[i], statuses[i], at[i], waids[i] = e.WorkspaceID, e.WAMID, e.Status, e.OccurredAt, e.RecipientWAID
		if e.ErrorCode != nil {
			c := int32(*e.ErrorCode)
			codes[i] = &c
		}
		titles[i], details[i], cats[i], ptypes[i], bills[i] = e.ErrorTitle, e.ErrorDetails, e.PricingCategory, e.PricingType, e.Billable
		cbs[i], inbox[i] = e.CallbackData, e.InboxID
		raws[i] = "{}"
		if len(e.Raw) > 0 {
			raws[i] = string(e.Raw)
		}
	}
	return []any{ws, wamids, statuses, at, waids, codes, titles, details, cats, ptypes, bills, cbs, inbox, raws}
}

// IngestResult is what StatusEventsIngest did.
type IngestResult struct {
	Stored  int // events that were new (not duplicates)
	Applied int // of those, events applied to their recipient
	// Unapplied are the wamids of new events no recipient had: the send has not committed
	// its wamid yet (or never will). Apply them again after the commit (StatusEventsApply).
	Unapplied []string
}

// StatusEventsIngest stores new delivery statuses and applies them at once to the recipients
// that have their wamids: the webhook job's path, one statement for the whole batch. Each new
// event is inserted already applied when its recipient is known (the insert that wins the
// UNIQUE (wamid, status) race is the one that applies it, so a duplicate counts once), else
// unapplied, for StatusEventsApply to apply when the wamid appears. The recipient state rules
// are applySQL's. The caller runs it in a transaction.
func StatusEventsIngest(ctx context.Context, db DBTX, events []StatusEvent) (IngestResult, error) {
	if len(events) == 0 {
		return IngestResult{}, nil
	}
	events = sortedEvents(events)
	var wamids, failedWAMIDs, cbWAMIDs, cbData []string
	var cbRecipients, failedRecipients []int64
	var cbWorkspaces []*int64
	for _, e := range events {
		wamids = append(wamids, e.WAMID)
		failedCode := e.Status == "failed" && e.ErrorCode != nil &&
			(*e.ErrorCode == ErrCodeMarketingStopped || *e.ErrorCode == ErrCodeUndeliverable || *e.ErrorCode == ErrCodeMarketingCap)
		if failedCode {
			failedWAMIDs = append(failedWAMIDs, e.WAMID)
		}
		if m := callbackRe.FindStringSubmatch(e.CallbackData); m != nil {
			id, _ := strconv.ParseInt(m[2], 10, 64)
			cbRecipients = append(cbRecipients, id)
			cbWAMIDs, cbData, cbWorkspaces = append(cbWAMIDs, e.WAMID), append(cbData, e.CallbackData), append(cbWorkspaces, e.WorkspaceID)
			if failedCode {
				failedRecipients = append(failedRecipients, id)
			}
		}
	}
	// Lock the recipients (and the contacts failed statuses change) in the global order
	// StatusEventsApply uses, so concurrent batches wait for each other instead of deadlocking.
	if _, err := db.Exec(ctx, lockForIngestSQL, wamids, cbRecipients, failedWAMIDs, failedRecipients); err != nil {
		return IngestResult{}, fmt.Errorf("locking recipients of %d status events: %w", len(events), err)
	}
	if len(cbWAMIDs) > 0 {
		if _, err := db.Exec(ctx, settleIncomingCallbacksSQL, cbWAMIDs, cbWorkspaces, cbData); err != nil {
			return IngestResult{}, fmt.Errorf("settling unknown sends from callback data: %w", err)
		}
	}
	var res IngestResult
	var unapplied []string
	if err := db.QueryRow(ctx, ingestSQL, statusEventArrays(events)...).Scan(&res.Stored, &res.Applied, &unapplied); err != nil {
		return IngestResult{}, fmt.Errorf("storing and applying %d status events: %w", len(events), err)
	}
	res.Unapplied = unapplied
	return res, nil
}

// callbackRe reads the recipient a send's biz_opaque_callback_data names (see CallbackData).
var callbackRe = regexp.MustCompile(`^pregon:c=([0-9]+);r=([0-9]+)`)

// lockForIngestSQL locks the recipients of the wamids ($1) and those named by callback data
// ($2), then the contacts of those with failed statuses that change the contact ($3, $4).
const lockForIngestSQL = `
WITH r AS (
    SELECT id, contact_id, wamid FROM recipients
    WHERE wamid = ANY($1::text[]) OR id = ANY($2::bigint[]) ORDER BY id FOR UPDATE
), c AS (
    SELECT id FROM contacts
    WHERE id IN (SELECT contact_id FROM r WHERE wamid = ANY($3::text[]) OR id = ANY($4::bigint[]))
    ORDER BY id FOR UPDATE
)
SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM c)`

// settleIncomingCallbacksSQL is settleCallbacksSQL for statuses not stored yet: wamids ($1),
// workspaces ($2) and callback data ($3) of the incoming events.
const settleIncomingCallbacksSQL = `
WITH cb AS (
    SELECT DISTINCT ON (wamid) wamid, workspace_id,
        substring(callback_data FROM 'c=([0-9]+)')::bigint AS campaign_id,
        substring(callback_data FROM 'r=([0-9]+)')::bigint AS recipient_id
    FROM unnest($1::text[], $2::bigint[], $3::text[]) AS t (wamid, workspace_id, callback_data)
    WHERE callback_data ~ '^pregon:c=[0-9]+;r=[0-9]+'
    ORDER BY wamid
)` + settleUnknownSQL

// ingestSQL inserts the events ($1…$14, sorted by wamid and status; of duplicates in the batch,
// the first), each already applied when a recipient of its workspace has its wamid (src finds
// it once, for the insert and for ev), and applies the new applied ones (ev) with
// applyEventsSQL. It returns how many events were new, how many of those were applied, and the
// wamids of the new unapplied ones.
const ingestSQL = `
WITH src AS MATERIALIZED (
    SELECT DISTINCT ON (t.wamid, t.status) t.*, r.id AS recipient_id, r.contact_id, r.workspace_id AS recipient_workspace_id,
        coalesce(r.erased, false) AS erased
    FROM ` + statusEventsUnnest + `
    -- One index lookup per event, never a scan of every recipient (LIMIT keeps the planner
    -- from turning the lateral subquery into a hash join; a wamid is unique anyway).
    LEFT JOIN LATERAL (
        SELECT id, contact_id, workspace_id, phone_e164 LIKE 'erased:%' AS erased FROM recipients
        WHERE wamid = t.wamid AND (t.workspace_id IS NULL OR workspace_id = t.workspace_id) LIMIT 1
    ) r ON true
    ORDER BY t.wamid, t.status
), ins AS (
    -- A late status of an erased contact keeps neither its WhatsApp id nor Meta's raw object.
    INSERT INTO status_events (workspace_id, wamid, status, occurred_at, recipient_wa_id, error_code,
        error_title, error_details, pricing_category, pricing_type, billable, callback_data, inbox_id, raw, applied_at)
    SELECT COALESCE(recipient_workspace_id, workspace_id), wamid, status, occurred_at,
        CASE WHEN erased THEN '' ELSE recipient_wa_id END, error_code,
        error_title, error_details, pricing_category, pricing_type, billable, callback_data, inbox_id,
        CASE WHEN erased THEN '{}' ELSE raw END,
        CASE WHEN recipient_id IS NOT NULL THEN now() END
    FROM src ORDER BY wamid, status
    ON CONFLICT (wamid, status) DO NOTHING
    RETURNING id, wamid, status, occurred_at, error_code, error_title, pricing_category, billable, recipient_wa_id, applied_at
), ev AS (
    SELECT ins.id, ins.status, ins.occurred_at, ins.error_code, ins.error_title, ins.pricing_category, ins.billable,
           ins.recipient_wa_id, src.recipient_id, src.contact_id, src.recipient_workspace_id AS workspace_id
    FROM ins JOIN src ON src.wamid = ins.wamid AND src.status = ins.status
    WHERE ins.applied_at IS NOT NULL
), ` + applyEventsSQL + `
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM ev),
       (SELECT coalesce(array_agg(DISTINCT wamid), '{}') FROM ins WHERE applied_at IS NULL)`

// settleCallbacksSQL gives a wamid to recipients left in state unknown (the send crashed after
// calling the API) when an unapplied status names them in its biz_opaque_callback_data
// ("pregon:c=<campaign>;r=<recipient>"). The workspace must match the webhook's.
const settleCallbacksSQL = `
WITH cb AS (
    SELECT DISTINCT ON (wamid) wamid, workspace_id,
        substring(callback_data FROM 'c=([0-9]+)')::bigint AS campaign_id,
        substring(callback_data FROM 'r=([0-9]+)')::bigint AS recipient_id
    FROM status_events
    WHERE wamid = ANY($1::text[]) AND applied_at IS NULL AND callback_data ~ '^pregon:c=[0-9]+;r=[0-9]+'
    ORDER BY wamid, id
)` + settleUnknownSQL

// settleUnknownSQL gives each callback (cb: wamid, workspace_id, campaign_id, recipient_id) its
// recipient, when that one is still unknown, has no wamid, and the wamid is nobody else's — nor
// an earlier send's: a wamid some of whose statuses were applied already belonged to a recipient
// (a send Meta failed, since sent again with a new wamid), and a late status of it must not
// settle the new send.
const settleUnknownSQL = `
UPDATE recipients r SET wamid = cb.wamid, updated_at = now()
FROM cb
WHERE r.id = cb.recipient_id AND r.campaign_id = cb.campaign_id
  AND (cb.workspace_id IS NULL OR r.workspace_id = cb.workspace_id)
  AND r.state = 'unknown' AND r.wamid IS NULL
  AND NOT EXISTS (SELECT 1 FROM recipients o WHERE o.wamid = cb.wamid)
  AND NOT EXISTS (SELECT 1 FROM status_events a WHERE a.wamid = cb.wamid AND a.applied_at IS NOT NULL)`

const lockForApplySQL = `
WITH e AS (
    SELECT id FROM status_events WHERE wamid = ANY($1::text[]) AND applied_at IS NULL ORDER BY id FOR UPDATE
), r AS (
    SELECT id, contact_id FROM recipients WHERE wamid = ANY($1::text[]) ORDER BY id FOR UPDATE
), c AS (
    SELECT id FROM contacts WHERE id IN (SELECT contact_id FROM r) ORDER BY id FOR UPDATE
)
SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM c)`

// applySQL applies the unapplied status events of the given wamids to their recipients in one
// statement. Each event is claimed by setting applied_at, so it is applied exactly once even
// when several jobs race. The recipient's state becomes the maximum rank seen (never moving
// backwards; failed is terminal), timestamps keep the earliest value (LEAST ignores NULLs), and a
// read implies delivered. Failed statuses change the contact: 131050 stops marketing, 131026
// counts an undeliverable, 131049 cools the contact down for 24 h and schedules the recipient's
// single retry; 132015 schedules the recipient's new send (see applyEventsSQL). Events and
// recipients must belong to the same workspace.
const applySQL = `
WITH ev AS (
    UPDATE status_events se SET applied_at = now(), workspace_id = r.workspace_id
    FROM recipients r
    WHERE se.wamid = ANY($1::text[]) AND se.applied_at IS NULL
      AND r.wamid = se.wamid AND (se.workspace_id IS NULL OR se.workspace_id = r.workspace_id)
    RETURNING se.id, se.status, se.occurred_at, se.error_code, se.error_title, se.pricing_category,
              se.billable, se.recipient_wa_id, r.id AS recipient_id, r.contact_id, r.workspace_id
), ` + applyEventsSQL + `
SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM rec), (SELECT count(*) FROM con), (SELECT count(*) FROM cev)`

// applyEventsSQL is the part of a statement that applies the events of CTE ev (id, status,
// occurred_at, error_code, error_title, pricing_category, billable, recipient_wa_id,
// recipient_id, contact_id, workspace_id), each claimed by this statement, to their recipients
// and contacts: CTEs agg, rec, cagg, con and cev.
//
// A failed status with 132015 is Meta dropping a message it held for pacing when it paused the
// template (WHATSAPP.md §3): the person got nothing, so the recipient is sent again once its
// campaign runs (the webhook job pauses it; the template's return resumes it), as a send refused
// at once with 132015 is. The recipient stays failed with a retry_at, which RecipientsClaim
// releases and RecipientsQueue turns into a new send with a new wamid, exactly as a 131049
// retry. One dropped send schedules at most one new one: the failed event of a wamid is stored
// and applied once (UNIQUE (wamid, status), applied_at), and once the recipient is queued again
// no recipient has the old wamid, so no late status of it applies (or settles the new send:
// settleUnknownSQL). Not when anything says the message reached the person after all (a
// delivered or read of the same wamid, before or after the failed: a later one cancels the new
// send while it still waits), nor in a completed or cancelled campaign, nor after 8 sends (Meta
// disables a template at its third pause anyway).
//
// Any status clears held_at (a send Meta held for pacing): the hold is over, one way or the
// other, and the campaign no longer waits for it (CampaignWorkGet).
const applyEventsSQL = `agg AS (
    SELECT recipient_id,
        max(pregon_status_rank(status)) AS rank,
        min(occurred_at) FILTER (WHERE status = 'sent') AS sent_ts,
        min(occurred_at) FILTER (WHERE status IN ('delivered', 'read', 'played')) AS delivered_ts,
        min(occurred_at) FILTER (WHERE status IN ('read', 'played')) AS read_ts,
        min(occurred_at) FILTER (WHERE status = 'failed') AS failed_ts,
        min(error_code) FILTER (WHERE status = 'failed') AS error_code,
        min(error_title) FILTER (WHERE status = 'failed') AS error_title,
        min(pricing_category) FILTER (WHERE pricing_category <> '') AS pricing_category,
        bool_or(billable) AS billable,
        min(recipient_wa_id) FILTER (WHERE recipient_wa_id <> '') AS wa_id
    FROM ev GROUP BY recipient_id
), rec AS (
    UPDATE recipients r SET
        state = CASE WHEN pregon_status_rank(r.state) >= agg.rank THEN r.state ELSE pregon_rank_state(agg.rank) END,
        sent_at = LEAST(r.sent_at, agg.sent_ts),
        delivered_at = LEAST(r.delivered_at, agg.delivered_ts),
        read_at = LEAST(r.read_at, agg.read_ts),
        failed_at = LEAST(r.failed_at, agg.failed_ts),
        error_code = COALESCE(agg.error_code, r.error_code),
        error_title = COALESCE(agg.error_title, r.error_title),
        retry_at = CASE
            WHEN agg.error_code = 131049 AND r.retry_at IS NULL AND r.attempts <= 1
                THEN agg.failed_ts + interval '24 hours'
            WHEN agg.error_code = 132015 AND pregon_status_rank(r.state) < 4
                 AND r.delivered_at IS NULL AND r.read_at IS NULL AND agg.delivered_ts IS NULL
                 AND r.attempts <= 8 -- as many sends as the send path's transient retries
                 AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = r.campaign_id AND c.state NOT IN ('completed', 'cancelled'))
                THEN agg.failed_ts
            WHEN agg.delivered_ts IS NOT NULL AND r.state = 'failed' AND r.error_code = 132015 THEN NULL
            ELSE r.retry_at END,
        -- Any status of the wamid is Meta's word on a send it held for pacing: sent, delivered or
        -- read released it, a failure (132015: dropped) ended it (see HoldLimit).
        held_at = NULL,
        pricing_category = CASE WHEN r.pricing_category = '' THEN COALESCE(agg.pricing_category, '') ELSE r.pricing_category END,
        billable = COALESCE(r.billable, agg.billable),
        -- an erased contact's recipient does not get a WhatsApp id back from a late status
        wa_id = CASE WHEN r.phone_e164 LIKE 'erased:%' THEN NULL ELSE COALESCE(r.wa_id, agg.wa_id) END,
        updated_at = now()
    FROM agg WHERE r.id = agg.recipient_id
    RETURNING r.id
), cagg AS (
    SELECT contact_id, workspace_id,
        min(occurred_at) FILTER (WHERE error_code = 131050) AS stopped_ts,
        count(*) FILTER (WHERE error_code = 131026) AS undeliverable,
        max(occurred_at) FILTER (WHERE error_code = 131049) AS capped_ts
    FROM ev WHERE status = 'failed' AND error_code IN (131049, 131050, 131026)
    GROUP BY contact_id, workspace_id
), con AS (
    UPDATE contacts c SET
        marketing_stopped = c.marketing_stopped OR cagg.stopped_ts IS NOT NULL,
        marketing_stopped_at = CASE WHEN cagg.stopped_ts IS NOT NULL AND NOT c.marketing_stopped
                                    THEN cagg.stopped_ts ELSE c.marketing_stopped_at END,
        undeliverable_count = c.undeliverable_count + cagg.undeliverable,
        phone_valid = c.phone_valid AND c.undeliverable_count + cagg.undeliverable < 3, -- UndeliverableLimit
        cooled_until = GREATEST(c.cooled_until, cagg.capped_ts + interval '24 hours'),
        updated_at = now()
    FROM cagg WHERE c.id = cagg.contact_id AND c.workspace_id = cagg.workspace_id
    RETURNING c.id
), cev AS (
    INSERT INTO consent_events (workspace_id, contact_id, kind, source, reason, evidence)
    SELECT workspace_id, contact_id,
        CASE error_code WHEN 131050 THEN 'marketing_stop' ELSE 'undeliverable' END,
        error_code::text,
        CASE error_code WHEN 131050 THEN 'WhatsApp: la persona detuvo los mensajes de marketing de la empresa (131050)'
                        ELSE 'WhatsApp: mensaje no entregable (131026)' END,
        jsonb_build_object('status_event_id', id, 'recipient_id', recipient_id)
    FROM ev WHERE status = 'failed' AND error_code IN (131050, 131026)
    RETURNING id
)`

// StatusEventsApply applies the unapplied status events of wamids to their recipients (first
// settling unknown sends named by callback data) and returns how many events it applied.
// Events whose wamid no recipient has yet stay unapplied until one does. Safe to call any number
// of times, concurrently, in any order.
func StatusEventsApply(ctx context.Context, db DBTX, wamids []string) (int, error) {
	if len(wamids) == 0 {
		return 0, nil
	}
	if _, err := db.Exec(ctx, settleCallbacksSQL, wamids); err != nil {
		return 0, fmt.Errorf("settling unknown sends from callback data: %w", err)
	}
	// Lock what the apply statement changes in one global order (events, then recipients, then
	// contacts, each by id), so concurrent batches wait for each other instead of deadlocking.
	if _, err := db.Exec(ctx, lockForApplySQL, wamids); err != nil {
		return 0, fmt.Errorf("locking recipients of %d wamids: %w", len(wamids), err)
	}
	var applied, recs, cons, cevs int
	if err := db.QueryRow(ctx, applySQL, wamids).Scan(&applied, &recs, &cons, &cevs); err != nil {
		return 0, fmt.Errorf("applying status events of %d wamids: %w", len(wamids), err)
	}
	return applied, nil
}

// StatusEventsApplyForWAMID applies the status events stored before wamid was known (the
// webhook raced the send's commit) to the recipient that now has it. The send job calls it
// after committing the wamid — after, not only inside, the commit: a webhook committing
// concurrently then finds the recipient on its own second pass, so no event is left behind.
func StatusEventsApplyForWAMID(ctx context.Context, db DBTX, wamid string) error {
	_, err := StatusEventsApply(ctx, db, []string{wamid})
	return err
}

// StatusEventsApplyPending is the sweeper: it applies unapplied events whose wamid a recipient
// now has, or whose callback data names an unknown send, up to limit wamids per call.
func StatusEventsApplyPending(ctx context.Context, db DBTX, limit int) (int, error) {
	rows, err := db.Query(ctx, `
		SELECT DISTINCT se.wamid FROM status_events se
		WHERE se.applied_at IS NULL AND (
			EXISTS (SELECT 1 FROM recipients r WHERE r.wamid = se.wamid)
			OR (se.callback_data ~ '^pregon:c=[0-9]+;r=[0-9]+' AND EXISTS (
				SELECT 1 FROM recipients r
				WHERE r.id = substring(se.callback_data FROM 'r=([0-9]+)')::bigint AND r.state = 'unknown')
				AND NOT EXISTS (SELECT 1 FROM status_events a WHERE a.wamid = se.wamid AND a.applied_at IS NOT NULL)))
		LIMIT $1`, limit)
	if err != nil {
		return 0, fmt.Errorf("listing unapplied status events: %w", err)
	}
	var wamids []string
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			rows.Close()
			return 0, err
		}
		wamids = append(wamids, w)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("listing unapplied status events: %w", err)
	}
	return StatusEventsApply(ctx, db, wamids)
}

// StatusEventsByWAMIDs returns the events of the given wamids (oldest first), for timelines.
func StatusEventsByWAMIDs(ctx context.Context, db DBTX, workspaceID int64, wamids []string) ([]StatusEvent, error) {
	rows, err := db.Query(ctx, `
		SELECT id, workspace_id, wamid, status, occurred_at, recipient_wa_id, error_code, error_title, error_details,
		       pricing_category, pricing_type, billable, callback_data, received_at, applied_at
		FROM status_events WHERE wamid = ANY($2::text[]) AND workspace_id = $1
		ORDER BY occurred_at, pregon_status_rank(status)`, workspaceID, wamids)
	if err != nil {
		return nil, fmt.Errorf("reading status events: %w", err)
	}
	defer rows.Close()
	var out []StatusEvent
	for rows.Next() {
		var e StatusEvent
		var code *int32
		if err := rows.Scan(&e.ID, &e.WorkspaceID, &e.WAMID, &e.Status, &e.OccurredAt, &e.RecipientWAID, &code,
			&e.ErrorTitle, &e.ErrorDetails, &e.PricingCategory, &e.PricingType, &e.Billable, &e.CallbackData,
			&e.ReceivedAt, &e.AppliedAt); err != nil {
			return nil, err
		}
		if code != nil {
			c := int(*code)
			e.ErrorCode = &c
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
