package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/store"
)

// tmplParam is one parameter of a template, as GET /api/v1/templates describes it.
type tmplParam struct {
	Component string `json:"component"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	Example   string `json:"example"`
	Key       string `json:"key"`
	Label     string `json:"label"`
}

// tmplView is a template as the REST API returns it (with parameters, and events in detail).
type tmplView struct {
	store.Template
	Parameters []tmplParam           `json:"parameters"`
	Events     []store.TemplateEvent `json:"events"`
}

// Preview is the template's text as a WhatsApp bubble shows it.
func (t tmplView) Preview() bubble { return templateBubble(t.Components, nil) }

// bubble is a template rendered for display.
type bubble struct {
	Header  string
	Media   string // IMAGE, VIDEO, DOCUMENT headers
	Body    string
	Footer  string
	Buttons []string
}

var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// templateBubble renders Meta components, replacing {{1}}/{{nombre}} with values[key] where
// given ("body.1", "header.nombre").
func templateBubble(components json.RawMessage, values map[string]string) bubble {
	var comps []struct {
		Type    string `json:"type"`
		Format  string `json:"format"`
		Text    string `json:"text"`
		Buttons []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"buttons"`
	}
	json.Unmarshal(components, &comps)
	fill := func(component, s string) string {
		return placeholder.ReplaceAllStringFunc(s, func(m string) string {
			name := placeholder.FindStringSubmatch(m)[1]
			if v, ok := values[component+"."+name]; ok && v != "" {
				return v
			}
			return m
		})
	}
	var b bubble
	for _, c := range comps {
		switch strings.ToUpper(c.Type) {
		case "HEADER":
			if c.Format == "" || strings.EqualFold(c.Format, "TEXT") {
				b.Header = fill("header", c.Text)
			} else {
				b.Media = strings.ToUpper(c.Format)
			}
		case "BODY":
			b.Body = fill("body", c.Text)
		case "FOOTER":
			b.Footer = c.Text
		case "BUTTONS":
			for _, bt := range c.Buttons {
				b.Buttons = append(b.Buttons, bt.Text)
			}
		}
	}
	return b
}

type templatesData struct {
	Templates []tmplView
	Status    string
	Category  string
	Q         string
}

func (u *ui) templatesList(c echo.Context) error {
	pg, err := u.newPage(c, "templates", "tmpl.title")
	if err != nil {
		return err
	}
	d := templatesData{Status: c.QueryParam("status"), Category: c.QueryParam("category"), Q: c.QueryParam("q")}
	q := fmt.Sprintf("/templates?status=%s&category=%s&q=%s", urlq(d.Status), urlq(d.Category), urlq(d.Q))
	if d.Templates, err = listAll[tmplView](u, c, q); err != nil {
		return err
	}
	pg.Data = d
	return u.render(c, http.StatusOK, "templates", pg)
}

func (u *ui) templateShow(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	pg, err := u.newPage(c, "templates", "tmpl.title")
	if err != nil {
		return err
	}
	var t tmplView
	if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/templates/%d", id), nil, &t); err != nil {
		return err
	}
	pg.Data = t
	return u.render(c, http.StatusOK, "template", pg)
}

func (u *ui) templatesSync(c echo.Context) error {
	var res struct {
		Templates int `json:"templates"`
		Created   int `json:"created"`
		Events    int `json:"events"`
		Paused    int `json:"campaigns_paused"`
	}
	if err := u.callAPI(c, http.MethodPost, "/templates/sync", nil, &res); err != nil {
		if isNotFound(err) {
			return err
		}
		return u.redirectFlash(c, "/templates", "error", "tmpl.sync_failed", errMessage(err))
	}
	return u.redirectFlash(c, "/templates", "ok", "tmpl.sync_done", res.Templates, res.Created, res.Events, res.Paused)
}
