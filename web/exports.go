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
	return u.render(c, http.StatusOK, "exports", pg)
}
