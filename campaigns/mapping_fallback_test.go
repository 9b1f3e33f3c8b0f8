package campaigns

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

// bindNamedFallback binds the named template with body.nombre falling back to fallback.
func bindNamedFallback(t *testing.T, fallback string) (Mapping, error) {
	t.Helper()
	ps, err := TemplateParams("NAMED", json.RawMessage(namedComponents))
	if err != nil {
		t.Fatal(err)
	}
	return Bind(ps, "NAMED", Mapping{Variables: []Variable{
		{Param: Param{Component: "header", Name: "nombre"}, Source: SourceLiteral, Value: "Tienda"},
		{Param: Param{Component: "body", Name: "nombre"}, Source: SourceField, Key: "first_name", Fallback: fallback},
		{Param: Param{Component: "body", Name: "pedido"}, Source: SourceAttribute, Key: "pedido"},
	}})
}

func TestBindFallbacks(t *testing.T) {
	t.Parallel()
	t.Run("TrimmedBeforeSending", func(t *testing.T) {
		t.Parallel()
		m, err := bindNamedFallback(t, "  cliente \n")
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Variables[1].Fallback; got != "cliente" {
			t.Fatalf("fallback %q, want %q", got, "cliente")
		}
		// A contact without a name gets the trimmed fallback.
		r, skip := Render(m, Contact{Phone: "+573000000001", Attributes: map[string]json.RawMessage{"pedido": json.RawMessage(`"A-1"`)}})
		if skip != "" || r.Value("body.nombre") != "cliente" {
			t.Fatalf("rendered %+v skip %q", r, skip)
		}
	})
	t.Run("EmptyStillSkipsTheContact", func(t *testing.T) {
		t.Parallel()
		m, err := bindNamedFallback(t, "")
		if err != nil || m.Variables[1].Fallback != "" {
			t.Fatalf("mapping %+v err %v", m, err)
		}
	})
	for _, c := range []struct {
		name, fallback, says string
	}{
		{"OnlySpacesRefused", "   ", "en blanco"},
		{"NewlineRefused", "querido\ncliente", "saltos de línea"},
		{"TabRefused", "querido\tcliente", "tabulaciones"},
		{"FiveSpacesRefused", "querido     cliente", "4 espacios"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := bindNamedFallback(t, c.fallback)
			var v *store.ValidationError
			if !errors.As(err, &v) || len(v.Problems) != 1 {
				t.Fatalf("fallback %q: err %v, want one validation problem", c.fallback, err)
			}
			if p := v.Problems[0]; p.Path != "variable_mapping.body.nombre.fallback" || !strings.Contains(p.Message, c.says) {
				t.Fatalf("fallback %q: problem %+v, want at variable_mapping.body.nombre.fallback saying %q", c.fallback, p, c.says)
			}
		})
	}
	t.Run("FourSpacesAllowed", func(t *testing.T) {
		t.Parallel()
		if _, err := bindNamedFallback(t, "querido    cliente"); err != nil {
			t.Fatal(err)
		}
	})
}
