package web

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/importers"
	"github.com/pregon/pregon/store"
)

// importKinds are the column kinds offered in the mapping table, in menu order.
var importKinds = []importers.Kind{importers.KindPhone, importers.KindName, importers.KindFirstName, importers.KindLastName,
	importers.KindEmail, importers.KindLanguage, importers.KindTags, importers.KindConsent, importers.KindConsentDate,
	importers.KindConsentSource, importers.KindAttribute, importers.KindIgnore}

var attrTypes = []importers.AttrType{importers.AttrText, importers.AttrNumber, importers.AttrDate, importers.AttrBool}

func (u *ui) importsList(c echo.Context) error {
	pg, err := u.newPage(c, "imports", "imp.title")
	if err != nil {
		return err
	}
	var d struct {
		Imports []store.Import
		More    string // the next page's address ("" on the last page)
	}
	if d.More, err = u.listPage(c, "/imports", 100, &d.Imports); err != nil {
		return err
	}
	pg.Data = d
	return u.render(c, http.StatusOK, "imports", pg)
}

func (u *ui) importNew(c echo.Context) error {
	pg, err := u.newPage(c, "imports", "imp.new")
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "import_new", pg)
}

// uploadLimit refuses an upload larger than the server's limit before anything reads it: the
// session check reads the CSRF token from the form, which would otherwise take in the whole
// multipart body (32 MB in memory, the rest in a temporary file). The body is capped at the
// limit plus 1 MB for the form's other fields and the multipart framing.
func (u *ui) uploadLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		limit := u.srv.UploadLimit()
		tooLarge := &api.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Message: fmt.Sprintf("el archivo supera el límite de %d MB; divídalo en archivos más pequeños o pida al administrador que suba el límite", limit>>20)}
		req := c.Request()
		if req.ContentLength > limit+1<<20 {
			c.Response().Header().Set(echo.HeaderConnection, "close")
			return tooLarge
		}
		req.Body = http.MaxBytesReader(c.Response().Writer, req.Body, limit+1<<20)
		// Read the form here, within the cap, so that going over it (a body without a length)
		// is answered as too large rather than as a missing CSRF token.
		if err := req.ParseMultipartForm(32 << 20); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				c.Response().Header().Set(echo.HeaderConnection, "close")
				return tooLarge
			}
		}
		return next(c)
	}
}

// importUpload forwards the uploaded file to POST /api/v1/imports (same checks, same storage).
func (u *ui) importUpload(c echo.Context) error {
	fh, err := c.FormFile("file")
	if err != nil {
		return u.importUploadFail(c, u.msg(c, "imp.no_file"))
	}
	f, err := fh.Open()
	if err != nil {
		return fmt.Errorf("opening the uploaded file: %w", err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", fh.Filename)
		if err == nil {
			_, err = io.Copy(part, f)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	var res struct {
		Import store.Import `json:"import"`
	}
	if err := u.callAPIRaw(c, http.MethodPost, "/imports", mw.FormDataContentType(), pr, &res); err != nil {
		pr.CloseWithError(err)
		if isNotFound(err) {
			return err
		}
		return u.importUploadFail(c, errMessage(err))
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/imports/%d", res.Import.ID))
}

func (u *ui) msg(c echo.Context, key string, args ...any) string {
	return translate(langOf(c), key, args...)
}

func (u *ui) importUploadFail(c echo.Context, msg string) error {
	pg, err := u.newPage(c, "imports", "imp.new")
	if err != nil {
		return err
	}
	pg.Errors["file"] = msg
	pg.FormError = pg.T("common.error_form")
	return u.render(c, http.StatusUnprocessableEntity, "import_new", pg)
}

type importData struct {
	Import  store.Import
	Preview *importers.Preview
	Kinds   []importers.Kind
	Types   []importers.AttrType
	Samples [][]string // per column, the first sample values
	Done    bool
	Pct     int
	// HasReport: the error report has lines (rejected rows, but also duplicates and other
	// problems of rows that were imported).
	HasReport bool
	Problems  []store.ImportError // the report's first lines, shown on the page
	More      bool                // the report has more lines than Problems (download it)
}

// importProblemsShown is how many lines of the error report the import's page lists.
const importProblemsShown = 50

// importShow is the import's page: the mapping step while uploaded, a live progress bar while
// queued or running, the result with the error report afterwards.
func (u *ui) importShow(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	return u.renderImport(c, id, http.StatusOK, nil)
}

func (u *ui) renderImport(c echo.Context, id int64, status int, pg *page) error {
	if pg == nil {
		var err error
		if pg, err = u.newPage(c, "imports", "imp.title"); err != nil {
			return err
		}
	}
	d := importData{Kinds: importKinds, Types: attrTypes}
	if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/imports/%d", id), nil, &d.Import); err != nil {
		return err
	}
	imp := d.Import
	switch imp.Status {
	case store.ImportStatus("uploaded"):
		if pg.Role.AtLeast(store.RoleMarketer) {
			q := url.Values{}
			for _, k := range []string{"sheet", "header_row"} {
				if v := c.QueryParam(k); v != "" {
					q.Set(k, v)
				} else if v := c.FormValue(k); v != "" && c.Request().Method == http.MethodPost {
					q.Set(k, v)
				}
			}
			var pv importers.Preview
			if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/imports/%d/preview?%s", id, q.Encode()), nil, &pv); err != nil {
				if isNotFound(err) {
					return err
				}
				pg.FormError = errMessage(err)
			} else {
				d.Preview = &pv
				d.Samples = make([][]string, len(pv.Mapping.Columns))
				for i, col := range pv.Mapping.Columns {
					for _, r := range pv.Rows {
						if col.Index < len(r.Cells) && len(d.Samples[i]) < 3 && strings.TrimSpace(r.Cells[col.Index]) != "" {
							d.Samples[i] = append(d.Samples[i], r.Cells[col.Index])
						}
					}
				}
			}
		}
	case store.ImportStatus("completed"), store.ImportStatus("failed"), store.ImportStatus("cancelled"):
		d.Done = true
		if !pg.Role.AtLeast(store.RoleMarketer) {
			break // the rows of the file, as the error report (GET /imports/{id}/errors), are for marketers and owners
		}
		lines, err := store.ImportErrorList(c.Request().Context(), u.db, imp.WorkspaceID, imp.ID, 0, importProblemsShown+1)
		if err != nil {
			return err
		}
		d.HasReport = len(lines) > 0
		d.Problems, d.More = lines[:min(len(lines), importProblemsShown)], len(lines) > importProblemsShown
	}
	if imp.RowsTotal > 0 {
		d.Pct = int(min(100, 100*imp.RowsRead/imp.RowsTotal))
	}
	if d.Done {
		d.Pct = 100
	}
	pg.Data = d
	return u.render(c, status, "import", pg)
}

// importConfirm sends the edited mapping, mode and consent declaration to
// POST /api/v1/imports/:id/confirm, which queues the import.
func (u *ui) importConfirm(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	var m importers.Mapping
	for i := 0; ; i++ {
		pre := fmt.Sprintf("col.%d.", i)
		idx := form.Get(pre + "index")
		if idx == "" {
			break
		}
		n, _ := strconv.Atoi(idx)
		m.Columns = append(m.Columns, importers.Column{Index: n, Letter: form.Get(pre + "letter"), Header: form.Get(pre + "header"),
			Kind: importers.Kind(form.Get(pre + "kind")), Key: strings.TrimSpace(form.Get(pre + "key")), Type: importers.AttrType(form.Get(pre + "type"))})
	}
	req := map[string]any{
		"sheet": form.Get("sheet"), "mapping": m, "mode": form.Get("mode"),
		"consent": importers.Declaration{Declared: form.Get("consent.declared") == "on",
			Source: strings.TrimSpace(form.Get("consent.source")), Text: strings.TrimSpace(form.Get("consent.text"))},
	}
	if hr := form.Get("header_row"); hr != "" {
		if n, err := strconv.Atoi(hr); err == nil {
			req["header_row"] = n
		}
	}
	if err := u.callAPI(c, http.MethodPost, fmt.Sprintf("/imports/%d/confirm", id), req, nil); err != nil {
		if isNotFound(err) {
			return err
		}
		pg, perr := u.newPage(c, "imports", "imp.title")
		if perr != nil {
			return perr
		}
		if probs, ok := problems(err); ok {
			pg.Errors = probs
		}
		pg.FormError = errMessage(err)
		pg.Form = form
		return u.renderImport(c, id, http.StatusUnprocessableEntity, pg)
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/imports/%d", id))
}

func (u *ui) importCancel(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := u.callAPI(c, http.MethodPost, fmt.Sprintf("/imports/%d/cancel", id), nil, nil); err != nil {
		if isNotFound(err) {
			return err
		}
		return u.redirectFlash(c, fmt.Sprintf("/imports/%d", id), "error", "camp.action_failed", errMessage(err))
	}
	if c.FormValue("discard") != "" { // an uploaded file discarded before its import: nothing to watch
		return u.redirectFlash(c, "/imports", "ok", "imp.discarded")
	}
	return u.redirectFlash(c, fmt.Sprintf("/imports/%d", id), "ok", "imp.cancelled")
}
