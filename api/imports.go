package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/xuri/excelize/v2"

	"github.com/pregon/pregon/importers"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

// UploadLimitDefault is the upload size limit when the configuration gives none.
const UploadLimitDefault = 100 << 20

// uploadResponse is an uploaded file: its imports row and what the confirm screen shows.
type uploadResponse struct {
	Import  store.Import      `json:"import"`
	Preview importers.Preview `json:"preview"`
}

// confirmRequest is what the user confirms: sheet, header row, column mapping (a full mapping or
// "phone=C,name=A" overrides of the guessed one), mode and the consent declared for the file.
type confirmRequest struct {
	Sheet     string                `json:"sheet"`
	HeaderRow *int                  `json:"header_row"` // n, -1 = none, absent = detected
	Encoding  string                `json:"encoding"`
	Separator string                `json:"separator"`
	Mapping   *importers.Mapping    `json:"mapping"`
	Map       string                `json:"map"`
	Mode      store.ImportMode      `json:"mode"` // add | update (default) | merge_tags
	Consent   importers.Declaration `json:"consent"`
}

// skipsBodyLimit exempts the upload route from the API's small body limit; postImport applies
// the configured upload limit itself.
func skipsBodyLimit(c echo.Context) bool {
	return c.Request().Method == http.MethodPost && c.Path() == "/api/v1/imports"
}

// UploadLimit is the largest contact file the server accepts, in bytes. The admin UI's upload
// form checks it too, before it reads the request.
func (s *Server) UploadLimit() int64 { return s.uploadLimit() }

func (s *Server) uploadLimit() int64 {
	if s.cfg.UploadLimit > 0 {
		return s.cfg.UploadLimit
	}
	return UploadLimitDefault
}

// fileError turns an importer's file error into a 422 with its code and Spanish message.
func fileError(err error) error {
	var fe *importers.FileError
	if errors.As(err, &fe) {
		return &Error{Status: http.StatusUnprocessableEntity, Code: fe.Code, Message: fe.Message}
	}
	return err
}

func (s *Server) postImport(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	limit := s.uploadLimit()
	tooLarge := Errorf(http.StatusRequestEntityTooLarge, "too_large", "el archivo supera el límite de %d MB", limit>>20)
	if c.Request().ContentLength > limit+1<<20 {
		return tooLarge
	}
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return Errorf(http.StatusBadRequest, "bad_request", "envíe el archivo como multipart/form-data en el campo «file»")
	}
	var part interface {
		io.Reader
		FileName() string
		FormName() string
	}
	for {
		pt, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Errorf(http.StatusBadRequest, "bad_request", "multipart inválido: %v", err)
		}
		if pt.FormName() == "file" {
			part = pt
			break
		}
	}
	if part == nil {
		return Errorf(http.StatusBadRequest, "bad_request", "falta el campo «file» con el archivo")
	}
	name := filepath.Base(part.FileName())
	if name == "." || name == "/" || name == "" {
		name = "contactos"
	}
	dir := filepath.Join(s.cfg.DataDir, "uploads", strconv.FormatInt(p.WorkspaceID, 10))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the upload folder: %w", err)
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	path := filepath.Join(dir, hex.EncodeToString(rnd[:])+strings.ToLower(filepath.Ext(name)))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("saving the upload: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			os.Remove(path)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(part, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("saving the upload: %w", err)
	}
	if n > limit {
		return tooLarge
	}

	ws, err := store.WorkspaceGetByID(ctx, s.db, p.WorkspaceID)
	if err != nil {
		return err
	}
	pv, err := importers.PreviewFile(ctx, path, importers.FormatFromName(name), importers.Options{Sheet: c.QueryParam("sheet")}, ws.DefaultCountry, 0)
	if err != nil {
		return fileError(err)
	}
	imp, err := store.ImportCreate(ctx, s.db, store.ImportCreateParams{WorkspaceID: p.WorkspaceID, CreatedBy: p.UserID,
		Filename: name, Format: string(pv.Format), FileSHA256: hex.EncodeToString(h.Sum(nil)), FileSize: n, FilePath: path})
	if err != nil {
		return err
	}
	keep = true
	return c.JSON(http.StatusCreated, uploadResponse{Import: imp, Preview: pv})
}

func (s *Server) importFor(c echo.Context) (store.Import, error) {
	id, err := pathID(c)
	if err != nil {
		return store.Import{}, err
	}
	return store.ImportGetByID(c.Request().Context(), s.db, principal(c).WorkspaceID, id)
}

func (s *Server) listImports(c echo.Context) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	is, err := store.ImportList(c.Request().Context(), s.db, principal(c).WorkspaceID, cursor, limit)
	if err != nil {
		return err
	}
	out := listOf[store.Import]{Data: is}
	if len(is) == limit {
		last := is[len(is)-1].ID
		out.NextCursor = &last
	}
	return c.JSON(http.StatusOK, out)
}

// getImport is the import with its progress (rows read/total, inserted, updated, rejected…).
func (s *Server) getImport(c echo.Context) error {
	imp, err := s.importFor(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, imp)
}

// preview reads the stored file again with the given options.
func (s *Server) preview(ctx context.Context, imp store.Import, sheet, encoding, separator string, headerRow int) (importers.Preview, error) {
	if imp.FilePath == "" || imp.Status != store.ImportUploaded {
		return importers.Preview{}, fmt.Errorf("%w: el archivo ya no está disponible: la importación está %s", store.ErrConflict, imp.Status.Text())
	}
	ws, err := store.WorkspaceGetByID(ctx, s.db, imp.WorkspaceID)
	if err != nil {
		return importers.Preview{}, err
	}
	pv, err := importers.PreviewFile(ctx, imp.FilePath, importers.Format(imp.Format),
		importers.Options{Sheet: sheet, Encoding: encoding, Separator: separator}, ws.DefaultCountry, headerRow)
	return pv, fileError(err)
}

func (s *Server) getImportPreview(c echo.Context) error {
	imp, err := s.importFor(c)
	if err != nil {
		return err
	}
	hr := 0
	if v := c.QueryParam("header_row"); v != "" {
		if hr, err = strconv.Atoi(v); err != nil || hr < -1 {
			return store.Invalid("header_row", "número de fila, o -1 si no hay encabezados")
		}
	}
	pv, err := s.preview(c.Request().Context(), imp, c.QueryParam("sheet"), c.QueryParam("encoding"), c.QueryParam("separator"), hr)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pv)
}

// postImportConfirm checks the mapping against the file and queues the job in the same
// transaction as the status change.
func (s *Server) postImportConfirm(c echo.Context) error {
	ctx := c.Request().Context()
	imp, err := s.importFor(c)
	if err != nil {
		return err
	}
	var req confirmRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Mode == "" {
		req.Mode = store.ImportModeUpdate
	}
	if !req.Mode.Valid() {
		return store.Invalid("mode", "modo desconocido: add, update o merge_tags")
	}
	if req.Consent.Declared && strings.TrimSpace(req.Consent.Source) == "" && strings.TrimSpace(req.Consent.Text) == "" {
		return store.Invalid("consent.source", "indique dónde y cómo se obtuvo el consentimiento de estos contactos")
	}
	if err := importers.CheckDeclaration(req.Consent, time.Now()); err != nil {
		var fe *importers.FileError
		errors.As(err, &fe)
		return store.Invalid("consent.at", fe.Message)
	}
	hr := 0
	if req.HeaderRow != nil {
		hr = *req.HeaderRow
	}
	pv, err := s.preview(ctx, imp, req.Sheet, req.Encoding, req.Separator, hr)
	if err != nil {
		return err
	}
	// Every column the client names must be one of the file's: an index out of range would
	// panic here, or make the job reject every row, or allocate for millions of columns.
	width := pv.Width()
	if req.Mapping != nil {
		for _, col := range req.Mapping.Columns {
			if col.Index < 0 || col.Index >= width {
				return mappingRangeError("con índice "+strconv.Itoa(col.Index), width, pv.Headers)
			}
		}
	}
	for _, col := range importers.SpecColumns(req.Map) {
		if col.Index >= width {
			return mappingRangeError(col.Letter, width, pv.Headers)
		}
	}
	m := pv.Mapping
	if req.Mapping != nil {
		m = *req.Mapping
		importers.FillLetters(&m, pv.Headers)
	}
	if req.Map != "" {
		if m, err = importers.ParseMapSpec(req.Map, m); err != nil {
			return fileError(err)
		}
	}
	if err := m.Validate(); err != nil {
		return fileError(err)
	}
	if !pv.HasData() {
		return &Error{Status: http.StatusUnprocessableEntity, Code: importers.ErrCodeNoRows,
			Message: "el archivo solo tiene encabezados: no hay contactos que importar"}
	}
	importers.CleanMapping(&m) // a header cell may hold a NUL (Excel's _x0000_), which jsonb refuses
	header := pv.HeaderRow
	if header == 0 {
		header = -1 // confirmed: the file has no header row
	}
	mapping, _ := json.Marshal(m)
	consent, _ := json.Marshal(req.Consent)
	p := principal(c)
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		imp, err = store.ImportConfirm(ctx, tx, p.WorkspaceID, imp.ID, store.ImportConfirmParams{Sheet: pv.Sheet, HeaderRow: header,
			Encoding: pv.Encoding, Separator: pv.Separator, Mapping: mapping, Mode: req.Mode, Consent: consent})
		if err != nil {
			return err
		}
		_, err = s.river.InsertTx(ctx, tx, jobs.ImportContactsArgs{WorkspaceID: p.WorkspaceID, ImportID: imp.ID}, nil)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, imp)
}

// mappingRangeError is the 422 for a mapping naming a column the file does not have.
func mappingRangeError(col string, width int, headers []string) error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: importers.ErrCodeBadMapping,
		Message: fmt.Sprintf("la columna %s no existe en el archivo; %s", col, validColumns(width, headers))}
}

// validColumns names a file's columns for an error message: "las columnas válidas son A
// (Nombre), B (Celular) y C", or only the range for a wide file.
func validColumns(width int, headers []string) string {
	switch {
	case width == 0:
		return "el archivo no tiene columnas"
	case width == 1:
		return "la única columna es A" + headerNote(0, headers)
	case width > 12:
		return fmt.Sprintf("las columnas válidas van de A a %s (%d columnas)", importers.ColumnLetter(width-1), width)
	}
	names := make([]string, width)
	for i := range names {
		names[i] = importers.ColumnLetter(i) + headerNote(i, headers)
	}
	return "las columnas válidas son " + strings.Join(names[:width-1], ", ") + " y " + names[width-1]
}

func headerNote(i int, headers []string) string {
	if i < len(headers) && strings.TrimSpace(headers[i]) != "" {
		return " (" + strings.TrimSpace(headers[i]) + ")"
	}
	return ""
}

func (s *Server) postImportCancel(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := principal(c)
	before, err := store.ImportGetByID(ctx, s.db, p.WorkspaceID, id)
	if err != nil {
		return err
	}
	imp, err := store.ImportCancel(ctx, s.db, p.WorkspaceID, id)
	if err != nil {
		return err
	}
	if before.Status == store.ImportUploaded && before.FilePath != "" { // no job will run to delete it
		os.Remove(before.FilePath)
		if err := store.ImportClearFile(ctx, s.db, p.WorkspaceID, id); err != nil {
			return err
		}
		imp.FilePath = ""
	}
	return c.JSON(http.StatusOK, imp)
}

var errorReportHeader = []string{"fila", "columna", "valor", "motivo"}

// getImportErrors downloads the error report (?format=csv, the default, or xlsx): one line per
// problem with the row, the column, the value, the reason and then the original row.
func (s *Server) getImportErrors(c echo.Context) error {
	imp, err := s.importFor(c)
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "xlsx" {
		return store.Invalid("format", "csv o xlsx")
	}
	ctx := c.Request().Context()
	base := strings.TrimSuffix(imp.Filename, filepath.Ext(imp.Filename))
	res := c.Response()
	res.Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename=%q`, fmt.Sprintf("errores-%s-%d.%s", base, imp.ID, format)))
	// Pages of errors in row order.
	each := func(fn func(e store.ImportError) error) error {
		after := 0
		for {
			page, err := store.ImportErrorList(ctx, s.db, imp.WorkspaceID, imp.ID, after, 5000)
			if err != nil {
				return err
			}
			last := len(page)
			if len(page) == 5000 { // the last row's errors may go on in the next page: read it again there
				for last > 0 && page[last-1].Row == page[len(page)-1].Row {
					last--
				}
				if last == 0 {
					last = len(page)
				}
			}
			for _, e := range page[:last] {
				if err := fn(e); err != nil {
					return err
				}
			}
			if len(page) < 5000 {
				return nil
			}
			after = page[last-1].Row
		}
	}
	if format == "csv" {
		res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		res.WriteHeader(http.StatusOK)
		res.Write([]byte("\xEF\xBB\xBF")) // BOM: Excel then shows the accents
		w := csv.NewWriter(res)
		w.Write(append(errorReportHeader, "fila original…"))
		// The values come from the file: one starting with = + - @ would run as a formula in
		// the spreadsheet the report is opened in.
		g := reports.GuardFormula
		err := each(func(e store.ImportError) error {
			line := make([]string, 0, 4+len(e.Raw))
			line = append(line, strconv.Itoa(e.Row), g(e.Column), g(e.Value), g(e.Reason))
			for _, v := range e.Raw {
				line = append(line, g(v))
			}
			return w.Write(line)
		})
		w.Flush()
		if err == nil {
			err = w.Error()
		}
		return err
	}
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		return err
	}
	sw.SetColWidth(4, 4, 40)
	head := []any{"fila", "columna", "valor", "motivo", "fila original…"}
	if err := sw.SetRow("A1", head); err != nil {
		return err
	}
	r := 2
	err = each(func(e store.ImportError) error {
		cells := []any{e.Row, e.Column, e.Value, e.Reason}
		for _, v := range e.Raw {
			cells = append(cells, v)
		}
		cell, _ := excelize.CoordinatesToCellName(1, r)
		r++
		return sw.SetRow(cell, cells)
	})
	if err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	res.Header().Set(echo.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	res.WriteHeader(http.StatusOK)
	return f.Write(res)
}
