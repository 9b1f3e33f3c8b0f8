package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pregon/pregon/internal/pgtest"
)

// TestOperatorsAreMadeByTheInstallation: the River UI opens for the accounts the installation
// made operators: `pregon user create` with an e-mail of PREGON_ADMIN_EMAILS, and make run's
// demo owner, also on a data folder seeded before accounts had the operator flag.
func TestOperatorsAreMadeByTheInstallation(t *testing.T) {
	bin := buildBinary(t)
	// serve starts the binary on the data folder dir, logs email in (with the demo's password
	// when password is empty) and returns the status of the River UI, then stops it.
	serve := func(t *testing.T, env []string, dir, email, password string, args ...string) int {
		t.Helper()
		addr := freeAddr(t)
		cmd := exec.Command(bin, append([]string{"serve", "--addr", addr}, args...)...)
		cmd.Env = append(env, "PREGON_DATA_DIR="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		deadline := time.Now().Add(60 * time.Second)
		for {
			res, err := http.Get("http://" + addr + "/readyz")
			if err == nil && res.StatusCode == 200 {
				res.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not ready: %v\n%s", err, stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		for ; password == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			b, _ := os.ReadFile(filepath.Join(dir, "demo-password")) // written by the seed
			password = strings.TrimSpace(string(b))
		}
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		res, err := c.Post("http://"+addr+"/api/v1/auth/login", "application/json",
			strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("login %s: %v %v\n%s", email, err, res.Status, stderr.String())
		}
		res.Body.Close()
		if res, err = c.Get("http://" + addr + "/admin/river/"); err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}

	t.Run("UserCreateMakesTheAdminEmailsOperators", func(t *testing.T) {
		dir := t.TempDir()
		env := append(os.Environ(), "DATABASE_URL="+pgtest.NewDBURL(t), "PREGON_ADMIN_EMAILS=ops@example.com")
		for _, email := range []string{"ops@example.com", "duena@example.com"} {
			create := exec.Command(bin, "user", "create", "--workspace", "Tienda Lupita", "--email", email, "--password", "una-clave-larga")
			create.Env = append(env, "PREGON_DATA_DIR="+dir)
			if out, err := create.CombinedOutput(); err != nil {
				t.Fatalf("user create: %v %s", err, out)
			}
		}
		if got := serve(t, env, dir, "ops@example.com", "una-clave-larga"); got != http.StatusOK {
			t.Errorf("the operator made by user create: River UI %d, want 200", got)
		}
		if got := serve(t, env, dir, "duena@example.com", "una-clave-larga"); got != http.StatusForbidden {
			t.Errorf("a workspace owner: River UI %d, want 403", got)
		}
	})

	t.Run("DemoOwnerOperates", func(t *testing.T) {
		url := pgtest.NewDBURL(t)
		dir := t.TempDir()
		env := append(os.Environ(), "DATABASE_URL="+url, "PREGON_ADMIN_EMAILS=")
		if got := serve(t, env, dir, demoEmail, "", "--demo"); got != http.StatusOK {
			t.Fatalf("the demo owner: River UI %d, want 200", got)
		}
		// A data folder seeded before migration 0180: its demo owner has no operator flag.
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `UPDATE users SET operator = false`); err != nil {
			t.Fatal(err)
		}
		if got := serve(t, env, dir, demoEmail, "", "--demo"); got != http.StatusOK {
			t.Fatalf("the demo owner of an older data folder: River UI %d, want 200", got)
		}
	})
}
