package whatsapp

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestTemplateParameters(t *testing.T) {
	var positional Template
	if err := json.Unmarshal([]byte(`{"name":"promo","language":"es_MX","status":"APPROVED","category":"MARKETING","components":[
	  {"type":"HEADER","format":"IMAGE","example":{"header_handle":["https://x/img.jpg"]}},
	  {"type":"BODY","text":"Hola {{1}}, tenemos {{2}} de descuento. {{1}}, ¡te esperamos!","example":{"body_text":[["Ana","20%"]]}},
	  {"type":"FOOTER","text":"Responde BAJA"},
	  {"type":"BUTTONS","buttons":[
	    {"type":"QUICK_REPLY","text":"No recibir más"},
	    {"type":"URL","text":"Ver","url":"https://t.example/o/{{1}}","example":["https://t.example/o/ana"]},
	    {"type":"URL","text":"Tienda","url":"https://t.example"},
	    {"type":"COPY_CODE","example":["HOLA15"]}]}]}`), &positional); err != nil {
		t.Fatal(err)
	}
	got := positional.Parameters()
	want := []Param{
		{Component: "header", Type: "image", Example: "https://x/img.jpg"},
		{Component: "body", Type: "text", Position: 1, Example: "Ana"},
		{Component: "body", Type: "text", Position: 2, Example: "20%"},
		{Component: "button", Type: "text", ButtonIndex: 1, ButtonType: "URL", Example: "https://t.example/o/ana"},
		{Component: "button", Type: "coupon_code", ButtonIndex: 3, ButtonType: "COPY_CODE", Example: "HOLA15"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("positional Parameters() =\n%+v\nwant\n%+v", got, want)
	}
	keys := []string{}
	for _, p := range got {
		keys = append(keys, p.Key())
	}
	if !reflect.DeepEqual(keys, []string{"header.image", "body.1", "body.2", "button.1.url", "button.3.copy_code"}) {
		t.Errorf("keys = %v", keys)
	}

	named := Template{Name: "novedades", ParameterFormat: "NAMED", Components: []TemplateComponent{
		{Type: "HEADER", Format: "TEXT", Text: "Hola {{nombre}}", Example: &TemplateExample{HeaderTextNamed: []NamedParam{{"nombre", "Lucía"}}}},
		{Type: "BODY", Text: "{{nombre}}, llegaron novedades a {{ tienda }}.", Example: &TemplateExample{BodyTextNamed: []NamedParam{{"tienda", "Centro"}, {"nombre", "Lucía"}}}},
	}}
	got = named.Parameters()
	want = []Param{
		{Component: "header", Type: "text", Name: "nombre", Example: "Lucía"},
		{Component: "body", Type: "text", Name: "nombre", Example: "Lucía"},
		{Component: "body", Type: "text", Name: "tienda", Example: "Centro"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("named Parameters() =\n%+v\nwant\n%+v", got, want)
	}
	eq(t, "named key", got[2].Key(), "body.tienda")

	textHeader := Template{Components: []TemplateComponent{{Type: "HEADER", Format: "TEXT", Text: "Cita en {{1}}"}, {Type: "BODY", Text: "Sin variables"}}}
	got = textHeader.Parameters()
	if len(got) != 1 || got[0].Key() != "header.1" {
		t.Errorf("text header params = %+v", got)
	}
}

func TestPlaceholdersSortsPositional(t *testing.T) {
	if got := Placeholders("{{2}} y {{10}} y {{1}} y {{2}}"); !reflect.DeepEqual(got, []string{"1", "2", "10"}) {
		t.Errorf("Placeholders = %v", got)
	}
	if got := Placeholders("{{b}} {{a}}"); !reflect.DeepEqual(got, []string{"b", "a"}) {
		t.Errorf("named order = %v", got)
	}
}

func TestComponentJSONRoundTrip(t *testing.T) {
	c := URLButton(3, "x")
	b, _ := json.Marshal(c)
	eq(t, "json", string(b), `{"type":"button","sub_type":"url","index":"3","parameters":[{"type":"text","text":"x"}]}`)
	var back Component
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip = %+v", back)
	}
	var numeric Component
	_ = json.Unmarshal([]byte(`{"type":"button","sub_type":"quick_reply","index":1}`), &numeric)
	eq(t, "numeric index", numeric.Index, 1)
	b, _ = json.Marshal(Body(Text("a")))
	eq(t, "body has no index", string(b), `{"type":"body","parameters":[{"type":"text","text":"a"}]}`)
	b, _ = json.Marshal(Header(HeaderMedia("DOCUMENT", Media{Link: "https://x/f.pdf", Filename: "f.pdf"})))
	eq(t, "document", string(b), `{"type":"header","parameters":[{"type":"document","document":{"link":"https://x/f.pdf","filename":"f.pdf"}}]}`)
}
