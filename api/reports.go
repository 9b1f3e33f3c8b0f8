package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/reports"
)

// Reports: campaign, template and sender-number metrics (analysts may read them all).

// rateCard loads the operator's rate card, if any. A broken file is logged and gives no cost
// estimate: reports never show invented prices.
func (s *Server) rateCard(ctx context.Context) *reports.RateCard {
	rc, err := reports.LoadRateCard(s.cfg.RateCardFile)
	if err != nil {
		s.log.WarnContext(ctx, "rate card unusable; reports show counts only", "error", err.Error())
		return nil
	}
	return rc
}

// getCampaignReport: GET /campaigns/:id/report?bucket=minute|hour|day&fresh=true
func (s *Server) getCampaignReport(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ws := principal(c).WorkspaceID
	fresh, _ := strconv.ParseBool(c.QueryParam("fresh"))
	rep, err := reports.CampaignReportGet(ctx, s.db, ws, id, reports.CampaignReportOptions{
		Bucket:   c.QueryParam("bucket"),
		Fresh:    fresh,
		RateCard: s.rateCard(ctx),
		Now:      s.now,
		Refresh: func() {
			go func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
				defer cancel()
				if _, err := reports.CampaignReportRefresh(ctx, s.db, ws, id); err != nil {
					s.log.ErrorContext(ctx, "refreshing campaign report", "campaign_id", id, "error", err.Error())
				}
			}()
		},
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// getTemplateReport: GET /templates/:id/report?from=YYYY-MM&to=YYYY-MM (months, to exclusive;
// default the last 12 months).
func (s *Server) getTemplateReport(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	from, err := parseMonthOrTime(c.QueryParam("from"), "from")
	if err != nil {
		return err
	}
	to, err := parseMonthOrTime(c.QueryParam("to"), "to")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rep, err := reports.TemplateReportGet(ctx, s.db, principal(c).WorkspaceID, id, from, to, s.rateCard(ctx))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// getNumberReport: GET /numbers/:id/report?days=7
func (s *Server) getNumberReport(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	days := 0
	if v := c.QueryParam("days"); v != "" {
		if days, err = strconv.Atoi(v); err != nil {
			return Errorf(http.StatusBadRequest, "bad_request", "days debe ser un número de días (1–31)")
		}
	}
	rep, err := reports.NumberReportGet(c.Request().Context(), s.db, principal(c).WorkspaceID, id, days, s.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// parseMonthOrTime accepts "", YYYY-MM, YYYY-MM-DD or RFC 3339 (UTC unless an offset is given).
func parseMonthOrTime(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02", "2006-01"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, Errorf(http.StatusBadRequest, "bad_request", "%s: fecha no válida %q (use AAAA-MM, AAAA-MM-DD o RFC 3339)", name, v)
}
