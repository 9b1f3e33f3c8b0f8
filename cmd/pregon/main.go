// Command pregon is Pregón's single binary: the API and admin UI, the River workers, migrations,
// the WhatsApp simulator and the command-line tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `pregon — campaigns and broadcasts for the WhatsApp Business Cloud API

Usage:
  pregon serve [--no-workers] [flags]   API, admin UI and workers (PREGON_* env vars, flags override)
  pregon worker [flags]                 workers only, for scale-out
  pregon migrate up|status              apply or list migrations
  pregon user create --workspace NAME --email E --password P [--role owner]
  pregon version

Run 'pregon <command> -h' for the flags of a command.
`

type command func(ctx context.Context, args []string) error

func main() {
	cmds := map[string]command{
		"serve":   runServe,
		"worker":  runWorker,
		"migrate": runMigrate,
		"user":    runUser,
		"version": func(context.Context, []string) error { fmt.Println("pregon", version); return nil },
	}
	for name, c := range extraCommands {
		cmds[name] = c
	}
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Print(usage)
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "pregon: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd(ctx, os.Args[2:]); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "pregon %s: %v\n", os.Args[1], err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "pregon %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// extraCommands lets other files register subcommands (import, sim, demo, export…).
var extraCommands = map[string]command{}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
