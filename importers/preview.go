package importers

import (
	"context"
	"fmt"
)

// PreviewRows is how many data rows Preview returns.
const PreviewRows = 20

// Preview is what the confirm screen shows before an import runs.
type Preview struct {
	Info
	HeaderRow int       `json:"header_row"` // 1-based row number of the header; 0 = none
	Headers   []string  `json:"headers"`
	Mapping   Mapping   `json:"mapping"`
	Rows      []DataRow `json:"rows"`
	Warnings  []string  `json:"warnings,omitempty"` // Spanish
}

// DataRow is a row with its spreadsheet row number.
type DataRow struct {
	Row   int      `json:"row"`
	Cells []string `json:"cells"`
}

// layout is a file's header row and mapping.
type layout struct {
	headerRow int // 1-based; 0 = none
	headers   []string
	mapping   Mapping
	data      []DataRow // the first data rows
}

// readLayout reads the head of src: the header row (detected when headerRow is 0, none when
// it is -1) and the first data rows, and guesses the mapping.
func readLayout(ctx context.Context, src Source, headerRow int, region string) (layout, error) {
	var head []Row
	want := HeaderScanRows + PreviewRows
	if headerRow > 0 {
		want = headerRow + PreviewRows
	}
	for r, err := range src.Rows(ctx) {
		if err != nil {
			return layout{}, err
		}
		head = append(head, r)
		if len(head) >= want {
			break
		}
	}
	if len(head) == 0 {
		return layout{}, fileErr(ErrCodeNoRows, "el archivo no tiene filas", "the file has no rows", nil)
	}
	var l layout
	hi := -1
	switch {
	case headerRow > 0:
		for i, r := range head {
			if r.Num == headerRow {
				hi = i
			}
		}
		if hi < 0 {
			return l, fileErr(ErrCodeNoRows, fmt.Sprintf("la fila %d está vacía o no existe", headerRow), "header row not found", nil)
		}
	case headerRow == 0:
		cells := make([][]string, len(head))
		for i, r := range head {
			cells[i] = r.Cells
		}
		hi = DetectHeader(cells, region)
	}
	if hi >= 0 {
		l.headerRow, l.headers = head[hi].Num, head[hi].Cells
	}
	for _, r := range head[hi+1:] {
		if len(l.data) < PreviewRows {
			l.data = append(l.data, DataRow{Row: r.Num, Cells: r.Cells})
		}
	}
	sample := make([][]string, len(l.data))
	for i, r := range l.data {
		sample[i] = r.Cells
	}
	l.mapping = GuessMapping(l.headers, sample, region)
	return l, nil
}

// PreviewFile opens a file and returns its first rows, header row and guessed mapping.
// headerRow: 0 = detect, -1 = the file has no header row, n = row n is the header.
func PreviewFile(ctx context.Context, path string, format Format, opts Options, region string, headerRow int) (Preview, error) {
	src, err := Open(path, format, opts)
	if err != nil {
		return Preview{}, err
	}
	defer src.Close()
	l, err := readLayout(ctx, src, headerRow, region)
	if err != nil {
		return Preview{}, err
	}
	p := Preview{Info: src.Info(), HeaderRow: l.headerRow, Headers: l.headers, Mapping: l.mapping, Rows: l.data}
	if p.Headers == nil {
		p.Headers = []string{}
	}
	if p.Rows == nil {
		p.Rows = []DataRow{}
	}
	if l.mapping.Phone() < 0 {
		p.Warnings = append(p.Warnings, "no se encontró la columna de teléfono: elija cuál es antes de importar")
	}
	if len(l.data) == 0 {
		p.Warnings = append(p.Warnings, "el archivo solo tiene encabezados: no hay contactos que importar")
	}
	seen := map[string]bool{}
	for _, h := range l.headers {
		f := fold(h)
		if f != "" && seen[f] {
			p.Warnings = append(p.Warnings, fmt.Sprintf("el encabezado %q está repetido", h))
		}
		seen[f] = true
	}
	if l.headerRow == 0 {
		p.Warnings = append(p.Warnings, "no se detectó fila de encabezados: se importan todas las filas")
	}
	return p, nil
}
