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

func TestGuessTypeKeepsLongDigitStringsAsText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []string
		want   AttrType
	}{
		{"CBU", []string{"2850590940090418135201", "1910028055028001234567"}, AttrText},
		{"CardLike", []string{"4111111111111111", "5500000000000004"}, AttrText},
		{"SixteenDigitID", []string{"1234567890123456", "42"}, AttrText},
		{"GroupedSixteenDigits", []string{"1.234.567.890.123.456"}, AttrText},
		{"LongDecimal", []string{"3.14159265358979323"}, AttrText},
		{"FifteenDigits", []string{"123456789012345", "7"}, AttrNumber},
		{"Prices", []string{"$ 12.000", "1.234,50", "0.5"}, AttrNumber},
		{"WorkbookExponent", []string{"1.5E+3"}, AttrNumber},
	}
	for _, tt := range tests {
		if got := guessType(tt.values); got != tt.want {
			t.Errorf("%s: guessType(%q) = %s, want %s", tt.name, tt.values, got, tt.want)
		}
	}
}

func TestRunKeepsEveryDigitOfACBU(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	path := writeFile(t, "c.csv", []byte("Nombre;Celular;CBU\nAna;3001234567;2850590940090418135201\nLuis;3109876543;2850590940090418135299\n"))
	res, err := Run(context.Background(), b.pool, Params{WorkspaceID: b.ws.ID, Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(res.Mapping), "A=name B=phone C=attribute(cbu:text)"; got != want {
		t.Errorf("mapping\n got %s\nwant %s", got, want)
	}
	if res.Inserted != 2 {
		t.Fatalf("inserted %d of 2 (rejected %d)", res.Inserted, res.Rejected)
	}
	for ph, want := range map[string]string{"+573001234567": "2850590940090418135201", "+573109876543": "2850590940090418135299"} {
		if got := b.contacts(t)[ph].Attributes["cbu"]; got != want {
			t.Errorf("%s: cbu = %v (%T), want %q", ph, got, got, want)
		}
	}
}

func TestGuessKindFullNameAndPhoneHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   Kind
	}{
		{"Nombres y apellidos", KindName},
		{"Nombre y apellido", KindName},
		{"Apellidos y nombres", KindName},
		{"Nombre completo", KindName},
		{"Nombres completos", KindName},
		{"Nome completo", KindName},
		{"Nome e sobrenome", KindName},
		{"Full name", KindName},
		{"Nombre completo de la empresa", ""},
		{"Nombre", KindName},
		{"Nombres", KindFirstName},
		{"Apellidos", KindLastName},
		{"Sobrenome", KindLastName},
		{"Last name", KindLastName},
		{"Telf.", KindPhone},
		{"Telf", KindPhone},
		{"Tlf", KindPhone},
		{"Tlf.", KindPhone},
		{"Tlfno.", KindPhone},
		{"Tfno.", KindPhone},
		{"Fono", KindPhone},
		{"Tel.", KindPhone},
		{"Cel.", KindPhone},
		{"Celu", KindPhone},
		{"WSP", KindPhone},
		{"Nro. celular", KindPhone},
		{"Número de WhatsApp", KindPhone},
		{"Telefone", KindPhone},
		{"Telefone celular", KindPhone},
		{"Celular/WhatsApp", KindPhone},
		{"Número do WhatsApp", KindPhone},
		{"Telemóvel", KindPhone},
		{"Número de cliente", ""},
	}
	for _, tt := range tests {
		if got := guessKind(tt.header); got != tt.want {
			t.Errorf("guessKind(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
	// A mobile abbreviation ranks as a mobile, an office one as a landline.
	for h, want := range map[string]int{"Celu": 3, "WSP": 3, "Tlf": 2, "Telf. oficina": 1} {
		if got := phoneRank(h); got != want {
			t.Errorf("phoneRank(%q) = %d, want %d", h, got, want)
		}
	}
}

func TestGuessMappingFullNameAndPhoneAbbreviations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		headers []string
		sample  []string
		want    string
	}{
		{[]string{"Nombres y apellidos", "Telf.", "Correo"}, []string{"Ana Pérez", "3001234567", "ana@x.co"}, "A=name B=phone C=email"},
		{[]string{"Nombre y apellido", "Tlf", "Telf. oficina"}, []string{"Ana Pérez", "3001234567", "6012345678"}, "A=name B=phone C=attribute(telf_oficina:text)"},
		{[]string{"Nome completo", "Celular/WhatsApp", "Cidade"}, []string{"Ana Souza", "11987654321", "São Paulo"}, "A=name B=phone C=attribute(cidade:text)"},
		{[]string{"Nome e sobrenome", "Telefone"}, []string{"Ana Souza", "11987654321"}, "A=name B=phone"},
		// Without its header read, the phone would be guessed by content: the first column of numbers.
		{[]string{"Contacto de emergencia", "Telf.", "Nombre"}, []string{"3101234567", "3001234567", "Ana"}, "A=attribute(contacto_de_emergencia:text) B=phone C=name"},
		// Separate columns stay first and last name.
		{[]string{"Nombre", "Apellidos", "Cel."}, []string{"Ana", "Pérez", "3001234567"}, "A=first_name B=last_name C=phone"},
	}
	for _, tt := range tests {
		if got := kinds(GuessMapping(tt.headers, [][]string{tt.sample}, "CO")); got != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.headers, got, tt.want)
		}
	}
}
