package importers

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"iter"
	"regexp"
	"strings"

	"github.com/xuri/excelize/v2"
)

// mergeScanMaxXML is the largest worksheet XML scanned for merged cells (they are listed after
// the rows, so finding them costs a pass over the sheet; big generated exports never merge).
const mergeScanMaxXML = 16 << 20

type xlsxSource struct {
	f      *excelize.File
	info   Info
	merged []mergeRange
}

// mergeRange is a merged range, 1-based inclusive; Excel keeps its value in the top-left cell.
type mergeRange struct {
	c1, r1, c2, r2 int
}

func openXLSX(path string, opts Options) (*xlsxSource, error) {
	limit := opts.UnzipSizeLimit
	if limit <= 0 {
		limit = UnzipSizeLimitDefault
	}
	eo := excelize.Options{UnzipSizeLimit: limit, TmpDir: opts.TmpDir}
	if limit < excelize.StreamChunkSize {
		eo.UnzipXMLSizeLimit = limit
	}
	f, err := excelize.OpenFile(path, eo)
	if err != nil {
		return nil, xlsxOpenError(err)
	}
	s := &xlsxSource{f: f, info: Info{Format: FormatXLSX}}
	wb := f.GetSheetList()
	if len(wb) == 0 {
		f.Close()
		return nil, fileErr(ErrCodeNoSheets, "el libro no tiene hojas", "the workbook has no sheets", nil)
	}
	first := ""
	for _, name := range wb {
		visible, _ := f.GetSheetVisible(name)
		s.info.Sheets = append(s.info.Sheets, Sheet{Name: name, Hidden: !visible})
		if visible && first == "" {
			first = name
		}
	}
	if first == "" {
		first = wb[0]
	}
	sheet := first
	if opts.Sheet != "" {
		sheet = ""
		for _, sh := range s.info.Sheets {
			if sh.Name == opts.Sheet || (sheet == "" && strings.EqualFold(sh.Name, opts.Sheet)) {
				sheet = sh.Name
			}
		}
		if sheet == "" {
			f.Close()
			return nil, fileErr(ErrCodeSheetNotFound, fmt.Sprintf("no existe la hoja %q en el libro", opts.Sheet),
				fmt.Sprintf("no sheet named %q", opts.Sheet), nil)
		}
	}
	s.info.Sheet = sheet
	for _, sh := range s.info.Sheets {
		if sh.Hidden && sh.Name != sheet {
			s.info.Notes = append(s.info.Notes, fmt.Sprintf("la hoja %q está oculta; no se lee salvo que la elija", sh.Name))
		}
		if sh.Hidden && sh.Name == sheet {
			s.info.Notes = append(s.info.Notes, fmt.Sprintf("se está leyendo la hoja oculta %q", sh.Name))
		}
	}
	if dim, err := f.GetSheetDimension(sheet); err == nil && dim != "" {
		last := dim[strings.IndexByte(dim, ':')+1:]
		if _, r, err := excelize.CellNameToCoordinates(last); err == nil && r > 1 { // "A1": not maintained
			s.info.RowsTotal = int64(r)
		}
	}
	s.merged = scanMerges(path, sheet)
	return s, nil
}

func xlsxOpenError(err error) error {
	switch {
	case strings.Contains(err.Error(), "unzip size exceeds"):
		return fileErr(ErrCodeTooLarge, "el libro descomprimido es demasiado grande (posible archivo malicioso o dañado)",
			"the workbook is too large once uncompressed (zip bomb or damaged file)", err)
	case errors.Is(err, excelize.ErrWorkbookFileFormat), errors.Is(err, excelize.ErrWorkbookPassword):
		return fileErr(ErrCodeEncrypted, "el libro está protegido con contraseña", "the workbook is password-protected", err)
	case errors.Is(err, zip.ErrFormat), errors.Is(err, zip.ErrAlgorithm), errors.Is(err, zip.ErrChecksum),
		strings.Contains(err.Error(), "XML syntax"), strings.Contains(err.Error(), "unexpected EOF"):
		return fileErr(ErrCodeCorrupt, "el archivo .xlsx está dañado y no se puede leer; ábralo en Excel y guárdelo de nuevo",
			"the .xlsx file is damaged and cannot be read", err)
	}
	return fileErr(ErrCodeCorrupt, "no se pudo leer el libro de Excel: "+err.Error(), "cannot read the workbook", err)
}

func (s *xlsxSource) Info() Info      { return s.info }
func (s *xlsxSource) Sheets() []Sheet { return s.info.Sheets }
func (s *xlsxSource) Close() error    { return s.f.Close() }

func (s *xlsxSource) Rows(ctx context.Context) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		rows, err := s.f.Rows(s.info.Sheet)
		if err != nil {
			yield(Row{}, xlsxReadError(s.info.Sheet, err))
			return
		}
		defer rows.Close()
		raw := excelize.Options{RawCellValue: true}
		num := 0
		mergedValues := map[int]string{}
		for rows.Next() {
			num++
			if num&1023 == 0 && ctx.Err() != nil {
				yield(Row{}, ctx.Err())
				return
			}
			cols, err := rows.Columns(raw)
			if err != nil {
				yield(Row{}, xlsxReadError(s.info.Sheet, err))
				return
			}
			if len(cols) == 0 && len(s.merged) == 0 {
				continue
			}
			if len(s.merged) > 0 {
				cols = s.fillMerged(num, cols, mergedValues)
			}
			if !yield(Row{Num: num, Cells: cols}, nil) {
				return
			}
		}
		if err := rows.Error(); err != nil {
			yield(Row{}, xlsxReadError(s.info.Sheet, err))
			return
		}
		if err := rows.Close(); err != nil {
			yield(Row{}, xlsxReadError(s.info.Sheet, err))
		}
	}
}

// fillMerged copies a merged range's value (kept by Excel in its top-left cell) into every cell
// of the range, so a city merged over five rows applies to the five contacts. values holds the
// top-left values seen so far, by range.
func (s *xlsxSource) fillMerged(row int, cols []string, values map[int]string) []string {
	for i, m := range s.merged {
		if row < m.r1 || row > m.r2 {
			continue
		}
		if row == m.r1 {
			if m.c1-1 < len(cols) {
				values[i] = cols[m.c1-1]
			}
		}
		for len(cols) < m.c2 {
			cols = append(cols, "")
		}
		for c := m.c1; c <= m.c2; c++ {
			cols[c-1] = values[i]
		}
	}
	return cols
}

var (
	reSheetEntry = regexp.MustCompile(`<sheet\b[^>]*>`)
	reAttr       = regexp.MustCompile(`([\w:]+)="([^"]*)"`)
	reRel        = regexp.MustCompile(`<Relationship\b[^>]*>`)
	reMergeCell  = regexp.MustCompile(`<mergeCell\s+ref="([A-Z]+[0-9]+):([A-Z]+[0-9]+)"`)
)

func attrs(tag string) map[string]string {
	out := map[string]string{}
	for _, m := range reAttr.FindAllStringSubmatch(tag, -1) {
		k := m[1]
		if i := strings.IndexByte(k, ':'); i >= 0 {
			k = k[i+1:]
		}
		out[k] = html.UnescapeString(m[2])
	}
	return out
}

// scanMerges finds the merged ranges of a sheet by reading its XML part directly (excelize's
// GetMergeCells would load the whole sheet into memory). Sheets over mergeScanMaxXML are skipped.
func scanMerges(path, sheet string) []mergeRange {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil
	}
	defer zr.Close()
	read := func(name string, max uint64) []byte {
		for _, f := range zr.File {
			if strings.EqualFold(strings.TrimPrefix(f.Name, "/"), name) && f.UncompressedSize64 <= max {
				rc, err := f.Open()
				if err != nil {
					return nil
				}
				defer rc.Close()
				b, _ := io.ReadAll(io.LimitReader(rc, int64(max)))
				return b
			}
		}
		return nil
	}
	rid := ""
	for _, tag := range reSheetEntry.FindAllString(string(read("xl/workbook.xml", 8<<20)), -1) {
		if a := attrs(tag); a["name"] == sheet {
			rid = a["id"]
		}
	}
	target := ""
	for _, tag := range reRel.FindAllString(string(read("xl/_rels/workbook.xml.rels", 8<<20)), -1) {
		if a := attrs(tag); a["Id"] == rid {
			target = a["Target"]
		}
	}
	if target == "" {
		return nil
	}
	if strings.HasPrefix(target, "/") {
		target = strings.TrimPrefix(target, "/")
	} else {
		target = "xl/" + target
	}
	data := read(target, mergeScanMaxXML)
	i := bytes.Index(data, []byte("<mergeCells"))
	if i < 0 {
		return nil
	}
	var out []mergeRange
	for _, m := range reMergeCell.FindAllSubmatch(data[i:], -1) {
		c1, r1, err1 := excelize.CellNameToCoordinates(string(m[1]))
		c2, r2, err2 := excelize.CellNameToCoordinates(string(m[2]))
		if err1 == nil && err2 == nil && c2 >= c1 && r2 >= r1 && c2 <= 16384 {
			out = append(out, mergeRange{c1, r1, c2, r2})
		}
	}
	return out
}

func xlsxReadError(sheet string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, excelize.ErrMaxRows) {
		return fileErr(ErrCodeCorrupt, "la hoja tiene más filas de las que admite Excel (1.048.576)", "the sheet has more rows than Excel allows", err)
	}
	return fileErr(ErrCodeCorrupt, fmt.Sprintf("no se pudo leer la hoja %q: el archivo está dañado", sheet),
		fmt.Sprintf("reading sheet %q", sheet), err)
}
