package importers

import (
	"context"
	"testing"
)

func TestGuessKindConsentHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   Kind
	}{
		// Colombia's Ley 1581 authorisation holds Sí/No: "data" there is no Portuguese date.
		{"Habeas data", KindConsent},
		{"Autorización habeas data", KindConsent},
		{"Autoriza habeas data", KindConsent},
		{"Fecha habeas data", KindConsentDate},
		{"Fecha de autorización habeas data", KindConsentDate},
		{"Data de consentimento", KindConsentDate},
		{"Data do consentimento", KindConsentDate},
		{"data do opt-in", KindConsentDate},
		{"Data da autorização", KindConsentDate},
		{"Fecha de consentimiento", KindConsentDate},
	}
	for _, tt := range tests {
		if got := guessKind(tt.header); got != tt.want {
			t.Errorf("guessKind(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestRunHabeasDataColumnIsConsent(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	path := writeFile(t, "c.csv", []byte("Nombre;Celular;Autorización habeas data\nAna;3001234567;Sí\nLuis;3109876543;No\n"))
	res, err := Run(context.Background(), b.pool, Params{WorkspaceID: b.ws.ID, Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(res.Mapping), "A=name B=phone C=consent"; got != want {
		t.Errorf("mapping\n got %s\nwant %s", got, want)
	}
	if res.Inserted != 2 || res.Rejected != 0 {
		t.Fatalf("inserted %d, rejected %d; want 2 and 0", res.Inserted, res.Rejected)
	}
	cs := b.contacts(t)
	if c := cs["+573001234567"]; c.ConsentAt == nil {
		t.Errorf("Ana said Sí to habeas data and has no consent: %+v", c)
	}
	if c := cs["+573109876543"]; c.ConsentAt != nil {
		t.Errorf("Luis said No to habeas data and has consent: %+v", c)
	}
}
