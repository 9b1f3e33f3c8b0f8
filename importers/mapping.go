package importers

import (
	"fmt"
	"regexp"
	"slices"
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

// Validate checks a mapping: one phone column, known kinds, valid and unique attribute keys.
func (m Mapping) Validate() error {
	var problems []string
	seen := map[Kind]int{}
	keys := map[string]bool{}
	for _, c := range m.Columns {
		switch c.Kind {
		case KindPhone, KindName, KindFirstName, KindLastName, KindEmail, KindLanguage, KindTags,
			KindConsent, KindConsentDate, KindConsentSource, KindIgnore:
		case KindAttribute:
			if !reAttrKey.MatchString(c.Key) {
				problems = append(problems, fmt.Sprintf("columna %s: clave de atributo %q inválida (use a-z, 0-9 y _)", c.Letter, c.Key))
			} else if keys[c.Key] {
				problems = append(problems, fmt.Sprintf("columna %s: el atributo %q ya está en otra columna", c.Letter, c.Key))
			}
			keys[c.Key] = true
			switch c.Type {
			case AttrText, AttrNumber, AttrDate, AttrBool:
			default:
				problems = append(problems, fmt.Sprintf("columna %s: tipo %q inválido (text, number, date, bool)", c.Letter, c.Type))
			}
		default:
			problems = append(problems, fmt.Sprintf("columna %s: tipo de columna %q desconocido", c.Letter, c.Kind))
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
		"autorizo", "autorizacion", "autorizacao", "permiso", "permissao", "habeas") || hasPhrase(header, "opt in")
	switch {
	case consentWord && hasWord(ws, "fecha", "data", "date", "dia", "cuando", "when"):
		return KindConsentDate
	case hasWord(ws, "origen", "fuente", "source", "origem", "fonte", "canal", "channel") && (consentWord || len(ws) <= 2):
		return KindConsentSource
	case consentWord:
		return KindConsent
	case hasWord(ws, "documento", "cedula", "cc", "nit", "rut", "cpf", "dni", "curp", "rfc", "identificacion", "id", "codigo", "code", "cep", "postal", "zip"):
		return ""
	case hasWord(ws, "telefono", "telefonos", "tel", "celular", "cel", "movil", "moviles", "whatsapp", "whats", "wa", "wpp", "zap", "numero",
		"phone", "mobile", "cell", "cellphone", "fone", "telefone", "msisdn") ||
		(len(ws) == 1 && ws[0] == "numero") || hasPhrase(header, "numero de contacto", "numero de contato"):
		return KindPhone
	case hasWord(ws, "correo", "email", "mail", "emails") || hasPhrase(header, "e mail"):
		return KindEmail
	case hasWord(ws, "apellido", "apellidos", "surname", "sobrenome", "lastname") || hasPhrase(header, "last name", "family name"):
		return KindLastName
	case hasPhrase(header, "first name", "primer nombre", "primeiro nome", "nombres", "firstname", "given name"):
		return KindFirstName
	case hasWord(ws, "empresa", "compania", "company", "negocio", "usuario", "user", "vendedor", "asesor"):
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
	for i := range m.Columns {
		h := ""
		if i < len(headers) {
			h = strings.TrimSpace(headers[i])
		}
		c := Column{Index: i, Letter: ColumnLetter(i), Header: h}
		if k := guessKind(h); k != "" && (k == KindTags || !taken[k]) {
			c.Kind = k
			taken[k] = true
		}
		m.Columns[i] = c
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
		if c.Type == AttrNumber && hasWord(words(c.Header), "fecha", "date", "data", "nacimiento", "cumpleanos", "aniversario", "nascimento", "birthday") {
			c.Type = AttrDate // raw Excel date cells are serial numbers
		}
		attrs++
	}
	return m
}

func guessType(values []string) AttrType {
	if len(values) == 0 {
		return AttrText
	}
	isNum, isDate, isBool := true, true, true
	for _, v := range values {
		if _, ok := parseNumber(v); !ok {
			isNum = false
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

// ParseMapSpec applies a CLI mapping such as "phone=C,name=A,tags=D,ciudad=E:text,F=ignore"
// over base (usually GuessMapping's): the named columns take the given kind, and a column that
// held a single-column kind now given to another becomes an attribute. Anything that is not a
// known kind is an attribute key, optionally with ":type".
func ParseMapSpec(spec string, base Mapping) (Mapping, error) {
	m := Mapping{Columns: slices.Clone(base.Columns)}
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
		letter, typ, _ := strings.Cut(v, ":")
		idx, err := excelize.ColumnNameToNumber(strings.ToUpper(letter))
		if err != nil {
			return m, fileErr(ErrCodeBadMapping, fmt.Sprintf("%q: columna %q inválida", part, letter), "bad column letter", err)
		}
		idx--
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
