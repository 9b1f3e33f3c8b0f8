package reports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// CampaignReport is what happened to one campaign. Counts by state are live (the campaign's
// sharded counters); the rest is aggregated from the recipients and their status events and may
// come from the report cache (ComputedAt, Stale).
type CampaignReport struct {
	CampaignID  int64      `json:"campaign_id"`
	Name        string     `json:"name"`
	State       string     `json:"state"`
	TemplateID  *int64     `json:"template_id"`
	SenderID    *int64     `json:"sender_number_id"`
	LaunchedAt  *time.Time `json:"launched_at"`
	CompletedAt *time.Time `json:"completed_at"`
	TimeZone    string     `json:"time_zone"`

	Audience Audience         `json:"audience"`
	States   map[string]int64 `json:"states"` // current recipients per state (live)

	CampaignMetrics

	Cost *CostEstimate `json:"cost,omitempty"` // only with a rate card (PREGON_RATE_CARD)

	ComputedAt time.Time `json:"computed_at"`
	ComputeMS  int       `json:"compute_ms"`
	Stale      bool      `json:"stale"`     // newer events exist; a refresh is under way
	Computing  bool      `json:"computing"` // first computation under way: only the live counts are filled
}

// Audience is the audience frozen at launch.
type Audience struct {
	Count             int64           `json:"count"`
	SegmentID         *int64          `json:"segment_id"`
	SegmentDefinition json.RawMessage `json:"segment_definition"`
	SegmentHash       string          `json:"segment_hash"`
}

// CampaignMetrics are the aggregated (cacheable) figures of a campaign report.
type CampaignMetrics struct {
	Funnel        Funnel          `json:"funnel"`
	Rates         Rates           `json:"rates"`
	SkippedBy     []ReasonCount   `json:"skipped_by_reason"`
	FailedBy      []CodeCount     `json:"failed_by_code"`
	TimeToDeliver Percentiles     `json:"time_to_deliver"`
	TimeToRead    Percentiles     `json:"time_to_read"`
	Timeline      Timeline        `json:"timeline"`
	Billable      []CategoryCount `json:"billable_by_category"`
	// BillableDetail is the basis of cost estimates: billable delivered messages per destination
	// country, pricing category and UTC day of sending.
	BillableDetail []BillableGroup `json:"billable_detail"`
}

// Funnel counts recipients that reached each step (cumulative: read ones are also delivered).
type Funnel struct {
	Audience  int64 `json:"audience"`
	Skipped   int64 `json:"skipped"`
	Pending   int64 `json:"pending"` // pending, queued or sending
	Unknown   int64 `json:"unknown"` // the send's outcome is unknown (ambiguous API call)
	Sent      int64 `json:"sent"`    // accepted by WhatsApp (a sent event or later)
	Delivered int64 `json:"delivered"`
	Read      int64 `json:"read"`
	Failed    int64 `json:"failed"`
	Replied   int64 `json:"replied"`
	OptedOut  int64 `json:"opted_out"` // opted out after this campaign's message
}

// Rates are ratios in [0, 1]: delivery = delivered / (delivered + failed after being attempted);
// read, reply and opt-out are per delivered message. Zero denominators give 0.
type Rates struct {
	Delivery float64 `json:"delivery"`
	Read     float64 `json:"read"`
	Reply    float64 `json:"reply"`
	OptOut   float64 `json:"opt_out"`
}

// ReasonCount is the number of recipients skipped for one reason.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// CodeCount is the number of failures with one Meta error code, with human titles.
type CodeCount struct {
	Code    int    `json:"code"`
	TitleES string `json:"title_es"`
	TitleEN string `json:"title_en"`
	Count   int64  `json:"count"`
}

// Percentiles of a duration, in seconds, over Count messages.
type Percentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_s"`
	P90   float64 `json:"p90_s"`
	P95   float64 `json:"p95_s"`
	P99   float64 `json:"p99_s"`
	Max   float64 `json:"max_s"`
}

// Timeline counts status events per time bucket (UTC bucket starts).
type Timeline struct {
	Bucket string          `json:"bucket"` // minute | hour | day
	Points []TimelinePoint `json:"points"`
}

// TimelinePoint is one bucket: status events by status (played counts as read).
type TimelinePoint struct {
	At        time.Time `json:"at"`
	Sent      int64     `json:"sent"`
	Delivered int64     `json:"delivered"`
	Read      int64     `json:"read"`
	Failed    int64     `json:"failed"`
}

// CategoryCount is the number of delivered messages of one pricing category as the webhooks
// reported them, billable or not.
type CategoryCount struct {
	Category    string `json:"category"`
	Billable    int64  `json:"billable"`
	NonBillable int64  `json:"non_billable"`
}

// BillableGroup is billable delivered messages per country, category and day.
type BillableGroup struct {
	Country  string `json:"country"`
	Category string `json:"category"`
	Day      string `json:"day"` // YYYY-MM-DD (UTC)
	Count    int64  `json:"count"`
}

// MinRefreshInterval is how old a stale cached report must be before a request triggers its
// recomputation: a report being polled during a running campaign is recomputed at most this often.
const MinRefreshInterval = 5 * time.Second

// Buckets of a timeline.
var timelineBuckets = []string{"minute", "hour", "day"}

// CampaignReportOptions tune CampaignReportGet.
type CampaignReportOptions struct {
	Bucket   string    // timeline bucket; "" = hour (the cached one)
	Fresh    bool      // recompute now instead of serving the cache
	RateCard *RateCard // nil: no cost estimate
	// Refresh is called (at most once) when a stale cached report was served, to recompute it
	// in the background; nil recomputes nothing.
	Refresh func()
	Now     func() time.Time
}

// CampaignReportGet returns the report of a campaign of workspaceID (store.ErrNotFound when the
// campaign is not the workspace's). The aggregated part is served from the cache when it is
// current (or, when stale, while opts.Refresh recomputes it); it is computed here when missing,
// when opts.Fresh is set or for a non-default timeline bucket.
func CampaignReportGet(ctx context.Context, db store.DBTX, workspaceID, campaignID int64, opts CampaignReportOptions) (*CampaignReport, error) {
	if opts.Bucket == "" {
		opts.Bucket = "hour"
	}
	if !slices.Contains(timelineBuckets, opts.Bucket) {
		return nil, store.Invalid("bucket", "intervalo no válido: use minute, hour o day")
	}
	rep, err := campaignHead(ctx, db, workspaceID, campaignID)
	if err != nil {
		return nil, err
	}
	fp, err := fingerprint(ctx, db, workspaceID, rep.States)
	if err != nil {
		return nil, err
	}
	cacheable := opts.Bucket == "hour"
	if cacheable && !opts.Fresh {
		var body []byte
		var cachedFP string
		var ms int
		err := db.QueryRow(ctx, `SELECT fingerprint, computed_at, compute_ms, body FROM campaign_report_cache
			WHERE workspace_id = $1 AND campaign_id = $2`, workspaceID, campaignID).Scan(&cachedFP, &rep.ComputedAt, &ms, &body)
		switch {
		case err == nil:
			if err := json.Unmarshal(body, &rep.CampaignMetrics); err != nil {
				return nil, fmt.Errorf("decoding the cached report of campaign %d: %w", campaignID, err)
			}
			rep.ComputeMS = ms
			if cachedFP != fp {
				rep.Stale = true
				now := time.Now
				if opts.Now != nil {
					now = opts.Now
				}
				if opts.Refresh != nil && now().Sub(rep.ComputedAt) >= MinRefreshInterval {
					opts.Refresh()
				}
			}
			rep.Cost = opts.RateCard.Estimate(rep.BillableDetail)
			return rep, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("reading the cached report of campaign %d: %w", campaignID, err)
		}
	}
	if cacheable && !opts.Fresh && opts.Refresh != nil && rep.audienceSize() > SyncComputeLimit {
		// No cached report yet for a large campaign: answer now with the live part and let the
		// background refresh aggregate (seconds on a million recipients); clients poll.
		rep.Computing, rep.Stale = true, true
		rep.CampaignMetrics = CampaignMetrics{SkippedBy: []ReasonCount{}, FailedBy: []CodeCount{}, Billable: []CategoryCount{},
			BillableDetail: []BillableGroup{}, Timeline: Timeline{Bucket: opts.Bucket, Points: []TimelinePoint{}}}
		opts.Refresh()
		return rep, nil
	}
	if err := computeInto(ctx, db, rep, opts.Bucket, fp, cacheable); err != nil {
		return nil, err
	}
	rep.Cost = opts.RateCard.Estimate(rep.BillableDetail)
	return rep, nil
}

// SyncComputeLimit is the audience size up to which a missing report is computed within the
// request; larger campaigns get the live counts at once and the rest from a background refresh.
const SyncComputeLimit = 20_000

func (r *CampaignReport) audienceSize() int64 {
	var n int64
	for _, v := range r.States {
		n += v
	}
	return max(n, r.Audience.Count)
}

// CampaignReportRefresh recomputes and caches a campaign's report. It takes a session-level
// advisory lock per campaign, so concurrent refreshes (several API processes) compute it once;
// it returns false when another refresh holds the lock.
func CampaignReportRefresh(ctx context.Context, db store.DBTX, workspaceID, campaignID int64) (bool, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	var got bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(7301, $1::int)`, campaignID%(1<<31)).Scan(&got); err != nil || !got {
		return false, err
	}
	rep, err := campaignHead(ctx, tx, workspaceID, campaignID)
	if err != nil {
		return false, err
	}
	fp, err := fingerprint(ctx, tx, workspaceID, rep.States)
	if err != nil {
		return false, err
	}
	if err := computeInto(ctx, tx, rep, "hour", fp, true); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}

func campaignHead(ctx context.Context, db store.DBTX, workspaceID, campaignID int64) (*CampaignReport, error) {
	rep := &CampaignReport{CampaignID: campaignID}
	var def []byte
	err := db.QueryRow(ctx, `
		SELECT c.name, c.state, c.template_id, c.sender_number_id, c.launched_at, c.completed_at,
		       c.audience_count, c.segment_id, c.segment_definition, c.segment_hash, w.time_zone
		FROM campaigns c JOIN workspaces w ON w.id = c.workspace_id
		WHERE c.workspace_id = $1 AND c.id = $2`, workspaceID, campaignID).Scan(
		&rep.Name, &rep.State, &rep.TemplateID, &rep.SenderID, &rep.LaunchedAt, &rep.CompletedAt,
		&rep.Audience.Count, &rep.Audience.SegmentID, &def, &rep.Audience.SegmentHash, &rep.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("reading campaign %d: %w", campaignID, store.NotFoundIfNoRows(err))
	}
	if len(def) > 0 {
		rep.Audience.SegmentDefinition = def
	}
	if rep.States, err = store.CampaignCounts(ctx, db, workspaceID, campaignID); err != nil {
		return nil, err
	}
	return rep, nil
}

// fingerprint changes whenever the report could: a new status event or message in the
// workspace, or a recipient changing state (the live counters).
func fingerprint(ctx context.Context, db store.DBTX, workspaceID int64, states map[string]int64) (string, error) {
	var ev, msg int64
	err := db.QueryRow(ctx, `SELECT
		coalesce((SELECT max(id) FROM status_events WHERE workspace_id = $1), 0),
		coalesce((SELECT max(id) FROM messages WHERE workspace_id = $1), 0)`, workspaceID).Scan(&ev, &msg)
	if err != nil {
		return "", fmt.Errorf("reading the report fingerprint: %w", err)
	}
	keys := make([]string, 0, len(states))
	for k := range states {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := []byte(strconv.FormatInt(ev, 10) + "/" + strconv.FormatInt(msg, 10))
	for _, k := range keys {
		b = append(b, '/')
		b = append(b, k...)
		b = append(b, '=')
		b = strconv.AppendInt(b, states[k], 10)
	}
	return string(b), nil
}

// computeInto aggregates the campaign's metrics and, when cache is set, stores them.
func computeInto(ctx context.Context, db store.DBTX, rep *CampaignReport, bucket, fp string, cache bool) error {
	start := time.Now()
	m, err := campaignMetrics(ctx, db, rep, bucket)
	if err != nil {
		return err
	}
	rep.CampaignMetrics = *m
	rep.ComputedAt = time.Now().UTC()
	rep.ComputeMS = int(time.Since(start).Milliseconds())
	if !cache {
		return nil
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	wsID, _ := workspaceOf(ctx, db, rep.CampaignID)
	_, err = db.Exec(ctx, `
		INSERT INTO campaign_report_cache (campaign_id, workspace_id, fingerprint, computed_at, compute_ms, body)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (campaign_id) DO UPDATE SET fingerprint = excluded.fingerprint, computed_at = excluded.computed_at,
		    compute_ms = excluded.compute_ms, body = excluded.body`,
		rep.CampaignID, wsID, fp, rep.ComputedAt, rep.ComputeMS, body)
	if err != nil {
		return fmt.Errorf("caching the report of campaign %d: %w", rep.CampaignID, err)
	}
	return nil
}

func workspaceOf(ctx context.Context, db store.DBTX, campaignID int64) (int64, error) {
	var ws int64
	err := db.QueryRow(ctx, `SELECT workspace_id FROM campaigns WHERE id = $1`, campaignID).Scan(&ws)
	return ws, err
}

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func campaignMetrics(ctx context.Context, db store.DBTX, rep *CampaignReport, bucket string) (*CampaignMetrics, error) {
	wsID, err := workspaceOf(ctx, db, rep.CampaignID)
	if err != nil {
		return nil, fmt.Errorf("reading campaign %d: %w", rep.CampaignID, err)
	}
	id := rep.CampaignID
	m := &CampaignMetrics{SkippedBy: []ReasonCount{}, FailedBy: []CodeCount{}, Billable: []CategoryCount{}, BillableDetail: []BillableGroup{}}
	f := &m.Funnel
	var p [2][5]*float64
	// One pass over the campaign's recipients: the funnel and the delivery/read latencies. A
	// recipient whose send Meta dropped with 132015, waiting to be sent again, counts as pending
	// with no send, as one whose send was refused at once with 132015 (its drop is in the
	// timeline and the export).
	err = db.QueryRow(ctx, `
		SELECT count(*),
		    count(*) FILTER (WHERE state = 'skipped'),
		    count(*) FILTER (WHERE state IN ('pending', 'queued', 'sending')),
		    count(*) FILTER (WHERE state = 'unknown'),
		    count(*) FILTER (WHERE sent_at IS NOT NULL OR delivered_at IS NOT NULL OR read_at IS NOT NULL),
		    count(*) FILTER (WHERE delivered_at IS NOT NULL OR read_at IS NOT NULL),
		    count(read_at),
		    count(*) FILTER (WHERE state = 'failed'),
		    count(replied_at),
		    count(opted_out_at),
		    percentile_cont(0.5) WITHIN GROUP (ORDER BY d) FILTER (WHERE d IS NOT NULL),
		    percentile_cont(0.9) WITHIN GROUP (ORDER BY d) FILTER (WHERE d IS NOT NULL),
		    percentile_cont(0.95) WITHIN GROUP (ORDER BY d) FILTER (WHERE d IS NOT NULL),
		    percentile_cont(0.99) WITHIN GROUP (ORDER BY d) FILTER (WHERE d IS NOT NULL),
		    max(d),
		    percentile_cont(0.5) WITHIN GROUP (ORDER BY rd) FILTER (WHERE rd IS NOT NULL),
		    percentile_cont(0.9) WITHIN GROUP (ORDER BY rd) FILTER (WHERE rd IS NOT NULL),
		    percentile_cont(0.95) WITHIN GROUP (ORDER BY rd) FILTER (WHERE rd IS NOT NULL),
		    percentile_cont(0.99) WITHIN GROUP (ORDER BY rd) FILTER (WHERE rd IS NOT NULL),
		    max(rd),
		    count(d), count(rd)
		FROM (SELECT CASE WHEN `+store.ResendAfterDropSQL("")+` THEN 'pending' ELSE state END AS state,
		             CASE WHEN `+store.ResendAfterDropSQL("")+` THEN NULL ELSE sent_at END AS sent_at,
		             delivered_at, read_at, replied_at, opted_out_at,
		             extract(epoch FROM coalesce(delivered_at, read_at) - sent_at)::float8 AS d,
		             extract(epoch FROM read_at - sent_at)::float8 AS rd
		      FROM recipients WHERE workspace_id = $1 AND campaign_id = $2) r`, wsID, id).Scan(
		&f.Audience, &f.Skipped, &f.Pending, &f.Unknown, &f.Sent, &f.Delivered, &f.Read, &f.Failed, &f.Replied, &f.OptedOut,
		&p[0][0], &p[0][1], &p[0][2], &p[0][3], &p[0][4], &p[1][0], &p[1][1], &p[1][2], &p[1][3], &p[1][4],
		&m.TimeToDeliver.Count, &m.TimeToRead.Count)
	if err != nil {
		return nil, fmt.Errorf("aggregating recipients of campaign %d: %w", id, err)
	}
	for i, pc := range []*Percentiles{&m.TimeToDeliver, &m.TimeToRead} {
		for j, dst := range []*float64{&pc.P50, &pc.P90, &pc.P95, &pc.P99, &pc.Max} {
			if p[i][j] != nil {
				*dst = *p[i][j]
			}
		}
	}
	m.Rates = Rates{
		Delivery: ratio(f.Delivered, f.Delivered+f.Failed),
		Read:     ratio(f.Read, f.Delivered),
		Reply:    ratio(f.Replied, f.Delivered),
		OptOut:   ratio(f.OptedOut, f.Delivered),
	}

	// Skipped by reason and failed by code read only those recipients (state index).
	rows, err := db.Query(ctx, `SELECT skip_reason, count(*) FROM recipients
		WHERE workspace_id = $1 AND campaign_id = $2 AND state = 'skipped' GROUP BY 1 ORDER BY 2 DESC, 1`, wsID, id)
	if err != nil {
		return nil, fmt.Errorf("counting skipped recipients: %w", err)
	}
	m.SkippedBy, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ReasonCount])
	if err != nil {
		return nil, fmt.Errorf("counting skipped recipients: %w", err)
	}
	rows, err = db.Query(ctx, `SELECT coalesce(error_code, 0), count(*) FROM recipients
		WHERE workspace_id = $1 AND campaign_id = $2 AND state = 'failed' AND NOT `+store.ResendAfterDropSQL("")+`
		GROUP BY 1 ORDER BY 2 DESC, 1`, wsID, id)
	if err != nil {
		return nil, fmt.Errorf("counting failures by code: %w", err)
	}
	var code int
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&code, &n}, func() error {
		m.FailedBy = append(m.FailedBy, CodeCount{Code: code, Count: n,
			TitleES: whatsapp.ErrorTitle(code, "es"), TitleEN: whatsapp.ErrorTitle(code, "en")})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting failures by code: %w", err)
	}

	// The timeline comes from the status events themselves (every event, as received).
	m.Timeline = Timeline{Bucket: bucket, Points: []TimelinePoint{}}
	rows, err = db.Query(ctx, `
		SELECT date_trunc($3, se.occurred_at AT TIME ZONE 'UTC') AS b,
		    count(*) FILTER (WHERE se.status = 'sent'),
		    count(*) FILTER (WHERE se.status = 'delivered'),
		    count(*) FILTER (WHERE se.status IN ('read', 'played')),
		    count(*) FILTER (WHERE se.status = 'failed')
		FROM recipients r JOIN status_events se ON se.wamid = r.wamid
		WHERE r.workspace_id = $1 AND r.campaign_id = $2 AND r.wamid IS NOT NULL
		  AND (se.workspace_id IS NULL OR se.workspace_id = $1)
		GROUP BY 1 ORDER BY 1`, wsID, id, bucket)
	if err != nil {
		return nil, fmt.Errorf("building the timeline: %w", err)
	}
	var pt TimelinePoint
	_, err = pgx.ForEachRow(rows, []any{&pt.At, &pt.Sent, &pt.Delivered, &pt.Read, &pt.Failed}, func() error {
		pt.At = pt.At.UTC()
		m.Timeline.Points = append(m.Timeline.Points, pt)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("building the timeline: %w", err)
	}

	// Billable delivered messages, as the webhooks' pricing reported them.
	rows, err = db.Query(ctx, `
		SELECT co.country, r.pricing_category, to_char(r.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), coalesce(r.billable, false), count(*)
		FROM recipients r JOIN contacts co ON co.id = r.contact_id AND co.workspace_id = $1
		WHERE r.workspace_id = $1 AND r.campaign_id = $2 AND r.pricing_category <> ''
		  AND (r.delivered_at IS NOT NULL OR r.read_at IS NOT NULL)
		GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`, wsID, id)
	if err != nil {
		return nil, fmt.Errorf("counting billable messages: %w", err)
	}
	var g BillableGroup
	var billable bool
	var day *string
	cats := map[string]*CategoryCount{}
	_, err = pgx.ForEachRow(rows, []any{&g.Country, &g.Category, &day, &billable, &g.Count}, func() error {
		c := cats[g.Category]
		if c == nil {
			c = &CategoryCount{Category: g.Category}
			cats[g.Category] = c
		}
		if !billable {
			c.NonBillable += g.Count
			return nil
		}
		c.Billable += g.Count
		g.Day = ""
		if day != nil {
			g.Day = *day
		}
		m.BillableDetail = append(m.BillableDetail, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting billable messages: %w", err)
	}
	for _, c := range cats {
		m.Billable = append(m.Billable, *c)
	}
	slices.SortFunc(m.Billable, func(a, b CategoryCount) int {
		if a.Category < b.Category {
			return -1
		}
		if a.Category > b.Category {
			return 1
		}
		return 0
	})
	return m, nil
}
