package store_test

import (
	"testing"

	"github.com/pregon/pregon/store"
)

func TestOptOutMatching(t *testing.T) {
	t.Parallel()
	kw := store.DefaultOptOutKeywords
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"BAJA", true},
		{"  baja  ", true},
		{"¡Baja!", true},
		{"No más", true},
		{"no   mas", true},
		{"NO MÁS.", true},
		{"Stop", true},
		{"desuscribir", true},
		{"Não quero", true},
		{"sair", true},
		{"Quiero darme de baja", true},     // a keyword with filler words around it
		{"¿no hay baja de precio?", false}, // the whole message must be the keyword
		{"bajar precio", false},
		{"STOPPED", false},
		{"", false},
		{"👍", false},
	} {
		if got := store.IsOptOutText(tc.text, kw); got != tc.want {
			t.Errorf("IsOptOutText(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
	for _, tc := range []struct {
		payload string
		want    bool
	}{
		{"OPTOUT", true},
		{"OPTOUT:campaign42", true},
		{"optout-7", true},
		{"Baja", true},
		{"MORE_INFO", false},
		{"", false},
	} {
		if got := store.IsOptOutPayload(tc.payload, kw); got != tc.want {
			t.Errorf("IsOptOutPayload(%q) = %v, want %v", tc.payload, got, tc.want)
		}
	}
	if !store.IsOptOutText("ya no", []string{"YA NO"}) || store.IsOptOutText("baja", []string{"YA NO"}) {
		t.Error("a workspace's own keywords replace the defaults")
	}
}

// Common ways of asking to stop opt out; ordinary sentences that contain a keyword do not.
func TestOptOutPhrases(t *testing.T) {
	t.Parallel()
	kw := store.WorkspaceSettings{}.Effective().OptOutKeywords
	optOut := []string{
		"Baja por favor", "baja, por favor 🙏", "BAJA!!", "Ya baja", "No más mensajes", "no mas mensajes gracias",
		"Quiero darme de baja", "Dame de baja", "dame de baja por favor", "Cancelar suscripción", "Não quero mais",
		"não quero", "Detener promociones", "Stop promotions", "stop please", "STOP pls", "Para ya por favor",
		"No quiero más promociones", "baja\u200b", "ＢＡＪＡ", "Sair, obrigado", "Unsubscribe me",
	}
	ordinary := []string{
		"¿no hay baja de precio?", "Para cuándo llega?", "no más de 2 por favor", "No", "Hola", "gracias",
		"por favor", "quiero promociones", "bajar precio", "¿Cuándo es la baja de precios?", "para mí",
		"Quiero cancelar mi pedido", "no me llegó el mensaje", "ya llegó, gracias", "STOPPED", "no stop",
		"mensajes", "Quiero más promociones", "b a j a",
	}
	for _, s := range optOut {
		if !store.IsOptOutText(s, kw) {
			t.Errorf("IsOptOutText(%q) = false, want an opt-out", s)
		}
	}
	for _, s := range ordinary {
		if store.IsOptOutText(s, kw) {
			t.Errorf("IsOptOutText(%q) = true, want an ordinary message", s)
		}
	}
	// Meta's marketing opt-out button: its payload is its label.
	for _, p := range []string{"Detener promociones", "Stop promotions", "Parar promoções"} {
		if !store.IsOptOutPayload(p, []string{"YA NO"}) {
			t.Errorf("IsOptOutPayload(%q) = false: Meta's opt-out button always opts out", p)
		}
	}
	// Phrases follow the workspace's keywords: with its own list, only its own.
	if store.IsOptOutText("Dame de baja", []string{"ALTO"}) || !store.IsOptOutText("alto por favor", []string{"ALTO"}) {
		t.Error("phrases and fillers apply to the workspace's own keywords")
	}
}

func FuzzFoldText(f *testing.F) {
	for _, s := range []string{"BAJA", " ¡No más! ", "Não", "👍🏽", "\u0301a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := store.FoldText(s)
		if b := store.FoldText(a); a != b {
			t.Fatalf("FoldText not idempotent: %q → %q → %q", s, a, b)
		}
	})
}
