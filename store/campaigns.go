package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// CampaignState is where a campaign is in its life:
//
//	draft ──▶ scheduled ──▶ running ⇄ paused ──▶ completed
//	  ▲           │            (any non-final) ──▶ cancelled
//	  └─unschedule┘
type CampaignState string

const (
	CampaignDraft     CampaignState = "draft"
	CampaignScheduled CampaignState = "scheduled"
	CampaignRunning   CampaignState = "running"
	CampaignPaused    CampaignState = "paused"
	CampaignCompleted CampaignState = "completed"
	CampaignCancelled CampaignState = "cancelled"
)

// Final reports whether no transition leaves s.
func (s CampaignState) Final() bool { return s == CampaignCompleted || s == CampaignCancelled }

// Text is the state in Spanish words, for messages that name it ("la campaña está
// terminada"); the UI translates states itself (state.* messages).
func (s CampaignState) Text() string {
	if w, ok := campaignStateText[s]; ok {
		return w
	}
	return string(s)
}

var campaignStateText = map[CampaignState]string{
	CampaignDraft: "en borrador", CampaignScheduled: "programada", CampaignRunning: "enviándose",
	CampaignPaused: "pausada", CampaignCompleted: "terminada", CampaignCancelled: "cancelada",
}

// campaignStateVerb names the move into a state as an action ("no se puede cancelar").
var campaignStateVerb = map[CampaignState]string{
	CampaignDraft: "volver a borrador", CampaignScheduled: "programar", CampaignRunning: "lanzar ni reanudar",
	CampaignPaused: "pausar", CampaignCompleted: "terminar", CampaignCancelled: "cancelar",
}

// Valid reports whether s is a known state.
func (s CampaignState) Valid() bool {
	switch s {
	case CampaignDraft, CampaignScheduled, CampaignRunning, CampaignPaused, CampaignCompleted, CampaignCancelled:
		return true
	}
	return false
}

// CampaignTransitionAllowed reports whether a campaign may move from one state to another.
// Same-state "transitions" are not in the table: CampaignTransition treats them as no-ops.
func CampaignTransitionAllowed(from, to CampaignState) bool {
	if to == CampaignCancelled {
		return !from.Final()
	}
	switch from {
	case CampaignDraft:
		return to == CampaignScheduled
	case CampaignScheduled:
		return to == CampaignRunning || to == CampaignDraft
	case CampaignRunning:
		return to == CampaignPaused || to == CampaignCompleted
	case CampaignPaused:
		return to == CampaignRunning
	}
	return false
}

// Actors of a transition.
const (
	ActorUser   = "user"
	ActorRule   = "rule"
	ActorSystem = "system"
)

// Signals that explain a rule's or the system's transition (campaign_transitions.signal).
const (
	SignalTemplateQuality = "template_quality" // value: RED, YELLOW, GREEN
	SignalTemplateStatus  = "template_status"  // value: PAUSED, DISABLED, APPROVED…
	SignalErrorCode       = "error_code"       // value: the Meta code, e.g. 132015
	SignalCircuitBreaker  = "circuit_breaker"  // value: the failure ratio, e.g. 0.34
	SignalNumber          = "number"           // value: the number's status or quality
	SignalLaunch          = "launch"           // scheduled → running by the launch job
	SignalFinished        = "finished"         // running → completed: every recipient final
)

// SendWindow is when a campaign may release messages, in the workspace's time zone. Start and
// End are "HH:MM"; End before Start means the window crosses midnight; Start == End means all
// day. Weekdays use time.Weekday numbering (0 = Sunday … 6 = Saturday); empty means every day.
type SendWindow struct {
	Start    string `json:"start,omitempty"`
	End      string `json:"end,omitempty"`
	Weekdays []int  `json:"weekdays,omitempty"`
}

// IsZero reports whether the window is unset (send any time).
func (w SendWindow) IsZero() bool { return w.Start == "" && w.End == "" && len(w.Weekdays) == 0 }

// Validate checks the window's fields.
func (w SendWindow) Validate() []Problem {
	var ps []Problem
	if (w.Start == "") != (w.End == "") {
		ps = append(ps, Problem{"send_window", "indique inicio y fin de la ventana de envío (HH:MM)"})
	}
	for _, f := range []struct{ path, v string }{{"send_window.start", w.Start}, {"send_window.end", w.End}} {
		if f.v == "" {
			continue
		}
		if _, ok := parseClock(f.v); !ok {
			ps = append(ps, Problem{f.path, fmt.Sprintf("hora inválida %q: use HH:MM de 00:00 a 23:59", f.v)})
		}
	}
	for _, d := range w.Weekdays {
		if d < 0 || d > 6 {
			ps = append(ps, Problem{"send_window.weekdays", "días de 0 (domingo) a 6 (sábado)"})
			break
		}
	}
	return ps
}

// parseClock reads "HH:MM" as minutes since midnight.
func parseClock(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, false
	}
	return hh*60 + mm, true
}

func (w SendWindow) bounds() (start, end int) {
	start, _ = parseClock(w.Start)
	end, _ = parseClock(w.End)
	return start, end
}

func (w SendWindow) dayAllowed(d time.Weekday) bool {
	if len(w.Weekdays) == 0 {
		return true
	}
	for _, x := range w.Weekdays {
		if x == int(d) {
			return true
		}
	}
	return false
}

// Contains reports whether t falls inside the window in loc. A window that crosses midnight
// belongs to the weekday on which it opened.
func (w SendWindow) Contains(t time.Time, loc *time.Location) bool {
	if w.IsZero() {
		return true
	}
	t = t.In(loc)
	min := t.Hour()*60 + t.Minute()
	start, end := w.bounds()
	switch {
	case w.Start == "" || start == end: // all day on allowed weekdays
		return w.dayAllowed(t.Weekday())
	case start < end:
		return min >= start && min < end && w.dayAllowed(t.Weekday())
	default: // crosses midnight
		if min >= start {
			return w.dayAllowed(t.Weekday())
		}
		return min < end && w.dayAllowed(t.AddDate(0, 0, -1).Weekday())
	}
}

// NextOpen returns the first instant at or after t inside the window (t itself when inside),
// searching up to 8 days ahead minute by minute boundaries. It returns t when the window never
// opens (no valid weekday).
func (w SendWindow) NextOpen(t time.Time, loc *time.Location) time.Time {
	if w.Contains(t, loc) {
		return t
	}
	start, _ := w.bounds()
	lt := t.In(loc)
	for i := 0; i <= 8; i++ {
		d := lt.AddDate(0, 0, i)
		cand := time.Date(d.Year(), d.Month(), d.Day(), start/60, start%60, 0, 0, loc)
		if !cand.Before(t) && w.Contains(cand, loc) {
			return cand
		}
		if w.Start == "" || w.Start == w.End { // all-day windows open at midnight
			mid := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
			if !mid.Before(t) && w.Contains(mid, loc) {
				return mid
			}
		}
	}
	return t
}

// OpenMinutesPerWeek is how many minutes a week the window is open (10080 when unset).
func (w SendWindow) OpenMinutesPerWeek() int {
	if w.IsZero() {
		return 7 * 24 * 60
	}
	days := 7
	if len(w.Weekdays) > 0 {
		seen := map[int]bool{}
		for _, d := range w.Weekdays {
			seen[d] = true
		}
		days = len(seen)
	}
	start, end := w.bounds()
	per := 24 * 60
	if w.Start != "" && start != end {
		per = (end - start + 24*60) % (24 * 60)
	}
	return days * per
}

// Campaign is a template sent to a segment from a sender number.
type Campaign struct {
	ID                int64           `json:"id"`
	WorkspaceID       int64           `json:"workspace_id"`
	Name              string          `json:"name"`
	SenderNumberID    *int64          `json:"sender_number_id"`
	TemplateID        *int64          `json:"template_id"`
	VariableMapping   json.RawMessage `json:"variable_mapping"` // campaigns.Mapping
	SegmentID         *int64          `json:"segment_id"`
	ConfirmBroadcast  bool            `json:"confirm_broadcast"`
	State             CampaignState   `json:"state"`
	ScheduledAt       *time.Time      `json:"scheduled_at"`
	SendWindow        SendWindow      `json:"send_window"`
	FrequencyCap      *int            `json:"frequency_cap"`      // nil: the workspace's
	FrequencyCapDays  *int            `json:"frequency_cap_days"` // nil: the workspace's
	SegmentDefinition json.RawMessage `json:"segment_definition,omitempty"`
	SegmentHash       string          `json:"segment_hash,omitempty"`
	AudienceCount     int64           `json:"audience_count"`
	PauseReason       string          `json:"pause_reason,omitempty"`
	WaitReason        string          `json:"wait_reason,omitempty"`
	LaunchedAt        *time.Time      `json:"launched_at,omitempty"`
	CompletedAt       *time.Time      `json:"completed_at,omitempty"`
	CancelledAt       *time.Time      `json:"cancelled_at,omitempty"`
	CreatedBy         *int64          `json:"created_by,omitempty"`
	CreatedAt         time.Time       `json:"created_at"`
	UpdatedAt         time.Time       `json:"updated_at"`
}

const campaignColumns = `id, workspace_id, name, sender_number_id, template_id, variable_mapping, segment_id,
	confirm_broadcast, state, scheduled_at, send_window, frequency_cap, frequency_cap_days, segment_definition,
	segment_hash, audience_count, pause_reason, wait_reason, launched_at, completed_at, cancelled_at,
	created_by, created_at, updated_at`

func scanCampaign(row pgx.Row) (Campaign, error) {
	var c Campaign
	var window, mapping, def []byte
	err := row.Scan(&c.ID, &c.WorkspaceID, &c.Name, &c.SenderNumberID, &c.TemplateID, &mapping, &c.SegmentID,
		&c.ConfirmBroadcast, &c.State, &c.ScheduledAt, &window, &c.FrequencyCap, &c.FrequencyCapDays, &def,
		&c.SegmentHash, &c.AudienceCount, &c.PauseReason, &c.WaitReason, &c.LaunchedAt, &c.CompletedAt, &c.CancelledAt,
		&c.CreatedBy, &c.CreatedAt, &c.UpdatedAt)
	if err != nil {
		return c, NotFoundIfNoRows(err)
	}
	c.VariableMapping = mapping
	if len(def) > 0 {
		c.SegmentDefinition = def
	}
	if len(window) > 0 {
		if err := json.Unmarshal(window, &c.SendWindow); err != nil {
			return c, fmt.Errorf("decoding send window of campaign %d: %w", c.ID, err)
		}
	}
	return c, nil
}

func scanCampaigns(rows pgx.Rows) ([]Campaign, error) {
	defer rows.Close()
	var out []Campaign
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CampaignGetByID reads one campaign of a workspace.
func CampaignGetByID(ctx context.Context, db DBTX, workspaceID, id int64) (Campaign, error) {
	return scanCampaign(db.QueryRow(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
}

// CampaignGetForUpdate reads and row-locks one campaign (inside a transaction).
func CampaignGetForUpdate(ctx context.Context, db DBTX, workspaceID, id int64) (Campaign, error) {
	return scanCampaign(db.QueryRow(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE workspace_id = $1 AND id = $2 FOR UPDATE`, workspaceID, id))
}

// CampaignFilter narrows CampaignList.
type CampaignFilter struct {
	State  *CampaignState
	Limit  int   // default 50
	Cursor int64 // last id seen (ids descend)
}

// CampaignList lists a workspace's campaigns, newest first.
func CampaignList(ctx context.Context, db DBTX, workspaceID int64, f CampaignFilter) ([]Campaign, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	var state *string
	if f.State != nil {
		s := string(*f.State)
		state = &s
	}
	rows, err := db.Query(ctx, `SELECT `+campaignColumns+` FROM campaigns
		WHERE workspace_id = $1 AND ($2::bigint = 0 OR id < $2) AND ($3::text IS NULL OR state = $3)
		ORDER BY id DESC LIMIT $4`, workspaceID, f.Cursor, state, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("listing campaigns: %w", err)
	}
	return scanCampaigns(rows)
}

// CampaignEdit holds the editable fields of a draft. On update, nil means unchanged; an id of 0
// clears the reference; a zero scheduled_at clears the schedule; frequency_cap -1 returns to
// the workspace's default and 0 disables the cap; variable_mapping is a campaigns.Mapping
// ({"variables":[{"component":"body","name":"1","source":"field","key":"first_name",
// "fallback":"cliente"}, …]}), checked against the template's parameters.
type CampaignEdit struct {
	Name             *string          `json:"name,omitempty"`
	SenderNumberID   *int64           `json:"sender_number_id,omitempty"`
	TemplateID       *int64           `json:"template_id,omitempty"`
	VariableMapping  *json.RawMessage `json:"variable_mapping,omitempty"`
	SegmentID        *int64           `json:"segment_id,omitempty"`
	ConfirmBroadcast *bool            `json:"confirm_broadcast,omitempty"`
	ScheduledAt      *time.Time       `json:"scheduled_at,omitempty"`
	SendWindow       *SendWindow      `json:"send_window,omitempty"`
	FrequencyCap     *int             `json:"frequency_cap,omitempty"`
	FrequencyCapDays *int             `json:"frequency_cap_days,omitempty"`
}

// Apply copies the set fields of d onto c.
func (d CampaignEdit) Apply(c *Campaign) {
	if d.Name != nil {
		c.Name = strings.TrimSpace(*d.Name)
	}
	if d.SenderNumberID != nil {
		c.SenderNumberID = zeroNil(*d.SenderNumberID)
	}
	if d.TemplateID != nil {
		c.TemplateID = zeroNil(*d.TemplateID)
	}
	if d.VariableMapping != nil {
		c.VariableMapping = *d.VariableMapping
	}
	if d.SegmentID != nil {
		c.SegmentID = zeroNil(*d.SegmentID)
	}
	if d.ConfirmBroadcast != nil {
		c.ConfirmBroadcast = *d.ConfirmBroadcast
	}
	if d.ScheduledAt != nil {
		t := *d.ScheduledAt
		c.ScheduledAt = &t
		if t.IsZero() {
			c.ScheduledAt = nil
		}
	}
	if d.SendWindow != nil {
		c.SendWindow = *d.SendWindow
	}
	if d.FrequencyCap != nil {
		c.FrequencyCap = d.FrequencyCap
		if *d.FrequencyCap < 0 {
			c.FrequencyCap = nil
		}
	}
	if d.FrequencyCapDays != nil {
		c.FrequencyCapDays = d.FrequencyCapDays
		if *d.FrequencyCapDays <= 0 {
			c.FrequencyCapDays = nil
		}
	}
}

func zeroNil(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

// CampaignCreate inserts a draft built from c (ID, state and timestamps are ignored).
// Referenced rows (number, template, segment) must belong to the workspace: the caller checks
// them; the insert re-checks with sub-selects so a foreign id can never be stored.
func CampaignCreate(ctx context.Context, db DBTX, c Campaign) (Campaign, error) {
	if strings.TrimSpace(c.Name) == "" || len(c.Name) > 200 {
		return Campaign{}, Invalid("name", "el nombre es obligatorio (máximo 200 caracteres)")
	}
	if len(c.VariableMapping) == 0 {
		c.VariableMapping = json.RawMessage(`{}`)
	}
	window, _ := json.Marshal(c.SendWindow)
	row := db.QueryRow(ctx, `
		INSERT INTO campaigns (workspace_id, name, sender_number_id, template_id, variable_mapping, segment_id,
		                       confirm_broadcast, scheduled_at, send_window, frequency_cap, frequency_cap_days, created_by)
		SELECT $1, $2,
		       (SELECT id FROM sender_numbers WHERE workspace_id = $1 AND id = $3),
		       (SELECT id FROM templates WHERE workspace_id = $1 AND id = $4),
		       $5, (SELECT id FROM segments WHERE workspace_id = $1 AND id = $6),
		       $7, $8, $9, $10, $11, $12
		RETURNING `+campaignColumns,
		c.WorkspaceID, c.Name, c.SenderNumberID, c.TemplateID, []byte(c.VariableMapping), c.SegmentID,
		c.ConfirmBroadcast, c.ScheduledAt, window, c.FrequencyCap, c.FrequencyCapDays, c.CreatedBy)
	out, err := scanCampaign(row)
	if err != nil {
		return out, fmt.Errorf("creating campaign: %w", err)
	}
	return out, nil
}

// CampaignUpdateDraft writes the editable fields of c. Only drafts can be edited: any other
// state gives ErrConflict.
func CampaignUpdateDraft(ctx context.Context, db DBTX, c Campaign) (Campaign, error) {
	if strings.TrimSpace(c.Name) == "" || len(c.Name) > 200 {
		return Campaign{}, Invalid("name", "el nombre es obligatorio (máximo 200 caracteres)")
	}
	if len(c.VariableMapping) == 0 {
		c.VariableMapping = json.RawMessage(`{}`)
	}
	window, _ := json.Marshal(c.SendWindow)
	out, err := scanCampaign(db.QueryRow(ctx, `
		UPDATE campaigns SET name = $3,
		       sender_number_id = (SELECT id FROM sender_numbers WHERE workspace_id = $1 AND id = $4),
		       template_id = (SELECT id FROM templates WHERE workspace_id = $1 AND id = $5),
		       variable_mapping = $6,
		       segment_id = (SELECT id FROM segments WHERE workspace_id = $1 AND id = $7),
		       confirm_broadcast = $8, scheduled_at = $9, send_window = $10, frequency_cap = $11,
		       frequency_cap_days = $12, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND state = 'draft'
		RETURNING `+campaignColumns,
		c.WorkspaceID, c.ID, c.Name, c.SenderNumberID, c.TemplateID, []byte(c.VariableMapping), c.SegmentID,
		c.ConfirmBroadcast, c.ScheduledAt, window, c.FrequencyCap, c.FrequencyCapDays))
	if errors.Is(err, ErrNotFound) {
		if _, gerr := CampaignGetByID(ctx, db, c.WorkspaceID, c.ID); gerr == nil {
			return Campaign{}, fmt.Errorf("%w: solo se puede editar una campaña en borrador", ErrConflict)
		}
	}
	return out, err
}

// CampaignDelete deletes a draft, or a cancelled campaign that never launched (no recipients).
// A campaign that reached anyone stays, with its recipients and reports.
func CampaignDelete(ctx context.Context, db DBTX, workspaceID, id int64) error {
	c, err := CampaignGetByID(ctx, db, workspaceID, id)
	if err != nil {
		return err
	}
	if c.State != CampaignDraft && c.State != CampaignCancelled {
		return fmt.Errorf("%w: solo se puede borrar una campaña en borrador (cancele las demás)", ErrConflict)
	}
	tag, err := db.Exec(ctx, `DELETE FROM campaigns c WHERE c.workspace_id = $1 AND c.id = $2
		AND (c.state = 'draft' OR (c.state = 'cancelled' AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.campaign_id = c.id)))`, workspaceID, id)
	if err != nil {
		return fmt.Errorf("deleting campaign %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		if c.State == CampaignCancelled {
			return fmt.Errorf("%w: la campaña se canceló después de lanzarse: se conserva con sus envíos y reportes", ErrConflict)
		}
		return fmt.Errorf("%w: solo se puede borrar una campaña en borrador (cancele las demás)", ErrConflict)
	}
	return nil
}

// CampaignSetWaitReason records why a running campaign is not sending right now ("" clears).
func CampaignSetWaitReason(ctx context.Context, db DBTX, campaignID int64, reason string) error {
	_, err := db.Exec(ctx, `UPDATE campaigns SET wait_reason = $2 WHERE id = $1 AND wait_reason <> $2`, campaignID, reason)
	return err
}

// TransitionParams say who moves a campaign and why.
type TransitionParams struct {
	Actor       string // ActorUser | ActorRule | ActorSystem
	ActorUserID *int64
	Reason      string // human text, Spanish first
	Signal      string // Signal* constants
	Value       string // the signal's value: RED, 132015, 0.34…
}

// CampaignTransitionRecord is one row of a campaign's transitions log.
type CampaignTransitionRecord struct {
	ID          int64         `json:"id"`
	CampaignID  int64         `json:"campaign_id"`
	FromState   CampaignState `json:"from_state"`
	ToState     CampaignState `json:"to_state"`
	Actor       string        `json:"actor"`
	ActorUserID *int64        `json:"actor_user_id,omitempty"`
	Reason      string        `json:"reason"`
	Signal      string        `json:"signal,omitempty"`
	Value       string        `json:"value,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
}

// TransitionError is a transition the state machine does not allow. It wraps ErrConflict.
type TransitionError struct {
	From, To CampaignState
}

func (e *TransitionError) Error() string {
	verb, ok := campaignStateVerb[e.To]
	if !ok {
		verb = "pasar a " + string(e.To)
	}
	return fmt.Sprintf("la campaña está %s: no se puede %s", e.From.Text(), verb)
}

func (e *TransitionError) Unwrap() error { return ErrConflict }

// CampaignTransition moves a campaign to another state under a row lock and records the
// transition. Moving to the current state is a no-op (no row recorded). It runs in its own
// transaction, or in a savepoint when db is already a transaction.
func CampaignTransition(ctx context.Context, db DBTX, workspaceID, campaignID int64, to CampaignState, p TransitionParams) (Campaign, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return Campaign{}, fmt.Errorf("beginning transition of campaign %d: %w", campaignID, err)
	}
	defer tx.Rollback(ctx)
	if to == CampaignPaused || to == CampaignCancelled {
		// No call may start once this commits: wait for the calls already claimed (see
		// SendGateClose), before the campaign row is locked.
		var numberID *int64
		err := tx.QueryRow(ctx, `SELECT sender_number_id FROM campaigns WHERE workspace_id = $1 AND id = $2`,
			workspaceID, campaignID).Scan(&numberID)
		if err != nil {
			return Campaign{}, fmt.Errorf("reading sender number of campaign %d: %w", campaignID, NotFoundIfNoRows(err))
		}
		if numberID != nil {
			if err := SendGateClose(ctx, tx, []int64{*numberID}); err != nil {
				return Campaign{}, err
			}
		}
	}
	c, err := CampaignGetForUpdate(ctx, tx, workspaceID, campaignID)
	if err != nil {
		return c, err
	}
	c, changed, err := transitionLocked(ctx, tx, c, to, p)
	if err != nil {
		return c, err
	}
	if !changed {
		return c, nil
	}
	if err := tx.Commit(ctx); err != nil {
		return c, fmt.Errorf("committing transition of campaign %d: %w", campaignID, err)
	}
	return c, nil
}

// transitionLocked applies a transition to a campaign row the caller has locked.
func transitionLocked(ctx context.Context, db DBTX, c Campaign, to CampaignState, p TransitionParams) (Campaign, bool, error) {
	if c.State == to {
		return c, false, nil
	}
	if !CampaignTransitionAllowed(c.State, to) {
		return c, false, &TransitionError{From: c.State, To: to}
	}
	switch p.Actor {
	case ActorUser, ActorRule, ActorSystem:
	case "":
		p.Actor = ActorSystem
	default:
		return c, false, fmt.Errorf("unknown transition actor %q", p.Actor)
	}
	from := c.State
	out, err := scanCampaign(db.QueryRow(ctx, `
		UPDATE campaigns SET state = $3,
		       launched_at  = CASE WHEN $3 = 'running' THEN COALESCE(launched_at, now()) ELSE launched_at END,
		       completed_at = CASE WHEN $3 = 'completed' THEN now() ELSE completed_at END,
		       cancelled_at = CASE WHEN $3 = 'cancelled' THEN now() ELSE cancelled_at END,
		       pause_reason = CASE WHEN $3 = 'paused' THEN $4 WHEN $3 = 'running' THEN '' ELSE pause_reason END,
		       wait_reason  = CASE WHEN $3 = 'running' THEN wait_reason ELSE '' END,
		       updated_at = now()
		WHERE workspace_id = $1 AND id = $2
		RETURNING `+campaignColumns, c.WorkspaceID, c.ID, string(to), p.Reason))
	if err != nil {
		return c, false, fmt.Errorf("moving campaign %d to %s: %w", c.ID, to, err)
	}
	switch {
	case to == CampaignCancelled:
		// Nobody is left waiting in a cancelled campaign: queued and pending recipients are
		// skipped, so its report and export say who was never sent and why. A send job claims a
		// recipient only while it is still queued with its slot and the campaign runs (under a
		// share lock on this row), so none of them can be sent after this commits.
		if _, err := db.Exec(ctx, `UPDATE recipients SET state = 'skipped', skip_reason = 'campaign_cancelled', updated_at = now()
		    WHERE workspace_id = $1 AND campaign_id = $2 AND state IN ('queued', 'pending')`, c.WorkspaceID, c.ID); err != nil {
			return c, false, fmt.Errorf("skipping the unsent recipients of campaign %d: %w", c.ID, err)
		}
		// Failed ones waiting for a retry (131049, 132015) keep their failure, without the retry.
		if err := dropRetries(ctx, db, c); err != nil {
			return c, false, err
		}
	case to == CampaignCompleted:
		// The pacer completes a campaign with no work left, but a 132015 drop applied since it
		// looked may have scheduled a send again: a completed campaign sends nothing more, so
		// the recipient keeps its failure (see RecipientsDropStaleRetries for one committed
		// after this statement).
		if err := dropRetries(ctx, db, c); err != nil {
			return c, false, err
		}
	case from == CampaignRunning && to == CampaignPaused:
		// Recipients queued for a slot are released now, for the same reason; none waits queued
		// for a pacer that no longer ticks for this campaign. A resume queues them again.
		if _, err := db.Exec(ctx, `UPDATE recipients SET state = 'pending', send_slot = NULL, updated_at = now()
		    WHERE workspace_id = $1 AND campaign_id = $2 AND state = 'queued'`, c.WorkspaceID, c.ID); err != nil {
			return c, false, fmt.Errorf("releasing queued recipients of campaign %d: %w", c.ID, err)
		}
	}
	_, err = db.Exec(ctx, `
		INSERT INTO campaign_transitions (workspace_id, campaign_id, from_state, to_state, actor, actor_user_id, reason, signal, value)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.WorkspaceID, c.ID, string(from), string(to), p.Actor, p.ActorUserID, p.Reason, p.Signal, p.Value)
	if err != nil {
		return c, false, fmt.Errorf("recording transition of campaign %d: %w", c.ID, err)
	}
	return out, true, nil
}

// CampaignTransitionList is a campaign's transitions log, oldest first.
func CampaignTransitionList(ctx context.Context, db DBTX, workspaceID, campaignID int64) ([]CampaignTransitionRecord, error) {
	rows, err := db.Query(ctx, `SELECT id, campaign_id, from_state, to_state, actor, actor_user_id, reason, signal, value, created_at
		FROM campaign_transitions WHERE workspace_id = $1 AND campaign_id = $2 ORDER BY id`, workspaceID, campaignID)
	if err != nil {
		return nil, fmt.Errorf("listing transitions of campaign %d: %w", campaignID, err)
	}
	defer rows.Close()
	out := []CampaignTransitionRecord{}
	for rows.Next() {
		var r CampaignTransitionRecord
		if err := rows.Scan(&r.ID, &r.CampaignID, &r.FromState, &r.ToState, &r.Actor, &r.ActorUserID, &r.Reason, &r.Signal, &r.Value, &r.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// transitionMany moves every campaign the query selects (workspace_id, id pairs, locked in id
// order to avoid deadlocks) to state to, and returns the campaigns that changed.
// gateNumbers, when not empty, selects the sender numbers whose send gates close first (see
// SendGateClose), with the same args.
func transitionMany(ctx context.Context, db DBTX, what string, to CampaignState, p TransitionParams, gateNumbers, query string, args ...any) ([]Campaign, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback(ctx)
	if gateNumbers != "" {
		rows, err := tx.Query(ctx, gateNumbers, args...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		numbers, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if err := SendGateClose(ctx, tx, numbers); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	cs, err := scanCampaigns(rows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var out []Campaign
	for _, c := range cs {
		c, changed, err := transitionLocked(ctx, tx, c, to, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if changed {
			out = append(out, c)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func ids(cs []Campaign) []int64 {
	out := make([]int64, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// CampaignsPauseForTemplate pauses every running campaign that sends templateID and returns
// their ids. Not workspace-scoped: template ids are global and webhooks route by them.
func CampaignsPauseForTemplate(ctx context.Context, db DBTX, templateID int64, p TransitionParams) ([]int64, error) {
	if p.Actor == "" {
		p.Actor = ActorRule
	}
	cs, err := transitionMany(ctx, db, fmt.Sprintf("pausing campaigns of template %d", templateID), CampaignPaused, p,
		`SELECT DISTINCT sender_number_id FROM campaigns WHERE template_id = $1 AND state = 'running' AND sender_number_id IS NOT NULL`,
		`SELECT `+campaignColumns+` FROM campaigns WHERE template_id = $1 AND state = 'running' ORDER BY id FOR UPDATE`, templateID)
	return ids(cs), err
}

// CampaignsHaltForNumber marks a sender number halted (status 'halted', status_reason =
// p.Reason) and pauses every running campaign sending from it; it returns their ids. An owner
// re-activates the number before resuming. Not workspace-scoped (webhooks route by number).
func CampaignsHaltForNumber(ctx context.Context, db DBTX, senderNumberID int64, p TransitionParams) ([]int64, error) {
	if p.Actor == "" {
		p.Actor = ActorRule
	}
	what := fmt.Sprintf("halting campaigns of sender number %d", senderNumberID)
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback(ctx)
	if err := SendGateClose(ctx, tx, []int64{senderNumberID}); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE sender_numbers SET status = 'halted', status_reason = $2, updated_at = now()
		WHERE id = $1 AND status = 'active'`, senderNumberID, p.Reason); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	cs, err := transitionMany(ctx, tx, what, CampaignPaused, p, "",
		`SELECT `+campaignColumns+` FROM campaigns WHERE sender_number_id = $1 AND state = 'running' ORDER BY id FOR UPDATE`, senderNumberID)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return ids(cs), nil
}

// CampaignsResumeForTemplate resumes the paused campaigns of templateID whose latest pause was
// a rule about that template (template quality or status, or error 132015), for auto-resume when
// the template is APPROVED again. It returns the resumed campaigns: the caller enqueues
// jobs.PaceArgs for their sender numbers in the same transaction. Campaigns whose number is
// not active stay paused.
func CampaignsResumeForTemplate(ctx context.Context, db DBTX, templateID int64, p TransitionParams) ([]Campaign, error) {
	if p.Actor == "" {
		p.Actor = ActorRule
	}
	return transitionMany(ctx, db, fmt.Sprintf("resuming campaigns of template %d", templateID), CampaignRunning, p, "", `
		SELECT `+prefixed("c", campaignColumns)+` FROM campaigns c
		JOIN sender_numbers n ON n.id = c.sender_number_id AND n.status = 'active'
		WHERE c.template_id = $1 AND c.state = 'paused'
		  AND EXISTS (SELECT 1 FROM (
		        SELECT t.actor, t.signal, t.value FROM campaign_transitions t
		        WHERE t.campaign_id = c.id AND t.to_state = 'paused' ORDER BY t.id DESC LIMIT 1) last
		      WHERE last.actor = 'rule' AND (last.signal IN ('template_quality', 'template_status')
		            OR (last.signal = 'error_code' AND last.value = '132015')))
		ORDER BY c.id FOR UPDATE OF c`, templateID)
}

// prefixed qualifies a comma-separated column list with a table alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// CampaignsRunningForNumber lists the running campaigns of a sender number (the pacer's view).
func CampaignsRunningForNumber(ctx context.Context, db DBTX, senderNumberID int64) ([]Campaign, error) {
	rows, err := db.Query(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE sender_number_id = $1 AND state = 'running' ORDER BY id`, senderNumberID)
	if err != nil {
		return nil, fmt.Errorf("listing running campaigns of number %d: %w", senderNumberID, err)
	}
	return scanCampaigns(rows)
}

// CampaignProgress counts a campaign's recipients per state.
type CampaignProgress struct {
	Total     int64            `json:"total"`
	ByState   map[string]int64 `json:"by_state"`
	Skipped   map[string]int64 `json:"skipped_by_reason,omitempty"`
	Remaining int64            `json:"remaining"` // pending + queued + sending
}

// CampaignProgressGet counts recipients per state with one grouped scan of the campaign's
// (campaign_id, state) index.
func CampaignProgressGet(ctx context.Context, db DBTX, workspaceID, campaignID int64) (CampaignProgress, error) {
	p := CampaignProgress{ByState: map[string]int64{}, Skipped: map[string]int64{}}
	rows, err := db.Query(ctx, `SELECT state, CASE WHEN state = 'skipped' THEN skip_reason ELSE '' END, count(*)
		FROM recipients WHERE workspace_id = $1 AND campaign_id = $2 GROUP BY 1, 2`, workspaceID, campaignID)
	if err != nil {
		return p, fmt.Errorf("counting recipients of campaign %d: %w", campaignID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var state, reason string
		var n int64
		if err := rows.Scan(&state, &reason, &n); err != nil {
			return p, err
		}
		p.ByState[state] += n
		p.Total += n
		if state == "skipped" {
			p.Skipped[reason] += n
		}
		if state == "pending" || state == "queued" || state == "sending" {
			p.Remaining += n
		}
	}
	return p, rows.Err()
}

// dropRetries takes the retry away from c's failed recipients waiting for one (131049, 132015):
// they keep their failure.
func dropRetries(ctx context.Context, db DBTX, c Campaign) error {
	if _, err := db.Exec(ctx, `UPDATE recipients SET retry_at = NULL, updated_at = now()
	    WHERE workspace_id = $1 AND campaign_id = $2 AND state = 'failed' AND retry_at IS NOT NULL`, c.WorkspaceID, c.ID); err != nil {
		return fmt.Errorf("dropping the retries of campaign %d: %w", c.ID, err)
	}
	return nil
}

// RecipientsDropStaleRetries takes the retry away from failed recipients of campaigns that
// completed or were cancelled in the last day: a 132015 drop applied while the pacer was
// completing the campaign (it saw no work, then the drop committed) would otherwise wait
// forever and count as pending. The status sweep runs it; it returns how many it changed.
func RecipientsDropStaleRetries(ctx context.Context, db DBTX) (int64, error) {
	tag, err := db.Exec(ctx, `UPDATE recipients r SET retry_at = NULL, updated_at = now()
	    FROM campaigns c
	    WHERE c.state IN ('completed', 'cancelled') AND coalesce(c.completed_at, c.cancelled_at) > now() - interval '1 day'
	      AND r.campaign_id = c.id AND r.workspace_id = c.workspace_id
	      AND r.state = 'failed' AND r.retry_at IS NOT NULL`)
	if err != nil {
		return 0, fmt.Errorf("dropping the retries of finished campaigns: %w", err)
	}
	return tag.RowsAffected(), nil
}
