package importers

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// A workbook's date cells hold serial numbers (45488 is 2024-07-14); only the cell's number
// format says it is a date. excelize's row iterator gives raw values without their styles, so
// the reader follows the worksheet's XML alongside it (styleScanner) for the style of each cell,
// and writes a number in a date-formatted cell as an ISO date ("2024-07-14", or
// "2024-07-14 10:30:00" with a time): the preview shows it, the type guess sees a date, and the
// import reads it as one. A workbook without any date format skips all of this.

// dateStyles says, by style id (cellXfs index), which styles have a date number format; nil
// when none has. Looked up once per workbook, so a cell costs an index into the slice.
func dateStyles(f *excelize.File) (dates []bool) {
	defer func() {
		if recover() != nil { // a malformed styles part: read the serials as numbers
			dates = nil
		}
	}()
	found := false
	for id := 0; id < excelize.MaxCellStyles; id++ {
		st, err := f.GetStyle(id)
		if err != nil {
			break
		}
		d := isDateFormat(st)
		found = found || d
		dates = append(dates, d)
	}
	if !found {
		return nil
	}
	return dates
}

// isDateFormat: a built-in date (or date and time) format, 14 to 22 ("m/d/yy", "d-mmm-yy",
// "m/d/yy h:mm"…), or a custom format with a day, month or year part.
func isDateFormat(st *excelize.Style) bool {
	if st.CustomNumFmt != nil {
		return isDateCode(*st.CustomNumFmt)
	}
	return st.NumFmt >= 14 && st.NumFmt <= 22
}

// isDateCode says whether a custom number format code shows a date: it has a d, a y, or an m
// that is a month rather than minutes (no h or s beside it), outside quoted text, escaped
// characters and [bracketed] parts (colours, locales, elapsed time).
func isDateCode(code string) bool {
	code = strings.ToLower(code)
	code = strings.NewReplacer("am/pm", "", "a/p", "", "general", "").Replace(code)
	var d, m, y, hs bool
	for i := 0; i < len(code); i++ {
		switch c := code[i]; c {
		case '"':
			if j := strings.IndexByte(code[i+1:], '"'); j >= 0 {
				i += j + 1
			} else {
				i = len(code)
			}
		case '[':
			if j := strings.IndexByte(code[i+1:], ']'); j >= 0 {
				i += j + 1
			} else {
				i = len(code)
			}
		case '\\', '_', '*': // an escaped character, a space as wide as one, a fill character
			i++
		case 'd':
			d = true
		case 'm':
			m = true
		case 'y':
			y = true
		case 'h', 's':
			hs = true
		}
	}
	return d || y || (m && !hs)
}

// serialDate writes a date cell's serial as an ISO date (with the time when it has one),
// counting in the workbook's date system; a value that is no date serial stays as it is.
func serialDate(v string, date1904 bool) string {
	t, err := parseDate(v, true)
	if err != nil {
		return v
	}
	if date1904 {
		t = t.AddDate(0, 0, 1462)
	}
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.DateTime)
}

// styleScanner reads a worksheet's XML for the style of each numeric cell, row by row, in
// step with excelize's iterator over the same sheet. It looks only at the <row> and <c> tags,
// which costs far less than the iterator's XML decoding.
type styleScanner struct {
	zr    *zip.ReadCloser
	rc    io.ReadCloser
	br    *bufio.Reader
	dates []bool // by style id (dateStyles)
	next  int    // number of the <row> read whose cells are next; 0 = none yet
	done  bool   // the end of sheetData, or a read error
	cols  []bool // the row asked for: whether each cell (0-based) is a date cell
}

// openStyleScanner opens the worksheet part of the workbook at path (nil when it cannot: the
// cells are then read without their formats, as raw numbers).
func openStyleScanner(path, part string, dates []bool) *styleScanner {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil
	}
	for _, f := range zr.File {
		if strings.EqualFold(strings.TrimPrefix(strings.ReplaceAll(f.Name, `\`, "/"), "/"), part) {
			rc, err := f.Open()
			if err != nil {
				break
			}
			return &styleScanner{zr: zr, rc: rc, br: bufio.NewReaderSize(rc, 64<<10), dates: dates}
		}
	}
	zr.Close()
	return nil
}

func (sc *styleScanner) Close() {
	sc.rc.Close()
	sc.zr.Close()
}

// row returns which cells of row num (1-based, ascending from call to call) are numbers in a
// date format, by 0-based column; nil when none or the row is not in the XML.
func (sc *styleScanner) row(num int) []bool {
	if sc.next == 0 && !sc.done {
		sc.cells(false)
	}
	for !sc.done && sc.next < num {
		sc.cells(false)
	}
	if sc.done || sc.next > num {
		return nil
	}
	return sc.cells(true)
}

// cells reads the cells of the row whose tag was just read, up to the next <row> (whose number
// goes to next) or the end of the sheet data; keep records which are date cells.
func (sc *styleScanner) cells(keep bool) []bool {
	sc.cols = sc.cols[:0]
	found, col := false, -1
	for {
		name, tag, closing, ok := sc.tag()
		if !ok {
			sc.done = true
			break
		}
		if closing {
			if string(name) == "sheetData" {
				sc.done = true
				break
			}
			continue
		}
		if string(name) == "row" {
			n, err := strconv.Atoi(string(attrValue(tag, "r")))
			if err != nil || n < 1 {
				n = sc.next + 1
			}
			sc.next = n
			break
		}
		if !keep || string(name) != "c" {
			continue
		}
		col++
		if r := attrValue(tag, "r"); len(r) > 0 {
			col = columnIndex(r)
		}
		if col < 0 || col >= 16384 {
			continue
		}
		if t := attrValue(tag, "t"); len(t) > 0 && string(t) != "n" {
			continue // text, a boolean, an error, an ISO date (t="d")
		}
		s, err := strconv.Atoi(string(attrValue(tag, "s")))
		if err != nil || s < 0 || s >= len(sc.dates) || !sc.dates[s] {
			continue
		}
		for len(sc.cols) <= col {
			sc.cols = append(sc.cols, false)
		}
		sc.cols[col], found = true, true
	}
	if !found {
		return nil
	}
	return sc.cols
}

// tag reads up to the next tag and returns its local name and the tag's text (valid until the
// next read); ok is false at the end of the part or on a read error.
func (sc *styleScanner) tag() (name, tag []byte, closing, ok bool) {
	for {
		_, err := sc.br.ReadSlice('<')
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, nil, false, false
		}
	}
	tag, err := sc.br.ReadSlice('>')
	if errors.Is(err, bufio.ErrBufferFull) { // a tag this long is none of ours
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = sc.br.ReadSlice('>')
		}
		return nil, nil, false, err == nil
	}
	if err != nil {
		return nil, nil, false, false
	}
	end := bytes.IndexAny(tag, " \t\r\n/>")
	if end == 0 && tag[0] == '/' {
		closing, tag = true, tag[1:]
		end = bytes.IndexAny(tag, " \t\r\n>")
	}
	if end < 0 {
		return nil, nil, false, true
	}
	name = tag[:end]
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	return name, tag[end:], closing, true
}

// attrValue returns the value of the attribute name (without a namespace prefix) in a tag's
// attribute text, nil when absent.
func attrValue(tag []byte, name string) []byte {
	for {
		i := 0
		for i < len(tag) && (tag[i] == ' ' || tag[i] == '\t' || tag[i] == '\r' || tag[i] == '\n') {
			i++
		}
		eq := bytes.IndexByte(tag[i:], '=')
		if eq < 0 || i+eq+1 >= len(tag) {
			return nil
		}
		key := bytes.TrimSpace(tag[i : i+eq])
		if k := bytes.IndexByte(key, ':'); k >= 0 {
			key = key[k+1:]
		}
		rest := bytes.TrimLeft(tag[i+eq+1:], " \t\r\n")
		if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
			return nil
		}
		end := bytes.IndexByte(rest[1:], rest[0])
		if end < 0 {
			return nil
		}
		if string(key) == name {
			return rest[1 : 1+end]
		}
		tag = rest[end+2:]
	}
}

// columnIndex is the 0-based column of a cell reference ("B7" → 1), -1 when it has no letters.
func columnIndex(ref []byte) int {
	n := 0
	for _, c := range ref {
		switch {
		case c >= 'A' && c <= 'Z':
			n = n*26 + int(c-'A') + 1
		case c >= 'a' && c <= 'z':
			n = n*26 + int(c-'a') + 1
		default:
			return n - 1
		}
		if n > 16384 {
			return -1
		}
	}
	return n - 1
}
