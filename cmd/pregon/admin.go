package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/pregon/pregon/migrations"
	"github.com/pregon/pregon/store"
)

func runMigrate(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "up" && args[0] != "status") {
		return usageError{"want 'migrate up' or 'migrate status'"}
	}
	cfg, _, err := loadConfig("migrate", args[1:], nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	e, err := open(ctx, cfg, log, args[0] == "up", 4)
	if err != nil {
		return err
	}
	defer e.close()
	list, err := migrations.List(ctx, e.pool)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tNAME\tAPPLIED")
	for _, m := range list {
		at := "pending"
		if m.AppliedAt != nil {
			at = m.AppliedAt.Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(w, "%04d\t%s\t%s\n", m.Version, m.Name, at)
	}
	return w.Flush()
}

func runUser(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"want 'user create --workspace NAME --email E --password P [--role owner]'"}
	}
	var workspace, email, password, name, role string
	var operator bool
	cfg, _, err := loadConfig("user create", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&workspace, "workspace", "", "workspace id or name (created when no workspace has that name)")
		fs.StringVar(&email, "email", "", "e-mail used to log in")
		fs.StringVar(&password, "password", os.Getenv("PREGON_USER_PASSWORD"), "password (≥ 10 characters; or PREGON_USER_PASSWORD)")
		fs.StringVar(&name, "name", "", "display name")
		fs.StringVar(&role, "role", "owner", "owner, marketer or analyst")
		fs.BoolVar(&operator, "operator", false, "make the account an installation operator (the River UI, while its e-mail is in PREGON_ADMIN_EMAILS; "+
			"on by default for those e-mails); an existing account that was not one takes this password and loses its sessions")
	})
	if err != nil {
		return err
	}
	if workspace == "" || email == "" || password == "" {
		return usageError{"--workspace, --email and --password are required"}
	}
	log := newLogger(cfg, os.Stderr)
	e, err := open(ctx, cfg, log, true, 4)
	if err != nil {
		return err
	}
	defer e.close()
	ws, err := findOrCreateWorkspace(ctx, e, workspace)
	if err != nil {
		return err
	}
	// Only the installation makes operators: a workspace owner can create an account with any
	// e-mail, never the operator flag (see api.Server.requireOperator).
	u, err := store.UserCreate(ctx, e.pool, store.UserCreateParams{WorkspaceID: ws.ID, Email: email, Name: name, Password: password, Role: store.Role(role),
		Installation: true, Operator: operator || cfg.IsAdmin(email)})
	if err != nil {
		return err
	}
	fmt.Printf("user %d (%s) is %s of workspace %d (%s)\n", u.ID, u.Email, u.Role, ws.ID, ws.Name)
	return nil
}

func findOrCreateWorkspace(ctx context.Context, e *env, ref string) (store.Workspace, error) {
	ws, err := findWorkspace(ctx, e, ref)
	if errors.Is(err, store.ErrNotFound) {
		if _, nerr := strconv.ParseInt(ref, 10, 64); nerr != nil {
			return store.WorkspaceCreate(ctx, e.pool, store.WorkspaceCreateParams{Name: ref})
		}
	}
	return ws, err
}

// findWorkspace finds an existing workspace by id or exact name (store.ErrNotFound when none).
func findWorkspace(ctx context.Context, e *env, ref string) (store.Workspace, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return store.WorkspaceGetByID(ctx, e.pool, id)
	}
	var id int64
	err := e.pool.QueryRow(ctx, `SELECT id FROM workspaces WHERE name = $1 ORDER BY id LIMIT 1`, ref).Scan(&id)
	if err != nil {
		return store.Workspace{}, store.NotFoundIfNoRows(err)
	}
	return store.WorkspaceGetByID(ctx, e.pool, id)
}

// workspaceNotFound explains a --workspace that names no workspace, listing the existing ones.
func workspaceNotFound(ctx context.Context, e *env, ref string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "no workspace has the id or exact name %q (nothing was imported)", ref)
	rows, err := e.pool.Query(ctx, `SELECT id, name FROM workspaces ORDER BY id LIMIT 21`)
	if err == nil {
		defer rows.Close()
		n := 0
		for rows.Next() {
			var id int64
			var name string
			if rows.Scan(&id, &name) != nil {
				break
			}
			if n++; n > 20 {
				b.WriteString("\n  …")
				break
			}
			if n == 1 {
				b.WriteString("; the workspaces are (pass --workspace ID or the exact name):")
			}
			fmt.Fprintf(&b, "\n  %d\t%s", id, name)
		}
		if n == 0 {
			b.WriteString("; there are no workspaces yet")
		}
	}
	b.WriteString("\n(the admin UI's workspace switcher lists them too; 'pregon user create --workspace NAME …' creates one)")
	return errors.New(b.String())
}
