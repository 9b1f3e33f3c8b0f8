package sim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/pregon/pregon/whatsapp"
)

// Templates returns a copy of every template, sorted by WABA, name and language.
func (s *Simulator) Templates() []Template {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.templatesLocked("")
}

func (s *Simulator) templatesLocked(waba string) []Template {
	var out []Template
	for _, t := range s.templates {
		if waba == "" || t.WABAID == waba {
			cp := *t
			cp.held = nil
			cp.Components = append([]whatsapp.TemplateComponent(nil), t.Components...)
			out = append(out, cp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.WABAID != b.WABAID {
			return a.WABAID < b.WABAID
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Language < b.Language
	})
	return out
}

// findTemplateLocked finds a template by name and language in waba, or in any WABA when waba
// is "" (the first WABA wins).
func (s *Simulator) findTemplateLocked(waba, name, lang string) (*Template, error) {
	lang = normLang(lang)
	var found *Template
	for k, t := range s.templates {
		if k.name == name && (lang == "" || k.lang == lang) && (waba == "" || k.waba == waba) && (found == nil || t.WABAID < found.WABAID) {
			found = t
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no template %q in language %q", name, lang)
	}
	return found, nil
}

// SetTemplateQuality changes a template's quality score and emits
// message_template_quality_update. Turning an APPROVED template RED also pauses it, as Meta
// does: 3 h the first time, 6 h the second, disabled the third (each with a
// message_template_status_update).
func (s *Simulator) SetTemplateQuality(name, lang, quality string) error {
	return s.setTemplateQuality("", name, lang, quality)
}

func (s *Simulator) setTemplateQuality(waba, name, lang, quality string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.findTemplateLocked(waba, name, lang)
	if err != nil {
		return fmt.Errorf("setting template quality: %w", err)
	}
	prev := t.QualityScore.Score
	t.QualityScore = whatsapp.QualityScore{Score: quality, Date: whatsapp.Timestamp(s.now().Unix())}
	s.emitField(t.WABAID, whatsapp.FieldTemplateQualityUpdate, whatsapp.TemplateQualityUpdate{
		PreviousQualityScore: prev, NewQualityScore: quality,
		MessageTemplateID: whatsapp.FlexString(t.ID), MessageTemplateName: t.Name, MessageTemplateLanguage: t.Language,
	})
	if quality == "RED" && t.Status == "APPROVED" {
		t.PauseCount++
		switch t.PauseCount {
		case 1:
			t.PausedUntil = s.now().Add(pauseDuration(1))
			s.setStatusLocked(t, "PAUSED", "NONE", "FIRST_PAUSE")
		case 2:
			t.PausedUntil = s.now().Add(pauseDuration(2))
			s.setStatusLocked(t, "PAUSED", "NONE", "SECOND_PAUSE")
		default:
			s.setStatusLocked(t, "DISABLED", "NONE", "DISABLED")
		}
	}
	return nil
}

// SetTemplateStatus sets a template's status (APPROVED, PAUSED, DISABLED, REJECTED, …) and
// emits message_template_status_update. A PAUSED set this way lasts until unpaused.
func (s *Simulator) SetTemplateStatus(name, lang, status, reason string) error {
	return s.setTemplateStatus("", name, lang, status, reason)
}

func (s *Simulator) setTemplateStatus(waba, name, lang, status, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.findTemplateLocked(waba, name, lang)
	if err != nil {
		return fmt.Errorf("setting template status: %w", err)
	}
	t.PausedUntil = timeZero
	s.setStatusLocked(t, status, cmpStr(reason, "NONE"), "")
	return nil
}

// SetTemplatePacing turns pacing on or off for a template: while on, sends are answered with
// message_status "held_for_quality_assessment" and produce no webhooks until ReleaseHeld (good
// feedback) or a pause (bad feedback: every held message fails with 132015).
func (s *Simulator) SetTemplatePacing(name, lang string, on bool) error {
	return s.setTemplatePacing("", name, lang, on)
}

func (s *Simulator) setTemplatePacing(waba, name, lang string, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.findTemplateLocked(waba, name, lang)
	if err != nil {
		return fmt.Errorf("setting template pacing: %w", err)
	}
	t.Pacing = on
	return nil
}

// ReleaseHeld releases the template's held messages (their normal status webhooks follow) and
// returns how many there were.
func (s *Simulator) ReleaseHeld(name, lang string) (int, error) {
	return s.releaseHeld("", name, lang)
}

func (s *Simulator) releaseHeld(waba, name, lang string) (int, error) {
	s.mu.Lock()
	t, err := s.findTemplateLocked(waba, name, lang)
	if err != nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("releasing held messages: %w", err)
	}
	held := t.held
	t.held = nil
	s.mu.Unlock()
	for _, a := range held {
		s.scheduleLifecycle(a)
	}
	return len(held), nil
}

// setStatusLocked changes the status and emits the webhook; s.mu is held. Pausing or
// disabling drops held messages with 132015.
func (s *Simulator) setStatusLocked(t *Template, status, reason, title string) {
	if (status == "PAUSED" || status == "DISABLED") && len(t.held) > 0 {
		for _, a := range t.held {
			s.em.schedule(s.failedEvent(a, whatsapp.CodeTemplatePaused), s.cfg.Statuses.SentDelay)
			s.stats.statuses[whatsapp.StatusFailed]++
		}
		t.held = nil
	}
	t.Status = status
	v := whatsapp.TemplateStatusUpdate{
		Event: status, MessageTemplateID: whatsapp.FlexString(t.ID), MessageTemplateName: t.Name,
		MessageTemplateLanguage: t.Language, MessageTemplateCategory: t.Category, Reason: whatsapp.FlexString(reason),
	}
	if title != "" {
		v.OtherInfo = &struct {
			Title       string `json:"title,omitempty"`
			Description string `json:"description,omitempty"`
		}{Title: title, Description: "Simulated " + title}
	}
	if status == "DISABLED" {
		v.DisableInfo = &struct {
			DisableDate whatsapp.Timestamp `json:"disable_date"`
		}{DisableDate: whatsapp.Timestamp(s.now().Unix())}
	}
	if status != "PAUSED" {
		t.PausedUntil = timeZero
	}
	s.emitField(t.WABAID, whatsapp.FieldTemplateStatusUpdate, v)
}

// handleListTemplates serves GET /{waba_id}/message_templates with limit/after paging.
func (s *Simulator) handleListTemplates(w http.ResponseWriter, r *http.Request, waba string) {
	s.mu.Lock()
	_, ok := s.wabas[waba]
	var ts []Template
	if ok {
		// auto-unpause templates whose quality pause is over
		now := s.now()
		for _, t := range s.templates {
			if t.WABAID == waba && t.Status == "PAUSED" && !t.PausedUntil.IsZero() && !now.Before(t.PausedUntil) {
				s.setStatusLocked(t, "APPROVED", "NONE", "UNPAUSE")
			}
		}
		ts = s.templatesLocked(waba)
	}
	s.mu.Unlock()
	if !ok {
		s.graphError(w, http.StatusBadRequest, 100, 33, "GraphMethodException",
			fmt.Sprintf("Unsupported get request. Object with ID '%s' does not exist", waba), "")
		return
	}
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 {
		limit = 25
	}
	limit = min(limit, 1000)
	offset := 0
	if a := q.Get("after"); a != "" {
		b, err := base64.RawURLEncoding.DecodeString(a)
		if err != nil {
			s.graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "Invalid parameter", "after is not a valid cursor")
			return
		}
		offset, _ = strconv.Atoi(string(b))
	}
	offset = min(max(offset, 0), len(ts))
	end := min(offset+limit, len(ts))
	data := make([]whatsapp.Template, 0, end-offset)
	for _, t := range ts[offset:end] {
		data = append(data, t.Template)
	}
	cursor := func(i int) string { return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(i))) }
	paging := map[string]any{"cursors": map[string]string{"before": cursor(offset), "after": cursor(end)}}
	if end < len(ts) {
		nq := q
		nq.Set("after", cursor(end))
		nq.Set("limit", strconv.Itoa(limit))
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		paging["next"] = fmt.Sprintf("%s://%s%s?%s", scheme, r.Host, r.URL.Path, nq.Encode())
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "paging": paging})
}

// handleUnpause serves POST /{template_id}/unpause.
func (s *Simulator) handleUnpause(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	k, ok := s.templateIDs[id]
	var t *Template
	if ok {
		t = s.templates[k]
	}
	paused := t != nil && t.Status == "PAUSED"
	if paused {
		s.setStatusLocked(t, "APPROVED", "NONE", "UNPAUSE")
	}
	s.mu.Unlock()
	switch {
	case t == nil:
		s.graphError(w, http.StatusBadRequest, 100, 33, "GraphMethodException",
			fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist", id), "")
	case !paused:
		s.graphError(w, http.StatusBadRequest, 100, 0, "OAuthException", "Invalid parameter",
			fmt.Sprintf("template %s is %s, not PAUSED", t.Name, t.Status))
	default:
		writeJSON(w, http.StatusOK, map[string]any{"success": true})
	}
}
