package campaigns

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

// Sources of a variable's value.
const (
	SourceField     = "field"     // a contact field: Fields
	SourceAttribute = "attribute" // a key of the contact's attributes
	SourceLiteral   = "literal"   // the same text for everyone
)

// Fields are the contact fields a variable can take its value from.
var Fields = []string{"name", "first_name", "last_name", "phone", "email", "country", "language"}

// Variable says where one template parameter takes its value from. Param is filled from the
// template by Bind; a client sends only Component, Name (and ButtonIndex), Source, Key or Value,
// and Fallback.
type Variable struct {
	Param
	Source   string `json:"source"`             // field | attribute | literal
	Key      string `json:"key,omitempty"`      // the field or attribute key
	Value    string `json:"value,omitempty"`    // the literal
	Fallback string `json:"fallback,omitempty"` // used when the value is empty; "" = skip the contact
}

// Mapping is a campaign's variable mapping (campaigns.variable_mapping): one Variable per
// template parameter, in sending order.
type Mapping struct {
	Format    string     `json:"format,omitempty"` // positional | named (the template's parameter_format)
	Variables []Variable `json:"variables"`
}

// ParseMapping decodes a stored or submitted mapping ({} and null give an empty one).
func ParseMapping(raw json.RawMessage) (Mapping, error) {
	var m Mapping
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, store.Invalid("variable_mapping", "mapeo de variables inválido: "+err.Error())
	}
	return m, nil
}

// Bind checks a submitted mapping against the template's parameters and returns it complete
// and in sending order: every parameter mapped exactly once, sources valid, nothing extra.
func Bind(params []Param, format string, in Mapping) (Mapping, error) {
	out := Mapping{Format: strings.ToLower(format)}
	if out.Format == "" {
		out.Format = "positional"
	}
	var v store.ValidationError
	given := map[string]Variable{}
	for i, vr := range in.Variables {
		vr.Component = strings.ToLower(strings.TrimSpace(vr.Component))
		vr.Name = strings.TrimSpace(vr.Name)
		k := vr.Param.Key()
		if _, dup := given[k]; dup {
			v.Problems = append(v.Problems, store.Problem{Path: fmt.Sprintf("variable_mapping.variables[%d]", i), Message: "parámetro repetido: " + k})
		}
		given[k] = vr
	}
	for _, p := range params {
		vr, ok := given[p.Key()]
		path := "variable_mapping." + p.Key()
		if !ok {
			v.Problems = append(v.Problems, store.Problem{Path: path, Message: "falta indicar el valor de " + p.Label()})
			continue
		}
		delete(given, p.Key())
		vr.Param = p
		vr.Key = strings.TrimSpace(vr.Key)
		switch vr.Source {
		case SourceField:
			if !validField(vr.Key) {
				v.Problems = append(v.Problems, store.Problem{Path: path, Message: fmt.Sprintf("campo de contacto desconocido %q (use %s)", vr.Key, strings.Join(Fields, ", "))})
			}
			vr.Value = ""
		case SourceAttribute:
			if vr.Key == "" || len(vr.Key) > 100 {
				v.Problems = append(v.Problems, store.Problem{Path: path, Message: "indique la clave del atributo"})
			}
			vr.Value = ""
		case SourceLiteral:
			if clean(vr.Value) == "" {
				v.Problems = append(v.Problems, store.Problem{Path: path, Message: "el texto fijo no puede estar vacío"})
			}
			vr.Key = ""
		default:
			v.Problems = append(v.Problems, store.Problem{Path: path, Message: "origen inválido: field, attribute o literal"})
		}
		var msg string
		if vr.Fallback, msg = checkFallback(vr.Fallback); msg != "" {
			v.Problems = append(v.Problems, store.Problem{Path: path + ".fallback", Message: msg})
		}
		out.Variables = append(out.Variables, vr)
	}
	for k := range given {
		v.Problems = append(v.Problems, store.Problem{Path: "variable_mapping." + k, Message: "la plantilla no tiene este parámetro"})
	}
	if len(v.Problems) > 0 {
		return out, &v
	}
	return out, nil
}

// checkFallback trims a variable's fallback and says why Meta would refuse it as a text
// parameter ("" when fine): a fallback is sent as written, where a contact's value is cleaned.
func checkFallback(f string) (string, string) {
	trimmed := strings.TrimSpace(f)
	switch {
	case f != "" && trimmed == "":
		return trimmed, "el valor por defecto está en blanco: escriba un texto, o déjelo vacío para omitir a los contactos sin valor"
	case strings.ContainsAny(trimmed, "\n\r\t"):
		return trimmed, "el valor por defecto no puede tener saltos de línea ni tabulaciones (WhatsApp rechaza el mensaje)"
	case strings.Contains(trimmed, "     "):
		return trimmed, "el valor por defecto no puede tener más de 4 espacios seguidos (WhatsApp rechaza el mensaje)"
	}
	return trimmed, ""
}

func validField(f string) bool {
	for _, x := range Fields {
		if x == f {
			return true
		}
	}
	return false
}

// Contact is what rendering reads from a contact.
type Contact struct {
	Name       string
	Phone      string // E.164
	Email      string
	Country    string
	Language   string
	Attributes map[string]json.RawMessage
}

var cleaner = strings.NewReplacer("\n", " ", "\r", " ", "\t", " ")

// clean is what Meta accepts in a text parameter: no new lines or tabs, no surrounding spaces.
// The SQL rendering does the same (translate + btrim); runs of more than 4 spaces, which Meta
// also refuses, are squeezed when the values are sent (Expand), so that the launch's SQL stays
// as cheap as it is.
func clean(s string) string { return squeezeSpaces(strings.Trim(cleaner.Replace(s), " ")) }

// squeezeSpaces turns every run of more than 4 spaces into one space: Meta refuses a text
// parameter with 5 spaces in a row (error 132000), and a contact's attribute typed with them
// ("Calle 5      #12") would fail that recipient.
func squeezeSpaces(s string) string {
	if !strings.Contains(s, "     ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] != ' ' {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j-i > 4 {
			b.WriteByte(' ')
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

func (c Contact) field(name string) string {
	n := strings.Trim(c.Name, " ")
	switch name {
	case "name":
		return c.Name
	case "first_name":
		first, _, _ := strings.Cut(n, " ")
		return first
	case "last_name":
		_, rest, _ := strings.Cut(n, " ")
		return rest
	case "phone":
		return c.Phone
	case "email":
		return c.Email
	case "country":
		return c.Country
	case "language":
		return c.Language
	}
	return ""
}

func (c Contact) attribute(key string) string {
	raw, ok := c.Attributes[key]
	if !ok || len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// SkipMissingPrefix starts the skip reason of a contact lacking a variable:
// "missing_variable:body.1".
const SkipMissingPrefix = "missing_variable:"

// Render fills the mapping for one contact. When a value is empty and has no fallback it
// returns skipReason = "missing_variable:<key>" (the first one missing) and no Rendered.
func Render(m Mapping, c Contact) (Rendered, string) {
	r := Rendered{Params: make([]RenderedParam, 0, len(m.Variables))}
	if m.Format == "named" {
		r.Format = "named"
	}
	for _, v := range m.Variables {
		var val string
		switch v.Source {
		case SourceField:
			val = c.field(v.Key)
		case SourceAttribute:
			val = c.attribute(v.Key)
		case SourceLiteral:
			val = v.Value
		}
		val = clean(val)
		if val == "" {
			val = v.Fallback
		}
		if val == "" {
			return Rendered{}, SkipMissingPrefix + v.Param.Key()
		}
		r.Params = append(r.Params, RenderedParam{
			Component: v.Component, Name: v.Name, Type: v.Type, Index: v.ButtonIndex, SubType: v.ButtonType, Value: val,
		})
	}
	return r, ""
}

// SkipReasonText is a Spanish explanation of a recipient's skip reason.
func SkipReasonText(reason string) string {
	switch {
	case strings.HasPrefix(reason, SkipMissingPrefix):
		return "el contacto no tiene valor para " + strings.TrimPrefix(reason, SkipMissingPrefix) + " y no hay valor por defecto"
	case reason == SkipFrequencyCap:
		return "ya recibió el máximo de mensajes de marketing del período (tope de frecuencia)"
	case reason == SkipCoolingDown:
		return "WhatsApp limitó los mensajes de marketing a este contacto (131049); espera 24 h"
	case reason == "campaign_cancelled":
		return "la campaña se canceló antes de enviarle"
	case reason == "campaign_completed":
		return "la campaña terminó antes de enviarle"
	}
	// Contacts who stopped being marketable after the launch (store.RecipientsClaim).
	for _, r := range []store.Reason{store.ReasonOptedOut, store.ReasonMarketingStopped, store.ReasonErased,
		store.ReasonNoConsent, store.ReasonInvalidPhone, store.ReasonUndeliverable, store.ReasonNumberChanged} {
		if reason == r.Code {
			return r.Message + " después del lanzamiento"
		}
	}
	return reason
}

// Skip reasons decided at launch besides missing variables.
const (
	SkipFrequencyCap = "frequency_cap"
	SkipCoolingDown  = "cooling_down"
)

// Rendered is a recipient's filled parameters. The launch freezes only their values in
// recipients.variables, as a JSON array in the order of the campaign's mapping
// (["Ana","ana-20"]): the rest of each parameter (component, name, type, button) is the same
// for every recipient and comes from the mapping, which cannot change once the campaign leaves
// draft (Mapping.Expand puts them back together). Campaigns launched before stored the whole
// Rendered per recipient, with short keys:
//
//	{"f":"named","p":[{"c":"body","n":"nombre","t":"text","v":"Ana"},
//	                  {"c":"button","n":"1","t":"text","i":0,"s":"url","v":"ana-20"}]}
type Rendered struct {
	Format string          `json:"f,omitempty"` // "named" or "" (positional)
	Params []RenderedParam `json:"p"`
}

// Expand rebuilds a recipient's Rendered from its frozen recipients.variables: the values
// array the launch stores (one value per mapping variable, in order), or the whole Rendered
// of campaigns launched before. Empty, null and {} (skipped or erased recipients) give an
// empty Rendered.
func (m Mapping) Expand(variables []byte) (Rendered, error) {
	raw := bytes.TrimSpace(variables)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "{}" {
		return Rendered{}, nil
	}
	if raw[0] == '{' {
		var r Rendered
		if err := json.Unmarshal(raw, &r); err != nil {
			return Rendered{}, fmt.Errorf("decoding rendered variables: %w", err)
		}
		return r, nil
	}
	var values []string
	if err := json.Unmarshal(raw, &values); err != nil {
		return Rendered{}, fmt.Errorf("decoding variable values: %w", err)
	}
	if len(values) != len(m.Variables) {
		return Rendered{}, fmt.Errorf("%d variable values for a mapping of %d", len(values), len(m.Variables))
	}
	r := Rendered{Params: make([]RenderedParam, len(values))}
	if m.Format == "named" {
		r.Format = "named"
	}
	for i, v := range m.Variables {
		r.Params[i] = RenderedParam{Component: v.Component, Name: v.Name, Type: v.Type, Index: v.ButtonIndex, SubType: v.ButtonType, Value: squeezeSpaces(values[i])}
	}
	return r, nil
}

// RenderedParam is one filled parameter.
type RenderedParam struct {
	Component string `json:"c"`           // header | body | button
	Name      string `json:"n,omitempty"` // text parameters: "1", "nombre"
	Type      string `json:"t"`           // text | image | video | document | coupon_code
	Index     int    `json:"i,omitempty"` // button index
	SubType   string `json:"s,omitempty"` // button sub_type: url | copy_code
	Value     string `json:"v"`
}

// Value returns the filled value of the parameter named by key ("body.1"), or "".
func (r Rendered) Value(key string) string {
	for _, p := range r.Params {
		if (Param{Component: p.Component, Name: p.Name, Type: p.Type, ButtonIndex: p.Index, ButtonType: p.SubType}).Key() == key {
			return p.Value
		}
	}
	return ""
}

func mediaOf(v string) whatsapp.Media {
	if _, err := strconv.ParseUint(v, 10, 64); err == nil {
		return whatsapp.Media{ID: v}
	}
	return whatsapp.Media{Link: v}
}

// Components builds the template components of the send request: header, body, then one
// component per button index.
func (r Rendered) Components() []whatsapp.Component {
	var header, body *whatsapp.Component
	var buttons []*whatsapp.Component
	byIndex := map[int]*whatsapp.Component{}
	for _, p := range r.Params {
		var param whatsapp.Parameter
		switch p.Type {
		case "image", "video", "document":
			param = whatsapp.HeaderMedia(p.Type, mediaOf(p.Value))
		case "coupon_code":
			param = whatsapp.Parameter{Type: "coupon_code", CouponCode: p.Value}
		default:
			param = whatsapp.Text(p.Value)
			if r.Format == "named" && p.Component != ComponentButton {
				param.ParameterName = p.Name
			}
		}
		switch p.Component {
		case ComponentHeader:
			if header == nil {
				header = &whatsapp.Component{Type: ComponentHeader}
			}
			header.Parameters = append(header.Parameters, param)
		case ComponentBody:
			if body == nil {
				body = &whatsapp.Component{Type: ComponentBody}
			}
			body.Parameters = append(body.Parameters, param)
		case ComponentButton:
			b := byIndex[p.Index]
			if b == nil {
				b = &whatsapp.Component{Type: ComponentButton, SubType: p.SubType, Index: p.Index}
				byIndex[p.Index] = b
				buttons = append(buttons, b)
			}
			b.Parameters = append(b.Parameters, param)
		}
	}
	var out []whatsapp.Component
	for _, c := range append([]*whatsapp.Component{header, body}, buttons...) {
		if c != nil {
			out = append(out, *c)
		}
	}
	return out
}
