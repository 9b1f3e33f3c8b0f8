package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/reports"
)

// exportsList shows the workspace's job exports with their progress and, once completed, a
// download link (GET /api/v1/exports). Running ones refresh live.
func (u *ui) exportsList(c echo.Context) error {
	pg, err := u.newPage(c, "reports", "exp.title")
	if err != nil {
		return err
	}
	var out struct {
		Data []reports.Export `json:"data"`
	}
	if err := u.callAPI(c, http.MethodGet, "/exports?limit=50", nil, &out); err != nil {
		return err
	}
	running := false
	for _, e := range out.Data {
		running = running || e.Status == "queued" || e.Status == "running"
	}
	pg.Data = map[string]any{"Exports": out.Data, "Running": running}
	return u.render(c, http.StatusOK, "exports", pg)
}
