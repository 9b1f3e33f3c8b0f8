package importers

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// CPU accounting for the import benchmarks. On a shared 2-core machine wall-clock figures
// swing with the load; CPU seconds (this process's, and the import connection's Postgres
// backend's, read from /proc: the test server runs on this machine) do not.

// backendPID is the Postgres backend pid of a connection.
func backendPID(ctx context.Context, conn *pgx.Conn) int {
	var pid int
	conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid)
	return pid
}

// procCPU is the CPU time (user+system) process pid has used so far (Linux).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
}

// selfCPU is this process's CPU time so far (every goroutine, the GC included).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// importCPU runs Run and returns the Go process's and the import connection's backend CPU.
func importCPU(ctx context.Context, fn func()) (goCPU, pgCPU time.Duration) {
	var pid int
	var pg0 time.Duration
	testHookConn = func(c *pgx.Conn) { pid = backendPID(ctx, c); pg0 = procCPU(pid) }
	defer func() { testHookConn = nil }()
	g0 := selfCPU()
	fn()
	goCPU = selfCPU() - g0
	if pid != 0 {
		pgCPU = procCPU(pid) - pg0
	}
	return goCPU, pgCPU
}

// BenchmarkImportCopyFloor is the database's share of a first import, without the importer: a
// bare binary COPY of the same rows the import writes (the benchmarks' 1M rows, already
// normalised, ids taken beforehand) into contacts with all its indexes, then the opt_in
// consent events of the half that consented, in one transaction. It reports the wall time and
// the backend's CPU time of each COPY: no import of these rows can take less on this machine.
//
// PREGON_BENCH_FLOOR_VARIANTS (comma-separated; default "all") measures what parts cost:
// nogin, notags, noattrs (without the GIN indexes), noidx (without any index but the primary
// key and the unique phone), actor (events with a user as actor), fastoff (GIN fastupdate off),
// pending64 (gin_pending_list_limit 64 MB).
func BenchmarkImportCopyFloor(b *testing.B) {
	n := benchRows(b)
	ctx := context.Background()
	variants := strings.Split(os.Getenv("PREGON_BENCH_FLOOR_VARIANTS"), ",")
	if variants[0] == "" {
		variants = []string{"all"}
	}
	for _, v := range variants {
		b.Run(v, func(b *testing.B) {
			for b.Loop() {
				copyFloor(b, ctx, n, v)
			}
		})
	}
}

var floorSetup = map[string][]string{
	"nogin":   {`DROP INDEX contacts_tags_idx`, `DROP INDEX contacts_attributes_idx`},
	"notags":  {`DROP INDEX contacts_tags_idx`},
	"noattrs": {`DROP INDEX contacts_attributes_idx`},
	"noidx": {`DROP INDEX contacts_tags_idx`, `DROP INDEX contacts_attributes_idx`, `DROP INDEX contacts_workspace_id_idx`,
		`DROP INDEX contacts_marketable_idx`, `DROP INDEX contacts_wa_id_idx`},
	"fastoff":   {`ALTER INDEX contacts_tags_idx SET (fastupdate = off)`, `ALTER INDEX contacts_attributes_idx SET (fastupdate = off)`},
	"pending64": {`SET gin_pending_list_limit = '64MB'`},
}

func copyFloor(b *testing.B, ctx context.Context, n int, variant string) {
	pool := pgtest.NewDB(b)
	ws, err := store.WorkspaceCreate(ctx, pool, store.WorkspaceCreateParams{Name: "bench", DefaultCountry: "CO"})
	if err != nil {
		b.Fatal(err)
	}
	var actor *int64
	if variant == "actor" {
		u, err := store.UserCreate(ctx, pool, store.UserCreateParams{WorkspaceID: ws.ID, Email: "ana@example.com",
			Password: "una clave larga", Role: store.RoleOwner})
		if err != nil {
			b.Fatal(err)
		}
		actor = &u.ID
	} else if _, ok := floorSetup[variant]; !ok && variant != "all" {
		b.Fatalf("unknown floor variant %q", variant)
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Release()
	conn := c.Conn()
	for _, stmt := range floorSetup[variant] {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			b.Fatal(err)
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback(ctx)
	pid := backendPID(ctx, conn)
	cpuIDs, tIDs := procCPU(pid), time.Now()
	ids, err := allocIDs(ctx, tx, n, make([]int64, 0, n))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d ids from the sequence: %.2fs (backend CPU %.2fs)", n, time.Since(tIDs).Seconds(), (procCPU(pid) - cpuIDs).Seconds())
	evidence := func(dst []byte, i int) []byte {
		dst = append(dst[:0], `{"import_id":1,"file_sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","row":`...)
		dst = strconv.AppendInt(dst, int64(i+2), 10)
		return append(dst, '}')
	}
	now := time.Now()
	cpu0, t0 := procCPU(pid), time.Now()
	i := 0
	row := make([]any, len(contactColumns))
	tags := make([]string, 2)
	var ev []byte
	copied, err := tx.CopyFrom(ctx, pgx.Identifier{"contacts"}, contactColumns, pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		// The values benchRow(i) turns into.
		tags[0], tags[1] = "lista"+strconv.Itoa(i%10), "2026"
		row[0], row[1], row[2], row[3] = ids[i], ws.ID, "+57"+strconv.Itoa(3_000_000_000+(i%2)*100_000_000+i), "CO"
		row[4], row[5], row[6], row[7] = "Cliente "+strconv.Itoa(i), "cliente"+strconv.Itoa(i)+"@example.com", "", tags
		row[8] = []byte(`{"ciudad":"` + benchCities[i%len(benchCities)] + `"}`)
		if i%2 == 0 {
			ev = evidence(ev, i)
			row[9], row[10], row[11], row[12] = now, "import", "", ev
		} else {
			row[9], row[10], row[11], row[12] = nil, "", "", emptyJSON
		}
		row[13] = nil
		i++
		return row, nil
	}))
	if err != nil || copied != int64(n) {
		b.Fatalf("copied %d: %v", copied, err)
	}
	cpu1, t1 := procCPU(pid), time.Now()
	j := 0
	erow := make([]any, len(consentEventColumns))
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"consent_events"}, consentEventColumns, pgx.CopyFromFunc(func() ([]any, error) {
		if j >= n {
			return nil, nil
		}
		ev = evidence(ev, j)
		erow[0], erow[1], erow[2], erow[3], erow[4], erow[5], erow[6] = ws.ID, ids[j], "opt_in", "import", "", ev, actor
		j += 2
		return erow, nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	cpu2, t2 := procCPU(pid), time.Now()
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	t3 := time.Now()
	b.ReportMetric(t1.Sub(t0).Seconds(), "contacts_s")
	b.ReportMetric((cpu1 - cpu0).Seconds(), "contacts_pgcpu_s")
	b.ReportMetric(t2.Sub(t1).Seconds(), "events_s")
	b.ReportMetric((cpu2 - cpu1).Seconds(), "events_pgcpu_s")
	b.ReportMetric(t3.Sub(t0).Seconds(), "total_s")
	b.Logf("%s: %d rows: contacts COPY %.2fs (backend CPU %.2fs), %d consent events COPY %.2fs (CPU %.2fs), commit %.2fs",
		variant, n, t1.Sub(t0).Seconds(), (cpu1 - cpu0).Seconds(), (n+1)/2, t2.Sub(t1).Seconds(), (cpu2 - cpu1).Seconds(), t3.Sub(t2).Seconds())
}
