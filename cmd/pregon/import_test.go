package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pregon/pregon/store"
)

// bigCSV writes a list of 300,000 contacts (a few seconds to import) named name in dir.
func bigCSV(t *testing.T, dir, name string) string {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("telefono,nombre\n")
	for i := range 300_000 {
		fmt.Fprintf(&sb, "3%09d,Cliente %d\n", 100000000+i, i)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImportCommand(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	ctx := context.Background()
	e := newCLIEnv(t, "Tienda Lupita")
	pool, ws, dir, env := e.pool, e.ws, e.dir, e.env
	small := filepath.Join(dir, "clientes.csv")
	if err := os.WriteFile(small, []byte("Nombre,Celular,Ciudad\nAna,3001234567,Cali\nLuis,3007654321,Bogotá\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"import"}, args...)...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		return stderr.String(), err
	}
	// startImport starts importing path into the workspace in the background.
	startImport := func(path string) (*exec.Cmd, *bytes.Buffer) {
		t.Helper()
		cmd := exec.Command(bin, "import", path, "--workspace", fmt.Sprint(ws.ID))
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &stderr
	}
	count := func(t *testing.T, query string, args ...any) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, query, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("MistypedWorkspaceIsRefusedNotCreated", func(t *testing.T) {
		stderr, err := run(t, small, "--workspace", "Tienda Lupta")
		if err == nil || !strings.Contains(stderr, `"Tienda Lupta"`) || !strings.Contains(stderr, fmt.Sprintf("%d\tTienda Lupita", ws.ID)) {
			t.Fatalf("err %v, stderr %q", err, stderr)
		}
		if n := count(t, `SELECT count(*) FROM workspaces`); n != 1 {
			t.Fatalf("%d workspaces: a mistyped name created one", n)
		}
		if _, err := run(t, small, "--workspace", fmt.Sprint(ws.ID+100)); err == nil {
			t.Fatal("an unknown workspace id was accepted")
		}
	})

	t.Run("MapColumnTheFileDoesNotHave", func(t *testing.T) {
		stderr, err := run(t, small, "--workspace", "Tienda Lupita", "--map", "phone=Z")
		if err == nil || !strings.Contains(stderr, "la columna Z no existe") || !strings.Contains(stderr, "A (Nombre), B (Celular), C (Ciudad)") {
			t.Fatalf("err %v, stderr %q", err, stderr)
		}
		if n := count(t, `SELECT count(*) FROM imports`); n != 0 {
			t.Fatalf("%d imports recorded", n)
		}
	})

	t.Run("BadMapShowsTheSpanishMessage", func(t *testing.T) {
		stderr, err := run(t, small, "--workspace", "Tienda Lupita", "--map", "phone")
		if err == nil || !strings.Contains(stderr, "use tipo=COLUMNA") {
			t.Fatalf("err %v, stderr %q", err, stderr)
		}
	})

	t.Run("ConsentDeclaredNeedsItsSource", func(t *testing.T) {
		stderr, err := run(t, small, "--workspace", "Tienda Lupita", "--consent-declared")
		if err == nil || !strings.Contains(stderr, "consentimiento") {
			t.Fatalf("err %v, stderr %q", err, stderr)
		}
		if n := count(t, `SELECT count(*) FROM imports`); n != 0 {
			t.Fatalf("%d imports recorded", n)
		}
	})

	t.Run("InterruptedImportIsCancelled", func(t *testing.T) {
		cmd, stderr := startImport(bigCSV(t, dir, "grande.csv"))
		defer cmd.Process.Kill()
		var id int64
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := pool.QueryRow(ctx, `SELECT id FROM imports WHERE filename = 'grande.csv' AND status = 'running'`).Scan(&id)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("import never running: %v\n%s", err, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err == nil {
			t.Fatalf("an interrupted import exited 0:\n%s", stderr.String())
		}
		imp, err := store.ImportGetByID(ctx, pool, ws.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if imp.Status != store.ImportCancelled || imp.FinishedAt == nil || imp.Inserted != 0 {
			t.Fatalf("after Ctrl-C: %+v\n%s", imp, stderr.String())
		}
		if n := count(t, `SELECT count(*) FROM contacts`); n != 0 {
			t.Fatalf("%d contacts kept", n)
		}
	})

	t.Run("ProgressOnTheImportsRowAndCancelFromTheAPI", func(t *testing.T) {
		cmd, stderr := startImport(bigCSV(t, dir, "grande2.csv"))
		defer cmd.Process.Kill()
		// What GET /api/v1/imports/:id shows while the command runs: rows read so far.
		var id, read int64
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := pool.QueryRow(ctx, `SELECT id, rows_read FROM imports WHERE filename = 'grande2.csv' AND status = 'running'`).Scan(&id, &read)
			if err == nil && read > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no progress on the imports row: %v\n%s", err, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := store.ImportCancel(ctx, pool, ws.ID, id); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err == nil {
			t.Fatalf("an import cancelled from the API exited 0:\n%s", stderr.String())
		}
		if !strings.Contains(stderr.String(), "se canceló desde la API") {
			t.Fatalf("the command does not say it was cancelled:\n%s", stderr.String())
		}
		imp, err := store.ImportGetByID(ctx, pool, ws.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if imp.Status != store.ImportCancelled || imp.Inserted != 0 {
			t.Fatalf("after the cancel: %+v", imp)
		}
		if n := count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, ws.ID); n != 0 {
			t.Fatalf("%d contacts kept", n)
		}
	})

	t.Run("ImportsIntoTheNamedWorkspace", func(t *testing.T) {
		stderr, err := run(t, small, "--workspace", "Tienda Lupita", "--map", "phone=B", "--consent-declared", "--consent-source", "tienda")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		if n := count(t, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, ws.ID); n != 2 {
			t.Fatalf("%d contacts", n)
		}
	})
}
