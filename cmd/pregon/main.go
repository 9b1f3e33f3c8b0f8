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
  pregon serve [flags]              API, admin UI and workers (--no-workers: API only; --demo: seed a demo)
  pregon worker [flags]             River workers only, for scale-out
  pregon migrate up|status          apply or list the database migrations
  pregon user create [flags]        add a user to a workspace (--workspace, --email, --password, --role, --operator)
  pregon import FILE [flags]        import contacts from an .xlsx or .csv file (--workspace ID|NAME)
  pregon export KIND [ID] [flags]   export a campaign, a template's campaigns or the contacts (CSV or XLSX)
  pregon sim [flags]                run the WhatsApp Cloud API simulator on its own
  pregon demo [flags]               write the demo contact workbook (-o FILE, --rows N)
  pregon version                    print the version

Settings come from PREGON_* environment variables; flags override them.
Run 'pregon <command> -h' for the flags of a command.
`

type command func(ctx context.Context, args []string) error

// commands are every subcommand, by name (the usage text lists each one).
func commands() map[string]command {
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
	return cmds
}

func main() {
	cmds := commands()
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
