package importers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

func TestXLSX(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("SpanishHeadersInRow3AndNumericPhones", func(t *testing.T) {
		t.Parallel()
		path := writeXLSX(t, [][]any{
			{"Clientes Tienda Chapinero"},
			{},
			{"Nombre", "Apellido", "Celular", "Correo electrónico", "Ciudad", "Acepta WhatsApp", "Fecha de consentimiento"},
			{"Ana", "Peña", 573001234567, "ana@example.com", "Bogotá", "Sí", 45292},
			{"Luis", "Gómez", 3109876543, "", "Medellín", "no", ""},
		}, func(f *excelize.File) {
			// A scientific number format: formatted values would read 5.73E+11.
			st, _ := f.NewStyle(&excelize.Style{NumFmt: 11})
			f.SetCellStyle("Sheet1", "C4", "C5", st)
		})
		p, err := PreviewFile(ctx, path, FormatXLSX, Options{}, "CO", 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.HeaderRow != 3 || len(p.Rows) != 2 || p.Rows[0].Row != 4 {
			t.Fatalf("header row %d, rows %+v", p.HeaderRow, p.Rows)
		}
		if got := p.Rows[0].Cells[2]; got != "573001234567" {
			t.Errorf("phone cell = %q, want the raw number", got)
		}
		want := "A=first_name B=last_name C=phone D=email E=attribute(ciudad:text) F=consent G=consent_date"
		if got := kinds(p.Mapping); got != want {
			t.Errorf("mapping\n got %s\nwant %s", got, want)
		}
		if p.Format != FormatXLSX || p.Sheet != "Sheet1" {
			t.Errorf("info %+v", p.Info)
		}
	})

	t.Run("FormulasGiveCachedValues", func(t *testing.T) {
		t.Parallel()
		path := writeRawXLSX(t, `<row r="1"><c r="A1" t="inlineStr"><is><t>Teléfono</t></is></c><c r="B1" t="inlineStr"><is><t>Total</t></is></c></row>`+
			`<row r="2"><c r="A2" t="str"><f>CONCATENATE("300","1234567")</f><v>3001234567</v></c><c r="B2"><f>1+2</f><v>3</v></c></row>`)
		_, rows := readAll(t, path, Options{})
		if len(rows) != 2 || !slices.Equal(rows[1].Cells, []string{"3001234567", "3"}) {
			t.Fatalf("rows = %+v", rows)
		}
	})

	t.Run("MergedCellsAreFilled", func(t *testing.T) {
		t.Parallel()
		path := writeXLSX(t, [][]any{
			{"Teléfono", "Ciudad"},
			{"3001234567", "Cali"},
			{"3001234568", nil},
			{"3001234569", nil},
		}, func(f *excelize.File) {
			if err := f.MergeCell("Sheet1", "B2", "B4"); err != nil {
				t.Fatal(err)
			}
		})
		_, rows := readAll(t, path, Options{})
		for _, r := range rows[1:] {
			if len(r.Cells) < 2 || r.Cells[1] != "Cali" {
				t.Errorf("row %d = %q, want the merged Cali", r.Num, r.Cells)
			}
		}
	})

	t.Run("HiddenSheetsListedAndFlagged", func(t *testing.T) {
		t.Parallel()
		path := writeXLSX(t, [][]any{{"Teléfono"}, {"3001234567"}}, func(f *excelize.File) {
			f.NewSheet("Oculta")
			f.SetCellValue("Oculta", "A1", "secreto")
			f.SetSheetVisible("Oculta", false)
			f.NewSheet("Visible 2")
		})
		info, _ := readAll(t, path, Options{})
		want := []Sheet{{"Sheet1", false}, {"Oculta", true}, {"Visible 2", false}}
		if !slices.Equal(info.Sheets, want) || info.Sheet != "Sheet1" {
			t.Fatalf("sheets %+v, reading %q", info.Sheets, info.Sheet)
		}
		if !strings.Contains(strings.Join(info.Notes, " "), `"Oculta" está oculta`) {
			t.Errorf("notes %q", info.Notes)
		}
		info, rows := readAll(t, path, Options{Sheet: "oculta"})
		if info.Sheet != "Oculta" || rows[0].Cells[0] != "secreto" {
			t.Errorf("hidden sheet chosen explicitly: %q %+v", info.Sheet, rows)
		}
		_, err := Open(path, FormatXLSX, Options{Sheet: "Nope"})
		requireFileError(t, err, ErrCodeSheetNotFound, `no existe la hoja "Nope"`)
	})

	t.Run("ThousandColumnsAnd50KBCell", func(t *testing.T) {
		t.Parallel()
		header := make([]any, 1000)
		row := make([]any, 1000)
		for i := range header {
			header[i] = fmt.Sprintf("campo %d", i)
			row[i] = i
		}
		header[700] = "WhatsApp"
		row[700] = "3001234567"
		header[3] = "Notas"
		row[3] = strings.Repeat("á", 25_000) // 50 KB
		path := writeXLSX(t, [][]any{header, row}, nil)
		p, err := PreviewFile(ctx, path, "", Options{}, "CO", 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.Mapping.Phone() != 700 || len(p.Mapping.Columns) != 1000 || len(p.Rows[0].Cells[3]) != 50_000 {
			t.Fatalf("phone column %d, %d columns, cell %d bytes", p.Mapping.Phone(), len(p.Mapping.Columns), len(p.Rows[0].Cells[3]))
		}
		// Only the first maxGuessedAttributes unknown columns become attributes.
		n := 0
		for _, c := range p.Mapping.Columns {
			if c.Kind == KindAttribute {
				n++
			}
		}
		if n != maxGuessedAttributes {
			t.Errorf("%d attribute columns, want %d", n, maxGuessedAttributes)
		}
		proc := newProcessor(p.Mapping, "CO", Declaration{}, testNow)
		_, errs, _ := proc.process(Row{Num: 2, Cells: p.Rows[0].Cells})
		if len(errs) != 1 || !strings.Contains(errs[0].Reason, "demasiado largo") || errs[0].Column != "Notas" {
			t.Errorf("errors of the 50 KB cell: %+v", errs)
		}
	})

	t.Run("CorruptedZip", func(t *testing.T) {
		t.Parallel()
		good, _ := os.ReadFile(writeXLSX(t, [][]any{{"Teléfono"}, {"3001234567"}}, nil))
		path := writeFile(t, "bad.xlsx", append(good[:len(good)/2:len(good)/2], bytes.Repeat([]byte{0xAB}, 300)...))
		_, err := Open(path, FormatXLSX, Options{})
		requireFileError(t, err, ErrCodeCorrupt, "dañado")
	})

	t.Run("CSVRenamedXLSXIsReadAsCSV", func(t *testing.T) {
		t.Parallel()
		path := writeFile(t, "lista.xlsx", []byte("telefono;nombre\n3001234567;Ana\n"))
		info, rows := readAll(t, path, Options{})
		if info.Format != FormatCSV || info.Separator != ";" || len(rows) != 2 {
			t.Fatalf("info %+v rows %+v", info, rows)
		}
		if !strings.Contains(strings.Join(info.Notes, " "), "se leyó como CSV") {
			t.Errorf("notes %q", info.Notes)
		}
	})

	t.Run("PasswordProtected", func(t *testing.T) {
		t.Parallel()
		f := excelize.NewFile()
		f.SetCellValue("Sheet1", "A1", "Teléfono")
		path := t.TempDir() + "/secreto.xlsx"
		if err := f.SaveAs(path, excelize.Options{Password: "clave"}); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path, FormatXLSX, Options{})
		requireFileError(t, err, ErrCodeEncrypted, "el libro está protegido con contraseña")
	})

	t.Run("OldXLS", func(t *testing.T) {
		t.Parallel()
		path := writeFile(t, "viejo.xls", append(slices.Clone(magicOLE), make([]byte, 600)...))
		_, err := Open(path, "", Options{})
		requireFileError(t, err, ErrCodeXLS, ".xls antiguo")
	})

	t.Run("ZipBomb", func(t *testing.T) {
		t.Parallel()
		// 4 MB of highly compressible XML against a 1 MB limit stands for the default 512 MB.
		var sd strings.Builder
		sd.WriteString(`<row r="1"><c r="A1" t="inlineStr"><is><t>`)
		sd.WriteString(strings.Repeat("0", 4<<20))
		sd.WriteString(`</t></is></c></row>`)
		path := writeRawXLSX(t, sd.String())
		if st, _ := os.Stat(path); st.Size() > 64<<10 {
			t.Fatalf("bomb is %d bytes compressed", st.Size())
		}
		_, err := Open(path, FormatXLSX, Options{UnzipSizeLimit: 1 << 20})
		requireFileError(t, err, ErrCodeTooLarge, "demasiado grande")
	})
}

func TestCSV(t *testing.T) {
	t.Parallel()
	text := "Teléfono;Nombre;Ciudad\n300 123 4567;Peña, Ana;Bogotá\n\"+57 (310) 987-6543\";\"Luis \"\"Lucho\"\"\";Medellín\n"
	win1252, _ := charmap.Windows1252.NewEncoder().String(strings.ReplaceAll(text, "Ciudad", "Ciudad €"))
	latin1, _ := charmap.ISO8859_1.NewEncoder().String(text)
	utf16, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String(strings.ReplaceAll(text, ";", "\t"))
	tests := []struct {
		name, data, enc, sep string
	}{
		{"UTF8", text, EncUTF8, ";"},
		{"UTF8BOM", "\xEF\xBB\xBF" + text, EncUTF8BOM, ";"},
		{"Windows1252", win1252, EncWindows1252, ";"},
		{"Latin1", latin1, EncLatin1, ";"},
		{"UTF16Tab", utf16, EncUTF16LE, "\t"},
		{"Comma", strings.ReplaceAll(strings.ReplaceAll(text, "Peña, Ana", `"Peña, Ana"`), ";", ","), EncUTF8, ","},
		{"TabNoTrailingNewline", strings.TrimSuffix(strings.ReplaceAll(text, ";", "\t"), "\n"), EncUTF8, "\t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			info, rows := readAll(t, writeFile(t, "f.csv", []byte(tt.data)), Options{})
			if info.Encoding != tt.enc || info.Separator != tt.sep {
				t.Fatalf("encoding %s separator %q, want %s %q", info.Encoding, info.Separator, tt.enc, tt.sep)
			}
			if len(rows) != 3 || info.RowsTotal != 3 {
				t.Fatalf("%d rows (total %d): %+v", len(rows), info.RowsTotal, rows)
			}
			if !strings.HasPrefix(rows[0].Cells[0], "Teléfono") || rows[1].Cells[1] != "Peña, Ana" || rows[2].Cells[1] != `Luis "Lucho"` || rows[2].Cells[2] != "Medellín" {
				t.Errorf("rows = %+v", rows)
			}
			if rows[2].Num != 3 {
				t.Errorf("row numbers %d", rows[2].Num)
			}
		})
	}

	t.Run("LazyQuotesAndBlankLines", func(t *testing.T) {
		t.Parallel()
		_, rows := readAll(t, writeFile(t, "f.csv", []byte("tel,nombre\n\n3001234567,Ana \"la jefa\" Ruiz\n")), Options{})
		if len(rows) != 2 || rows[1].Num != 3 || rows[1].Cells[1] != `Ana "la jefa" Ruiz` {
			t.Fatalf("rows = %+v", rows)
		}
	})

	t.Run("EmptyFile", func(t *testing.T) {
		t.Parallel()
		_, err := Open(writeFile(t, "vacio.csv", nil), "", Options{})
		requireFileError(t, err, ErrCodeEmpty, "vacío")
		_, err = Open(writeFile(t, "vacio.xlsx", nil), FormatXLSX, Options{})
		requireFileError(t, err, ErrCodeEmpty, "vacío")
		_, err = PreviewFile(context.Background(), writeFile(t, "blancos.csv", []byte("\n\n\n")), "", Options{}, "CO", 0)
		requireFileError(t, err, ErrCodeNoRows, "no tiene filas")
	})

	t.Run("Binary", func(t *testing.T) {
		t.Parallel()
		_, err := Open(writeFile(t, "x.csv", []byte("ab\x00\x01\x02cd")), "", Options{})
		requireFileError(t, err, ErrCodeNotText, "no es una hoja de cálculo")
	})

	t.Run("NotASpreadsheetIsRefused", func(t *testing.T) {
		t.Parallel()
		// A PDF whose first kilobyte is text: it used to reach the mapping page as a CSV.
		pdf := "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" + strings.Repeat("2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n", 40)
		for _, tt := range []struct {
			name, data, code, want string
		}{
			{"informe.pdf", pdf, ErrCodeUnsupported, "(el archivo es un PDF)"},
			{"clientes.xlsx", pdf, ErrCodeUnsupported, "(el archivo es un PDF)"},
			{"foto.png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ErrCodeUnsupported, "imagen PNG"},
			{"foto.csv", "\xFF\xD8\xFF\xE0\x00\x10JFIF", ErrCodeUnsupported, "imagen JPEG"},
			{"IMG_0001.xlsx", "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", ErrCodeUnsupported, "HEIC"},
			{"clientes.xlsx", "abc" + strings.Repeat("x", 900) + "\x00\x01", ErrCodeNotText, "contiene datos binarios"},
			{"clientes.xlsx", strings.Repeat("\x01\x02\x03\x04\x05\xAB\xCD", 100), ErrCodeNotText, "contiene datos binarios"},
		} {
			path := writeFile(t, tt.name, []byte(tt.data))
			_, err := Open(path, FormatFromName(tt.name), Options{})
			requireFileError(t, err, tt.code, "formato no soportado: suba un archivo XLSX o CSV")
			requireFileError(t, err, tt.code, tt.want)
			_, err = PreviewFile(context.Background(), path, FormatFromName(tt.name), Options{}, "CO", 0)
			requireFileError(t, err, tt.code, tt.want)
		}
		// An old .xls says so; a CSV renamed .xlsx is still read as a CSV.
		_, err := Open(writeFile(t, "viejo.xlsx", append(slices.Clone(magicOLE), make([]byte, 600)...)), FormatXLSX, Options{})
		requireFileError(t, err, ErrCodeXLS, "formato .xls antiguo")
		if _, rows := readAll(t, writeFile(t, "c.xlsx", []byte("tel;nombre\n3001234567;Peña\n")), Options{}); len(rows) != 2 {
			t.Errorf("CSV renamed .xlsx: %v", rows)
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		data := strings.Repeat("3001234567,Ana\n", 5000)
		src, err := Open(writeFile(t, "f.csv", []byte(data)), "", Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var got error
		for _, err := range src.Rows(ctx) {
			if err != nil {
				got = err
			}
		}
		if !errors.Is(got, context.Canceled) {
			t.Fatalf("err = %v", got)
		}
	})
}

func TestPreviewEdgeCases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	preview := func(t *testing.T, data string) Preview {
		t.Helper()
		p, err := PreviewFile(ctx, writeFile(t, "f.csv", []byte(data)), "", Options{}, "CO", 0)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("OnlyHeaders", func(t *testing.T) {
		t.Parallel()
		p := preview(t, "Teléfono,Nombre\n")
		if p.HeaderRow != 1 || len(p.Rows) != 0 || !strings.Contains(strings.Join(p.Warnings, " "), "solo tiene encabezados") {
			t.Fatalf("%+v", p)
		}
	})
	t.Run("DuplicateHeaders", func(t *testing.T) {
		t.Parallel()
		p := preview(t, "Teléfono,Ciudad,Teléfono,ciudad\n3001234567,Cali,3001234568,Cali\n")
		if got, want := kinds(p.Mapping), "A=phone B=attribute(ciudad:text) C=attribute(telefono:text) D=attribute(ciudad_2:text)"; got != want {
			t.Errorf("mapping\n got %s\nwant %s", got, want)
		}
		if !strings.Contains(strings.Join(p.Warnings, " "), `"Teléfono" está repetido`) {
			t.Errorf("warnings %q", p.Warnings)
		}
		if err := p.Mapping.Validate(); err != nil {
			t.Error(err)
		}
	})
	t.Run("NoPhoneColumn", func(t *testing.T) {
		t.Parallel()
		p := preview(t, "Nombre,Ciudad\nAna,Cali\n")
		if p.Mapping.Phone() != -1 || !strings.Contains(strings.Join(p.Warnings, " "), "no se encontró la columna de teléfono") {
			t.Fatalf("%+v", p)
		}
		requireFileError(t, p.Mapping.Validate(), ErrCodeNoPhoneColumn, "no hay columna de teléfono")
	})
	t.Run("PhoneFoundByContent", func(t *testing.T) {
		t.Parallel()
		p := preview(t, "Cliente,Contacto\nAna,300 123 4567\nLuis,310 987 6543\n")
		if p.Mapping.Phone() != 1 || p.Mapping.Columns[0].Kind != KindName {
			t.Fatalf("mapping %s", kinds(p.Mapping))
		}
	})
	t.Run("NoHeaderRow", func(t *testing.T) {
		t.Parallel()
		p := preview(t, "3001234567,Ana\n3109876543,Luis\n")
		if p.HeaderRow != 0 || len(p.Rows) != 2 || p.Mapping.Phone() != 0 {
			t.Fatalf("%+v", p)
		}
	})
}

func TestGuessKind(t *testing.T) {
	t.Parallel()
	tests := map[string]Kind{
		"Teléfono": KindPhone, "TELEFONO": KindPhone, "Celular": KindPhone, "Móvil": KindPhone, "WhatsApp": KindPhone,
		"Número": KindPhone, "Phone": KindPhone, "Fone": KindPhone, "Telefone celular": KindPhone, "Número de documento": "",
		"Nombre": KindName, "Nome": KindName, "Name": KindName, "Nombre completo": KindName, "Apellidos": KindLastName,
		"Sobrenome": KindLastName, "Primer nombre": KindFirstName, "Correo": KindEmail, "E-mail": KindEmail, "Email": KindEmail,
		"Etiquetas": KindTags, "Tags": KindTags, "Acepta": KindConsent, "¿Acepta recibir WhatsApp?": KindConsent,
		"Consentimiento": KindConsent, "Opt-in": KindConsent, "Autoriza tratamiento de datos": KindConsent,
		"Fecha de consentimiento": KindConsentDate, "Data do consentimento": KindConsentDate, "Origen": KindConsentSource,
		"Fuente": KindConsentSource, "Origen del consentimiento": KindConsentSource, "Ciudad": "", "Cidade": "", "City": "",
		"Idioma": KindLanguage, "Empresa": "", "Nombre de la empresa": "",
	}
	for h, want := range tests {
		if got := guessKind(h); got != want {
			t.Errorf("guessKind(%q) = %q, want %q", h, got, want)
		}
	}
}

func TestParseMapSpec(t *testing.T) {
	t.Parallel()
	base := GuessMapping([]string{"Nombre", "Tel", "Otro tel", "Ciudad", "X"}, [][]string{{"Ana", "3001234567", "3109876543", "Cali", "1"}}, "CO")
	m, err := ParseMapSpec("phone=C,name=A,ciudad=D:text,E=ignore,tags=F", base)
	if err != nil {
		t.Fatal(err)
	}
	want := "A=name B=attribute(tel:text) C=phone D=attribute(ciudad:text) E=ignore F=tags"
	if got := kinds(m); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := ParseMapSpec("phone", base); err == nil {
		t.Error("bad spec accepted")
	}
	if _, err := ParseMapSpec("E=ignore,B=ignore,C=ignore", base); err == nil {
		t.Error("mapping without phone accepted")
	}
}
