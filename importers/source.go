package importers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
)

// Format is a file format.
type Format string

// Supported formats.
const (
	FormatXLSX Format = "xlsx"
	FormatCSV  Format = "csv"
)

// UnzipSizeLimitDefault caps the uncompressed size of a workbook (zip bombs).
const UnzipSizeLimitDefault = 512 << 20

// Options say how to open a file. The zero value detects everything.
type Options struct {
	Sheet          string // XLSX: sheet name; "" = the first visible sheet
	Encoding       string // CSV: force "utf-8", "windows-1252", "iso-8859-1", "macintosh" or "utf-16"; "" = detect
	Separator      string // CSV: force ",", ";", "\t" or "|"; "" = detect
	UnzipSizeLimit int64  // XLSX: 0 = UnzipSizeLimitDefault
	TmpDir         string // XLSX: where excelize spills big sheets; "" = os.TempDir()
}

// Sheet is a worksheet of a workbook.
type Sheet struct {
	Name   string `json:"name"`
	Hidden bool   `json:"hidden"`
}

// Info describes an opened file.
type Info struct {
	Format    Format   `json:"format"`
	Encoding  string   `json:"encoding,omitempty"`  // CSV
	Separator string   `json:"separator,omitempty"` // CSV
	Sheets    []Sheet  `json:"sheets,omitempty"`    // XLSX
	Sheet     string   `json:"sheet,omitempty"`     // XLSX: the sheet being read
	RowsTotal int64    `json:"rows_total"`          // an estimate (XLSX dimension, CSV line count)
	Notes     []string `json:"notes,omitempty"`     // things the user should know, in Spanish
	// Date1904 (XLSX) is a workbook in the 1904 date system (workbookPr date1904, old Mac Excel):
	// its date serials count from 1904-01-01, so a raw serial read as 1900-based must be
	// moved 1462 days later.
	Date1904 bool `json:"date1904,omitempty"`
}

// Row is one row of a sheet: its 1-based number as a spreadsheet shows it, and its cells
// (trailing empty cells may be missing). Cells are owned by the receiver.
type Row struct {
	Num   int
	Cells []string
}

// Source is an opened file: one sheet of a workbook, or a CSV file.
type Source interface {
	Info() Info
	Sheets() []Sheet
	// Rows iterates over the rows of the sheet, streaming; iteration stops at the first error,
	// which is yielded with a zero Row.
	Rows(ctx context.Context) iter.Seq2[Row, error]
	Close() error
}

// FileError is a file that cannot be read, with a stable code and a message for the marketer.
type FileError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`    // Spanish
	MessageEN string `json:"message_en"` // English
	Err       error  `json:"-"`
}

func (e *FileError) Error() string {
	if e.Err != nil {
		return e.MessageEN + ": " + e.Err.Error()
	}
	return e.MessageEN
}

func (e *FileError) Unwrap() error { return e.Err }

// FileError codes.
const (
	ErrCodeEmpty         = "empty_file"
	ErrCodeCorrupt       = "corrupt_file"
	ErrCodeEncrypted     = "password_protected"
	ErrCodeXLS           = "xls_not_supported"
	ErrCodeUnsupported   = "unsupported_format" // a zip that is not an .xlsx (.ods, .numbers…)
	ErrCodeTooLarge      = "too_large_uncompressed"
	ErrCodeNotText       = "not_a_spreadsheet"
	ErrCodeSheetNotFound = "sheet_not_found"
	ErrCodeNoSheets      = "no_sheets"
	ErrCodeNoRows        = "no_rows"
	ErrCodeNoPhoneColumn = "no_phone_column"
	ErrCodeBadMapping    = "bad_mapping"
	ErrCodeEncoding      = "wrong_encoding"  // the chosen encoding is not the file's
	ErrCodeBadValue      = "invalid_value"   // a value the database cannot store
	ErrCodeBadConsent    = "invalid_consent" // the consent declared for the file
)

func fileErr(code, es, en string, err error) *FileError {
	return &FileError{Code: code, Message: es, MessageEN: en, Err: err}
}

var (
	magicZip = []byte("PK\x03\x04")
	magicOLE = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
)

// unsupportedMessage starts the message for a file that is neither a workbook nor text.
const unsupportedMessage = "formato no soportado: suba un archivo XLSX o CSV"

// binaryHeadSize is how much of a file DetectFormat looks at to tell text from binary data.
const binaryHeadSize = 1024

// DetectFormat looks at the first bytes of a file; the name's extension is only a hint. A zip
// is a workbook, an OLE container an old .xls (or an encrypted workbook), text a CSV; anything
// else (a PDF, an image, binary data) is refused rather than read as a CSV full of garbage.
func DetectFormat(path string) (Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	head := make([]byte, binaryHeadSize)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading %s: %w", filepath.Base(path), err)
	}
	head = head[:n]
	switch {
	case n == 0:
		return "", fileErr(ErrCodeEmpty, "el archivo está vacío", "the file is empty", nil)
	case bytes.HasPrefix(head, magicZip):
		return FormatXLSX, nil
	case bytes.HasPrefix(head, magicOLE):
		return "", oleError(path)
	}
	if es, en := knownBinary(head); es != "" {
		return "", fileErr(ErrCodeUnsupported, unsupportedMessage+" (el archivo es "+es+")", "unsupported format: "+en, nil)
	}
	if binaryHead(head) {
		return "", notTextError()
	}
	return FormatCSV, nil
}

// knownBinary names the formats people upload by mistake, from their magic numbers: in Spanish
// (after "el archivo es") and in English; "" for none of them.
func knownBinary(head []byte) (es, en string) {
	has := func(magic string) bool { return bytes.HasPrefix(head, []byte(magic)) }
	switch {
	case has("%PDF-"):
		return "un PDF", "a PDF"
	case has("\x89PNG\r\n\x1a\n"):
		return "una imagen PNG", "a PNG image"
	case has("\xFF\xD8\xFF"):
		return "una imagen JPEG", "a JPEG image"
	case has("GIF87a"), has("GIF89a"):
		return "una imagen GIF", "a GIF image"
	case has("RIFF") && len(head) >= 12 && string(head[8:12]) == "WEBP":
		return "una imagen WebP", "a WebP image"
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		return "una foto o un video (HEIC, MP4…)", "a HEIC photo or a video"
	case has("II*\x00"), has("MM\x00*"):
		return "una imagen TIFF", "a TIFF image"
	case has("\x1F\x8B"), has("Rar!\x1A\x07"), has("7z\xBC\xAF\x27\x1C"):
		return "un archivo comprimido (.gz, .rar, .7z)", "a compressed archive"
	case has(`{\rtf`):
		return "un documento RTF", "an RTF document"
	}
	return "", ""
}

// binaryHead: the start of a file is binary data, not text: a NUL byte (outside UTF-16 text,
// which starts with its byte order mark), or control characters making more than a tenth of it.
func binaryHead(head []byte) bool {
	if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
		return false
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return true
	}
	ctl := 0
	for _, b := range head {
		if b < 0x20 && b != '\t' && b != '\n' && b != '\r' && b != '\f' && b != '\v' && b != 0x1A {
			ctl++
		}
	}
	return ctl*10 > len(head)
}

// notTextError is a file holding binary data where text was expected.
func notTextError() error {
	return fileErr(ErrCodeNotText, unsupportedMessage+" (el archivo no es una hoja de cálculo ni un CSV: contiene datos binarios)",
		"unsupported format: neither a spreadsheet nor a CSV (binary data)", nil)
}

// oleError tells a password-protected workbook (an OLE container holding EncryptionInfo) from
// an old binary .xls.
func oleError(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Base(path), err)
	}
	if bytes.Contains(b, utf16le("EncryptionInfo")) || bytes.Contains(b, utf16le("EncryptedPackage")) {
		return fileErr(ErrCodeEncrypted, "el libro está protegido con contraseña; quite la contraseña en Excel (Archivo › Información › Proteger libro) y vuelva a subirlo",
			"the workbook is password-protected; remove the password and upload it again", nil)
	}
	return fileErr(ErrCodeXLS, "formato .xls antiguo no soportado; guárdelo como .xlsx o CSV",
		"old binary .xls is not supported; save it as .xlsx or CSV", nil)
}

func utf16le(s string) []byte {
	out := make([]byte, 0, 2*len(s))
	for _, r := range s {
		out = append(out, byte(r), 0)
	}
	return out
}

// Open opens path for reading. format "" (or a format that contradicts the file's first bytes)
// is detected from the content: a CSV renamed .xlsx is read as CSV, and Info.Notes says so.
func Open(path string, format Format, opts Options) (Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", filepath.Base(path), err)
	}
	if st.Size() == 0 {
		return nil, fileErr(ErrCodeEmpty, "el archivo está vacío", "the file is empty", nil)
	}
	detected, err := DetectFormat(path)
	if err != nil {
		return nil, err
	}
	var notes []string
	if format != "" && format != detected {
		if detected == FormatCSV {
			notes = append(notes, fmt.Sprintf("el archivo tiene extensión .%s pero es un archivo de texto (CSV); se leyó como CSV", format))
		} else {
			notes = append(notes, fmt.Sprintf("el archivo tiene extensión .%s pero es un libro de Excel (.xlsx); se leyó como Excel", format))
		}
	}
	var src Source
	switch detected {
	case FormatXLSX:
		src, err = openXLSX(path, opts)
	default:
		src, err = openCSV(path, opts)
	}
	if err != nil {
		return nil, err
	}
	if len(notes) > 0 {
		switch s := src.(type) {
		case *xlsxSource:
			s.info.Notes = append(notes, s.info.Notes...)
		case *csvSource:
			s.info.Notes = append(notes, s.info.Notes...)
		}
	}
	return src, nil
}

// FormatFromName guesses the format from a file name ("" when unknown).
func FormatFromName(name string) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".xlsx", ".xlsm":
		return FormatXLSX
	case ".csv", ".txt", ".tsv":
		return FormatCSV
	}
	return ""
}
