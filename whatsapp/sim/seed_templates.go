package sim

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/pregon/pregon/whatsapp"
)

// Template is a template in the simulator's registry.
type Template struct {
	WABAID string
	whatsapp.Template
	// PauseCount counts quality pauses (3rd one disables), PausedUntil is when a quality pause
	// ends by itself (zero: paused until unpaused).
	PauseCount  int
	PausedUntil time.Time
	// Pacing holds sends (message_status "held_for_quality_assessment") until ReleaseHeld, or
	// until the template is paused, which drops them with 132015 failed statuses.
	Pacing bool
	held   []*accepted
	params []whatsapp.Param // Parameters(), computed once
}

// key identifies a template in a WABA.
type templateKey struct{ waba, name, lang string }

// normLang treats "es-MX" and "es_MX" alike.
func normLang(l string) string { return strings.ReplaceAll(l, "-", "_") }

// SeedTemplates returns realistic Spanish (LATAM) templates for wabaID:
//
//   - promo_temporada (es_MX, MARKETING, positional, IMAGE header, URL button with a dynamic
//     suffix, quick reply "No recibir más"), APPROVED, GREEN
//   - novedades_cliente (es, MARKETING, named {{nombre}} {{tienda}}, quick replies "Quiero
//     verlas" and "No recibir más"), APPROVED, GREEN
//   - recordatorio_cita (es_MX, UTILITY, positional, TEXT header {{1}}), APPROVED, GREEN
//   - cupon_bienvenida (es_AR, MARKETING, positional, COPY_CODE button), APPROVED, YELLOW
//   - oferta_relampago (es_MX, MARKETING), PAUSED, RED
//   - liquidacion_total (es_MX, MARKETING), DISABLED, RED
//   - aviso_envio (es_CO, UTILITY), REJECTED
func SeedTemplates(wabaID string) []Template {
	body := func(text string, ex ...string) whatsapp.TemplateComponent {
		c := whatsapp.TemplateComponent{Type: "BODY", Text: text}
		if len(ex) > 0 {
			c.Example = &whatsapp.TemplateExample{BodyText: [][]string{ex}}
		}
		return c
	}
	quick := func(labels ...string) whatsapp.TemplateComponent {
		c := whatsapp.TemplateComponent{Type: "BUTTONS"}
		for _, l := range labels {
			c.Buttons = append(c.Buttons, whatsapp.TemplateButton{Type: "QUICK_REPLY", Text: l})
		}
		return c
	}
	footer := whatsapp.TemplateComponent{Type: "FOOTER", Text: "Responde BAJA para no recibir más mensajes"}
	t := func(name, lang, status, category, quality string, comps ...whatsapp.TemplateComponent) Template {
		return Template{WABAID: wabaID, Template: whatsapp.Template{
			Name: name, Language: lang, Status: status, Category: category,
			QualityScore: whatsapp.QualityScore{Score: quality}, ParameterFormat: "POSITIONAL", Components: comps,
		}}
	}
	promo := t("promo_temporada", "es_MX", "APPROVED", "MARKETING", "GREEN",
		whatsapp.TemplateComponent{Type: "HEADER", Format: "IMAGE", Example: &whatsapp.TemplateExample{HeaderHandle: []string{"https://tienda.example/img/temporada.jpg"}}},
		body("Hola {{1}}, tenemos {{2}} de descuento en toda la tienda hasta el domingo. ¡Te esperamos!", "Ana", "20%"),
		footer,
		whatsapp.TemplateComponent{Type: "BUTTONS", Buttons: []whatsapp.TemplateButton{
			{Type: "URL", Text: "Ver ofertas", URL: "https://tienda.example/ofertas/{{1}}", Example: []string{"https://tienda.example/ofertas/ana-20"}},
			{Type: "QUICK_REPLY", Text: "No recibir más"},
		}},
	)
	novedades := t("novedades_cliente", "es", "APPROVED", "MARKETING", "GREEN",
		whatsapp.TemplateComponent{Type: "BODY", Text: "Hola {{nombre}}, llegaron novedades a {{tienda}}. ¿Quieres verlas?",
			Example: &whatsapp.TemplateExample{BodyTextNamed: []whatsapp.NamedParam{{ParamName: "nombre", Example: "Lucía"}, {ParamName: "tienda", Example: "Tienda Centro"}}}},
		quick("Quiero verlas", "No recibir más"),
	)
	novedades.ParameterFormat = "NAMED"
	cita := t("recordatorio_cita", "es_MX", "APPROVED", "UTILITY", "GREEN",
		whatsapp.TemplateComponent{Type: "HEADER", Format: "TEXT", Text: "Recordatorio de {{1}}", Example: &whatsapp.TemplateExample{HeaderText: []string{"Clínica Dental Sonrisas"}}},
		body("Hola {{1}}, te recordamos tu cita el {{2}} a las {{3}}. Responde SÍ para confirmar o NO para reprogramar.", "Pedro", "viernes 12", "10:30"),
		quick("Sí", "No"),
	)
	cupon := t("cupon_bienvenida", "es_AR", "APPROVED", "MARKETING", "YELLOW",
		body("¡Bienvenido, {{1}}! Usá este cupón en tu primera compra.", "Martín"),
		whatsapp.TemplateComponent{Type: "BUTTONS", Buttons: []whatsapp.TemplateButton{{Type: "COPY_CODE", Text: "Copiar código", Example: []string{"HOLA15"}}}},
	)
	relampago := t("oferta_relampago", "es_MX", "PAUSED", "MARKETING", "RED", body("{{1}}: ¡solo hoy 2x1 en {{2}}!", "Ana", "zapatos"), footer)
	relampago.PauseCount = 1
	liquidacion := t("liquidacion_total", "es_MX", "DISABLED", "MARKETING", "RED", body("Liquidación total, {{1}}. ¡Todo debe irse!", "Ana"), footer)
	liquidacion.PauseCount = 3
	aviso := t("aviso_envio", "es_CO", "REJECTED", "UTILITY", "UNKNOWN", body("Tu pedido {{1}} va en camino.", "A-123"))
	return []Template{promo, novedades, cita, cupon, relampago, liquidacion, aviso}
}

// templateID derives a stable numeric id.
func templateID(seed int64, waba, name, lang string) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%s|%s|%s", seed, waba, name, lang)
	return fmt.Sprintf("%d", 1_000_000_000_000_000+h.Sum64()%8_000_000_000_000_000)
}

// pauseDuration is the quality-pause ladder: 3 h, then 6 h.
func pauseDuration(count int) time.Duration {
	if count <= 1 {
		return 3 * time.Hour
	}
	return 6 * time.Hour
}
