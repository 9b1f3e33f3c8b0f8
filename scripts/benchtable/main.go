// Command benchtable turns the output of `make bench` (go test -bench lines) into one table:
// each figure an issue names, its baseline (the side-by-side measurement of the same run, or
// the target), their ratio and whether the target holds.
//
//	go run ./scripts/benchtable bench.txt
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// A row compares one metric of one benchmark with a baseline: another metric of the same run
// (baseMetric) or a fixed target (target). limit is the ratio the issue allows; higherBetter
// flips the comparison (rates). ratioMetric, when set, is the ratio the benchmark measured
// itself (the median of its rounds' own ratios, each against the same round's baseline), which
// is what the table shows then rather than the quotient of the two medians.
type row struct {
	bench, label, metric  string
	baseMetric, baseLabel string
	ratioMetric           string
	target                float64
	limit                 float64
	higherBetter          bool
}

var rows = []row{
	{bench: "BenchmarkImportXLSX", label: "XLSX import, 1M rows × 6 (s)", metric: "import_s", baseMetric: "bare_s", baseLabel: "excelize bare read", limit: 1.15},
	{bench: "BenchmarkImportXLSX", label: "XLSX import peak RSS (MB)", metric: "import_peak_MB", target: 256, baseLabel: "target", limit: 1},
	{bench: "BenchmarkImportCSV", label: "CSV import, 1M rows (s)", metric: "first_s", target: 6, baseLabel: "target", limit: 1},
	{bench: "BenchmarkImportCopyFloor/all", label: "  bare COPY of the same rows into contacts (s)", metric: "total_s"},
	{bench: "BenchmarkImportCSV", label: "CSV re-import, every name changed (s)", metric: "reimport_s", baseMetric: "first_s", baseLabel: "first import", ratioMetric: "reimport/first", limit: 1.5},
	{bench: "BenchmarkImportCSV", label: "CSV re-import, the same file (s)", metric: "identical_s", baseMetric: "first_s", baseLabel: "first import", ratioMetric: "identical/first", limit: 1.5},
	{bench: "BenchmarkImportCSV", label: "CSV import peak RSS (MB)", metric: "peak_MB", target: 256, baseLabel: "target", limit: 1},
	{bench: "BenchmarkSegmentCount/Typical", label: "Segment count, 4 conditions, 1M contacts (ms)", metric: "compiled-ms/op", target: 200, baseLabel: "target", limit: 1},
	{bench: "BenchmarkSegmentCount/Typical", label: "  compiled vs hand-written SQL (ms)", metric: "compiled-ms/op", baseMetric: "handwritten-ms/op", baseLabel: "hand-written", limit: 1.1},
	{bench: "BenchmarkSegmentCount/Engagement", label: "Segment count + engagement (ms)", metric: "compiled-ms/op", target: 500, baseLabel: "target", limit: 1},
	{bench: "BenchmarkSegmentCount/Engagement", label: "  compiled vs hand-written SQL (ms)", metric: "compiled-ms/op", baseMetric: "handwritten-ms/op", baseLabel: "hand-written", limit: 1.1},
	{bench: "BenchmarkSegmentCount/EngagementAnyRecentCampaign", label: "Segment count + engagement, any campaign (ms)", metric: "compiled-ms/op", target: 500, baseLabel: "target", limit: 1},
	{bench: "BenchmarkSegmentCount/EngagementAnyRecentCampaign", label: "  compiled vs hand-written SQL (ms)", metric: "compiled-ms/op", baseMetric: "handwritten-ms/op", baseLabel: "hand-written", limit: 1.1},
	{bench: "BenchmarkSegmentCount/Broadcast", label: "Segment count, everyone eligible (ms)", metric: "compiled-ms/op", baseMetric: "handwritten-ms/op", baseLabel: "hand-written", limit: 1.1},
	{bench: "BenchmarkLaunchSnapshot", label: "Launch snapshot, 1M recipients (s)", metric: "s/launch", target: 10, baseLabel: "target", limit: 1},
	{bench: "BenchmarkSendRate", label: "Send rate at 1,000 msg/s (msg/s)", metric: "msg/s", target: 1000, baseLabel: "throughput", limit: 0.98, higherBetter: true},
	{bench: "BenchmarkSendRate", label: "  busiest 1-s window (msg)", metric: "max-1s-window", target: 1000, baseLabel: "throughput", limit: 1},
	{bench: "BenchmarkSendRateUnlimited", label: "Send rate, no limit (msg/s)", metric: "msg/s"},
	{bench: "BenchmarkWebhookIngest", label: "Webhook ingest (status events/s)", metric: "events/s", target: 5000, baseLabel: "target", limit: 1, higherBetter: true},
	{bench: "BenchmarkWebhookIngest", label: "  acknowledgement p99 (ms)", metric: "p99_ms", target: 50, baseLabel: "target", limit: 1},
	{bench: "BenchmarkWebhookIngest", label: "  backlog drained after the load (s)", metric: "drain_s"},
	{bench: "BenchmarkCampaignReportEndpoint", label: "Campaign report endpoint p95 (ms)", metric: "p95-ms"},
	{bench: "BenchmarkExport", label: "Delivery export CSV, 1M recipients (s)", metric: "csv-s", baseMetric: "psql-s", baseLabel: "psql \\copy"},
	{bench: "BenchmarkExport", label: "Delivery export XLSX (s)", metric: "xlsx-s", baseMetric: "memory-s", baseLabel: "in-memory excelize"},
	{bench: "BenchmarkClientToSimulator", label: "Client → simulator (sends/s)", metric: "sends/s"},
	{bench: "BenchmarkNormalize", label: "Phone normalisation (ns/op)", metric: "ns/op"},
}

var suffix = regexp.MustCompile(`-\d+$`)

// parse reads "BenchmarkX-2  1  123 ns/op  4.5 unit ..." lines into name → unit → value.
func parse(r io.Reader) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := suffix.ReplaceAllString(f[0], "")
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
		out[name] = m
	}
	return out
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

func main() {
	in := io.Reader(os.Stdin)
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	res := parse(in)
	fmt.Printf("%-48s %10s %10s  %-20s %7s  %-9s %s\n", "figure", "value", "baseline", "baseline is", "ratio", "target", "holds")
	for _, r := range rows {
		m, ok := res[r.bench]
		if !ok {
			fmt.Printf("%-48s %10s\n", r.label, "not run")
			continue
		}
		v, ok := m[r.metric]
		if !ok {
			fmt.Printf("%-48s %10s\n", r.label, "no figure")
			continue
		}
		base, have := r.target, r.target > 0
		if r.baseMetric != "" {
			base, have = m[r.baseMetric]
		}
		if !have || base == 0 {
			fmt.Printf("%-48s %10s\n", r.label, num(v))
			continue
		}
		ratio := v / base
		if x, ok := m[r.ratioMetric]; ok && r.ratioMetric != "" {
			ratio = x
		}
		target, holds := "", ""
		if r.limit > 0 {
			if r.higherBetter {
				target = "≥ " + strconv.FormatFloat(r.limit, 'f', -1, 64) + "×"
				holds = map[bool]string{true: "yes", false: "NO"}[ratio >= r.limit]
			} else {
				target = "≤ " + strconv.FormatFloat(r.limit, 'f', -1, 64) + "×"
				holds = map[bool]string{true: "yes", false: "NO"}[ratio <= r.limit]
			}
		}
		fmt.Printf("%-48s %10s %10s  %-20s %7.3f  %-9s %s\n", r.label, num(v), num(base), r.baseLabel, ratio, target, holds)
	}
}
