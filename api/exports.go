package api

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

// Exports: recipients of a campaign or of a template's campaigns, and contacts with consent
// evidence, as CSV or XLSX. Small exports stream directly; large ones (more than
// reports.DirectRowLimit rows, or ?async=true) are recorded and run as a River job, and the
// answer is 202 with the export to poll and, once completed, its download link. Both paths run
// reports.Write, so they give the same bytes for the same as_of.

// exportRequest is the body of POST /exports (always a job).
type exportRequest struct {
	Kind       string   `json:"kind"` // campaign | template | contacts
	CampaignID int64    `json:"campaign_id,omitempty"`
	TemplateID int64    `json:"template_id,omitempty"`
	From       string   `json:"from,omitempty"` // template: campaigns launched from (YYYY-MM-DD in the workspace's time zone, or RFC 3339)
	To         string   `json:"to,omitempty"`   // … until (exclusive)
	Format     string   `json:"format"`         // csv | xlsx
	AsOf       string   `json:"as_of,omitempty"`
	Attributes []string `json:"attributes,omitempty"`
}

// specFromQuery reads ?format=&as_of=&attributes=a,b&from=&to= into a spec (from and to as
// months or days of the workspace's time zone, or RFC 3339).
func (s *Server) specFromQuery(c echo.Context, kind reports.Kind) (reports.ExportSpec, error) {
	spec := reports.ExportSpec{WorkspaceID: principal(c).WorkspaceID, Kind: kind, Format: reports.Format(strings.ToLower(c.QueryParam("format")))}
	if spec.Format == "" {
		spec.Format = reports.CSV
	}
	var err error
	if spec.AsOf, err = parseAsOf(c.QueryParam("as_of")); err != nil {
		return spec, err
	}
	if v := c.QueryParam("attributes"); v != "" {
		for _, a := range strings.Split(v, ",") {
			spec.Attributes = append(spec.Attributes, strings.TrimSpace(a))
		}
	}
	spec.From, spec.To, err = s.parsePeriod(c.Request().Context(), spec.WorkspaceID, c.QueryParam("from"), c.QueryParam("to"))
	return spec, err
}

func parseAsOf(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, Errorf(http.StatusBadRequest, "bad_request", "as_of: fecha no válida %q (use RFC 3339, p. ej. 2026-03-02T15:30:00Z)", v)
	}
	return t, nil
}

// getCampaignExport: GET /exports/campaigns/:id?format=csv|xlsx&as_of=&attributes=&async=
func (s *Server) getCampaignExport(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	spec, err := s.specFromQuery(c, reports.KindCampaign)
	if err != nil {
		return err
	}
	spec.CampaignID = id
	return s.export(c, spec)
}

// getTemplateExport: GET /exports/templates/:id?from=&to=&format=&as_of=&attributes=
func (s *Server) getTemplateExport(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	spec, err := s.specFromQuery(c, reports.KindTemplate)
	if err != nil {
		return err
	}
	spec.TemplateID = id
	return s.export(c, spec)
}

// getContactsExport: GET /exports/contacts?format=&as_of=&attributes= (marketers and owners).
func (s *Server) getContactsExport(c echo.Context) error {
	spec, err := s.specFromQuery(c, reports.KindContacts)
	if err != nil {
		return err
	}
	return s.export(c, spec)
}

// export streams spec directly, or records it as a job when it is large or ?async=true.
func (s *Server) export(c echo.Context, spec reports.ExportSpec) error {
	ctx := c.Request().Context()
	if err := spec.Validate(); err != nil {
		return err
	}
	if err := reports.CheckSubject(ctx, s.db, spec); err != nil {
		return err
	}
	n, err := reports.Count(ctx, s.db, spec)
	if err != nil {
		return err
	}
	if err := spec.CheckSize(n); err != nil {
		return err
	}
	async, _ := strconv.ParseBool(c.QueryParam("async"))
	if async || n > reports.DirectRowLimit {
		// Starting a job is a change, and a GET carries the session cookie on a link from
		// another site (SameSite=Lax): a browser's cross-site request may not start one.
		if principal(c).session != "" && crossSite(c.Request()) {
			return Errorf(http.StatusForbidden, "cross_site",
				"esta exportación se genera en segundo plano y debe pedirse desde Pregón: abra la campaña o la plantilla y use su botón de exportar")
		}
		return s.startExport(c, spec, n)
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, spec.Format.ContentType())
	res.Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename=%q`, spec.FileName()))
	res.Header().Set("X-Export-As-Of", spec.AsOf.Format(time.RFC3339))
	res.Header().Set("X-Export-Rows", strconv.FormatInt(n, 10))
	res.WriteHeader(http.StatusOK)
	if _, err := reports.Write(ctx, s.db, spec, res, nil); err != nil {
		// The status is sent: abort the connection so the client sees a broken download, not a
		// complete-looking truncated file.
		s.log.ErrorContext(ctx, "export failed mid-stream", "kind", string(spec.Kind), "error", err.Error())
		panic(http.ErrAbortHandler)
	}
	return nil
}

// crossSite reports whether a browser says the request comes from another site (Fetch
// metadata). "none" is the person typing the address or opening a bookmark; clients that are
// not browsers send no such header.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return false
	}
	return true
}

func (s *Server) startExport(c echo.Context, spec reports.ExportSpec, rows int64) error {
	ctx := c.Request().Context()
	p := principal(c)
	var by *int64
	if p.UserID != 0 {
		by = &p.UserID
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	e, err := reports.ExportCreate(ctx, tx, spec, by, rows)
	if err != nil {
		return err
	}
	if _, err := s.river.InsertTx(ctx, tx, jobs.ExportArgs{ExportID: e.ID}, nil); err != nil {
		return fmt.Errorf("queueing export %d: %w", e.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	// A browser following a download link (the admin UI's) is sent to the exports page, which
	// shows the job's progress and then its download link; API clients get 202 and the export.
	if acceptsHTML(c) {
		return c.Redirect(http.StatusSeeOther, "/exports")
	}
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/api/v1/exports/%d", e.ID))
	return c.JSON(http.StatusAccepted, e)
}

// postExport: POST /exports — record an export and run it as a job.
func (s *Server) postExport(c echo.Context) error {
	var req exportRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	p := principal(c)
	spec := reports.ExportSpec{WorkspaceID: p.WorkspaceID, Kind: reports.Kind(req.Kind), Format: reports.Format(strings.ToLower(req.Format)),
		CampaignID: req.CampaignID, TemplateID: req.TemplateID, Attributes: req.Attributes}
	var err error
	if spec.AsOf, err = parseAsOf(req.AsOf); err != nil {
		return err
	}
	if spec.From, spec.To, err = s.parsePeriod(c.Request().Context(), p.WorkspaceID, req.From, req.To); err != nil {
		return err
	}
	if spec.Kind == reports.KindContacts && !p.Role.AtLeast(store.RoleMarketer) {
		return errForbidden
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	if err := reports.CheckSubject(c.Request().Context(), s.db, spec); err != nil {
		return err
	}
	n, err := reports.Count(c.Request().Context(), s.db, spec)
	if err != nil {
		return err
	}
	if err := spec.CheckSize(n); err != nil {
		return err
	}
	return s.startExport(c, spec, n)
}

// mayDownload reports whether role may download e's file. A contacts export carries personal
// data and consent evidence, so, as for GET /exports/contacts and POST /exports, only marketers
// and owners may have it; the other kinds are open to analysts.
func mayDownload(role store.Role, e reports.Export) bool {
	return e.Spec.Kind != reports.KindContacts || role.AtLeast(store.RoleMarketer)
}

// withLink sets e's download link when its file is ready and role may download it.
func withLink(role store.Role, e reports.Export) reports.Export {
	if e.Status == reports.ExportCompleted && !e.Expired && mayDownload(role, e) {
		e.DownloadURL = fmt.Sprintf("/api/v1/exports/%d/download", e.ID)
	}
	return e
}

// listExports: GET /exports?limit=&cursor=
func (s *Server) listExports(c echo.Context) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	p := principal(c)
	list, err := reports.ExportList(c.Request().Context(), s.db, p.WorkspaceID, limit, cursor)
	if err != nil {
		return err
	}
	out := listOf[reports.Export]{Data: make([]reports.Export, len(list))}
	for i, e := range list {
		out.Data[i] = withLink(p.Role, e)
	}
	if len(list) == limit {
		next := list[len(list)-1].ID
		out.NextCursor = &next
	}
	return c.JSON(http.StatusOK, out)
}

// getExport: GET /exports/:id — status and progress.
func (s *Server) getExport(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p := principal(c)
	e, err := reports.ExportGetByID(c.Request().Context(), s.db, p.WorkspaceID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, withLink(p.Role, e))
}

// downloadExport: GET /exports/:id/download — the file of a completed export of the caller's
// workspace (another workspace's export is a 404; a contacts export needs a marketer or owner).
func (s *Server) downloadExport(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p := principal(c)
	e, err := reports.ExportGetByID(c.Request().Context(), s.db, p.WorkspaceID, id)
	if err != nil {
		return err
	}
	if !mayDownload(p.Role, e) {
		return errForbidden
	}
	if e.Status != reports.ExportCompleted {
		state := map[string]string{reports.ExportQueued: "en cola", reports.ExportRunning: "en curso", reports.ExportFailed: "falló"}[e.Status]
		if state == "" {
			state = e.Status
		}
		return Errorf(http.StatusConflict, "not_ready", "la exportación aún no está lista (%s, %.0f %%)", state, e.Progress*100)
	}
	if e.Expired {
		return Errorf(http.StatusGone, "expired", "el archivo de la exportación se borró al cumplir %d días; vuelva a generarla", int(reports.ExportRetention.Hours()/24))
	}
	f, err := os.Open(e.FilePath())
	if errors.Is(err, os.ErrNotExist) {
		return Errorf(http.StatusGone, "gone", "el archivo de la exportación ya no existe; vuelva a generarla")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename=%q`, e.FileName))
	c.Response().Header().Set("X-Export-As-Of", e.Spec.AsOf.Format(time.RFC3339))
	c.Response().Header().Set("X-Export-SHA256", e.FileSHA256)
	http.ServeContent(c.Response(), c.Request(), e.FileName, e.FinishedAtOrZero(), f)
	return nil
}

// acceptsHTML reports whether the request is a browser navigation (Accept lists text/html).
func acceptsHTML(c echo.Context) bool {
	return strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/html")
}
