package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/campaigns"
	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

// campaignView is a campaign as the REST API returns it.
type campaignView struct {
	store.Campaign
	TimeZone         string `json:"time_zone"`
	ScheduledAtLocal string `json:"scheduled_at_local"`
}

// planView is GET /api/v1/campaigns/:id/plan.
type planView struct {
	Ready    bool            `json:"ready"`
	Problems []store.Problem `json:"problems"`
	Audience struct {
		Matched     int64            `json:"matched"`      // contacts matching the segment's conditions
		NotEligible map[string]int64 `json:"not_eligible"` // matched but not marketable, by reason
		Segment     int64            `json:"segment"`
		Broadcast   bool             `json:"broadcast"`
		Excluded    []struct {
			Reason string `json:"reason"`
			Text   string `json:"text"`
			Count  int64  `json:"count"`
		} `json:"excluded"`
		WillSend int64 `json:"will_send"`
	} `json:"audience"`
	Budget struct {
		Limit     int        `json:"limit"`
		Remaining int        `json:"remaining"`
		ResetsAt  *time.Time `json:"resets_at"`
	} `json:"budget"`
	Throughput struct {
		MPS         int  `json:"mps"`
		Coexistence bool `json:"coexistence"`
	} `json:"throughput"`
	Window struct {
		Start    string    `json:"start"`
		End      string    `json:"end"`
		Weekdays []int     `json:"weekdays"`
		TimeZone string    `json:"time_zone"`
		OpenNow  bool      `json:"open_at_start"`
		NextOpen time.Time `json:"next_open"`
	} `json:"window"`
	StartsAt time.Time `json:"starts_at"`
	ETA      struct {
		Finish      time.Time `json:"finish"`
		Seconds     int64     `json:"duration_seconds"`
		BudgetBound bool      `json:"budget_bound"`
		Windows     int       `json:"windows"`
		Text        string    `json:"text"`
	} `json:"eta"`
	Warnings []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"warnings"`
}

// reasonCount is how many contacts one reason leaves out.
type reasonCount struct {
	Reason string
	Count  int64
}

// NotEligibleTotal is how many contacts match the segment but may not get marketing.
func (p planView) NotEligibleTotal() int64 {
	var total int64
	for _, n := range p.Audience.NotEligible {
		total += n
	}
	return total
}

// NotEligibleReasons breaks NotEligibleTotal down by reason (no_consent, opted_out…), the
// most first; reasons without contacts are left out.
func (p planView) NotEligibleReasons() []reasonCount {
	var out []reasonCount
	for r, n := range p.Audience.NotEligible {
		if n > 0 {
			out = append(out, reasonCount{r, n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// Blocked reports whether something other than the broadcast confirmation (which the
// schedule form itself asks for) keeps the campaign from being scheduled.
func (p planView) Blocked() bool {
	for _, pr := range p.Problems {
		if pr.Path != "confirm_broadcast" {
			return true
		}
	}
	return false
}

// wizardSteps are the campaign wizard's steps, in order.
var wizardSteps = []string{"number", "template", "variables", "segment", "schedule", "review"}

type wizardData struct {
	Campaign   campaignView
	Step       string
	Steps      []string
	StepIndex  int
	Numbers    []store.SenderNumber
	Templates  []tmplView
	Template   *tmplView
	Mapping    map[string]campaigns.Variable // by parameter key
	Fields     []string
	Segments   []segmentOption
	Preview    bubble
	Sample     *sampleView // the message as one contact of the audience would get it
	SampleSkip string      // why that contact would be skipped (a variable without value)
	Plan       *planView
	Test       *testResult
	Weekdays   []int
	Now        time.Time
}

type testResult struct {
	To    string
	WAMID string
	Error string
}

type segmentOption struct {
	ID          int64
	Name        string
	Description string
	Eligible    *int64
}

// campaignsList is the campaigns page: every campaign, newest first, optionally by state.
func (u *ui) campaignsList(c echo.Context) error {
	pg, err := u.newPage(c, "campaigns", "camp.title")
	if err != nil {
		return err
	}
	state := c.QueryParam("state")
	var list []campaignView
	path := "/campaigns"
	if state != "" {
		path += "?state=" + urlq(state)
	}
	more, err := u.listPage(c, path, 50, &list)
	if err != nil {
		return err
	}
	cards := make([]campaignCard, 0, len(list))
	for _, cv := range list {
		card, err := u.campaignCard(c.Request().Context(), cv.Campaign)
		if err != nil {
			return err
		}
		cards = append(cards, card)
	}
	// The list's first page reloads when a campaign starts or changes state unless it lists
	// only final campaigns or drafts.
	watch := c.QueryParam("cursor") == "" && (state == "" || state == "scheduled" || state == "running" || state == "paused")
	pg.Data = map[string]any{"Campaigns": cards, "State": state, "Watch": watch, "More": more,
		"States": []string{"draft", "scheduled", "running", "paused", "completed", "cancelled"}}
	return u.render(c, http.StatusOK, "campaigns", pg)
}

// campaignNew is the wizard's first step before the draft exists.
func (u *ui) campaignNew(c echo.Context) error {
	pg, err := u.newPage(c, "campaigns", "camp.new")
	if err != nil {
		return err
	}
	return u.renderWizard(c, pg, http.StatusOK, &wizardData{Step: "number"})
}

func (u *ui) campaignCreate(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	edit := store.CampaignEdit{Name: &name}
	if id, err := strconv.ParseInt(c.FormValue("sender_number_id"), 10, 64); err == nil {
		edit.SenderNumberID = &id
	}
	var cv campaignView
	if err := u.callAPI(c, http.MethodPost, "/campaigns", edit, &cv); err != nil {
		probs, ok := problems(err)
		if !ok {
			return err
		}
		pg, perr := u.newPage(c, "campaigns", "camp.new")
		if perr != nil {
			return perr
		}
		pg.Errors, pg.FormError = probs, pg.T("common.error_form")
		pg.Form, _ = c.FormParams()
		return u.renderWizard(c, pg, http.StatusUnprocessableEntity, &wizardData{Step: "number"})
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/campaigns/%d/edit?step=template", cv.ID))
}

func (u *ui) loadCampaign(c echo.Context) (campaignView, error) {
	id, err := paramID(c)
	if err != nil {
		return campaignView{}, err
	}
	var cv campaignView
	err = u.callAPI(c, http.MethodGet, fmt.Sprintf("/campaigns/%d", id), nil, &cv)
	return cv, err
}

// campaignEdit shows one step of the wizard for a draft.
func (u *ui) campaignEdit(c echo.Context) error {
	cv, err := u.loadCampaign(c)
	if err != nil {
		return err
	}
	if cv.State != store.CampaignDraft {
		return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/campaigns/%d", cv.ID))
	}
	pg, err := u.newPage(c, "campaigns", "camp.edit")
	if err != nil {
		return err
	}
	return u.renderWizard(c, pg, http.StatusOK, &wizardData{Campaign: cv, Step: c.QueryParam("step")})
}

// renderWizard loads what the step shows and renders it.
func (u *ui) renderWizard(c echo.Context, pg *page, status int, d *wizardData) error {
	ctx := c.Request().Context()
	d.Steps, d.Fields, d.Now = wizardSteps, campaigns.Fields, u.now()
	d.Weekdays = []int{1, 2, 3, 4, 5, 6, 0}
	d.StepIndex = -1
	for i, s := range wizardSteps {
		if s == d.Step {
			d.StepIndex = i
		}
	}
	if d.StepIndex < 0 {
		d.Step, d.StepIndex = "number", 0
	}
	ws := pg.Workspace.ID
	var err error
	if d.Numbers, err = store.SenderNumberList(ctx, u.db, ws); err != nil {
		return err
	}
	if d.Campaign.TemplateID != nil {
		var t tmplView
		if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/templates/%d", *d.Campaign.TemplateID), nil, &t); err == nil {
			d.Template = &t
		} else if !isNotFound(err) {
			return err
		}
	}
	d.Mapping = map[string]campaigns.Variable{}
	if m, err := campaigns.ParseMapping(d.Campaign.VariableMapping); err == nil {
		for _, v := range m.Variables {
			d.Mapping[v.Param.Key()] = v
		}
	}
	switch d.Step {
	case "template":
		if d.Templates, err = listAll[tmplView](u, c, "/templates?status=APPROVED"); err != nil {
			return err
		}
	case "variables", "review":
		if d.Template != nil {
			d.Preview = templateBubble(d.Template.Components, previewValues(d.Template.Parameters, d.Mapping))
			d.Sample, d.SampleSkip = u.samplePreview(c, d)
		}
	case "segment":
		if d.Segments, err = u.segmentOptions(c); err != nil {
			return err
		}
	}
	if d.Step == "review" {
		var plan planView
		if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/campaigns/%d/plan", d.Campaign.ID), nil, &plan); err != nil {
			return err
		}
		d.Plan = &plan
	}
	pg.Data = d
	return u.render(c, status, "campaign_wizard", pg)
}

// sampleView is the template rendered for one contact.
type sampleView struct {
	Contact store.Contact
	Bubble  bubble
}

// samplePreview renders the mapping for a contact of the campaign's segment (or any
// marketable contact), with the same campaigns.Render the test send uses.
func (u *ui) samplePreview(c echo.Context, d *wizardData) (*sampleView, string) {
	m, err := campaigns.ParseMapping(d.Campaign.VariableMapping)
	if err != nil || len(m.Variables) == 0 && len(d.Template.Parameters) > 0 {
		return nil, ""
	}
	var contactID int64
	if d.Campaign.SegmentID != nil {
		var pv struct {
			Sample []struct {
				ID int64 `json:"id"`
			} `json:"sample"`
		}
		if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/segments/%d/preview", *d.Campaign.SegmentID), nil, &pv); err == nil && len(pv.Sample) > 0 {
			contactID = pv.Sample[0].ID
		}
	}
	var ct store.Contact
	if contactID != 0 {
		if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/contacts/%d", contactID), nil, &ct); err != nil {
			return nil, ""
		}
	} else {
		var out struct {
			Data []store.Contact `json:"data"`
		}
		if err := u.callAPI(c, http.MethodGet, "/contacts?marketable=true&limit=1", nil, &out); err != nil || len(out.Data) == 0 {
			return nil, ""
		}
		ct = out.Data[0]
	}
	attrs := map[string]json.RawMessage{}
	for k, v := range ct.Attributes {
		attrs[k], _ = json.Marshal(v)
	}
	r, skip := campaigns.Render(m, campaigns.Contact{Name: ct.Name, Phone: ct.Phone, Email: ct.Email, Country: ct.Country,
		Language: ct.Language, Attributes: attrs})
	if skip != "" {
		return &sampleView{Contact: ct}, campaigns.SkipReasonText(skip)
	}
	values := map[string]string{}
	for _, p := range d.Template.Parameters {
		values[p.Key] = r.Value(p.Key)
	}
	return &sampleView{Contact: ct, Bubble: templateBubble(d.Template.Components, values)}, ""
}

// previewValues shows each parameter as the mapping fills it: a literal as is, a field or
// attribute as [name].
func previewValues(params []tmplParam, m map[string]campaigns.Variable) map[string]string {
	out := map[string]string{}
	for _, p := range params {
		v, ok := m[p.Key]
		switch {
		case !ok:
			continue
		case v.Source == campaigns.SourceLiteral:
			out[p.Key] = v.Value
		case v.Key != "":
			out[p.Key] = "[" + v.Key + "]"
		}
	}
	return out
}

// segmentOptions lists the workspace's segments for the segment step (GET /api/v1/segments).
func (u *ui) segmentOptions(c echo.Context) ([]segmentOption, error) {
	list, err := listAll[segmentView](u, c, "/segments")
	if err != nil {
		return nil, err
	}
	opts := make([]segmentOption, 0, len(list))
	for _, s := range list {
		opts = append(opts, segmentOption{ID: s.ID, Name: s.Name, Description: s.Description, Eligible: s.EligibleCount})
	}
	return opts, nil
}

// campaignSave applies one wizard step to the draft (PATCH) and moves to the next step.
func (u *ui) campaignSave(c echo.Context) error {
	cv, err := u.loadCampaign(c)
	if err != nil {
		return err
	}
	step := c.FormValue("step")
	var edit store.CampaignEdit
	switch step {
	case "number":
		name := strings.TrimSpace(c.FormValue("name"))
		edit.Name = &name
		if id, err := strconv.ParseInt(c.FormValue("sender_number_id"), 10, 64); err == nil {
			edit.SenderNumberID = &id
		}
	case "template":
		if id, err := strconv.ParseInt(c.FormValue("template_id"), 10, 64); err == nil {
			edit.TemplateID = &id
			if cv.TemplateID == nil || *cv.TemplateID != id { // another template: its variables differ
				empty := json.RawMessage(`{}`)
				edit.VariableMapping = &empty
			}
		}
	case "variables":
		raw, err := mappingFromForm(c)
		if err != nil {
			return err
		}
		edit.VariableMapping = &raw
	case "segment":
		if id, err := strconv.ParseInt(c.FormValue("segment_id"), 10, 64); err == nil {
			edit.SegmentID = &id
		}
	case "schedule":
		w := store.SendWindow{Start: c.FormValue("window_start"), End: c.FormValue("window_end")}
		for _, d := range c.Request().Form["weekday"] {
			if n, err := strconv.Atoi(d); err == nil {
				w.Weekdays = append(w.Weekdays, n)
			}
		}
		if len(w.Weekdays) == 7 {
			w.Weekdays = nil
		}
		edit.SendWindow = &w
		at, perr := parseLocalTime(c.FormValue("scheduled_at"), u.workspaceLoc(c))
		if perr != nil {
			return u.wizardFail(c, cv, step, store.Invalid("scheduled_at", perr.Error()))
		}
		edit.ScheduledAt = &at // zero clears: launch when scheduled
		if s := strings.TrimSpace(c.FormValue("frequency_cap")); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return u.wizardFail(c, cv, step, store.Invalid("frequency_cap", "escriba un número entero"))
			}
			edit.FrequencyCap = &n
		} else {
			neg := -1
			edit.FrequencyCap = &neg // the workspace's
		}
	default:
		return store.ErrNotFound
	}
	if err := u.callAPI(c, http.MethodPatch, fmt.Sprintf("/campaigns/%d", cv.ID), edit, nil); err != nil {
		return u.wizardFail(c, cv, step, err)
	}
	next := step
	for i, s := range wizardSteps {
		if s == step && i+1 < len(wizardSteps) {
			next = wizardSteps[i+1]
		}
	}
	if c.FormValue("stay") != "" {
		next = step
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/campaigns/%d/edit?step=%s", cv.ID, next))
}

// wizardFail re-renders a step with err's problems next to their fields.
func (u *ui) wizardFail(c echo.Context, cv campaignView, step string, err error) error {
	probs, ok := problems(err)
	if !ok {
		if errors.Is(err, store.ErrConflict) {
			probs = map[string]string{"_": errMessage(err)}
		} else {
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Status >= 500 || ae.Status == http.StatusForbidden {
				return err
			}
			probs = map[string]string{"_": ae.Message}
		}
	}
	pg, perr := u.newPage(c, "campaigns", "camp.edit")
	if perr != nil {
		return perr
	}
	pg.Errors = probs
	pg.FormError = pg.T("common.error_form")
	if m, ok := probs["_"]; ok {
		pg.FormError = m
	}
	pg.Form, _ = c.FormParams()
	if fresh, err := u.loadCampaign(c); err == nil {
		cv = fresh
	}
	return u.renderWizard(c, pg, http.StatusUnprocessableEntity, &wizardData{Campaign: cv, Step: step})
}

// mappingFromForm builds the variable mapping JSON from the variables step: for each
// parameter i, var.i.key_param (its key), var.i.source, var.i.field / var.i.attribute /
// var.i.value and var.i.fallback.
func mappingFromForm(c echo.Context) (json.RawMessage, error) {
	form, err := c.FormParams()
	if err != nil {
		return nil, err
	}
	var m campaigns.Mapping
	for i := 0; ; i++ {
		pre := fmt.Sprintf("var.%d.", i)
		key := form.Get(pre + "param")
		if key == "" {
			break
		}
		v := campaigns.Variable{Source: form.Get(pre + "source"), Fallback: strings.TrimSpace(form.Get(pre + "fallback"))}
		v.Param = paramFromKey(key)
		switch v.Source {
		case campaigns.SourceField:
			v.Key = form.Get(pre + "field")
		case campaigns.SourceAttribute:
			v.Key = strings.TrimSpace(form.Get(pre + "attribute"))
		case campaigns.SourceLiteral:
			v.Value = form.Get(pre + "value")
		}
		m.Variables = append(m.Variables, v)
	}
	return json.Marshal(m)
}

// paramFromKey reads a parameter key ("body.1", "header.nombre", "button.0.url") back into the
// fields Bind matches on.
func paramFromKey(key string) campaigns.Param {
	parts := strings.Split(key, ".")
	p := campaigns.Param{Component: parts[0]}
	switch {
	case parts[0] == campaigns.ComponentButton && len(parts) == 3:
		p.ButtonIndex, _ = strconv.Atoi(parts[1])
		p.Name = parts[2]
		if parts[2] == "url" || parts[2] == "copy_code" {
			p.ButtonType, p.Name = parts[2], ""
		}
	case len(parts) >= 2:
		p.Name = strings.Join(parts[1:], ".")
	}
	return p
}

func (u *ui) workspaceLoc(c echo.Context) *time.Location {
	ws, err := store.WorkspaceGetByID(c.Request().Context(), u.db, api.PrincipalOf(c).WorkspaceID)
	if err != nil {
		return time.UTC
	}
	return ws.Location()
}

// parseLocalTime reads <input type="datetime-local"> in loc ("" is the zero time).
func parseLocalTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("fecha y hora inválidas (AAAA-MM-DD HH:MM)")
}

// campaignTest sends the template to one phone (POST /api/v1/campaigns/:id/test) and shows
// the result on the review step.
func (u *ui) campaignTest(c echo.Context) error {
	cv, err := u.loadCampaign(c)
	if err != nil {
		return err
	}
	phone := strings.TrimSpace(c.FormValue("phone"))
	var res struct {
		WAMID string `json:"wamid"`
		To    string `json:"to"`
	}
	err = u.callAPI(c, http.MethodPost, fmt.Sprintf("/campaigns/%d/test", cv.ID), map[string]any{"phone": phone}, &res)
	pg, perr := u.newPage(c, "campaigns", "camp.edit")
	if perr != nil {
		return perr
	}
	tr := &testResult{To: res.To, WAMID: res.WAMID}
	status := http.StatusOK
	if err != nil {
		if isNotFound(err) {
			return err
		}
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status == http.StatusForbidden {
			return err
		}
		tr.Error = errMessage(err)
		if probs, ok := problems(err); ok {
			pg.Errors = probs
		}
		status = http.StatusUnprocessableEntity
	}
	pg.Form, _ = c.FormParams()
	return u.renderWizard(c, pg, status, &wizardData{Campaign: cv, Step: "review", Test: tr})
}

// campaignSchedule schedules the launch (owners only; the API checks the plan again).
func (u *ui) campaignSchedule(c echo.Context) error {
	cv, err := u.loadCampaign(c)
	if err != nil {
		return err
	}
	body := map[string]any{"confirm_broadcast": c.FormValue("confirm_broadcast") == "on"}
	if err := u.callAPI(c, http.MethodPost, fmt.Sprintf("/campaigns/%d/schedule", cv.ID), body, nil); err != nil {
		return u.wizardFail(c, cv, "review", err)
	}
	return u.redirectFlash(c, fmt.Sprintf("/campaigns/%d", cv.ID), "ok", "camp.scheduled")
}

// campaignAction runs pause, resume, cancel or unschedule through the API.
func (u *ui) campaignAction(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	action := c.Param("action")
	switch action {
	case "pause", "resume", "cancel", "unschedule":
	default:
		return store.ErrNotFound
	}
	body := map[string]string{"reason": strings.TrimSpace(c.FormValue("reason"))}
	to := fmt.Sprintf("/campaigns/%d", id)
	if err := u.callAPI(c, http.MethodPost, fmt.Sprintf("/campaigns/%d/%s", id, action), body, nil); err != nil {
		var ae *api.Error
		if isNotFound(err) || (errors.As(err, &ae) && ae.Status == http.StatusForbidden) {
			return err
		}
		return u.redirectFlash(c, to, "error", "camp.action_failed", errMessage(err))
	}
	if action == "unschedule" {
		to += "/edit?step=review"
	}
	return u.redirectFlash(c, to, "ok", "camp.done_"+action)
}

// campaignDelete deletes a draft (marketers and owners) or a campaign cancelled before its
// launch (owners: cancelling is theirs, so is clearing it away; the API keeps one cancelled after
// it reached people, and says so).
func (u *ui) campaignDelete(c echo.Context) error {
	cv, err := u.loadCampaign(c)
	if err != nil {
		return err
	}
	id := cv.ID
	if cv.State != store.CampaignDraft && !api.PrincipalOf(c).Role.AtLeast(store.RoleOwner) {
		return store.ErrForbidden
	}
	if err := u.callAPI(c, http.MethodDelete, fmt.Sprintf("/campaigns/%d", id), nil, nil); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return u.redirectFlash(c, fmt.Sprintf("/campaigns/%d", id), "error", "camp.action_failed", errMessage(err))
		}
		return err
	}
	if cv.State != store.CampaignDraft {
		return u.redirectFlash(c, "/campaigns", "ok", "camp.deleted_campaign")
	}
	return u.redirectFlash(c, "/campaigns", "ok", "camp.deleted")
}

type campaignPageData struct {
	Campaign    campaignView
	Card        campaignCard
	Report      *reports.CampaignReport
	Transitions []store.CampaignTransitionRecord
	Template    *tmplView
	Number      *store.SenderNumber
	Funnel      []funnelStep
	Chart       chart
}

type funnelStep struct {
	Key   string
	Count int64
	Pct   int
}

// campaignShow is the campaign page: state, live funnel, timeline chart, pause log, failures.
func (u *ui) campaignShow(c echo.Context) error {
	cv, err := u.loadCampaign(c)
	if err != nil {
		return err
	}
	pg, err := u.newPage(c, "campaigns", "camp.title")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	d := campaignPageData{Campaign: cv}
	if d.Card, err = u.campaignCard(ctx, cv.Campaign); err != nil {
		return err
	}
	var rep reports.CampaignReport
	if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/campaigns/%d/report", cv.ID), nil, &rep); err != nil {
		return err
	}
	d.Report = &rep
	var tr struct {
		Data []store.CampaignTransitionRecord `json:"data"`
	}
	if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/campaigns/%d/transitions", cv.ID), nil, &tr); err != nil {
		return err
	}
	d.Transitions = tr.Data
	if cv.TemplateID != nil {
		var t tmplView
		if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/templates/%d", *cv.TemplateID), nil, &t); err == nil {
			d.Template = &t
		}
	}
	if cv.SenderNumberID != nil {
		if n, err := store.SenderNumberGetByID(ctx, u.db, cv.WorkspaceID, *cv.SenderNumberID); err == nil {
			d.Number = &n
		}
	}
	f := rep.Funnel
	base := max(f.Audience, 1)
	for _, s := range []struct {
		k string
		n int64
	}{{"audience", f.Audience}, {"sent", f.Sent}, {"delivered", f.Delivered}, {"read", f.Read}, {"replied", f.Replied}, {"failed", f.Failed}, {"skipped", f.Skipped}, {"opted_out", f.OptedOut}} {
		d.Funnel = append(d.Funnel, funnelStep{Key: s.k, Count: s.n, Pct: int(100 * s.n / base)})
	}
	d.Chart = timelineChart(rep.Timeline, pg.loc, pg.Lang)
	pg.Data = d
	return u.render(c, http.StatusOK, "campaign", pg)
}
