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
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// mergeScanMaxXML is the largest worksheet XML scanned for merged cells (they are listed after
// the rows; big generated exports never merge, and filling merges costs a pass over them per row).
const mergeScanMaxXML = 16 << 20

// sheetTailSize is how much of the end of a worksheet's XML the integrity check keeps to find
// the number of the sheet's last row.
const sheetTailSize = 256 << 10

// emptySheetScanRows is how many rows of the first sheet are looked at to call it empty.
const emptySheetScanRows = 1000

type xlsxSource struct {
	f      *excelize.File
	info   Info
	merged []mergeRange
	// path and part are the workbook's file and the sheet's worksheet part, dates the styles
	// with a date format (nil: none): see styleScanner.
	path, part string
	dates      []bool
	// lastRow is the number of the sheet's last <row> in its XML (-1: unknown), dimRow the last
	// row of its <dimension ref> (0: none or a single row): the iterator must get that far, or
	// excelize stopped at a damaged spot (it ends the sheet on an XML error without saying so).
	lastRow, dimRow int
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
	// excelize ignores deflate and CRC errors (a damaged sheet just ends early): the zip is
	// checked alongside excelize's own unzipping, which takes as long.
	checked := make(chan zipCheck, 1)
	go func() { checked <- checkZip(path, limit) }()
	f, err := excelize.OpenFile(path, eo)
	chk := <-checked
	if err != nil || chk.notWorkbook != "" {
		if f != nil {
			f.Close()
		}
		switch {
		case chk.notWorkbook != "":
			return nil, unsupportedZipError(chk.notWorkbook)
		case len(chk.bad) > 0:
			return nil, damagedError(chk.firstBad(""))
		}
		return nil, xlsxOpenError(err)
	}
	s := &xlsxSource{f: f, info: Info{Format: FormatXLSX}, lastRow: -1}
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
	} else if s.sheetEmpty(first, chk) {
		// Data on the second sheet under an empty first one: read the first sheet with rows.
		for _, sh := range s.info.Sheets {
			if !sh.Hidden && sh.Name != first && !s.sheetEmpty(sh.Name, chk) {
				sheet = sh.Name
				s.info.Notes = append(s.info.Notes, fmt.Sprintf("la hoja %q está vacía; se leyó la hoja %q", first, sheet))
				break
			}
		}
	}
	if part := chk.firstBad(chk.sheets[sheet]); part != "" {
		f.Close()
		return nil, damagedError(part)
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
			s.dimRow = r
		}
	}
	if props, err := f.GetWorkbookProps(); err == nil && props.Date1904 != nil && *props.Date1904 {
		s.info.Date1904 = true
	}
	part := chk.sheets[sheet]
	if n, ok := chk.lastRow[part]; ok {
		s.lastRow = n
	}
	s.merged = chk.merges[part]
	s.path, s.part = path, part
	if part != "" {
		s.dates = dateStyles(f)
	}
	return s, nil
}

// sheetEmpty says whether a sheet has no value in any cell (as far as emptySheetScanRows rows).
// A sheet that ends before its last row (damaged) is not empty.
func (s *xlsxSource) sheetEmpty(name string, chk zipCheck) bool {
	last, known := chk.lastRow[chk.sheets[name]]
	if !known || last < 0 {
		return false
	}
	if last == 0 {
		return true
	}
	rows, err := s.f.Rows(name)
	if err != nil {
		return false
	}
	defer rows.Close()
	raw := excelize.Options{RawCellValue: true}
	num := 0
	for rows.Next() {
		num++
		if num > emptySheetScanRows {
			return false
		}
		cols, err := rows.Columns(raw)
		if err != nil || nonEmpty(cols) > 0 {
			return false
		}
	}
	return num >= last
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

// damagedError is a part of the zip whose data does not inflate or match its checksum.
func damagedError(part string) error {
	return fileErr(ErrCodeCorrupt, "el archivo .xlsx está dañado (sus datos no pasan la verificación de integridad) y no se puede importar completo; ábralo en Excel y guárdelo de nuevo",
		"the .xlsx file is damaged: "+part+" fails its integrity check", nil)
}

// unsupportedZipError is a zip that holds no Excel workbook: what describes what it is.
func unsupportedZipError(what string) error {
	es := "el archivo es un .zip pero no un libro de Excel: formato no soportado (.ods, .numbers…); guárdelo como .xlsx o CSV"
	switch what {
	case "ods":
		es = "el archivo es una hoja de cálculo de LibreOffice/OpenOffice (.ods): formato no soportado (.ods, .numbers…); guárdelo como .xlsx o CSV"
	case "numbers":
		es = "el archivo es de Apple Numbers (.numbers): formato no soportado (.ods, .numbers…); guárdelo como .xlsx o CSV"
	case "xlsb":
		es = "el archivo es un libro binario de Excel (.xlsb): formato no soportado (.ods, .numbers…); guárdelo como .xlsx o CSV"
	}
	return fileErr(ErrCodeUnsupported, es, "not an .xlsx workbook ("+what+"); save it as .xlsx or CSV", nil)
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
		var styles *styleScanner
		if s.dates != nil {
			if styles = openStyleScanner(s.path, s.part, s.dates); styles != nil {
				defer styles.Close()
			}
		}
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
			if styles != nil {
				for i, date := range styles.row(num) {
					if date && i < len(cols) && plainNumber(cols[i]) {
						cols[i] = serialDate(cols[i], s.info.Date1904)
					}
				}
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
			return
		}
		// excelize ends the sheet at the first XML error without reporting it.
		want := s.lastRow
		if want < 0 {
			want = s.dimRow
		}
		if num < want {
			yield(Row{}, fileErr(ErrCodeCorrupt,
				fmt.Sprintf("el archivo .xlsx está dañado: la hoja %q no se puede leer después de la fila %d (tiene %d filas); ábralo en Excel y guárdelo de nuevo", s.info.Sheet, num, want),
				fmt.Sprintf("sheet %q is damaged: it ends at row %d of %d", s.info.Sheet, num, want), nil))
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
	reSheetEntry = regexp.MustCompile(`<(?:\w+:)?sheet\b[^>]*>`)
	reAttr       = regexp.MustCompile(`([\w:]+)="([^"]*)"`)
	reRel        = regexp.MustCompile(`<(?:\w+:)?Relationship\b[^>]*>`)
	reMergeCell  = regexp.MustCompile(`<(?:\w+:)?mergeCell\s+ref="([A-Z]+[0-9]+):([A-Z]+[0-9]+)"`)
	reRowTag     = regexp.MustCompile(`<(?:\w+:)?row\b[^>]*>`)
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

// zipCheck is what checkZip found in a workbook's zip.
type zipCheck struct {
	notWorkbook string                  // the zip holds no workbook: "ods", "numbers", "xlsb", "zip"
	sheets      map[string]string       // sheet name → worksheet part
	bad         map[string]error        // part → its deflate or checksum error
	lastRow     map[string]int          // worksheet part → number of its last <row> (-1: unknown)
	merges      map[string][]mergeRange // worksheet part → merged ranges
}

// firstBad returns a damaged part that matters when reading the worksheet part sheet ("" for
// any): every part checked but the other worksheets. "" when there is none.
func (c zipCheck) firstBad(sheet string) string {
	for part := range c.bad {
		if sheet == "" || part == sheet || !c.isSheet(part) {
			return part
		}
	}
	return ""
}

func (c zipCheck) isSheet(part string) bool {
	_, ok := c.lastRow[part]
	return ok
}

// checkZip reads the parts of the workbook at path that the import uses (the workbook, its
// relationships, the shared strings and every worksheet) through archive/zip, which verifies
// each part's CRC: excelize ignores inflate and checksum errors, so a damaged sheet would just
// end early. On the way it finds each worksheet's last row number and merged cells. Problems
// with the zip itself are left to excelize to report. limit caps the uncompressed size.
func checkZip(name string, limit int64) zipCheck {
	c := zipCheck{sheets: map[string]string{}, bad: map[string]error{}, lastRow: map[string]int{}, merges: map[string][]mergeRange{}}
	zr, err := zip.OpenReader(name)
	if err != nil {
		return c
	}
	defer zr.Close()
	files := map[string]*zip.File{}
	var total uint64
	for _, f := range zr.File {
		files[strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(f.Name, `\`, "/"), "/"))] = f
		total += f.UncompressedSize64
	}
	if total > uint64(limit) {
		return c // excelize refuses it
	}
	read := func(part string, max uint64) []byte {
		f := files[strings.ToLower(part)]
		if f == nil || f.UncompressedSize64 > max {
			return nil
		}
		var b bytes.Buffer
		if err := copyPart(&b, f); err != nil {
			c.bad[part] = err
			return nil
		}
		return b.Bytes()
	}

	wb := "xl/workbook.xml"
	for _, tag := range reRel.FindAllString(string(read("_rels/.rels", 8<<20)), -1) {
		if a := attrs(tag); strings.HasSuffix(a["Type"], "/officeDocument") {
			wb = strings.TrimPrefix(a["Target"], "/")
		}
	}
	if files[strings.ToLower(wb)] == nil || !strings.HasSuffix(strings.ToLower(wb), ".xml") {
		switch {
		case strings.HasSuffix(strings.ToLower(wb), ".bin") && files[strings.ToLower(wb)] != nil:
			c.notWorkbook = "xlsb"
		case bytes.Contains(read("mimetype", 1<<10), []byte("opendocument")):
			c.notWorkbook = "ods"
		case files["index/document.iwa"] != nil || files["index.zip"] != nil || files["metadata/properties.plist"] != nil:
			c.notWorkbook = "numbers"
		default:
			c.notWorkbook = "zip"
		}
		return c
	}
	dir := path.Dir(wb)
	resolve := func(target string) string {
		if strings.HasPrefix(target, "/") {
			return strings.TrimPrefix(target, "/")
		}
		return path.Join(dir, target)
	}
	rels := map[string]string{}
	for _, tag := range reRel.FindAllString(string(read(path.Join(dir, "_rels", path.Base(wb)+".rels"), 8<<20)), -1) {
		a := attrs(tag)
		rels[a["Id"]] = resolve(a["Target"])
		if strings.HasSuffix(a["Type"], "/sharedStrings") {
			if f := files[strings.ToLower(rels[a["Id"]])]; f != nil {
				if err := copyPart(io.Discard, f); err != nil {
					c.bad[rels[a["Id"]]] = err
				}
			}
		}
	}
	for _, tag := range reSheetEntry.FindAllString(string(read(wb, 8<<20)), -1) {
		a := attrs(tag)
		if part := rels[a["id"]]; part != "" && files[strings.ToLower(part)] != nil {
			c.sheets[a["name"]] = part
		}
	}
	for _, part := range c.sheets {
		if _, done := c.lastRow[part]; done {
			continue
		}
		f := files[strings.ToLower(part)]
		sc := sheetScan{keepAll: f.UncompressedSize64 <= mergeScanMaxXML}
		if err := copyPart(&sc, f); err != nil {
			c.bad[part] = err
		}
		c.lastRow[part] = sc.lastRow()
		if sc.keepAll {
			c.merges[part] = findMerges(sc.data)
		}
	}
	return c
}

// copyPart inflates a part into w; archive/zip checks its size and CRC at the end.
func copyPart(w io.Writer, f *zip.File) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

// sheetScan keeps a worksheet's XML as it is inflated: all of it when keepAll (for the merged
// cells listed after the rows), else its last sheetTailSize bytes at least.
type sheetScan struct {
	keepAll bool
	data    []byte
	total   int64
}

func (s *sheetScan) Write(p []byte) (int, error) {
	s.total += int64(len(p))
	s.data = append(s.data, p...)
	if !s.keepAll && len(s.data) > 2*sheetTailSize {
		s.data = append(s.data[:0], s.data[len(s.data)-sheetTailSize:]...)
	}
	return len(p), nil
}

// lastRow is the r attribute of the last <row> of the sheet, 0 when it has none, -1 when it
// cannot be told (a last row longer than the tail, rows without r).
func (s *sheetScan) lastRow() int {
	tail := s.data[max(0, len(s.data)-sheetTailSize):]
	locs := reRowTag.FindAllIndex(tail, -1)
	if len(locs) == 0 {
		if int64(len(tail)) == s.total {
			return 0
		}
		return -1
	}
	l := locs[len(locs)-1]
	n, err := strconv.Atoi(attrs(string(tail[l[0]:l[1]]))["r"])
	if err != nil || n < 1 {
		return -1
	}
	return n
}

// findMerges finds the merged ranges of a sheet in its XML (excelize's GetMergeCells would load
// the whole sheet into memory).
func findMerges(data []byte) []mergeRange {
	i := bytes.Index(data, []byte("mergeCells"))
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
