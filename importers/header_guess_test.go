package importers

import (
	"context"
	"testing"
	"time"
)

func TestDetectHeaderWithNumberedColumns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Rows", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name string
			rows [][]string
			want int
		}{
			{"YearColumns", [][]string{{"Nombre", "Celular", "Correo", "2023", "2024"}, {"Ana", "3001234567", "ana@x.co", "10", "12"}}, 0},
			{"MonthColumnsAsDates", [][]string{{"Nombre", "Celular", "2024-01-01", "2024-02-01", "2024-03-01"}, {"Ana", "3001234567", "1", "2", "3"}}, 0},
			{"DayFirstDateColumns", [][]string{{"Cliente", "WhatsApp", "01/01/2024", "01/02/2024"}, {"Ana", "3001234567", "5", "6"}}, 0},
			{"YearColumnsUnderATitle", [][]string{{"Compras por año"}, {}, {"Nombre", "Teléfono", "2023", "2024"}, {"Ana", "3001234567", "10", "12"}}, 2},
			// Data rows stay data, even with header words among their values.
			{"DataRowWithAPhone", [][]string{{"Ana", "3001234567", "Cliente", "WhatsApp", "2024"}, {"Luis", "3109876543", "Cliente", "WhatsApp", "2023"}}, -1},
			{"DataRowWithAnEmail", [][]string{{"Cliente", "WhatsApp", "ana@x.co", "2024"}}, -1},
			{"DataRowWithANumberAndOneHeaderWord", [][]string{{"Ana", "Cliente", "2024"}, {"Luis", "Cliente", "2023"}}, -1},
		}
		for _, tt := range tests {
			if got := DetectHeader(tt.rows, "CO"); got != tt.want {
				t.Errorf("%s: header %d, want %d", tt.name, got, tt.want)
			}
		}
	})

	t.Run("RunMapsYearColumnsUnderTheirHeaders", func(t *testing.T) {
		t.Parallel()
		b := setupRun(t)
		path := writeFile(t, "c.csv", []byte("Nombre;Celular;Correo;2023;2024\nAna;3001234567;ana@x.co;10;12\nLuis;3109876543;luis@x.co;3;4\n"))
		res, err := Run(ctx, b.pool, Params{WorkspaceID: b.ws.ID, Path: path}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.HeaderRow != 1 || res.Inserted != 2 || res.Rejected != 0 {
			t.Fatalf("header row %d, inserted %d, rejected %d; want 1, 2, 0", res.HeaderRow, res.Inserted, res.Rejected)
		}
		if got, want := kinds(res.Mapping), "A=name B=phone C=email D=attribute(2023:number) E=attribute(2024:number)"; got != want {
			t.Errorf("mapping\n got %s\nwant %s", got, want)
		}
		if c := b.contacts(t)["+573001234567"]; c.Name != "Ana" || c.Attributes["2024"] != 12.0 {
			t.Errorf("contact %+v", c)
		}
	})

	t.Run("PreviewXLSXMonthHeadersThatAreDates", func(t *testing.T) {
		t.Parallel()
		ene, feb := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
		path := writeXLSX(t, [][]any{
			{"Nombre", "Celular", ene, feb},
			{"Ana", "3001234567", 10, 12},
			{"Luis", "3109876543", 3, 4},
		}, nil)
		p, err := PreviewFile(ctx, path, FormatXLSX, Options{}, "CO", 0)
		if err != nil {
			t.Fatal(err)
		}
		if p.HeaderRow != 1 || len(p.Rows) != 2 {
			t.Fatalf("header row %d, rows %+v", p.HeaderRow, p.Rows)
		}
		if c := p.Mapping.Columns; c[0].Kind != KindName || c[1].Kind != KindPhone || c[2].Kind != KindAttribute || c[2].Type != AttrNumber {
			t.Errorf("mapping %s", kinds(p.Mapping))
		}
	})
}
