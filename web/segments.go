package web

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/segments"
	"github.com/pregon/pregon/store"
)

// segmentView is a segment as GET /api/v1/segments returns it.
type segmentView struct {
	store.Segment
	Broadcast     bool   `json:"broadcast"`
	Hash          string `json:"hash"`
	EligibleCount *int64 `json:"eligible_count"`
}

type segmentData struct {
	Segment    segmentView
	Definition string // the JSON the builder starts from
	Preview    *segments.PreviewResult
	Excluded   []kv
	Problems   []store.Problem // definition problems, with their JSON paths
	Labels     map[string]string
	Campaigns  []campaignOption // launched campaigns, for engagement conditions
}

type campaignOption struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// builder fills what the segment builder needs besides the definition: its texts and the
// campaigns an engagement condition can name.
func (u *ui) builder(c echo.Context, lang string) (segmentData, error) {
	d := segmentData{Labels: builderLabels(lang)}
	cs, err := listAll[campaignView](u, c, "/campaigns")
	if err != nil {
		return d, err
	}
	for _, cv := range cs {
		if cv.State != store.CampaignDraft && cv.State != store.CampaignScheduled {
			d.Campaigns = append(d.Campaigns, campaignOption{cv.ID, cv.Name})
		}
	}
	return d, nil
}

// builderLabels are the texts the segment builder's JavaScript shows (keys seg.*).
func builderLabels(lang string) map[string]string {
	out := map[string]string{}
	for k := range messages {
		if strings.HasPrefix(k, "seg.") || strings.HasPrefix(k, "excl.") {
			out[k] = translate(lang, k)
		}
	}
	return out
}

func (u *ui) segmentsList(c echo.Context) error {
	pg, err := u.newPage(c, "segments", "seg.title")
	if err != nil {
		return err
	}
	list, err := listAll[segmentView](u, c, "/segments")
	if err != nil {
		return err
	}
	pg.Data = list
	return u.render(c, http.StatusOK, "segments", pg)
}

func (u *ui) segmentNew(c echo.Context) error {
	pg, err := u.newPage(c, "segments", "seg.new")
	if err != nil {
		return err
	}
	d, err := u.builder(c, pg.Lang)
	if err != nil {
		return err
	}
	d.Definition = `{"all":[]}`
	pg.Data = d
	return u.render(c, http.StatusOK, "segment", pg)
}

func (u *ui) segmentShow(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	pg, err := u.newPage(c, "segments", "seg.title")
	if err != nil {
		return err
	}
	d, err := u.builder(c, pg.Lang)
	if err != nil {
		return err
	}
	if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/segments/%d", id), nil, &d.Segment); err != nil {
		return err
	}
	d.Definition = string(d.Segment.Definition)
	var pv segments.PreviewResult
	if err := u.callAPI(c, http.MethodGet, fmt.Sprintf("/segments/%d/preview", id), nil, &pv); err != nil {
		return err
	}
	d.setPreview(&pv)
	pg.Data = d
	return u.render(c, http.StatusOK, "segment", pg)
}

func (d *segmentData) setPreview(pv *segments.PreviewResult) {
	d.Preview = pv
	d.Excluded = nil
	for k, v := range pv.Excluded {
		d.Excluded = append(d.Excluded, kv{k, fmt.Sprint(v)})
	}
	sort.Slice(d.Excluded, func(i, j int) bool { return d.Excluded[i].Key < d.Excluded[j].Key })
}

// segmentSave creates (id 0) or updates a segment through the API; the server validates the
// definition the builder wrote and its problems are shown next to the conditions.
func (u *ui) segmentSave(c echo.Context) error {
	var id int64
	if c.Param("id") != "" {
		var err error
		if id, err = paramID(c); err != nil {
			return err
		}
	}
	name, desc := strings.TrimSpace(c.FormValue("name")), strings.TrimSpace(c.FormValue("description"))
	def := strings.TrimSpace(c.FormValue("definition"))
	if def == "" {
		def = `{}`
	}
	body := map[string]any{"name": name, "description": desc, "definition": json.RawMessage(def)}
	if !json.Valid([]byte(def)) {
		body["definition"] = def // let the API explain what is wrong with it
	}
	var sv segmentView
	var err error
	if id == 0 {
		err = u.callAPI(c, http.MethodPost, "/segments", body, &sv)
	} else {
		err = u.callAPI(c, http.MethodPatch, fmt.Sprintf("/segments/%d", id), body, &sv)
	}
	if err != nil {
		// A refusal (invalid, a name already taken…) shows the form again with everything
		// the marketer built and the message next to its field.
		probs, ok := formProblems(err)
		if !ok {
			return err
		}
		pg, perr := u.newPage(c, "segments", "seg.title")
		if perr != nil {
			return perr
		}
		pg.Errors, pg.FormError = probs, cmp.Or(probs["_"], pg.T("common.error_form"))
		pg.Form, _ = c.FormParams()
		d, berr := u.builder(c, pg.Lang)
		if berr != nil {
			return berr
		}
		d.Definition = def
		d.Segment.ID, d.Segment.Name, d.Segment.Description = id, name, desc
		var ve *store.ValidationError
		if asValidation(err, &ve) {
			for _, p := range ve.Problems {
				if p.Path != "name" && p.Path != "description" {
					d.Problems = append(d.Problems, p)
				}
			}
		}
		pg.Data = d
		return u.render(c, formStatus(err), "segment", pg)
	}
	return u.redirectFlash(c, fmt.Sprintf("/segments/%d", sv.ID), "ok", "seg.saved")
}

func (u *ui) segmentDelete(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := u.callAPI(c, http.MethodDelete, fmt.Sprintf("/segments/%d", id), nil, nil); err != nil {
		if isNotFound(err) {
			return err
		}
		return u.redirectFlash(c, fmt.Sprintf("/segments/%d", id), "error", "camp.action_failed", errMessage(err))
	}
	return u.redirectFlash(c, "/segments", "ok", "seg.deleted")
}
