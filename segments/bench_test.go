package segments

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/migrations"
	"github.com/pregon/pregon/store"
)

// The benchmark base: SEGMENTS_BENCH_CONTACTS contacts (default 1,000,000) in one workspace
// with attributes (some holding the wrong type), tags, consent states, and four past
// campaigns sending to a quarter of the base each (one recipient row per contact). A second
// workspace holds 5% more contacts that must be filtered out. Built once per test binary
// with set-based statements.
var (
	benchOnce sync.Once
	benchDB   *pgxpool.Pool
	benchWS   int64
	benchCamp int64 // the "Black Friday" campaign, launched 10 days ago
	benchErr  error
	benchDrop func() // drops the base when the binary ends (TestMain)
	benchNow  = time.Now()
)

// TestMain drops the benchmark base, which BenchmarkSegmentCount and BenchmarkSegmentPreview
// share, once every benchmark has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDrop != nil {
		benchDrop()
	}
	os.Exit(code)
}

func benchBase(b *testing.B) (*pgxpool.Pool, int64) {
	b.Helper()
	benchOnce.Do(func() {
		n := 1_000_000
		if s := os.Getenv("SEGMENTS_BENCH_CONTACTS"); s != "" {
			n, benchErr = strconv.Atoi(s)
			if benchErr != nil {
				return
			}
		}
		if os.Getenv("SEGMENTS_BENCH_KEEP") != "" {
			benchDB, benchErr = keptBenchBase(b, n)
			return
		}
		benchDB, benchDrop = pgtest.NewSharedDB(b)
		start := time.Now()
		benchErr = buildBenchBase(context.Background(), benchDB, n)
		b.Logf("benchmark base: %d contacts, built in %s", n, time.Since(start).Round(time.Millisecond))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDB, benchWS
}

// keptBenchBase (SEGMENTS_BENCH_KEEP=1) builds the base once in a database named after its
// size on the test server and reuses it in later runs (drop it to rebuild after a migration).
func keptBenchBase(b *testing.B, n int) (*pgxpool.Pool, error) {
	ctx := context.Background()
	name := fmt.Sprintf("segments_bench_%d", n)
	admin, err := pgx.Connect(ctx, pgtest.BaseURL(b))
	if err != nil {
		return nil, err
	}
	defer admin.Close(ctx)
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			return nil, err
		}
	}
	db, err := pgxpool.New(ctx, pgtest.URLFor(b, name))
	if err != nil {
		return nil, err
	}
	if exists {
		err := db.QueryRow(ctx, `SELECT w.id, cp.id FROM workspaces w JOIN campaigns cp ON cp.workspace_id = w.id
			WHERE cp.name = 'Campaña 0' ORDER BY w.id LIMIT 1`).Scan(&benchWS, &benchCamp)
		return db, err
	}
	if err := migrations.Up(ctx, db); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := buildBenchBase(ctx, db, n); err != nil {
		return nil, err
	}
	b.Logf("benchmark base: %d contacts, built in %s (kept as database %s)", n, time.Since(start).Round(time.Millisecond), name)
	return db, nil
}

func buildBenchBase(ctx context.Context, db *pgxpool.Pool, n int) error {
	var wsB int64
	for _, p := range []*int64{&benchWS, &wsB} {
		ws, err := store.WorkspaceCreate(ctx, db, store.WorkspaceCreateParams{Name: "bench", TimeZone: "UTC"})
		if err != nil {
			return err
		}
		*p = ws.ID
	}
	contacts := `
INSERT INTO contacts (workspace_id, phone_e164, country, name, language, tags, attributes,
                      consent_at, consent_source, opted_out_at, marketing_stopped, phone_valid,
                      last_inbound_at, created_at, updated_at)
SELECT $1, '+' || (5700000000000 + g), (ARRAY['CO','CO','MX','AR','PE','CO','MX','CL'])[1 + g % 8],
       'Contacto ' || g, CASE WHEN g % 9 = 0 THEN 'pt_BR' ELSE 'es' END,
       (CASE WHEN g % 10 < 2 THEN ARRAY['vip'] ELSE '{}' END) ||
       (CASE WHEN g % 7 = 0 THEN ARRAY['mayorista'] ELSE '{}' END) ||
       (CASE WHEN g % 3 = 0 THEN ARRAY['newsletter'] ELSE '{}' END) ||
       (CASE WHEN g % 13 = 0 THEN ARRAY['black-friday-2025'] ELSE '{}' END),
       jsonb_build_object(
           'edad', CASE WHEN g % 100 = 0 THEN to_jsonb('abc'::text) ELSE to_jsonb(18 + g % 60) END,
           'ciudad', (ARRAY['Bogotá','Medellín','Cali','CDMX','Lima','Buenos Aires','Santiago'])[1 + g % 7],
           'plan', (ARRAY['free','free','pro','gold'])[1 + (g / 7) % 4],
           'puntos', (g * 37) % 5000,
           'nacimiento', CASE WHEN g % 50 = 0 THEN 'no sé' ELSE to_char(date '1960-01-01' + ((g * 13) % 18000)::int, 'YYYY-MM-DD') END,
           'ultima_compra', to_char(current_date - (g % 400)::int, 'YYYY-MM-DD'),
           'cliente_activo', g % 4 <> 0),
       CASE WHEN g % 10 = 9 THEN NULL ELSE now() - (g % 700) * interval '1 day' END,
       (ARRAY['import','form','whatsapp'])[1 + g % 3],
       CASE WHEN g % 33 = 0 THEN now() - interval '3 days' END,
       g % 97 = 0, g % 51 <> 0,
       CASE WHEN g % 5 = 0 THEN now() - (g % 90) * interval '1 day' END,
       now() - (g % 730) * interval '1 day', now() - (g % 30) * interval '1 day'
FROM generate_series(1, $2::bigint) g`
	// Secondary indexes are dropped during the load and rebuilt from their own definitions
	// after it (a GIN build is far faster than a million GIN inserts); the schema is unchanged.
	rows, err := db.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename IN ('contacts', 'recipients')
		  AND indexname NOT IN (SELECT conname FROM pg_constraint)`)
	if err != nil {
		return err
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return err
		}
		names, defs = append(names, name), append(defs, def)
	}
	rows.Close()
	for _, name := range names {
		if _, err := db.Exec(ctx, "DROP INDEX "+name); err != nil {
			return err
		}
	}
	if _, err := db.Exec(ctx, contacts, benchWS, n); err != nil {
		return fmt.Errorf("contacts: %w", err)
	}
	if _, err := db.Exec(ctx, contacts, wsB, max(n/20, 1)); err != nil {
		return fmt.Errorf("contacts B: %w", err)
	}
	// Four campaigns, each to a quarter of workspace A; Black Friday 10 days ago.
	var camps []int64
	for i, days := range []int{10, 40, 70, 100} {
		var id int64
		if err := db.QueryRow(ctx, `INSERT INTO campaigns (workspace_id, name, state, launched_at)
			VALUES ($1, $2, 'completed', now() - $3 * interval '1 day') RETURNING id`,
			benchWS, fmt.Sprintf("Campaña %d", i), days).Scan(&id); err != nil {
			return err
		}
		camps = append(camps, id)
	}
	benchCamp = camps[0]
	if _, err := db.Exec(ctx, `
INSERT INTO recipients (workspace_id, campaign_id, contact_id, phone_e164, state, error_code, sent_at, replied_at)
SELECT c.workspace_id, ($2::bigint[])[1 + c.id % 4], c.id, c.phone_e164,
       (ARRAY['read','read','read','read','delivered','delivered','delivered','sent','failed','failed'])[1 + (c.id / 4) % 10],
       CASE WHEN (c.id / 4) % 10 >= 8 THEN (ARRAY[131026, 131049, 131047])[1 + c.id % 3] END,
       now() - interval '10 days',
       CASE WHEN c.id % 17 = 0 THEN now() - interval '9 days' END
FROM contacts c WHERE c.workspace_id = $1`, benchWS, camps); err != nil {
		return fmt.Errorf("recipients: %w", err)
	}
	for _, def := range defs {
		if _, err := db.Exec(ctx, def); err != nil {
			return fmt.Errorf("%s: %w", def, err)
		}
	}
	for _, t := range []string{"contacts", "recipients", "campaigns", "messages"} {
		if _, err := db.Exec(ctx, "VACUUM ANALYZE "+t); err != nil {
			return err
		}
	}
	return nil
}

// Benchmark segments, with the handwritten SQL a developer would write for the same audience.
var benchSegments = []struct {
	name, def, hand string
}{
	{"Typical",
		`{"all":[{"field":"tags","op":"has_any","value":["vip","mayorista"]},{"field":"country","op":"in","value":["CO","MX"]},
		  {"field":"attribute","key":"edad","op":"gte","value":30},{"field":"attribute","key":"plan","op":"eq","value":"pro"}]}`,
		`SELECT count(*) FROM contacts c WHERE c.workspace_id = $1
		   AND c.consent_at IS NOT NULL AND c.opted_out_at IS NULL AND NOT c.marketing_stopped AND c.phone_valid AND c.erased_at IS NULL
		   AND c.tags && ARRAY['vip','mayorista'] AND c.country IN ('CO','MX')
		   AND CASE WHEN jsonb_typeof(c.attributes->'edad') = 'number' THEN (c.attributes->'edad')::numeric END >= 30
		   AND c.attributes @> '{"plan":"pro"}'`},
	{"Engagement",
		`{"all":[{"field":"tags","op":"has_any","value":["vip","mayorista"]},{"field":"country","op":"in","value":["CO","MX"]},
		  {"field":"attribute","key":"edad","op":"gte","value":30},{"field":"engagement","op":"not_read","campaign_id":%d}]}`,
		`SELECT count(*) FROM contacts c WHERE c.workspace_id = $1
		   AND c.consent_at IS NOT NULL AND c.opted_out_at IS NULL AND NOT c.marketing_stopped AND c.phone_valid AND c.erased_at IS NULL
		   AND c.tags && ARRAY['vip','mayorista'] AND c.country IN ('CO','MX')
		   AND CASE WHEN jsonb_typeof(c.attributes->'edad') = 'number' THEN (c.attributes->'edad')::numeric END >= 30
		   AND EXISTS (SELECT 1 FROM recipients r WHERE r.contact_id = c.id AND r.workspace_id = $1
		               AND r.campaign_id = %d AND r.state IN ('sent', 'delivered'))`},
	{"EngagementAnyRecentCampaign",
		`{"all":[{"field":"attribute","key":"ciudad","op":"in","value":["Bogotá","Medellín"]},{"field":"last_inbound_at","op":"exists","value":false},
		  {"field":"engagement","op":"read","days":60}]}`,
		`SELECT count(*) FROM contacts c WHERE c.workspace_id = $1
		   AND c.consent_at IS NOT NULL AND c.opted_out_at IS NULL AND NOT c.marketing_stopped AND c.phone_valid AND c.erased_at IS NULL
		   AND (c.attributes @> '{"ciudad":"Bogotá"}' OR c.attributes @> '{"ciudad":"Medellín"}') AND c.last_inbound_at IS NULL
		   AND EXISTS (SELECT 1 FROM recipients r JOIN campaigns cp ON cp.id = r.campaign_id
		               WHERE r.contact_id = c.id AND r.workspace_id = $1 AND cp.workspace_id = $1
		               AND cp.launched_at >= now() - interval '60 days' AND r.state = 'read')`},
	{"Broadcast", `{}`,
		`SELECT count(*) FROM contacts c WHERE c.workspace_id = $1
		   AND c.consent_at IS NOT NULL AND c.opted_out_at IS NULL AND NOT c.marketing_stopped AND c.phone_valid AND c.erased_at IS NULL`},
}

func benchQueries(b *testing.B, ws int64, i int) (compiled string, args []any, hand string) {
	b.Helper()
	s := benchSegments[i]
	src, hand := s.def, s.hand
	if strings.Contains(src, "%d") {
		src, hand = fmt.Sprintf(src, benchCamp), fmt.Sprintf(hand, benchCamp)
	}
	def, err := Parse([]byte(src))
	if err != nil {
		b.Fatal(err)
	}
	cond, err := Compile(ws, def, CompileOptions{Now: benchNow})
	if err != nil {
		b.Fatal(err)
	}
	sql, args, err := psql.Select("count(*)").From("contacts c").Where(cond).ToSql()
	if err != nil {
		b.Fatal(err)
	}
	return sql, args, hand
}

// BenchmarkSegmentCount counts each benchmark segment with the compiled query and with the
// handwritten one, alternating them in the same run, and reports both and their ratio.
// SEGMENTS_BENCH_EXPLAIN=1 logs EXPLAIN (ANALYZE, BUFFERS) of both.
//
//	go test -run '^$' -bench BenchmarkSegmentCount -benchtime 20x ./segments
func BenchmarkSegmentCount(b *testing.B) {
	db, ws := benchBase(b)
	ctx := context.Background()
	for i, s := range benchSegments {
		b.Run(s.name, func(b *testing.B) {
			sql, args, hand := benchQueries(b, ws, i)
			var nc, nh int64
			// The compiled query runs as Count runs it (QueryMode: a custom plan each time).
			args = append([]any{QueryMode}, args...)
			run := func(q string, args []any, n *int64) time.Duration {
				start := time.Now()
				if err := db.QueryRow(ctx, q, args...).Scan(n); err != nil {
					b.Fatalf("%s: %v", q, err)
				}
				return time.Since(start)
			}
			// warm the cache and the plan cache
			run(sql, args, &nc)
			run(hand, []any{ws}, &nh)
			if nc != nh {
				b.Fatalf("compiled counts %d, handwritten %d", nc, nh)
			}
			if os.Getenv("SEGMENTS_BENCH_EXPLAIN") != "" {
				for _, q := range []struct {
					name, sql string
					args      []any
				}{{"compiled", sql, args}, {"handwritten", hand, []any{QueryMode, ws}}} {
					rows, err := db.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+q.sql, q.args...)
					if err != nil {
						b.Fatal(err)
					}
					var plan []string
					for rows.Next() {
						var line string
						_ = rows.Scan(&line)
						plan = append(plan, line)
					}
					rows.Close()
					b.Logf("%s %s (count %d):\n%s", s.name, q.name, nc, strings.Join(plan, "\n"))
				}
			}
			// Serial CPU time of each query in its backend (parallelism off, read from
			// /proc/<pid>/schedstat): what one dedicated core spends, whatever the machine's load.
			conn, err := db.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Release()
			var pid int
			if _, err := conn.Exec(ctx, "SET max_parallel_workers_per_gather = 0"); err != nil {
				b.Fatal(err)
			}
			defer conn.Exec(ctx, "RESET max_parallel_workers_per_gather")
			if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				b.Fatal(err)
			}
			cpuOf := func(q string, args []any) (time.Duration, bool) {
				before, ok1 := schedRuntime(pid)
				var n int64
				if err := conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
					b.Fatalf("%s: %v", q, err)
				}
				after, ok2 := schedRuntime(pid)
				return after - before, ok1 && ok2
			}
			var tc, th, cc, ch, ts time.Duration
			cpuOK := true
			b.ResetTimer()
			for range b.N {
				tc += run(sql, args, &nc)
				th += run(hand, []any{ws}, &nh)
				start := time.Now()
				d1, ok1 := cpuOf(sql, args)
				ts += time.Since(start)
				d2, ok2 := cpuOf(hand, []any{ws})
				cc, ch, cpuOK = cc+d1, ch+d2, cpuOK && ok1 && ok2
			}
			b.StopTimer()
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(ms(tc), "compiled-ms/op")
			b.ReportMetric(ms(th), "handwritten-ms/op")
			b.ReportMetric(float64(tc)/float64(th), "ratio")
			b.ReportMetric(ms(ts), "compiled-serial-ms/op")
			if cpuOK {
				b.ReportMetric(ms(cc), "compiled-cpu-ms/op")
				b.ReportMetric(ms(ch), "handwritten-cpu-ms/op")
				b.ReportMetric(float64(cc)/float64(ch), "cpu-ratio")
			}
			b.ReportMetric(float64(nc), "audience")
		})
	}
}

// schedRuntime is the CPU time a local process has run (first field of /proc/<pid>/schedstat);
// false when the server is not local.
func schedRuntime(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns), err == nil
}

// BenchmarkSegmentPreview times Preview (one pass for the counts by reason, one for the
// sample) on the benchmark base.
//
//	go test -run '^$' -bench BenchmarkSegmentPreview -benchtime 10x ./segments
func BenchmarkSegmentPreview(b *testing.B) {
	db, ws := benchBase(b)
	ctx := context.Background()
	for _, s := range benchSegments {
		b.Run(s.name, func(b *testing.B) {
			src := s.def
			if strings.Contains(src, "%d") {
				src = fmt.Sprintf(src, benchCamp)
			}
			def, err := Parse([]byte(src))
			if err != nil {
				b.Fatal(err)
			}
			var res PreviewResult
			for range b.N {
				if res, err = Preview(ctx, db, ws, def, benchNow); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(res.Eligible), "eligible")
			b.ReportMetric(float64(res.Matched-res.Eligible), "excluded")
		})
	}
}
