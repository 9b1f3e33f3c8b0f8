package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/pregon/pregon/segments"
	"github.com/pregon/pregon/store"
)

func TestSegmentsAPI(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	// Workspace A: two VIPs with consent, one VIP opted out, one contact without consent.
	for i, c := range []struct {
		tags      string
		consent   bool
		optedOut  bool
		workspace int64
	}{{"{vip}", true, false, env.wsA.ID}, {"{vip}", true, false, env.wsA.ID}, {"{vip}", true, true, env.wsA.ID},
		{"{}", false, false, env.wsA.ID}, {"{vip}", true, false, env.wsB.ID}} {
		if _, err := env.db.Exec(ctx, `INSERT INTO contacts (workspace_id, phone_e164, name, tags, consent_at, opted_out_at)
			VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END, CASE WHEN $6 THEN now() END)`,
			c.workspace, fmt.Sprintf("+5730000000%02d", i), fmt.Sprintf("C%d", i), c.tags, c.consent, c.optedOut); err != nil {
			t.Fatal(err)
		}
	}
	vipDef := map[string]any{"all": []any{map[string]any{"field": "tags", "op": "has_any", "value": []string{"vip"}}}}

	var vip segmentResponse
	env.as(store.RoleMarketer).do(http.MethodPost, "/api/v1/segments",
		map[string]any{"name": "VIP", "description": "clientes vip", "definition": vipDef}).expect(t, http.StatusCreated).JSON(t, &vip)
	if vip.ID == 0 || vip.EligibleCount == nil || *vip.EligibleCount != 2 || vip.Broadcast || len(vip.Hash) != 64 {
		t.Fatalf("created %+v", vip)
	}
	path := fmt.Sprintf("/api/v1/segments/%d", vip.ID)

	t.Run("InvalidDefinitionIs422WithPaths", func(t *testing.T) {
		var e Error
		env.as(store.RoleMarketer).do(http.MethodPost, "/api/v1/segments", map[string]any{"name": "x", "definition": map[string]any{
			"all": []any{map[string]any{"field": "attribute", "key": "edad", "type": "number", "op": "gte", "value": "abc"}}}}).
			expect(t, http.StatusUnprocessableEntity).JSON(t, &e)
		details, _ := e.Details.([]any)
		first, _ := details[0].(map[string]any)
		if first["path"] != "definition.all[0].value" || first["message"] != "el atributo 'edad' es un número; 'abc' no lo es" {
			t.Fatalf("%+v", e)
		}
		env.as(store.RoleMarketer).do(http.MethodPost, "/api/v1/segments/preview", []byte(`{"definition": {"all": [}`)).
			expect(t, http.StatusBadRequest)
		// a campaign of another workspace (or none) is reported, not silently matched by nobody
		var e2 Error
		env.as(store.RoleAnalyst).do(http.MethodPost, "/api/v1/segments/preview", map[string]any{"definition": map[string]any{
			"field": "engagement", "op": "not_read", "campaign_id": 987654}}).expect(t, http.StatusUnprocessableEntity).JSON(t, &e2)
		if d, _ := e2.Details.([]any); len(d) != 1 || d[0].(map[string]any)["path"] != "definition.campaign_id" {
			t.Fatalf("%+v", e2)
		}
	})
	t.Run("DuplicateNameIs409", func(t *testing.T) {
		env.as(store.RoleOwner).do(http.MethodPost, "/api/v1/segments", map[string]any{"name": "vip"}).expect(t, http.StatusConflict)
	})
	t.Run("Roles", func(t *testing.T) {
		env.requireRoles(t, http.MethodGet, "/api/v1/segments", nil, store.RoleAnalyst)
		env.requireRoles(t, http.MethodGet, path+"/preview", nil, store.RoleAnalyst)
		env.requireRoles(t, http.MethodPost, "/api/v1/segments/preview", map[string]any{"definition": vipDef}, store.RoleAnalyst)
		env.requireRoles(t, http.MethodPatch, path, map[string]any{"description": "clientes vip"}, store.RoleMarketer)
		env.as(store.RoleAnalyst).do(http.MethodPost, "/api/v1/segments", map[string]any{"name": "A"}).expect(t, http.StatusForbidden)
		env.as(store.RoleAnalyst).do(http.MethodDelete, path, nil).expect(t, http.StatusForbidden)
	})
	t.Run("WorkspaceIsolation", func(t *testing.T) {
		env.requireIsolation(t, http.MethodGet, path, nil)
		env.requireIsolation(t, http.MethodGet, path+"/preview", nil)
		env.requireIsolation(t, http.MethodPatch, path, map[string]any{"name": "robado"})
		env.requireIsolation(t, http.MethodDelete, path, nil)
		var list listOf[segmentResponse]
		env.asB(store.RoleOwner).do(http.MethodGet, "/api/v1/segments", nil).expect(t, http.StatusOK).JSON(t, &list)
		if len(list.Data) != 0 {
			t.Fatalf("B lists A's segments: %+v", list)
		}
		// B's preview of the same definition counts only B's contact.
		var pv segments.PreviewResult
		env.asB(store.RoleAnalyst).do(http.MethodPost, "/api/v1/segments/preview", map[string]any{"definition": vipDef}).
			expect(t, http.StatusOK).JSON(t, &pv)
		if pv.Eligible != 1 {
			t.Fatalf("B preview %+v", pv)
		}
	})
	t.Run("Preview", func(t *testing.T) {
		var pv segments.PreviewResult
		env.as(store.RoleAnalyst).do(http.MethodGet, path+"/preview", nil).expect(t, http.StatusOK).JSON(t, &pv)
		if pv.Eligible != 2 || pv.Matched != 3 || pv.Excluded[segments.ExcludedOptedOut] != 1 || len(pv.Sample) != 2 || pv.Broadcast {
			t.Fatalf("%+v", pv)
		}
		env.as(store.RoleAnalyst).do(http.MethodPost, "/api/v1/segments/preview", map[string]any{}).expect(t, http.StatusOK).JSON(t, &pv)
		if !pv.Broadcast || pv.Eligible != 2 || pv.Excluded[segments.ExcludedNoConsent] != 1 {
			t.Fatalf("broadcast preview %+v", pv)
		}
	})
	t.Run("ListGetPatchDelete", func(t *testing.T) {
		var list listOf[segmentResponse]
		env.as(store.RoleAnalyst).do(http.MethodGet, "/api/v1/segments", nil).expect(t, http.StatusOK).JSON(t, &list)
		if len(list.Data) != 1 || list.Data[0].EligibleCount == nil || *list.Data[0].EligibleCount != 2 {
			t.Fatalf("%+v", list)
		}
		var noCounts listOf[segmentResponse]
		env.as(store.RoleAnalyst).do(http.MethodGet, "/api/v1/segments?counts=false", nil).expect(t, http.StatusOK).JSON(t, &noCounts)
		if len(noCounts.Data) != 1 || noCounts.Data[0].EligibleCount != nil {
			t.Fatalf("counts=false still counted: %+v", noCounts)
		}
		var got segmentResponse
		env.as(store.RoleMarketer).do(http.MethodPatch, path, map[string]any{"definition": map[string]any{}}).expect(t, http.StatusOK).JSON(t, &got)
		if !got.Broadcast || got.Name != "VIP" || got.Description != "clientes vip" || *got.EligibleCount != 2 {
			t.Fatalf("patched %+v", got)
		}
		env.as(store.RoleMarketer).do(http.MethodPatch, path, map[string]any{"definition": map[string]any{"field": "nope"}}).
			expect(t, http.StatusUnprocessableEntity)
		env.as(store.RoleMarketer).do(http.MethodDelete, path, nil).expect(t, http.StatusNoContent)
		env.as(store.RoleAnalyst).do(http.MethodGet, path, nil).expect(t, http.StatusNotFound)
		env.as(store.RoleAnalyst).do(http.MethodGet, "/api/v1/segments/abc", nil).expect(t, http.StatusNotFound)
	})
}
