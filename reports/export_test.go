package reports_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/reports/reportstest"
	"github.com/pregon/pregon/store"
)

func newWorkspace(t *testing.T, db store.DBTX, name string) store.Workspace {
	t.Helper()
	ws, err := store.WorkspaceCreate(context.Background(), db, store.WorkspaceCreateParams{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func export(t *testing.T, db store.DBTX, spec reports.ExportSpec) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := reports.Write(context.Background(), db, spec, &buf, nil); err != nil {
		t.Fatalf("export %+v: %v", spec, err)
	}
	return buf.Bytes()
}

// csvBody checks that a CSV export starts with the UTF-8 byte order mark (Excel needs it to
// show accents) and returns the CSV after it.
func csvBody(t *testing.T, b []byte) []byte {
	t.Helper()
	body, ok := bytes.CutPrefix(b, []byte("\xEF\xBB\xBF"))
	if !ok {
		t.Fatalf("the CSV does not start with a UTF-8 BOM: %q", b[:min(len(b), 16)])
	}
	return body
}

func TestCSVExportStartsWithBOM(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ws := newWorkspace(t, db, "Peñón")
	for _, kind := range []reports.Kind{reports.KindCampaign, reports.KindContacts} {
		spec := reports.ExportSpec{WorkspaceID: ws.ID, Kind: kind, Format: reports.CSV, AsOf: reportstest.Base}
		if kind == reports.KindCampaign {
			id, err := reportstest.Campaign(context.Background(), db, ws.ID, 3)
			if err != nil {
				t.Fatal(err)
			}
			spec.CampaignID = id
		}
		b := export(t, db, spec)
		if !bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")) || bytes.Count(b, []byte("\xEF\xBB\xBF")) != 1 {
			t.Errorf("%s export: want one UTF-8 BOM, at the start: %q", kind, b[:min(len(b), 32)])
		}
		recs, err := csv.NewReader(bytes.NewReader(csvBody(t, b))).ReadAll()
		if err != nil || len(recs) == 0 || recs[0][0] == "" || recs[0][0][0] == 0xEF {
			t.Errorf("%s export after the BOM: %v %v", kind, recs, err)
		}
	}
}

func TestExportGeneratedFixtureIsReproducible(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	ws := newWorkspace(t, db, "Tienda")
	id, err := reportstest.Campaign(ctx, db, ws.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	asOf := reportstest.Base.Add(90 * time.Minute)
	for _, f := range []reports.Format{reports.CSV, reports.XLSX} {
		spec := reports.ExportSpec{WorkspaceID: ws.ID, Kind: reports.KindCampaign, CampaignID: id, Format: f, AsOf: asOf, Attributes: []string{"ciudad", "plan"}}
		a := export(t, db, spec)
		b := export(t, db, spec)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: two runs differ (%d vs %d bytes)", f, len(a), len(b))
		}
		if os.Getenv("REPORTS_DUMP") != "" {
			os.WriteFile("/tmp/rt/export."+string(f), a, 0o644)
		}
		if f == reports.CSV {
			recs, err := csv.NewReader(bytes.NewReader(csvBody(t, a))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1001 {
				t.Fatalf("rows = %d, want 1001", len(recs))
			}
			_ = strings.Join(recs[0], ",")
		} else {
			x, err := excelize.OpenReader(bytes.NewReader(a))
			if err != nil {
				t.Fatal(err)
			}
			rows, err := x.GetRows("Datos")
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1001 {
				t.Fatalf("xlsx rows = %d, want 1001", len(rows))
			}
		}
	}
}

func parseFloat(s string) (float64, error) { return strconv.ParseFloat(s, 64) }

// The XLSX of a campaign uses a streaming query shape; its rows must match the CSV's.
func TestXLSXRowsMatchCSV(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	ws := newWorkspace(t, db, "Tienda X")
	id, err := reportstest.Campaign(ctx, db, ws.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	spec := reports.ExportSpec{WorkspaceID: ws.ID, Kind: reports.KindCampaign, CampaignID: id, Format: reports.CSV,
		AsOf: reportstest.Base.Add(20 * time.Minute), Attributes: []string{"ciudad"}}
	recs, err := csv.NewReader(bytes.NewReader(csvBody(t, export(t, db, spec)))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	spec.Format = reports.XLSX
	x, err := excelize.OpenReader(bytes.NewReader(export(t, db, spec)))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := x.GetRows("Datos")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(recs) {
		t.Fatalf("xlsx %d rows, csv %d", len(rows), len(recs))
	}
	for i := range recs {
		for j, v := range recs[i] {
			if strings.HasSuffix(recs[0][j], "_local") {
				continue // a real date in XLSX
			}
			got := ""
			if j < len(rows[i]) {
				got = rows[i][j]
			}
			if strings.EqualFold(got, v) {
				continue
			}
			t.Fatalf("row %d column %s: xlsx %q, csv %q", i, recs[0][j], got, v)
		}
	}
}

// An XLSX export of more rows than a sheet holds is refused before any work, with a message
// that says what to do; CSV has no such limit.
func TestExportXLSXSheetLimit(t *testing.T) {
	t.Parallel()
	spec := reports.ExportSpec{WorkspaceID: 1, Kind: reports.KindContacts, Format: reports.XLSX}
	if err := spec.CheckSize(1_048_575); err != nil {
		t.Errorf("1,048,575 rows and the header fit a sheet: %v", err)
	}
	err := spec.CheckSize(1_048_576)
	var invalid *store.ValidationError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "use csv") {
		t.Errorf("1,048,576 rows: %v, want a validation error that suggests csv", err)
	}
	spec.Format = reports.CSV
	if err := spec.CheckSize(5_000_000); err != nil {
		t.Errorf("csv: %v", err)
	}
}
