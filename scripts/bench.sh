#!/usr/bin/env bash
# Runs every benchmark with the sizes the issues name, each side by side with its baseline, and
# prints one table. Run a single one with, e.g.:
#   go test -run '^$' -bench BenchmarkImportCSV -benchtime 1x ./importers
# Sizes are set by the environment variables below (defaults: the issues' sizes).
set -uo pipefail
cd "$(dirname "$0")/.."

: "${PREGON_BENCH_IMPORT_ROWS:=1000000}"      # importers: rows × 6 columns, XLSX and CSV
: "${SEGMENTS_BENCH_CONTACTS:=1000000}"       # segments: contacts with attributes, tags, engagement
: "${PREGON_BENCH_LAUNCH_N:=1000000}"         # jobs: launch snapshot audience
: "${PREGON_BENCH_RECIPIENTS:=1000000}"       # reports: recipients × ~3 status events
: "${PREGON_BENCH_SECONDS:=60}"               # jobs: sustained send rate at 1,000 msg/s
export PREGON_BENCH_IMPORT_ROWS SEGMENTS_BENCH_CONTACTS PREGON_BENCH_LAUNCH_N PREGON_BENCH_RECIPIENTS PREGON_BENCH_SECONDS

out=$(mktemp -d)/bench.txt
run() { # package, benchmark regexp [, benchtime]
  echo "== $1 $2 ($(uptime | sed 's/.*load/load/'))" | tee -a "$out"
  go test -run '^$' -bench "$2" -benchtime "${3:-1x}" -timeout 60m "$1" 2>&1 | tee -a "$out" | grep -E '^(Benchmark|---|FAIL|ok|panic)' || true
}

run ./whatsapp/sim 'BenchmarkClientToSimulator' 5s
run ./importers    'BenchmarkImport'
run ./segments     'BenchmarkSegmentCount|BenchmarkSegmentPreview' 10x
run ./jobs         'BenchmarkLaunchSnapshot|BenchmarkSendRate'
run ./phone        'BenchmarkNormalize' 1s
run ./api          'BenchmarkWebhookIngest|BenchmarkCampaignReportEndpoint'
run ./reports      'BenchmarkExport'

echo
echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version | cut -d' ' -f3), $(postgres --version 2>/dev/null || ls /usr/lib/postgresql/ | head -1)"
echo
go run ./scripts/benchtable "$out"
echo
echo "Full output: $out"
