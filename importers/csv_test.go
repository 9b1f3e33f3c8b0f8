package importers

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pregon/pregon/store"
)

// readCSV reads a CSV file's rows up to the first error.
func readCSV(t *testing.T, data string) (Info, []Row, error) {
	t.Helper()
	src, err := Open(writeFile(t, "f.csv", []byte(data)), FormatCSV, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer src.Close()
	var rows []Row
	for r, err := range src.Rows(context.Background()) {
		if err != nil {
			return src.Info(), rows, err
		}
		rows = append(rows, r)
	}
	return src.Info(), rows, nil
}

func TestCSVQuotes(t *testing.T) {
	t.Parallel()

	t.Run("MisplacedQuoteIsAnErrorNotASwallowedFile", func(t *testing.T) {
		t.Parallel()
		_, rows, err := readCSV(t, "nombre,telefono\n\"La Negra\" Pérez,3001234567\nLuis,3109876543\nEva,3205556677\nJuan,3151112233\n")
		requireFileError(t, err, ErrCodeCorrupt, `CSV mal formado en la línea 2: comillas sin cerrar o mal puestas en «"La Negra" Pérez,3001234567»`)
		if len(rows) != 1 {
			t.Errorf("rows before the error: %+v", rows)
		}
	})

	t.Run("UnclosedQuoteIsAnError", func(t *testing.T) {
		t.Parallel()
		_, _, err := readCSV(t, "nombre,telefono\nAna,3001234567\n\"Luis,3109876543\nEva,3205556677\n")
		requireFileError(t, err, ErrCodeCorrupt, "línea 3: comillas sin cerrar o mal puestas")
	})

	t.Run("RunawayQuoteStopsAtTheBound", func(t *testing.T) {
		t.Parallel()
		data := "nombre,telefono\n\"Ana,3001234567\n" + strings.Repeat("Luis,3109876543\n", csvQuotedMax/16+1) + "\"\n"
		_, _, err := readCSV(t, data)
		requireFileError(t, err, ErrCodeCorrupt, "línea 2: comillas sin cerrar o mal puestas")
	})

	t.Run("LegitQuotedFieldsStillWork", func(t *testing.T) {
		t.Parallel()
		info, rows, err := readCSV(t, "nombre,dirección,telefono\n"+
			"\"Ana\",\"Calle 5\nApto 3\",3001234567\n"+
			"Luis Pérez \"Cacho\",\"Cra 7, 45\r\nPiso 2\",3109876543\r\n"+
			"\"Eva \"\"la jefa\"\"\" ,,\"3205556677\"\n"+
			"\"\",\"\",\n")
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{
			{"nombre", "dirección", "telefono"},
			{"Ana", "Calle 5\nApto 3", "3001234567"},
			{`Luis Pérez "Cacho"`, "Cra 7, 45\nPiso 2", "3109876543"},
			{`Eva "la jefa"`, "", "3205556677"},
			{"", "", ""},
		}
		if len(rows) != len(want) || info.Separator != "," {
			t.Fatalf("separator %q rows %+v", info.Separator, rows)
		}
		for i, r := range rows {
			if !slices.Equal(r.Cells, want[i]) {
				t.Errorf("row %d = %q, want %q", i, r.Cells, want[i])
			}
		}
		if nums := []int{rows[1].Num, rows[2].Num, rows[3].Num}; !slices.Equal(nums, []int{2, 4, 6}) {
			t.Errorf("row numbers %v, want the line each row starts on", nums)
		}
	})
}

func TestCSVMacLineEndings(t *testing.T) {
	t.Parallel()
	info, rows, err := readCSV(t, "Nombre;Celular\rAna;3001234567\rLuis;3109876543\r")
	if err != nil {
		t.Fatal(err)
	}
	if info.Separator != ";" || info.RowsTotal != 3 || len(rows) != 3 {
		t.Fatalf("separator %q total %d rows %+v", info.Separator, info.RowsTotal, rows)
	}
	if !slices.Equal(rows[2].Cells, []string{"Luis", "3109876543"}) || rows[2].Num != 3 {
		t.Errorf("rows %+v", rows)
	}

	// A line break inside a quoted cell, and no line break at the end.
	_, rows, err = readCSV(t, "Nombre;Dirección;Celular\rAna;\"Calle 5\rApto 3\";3001234567\rLuis;;3109876543")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[1].Cells[1] != "Calle 5\nApto 3" || rows[2].Num != 4 || rows[2].Cells[2] != "3109876543" {
		t.Errorf("rows %+v", rows)
	}

	// A stray \r in a \n file is data, as before.
	_, rows, err = readCSV(t, "Nombre,Celular\nAna\r Peña,3001234567\nLuis,3109876543\n")
	if err != nil || len(rows) != 3 || rows[1].Cells[0] != "Ana\r Peña" {
		t.Errorf("rows %+v, %v", rows, err)
	}
}

func TestRunReportsEveryRowProblem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RepeatedNumberKeepsItsCells", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		path := writeFile(t, "c.csv", []byte("Nombre,Celular,Ciudad\nAna,3001234567,Cali\nLuis,3109876543,Bogotá\nAna bis,300 123 4567,Pasto\n"))
		res, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path}, nil)
		if err != nil {
			t.Fatal(err)
		}
		errs, err := store.ImportErrorList(ctx, b.pool, b.ws.ID, res.ImportID, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) != 1 || errs[0].Reason != "número repetido: ya está en la fila 2" || !slices.Equal(errs[0].Raw, []string{"Ana bis", "300 123 4567", "Pasto"}) {
			t.Fatalf("errors %+v", errs)
		}
	})

	t.Run("MalformedQuoteFailsTheImport", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		path := writeFile(t, "c.csv", []byte("nombre,telefono\n\"La Negra\" Pérez,3001234567\nLuis,3109876543\nEva,3205556677\nJuan,3151112233\n"))
		_, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path}, nil)
		requireFileError(t, err, ErrCodeCorrupt, "línea 2: comillas sin cerrar o mal puestas")
		if n := b.count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, b.ws.ID); n != 0 {
			t.Errorf("%d contacts imported from a file that failed", n)
		}
	})

	t.Run("CSVValuesAsTyped", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		path := writeFile(t, "c.csv", []byte("Nombre;Celular;Fecha de nacimiento;Monto;Acepta WhatsApp;Etiquetas\r"+
			"Ana;3001234567;1990;$ 12.000;Sí, acepto;vip\r"+
			"Luis;3109876543;05/03/1990;1.234.567;No acepto;"+strings.Repeat("x", 65)+"\r"+
			"Eva;3205556677;05/03/1990;$ 12.000;SI ACEPTO;vip\r"))
		res, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path, MapSpec: "nacimiento=C:date"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.RowsRead != 3 || res.Inserted != 1 || res.Rejected != 2 {
			t.Fatalf("result %+v", res)
		}
		eva := b.contacts(t)["+573205556677"]
		if eva.Attributes["monto"] != float64(12000) || eva.Attributes["nacimiento"] != "1990-03-05" || eva.ConsentAt == nil {
			t.Errorf("Eva %+v", eva)
		}
		errs, err := store.ImportErrorList(ctx, b.pool, b.ws.ID, res.ImportID, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range errs {
			got = append(got, e.Column+": "+e.Reason)
		}
		want := []string{
			"Fecha de nacimiento: parece solo un año: escriba la fecha completa (dd/mm/aaaa o aaaa-mm-dd)",
			`Etiquetas: etiqueta de más de 64 caracteres: "` + strings.Repeat("x", 40) + `…"`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
