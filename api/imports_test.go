package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/xuri/excelize/v2"

	"github.com/pregon/pregon/importers"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

// upload posts a file as multipart/form-data.
func (c caller) upload(name string, data []byte) response {
	c.env.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.env.http.URL+"/api/v1/imports", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.env.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Body: b, Header: res.Header}
}

// runImportJob works the queued import_contacts job as River would.
func (e *testEnv) runImportJob(t *testing.T, importID int64) {
	t.Helper()
	ctx := context.Background()
	jl, err := e.srv.river.JobList(ctx, river.NewJobListParams().Kinds("import_contacts").First(100))
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jl.Jobs {
		var args jobs.ImportContactsArgs
		if err := json.Unmarshal(j.EncodedArgs, &args); err != nil || args.ImportID != importID {
			continue
		}
		if j.Queue != jobs.QueueImports {
			t.Errorf("queue %s", j.Queue)
		}
		w := rivertest.NewWorker(t, riverpgxv5.New(e.db), &river.Config{}, jobs.NewImportContactsWorker(jobs.Deps{DB: e.db, Logger: e.srv.log}))
		tx, err := e.db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := w.WorkJob(ctx, t, tx, j); err != nil {
			t.Fatal(err)
		}
		return
	}
	var n int
	e.db.QueryRow(ctx, `SELECT count(*) FROM river_job`).Scan(&n)
	t.Fatalf("no import_contacts job for import %d (%d jobs listed, %d in river_job)", importID, len(jl.Jobs), n)
}

func TestImportsAPI(t *testing.T) {
	t.Parallel()

	t.Run("UploadPreviewConfirmRunReport", func(t *testing.T) {
		t.Parallel()
		env := newTestEnv(t)
		m := env.as(store.RoleMarketer)
		csvData := "Clientes\n\nNombre;Celular;Ciudad\nAna;300 123 4567;Cali\nLuis;601 2345678;Bogotá\nEva;+52 1 33 1234 5678;\n"
		var up uploadResponse
		m.upload("clientes.csv", []byte(csvData)).expect(t, http.StatusCreated).JSON(t, &up)
		if up.Import.Status != store.ImportUploaded || up.Preview.HeaderRow != 3 || up.Preview.Separator != ";" || len(up.Preview.Rows) != 3 ||
			up.Preview.Mapping.Phone() != 1 || len(up.Import.FileSHA256) != 64 {
			t.Fatalf("upload %+v", up)
		}
		path := fmt.Sprintf("/api/v1/imports/%d", up.Import.ID)
		env.requireIsolation(t, http.MethodGet, path, nil)
		env.requireIsolation(t, http.MethodGet, path+"/preview", nil)
		env.requireIsolation(t, http.MethodPost, path+"/confirm", map[string]any{})
		env.requireIsolation(t, http.MethodPost, path+"/cancel", nil)
		env.requireIsolation(t, http.MethodGet, path+"/errors", nil)
		env.requireRoles(t, http.MethodGet, path+"/preview", nil, store.RoleMarketer)

		var pv importers.Preview
		m.do(http.MethodGet, path+"/preview?header_row=-1", nil).expect(t, http.StatusOK).JSON(t, &pv)
		if pv.HeaderRow != 0 || len(pv.Rows) != 5 {
			t.Errorf("preview without header %+v", pv)
		}
		// A mapping without phone is refused with the importer's code.
		r := m.do(http.MethodPost, path+"/confirm", map[string]any{"map": "B=ignore"}).expect(t, http.StatusUnprocessableEntity)
		var e Error
		r.JSON(t, &e)
		if e.Code != importers.ErrCodeNoPhoneColumn {
			t.Errorf("error %+v", e)
		}
		m.do(http.MethodPost, path+"/confirm", map[string]any{"consent": map[string]any{"declared": true}}).expect(t, http.StatusUnprocessableEntity)

		var imp store.Import
		m.do(http.MethodPost, path+"/confirm", map[string]any{"mode": "add", "map": "ciudad=C:text",
			"consent": map[string]any{"declared": true, "source": "tienda", "text": "Acepto WhatsApp v1"}}).expect(t, http.StatusAccepted).JSON(t, &imp)
		if imp.Status != store.ImportQueued || imp.Mode != store.ImportModeAdd || imp.HeaderRow != 3 {
			t.Fatalf("confirmed %+v", imp)
		}
		m.do(http.MethodPost, path+"/confirm", map[string]any{}).expect(t, http.StatusConflict)

		env.runImportJob(t, imp.ID)
		env.as(store.RoleAnalyst).do(http.MethodGet, path, nil).expect(t, http.StatusOK).JSON(t, &imp)
		if imp.Status != store.ImportCompleted || imp.RowsRead != 3 || imp.Inserted != 2 || imp.Rejected != 1 || imp.FilePath != "" {
			t.Fatalf("after the job %+v", imp)
		}
		var list listOf[store.Contact]
		m.do(http.MethodGet, "/api/v1/contacts?marketable=true", nil).expect(t, http.StatusOK).JSON(t, &list)
		if len(list.Data) != 2 || list.Data[0].ConsentEvidence["file_sha256"] != up.Import.FileSHA256 {
			t.Errorf("contacts %+v", list.Data)
		}

		// Error report, CSV and XLSX.
		r = m.do(http.MethodGet, path+"/errors", nil).expect(t, http.StatusOK)
		cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(r.Body, []byte("\xEF\xBB\xBF"))))
		cr.FieldsPerRecord = -1 // the original row has the file's width
		recs, err := cr.ReadAll()
		if err != nil || len(recs) != 2 || strings.Join(recs[1], "|") != "5|Celular|601 2345678|número fijo (no es celular)|Luis|601 2345678|Bogotá" {
			t.Fatalf("csv report %q %v", recs, err)
		}
		if !strings.Contains(r.Header.Get("Content-Disposition"), "errores-clientes-") {
			t.Errorf("disposition %q", r.Header.Get("Content-Disposition"))
		}
		r = m.do(http.MethodGet, path+"/errors?format=xlsx", nil).expect(t, http.StatusOK)
		f, err := excelize.OpenReader(bytes.NewReader(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := f.GetRows("Sheet1")
		if len(rows) != 2 || rows[1][3] != "número fijo (no es celular)" || rows[1][4] != "Luis" {
			t.Errorf("xlsx report %q", rows)
		}

		var il listOf[store.Import]
		env.as(store.RoleAnalyst).do(http.MethodGet, "/api/v1/imports", nil).expect(t, http.StatusOK).JSON(t, &il)
		if len(il.Data) != 1 {
			t.Errorf("list %+v", il)
		}
		env.asB(store.RoleAnalyst).do(http.MethodGet, "/api/v1/imports", nil).expect(t, http.StatusOK).JSON(t, &il)
		if len(il.Data) != 0 {
			t.Errorf("imports leak across workspaces")
		}
	})

	t.Run("BadFilesAndLimits", func(t *testing.T) {
		t.Parallel()
		env := newTestEnv(t)
		m := env.as(store.RoleMarketer)
		for name, tc := range map[string]struct {
			file string
			data []byte
			code string
		}{
			"Empty":     {"vacio.csv", nil, importers.ErrCodeEmpty},
			"Corrupt":   {"roto.xlsx", append([]byte("PK\x03\x04"), bytes.Repeat([]byte{1}, 500)...), importers.ErrCodeCorrupt},
			"OldXLS":    {"viejo.xls", append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 600)...), importers.ErrCodeXLS},
			"OnlyBlank": {"blanco.csv", []byte("\n\n"), importers.ErrCodeNoRows},
		} {
			r := m.upload(tc.file, tc.data).expect(t, http.StatusUnprocessableEntity)
			var e Error
			r.JSON(t, &e)
			if e.Code != tc.code || e.Message == "" {
				t.Errorf("%s: %+v", name, e)
			}
		}
		env.as(store.RoleAnalyst).upload("x.csv", []byte("telefono\n3001234567\n")).expect(t, http.StatusForbidden)

		env.srv.cfg.UploadLimit = 1 << 20
		big := append([]byte("telefono\n"), bytes.Repeat([]byte("3001234567\n"), 200_000)...) // 2.2 MB
		r := m.upload("big.csv", big).expect(t, http.StatusRequestEntityTooLarge)
		if !strings.Contains(string(r.Body), "supera el límite de 1 MB") {
			t.Errorf("413 body %s", r.Body)
		}
		// Over the API's 2 MB JSON limit but under the upload limit: accepted.
		env.srv.cfg.UploadLimit = 8 << 20
		m.upload("big.csv", big).expect(t, http.StatusCreated)
	})

	t.Run("CancelUploadedDeletesTheFile", func(t *testing.T) {
		t.Parallel()
		env := newTestEnv(t)
		m := env.as(store.RoleMarketer)
		var up uploadResponse
		m.upload("x.csv", []byte("telefono\n3001234567\n")).expect(t, http.StatusCreated).JSON(t, &up)
		path := fmt.Sprintf("/api/v1/imports/%d", up.Import.ID)
		var imp store.Import
		m.do(http.MethodPost, path+"/cancel", nil).expect(t, http.StatusOK).JSON(t, &imp)
		if imp.Status != store.ImportCancelled {
			t.Fatalf("%+v", imp)
		}
		got, _ := store.ImportGetByID(context.Background(), env.db, env.wsA.ID, up.Import.ID)
		if got.FilePath != "" {
			t.Error("file path kept")
		}
		m.do(http.MethodPost, path+"/cancel", nil).expect(t, http.StatusConflict)
		m.do(http.MethodGet, path+"/preview", nil).expect(t, http.StatusConflict)
	})
}

// A mapping naming a column the file does not have is refused before anything runs, with the
// file's columns in the message.
func TestImportConfirmColumnOutOfRange(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	m := env.as(store.RoleMarketer)
	var up uploadResponse
	m.upload("tres.csv", []byte("Nombre,Celular,Ciudad\nAna,3001234567,Cali\nLuis,3007654321,Bogotá\n")).expect(t, http.StatusCreated).JSON(t, &up)
	path := fmt.Sprintf("/api/v1/imports/%d/confirm", up.Import.ID)
	for name, body := range map[string]map[string]any{
		"NegativeIndex": {"mapping": map[string]any{"columns": []map[string]any{{"index": -1, "kind": "phone"}}}},
		"IndexPastTheEnd": {"mapping": map[string]any{"columns": []map[string]any{
			{"index": 0, "kind": "name"}, {"index": 1, "kind": "phone"}, {"index": 3, "kind": "tags"}}}},
		"HugeIndex":        {"mapping": map[string]any{"columns": []map[string]any{{"index": 2_000_000, "kind": "phone"}}}},
		"MapLetterPastEnd": {"map": "phone=Z"},
		"MapIgnorePastEnd": {"map": "D=ignore"},
	} {
		t.Run(name, func(t *testing.T) {
			var e Error
			m.do(http.MethodPost, path, body).expect(t, http.StatusUnprocessableEntity).JSON(t, &e)
			if e.Code != importers.ErrCodeBadMapping || !strings.Contains(e.Message, "no existe") ||
				!strings.Contains(e.Message, "A (Nombre), B (Celular) y C (Ciudad)") {
				t.Errorf("error %+v", e)
			}
		})
	}
	var imp store.Import
	m.do(http.MethodGet, fmt.Sprintf("/api/v1/imports/%d", up.Import.ID), nil).expect(t, http.StatusOK).JSON(t, &imp)
	if imp.Status != store.ImportUploaded {
		t.Fatalf("refused confirmations changed the import: %+v", imp)
	}
	var n int
	if err := env.db.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'import_contacts'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d import jobs queued (%v)", n, err)
	}
	// The last column is fine.
	m.do(http.MethodPost, path, map[string]any{"map": "phone=B,ciudad=C:text"}).expect(t, http.StatusAccepted)
}
