package importers

import (
	"slices"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestParseDate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		serial bool
		want   string // "" = error
	}{
		{"45292", true, "2024-01-01"},
		{"45292.5", true, "2024-01-01T12:00:00"},
		{"45292", false, ""},
		{"03/04/2024", false, "2024-04-03"}, // ambiguous: day first, never mm/dd
		{"3/4/24", false, "2024-04-03"},
		{"31-12-2023", false, "2023-12-31"},
		{"31.12.2023", false, "2023-12-31"},
		{"2024-02-29", false, "2024-02-29"},
		{"2024-02-29T10:30:00Z", false, "2024-02-29T10:30:00"},
		{"2024-02-29 10:30", false, "2024-02-29T10:30:00"},
		{"2024/02/29", false, "2024-02-29"},
		{"25/12/2024 18:30", false, "2024-12-25T18:30:00"},
		{"13/13/2024", false, ""}, // invalid month
		{"12/31/2024", false, ""}, // month-first is never read silently
		{"31/02/2024", false, ""},
		{"2024-13-01", false, ""},
		{"mañana", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		got, err := parseDate(tt.in, tt.serial)
		if tt.want == "" {
			if err == nil {
				t.Errorf("parseDate(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		layout := time.DateOnly
		if len(tt.want) > 10 {
			layout = "2006-01-02T15:04:05"
		}
		if err != nil || got.Format(layout) != tt.want {
			t.Errorf("parseDate(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestValues(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"sí", "Si", "SÍ", "yes", "true", "1", "x", "X", "verdadero", "✓", "sim"} {
		if b, ok := parseBool(s); !ok || !b {
			t.Errorf("parseBool(%q) = %v %v", s, b, ok)
		}
	}
	for _, s := range []string{"no", "NO", "false", "0", "falso", "não"} {
		if b, ok := parseBool(s); !ok || b {
			t.Errorf("parseBool(%q) = %v %v", s, b, ok)
		}
	}
	if _, ok := parseBool("quizás"); ok {
		t.Error("quizás is not a yes/no")
	}
	if got := splitTags(" vip, Bogotá;clientes|VIP ,, "); !slices.Equal(got, []string{"vip", "Bogotá", "clientes"}) {
		t.Errorf("splitTags = %q", got)
	}
	for in, want := range map[string]float64{"1234": 1234, "1.234,5": 1234.5, "1,234.5": 1234.5, "$ 12.000,00": 12000, "3,5": 3.5} {
		if got, ok := parseNumber(in); !ok || got != want {
			t.Errorf("parseNumber(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	for in, want := range map[string]string{"es": "es", "Español": "es", "pt-BR": "pt_BR", "portugués": "pt_BR", "EN": "en"} {
		if got, ok := normLanguage(in); !ok || got != want {
			t.Errorf("normLanguage(%q) = %q %v", in, got, ok)
		}
	}
	if validEmail("ana@") || validEmail("ana example@x.co") || !validEmail("ana.p@example.com.co") {
		t.Error("validEmail")
	}
}

func TestProcessRow(t *testing.T) {
	t.Parallel()
	m := GuessMapping([]string{"Celular", "Nombre", "Apellido", "Correo", "Etiquetas", "Acepta", "Fecha consentimiento", "Edad", "Cumpleaños"},
		[][]string{{"3001234567", "Ana", "Peña", "a@x.co", "vip", "sí", "01/02/2024", "31", "02/03/1990"}}, "CO")
	if got, want := kinds(m), "A=phone B=first_name C=last_name D=email E=tags F=consent G=consent_date H=attribute(edad:number) I=attribute(cumpleanos:date)"; got != want {
		t.Fatalf("mapping\n got %s\nwant %s", got, want)
	}
	decl := Declaration{Source: "tienda"}
	p := newProcessor(m, "CO", decl, testNow)

	rec, errs, _ := p.process(Row{Num: 2, Cells: []string{"300 123 4567", "Ana", "Peña", "A@X.CO", "vip; Bogotá", "sí", "01/02/2024", "31", "02/03/1990"}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if rec.e164 != "+573001234567" || rec.name != "Ana Peña" || rec.email != "a@x.co" || !slices.Equal(rec.tags, []string{"vip", "Bogotá"}) ||
		!rec.consent || rec.consentAt.Format(time.DateOnly) != "2024-02-01" || rec.source != "tienda" ||
		string(rec.attrs) != `{"cumpleanos":"1990-03-02","edad":31}` {
		t.Errorf("record %+v attrs %s", rec, rec.attrs)
	}

	// An explicit "no" wins over a date and the declaration.
	rec, _, _ = newProcessor(m, "CO", Declaration{Declared: true}, testNow).process(Row{Num: 3, Cells: []string{"3001234567", "", "", "", "", "no", "01/02/2024"}})
	if rec.consent {
		t.Error("explicit no recorded as consent")
	}
	// Nothing documented: no consent.
	rec, _, _ = p.process(Row{Num: 4, Cells: []string{"3001234567"}})
	if rec.consent || rec.source != "" {
		t.Errorf("undocumented consent recorded: %+v", rec)
	}
	// Declared for the file.
	rec, _, _ = newProcessor(m, "CO", Declaration{Declared: true, Source: "form"}, testNow).process(Row{Num: 5, Cells: []string{"3001234567"}})
	if !rec.consent || !rec.consentAt.Equal(testNow) || rec.source != "form" {
		t.Errorf("declared consent: %+v", rec)
	}

	// Every bad cell is reported, in Spanish, with its column.
	_, errs, _ = p.process(Row{Num: 6, Cells: []string{"601 2345678", "", "", "ana@", "", "quizás", "13/13/2024", "treinta", "12/31/1990"}})
	got := map[string]string{}
	for _, e := range errs {
		got[e.Column] = e.Reason
	}
	want := map[string]string{
		"Celular": "número fijo (no es celular)", "Correo": "correo electrónico inválido", "Acepta": "consentimiento no reconocido (use sí o no)",
		"Fecha consentimiento": "fecha inválida (use dd/mm/aaaa o aaaa-mm-dd)", "Edad": "no es un número", "Cumpleaños": "fecha inválida (use dd/mm/aaaa o aaaa-mm-dd)",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("column %s: reason %q, want %q", k, got[k], v)
		}
	}
	// Blank rows are skipped, a row without a phone is an error.
	if _, _, skip := p.process(Row{Num: 7, Cells: []string{"", " "}}); !skip {
		t.Error("blank row not skipped")
	}
	if _, errs, _ := p.process(Row{Num: 8, Cells: []string{"", "Ana"}}); len(errs) != 1 || errs[0].Reason != "vacío" {
		t.Errorf("row without phone: %+v", errs)
	}
}
