package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// serveControl serves the JSON control API under /_sim/:
//
//	GET  /_sim/stats                  Stats
//	GET  /_sim/templates              []Template
//	POST /_sim/templates/quality      {"name","language","quality"}
//	POST /_sim/templates/status       {"name","language","status","reason"}
//	POST /_sim/templates/pacing       {"name","language","pacing": true|false}
//	POST /_sim/templates/release      {"name","language"} → {"released": n}
//	POST /_sim/numbers/quality        {"phone_number_id","event","current_limit","old_limit"}
//	POST /_sim/numbers/account        {"phone_number_id","event","reason"}
//	POST /_sim/numbers/throughput     {"phone_number_id","mps"}   (mps ≤ 0: unlimited)
//	POST /_sim/inbound                Inbound → {"id": wamid}
//	POST /_sim/echoes                 {"phone_number_id","to","text"}
//	POST /_sim/contacts               {"phone_number_id","contacts":[ContactSync]}
//	POST /_sim/user_preferences       {"phone_number_id","wa_id","value"}  (stop | resume)
//	POST /_sim/faults                 {"server_error_rate","slow_rate","slow_delay_ms","throughput_storm","lost_response_rate"}
//	POST /_sim/reset
//
// Errors answer 400 {"error": "..."}.
func (s *Simulator) serveControl(w http.ResponseWriter, r *http.Request) {
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
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_sim/stats":
		writeJSON(w, http.StatusOK, s.Stats())
	case "GET /_sim/templates":
		writeJSON(w, http.StatusOK, s.Templates())
	case "POST /_sim/templates/quality":
		var in struct{ Name, Language, Quality string }
		if decode(&in) {
			if err := s.SetTemplateQuality(in.Name, in.Language, in.Quality); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/templates/status":
		var in struct{ Name, Language, Status, Reason string }
		if decode(&in) {
			if err := s.SetTemplateStatus(in.Name, in.Language, in.Status, in.Reason); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/templates/pacing":
		var in struct {
			Name, Language string
			Pacing         bool
		}
		if decode(&in) {
			if err := s.SetTemplatePacing(in.Name, in.Language, in.Pacing); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/templates/release":
		var in struct{ Name, Language string }
		if decode(&in) {
			n, err := s.ReleaseHeld(in.Name, in.Language)
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
		if decode(&in) {
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
		if decode(&in) {
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
		if decode(&in) {
			if err := s.SetThroughput(in.PhoneNumberID, in.MPS); err != nil {
				fail(err)
				return
			}
			ok()
		}
	case "POST /_sim/inbound":
		var in Inbound
		if decode(&in) {
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
		if decode(&in) {
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
		if decode(&in) {
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
		if decode(&in) {
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
		if decode(&in) {
			s.SetFaults(Faults{ServerErrorRate: in.ServerErrorRate, SlowRate: in.SlowRate,
				SlowDelay: time.Duration(in.SlowDelayMS) * time.Millisecond, ThroughputStorm: in.ThroughputStorm,
				LostResponseRate: in.LostRate})
			ok()
		}
	case "POST /_sim/reset":
		s.Reset()
		ok()
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown control route " + route})
	}
}
