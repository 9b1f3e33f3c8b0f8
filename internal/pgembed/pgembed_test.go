package pgembed

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestStartStopAndReuse(t *testing.T) {
	if _, err := FindBinDir(); err != nil {
		t.Skip("no Postgres binaries: make test installs them")
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	c, err := Start(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	conn, err := pgx.Connect(ctx, c.URL("pregon"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	port := c.Port()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.Connect(ctx, c.URL("pregon")); err == nil {
		t.Fatal("still accepting connections after Stop")
	}

	c2, err := Start(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Stop() })
	if c2.Port() != port {
		t.Fatalf("port changed from %d to %d", port, c2.Port())
	}
	conn, err = pgx.Connect(ctx, c2.URL("pregon"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v); err != nil || v != 42 {
		t.Fatalf("data not kept across restarts: %v %v", v, err)
	}
	// the buffer cache is sized to the machine, not Postgres's 128 MB default
	var blocks int
	if err := conn.QueryRow(ctx, `SELECT setting::int FROM pg_settings WHERE name = 'shared_buffers'`).Scan(&blocks); err != nil {
		t.Fatal(err)
	}
	if want := sharedBuffersMB() * 1024 / 8; blocks != want {
		t.Fatalf("shared_buffers is %d blocks, want %d (%d MB)", blocks, want, sharedBuffersMB())
	}
	// parallel query is sized to the machine's cores too
	var workers int
	if err := conn.QueryRow(ctx, `SELECT setting::int FROM pg_settings WHERE name = 'max_parallel_workers_per_gather'`).Scan(&workers); err != nil {
		t.Fatal(err)
	}
	if want := parallelWorkersPerGather(runtime.NumCPU()); workers != want {
		t.Fatalf("max_parallel_workers_per_gather is %d, want %d for %d cores", workers, want, runtime.NumCPU())
	}
	// WAL sized for bulk imports
	for name, want := range map[string]string{"wal_buffers": "64MB", "max_wal_size": "4GB"} {
		var got string
		if err := conn.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s is %s, want %s", name, got, want)
		}
	}
	// the password is required: a wrong one is refused
	bad := strings.Replace(c2.URL("pregon"), "pregon:"+c2.password, "pregon:wrong", 1)
	if _, err := pgx.Connect(ctx, bad); err == nil {
		t.Fatal("wrong password accepted")
	}
}

func TestClearErrors(t *testing.T) {
	ctx := context.Background()
	_, err := Start(ctx, Config{Dir: t.TempDir(), BinDir: t.TempDir()})
	if !errors.Is(err, ErrBinariesMissing) {
		t.Fatalf("missing binaries: %v", err)
	}
	if _, err := FindBinDir(); err == nil {
		_, err = Start(ctx, Config{Dir: "/proc/pregon"})
		if err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Fatalf("unwritable folder: %v", err)
		}
	}
}

func TestParallelWorkersLeaveHalfTheCores(t *testing.T) {
	for cores, want := range map[int]int{1: 0, 2: 0, 3: 0, 4: 1, 8: 3, 16: 7} {
		if got := parallelWorkersPerGather(cores); got != want {
			t.Errorf("%d cores: %d workers per gather, want %d", cores, got, want)
		}
	}
}

func TestSharedBuffersFollowMemory(t *testing.T) {
	for _, c := range []struct{ memoryMB, want int }{
		{0, 128},          // /proc/meminfo unreadable
		{256, 128},        // Postgres's default is the floor
		{2048, 512},       // a quarter
		{8192, 2048},      //
		{24 * 1024, 4096}, // capped
		{64 * 1024, 4096},
	} {
		if got := sharedBuffersFor(c.memoryMB); got != c.want {
			t.Errorf("sharedBuffersFor(%d MB) = %d MB, want %d", c.memoryMB, got, c.want)
		}
	}
}
