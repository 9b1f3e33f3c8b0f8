package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/store"
)

const demoEmail = "demo@pregon.local"

// afterStart seeds the demo workspace when PREGON_DEMO is on and no workspace exists yet.
func afterStart(ctx context.Context, e *env, rc *river.Client[pgx.Tx]) error {
	if !e.cfg.Demo {
		return nil
	}
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM workspaces`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return markDemoOperator(ctx, e)
	}
	return seedDemo(ctx, e, rc)
}

// markDemoOperator keeps `make run`'s River UI open for the demo owner on a data folder seeded
// before accounts had an operator flag (migration 0180): the demo password file in the data
// folder shows this installation's seed made the account, not a workspace owner.
func markDemoOperator(ctx context.Context, e *env) error {
	if !e.cfg.IsAdmin(demoEmail) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(e.cfg.DataDir, "demo-password")); err != nil {
		return nil
	}
	if err := store.UserMarkOperator(ctx, e.pool, demoEmail); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("marking the demo owner as the operator: %w", err)
	}
	return nil
}

// seedDemo creates a Latin American small business: a workspace in Bogotá, its owner, a
// simulated coexistence number (templates are synced from the simulator by a job), and the
// sample workbook to import.
func seedDemo(ctx context.Context, e *env, rc *river.Client[pgx.Tx]) error {
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	ws, err := store.WorkspaceCreate(ctx, tx, store.WorkspaceCreateParams{
		Name: "Café Aurora (demo)", TimeZone: "America/Bogota", DefaultCountry: "CO", MessagingLimit: 2000,
		// The tour sends at whatever hour someone tries it; a new workspace keeps 20:00–08:00.
		Settings: store.NoQuietHours,
	})
	if err != nil {
		return fmt.Errorf("seeding demo workspace: %w", err)
	}
	password := store.RandomToken(9)
	if _, err := store.UserCreate(ctx, tx, store.UserCreateParams{
		WorkspaceID: ws.ID, Email: demoEmail, Name: "Dueña de Café Aurora", Password: password, Role: store.RoleOwner,
		// make run: the demo owner operates the installation (serve lists its e-mail in
		// AdminEmails when none is configured).
		Installation: true, Operator: true,
	}); err != nil {
		return fmt.Errorf("seeding demo owner: %w", err)
	}
	appSecret, _ := SimulatorSecrets(e.cfg.SecretKey)
	if _, err := store.SenderNumberCreate(ctx, tx, store.SenderNumberCreateParams{
		WorkspaceID: ws.ID, PhoneNumberID: demoPhoneNumberID, WABAID: demoWABAID, DisplayNumber: "+57 310 5550123",
		AppSecretEnc: e.box.Seal(appSecret), VerifyToken: store.RandomToken(12), UseSimulator: true, Coexistence: true,
	}); err != nil {
		return fmt.Errorf("seeding the demo number: %w", err)
	}
	if _, err := rc.InsertTx(ctx, tx, jobs.SyncTemplatesArgs{WorkspaceID: ws.ID}, nil); err != nil {
		return fmt.Errorf("queueing the demo template sync: %w", err)
	}
	if err := os.WriteFile(filepath.Join(e.cfg.DataDir, "demo-password"), []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	if err := WriteSampleWorkbook(filepath.Join(e.cfg.DataDir, "clientes-demo.xlsx"), 60, 2026); err != nil {
		return fmt.Errorf("writing the demo workbook: %w", err)
	}
	return tx.Commit(ctx)
}

func printLoginHint(ctx context.Context, e *env) {
	if b, err := os.ReadFile(filepath.Join(e.cfg.DataDir, "demo-password")); err == nil {
		fmt.Fprintf(os.Stderr, "  Log in as %s with password %s\n", demoEmail, strings.TrimSpace(string(b)))
		fmt.Fprintf(os.Stderr, "  Sample contact list to import: %s\n\n", filepath.Join(e.cfg.DataDir, "clientes-demo.xlsx"))
		return
	}
	var users int
	e.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&users)
	if users == 0 {
		fmt.Fprintf(os.Stderr, "  No users yet: create an owner with\n    pregon user create --workspace \"Mi negocio\" --email you@example.com --password '…'\n\n")
	}
}
