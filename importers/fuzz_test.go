package importers

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"03/04/2024", "45292", "2024-02-29T10:30:00Z", "13/13/2024", "1/1/1", "31.12.99 23:59"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, serial bool) {
		d, err := parseDate(s, serial)
		if err == nil && (d.Year() < 1899 || d.Year() > 10000 || (!serial && d.Year() < 1900)) {
			t.Fatalf("parseDate(%q) = %v", s, d)
		}
	})
}

// FuzzCSV feeds arbitrary bytes through the CSV reader, header detection, mapping guess and row
// validation: errors are fine, panics are not.
func FuzzCSV(f *testing.F) {
	f.Add([]byte("Teléfono;Nombre\n300 123 4567;Ana\n"))
	f.Add([]byte("\xEF\xBB\xBFtel,\"a\"\"b\",c\n\"3001234567\n"))
	f.Add([]byte("\xFF\xFEt\x00e\x00l\x00\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.csv")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		pv, err := PreviewFile(context.Background(), path, "", Options{}, "CO", 0)
		if err != nil {
			return
		}
		p := newProcessor(pv.Mapping, "CO", Declaration{}, testNow)
		for _, r := range pv.Rows {
			p.process(Row{Num: r.Row, Cells: r.Cells})
		}
	})
}
