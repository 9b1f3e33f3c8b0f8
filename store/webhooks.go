package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// WebhookRoute is a sender number as the webhook endpoint sees it: where a body naming it
// belongs and which app secret must have signed it.
type WebhookRoute struct {
	NumberID      int64
	WorkspaceID   int64
	PhoneNumberID string
	WABAID        string
	AppSecretEnc  []byte
	UseSimulator  bool
	Coexistence   bool
	DisplayNumber string
}

// WebhookRoutesFind returns the numbers named by phone_number_id or by WABA id. Not
// workspace-scoped by design: the body says which workspace it belongs to, and its signature
// proves it.
func WebhookRoutesFind(ctx context.Context, db DBTX, phoneNumberIDs, wabaIDs []string) ([]WebhookRoute, error) {
	if len(phoneNumberIDs) == 0 && len(wabaIDs) == 0 {
		return nil, nil
	}
	return webhookRoutes(ctx, db, `WHERE phone_number_id = ANY($1::text[]) OR waba_id = ANY($2::text[]) ORDER BY id`,
		phoneNumberIDs, wabaIDs)
}

// WebhookRoutesAll returns up to limit numbers, for a signed body too malformed to name one.
func WebhookRoutesAll(ctx context.Context, db DBTX, limit int) ([]WebhookRoute, error) {
	return webhookRoutes(ctx, db, `ORDER BY id LIMIT $1`, limit)
}

func webhookRoutes(ctx context.Context, db DBTX, where string, args ...any) ([]WebhookRoute, error) {
	rows, err := db.Query(ctx, `SELECT id, workspace_id, phone_number_id, waba_id, app_secret_enc, use_simulator,
		coexistence, display_number FROM sender_numbers `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("finding the numbers a webhook names: %w", err)
	}
	defer rows.Close()
	var out []WebhookRoute
	for rows.Next() {
		var r WebhookRoute
		if err := rows.Scan(&r.NumberID, &r.WorkspaceID, &r.PhoneNumberID, &r.WABAID, &r.AppSecretEnc, &r.UseSimulator,
			&r.Coexistence, &r.DisplayNumber); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SenderNumberWABAOwner locks WABA wabaID for the rest of the transaction (so two workspaces
// registering it at once are serialised) and returns the workspace, other than workspaceID,
// that already has a number in it (0 when none): a WABA belongs to one business, and webhooks
// about it act on the numbers of the workspace whose app secret signed them.
func SenderNumberWABAOwner(ctx context.Context, db DBTX, workspaceID int64, wabaID string) (int64, error) {
	if _, err := db.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('pregon:waba:' || $1, 0))`, wabaID); err != nil {
		return 0, fmt.Errorf("locking WABA %s: %w", wabaID, err)
	}
	var other int64
	err := db.QueryRow(ctx, `SELECT workspace_id FROM sender_numbers WHERE waba_id = $1 AND workspace_id <> $2
		ORDER BY id LIMIT 1`, wabaID, workspaceID).Scan(&other)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("finding the owner of WABA %s: %w", wabaID, err)
	}
	return other, nil
}

// WebhookVerifyTokenKnown reports whether token is the verify token of some sender number.
func WebhookVerifyTokenKnown(ctx context.Context, db DBTX, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sender_numbers WHERE verify_token = $1 AND verify_token <> '')`, VerifyTokenHash(token)).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("checking a webhook verify token: %w", err)
	}
	return ok, nil
}

// Webhook inbox statuses.
const (
	InboxPending     = "pending"
	InboxProcessed   = "processed"
	InboxUnparseable = "unparseable"
	InboxUnroutable  = "unroutable"
)

// WebhookInboxRow is a raw webhook body as received, before and after processing.
type WebhookInboxRow struct {
	ID             int64      `json:"id"`
	WorkspaceID    *int64     `json:"workspace_id,omitempty"`
	SenderNumberID *int64     `json:"sender_number_id,omitempty"`
	ReceivedAt     time.Time  `json:"received_at"`
	Body           []byte     `json:"-"`
	Status         string     `json:"status"`
	Error          string     `json:"error,omitempty"`
	ProcessedAt    *time.Time `json:"processed_at,omitempty"`
	// JobID is the processing job inserted with a pending body (nil for bodies stored before
	// 0100, and for those never processed).
	JobID *int64 `json:"-"`
}

// WebhookInboxInsert stores a verified body and returns its id. Status is pending (a job will
// process it) or unparseable (kept for inspection, never processed).
func WebhookInboxInsert(ctx context.Context, db DBTX, r WebhookInboxRow) (int64, error) {
	if r.Status == "" {
		r.Status = InboxPending
	}
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO webhook_inbox (workspace_id, sender_number_id, body, status, error, processed_at)
		VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 = 'pending' THEN NULL ELSE now() END) RETURNING id`,
		r.WorkspaceID, r.SenderNumberID, r.Body, r.Status, r.Error).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storing a webhook body: %w", err)
	}
	return id, nil
}

// WebhookInboxInsertMany stores several verified bodies in one statement. Pending ones need a
// processing job: the caller inserts it in the same transaction, before, and names it in the
// rows' JobID.
func WebhookInboxInsertMany(ctx context.Context, db DBTX, rows []WebhookInboxRow) error {
	n := len(rows)
	ws, nums, jobs := make([]*int64, n), make([]*int64, n), make([]*int64, n)
	bodies, statuses, errs := make([][]byte, n), make([]string, n), make([]string, n)
	for i, r := range rows {
		if r.Status == "" {
			r.Status = InboxPending
		}
		ws[i], nums[i], bodies[i], statuses[i], errs[i] = r.WorkspaceID, r.SenderNumberID, r.Body, r.Status, r.Error
		if r.Status == InboxPending {
			jobs[i] = r.JobID
		}
	}
	tag, err := db.Exec(ctx, `
		INSERT INTO webhook_inbox (workspace_id, sender_number_id, body, status, error, processed_at, job_id)
		SELECT w, s, b, st, e, CASE WHEN st = 'pending' THEN NULL ELSE now() END, j
		FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::text[], $5::text[], $6::bigint[]) AS t(w, s, b, st, e, j)`,
		ws, nums, bodies, statuses, errs, jobs)
	if err != nil {
		return fmt.Errorf("storing %d webhook bodies: %w", n, err)
	}
	if stored := tag.RowsAffected(); stored != int64(n) {
		return fmt.Errorf("storing %d webhook bodies: %d stored", n, stored)
	}
	return nil
}

// WebhookInboxGet reads an inbox row by id (for the processing job, which carries only the id).
func WebhookInboxGet(ctx context.Context, db DBTX, id int64) (WebhookInboxRow, error) {
	var r WebhookInboxRow
	err := db.QueryRow(ctx, `SELECT id, workspace_id, sender_number_id, received_at, body, status, error, processed_at
		FROM webhook_inbox WHERE id = $1`, id).
		Scan(&r.ID, &r.WorkspaceID, &r.SenderNumberID, &r.ReceivedAt, &r.Body, &r.Status, &r.Error, &r.ProcessedAt)
	return r, NotFoundIfNoRows(err)
}

// WebhookInboxClaim locks the pending inbox rows of job jobID (those stored with it, and those
// listed in own) and, up to limit rows in all, other pending rows, oldest first, skipping rows
// another transaction holds. It returns nothing when none of the job's rows is pending and free
// (whoever holds them processes them).
func WebhookInboxClaim(ctx context.Context, db DBTX, jobID int64, own []int64, limit int) ([]WebhookInboxRow, error) {
	const cols = `id, workspace_id, sender_number_id, received_at, body, status, error, processed_at, job_id`
	scan := func(rows pgx.Rows) ([]WebhookInboxRow, error) {
		defer rows.Close()
		var out []WebhookInboxRow
		for rows.Next() {
			var r WebhookInboxRow
			if err := rows.Scan(&r.ID, &r.WorkspaceID, &r.SenderNumberID, &r.ReceivedAt, &r.Body, &r.Status, &r.Error, &r.ProcessedAt, &r.JobID); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, rows.Err()
	}
	rows, err := db.Query(ctx, `SELECT `+cols+` FROM webhook_inbox
		WHERE (job_id = $1 OR id = ANY($2::bigint[])) AND status = 'pending'
		ORDER BY id FOR UPDATE SKIP LOCKED`, jobID, own)
	if err != nil {
		return nil, fmt.Errorf("claiming the webhooks of job %d: %w", jobID, err)
	}
	mine, err := scan(rows)
	if err != nil || len(mine) == 0 || len(mine) >= limit {
		return mine, err
	}
	ids := make([]int64, len(mine))
	for i, r := range mine {
		ids[i] = r.ID
	}
	rows, err = db.Query(ctx, `SELECT `+cols+` FROM webhook_inbox WHERE status = 'pending' AND id <> ALL($1::bigint[])
		ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, ids, limit-len(mine))
	if err != nil {
		return nil, fmt.Errorf("claiming pending webhooks: %w", err)
	}
	more, err := scan(rows)
	return append(mine, more...), err
}

// WebhookJobHold reports whether processing job jobID has not started yet (River has not
// fetched it) and, if so, locks it until the transaction ends: River's fetch and the batches'
// WebhookInboxDoneJobs skip locked jobs, so bodies the transaction stores naming the job will
// be visible to it when it runs. The endpoint uses it to give a recent job more bodies instead
// of inserting one per commit. A job someone else has locked (River fetching it, a batch
// deleting it) is not held: never wait, the caller inserts a new job.
func WebhookJobHold(ctx context.Context, db DBTX, jobID int64) (bool, error) {
	rows, err := db.Query(ctx, `SELECT id FROM river_job WHERE id = $1 AND kind = 'process_webhook' AND state = 'available'
		FOR KEY SHARE SKIP LOCKED`, jobID)
	if err != nil {
		return false, fmt.Errorf("holding webhook job %d: %w", jobID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return false, fmt.Errorf("holding webhook job %d: %w", jobID, err)
	}
	return len(ids) == 1, nil
}

// WebhookInboxDoneJobs locks the jobs (other than except) of the claimed rows that have not
// started and have no other pending row: once the claiming transaction marks the rows
// processed, those jobs have nothing left to do and it may delete them. Jobs River started or
// an endpoint transaction holds (WebhookJobHold: it may be storing more bodies for them) are
// skipped, and so is a job whose other rows are pending (perhaps claimed by a concurrent
// batch); such a job finds nothing when it runs. The check follows the lock, in a statement of
// its own, so it sees every body stored for the job.
func WebhookInboxDoneJobs(ctx context.Context, db DBTX, claimed []WebhookInboxRow, except int64) ([]int64, error) {
	var ids, jobs []int64
	for _, r := range claimed {
		ids = append(ids, r.ID)
		if r.JobID != nil && *r.JobID != except && !slices.Contains(jobs, *r.JobID) {
			jobs = append(jobs, *r.JobID)
		}
	}
	if len(jobs) == 0 {
		return nil, nil
	}
	rows, err := db.Query(ctx, `SELECT id FROM river_job WHERE id = ANY($1::bigint[]) AND state <> 'running'
		ORDER BY id FOR UPDATE SKIP LOCKED`, jobs)
	if err != nil {
		return nil, fmt.Errorf("locking the jobs of %d claimed webhooks: %w", len(ids), err)
	}
	locked, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(locked) == 0 {
		return nil, err
	}
	rows, err = db.Query(ctx, `
		SELECT j FROM unnest($1::bigint[]) AS j
		WHERE NOT EXISTS (SELECT 1 FROM webhook_inbox WHERE job_id = j AND status = 'pending' AND id <> ALL($2::bigint[]))`,
		locked, ids)
	if err != nil {
		return nil, fmt.Errorf("finding the jobs of %d claimed webhooks: %w", len(ids), err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// WebhookJobDeadAfter is how long a process_webhook job may be running before it counts as dead
// (its process was killed; River's rescuer would take about an hour): longer than the job's
// timeout (jobs.ProcessWebhookWorker.Timeout, 2 minutes), after which River itself ends it.
const WebhookJobDeadAfter = 3 * time.Minute

// WebhookInboxOrphans lists pending rows older than `age` whose processing job is gone (its
// body was claimed by a batch that then failed) or died (running for longer than
// WebhookJobDeadAfter: its process was killed), so the sweeper can enqueue them again:
// processing is idempotent, should the dead job be rescued and run too. A row's job is the one
// stored with it (job_id) or one whose args list it (re-enqueued by a failed batch or by the
// sweeper). An opt-out in a body a killed process held is then applied within minutes, not an
// hour.
func WebhookInboxOrphans(ctx context.Context, db DBTX, age time.Duration, limit int) ([]int64, error) {
	const live = `(j.state IN ('available', 'retryable', 'scheduled', 'pending')
		               OR (j.state = 'running' AND j.attempted_at > now() - make_interval(secs => $3)))`
	rows, err := db.Query(ctx, `
		SELECT i.id FROM webhook_inbox i
		WHERE i.status = 'pending' AND i.received_at < now() - make_interval(secs => $1)
		  AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.id = i.job_id AND `+live+`)
		  AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'process_webhook' AND `+live+`
		                  AND j.args->'inbox_ids' @> to_jsonb(i.id))
		ORDER BY i.id LIMIT $2`, age.Seconds(), limit, WebhookJobDeadAfter.Seconds())
	if err != nil {
		return nil, fmt.Errorf("finding orphaned webhooks: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// InboxMark is the outcome of processing one stored body.
type InboxMark struct {
	ID     int64
	Status string
	Error  string
}

// WebhookInboxMarkAll records the outcome of processed bodies with one statement.
func WebhookInboxMarkAll(ctx context.Context, db DBTX, marks []InboxMark) error {
	if len(marks) == 0 {
		return nil
	}
	ids, statuses, errs := make([]int64, len(marks)), make([]string, len(marks)), make([]string, len(marks))
	for i, m := range marks {
		ids[i], statuses[i], errs[i] = m.ID, m.Status, m.Error
	}
	_, err := db.Exec(ctx, `
		UPDATE webhook_inbox w SET status = m.status, error = m.error, processed_at = now()
		FROM unnest($1::bigint[], $2::text[], $3::text[]) AS m (id, status, error)
		WHERE w.id = m.id`, ids, statuses, errs)
	if err != nil {
		return fmt.Errorf("marking %d webhooks processed: %w", len(marks), err)
	}
	return nil
}

// WebhookInboxFail sets aside a pending body whose processing fails at every attempt: it is
// marked unparseable with the reason, so batches stop claiming it (and it is kept for
// inspection). A body processed meanwhile is left as it is.
func WebhookInboxFail(ctx context.Context, db DBTX, id int64, reason string) error {
	_, err := db.Exec(ctx, `UPDATE webhook_inbox SET status = 'unparseable', error = $2, processed_at = now()
		WHERE id = $1 AND status = 'pending'`, id, strings.ToValidUTF8(strings.ReplaceAll(reason, "\x00", ""), ""))
	if err != nil {
		return fmt.Errorf("setting aside webhook %d: %w", id, err)
	}
	return nil
}

// WebhookInboxCounts counts inbox rows by status (for benchmarks and health).
func WebhookInboxCounts(ctx context.Context, db DBTX) (map[string]int64, error) {
	rows, err := db.Query(ctx, `SELECT status, count(*) FROM webhook_inbox GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("counting webhook inbox rows: %w", err)
	}
	defer rows.Close()
	return collectCounts(rows)
}

// WebhookTemplate is the part of a template row webhooks change.
type WebhookTemplate struct {
	ID          int64
	WorkspaceID int64
	Name        string
	Language    string
	Category    string
	Status      string
	Quality     string
}

// WebhookTemplateQuery names the templates a template webhook is about.
type WebhookTemplateQuery struct {
	WABAID   string
	MetaID   string
	Name     string
	Language string
	// WorkspaceIDs are the workspaces whose numbers of the WABA verified the body's signature:
	// only their templates are found (a body signed by one business never changes another's).
	WorkspaceIDs []int64
}

// WebhookTemplatesFind finds the templates a template webhook names: by Meta id, else by name
// and language ("en-US" and "en_US" are the same), among q.WorkspaceIDs that own a number of the
// WABA. Locked FOR UPDATE so concurrent webhooks about one template apply one after the other.
func WebhookTemplatesFind(ctx context.Context, db DBTX, q WebhookTemplateQuery) ([]WebhookTemplate, error) {
	if len(q.WorkspaceIDs) == 0 {
		return nil, nil
	}
	rows, err := db.Query(ctx, `
		SELECT t.id, t.workspace_id, t.name, t.language, t.category, t.status, t.quality FROM templates t
		WHERE t.waba_id = $1 AND t.workspace_id = ANY($5::bigint[])
		  AND t.workspace_id IN (SELECT workspace_id FROM sender_numbers WHERE waba_id = $1)
		  AND (($2 <> '' AND t.meta_id = $2)
		       OR ($3 <> '' AND t.name = $3 AND replace(t.language, '-', '_') = replace($4, '-', '_')
		           AND NOT ($2 <> '' AND EXISTS (SELECT 1 FROM templates m WHERE m.waba_id = $1 AND m.meta_id = $2
		                                          AND m.workspace_id = ANY($5::bigint[])))))
		ORDER BY t.id FOR UPDATE`, q.WABAID, q.MetaID, q.Name, q.Language, q.WorkspaceIDs)
	if err != nil {
		return nil, fmt.Errorf("finding template %s (%s %s) of WABA %s: %w", q.MetaID, q.Name, q.Language, q.WABAID, err)
	}
	defer rows.Close()
	var out []WebhookTemplate
	for rows.Next() {
		var t WebhookTemplate
		if err := rows.Scan(&t.ID, &t.WorkspaceID, &t.Name, &t.Language, &t.Category, &t.Status, &t.Quality); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// NumberWebhookUpdate is what a number webhook changes; nil fields are kept.
type NumberWebhookUpdate struct {
	QualityRating      *string
	MessagingLimitTier *string
	ThroughputMPS      *int
	Status             *string
	StatusReason       *string
	// At is when Meta says the change happened (zero: now). Per kind of value, a report older
	// than the one behind the value held changes nothing: late webhooks never undo newer ones.
	At time.Time
}

// olderThanHeld reports whether a webhook reporting a change at at is older than the value
// held, which changed at held. Meta's webhook times are whole seconds, while a sync or a
// change Pregón makes records its own sub-second time: a report from the same second as the
// held value may well be the newer word (a sync at 12:00:00.5 then a change reported as
// 12:00:00), so only a report from an earlier second is stale.
func olderThanHeld(at, held time.Time) bool { return at.Before(held.Truncate(time.Second)) }

// SenderNumberApplyWebhook stores a number webhook's changes and records a number_events row
// (kind, old → new) for each value that changed. detail is stored with each event. It reports
// stale when some value of the report was older than the one held (and so not applied).
func SenderNumberApplyWebhook(ctx context.Context, db DBTX, workspaceID, numberID int64, u NumberWebhookUpdate, detail any) (stale bool, err error) {
	var cur struct {
		quality, tier, status, reason string
		mps                           int
	}
	var heldAt map[string]time.Time
	err = db.QueryRow(ctx, `SELECT quality_rating, messaging_limit_tier, throughput_mps, status, status_reason, state_changed_at
		FROM sender_numbers WHERE id = $1 AND workspace_id = $2 FOR UPDATE`, numberID, workspaceID).
		Scan(&cur.quality, &cur.tier, &cur.mps, &cur.status, &cur.reason, &heldAt)
	if err != nil {
		return false, fmt.Errorf("reading number %d: %w", numberID, NotFoundIfNoRows(err))
	}
	at := u.At
	if at.IsZero() {
		at = time.Now()
	}
	applied := map[string]time.Time{} // kinds this report is the newest word on
	current := func(kind string) bool {
		if held, ok := heldAt[kind]; ok && olderThanHeld(at, held) {
			stale = true
			return false
		}
		applied[kind] = at
		return true
	}
	if u.QualityRating != nil && !current("quality") {
		u.QualityRating = nil
	}
	if u.MessagingLimitTier != nil && !current("limit") {
		u.MessagingLimitTier = nil
	}
	if u.ThroughputMPS != nil && !current("throughput") {
		u.ThroughputMPS = nil
	}
	if u.Status != nil && !current("account") {
		u.Status, u.StatusReason = nil, nil
	}
	d, _ := json.Marshal(detail)
	if detail == nil {
		d = []byte("{}")
	}
	record := func(kind, old, new string) error {
		_, err := db.Exec(ctx, `INSERT INTO number_events (workspace_id, sender_number_id, kind, old_value, new_value, detail)
			VALUES ($1, $2, $3, $4, $5, $6)`, workspaceID, numberID, kind, old, new, d)
		return err
	}
	next := cur
	if u.QualityRating != nil && *u.QualityRating != cur.quality {
		next.quality = *u.QualityRating
		if err := record("quality", cur.quality, next.quality); err != nil {
			return false, err
		}
	}
	if u.MessagingLimitTier != nil && *u.MessagingLimitTier != cur.tier {
		next.tier = *u.MessagingLimitTier
		if err := record("limit", cur.tier, next.tier); err != nil {
			return false, err
		}
	}
	if u.ThroughputMPS != nil && *u.ThroughputMPS != cur.mps {
		next.mps = *u.ThroughputMPS
		if err := record("throughput", fmt.Sprint(cur.mps), fmt.Sprint(next.mps)); err != nil {
			return false, err
		}
	}
	if u.Status != nil && *u.Status != cur.status {
		next.status = *u.Status
		if u.StatusReason != nil {
			next.reason = *u.StatusReason
		}
		if err := record("account", cur.status, next.status); err != nil {
			return false, err
		}
	}
	if next == cur && len(applied) == 0 {
		return stale, nil
	}
	_, err = db.Exec(ctx, `UPDATE sender_numbers SET quality_rating = $3, messaging_limit_tier = $4, throughput_mps = $5,
		status = $6, status_reason = $7, state_changed_at = state_changed_at || $8,
		updated_at = CASE WHEN ($3, $4, $5, $6) IS DISTINCT FROM (quality_rating, messaging_limit_tier, throughput_mps, status) THEN now() ELSE updated_at END
		WHERE id = $1 AND workspace_id = $2`,
		numberID, workspaceID, next.quality, next.tier, next.mps, next.status, next.reason, applied)
	if err != nil {
		return false, fmt.Errorf("storing webhook changes of number %d: %w", numberID, err)
	}
	return stale, nil
}

// WorkspaceSetMessagingLimit stores the portfolio's messaging limit (-1 = unlimited) that a
// webhook reported at `at` (its entry time); a report older than the last one stored is
// ignored, so late deliveries never win. It reports whether the limit changed.
func WorkspaceSetMessagingLimit(ctx context.Context, db DBTX, workspaceID int64, limit int, at time.Time) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE workspaces SET messaging_limit = $2, messaging_limit_reported_at = $3, updated_at = now()
		WHERE id = $1 AND (messaging_limit_reported_at IS NULL OR messaging_limit_reported_at <= $3)
		  AND (messaging_limit <> $2 OR messaging_limit_reported_at IS DISTINCT FROM $3)`, workspaceID, limit, at)
	if err != nil {
		return false, fmt.Errorf("storing messaging limit of workspace %d: %w", workspaceID, err)
	}
	return tag.RowsAffected() > 0, nil
}

// SenderNumberTouchPhoneActivity records activity seen from the WhatsApp Business app on a
// coexistence number (an echo): it moves last_phone_activity_at forward and clears the silence
// warning. The first activity after a warning is recorded as a number event.
func SenderNumberTouchPhoneActivity(ctx context.Context, db DBTX, workspaceID, numberID int64, at time.Time) error {
	var warned bool
	err := db.QueryRow(ctx, `
		WITH old AS (SELECT phone_app_warned_at FROM sender_numbers WHERE id = $1 AND workspace_id = $2)
		UPDATE sender_numbers SET last_phone_activity_at = GREATEST(last_phone_activity_at, $3),
		       phone_app_warned_at = CASE WHEN $3 > now() - interval '10 days' THEN NULL ELSE phone_app_warned_at END,
		       updated_at = now()
		WHERE id = $1 AND workspace_id = $2
		RETURNING (SELECT phone_app_warned_at IS NOT NULL FROM old) AND phone_app_warned_at IS NULL`, numberID, workspaceID, at).Scan(&warned)
	if err != nil {
		return fmt.Errorf("recording phone-app activity of number %d: %w", numberID, NotFoundIfNoRows(err))
	}
	if warned {
		return NumberEventInsert(ctx, db, workspaceID, numberID, "phone_activity", "silent", "active", map[string]any{"at": at})
	}
	return nil
}

// PhoneAppSilenceWarnAfter is how long a coexistence number's phone app may stay silent before
// Pregón warns (Meta disconnects at about 14 days: PRIMARY_INACTIVITY).
const PhoneAppSilenceWarnAfter = 10 * 24 * time.Hour

// PhoneAppSilentNumbersWarn raises the silence warning on every active coexistence number
// whose phone app has shown no activity for PhoneAppSilenceWarnAfter (counting from when the
// number was added when none was ever seen), once per silence, and returns their ids.
func PhoneAppSilentNumbersWarn(ctx context.Context, db DBTX, now time.Time) ([]int64, error) {
	rows, err := db.Query(ctx, `
		WITH silent AS (
		    UPDATE sender_numbers SET phone_app_warned_at = $1::timestamptz
		    WHERE coexistence AND status = 'active' AND phone_app_warned_at IS NULL
		      AND COALESCE(last_phone_activity_at, created_at) <= $1::timestamptz - make_interval(secs => $2)
		    RETURNING id, workspace_id, last_phone_activity_at
		), ev AS (
		    INSERT INTO number_events (workspace_id, sender_number_id, kind, old_value, new_value, detail)
		    SELECT workspace_id, id, 'phone_activity', 'active', 'silent',
		           jsonb_build_object('last_phone_activity_at', last_phone_activity_at,
		                              'message', 'La app de WhatsApp Business del teléfono lleva 10 días sin actividad: ábrala antes de 14 días o Meta desconectará el número.')
		    FROM silent
		)
		SELECT id FROM silent ORDER BY id`, now, PhoneAppSilenceWarnAfter.Seconds())
	if err != nil {
		return nil, fmt.Errorf("warning about silent phone apps: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// PhoneAppHealth is a coexistence number's phone-app health as the API shows it.
type PhoneAppHealth struct {
	SenderNumberID      int64         `json:"sender_number_id"`
	Coexistence         bool          `json:"coexistence"`
	Status              string        `json:"status"`
	StatusReason        string        `json:"status_reason,omitempty"`
	QualityRating       string        `json:"quality_rating"`
	MessagingLimitTier  string        `json:"messaging_limit_tier"`
	ThroughputMPS       int           `json:"throughput_mps"`
	LastPhoneActivityAt *time.Time    `json:"last_phone_activity_at,omitempty"`
	SilentDays          *float64      `json:"silent_days,omitempty"`
	Warning             string        `json:"warning,omitempty"` // Spanish, for the owner
	WarnedAt            *time.Time    `json:"warned_at,omitempty"`
	DisconnectExpected  *time.Time    `json:"disconnect_expected_at,omitempty"`
	RecentEvents        []NumberEvent `json:"recent_events"`
}

// PhoneAppHealthGet reads a number's health: phone-app silence (with a warning from day 10),
// status, quality and limit, and its latest events.
func PhoneAppHealthGet(ctx context.Context, db DBTX, workspaceID, numberID int64, now time.Time) (PhoneAppHealth, error) {
	var h PhoneAppHealth
	var created time.Time
	err := db.QueryRow(ctx, `SELECT id, coexistence, status, status_reason, quality_rating, messaging_limit_tier, throughput_mps,
		last_phone_activity_at, phone_app_warned_at, created_at FROM sender_numbers WHERE workspace_id = $1 AND id = $2`, workspaceID, numberID).
		Scan(&h.SenderNumberID, &h.Coexistence, &h.Status, &h.StatusReason, &h.QualityRating, &h.MessagingLimitTier, &h.ThroughputMPS,
			&h.LastPhoneActivityAt, &h.WarnedAt, &created)
	if err != nil {
		return h, NotFoundIfNoRows(err)
	}
	if h.Coexistence {
		since := created
		if h.LastPhoneActivityAt != nil {
			since = *h.LastPhoneActivityAt
		}
		days := now.Sub(since).Hours() / 24
		h.SilentDays = &days
		if now.Sub(since) >= PhoneAppSilenceWarnAfter && h.Status == NumberActive {
			h.Warning = fmt.Sprintf("La app de WhatsApp Business del teléfono lleva %.0f días sin actividad: ábrala; Meta desconecta el número a los ~14 días (PRIMARY_INACTIVITY).", days)
			d := since.Add(14 * 24 * time.Hour)
			h.DisconnectExpected = &d
		}
	}
	h.RecentEvents, err = NumberEventList(ctx, db, workspaceID, numberID, 20)
	return h, err
}

// WebhookInboxRetention is how long processed webhook bodies are kept. They are Meta's raw
// payloads (phone numbers, message texts) kept for audits and replays; what they said lives on
// in status_events, messages and the contacts.
const WebhookInboxRetention = 30 * 24 * time.Hour

// WebhookInboxPrune deletes up to limit handled bodies received before cutoff, oldest first,
// and returns how many it deleted. Pending bodies are never deleted. Ids grow with received_at
// (bodies are stored as they arrive), so it walks the primary key from the oldest row up to the
// first one received after cutoff: each call costs what it deletes, whatever the table's size.
func WebhookInboxPrune(ctx context.Context, db DBTX, cutoff time.Time, limit int) (int64, error) {
	tag, err := db.Exec(ctx, `
		DELETE FROM webhook_inbox WHERE id IN (
		    SELECT id FROM webhook_inbox
		    WHERE id < coalesce((SELECT id FROM webhook_inbox WHERE received_at >= $1 ORDER BY id LIMIT 1), 9223372036854775807)
		      AND status <> 'pending'
		    ORDER BY id LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("pruning webhook bodies received before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}

// StatusEventsScrubErased blanks what status webhooks that arrived after a contact's erasure
// kept about them (a late "delivered" or "read" of a message sent before it): the WhatsApp id
// and Meta's raw object of their status events, and the raw bodies that carried them, replaced
// whole by the erasure's note (their other statuses live on in the tables). It looks at the
// contacts erased within the webhook inbox's retention (contacts_erased_idx) and at bodies
// already processed; it returns how many bodies it blanked. The status sweep runs it.
func StatusEventsScrubErased(ctx context.Context, db DBTX) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `
		WITH late AS (
		    SELECT s.id, s.inbox_id FROM contacts c
		    JOIN recipients r ON r.contact_id = c.id AND r.workspace_id = c.workspace_id AND r.wamid IS NOT NULL
		    JOIN status_events s ON s.wamid = r.wamid
		    WHERE c.erased_at > now() - make_interval(secs => $1) AND (s.recipient_wa_id <> '' OR s.raw <> '{}')
		), ev AS (
		    UPDATE status_events s SET recipient_wa_id = '', raw = '{}' FROM late WHERE s.id = late.id RETURNING s.id
		), bodies AS (
		    UPDATE webhook_inbox w SET body = convert_to($2, 'UTF8')
		    FROM (SELECT DISTINCT inbox_id FROM late WHERE inbox_id IS NOT NULL) l
		    WHERE w.id = l.inbox_id AND w.status <> 'pending'
		    RETURNING w.id
		)
		SELECT (SELECT count(*) FROM bodies) + 0 * (SELECT count(*) FROM ev)`,
		WebhookInboxRetention.Seconds(), erasedBodyNote).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("blanking late webhooks about erased contacts: %w", err)
	}
	return n, nil
}

// erasedBodyNote replaces a raw webhook body that named an erased contact.
const erasedBodyNote = `{"erased":"cuerpo borrado: nombraba a un contacto cuyos datos personales se borraron"}`

// WebhookBodiesScrub blanks, in one batch of up to limit bodies, the stored raw webhook bodies
// that name the phone or WhatsApp id of an erased contact (see ContactEraseScrub): each is
// replaced whole by a note (what it said lives on, erased, in the tables). It walks the inbox up
// to the newest body at the erasure. done is true when the walk is over: the scrub's row, the
// last copy of what it looked for, is deleted. wait is true when a body naming the contact is
// still pending processing: the walk stops before it, to be resumed once it is processed.
func WebhookBodiesScrub(ctx context.Context, db DBTX, scrubID int64, limit int) (blanked int64, done, wait bool, err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, false, false, err
	}
	defer tx.Rollback(ctx)
	var ws, upto, next int64
	var needles []string
	err = tx.QueryRow(ctx, `SELECT workspace_id, needles, upto_inbox_id, next_inbox_id FROM erasure_scrubs WHERE id = $1 FOR UPDATE`,
		scrubID).Scan(&ws, &needles, &upto, &next)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, true, false, nil
	}
	if err != nil {
		return 0, false, false, fmt.Errorf("reading erasure scrub %d: %w", scrubID, err)
	}
	var last, firstPending *int64
	err = tx.QueryRow(ctx, `
		WITH b AS (
		    SELECT id, status, EXISTS (SELECT 1 FROM unnest($4::text[]) n WHERE position(convert_to(n, 'UTF8') IN w.body) > 0) AS names
		    FROM webhook_inbox w
		    WHERE id > $2 AND id <= $3 AND (workspace_id = $1 OR workspace_id IS NULL)
		    ORDER BY id LIMIT $5
		), stop AS (
		    SELECT min(id) AS id FROM b WHERE names AND status = 'pending'
		), upd AS (
		    UPDATE webhook_inbox w SET body = convert_to($6, 'UTF8')
		    FROM b WHERE w.id = b.id AND b.names AND b.status <> 'pending' AND b.id < COALESCE((SELECT id FROM stop), $3 + 1)
		    RETURNING w.id
		)
		SELECT (SELECT max(id) FROM b), (SELECT id FROM stop), (SELECT count(*) FROM upd)`,
		ws, next, upto, needles, limit, erasedBodyNote).Scan(&last, &firstPending, &blanked)
	if err != nil {
		return 0, false, false, fmt.Errorf("blanking webhook bodies of erasure scrub %d: %w", scrubID, err)
	}
	switch {
	case firstPending != nil:
		next, wait = *firstPending-1, true
	case last == nil:
		done = true
	default:
		next = *last
	}
	if done {
		_, err = tx.Exec(ctx, `DELETE FROM erasure_scrubs WHERE id = $1`, scrubID)
	} else {
		_, err = tx.Exec(ctx, `UPDATE erasure_scrubs SET next_inbox_id = $2 WHERE id = $1`, scrubID, next)
	}
	if err != nil {
		return 0, false, false, fmt.Errorf("recording erasure scrub %d: %w", scrubID, err)
	}
	return blanked, done, wait, tx.Commit(ctx)
}
