package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pregon/pregon/store"
)

const demoEmail = "demo@pregon.local"

// afterStart seeds the demo workspace when PREGON_DEMO is on and no workspace exists yet.
func afterStart(ctx context.Context, e *env) error {
	if !e.cfg.Demo {
		return nil
	}
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM workspaces`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	return seedDemo(ctx, e)
}

func seedDemo(ctx context.Context, e *env) error {
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	ws, err := store.WorkspaceCreate(ctx, tx, store.WorkspaceCreateParams{
		Name: "Café Aurora (demo)", TimeZone: "America/Bogota", DefaultCountry: "CO", MessagingLimit: 2000,
	})
	if err != nil {
		return fmt.Errorf("seeding demo workspace: %w", err)
	}
	password := store.RandomToken(9)
	if _, err := store.UserCreate(ctx, tx, store.UserCreateParams{
		WorkspaceID: ws.ID, Email: demoEmail, Name: "Dueña de Café Aurora", Password: password, Role: store.RoleOwner,
	}); err != nil {
		return fmt.Errorf("seeding demo owner: %w", err)
	}
	if err := os.WriteFile(filepath.Join(e.cfg.DataDir, "demo-password"), []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func printLoginHint(ctx context.Context, e *env) {
	if b, err := os.ReadFile(filepath.Join(e.cfg.DataDir, "demo-password")); err == nil {
		fmt.Fprintf(os.Stderr, "  Log in as %s with password %s\n\n", demoEmail, strings.TrimSpace(string(b)))
		return
	}
	var users int
	e.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&users)
	if users == 0 {
		fmt.Fprintf(os.Stderr, "  No users yet: create an owner with\n    pregon user create --workspace \"Mi negocio\" --email you@example.com --password '…'\n\n")
	}
}
