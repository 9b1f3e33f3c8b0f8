package sim

import (
	"fmt"
	"net/http"
	"strings"
)

// handlePhoneNumber serves GET /{phone_number_id}?fields=…; without fields it returns the
// default set (id, display_phone_number, verified_name, quality_rating).
func (s *Simulator) handlePhoneNumber(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	ns, ok := s.numbers[id]
	var n Number
	if ok {
		n = ns.Number
	}
	s.mu.Unlock()
	if !ok {
		s.graphError(w, http.StatusBadRequest, 100, 33, "GraphMethodException",
			fmt.Sprintf("Unsupported get request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation", id), "")
		return
	}
	level := n.ThroughputLevel
	if n.Coexistence {
		level = "STANDARD"
	}
	all := map[string]any{
		"id":                       n.PhoneNumberID,
		"display_phone_number":     displayFormat(n.DisplayPhoneNumber),
		"verified_name":            n.VerifiedName,
		"quality_rating":           n.QualityRating,
		"status":                   "CONNECTED",
		"platform_type":            "CLOUD_API",
		"is_on_biz_app":            n.Coexistence,
		"throughput":               map[string]string{"level": level},
		"code_verification_status": "VERIFIED",
		"name_status":              "APPROVED",
		"whatsapp_business_manager_messaging_limit": n.MessagingLimitTier,
		"messaging_limit_tier":                      n.MessagingLimitTier,
	}
	fields := r.URL.Query().Get("fields")
	if fields == "" {
		fields = "id,display_phone_number,verified_name,quality_rating"
	}
	out := map[string]any{"id": n.PhoneNumberID}
	for _, f := range strings.Split(fields, ",") {
		f = strings.TrimSpace(f)
		if v, ok := all[f]; ok {
			out[f] = v
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// displayFormat renders digits the way Graph shows display numbers ("+52 1 55 5078 3881" is
// Meta's style; the simulator keeps "+" and the digits).
func displayFormat(d string) string {
	d = digits(d)
	if d == "" {
		return ""
	}
	return "+" + d
}
