package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pregon/pregon/internal/pgtest"
	"github.com/pregon/pregon/store"
)

// cliEnv is what a command run by a test works on: a migrated test database with one
// workspace (and a pool on it for the test's own reads), a data folder, and the environment
// naming both.
type cliEnv struct {
	url  string
	pool *pgxpool.Pool
	ws   store.Workspace
	dir  string
	env  []string
}

func newCLIEnv(t *testing.T, workspace string) cliEnv {
	t.Helper()
	e := cliEnv{url: pgtest.NewDBURL(t), dir: t.TempDir()}
	pool, err := pgxpool.New(context.Background(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e.pool = pool
	if e.ws, err = store.WorkspaceCreate(context.Background(), pool, store.WorkspaceCreateParams{Name: workspace}); err != nil {
		t.Fatal(err)
	}
	e.env = append(os.Environ(), "DATABASE_URL="+e.url, "PREGON_DATA_DIR="+e.dir, "PREGON_MIGRATE=false")
	return e
}

// buildBinary compiles pregon once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pregon")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestBinary(t *testing.T) {
	bin := buildBinary(t)

	t.Run("BadConfigurationExitsWithOneLineNamingTheVariable", func(t *testing.T) {
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(), "PREGON_UPLOAD_LIMIT_MB=lots")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil || !strings.Contains(stderr.String(), "PREGON_UPLOAD_LIMIT_MB") || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
			t.Fatalf("err %v, stderr %q", err, stderr.String())
		}
	})

	t.Run("DemoWorkbookImportsFromTheCommandLine", func(t *testing.T) {
		dir := t.TempDir()
		env := append(os.Environ(), "DATABASE_URL="+pgtest.NewDBURL(t), "PREGON_DATA_DIR="+dir)
		demo := exec.Command(bin, "demo", "-o", dir+"/clientes.xlsx", "-rows", "40")
		if out, err := demo.CombinedOutput(); err != nil {
			t.Fatalf("demo: %v %s", err, out)
		}
		// The import goes into an existing workspace only (a typo must not create one).
		create := exec.Command(bin, "user", "create", "--workspace", "Tienda Lupita", "--email", "lupita@example.com", "--password", "una-clave-larga")
		create.Env = env
		if out, err := create.CombinedOutput(); err != nil {
			t.Fatalf("user create: %v %s", err, out)
		}
		imp := exec.Command(bin, "import", dir+"/clientes.xlsx", "--workspace", "Tienda Lupita")
		imp.Env = env
		var stdout, stderr bytes.Buffer
		imp.Stdout, imp.Stderr = &stdout, &stderr
		if err := imp.Run(); err != nil {
			t.Fatalf("import: %v\n%s", err, stderr.String())
		}
		var res map[string]int64
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			t.Fatalf("output %q: %v", stdout.String(), err)
		}
		// every 13th row of the demo workbook carries an invalid phone; headers are on row 3
		if res["rows_read"] != 40 || res["header_row"] != 3 || res["rejected"] < 3 || res["inserted"] < 25 || res["inserted"]+res["rejected"] > 40 {
			t.Fatalf("import result %v", res)
		}
		if !strings.Contains(stderr.String(), "import: 40 rows") {
			t.Fatalf("no progress lines: %s", stderr.String())
		}
	})

	t.Run("PortInUseIsOneClearLine", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		cmd := exec.Command(bin, "serve", "--addr", l.Addr().String(), "--database-url", pgtest.NewDBURL(t))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "cannot listen on "+l.Addr().String()) {
			t.Fatalf("err %v, stderr %q", err, stderr.String())
		}
	})

	t.Run("ServesUntilInterruptedAndUserCreateBootstraps", func(t *testing.T) {
		db := pgtest.NewDBURL(t)
		addr := freeAddr(t)
		env := append(os.Environ(), "DATABASE_URL="+db, "PREGON_ADDR="+addr, "PREGON_DATA_DIR="+t.TempDir())
		create := exec.Command(bin, "user", "create", "--workspace", "Tienda Lupita", "--email", "lupita@example.com", "--password", "una-clave-larga")
		create.Env = env
		if out, err := create.CombinedOutput(); err != nil || !strings.Contains(string(out), "owner of workspace") {
			t.Fatalf("user create: %v %s", err, out)
		}
		cmd := exec.Command(bin, "serve")
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := http.Get("http://" + addr + "/readyz")
			if err == nil && res.StatusCode == 200 {
				res.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not ready: %v\n%s", err, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		res, err := http.Post("http://"+addr+"/api/v1/auth/login", "application/json",
			strings.NewReader(`{"email":"lupita@example.com","password":"una-clave-larga"}`))
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("login: %v %v", err, res.Status)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("did not stop within 30 s of SIGTERM")
		}
	})
}

// pregon --help lists every command, one line each.
func TestUsageListsEveryCommand(t *testing.T) {
	cmds := commands()
	for _, name := range []string{"serve", "worker", "migrate", "user", "import", "export", "sim", "demo", "version"} {
		if cmds[name] == nil {
			t.Errorf("command %s is not registered", name)
		}
	}
	lines := map[string]int{}
	for _, l := range strings.Split(usage, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "pregon" && strings.HasPrefix(l, "  ") {
			lines[f[1]]++
		}
	}
	for name := range cmds {
		if lines[name] != 1 {
			t.Errorf("usage lists %s on %d lines, want 1:\n%s", name, lines[name], usage)
		}
	}
	if len(lines) != len(cmds) {
		t.Errorf("usage lists %d commands, %d exist", len(lines), len(cmds))
	}
}
