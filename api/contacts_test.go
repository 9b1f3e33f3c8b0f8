package api

import (
	"fmt"
	"net/http"
	"testing"

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
		{http.MethodPost, path + "/opt-out", map[string]any{"reason": "x"}}, {http.MethodPost, path + "/opt-in", map[string]any{"reason": "x"}},
		{http.MethodGet, path + "/consent", nil},
	} {
		env.requireIsolation(t, rq.method, rq.path, rq.body)
	}
	var bt tagsResponse
	env.asB(store.RoleOwner).do(http.MethodPost, "/api/v1/contacts/tags", tagsRequest{IDs: []int64{ana.ID}, Add: []string{"x"}}).expect(t, http.StatusOK).JSON(t, &bt)
	if bt.Updated != 0 {
		t.Error("bulk tags crossed workspaces")
	}

	m.do(http.MethodDelete, path, nil).expect(t, http.StatusNoContent)
	m.do(http.MethodGet, path, nil).expect(t, http.StatusOK).JSON(t, &got)
	if got.Phone != fmt.Sprintf("erased:%d", ana.ID) || got.Name != "" || got.ErasedAt == nil {
		t.Errorf("erased %+v", got)
	}
}
