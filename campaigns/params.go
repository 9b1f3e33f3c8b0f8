// Package campaigns holds the rules of a campaign that are neither HTTP nor jobs: which
// parameters a template needs (TemplateParams), how a campaign fills them from a contact
// (Mapping, Render, and the same rendering as set-based SQL for the launch), and the launch
// plan's arithmetic (ETA over throughput, messaging-limit budget and send window).
//
// Rendering exists twice on purpose — in Go for test sends and in SQL for freezing a million
// recipients in one statement — and the tests hold the two to the same output.
package campaigns

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Components of a template that carry parameters.
const (
	ComponentHeader = "header"
	ComponentBody   = "body"
	ComponentButton = "button"
)

// Param is one parameter a campaign must fill, as the template declares it.
type Param struct {
	Component     string `json:"component"`                 // header | body | button
	Name          string `json:"name"`                      // "1", "2"… (positional), "nombre" (named), "media", "code"
	Type          string `json:"type"`                      // text | image | video | document | coupon_code
	ButtonIndex   int    `json:"button_index,omitempty"`    // buttons only
	ButtonSubType string `json:"button_sub_type,omitempty"` // url | copy_code
	Example       string `json:"example,omitempty"`
}

// Key names the parameter inside a campaign: "body.1", "header.nombre", "header.media",
// "button.0.1".
func (p Param) Key() string {
	if p.Component == ComponentButton {
		return fmt.Sprintf("button.%d.%s", p.ButtonIndex, p.Name)
	}
	return p.Component + "." + p.Name
}

// Label is a Spanish description of the parameter for people.
func (p Param) Label() string {
	switch {
	case p.Component == ComponentHeader && p.Name == "media":
		return "el archivo (" + p.Type + ") del encabezado"
	case p.Component == ComponentHeader:
		return "la variable {{" + p.Name + "}} del encabezado"
	case p.Component == ComponentBody:
		return "la variable {{" + p.Name + "}} del cuerpo"
	case p.ButtonSubType == "copy_code":
		return fmt.Sprintf("el código del botón %d", p.ButtonIndex+1)
	default:
		return fmt.Sprintf("la variable {{%s}} del botón %d", p.Name, p.ButtonIndex+1)
	}
}

var placeholderRe = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// metaComponent is a template component as Meta's template API returns it.
type metaComponent struct {
	Type    string          `json:"type"`
	Format  string          `json:"format"`
	Text    string          `json:"text"`
	Example json.RawMessage `json:"example"`
	Buttons []struct {
		Type    string          `json:"type"`
		Text    string          `json:"text"`
		URL     string          `json:"url"`
		Example json.RawMessage `json:"example"`
	} `json:"buttons"`
}

type metaExample struct {
	HeaderText      []string   `json:"header_text"`
	BodyText        [][]string `json:"body_text"`
	HeaderTextNamed []namedEx  `json:"header_text_named_params"`
	BodyTextNamed   []namedEx  `json:"body_text_named_params"`
	HeaderHandle    []string   `json:"header_handle"`
	HeaderURL       []string   `json:"header_url"`
}

type namedEx struct {
	ParamName string `json:"param_name"`
	Example   string `json:"example"`
}

// TemplateParams lists the parameters of a template from its components (Meta's JSON, as
// stored in templates.components), in sending order: header, body, buttons. Positional
// parameters are ordered by number.
func TemplateParams(components json.RawMessage) ([]Param, error) {
	if len(components) == 0 {
		return nil, nil
	}
	var comps []metaComponent
	if err := json.Unmarshal(components, &comps); err != nil {
		return nil, fmt.Errorf("decoding template components: %w", err)
	}
	var header, body, buttons []Param
	for _, c := range comps {
		var ex metaExample
		if len(c.Example) > 0 {
			_ = json.Unmarshal(c.Example, &ex) // examples are optional help text
		}
		switch strings.ToUpper(c.Type) {
		case "HEADER":
			switch f := strings.ToUpper(c.Format); f {
			case "IMAGE", "VIDEO", "DOCUMENT":
				p := Param{Component: ComponentHeader, Name: "media", Type: strings.ToLower(f)}
				if len(ex.HeaderHandle) > 0 {
					p.Example = ex.HeaderHandle[0]
				}
				header = append(header, p)
			case "", "TEXT":
				examples := append([]string(nil), ex.HeaderText...)
				header = append(header, textParams(ComponentHeader, c.Text, examples, ex.HeaderTextNamed)...)
			}
		case "BODY":
			var examples []string
			if len(ex.BodyText) > 0 {
				examples = ex.BodyText[0]
			}
			body = append(body, textParams(ComponentBody, c.Text, examples, ex.BodyTextNamed)...)
		case "BUTTONS":
			for i, b := range c.Buttons {
				switch strings.ToUpper(b.Type) {
				case "URL":
					for _, name := range placeholders(b.URL) {
						p := Param{Component: ComponentButton, Name: name, Type: "text", ButtonIndex: i, ButtonSubType: "url"}
						var exs []string
						if json.Unmarshal(b.Example, &exs) == nil && len(exs) > 0 {
							p.Example = exs[0]
						}
						buttons = append(buttons, p)
					}
				case "COPY_CODE":
					p := Param{Component: ComponentButton, Name: "code", Type: "coupon_code", ButtonIndex: i, ButtonSubType: "copy_code"}
					var exs string
					if json.Unmarshal(b.Example, &exs) == nil {
						p.Example = exs
					}
					buttons = append(buttons, p)
				}
			}
		}
	}
	return append(append(header, body...), buttons...), nil
}

// placeholders returns the distinct {{names}} of text, positional ones sorted by number.
func placeholders(text string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range placeholderRe.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, errA := strconv.Atoi(out[i])
		b, errB := strconv.Atoi(out[j])
		if errA == nil && errB == nil {
			return a < b
		}
		return false
	})
	return out
}

func textParams(component, text string, positional []string, named []namedEx) []Param {
	var out []Param
	for _, name := range placeholders(text) {
		p := Param{Component: component, Name: name, Type: "text"}
		if n, err := strconv.Atoi(name); err == nil && n >= 1 && n <= len(positional) {
			p.Example = positional[n-1]
		}
		for _, ne := range named {
			if ne.ParamName == name {
				p.Example = ne.Example
			}
		}
		out = append(out, p)
	}
	return out
}

// IsPositional reports whether a parameter name is a position ("1", "2"…).
func IsPositional(name string) bool {
	n, err := strconv.Atoi(name)
	return err == nil && n >= 1
}
