package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/pregon/pregon/importers"
)

func init() { extraCommands["import"] = runImport }

// runImport imports a contact file synchronously, with a progress bar on a terminal:
//
//	pregon import FILE --workspace ID|NAME [--sheet S] [--map phone=C,name=A] [--mode update]
func runImport(ctx context.Context, args []string) error {
	var workspace, sheet, mapSpec, mode, consentSource, consentText string
	var declared bool
	var headerRow int
	// The file comes first; flags follow it.
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return usageError{"usage: pregon import FILE --workspace ID|NAME [--sheet S] [--header-row N] [--map phone=C,name=A,…] [--mode add|update|merge_tags] [--consent-declared --consent-source S --consent-text T]"}
	}
	path := args[0]
	cfg, _, err := loadConfig("import", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&workspace, "workspace", "", "workspace id or name")
		fs.StringVar(&sheet, "sheet", "", "XLSX sheet (default: the first visible one)")
		fs.IntVar(&headerRow, "header-row", 0, "header row number (0: detect, -1: none)")
		fs.StringVar(&mapSpec, "map", "", "column overrides, e.g. phone=C,name=A,ciudad=E:text,F=ignore")
		fs.StringVar(&mode, "mode", "update", "existing contacts: add (leave them), update, merge_tags")
		fs.BoolVar(&declared, "consent-declared", false, "every row of the file gave documented opt-in")
		fs.StringVar(&consentSource, "consent-source", "", "where the consent was collected (with --consent-declared)")
		fs.StringVar(&consentText, "consent-text", "", "the consent text or its version (with --consent-declared)")
	})
	if err != nil {
		return err
	}
	if workspace == "" {
		return usageError{"--workspace is required"}
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	log := newLogger(cfg, os.Stderr)
	e, err := open(ctx, cfg, log, cfg.Migrate, 8)
	if err != nil {
		return err
	}
	defer e.close()
	ws, err := findOrCreateWorkspace(ctx, e, workspace)
	if err != nil {
		return fmt.Errorf("workspace %q: %w", workspace, err)
	}
	bar := newProgressBar(os.Stderr, 0)
	bar.label = "import"
	res, err := importers.Run(ctx, e.pool, importers.Params{
		WorkspaceID: ws.ID, Path: path, Open: importers.Options{Sheet: sheet}, HeaderRow: headerRow,
		MapSpec: mapSpec, Mode: importers.Mode(mode),
		Consent: importers.Declaration{Declared: declared, Source: consentSource, Text: consentText},
	}, func(p importers.Progress) {
		bar.total = max(p.RowsTotal, p.RowsRead)
		bar.update(p.RowsRead)
	})
	bar.done(res.RowsRead, err)
	if err != nil {
		return err
	}
	out, _ := json.MarshalIndent(map[string]any{
		"import_id": res.ImportID, "rows_read": res.RowsRead, "inserted": res.Inserted, "updated": res.Updated,
		"unchanged": res.Unchanged, "rejected": res.Rejected, "duplicates": res.Duplicates,
		"without_consent": res.WithoutConsent, "header_row": res.HeaderRow,
	}, "", "  ")
	fmt.Println(string(out))
	if res.Rejected > 0 {
		fmt.Fprintf(os.Stderr, "%d rows rejected: GET /api/v1/imports/%d/errors?format=xlsx lists each with its reason\n", res.Rejected, res.ImportID)
	}
	return nil
}
