// Package pgtest gives tests a real, migrated Postgres database.
//
// With TEST_DATABASE_URL set, that server is used; otherwise a throwaway cluster is started once
// per machine under the temp folder (from the system's Postgres binaries, via pgembed) and shared
// by every test binary. A migrated template database is built once per schema version; each call
// to NewDB clones it (CREATE DATABASE … TEMPLATE), so tests are isolated, can run in parallel, and
// can run River clients of their own. Tx gives a cheaper transaction that is rolled back.
package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pregon/pregon/internal/pgembed"
	"github.com/pregon/pregon/migrations"
)

var (
	baseOnce sync.Once
	baseURL  string
	baseErr  error

	tmplOnce sync.Once
	tmplName string
	tmplErr  error

	counter atomic.Int64
)

// BaseURL returns the URL of the test server's maintenance database.
func BaseURL(t testing.TB) string {
	t.Helper()
	baseOnce.Do(func() { baseURL, baseErr = startBase() })
	if baseErr != nil {
		t.Fatalf("pgtest: no test database: %v", baseErr)
	}
	return baseURL
}

func startBase() (string, error) {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u, nil
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("pregon-pgtest-%d", os.Getuid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgembed.Start(ctx, pgembed.Config{Dir: dir, Options: []string{
		"fsync=off", "synchronous_commit=off", "full_page_writes=off",
		"max_connections=800", // shared_buffers as the product sizes it: benchmarks measure that
	}})
	if err != nil {
		return "", err
	}
	dropOrphans(ctx, c.URL("postgres"))
	// Left running on purpose: the next test binary reuses it.
	return c.URL("postgres"), nil
}

// dropOrphans drops the databases of test binaries that are gone (killed by a timeout or
// Ctrl-C before their cleanups ran), so they do not pile up on the shared cluster: a morning
// of interrupted benchmarks left 37 behind, each up to 1.5 GB. Best effort. Names are
// pregon_test_<pid>_<…>; a live pid, or one reused by another process, keeps its databases.
func dropOrphans(ctx context.Context, url string) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'pregon\_test\_%'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		if processAlive(name) {
			continue
		}
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
}

// processAlive reports whether the test binary that created database name may still run.
func processAlive(name string) bool {
	parts := strings.Split(name, "_")
	if len(parts) < 3 {
		return true
	}
	pid, err := strconv.Atoi(parts[2])
	if err != nil || pid <= 0 {
		return true
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// URLFor returns the test server's URL pointing at database name.
func URLFor(t testing.TB, name string) string {
	u, err := url.Parse(BaseURL(t))
	if err != nil {
		t.Fatalf("pgtest: bad base URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func template(t testing.TB) string {
	t.Helper()
	tmplOnce.Do(func() { tmplName, tmplErr = buildTemplate(t) })
	if tmplErr != nil {
		t.Fatalf("pgtest: building the migrated template: %v", tmplErr)
	}
	return tmplName
}

func buildTemplate(t testing.TB) (string, error) {
	all, err := migrations.All()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, m := range all {
		fmt.Fprintf(h, "%d %s\n%s\n", m.Version, m.Name, m.SQL)
	}
	name := "pregon_tmpl_" + hex.EncodeToString(h.Sum(nil))[:12]
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, BaseURL(t))
	if err != nil {
		return "", err
	}
	defer admin.Close(ctx)
	// Serialise template builds across concurrently running test binaries.
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(7311)`); err != nil {
		return "", err
	}
	defer admin.Exec(ctx, `SELECT pg_advisory_unlock(7311)`)
	var ready bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, name).Scan(&ready); err != nil {
		return "", err
	}
	if ready {
		return name, nil
	}
	admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	pool, err := pgxpool.New(ctx, URLFor(t, name))
	if err != nil {
		return "", err
	}
	err = migrations.Up(ctx, pool)
	pool.Close()
	if err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+name+" WITH is_template true"); err != nil {
		return "", err
	}
	return name, nil
}

// NewDB creates a fresh migrated database for this test, returns a pool on it, and drops it
// when the test ends.
func NewDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := NewDBURL(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: connecting: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewSharedDB is NewDB for a database several tests or benchmarks of one binary share: it
// outlives the test that creates it, and drop (call it from TestMain) removes it.
func NewSharedDB(t testing.TB) (pool *pgxpool.Pool, drop func()) {
	t.Helper()
	var fns []func()
	pool = NewDB(deferredCleanup{TB: t, fns: &fns})
	return pool, func() {
		for i := len(fns) - 1; i >= 0; i-- {
			fns[i]()
		}
	}
}

// deferredCleanup collects cleanups for the caller to run later.
type deferredCleanup struct {
	testing.TB
	fns *[]func()
}

func (d deferredCleanup) Cleanup(f func()) { *d.fns = append(*d.fns, f) }

// NewDBURL is NewDB for callers (such as subprocesses) that need the URL rather than a pool.
func NewDBURL(t testing.TB) string {
	t.Helper()
	tmpl := template(t)
	name := fmt.Sprintf("pregon_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, counter.Add(1))
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, BaseURL(t))
	if err != nil {
		t.Fatalf("pgtest: connecting: %v", err)
	}
	defer admin.Close(ctx)
	for attempt := 0; ; attempt++ {
		_, err = admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tmpl)
		var pgErr *pgconn.PgError
		// 55006: the template is briefly in use by a concurrent clone.
		if err != nil && errors.As(err, &pgErr) && pgErr.Code == "55006" && attempt < 50 {
			time.Sleep(time.Duration(50+attempt*20) * time.Millisecond)
			continue
		}
		break
	}
	if err != nil {
		t.Fatalf("pgtest: creating %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		admin, err := pgx.Connect(ctx, BaseURL(t))
		if err != nil {
			return
		}
		defer admin.Close(ctx)
		admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return URLFor(t, name)
}

var (
	sharedMu   sync.Mutex
	sharedPool *pgxpool.Pool
)

// Tx returns a transaction on a database shared by this test binary, rolled back when the test
// ends. Use it for tests that need no running River client.
func Tx(t testing.TB) pgx.Tx {
	t.Helper()
	sharedMu.Lock()
	if sharedPool == nil {
		url := NewDBURL(noCleanup{t})
		cfg, _ := pgxpool.ParseConfig(url)
		cfg.MaxConns = 20
		p, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			sharedMu.Unlock()
			t.Fatalf("pgtest: %v", err)
		}
		sharedPool = p
	}
	pool := sharedPool
	sharedMu.Unlock()
	tx, err := pool.Begin(context.Background())
	if err != nil {
		t.Fatalf("pgtest: begin: %v", err)
	}
	t.Cleanup(func() { tx.Rollback(context.WithoutCancel(context.Background())) })
	return tx
}

// noCleanup keeps the shared database alive for the whole test binary (dropped with the cluster's
// next template rebuild or left for inspection; names are unique per process).
type noCleanup struct{ testing.TB }

func (noCleanup) Cleanup(func()) {}
