package api

import (
	"context"
	"fmt"
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

// getTemplateReport: GET /templates/:id/report?from=YYYY-MM&to=YYYY-MM (months of the
// workspace's time zone, to exclusive; default the last 12 months).
func (s *Server) getTemplateReport(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ws := principal(c).WorkspaceID
	from, to, err := s.parsePeriod(ctx, ws, c.QueryParam("from"), c.QueryParam("to"))
	if err != nil {
		return err
	}
	rep, err := reports.TemplateReportGet(ctx, s.db, ws, id, from, to, s.rateCard(ctx))
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

// parsePeriod reads a from/to pair of query or body values (each "", YYYY-MM, YYYY-MM-DD or
// RFC 3339). Months and days are the workspace's calendar, as the template report groups its
// months: "2026-03" starts at midnight of March 1 in the workspace's time zone, not in UTC. The
// workspace is read only when a value is given.
func (s *Server) parsePeriod(ctx context.Context, workspaceID int64, fromValue, toValue string) (from, to time.Time, err error) {
	loc := time.UTC
	if fromValue != "" || toValue != "" {
		if loc, err = s.workspaceLocation(ctx, workspaceID); err != nil {
			return from, to, fmt.Errorf("reading the workspace's time zone: %w", err)
		}
	}
	if from, err = parseMonthOrTime(fromValue, "from", loc); err != nil {
		return from, to, err
	}
	if to, err = parseMonthOrTime(toValue, "to", loc); err != nil {
		return from, to, err
	}
	return from, to, nil
}

// parseMonthOrTime accepts "", YYYY-MM, YYYY-MM-DD (midnight in loc) or RFC 3339 (UTC unless an
// offset is given), and returns the instant in UTC.
func parseMonthOrTime(v, name string, loc *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, Errorf(http.StatusBadRequest, "bad_request", "%s: fecha no válida %q (use AAAA-MM, AAAA-MM-DD o RFC 3339)", name, v)
}
