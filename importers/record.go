package importers

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pregon/pregon/phone"
)

// Declaration is consent declared for the whole file by the person importing it ("all these
// customers accepted WhatsApp messages in our store form, text v3"). A row's own consent column
// saying "no" still wins.
type Declaration struct {
	Declared bool       `json:"declared"`
	Source   string     `json:"source,omitempty"` // e.g. "formulario tienda"
	Text     string     `json:"text,omitempty"`   // the consent text or its version
	At       *time.Time `json:"at,omitempty"`     // when it was collected (default: the import time)
}

// RowError is one problem of one row, as the error report shows it.
type RowError struct {
	Row    int      `json:"row"`
	Column string   `json:"column"` // header, or the column letter
	Value  string   `json:"value"`
	Reason string   `json:"reason"` // Spanish
	Raw    []string `json:"raw,omitempty"`
}

// maxCell is the longest value kept in a text field.
const maxCell = 10_000

// record is a valid, normalised row on its way to the staging table.
type record struct {
	row       int
	key       uint64 // E.164 digits as a number, for deduplication
	e164      string
	country   string
	name      string // "" = not given (NULL in staging)
	email     string
	language  string
	tags      []string // nil = not given
	attrs     []byte   // JSON object; nil = none
	consent   bool
	consentAt time.Time
	source    string
	raw       []string // the row's cells, for the error report if the phone turns out repeated
	// notMarketable: staged for the merge, the contact had no documented consent or had opted
	// out (or is not known to exist) before the merge; see directSource.withoutConsent.
	notMarketable bool
}

// processor turns rows into records; it is safe for concurrent use.
type processor struct {
	region string
	decl   Declaration
	now    time.Time
	cols   []Column // by index; Kind "" for unmapped
	phone  int
	// format is the file's format when known: a CSV's cells are typed text, so a bare number
	// there is never an Excel date serial and "1.125" is one thousand one hundred twenty-five.
	// "" (unknown) reads cells as a workbook's could be: raw serials and raw decimals.
	format Format
	// date1904 is a workbook counting its date serials from 1904 (old Excel for Mac): they are
	// 1,462 days behind the 1900 system's.
	date1904 bool
	// loc is the workspace's time zone: a date or time without a zone is read as its wall clock
	// there (see inZone). UTC unless set.
	loc *time.Location
	// suppressed reports a phone whose contact opted out and was then erased (the workspace's
	// suppression list); nil when the list is empty.
	suppressed func(e164 string) bool
}

// suppressedReason rejects a row whose phone is on the workspace's suppression list.
const suppressedReason = "este número se dio de baja y luego se borraron sus datos: no se vuelve a importar"

func newProcessor(m Mapping, region string, decl Declaration, now time.Time) *processor {
	p := &processor{region: region, decl: decl, now: now, phone: -1, loc: time.UTC}
	for _, c := range m.Columns {
		for len(p.cols) <= c.Index {
			p.cols = append(p.cols, Column{})
		}
		p.cols[c.Index] = c
		if c.Kind == KindPhone {
			p.phone = c.Index
		}
	}
	return p
}

// readsSource tells the processor which file its rows come from (see format and date1904);
// without it, every file is read as a 1900-system workbook could be.
func (p *processor) readsSource(info Info) { p.format, p.date1904 = info.Format, info.Date1904 }

// inZone says which time zone a date without one is in: a consent date of 04/10/2025 is that
// day's midnight in the workspace's time zone. nil leaves UTC.
func (p *processor) inZone(loc *time.Location) {
	if loc != nil {
		p.loc = loc
	}
}

// date reads a date cell: a serial only from a workbook, in the workbook's date system; a value
// without a zone is a wall-clock time in the processor's time zone.
func (p *processor) date(v string) (time.Time, error) {
	t, err := parseDateIn(v, p.format != FormatCSV, p.loc)
	if err == nil && p.date1904 && plainNumber(strings.TrimSpace(v)) {
		t = t.AddDate(0, 0, 1462)
	}
	return t, err
}

func (p *processor) colName(i int) string {
	if i < len(p.cols) && p.cols[i].Header != "" {
		return p.cols[i].Header
	}
	return ColumnLetter(i)
}

// process validates one row. skip is true for a blank row.
func (p *processor) process(r Row) (rec record, errs []RowError, skip bool) {
	bad := cleanCells(r.Cells)
	if nonEmpty(r.Cells) == 0 {
		return rec, nil, true
	}
	rec.row, rec.raw = r.Num, r.Cells
	fail := func(i int, v, reason string) {
		errs = append(errs, RowError{Row: r.Num, Column: p.colName(i), Value: truncate(v, 200), Reason: reason})
	}
	var (
		first, last string
		explicit    = -1 // consent column: -1 absent/empty, 0 no, 1 yes
		consentDate time.Time
		attrs       map[string]any
		phoneFound  bool
	)
	for i, v := range r.Cells {
		if i >= len(p.cols) {
			break
		}
		c := &p.cols[i]
		if c.Kind == "" || c.Kind == KindIgnore {
			continue
		}
		v = strings.TrimSpace(v)
		if bad != nil && slices.Contains(bad, i) {
			phoneFound = phoneFound || c.Kind == KindPhone
			fail(i, v, badTextReason)
			continue
		}
		if c.Kind == KindPhone {
			phoneFound = true
			res, err := phone.Normalize(v, p.region)
			if err != nil {
				reason := err.Error()
				if pe, ok := phone.IsError(err); ok {
					reason = pe.Reason
				}
				fail(i, v, reason)
				continue
			}
			if p.suppressed != nil && p.suppressed(res.E164) {
				fail(i, v, suppressedReason)
				continue
			}
			rec.e164, rec.country = res.E164, res.Region
			rec.key, _ = strconv.ParseUint(res.E164[1:], 10, 64)
			continue
		}
		if v == "" {
			continue
		}
		if len(v) > maxCell { // bytes: a cheap bound on characters
			if n := utf8.RuneCountInString(v); n > maxCell {
				fail(i, v, fmt.Sprintf("valor demasiado largo (%d caracteres; máximo %d)", n, maxCell))
				continue
			}
		}
		switch c.Kind {
		case KindName:
			rec.name = v
		case KindFirstName:
			first = v
		case KindLastName:
			last = v
		case KindEmail:
			v = strings.ToLower(v)
			if !validEmail(v) {
				fail(i, v, "correo electrónico inválido")
				continue
			}
			rec.email = v
		case KindLanguage:
			l, ok := normLanguage(v)
			if !ok {
				fail(i, v, "idioma no reconocido (use es, pt_BR, en…)")
				continue
			}
			rec.language = l
		case KindTags:
			tags, long := splitTags(v)
			if long != "" {
				fail(i, v, fmt.Sprintf("etiqueta de más de %d caracteres: %q", maxTag, truncate(long, 40)))
				continue
			}
			rec.tags = append(rec.tags, tags...)
		case KindConsent:
			b, ok := parseBool(v)
			if !ok {
				fail(i, v, "consentimiento no reconocido (use sí o no)")
				continue
			}
			explicit = 0
			if b {
				explicit = 1
			}
		case KindConsentDate:
			t, err := p.date(v)
			if err != nil {
				fail(i, v, dateReason(err))
				continue
			}
			if t.After(p.now.Add(24 * time.Hour)) {
				fail(i, v, "fecha de consentimiento en el futuro")
				continue
			}
			consentDate = t
		case KindConsentSource:
			rec.source = v
		case KindAttribute:
			val, reason := p.attrValue(c.Type, v)
			if reason != "" {
				fail(i, v, reason)
				continue
			}
			if attrs == nil {
				attrs = make(map[string]any, 4)
			}
			attrs[c.Key] = val
		}
	}
	if !phoneFound && p.phone >= 0 {
		fail(p.phone, "", "sin número de teléfono")
	}
	if len(errs) > 0 {
		return rec, errs, false
	}
	if rec.name == "" && (first != "" || last != "") {
		rec.name = strings.TrimSpace(first + " " + last)
	}
	if attrs != nil {
		rec.attrs, _ = json.Marshal(attrs)
	}
	// Consent is recorded only when documented: a yes in the row, a consent date, or the file's
	// declaration, and never against the row's own "no".
	switch {
	case explicit == 0:
	case explicit == 1, !consentDate.IsZero(), p.decl.Declared:
		rec.consent = true
		rec.consentAt = p.now
		if p.decl.At != nil {
			rec.consentAt = *p.decl.At
		}
		if !consentDate.IsZero() {
			rec.consentAt = consentDate
		}
		if rec.source == "" {
			rec.source = p.decl.Source
		}
		if rec.source == "" {
			rec.source = "import"
		}
	}
	if !rec.consent {
		rec.source = ""
	}
	return rec, nil, false
}

func (p *processor) attrValue(t AttrType, v string) (any, string) {
	switch t {
	case AttrNumber:
		f, digits, ok := parseNumberCellDigits(v, p.format != FormatCSV)
		if !ok {
			return nil, "no es un número"
		}
		if !keepsDigits(digits, f) {
			return nil, fmt.Sprintf("número de %d cifras: como número se guardaría con otras últimas cifras; importe esta columna como texto", intDigits(digits))
		}
		return f, ""
	case AttrDate:
		d, err := p.date(v)
		if err != nil {
			return nil, dateReason(err)
		}
		return d.Format(time.DateOnly), ""
	case AttrBool:
		b, ok := parseBool(v)
		if !ok {
			return nil, "no es sí/no"
		}
		return b, ""
	}
	return v, ""
}

// badTextReason is the row error of a mapped cell that was not valid text.
const badTextReason = "el valor tiene caracteres que no son texto válido (se muestran como \uFFFD): el archivo no está en la codificación con que se leyó; guárdelo como «CSV UTF-8» o elija su codificación y vuelva a subirlo"

// cleanCells makes a row's cells storable as Postgres text, in place: NUL characters are removed
// (Excel writes one in a cell as _x0000_; text cannot hold it, and it means nothing to a
// person) and invalid UTF-8 is made valid, each bad sequence replaced by U+FFFD. bad lists the
// cells that were not valid UTF-8 (nil: none), for the row's errors. A valid row costs one
// pass over its bytes.
func cleanCells(cells []string) (bad []int) {
	for i, v := range cells {
		if strings.IndexByte(v, 0) >= 0 {
			v = strings.ReplaceAll(v, "\x00", "")
			cells[i] = v
		}
		if !utf8.ValidString(v) {
			cells[i] = strings.ToValidUTF8(v, "\uFFFD")
			bad = append(bad, i)
		}
	}
	return bad
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
