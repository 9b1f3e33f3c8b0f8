package whatsapp

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// specSchemaOptions are the validation options used against Meta's document. Pattern
// validation is off: the document's button "index" pattern ^[2-6, 11-14]$ is a malformed
// character class that rejects index "0", which Meta's own examples use.
var specSchemaOptions = []openapi3.SchemaValidationOption{openapi3.VisitAsRequest(), openapi3.DisablePatternValidation(), openapi3.MultiErrors()}

// toJSONValue turns v into the generic form VisitJSON expects.
func toJSONValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestContractSendRequests validates the bodies the client posts against the request schema of
// POST /{Version}/{Phone-Number-ID}/messages in Meta's OpenAPI document.
func TestContractSendRequests(t *testing.T) {
	doc := loadSpec(t)
	op := doc.Paths.Find("/{Version}/{Phone-Number-ID}/messages").Post
	schema := op.RequestBody.Value.Content["application/json"].Schema.Value
	templateSchema := doc.Components.Schemas["TemplateMessage"].Value
	cases := map[string]MessageRequest{
		"PositionalWithMediaAndButtons": NewTemplateRequest(TemplateMessage{To: "+5215512345678", Name: "promo_temporada", Language: "es_MX",
			BizOpaqueCallbackData: "campaign=42",
			Components: []Component{Header(HeaderMedia("IMAGE", Media{Link: "https://t.example/i.jpg"})), Body(Text("Ana"), Text("20%")),
				URLButton(0, "ana"), QuickReplyButton(1, "OPTOUT")}}),
		"Named": NewTemplateRequest(TemplateMessage{To: "+573001234567", Name: "novedades_cliente", Language: "es",
			Components: []Component{Body(NamedText("nombre", "Lucía"), NamedText("tienda", "Centro"))}}),
		"TextHeaderDocument": NewTemplateRequest(TemplateMessage{To: "+5491122334455", Name: "recordatorio_cita", Language: "es_AR",
			Components: []Component{Header(Text("Clínica")), Body(Text("Pedro"))}}),
		"NoComponents": NewTemplateRequest(TemplateMessage{To: "+5215512345678", Name: "hola", Language: "es_MX"}),
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			v := toJSONValue(t, req)
			if err := schema.VisitJSON(v, specSchemaOptions...); err != nil {
				t.Errorf("Message schema rejects the client's body: %v", err)
			}
			if err := templateSchema.VisitJSON(v, specSchemaOptions...); err != nil {
				t.Errorf("TemplateMessage schema rejects the client's body: %v", err)
			}
		})
	}
	t.Run("Text", func(t *testing.T) {
		// The document's TextMessage puts additionalProperties:false on an allOf member that
		// lists only "type" and "text", so no real body (it must carry "to") can pass it; check
		// the text object and the base properties separately instead.
		req := toJSONValue(t, NewTextRequest("+5215512345678", "Hola", true)).(map[string]any)
		base := doc.Components.Schemas["BaseMessageProperties"].Value
		if err := base.VisitJSON(req, specSchemaOptions...); err != nil {
			t.Errorf("BaseMessageProperties rejects the text body: %v", err)
		}
		textObj := doc.Components.Schemas["TextMessage"].Value.AllOf[1].Value.Properties["text"].Value
		if err := textObj.VisitJSON(req["text"], specSchemaOptions...); err != nil {
			t.Errorf("text object rejected: %v", err)
		}
	})
	t.Run("CopyCodeOnlyUndocumentedSubType", func(t *testing.T) {
		// Meta's send-message docs use sub_type "copy_code" for coupon buttons, but the v23.0
		// document's enum lists only quick_reply, url and catalog: that must be the only complaint.
		v := toJSONValue(t, NewTemplateRequest(TemplateMessage{To: "+5491122334455", Name: "cupon_bienvenida", Language: "es_AR",
			Components: []Component{Body(Text("Martín")), CopyCodeButton(0, "HOLA15")}}))
		err := templateSchema.VisitJSON(v, specSchemaOptions...)
		var me openapi3.MultiError
		if !errors.As(err, &me) || len(me) != 1 || !strings.Contains(me[0].Error(), "sub_type") || !strings.Contains(me[0].Error(), "copy_code") {
			t.Errorf("want exactly the sub_type enum complaint, got %v", err)
		}
	})
	t.Run("SchemaCatchesBrokenBody", func(t *testing.T) {
		bad := toJSONValue(t, NewTemplateRequest(TemplateMessage{To: "+1", Name: "x", Language: "es"})).(map[string]any)
		delete(bad["template"].(map[string]any), "name")
		if err := templateSchema.VisitJSON(bad, specSchemaOptions...); err == nil {
			t.Error("a template without name passed the schema")
		}
	})
}

// TestContractParsesSpecResponseExamples decodes the spec's own 200 examples of the send
// endpoint into the client's response type.
func TestContractSendResponseSchema(t *testing.T) {
	doc := loadSpec(t)
	resp := doc.Paths.Find("/{Version}/{Phone-Number-ID}/messages").Post.Responses.Status(200).Value
	schema := resp.Content["application/json"].Schema.Value
	body := `{"messaging_product":"whatsapp","contacts":[{"input":"+5215512345678","wa_id":"5215512345678"}],"messages":[{"id":"wamid.X","message_status":"accepted"}]}`
	var v any
	_ = json.Unmarshal([]byte(body), &v)
	if err := schema.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
		t.Errorf("documented success body rejected: %v", err)
	}
	var r MessageResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Messages[0].MessageStatus != "accepted" {
		t.Errorf("decode: %v %+v", err, r)
	}
}
