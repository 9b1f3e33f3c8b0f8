package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/pregon/pregon/store"
)

func TestCampaignFallbackRefusedWhenMetaWould(t *testing.T) {
	t.Parallel()
	e := newCampaignEnv(t)
	e.registerNumber(t)
	e.syncTemplates(t)
	tmplID := e.templateID(t, "novedades_cliente")
	mapping := func(fallback string) map[string]any {
		return map[string]any{"variables": []map[string]any{
			{"component": "body", "name": "nombre", "source": "field", "key": "first_name", "fallback": fallback},
			{"component": "body", "name": "tienda", "source": "literal", "value": "Tienda Centro"},
		}}
	}
	for fallback, says := range map[string]string{"   ": "en blanco", "querido\ncliente": "saltos de línea", "a\tb": "tabulaciones", "a      b": "4 espacios"} {
		requireProblemAt(t, e.as(store.RoleMarketer).do("POST", "/api/v1/campaigns", map[string]any{"name": "x", "template_id": tmplID,
			"variable_mapping": mapping(fallback)}), "variable_mapping.body.nombre.fallback", says)
	}
	// Spaces around are trimmed before they are stored (and sent).
	var cp campaignResponse
	e.as(store.RoleMarketer).do("POST", "/api/v1/campaigns", map[string]any{"name": "x", "template_id": tmplID,
		"variable_mapping": mapping("  cliente  ")}).expect(t, http.StatusCreated).JSON(t, &cp)
	var m struct {
		Variables []struct {
			Name     string `json:"name"`
			Fallback string `json:"fallback"`
		} `json:"variables"`
	}
	if err := json.Unmarshal(cp.VariableMapping, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Variables) != 2 || m.Variables[0].Name != "nombre" || m.Variables[0].Fallback != "cliente" {
		t.Fatalf("stored mapping %s", cp.VariableMapping)
	}
}
