package whatsapp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// TemplateFields is the fields list ListTemplates asks for.
const TemplateFields = "id,name,language,status,category,quality_score,parameter_format,components"

// Template is a message template as the management API returns it.
type Template struct {
	ID              string              `json:"id"`
	Name            string              `json:"name"`
	Language        string              `json:"language"`
	Status          string              `json:"status"`   // APPROVED, PAUSED, DISABLED, REJECTED, PENDING, …
	Category        string              `json:"category"` // MARKETING, UTILITY, AUTHENTICATION
	QualityScore    QualityScore        `json:"quality_score"`
	ParameterFormat string              `json:"parameter_format,omitempty"` // POSITIONAL (default) | NAMED
	Components      []TemplateComponent `json:"components"`
}

// QualityScore is the template's quality: GREEN, YELLOW, RED or UNKNOWN.
type QualityScore struct {
	Score string    `json:"score"`
	Date  Timestamp `json:"date,omitempty"`
}

// TemplateComponent is one component of a template definition.
type TemplateComponent struct {
	Type    string           `json:"type"`             // HEADER | BODY | FOOTER | BUTTONS
	Format  string           `json:"format,omitempty"` // header: TEXT | IMAGE | DOCUMENT | VIDEO | LOCATION
	Text    string           `json:"text,omitempty"`
	Buttons []TemplateButton `json:"buttons,omitempty"`
	Example *TemplateExample `json:"example,omitempty"`
}

// TemplateButton is one button of a BUTTONS component.
type TemplateButton struct {
	Type        string   `json:"type"` // QUICK_REPLY | URL | PHONE_NUMBER | COPY_CODE | OTP | FLOW …
	Text        string   `json:"text,omitempty"`
	URL         string   `json:"url,omitempty"`
	PhoneNumber string   `json:"phone_number,omitempty"`
	Example     []string `json:"example,omitempty"`
}

// TemplateExample holds the sample values submitted with the template.
type TemplateExample struct {
	HeaderText      []string     `json:"header_text,omitempty"`
	HeaderTextNamed []NamedParam `json:"header_text_named_params,omitempty"`
	HeaderHandle    []string     `json:"header_handle,omitempty"`
	BodyText        [][]string   `json:"body_text,omitempty"`
	BodyTextNamed   []NamedParam `json:"body_text_named_params,omitempty"`
}

// NamedParam is a named parameter's sample.
type NamedParam struct {
	ParamName string `json:"param_name"`
	Example   string `json:"example"`
}

// Param is one value a campaign must supply to send a template.
type Param struct {
	Component   string // header | body | button
	Type        string // text | image | document | video | coupon_code
	Position    int    // positional text parameters: 1 for {{1}}; 0 otherwise
	Name        string // named text parameters: "first_name" for {{first_name}}
	ButtonIndex int    // buttons: index of the button among the template's buttons
	ButtonType  string // buttons: URL | COPY_CODE
	Example     string // sample value from the template, if any
}

// Key is a stable identifier for mapping campaign variables: "body.1", "body.first_name",
// "header.1", "header.image", "button.0.url", "button.2.copy_code".
func (p Param) Key() string {
	switch p.Component {
	case ComponentButton:
		return fmt.Sprintf("button.%d.%s", p.ButtonIndex, strings.ToLower(p.ButtonType))
	}
	if p.Type != "text" {
		return p.Component + "." + p.Type
	}
	if p.Name != "" {
		return p.Component + "." + p.Name
	}
	return p.Component + "." + strconv.Itoa(p.Position)
}

var placeholderRE = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// Placeholders returns the distinct placeholder names in text, in order of appearance;
// positional ones ("1", "2") are sorted numerically.
func Placeholders(text string) []string {
	var out []string
	seen := map[string]bool{}
	allDigits := true
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		if seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		out = append(out, m[1])
		if _, err := strconv.Atoi(m[1]); err != nil {
			allDigits = false
		}
	}
	if allDigits {
		sort.Slice(out, func(i, j int) bool {
			a, _ := strconv.Atoi(out[i])
			b, _ := strconv.Atoi(out[j])
			return a < b
		})
	}
	return out
}

// Named reports whether the template uses named parameters.
func (t Template) Named() bool { return strings.EqualFold(t.ParameterFormat, "NAMED") }

// Parameters lists what a campaign must fill to send t: header text parameter or header media,
// body parameters ({{1}}… or {{name}}…), URL buttons' dynamic suffix and copy-code coupons.
func (t Template) Parameters() []Param {
	var out []Param
	textParams := func(component, text string, ex *TemplateExample) {
		for i, name := range Placeholders(text) {
			p := Param{Component: component, Type: "text"}
			if n, err := strconv.Atoi(name); err == nil && !t.Named() {
				p.Position = n
			} else {
				p.Name = name
			}
			p.Example = exampleFor(component, ex, i, name)
			out = append(out, p)
		}
	}
	buttonIndex := 0
	for _, c := range t.Components {
		switch strings.ToUpper(c.Type) {
		case "HEADER":
			switch f := strings.ToUpper(c.Format); f {
			case "TEXT", "":
				textParams(ComponentHeader, c.Text, c.Example)
			case "IMAGE", "DOCUMENT", "VIDEO":
				p := Param{Component: ComponentHeader, Type: strings.ToLower(f)}
				if c.Example != nil && len(c.Example.HeaderHandle) > 0 {
					p.Example = c.Example.HeaderHandle[0]
				}
				out = append(out, p)
			}
		case "BODY":
			textParams(ComponentBody, c.Text, c.Example)
		case "BUTTONS":
			for _, b := range c.Buttons {
				switch strings.ToUpper(b.Type) {
				case "URL":
					if len(Placeholders(b.URL)) > 0 {
						p := Param{Component: ComponentButton, Type: "text", ButtonIndex: buttonIndex, ButtonType: "URL"}
						if len(b.Example) > 0 {
							p.Example = b.Example[0]
						}
						out = append(out, p)
					}
				case "COPY_CODE":
					p := Param{Component: ComponentButton, Type: "coupon_code", ButtonIndex: buttonIndex, ButtonType: "COPY_CODE"}
					if len(b.Example) > 0 {
						p.Example = b.Example[0]
					}
					out = append(out, p)
				}
				buttonIndex++
			}
		}
	}
	return out
}

func exampleFor(component string, ex *TemplateExample, i int, name string) string {
	if ex == nil {
		return ""
	}
	named := ex.BodyTextNamed
	if component == ComponentHeader {
		named = ex.HeaderTextNamed
		if i < len(ex.HeaderText) {
			return ex.HeaderText[i]
		}
	} else if len(ex.BodyText) > 0 && i < len(ex.BodyText[0]) {
		return ex.BodyText[0][i]
	}
	for _, np := range named {
		if np.ParamName == name {
			return np.Example
		}
	}
	return ""
}

// templatePage is one page of GET /{waba_id}/message_templates.
type templatePage struct {
	Data   []Template `json:"data"`
	Paging struct {
		Cursors struct {
			Before string `json:"before"`
			After  string `json:"after"`
		} `json:"cursors"`
		Next string `json:"next"`
	} `json:"paging"`
}

// ListTemplates returns every template of the WABA, following the paging cursors.
func (c *Client) ListTemplates(ctx context.Context, wabaID string) ([]Template, error) {
	var all []Template
	after := ""
	for page := 1; ; page++ {
		q := url.Values{"fields": {TemplateFields}, "limit": {"100"}}
		if after != "" {
			q.Set("after", after)
		}
		var p templatePage
		op := fmt.Sprintf("listing templates of WABA %s (page %d)", wabaID, page)
		if err := c.do(ctx, op, "GET", wabaID+"/message_templates", q, nil, &p); err != nil {
			return all, err
		}
		all = append(all, p.Data...)
		next := p.Paging.Cursors.After
		if next == "" && p.Paging.Next != "" {
			if u, err := url.Parse(p.Paging.Next); err == nil {
				next = u.Query().Get("after")
			}
		}
		if p.Paging.Next == "" || next == "" || next == after || len(p.Data) == 0 {
			return all, nil
		}
		after = next
	}
}

// UnpauseTemplate asks Meta to unpause a template paused by pacing.
func (c *Client) UnpauseTemplate(ctx context.Context, templateID string) error {
	var out json.RawMessage
	return c.do(ctx, "unpausing template "+templateID, "POST", templateID+"/unpause", nil, nil, &out)
}
