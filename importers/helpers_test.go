package importers

import (
	"archive/zip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// writeXLSX writes rows to a new workbook's first sheet with excelize.
func writeXLSX(t testing.TB, rows [][]any, edit func(f *excelize.File)) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		edit(f)
	}
	path := filepath.Join(t.TempDir(), "f.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeRawXLSX writes a minimal workbook by hand, with sheetXML as the worksheet's <sheetData>
// content: for what excelize does not write (cached formula values).
func writeRawXLSX(t testing.TB, sheetData string) string {
	t.Helper()
	return writeRawXLSXWith(t, sheetData, nil)
}

// writeRawXLSXWith is writeRawXLSX with more parts (by name) in the zip.
func writeRawXLSXWith(t testing.TB, sheetData string, extra map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raw.xlsx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	parts := map[string]string{
		"[Content_Types].xml":        `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`,
		"_rels/.rels":                `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml":            `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Hoja1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels": `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`,
		"xl/worksheets/sheet1.xml":   `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` + sheetData + `</sheetData></worksheet>`,
	}
	for name, body := range extra {
		parts[name] = body
	}
	for name, body := range parts {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// readAll opens a file and returns its rows.
func readAll(t testing.TB, path string, opts Options) (Info, []Row) {
	t.Helper()
	src, err := Open(path, FormatFromName(path), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer src.Close()
	var rows []Row
	for r, err := range src.Rows(context.Background()) {
		if err != nil {
			t.Fatalf("Rows: %v", err)
		}
		rows = append(rows, r)
	}
	return src.Info(), rows
}

// requireFileError checks that err is a *FileError with the code and that its Spanish message
// contains want.
func requireFileError(t testing.TB, err error, code, want string) {
	t.Helper()
	fe, ok := err.(*FileError)
	if !ok {
		t.Fatalf("error = %v (%T), want *FileError %s", err, err, code)
	}
	if fe.Code != code || !strings.Contains(fe.Message, want) {
		t.Fatalf("error = %s %q, want %s containing %q", fe.Code, fe.Message, code, want)
	}
}

func kinds(m Mapping) string {
	var b strings.Builder
	for _, c := range m.Columns {
		fmt.Fprintf(&b, "%s=%s", c.Letter, c.Kind)
		if c.Kind == KindAttribute {
			fmt.Fprintf(&b, "(%s:%s)", c.Key, c.Type)
		}
		b.WriteByte(' ')
	}
	return strings.TrimSpace(b.String())
}
