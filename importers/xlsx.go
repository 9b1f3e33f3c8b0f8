package importers

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"strings"

	"github.com/xuri/excelize/v2"
)

// mergeScanMaxFile is the largest workbook whose merged cells are filled in: finding them
// makes excelize load the whole sheet into memory, and big generated exports do not merge cells.
const mergeScanMaxFile = 4 << 20

type xlsxSource struct {
	f      *excelize.File
	info   Info
	merged []excelize.MergeCell
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
	if st, err := os.Stat(path); err == nil && st.Size() <= mergeScanMaxFile {
		if mc, err := f.GetMergeCells(sheet); err == nil {
			s.merged = mc
		}
	}
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
				cols = s.fillMerged(num, cols)
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
// of the range, so a city merged over five rows applies to the five contacts.
func (s *xlsxSource) fillMerged(row int, cols []string) []string {
	for _, m := range s.merged {
		c1, r1, err1 := excelize.CellNameToCoordinates(m.GetStartAxis())
		c2, r2, err2 := excelize.CellNameToCoordinates(m.GetEndAxis())
		if err1 != nil || err2 != nil || row < r1 || row > r2 {
			continue
		}
		for len(cols) < c2 {
			cols = append(cols, "")
		}
		for c := c1; c <= c2; c++ {
			cols[c-1] = m.GetCellValue()
		}
	}
	return cols
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
