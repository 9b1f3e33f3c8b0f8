package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/pregon/pregon/internal/metaspec"
	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

// loadSpec is Meta's OpenAPI document (internal/metaspec, a copy of shared/contracts/).
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := metaspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// validateResponse checks a simulator response against the documented operation with
// openapi3filter (status, content type and body schema). The route is built by hand: the
// document declares graph.facebook.com as its only server.
func validateResponse(t *testing.T, doc *openapi3.T, path, method string, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	item := doc.Paths.Find(path)
	if item == nil {
		t.Fatalf("spec has no path %s", path)
	}
	op := item.GetOperation(method)
	route := &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: status, Header: header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s response (%d) does not match the spec: %v\nbody: %s", method, path, status, err, body)
	}
}

// do performs a raw request against the simulator and returns the request, response and body.
func do(t *testing.T, b *bundle, method, path string, body any) (*http.Request, *http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return req, resp, raw
}

func TestContractSimulatorResponses(t *testing.T) {
	doc := loadSpec(t)
	b := setup(t, nil)
	t.Run("SendAccepted", func(t *testing.T) {
		req, resp, body := do(t, b, "POST", "/v23.0/"+phoneID+"/messages", whatsapp.NewTemplateRequest(promo("+5215512345678")))
		eq(t, "status", resp.StatusCode, 200)
		validateResponse(t, doc, "/{Version}/{Phone-Number-ID}/messages", "POST", req, resp.StatusCode, resp.Header, body)
	})
	t.Run("Templates", func(t *testing.T) {
		req, resp, body := do(t, b, "GET", "/v23.0/"+wabaID+"/message_templates?limit=3&fields="+whatsapp.TemplateFields, nil)
		eq(t, "status", resp.StatusCode, 200)
		validateResponse(t, doc, "/{Version}/{WABA-ID}/message_templates", "GET", req, resp.StatusCode, resp.Header, body)
	})
	t.Run("PhoneNumber", func(t *testing.T) {
		req, resp, body := do(t, b, "GET", "/v23.0/"+phoneID+"?fields="+whatsapp.PhoneNumberFields, nil)
		eq(t, "status", resp.StatusCode, 200)
		validateResponse(t, doc, "/{Version}/{Phone-Number-ID}", "GET", req, resp.StatusCode, resp.Header, body)
	})
	t.Run("GraphErrorBody", func(t *testing.T) {
		_, resp, body := do(t, b, "GET", "/v23.0/does-not-exist?fields=id", nil)
		eq(t, "status", resp.StatusCode, 400)
		var v any
		_ = json.Unmarshal(body, &v)
		if err := doc.Components.Schemas["GraphAPIError"].Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
			t.Errorf("error body does not match GraphAPIError: %v\n%s", err, body)
		}
	})
	t.Run("SchemaCatchesBrokenResponse", func(t *testing.T) {
		req, _, _ := do(t, b, "GET", "/v23.0/"+phoneID+"?fields=id", nil)
		item := doc.Paths.Find("/{Version}/{Phone-Number-ID}/messages")
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req,
				Route: &routers.Route{Spec: doc, Path: "/{Version}/{Phone-Number-ID}/messages", PathItem: item, Method: "POST", Operation: item.Post}},
			Status: 200, Header: http.Header{"Content-Type": {"application/json"}},
		}
		in.SetBodyBytes([]byte(`{"messages":"not-an-array"}`))
		if err := openapi3filter.ValidateResponse(context.Background(), in); err == nil {
			t.Error("a broken body passed validation")
		}
	})
}

// TestContractSimulatorWebhooks validates the webhooks the simulator emits against the
// document. Status bodies are checked against WebhookPayload as is. Inbound-message schemas in
// the document are broken by a name collision: TextMessage_2, ButtonMessage… extend
// BaseMessageProperties (the outgoing message, requiring "to" and "recipient_type") instead of
// BaseMessageProperties_1, so even Meta's own examples fail; the test proves that, then checks
// each inbound message against the corrected composition.
//
// The document (v23.0) predates business-scoped user ids (2026, WHATSAPP.md §4a, §4d): it
// neither lists recipient_user_id, from_user_id or contacts[].user_id, which its open objects
// let through, nor lets a message go without from, which a username user's may. The test
// checks those fields itself, and a message without from against the corrected composition
// with from no longer required.
func TestContractSimulatorWebhooks(t *testing.T) {
	doc := loadSpec(t)
	schemas := doc.Components.Schemas
	b := setup(t, func(c *sim.Config) {
		c.Numbers = []sim.Number{{PhoneNumberID: phoneID, MPS: -1}}
		c.Statuses.FailedProb = 0.3
		c.Replies = sim.ReplyConfig{Prob: 1, ButtonShare: 0.5, OptOutShare: 0.3}
	})
	for i := range 10 {
		if _, err := b.client.SendTemplate(context.Background(), phoneID, promo(fmt.Sprintf("+52155%08d", i))); err != nil {
			t.Fatal(err)
		}
	}
	usernameOnly, err := b.sim.SendInbound(sim.Inbound{UserID: b.sim.UserID("+5215599990000"), Text: "BAJA"})
	if err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t)
	opts := []openapi3.SchemaValidationOption{openapi3.MultiErrors(), openapi3.DisablePatternValidation()}
	generic := func(v any) any {
		raw, _ := json.Marshal(v)
		var out any
		_ = json.Unmarshal(raw, &out)
		return out
	}
	// Meta's own button example fails the document's schema: the collision is real.
	ex := doc.Paths.Find("/whatsapp/webhooks").Post.RequestBody.Value.Content["application/json"].Examples["Button Message"].Value.Value
	if err := schemas["WebhookPayload"].Value.VisitJSON(generic(ex), opts...); err == nil {
		t.Log("the document's inbound schemas now accept Meta's example; validate inbound bodies as a whole")
	}
	corrected := map[string]*openapi3.Schema{}
	for typ, name := range map[string]string{"text": "TextMessage_2", "button": "ButtonMessage"} {
		orig := schemas[name].Value
		corrected[typ] = &openapi3.Schema{AllOf: openapi3.SchemaRefs{schemas["BaseMessageProperties_1"], orig.AllOf[1]}}
		// the corrected schema accepts Meta's example of that type
	}
	base := *schemas["BaseMessageProperties_1"].Value
	base.Required = slices.DeleteFunc(slices.Clone(base.Required), func(f string) bool { return f == "from" })
	correctedPhoneless := &openapi3.Schema{AllOf: openapi3.SchemaRefs{openapi3.NewSchemaRef("", &base), schemas["TextMessage_2"].Value.AllOf[1]}}
	if err := corrected["button"].VisitJSON(generic(ex).(map[string]any)["entry"].([]any)[0].(map[string]any)["changes"].([]any)[0].(map[string]any)["value"].(map[string]any)["messages"].([]any)[0], opts...); err != nil {
		t.Fatalf("corrected ButtonMessage rejects Meta's own example: %v", err)
	}
	bsuid := regexp.MustCompile(`^[A-Z]{2}\.[0-9]{16}$`)
	statusBodies, inbound, phoneless := 0, 0, 0
	for _, env := range b.hook.envelopes() {
		for _, en := range env.Entry {
			for _, ch := range en.Changes {
				v := ch.Messages
				if v == nil {
					t.Fatalf("unexpected field %s", ch.Field)
				}
				if len(v.Statuses) > 0 {
					statusBodies++
					one := whatsapp.Envelope{Object: env.Object, Entry: []whatsapp.Entry{{ID: en.ID, Changes: []whatsapp.Change{ch}}}}
					if err := schemas["WebhookPayload"].Value.VisitJSON(generic(one), opts...); err != nil {
						t.Errorf("status webhook does not match WebhookPayload: %v", err)
					}
					for _, st := range v.Statuses {
						if (st.Status == "failed") == bsuid.MatchString(st.RecipientUserID) {
							t.Errorf("%s status with recipient_user_id %q", st.Status, st.RecipientUserID)
						}
					}
					continue
				}
				for _, m := range v.Messages {
					inbound++
					schema := corrected[m.Type]
					if m.From == "" {
						phoneless++
						schema = correctedPhoneless
						eq(t, "the phoneless message", m.ID, usernameOnly)
					}
					if err := schema.VisitJSON(generic(m), opts...); err != nil {
						t.Errorf("inbound %s message does not match the document: %v", m.Type, err)
					}
					if !bsuid.MatchString(m.FromUserID) {
						t.Errorf("inbound message from_user_id %q", m.FromUserID)
					}
				}
				for _, c := range v.Contacts {
					if !bsuid.MatchString(c.UserID) {
						t.Errorf("inbound contact %+v has no user_id", c)
					}
				}
				bare := generic(v).(map[string]any)
				bare["messages"] = []any{}
				if err := schemas["IncomingMessageValueGeneral"].Value.VisitJSON(bare, opts...); err != nil {
					t.Errorf("inbound value does not match IncomingMessageValueGeneral: %v", err)
				}
			}
		}
	}
	if statusBodies == 0 || inbound == 0 || phoneless != 1 {
		t.Errorf("checked %d status changes and %d inbound messages (%d without from)", statusBodies, inbound, phoneless)
	}
}
