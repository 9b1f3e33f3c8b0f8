package segments

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

func TestParse(t *testing.T) {
	t.Parallel()
	t.Run("EmptyForms", func(t *testing.T) {
		for _, s := range []string{``, ` `, `null`, `{}`, `{"all":[]}`, `{"any":[]}`, `{"all":[{"any":[]},{}]}`, `{"not":{"all":[]}}`} {
			def, err := Parse([]byte(s))
			if err != nil {
				t.Fatalf("%q: %v", s, err)
			}
			if !def.IsEmpty() || def.Validate() != nil {
				t.Fatalf("%q: IsEmpty=%v problems=%v", s, def.IsEmpty(), def.Validate())
			}
		}
	})
	t.Run("NotJSON", func(t *testing.T) {
		for _, s := range []string{`{`, `{"all":[]} x`, `{"all":[]}{}`} {
			_, err := Parse([]byte(s))
			var ve *store.ValidationError
			if err == nil || !asValidation(err, &ve) || ve.Problems[0].Path != "$" {
				t.Fatalf("%q: err = %v", s, err)
			}
		}
	})
	t.Run("TooBig", func(t *testing.T) {
		if _, err := Parse([]byte(`{"all":[` + strings.Repeat(" ", MaxBytes) + `]}`)); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		src := `{"all":[{"field":"tags","op":"has_any","value":["vip"]},{"not":{"field":"engagement","op":"read","campaign_id":3}},{"any":[]}]}`
		def, err := Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(def)
		again, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) || def.Hash() != again.Hash() {
			t.Fatalf("%s != %s", b, b2)
		}
	})
	t.Run("UnmarshalJSON", func(t *testing.T) {
		var v struct{ Definition Definition }
		if err := json.Unmarshal([]byte(`{"Definition":{"field":"name","op":"eq","value":"Ana"}}`), &v); err != nil {
			t.Fatal(err)
		}
		if v.Definition.IsEmpty() || v.Definition.Root.Cond.Value != "Ana" {
			t.Fatalf("%+v", v.Definition)
		}
	})
}

func TestHash(t *testing.T) {
	t.Parallel()
	a, _ := Parse([]byte(`{"all":[{"field":"attribute","key":"edad","op":"gte","value":30}]}`))
	b, _ := Parse([]byte(`{ "all" : [ {"value": 30.0, "op":"gte", "key":"edad", "field":"attribute"} ] }`))
	c, _ := Parse([]byte(`{"all":[{"field":"attribute","key":"edad","op":"gte","value":31}]}`))
	if a.Hash() != b.Hash() {
		t.Fatal("same definition, different hashes")
	}
	if a.Hash() == c.Hash() || len(a.Hash()) != 64 {
		t.Fatalf("hash %q vs %q", a.Hash(), c.Hash())
	}
	if (Definition{}).Hash() == a.Hash() {
		t.Fatal("empty hashes like a")
	}
}

// TestValidate: every problem is reported, with the path of the bad node and a Spanish message.
func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, def string
		want      []store.Problem // message: a substring
	}{
		{"NumberAttributeGivenText", `{"all":[{"field":"attribute","key":"edad","type":"number","op":"eq","value":"abc"}]}`,
			[]store.Problem{{Path: "$.all[0].value", Message: "el atributo 'edad' es un número; 'abc' no lo es"}}},
		{"OrderedNeedsNumberOrDate", `{"field":"attribute","key":"edad","op":"gte","value":"abc"}`,
			[]store.Problem{{Path: "$.value", Message: "debe ser un número o una fecha (AAAA-MM-DD); 'abc' no lo es"}}},
		{"MixedList", `{"field":"attribute","key":"edad","op":"in","value":[30,"abc"]}`,
			[]store.Problem{{Path: "$.value[1]", Message: "el atributo 'edad' es un número; 'abc' no lo es"}}},
		{"UnknownField", `{"any":[{"field":"edad","op":"eq","value":1}]}`,
			[]store.Problem{{Path: "$.any[0].field", Message: "no se puede filtrar por 'edad'"}}},
		{"OpNotForField", `{"field":"tags","op":"eq","value":"vip"}`,
			[]store.Problem{{Path: "$.op", Message: "el operador 'eq' no sirve para las etiquetas"}}},
		{"OpNotForType", `{"field":"attribute","key":"activo","type":"bool","op":"gt","value":true}`,
			[]store.Problem{{Path: "$.op", Message: "el atributo 'activo' es sí/no"}}},
		{"MissingKey", `{"field":"attribute","op":"exists"}`, []store.Problem{{Path: "$.key", Message: "falta el nombre del atributo"}}},
		{"MissingValue", `{"field":"name","op":"eq"}`, []store.Problem{{Path: "$.value", Message: "falta el valor"}}},
		{"EmptyList", `{"field":"tags","op":"has_any","value":[]}`, []store.Problem{{Path: "$.value", Message: "vacía"}}},
		{"BetweenNeedsTwo", `{"field":"attribute","key":"edad","op":"between","value":[1]}`, []store.Problem{{Path: "$.value", Message: "dos valores"}}},
		{"BetweenReversed", `{"field":"attribute","key":"edad","op":"between","value":[50,40]}`, []store.Problem{{Path: "$.value", Message: "menor que"}}},
		{"BadDate", `{"field":"created_at","op":"before","value":"2026-02-30"}`, []store.Problem{{Path: "$.value", Message: "no es una fecha válida"}}},
		{"BadDays", `{"field":"last_inbound_at","op":"in_last","value":0}`, []store.Problem{{Path: "$.value", Message: "número de días"}}},
		{"BadCountry", `{"field":"country","op":"in","value":["CO","Colombia"]}`, []store.Problem{{Path: "$.value[1]", Message: "código de país de dos letras"}}},
		{"BadCallingCode", `{"field":"country_code","op":"eq","value":"+0"}`, []store.Problem{{Path: "$.value", Message: "código telefónico"}}},
		{"ErrorCodeOnlyForFailed", `{"field":"engagement","op":"read","error_code":131026}`, []store.Problem{{Path: "$.error_code", Message: "solo se usa con el operador \"failed\""}}},
		{"EngagementNoValue", `{"field":"engagement","op":"read","value":3}`, []store.Problem{{Path: "$.value", Message: "no llevan \"value\""}}},
		{"UnknownKey", `{"field":"name","op":"eq","value":"x","valor":"y"}`, []store.Problem{{Path: "$.valor", Message: "clave desconocida"}}},
		{"GroupAndCondition", `{"all":[],"field":"name"}`, []store.Problem{{Path: "$", Message: "un solo grupo"}}},
		{"NotAList", `{"all":{"field":"name"}}`, []store.Problem{{Path: "$.all", Message: "lista"}}},
		{"NotAnObject", `{"all":[1]}`, []store.Problem{{Path: "$.all[0]", Message: "se esperaba un grupo"}}},
		{"ListForSingleOp", `{"field":"name","op":"eq","value":["a","b"]}`, []store.Problem{{Path: "$.value", Message: "use \"in\""}}},
		{"NulInKey", `{"field":"attribute","key":"a\u0000b","op":"exists"}`, []store.Problem{{Path: "$.key", Message: "caracteres de control"}}},
		{"HugeNumber", `{"field":"attribute","key":"n","op":"gt","value":1e300}`, []store.Problem{{Path: "$.value", Message: "no es un valor válido"}}},
		{"EveryProblemReported", `{"all":[{"field":"nope","op":"eq"},{"field":"tags","op":"has_any"},{"not":{"field":"attribute","key":"edad","type":"number","op":"gt","value":"x"}}]}`,
			[]store.Problem{{Path: "$.all[0].field"}, {Path: "$.all[1].value"}, {Path: "$.all[2].not.value", Message: "es un número"}}},
		{"TooDeep", `{"all":[{"all":[{"all":[{"all":[{"all":[{"all":[{"field":"name","op":"exists"}]}]}]}]}]}]}`,
			[]store.Problem{{Path: "$.all[0].all[0].all[0].all[0].all[0]", Message: "anidados"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def, err := Parse([]byte(tc.def))
			if err != nil {
				t.Fatal(err)
			}
			got := def.Validate()
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems %v, want %v", len(got), got, tc.want)
			}
			for i, w := range tc.want {
				if got[i].Path != w.Path || !strings.Contains(got[i].Message, w.Message) {
					t.Fatalf("problem %d = %+v, want %+v", i, got[i], w)
				}
			}
			if _, err := Compile(1, def, CompileOptions{}); err == nil {
				t.Fatal("Compile accepted an invalid definition")
			}
		})
	}
	t.Run("TooManyConditions", func(t *testing.T) {
		t.Parallel()
		conds := make([]string, MaxConditions+1)
		for i := range conds {
			conds[i] = `{"field":"name","op":"exists"}`
		}
		def, _ := Parse([]byte(`{"any":[` + strings.Join(conds, ",") + `]}`))
		p := def.Validate()
		if len(p) != 1 || !strings.Contains(p[0].Message, "demasiadas condiciones") {
			t.Fatalf("%v", p)
		}
	})
}

func asValidation(err error, target **store.ValidationError) bool {
	ve, ok := err.(*store.ValidationError)
	*target = ve
	return ok
}
