package importers

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/pregon/pregon/phone"
)

// Kind is what a column holds.
type Kind string

// Column kinds.
const (
	KindPhone         Kind = "phone"
	KindName          Kind = "name"
	KindFirstName     Kind = "first_name"
	KindLastName      Kind = "last_name"
	KindEmail         Kind = "email"
	KindLanguage      Kind = "language"
	KindTags          Kind = "tags"           // split on , ; |
	KindConsent       Kind = "consent"        // yes/no/sí/true/1/x…
	KindConsentDate   Kind = "consent_date"   // when consent was given
	KindConsentSource Kind = "consent_source" // where it was given (form, store…)
	KindAttribute     Kind = "attribute"      // attributes[Key], typed by Type
	KindIgnore        Kind = "ignore"
)

// AttrType is the type an attribute column's values are stored with.
type AttrType string

// Attribute types.
const (
	AttrText   AttrType = "text"
	AttrNumber AttrType = "number"
	AttrDate   AttrType = "date" // stored as "YYYY-MM-DD"
	AttrBool   AttrType = "bool"
)

// Column says what one column of the file is.
type Column struct {
	Index  int      `json:"index"`  // 0-based
	Letter string   `json:"letter"` // "A", "B", … as a spreadsheet shows it
	Header string   `json:"header"` // as written in the header row ("" without one)
	Kind   Kind     `json:"kind"`
	Key    string   `json:"key,omitempty"`  // attribute key
	Type   AttrType `json:"type,omitempty"` // attribute type
}

// Mapping says what every column of the file is.
type Mapping struct {
	Columns []Column `json:"columns"`
}

// Phone returns the index of the phone column, or -1.
func (m Mapping) Phone() int {
	for _, c := range m.Columns {
		if c.Kind == KindPhone {
			return c.Index
		}
	}
	return -1
}

var reAttrKey = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// singleKinds may be mapped to one column only.
var singleKinds = []Kind{KindPhone, KindName, KindFirstName, KindLastName, KindEmail, KindLanguage, KindConsent, KindConsentDate, KindConsentSource}

// MaxColumns is the most columns a worksheet can have (Excel's column XFD).
const MaxColumns = 16384

// Validate checks a mapping: one phone column, known kinds, valid and unique attribute keys,
// column indexes from 0 to MaxColumns-1, each column mapped once. It does not know the file:
// ValidateFor also rejects columns the file does not have.
func (m Mapping) Validate() error { return m.validate(0) }

// ValidateFor is Validate for a file of width columns (len of the guessed mapping's Columns):
// a column at or past width is an error too. width <= 0 is Validate.
func (m Mapping) ValidateFor(width int) error { return m.validate(width) }

func (m Mapping) validate(width int) error {
	var problems []string
	seen := map[Kind]int{}
	keys := map[string]bool{}
	indexes := map[int]bool{}
	for _, c := range m.Columns {
		name := colName(c)
		switch {
		case c.Index < 0:
			problems = append(problems, fmt.Sprintf("índice de columna %d inválido (la primera columna es 0)", c.Index))
		case c.Index >= MaxColumns:
			problems = append(problems, fmt.Sprintf("índice de columna %d inválido (una hoja tiene como máximo %d columnas)", c.Index, MaxColumns))
		case width > 0 && c.Index >= width:
			problems = append(problems, fmt.Sprintf("la columna %s no existe: el archivo tiene %d columnas (A a %s)", name, width, ColumnLetter(width-1)))
		case indexes[c.Index]:
			problems = append(problems, fmt.Sprintf("la columna %s está más de una vez en la asignación", name))
		}
		indexes[c.Index] = true
		switch c.Kind {
		case KindPhone, KindName, KindFirstName, KindLastName, KindEmail, KindLanguage, KindTags,
			KindConsent, KindConsentDate, KindConsentSource, KindIgnore:
		case KindAttribute:
			if !reAttrKey.MatchString(c.Key) {
				problems = append(problems, fmt.Sprintf("columna %s: clave de atributo %q inválida (use a-z, 0-9 y _)", name, c.Key))
			} else if keys[c.Key] {
				problems = append(problems, fmt.Sprintf("columna %s: el atributo %q ya está en otra columna", name, c.Key))
			}
			keys[c.Key] = true
			switch c.Type {
			case AttrText, AttrNumber, AttrDate, AttrBool:
			default:
				problems = append(problems, fmt.Sprintf("columna %s: tipo %q inválido (text, number, date, bool)", name, c.Type))
			}
		default:
			problems = append(problems, fmt.Sprintf("columna %s: tipo de columna %q desconocido", name, c.Kind))
		}
		seen[c.Kind]++
	}
	for _, k := range singleKinds {
		if seen[k] > 1 {
			problems = append(problems, fmt.Sprintf("%d columnas son %q; solo puede haber una", seen[k], k))
		}
	}
	if seen[KindPhone] == 0 {
		return fileErr(ErrCodeNoPhoneColumn, "no hay columna de teléfono: indique cuál columna tiene el número de WhatsApp",
			"no phone column: say which column holds the WhatsApp number", nil)
	}
	if len(problems) > 0 {
		return fileErr(ErrCodeBadMapping, strings.Join(problems, "; "), "invalid column mapping", nil)
	}
	return nil
}

// colName names a column in messages: its letter (given or from its index), else its index.
func colName(c Column) string {
	switch {
	case c.Letter != "":
		return c.Letter
	case c.Index >= 0 && c.Index < MaxColumns:
		return ColumnLetter(c.Index)
	}
	return strconv.Itoa(c.Index)
}

// ColumnLetter is "A" for 0, "AA" for 26…
func ColumnLetter(i int) string {
	s, _ := excelize.ColumnNumberToName(i + 1)
	return s
}

// fold lower-cases and strips accents and punctuation, for comparing headers.
func fold(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch r {
		case 'á', 'à', 'â', 'ã', 'ä':
			r = 'a'
		case 'é', 'è', 'ê', 'ë':
			r = 'e'
		case 'í', 'ì', 'î', 'ï':
			r = 'i'
		case 'ó', 'ò', 'ô', 'õ', 'ö':
			r = 'o'
		case 'ú', 'ù', 'û', 'ü':
			r = 'u'
		case 'ñ':
			r = 'n'
		case 'ç':
			r = 'c'
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(r)
			space = false
		} else {
			space = true
		}
	}
	return b.String()
}

// words returns the folded header's words.
func words(h string) []string { return strings.Fields(fold(h)) }

func hasWord(ws []string, list ...string) bool {
	for _, w := range ws {
		if slices.Contains(list, w) {
			return true
		}
	}
	return false
}

func hasPhrase(h string, list ...string) bool {
	f := " " + fold(h) + " "
	for _, p := range list {
		if strings.Contains(f, " "+p+" ") {
			return true
		}
	}
	return false
}

// guessKind guesses a column's kind from its header (Spanish, Portuguese, English), or "".
func guessKind(header string) Kind {
	ws := words(header)
	if len(ws) == 0 {
		return ""
	}
	consentWord := hasWord(ws, "acepta", "acepto", "aceita", "aceite", "consentimiento", "consentimento", "consent", "optin", "autoriza",
		"autorizo", "autorizacion", "autorizacao", "permiso", "permissao", "habeas", "suscrito", "suscrita", "inscrito",
		"accepts", "accept", "accepted", "subscribed", "subscriber", "agree", "agrees", "agreed") || hasPhrase(header, "opt in")
	switch {
	case consentWord && (hasWord(ws, "fecha", "date", "dia", "cuando", "when") || dataIsDate(ws)):
		return KindConsentDate
	case hasWord(ws, "origen", "fuente", "source", "origem", "fonte", "canal", "channel") && (consentWord || len(ws) <= 2):
		return KindConsentSource
	case consentWord:
		return KindConsent
	case hasWord(ws, "documento", "cedula", "cc", "nit", "rut", "cpf", "dni", "curp", "rfc", "identificacion", "id", "codigo", "code", "cep", "postal", "zip"):
		return ""
	case hasWord(ws, "numero", "nro", "num", "no", "n", "number", "nr") && hasWord(ws, idNumberWords...) &&
		!hasWord(ws, mobileWords...) && !hasWord(ws, phoneWords[1:]...):
		return "" // "Número de cliente", "No. de pedido": an identifier, not a phone
	case hasWord(ws, mobileWords...) || hasWord(ws, phoneWords...) || hasPhrase(header, "numero de contacto", "numero de contato"):
		return KindPhone
	case hasWord(ws, "correo", "email", "mail", "emails") || hasPhrase(header, "e mail"):
		return KindEmail
	case hasWord(ws, nameWords...) && (hasWord(ws, surnameWords...) || hasWord(ws, "completo", "completos", "completa", "full")) &&
		!hasWord(ws, companyWords...):
		return KindName // "Nombres y apellidos", "Nome e sobrenome", "Nombre completo": the full name
	case hasWord(ws, surnameWords...) || hasPhrase(header, "last name", "family name"):
		return KindLastName
	case hasPhrase(header, "first name", "primer nombre", "primeiro nome", "nombres", "firstname", "given name"):
		return KindFirstName
	case hasWord(ws, companyWords...),
		hasWord(ws, dateTypedWords...): // "Cliente desde" is a date, not the name
		return ""
	case hasWord(ws, "nombre", "name", "nome", "cliente", "customer"):
		return KindName
	case hasWord(ws, "idioma", "language", "lang", "lingua", "lengua"):
		return KindLanguage
	case hasWord(ws, "etiquetas", "etiqueta", "tags", "tag", "segmentos", "grupos", "listas"):
		return KindTags
	}
	return ""
}

// dataIsDate: the header has the Portuguese "data" (a date: "Data do consentimento") other
// than in "habeas data", Colombia's personal-data authorisation (Ley 1581) whose column holds
// Sí/No, not a date.
func dataIsDate(ws []string) bool {
	for i, w := range ws {
		if w == "data" && (i == 0 || ws[i-1] != "habeas") {
			return true
		}
	}
	return false
}

// Words of phone headers: mobileWords rank above phoneWords (numero first), which rank above a
// header with a landlineWords word (see phoneRank).
var (
	mobileWords    = []string{"celular", "celulares", "cel", "celu", "movil", "moviles", "movel", "telemovel", "whatsapp", "whatsap", "watsapp", "whats", "wa", "wpp", "wsp", "zap", "mobile", "cell", "cellphone", "cellular"}
	phoneWords     = []string{"numero", "telefono", "telefonos", "tel", "telf", "telef", "tlf", "tlfn", "tlfno", "tfno", "fono", "phone", "fone", "telefone", "telefones", "msisdn"}
	landlineWords  = []string{"fijo", "fija", "fixo", "home", "casa", "oficina", "office", "work", "trabajo", "landline", "residencial", "residence", "address", "direccion", "endereco", "billing", "shipping"}
	companyWords   = []string{"empresa", "compania", "company", "negocio", "usuario", "user", "vendedor", "asesor"} // a name, not the contact's
	nameWords      = []string{"nombre", "nombres", "nome", "nomes", "name"}
	surnameWords   = []string{"apellido", "apellidos", "surname", "sobrenome", "sobrenomes", "lastname"}
	idNumberWords  = []string{"cliente", "clientes", "customer", "client", "pedido", "factura", "orden", "order", "invoice", "documento", "identificacion", "ticket", "cuenta", "account", "contrato", "guia", "serie"}
	dateTypedWords = []string{"fecha", "date", "data", "nacimiento", "cumpleanos", "aniversario", "nascimento", "birthday", "desde", "since", "alta"}
)

// phoneRank ranks phone headers for the phone column: a mobile (3) above a phone of any kind
// (2) above a landline or an address's phone (1).
func phoneRank(header string) int {
	ws := words(header)
	switch {
	case hasWord(ws, landlineWords...):
		return 1
	case hasWord(ws, mobileWords...):
		return 3
	}
	return 2
}

// attrKey makes an attribute key from a header: "Ciudad de residencia" → "ciudad_de_residencia".
func attrKey(header string, index int) string {
	k := strings.ReplaceAll(fold(header), " ", "_")
	if len(k) > 64 {
		k = k[:64]
	}
	if k == "" {
		k = "columna_" + strings.ToLower(ColumnLetter(index))
	}
	return k
}

// maxGuessedAttributes caps how many unknown columns become attributes by default (a sheet of
// 1,000 columns is most likely not 1,000 contact attributes); the rest default to ignore.
const maxGuessedAttributes = 100

// GuessMapping proposes a mapping from the headers (nil: no header row) and sample data rows:
// known header words first, then a phone column found by content if no header says so, and
// every other column as a text/number/date/bool attribute guessed from its values.
func GuessMapping(headers []string, sample [][]string, defaultRegion string) Mapping {
	width := len(headers)
	for _, r := range sample {
		width = max(width, len(r))
	}
	m := Mapping{Columns: make([]Column, width)}
	taken := map[Kind]bool{}
	phoneHeader := make([]bool, width) // a phone header, mapped or not
	best, bestRank := -1, 0
	for i := range m.Columns {
		h := ""
		if i < len(headers) {
			h = strings.TrimSpace(headers[i])
		}
		c := Column{Index: i, Letter: ColumnLetter(i), Header: h}
		k := guessKind(h)
		switch {
		case k == KindPhone:
			// The best-ranked phone header is the phone: "Celular" over "Teléfono fijo".
			phoneHeader[i] = true
			if r := phoneRank(h); r > bestRank {
				best, bestRank = i, r
			}
		case k != "" && (k == KindTags || !taken[k]):
			c.Kind = k
			taken[k] = true
		}
		m.Columns[i] = c
	}
	if best >= 0 {
		m.Columns[best].Kind = KindPhone
		taken[KindPhone] = true
	}
	// "Nombre" + "Apellido": the first is the first name.
	if taken[KindLastName] {
		for i := range m.Columns {
			if m.Columns[i].Kind == KindName && !taken[KindFirstName] {
				m.Columns[i].Kind = KindFirstName
				taken[KindFirstName] = true
			}
		}
	}
	col := func(r []string, i int) string {
		if i < len(r) {
			return strings.TrimSpace(r[i])
		}
		return ""
	}
	// No phone header: the column whose values are mostly phone numbers.
	if !taken[KindPhone] {
		best, bestN := -1, 0
		for i := range m.Columns {
			if m.Columns[i].Kind != "" {
				continue
			}
			n, filled := 0, 0
			for _, r := range sample {
				v := col(r, i)
				if v == "" {
					continue
				}
				filled++
				if _, err := phone.Normalize(v, defaultRegion); err == nil {
					n++
				}
			}
			if n > bestN && n*2 >= filled {
				best, bestN = i, n
			}
		}
		if best >= 0 {
			m.Columns[best].Kind = KindPhone
		}
	}
	attrs, keys := 0, map[string]int{}
	for i := range m.Columns {
		c := &m.Columns[i]
		if c.Kind != "" {
			continue
		}
		var values []string
		for _, r := range sample {
			if v := col(r, i); v != "" {
				values = append(values, v)
			}
		}
		if (c.Header == "" && len(values) == 0) || attrs >= maxGuessedAttributes {
			c.Kind = KindIgnore
			continue
		}
		c.Kind = KindAttribute
		c.Key = attrKey(c.Header, i)
		if n := keys[c.Key]; n > 0 { // duplicate headers: "ciudad", "ciudad_2"
			keys[c.Key] = n + 1
			c.Key = fmt.Sprintf("%s_%d", c.Key, n+1)
		}
		keys[c.Key]++
		c.Type = guessType(values)
		switch {
		case c.Type == AttrNumber && (phoneHeader[i] || phoneShaped(values, defaultRegion)):
			c.Type = AttrText // a second phone: "(601) 234-5678" further down is no number
		case c.Type == AttrNumber && hasWord(words(c.Header), dateTypedWords...) && allSerials(values):
			// Raw Excel date cells that lost their date format are serial numbers ("Cliente
			// desde": 45488); a year ("Año de nacimiento": 1990) is no serial and stays a number.
			c.Type = AttrDate
		}
		attrs++
	}
	return m
}

// allSerials: every value reads as an Excel date serial.
func allSerials(values []string) bool {
	for _, v := range values {
		if _, err := parseDate(v, true); err != nil {
			return false
		}
	}
	return true
}

func guessType(values []string) AttrType {
	if len(values) == 0 {
		return AttrText
	}
	isNum, isDate, isBool := true, true, true
	for _, v := range values {
		if _, ok := parseNumber(v); !ok || leadingZero(v) || significantDigits(v) > maxExactDigits {
			isNum = false // "05001" is a code: a number would lose its zero; a CBU, its last digits
		}
		if _, err := parseDate(v, false); err != nil {
			isDate = false
		}
		if _, ok := parseBool(v); !ok {
			isBool = false
		}
	}
	switch {
	case isBool && !isNum:
		return AttrBool
	case isDate && !isNum:
		return AttrDate
	case isNum:
		return AttrNumber
	}
	return AttrText
}

// maxExactDigits is the most significant digits a float64 holds exactly for any value: a
// 22-digit CBU or a 16-digit card number stored as a number comes back with other digits.
const maxExactDigits = 15

// significantDigits counts a number's digits from its first non-zero one, before any exponent
// ("1.5E+3" has two).
func significantDigits(v string) int {
	if i := strings.IndexAny(v, "eE"); i >= 0 {
		v = v[:i]
	}
	n := 0
	for _, c := range v {
		if c >= '1' && c <= '9' || c == '0' && n > 0 {
			n++
		}
	}
	return n
}

// leadingZero: "05001", "007" (a code), not "0", "0.5" or "0,5".
func leadingZero(v string) bool {
	v = strings.TrimSpace(v)
	return len(v) > 1 && v[0] == '0' && v[1] >= '0' && v[1] <= '9'
}

// phoneShaped: at least half the values are phone numbers (landlines too), or start with +.
func phoneShaped(values []string, region string) bool {
	n := 0
	for _, v := range values {
		if strings.HasPrefix(strings.TrimSpace(v), "+") {
			n++
		} else if _, err := phone.NormalizeWith(v, region, phone.Options{AcceptLandlines: true}); err == nil {
			n++
		}
	}
	return n > 0 && n*2 >= len(values)
}

// SpecColumn is a column an override such as "phone=C,name=A" names by letter.
type SpecColumn struct {
	Part   string // the entry, as written ("phone=Z")
	Letter string // the column as written ("Z")
	Index  int    // 0-based
}

// SpecColumns lists the columns an override names by letter, in the grammar of ParseMapSpec
// (for a caller to check them against the file); entries it cannot read, and header names,
// are left for ParseMapSpec.
func SpecColumns(spec string) []SpecColumn {
	var out []SpecColumn
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "ignore" { // "F=ignore"
			v = k
		}
		letter, _, _ := strings.Cut(v, ":")
		n, err := excelize.ColumnNameToNumber(strings.ToUpper(letter))
		if err != nil {
			continue
		}
		out = append(out, SpecColumn{Part: part, Letter: letter, Index: n - 1})
	}
	return out
}

// ParseMapSpec applies a CLI mapping such as "phone=C,name=A,tags=D,ciudad=E:text,F=ignore"
// over base (usually GuessMapping's): the named columns take the given kind, and a column that
// held a single-column kind now given to another becomes an attribute. Anything that is not a
// known kind is an attribute key, optionally with ":type". A column is a letter or a header of
// base ("phone=Celular"); a name longer than the file's column letters ("phone=Tel" in a file
// of 3 columns) is not read as letters. A column, or a single-column kind, given twice is an error.
func ParseMapSpec(spec string, base Mapping) (Mapping, error) {
	m := Mapping{Columns: slices.Clone(base.Columns)}
	kinds := map[Kind]string{} // single kind → the entry that gave it
	cols := map[int]string{}   // column → the entry that mapped it
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return m, fileErr(ErrCodeBadMapping, fmt.Sprintf("%q: use tipo=COLUMNA, p. ej. phone=C", part), "bad --map entry", nil)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "ignore" { // "F=ignore"
			k, v = "ignore", k
		}
		name, typ, _ := strings.Cut(v, ":")
		idx, err := specColumn(part, strings.TrimSpace(name), base)
		if err != nil {
			return m, err
		}
		if prev, dup := cols[idx]; dup {
			return m, fileErr(ErrCodeBadMapping, fmt.Sprintf("%q y %q usan la misma columna %s", prev, part, ColumnLetter(idx)),
				"a column is mapped twice", nil)
		}
		cols[idx] = part
		for len(m.Columns) <= idx {
			i := len(m.Columns)
			m.Columns = append(m.Columns, Column{Index: i, Letter: ColumnLetter(i), Kind: KindIgnore})
		}
		kind := Kind(k)
		c := Column{Index: idx, Letter: ColumnLetter(idx), Header: m.Columns[idx].Header, Kind: kind}
		if !slices.Contains(append(slices.Clone(singleKinds), KindTags, KindIgnore), kind) {
			c.Kind, c.Key, c.Type = KindAttribute, k, AttrType(typ)
			if c.Type == "" {
				c.Type = AttrText
			}
		}
		if slices.Contains(singleKinds, c.Kind) {
			if prev, dup := kinds[c.Kind]; dup {
				return m, fileErr(ErrCodeBadMapping, fmt.Sprintf("%q y %q: solo puede haber una columna %s", prev, part, c.Kind),
					"a single-column kind is given twice", nil)
			}
			kinds[c.Kind] = part
			for i := range m.Columns {
				if i != idx && m.Columns[i].Kind == c.Kind {
					m.Columns[i].Kind, m.Columns[i].Key, m.Columns[i].Type = KindAttribute, attrKey(m.Columns[i].Header, i), AttrText
				}
			}
		}
		m.Columns[idx] = c
	}
	return m, m.Validate()
}

// specColumn finds the column a --map entry names: letters within the file's columns, else a
// header of base, else letters no longer than the file's last column letter (len(base.Columns)
// columns; any letters when base is empty).
func specColumn(part, name string, base Mapping) (int, error) {
	width := len(base.Columns)
	idx, err := excelize.ColumnNameToNumber(strings.ToUpper(name))
	idx--
	if err == nil && (width == 0 || idx < width) {
		return idx, nil
	}
	if f := fold(name); f != "" {
		for i, c := range base.Columns {
			if fold(c.Header) == f {
				return i, nil
			}
		}
	}
	if err == nil && len(name) <= len(ColumnLetter(width-1)) {
		return idx, nil // past the columns seen so far; ValidateFor knows the file
	}
	var avail []string
	for i, c := range base.Columns {
		if i == 30 {
			avail = append(avail, "…")
			break
		}
		if c.Header != "" {
			avail = append(avail, fmt.Sprintf("%s (%s)", ColumnLetter(i), c.Header))
		} else {
			avail = append(avail, ColumnLetter(i))
		}
	}
	msg := fmt.Sprintf("%q: no hay una columna %q", part, name)
	if len(avail) > 0 {
		msg += "; el archivo tiene las columnas " + strings.Join(avail, ", ")
	}
	return 0, fileErr(ErrCodeBadMapping, msg, "no such column", err)
}
