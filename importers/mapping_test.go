package importers

import (
	"context"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

func TestDetectHeaderAboveTheTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("MergedTitleRowIsNotTheHeader", func(t *testing.T) {
		t.Parallel()
		path := writeXLSX(t, [][]any{
			{"Contactos para WhatsApp - Octubre"},
			{},
			{"Nombre", "Celular", "Ciudad"},
			{"Ana", "3001234567", "Cali"},
			{"Luis", "3109876543", "Pasto"},
		}, func(f *excelize.File) {
			if err := f.MergeCell("Sheet1", "A1", "C1"); err != nil {
				t.Fatal(err)
			}
		})
		p, err := PreviewFile(ctx, path, FormatXLSX, Options{}, "CO", 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.HeaderRow != 3 || len(p.Rows) != 2 || p.Rows[0].Row != 4 {
			t.Fatalf("header row %d, rows %+v", p.HeaderRow, p.Rows)
		}
		if got, want := kinds(p.Mapping), "A=name B=phone C=attribute(ciudad:text)"; got != want {
			t.Errorf("mapping\n got %s\nwant %s", got, want)
		}
	})

	t.Run("KeyValueLinesAboveTheTable", func(t *testing.T) {
		t.Parallel()
		for _, head := range []string{
			"Nombre de la tienda:;Chapinero\nResponsable:;Marta\n\n",
			"Nombre de la tienda;Chapinero\nCorreo de la tienda;\n\n",
		} {
			p, err := PreviewFile(ctx, writeFile(t, "f.csv", []byte(head+"Nombre;Celular;Ciudad\nAna;3001234567;Cali\n")), "", Options{}, "CO", 0)
			if err != nil {
				t.Fatal(err)
			}
			if p.HeaderRow != 4 || len(p.Rows) != 1 || p.Mapping.Phone() != 1 {
				t.Errorf("%q: header row %d, phone column %d, rows %+v", head, p.HeaderRow, p.Mapping.Phone(), p.Rows)
			}
		}
	})

	t.Run("Rows", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name string
			rows [][]string
			want int
		}{
			{"MergeFilledTitle", [][]string{{"Lista WhatsApp", "Lista WhatsApp", "Lista WhatsApp"}, {"Nombre", "Teléfono", "Correo"}, {"Ana", "3001234567", "a@x.co"}}, 1},
			{"PlainHeader", [][]string{{"Teléfono", "Nombre"}, {"3001234567", "Ana"}}, 0},
			{"OneWordHeaderUnderAKeyValueLine", [][]string{{"Tienda:", "Chapinero"}, {"Celular", "Ciudad"}, {"3001234567", "Cali"}}, 1},
			{"NoHeader", [][]string{{"3001234567", "Ana"}}, -1},
		}
		for _, tt := range tests {
			if got := DetectHeader(tt.rows, "CO"); got != tt.want {
				t.Errorf("%s: header %d, want %d", tt.name, got, tt.want)
			}
		}
	})
}

func TestGuessPhoneColumn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		headers []string
		sample  []string
		want    string
	}{
		{[]string{"Número de cliente", "Nombre", "Celular"}, []string{"1001", "Ana", "3001234567"}, "A=attribute(numero_de_cliente:number) B=name C=phone"},
		{[]string{"Número de pedido", "Teléfono"}, []string{"5001", "3001234567"}, "A=attribute(numero_de_pedido:number) B=phone"},
		{[]string{"No. de factura", "WhatsApp"}, []string{"FE-77", "3001234567"}, "A=attribute(no_de_factura:text) B=phone"},
		{[]string{"Número de orden", "Nombre"}, []string{"77", "Ana"}, "A=attribute(numero_de_orden:number) B=name"},
		{[]string{"Teléfono fijo", "Celular"}, []string{"6012345678", "3001234567"}, "A=attribute(telefono_fijo:text) B=phone"},
		{[]string{"Home phone", "Mobile"}, []string{"6012345678", "3001234567"}, "A=attribute(home_phone:text) B=phone"},
		{[]string{"Teléfono", "Celular"}, []string{"6012345678", "3001234567"}, "A=attribute(telefono:text) B=phone"},
		{[]string{"Número de WhatsApp del cliente"}, []string{"3001234567"}, "A=phone"},
		{[]string{"Default Address Phone", "Phone", "Accepts Marketing"}, []string{"6012345678", "3001234567", "yes"}, "A=attribute(default_address_phone:text) B=phone C=consent"},
	}
	for _, tt := range tests {
		m := GuessMapping(tt.headers, [][]string{tt.sample}, "CO")
		if got := kinds(m); got != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.headers, got, tt.want)
		}
	}
	for _, h := range []string{"Accepts Marketing", "accepts_marketing", "Accepts Email Marketing", "Subscribed", "Agree", "Suscrito"} {
		if got := guessKind(h); got != KindConsent {
			t.Errorf("guessKind(%q) = %q, want consent", h, got)
		}
	}
}

func TestGuessTypeKeepsCodesAndPhonesAsText(t *testing.T) {
	t.Parallel()
	m := GuessMapping([]string{"Celular", "Teléfono 2", "Código postal", "Contacto de emergencia", "Compras", "Edad"},
		[][]string{{"3001234567", "3101234567", "05001", "3201234567", "1500000", "31"}, {"3001234568", "3111234567", "11001", "3211234567", "20", "40"}}, "CO")
	want := "A=phone B=attribute(telefono_2:text) C=attribute(codigo_postal:text) D=attribute(contacto_de_emergencia:text) E=attribute(compras:number) F=attribute(edad:number)"
	if got := kinds(m); got != want {
		t.Fatalf("mapping\n got %s\nwant %s", got, want)
	}
	if got := guessType([]string{"05001", "11001"}); got != AttrText {
		t.Errorf("guessType(postal codes) = %s", got)
	}
	if got := guessType([]string{"0", "0.5", "12"}); got != AttrNumber {
		t.Errorf("guessType(numbers with a zero) = %s", got)
	}
	// Later rows keep their zero and their phone formatting.
	rec, errs, _ := newProcessor(m, "CO", Declaration{}, testNow).process(Row{Num: 30, Cells: []string{"3001234569", "(601) 234-5678", "05001", "+57 320 123 4567", "7", "50"}})
	if len(errs) > 0 {
		t.Fatalf("errors %+v", errs)
	}
	for _, s := range []string{`"codigo_postal":"05001"`, `"telefono_2":"(601) 234-5678"`, `"contacto_de_emergencia":"+57 320 123 4567"`} {
		if !strings.Contains(string(rec.attrs), s) {
			t.Errorf("attributes %s lack %s", rec.attrs, s)
		}
	}
}

func TestValidateIndexes(t *testing.T) {
	t.Parallel()
	col := func(i int, k Kind) Column { return Column{Index: i, Kind: k} }
	tests := []struct {
		name  string
		m     Mapping
		width int
		want  string
	}{
		{"Negative", Mapping{Columns: []Column{col(0, KindPhone), col(-1, KindName)}}, 0, "índice de columna -1 inválido"},
		{"Huge", Mapping{Columns: []Column{col(1<<40, KindPhone)}}, 0, "inválido (una hoja tiene como máximo 16384 columnas)"},
		{"Duplicate", Mapping{Columns: []Column{col(0, KindPhone), col(0, KindName)}}, 0, "la columna A está más de una vez"},
		{"PastTheFile", Mapping{Columns: []Column{col(0, KindPhone), col(5, KindName)}}, 3, "la columna F no existe: el archivo tiene 3 columnas (A a C)"},
	}
	for _, tt := range tests {
		err := tt.m.ValidateFor(tt.width)
		requireFileError(t, err, ErrCodeBadMapping, tt.want)
	}
	if err := (Mapping{Columns: []Column{col(0, KindPhone), col(5, KindName)}}).ValidateFor(6); err != nil {
		t.Errorf("valid mapping: %v", err)
	}

	t.Run("RunRejectsBadIndexes", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		path := writeFile(t, "f.csv", []byte("Celular,Nombre\n3001234567,Ana\n"))
		for _, tt := range []struct {
			cols []Column
			want string
		}{
			{[]Column{col(0, KindPhone), col(1<<40, KindName)}, "una hoja tiene como máximo 16384 columnas"},
			{[]Column{col(0, KindPhone), {Index: 0, Kind: KindAttribute, Key: "otro", Type: AttrText}}, "está más de una vez"},
		} {
			_, err := Run(context.Background(), b.pool, Params{WorkspaceID: b.ws.ID, Path: path, Mapping: &Mapping{Columns: tt.cols}}, nil)
			requireFileError(t, err, ErrCodeBadMapping, tt.want)
		}
		if n := b.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, b.ws.ID); n != 0 {
			t.Errorf("%d contacts imported with a bad mapping", n)
		}
	})
}

func TestParseMapSpecStrict(t *testing.T) {
	t.Parallel()
	base := GuessMapping([]string{"Nombre", "Celular", "Ciudad"}, [][]string{{"Ana", "3001234567", "Cali"}}, "CO")
	tests := []struct{ spec, want string }{
		{"phone=B,phone=C", `"phone=B" y "phone=C": solo puede haber una columna phone`},
		{"name=A,phone=A", `"name=A" y "phone=A" usan la misma columna A`},
		{"phone=Tel", `"phone=Tel": no hay una columna "Tel"; el archivo tiene las columnas A (Nombre), B (Celular), C (Ciudad)`},
	}
	for _, tt := range tests {
		_, err := ParseMapSpec(tt.spec, base)
		requireFileError(t, err, ErrCodeBadMapping, tt.want)
	}
	// A header names its column.
	m, err := ParseMapSpec("phone=celular,ciudad=Ciudad:text", base)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(m), "A=name B=phone C=attribute(ciudad:text)"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestPreviewWarnsOfMonthFirstDates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, err := PreviewFile(ctx, writeFile(t, "f.csv", []byte("Celular;Fecha de consentimiento\n3001234567;12/31/2023\n3001234568;01/02/2024\n3001234569;03/04/2024\n")), "", Options{}, "CO", 0)
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(p.Warnings, " ")
	for _, s := range []string{`la columna B ("Fecha de consentimiento") parece tener las fechas con el mes primero (mm/dd/aaaa)`, `"12/31/2023"`, `"01/02/2024" se leería mal`} {
		if !strings.Contains(w, s) {
			t.Errorf("warnings %q lack %q", p.Warnings, s)
		}
	}
	// Day first: nothing to say.
	p, err = PreviewFile(ctx, writeFile(t, "f.csv", []byte("Celular;Fecha de consentimiento\n3001234567;31/12/2023\n3001234568;01/02/2024\n")), "", Options{}, "CO", 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(p.Warnings, " "), "mes primero") {
		t.Errorf("day-first dates warned about: %q", p.Warnings)
	}
}
