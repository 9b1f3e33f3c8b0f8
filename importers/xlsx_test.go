package importers

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// writeBigXLSX writes a header and n rows with excelize's stream writer.
func writeBigXLSX(t testing.TB, header []any, n int, row func(i int) []any) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.SetRow("A1", header); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, row(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeZip writes a zip of the given parts.
func writeZip(t testing.TB, name string, parts map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for n, body := range parts {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, name, buf.Bytes())
}

// damagePart XORs n bytes in the middle of a zip part's compressed data.
func damagePart(t testing.TB, path, part string, n int) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	var off, size int64 = -1, 0
	for _, f := range zr.File {
		if f.Name == part {
			if off, err = f.DataOffset(); err != nil {
				t.Fatal(err)
			}
			size = int64(f.CompressedSize64)
		}
	}
	zr.Close()
	if off < 0 || size < int64(4*n) {
		t.Fatalf("part %s: offset %d, %d bytes", part, off, size)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := off + size/2; i < off+size/2+int64(n); i++ {
		data[i] ^= 0x5A
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// phoneRows is a sheet of a phone column: 3000000000, 3000000001…
func phoneRow(i int) []any { return []any{fmt.Sprintf("30%08d", i), fmt.Sprintf("Cliente %d", i)} }

func TestXLSXDamaged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("DamagedSheetDataIsACorruptFileNotAHalfImport", func(t *testing.T) {
		t.Parallel()
		path := writeBigXLSX(t, []any{"Celular", "Nombre"}, 20_000, phoneRow)
		damagePart(t, path, "xl/worksheets/sheet1.xml", 64)

		_, err := PreviewFile(ctx, path, FormatXLSX, Options{}, "CO", 0)
		requireFileError(t, err, ErrCodeCorrupt, "dañado")

		b := setupRun(t)
		_, err = Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path}, nil)
		requireFileError(t, err, ErrCodeCorrupt, "dañado")
		if n := b.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, b.ws.ID); n != 0 {
			t.Errorf("%d contacts imported from a damaged file", n)
		}
	})

	t.Run("DamagedSharedStrings", func(t *testing.T) {
		t.Parallel()
		path := writeXLSX(t, func() [][]any {
			rows := [][]any{{"Celular", "Nombre"}}
			for i := range 3000 {
				rows = append(rows, phoneRow(i))
			}
			return rows
		}(), nil)
		damagePart(t, path, "xl/sharedStrings.xml", 64)
		_, err := Open(path, FormatXLSX, Options{})
		requireFileError(t, err, ErrCodeCorrupt, "dañado")
	})

	t.Run("XMLErrorMidSheetFailsTheImport", func(t *testing.T) {
		t.Parallel()
		var sd strings.Builder
		sd.WriteString(`<row r="1"><c r="A1" t="inlineStr"><is><t>Celular</t></is></c><c r="B1" t="inlineStr"><is><t>Nombre</t></is></c></row>`)
		for r := 2; r <= 20_001; r++ {
			name := fmt.Sprintf("Cliente %d", r)
			if r == 1500 {
				name = "Ana\x0bPeña" // a raw control character: not XML
			}
			fmt.Fprintf(&sd, `<row r="%d"><c r="A%d" t="inlineStr"><is><t>30%08d</t></is></c><c r="B%d" t="inlineStr"><is><t>%s</t></is></c></row>`, r, r, r, r, name)
		}
		path := writeRawXLSX(t, sd.String())

		src, err := Open(path, FormatXLSX, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var last Row
		var got error
		for r, err := range src.Rows(ctx) {
			if err != nil {
				got = err
				break
			}
			last = r
		}
		src.Close()
		requireFileError(t, got, ErrCodeCorrupt, "después de la fila 1500")
		if last.Num != 1500 {
			t.Errorf("last row read %d", last.Num)
		}

		b := setupRun(t)
		_, err = Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path}, nil)
		requireFileError(t, err, ErrCodeCorrupt, "dañado")
		if n := b.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, b.ws.ID); n != 0 {
			t.Errorf("%d contacts imported from a damaged sheet", n)
		}
	})

	t.Run("SparseRowsAreNotDamage", func(t *testing.T) {
		t.Parallel()
		path := writeRawXLSX(t, `<row r="1"><c r="A1" t="inlineStr"><is><t>Celular</t></is></c></row>`+
			`<row r="5"><c r="A5" t="inlineStr"><is><t>3001234567</t></is></c></row>`+
			`<row r="900" spans="1:2"/>`)
		_, rows := readAll(t, path, Options{})
		if len(rows) != 2 || rows[1].Num != 5 {
			t.Fatalf("rows %+v", rows)
		}
	})
}

func TestXLSXDate1904(t *testing.T) {
	t.Parallel()
	yes := true
	path := writeXLSX(t, [][]any{{"Celular", "Fecha de consentimiento"}, {"3001234567", 43904}}, func(f *excelize.File) {
		if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}); err != nil {
			t.Fatal(err)
		}
	})
	if info, _ := readAll(t, path, Options{}); !info.Date1904 {
		t.Error("1904 date system not detected")
	}
	p, err := PreviewFile(context.Background(), path, FormatXLSX, Options{}, "CO", 0)
	if err != nil || !p.Date1904 {
		t.Errorf("preview: Date1904 %v, %v", p.Date1904, err)
	}
	if info, _ := readAll(t, writeXLSX(t, [][]any{{"Celular"}, {"3001234567"}}, nil), Options{}); info.Date1904 {
		t.Error("1900 date system read as 1904")
	}
}

func TestXLSXNotAWorkbook(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		parts map[string]string
		want  string
	}{
		{"ODS", map[string]string{"mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": "<office:document-content/>",
			"META-INF/manifest.xml": "<manifest/>"}, "(.ods)"},
		{"Numbers", map[string]string{"Index/Document.iwa": "\x00\x01", "Metadata/Properties.plist": "<plist/>"}, "Numbers"},
		{"PlainZip", map[string]string{"clientes.csv": "telefono\n3001234567\n"}, "no un libro de Excel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Open(writeZip(t, "lista.xlsx", tt.parts), "", Options{})
			requireFileError(t, err, ErrCodeUnsupported, "formato no soportado")
			requireFileError(t, err, ErrCodeUnsupported, tt.want)
			if fe := err.(*FileError); !strings.Contains(fe.Message, "guárdelo como .xlsx o CSV") {
				t.Errorf("message %q", fe.Message)
			}
		})
	}
}

func TestXLSXEmptyFirstSheet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := writeXLSX(t, nil, func(f *excelize.File) {
		f.NewSheet("Borrador")
		f.SetCellValue("Borrador", "A1", "Celular")
		f.SetCellValue("Borrador", "A2", "3001111111")
		f.SetSheetVisible("Borrador", false)
		f.NewSheet("Contactos")
		f.SetSheetRow("Contactos", "A1", &[]any{"Celular", "Nombre"})
		f.SetSheetRow("Contactos", "A2", &[]any{"3001234567", "Ana"})
	})
	p, err := PreviewFile(ctx, path, FormatXLSX, Options{}, "CO", 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Sheet != "Contactos" || len(p.Rows) != 1 || p.Rows[0].Cells[0] != "3001234567" {
		t.Fatalf("sheet %q rows %+v", p.Sheet, p.Rows)
	}
	if !strings.Contains(strings.Join(p.Notes, " "), `la hoja "Sheet1" está vacía; se leyó la hoja "Contactos"`) {
		t.Errorf("notes %q", p.Notes)
	}
	// A sheet chosen explicitly is read, empty or not.
	_, err = PreviewFile(ctx, path, FormatXLSX, Options{Sheet: "Sheet1"}, "CO", 0)
	requireFileError(t, err, ErrCodeNoRows, "no tiene filas")
}

// TestRunReadsDatesInTheFilesSystem: a 1904-system workbook's date serials land on the dates
// it shows, and a bare number in a CSV is not a date serial.
func TestRunReadsDatesInTheFilesSystem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupRun(t)
	yes := true
	// 42442 in the 1904 system is 2020-03-14, which the 1900 system numbers 43904.
	path := writeXLSX(t, [][]any{{"Celular", "Acepta", "Fecha de consentimiento"}, {"3001234567", "sí", 42442}}, func(f *excelize.File) {
		if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path, Consent: Declaration{Source: "tienda", Text: "v1"}}, nil); err != nil {
		t.Fatal(err)
	}
	var at time.Time
	if err := b.pool.QueryRow(ctx, `SELECT consent_at FROM contacts WHERE workspace_id = $1`, b.ws.ID).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if got := at.UTC().Format(time.DateOnly); got != "2020-03-14" {
		t.Errorf("1904-system consent date read as %s, want 2020-03-14", got)
	}

	csv := writeFile(t, "c.csv", []byte("Celular,Fecha de nacimiento\n3109876543,45292\n3205556677,15/03/1990\n"))
	res, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: csv, MapSpec: "nacimiento=B:date"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 1 || res.Inserted != 1 {
		t.Errorf("a CSV's bare 45292 as a date: %+v", res)
	}
}
