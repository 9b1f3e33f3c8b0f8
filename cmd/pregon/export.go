package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pregon/pregon/reports"
	"github.com/pregon/pregon/store"
)

func init() { extraCommands["export"] = runExport }

const exportUsage = `pregon export campaign ID [flags]    one row per recipient of a campaign
pregon export template ID [flags]    recipients of a template's campaigns (--from, --to)
pregon export contacts --workspace ID [flags]   contacts with consent evidence

flags: --format csv|xlsx  --as-of RFC3339 (default now)  -o FILE (default stdout)
       --attributes a,b  --workspace ID (default: the campaign's or template's)`

// runExport writes an export with the same code as the API (reports.Write): the same spec and
// as_of give the same bytes here, in a direct download and in a job's file.
func runExport(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{exportUsage}
	}
	spec := reports.ExportSpec{Kind: reports.Kind(args[0])}
	rest := args[1:]
	var subject int64
	switch spec.Kind {
	case reports.KindCampaign, reports.KindTemplate:
		if len(rest) == 0 {
			return usageError{"falta el id (" + string(spec.Kind) + " ID)\n" + exportUsage}
		}
		id, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || id <= 0 {
			return usageError{fmt.Sprintf("id no válido %q", rest[0])}
		}
		subject, rest = id, rest[1:]
	case reports.KindContacts:
	default:
		return usageError{fmt.Sprintf("tipo de exportación desconocido %q\n%s", args[0], exportUsage)}
	}
	var format, asOf, out, attrs, from, to string
	var workspace int64
	cfg, _, err := loadConfig("export", rest, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "csv", "csv or xlsx")
		fs.StringVar(&asOf, "as-of", "", "RFC 3339 time the export is as of (default now)")
		fs.StringVar(&out, "o", "-", "output file (- = stdout)")
		fs.StringVar(&attrs, "attributes", "", "contact attributes to add as columns, comma-separated")
		fs.StringVar(&from, "from", "", "template exports: campaigns launched from (YYYY-MM-DD)")
		fs.StringVar(&to, "to", "", "template exports: … until (exclusive)")
		fs.Int64Var(&workspace, "workspace", 0, "workspace id (default: the campaign's or template's)")
	})
	if err != nil {
		return err
	}
	spec.Format = reports.Format(strings.ToLower(format))
	if asOf != "" {
		if spec.AsOf, err = time.Parse(time.RFC3339, asOf); err != nil {
			return usageError{fmt.Sprintf("--as-of %q: use RFC 3339, e.g. 2026-03-02T15:30:00Z", asOf)}
		}
	}
	for _, p := range []struct {
		v   string
		dst *time.Time
	}{{from, &spec.From}, {to, &spec.To}} {
		if p.v != "" {
			if *p.dst, err = time.Parse("2006-01-02", p.v); err != nil {
				return usageError{fmt.Sprintf("fecha no válida %q: use AAAA-MM-DD", p.v)}
			}
		}
	}
	if attrs != "" {
		for _, a := range strings.Split(attrs, ",") {
			spec.Attributes = append(spec.Attributes, strings.TrimSpace(a))
		}
	}
	if spec.Kind == reports.KindContacts && workspace == 0 {
		return usageError{"contacts needs --workspace ID"}
	}
	log := newLogger(cfg, os.Stderr)
	e, err := open(ctx, cfg, log, cfg.Migrate, 4)
	if err != nil {
		return err
	}
	defer e.close()
	switch spec.Kind {
	case reports.KindCampaign:
		spec.CampaignID = subject
		if workspace == 0 {
			err = e.pool.QueryRow(ctx, `SELECT workspace_id FROM campaigns WHERE id = $1`, subject).Scan(&workspace)
		}
	case reports.KindTemplate:
		spec.TemplateID = subject
		if workspace == 0 {
			err = e.pool.QueryRow(ctx, `SELECT workspace_id FROM templates WHERE id = $1`, subject).Scan(&workspace)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return subjectNotFound(ctx, e, spec.Kind, subject, 0)
	}
	if err != nil {
		return fmt.Errorf("finding %s %d: %w", spec.Kind, subject, err)
	}
	spec.WorkspaceID = workspace
	if err := spec.Validate(); err != nil {
		return usageError{err.Error()}
	}
	if err := reports.CheckSubject(ctx, e.pool, spec); errors.Is(err, store.ErrNotFound) {
		return subjectNotFound(ctx, e, spec.Kind, subject, workspace)
	} else if err != nil {
		return fmt.Errorf("%s %d in workspace %d: %w", spec.Kind, subject, workspace, err)
	}
	total, err := reports.Count(ctx, e.pool, spec)
	if err != nil {
		return err
	}

	var w io.Writer = os.Stdout
	var tmp *os.File
	if out != "-" {
		if tmp, err = os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*"); err != nil {
			return fmt.Errorf("creating %s: %w", out, err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		w = tmp
	}
	bar := newProgressBar(os.Stderr, total)
	n, err := reports.Write(ctx, e.pool, spec, w, bar.update)
	bar.done(n, err)
	if err != nil {
		return err
	}
	if tmp != nil {
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("writing %s: %w", out, err)
		}
		if err := os.Rename(tmp.Name(), out); err != nil {
			return fmt.Errorf("writing %s: %w", out, err)
		}
	}
	return nil
}

// progressBar draws a bar on a terminal and plain lines (every 10 %) otherwise.
type progressBar struct {
	label    string // "export" unless set
	w        io.Writer
	total    int64
	tty      bool
	start    time.Time
	lastTen  int64
	lastDraw time.Time
}

func newProgressBar(w *os.File, total int64) *progressBar {
	fi, err := w.Stat()
	return &progressBar{label: "export", w: w, total: total, tty: err == nil && fi.Mode()&os.ModeCharDevice != 0, start: time.Now()}
}

func (p *progressBar) update(n int64) {
	pct := float64(1)
	if p.total > 0 {
		pct = min(1, float64(n)/float64(p.total))
	}
	if !p.tty {
		if ten := int64(pct * 10); ten > p.lastTen {
			p.lastTen = ten
			fmt.Fprintf(p.w, "%s: %d/%d rows (%d%%) %.1fs\n", p.label, n, p.total, ten*10, time.Since(p.start).Seconds())
		}
		return
	}
	if time.Since(p.lastDraw) < 100*time.Millisecond && n < p.total {
		return
	}
	p.lastDraw = time.Now()
	const width = 30
	fill := int(pct * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %d/%d rows %.1fs", strings.Repeat("█", fill), strings.Repeat("░", width-fill),
		pct*100, n, p.total, time.Since(p.start).Seconds())
}

func (p *progressBar) done(n int64, err error) {
	if p.tty {
		fmt.Fprintln(p.w)
	}
	if err == nil {
		fmt.Fprintf(p.w, "%s: %d rows in %.1fs\n", p.label, n, time.Since(p.start).Seconds())
	}
}

// subjectNotFound says, in Spanish, that the campaign or template to export does not exist in
// the workspace (0: in any workspace).
func subjectNotFound(ctx context.Context, e *env, kind reports.Kind, id, workspace int64) error {
	what := "campaña"
	if kind == reports.KindTemplate {
		what = "plantilla"
	}
	if workspace == 0 {
		return fmt.Errorf("%s %d no encontrada en ningún espacio de trabajo", what, id)
	}
	where := fmt.Sprintf("el espacio de trabajo %d", workspace)
	if ws, err := store.WorkspaceGetByID(ctx, e.pool, workspace); err == nil {
		where += fmt.Sprintf(" («%s»)", ws.Name)
	} else if errors.Is(err, store.ErrNotFound) {
		where += ", que no existe"
	}
	return fmt.Errorf("%s %d no encontrada en %s", what, id, where)
}
