package main

import (
	"strings"
	"testing"
)

func TestParseKeepsEveryMetricOfABenchmarkLine(t *testing.T) {
	out := parse(strings.NewReader(`goos: linux
BenchmarkImportXLSX-2   	       1	62000000000 ns/op	        24.10 bare_s	        27.00 import_s	         1.120 import/bare
    bench_test.go:52: a log line
BenchmarkSegmentCount/Typical-2  10  548930990 ns/op  146.7 compiled-ms/op  137.5 handwritten-ms/op
ok  	github.com/pregon/pregon/importers	70.1s
`))
	if got := out["BenchmarkImportXLSX"]["import/bare"]; got != 1.12 {
		t.Errorf("import/bare = %v, want 1.12", got)
	}
	if got := out["BenchmarkSegmentCount/Typical"]["compiled-ms/op"]; got != 146.7 {
		t.Errorf("compiled-ms/op = %v, want 146.7", got)
	}
	if len(out) != 2 {
		t.Errorf("parsed %d benchmarks, want 2: %v", len(out), out)
	}
}
