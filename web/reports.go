package web

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

// reportsIndex lists what has a report: campaigns, templates and sender numbers.
func (u *ui) reportsIndex(c echo.Context) error {
	pg, err := u.newPage(c, "reports", "rep.title")
	if err != nil {
		return err
	}
	var cs []campaignView
	more, err := u.listPage(c, "/campaigns", 100, &cs)
	if err != nil {
		return err
	}
	ts, err := listAll[tmplView](u, c, "/templates")
	if err != nil {
		return err
	}
	nums, err := store.SenderNumberList(c.Request().Context(), u.db, pg.Workspace.ID)
	if err != nil {
		return err
	}
	var launched []campaignView
	for _, cv := range cs {
		if cv.State != store.CampaignDraft {
			launched = append(launched, cv)
		}
	}
	pg.Data = map[string]any{"Campaigns": launched, "More": more, "Templates": ts, "Numbers": nums}
	return u.render(c, http.StatusOK, "reports", pg)
}

type campaignReportData struct {
	Report *reports.CampaignReport
	Chart  chart
	Funnel []funnelStep
}

func (u *ui) reportCampaign(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	pg, err := u.newPage(c, "reports", "rep.title")
	if err != nil {
		return err
	}
	bucket := c.QueryParam("bucket")
	path := fmt.Sprintf("/campaigns/%d/report", id)
	if bucket == "minute" || bucket == "day" {
		path += "?bucket=" + bucket
	}
	var rep reports.CampaignReport
	if err := u.callAPI(c, http.MethodGet, path, nil, &rep); err != nil {
		return err
	}
	d := campaignReportData{Report: &rep, Chart: timelineChart(rep.Timeline, pg.loc, pg.Lang)}
	f := rep.Funnel
	base := max(f.Audience, 1)
	for _, s := range []struct {
		k string
		n int64
	}{{"audience", f.Audience}, {"sent", f.Sent}, {"delivered", f.Delivered}, {"read", f.Read}, {"replied", f.Replied}, {"failed", f.Failed}, {"skipped", f.Skipped}, {"opted_out", f.OptedOut}} {
		d.Funnel = append(d.Funnel, funnelStep{Key: s.k, Count: s.n, Pct: int(100 * s.n / base)})
	}
	pg.Data = d
	return u.render(c, http.StatusOK, "report_campaign", pg)
}

func (u *ui) reportTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	pg, err := u.newPage(c, "reports", "rep.title")
	if err != nil {
		return err
	}
	var rep reports.TemplateReport
	if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/templates/%d/report", id), nil, &rep); err != nil {
		return err
	}
	// Stacked, the delivered are the read plus the delivered not (yet) read: each column is
	// the month's delivered and failed messages.
	pts := make([]barPoint, 0, len(rep.Months))
	for _, m := range rep.Months {
		pts = append(pts, barPoint{Label: m.Month, Values: []int64{max(0, m.Delivered-m.Read), m.Read, m.Failed}})
	}
	pg.Data = map[string]any{"Report": &rep, "Chart": barChart(pts, []string{"delivered_unread", "read", "failed"}, pg.Lang)}
	return u.render(c, http.StatusOK, "report_template", pg)
}

func (u *ui) reportNumber(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	pg, err := u.newPage(c, "reports", "rep.title")
	if err != nil {
		return err
	}
	var rep reports.NumberReport
	if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/numbers/%d/report", id), nil, &rep); err != nil {
		return err
	}
	layout := timeLayout("hour", pg.Lang)
	budget := make([]barPoint, 0, len(rep.Budget))
	for _, b := range rep.Budget {
		budget = append(budget, barPoint{Label: b.At.In(pg.loc).Format(layout), Values: []int64{b.Rolling24h}})
	}
	sent := make([]barPoint, 0, len(rep.Throughput.Hourly))
	for _, b := range rep.Throughput.Hourly {
		sent = append(sent, barPoint{Label: b.At.In(pg.loc).Format(layout), Values: []int64{b.Sent}})
	}
	pg.Data = map[string]any{"Report": &rep, "Budget": barChart(budget, []string{"budget"}, pg.Lang),
		"Sent": barChart(sent, []string{"sent"}, pg.Lang)}
	return u.render(c, http.StatusOK, "report_number", pg)
}
