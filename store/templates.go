package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Template is a message template synced from Meta.
type Template struct {
	ID              int64           `json:"id"`
	WorkspaceID     int64           `json:"workspace_id"`
	WABAID          string          `json:"waba_id"`
	MetaID          string          `json:"meta_id"`
	Name            string          `json:"name"`
	Language        string          `json:"language"`
	Category        string          `json:"category"`         // MARKETING | UTILITY | AUTHENTICATION
	Status          string          `json:"status"`           // APPROVED, PAUSED, DISABLED, REJECTED, PENDING…
	Quality         string          `json:"quality"`          // GREEN | YELLOW | RED | UNKNOWN
	ParameterFormat string          `json:"parameter_format"` // POSITIONAL | NAMED
	Components      json.RawMessage `json:"components"`
	StatusReason    string          `json:"status_reason,omitempty"`
	SyncedAt        *time.Time      `json:"synced_at,omitempty"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
}

// Sendable reports whether Meta accepts sends of the template now.
func (t Template) Sendable() bool { return t.Status == "APPROVED" }

// TemplateStatusText is a template status Meta reports (PAUSED, REJECTED…) in Spanish words,
// for messages and logs people read; an unknown one comes back as it is. The UI has its own
// words in both languages (tmpl.status.* messages).
func TemplateStatusText(status string) string {
	if w, ok := templateStatusText[strings.ToUpper(status)]; ok {
		return w
	}
	return status
}

var templateStatusText = map[string]string{
	"APPROVED": "aprobada", "PENDING": "en revisión", "IN_APPEAL": "en apelación", "PAUSED": "pausada por Meta",
	"REJECTED": "rechazada", "DISABLED": "desactivada", "DELETED": "eliminada", "PENDING_DELETION": "por eliminar",
	"ARCHIVED": "archivada", "LOCKED": "bloqueada", "FLAGGED": "señalada por Meta", "LIMIT_EXCEEDED": "límite de plantillas superado",
	"REINSTATED": "restablecida",
}

// QualityText is a quality rating Meta reports (GREEN, YELLOW, RED…) in Spanish words, as
// TemplateStatusText (the UI's are the quality.* messages).
func QualityText(q string) string {
	switch strings.ToUpper(q) {
	case "GREEN":
		return "alta"
	case "YELLOW":
		return "media"
	case "RED":
		return "baja"
	case "UNKNOWN", "NA", "":
		return "sin calificar"
	}
	return q
}

// TemplateStopStatuses are the template statuses that pause the campaigns using it, whether a
// webhook or a sync reports them: none of them can be sent (Sendable), and FLAGGED is Meta's
// warning that the template is about to be paused or disabled for low quality.
var TemplateStopStatuses = map[string]bool{"PAUSED": true, "DISABLED": true, "REJECTED": true, "DELETED": true,
	"PENDING_DELETION": true, "ARCHIVED": true, "LOCKED": true, "LIMIT_EXCEEDED": true, "FLAGGED": true, "PENDING": true}

const templateColumns = `id, workspace_id, waba_id, meta_id, name, language, category, status, quality, parameter_format,
	components, status_reason, synced_at, created_at, updated_at`

func scanTemplate(row pgx.Row) (Template, error) {
	var t Template
	var comps []byte
	err := row.Scan(&t.ID, &t.WorkspaceID, &t.WABAID, &t.MetaID, &t.Name, &t.Language, &t.Category, &t.Status, &t.Quality,
		&t.ParameterFormat, &comps, &t.StatusReason, &t.SyncedAt, &t.CreatedAt, &t.UpdatedAt)
	if err != nil {
		return t, NotFoundIfNoRows(err)
	}
	t.Components = comps
	return t, nil
}

func scanTemplates(rows pgx.Rows) ([]Template, error) {
	defer rows.Close()
	out := []Template{}
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TemplateGetByID reads one template of a workspace.
func TemplateGetByID(ctx context.Context, db DBTX, workspaceID, id int64) (Template, error) {
	return scanTemplate(db.QueryRow(ctx, `SELECT `+templateColumns+` FROM templates WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
}

// TemplateListByMetaID finds templates by Meta's template id. Not workspace-scoped by design:
// template webhooks carry only Meta's id (and the WABA), so they route by it.
func TemplateListByMetaID(ctx context.Context, db DBTX, metaID string) ([]Template, error) {
	rows, err := db.Query(ctx, `SELECT `+templateColumns+` FROM templates WHERE meta_id = $1 ORDER BY id`, metaID)
	if err != nil {
		return nil, fmt.Errorf("finding template %s: %w", metaID, err)
	}
	return scanTemplates(rows)
}

// TemplateFilter narrows TemplateList.
type TemplateFilter struct {
	Status   string
	Category string
	Name     string // substring, case-insensitive
	Limit    int
	Cursor   int64 // last id seen (ids ascend)
}

// TemplateList lists a workspace's templates by id.
func TemplateList(ctx context.Context, db DBTX, workspaceID int64, f TemplateFilter) ([]Template, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	rows, err := db.Query(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE workspace_id = $1 AND id > $2 AND ($3 = '' OR status = upper($3)) AND ($4 = '' OR category = upper($4))
		  AND ($5 = '' OR name ILIKE '%' || $5 || '%')
		ORDER BY id LIMIT $6`, workspaceID, f.Cursor, f.Status, f.Category, escapeLike(f.Name), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("listing templates: %w", err)
	}
	return scanTemplates(rows)
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// TemplateSync is one template as Meta describes it, for TemplateUpsert.
type TemplateSync struct {
	WABAID          string
	MetaID          string
	Name            string
	Language        string
	Category        string
	Status          string
	Quality         string
	ParameterFormat string
	Components      json.RawMessage
	StatusReason    string
	// ReadAt is when the list this came from was asked for (zero: now). A status, quality or
	// category a webhook reported after it is newer than the list's and is kept.
	ReadAt time.Time
}

// TemplateEvent is one recorded change of a template's status, quality or category.
type TemplateEvent struct {
	ID         int64     `json:"id"`
	TemplateID int64     `json:"template_id"`
	Kind       string    `json:"kind"` // status | quality | category
	OldValue   string    `json:"old_value"`
	NewValue   string    `json:"new_value"`
	Reason     string    `json:"reason,omitempty"`
	Source     string    `json:"source"` // sync | webhook
	CreatedAt  time.Time `json:"created_at"`
}

// TemplateUpsertResult says what an upsert changed.
type TemplateUpsertResult struct {
	Template Template
	Created  bool
	Events   []TemplateEvent
}

// TemplateUpsert inserts or updates a template of a workspace (keyed on WABA, name and
// language) and records an event for every change of status, quality or category — including
// the first sighting, whose old value is "". source is "sync" or "webhook".
func TemplateUpsert(ctx context.Context, db DBTX, workspaceID int64, s TemplateSync, source string) (TemplateUpsertResult, error) {
	var res TemplateUpsertResult
	s.Language = strings.ReplaceAll(s.Language, "-", "_")
	s.Status, s.Quality, s.Category = strings.ToUpper(s.Status), strings.ToUpper(s.Quality), strings.ToUpper(s.Category)
	s.ParameterFormat = strings.ToUpper(s.ParameterFormat)
	if s.ParameterFormat == "" {
		s.ParameterFormat = "POSITIONAL"
	}
	if s.Quality == "" {
		s.Quality = "UNKNOWN"
	}
	if len(s.Components) == 0 {
		s.Components = json.RawMessage(`[]`)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return res, err
	}
	defer tx.Rollback(ctx)
	old, err := scanTemplate(tx.QueryRow(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE workspace_id = $1 AND waba_id = $2 AND name = $3 AND language = $4 FOR UPDATE`,
		workspaceID, s.WABAID, s.Name, s.Language))
	switch {
	case errors.Is(err, ErrNotFound):
		res.Created = true
	case err != nil:
		return res, fmt.Errorf("reading template %s/%s: %w", s.Name, s.Language, err)
	}
	if s.ReadAt.IsZero() {
		s.ReadAt = time.Now()
	}
	// A value a webhook reported after the list was read is newer than the list's: kept, with its
	// time. Otherwise the list's value holds as of ReadAt.
	const newer = `(templates.state_changed_at->>'%[1]s')::timestamptz > $12`
	keep := func(col string) string {
		return fmt.Sprintf(`CASE WHEN `+newer+` THEN templates.%[1]s ELSE EXCLUDED.%[1]s END`, col)
	}
	at := func(col string) string {
		return fmt.Sprintf(`CASE WHEN `+newer+` THEN templates.state_changed_at->'%[1]s' ELSE to_jsonb($12::timestamptz) END`, col)
	}
	res.Template, err = scanTemplate(tx.QueryRow(ctx, `
		INSERT INTO templates (workspace_id, waba_id, meta_id, name, language, category, status, quality,
		                       parameter_format, components, status_reason, synced_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
		ON CONFLICT (workspace_id, waba_id, name, language) DO UPDATE SET
		       meta_id = EXCLUDED.meta_id, category = `+keep("category")+`, status = `+keep("status")+`,
		       quality = `+keep("quality")+`, parameter_format = EXCLUDED.parameter_format,
		       components = EXCLUDED.components,
		       status_reason = CASE WHEN `+fmt.Sprintf(newer, "status")+` THEN templates.status_reason ELSE EXCLUDED.status_reason END,
		       synced_at = now(),
		       state_changed_at = jsonb_build_object('status', `+at("status")+`, 'quality', `+at("quality")+`, 'category', `+at("category")+`),
		       updated_at = CASE WHEN (templates.status, templates.quality, templates.category, templates.components, templates.meta_id)
		                         IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.quality, EXCLUDED.category, EXCLUDED.components, EXCLUDED.meta_id)
		                         THEN now() ELSE templates.updated_at END
		RETURNING `+templateColumns,
		workspaceID, s.WABAID, s.MetaID, s.Name, s.Language, s.Category, s.Status, s.Quality, s.ParameterFormat,
		[]byte(s.Components), s.StatusReason, s.ReadAt))
	if err != nil {
		return res, fmt.Errorf("storing template %s/%s: %w", s.Name, s.Language, err)
	}
	type change struct{ kind, old, new, reason string }
	var changes []change
	if old.Status != res.Template.Status {
		changes = append(changes, change{"status", old.Status, res.Template.Status, s.StatusReason})
	}
	if old.Quality != res.Template.Quality && !(res.Created && res.Template.Quality == "UNKNOWN") {
		changes = append(changes, change{"quality", old.Quality, res.Template.Quality, ""})
	}
	if old.Category != res.Template.Category && !res.Created {
		changes = append(changes, change{"category", old.Category, res.Template.Category, ""})
	}
	for _, ch := range changes {
		e, err := templateEventInsert(ctx, tx, workspaceID, res.Template.ID, ch.kind, ch.old, ch.new, ch.reason, source)
		if err != nil {
			return res, err
		}
		res.Events = append(res.Events, e)
	}
	return res, tx.Commit(ctx)
}

func templateEventInsert(ctx context.Context, db DBTX, workspaceID, templateID int64, kind, old, new, reason, source string) (TemplateEvent, error) {
	var e TemplateEvent
	err := db.QueryRow(ctx, `INSERT INTO template_events (workspace_id, template_id, kind, old_value, new_value, reason, source)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, template_id, kind, old_value, new_value, reason, source, created_at`,
		workspaceID, templateID, kind, old, new, reason, source).
		Scan(&e.ID, &e.TemplateID, &e.Kind, &e.OldValue, &e.NewValue, &e.Reason, &e.Source, &e.CreatedAt)
	if err != nil {
		return e, fmt.Errorf("recording %s event of template %d: %w", kind, templateID, err)
	}
	return e, nil
}

// TemplateChange is the outcome of TemplateSetState.
type TemplateChange struct {
	Changed bool // the value changed (and an event was recorded)
	Stale   bool // the report is older than the value held: nothing was applied
}

// TemplateSetState applies a status, quality or category change learnt from a webhook to one
// template (by id, not workspace-scoped: the webhook resolved it by Meta id) and records the
// event when the value changed. kind is status | quality | category. at is when Meta says the
// change happened (zero: now); a report older than the one behind the value held is stale and
// changes nothing, so webhooks processed out of order never undo a newer state.
func TemplateSetState(ctx context.Context, db DBTX, templateID int64, kind, value, reason, source string, at time.Time) (TemplateChange, error) {
	var res TemplateChange
	col := map[string]string{"status": "status", "quality": "quality", "category": "category"}[kind]
	if col == "" {
		return res, fmt.Errorf("unknown template event kind %q", kind)
	}
	if at.IsZero() {
		at = time.Now()
	}
	value = strings.ToUpper(value)
	tx, err := db.Begin(ctx)
	if err != nil {
		return res, err
	}
	defer tx.Rollback(ctx)
	var workspaceID int64
	var old string
	var heldAt *time.Time
	// col comes from the fixed map above, never from input.
	if err := tx.QueryRow(ctx, `SELECT workspace_id, `+col+`, (state_changed_at->>$2)::timestamptz FROM templates WHERE id = $1 FOR UPDATE`,
		templateID, kind).Scan(&workspaceID, &old, &heldAt); err != nil {
		return res, NotFoundIfNoRows(err)
	}
	if heldAt != nil && olderThanHeld(at, *heldAt) {
		res.Stale = true
		return res, nil
	}
	if kind != "status" {
		reason = ""
	}
	if _, err := tx.Exec(ctx, `UPDATE templates SET `+col+` = $2,
		status_reason = CASE WHEN $3 = 'status' AND `+col+` <> $2 THEN $4 ELSE status_reason END,
		state_changed_at = state_changed_at || jsonb_build_object($3::text, $5::timestamptz),
		updated_at = CASE WHEN `+col+` <> $2 THEN now() ELSE updated_at END WHERE id = $1`,
		templateID, value, kind, reason, at); err != nil {
		return res, fmt.Errorf("updating %s of template %d: %w", kind, templateID, err)
	}
	if old != value {
		if _, err := templateEventInsert(ctx, tx, workspaceID, templateID, kind, old, value, reason, source); err != nil {
			return res, err
		}
		res.Changed = true
	}
	return res, tx.Commit(ctx)
}

// TemplateEventList lists a template's events, newest first.
func TemplateEventList(ctx context.Context, db DBTX, workspaceID, templateID int64, limit int) ([]TemplateEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.Query(ctx, `SELECT id, template_id, kind, old_value, new_value, reason, source, created_at FROM template_events
		WHERE workspace_id = $1 AND template_id = $2 ORDER BY id DESC LIMIT $3`, workspaceID, templateID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing events of template %d: %w", templateID, err)
	}
	defer rows.Close()
	out := []TemplateEvent{}
	for rows.Next() {
		var e TemplateEvent
		if err := rows.Scan(&e.ID, &e.TemplateID, &e.Kind, &e.OldValue, &e.NewValue, &e.Reason, &e.Source, &e.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
