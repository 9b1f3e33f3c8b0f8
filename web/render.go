package web

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/campaigns"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

//go:embed templates static
var assets embed.FS

// templates are the parsed pages, each a clone of the layout plus its own file.
type templates struct {
	pages map[string]*template.Template
}

var funcs = template.FuncMap{
	"json": func(v any) (template.JS, error) {
		b, err := json.Marshal(v)
		return template.JS(b), err
	},
	"add":   func(a, b int) int { return a + b },
	"list":  func(v ...string) []string { return v },
	"roles": func() []string { return []string{"owner", "marketer", "analyst"} },
	"tmplStatuses": func() []string {
		return []string{"APPROVED", "PENDING", "PAUSED", "REJECTED", "DISABLED", "DELETED"}
	},
	"when": func(cond bool, v string) string {
		if cond {
			return v
		}
		return ""
	},
	"weekdayOn": func(days []int, d int) bool {
		if len(days) == 0 {
			return true
		}
		for _, x := range days {
			if x == d {
				return true
			}
		}
		return false
	},
	"skipText":       campaigns.SkipReasonText,
	"tmplCategories": func() []string { return []string{"MARKETING", "UTILITY", "AUTHENTICATION"} },
	"lower":          strings.ToLower,
	"upper":          strings.ToUpper,
	"join":           strings.Join,
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, errors.New("dict needs key/value pairs")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
	// optional shows a nullable number as typed in a form: empty for nil, so that saving an
	// unchanged form keeps "not set" (a workspace default, no cap) instead of storing 0.
	"optional": func(v any) string {
		switch x := v.(type) {
		case *int:
			if x != nil {
				return strconv.Itoa(*x)
			}
		case *int64:
			if x != nil {
				return strconv.FormatInt(*x, 10)
			}
		}
		return ""
	},
	"deref": func(v any) any {
		switch x := v.(type) {
		case *int64:
			if x == nil {
				return int64(0)
			}
			return *x
		case *int:
			if x == nil {
				return 0
			}
			return *x
		case *string:
			if x == nil {
				return ""
			}
			return *x
		}
		return v
	},
}

// keyRe finds message keys used in templates: {{.T "key"}}, {{$.T "key" …}}, (T "key").
var keyRe = regexp.MustCompile(`(?:\.T|"Label"|"Help")\s+"([A-Za-z0-9_.\-]+)"`)

func parseTemplates() (*templates, error) {
	base, err := template.New("layout").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(assets, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	t := &templates{pages: map[string]*template.Template{}}
	for _, f := range files {
		p, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := p.ParseFS(assets, f); err != nil {
			return nil, err
		}
		t.pages[strings.TrimSuffix(path.Base(f), ".html")] = p
	}
	if err := checkMessages(messages); err != nil {
		return nil, err
	}
	return t, nil
}

// checkMessages makes sure every key a template names exists in every language, so a missing
// translation fails at start-up instead of showing a raw key.
func checkMessages(catalog map[string][2]string) error {
	var missing []string
	err := fs.WalkDir(assets, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range keyRe.FindAllSubmatch(b, -1) {
			if _, ok := catalog[string(m[1])]; !ok {
				missing = append(missing, fmt.Sprintf("%s: %s", p, m[1]))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k, v := range catalog {
		if v[0] == "" || v[1] == "" {
			missing = append(missing, "catalog: "+k+" lacks a language")
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("missing UI messages: %s", strings.Join(missing, "; "))
	}
	return nil
}

// page is what every template gets: the chrome (user, workspace, language, CSRF token, flash)
// and the page's own Data.
type page struct {
	Lang       string
	Title      string // message key
	Nav        string
	Path       string
	User       store.User
	Workspace  store.Workspace
	Workspaces []store.Membership
	Role       store.Role
	CSRF       string
	Flash      *flash
	Errors     map[string]string // field path → message, from store.ValidationError
	FormError  string
	Form       url.Values // what the user typed, shown again after an error
	FormName   string     // on pages with several forms, the one Form and Errors came from
	Data       any
	Now        time.Time
	loc        *time.Location
}

// T translates key into the page's language; with args, the message is a format string.
func (p *page) T(key string, args ...any) string { return translate(p.Lang, key, args...) }

// Can reports whether the viewer has at least role.
func (p *page) Can(role string) bool { return p.Role.AtLeast(store.Role(role)) }

// Source is a consent or opt-out source in words (a keyword, a button, WhatsApp's stop…);
// a source a person typed (an import's "formulario de la tienda") is shown as it is.
func (p *page) Source(s string) string {
	if _, ok := messages["src."+s]; ok {
		return p.T("src." + s)
	}
	return s
}

// Tier is a messaging limit tier (TIER_2K, TIER_UNLIMITED…) in words: recipients per 24 h.
func (p *page) Tier(tier string) string {
	n, ok := whatsapp.TierLimit(tier)
	switch {
	case !ok:
		return tier
	case n < 0:
		return p.T("tier.unlimited")
	}
	return p.T("tier.n", p.Num(n))
}

// Platform is a number's platform as its health check records it ("is_on_biz_app=true
// platform_type=CLOUD_API") in words; anything else is shown as it is.
func (p *page) Platform(v string) string {
	var onApp, typ string
	for _, f := range strings.Fields(v) {
		k, val, _ := strings.Cut(f, "=")
		switch k {
		case "is_on_biz_app":
			onApp = val
		case "platform_type":
			typ = val
		default:
			return v
		}
	}
	if typ == "" {
		return v
	}
	out := typ
	if _, ok := messages["platform."+strings.ToLower(typ)]; ok {
		out = p.T("platform." + strings.ToLower(typ))
	}
	switch onApp {
	case "true":
		out += ", " + p.T("platform.biz_app")
	case "false":
		out += ", " + p.T("platform.no_biz_app")
	}
	return out
}

// metaCode matches Meta's codes (FIRST_PAUSE, INCORRECT_CATEGORY…), as opposed to a sentence.
var metaCode = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// MetaReason is the reason Meta gave for a template's status ("NONE FIRST_PAUSE",
// "INCORRECT_CATEGORY", "REINSTATED") in words; NONE says nothing and is left out, a code
// without words and a sentence are shown as they are.
func (p *page) MetaReason(r string) string {
	codes := strings.Fields(r)
	for _, c := range codes {
		if !metaCode.MatchString(c) {
			return r
		}
	}
	var out []string
	for _, c := range codes {
		switch key := "meta.reason." + strings.ToLower(c); {
		case c == "NONE":
		case messages[key] != [2]string{}:
			out = append(out, p.T(key))
		default:
			out = append(out, c)
		}
	}
	return strings.Join(out, " · ")
}

// Signal is what made a campaign change state (a transition's signal and value: RED of
// template_quality, 132015 of error_code…) in words, for its log; "" when the reason already
// says it all (launch, finished).
func (p *page) Signal(signal, value string) string {
	word := func(prefix, v string) string {
		if key := prefix + strings.ToLower(v); messages[key] != [2]string{} {
			return p.T(key)
		}
		return v
	}
	switch signal {
	case "":
		return value
	case store.SignalLaunch, store.SignalFinished:
		return ""
	case store.SignalTemplateQuality:
		return p.T("signal.template_quality", word("quality.", value))
	case store.SignalTemplateStatus:
		return p.T("signal.template_status", word("tmpl.status.", value))
	case store.SignalErrorCode, "api_token":
		return p.T("signal."+signal, value)
	case store.SignalCircuitBreaker:
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			return p.T("signal.circuit_breaker", p.Percent(f))
		}
	case store.SignalNumber:
		w := word("quality.", value)
		if w == value {
			w = word("number.status.", value)
		}
		if w == value {
			w = word("tmpl.status.", value)
		}
		return p.T("signal.number", w)
	}
	return strings.TrimSpace(signal + " " + value)
}

// Err is the error message for a field ("" when none).
func (p *page) Err(path string) string { return p.Errors[path] }

// Val is the value typed in a field after a failed submit, or def.
func (p *page) Val(name string, def any) string {
	if p.Form != nil {
		if v, ok := p.Form[name]; ok && len(v) > 0 {
			return v[0]
		}
	}
	if def == nil {
		return ""
	}
	return fmt.Sprint(def)
}

// In is the page as one of its forms sees it: with what was typed and its errors when that
// form is the one that failed (or the page names none), else with the stored values only, so
// that a field of another form with the same name is not filled with this one's input.
func (p *page) In(form string) *page {
	if p.FormName == "" || p.FormName == form {
		return p
	}
	q := *p
	q.Form, q.Errors = nil, map[string]string{}
	return &q
}

// Checked is whether a checkbox shows ticked: as submitted after a failed submit (an unticked
// box is not sent at all), else def.
func (p *page) Checked(name string, def bool) bool {
	if p.Form != nil {
		return p.Form.Get(name) != ""
	}
	return def
}

// Picked is whether a radio button or a checkbox of a group (several boxes of one name) shows
// chosen: value among the submitted ones after a failed submit, else def.
func (p *page) Picked(name string, value any, def bool) bool {
	if p.Form != nil {
		return slices.Contains(p.Form[name], fmt.Sprint(value))
	}
	return def
}

// Num formats a number with the language's digit grouping.
func (p *page) Num(v any) string {
	switch x := v.(type) {
	case int:
		return groupDigits(int64(x), p.Lang)
	case int64:
		return groupDigits(x, p.Lang)
	case int32:
		return groupDigits(int64(x), p.Lang)
	case *int64:
		if x == nil {
			return "—"
		}
		return groupDigits(*x, p.Lang)
	case *int:
		if x == nil {
			return "—"
		}
		return groupDigits(int64(*x), p.Lang)
	case float64:
		s := strconv.FormatFloat(x, 'f', 1, 64)
		if p.Lang != "en" {
			s = strings.Replace(s, ".", ",", 1)
		}
		return s
	}
	return fmt.Sprint(v)
}

// Percent shows a rate (0–1) as a percentage with at most one decimal, with the language's
// decimal mark ("68,2 %", "68.2 %").
func (p *page) Percent(f float64) string {
	return p.decimal(math.Round(f*1000)/10) + " %"
}

// Duration shows seconds in s, min or h with at most one decimal ("—" for none).
func (p *page) Duration(f float64) string {
	switch {
	case f <= 0:
		return "—"
	case f < 60:
		return p.decimal(math.Round(f*10)/10) + " s"
	case f < 3600:
		return p.decimal(math.Round(f/6)/10) + " min"
	}
	return p.decimal(math.Round(f/360)/10) + " h"
}

// decimal formats f as short as it goes, with a decimal comma except in English.
func (p *page) decimal(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if p.Lang != "en" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// Pct is a as a whole percentage of b (0 when b is 0).
func (p *page) Pct(a, b any) int {
	x, y := toFloat(a), toFloat(b)
	if y <= 0 {
		return 0
	}
	return int(math.Round(100 * x / y))
}

// Time shows an instant in the workspace's time zone ("—" for nil or zero).
func (p *page) Time(v any) string {
	t, ok := p.local(v)
	if !ok {
		return "—"
	}
	if p.Lang == "en" {
		return t.Format("Jan 2, 2006 15:04")
	}
	return t.Format("02/01/2006 15:04")
}

// InputTime formats an instant for <input type="datetime-local"> in the workspace's zone.
func (p *page) InputTime(v any) string {
	t, ok := p.local(v)
	if !ok {
		return ""
	}
	return t.Format("2006-01-02T15:04")
}

// DaysSince is the whole days between t and now.
func (p *page) DaysSince(v any) int {
	switch x := v.(type) {
	case *time.Time:
		if x == nil {
			return -1
		}
		return int(p.Now.Sub(*x).Hours() / 24)
	case time.Time:
		return int(p.Now.Sub(x).Hours() / 24)
	}
	return -1
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float64:
		return x
	case int32:
		return float64(x)
	}
	return 0
}

func groupDigits(n int64, lang string) string {
	sep := "."
	if lang == "en" {
		sep = ","
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// newPage loads the chrome for a logged-in viewer.
func (u *ui) newPage(c echo.Context, nav, title string) (*page, error) {
	ctx := c.Request().Context()
	p := api.PrincipalOf(c)
	pg := &page{Lang: langOf(c), Title: title, Nav: nav, Path: backPath(c), Now: u.now(), Errors: map[string]string{}}
	pg.Flash = takeFlash(c)
	if p == nil {
		return pg, nil
	}
	ws, err := store.WorkspaceGetByID(ctx, u.db, p.WorkspaceID)
	if err != nil {
		return nil, fmt.Errorf("reading workspace %d: %w", p.WorkspaceID, err)
	}
	pg.Workspace, pg.loc, pg.Role, pg.CSRF = ws, ws.Location(), p.Role, p.CSRFToken
	if p.UserID != 0 {
		if pg.User, err = store.UserGetInWorkspace(ctx, u.db, p.WorkspaceID, p.UserID); err != nil {
			return nil, fmt.Errorf("reading user %d: %w", p.UserID, err)
		}
		if pg.Workspaces, err = store.UserMemberships(ctx, u.db, p.UserID); err != nil {
			return nil, fmt.Errorf("reading memberships of user %d: %w", p.UserID, err)
		}
	}
	return pg, nil
}

// render executes a page into a buffer first, so a template error never sends half a page.
func (u *ui) render(c echo.Context, status int, name string, pg *page) error {
	t, ok := u.tmpl.pages[name]
	if !ok {
		return fmt.Errorf("no template %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", pg); err != nil {
		return fmt.Errorf("rendering page %s: %w", name, err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	return c.HTMLBlob(status, buf.Bytes())
}

// problems turns a *store.ValidationError into field → message (ok false for other errors).
func problems(err error) (map[string]string, bool) {
	var v *store.ValidationError
	if !errors.As(err, &v) {
		return nil, false
	}
	m := map[string]string{}
	for _, p := range v.Problems {
		if _, dup := m[p.Path]; !dup {
			m[p.Path] = p.Message
		} else {
			m[p.Path] += "; " + p.Message
		}
	}
	return m, true
}

// formProblems is what a form shows after a refusal: a validation error's problems by field,
// or a refusal's message (a conflict, a bad request…) next to the field it names or, under
// "_", on top of the form. Errors that are not about what was typed (not found, forbidden,
// server errors) are not a form's: ok is false and they become an error page.
func formProblems(err error) (map[string]string, bool) {
	if m, ok := problems(err); ok {
		return m, true
	}
	var fc *store.FieldConflictError
	var ae *api.Error
	switch {
	case errors.As(err, &fc):
		return map[string]string{fc.Path: fc.Message}, true
	case errors.Is(err, store.ErrConflict):
		return map[string]string{"_": api.ConflictMessage(err)}, true
	case errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 &&
		ae.Status != http.StatusUnauthorized && ae.Status != http.StatusForbidden && ae.Status != http.StatusNotFound:
		if ps, ok := ae.Details.([]store.Problem); ok {
			m := map[string]string{}
			for _, p := range ps {
				m[p.Path] = p.Message
			}
			return m, true
		}
		return map[string]string{"_": ae.Message}, true
	}
	return nil, false
}

// formStatus is the status of a form shown again after err: the refusal's own (409 for a
// conflict), 422 otherwise.
func formStatus(err error) int {
	var ae *api.Error
	switch {
	case errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500:
		return ae.Status
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	}
	return http.StatusUnprocessableEntity
}

// htmlErrors turns errors of page handlers into an error page (or, for a missing session, a
// redirect to the login page that comes back afterwards).
func (u *ui) htmlErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		status, code, msg := http.StatusInternalServerError, "internal", ""
		var ae *api.Error
		var he *echo.HTTPError
		var ve *store.ValidationError
		var probs []store.Problem
		switch {
		case errors.As(err, &ve):
			// a bad query parameter (400) or a form value no page shows next to its field (422),
			// whether the page's own check or the API's (callAPI returns its 422s as these)
			status, code, probs = http.StatusUnprocessableEntity, "invalid", ve.Problems
			if c.Request().Method == http.MethodGet || c.Request().Method == http.MethodHead {
				status = http.StatusBadRequest
			}
		case errors.As(err, &ae):
			status, code, msg = ae.Status, ae.Code, ae.Message
		case errors.Is(err, store.ErrNotFound):
			status, code = http.StatusNotFound, "not_found"
		case errors.Is(err, store.ErrForbidden):
			status, code = http.StatusForbidden, "forbidden"
		case errors.Is(err, store.ErrConflict):
			status, code, msg = http.StatusConflict, "conflict", api.ConflictMessage(err)
		case errors.As(err, &he):
			status, code, msg = he.Code, "http", fmt.Sprint(he.Message)
		default:
			u.log.ErrorContext(c.Request().Context(), "page failed", "path", c.Path(), "error", err.Error(),
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
		}
		if status == http.StatusUnauthorized {
			next := "/"
			if c.Request().Method == http.MethodGet {
				next = c.Request().URL.RequestURI()
			}
			return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
		}
		pg, perr := u.newPage(c, "", "error.title")
		if perr != nil {
			pg = &page{Lang: langOf(c), Title: "error.title", Now: u.now(), Errors: map[string]string{}}
		}
		pg.Data = map[string]any{"Status": status, "Code": code, "Message": msg, "Problems": probs}
		return u.render(c, status, "error", pg)
	}
}

// flash is a one-time message shown on the next page.
type flash struct {
	Kind string `json:"k"` // ok | warn | error
	Text string `json:"t"`
}

const flashCookie = "pregon_flash"

func setFlash(c echo.Context, kind, text string) {
	b, _ := json.Marshal(flash{kind, text})
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

func takeFlash(c echo.Context) *flash {
	ck, err := c.Cookie(flashCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil {
		return nil
	}
	var f flash
	if json.Unmarshal(b, &f) != nil || f.Text == "" {
		return nil
	}
	switch f.Kind {
	case "ok", "warn", "error":
	default:
		f.Kind = "ok"
	}
	return &f
}

// redirectFlash sets a translated flash message and redirects (303) to to.
func (u *ui) redirectFlash(c echo.Context, to, kind, key string, args ...any) error {
	setFlash(c, kind, translate(langOf(c), key, args...))
	return c.Redirect(http.StatusSeeOther, to)
}

// backPath is where the language switch returns to: the page itself for a GET, else the
// section a form was posted from (a POST's URL cannot be opened again with a GET).
func backPath(c echo.Context) string {
	r := c.Request()
	if r.Method == http.MethodGet {
		return r.URL.RequestURI()
	}
	seg, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return "/" + seg
}

// localPath accepts only same-site paths for ?next= redirects.
func localPath(s string) string {
	// Browsers drop tabs and newlines and read "\" as "/" in a URL: "/\t/evil.example" is
	// "//evil.example", another site. A path with any of them, or that parses with a scheme or
	// a host, is not ours.
	if s == "" || !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "\\") || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(s, "//") {
		return "/"
	}
	return s
}

func (u *ui) static(c echo.Context) error {
	name := path.Clean("static/" + c.Param("*"))
	if !strings.HasPrefix(name, "static/") {
		return echo.ErrNotFound
	}
	b, err := assets.ReadFile(name)
	if err != nil {
		return echo.ErrNotFound
	}
	ct := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, ct, b)
}

// local reads a time.Time or *time.Time in the workspace's zone; ok is false for nil or zero.
func (p *page) local(v any) (time.Time, bool) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return t, false
		}
		t = *x
	}
	if t.IsZero() {
		return t, false
	}
	if p.loc != nil {
		t = t.In(p.loc)
	}
	return t, true
}
