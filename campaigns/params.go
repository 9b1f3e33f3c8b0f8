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
	"strconv"
	"strings"

	"github.com/pregon/pregon/whatsapp"
)

// Components of a template that carry parameters.
const (
	ComponentHeader = whatsapp.ComponentHeader
	ComponentBody   = whatsapp.ComponentBody
	ComponentButton = whatsapp.ComponentButton
)

// Param is one parameter a campaign must fill, as the template declares it.
type Param struct {
	Component   string `json:"component"`              // header | body | button
	Name        string `json:"name,omitempty"`         // text parameters: "1", "2"… or "nombre"
	Type        string `json:"type,omitempty"`         // text | image | video | document | coupon_code
	ButtonIndex int    `json:"button_index,omitempty"` // buttons only
	ButtonType  string `json:"button_type,omitempty"`  // buttons only: url | copy_code
	Example     string `json:"example,omitempty"`
}

// Key names the parameter inside a campaign, as whatsapp.Param.Key does: "body.1",
// "header.nombre", "header.image", "button.0.url", "button.2.copy_code".
func (p Param) Key() string {
	switch {
	case p.Component == ComponentButton:
		return fmt.Sprintf("button.%d.%s", p.ButtonIndex, strings.ToLower(p.ButtonType))
	case p.Type != "" && p.Type != "text":
		return p.Component + "." + p.Type
	}
	return p.Component + "." + p.Name
}

// Label is a Spanish description of the parameter for people.
func (p Param) Label() string {
	switch {
	case p.Component == ComponentHeader && p.Type != "text":
		return "el archivo (" + p.Type + ") del encabezado"
	case p.Component == ComponentHeader:
		return "la variable {{" + p.Name + "}} del encabezado"
	case p.Component == ComponentBody:
		return "la variable {{" + p.Name + "}} del cuerpo"
	case p.ButtonType == "copy_code":
		return fmt.Sprintf("el código del botón %d", p.ButtonIndex+1)
	default:
		return fmt.Sprintf("la parte variable del enlace del botón %d", p.ButtonIndex+1)
	}
}

// TemplateParams lists the parameters of a template from its parameter format and components
// (Meta's JSON, as stored in templates.components), in sending order: header, body, buttons.
func TemplateParams(parameterFormat string, components json.RawMessage) ([]Param, error) {
	var comps []whatsapp.TemplateComponent
	if len(components) > 0 && string(components) != "null" {
		if err := json.Unmarshal(normalizeButtonExamples(components), &comps); err != nil {
			return nil, fmt.Errorf("decoding template components: %w", err)
		}
	}
	t := whatsapp.Template{ParameterFormat: parameterFormat, Components: comps}
	var out []Param
	for _, wp := range t.Parameters() {
		p := Param{Component: wp.Component, Type: wp.Type, ButtonIndex: wp.ButtonIndex,
			ButtonType: strings.ToLower(wp.ButtonType), Example: wp.Example}
		if wp.Type == "text" && wp.Component != ComponentButton {
			p.Name = wp.Name
			if p.Name == "" {
				p.Name = strconv.Itoa(wp.Position)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// normalizeButtonExamples turns a button's string example (Meta sends COPY_CODE examples as a
// single string) into a one-element list, the shape whatsapp.TemplateButton reads.
func normalizeButtonExamples(components json.RawMessage) json.RawMessage {
	var comps []map[string]any
	if json.Unmarshal(components, &comps) != nil {
		return components
	}
	changed := false
	for _, c := range comps {
		buttons, _ := c["buttons"].([]any)
		for _, b := range buttons {
			bm, _ := b.(map[string]any)
			if s, ok := bm["example"].(string); ok {
				bm["example"] = []string{s}
				changed = true
			}
		}
	}
	if !changed {
		return components
	}
	out, err := json.Marshal(comps)
	if err != nil {
		return components
	}
	return out
}
