// Package pgembed runs a private PostgreSQL cluster from the system's Postgres binaries under a
// data folder: initialised on first use, reused afterwards, listening on 127.0.0.1 only with a
// generated password. When the process runs as root, Postgres runs as an unprivileged user
// (Postgres refuses to run as root).
package pgembed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Config says where the cluster lives and how it runs.
type Config struct {
	Dir     string   // data folder; the cluster is Dir/pgdata
	BinDir  string   // folder with initdb, pg_ctl, postgres; found automatically when empty
	Port    int      // 0: a free port picked on first start and remembered
	Options []string // extra "-c name=value" server settings
	Logger  *slog.Logger
}

// Cluster is a running embedded Postgres.
type Cluster struct {
	cfg      Config
	bin      string
	pgdata   string
	port     int
	password string
	cred     *syscall.Credential
	started  bool // we started it (and so we stop it)
}

// ErrBinariesMissing means no Postgres server binaries were found.
var ErrBinariesMissing = errors.New("postgres server binaries (initdb, pg_ctl) not found: install them (Debian: apt-get install postgresql) or set DATABASE_URL")

// FindBinDir locates the folder holding initdb and pg_ctl.
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	for _, m := range matches {
		dir := filepath.Dir(m)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	return "", ErrBinariesMissing
}

func versionOf(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// Start initialises the cluster if needed and starts it (or reuses one already running there).
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	bin := cfg.BinDir
	if bin == "" {
		var err error
		if bin, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%w (looked in %s)", ErrBinariesMissing, bin)
		}
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("data folder %q: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder %s is not writable: %w", dir, err)
	}
	probe := filepath.Join(dir, ".write-test")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return nil, fmt.Errorf("data folder %s is not writable: %w", dir, err)
	}
	os.Remove(probe)

	c := &Cluster{cfg: cfg, bin: bin, pgdata: filepath.Join(dir, "pgdata")}
	if os.Geteuid() == 0 {
		if c.cred, err = unprivilegedUser(); err != nil {
			return nil, err
		}
		if !c.userCanReach(dir) {
			// The folder sits under a path the unprivileged user cannot traverse (e.g. /root):
			// keep the cluster in a system folder keyed by the data folder's path.
			alt := filepath.Join("/var/lib/pregon", shortHash(dir))
			cfg.Logger.Info("data folder not reachable by the postgres user; using a system folder", "data_dir", dir, "pgdata_dir", alt)
			if err := os.MkdirAll(alt, 0o755); err != nil {
				return nil, fmt.Errorf("creating %s: %w", alt, err)
			}
			os.Chmod("/var/lib/pregon", 0o755)
			c.pgdata = filepath.Join(alt, "pgdata")
		}
	}
	if err := c.loadOrInit(ctx, dir); err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	if err := c.ensureDatabase(ctx, "pregon"); err != nil {
		return nil, err
	}
	return c, nil
}

// URL is the connection string for database name.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://pregon:%s@127.0.0.1:%d/%s?sslmode=disable", c.password, c.port, database)
}

// Port is the TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// Stop shuts the cluster down if this process started it.
func (c *Cluster) Stop() error {
	if !c.started {
		return nil
	}
	return c.ctl(context.Background(), "stop", "-D", c.pgdata, "-m", "fast", "-w", "-t", "60")
}

// Restart stops and starts the cluster (used by chaos tests).
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.ctl(ctx, "stop", "-D", c.pgdata, "-m", "fast", "-w", "-t", "60"); err != nil {
		return err
	}
	return c.start(ctx)
}

func (c *Cluster) loadOrInit(ctx context.Context, dir string) error {
	pwFile := filepath.Join(dir, "pg_password")
	portFile := filepath.Join(dir, "pg_port")
	if _, err := os.Stat(filepath.Join(c.pgdata, "PG_VERSION")); err == nil {
		pw, err := os.ReadFile(pwFile)
		if err != nil {
			return fmt.Errorf("cluster %s exists but its password file is unreadable: %w", c.pgdata, err)
		}
		c.password = strings.TrimSpace(string(pw))
		if p, err := os.ReadFile(portFile); err == nil {
			c.port, _ = strconv.Atoi(strings.TrimSpace(string(p)))
		}
	} else {
		c.password = randomHex(16)
		if err := os.WriteFile(pwFile, []byte(c.password+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", pwFile, err)
		}
		if err := os.MkdirAll(c.pgdata, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", c.pgdata, err)
		}
		tmpPw := filepath.Join(c.pgdata, "..", "initdb-pw-"+randomHex(4))
		if err := os.WriteFile(tmpPw, []byte(c.password+"\n"), 0o600); err != nil {
			return err
		}
		defer os.Remove(tmpPw)
		if c.cred != nil {
			os.Chown(c.pgdata, int(c.cred.Uid), int(c.cred.Gid))
			os.Chown(tmpPw, int(c.cred.Uid), int(c.cred.Gid))
		}
		c.cfg.Logger.Info("initialising embedded postgres", "pgdata", c.pgdata)
		if out, err := c.run(ctx, filepath.Join(c.bin, "initdb"), "-D", c.pgdata, "-U", "pregon",
			"--auth=scram-sha-256", "--pwfile="+tmpPw, "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
			return fmt.Errorf("initdb in %s failed: %v: %s", c.pgdata, err, lastLines(out, 5))
		}
	}
	if c.cfg.Port != 0 {
		c.port = c.cfg.Port
	}
	if c.port == 0 {
		p, err := freePort()
		if err != nil {
			return err
		}
		c.port = p
	}
	return os.WriteFile(portFile, []byte(strconv.Itoa(c.port)+"\n"), 0o600)
}

func (c *Cluster) start(ctx context.Context) error {
	if c.running(ctx) {
		c.cfg.Logger.Info("embedded postgres already running; reusing it", "pgdata", c.pgdata)
		return c.waitReady(ctx)
	}
	opts := []string{"-p", strconv.Itoa(c.port), "-k", c.pgdata, "-c", "listen_addresses=127.0.0.1",
		"-c", "shared_buffers=" + strconv.Itoa(sharedBuffersMB()) + "MB",
		"-c", "max_parallel_workers_per_gather=" + strconv.Itoa(parallelWorkersPerGather(runtime.NumCPU())),
		// a serve process (workers' pool plus the API's) and a few `pregon worker` processes
		"-c", "max_connections=300",
		// WAL for bulk writes: a million-contact import writes 1–2 GB of WAL in one transaction.
		// With max_wal_size at its 1 GB default, Postgres forced a checkpoint every ~450 MB of it
		// (91 requested, 0 timed, over a morning of import benchmarks): each writes every dirty
		// buffer out and, with full_page_writes on, makes the next change to each page log a
		// whole 8 kB image. 16 MB of WAL buffers (the default's cap) filled before the WAL writer
		// woke, so the importing backend wrote WAL itself in 45 kB pieces; with 64 MB, ~200 kB.
		"-c", "wal_buffers=64MB", "-c", "max_wal_size=4GB"}
	for _, o := range c.cfg.Options { // later settings win
		opts = append(opts, "-c", o)
	}
	logFile := filepath.Join(c.pgdata, "postgres.log")
	err := c.ctl(ctx, "start", "-D", c.pgdata, "-l", logFile, "-w", "-t", "60", "-o", strings.Join(opts, " "))
	if err != nil {
		log, _ := os.ReadFile(logFile)
		tail := lastLines(log, 5)
		if strings.Contains(tail, "Address already in use") {
			return fmt.Errorf("embedded postgres could not listen on 127.0.0.1:%d: port in use (delete %s to pick another)", c.port, filepath.Join(filepath.Dir(c.pgdata), "pg_port"))
		}
		return fmt.Errorf("starting embedded postgres: %v: %s", err, tail)
	}
	c.started = true
	return c.waitReady(ctx)
}

// sharedBuffersMB sizes Postgres's buffer cache to the machine's memory (sharedBuffersFor).
// Options can override it.
func sharedBuffersMB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return sharedBuffersFor(0)
	}
	var kb int
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ = strconv.Atoi(f[1])
		}
	}
	return sharedBuffersFor(kb / 1024)
}

// sharedBuffersFor is a quarter of memoryMB (Postgres's own advice for a dedicated server),
// between Postgres's default of 128 MB and 4 GB. What a million-contact workspace works on has
// to fit: segment counts read most of contacts (about 350 MB with its indexes), and a
// re-import that rewrites every contact doubles the table and its indexes inside one
// transaction. With a 1 GB cache that re-import read 266,000 blocks (2 GB) back from the
// kernel and wrote 126,000 out again while it ran, the unique checks fetching old row versions
// that had just been evicted (pread, pwrite and those fetches: about a third of its profile);
// with 3 GB it read none (EXPLAIN (ANALYZE, BUFFERS) of importers.sqlMergeUpdate over 1M staged rows).
func sharedBuffersFor(memoryMB int) int {
	const lo, hi = 128, 4096
	return min(max(memoryMB/4, lo), hi)
}

// parallelWorkersPerGather leaves half the machine's cores to everything else a query shares
// them with (the API, River's workers, the other backends): Postgres's default of 2 workers
// per query on a 2-core machine turns a 130 ms segment count into a 300–650 ms one (three
// processes on two cores, the bitmap built by the leader alone while the workers wait), and
// takes both cores from the sends meanwhile. 2 cores: 0 (serial plans); 4: 1; 8: 3.
func parallelWorkersPerGather(cores int) int {
	return max(cores/2-1, 0)
}

func (c *Cluster) running(ctx context.Context) bool {
	if _, err := os.Stat(filepath.Join(c.pgdata, "postmaster.pid")); err != nil {
		return false
	}
	return c.ctl(ctx, "status", "-D", c.pgdata) == nil
}

func (c *Cluster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("embedded postgres on port %d did not accept connections: %w", c.port, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) ensureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connecting to embedded postgres: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) && pgErr.SQLState() == "42P04" { // created concurrently
		return nil
	}
	return err
}

func (c *Cluster) ctl(ctx context.Context, args ...string) error {
	out, err := c.run(ctx, filepath.Join(c.bin, "pg_ctl"), args...)
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v: %s", args[0], err, lastLines(out, 3))
	}
	return nil
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	// Own process group: a Ctrl-C on the terminal reaches Pregón, which then stops Postgres cleanly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	if c.cred != nil {
		cmd.SysProcAttr.Credential = c.cred
		cmd.Dir = "/"
		cmd.Env = append(cmd.Env, "HOME=/tmp")
	}
	return cmd.CombinedOutput()
}

func (c *Cluster) userCanReach(dir string) bool {
	cmd := exec.Command("/bin/sh", "-c", `test -x "$1" && test -w "$1" || test ! -e "$1" -a -x "$(dirname "$1")"`, "sh", filepath.Dir(c.pgdata))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return false
	}
	return cmd.Run() == nil
}

// unprivilegedUser returns the "postgres" user (created by the Debian package) or a "pregon"
// system user, created when neither exists.
func unprivilegedUser() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "pregon"} {
		if u, err := user.Lookup(name); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
		}
	}
	if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "pregon").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("running as root and no unprivileged user for postgres: useradd pregon failed: %v: %s", err, out)
	}
	return unprivilegedUser()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("picking a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func shortHash(s string) string {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return strconv.FormatUint(h, 36)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
