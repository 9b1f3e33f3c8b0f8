package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

func TestContactsAPI(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	m := env.as(store.RoleMarketer)

	var ana store.Contact
	m.do(http.MethodPost, "/api/v1/contacts", map[string]any{"phone": "300 123 4567", "name": "Ana", "tags": []string{"vip"},
		"attributes": map[string]any{"ciudad": "Cali"}}).expect(t, http.StatusCreated).JSON(t, &ana)
	if ana.Phone != "+573001234567" || ana.Country != "CO" || ana.Marketable || ana.NotMarketable[0].Code != "no_consent" {
		t.Fatalf("created %+v", ana)
	}
	r := m.do(http.MethodPost, "/api/v1/contacts", map[string]any{"phone": "601 2345678"}).expect(t, http.StatusUnprocessableEntity)
	var e Error
	r.JSON(t, &e)
	if e.Code != "invalid" || e.Message != "phone: número fijo (no es celular)" {
		t.Errorf("landline: %+v", e)
	}
	m.do(http.MethodPost, "/api/v1/contacts", map[string]any{"phone": "+57 300 123 4567"}).expect(t, http.StatusConflict)

	var eva store.Contact
	m.do(http.MethodPost, "/api/v1/contacts", map[string]any{"phone": "+52 1 33 1234 5678", "name": "Eva",
		"consent": map[string]any{"source": "formulario", "text": "v1"}}).expect(t, http.StatusCreated).JSON(t, &eva)
	if eva.Phone != "+523312345678" || !eva.Marketable {
		t.Fatalf("eva %+v", eva)
	}

	var list listOf[store.Contact]
	env.as(store.RoleAnalyst).do(http.MethodGet, "/api/v1/contacts?limit=1", nil).expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Data) != 1 || list.Data[0].ID != eva.ID || list.NextCursor == nil {
		t.Fatalf("page 1 %+v", list)
	}
	list = listOf[store.Contact]{}
	m.do(http.MethodGet, fmt.Sprintf("/api/v1/contacts?limit=1&cursor=%d", eva.ID), nil).expect(t, http.StatusOK).JSON(t, &list)
	if len(list.Data) != 1 || list.Data[0].ID != ana.ID {
		t.Fatalf("page 2 %+v", list)
	}
	for q, want := range map[string]int64{"q=an": ana.ID, "tag=vip": ana.ID, "attribute=ciudad%3DCali": ana.ID, "marketable=true": eva.ID, "q=331234": eva.ID} {
		list = listOf[store.Contact]{}
		m.do(http.MethodGet, "/api/v1/contacts?"+q, nil).expect(t, http.StatusOK).JSON(t, &list)
		if len(list.Data) != 1 || list.Data[0].ID != want {
			t.Errorf("?%s: %+v", q, list.Data)
		}
	}

	path := fmt.Sprintf("/api/v1/contacts/%d", ana.ID)
	var got store.Contact
	m.do(http.MethodPatch, path, map[string]any{"name": "Ana María", "attributes": map[string]any{"ciudad": nil, "plan": "oro"}}).
		expect(t, http.StatusOK).JSON(t, &got)
	if got.Name != "Ana María" || got.Attributes["plan"] != "oro" || got.Attributes["ciudad"] != nil {
		t.Errorf("patched %+v", got)
	}
	var tags tagsResponse
	m.do(http.MethodPost, "/api/v1/contacts/tags", tagsRequest{IDs: []int64{ana.ID, eva.ID}, Add: []string{"promo"}, Remove: []string{"vip"}}).
		expect(t, http.StatusOK).JSON(t, &tags)
	if tags.Updated != 2 {
		t.Errorf("tags %+v", tags)
	}
	m.do(http.MethodPost, path+"/opt-out", map[string]any{}).expect(t, http.StatusUnprocessableEntity)
	m.do(http.MethodPost, path+"/opt-out", map[string]any{"reason": "lo pidió por teléfono"}).expect(t, http.StatusOK).JSON(t, &got)
	if got.OptedOutAt == nil {
		t.Error("not opted out")
	}
	m.do(http.MethodPost, path+"/opt-in", map[string]any{"reason": "escribió ALTA", "text": "v2"}).expect(t, http.StatusOK).JSON(t, &got)
	if !got.Marketable {
		t.Errorf("opted in %+v", got)
	}
	var hist listOf[store.ConsentEvent]
	env.as(store.RoleAnalyst).do(http.MethodGet, path+"/consent", nil).expect(t, http.StatusOK).JSON(t, &hist)
	if len(hist.Data) != 2 || hist.Data[0].Kind != "opt_out" || hist.Data[1].Kind != "opt_in" {
		t.Errorf("history %+v", hist)
	}

	// Roles and isolation.
	env.requireRoles(t, http.MethodPatch, path, map[string]any{"name": "x"}, store.RoleMarketer)
	env.requireRoles(t, http.MethodGet, path, nil, store.RoleAnalyst)
	for _, rq := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, path, nil}, {http.MethodPatch, path, map[string]any{"name": "x"}}, {http.MethodDelete, path, nil},
		{http.MethodPost, path + "/opt-out", map[string]any{"reason": "x"}}, {http.MethodPost, path + "/opt-in", map[string]any{"reason": "x", "text": "v3"}},
		{http.MethodGet, path + "/consent", nil},
	} {
		env.requireIsolation(t, rq.method, rq.path, rq.body)
	}
	var bt tagsResponse
	env.asB(store.RoleOwner).do(http.MethodPost, "/api/v1/contacts/tags", tagsRequest{IDs: []int64{ana.ID}, Add: []string{"x"}}).expect(t, http.StatusOK).JSON(t, &bt)
	if bt.Updated != 0 {
		t.Error("bulk tags crossed workspaces")
	}

	m.do(http.MethodDelete, path, nil).expect(t, http.StatusForbidden) // erasing is for good: owners only
	env.as(store.RoleOwner).do(http.MethodDelete, path, nil).expect(t, http.StatusNoContent)
	m.do(http.MethodGet, path, nil).expect(t, http.StatusOK).JSON(t, &got)
	if got.Phone != fmt.Sprintf("erased:%d", ana.ID) || got.Name != "" || got.ErasedAt == nil {
		t.Errorf("erased %+v", got)
	}
	// An erased contact's data cannot come back through an edit or a consent change.
	m.do(http.MethodPatch, path, map[string]any{"name": "Ana"}).expect(t, http.StatusConflict)
	m.do(http.MethodPost, path+"/opt-in", map[string]any{"reason": "x", "text": "v3"}).expect(t, http.StatusConflict)
	m.do(http.MethodPost, path+"/opt-out", map[string]any{"reason": "x"}).expect(t, http.StatusConflict)
}

// TestContactsAPIRefusesBadInput: what a person or an integration may get wrong gets a 4xx that
// names every problem, never a 500 and never a silent change.
func TestContactsAPIRefusesBadInput(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	m := env.as(store.RoleMarketer)
	problems := func(r response) []string {
		t.Helper()
		var e Error
		r.JSON(t, &e)
		var paths []string
		for _, p := range e.Details.([]any) {
			paths = append(paths, p.(map[string]any)["path"].(string))
		}
		return paths
	}

	// Consent that documents nothing is refused: it would make the contact marketable.
	for _, consent := range []map[string]any{{}, {"source": "formulario"}, {"text": "v1", "at": "2999-01-01T00:00:00Z"}} {
		r := m.do(http.MethodPost, "/api/v1/contacts", map[string]any{"phone": "3001110001", "consent": consent}).expect(t, http.StatusUnprocessableEntity)
		if p := problems(r); len(p) != 1 || !strings.HasPrefix(p[0], "consent.") {
			t.Errorf("consent %v: problems %v", consent, p)
		}
	}
	// Every problem at once, the phone's included.
	r := m.do(http.MethodPost, "/api/v1/contacts", map[string]any{"phone": "abc", "email": "a@", "language": "no es un idioma",
		"attributes": map[string]any{"x": map[string]any{"y": 1}, "l": []int{1}}}).expect(t, http.StatusUnprocessableEntity)
	if p := strings.Join(problems(r), ","); p != "phone,attributes.l,attributes.x,email,language" {
		t.Errorf("problems %s", p)
	}
	// A NUL character is a 422 wherever it goes, not an internal error.
	m.do(http.MethodPost, "/api/v1/contacts", map[string]any{"phone": "3001110002", "name": "a\u0000b"}).expect(t, http.StatusUnprocessableEntity)
	m.do(http.MethodPost, "/api/v1/contacts", map[string]any{"phone": "3001110002", "attributes": map[string]any{"n": "a\u0000b"}}).expect(t, http.StatusUnprocessableEntity)
	m.do(http.MethodGet, "/api/v1/contacts?q=ab%00c", nil).expect(t, http.StatusUnprocessableEntity)
	// A misspelled field is refused, not ignored.
	var ana store.Contact
	m.do(http.MethodPost, "/api/v1/contacts", map[string]any{"phone": "3001110003", "name": "  Ana ", "email": " Ana@X.CO ",
		"tags": []string{"vip", " vip ", "", "VIP"}, "attributes": map[string]any{"id": json.Number("9007199254740993")}}).
		expect(t, http.StatusCreated).JSON(t, &ana)
	path := fmt.Sprintf("/api/v1/contacts/%d", ana.ID)
	if r := m.do(http.MethodPatch, path, map[string]any{"nombre": "Eva"}).expect(t, http.StatusBadRequest); !strings.Contains(string(r.Body), `campo desconocido \"nombre\"`) {
		t.Errorf("unknown field: %s", r.Body)
	}
	// Values arrive cleaned the same way on create and edit, and numbers keep every digit.
	if ana.Name != "Ana" || ana.Email != "ana@x.co" || strings.Join(ana.Tags, ",") != "vip,VIP" {
		t.Errorf("created %q %q %v", ana.Name, ana.Email, ana.Tags)
	}
	var exact string
	if err := env.db.QueryRow(context.Background(), `SELECT attributes->>'id' FROM contacts WHERE id = $1`, ana.ID).Scan(&exact); err != nil {
		t.Fatal(err)
	}
	if exact != "9007199254740993" {
		t.Errorf("number attribute stored as %s", exact)
	}
	var got store.Contact
	m.do(http.MethodPatch, path, map[string]any{"email": "  Eva@X.COM ", "name": " Eva ", "tags": []string{"a", "a "}}).expect(t, http.StatusOK).JSON(t, &got)
	if got.Name != "Eva" || got.Email != "eva@x.com" || strings.Join(got.Tags, ",") != "a" {
		t.Errorf("patched %q %q %v", got.Name, got.Email, got.Tags)
	}
	// Opt-in needs how consent was documented and what was agreed; it never replaces a
	// documented consent, nor lifts WhatsApp's own stop.
	if p := problems(m.do(http.MethodPost, path+"/opt-in", map[string]any{}).expect(t, http.StatusUnprocessableEntity)); len(p) != 2 {
		t.Errorf("empty opt-in: %v", p)
	}
	m.do(http.MethodPost, path+"/opt-in", map[string]any{"reason": "firmó el formulario", "text": "v1"}).expect(t, http.StatusOK)
	m.do(http.MethodPost, path+"/opt-in", map[string]any{"reason": "x", "text": "v0"}).expect(t, http.StatusConflict)
	if _, err := store.WAContactMarketingPreference(context.Background(), env.db, ana.WorkspaceID, ana.ID, true, time.Now(), "stop"); err != nil {
		t.Fatal(err)
	}
	if r := m.do(http.MethodPost, path+"/opt-in", map[string]any{"reason": "x", "text": "v0"}).expect(t, http.StatusConflict); !strings.Contains(string(r.Body), "solo la persona") {
		t.Errorf("opt-in over WhatsApp's stop: %s", r.Body)
	}
}
