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
		{"Quiero darme de baja", false}, // the whole message must be the keyword
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
