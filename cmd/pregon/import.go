package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/pregon/pregon/importers"
	"github.com/pregon/pregon/store"
)

func init() { extraCommands["import"] = runImport }

// runImport imports a contact file synchronously, with a progress bar on a terminal:
//
//	pregon import FILE --workspace ID|NAME [--sheet S] [--map phone=C,name=A] [--mode update]
//
// The workspace must exist. An import that fails or is interrupted (Ctrl-C) is rolled back and
// its imports row says so.
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
		fs.StringVar(&workspace, "workspace", "", "workspace id or exact name (it must exist)")
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
	if headerRow < -1 {
		return usageError{"--header-row: número de fila, o -1 si no hay encabezados"}
	}
	// As the API: a declaration must say where and how the consent was collected.
	if declared && strings.TrimSpace(consentSource) == "" && strings.TrimSpace(consentText) == "" {
		return usageError{"--consent-declared: indique dónde y cómo se obtuvo el consentimiento de estos contactos (--consent-source y/o --consent-text)"}
	}
	if !store.ImportMode(mode).Valid() {
		return usageError{fmt.Sprintf("--mode %q: modo desconocido: add, update o merge_tags", mode)}
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
	ws, err := findWorkspace(ctx, e, workspace)
	if errors.Is(err, store.ErrNotFound) {
		return workspaceNotFound(ctx, e, workspace)
	}
	if err != nil {
		return fmt.Errorf("workspace %q: %w", workspace, err)
	}
	opts := importers.Options{Sheet: sheet}
	if mapSpec != "" {
		// Every column --map names must be one of the file's (as the API checks).
		pv, err := importers.PreviewFile(ctx, path, "", opts, ws.DefaultCountry, headerRow)
		if err != nil {
			return fileErrorMessage(err)
		}
		if err := checkMapColumns(mapSpec, pv); err != nil {
			return err
		}
	}
	bar := newProgressBar(os.Stderr, 0)
	bar.label = "import"
	// The progress goes to the imports row too, as for an upload: the API and the UI show it,
	// and a cancel there (the row is no longer running) stops this command.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	res, err := importers.Run(runCtx, e.pool, importers.Params{
		WorkspaceID: ws.ID, Path: path, Open: opts, HeaderRow: headerRow,
		MapSpec: mapSpec, Mode: importers.Mode(mode),
		Consent:   importers.Declaration{Declared: declared, Source: consentSource, Text: consentText},
		PhoneHash: e.box.Hash,
	}, func(p importers.Progress) {
		bar.total = max(p.RowsTotal, p.RowsRead)
		bar.update(p.RowsRead)
		if p.Phase != "reading" || p.ImportID == 0 {
			return
		}
		still, err := store.ImportSetProgress(runCtx, e.pool, ws.ID, p.ImportID, store.ImportProgress{RowsRead: p.RowsRead,
			RowsTotal: p.RowsTotal, Rejected: p.Rejected, Inserted: p.Inserted, Updated: p.Updated})
		if err != nil && runCtx.Err() == nil {
			e.log.Warn("recording import progress", "import_id", p.ImportID, "error", err.Error())
		}
		if err == nil && !still {
			cancel(importers.ErrImportCancelled)
		}
	})
	bar.done(res.RowsRead, err)
	if err != nil {
		if errors.Is(context.Cause(runCtx), importers.ErrImportCancelled) {
			return fmt.Errorf("la importación %d se canceló desde la API o la interfaz; no se guardó ningún contacto", res.ImportID)
		}
		if res.ImportID != 0 { // the imports row was created: it must not stay running
			endImport(ctx, e, ws.ID, res.ImportID, err)
		}
		return fileErrorMessage(err)
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

// endImport records an import that did not complete: cancelled when the command was
// interrupted, failed otherwise (Run rolled back everything it did).
func endImport(ctx context.Context, e *env, workspaceID, importID int64, runErr error) {
	status, msg := store.ImportFailed, "la importación por línea de comandos falló; no se guardó ningún contacto"
	var fe *importers.FileError
	switch {
	case ctx.Err() != nil:
		status, msg = store.ImportCancelled, "interrumpida en la línea de comandos; no se guardó ningún contacto"
	case errors.As(runErr, &fe):
		msg = fe.Message
	}
	if err := store.ImportFinish(context.WithoutCancel(ctx), e.pool, workspaceID, importID, status, msg); err != nil {
		e.log.Error("recording the end of the import", "import_id", importID, "error", err.Error())
	}
}

// fileErrorMessage shows an importer's file error with its Spanish message, which says what to
// do, rather than only its short English summary.
func fileErrorMessage(err error) error {
	var fe *importers.FileError
	if errors.As(err, &fe) && fe.Message != "" {
		return fmt.Errorf("%s (%s: %w)", fe.Message, fe.Code, err)
	}
	return err
}

// checkMapColumns refuses a --map naming a column past the file's last one: the import would
// reject every row.
func checkMapColumns(spec string, pv importers.Preview) error {
	width := pv.Width()
	for _, col := range importers.SpecColumns(spec) {
		if col.Index < width {
			continue
		}
		cols := make([]string, 0, min(width, 12))
		for i := range min(width, 12) {
			c := importers.ColumnLetter(i)
			if i < len(pv.Headers) && strings.TrimSpace(pv.Headers[i]) != "" {
				c += " (" + strings.TrimSpace(pv.Headers[i]) + ")"
			}
			cols = append(cols, c)
		}
		if width > 12 {
			cols = append(cols, "… "+importers.ColumnLetter(width-1))
		}
		return fmt.Errorf("--map %s: la columna %s no existe en el archivo, que tiene %d columnas: %s", col.Part, col.Letter, width, strings.Join(cols, ", "))
	}
	return nil
}
