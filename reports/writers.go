package reports

import (
	"archive/zip"
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

const (
	localLayout = "2006-01-02 15:04:05"
	utcLayout   = "2006-01-02T15:04:05Z"
)

// csvWriter writes RFC 4180 CSV (comma, CRLF-free "\n" lines, fields quoted only when needed)
// with a hand-rolled appender: encoding/csv needs a []string per row, which on a million rows
// costs more in allocations than the rest of the export. The file starts with a UTF-8 byte
// order mark, as the import error reports do: without it Excel reads the file as Windows-1252
// and shows "MarÃ­a" for "María".
type csvWriter struct {
	w    *bufio.Writer
	loc  *time.Location
	cols []column
	buf  []byte
}

func newCSVWriter(w io.Writer, loc *time.Location) *csvWriter {
	return &csvWriter{w: bufio.NewWriterSize(w, 256<<10), loc: loc, buf: make([]byte, 0, 4096)}
}

// utf8BOM is the byte order mark that tells Excel a CSV is UTF-8.
const utf8BOM = "\xEF\xBB\xBF"

func (c *csvWriter) header(cols []column) error {
	c.cols = cols
	b := append(c.buf[:0], utf8BOM...)
	for i, col := range expand(cols) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCSVField(b, col.name)
	}
	b = append(b, '\n')
	c.buf = b
	_, err := c.w.Write(b)
	return err
}

func (c *csvWriter) row(cells []cell) error {
	b := c.buf[:0]
	for i, v := range cells {
		if i > 0 {
			b = append(b, ',')
		}
		switch c.cols[i].kind {
		case colTime:
			if v.ok {
				b = v.t.In(c.loc).AppendFormat(b, localLayout)
				b = append(b, ',')
				b = v.t.UTC().AppendFormat(b, utcLayout)
			} else {
				b = append(b, ',')
			}
		case colInt:
			if v.ok {
				b = strconv.AppendInt(b, v.i, 10)
			}
		case colBool:
			if v.ok {
				b = strconv.AppendBool(b, v.b)
			}
		default:
			if c.cols[i].free && formulaLike(v.s) {
				b = appendCSVField(b, "'"+v.s)
			} else {
				b = appendCSVField(b, v.s)
			}
		}
	}
	b = append(b, '\n')
	c.buf = b
	_, err := c.w.Write(b)
	return err
}

func (c *csvWriter) close() error { return c.w.Flush() }
func (c *csvWriter) abort()       { c.w.Flush() }

// GuardFormula returns s as a CSV cell a spreadsheet shows as text: prefixed with ' when Excel,
// LibreOffice or Google Sheets would take it for a formula (see formulaLike), as is otherwise.
// For any CSV of values people typed (the exports, an import's error report).
func GuardFormula(s string) string {
	if formulaLike(s) {
		return "'" + s
	}
	return s
}

// formulaLike reports whether a spreadsheet opening the CSV would take s for a formula
// ("=…", "@…", "+A1…", "-1+HYPERLINK(…)"). A value starting with + or - is left alone only when
// all of it reads as a number or a phone (-5, -12.5, +573001234567, +57 (300) 123 4567):
// a digit after the sign is not enough, Excel evaluates "-1+HYPERLINK(…)" and "+1+cmd|…".
func formulaLike(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '@', '\t', '\r':
		return true
	case '+', '-':
		return !numberLike(s[1:])
	}
	return false
}

// numberLike reports whether s has a digit and nothing but digits, spaces, '.', ',', '(' and ')'
// (the separators of written numbers and phones).
func numberLike(s string) bool {
	digit := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digit = true
		case c == ' ' || c == '.' || c == ',' || c == '(' || c == ')':
		default:
			return false
		}
	}
	return digit
}

func appendCSVField(b []byte, s string) []byte {
	need := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\n', '\r':
			need = true
		}
	}
	if !need && (len(s) == 0 || (s[0] != ' ' && s[0] != '\t')) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// xlsxWriter writes one streamed sheet with excelize's StreamWriter: a styled, frozen header
// row, real Excel dates for the local-time columns, and a deterministic zip: document properties
// are set from as_of and the zip is written straight to w (entries carry no timestamps), so
// the same export gives the same bytes and the workbook is never held in memory.
type xlsxWriter struct {
	out       io.Writer
	f         *excelize.File
	sw        *excelize.StreamWriter
	loc       *time.Location
	cols      []column
	dateStyle int
	row1      int
	vals      []any
}

const sheetName = "Datos"

func newXLSXWriter(out io.Writer, s ExportSpec, loc *time.Location) (*xlsxWriter, error) {
	f := excelize.NewFile()
	stamp := s.AsOf.UTC().Format(utcLayout)
	if err := f.SetDocProps(&excelize.DocProperties{
		Created: stamp, Modified: stamp, Creator: "Pregón", LastModifiedBy: "Pregón",
		Title:       fmt.Sprintf("Pregón: %s", s.FileName()),
		Description: fmt.Sprintf("Exportación %s al %s (UTC)", s.Kind, stamp),
	}); err != nil {
		f.Close()
		return nil, fmt.Errorf("setting the workbook properties: %w", err)
	}
	if err := f.SetSheetName("Sheet1", sheetName); err != nil {
		f.Close()
		return nil, err
	}
	sw, err := f.NewStreamWriter(sheetName)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("starting the sheet: %w", err)
	}
	fmtDate := "yyyy-mm-dd hh:mm:ss"
	dateStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &fmtDate})
	if err != nil {
		f.Close()
		return nil, err
	}
	return &xlsxWriter{out: out, f: f, sw: sw, loc: loc, dateStyle: dateStyle, row1: 1}, nil
}

func (x *xlsxWriter) header(cols []column) error {
	x.cols = cols
	fileCols := expand(cols)
	headStyle, err := x.f.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true, Color: "FFFFFF"},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"1F6E43"}},
		Alignment: &excelize.Alignment{Vertical: "center"},
		Border:    []excelize.Border{{Type: "bottom", Color: "0B3D21", Style: 2}},
	})
	if err != nil {
		return err
	}
	for i, c := range fileCols {
		w := c.width
		if w == 0 {
			w = 14
		}
		if err := x.sw.SetColWidth(i+1, i+1, w); err != nil {
			return err
		}
	}
	if err := x.sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	vals := make([]any, len(fileCols))
	for i, c := range fileCols {
		vals[i] = excelize.Cell{StyleID: headStyle, Value: c.name}
	}
	x.vals = make([]any, 0, len(fileCols))
	return x.sw.SetRow("A1", vals, excelize.RowOpts{Height: 20})
}

// excelSerial is the Excel date serial (days since 1899-12-30) of a wall-clock time.
func excelSerial(t time.Time) float64 {
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	wall := time.Date(y, m, d, hh, mm, ss, 0, time.UTC)
	return float64(wall.Unix())/86400 + 25569
}

func (x *xlsxWriter) row(cells []cell) error {
	vals := x.vals[:0]
	for i, v := range cells {
		switch x.cols[i].kind {
		case colTime:
			if v.ok {
				vals = append(vals, excelize.Cell{StyleID: x.dateStyle, Value: excelSerial(v.t.In(x.loc))},
					v.t.UTC().Format(utcLayout))
			} else {
				vals = append(vals, nil, nil)
			}
		case colInt:
			if v.ok {
				vals = append(vals, v.i)
			} else {
				vals = append(vals, nil)
			}
		case colBool:
			if v.ok {
				vals = append(vals, v.b)
			} else {
				vals = append(vals, nil)
			}
		default:
			if v.s != "" {
				vals = append(vals, v.s)
			} else {
				vals = append(vals, nil)
			}
		}
	}
	x.vals = vals
	x.row1++
	ref, err := excelize.CoordinatesToCellName(1, x.row1)
	if err != nil {
		return err
	}
	return x.sw.SetRow(ref, vals)
}

func (x *xlsxWriter) close() error {
	defer x.f.Close()
	if err := x.sw.Flush(); err != nil {
		return err
	}
	// Write the zip directly to out instead of excelize's in-memory buffer.
	x.f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zip.NewWriter(x.out) })
	var sink discard
	return x.f.Write(&sink)
}

func (x *xlsxWriter) abort() { x.f.Close() }

type discard struct{}

func (*discard) Write(p []byte) (int, error) { return len(p), nil }
