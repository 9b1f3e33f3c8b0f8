package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pregon/pregon/store"
)

// NumberReport is a sender number's health over the last days: the workspace's messaging-limit
// budget used per rolling 24 h (the limit is shared by all of a workspace's numbers), the
// number's throughput, and its quality, limit and phone-app activity history.
type NumberReport struct {
	Number store.SenderNumber `json:"number"`
	Since  time.Time          `json:"since"`
	Until  time.Time          `json:"until"`

	MessagingLimit int              `json:"messaging_limit"` // unique recipients per rolling 24 h; -1 = unlimited
	BudgetUsed24h  int64            `json:"budget_used_24h"` // the workspace's unique recipients in the last 24 h
	BudgetByNumber int64            `json:"budget_used_24h_by_number"`
	Budget         []BudgetPoint    `json:"budget"` // hourly
	Throughput     ThroughputReport `json:"throughput"`
	History        []NumberEvent    `json:"history"`
}

// BudgetPoint is the rolling-24 h unique-recipient count at the end of an hour.
type BudgetPoint struct {
	At          time.Time `json:"at"` // end of the hour (UTC)
	Counted     int64     `json:"counted"`
	Rolling24h  int64     `json:"rolling_24h"`
	ByNumber24h int64     `json:"rolling_24h_by_number"`
	ShareOfCap  float64   `json:"share_of_limit"` // 0 when unlimited
}

// ThroughputReport is what the number actually sent versus what it may send.
type ThroughputReport struct {
	AllowedMPS   int                `json:"allowed_mps"`   // Meta's throughput for the number
	EffectiveMPS int                `json:"effective_mps"` // after the owner's cap and coexistence
	Sent24h      int64              `json:"sent_24h"`
	PeakSecond   int64              `json:"peak_second"`     // most messages sent in one second (24 h)
	PeakMinute   int64              `json:"peak_minute"`     // most messages sent in one minute (24 h)
	PeakMinuteMP float64            `json:"peak_minute_mps"` // PeakMinute / 60
	Hourly       []ThroughputBucket `json:"hourly"`
}

// ThroughputBucket is messages sent in one hour.
type ThroughputBucket struct {
	At   time.Time `json:"at"`
	Sent int64     `json:"sent"`
}

// NumberEvent is one change in the number's health (quality, limit, throughput, account,
// phone_activity, check).
type NumberEvent struct {
	At       time.Time       `json:"at"`
	Kind     string          `json:"kind"`
	OldValue string          `json:"old_value"`
	NewValue string          `json:"new_value"`
	Detail   json.RawMessage `json:"detail"`
}

// NumberReportGet builds the report of a sender number of workspaceID over the last days days
// up to now (1–31; 0 = 7).
func NumberReportGet(ctx context.Context, db store.DBTX, workspaceID, numberID int64, days int, now time.Time) (*NumberReport, error) {
	if days == 0 {
		days = 7
	}
	if days < 1 || days > 31 {
		return nil, store.Invalid("days", "el periodo debe ser de 1 a 31 días")
	}
	n, err := store.SenderNumberGetByID(ctx, db, workspaceID, numberID)
	if err != nil {
		return nil, fmt.Errorf("reading sender number %d: %w", numberID, store.NotFoundIfNoRows(err))
	}
	until := now.UTC().Truncate(time.Hour).Add(time.Hour)
	since := until.Add(-time.Duration(days) * 24 * time.Hour)
	rep := &NumberReport{Number: n, Since: since, Until: until, Budget: []BudgetPoint{}, History: []NumberEvent{}}
	rep.Throughput = ThroughputReport{AllowedMPS: n.ThroughputMPS, EffectiveMPS: n.EffectiveThroughput, Hourly: []ThroughputBucket{}}
	if err := db.QueryRow(ctx, `SELECT messaging_limit FROM workspaces WHERE id = $1`, workspaceID).Scan(&rep.MessagingLimit); err != nil {
		return nil, fmt.Errorf("reading the workspace's messaging limit: %w", err)
	}

	// Budget: ledger rows per hour (workspace and this number), rolled up over 24 buckets.
	rows, err := db.Query(ctx, `
		SELECT date_trunc('hour', l.counted_at AT TIME ZONE 'UTC') AS h, count(*),
		       count(*) FILTER (WHERE c.sender_number_id = $2)
		FROM messaging_ledger l LEFT JOIN campaigns c ON c.id = l.campaign_id AND c.workspace_id = $1
		WHERE l.workspace_id = $1 AND l.counted_at >= $3 AND l.counted_at < $4
		GROUP BY 1`, workspaceID, numberID, since.Add(-24*time.Hour), until)
	if err != nil {
		return nil, fmt.Errorf("reading the messaging ledger: %w", err)
	}
	type hc struct{ all, num int64 }
	hours := map[time.Time]hc{}
	var h time.Time
	var all, num int64
	if _, err := pgx.ForEachRow(rows, []any{&h, &all, &num}, func() error {
		hours[h.UTC()] = hc{all, num}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading the messaging ledger: %w", err)
	}
	var rollAll, rollNum int64
	for t := since.Add(-24 * time.Hour); t.Before(until); t = t.Add(time.Hour) {
		c := hours[t]
		rollAll += c.all
		rollNum += c.num
		old := hours[t.Add(-24*time.Hour)]
		rollAll -= old.all
		rollNum -= old.num
		if t.Before(since) {
			continue
		}
		p := BudgetPoint{At: t.Add(time.Hour), Counted: c.all, Rolling24h: rollAll, ByNumber24h: rollNum}
		if rep.MessagingLimit > 0 {
			p.ShareOfCap = float64(rollAll) / float64(rep.MessagingLimit)
		}
		rep.Budget = append(rep.Budget, p)
	}
	err = db.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE c.sender_number_id = $2)
		FROM messaging_ledger l LEFT JOIN campaigns c ON c.id = l.campaign_id AND c.workspace_id = $1
		WHERE l.workspace_id = $1 AND l.counted_at > $3::timestamptz - interval '24 hours' AND l.counted_at <= $3`,
		workspaceID, numberID, now).Scan(&rep.BudgetUsed24h, &rep.BudgetByNumber)
	if err != nil {
		return nil, fmt.Errorf("reading the messaging ledger: %w", err)
	}

	// Throughput: what the number's campaigns sent, by hour, and the busiest second and minute.
	rows, err = db.Query(ctx, `
		SELECT date_trunc('hour', r.sent_at AT TIME ZONE 'UTC'), count(*)
		FROM recipients r JOIN campaigns c ON c.id = r.campaign_id
		WHERE r.workspace_id = $1 AND c.workspace_id = $1 AND c.sender_number_id = $2
		  AND r.sent_at >= $3 AND r.sent_at < $4
		GROUP BY 1 ORDER BY 1`, workspaceID, numberID, since, until)
	if err != nil {
		return nil, fmt.Errorf("reading the number's sends: %w", err)
	}
	var b ThroughputBucket
	if _, err := pgx.ForEachRow(rows, []any{&b.At, &b.Sent}, func() error {
		b.At = b.At.UTC()
		rep.Throughput.Hourly = append(rep.Throughput.Hourly, b)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading the number's sends: %w", err)
	}
	err = db.QueryRow(ctx, `
		WITH s AS (
		    SELECT r.sent_at FROM recipients r JOIN campaigns c ON c.id = r.campaign_id
		    WHERE r.workspace_id = $1 AND c.workspace_id = $1 AND c.sender_number_id = $2
		      AND r.sent_at > $3::timestamptz - interval '24 hours' AND r.sent_at <= $3
		)
		SELECT (SELECT count(*) FROM s),
		       coalesce((SELECT max(n) FROM (SELECT count(*) AS n FROM s GROUP BY date_trunc('second', sent_at)) x), 0),
		       coalesce((SELECT max(n) FROM (SELECT count(*) AS n FROM s GROUP BY date_trunc('minute', sent_at)) x), 0)`,
		workspaceID, numberID, now).Scan(&rep.Throughput.Sent24h, &rep.Throughput.PeakSecond, &rep.Throughput.PeakMinute)
	if err != nil {
		return nil, fmt.Errorf("reading the number's peak throughput: %w", err)
	}
	rep.Throughput.PeakMinuteMP = float64(rep.Throughput.PeakMinute) / 60

	rows, err = db.Query(ctx, `SELECT created_at, kind, old_value, new_value, detail FROM number_events
		WHERE workspace_id = $1 AND sender_number_id = $2 AND created_at >= $3
		ORDER BY created_at DESC, id DESC LIMIT 1000`, workspaceID, numberID, since)
	if err != nil {
		return nil, fmt.Errorf("reading the number's history: %w", err)
	}
	if rep.History, err = pgx.CollectRows(rows, pgx.RowToStructByPos[NumberEvent]); err != nil {
		return nil, fmt.Errorf("reading the number's history: %w", err)
	}
	if rep.History == nil {
		rep.History = []NumberEvent{}
	}
	return rep, nil
}
