package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// TemplateReport is a template's monthly figures across the campaigns that used it, with its
// status and quality history: the "review your templates' metrics monthly" page.
type TemplateReport struct {
	TemplateID int64           `json:"template_id"`
	Name       string          `json:"name"`
	Language   string          `json:"language"`
	Category   string          `json:"category"`
	Status     string          `json:"status"`
	Quality    string          `json:"quality"`
	TimeZone   string          `json:"time_zone"` // months are calendar months in this zone
	Months     []TemplateMonth `json:"months"`
	History    []TemplateEvent `json:"history"`
	Cost       *CostEstimate   `json:"cost,omitempty"`
}

// TemplateMonth is one calendar month (workspace time zone) of sends with the template.
type TemplateMonth struct {
	Month     string      `json:"month"` // YYYY-MM
	Campaigns int64       `json:"campaigns"`
	Sends     int64       `json:"sends"` // recipients attempted: sent or failed
	Delivered int64       `json:"delivered"`
	Read      int64       `json:"read"`
	Failed    int64       `json:"failed"`
	Rates     Rates       `json:"rates"`
	FailedBy  []CodeCount `json:"failed_by_code"`
}

// TemplateEvent is one status, quality or category change of the template.
type TemplateEvent struct {
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"` // status | quality | category
	OldValue string    `json:"old_value"`
	NewValue string    `json:"new_value"`
	Reason   string    `json:"reason"`
	Source   string    `json:"source"`
}

// resendAfterDrop is store.ResendAfterDropSQL on recipients r: a send Meta dropped with 132015,
// waiting to be sent again, is no send yet (as one refused at once with 132015), nor a failure.
var resendAfterDrop = store.ResendAfterDropSQL("r.")

// TemplateReportGet builds the report of a template of workspaceID over months in [from, to)
// (zero values: the last 12 months up to now).
func TemplateReportGet(ctx context.Context, db store.DBTX, workspaceID, templateID int64, from, to time.Time, rc *RateCard) (*TemplateReport, error) {
	rep := &TemplateReport{TemplateID: templateID, Months: []TemplateMonth{}, History: []TemplateEvent{}}
	err := db.QueryRow(ctx, `SELECT t.name, t.language, t.category, t.status, t.quality, w.time_zone
		FROM templates t JOIN workspaces w ON w.id = t.workspace_id WHERE t.workspace_id = $1 AND t.id = $2`,
		workspaceID, templateID).Scan(&rep.Name, &rep.Language, &rep.Category, &rep.Status, &rep.Quality, &rep.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("reading template %d: %w", templateID, store.NotFoundIfNoRows(err))
	}
	if to.IsZero() {
		to = time.Now()
	}
	if from.IsZero() {
		from = to.AddDate(-1, 0, 0)
	}
	rows, err := db.Query(ctx, `
		WITH r AS (
		    SELECT r.campaign_id, r.state, r.error_code, r.delivered_at, r.read_at, r.sent_at,
		           to_char(coalesce(r.sent_at, r.failed_at) AT TIME ZONE $3, 'YYYY-MM') AS month
		    FROM recipients r JOIN campaigns c ON c.id = r.campaign_id
		    WHERE c.workspace_id = $1 AND c.template_id = $2 AND r.workspace_id = $1
		      AND coalesce(r.sent_at, r.failed_at) >= $4 AND coalesce(r.sent_at, r.failed_at) < $5
		      AND NOT `+resendAfterDrop+`
		)
		SELECT month, count(DISTINCT campaign_id), count(*),
		    count(*) FILTER (WHERE delivered_at IS NOT NULL OR read_at IS NOT NULL),
		    count(read_at), count(*) FILTER (WHERE state = 'failed')
		FROM r GROUP BY month ORDER BY month`, workspaceID, templateID, rep.TimeZone, from, to)
	if err != nil {
		return nil, fmt.Errorf("aggregating template %d by month: %w", templateID, err)
	}
	var tm TemplateMonth
	idx := map[string]int{}
	_, err = pgx.ForEachRow(rows, []any{&tm.Month, &tm.Campaigns, &tm.Sends, &tm.Delivered, &tm.Read, &tm.Failed}, func() error {
		tm.FailedBy = []CodeCount{}
		tm.Rates = Rates{Delivery: ratio(tm.Delivered, tm.Delivered+tm.Failed), Read: ratio(tm.Read, tm.Delivered)}
		idx[tm.Month] = len(rep.Months)
		rep.Months = append(rep.Months, tm)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("aggregating template %d by month: %w", templateID, err)
	}
	rows, err = db.Query(ctx, `
		SELECT to_char(coalesce(r.sent_at, r.failed_at) AT TIME ZONE $3, 'YYYY-MM'), coalesce(r.error_code, 0), count(*)
		FROM recipients r JOIN campaigns c ON c.id = r.campaign_id
		WHERE c.workspace_id = $1 AND c.template_id = $2 AND r.workspace_id = $1 AND r.state = 'failed'
		  AND NOT `+resendAfterDrop+`
		  AND coalesce(r.sent_at, r.failed_at) >= $4 AND coalesce(r.sent_at, r.failed_at) < $5
		GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2`, workspaceID, templateID, rep.TimeZone, from, to)
	if err != nil {
		return nil, fmt.Errorf("counting template %d failures: %w", templateID, err)
	}
	var month string
	var code int
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&month, &code, &n}, func() error {
		if i, ok := idx[month]; ok {
			rep.Months[i].FailedBy = append(rep.Months[i].FailedBy, CodeCount{Code: code, Count: n,
				TitleES: whatsapp.ErrorTitle(code, "es"), TitleEN: whatsapp.ErrorTitle(code, "en")})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting template %d failures: %w", templateID, err)
	}
	rows, err = db.Query(ctx, `SELECT created_at, kind, old_value, new_value, reason, source FROM template_events
		WHERE workspace_id = $1 AND template_id = $2 ORDER BY created_at DESC, id DESC LIMIT 500`, workspaceID, templateID)
	if err != nil {
		return nil, fmt.Errorf("reading template %d history: %w", templateID, err)
	}
	if rep.History, err = pgx.CollectRows(rows, pgx.RowToStructByPos[TemplateEvent]); err != nil {
		return nil, fmt.Errorf("reading template %d history: %w", templateID, err)
	}
	if rep.History == nil {
		rep.History = []TemplateEvent{}
	}
	if rc != nil {
		rows, err = db.Query(ctx, `
			SELECT co.country, r.pricing_category, to_char(r.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*)
			FROM recipients r JOIN campaigns c ON c.id = r.campaign_id JOIN contacts co ON co.id = r.contact_id
			WHERE c.workspace_id = $1 AND c.template_id = $2 AND r.workspace_id = $1 AND r.billable
			  AND r.pricing_category <> '' AND r.sent_at >= $3 AND r.sent_at < $4
			GROUP BY 1, 2, 3`, workspaceID, templateID, from, to)
		if err != nil {
			return nil, fmt.Errorf("counting template %d billable messages: %w", templateID, err)
		}
		groups, err := pgx.CollectRows(rows, pgx.RowToStructByPos[BillableGroup])
		if err != nil {
			return nil, fmt.Errorf("counting template %d billable messages: %w", templateID, err)
		}
		rep.Cost = rc.Estimate(groups)
	}
	return rep, nil
}
