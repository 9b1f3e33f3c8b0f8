package importers

import (
	"context"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// writeStyledXLSX writes rows and applies styles (by cell name) built from excelize.Style.
func writeStyledXLSX(t *testing.T, rows [][]any, styles map[string]*excelize.Style, edit func(f *excelize.File)) string {
	t.Helper()
	return writeXLSX(t, rows, func(f *excelize.File) {
		for cell, st := range styles {
			id, err := f.NewStyle(st)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.SetCellStyle("Sheet1", cell, cell, id); err != nil {
				t.Fatal(err)
			}
		}
		if edit != nil {
			edit(f)
		}
	})
}

func TestXLSXDateCells(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	short := &excelize.Style{NumFmt: 14}
	dmy := "dd/mm/yyyy"
	money := "#,##0"
	elapsed := "[h]:mm"

	t.Run("DateFormattedNumbersReadAsISODates", func(t *testing.T) {
		t.Parallel()
		// 45488 is 2024-07-15; 45488.4375 is 10:30 that day.
		path := writeStyledXLSX(t, [][]any{
			{"Celular", "Cliente desde", "Alta", "Visita", "Compras", "Texto", "Duración", "Sin formato"},
			{3001234567, 45488, 45488, 45488.4375, 45488, "45488", 1.5, 45488},
		}, map[string]*excelize.Style{
			"B2": short, "C2": {CustomNumFmt: &dmy}, "D2": {NumFmt: 22}, "E2": {CustomNumFmt: &money},
			"F2": short, "G2": {CustomNumFmt: &elapsed},
		}, nil)
		_, rows := readAll(t, path, Options{})
		want := []string{"3001234567", "2024-07-15", "2024-07-15", "2024-07-15 10:30:00", "45488", "45488", "1.5", "45488"}
		if len(rows) != 2 || len(rows[1].Cells) != len(want) {
			t.Fatalf("rows = %v", rows)
		}
		for i, w := range want {
			if got := rows[1].Cells[i]; got != w {
				t.Errorf("column %s = %q, want %q", ColumnLetter(i), got, w)
			}
		}
	})

	t.Run("PreviewGuessesDateAndImportStoresDates", func(t *testing.T) {
		t.Parallel()
		// As the demo workbook holds it: a title above the table, real Excel dates (number format
		// 14) under "Cliente desde".
		rows := [][]any{{"Café Aurora — base de clientes"}, {"Nombre", "Celular", "Compras", "Cliente desde"}}
		styles := map[string]*excelize.Style{}
		for i := range 5 {
			rows = append(rows, []any{"Ana", 3001234560 + i, 3 + i, 45488 - 30*i})
			cell, _ := excelize.CoordinatesToCellName(4, i+3)
			styles[cell] = short
		}
		path := writeStyledXLSX(t, rows, styles, nil)
		p, err := PreviewFile(ctx, path, FormatXLSX, Options{}, "CO", 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := kinds(p.Mapping), "A=name B=phone C=attribute(compras:number) D=attribute(cliente_desde:date)"; got != want {
			t.Fatalf("mapping\n got %s\nwant %s", got, want)
		}
		if got := p.Rows[0].Cells[3]; got != "2024-07-15" {
			t.Errorf("preview shows %q, want 2024-07-15", got)
		}

		b := setupRun(t)
		if _, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path}, nil); err != nil {
			t.Fatal(err)
		}
		if got := b.contacts(t)["+573001234560"].Attributes["cliente_desde"]; got != "2024-07-15" {
			t.Errorf("cliente_desde = %v, want 2024-07-15", got)
		}
	})

	t.Run("Date1904", func(t *testing.T) {
		t.Parallel()
		yes := true
		// 42442 in the 1904 system is 2020-03-14.
		path := writeStyledXLSX(t, [][]any{{"Celular", "Fecha"}, {3001234567, 42442}}, map[string]*excelize.Style{"B2": short},
			func(f *excelize.File) {
				if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}); err != nil {
					t.Fatal(err)
				}
			})
		if _, rows := readAll(t, path, Options{}); rows[1].Cells[1] != "2020-03-14" {
			t.Errorf("1904 date cell read as %q", rows[1].Cells[1])
		}
		rec, errs, _ := func() (record, []RowError, bool) {
			_, rows := readAll(t, path, Options{})
			m := GuessMapping([]string{"Celular", "Fecha de consentimiento"}, nil, "CO")
			p := newProcessor(m, "CO", Declaration{}, time.Now())
			p.readsSource(Info{Format: FormatXLSX, Date1904: true})
			return p.process(rows[1])
		}()
		if len(errs) > 0 || rec.consentAt.Format(time.DateOnly) != "2020-03-14" {
			t.Errorf("converted 1904 date shifted again: %v %v", rec.consentAt, errs)
		}
	})

	t.Run("SparseRowsAndCellsWithoutReferences", func(t *testing.T) {
		t.Parallel()
		// Rows 2 and 5, row 5's cells without r attributes; style 1 is a date.
		path := writeRawStyledXLSX(t, `<row r="1"><c r="A1" t="inlineStr"><is><t>Celular</t></is></c><c r="B1" t="inlineStr"><is><t>Desde</t></is></c></row>`+
			`<row r="2"><c r="A2"><v>3001234567</v></c><c r="B2" s="1"><v>45488</v></c></row>`+
			`<row><c><v>3001234568</v></c><c s="1"><v>45489</v></c><c s="1" t="s"><v>0</v></c></row>`+
			`<x:row r="5" xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:c s="1"><x:v>3001234569</x:v></x:c><x:c s="0"><x:v>45490</x:v></x:c></x:row>`)
		_, rows := readAll(t, path, Options{})
		got := map[int][]string{}
		for _, r := range rows {
			got[r.Num] = r.Cells
		}
		if got[2][1] != "2024-07-15" || got[3][1] != "2024-07-16" || got[3][0] != "3001234568" || got[5][1] != "45490" {
			t.Errorf("rows = %v", got)
		}
	})
}

// writeRawStyledXLSX is writeRawXLSX with a styles part whose cellXfs are 0 General and 1 a
// date (number format 14).
func writeRawStyledXLSX(t *testing.T, sheetData string) string {
	t.Helper()
	return writeRawXLSXWith(t, sheetData, map[string]string{"xl/styles.xml": `<?xml version="1.0" encoding="UTF-8"?>` +
		`<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` +
		`<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>` +
		`<fills count="1"><fill><patternFill patternType="none"/></fill></fills>` +
		`<borders count="1"><border/></borders>` +
		`<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/><xf numFmtId="14" fontId="0" fillId="0" borderId="0" applyNumberFormat="1"/></cellXfs>` +
		`</styleSheet>`})
}

func TestIsDateCode(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"dd/mm/yyyy": true, "d-mmm-yy": true, "mmm-yy": true, "yyyy-mm-dd hh:mm": true, `[$-es-CO]dddd, d "de" mmmm`: true,
		"mm/dd": true, "General": false, "0.00": false, "#,##0": false, `"$"#,##0.00`: false, "0.00E+00": false,
		"h:mm": false, "[h]:mm:ss": false, "mm:ss": false, `0 "días"`: false, "0%": false, "@": false,
		`#,##0_);[Red](#,##0)`: false, "h:mm AM/PM": false,
	} {
		if got := isDateCode(code); got != want {
			t.Errorf("isDateCode(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestGuessDateBySerialHeader(t *testing.T) {
	t.Parallel()
	// Serials that lost their date format, under a date-ish header: dates. Years: numbers.
	m := GuessMapping([]string{"Celular", "Cliente desde", "Fecha de alta", "Año de nacimiento", "Cumpleaños"},
		[][]string{{"3001234567", "45488", "45000", "1990", "33000"}, {"3001234568", "45123", "45001", "1985", "33100"}}, "CO")
	if got, want := kinds(m), "A=phone B=attribute(cliente_desde:date) C=attribute(fecha_de_alta:date) D=attribute(ano_de_nacimiento:number) E=attribute(cumpleanos:date)"; got != want {
		t.Errorf("mapping\n got %s\nwant %s", got, want)
	}
	// Without a name column, "Cliente desde" is not the contact's name.
	if k := guessKind("Cliente desde"); k != "" {
		t.Errorf("guessKind(Cliente desde) = %s", k)
	}
}
