package importers

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encodings reported in Info.Encoding.
const (
	EncUTF8        = "utf-8"
	EncUTF8BOM     = "utf-8-bom"
	EncWindows1252 = "windows-1252"
	EncLatin1      = "iso-8859-1"
	EncUTF16LE     = "utf-16le"
	EncUTF16BE     = "utf-16be"
	EncMacintosh   = "macintosh" // Mac Roman
)

const sniffSize = 64 << 10

type csvSource struct {
	path string
	info Info
	sep  rune
	enc  encoding.Encoding // nil: UTF-8
	skip int               // BOM bytes
	cr   bool              // lines end with a bare \r (old Mac Excel's "CSV (Macintosh)")
}

func openCSV(path string, opts Options) (*csvSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	s := &csvSource{path: path, info: Info{Format: FormatCSV}}

	// One pass over the file: is it valid UTF-8, does it hold 0x80–0x9F bytes (Windows-1252
	// rather than Latin-1), NUL bytes (not text), how many lines (the progress total), and do
	// they end with \n (or \r\n) or with a bare \r.
	br := bufio.NewReaderSize(f, 256<<10)
	head, _ := br.Peek(sniffSize)
	head = bytes.Clone(head)
	var (
		validUTF8 = true
		c1        bool
		nul       int
		lines     int64
		bareCR    int64 // \r not followed by \n
		lastByte  byte
		carry     []byte
		buf       = make([]byte, 256<<10)
	)
	for {
		n, err := br.Read(buf)
		chunk := buf[:n]
		if n > 0 {
			if lastByte == '\r' && chunk[0] != '\n' {
				bareCR++
			}
			lines += int64(bytes.Count(chunk, []byte{'\n'}))
			if crs := bytes.Count(chunk, []byte{'\r'}); crs > 0 {
				bareCR += int64(crs - bytes.Count(chunk, []byte("\r\n")))
				if chunk[n-1] == '\r' {
					bareCR-- // known with the next chunk
				}
			}
			lastByte = chunk[n-1]
			if validUTF8 {
				data := append(carry, chunk...)
				// Keep an incomplete trailing rune for the next chunk.
				cut := len(data)
				for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
					if utf8.RuneStart(data[i]) {
						if !utf8.FullRune(data[i:]) {
							cut = i
						}
						break
					}
				}
				if !utf8.Valid(data[:cut]) {
					validUTF8 = false
				}
				carry = append(carry[:0], data[cut:]...)
			}
			if !c1 {
				for _, b := range chunk {
					if b >= 0x80 && b <= 0x9F {
						c1 = true
						break
					}
				}
			}
			nul += bytes.Count(chunk, []byte{0})
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", filepath.Base(path), err)
		}
	}
	if len(carry) > 0 {
		validUTF8 = false
	}
	if lastByte == '\r' {
		bareCR++
	}
	// Lines that end with a bare \r: a Mac file, possibly with \n inside quoted cells.
	s.cr = bareCR > lines
	if s.cr {
		lines = bareCR
		if lastByte != '\r' {
			lines++
		}
	} else if lastByte != '\n' && lastByte != 0 {
		lines++
	}

	bom := bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF})
	switch {
	case opts.Encoding != "":
		s.info.Encoding = strings.ToLower(strings.TrimSpace(opts.Encoding))
	case bom:
		s.info.Encoding = EncUTF8BOM
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		s.info.Encoding = EncUTF16LE
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		s.info.Encoding = EncUTF16BE
	case nul > 0:
		return nil, notTextError()
	case validUTF8:
		s.info.Encoding = EncUTF8
	case s.cr:
		// Lines ending with a bare \r and bytes that are not UTF-8: Excel for Mac's
		// "CSV (Macintosh)", in Mac Roman (é is 0x8E, ñ 0x96, which Windows-1252 reads as Ž, –).
		s.info.Encoding = EncMacintosh
	case c1:
		s.info.Encoding = EncWindows1252
	default:
		s.info.Encoding = EncLatin1
	}
	switch s.info.Encoding {
	case EncUTF8, "utf8", EncUTF8BOM:
		// Chosen by the user, UTF-8 must be what the file holds (its bytes that are not would
		// be read as garbage). A file saying so with its BOM and holding a few bad bytes is
		// read: the rows holding them are rejected (see cleanCells).
		if opts.Encoding != "" && !validUTF8 {
			enc := EncLatin1
			switch {
			case s.cr:
				enc = EncMacintosh
			case c1:
				enc = EncWindows1252
			}
			return nil, fileErr(ErrCodeEncoding,
				fmt.Sprintf("el archivo no está en UTF-8 (parece %s): elija esa codificación, o deje que se detecte sola, y vuelva a intentarlo", enc),
				fmt.Sprintf("the file is not UTF-8 (it looks like %s)", enc), nil)
		}
		if bom {
			s.skip = 3
		}
	case EncMacintosh, "mac", "macroman", "mac-roman", "x-mac-roman":
		s.enc = charmap.Macintosh
	case EncWindows1252, "cp1252":
		s.enc = charmap.Windows1252
	case EncLatin1, "latin-1", "latin1":
		// Decoded as Windows-1252, a superset for every printable Latin-1 character.
		s.enc = charmap.Windows1252
	case EncUTF16LE, "utf-16":
		s.enc = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	case EncUTF16BE:
		s.enc = unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	default:
		return nil, fileErr(ErrCodeNotText, fmt.Sprintf("codificación %q no soportada", opts.Encoding), "unsupported encoding", nil)
	}
	s.info.RowsTotal = lines

	// Separator: from the first lines, decoded.
	sample := head[min(s.skip, len(head)):]
	if s.enc != nil {
		if dec, err := s.enc.NewDecoder().Bytes(sample); err == nil {
			sample = dec
		}
	}
	if s.cr {
		sample = bytes.ReplaceAll(sample, []byte{'\r'}, []byte{'\n'})
	}
	switch opts.Separator {
	case "":
		s.sep = detectSeparator(sample)
	case `\t`, "tab", "\t":
		s.sep = '\t'
	default:
		r, _ := utf8.DecodeRuneInString(opts.Separator)
		s.sep = r
	}
	s.info.Separator = string(s.sep)
	return s, nil
}

// detectSeparator picks the candidate that splits the first lines into the same number (>1) of
// fields most often, counting only outside quotes.
func detectSeparator(sample []byte) rune {
	lines := splitSampleLines(sample, 20)
	best, bestScore := ',', -1
	for _, sep := range []rune{',', ';', '\t', '|'} {
		counts := map[int]int{}
		for _, l := range lines {
			n := countOutsideQuotes(l, sep)
			if n > 0 {
				counts[n]++
			}
		}
		score := 0
		for n, c := range counts {
			if s := c*100 + n; c > 0 && s > score {
				score = s
			}
		}
		if score > bestScore {
			best, bestScore = sep, score
		}
	}
	return best
}

func splitSampleLines(b []byte, max int) []string {
	var out []string
	for len(b) > 0 && len(out) < max {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(b) < sniffSize-1 { // a truncated last line would miscount
				out = append(out, string(b))
			}
			break
		}
		if l := strings.TrimRight(string(b[:i]), "\r"); strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
		b = b[i+1:]
	}
	return out
}

func countOutsideQuotes(l string, sep rune) int {
	n, in := 0, false
	for _, r := range l {
		switch {
		case r == '"':
			in = !in
		case r == sep && !in:
			n++
		}
	}
	return n
}

func (s *csvSource) Info() Info      { return s.info }
func (s *csvSource) Sheets() []Sheet { return nil }
func (s *csvSource) Close() error    { return nil }

func (s *csvSource) Rows(ctx context.Context) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		f, err := os.Open(s.path)
		if err != nil {
			yield(Row{}, fmt.Errorf("opening %s: %w", filepath.Base(s.path), err))
			return
		}
		defer f.Close()
		var r io.Reader = bufio.NewReaderSize(f, 256<<10)
		if s.skip > 0 {
			io.CopyN(io.Discard, r, int64(s.skip))
		}
		if s.enc != nil {
			r = transform.NewReader(r, s.enc.NewDecoder())
		}
		br, ok := r.(*bufio.Reader)
		if !ok {
			br = bufio.NewReaderSize(r, 64<<10)
		}
		cr := &csvReader{br: br, sep: string(s.sep), cr: s.cr}
		num := 0
		for {
			rec, line, err := cr.read()
			if err == io.EOF {
				return
			}
			num++
			if err != nil {
				var qe *quoteError
				if errors.As(err, &qe) {
					yield(Row{}, fileErr(ErrCodeCorrupt,
						fmt.Sprintf("CSV mal formado en la línea %d: comillas sin cerrar o mal puestas en %s; corrija esa línea (o guarde el archivo de nuevo desde Excel) y vuelva a subirlo", qe.line, qe.near),
						fmt.Sprintf("malformed CSV at line %d: unclosed or misplaced quotes", qe.line), err))
				} else {
					yield(Row{}, fmt.Errorf("reading %s: %w", filepath.Base(s.path), err))
				}
				return
			}
			if num&1023 == 0 && ctx.Err() != nil {
				yield(Row{}, ctx.Err())
				return
			}
			if len(rec) == 1 && rec[0] == "" {
				continue // blank line
			}
			if !yield(Row{Num: line, Cells: rec}, nil) {
				return
			}
		}
	}
}

// csvQuotedMax bounds a quoted field: more is an unclosed quote running through the file, not a
// cell (a cell is at most maxCell characters).
const csvQuotedMax = 1 << 20

// csvReader splits decoded CSV text into records. It is strict where a lenient reading loses
// rows — a quoted field must close, within csvQuotedMax bytes, right before a separator or the
// end of a line ("La Negra" Pérez,300… is an error, not the start of a field that swallows the
// following lines) — and lenient where nothing is lost: a quote inside an unquoted field
// (Ana "la jefa" Ruiz) is kept as written. Quoted fields may hold separators, doubled quotes
// and line breaks; \r\n inside them reads as \n.
type csvReader struct {
	br    *bufio.Reader
	sep   string
	cr    bool // lines end with a bare \r
	line  int  // physical lines read
	width int  // fields of the last record: a capacity hint
}

// quoteError is a quoted field that does not close where it should.
type quoteError struct {
	line int    // where the field starts
	near string // its beginning, quoted for the message
}

func (e *quoteError) Error() string {
	return fmt.Sprintf("line %d: unclosed or misplaced quote near %s", e.line, e.near)
}

// readLine returns the next physical line without its line break.
func (r *csvReader) readLine() (string, error) {
	term := byte('\n')
	if r.cr {
		term = '\r'
	}
	s, err := r.br.ReadString(term)
	switch {
	case err == io.EOF && s != "":
	case err != nil:
		return "", err
	default:
		s = s[:len(s)-1]
	}
	r.line++
	if r.cr {
		if b, err := r.br.Peek(1); err == nil && b[0] == '\n' { // a \r\n among the \r
			r.br.Discard(1)
		}
		return s, nil
	}
	return strings.TrimSuffix(s, "\r"), nil
}

// read returns the next record and the line it starts on, skipping empty lines; io.EOF at the
// end.
func (r *csvReader) read() ([]string, int, error) {
	var s string
	for s == "" {
		var err error
		if s, err = r.readLine(); err != nil {
			return nil, 0, err
		}
	}
	line := r.line
	rec := make([]string, 0, r.width)
	for {
		if !strings.HasPrefix(s, `"`) {
			i := strings.Index(s, r.sep)
			if i < 0 {
				rec = append(rec, s)
				break
			}
			rec = append(rec, s[:i])
			s = s[i+len(r.sep):]
			continue
		}
		field, rest, more, err := r.quoted(s)
		if err != nil {
			return nil, 0, err
		}
		rec = append(rec, field)
		if !more {
			break
		}
		s = rest
	}
	r.width = len(rec)
	return rec, line, nil
}

// quoted reads a quoted field starting at s (its opening quote), through as many lines as it
// spans. rest is what follows its separator; more is false when the record ends with it.
func (r *csvReader) quoted(s string) (field, rest string, more bool, err error) {
	start, startLine := s, r.line
	bad := func() (string, string, bool, error) {
		near, _, _ := strings.Cut(start, "\n")
		return "", "", false, &quoteError{line: startLine, near: fmt.Sprintf("«%s»", truncate(near, 40))}
	}
	s = s[1:]
	var b []byte // the value, when it is not a plain substring of the line
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			b = append(append(b, s...), '\n')
			if len(b) > csvQuotedMax {
				return bad()
			}
			next, err := r.readLine()
			if err == io.EOF {
				return bad()
			}
			if err != nil {
				return "", "", false, err
			}
			s = next
			continue
		}
		if i+1 < len(s) && s[i+1] == '"' { // "" is a quote
			b = append(append(b, s[:i]...), '"')
			s = s[i+2:]
			continue
		}
		val := s[:i]
		if b != nil {
			val = string(append(b, val...))
		}
		after := s[i+1:]
		for after != "" && (after[0] == ' ' || after[0] == '\t') && !strings.HasPrefix(after, r.sep) {
			after = after[1:] // "Ana" ,300
		}
		switch {
		case after == "":
			return val, "", false, nil
		case strings.HasPrefix(after, r.sep):
			return val, after[len(r.sep):], true, nil
		}
		return bad()
	}
}
