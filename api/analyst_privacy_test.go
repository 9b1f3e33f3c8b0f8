package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/pregon/pregon/store"
)

// Analysts read contacts as reports need them, but consent evidence only as the record of
// where consent came from; what it says about the person, and the rows of uploaded files, are
// for marketers and owners (as the contacts export is).
func TestAnalystsReadConsentEvidenceOnlyAsItsRecord(t *testing.T) {
	e := newTestEnv(t)
	created := e.as(store.RoleMarketer).do("POST", "/api/v1/contacts", map[string]any{"phone": "+573001234567", "name": "Luz",
		"consent": map[string]any{"text": "acepto v1", "evidence": map[string]any{"ip": "190.1.2.3", "form": "landing"}}}).expect(t, http.StatusCreated)
	var ct store.Contact
	if err := json.Unmarshal(created.Body, &ct); err != nil {
		t.Fatal(err)
	}

	// The evidence a role reads on the contact, in the list and in the consent history.
	evidenceSeen := func(role store.Role) []map[string]any {
		t.Helper()
		var one store.Contact
		json.Unmarshal(e.as(role).do("GET", fmt.Sprintf("/api/v1/contacts/%d", ct.ID), nil).expect(t, http.StatusOK).Body, &one)
		var page struct{ Data []store.Contact }
		json.Unmarshal(e.as(role).do("GET", "/api/v1/contacts?limit=500", nil).expect(t, http.StatusOK).Body, &page)
		var events struct{ Data []store.ConsentEvent }
		json.Unmarshal(e.as(role).do("GET", fmt.Sprintf("/api/v1/contacts/%d/consent", ct.ID), nil).expect(t, http.StatusOK).Body, &events)
		if len(page.Data) != 1 || len(events.Data) != 1 {
			t.Fatalf("%s: %d contacts listed, %d consent events", role, len(page.Data), len(events.Data))
		}
		return []map[string]any{one.ConsentEvidence, page.Data[0].ConsentEvidence, events.Data[0].Evidence}
	}
	for _, ev := range evidenceSeen(store.RoleAnalyst) {
		if ev["form"] != "landing" || ev["ip"] != nil {
			t.Errorf("analyst reads evidence %v, want the form without the IP address", ev)
		}
	}
	for _, ev := range evidenceSeen(store.RoleMarketer) {
		if ev["form"] != "landing" || ev["ip"] != "190.1.2.3" {
			t.Errorf("marketer reads evidence %v, want all of it", ev)
		}
	}

	up := e.as(store.RoleMarketer).upload("lista.csv", []byte("telefono;nombre\n3001112233;Ana\nxx;Bad\n")).expect(t, http.StatusCreated)
	var imp struct {
		Import store.Import `json:"import"`
	}
	if err := json.Unmarshal(up.Body, &imp); err != nil || imp.Import.ID == 0 {
		t.Fatalf("upload: %s (%v)", up.Body, err)
	}
	path := fmt.Sprintf("/api/v1/imports/%d/errors?format=csv", imp.Import.ID)
	e.as(store.RoleAnalyst).do("GET", path, nil).expect(t, http.StatusForbidden)
	e.as(store.RoleMarketer).do("GET", path, nil).expect(t, http.StatusOK)
}
