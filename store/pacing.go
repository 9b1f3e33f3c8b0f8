package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// BudgetWindow is the rolling window of Meta's messaging limit.
const BudgetWindow = 24 * time.Hour

// NumberPacing is a sender number's global pacing state (number_pacing). Slots are handed out
// in increasing order from NextSlotAt at MPS × RateFactor per second.
type NumberPacing struct {
	SenderNumberID int64
	WorkspaceID    int64
	NextSlotAt     time.Time
	RateFactor     float64 // 130429 back-off multiplier, (0, 1]
	BackoffUntil   *time.Time
	ThrottledAt    *time.Time
	Throttles      int64
	LastTickAt     *time.Time
	Released       int64
}

// NumberTrafficWindow is how far back the pacer looks at a number's own traffic.
const NumberTrafficWindow = 10 * time.Second

// NumberRecentTraffic is the messages per second the number had over the NumberTrafficWindow
// before now besides the API's sends: those people sent it, and those the owner sent from the
// WhatsApp Business app of a coexistence number (echoes). Meta's throughput counts them too.
func NumberRecentTraffic(ctx context.Context, db DBTX, senderNumberID int64, now time.Time) (float64, error) {
	var n int64
	err := db.QueryRow(ctx, `
		SELECT count(*) FROM messages
		WHERE sender_number_id = $1 AND direction IN ('inbound', 'echo')
		  AND occurred_at > $2::timestamptz - make_interval(secs => $3) AND occurred_at <= $2`,
		senderNumberID, now, NumberTrafficWindow.Seconds()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("reading the recent traffic of number %d: %w", senderNumberID, err)
	}
	return float64(n) / NumberTrafficWindow.Seconds(), nil
}

// NumberPacingLock reads and row-locks the number's pacing state inside tx, creating it on
// first use. ok is false when another tick holds the lock (SKIP LOCKED): the caller skips this
// tick rather than queueing behind it.
func NumberPacingLock(ctx context.Context, tx DBTX, workspaceID, senderNumberID int64) (p NumberPacing, ok bool, err error) {
	// Only a missing row is inserted: INSERT … ON CONFLICT would wait for a tick holding it.
	if _, err := tx.Exec(ctx, `INSERT INTO number_pacing (sender_number_id, workspace_id)
		SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM number_pacing WHERE sender_number_id = $1)
		ON CONFLICT (sender_number_id) DO NOTHING`, senderNumberID, workspaceID); err != nil {
		return p, false, fmt.Errorf("creating pacing state of number %d: %w", senderNumberID, err)
	}
	err = tx.QueryRow(ctx, `
		SELECT sender_number_id, workspace_id, next_slot_at, rate_factor, backoff_until, throttled_at,
		       throttles, last_tick_at, released
		FROM number_pacing WHERE sender_number_id = $1 AND workspace_id = $2
		FOR UPDATE SKIP LOCKED`, senderNumberID, workspaceID).Scan(
		&p.SenderNumberID, &p.WorkspaceID, &p.NextSlotAt, &p.RateFactor, &p.BackoffUntil, &p.ThrottledAt,
		&p.Throttles, &p.LastTickAt, &p.Released)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("locking pacing state of number %d: %w", senderNumberID, err)
	}
	return p, true, nil
}

// NumberPacingSave writes back the state a tick changed.
func NumberPacingSave(ctx context.Context, tx DBTX, p NumberPacing) error {
	_, err := tx.Exec(ctx, `UPDATE number_pacing SET next_slot_at = $3, rate_factor = $4, last_tick_at = $5,
		released = $6, backoff_until = $7, updated_at = now() WHERE sender_number_id = $1 AND workspace_id = $2`,
		p.SenderNumberID, p.WorkspaceID, p.NextSlotAt, p.RateFactor, p.LastTickAt, p.Released, p.BackoffUntil)
	if err != nil {
		return fmt.Errorf("saving pacing state of number %d: %w", p.SenderNumberID, err)
	}
	return nil
}

// NumberPacingGet reads a number's pacing state without locking (ErrNotFound before its first tick).
func NumberPacingGet(ctx context.Context, db DBTX, workspaceID, senderNumberID int64) (NumberPacing, error) {
	var p NumberPacing
	err := db.QueryRow(ctx, `
		SELECT sender_number_id, workspace_id, next_slot_at, rate_factor, backoff_until, throttled_at,
		       throttles, last_tick_at, released
		FROM number_pacing WHERE sender_number_id = $1 AND workspace_id = $2`, senderNumberID, workspaceID).Scan(
		&p.SenderNumberID, &p.WorkspaceID, &p.NextSlotAt, &p.RateFactor, &p.BackoffUntil, &p.ThrottledAt,
		&p.Throttles, &p.LastTickAt, &p.Released)
	return p, NotFoundIfNoRows(err)
}

// NumberPacingThrottle records a 130429 from Meta: the number's rate is halved (at most once a
// second, however many sends hit the error together, never below a tenth) and the pacer hands
// out no slot before now + backoff. Slots already handed out are unaffected; their sends get
// 130429 too and go back to pending.
func NumberPacingThrottle(ctx context.Context, db DBTX, workspaceID, senderNumberID int64, now time.Time, backoff time.Duration) error {
	_, err := db.Exec(ctx, `
		INSERT INTO number_pacing (sender_number_id, workspace_id) VALUES ($1, $2)
		ON CONFLICT (sender_number_id) DO NOTHING`, senderNumberID, workspaceID)
	if err != nil {
		return fmt.Errorf("recording throttle of number %d: %w", senderNumberID, err)
	}
	_, err = db.Exec(ctx, `
		UPDATE number_pacing SET
		    rate_factor = CASE WHEN throttled_at IS NULL OR throttled_at < $3::timestamptz - interval '1 second'
		                       THEN greatest(0.1, rate_factor * 0.5) ELSE rate_factor END,
		    throttled_at = $3,
		    throttles = throttles + 1,
		    backoff_until = greatest(backoff_until, $4::timestamptz),
		    next_slot_at = greatest(next_slot_at, $4::timestamptz),
		    updated_at = now()
		WHERE sender_number_id = $1 AND workspace_id = $2`, senderNumberID, workspaceID, now, now.Add(backoff))
	if err != nil {
		return fmt.Errorf("recording throttle of number %d: %w", senderNumberID, err)
	}
	return nil
}

// MessagingBudgetRemaining says how many more unique recipients outside an open customer-service
// window the workspace may reach in the rolling 24 h ending at now, per its messaging limit
// (shared by all its numbers). remaining is -1 when the limit is unlimited. resetsAt is when the
// oldest counted recipient leaves the window (the next moment remaining grows); zero when
// nothing is counted.
func MessagingBudgetRemaining(ctx context.Context, db DBTX, workspaceID int64, now time.Time) (remaining int, resetsAt time.Time, err error) {
	var limit int
	var used int64
	var oldest *time.Time
	err = db.QueryRow(ctx, `
		SELECT w.messaging_limit,
		       (SELECT count(*) FROM messaging_ledger l WHERE l.workspace_id = w.id AND l.counted_at > $2::timestamptz - interval '24 hours' AND l.counted_at <= $2),
		       (SELECT min(l.counted_at) FROM messaging_ledger l WHERE l.workspace_id = w.id AND l.counted_at > $2::timestamptz - interval '24 hours' AND l.counted_at <= $2)
		FROM workspaces w WHERE w.id = $1`, workspaceID, now).Scan(&limit, &used, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("reading messaging budget of workspace %d: %w", workspaceID, NotFoundIfNoRows(err))
	}
	if oldest != nil {
		resetsAt = oldest.Add(BudgetWindow)
	}
	if limit < 0 {
		return -1, resetsAt, nil
	}
	return max(0, limit-int(used)), resetsAt, nil
}

// MessagingLedgerCount is a group of ledger entries counted within the same minute.
type MessagingLedgerCount struct {
	CountedAt time.Time // the group's latest counted_at: all of it is taken to free up BudgetWindow later
	People    int       // ledger rows, as MessagingBudgetRemaining counts them (one per person)
}

// MessagingLedgerCountedTimes says when the entries counted in the workspace's rolling 24 h
// ending at `at` were counted, oldest first: each frees one unit of the budget BudgetWindow
// after its time. It reads at most limit entries, the newest (older ones free nothing while the
// newest limit still fill the budget), grouped by minute, so it returns at most 1,440 groups
// whatever the limit; nil when the limit is unlimited (negative) or zero. The plan's ETA simulates the
// budget from it.
func MessagingLedgerCountedTimes(ctx context.Context, db DBTX, workspaceID int64, at time.Time, limit int) ([]MessagingLedgerCount, error) {
	if limit <= 0 {
		return nil, nil
	}
	// The (workspace_id, counted_at) index gives the newest rows in order; the LIMIT bounds the
	// scan by the limit, as counting the window (MessagingBudgetRemaining) already is.
	rows, err := db.Query(ctx, `
		SELECT max(counted_at), count(*) FROM (
		    SELECT counted_at FROM messaging_ledger
		    WHERE workspace_id = $1 AND counted_at > $2::timestamptz - interval '24 hours' AND counted_at <= $2
		    ORDER BY counted_at DESC LIMIT $3
		) l
		GROUP BY floor(extract(epoch FROM counted_at) / 60)
		ORDER BY 1`, workspaceID, at, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the messaging budget entries of workspace %d: %w", workspaceID, err)
	}
	var c MessagingLedgerCount
	out := []MessagingLedgerCount{}
	_, err = pgx.ForEachRow(rows, []any{&c.CountedAt, &c.People}, func() error { out = append(out, c); return nil })
	if err != nil {
		return nil, fmt.Errorf("reading the messaging budget entries of workspace %d: %w", workspaceID, err)
	}
	return out, nil
}

// MessagingBudgetLock serialises budget spending of one workspace inside tx (its numbers' pacers
// run concurrently and share the budget).
func MessagingBudgetLock(ctx context.Context, tx DBTX, workspaceID int64) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7312, $1::int)`, int32(workspaceID)); err != nil {
		return fmt.Errorf("locking messaging budget of workspace %d: %w", workspaceID, err)
	}
	return nil
}

// MessagingLedgerRecord counts contacts against the workspace's rolling budget at now.
func MessagingLedgerRecord(ctx context.Context, tx DBTX, workspaceID, campaignID int64, contactIDs []int64, now time.Time) error {
	if len(contactIDs) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO messaging_ledger (workspace_id, contact_id, campaign_id, counted_at)
		SELECT $1, c, $2, $3 FROM unnest($4::bigint[]) c`, workspaceID, campaignID, now, contactIDs)
	if err != nil {
		return fmt.Errorf("recording %d recipients in the messaging budget of workspace %d: %w", len(contactIDs), workspaceID, err)
	}
	return nil
}

// ErrBudgetExhausted is returned when a message to a new person would exceed the workspace's
// messaging limit in the rolling 24 h.
var ErrBudgetExhausted = errors.New("messaging limit reached")

// MessagingLedgerRecordTest counts a test send of campaignID to phone (contactID when the phone is
// a contact) against the workspace's rolling budget at now, inside tx. It records nothing when
// the person is already counted in the window (a test or a campaign's send) or wrote in the
// last 24 h (an open customer-service window), and returns ErrBudgetExhausted, with when the
// budget next grows, when the limit leaves no room for one more person. id is the row it
// recorded (0: none), for MessagingLedgerForget when the send fails.
func MessagingLedgerRecordTest(ctx context.Context, tx DBTX, workspaceID, campaignID int64, contactID *int64, phone string, now time.Time) (id int64, resetsAt time.Time, err error) {
	if err := MessagingBudgetLock(ctx, tx, workspaceID); err != nil {
		return 0, time.Time{}, err
	}
	var inWindow, counted bool
	err = tx.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM contacts c WHERE c.workspace_id = $1 AND c.id = $2 AND c.last_inbound_at > $4::timestamptz - interval '24 hours'),
		       EXISTS (SELECT 1 FROM messaging_ledger l WHERE l.workspace_id = $1 AND l.counted_at > $4::timestamptz - interval '24 hours'
		               AND (l.contact_id = $2 OR l.phone_e164 = $3))`, workspaceID, contactID, phone, now).Scan(&inWindow, &counted)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("checking whether %s counts against the messaging limit: %w", RedactPhone(phone), err)
	}
	if inWindow {
		return 0, time.Time{}, nil
	}
	if counted { // counted again from this message (see MessagingLedgerTouch)
		_, err := tx.Exec(ctx, `UPDATE messaging_ledger SET counted_at = $4 WHERE workspace_id = $1
			AND (contact_id = $2 OR phone_e164 = $3) AND counted_at > $4::timestamptz - interval '24 hours' AND counted_at < $4`,
			workspaceID, contactID, phone, now)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("moving %s forward in the messaging budget: %w", RedactPhone(phone), err)
		}
		return 0, time.Time{}, nil
	}
	remaining, resetsAt, err := MessagingBudgetRemaining(ctx, tx, workspaceID, now)
	if err != nil {
		return 0, time.Time{}, err
	}
	if remaining == 0 {
		return 0, resetsAt, ErrBudgetExhausted
	}
	err = tx.QueryRow(ctx, `INSERT INTO messaging_ledger (workspace_id, contact_id, campaign_id, counted_at, phone_e164)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, workspaceID, contactID, campaignID, now, phone).Scan(&id)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("recording a test send in the messaging budget of workspace %d: %w", workspaceID, err)
	}
	return id, resetsAt, nil
}

// MessagingLedgerForget removes a ledger row recorded for a send Meta refused (it reached nobody).
func MessagingLedgerForget(ctx context.Context, db DBTX, workspaceID, id int64) error {
	if _, err := db.Exec(ctx, `DELETE FROM messaging_ledger WHERE workspace_id = $1 AND id = $2`, workspaceID, id); err != nil {
		return fmt.Errorf("removing ledger row %d of workspace %d: %w", id, workspaceID, err)
	}
	return nil
}

// MessagingLedgerCountedAmong returns which of contactIDs are counted in the workspace's rolling
// 24 h ending at now (the caller holds the budget lock).
func MessagingLedgerCountedAmong(ctx context.Context, tx DBTX, workspaceID int64, contactIDs []int64, now time.Time) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(contactIDs) == 0 {
		return out, nil
	}
	// A test send to one of them before they were a contact is counted under the phone: it
	// becomes theirs, so the person counts once.
	if _, err := tx.Exec(ctx, `UPDATE messaging_ledger l SET contact_id = c.id FROM contacts c
		WHERE l.workspace_id = $1 AND l.contact_id IS NULL AND c.workspace_id = $1 AND c.id = ANY ($2) AND l.phone_e164 = c.phone_e164`,
		workspaceID, contactIDs); err != nil {
		return nil, fmt.Errorf("attaching test sends to %d contacts in the messaging budget: %w", len(contactIDs), err)
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT contact_id FROM messaging_ledger
		WHERE workspace_id = $1 AND contact_id = ANY ($2) AND counted_at > $3::timestamptz - interval '24 hours' AND counted_at <= $3`,
		workspaceID, contactIDs, now)
	if err != nil {
		return nil, fmt.Errorf("reading which of %d contacts are counted in the messaging budget: %w", len(contactIDs), err)
	}
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error { out[id] = true; return nil })
	if err != nil {
		return nil, fmt.Errorf("reading which of %d contacts are counted in the messaging budget: %w", len(contactIDs), err)
	}
	return out, nil
}

// MessagingLedgerTouch records that contacts already counted in the rolling 24 h are messaged
// again at now: Meta's window counts each person from their latest message, so their rows move
// to now (still one row per person; the budget frees up 24 h after the last message, not the first).
func MessagingLedgerTouch(ctx context.Context, tx DBTX, workspaceID int64, contactIDs []int64, now time.Time) error {
	if len(contactIDs) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE messaging_ledger SET counted_at = $3
		WHERE workspace_id = $1 AND contact_id = ANY ($2) AND counted_at > $3::timestamptz - interval '24 hours' AND counted_at < $3`,
		workspaceID, contactIDs, now)
	if err != nil {
		return fmt.Errorf("moving %d contacts forward in the messaging budget of workspace %d: %w", len(contactIDs), workspaceID, err)
	}
	return nil
}

// MessagingLedgerPrune deletes ledger rows older than keep (they no longer count).
func MessagingLedgerPrune(ctx context.Context, db DBTX, workspaceID int64, before time.Time) error {
	_, err := db.Exec(ctx, `DELETE FROM messaging_ledger WHERE workspace_id = $1 AND counted_at < $2`, workspaceID, before)
	return err
}

// The send gate orders a sender number's API calls against the pauses of its campaigns.
//
// A send job claims its recipients (queued → sending, committed, re-checking that the campaign
// runs) tens of milliseconds before their slots, so that the claim's latency does not eat into
// PaceConfig.Grace, and calls at the slot without another round trip. What keeps "no call
// starts after a pause commits" is this gate: the job takes the number's gate in shared mode on
// its connection (a session-level advisory lock) before it claims, and leaves it only once every
// call it claimed has started. A pause or cancel takes the gate exclusively, first thing in its
// transaction (SendGateClose), so it commits only after the calls claimed before it started;
// and Postgres queues a shared request behind a waiting exclusive one, so a job arriving after
// the pause waits for its commit and its claim then finds the campaign paused. A pause waits at
// most a claim's lead plus its span (about 100 ms); a crash releases the lock with the session.
const sendGateNS = 7313

// sendGateKey is the gate's second key: the number id folded into an int4.
func sendGateKey(senderNumberID int64) int32 { return int32(senderNumberID & 0x7fffffff) }

// SendGateEnter takes the number's send gate in shared mode on conn (a dedicated connection:
// the lock belongs to the session, not to a transaction); it waits while a pause holds it or
// waits for it. The caller must SendGateLeave on the same connection, or close it.
func SendGateEnter(ctx context.Context, conn DBTX, senderNumberID int64) error {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock_shared($1::int, $2::int)`, sendGateNS, sendGateKey(senderNumberID)); err != nil {
		return fmt.Errorf("entering the send gate of number %d: %w", senderNumberID, err)
	}
	return nil
}

// SendGateLeave releases what SendGateEnter took.
func SendGateLeave(ctx context.Context, conn DBTX, senderNumberID int64) error {
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock_shared($1::int, $2::int)`, sendGateNS, sendGateKey(senderNumberID)).Scan(&ok); err != nil {
		return fmt.Errorf("leaving the send gate of number %d: %w", senderNumberID, err)
	}
	if !ok {
		return fmt.Errorf("leaving the send gate of number %d: not held", senderNumberID)
	}
	return nil
}

// SendGateClose takes the send gates of the given numbers exclusively until tx ends (in id
// order, so two closers never deadlock): it returns once every call claimed before has started,
// and no send job claims on those numbers until tx ends. It must come before tx locks any
// campaign row, which a claim waiting behind the gate may need.
func SendGateClose(ctx context.Context, tx DBTX, senderNumberIDs []int64) error {
	if len(senderNumberIDs) == 0 {
		return nil
	}
	keys := make([]int32, len(senderNumberIDs))
	for i, id := range senderNumberIDs {
		keys[i] = sendGateKey(id)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int, k) FROM (SELECT DISTINCT k FROM unnest($2::int[]) k ORDER BY k) g`,
		sendGateNS, keys); err != nil {
		return fmt.Errorf("closing the send gate of numbers %v: %w", senderNumberIDs, err)
	}
	return nil
}
