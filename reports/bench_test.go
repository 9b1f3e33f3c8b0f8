package reports

// Export benchmarks against a generated campaign (reportstest.Campaign). They run only with
// -bench (the fixture alone takes a minute at full size):
//
//	PREGON_BENCH_RECIPIENTS=1000000 go test ./reports/ -run '^$' -bench BenchmarkExport -benchtime 1x -timeout 60m
//
// Each figure is reported as a metric: seconds and peak RSS (MB) of our export run in a child
// process (the test binary re-executed), of `psql \copy` of the equivalent query, and of
// excelize's StreamWriter writing the same rows from memory, and the ratios.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/reports/reportstest"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
)

func benchSize() int {
	if n, err := strconv.Atoi(os.Getenv("PREGON_BENCH_RECIPIENTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// TestBenchHelperExport is the child process of the benchmarks: it runs one export and exits.
func TestBenchHelperExport(t *testing.T) {
	if os.Getenv("PREGON_BENCH_HELPER") != "1" {
		t.Skip("only as the benchmarks' child process")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("PREGON_BENCH_DB"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ws, _ := strconv.ParseInt(os.Getenv("PREGON_BENCH_WS"), 10, 64)
	id, _ := strconv.ParseInt(os.Getenv("PREGON_BENCH_CAMPAIGN"), 10, 64)
	asOf, _ := time.Parse(time.RFC3339, os.Getenv("PREGON_BENCH_ASOF"))
	f, err := os.Create(os.Getenv("PREGON_BENCH_OUT"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spec := ExportSpec{WorkspaceID: ws, Kind: KindCampaign, CampaignID: id, Format: Format(os.Getenv("PREGON_BENCH_FORMAT")),
		AsOf: asOf, Attributes: []string{"ciudad", "plan"}}
	if _, err := Write(ctx, pool, spec, f, nil); err != nil {
		t.Fatal(err)
	}
	// The peak RSS of this process since exec (wait4's ru_maxrss would include the parent's
	// memory, shared until exec by Go's vfork-style spawn).
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Printf("PEAK_RSS_KB=%s\n", strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
}

type run struct {
	secs  float64
	rssMB float64
	size  int64
}

func runChild(b *testing.B, cmd *exec.Cmd, out string) run {
	b.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
	}
	secs := time.Since(start).Seconds()
	fi, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	r := run{secs: secs, size: fi.Size()}
	if _, v, ok := strings.Cut(stderr.String(), "PEAK_RSS_KB="); ok {
		kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
		r.rssMB = kb / 1024
	}
	return r
}

type benchFixture struct {
	url   string
	pool  *pgxpool.Pool
	ws    int64
	id    int64
	asOf  time.Time
	n     int
	tzSQL string
}

func newBenchFixture(b *testing.B) benchFixture {
	b.Helper()
	n := benchSize()
	url := pgtest.NewDBURL(b)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	ws, err := store.WorkspaceCreate(ctx, pool, store.WorkspaceCreateParams{Name: "Bench"})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	id, err := reportstest.Campaign(ctx, pool, ws.ID, n)
	if err != nil {
		b.Fatal(err)
	}
	var events int64
	pool.QueryRow(ctx, `SELECT count(*) FROM status_events`).Scan(&events)
	b.Logf("fixture: %d recipients, %d status events (%.2f each) in %.1fs", n, events, float64(events)/float64(n), time.Since(start).Seconds())
	for _, t := range []string{"recipients", "status_events", "contacts"} {
		if _, err := pool.Exec(ctx, `VACUUM ANALYZE `+t); err != nil {
			b.Fatal(err)
		}
	}
	return benchFixture{url: url, pool: pool, ws: ws.ID, id: id, asOf: reportstest.Base.Add(3 * time.Hour), n: n, tzSQL: ws.TimeZone}
}

func (f benchFixture) child(b *testing.B, format Format, out string) run {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchHelperExport$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PREGON_BENCH_HELPER=1", "PREGON_BENCH_DB="+f.url,
		fmt.Sprintf("PREGON_BENCH_WS=%d", f.ws), fmt.Sprintf("PREGON_BENCH_CAMPAIGN=%d", f.id),
		"PREGON_BENCH_ASOF="+f.asOf.Format(time.RFC3339), "PREGON_BENCH_FORMAT="+string(format), "PREGON_BENCH_OUT="+out)
	return runChild(b, cmd, out)
}

// psqlQuery is the export's query with the formatting done by Postgres: what `\copy` must do
// to produce the same file.
func (f benchFixture) psqlQuery() string {
	asOf := "'" + f.asOf.Format(time.RFC3339) + "'::timestamptz"
	var titles []string
	for _, c := range []int{131026, 131049, 131050} {
		titles = append(titles, fmt.Sprintf("(%d, '%s', '%s')", c, strings.ReplaceAll(whatsapp.ErrorTitle(c, "es"), "'", "''"),
			strings.ReplaceAll(whatsapp.ErrorTitle(c, "en"), "'", "''")))
	}
	times := func(col string) string {
		return fmt.Sprintf(`to_char(%[1]s AT TIME ZONE '%[2]s', 'YYYY-MM-DD HH24:MI:SS'), to_char(%[1]s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`, col, f.tzSQL)
	}
	q := fmt.Sprintf(`WITH aud AS (SELECT r.id, r.wamid FROM recipients r WHERE r.workspace_id = %[1]d AND r.campaign_id = %[2]d AND r.wamid IS NOT NULL),
ev AS (
    SELECT se.wamid,
        min(se.occurred_at) FILTER (WHERE se.status = 'sent') AS sent_ts,
        min(se.occurred_at) FILTER (WHERE se.status IN ('delivered', 'read', 'played')) AS delivered_ts,
        min(se.occurred_at) FILTER (WHERE se.status IN ('read', 'played')) AS read_ts,
        min(se.occurred_at) FILTER (WHERE se.status = 'failed') AS failed_ts,
        min(se.error_code) FILTER (WHERE se.status = 'failed') AS failed_code
    FROM aud JOIN status_events se ON se.wamid = aud.wamid
    WHERE se.occurred_at <= %[3]s AND (se.workspace_id IS NULL OR se.workspace_id = %[1]d)
    GROUP BY se.wamid)
SELECT r.id AS recipient_id, r.phone_e164 AS phone, co.name, co.attributes->>'ciudad' AS attr_ciudad, co.attributes->>'plan' AS attr_plan,
    CASE WHEN ev.failed_ts IS NOT NULL THEN 'failed' WHEN ev.read_ts IS NOT NULL THEN 'read'
         WHEN ev.delivered_ts IS NOT NULL THEN 'delivered' WHEN ev.sent_ts IS NOT NULL THEN 'sent'
         WHEN r.wamid IS NOT NULL AND r.sent_at <= %[3]s THEN 'sent'
         WHEN r.state = 'failed' AND r.wamid IS NULL AND r.failed_at <= %[3]s THEN 'failed'
         WHEN r.state = 'skipped' THEN 'skipped' WHEN r.state = 'unknown' THEN 'unknown' ELSE 'pending' END AS state,
    CASE WHEN ev.wamid IS NULL AND r.state = 'skipped' THEN r.skip_reason END AS skip_reason,
    CASE WHEN ev.wamid IS NOT NULL OR r.sent_at <= %[3]s THEN r.wamid END AS wamid,
    %[4]s, %[5]s, %[6]s, %[7]s,
    ev.failed_code AS error_code, t.es AS error_title_es, t.en AS error_title_en,
    coalesce(r.replied_at <= %[3]s, false) AS replied, coalesce(r.opted_out_at <= %[3]s, false) AS opted_out
FROM recipients r
JOIN campaigns cp ON cp.id = r.campaign_id AND cp.workspace_id = %[1]d
JOIN contacts co ON co.id = r.contact_id AND co.workspace_id = %[1]d
LEFT JOIN ev ON ev.wamid = r.wamid
LEFT JOIN (VALUES %[8]s) t(code, es, en) ON t.code = ev.failed_code
WHERE r.workspace_id = %[1]d AND r.campaign_id = %[2]d ORDER BY r.id`,
		f.ws, f.id, asOf, times("COALESCE(ev.sent_ts, CASE WHEN ev.wamid IS NULL AND r.wamid IS NOT NULL AND r.sent_at <= "+asOf+" THEN r.sent_at END)"), times("ev.delivered_ts"), times("ev.read_ts"), times("ev.failed_ts"), strings.Join(titles, ", "))
	return strings.Join(strings.Fields(q), " ")
}

// recorder keeps the rows of an export in memory (the XLSX baseline replays them).
type recorder struct {
	cols []column
	rows [][]cell
}

func (r *recorder) header(cols []column) error { r.cols = cols; return nil }
func (r *recorder) row(c []cell) error {
	r.rows = append(r.rows, append([]cell(nil), c...))
	return nil
}
func (r *recorder) close() error { return nil }
func (r *recorder) abort()       {}

// BenchmarkExport runs each contender PREGON_BENCH_REPEAT times (default 3), interleaved, and
// keeps the fastest run of each: on a shared machine the minimum is the figure least disturbed
// by other work. Peak RSS is the largest seen.
func BenchmarkExport(b *testing.B) {
	f := newBenchFixture(b)
	dir := b.TempDir()
	repeat := 3
	if n, err := strconv.Atoi(os.Getenv("PREGON_BENCH_REPEAT")); err == nil && n > 0 {
		repeat = n
	}
	ctx := context.Background()
	spec := ExportSpec{WorkspaceID: f.ws, Kind: KindCampaign, CampaignID: f.id, Format: XLSX, AsOf: f.asOf, Attributes: []string{"ciudad", "plan"}}
	src := recipientSource(spec)
	rec := &recorder{cols: src.columns}
	if _, err := src.run(ctx, f.pool, spec, rec, nil); err != nil {
		b.Fatal(err)
	}
	loc, _ := time.LoadLocation(f.tzSQL)
	runtime.GC()
	fromMemory := func(out string) run {
		start := time.Now()
		file, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		defer file.Close()
		xw, err := newXLSXWriter(file, spec, loc)
		if err != nil {
			b.Fatal(err)
		}
		if err := xw.header(rec.cols); err != nil {
			b.Fatal(err)
		}
		for _, r := range rec.rows {
			if err := xw.row(r); err != nil {
				b.Fatal(err)
			}
		}
		if err := xw.close(); err != nil {
			b.Fatal(err)
		}
		fi, _ := os.Stat(out)
		return run{secs: time.Since(start).Seconds(), size: fi.Size()}
	}
	psql := func(out string) run {
		cmd := exec.Command("/usr/bin/psql", f.url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
			`\copy (`+f.psqlQuery()+`) to '`+out+`' with (format csv, header)`)
		return runChild(b, cmd, out)
	}
	best := map[string]run{}
	keep := func(name string, r run) {
		old, ok := best[name]
		if !ok || r.secs < old.secs {
			r.rssMB = max(r.rssMB, old.rssMB)
			best[name] = r
		} else {
			old.rssMB = max(old.rssMB, r.rssMB)
			best[name] = old
		}
	}
	b.ResetTimer()
	for range b.N {
		for i := range repeat {
			c := f.child(b, CSV, filepath.Join(dir, "ours.csv"))
			p := psql(filepath.Join(dir, "psql.csv"))
			x := f.child(b, XLSX, filepath.Join(dir, "ours.xlsx"))
			m := fromMemory(filepath.Join(dir, "memory.xlsx"))
			keep("csv", c)
			keep("psql", p)
			keep("xlsx", x)
			keep("memory", m)
			b.Logf("round %d: csv %.2fs (%.0f MB) psql %.2fs xlsx %.2fs (%.0f MB) memory %.2fs", i+1, c.secs, c.rssMB, p.secs, x.secs, x.rssMB, m.secs)
		}
	}
	b.StopTimer()
	c, p, x, m := best["csv"], best["psql"], best["xlsx"], best["memory"]
	b.ReportMetric(c.secs, "csv-s")
	b.ReportMetric(p.secs, "psql-s")
	b.ReportMetric(c.secs/p.secs, "csv/psql")
	b.ReportMetric(c.rssMB, "csv-peakRSS-MB")
	b.ReportMetric(x.secs, "xlsx-s")
	b.ReportMetric(m.secs, "memory-s")
	b.ReportMetric(x.secs/m.secs, "xlsx/memory")
	b.ReportMetric(x.rssMB, "xlsx-peakRSS-MB")
	b.Logf("%d recipients, best of %d: CSV ours %.2fs (%.0f MB RSS, %d bytes) vs psql \\copy %.2fs (%d bytes): ratio %.2f; "+
		"XLSX ours %.2fs (%.0f MB RSS, %d bytes) vs excelize from memory %.2fs (%d bytes): ratio %.2f",
		f.n, repeat, c.secs, c.rssMB, c.size, p.secs, p.size, c.secs/p.secs, x.secs, x.rssMB, x.size, m.secs, m.size, x.secs/m.secs)
}
