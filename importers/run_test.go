package importers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

type runBundle struct {
	pool *pgxpool.Pool
	ws   store.Workspace
}

func setupRun(t *testing.T) runBundle {
	t.Helper()
	pool := pgtest.NewDB(t)
	ws, err := store.WorkspaceCreate(context.Background(), pool, store.WorkspaceCreateParams{Name: "Tienda", DefaultCountry: "CO"})
	if err != nil {
		t.Fatal(err)
	}
	return runBundle{pool: pool, ws: ws}
}

type contactRow struct {
	Phone, Name, Email, Country string
	Tags                        []string
	Attributes                  map[string]any
	ConsentAt                   *time.Time
	ConsentSource               string
	Evidence                    map[string]any
	OptedOut                    bool
}

func (b runBundle) contacts(t *testing.T) map[string]contactRow {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT phone_e164, name, email, country, tags, attributes, consent_at,
		consent_source, consent_evidence, opted_out_at IS NOT NULL FROM contacts WHERE workspace_id = $1`, b.ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]contactRow{}
	for rows.Next() {
		var c contactRow
		if err := rows.Scan(&c.Phone, &c.Name, &c.Email, &c.Country, &c.Tags, &c.Attributes, &c.ConsentAt, &c.ConsentSource, &c.Evidence, &c.OptedOut); err != nil {
			t.Fatal(err)
		}
		out[c.Phone] = c
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	return out
}

func (b runBundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ImportsCSVWithErrorsDuplicatesAndConsent", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		path := writeFile(t, "clientes.csv", []byte(
			"Lista de clientes\n"+
				"\n"+
				"Nombre;Celular;Correo;Etiquetas;Acepta WhatsApp;Fecha de consentimiento;Ciudad\n"+
				"Ana Peña;300 123 4567;ana@x.co;vip, norte;sí;15/03/2024;Bogotá\n"+
				"Luis;+57 (310) 987-6543;;;no;;Cali\n"+
				"Sin número;;;;;;\n"+
				"Fijo;601 2345678;;;sí;;\n"+
				"Ana otra vez;3001234567;;;;;\n"+
				"Mexicana;+52 1 33 1234 5678;;;sí;;\n"+
				"Mala fecha;3151112233;;;sí;13/13/2024;\n"+
				";;;;;;\n"))
		var progressed atomic.Int32
		res, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path, Consent: Declaration{Text: "Acepto recibir ofertas v2"},
			ChunkSize: 2},
			func(p Progress) { progressed.Add(1) })
		if err != nil {
			t.Fatal(err)
		}
		if res.HeaderRow != 3 || res.RowsRead != 7 || res.Inserted != 3 || res.Updated != 0 || res.Rejected != 3 ||
			res.Duplicates != 1 || res.WithoutConsent != 1 || res.ErrorsStored != 4 {
			t.Fatalf("result %+v", res)
		}
		if progressed.Load() == 0 {
			t.Error("no progress reported")
		}
		cs := b.contacts(t)
		ana := cs["+573001234567"]
		if ana.Name != "Ana Peña" || ana.Email != "ana@x.co" || ana.Country != "CO" || strings.Join(ana.Tags, ",") != "vip,norte" ||
			ana.Attributes["ciudad"] != "Bogotá" || ana.ConsentAt == nil || ana.ConsentAt.Format(time.DateOnly) != "2024-03-15" ||
			ana.ConsentSource != "import" {
			t.Errorf("Ana = %+v", ana)
		}
		if ana.Evidence["import_id"] != float64(res.ImportID) || ana.Evidence["row"] != float64(4) || len(ana.Evidence["file_sha256"].(string)) != 64 {
			t.Errorf("evidence %v", ana.Evidence)
		}
		if cs["+573109876543"].ConsentAt != nil {
			t.Error("Luis said no and got consent")
		}
		if _, ok := cs["+523312345678"]; !ok {
			t.Errorf("Mexican number not normalised: %v", cs)
		}
		if n := b.count(t, `SELECT count(*) FROM consent_events WHERE workspace_id = $1 AND kind = 'opt_in' AND consent_text = 'Acepto recibir ofertas v2'`, b.ws.ID); n != 2 {
			t.Errorf("%d opt_in events, want 2", n)
		}
		imp, err := store.ImportGetByID(ctx, b.pool, b.ws.ID, res.ImportID)
		if err != nil {
			t.Fatal(err)
		}
		if imp.Status != store.ImportCompleted || imp.Inserted != 3 || imp.Rejected != 3 || imp.Duplicates != 1 || imp.WithoutConsent != 1 ||
			imp.Encoding != EncUTF8 || imp.Separator != ";" || imp.HeaderRow != 3 {
			t.Errorf("import row %+v", imp)
		}
		errs, err := store.ImportErrorList(ctx, b.pool, b.ws.ID, res.ImportID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range errs {
			got = append(got, fmt.Sprintf("%d %s %s", e.Row, e.Column, e.Reason))
		}
		want := []string{
			"6 Celular vacío",
			"7 Celular número fijo (no es celular)",
			"8 Celular número repetido: ya está en la fila 4",
			"10 Fecha de consentimiento fecha inválida (use dd/mm/aaaa o aaaa-mm-dd)",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if errs[1].Raw[0] != "Fijo" || len(errs[1].Raw) != 7 {
			t.Errorf("raw row %q", errs[1].Raw)
		}
	})

	t.Run("Modes", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		first := writeFile(t, "a.csv", []byte("telefono,nombre,etiquetas,ciudad\n3001234567,Ana,vip,Cali\n3109876543,Luis,,Bogotá\n"))
		if _, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: first}, nil); err != nil {
			t.Fatal(err)
		}
		// Luis opts out; later files declare consent for everyone.
		if _, err := b.pool.Exec(ctx, `UPDATE contacts SET opted_out_at = now(), opt_out_source = 'keyword' WHERE phone_e164 = '+573109876543'`); err != nil {
			t.Fatal(err)
		}
		second := writeFile(t, "b.csv", []byte("telefono,nombre,etiquetas,ciudad\n3001234567,Ana María,nuevo,Medellín\n3109876543,Luis F,nuevo,\n3205556677,Eva,,\n"))
		decl := Declaration{Declared: true, Source: "formulario", Text: "v3"}

		res, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: second, Mode: store.ImportModeAdd, Consent: decl}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Inserted != 1 || res.Updated != 0 || res.Unchanged != 2 {
			t.Fatalf("add: %+v", res)
		}
		cs := b.contacts(t)
		if cs["+573001234567"].Name != "Ana" || cs["+573001234567"].ConsentAt != nil || cs["+573205556677"].ConsentAt == nil {
			t.Fatalf("add mode touched existing contacts or missed consent: %+v", cs)
		}

		res, err = Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: second, Mode: store.ImportModeMergeTags, Consent: decl, ChunkSize: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cs = b.contacts(t)
		if res.Updated != 2 || cs["+573001234567"].Name != "Ana" || strings.Join(cs["+573001234567"].Tags, ",") != "vip,nuevo" {
			t.Fatalf("merge_tags: %+v %+v", res, cs["+573001234567"])
		}
		if cs["+573001234567"].ConsentAt == nil || cs["+573001234567"].ConsentSource != "formulario" {
			t.Errorf("declared consent not recorded on Ana: %+v", cs["+573001234567"])
		}
		luis := cs["+573109876543"]
		if !luis.OptedOut || luis.ConsentAt != nil {
			t.Errorf("import undid Luis's opt-out or gave him consent: %+v", luis)
		}

		res, err = Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: second, Mode: store.ImportModeUpdate}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cs = b.contacts(t)
		ana := cs["+573001234567"]
		if res.Updated != 2 || res.Unchanged != 1 || ana.Name != "Ana María" || ana.Attributes["ciudad"] != "Medellín" || cs["+573109876543"].Attributes["ciudad"] != "Bogotá" {
			t.Fatalf("update: %+v Ana %+v", res, ana)
		}
		if !cs["+573109876543"].OptedOut {
			t.Error("update undid an opt-out")
		}
		// The same file again changes nothing.
		res, err = Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: second, Mode: store.ImportModeUpdate}, nil)
		if err != nil || res.Updated != 0 || res.Unchanged != 3 {
			t.Fatalf("re-import: %+v %v", res, err)
		}
		if n := b.count(t, `SELECT count(*) FROM consent_events WHERE workspace_id = $1`, b.ws.ID); n != 2 {
			t.Errorf("%d consent events, want 2 (Eva, Ana)", n)
		}
	})

	t.Run("CancelledLeavesNothing", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		var sb strings.Builder
		sb.WriteString("telefono\n")
		for i := range 200_000 {
			fmt.Fprintf(&sb, "3%09d\n", 100000000+i)
		}
		path := writeFile(t, "big.csv", []byte(sb.String()))
		cctx, cancel := context.WithCancel(ctx)
		_, err := Run(cctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path, ProgressEvery: 5 * time.Millisecond}, func(p Progress) {
			if p.RowsRead > 0 {
				cancel()
			}
		})
		if !errors.Is(err, ErrImportCancelled) {
			t.Fatalf("err = %v", err)
		}
		if n := b.count(t, `SELECT count(*) FROM contacts`); n != 0 {
			t.Fatalf("%d contacts after a cancelled import", n)
		}
		if n := b.count(t, `SELECT count(*) FROM import_errors`); n != 0 {
			t.Fatalf("%d errors after a cancelled import", n)
		}
	})

	t.Run("CancelledByStatusLeavesNothing", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		imp, err := store.ImportCreate(ctx, b.pool, store.ImportCreateParams{WorkspaceID: b.ws.ID, Filename: "x.csv", Format: "csv",
			FileSHA256: "00", Status: store.ImportCancelled})
		if err != nil {
			t.Fatal(err)
		}
		path := writeFile(t, "x.csv", []byte("telefono\n3001234567\n"))
		if _, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, ImportID: imp.ID, Path: path}, nil); !errors.Is(err, ErrImportCancelled) {
			t.Fatalf("err = %v", err)
		}
		if n := b.count(t, `SELECT count(*) FROM contacts`); n != 0 {
			t.Fatalf("%d contacts", n)
		}
	})

	t.Run("BrokenFileLeavesNothing", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		// A valid header and rows, then the zip is cut: the sheet fails mid-way.
		rows := [][]any{{"Teléfono"}}
		for i := range 3000 {
			rows = append(rows, []any{fmt.Sprintf("3%09d", 100000000+i)})
		}
		path := writeXLSX(t, rows, nil)
		if _, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path, MapSpec: "nope"}, nil); err == nil {
			t.Fatal("bad map spec accepted")
		}
		if _, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: writeFile(t, "n.csv", []byte("nombre\nAna\n"))}, nil); err == nil {
			t.Fatal("file without phone column accepted")
		} else {
			requireFileError(t, err, ErrCodeNoPhoneColumn, "no hay columna de teléfono")
		}
		if n := b.count(t, `SELECT count(*) FROM contacts`); n != 0 {
			t.Fatalf("%d contacts", n)
		}
	})

	t.Run("DateOnlyConsentIsMidnightInWorkspaceTimeZone", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t) // America/Bogota, UTC−5
		path := writeFile(t, "c.csv", []byte("Celular;Fecha de consentimiento;Cumpleaños\n3001234567;04/10/2025;02/03/1990\n3001234568;2025-10-04 14:30;\n"))
		if _, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path}, nil); err != nil {
			t.Fatal(err)
		}
		bogota, _ := time.LoadLocation("America/Bogota")
		cs := b.contacts(t)
		if got, want := cs["+573001234567"].ConsentAt, time.Date(2025, 10, 4, 0, 0, 0, 0, bogota); got == nil || !got.Equal(want) {
			t.Errorf("consent_at = %v, want %v (04/10/2025 in the workspace's time zone)", got, want)
		}
		if got, want := cs["+573001234568"].ConsentAt, time.Date(2025, 10, 4, 14, 30, 0, 0, bogota); got == nil || !got.Equal(want) {
			t.Errorf("consent_at = %v, want %v", got, want)
		}
		if got := cs["+573001234567"].Attributes["cumpleanos"]; got != "1990-03-02" {
			t.Errorf("date attribute = %v, want a plain date", got)
		}

		// A time zone given in Params wins over the workspace's.
		other, _ := store.WorkspaceCreate(ctx, b.pool, store.WorkspaceCreateParams{Name: "Madrid", DefaultCountry: "CO", TimeZone: "Europe/Madrid"})
		if _, err := Run(ctx, b.pool, Params{WorkspaceID: other.ID, Path: path, TimeZone: "America/Mexico_City"}, nil); err != nil {
			t.Fatal(err)
		}
		var at time.Time
		if err := b.pool.QueryRow(ctx, `SELECT consent_at FROM contacts WHERE workspace_id = $1 AND phone_e164 = '+573001234567'`, other.ID).Scan(&at); err != nil {
			t.Fatal(err)
		}
		mx, _ := time.LoadLocation("America/Mexico_City")
		if want := time.Date(2025, 10, 4, 0, 0, 0, 0, mx); !at.Equal(want) {
			t.Errorf("consent_at = %v, want %v", at, want)
		}
	})

	t.Run("XLSXWithMapSpecAndWorkspaceIsolation", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		other, _ := store.WorkspaceCreate(ctx, b.pool, store.WorkspaceCreateParams{Name: "Otra", DefaultCountry: "MX"})
		path := writeXLSX(t, [][]any{{"A", "B", "C"}, {"Ana", 3312345678, "x"}}, nil)
		res, err := Run(ctx, b.pool, Params{WorkspaceID: other.ID, Path: path, MapSpec: "phone=B,name=A,C=ignore"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Inserted != 1 {
			t.Fatalf("%+v", res)
		}
		if n := b.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1 AND phone_e164 = '+523312345678' AND name = 'Ana'`, other.ID); n != 1 {
			t.Fatal("MX default country not used")
		}
		if len(b.contacts(t)) != 0 {
			t.Fatal("contacts leaked into another workspace")
		}
	})
}
