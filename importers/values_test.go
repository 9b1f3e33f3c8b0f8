package importers

import (
	"slices"
	"strings"
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
	if got, long := splitTags(" vip, Bogotá;clientes|VIP ,, "); !slices.Equal(got, []string{"vip", "Bogotá", "clientes"}) || long != "" {
		t.Errorf("splitTags = %q %q", got, long)
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

	// A date without a zone is that day's midnight in the workspace's time zone; a time with an
	// offset keeps it; a date attribute stays a plain date.
	bogota, _ := time.LoadLocation("America/Bogota")
	inBogota := newProcessor(m, "CO", decl, testNow)
	inBogota.inZone(bogota)
	for _, tt := range []struct {
		in   string
		want time.Time
	}{
		{"04/10/2025", time.Date(2025, 10, 4, 5, 0, 0, 0, time.UTC)},
		{"2025-10-04", time.Date(2025, 10, 4, 5, 0, 0, 0, time.UTC)},
		{"04/10/2025 14:30", time.Date(2025, 10, 4, 19, 30, 0, 0, time.UTC)},
		{"45934", time.Date(2025, 10, 4, 5, 0, 0, 0, time.UTC)}, // an Excel serial
		{"2025-10-04T10:00:00Z", time.Date(2025, 10, 4, 10, 0, 0, 0, time.UTC)},
	} {
		rec, errs, _ := inBogota.process(Row{Num: 2, Cells: []string{"3001234567", "", "", "", "", "sí", tt.in, "", "04/10/2025"}})
		if len(errs) > 0 || !rec.consentAt.Equal(tt.want) || string(rec.attrs) != `{"cumpleanos":"2025-10-04"}` {
			t.Errorf("consent date %q in Bogotá: %v (errors %v, attrs %s), want %v", tt.in, rec.consentAt.UTC(), errs, rec.attrs, tt.want)
		}
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

func TestParseDateRejectsYearsAndOutOfRangeSerials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		serial bool
		want   error
	}{
		{"1990", true, errDateYear}, // a birth year, not 1905-06-12
		{"2024", true, errDateYear}, // a consent year, not 1905-07-16
		{"2024", false, errDateYear},
		{"1990.0", true, errDateYear},
		{"45292", false, errBadDate}, // a CSV's bare number is no serial
		{"31", true, errDateRange},   // Excel's 1900-01-31, before its phantom 29 February
		{"109940", true, errDateRange},
		{"1e5", true, errBadDate},
	}
	for _, tt := range tests {
		if got, err := parseDate(tt.in, tt.serial); err != tt.want {
			t.Errorf("parseDate(%q, %v) = %v, %v; want %v", tt.in, tt.serial, got, err, tt.want)
		}
	}
	if got, err := parseDate("109939", true); err != nil || got.Format(time.DateOnly) != "2200-12-31" {
		t.Errorf("last serial = %v, %v", got, err)
	}
	if got, err := parseDate("61", true); err != nil || got.Format(time.DateOnly) != "1900-03-01" {
		t.Errorf("first serial = %v, %v", got, err)
	}
	if r := dateReason(errDateYear); r != "parece solo un año: escriba la fecha completa (dd/mm/aaaa o aaaa-mm-dd)" {
		t.Errorf("reason %q", r)
	}
}

func TestParseNumberLatinAmerican(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{
		"$ 12.000": 12000, "12.000": 12000, "1.234.567": 1234567, "1.234,50": 1234.5, "1,234.50": 1234.5,
		"12,000": 12000, "1,234,567.89": 1234567.89, "1.234.567,89": 1234567.89, "0.500": 0.5, "0,500": 0.5,
		"12.5": 12.5, "1234.567": 1234.567, "-$ 1.500": -1500, "$ -1.500": -1500, "R$ 1.234,56": 1234.56,
		"US$ 99,90": 99.9, "1\u00a0234,5": 1234.5, ",5": 0.5, "+3": 3, "1.5E+3": 1500,
	} {
		if got, ok := parseNumber(in); !ok || got != want {
			t.Errorf("parseNumber(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"1.23.4", "1,234.5.6", "12.34.567", "1.234,5,6", "1.234,567.8", "abc", "$", "-", "1,,234", "inf", "0x1p3", "12 años"} {
		if got, ok := parseNumber(in); ok {
			t.Errorf("parseNumber(%q) = %v, want no number", in, got)
		}
	}
	// A workbook stores 1.125 as "1.125", never "12.000": raw values first, unless the cell
	// comes from a CSV.
	for _, tt := range []struct {
		in       string
		rawFirst bool
		want     float64
	}{
		{"1.125", true, 1.125}, {"1.125", false, 1125}, {"12.000", true, 12000}, {"12.50", true, 12.5},
		{"-0.75", true, -0.75}, {"45292", true, 45292}, {"$ 1.125", true, 1125},
	} {
		if got, ok := parseNumberCell(tt.in, tt.rawFirst); !ok || got != tt.want {
			t.Errorf("parseNumberCell(%q, %v) = %v %v, want %v", tt.in, tt.rawFirst, got, ok, tt.want)
		}
	}
}

func TestParseBoolConsentPhrases(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"Sí, acepto": true, "SI ACEPTO": true, "acepto": true, "Acepta": true, "sí, autorizo": true, "Sim": true,
		"Sim, aceito": true, " ✓ ": true, "No acepto": false, "no acepta": false, "NO, no acepto": false,
		"Não": false, "não aceito": false, "no autorizo": false, "No, gracias": false, "rechaza": false,
	} {
		if got, ok := parseBool(in); !ok || got != want {
			t.Errorf("parseBool(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"quizás", "sí pero no", "acepto no", "llamar luego", "no sé"} {
		if got, ok := parseBool(in); ok {
			t.Errorf("parseBool(%q) = %v, want unrecognised", in, got)
		}
	}
}

func TestSplitTagsReportsLongTag(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("á", 65)
	if got, l := splitTags("vip, " + long + "; norte"); !slices.Equal(got, []string{"vip", "norte"}) || l != long {
		t.Errorf("splitTags = %q, long %q", got, l)
	}
	ok := strings.Repeat("á", 64) // 128 bytes, 64 characters: a valid tag
	if got, l := splitTags(ok); !slices.Equal(got, []string{ok}) || l != "" {
		t.Errorf("splitTags(64 characters) = %q, long %q", got, l)
	}
}

func TestProcessRowReasons(t *testing.T) {
	t.Parallel()
	m := GuessMapping([]string{"Celular", "Nombre", "Etiquetas", "Acepta", "Fecha consentimiento", "Fecha de nacimiento", "Monto"},
		[][]string{{"3001234567", "Ana", "vip", "sí", "01/02/2024", "02/03/1990", "$ 12.000"}}, "CO")
	if got, want := kinds(m), "A=phone B=name C=tags D=consent E=consent_date F=attribute(fecha_de_nacimiento:date) G=attribute(monto:number)"; got != want {
		t.Fatalf("mapping\n got %s\nwant %s", got, want)
	}
	reasons := func(p *processor, cells ...string) map[string]string {
		t.Helper()
		_, errs, _ := p.process(Row{Num: 2, Cells: cells})
		out := map[string]string{}
		for _, e := range errs {
			out[e.Column] = e.Reason
		}
		return out
	}
	p := newProcessor(m, "CO", Declaration{}, testNow)

	t.Run("LongValueCountsCharacters", func(t *testing.T) {
		t.Parallel()
		if got := reasons(p, "3001234567", strings.Repeat("á", 6000)); len(got) != 0 {
			t.Errorf("6,000 characters (12,000 bytes) rejected: %v", got)
		}
		if got := reasons(p, "3001234567", strings.Repeat("á", maxCell+1)); got["Nombre"] != "valor demasiado largo (10001 caracteres; máximo 10000)" {
			t.Errorf("reasons %v", got)
		}
	})
	t.Run("LongTagIsARowError", func(t *testing.T) {
		t.Parallel()
		tag := strings.Repeat("x", 70)
		got := reasons(p, "3001234567", "Ana", "vip, "+tag)
		if want := `etiqueta de más de 64 caracteres: "` + strings.Repeat("x", 40) + `…"`; got["Etiquetas"] != want {
			t.Errorf("reason %q, want %q", got["Etiquetas"], want)
		}
	})
	t.Run("YearIsNotADate", func(t *testing.T) {
		t.Parallel()
		got := reasons(p, "3001234567", "Ana", "", "", "2024", "1990")
		want := "parece solo un año: escriba la fecha completa (dd/mm/aaaa o aaaa-mm-dd)"
		if got["Fecha consentimiento"] != want || got["Fecha de nacimiento"] != want {
			t.Errorf("reasons %v", got)
		}
	})
	t.Run("CSVHasNoDateSerials", func(t *testing.T) {
		t.Parallel()
		csv := newProcessor(m, "CO", Declaration{}, testNow)
		csv.readsSource(Info{Format: FormatCSV})
		if got := reasons(csv, "3001234567", "Ana", "", "", "45292", "32937"); got["Fecha consentimiento"] != "fecha inválida (use dd/mm/aaaa o aaaa-mm-dd)" ||
			got["Fecha de nacimiento"] != "fecha inválida (use dd/mm/aaaa o aaaa-mm-dd)" {
			t.Errorf("reasons %v", got)
		}
		xlsx := newProcessor(m, "CO", Declaration{}, testNow)
		xlsx.readsSource(Info{Format: FormatXLSX})
		rec, errs, _ := xlsx.process(Row{Num: 2, Cells: []string{"3001234567", "Ana", "", "", "45292", "32937"}})
		if len(errs) > 0 || rec.consentAt.Format(time.DateOnly) != "2024-01-01" || string(rec.attrs) != `{"fecha_de_nacimiento":"1990-03-05"}` {
			t.Errorf("workbook serials: %+v %s %v", rec, rec.attrs, errs)
		}
	})
	t.Run("ThousandsSeparator", func(t *testing.T) {
		t.Parallel()
		for _, f := range []Format{"", FormatCSV} {
			q := newProcessor(m, "CO", Declaration{}, testNow)
			q.readsSource(Info{Format: f})
			rec, errs, _ := q.process(Row{Num: 2, Cells: []string{"3001234567", "Ana", "", "", "", "", "$ 12.000"}})
			if len(errs) > 0 || string(rec.attrs) != `{"monto":12000}` {
				t.Errorf("format %q: %s %v", f, rec.attrs, errs)
			}
		}
	})
	t.Run("ConsentPhrase", func(t *testing.T) {
		t.Parallel()
		rec, errs, _ := p.process(Row{Num: 2, Cells: []string{"3001234567", "Ana", "", "Sí, acepto"}})
		if len(errs) > 0 || !rec.consent {
			t.Errorf("Sí, acepto: %+v %v", rec, errs)
		}
		rec, errs, _ = newProcessor(m, "CO", Declaration{Declared: true}, testNow).process(Row{Num: 2, Cells: []string{"3001234567", "Ana", "", "No acepto"}})
		if len(errs) > 0 || rec.consent {
			t.Errorf("No acepto over a declaration: %+v %v", rec, errs)
		}
	})
}
