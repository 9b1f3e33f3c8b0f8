package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/store"
)

type contactsData struct {
	Contacts   []store.Contact
	Q          string
	Tag        string
	Attribute  string
	Marketable string
	More       string // the next page's address, with the same filters ("" on the last page)
	TagsAction string // where the bulk tag form posts: with the page's filters and cursor
}

// contactsList searches and filters contacts (GET /api/v1/contacts).
func (u *ui) contactsList(c echo.Context) error {
	pg, err := u.newPage(c, "contacts", "contacts.title")
	if err != nil {
		return err
	}
	return u.renderContacts(c, pg, http.StatusOK)
}

// renderContacts shows the list the request's query asks for (the bulk tag form posts with the
// list's filters in its query, so that a refusal shows the same page again).
func (u *ui) renderContacts(c echo.Context, pg *page, status int) error {
	d := contactsData{Q: strings.TrimSpace(c.QueryParam("q")), Tag: strings.TrimSpace(c.QueryParam("tag")),
		Attribute: strings.TrimSpace(c.QueryParam("attribute")), Marketable: c.QueryParam("marketable")}
	q := url.Values{}
	for k, v := range map[string]string{"q": d.Q, "tag": d.Tag, "attribute": d.Attribute, "marketable": d.Marketable} {
		if v != "" {
			q.Set(k, v)
		}
	}
	filters := q.Encode()
	if cur := c.QueryParam("cursor"); cur != "" {
		q.Set("cursor", cur)
	}
	d.TagsAction = "/contacts/tags"
	if qs := q.Encode(); qs != "" {
		d.TagsAction += "?" + qs
	}
	q.Set("limit", "50")
	var out struct {
		Data       []store.Contact `json:"data"`
		NextCursor *int64          `json:"next_cursor"`
	}
	if err := u.callAPI(c, http.MethodGet, "/contacts?"+q.Encode(), nil, &out); err != nil {
		if probs, ok := problems(err); ok {
			pg.Errors = probs
			pg.FormError = pg.T("common.error_form")
		} else {
			return err
		}
	}
	d.Contacts = out.Data
	if out.NextCursor != nil {
		more, _ := url.ParseQuery(filters)
		more.Set("cursor", fmt.Sprint(*out.NextCursor))
		d.More = "/contacts?" + more.Encode()
	}
	pg.Data = d
	return u.render(c, status, "contacts", pg)
}

// contactsTags adds and removes tags on the contacts ticked in the list (POST
// /api/v1/contacts/tags) and comes back to the same page of the list, saying how many changed.
// A refusal shows the list again with the boxes still ticked and the tags as typed.
func (u *ui) contactsTags(c echo.Context) error {
	form, _ := c.FormParams()
	var ids []int64
	for _, v := range form["ids"] {
		if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
			ids = append(ids, id)
		}
	}
	lang := langOf(c)
	var err error
	switch add, remove := splitTags(form.Get("add")), splitTags(form.Get("remove")); {
	case len(ids) == 0:
		err = store.Invalid("ids", translate(lang, "contacts.bulk_none"))
	case len(add) == 0 && len(remove) == 0:
		err = store.Invalid("add", translate(lang, "contacts.bulk_no_tags"))
	default:
		var res struct {
			Updated int64 `json:"updated"`
		}
		if err = u.callAPI(c, http.MethodPost, "/contacts/tags", map[string]any{"ids": ids, "add": add, "remove": remove}, &res); err == nil {
			back := "/contacts"
			if qs := c.QueryString(); qs != "" {
				back += "?" + qs
			}
			return u.redirectFlash(c, back, "ok", "contacts.bulk_done", res.Updated, len(ids))
		}
	}
	probs, ok := formProblems(err)
	if !ok {
		return err
	}
	pg, perr := u.newPage(c, "contacts", "contacts.title")
	if perr != nil {
		return perr
	}
	pg.Errors, pg.FormError, pg.FormName, pg.Form = probs, translate(lang, "contacts.bulk_failed", errMessage(err)), "tags", form
	return u.renderContacts(c, pg, formStatus(err))
}

// splitTags reads tags typed separated by commas (or ; and |).
func splitTags(s string) []string {
	tags := []string{}
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '|' }) {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

type contactData struct {
	Contact    store.Contact
	Attributes []kv
	AttrText   string // the attributes as the edit form shows them, one "clave=valor" a line
	Evidence   []kv
	Consent    []store.ConsentEvent
	Timeline   []store.TimelineItem
}

type kv struct{ Key, Value string }

func sortedKV(m map[string]any) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		out = append(out, kv{k, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// contactShow is a contact's page: attributes, tags, consent evidence and history, timeline.
func (u *ui) contactShow(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	return u.renderContact(c, id, http.StatusOK)
}

func (u *ui) renderContact(c echo.Context, id int64, status int) error {
	pg, err := u.newPage(c, "contacts", "contacts.title")
	if err != nil {
		return err
	}
	return u.renderContactPage(c, pg, id, status)
}

func (u *ui) renderContactPage(c echo.Context, pg *page, id int64, status int) error {
	var d contactData
	if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/contacts/%d", id), nil, &d.Contact); err != nil {
		return err
	}
	var ev struct {
		Data []store.ConsentEvent `json:"data"`
	}
	if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/contacts/%d/consent", id), nil, &ev); err != nil {
		return err
	}
	var tl struct {
		Data []store.TimelineItem `json:"data"`
	}
	if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/contacts/%d/timeline?limit=100", id), nil, &tl); err != nil {
		return err
	}
	d.Consent, d.Timeline = ev.Data, tl.Data
	d.Attributes, d.Evidence = sortedKV(d.Contact.Attributes), sortedKV(d.Contact.ConsentEvidence)
	d.AttrText = attributesText(d.Attributes)
	pg.Data = d
	return u.render(c, status, "contact", pg)
}

// contactAction calls the REST API for a change made from the contact's page (its form
// named form) and comes back to it with a flash: okKey on success. When the API refuses the
// values, the page is shown again with what was typed in that form, each problem next to its
// field and failKey with the API's message on top.
func (u *ui) contactAction(c echo.Context, form, method, suffix string, body any, okKey, failKey string) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	back := fmt.Sprintf("/contacts/%d", id)
	if err := u.callAPI(c, method, back+suffix, body, nil); err != nil {
		return u.contactRefused(c, id, form, failKey, err)
	}
	if method == http.MethodDelete {
		back = "/contacts"
	}
	return u.redirectFlash(c, back, "ok", okKey)
}

// contactRefused shows contact id's page again after err refused what was typed in its form
// named form (an error page for errors that are not about the input).
func (u *ui) contactRefused(c echo.Context, id int64, form, failKey string, err error) error {
	probs, ok := formProblems(err)
	if !ok {
		return err
	}
	pg, perr := u.newPage(c, "contacts", "contacts.title")
	if perr != nil {
		return perr
	}
	pg.Errors, pg.FormError, pg.FormName = foldAttributeProblems(probs), pg.T(failKey, errMessage(err)), form
	pg.Form, _ = c.FormParams()
	return u.renderContactPage(c, pg, id, formStatus(err))
}

// contactOptOut records a manual opt-out with its reason (marketers and owners).
func (u *ui) contactOptOut(c echo.Context) error {
	return u.contactAction(c, "optout", http.MethodPost, "/opt-out", map[string]string{"reason": strings.TrimSpace(c.FormValue("reason"))},
		"contacts.opted_out", "contacts.optout_failed")
}

// contactSave edits a contact's name, email, language, tags and attributes (PATCH
// /api/v1/contacts/:id). Tags are typed separated by commas; an empty field clears the value.
// Attributes are typed one "clave=valor" a line: only the lines changed are sent (the API
// merges them), a line taken out removes its key (null), so values nobody touched keep their
// type (a number stays a number).
func (u *ui) contactSave(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	body := map[string]any{
		"name":     strings.TrimSpace(c.FormValue("name")),
		"email":    strings.TrimSpace(c.FormValue("email")),
		"language": strings.TrimSpace(c.FormValue("language")),
		"tags":     splitTags(c.FormValue("tags")),
	}
	// A form without the attributes field (not this page's) leaves them as they are.
	if form, _ := c.FormParams(); form.Has("attributes") {
		typed, err := parseAttributes(langOf(c), form.Get("attributes"))
		if err != nil {
			return u.contactRefused(c, id, "edit", "contacts.save_failed", err)
		}
		var cur store.Contact
		if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/contacts/%d", id), nil, &cur); err != nil {
			return err
		}
		if changes := attributeChanges(cur.Attributes, typed); len(changes) > 0 {
			body["attributes"] = changes
		}
	}
	return u.contactAction(c, "edit", http.MethodPatch, "", body, "contacts.saved", "contacts.save_failed")
}

// attributesText is the attributes as the forms show them: "clave=valor", one a line (a line
// break inside a value shown as a space).
func attributesText(attrs []kv) string {
	var b strings.Builder
	for _, a := range attrs {
		b.WriteString(a.Key + "=" + oneLine(a.Value) + "\n")
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), " ")
}

// parseAttributes reads the attributes field: one "clave=valor" a line, blank lines skipped.
func parseAttributes(lang, text string) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if k = strings.TrimSpace(k); !ok || k == "" {
			return nil, store.Invalid("attributes", translate(lang, "contacts.attributes_line", i+1, line))
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// attributeChanges is the PATCH that turns stored into typed: a key taken out is null, a value
// changed is sent as typed (as a number or true/false when the stored one was, and the new one
// reads as such), the rest is left out.
func attributeChanges(stored map[string]any, typed map[string]string) map[string]any {
	out := map[string]any{}
	for k := range stored {
		if _, ok := typed[k]; !ok {
			out[k] = nil
		}
	}
	shown := map[string]string{}
	for _, a := range sortedKV(stored) {
		shown[a.Key] = oneLine(a.Value)
	}
	for k, v := range typed {
		if old, ok := shown[k]; ok && old == v {
			continue
		}
		var nv any = v
		switch stored[k].(type) {
		case float64, json.Number:
			if json.Valid([]byte(v)) && strings.IndexFunc(v, func(r rune) bool { return !strings.ContainsRune("-+.0123456789eE", r) }) < 0 {
				nv = json.Number(v)
			}
		case bool:
			if v == "true" || v == "false" {
				nv = v == "true"
			}
		}
		out[k] = nv
	}
	return out
}

// foldAttributeProblems puts the API's problems about one attribute ("attributes.ciudad")
// next to the attributes field, naming the key.
func foldAttributeProblems(m map[string]string) map[string]string {
	for k, v := range m {
		if key, ok := strings.CutPrefix(k, "attributes."); ok {
			msg := key + ": " + v
			if prev := m["attributes"]; prev != "" {
				msg = prev + "; " + msg
			}
			m["attributes"] = msg
			delete(m, k)
		}
	}
	return m
}

// contactNew is the form for one contact typed by hand (marketers and owners).
func (u *ui) contactNew(c echo.Context) error {
	pg, err := u.newPage(c, "contacts", "contacts.new")
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "contact_new", pg)
}

// contactCreate creates it (POST /api/v1/contacts): phone, name, e-mail, language, tags,
// attributes and, when ticked, the consent documented with its source and text. A refusal
// shows the form again as typed, each problem next to its field.
func (u *ui) contactCreate(c echo.Context) error {
	form, _ := c.FormParams()
	attrs, err := parseAttributes(langOf(c), form.Get("attributes"))
	if err == nil {
		body := map[string]any{
			"phone":    strings.TrimSpace(form.Get("phone")),
			"name":     strings.TrimSpace(form.Get("name")),
			"email":    strings.TrimSpace(form.Get("email")),
			"language": strings.TrimSpace(form.Get("language")),
			"tags":     splitTags(form.Get("tags")),
		}
		if len(attrs) > 0 {
			body["attributes"] = attrs
		}
		if form.Get("consent.documented") != "" {
			body["consent"] = map[string]any{"source": strings.TrimSpace(form.Get("consent.source")), "text": strings.TrimSpace(form.Get("consent.text"))}
		}
		var ct store.Contact
		if err = u.callAPI(c, http.MethodPost, "/contacts", body, &ct); err == nil {
			return u.redirectFlash(c, fmt.Sprintf("/contacts/%d", ct.ID), "ok", "contacts.created")
		}
	}
	probs, ok := formProblems(err)
	if !ok {
		return err
	}
	pg, perr := u.newPage(c, "contacts", "contacts.new")
	if perr != nil {
		return perr
	}
	pg.Errors, pg.FormError, pg.Form = foldAttributeProblems(probs), pg.T("contacts.create_failed", errMessage(err)), form
	return u.render(c, formStatus(err), "contact_new", pg)
}

// contactOptIn records documented consent given again (POST /api/v1/contacts/:id/opt-in).
func (u *ui) contactOptIn(c echo.Context) error {
	body := map[string]string{"reason": strings.TrimSpace(c.FormValue("reason")), "source": "manual",
		"text": strings.TrimSpace(c.FormValue("text"))}
	return u.contactAction(c, "optin", http.MethodPost, "/opt-in", body, "contacts.opted_in", "contacts.optin_failed")
}

// contactErase erases a contact's personal data (DELETE /api/v1/contacts/:id); delivery
// counts stay.
func (u *ui) contactErase(c echo.Context) error {
	return u.contactAction(c, "erase", http.MethodDelete, "", nil, "contacts.erased", "contacts.erase_failed")
}
