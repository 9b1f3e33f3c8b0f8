package sim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// ControlTarget is what a control call acts on or reveals: one phone number (PhoneNumberID,
// with WABAID its WABA when the simulator knows the number), the templates of one WABA
// (WABAID alone), or the whole simulator (both empty: statistics, every template, faults,
// reset).
type ControlTarget struct {
	PhoneNumberID string
	WABAID        string
}

// Installation reports whether the call spans the whole simulator.
func (t ControlTarget) Installation() bool { return t.PhoneNumberID == "" && t.WABAID == "" }

// ErrControlForbidden is what an authorizer wraps to refuse a control call: Control answers
// it 403 {"error": "..."}; any other error answers 500.
var ErrControlForbidden = errors.New("control call not allowed")

// Control serves the control API alone (the /_sim/ routes of ServeHTTP), asking authorize
// before every call, with the request and the call's target resolved (an omitted
// phone_number_id is the first number; a template named without waba_id is the one
// ServeHTTP's control API would change). A refused call changes nothing and emits nothing.
// It is the handler to mount where several parties share one simulator; ServeHTTP's control
// API trusts every caller.
func (s *Simulator) Control(authorize func(r *http.Request, t ControlTarget) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveControl(w, r, authorize) })
}

// serveControl serves the JSON control API under /_sim/:
//
//	GET  /_sim/stats                  Stats
//	GET  /_sim/templates[?waba_id=]   []Template
//	POST /_sim/templates/quality      {"waba_id","name","language","quality"}
//	POST /_sim/templates/status       {"waba_id","name","language","status","reason"}
//	POST /_sim/templates/pacing       {"waba_id","name","language","pacing": true|false}
//	POST /_sim/templates/release      {"waba_id","name","language"} → {"released": n}
//	POST /_sim/numbers/quality        {"phone_number_id","event","current_limit","old_limit"}
//	POST /_sim/numbers/account        {"phone_number_id","event","reason"}
//	POST /_sim/numbers/throughput     {"phone_number_id","mps"}   (mps ≤ 0: unlimited)
//	POST /_sim/inbound                Inbound → {"id": wamid}   ("from", or "user_id" alone: a username user)
//	POST /_sim/echoes                 {"phone_number_id","to","text"}
//	POST /_sim/contacts               {"phone_number_id","contacts":[ContactSync]}
//	POST /_sim/user_preferences       {"phone_number_id","wa_id","value"}  (stop | resume)
//	POST /_sim/faults                 {"server_error_rate","slow_rate","slow_delay_ms","throughput_storm","lost_response_rate"}
//	POST /_sim/reset
//
// waba_id is optional (default: the first WABA with that template), so is phone_number_id
// (default: the first number). Errors answer 400 {"error": "..."}. authorize, when not nil,
// is asked before every call (see Control).
func (s *Simulator) serveControl(w http.ResponseWriter, r *http.Request, authorize func(*http.Request, ControlTarget) error) {
	fail := func(err error) { writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()}) }
	ok := func() { writeJSON(w, http.StatusOK, map[string]bool{"ok": true}) }
	decode := func(v any) bool {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil && len(b) > 0 {
			err = json.Unmarshal(b, v)
		}
		if err != nil {
			fail(err)
			return false
		}
		return true
	}
	allow := func(t ControlTarget) bool {
		if authorize == nil {
			return true
		}
		err := authorize(r, t)
		switch {
		case err == nil:
			return true
		case errors.Is(err, ErrControlForbidden):
			writeJSON(w, http.StatusForbidden, map[string]string{"error": err.Error()})
		default:
			s.log.Error("authorizing a control call", errAttr(err), "path", r.URL.Path)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "authorizing the control call failed"})
		}
		return false
	}
	// allowNumber resolves the number a call names ("" is the first) and asks for it.
	allowNumber := func(id string) bool {
		t := ControlTarget{PhoneNumberID: id}
		if n, err := s.number(id); err == nil {
			t = ControlTarget{PhoneNumberID: n.PhoneNumberID, WABAID: n.WABAID}
		}
		return allow(t)
	}
	// allowTemplate resolves the WABA of the template a call names and asks for it; *waba is
	// set to it, so that the call changes the template that was authorized.
	allowTemplate := func(waba *string, name, lang string) bool {
		if *waba == "" {
			s.mu.Lock()
			t, err := s.findTemplateLocked("", name, lang)
			s.mu.Unlock()
			if err != nil {
				fail(err)
				return false
			}
			*waba = t.WABAID
		}
		return allow(ControlTarget{WABAID: *waba})
	}
	type templateRef struct {
		WABAID   string `json:"waba_id"`
		Name     string `json:"name"`
		Language string `json:"language"`
	}
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_sim/stats":
		if allow(ControlTarget{}) {
			writeJSON(w, http.StatusOK, s.Stats())
		}
	case "GET /_sim/templates":
		waba := r.URL.Query().Get("waba_id")
		if allow(ControlTarget{WABAID: waba}) {
			s.mu.Lock()
			ts := s.templatesLocked(waba)
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, ts)
		}
	case "POST /_sim/templates/quality":
		var in struct {
			templateRef
			Quality string `json:"quality"`
		}
		if decode(&in) && allowTemplate(&in.WABAID, in.Name, in.Language) {
			if err := s.setTemplateQuality(in.WABAID, in.Name, in.Language, in.Quality); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/templates/status":
		var in struct {
			templateRef
			Status string `json:"status"`
			Reason string `json:"reason"`
		}
		if decode(&in) && allowTemplate(&in.WABAID, in.Name, in.Language) {
			if err := s.setTemplateStatus(in.WABAID, in.Name, in.Language, in.Status, in.Reason); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/templates/pacing":
		var in struct {
			templateRef
			Pacing bool `json:"pacing"`
		}
		if decode(&in) && allowTemplate(&in.WABAID, in.Name, in.Language) {
			if err := s.setTemplatePacing(in.WABAID, in.Name, in.Language, in.Pacing); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/templates/release":
		var in templateRef
		if decode(&in) && allowTemplate(&in.WABAID, in.Name, in.Language) {
			n, err := s.releaseHeld(in.WABAID, in.Name, in.Language)
			if err != nil {
				fail(err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]int{"released": n})
		}
	case "POST /_sim/numbers/quality":
		var in struct {
			PhoneNumberID string `json:"phone_number_id"`
			Event         string `json:"event"`
			CurrentLimit  string `json:"current_limit"`
			OldLimit      string `json:"old_limit"`
		}
		if decode(&in) && allowNumber(in.PhoneNumberID) {
			if err := s.EmitPhoneNumberQuality(in.PhoneNumberID, in.Event, in.CurrentLimit, in.OldLimit); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/numbers/account":
		var in struct {
			PhoneNumberID string `json:"phone_number_id"`
			Event         string `json:"event"`
			Reason        string `json:"reason"`
		}
		if decode(&in) && allowNumber(in.PhoneNumberID) {
			if err := s.EmitAccountUpdate(in.PhoneNumberID, in.Event, in.Reason); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/numbers/throughput":
		var in struct {
			PhoneNumberID string `json:"phone_number_id"`
			MPS           int    `json:"mps"`
		}
		if decode(&in) && allowNumber(in.PhoneNumberID) {
			if err := s.SetThroughput(in.PhoneNumberID, in.MPS); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/inbound":
		var in Inbound
		if decode(&in) && allowNumber(in.PhoneNumberID) {
			id, err := s.SendInbound(in)
			if err != nil {
				fail(err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"id": id})
		}
	case "POST /_sim/echoes":
		var in struct {
			PhoneNumberID string `json:"phone_number_id"`
			To            string `json:"to"`
			Text          string `json:"text"`
		}
		if decode(&in) && allowNumber(in.PhoneNumberID) {
			if err := s.EmitEcho(in.PhoneNumberID, in.To, in.Text); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/contacts":
		var in struct {
			PhoneNumberID string        `json:"phone_number_id"`
			Contacts      []ContactSync `json:"contacts"`
		}
		if decode(&in) && allowNumber(in.PhoneNumberID) {
			if err := s.EmitContactSync(in.PhoneNumberID, in.Contacts); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/user_preferences":
		var in struct {
			PhoneNumberID string `json:"phone_number_id"`
			WAID          string `json:"wa_id"`
			Value         string `json:"value"`
		}
		if decode(&in) && allowNumber(in.PhoneNumberID) {
			if err := s.SetUserPreference(in.PhoneNumberID, in.WAID, in.Value); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/faults":
		var in struct {
			ServerErrorRate float64 `json:"server_error_rate"`
			SlowRate        float64 `json:"slow_rate"`
			SlowDelayMS     int     `json:"slow_delay_ms"`
			ThroughputStorm bool    `json:"throughput_storm"`
			LostRate        float64 `json:"lost_response_rate"`
		}
		if decode(&in) && allow(ControlTarget{}) {
			s.SetFaults(Faults{ServerErrorRate: in.ServerErrorRate, SlowRate: in.SlowRate,
				SlowDelay: time.Duration(in.SlowDelayMS) * time.Millisecond, ThroughputStorm: in.ThroughputStorm,
				LostResponseRate: in.LostRate})
			ok()
		}
	case "POST /_sim/reset":
		if allow(ControlTarget{}) {
			s.Reset()
			ok()
		}
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown control route " + route})
	}
}
