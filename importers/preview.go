package importers

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
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

// Width is how many columns the file has: the widest of its header row and the rows the
// preview read.
func (p Preview) Width() int {
	width := max(len(p.Headers), len(p.Mapping.Columns))
	for _, r := range p.Rows {
		width = max(width, len(r.Cells))
	}
	return width
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
	p.Warnings = append(p.Warnings, monthFirstWarnings(l.mapping, l.data)...)
	return p, nil
}

var reSlashDate = regexp.MustCompile(`^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})(?:[ T]|$)`)

// monthFirstWarnings warns about date columns written month first (12/31/2023): dates are read
// day first, so in such a column 12/31/2023 is an error and 01/02/2024 silently becomes
// 1 February. A sample value whose second part is over 12 and first is not gives it away.
func monthFirstWarnings(m Mapping, data []DataRow) []string {
	var out []string
	for _, c := range m.Columns {
		dateCol := c.Kind == KindConsentDate || (c.Kind == KindAttribute && c.Type == AttrDate)
		textCol := c.Kind == KindAttribute && c.Type == AttrText
		if !dateCol && !textCol {
			continue
		}
		evidence, ambiguous, values, dates := "", "", 0, 0
		var day, month int // of ambiguous, as it would be read
		for _, r := range data {
			if c.Index < 0 || c.Index >= len(r.Cells) {
				continue
			}
			v := strings.TrimSpace(r.Cells[c.Index])
			if v == "" {
				continue
			}
			values++
			p := reSlashDate.FindStringSubmatch(v)
			if p == nil {
				continue
			}
			dates++
			a, _ := strconv.Atoi(p[1])
			b, _ := strconv.Atoi(p[2])
			switch {
			case a >= 1 && a <= 12 && b > 12 && b <= 31 && evidence == "":
				evidence = v
			case a >= 1 && a <= 12 && b >= 1 && b <= 12 && a != b && ambiguous == "":
				ambiguous, day, month = v, a, b
			}
		}
		// A text attribute counts when all its values are such dates (it may be turned into dates).
		if evidence == "" || (textCol && dates < values) {
			continue
		}
		w := fmt.Sprintf("la columna %s (%q) parece tener las fechas con el mes primero (mm/dd/aaaa), p. ej. %q: "+
			"las fechas se leen con el día primero (dd/mm/aaaa)", c.Letter, c.Header, evidence)
		if ambiguous != "" {
			w += fmt.Sprintf(", así que %q se leería mal, como el día %d del mes %d", ambiguous, day, month)
		}
		out = append(out, w+"; cambie el formato de la columna a dd/mm/aaaa o aaaa-mm-dd antes de importar")
	}
	return out
}
