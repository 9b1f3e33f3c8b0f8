package sim_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

// A simulator behind an HTTP server, driven by the real client.
func Example() {
	s := sim.New(sim.Config{Seed: 1, Tokens: []string{"tok"}})
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx := context.Background()
	client := whatsapp.New(whatsapp.Config{BaseURL: srv.URL, Token: "tok"})

	res, err := client.SendTemplate(ctx, sim.DefaultPhoneNumberID, whatsapp.TemplateMessage{
		To: "+525512345678", Name: "novedades_cliente", Language: "es",
		Components: []whatsapp.Component{whatsapp.Body(whatsapp.NamedText("nombre", "Lucía"), whatsapp.NamedText("tienda", "Centro"))},
	})
	fmt.Println(res.WAID, res.MessageStatus, err)

	_ = s.SetTemplateQuality("novedades_cliente", "es", "RED") // first pause: 3 h
	_, err = client.SendTemplate(ctx, sim.DefaultPhoneNumberID, whatsapp.TemplateMessage{
		To: "+525512345678", Name: "novedades_cliente", Language: "es",
		Components: []whatsapp.Component{whatsapp.Body(whatsapp.NamedText("nombre", "Lucía"), whatsapp.NamedText("tienda", "Centro"))},
	})
	fmt.Println(whatsapp.Classify(err), whatsapp.ErrorTitle(132015, "es"))
	fmt.Println(s.Accepted("+525512345678"), s.Stats().RejectedByCode[132015])
	// Output:
	// 5215512345678 accepted <nil>
	// campaign Plantilla en pausa por baja calidad
	// 1 1
}
