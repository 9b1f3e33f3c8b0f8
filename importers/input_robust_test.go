package importers

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// runFile imports data (written as name) into b's workspace.
func runFile(t *testing.T, b runBundle, name string, data []byte, p Params) (Result, error) {
	t.Helper()
	p.WorkspaceID = b.ws.ID
	p.Path = writeFile(t, name, data)
	return Run(context.Background(), b.pool, p, nil)
}

// importErrors is the import's error report: "row|column|reason" lines in row order.
func importErrors(t *testing.T, b runBundle, importID int64) []string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(),
		`SELECT row_number, column_name, reason FROM import_errors WHERE import_id = $1 ORDER BY row_number, column_name`, importID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			row            int
			column, reason string
		)
		if err := rows.Scan(&row, &column, &reason); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{strconv.Itoa(row), column, reason}, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRunCleansTextTheDatabaseRefuses(t *testing.T) {
	t.Parallel()

	// Excel writes a NUL in a cell as _x0000_: the header's and the value's are dropped, and
	// the rows import (the COPY used to fail with 22021 and the job retried it three times).
	t.Run("StripsNULFromXLSXCells", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		path := writeRawXLSX(t, `<row r="1"><c r="A1" t="inlineStr"><is><t>Nombre</t></is></c><c r="B1" t="inlineStr"><is><t>Celular</t></is></c><c r="C1" t="inlineStr"><is><t>Ciudad_x0000_</t></is></c></row>`+
			`<row r="2"><c r="A2" t="inlineStr"><is><t>Ana_x0000_</t></is></c><c r="B2"><v>3001234567</v></c><c r="C2" t="inlineStr"><is><t>Cali</t></is></c></row>`+
			`<row r="3"><c r="A3" t="inlineStr"><is><t>Luis</t></is></c><c r="B3"><v>3109876543</v></c><c r="C3" t="inlineStr"><is><t>Bo_x0000_gotá</t></is></c></row>`)
		res, err := Run(context.Background(), b.pool, Params{WorkspaceID: b.ws.ID, Path: path}, nil)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if res.Inserted != 2 || res.Rejected != 0 {
			t.Fatalf("inserted %d rejected %d, want 2 and 0", res.Inserted, res.Rejected)
		}
		cs := b.contacts(t)
		if ana, luis := cs["+573001234567"], cs["+573109876543"]; ana.Name != "Ana" || ana.Attributes["ciudad"] != "Cali" || luis.Attributes["ciudad"] != "Bogotá" {
			t.Errorf("Ana %q %v, Luis %v", ana.Name, ana.Attributes, luis.Attributes)
		}
	})

	// A file declared UTF-8 by its BOM with a byte that is not: the row is rejected with a
	// reason the marketer understands, the others import.
	t.Run("RejectsRowWithInvalidUTF8", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		res, err := runFile(t, b, "c.csv", []byte("\xEF\xBB\xBFNombre;Celular\nPe\xf1a;3001234567\nLuis;3109876543\n"), Params{})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if res.Inserted != 1 || res.Rejected != 1 {
			t.Fatalf("inserted %d rejected %d, want 1 and 1", res.Inserted, res.Rejected)
		}
		errs := importErrors(t, b, res.ImportID)
		if len(errs) != 1 || !strings.HasPrefix(errs[0], "2|Nombre|") || !strings.Contains(errs[0], "no son texto válido") {
			t.Errorf("errors %q", errs)
		}
	})

	// A value Postgres refuses anyway is a FileError (it is in the file: a retry reads it
	// again), never a bare database error.
	t.Run("ValueTheDatabaseRefusesIsAFileError", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		ancient := time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC) // before timestamptz's range
		_, err := runFile(t, b, "c.csv", []byte("Nombre;Celular\nAna;3001234567\n"),
			Params{Consent: Declaration{Declared: true, Source: "tienda", At: &ancient}})
		requireFileError(t, err, ErrCodeBadValue, "no se puede guardar")
		if n := b.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, b.ws.ID); n != 0 {
			t.Errorf("%d contacts imported", n)
		}
	})
}

func TestCSVEncodingOverrideMustFit(t *testing.T) {
	t.Parallel()
	// A Windows-1252 file confirmed as UTF-8: refused up front, naming the likely encoding.
	path := writeFile(t, "l.csv", []byte("Nombre;Celular\nPe\xf1a;3001234567\nLuis;3109876543\n"))
	_, err := Open(path, FormatCSV, Options{Encoding: "utf-8"})
	requireFileError(t, err, ErrCodeEncoding, "no está en UTF-8 (parece iso-8859-1)")
	_, err = Open(path, FormatCSV, Options{Encoding: "UTF-8"})
	requireFileError(t, err, ErrCodeEncoding, "no está en UTF-8")

	// A UTF-8 file with a BOM confirmed as plain utf-8: the BOM is not read as the first header.
	info, rows := readAll(t, writeFile(t, "u.csv", []byte("\xEF\xBB\xBFNombre;Celular\nPeña;3001234567\n")), Options{Encoding: "utf-8"})
	if info.Encoding != EncUTF8 || rows[0].Cells[0] != "Nombre" || rows[1].Cells[0] != "Peña" {
		t.Errorf("encoding %s rows %v", info.Encoding, rows)
	}
}

func TestCSVMacRoman(t *testing.T) {
	t.Parallel()
	// Excel for Mac's "CSV (Macintosh)": bare \r line ends, Mac Roman (é 0x8E, ñ 0x96, á 0x87).
	mac := []byte("Nombre,Celular,Ciudad\rJos\x8E Pe\x96a,3001234567,Bogot\x87\rJo\x8Bo,3109876543,S\x8Bo Paulo\r")

	t.Run("Detected", func(t *testing.T) {
		t.Parallel()
		info, rows := readAll(t, writeFile(t, "mac.csv", mac), Options{})
		if info.Encoding != EncMacintosh || len(rows) != 3 {
			t.Fatalf("encoding %s, %d rows", info.Encoding, len(rows))
		}
		if got := strings.Join(rows[1].Cells, "|"); got != "José Peña|3001234567|Bogotá" {
			t.Errorf("row 2 = %q", got)
		}
		if got := rows[2].Cells[0]; got != "João" {
			t.Errorf("row 3 name = %q", got)
		}
	})
	t.Run("Override", func(t *testing.T) {
		t.Parallel()
		// The same bytes with \n line ends read as Windows-1252 unless the user says macintosh.
		lf := []byte(strings.ReplaceAll(string(mac), "\r", "\n"))
		info, rows := readAll(t, writeFile(t, "mac.csv", lf), Options{Encoding: "macintosh"})
		if info.Encoding != EncMacintosh || rows[1].Cells[0] != "José Peña" {
			t.Errorf("encoding %s row 2 %q", info.Encoding, rows[1].Cells)
		}
	})
	t.Run("Imports", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		res, err := runFile(t, b, "mac.csv", mac, Params{})
		if err != nil {
			t.Fatal(err)
		}
		if c := b.contacts(t)["+573001234567"]; res.Info.Encoding != EncMacintosh || c.Name != "José Peña" || c.Attributes["ciudad"] != "Bogotá" {
			t.Errorf("encoding %s, contact %q %v", res.Info.Encoding, c.Name, c.Attributes)
		}
	})
}

func TestRunNumberAttributeKeepsEveryDigit(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	// The column is a number by the user's choice: a 22-digit CBU would come back with other
	// last digits; the row is rejected saying so. Numbers a float holds exactly import.
	data := []byte("Nombre;Celular;Cuenta\n" +
		"Ana;3001234567;2850590940090418135201\n" +
		"Luis;3109876543;1234567890123456\n" +
		"Eva;3005556677;1.234.567,50\n" +
		"Paz;3001112233;1000000000000000000000\n")
	res, err := runFile(t, b, "c.csv", data, Params{MapSpec: "cuenta=C:number"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 3 || res.Rejected != 1 {
		t.Fatalf("inserted %d rejected %d, want 3 and 1", res.Inserted, res.Rejected)
	}
	errs := importErrors(t, b, res.ImportID)
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "2|Cuenta|número de 22 cifras") || !strings.Contains(errs[0], "como texto") {
		t.Errorf("errors %q", errs)
	}
	cs := b.contacts(t)
	for phone, want := range map[string]float64{"+573109876543": 1234567890123456, "+573005556677": 1234567.5, "+573001112233": 1e21} {
		if got := cs[phone].Attributes["cuenta"]; got != want {
			t.Errorf("%s cuenta = %v, want %v", phone, got, want)
		}
	}
}

func TestRunRefusesDeclaredConsentInTheFuture(t *testing.T) {
	t.Parallel()
	b := setupRun(t)
	at := time.Now().AddDate(5, 0, 0)
	_, err := runFile(t, b, "c.csv", []byte("Nombre;Celular\nAna;3001234567\n"), Params{Consent: Declaration{Declared: true, Source: "tienda", At: &at}})
	requireFileError(t, err, ErrCodeBadConsent, "en el futuro")
	if n := b.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, b.ws.ID); n != 0 {
		t.Errorf("%d contacts imported", n)
	}
	// A date of a moment ago is fine.
	at = time.Now().Add(-time.Minute)
	if _, err := runFile(t, b, "c.csv", []byte("Nombre;Celular\nAna;3001234567\n"), Params{Consent: Declaration{Declared: true, Source: "tienda", At: &at}}); err != nil {
		t.Fatal(err)
	}
}

func TestRunHeaderOnlyFile(t *testing.T) {
	t.Parallel()
	for name, data := range map[string]string{
		"HeaderOnly":      "Nombre;Celular;Correo\n",
		"HeaderAndBlanks": "Nombre;Celular;Correo\n;;\n ; ;\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupRun(t)
			_, err := runFile(t, b, "h.csv", []byte(data), Params{})
			requireFileError(t, err, ErrCodeNoRows, "solo tiene encabezados")
			if n := b.count(t, `SELECT count(*) FROM imports WHERE workspace_id = $1 AND status = 'completed'`, b.ws.ID); n != 0 {
				t.Errorf("%d completed imports", n)
			}
		})
	}
}

// without_consent counts the file's contacts that are not marketable once the import is done,
// whatever the rows said: a re-import of consented contacts without a consent column leaves
// them marketable; a "sí" for an opted-out contact leaves it not marketable.
func TestRunCountsWithoutConsentFromContacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	notMarketable := func(t *testing.T, b runBundle) int64 {
		return int64(b.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1 AND (consent_at IS NULL OR opted_out_at IS NOT NULL)`, b.ws.ID))
	}
	// Ana and Luis with consent, Eva without, Paz with consent and then opted out.
	seed := func(t *testing.T) runBundle {
		b := setupRun(t)
		if _, err := runFile(t, b, "a.csv", []byte("Nombre;Celular;Acepta\nAna;3001234567;sí\nLuis;3109876543;sí\nEva;3005556677;no\nPaz;3001112233;sí\n"), Params{}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.pool.Exec(ctx, `UPDATE contacts SET opted_out_at = now(), opt_out_source = 'keyword' WHERE workspace_id = $1 AND phone_e164 = '+573001112233'`, b.ws.ID); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, mode := range []Mode{store.ImportModeUpdate, store.ImportModeMergeTags, store.ImportModeAdd} {
		t.Run("ReimportNoConsentColumn/"+string(mode), func(t *testing.T) {
			t.Parallel()
			b := seed(t)
			// No consent column; plus a new contact (without consent).
			res, err := runFile(t, b, "b.csv", []byte("Nombre;Celular;Etiquetas\nAna;3001234567;vip\nLuis;3109876543;vip\nEva;3005556677;vip\nPaz;3001112233;vip\nNoa;3007778899;vip\n"),
				Params{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			// Eva (no consent), Paz (opted out), Noa (new, no consent).
			if res.WithoutConsent != 3 || notMarketable(t, b) != 3 {
				t.Errorf("without_consent %d, want 3 (contacts not marketable: %d)", res.WithoutConsent, notMarketable(t, b))
			}
		})
	}
	t.Run("YesForOptedOutAndNoConsentYet", func(t *testing.T) {
		t.Parallel()
		b := seed(t)
		// Paz says sí but opted out: still not marketable. Eva says sí now: marketable.
		res, err := runFile(t, b, "b.csv", []byte("Nombre;Celular;Acepta\nEva;3005556677;sí\nPaz;3001112233;sí\nNoa;3007778899;sí\nLía;3002223344;no\n"), Params{})
		if err != nil {
			t.Fatal(err)
		}
		// Paz and Lía.
		if res.WithoutConsent != 2 || notMarketable(t, b) != 2 {
			t.Errorf("without_consent %d, want 2 (contacts not marketable: %d)", res.WithoutConsent, notMarketable(t, b))
		}
	})
}

// The chunk that meets contacts created while the import runs goes through the staging merge;
// the count follows what the merge did: an opted-out contact's "sí" leaves it not marketable.
// (Not parallel: it sets a package hook.)
func TestRunCountsWithoutConsentAfterConcurrentInsert(t *testing.T) {
	ctx := context.Background()
	b := setupRun(t)
	testHookPhonesLoaded = func() {
		if _, err := b.pool.Exec(ctx, `INSERT INTO contacts (workspace_id, phone_e164, country, name, opted_out_at, opt_out_source)
			VALUES ($1, '+573003333333', 'CO', 'Otro', NULL, ''), ($1, '+573004444444', 'CO', 'Baja', now(), 'keyword')`, b.ws.ID); err != nil {
			t.Error(err)
		}
	}
	defer func() { testHookPhonesLoaded = nil }()
	res, err := runFile(t, b, "lista.csv", []byte("Celular;Nombre;Acepta\n"+
		"3001111111;Uno;sí\n3002222222;Dos;no\n3003333333;Tres;sí\n3004444444;Cuatro;sí\n"), Params{})
	if err != nil {
		t.Fatal(err)
	}
	// Dos (no) and Cuatro (opted out); Tres gets its consent from this file.
	nm := b.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1 AND (consent_at IS NULL OR opted_out_at IS NOT NULL)`, b.ws.ID)
	if res.Inserted != 2 || res.Updated != 2 || res.WithoutConsent != 2 || nm != 2 {
		t.Errorf("inserted %d updated %d without_consent %d, want 2, 2, 2 (contacts not marketable: %d)", res.Inserted, res.Updated, res.WithoutConsent, nm)
	}
}
