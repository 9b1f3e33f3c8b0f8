package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

// exportsList shows the workspace's job exports with their progress and, once completed, a
// download link (GET /api/v1/exports). Running ones refresh live. Marketers and owners can
// start a contacts export here.
func (u *ui) exportsList(c echo.Context) error {
	pg, err := u.newPage(c, "reports", "exp.title")
	if err != nil {
		return err
	}
	return u.renderExports(c, pg, http.StatusOK)
}

func (u *ui) renderExports(c echo.Context, pg *page, status int) error {
	var list []reports.Export
	more, err := u.listPage(c, "/exports", 50, &list)
	if err != nil {
		return err
	}
	running := false
	for _, e := range list {
		running = running || e.Status == "queued" || e.Status == "running"
	}
	pg.Data = map[string]any{"Exports": list, "Running": running, "More": more}
	return u.render(c, status, "exports", pg)
}

// exportContacts starts a contacts export as a job (POST /api/v1/exports, kind contacts) in
// CSV or XLSX, with the attributes typed as extra columns, and shows it in the list.
func (u *ui) exportContacts(c echo.Context) error {
	body := map[string]any{"kind": "contacts", "format": c.FormValue("format")}
	if attrs := splitTags(c.FormValue("attributes")); len(attrs) > 0 {
		body["attributes"] = attrs
	}
	var e reports.Export
	err := u.callAPI(c, http.MethodPost, "/exports", body, &e)
	if err == nil {
		return u.redirectFlash(c, "/exports", "ok", "exp.started")
	}
	probs, ok := formProblems(err)
	if !ok {
		return err
	}
	pg, perr := u.newPage(c, "reports", "exp.title")
	if perr != nil {
		return perr
	}
	pg.Errors, pg.FormError = probs, pg.T("exp.start_failed", errMessage(err))
	pg.Form, _ = c.FormParams()
	return u.renderExports(c, pg, formStatus(err))
}

// exportTemplate downloads a template's recipients over the period picked on its report: from
// and to are days in the workspace's time zone, to included (the API's to is exclusive, so the
// day after is asked for). It leads to the API's export, which streams the file.
func (u *ui) exportTemplate(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	// another workspace's template: this page's 404, not the API's JSON after the redirect
	if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/templates/%d", id), nil, nil); err != nil {
		return err
	}
	lang := langOf(c)
	day := func(name string) (time.Time, error) {
		v := strings.TrimSpace(c.QueryParam(name))
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return t, store.Invalid(name, translate(lang, "exp.bad_day", v))
		}
		return t, nil
	}
	from, err := day("from")
	if err != nil {
		return err
	}
	to, err := day("to")
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return u.redirectFlash(c, fmt.Sprintf("/reports/templates/%d", id), "error", "exp.period_reversed")
	}
	format := "csv"
	if c.QueryParam("format") == "xlsx" {
		format = "xlsx"
	}
	q := "format=" + format
	if !from.IsZero() {
		q += "&from=" + from.Format(time.DateOnly)
	}
	if !to.IsZero() {
		q += "&to=" + to.AddDate(0, 0, 1).Format(time.DateOnly)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/api/v1/exports/templates/%d?%s", id, q))
}
