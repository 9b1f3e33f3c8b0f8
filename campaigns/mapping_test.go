package campaigns

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/pregon/pregon/store"
)

const promoComponents = `[
 {"type":"HEADER","format":"IMAGE","example":{"header_handle":["https://x/h.jpg"]}},
 {"type":"BODY","text":"Hola {{1}}, tu cupón de {{2}} vence el {{3}}. {{1}}!","example":{"body_text":[["Ana","20%","lunes"]]}},
 {"type":"FOOTER","text":"Responde BAJA para no recibir más"},
 {"type":"BUTTONS","buttons":[{"type":"URL","text":"Ver","url":"https://tienda.co/c/{{1}}","example":["https://tienda.co/c/ana"]},
   {"type":"QUICK_REPLY","text":"No me interesa"},{"type":"COPY_CODE","example":"ANA20"}]}]`

const namedComponents = `[
 {"type":"HEADER","format":"TEXT","text":"Hola {{nombre}}","example":{"header_text_named_params":[{"param_name":"nombre","example":"Ana"}]}},
 {"type":"BODY","text":"{{nombre}}, tu pedido {{pedido}} llegó","example":{"body_text_named_params":[{"param_name":"nombre","example":"Ana"},{"param_name":"pedido","example":"A-1"}]}}]`

func TestTemplateParams(t *testing.T) {
	t.Parallel()
	ps, err := TemplateParams("POSITIONAL", json.RawMessage(promoComponents))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key())
	}
	want := []string{"header.image", "body.1", "body.2", "body.3", "button.0.url", "button.2.copy_code"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if ps[0].Type != "image" || ps[2].Example != "20%" || ps[4].ButtonType != "url" || ps[5].Type != "coupon_code" {
		t.Fatalf("params %+v", ps)
	}
	named, err := TemplateParams("NAMED", json.RawMessage(namedComponents))
	if err != nil {
		t.Fatal(err)
	}
	if len(named) != 3 || named[0].Key() != "header.nombre" || named[2].Key() != "body.pedido" || named[2].Example != "A-1" {
		t.Fatalf("named %+v", named)
	}
}

func promoMapping(t *testing.T) Mapping {
	t.Helper()
	ps, _ := TemplateParams("POSITIONAL", json.RawMessage(promoComponents))
	m, err := Bind(ps, "POSITIONAL", Mapping{Variables: []Variable{
		{Param: Param{Component: "header", Type: "image"}, Source: SourceLiteral, Value: "1339522734477770"},
		{Param: Param{Component: "body", Name: "1"}, Source: SourceField, Key: "first_name", Fallback: "cliente"},
		{Param: Param{Component: "body", Name: "2"}, Source: SourceLiteral, Value: "20%"},
		{Param: Param{Component: "body", Name: "3"}, Source: SourceAttribute, Key: "vence"},
		{Param: Param{Component: "button", ButtonType: "url", ButtonIndex: 0}, Source: SourceAttribute, Key: "cupon"},
		{Param: Param{Component: "button", ButtonType: "copy_code", ButtonIndex: 2}, Source: SourceAttribute, Key: "cupon"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBindRejectsIncompleteAndUnknown(t *testing.T) {
	t.Parallel()
	ps, _ := TemplateParams("POSITIONAL", json.RawMessage(promoComponents))
	_, err := Bind(ps, "POSITIONAL", Mapping{Variables: []Variable{
		{Param: Param{Component: "body", Name: "1"}, Source: SourceField, Key: "apodo"},
		{Param: Param{Component: "body", Name: "9"}, Source: SourceLiteral, Value: "x"},
	}})
	var v *store.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("err %v, want validation error", err)
	}
	paths := map[string]bool{}
	for _, p := range v.Problems {
		paths[p.Path] = true
	}
	for _, want := range []string{"variable_mapping.body.1", "variable_mapping.body.9", "variable_mapping.header.image", "variable_mapping.button.2.copy_code"} {
		if !paths[want] {
			t.Errorf("no problem at %s; got %+v", want, v.Problems)
		}
	}
}

func TestRenderAndComponents(t *testing.T) {
	t.Parallel()
	m := promoMapping(t)
	c := Contact{Name: " Ana María\tPérez", Phone: "+573001234567",
		Attributes: map[string]json.RawMessage{"vence": json.RawMessage(`"lunes\n"`), "cupon": json.RawMessage(`4520`)}}
	r, skip := Render(m, c)
	if skip != "" {
		t.Fatalf("skipped: %s", skip)
	}
	if got := r.Value("body.1"); got != "Ana" {
		t.Errorf("first_name %q", got)
	}
	if got := r.Value("body.3"); got != "lunes" {
		t.Errorf("attribute cleaned %q", got)
	}
	comps := r.Components()
	b, _ := json.Marshal(comps)
	want := `[{"type":"header","parameters":[{"type":"image","image":{"id":"1339522734477770"}}]},` +
		`{"type":"body","parameters":[{"type":"text","text":"Ana"},{"type":"text","text":"20%"},{"type":"text","text":"lunes"}]},` +
		`{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"4520"}]},` +
		`{"type":"button","sub_type":"copy_code","index":"2","parameters":[{"type":"coupon_code","coupon_code":"4520"}]}]`
	if string(b) != want {
		t.Fatalf("components\n got %s\nwant %s", b, want)
	}
	// JSON round trip is stable.
	raw, _ := json.Marshal(r)
	var back Rendered
	if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip %s → %+v (%v)", raw, back, err)
	}
	// What the launch freezes (the values, in mapping order) expands to the same Rendered, and
	// so does the whole Rendered that campaigns launched before stored.
	values := make([]string, len(r.Params))
	for i, p := range r.Params {
		values[i] = p.Value
	}
	frozen, _ := json.Marshal(values)
	for _, stored := range [][]byte{frozen, raw} {
		if got, err := m.Expand(stored); err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("expand %s → %+v (%v), want %+v", stored, got, err, r)
		}
	}
	if _, err := m.Expand([]byte(`["solo uno"]`)); err == nil {
		t.Fatal("expanded fewer values than the mapping has variables")
	}
	if got, err := m.Expand([]byte(`{}`)); err != nil || len(got.Params) != 0 {
		t.Fatalf("expand {} → %+v (%v)", got, err)
	}

	// Meta refuses a text parameter with more than 4 spaces in a row: rendering squeezes them,
	// and so does sending values the launch froze with them (its SQL only trims).
	r, _ = Render(m, Contact{Name: "Ana", Attributes: map[string]json.RawMessage{
		"vence": json.RawMessage(`"Calle 5      #12    B"`), "cupon": json.RawMessage(`"c"`)}})
	if got := r.Value("body.3"); got != "Calle 5 #12    B" {
		t.Errorf("rendered %q, want runs of more than 4 spaces squeezed and 4 kept", got)
	}
	sent, err := m.Expand([]byte(`["1339522734477770", "Ana", "20%", "lunes          y martes", "c", "c"]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := sent.Value("body.3"); got != "lunes y martes" {
		t.Errorf("expanded %q, want the run of spaces squeezed", got)
	}

	// Missing value without fallback skips; with fallback uses it.
	_, skip = Render(m, Contact{Name: "Ana"})
	if skip != "missing_variable:body.3" {
		t.Fatalf("skip %q", skip)
	}
	r, _ = Render(m, Contact{Name: "  ", Attributes: map[string]json.RawMessage{"vence": json.RawMessage(`"x"`), "cupon": json.RawMessage(`"c"`)}})
	if r.Value("body.1") != "cliente" {
		t.Fatalf("fallback not used: %+v", r)
	}
}

func TestRenderNamed(t *testing.T) {
	t.Parallel()
	ps, _ := TemplateParams("NAMED", json.RawMessage(namedComponents))
	m, err := Bind(ps, "NAMED", Mapping{Variables: []Variable{
		{Param: Param{Component: "header", Name: "nombre"}, Source: SourceField, Key: "first_name"},
		{Param: Param{Component: "body", Name: "nombre"}, Source: SourceField, Key: "name"},
		{Param: Param{Component: "body", Name: "pedido"}, Source: SourceAttribute, Key: "pedido"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r, skip := Render(m, Contact{Name: "Ana Pérez", Attributes: map[string]json.RawMessage{"pedido": json.RawMessage(`"A-7"`)}})
	if skip != "" {
		t.Fatal(skip)
	}
	b, _ := json.Marshal(r.Components())
	want := `[{"type":"header","parameters":[{"type":"text","parameter_name":"nombre","text":"Ana"}]},` +
		`{"type":"body","parameters":[{"type":"text","parameter_name":"nombre","text":"Ana Pérez"},{"type":"text","parameter_name":"pedido","text":"A-7"}]}]`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
}
