package whatsapp_test

import (
	"fmt"
	"os"

	"github.com/pregon/pregon/whatsapp"
)

// Verify, parse and walk a webhook body: every entry, every change.
func ExampleParseWebhook() {
	body, _ := os.ReadFile("testdata/webhooks/status_failed.json")
	secret := []byte("app-secret")
	header := whatsapp.Sign(body, secret) // what Meta sends in X-Hub-Signature-256
	if !whatsapp.VerifySignature(body, header, secret) {
		return
	}
	env, err := whatsapp.ParseWebhook(body)
	if err != nil {
		return
	}
	for _, s := range env.Statuses() {
		e := s.Errors[0].AsError()
		fmt.Println(s.Status, s.RecipientID, e.Code, whatsapp.Classify(e), whatsapp.RetryAfter(e))
		fmt.Println(whatsapp.ErrorTitle(e.Code, "es"))
	}
	// Output:
	// failed 5215512345678 131049 recipient 24h0m0s
	// No entregado para mantener una interacción saludable (tope de marketing por usuario)
}

// What a campaign must fill for a template, keyed for variable mapping.
func ExampleTemplate_Parameters() {
	t := whatsapp.Template{Name: "promo_temporada", Components: []whatsapp.TemplateComponent{
		{Type: "HEADER", Format: "IMAGE"},
		{Type: "BODY", Text: "Hola {{1}}, tenemos {{2}} de descuento"},
		{Type: "BUTTONS", Buttons: []whatsapp.TemplateButton{{Type: "URL", URL: "https://t.example/{{1}}"}, {Type: "QUICK_REPLY", Text: "No recibir más"}}},
	}}
	for _, p := range t.Parameters() {
		fmt.Println(p.Key())
	}
	// Output:
	// header.image
	// body.1
	// body.2
	// button.0.url
}
