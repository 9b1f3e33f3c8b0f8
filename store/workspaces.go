package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Role is what a user or token may do in a workspace. Roles are ordered:
// analyst < marketer < owner; a higher role can do everything a lower one can.
type Role string

const (
	RoleAnalyst  Role = "analyst"  // reads and exports
	RoleMarketer Role = "marketer" // also imports, edits contacts and segments, drafts campaigns
	RoleOwner    Role = "owner"    // everything: launching campaigns, numbers, users, tokens
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAnalyst || r == RoleMarketer || r == RoleOwner }

func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleMarketer:
		return 2
	case RoleAnalyst:
		return 1
	}
	return 0
}

// AtLeast reports whether r includes the permissions of min.
func (r Role) AtLeast(min Role) bool { return r.rank() >= min.rank() && r.rank() > 0 }

// Workspace is one business portfolio.
type Workspace struct {
	ID             int64             `json:"id"`
	Name           string            `json:"name"`
	TimeZone       string            `json:"time_zone"`
	DefaultCountry string            `json:"default_country"`
	Locale         string            `json:"locale"`
	MessagingLimit int               `json:"messaging_limit"`
	Settings       WorkspaceSettings `json:"settings"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

// WorkspaceSettings are the workspace's tunable rules. Zero values mean "use the default";
// Effective fills them in.
type WorkspaceSettings struct {
	QuietHoursStart     string   `json:"quiet_hours_start,omitempty"`  // "20:00": default send window end
	QuietHoursEnd       string   `json:"quiet_hours_end,omitempty"`    // "08:00": default send window start
	FrequencyCap        int      `json:"frequency_cap,omitempty"`      // marketing messages per contact…
	FrequencyCapDays    int      `json:"frequency_cap_days,omitempty"` // …per this many days
	PauseOnYellow       bool     `json:"pause_on_yellow,omitempty"`
	AutoResume          bool     `json:"auto_resume,omitempty"`
	BreakerWindow       int      `json:"breaker_window,omitempty"` // last N outcomes
	BreakerFailureRatio float64  `json:"breaker_failure_ratio,omitempty"`
	OptOutKeywords      []string `json:"opt_out_keywords,omitempty"`
	OptOutConfirmation  string   `json:"opt_out_confirmation,omitempty"`
	// HoldActiveChats: a contact chatting with the owner right now (a message within
	// ActiveChatHold) is released by a campaign only once the chat is over (RecipientsClaim).
	HoldActiveChats bool `json:"hold_active_chats,omitempty"`
}

// DefaultOptOutKeywords are matched against whole inbound messages after trimming and
// case- and accent-folding.
var DefaultOptOutKeywords = []string{
	"BAJA", "STOP", "PARAR", "PARA", "SALIR", "CANCELAR", "NO MAS", "NO MÁS", "DESUSCRIBIR",
	"DARME DE BAJA", "UNSUBSCRIBE", "SAIR", "CANCELAR INSCRICAO", "NAO QUERO", "END", "QUIT",
}

// Window is the send window a campaign follows: its own, or, when it has none, the hours
// outside the workspace's quiet hours (08:00–20:00 by default), every day.
func (s WorkspaceSettings) Window(own SendWindow) SendWindow {
	if !own.IsZero() {
		return own
	}
	e := s.Effective()
	return SendWindow{Start: e.QuietHoursEnd, End: e.QuietHoursStart}
}

// InQuietHours reports whether a campaign's own window w sends during some of the workspace's
// quiet hours (it overrides them: the launch plan warns).
func (s WorkspaceSettings) InQuietHours(w SendWindow) bool {
	if w.IsZero() {
		return false
	}
	allowed := s.Window(SendWindow{})
	week := time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC) // a Sunday
	for m := 0; m < 7*24*60; m += 5 {
		t := week.Add(time.Duration(m) * time.Minute)
		if w.Contains(t, time.UTC) && !allowed.Contains(t, time.UTC) {
			return true
		}
	}
	return false
}

// Effective returns s with defaults filled in.
func (s WorkspaceSettings) Effective() WorkspaceSettings {
	if s.QuietHoursStart == "" {
		s.QuietHoursStart = "20:00"
	}
	if s.QuietHoursEnd == "" {
		s.QuietHoursEnd = "08:00"
	}
	if s.FrequencyCap == 0 {
		s.FrequencyCap = 2
	}
	if s.FrequencyCapDays == 0 {
		s.FrequencyCapDays = 7
	}
	if s.BreakerWindow == 0 {
		s.BreakerWindow = 200
	}
	if s.BreakerFailureRatio == 0 {
		s.BreakerFailureRatio = 0.25
	}
	if len(s.OptOutKeywords) == 0 {
		s.OptOutKeywords = DefaultOptOutKeywords
	}
	return s
}

// Location returns the workspace's time zone (UTC when unknown).
func (w Workspace) Location() *time.Location {
	if loc, err := time.LoadLocation(w.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

const workspaceColumns = `id, name, time_zone, default_country, locale, messaging_limit, settings, created_at, updated_at`

func scanWorkspace(row interface{ Scan(...any) error }) (Workspace, error) {
	var w Workspace
	var settings []byte
	err := row.Scan(&w.ID, &w.Name, &w.TimeZone, &w.DefaultCountry, &w.Locale, &w.MessagingLimit, &settings, &w.CreatedAt, &w.UpdatedAt)
	if err != nil {
		return w, NotFoundIfNoRows(err)
	}
	if err := json.Unmarshal(settings, &w.Settings); err != nil {
		return w, fmt.Errorf("decoding settings of workspace %d: %w", w.ID, err)
	}
	return w, nil
}

// WorkspaceCreateParams are the fields of a new workspace.
type WorkspaceCreateParams struct {
	Name           string
	TimeZone       string
	DefaultCountry string
	MessagingLimit int
	Settings       WorkspaceSettings // zero values: the defaults
}

// NoQuietHours are settings under which campaigns without a window of their own send at any
// hour (quiet hours from 00:00 to 00:00: none).
var NoQuietHours = WorkspaceSettings{QuietHoursStart: "00:00", QuietHoursEnd: "00:00"}

// WorkspaceCreate inserts a workspace.
func WorkspaceCreate(ctx context.Context, db DBTX, p WorkspaceCreateParams) (Workspace, error) {
	if p.TimeZone == "" {
		p.TimeZone = "America/Bogota"
	}
	if p.DefaultCountry == "" {
		p.DefaultCountry = "CO"
	}
	if p.MessagingLimit == 0 {
		p.MessagingLimit = 250
	}
	if err := validateWorkspace(p.Name, p.TimeZone, p.DefaultCountry, p.MessagingLimit); err != nil {
		return Workspace{}, err
	}
	return scanWorkspace(db.QueryRow(ctx, `
		INSERT INTO workspaces (name, time_zone, default_country, messaging_limit, settings)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+workspaceColumns,
		p.Name, p.TimeZone, p.DefaultCountry, p.MessagingLimit, p.Settings))
}

// WorkspaceGetByID reads one workspace.
func WorkspaceGetByID(ctx context.Context, db DBTX, id int64) (Workspace, error) {
	return scanWorkspace(db.QueryRow(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE id = $1`, id))
}

// WorkspaceUpdate holds the fields to change; nil means unchanged.
type WorkspaceUpdate struct {
	Name           *string            `json:"name"`
	TimeZone       *string            `json:"time_zone"`
	DefaultCountry *string            `json:"default_country"`
	Locale         *string            `json:"locale"`
	MessagingLimit *int               `json:"messaging_limit"`
	Settings       *WorkspaceSettings `json:"settings"`
}

// WorkspaceUpdateByID applies u to workspace id.
func WorkspaceUpdateByID(ctx context.Context, db DBTX, id int64, u WorkspaceUpdate) (Workspace, error) {
	w, err := WorkspaceGetByID(ctx, db, id)
	if err != nil {
		return w, err
	}
	if u.Name != nil {
		w.Name = *u.Name
	}
	if u.TimeZone != nil {
		w.TimeZone = *u.TimeZone
	}
	if u.DefaultCountry != nil {
		w.DefaultCountry = *u.DefaultCountry
	}
	if u.Locale != nil {
		if *u.Locale != "es" && *u.Locale != "en" {
			return w, Invalid("locale", "idioma no soportado: use 'es' o 'en'")
		}
		w.Locale = *u.Locale
	}
	if u.MessagingLimit != nil {
		w.MessagingLimit = *u.MessagingLimit
	}
	if u.Settings != nil {
		w.Settings = *u.Settings
	}
	if err := validateWorkspace(w.Name, w.TimeZone, w.DefaultCountry, w.MessagingLimit); err != nil {
		return w, err
	}
	settings, _ := json.Marshal(w.Settings)
	return scanWorkspace(db.QueryRow(ctx, `
		UPDATE workspaces SET name = $2, time_zone = $3, default_country = $4, locale = $5,
		       messaging_limit = $6, settings = $7, updated_at = now()
		WHERE id = $1 RETURNING `+workspaceColumns,
		id, w.Name, w.TimeZone, w.DefaultCountry, w.Locale, w.MessagingLimit, settings))
}

func validateWorkspace(name, tz, country string, limit int) error {
	var v ValidationError
	if name == "" || len(name) > 200 {
		v.Problems = append(v.Problems, Problem{"name", "el nombre es obligatorio (máximo 200 caracteres)"})
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "" {
		v.Problems = append(v.Problems, Problem{"time_zone", fmt.Sprintf("zona horaria desconocida: %q (ej. America/Bogota)", tz)})
	}
	if len(country) != 2 || country[0] < 'A' || country[0] > 'Z' || country[1] < 'A' || country[1] > 'Z' {
		v.Problems = append(v.Problems, Problem{"default_country", "use un código de país ISO de dos letras en mayúsculas (ej. CO, MX, AR)"})
	}
	switch limit {
	case -1, 250, 1000, 2000, 10000, 100000:
	default:
		v.Problems = append(v.Problems, Problem{"messaging_limit", "límite de mensajería de Meta: 250, 2000, 10000, 100000 o -1 (ilimitado)"})
	}
	if len(v.Problems) > 0 {
		return &v
	}
	return nil
}
