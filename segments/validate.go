package segments

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pregon/pregon/store"
)

// Fields a condition can test.
const (
	FieldName          = "name"
	FieldCountry       = "country"      // ISO region of the phone number: "CO", "MX"
	FieldCountryCode   = "country_code" // calling code of the phone number: "57", "52"
	FieldLanguage      = "language"
	FieldCreatedAt     = "created_at"
	FieldUpdatedAt     = "updated_at"
	FieldConsentAt     = "consent_at"
	FieldConsentSource = "consent_source"
	FieldLastInboundAt = "last_inbound_at"
	FieldTags          = "tags"
	FieldAttribute     = "attribute"
	FieldImportID      = "import_id"
	FieldEngagement    = "engagement"
)

// Attribute types (as importers store them: text, number, bool, date as "YYYY-MM-DD").
const (
	TypeText   = "text"
	TypeNumber = "number"
	TypeDate   = "date"
	TypeBool   = "bool"
)

var fieldLabel = map[string]string{
	FieldName: "el nombre", FieldCountry: "el país", FieldCountryCode: "el código de país",
	FieldLanguage: "el idioma", FieldCreatedAt: "la fecha de creación", FieldUpdatedAt: "la fecha de actualización",
	FieldConsentAt: "la fecha de consentimiento", FieldConsentSource: "el origen del consentimiento",
	FieldLastInboundAt: "el último mensaje del contacto", FieldTags: "las etiquetas", FieldAttribute: "el atributo",
	FieldImportID: "la importación", FieldEngagement: "la interacción con campañas",
}

var opLabel = map[string]string{
	"eq": "es igual a", "neq": "es distinto de", "in": "es uno de", "not_in": "no es ninguno de",
	"contains": "contiene", "starts_with": "empieza por", "exists": "tiene valor",
	"gt": "mayor que", "gte": "mayor o igual que", "lt": "menor que", "lte": "menor o igual que",
	"between": "entre", "before": "antes de", "after": "después de",
	"in_last": "en los últimos N días", "in_next": "en los próximos N días",
	"has_any": "tiene alguna de", "has_all": "tiene todas", "has_none": "no tiene ninguna de",
	"received": "recibió", "delivered": "le fue entregada", "read": "leyó", "failed": "falló",
	"replied": "respondió", "not_read": "no leyó",
}

var dateOps = []string{"before", "after", "between", "in_last", "exists"}

var fieldOps = map[string][]string{
	FieldName:          {"eq", "neq", "contains", "starts_with", "exists"},
	FieldCountry:       {"eq", "in", "not_in"},
	FieldCountryCode:   {"eq", "in", "not_in"},
	FieldLanguage:      {"eq", "in", "not_in"},
	FieldCreatedAt:     dateOps,
	FieldUpdatedAt:     dateOps,
	FieldConsentAt:     dateOps,
	FieldLastInboundAt: dateOps,
	FieldConsentSource: {"eq", "in", "not_in"},
	FieldTags:          {"has_any", "has_all", "has_none"},
	FieldAttribute: {"eq", "neq", "in", "not_in", "contains", "starts_with", "exists",
		"gt", "gte", "lt", "lte", "between", "before", "after", "in_last", "in_next"},
	FieldImportID:   {"eq", "in", "not_in"},
	FieldEngagement: {"received", "delivered", "read", "failed", "replied", "not_read"},
}

var typeOps = map[string][]string{
	TypeText:   {"eq", "neq", "in", "not_in", "contains", "starts_with", "exists"},
	TypeNumber: {"eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists"},
	TypeDate:   {"eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "between", "before", "after", "in_last", "in_next", "exists"},
	TypeBool:   {"eq", "neq", "exists"},
}

var typeLabel = map[string]string{
	TypeText: "un texto", TypeNumber: "un número", TypeDate: "una fecha (AAAA-MM-DD)", TypeBool: "sí/no (true o false)",
}

// operand is a condition's value, checked and converted for the compiler.
type operand struct {
	typ    string     // attribute type
	strs   []string   // texts, tags, countries, languages; numbers in canonical form; dates YYYY-MM-DD
	ints   []int64    // import ids
	boolv  bool       // bool attribute, or exists: true/false
	dates  []dateWhen // column dates
	days   int        // in_last / in_next
	negate bool       // exists with value false
}

// dateWhen is a day (in the workspace's time zone) or an instant.
type dateWhen struct {
	day     time.Time // midnight UTC of the day, when !instant
	t       time.Time
	instant bool
}

// Validate returns every problem of the definition, each with the JSON path of the bad node
// ("$.all[1].value") and a message in Spanish a marketer understands. Nil means valid.
func (d Definition) Validate() []store.Problem {
	v := &validator{problems: slices.Clone(d.problems)}
	v.node(d.Root, "$", 0)
	return v.problems
}

type validator struct {
	problems []store.Problem
	nodes    int
	conds    int
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, store.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) node(n Node, path string, depth int) {
	v.nodes++
	if v.nodes > MaxNodes {
		return // Parse reported it; a built definition is stopped here
	}
	set := 0
	if n.All != nil {
		set++
	}
	if n.Any != nil {
		set++
	}
	if n.Not != nil {
		set++
	}
	if n.Cond != nil {
		set++
	}
	if set > 1 {
		v.add(path, "cada elemento debe ser un solo grupo (\"all\", \"any\" o \"not\") o una condición (\"field\")")
		return
	}
	if depth > MaxDepth {
		v.add(path, "demasiados grupos anidados (máximo %d niveles)", MaxDepth)
		return
	}
	for i, k := range n.All {
		v.node(k, fmt.Sprintf("%s.all[%d]", path, i), depth+1)
	}
	for i, k := range n.Any {
		v.node(k, fmt.Sprintf("%s.any[%d]", path, i), depth+1)
	}
	if n.Not != nil {
		v.node(*n.Not, path+".not", depth+1)
	}
	if n.Cond != nil {
		v.conds++
		if v.conds == MaxConditions+1 && !slices.ContainsFunc(v.problems, func(p store.Problem) bool {
			return strings.Contains(p.Message, "demasiadas condiciones")
		}) {
			v.add(path, "la definición tiene demasiadas condiciones (máximo %d)", MaxConditions)
		}
		resolve(n.Cond, path, v)
	}
}

// resolve checks a condition and converts its value. Problems go to v; the operand is only
// meaningful when none were added.
func resolve(c *Condition, path string, v *validator) operand {
	var o operand
	ops, ok := fieldOps[c.Field]
	if !ok {
		if c.Field == "" {
			v.add(path+".field", "falta \"field\": qué dato del contacto se compara (name, tags, attribute, engagement…)")
		} else {
			v.add(path+".field", "no se puede filtrar por '%s'; use name, country, country_code, language, created_at, updated_at, consent_at, consent_source, last_inbound_at, tags, attribute, import_id o engagement", truncate(c.Field))
		}
		return o
	}
	label := fieldLabel[c.Field]
	if c.Field == FieldAttribute {
		if c.Key == "" {
			v.add(path+".key", "falta el nombre del atributo (\"key\")")
			return o
		}
		if !goodString(c.Key) {
			v.add(path+".key", "el nombre del atributo no puede superar %d caracteres ni contener caracteres de control", MaxStringLen)
			return o
		}
		label = fmt.Sprintf("el atributo '%s'", truncate(c.Key))
	} else {
		if c.Key != "" {
			v.add(path+".key", "\"key\" solo se usa con field \"attribute\"")
		}
		if c.Type != "" {
			v.add(path+".type", "\"type\" solo se usa con field \"attribute\"")
		}
	}
	if c.Field != FieldEngagement && (c.CampaignID != 0 || c.Days != 0 || c.ErrorCode != 0) {
		v.add(path, "\"campaign_id\", \"days\" y \"error_code\" solo se usan con field \"engagement\"")
	}
	if c.Op == "" {
		v.add(path+".op", "falta el operador (\"op\"); para %s puede usar: %s", label, strings.Join(ops, ", "))
		return o
	}
	if !slices.Contains(ops, c.Op) {
		v.add(path+".op", "el operador '%s' no sirve para %s; use uno de: %s", truncate(c.Op), label, strings.Join(ops, ", "))
		return o
	}
	vp := path + ".value"
	switch c.Field {
	case FieldName, FieldConsentSource:
		if c.Op == "exists" {
			o.boolv, o.negate = existsValue(c, vp, v)
		}
		o.strs = stringValues(c, vp, label, v)
	case FieldCountry:
		for i, s := range stringValues(c, vp, label, v) {
			s = strings.ToUpper(s)
			if !countryRe.MatchString(s) {
				v.add(elemPath(c, vp, i), "'%s' no es un código de país de dos letras (CO, MX, AR…)", truncate(s))
			}
			o.strs = append(o.strs, s)
		}
	case FieldCountryCode:
		for i, s := range stringValues(c, vp, label, v) {
			s = strings.TrimPrefix(s, "+")
			if !callingCodeRe.MatchString(s) {
				v.add(elemPath(c, vp, i), "'%s' no es un código telefónico de país (57, 52, 54…)", truncate(s))
			}
			o.strs = append(o.strs, s)
		}
	case FieldLanguage:
		for i, s := range stringValues(c, vp, label, v) {
			s = strings.ToLower(strings.ReplaceAll(s, "-", "_"))
			if !languageRe.MatchString(s) {
				v.add(elemPath(c, vp, i), "'%s' no es un código de idioma (es, pt, en, es_MX…)", truncate(s))
			}
			o.strs = append(o.strs, s)
		}
	case FieldTags:
		o.strs = stringValues(c, vp, label, v)
	case FieldImportID:
		for i, x := range listValues(c, vp, label, v) {
			n, ok := intValue(x)
			if !ok || n <= 0 {
				v.add(elemPath(c, vp, i), "'%s' no es el número de una importación", truncate(fmt.Sprint(x)))
				continue
			}
			o.ints = append(o.ints, n)
		}
	case FieldCreatedAt, FieldUpdatedAt, FieldConsentAt, FieldLastInboundAt:
		o = columnDate(c, vp, label, v)
	case FieldAttribute:
		o = attribute(c, vp, label, v)
	case FieldEngagement:
		if c.Value != nil {
			v.add(vp, "las condiciones de interacción no llevan \"value\"; use \"campaign_id\" o \"days\"")
		}
		if c.CampaignID < 0 {
			v.add(path+".campaign_id", "el número de campaña debe ser positivo")
		}
		if c.Days < 0 || c.Days > MaxDays {
			v.add(path+".days", "\"days\" debe estar entre 1 y %d", MaxDays)
		}
		if c.ErrorCode != 0 && c.Op != "failed" {
			v.add(path+".error_code", "\"error_code\" solo se usa con el operador \"failed\"")
		}
		if c.ErrorCode < 0 {
			v.add(path+".error_code", "el código de error debe ser positivo")
		}
	}
	return o
}

var (
	countryRe     = regexp.MustCompile(`^[A-Z]{2}$`)
	callingCodeRe = regexp.MustCompile(`^[1-9][0-9]{0,3}$`)
	languageRe    = regexp.MustCompile(`^[a-z]{2,3}(_[a-z0-9]{2,4})?$`)
	dayRe         = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

func goodString(s string) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(s) <= MaxStringLen && !strings.ContainsRune(s, 0)
}

// isList reports whether the operator takes a list of values.
func isList(op string) bool {
	switch op {
	case "in", "not_in", "has_any", "has_all", "has_none", "between":
		return true
	}
	return false
}

func elemPath(c *Condition, vp string, i int) string {
	if _, ok := c.Value.([]any); ok {
		return fmt.Sprintf("%s[%d]", vp, i)
	}
	return vp
}

// listValues returns the condition's values: the list for list operators (a single value is
// accepted as a list of one), or the single value.
func listValues(c *Condition, vp, label string, v *validator) []any {
	if c.Op == "exists" {
		return nil
	}
	if c.Value == nil {
		v.add(vp, "falta el valor (\"value\") para %s %s", label, opLabel[c.Op])
		return nil
	}
	list, isArr := c.Value.([]any)
	if !isList(c.Op) {
		if isArr {
			v.add(vp, "el operador '%s' compara con un solo valor, no con una lista; para varios valores use \"in\"", opLabel[c.Op])
			return nil
		}
		return []any{c.Value}
	}
	if !isArr {
		list = []any{c.Value}
	}
	if len(list) == 0 {
		v.add(vp, "la lista de valores está vacía")
		return nil
	}
	if len(list) > MaxListValues {
		v.add(vp, "demasiados valores (máximo %d)", MaxListValues)
		return nil
	}
	return list
}

// stringValues returns the values as non-empty strings (numbers are accepted as their text).
func stringValues(c *Condition, vp, label string, v *validator) []string {
	var out []string
	for i, x := range listValues(c, vp, label, v) {
		var s string
		switch y := x.(type) {
		case string:
			s = strings.TrimSpace(y)
		case json.Number:
			s = string(y)
		default:
			v.add(elemPath(c, vp, i), "%s se compara con un texto; %s no lo es", label, describe(x))
			continue
		}
		if s == "" {
			v.add(elemPath(c, vp, i), "el valor está vacío")
			continue
		}
		if !goodString(s) {
			v.add(elemPath(c, vp, i), "el valor no puede superar %d caracteres ni contener caracteres de control", MaxStringLen)
			continue
		}
		out = append(out, s)
	}
	return out
}

func describe(x any) string {
	switch y := x.(type) {
	case string:
		return "'" + truncate(y) + "'"
	case json.Number:
		return string(y)
	case bool:
		if y {
			return "true"
		}
		return "false"
	case nil:
		return "un valor vacío (null)"
	case []any:
		return "una lista"
	case map[string]any:
		return "un objeto"
	}
	return truncate(fmt.Sprint(x))
}

// columnDate checks the value of a date column condition: a day "YYYY-MM-DD" (in the
// workspace's time zone) or an RFC 3339 instant; a number of days for in_last.
func columnDate(c *Condition, vp, label string, v *validator) operand {
	var o operand
	switch c.Op {
	case "exists":
		o.boolv, o.negate = existsValue(c, vp, v)
		return o
	case "in_last", "in_next":
		o.days = daysValue(c, vp, v)
		return o
	}
	vals := listValues(c, vp, label, v)
	if c.Op == "between" && vals != nil && len(vals) != 2 {
		v.add(vp, "\"entre\" necesita dos fechas: [desde, hasta]")
		return o
	}
	for i, x := range vals {
		s, _ := x.(string)
		s = strings.TrimSpace(s)
		if dayRe.MatchString(s) {
			if d, err := time.Parse(time.DateOnly, s); err == nil {
				o.dates = append(o.dates, dateWhen{day: d})
				continue
			}
		} else if t, err := time.Parse(time.RFC3339, s); err == nil && t.Year() >= 1 && t.Year() <= 9999 {
			o.dates = append(o.dates, dateWhen{t: t, instant: true})
			continue
		}
		v.add(elemPath(c, vp, i), "%s es una fecha; %s no es una fecha válida (AAAA-MM-DD)", label, describe(x))
	}
	if len(o.dates) == 2 && o.dates[0].instant == o.dates[1].instant && o.dates[1].time().Before(o.dates[0].time()) {
		v.add(vp, "la fecha \"hasta\" es anterior a la fecha \"desde\"")
	}
	return o
}

func (d dateWhen) time() time.Time {
	if d.instant {
		return d.t
	}
	return d.day
}

func existsValue(c *Condition, vp string, v *validator) (val, negate bool) {
	switch x := c.Value.(type) {
	case nil:
		return true, false
	case bool:
		return x, !x
	}
	v.add(vp, "\"tiene valor\" no lleva valor (o true / false)")
	return true, false
}

func daysValue(c *Condition, vp string, v *validator) int {
	n, ok := intValue(c.Value)
	if !ok || n < 1 || n > MaxDays {
		v.add(vp, "indique un número de días entre 1 y %d; %s no lo es", MaxDays, describe(c.Value))
		return 0
	}
	return int(n)
}

// attribute decides the attribute's type (declared, or from the operator and the value) and
// checks every value against it.
func attribute(c *Condition, vp, label string, v *validator) operand {
	var o operand
	typ := c.Type
	if typ != "" {
		if _, ok := typeOps[typ]; !ok {
			v.add(strings.TrimSuffix(vp, ".value")+".type", "tipo de atributo desconocido '%s'; use text, number, date o bool", truncate(typ))
			return o
		}
		if !slices.Contains(typeOps[typ], c.Op) {
			v.add(strings.TrimSuffix(vp, ".value")+".op", "%s es %s; el operador '%s' no aplica (use: %s)", label, typeLabel[typ], opLabel[c.Op], strings.Join(typeOps[typ], ", "))
			return o
		}
	}
	switch c.Op {
	case "exists":
		o.boolv, o.negate = existsValue(c, vp, v)
		o.typ = typ
		return o
	case "in_last", "in_next":
		o.typ = TypeDate
		o.days = daysValue(c, vp, v)
		return o
	}
	vals := listValues(c, vp, label, v)
	if len(vals) == 0 {
		return o
	}
	if typ == "" {
		typ = inferType(c.Op, vals[0])
		if typ == "" {
			v.add(elemPath(c, vp, 0), "para comparar con '%s' el valor debe ser un número o una fecha (AAAA-MM-DD); %s no lo es", opLabel[c.Op], describe(vals[0]))
			return o
		}
	}
	o.typ = typ
	if c.Op == "between" && len(vals) != 2 {
		v.add(vp, "\"entre\" necesita dos valores: [desde, hasta]")
		return o
	}
	for i, x := range vals {
		s, ok := typedValue(typ, x)
		if !ok {
			if c.Type != "" || i > 0 {
				v.add(elemPath(c, vp, i), "%s es %s; %s no lo es", label, typeLabel[typ], describe(x))
			} else {
				v.add(elemPath(c, vp, i), "%s no es un valor válido para %s", describe(x), label)
			}
			continue
		}
		if typ == TypeBool {
			o.boolv = s == "true"
		}
		o.strs = append(o.strs, s)
	}
	if c.Op == "between" && len(o.strs) == 2 && lessTyped(typ, o.strs[1], o.strs[0]) {
		v.add(vp, "el valor \"hasta\" es menor que el valor \"desde\"")
	}
	return o
}

// inferType decides an undeclared attribute type from the operator and its first value.
func inferType(op string, x any) string {
	switch op {
	case "contains", "starts_with":
		return TypeText
	case "before", "after":
		return TypeDate
	}
	ordered := op == "gt" || op == "gte" || op == "lt" || op == "lte" || op == "between"
	switch y := x.(type) {
	case json.Number:
		return TypeNumber
	case bool:
		if ordered {
			return ""
		}
		return TypeBool
	case string:
		if ordered {
			if _, ok := typedValue(TypeDate, y); ok {
				return TypeDate
			}
			if _, ok := typedValue(TypeNumber, y); ok {
				return TypeNumber
			}
			return ""
		}
		return TypeText
	}
	if ordered {
		return ""
	}
	return TypeText // reported as a bad text value
}

// typedValue converts one value to the canonical string of typ.
func typedValue(typ string, x any) (string, bool) {
	switch typ {
	case TypeText:
		var s string
		switch y := x.(type) {
		case string:
			s = y
		case json.Number:
			s = string(y)
		default:
			return "", false
		}
		if strings.TrimSpace(s) == "" || !goodString(s) {
			return "", false
		}
		return s, true
	case TypeNumber:
		switch y := x.(type) {
		case json.Number:
			return parseNumber(string(y))
		case string:
			return parseNumber(strings.TrimSpace(y))
		}
	case TypeDate:
		if s, ok := x.(string); ok {
			s = strings.TrimSpace(s)
			if dayRe.MatchString(s) {
				if _, err := time.Parse(time.DateOnly, s); err == nil {
					return s, true
				}
			}
		}
	case TypeBool:
		switch y := x.(type) {
		case bool:
			if y {
				return "true", true
			}
			return "false", true
		case string:
			switch strings.ToLower(strings.TrimSpace(y)) {
			case "true", "sí", "si":
				return "true", true
			case "false", "no":
				return "false", true
			}
		}
	}
	return "", false
}

var (
	maxNumber = big.NewRat(1_000_000_000_000_000, 1) // 1e15
	numberRe  = regexp.MustCompile(`^-?[0-9]{1,20}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,2})?$`)
)

// parseNumber reads a decimal number and returns it in canonical form (no exponent, no
// trailing zeros, at most 10 decimals). Magnitudes over 1e15 are refused.
func parseNumber(s string) (string, bool) {
	if !numberRe.MatchString(s) {
		return "", false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || new(big.Rat).Abs(r).Cmp(maxNumber) > 0 {
		return "", false
	}
	out := r.FloatString(10)
	if strings.Contains(out, ".") {
		out = strings.TrimRight(strings.TrimRight(out, "0"), ".")
	}
	if out == "-0" {
		out = "0"
	}
	return out, true
}

func lessTyped(typ, a, b string) bool {
	if typ == TypeNumber {
		x, _ := new(big.Rat).SetString(a)
		y, _ := new(big.Rat).SetString(b)
		return x != nil && y != nil && x.Cmp(y) < 0
	}
	return a < b
}
