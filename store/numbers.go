package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// CoexistenceMPS is Meta's fixed throughput for numbers also open in the WhatsApp Business app.
const CoexistenceMPS = 20

// SenderNumber is a WhatsApp business phone number connected to the Cloud API. Its access token
// and app secret are stored encrypted and never leave the server: JSON carries only whether
// they are set.
type SenderNumber struct {
	ID                  int64      `json:"id"`
	WorkspaceID         int64      `json:"workspace_id"`
	PhoneNumberID       string     `json:"phone_number_id"`
	WABAID              string     `json:"waba_id"`
	DisplayNumber       string     `json:"display_number"`
	VerifiedName        string     `json:"verified_name"`
	AccessTokenEnc      []byte     `json:"-"`
	AppSecretEnc        []byte     `json:"-"`
	HasAccessToken      bool       `json:"has_access_token"`
	HasAppSecret        bool       `json:"has_app_secret"`
	VerifyToken         string     `json:"-"` // its VerifyTokenHash
	HasVerifyToken      bool       `json:"has_verify_token"`
	UseSimulator        bool       `json:"use_simulator"`
	Coexistence         bool       `json:"coexistence"`
	ThroughputMPS       int        `json:"throughput_mps"`
	ThroughputCap       *int       `json:"throughput_cap"`
	EffectiveThroughput int        `json:"effective_mps"`
	QualityRating       string     `json:"quality_rating"`
	MessagingLimitTier  string     `json:"messaging_limit_tier"`
	IsOnBizApp          bool       `json:"is_on_biz_app"`
	PlatformType        string     `json:"platform_type"`
	Status              string     `json:"status"` // active | halted | disconnected
	StatusReason        string     `json:"status_reason,omitempty"`
	LastPhoneActivityAt *time.Time `json:"last_phone_activity_at,omitempty"`
	LastCheckedAt       *time.Time `json:"last_checked_at,omitempty"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
}

// Sender number statuses.
const (
	NumberActive       = "active"
	NumberHalted       = "halted"
	NumberDisconnected = "disconnected"
)

// EffectiveMPS is the messages per second Pregón may send from the number: Meta's throughput,
// lowered by the owner's cap, and at most 20 for a coexistence number. Never below 1.
func (n SenderNumber) EffectiveMPS() int {
	mps := n.ThroughputMPS
	if mps <= 0 {
		mps = 80
	}
	if n.ThroughputCap != nil && *n.ThroughputCap > 0 && *n.ThroughputCap < mps {
		mps = *n.ThroughputCap
	}
	if n.Coexistence && mps > CoexistenceMPS {
		mps = CoexistenceMPS
	}
	return max(mps, 1)
}

// UsesSimulator reports whether sends from the number go to the built-in simulator: when asked
// to, or when no access token is configured.
func (n SenderNumber) UsesSimulator() bool { return n.UseSimulator || len(n.AccessTokenEnc) == 0 }

const senderNumberColumns = `id, workspace_id, phone_number_id, waba_id, display_number, verified_name, access_token_enc,
	app_secret_enc, verify_token, use_simulator, coexistence, throughput_mps, throughput_cap, quality_rating,
	messaging_limit_tier, is_on_biz_app, platform_type, status, status_reason, last_phone_activity_at,
	last_checked_at, created_at, updated_at`

func scanSenderNumber(row pgx.Row) (SenderNumber, error) {
	var n SenderNumber
	err := row.Scan(&n.ID, &n.WorkspaceID, &n.PhoneNumberID, &n.WABAID, &n.DisplayNumber, &n.VerifiedName, &n.AccessTokenEnc,
		&n.AppSecretEnc, &n.VerifyToken, &n.UseSimulator, &n.Coexistence, &n.ThroughputMPS, &n.ThroughputCap, &n.QualityRating,
		&n.MessagingLimitTier, &n.IsOnBizApp, &n.PlatformType, &n.Status, &n.StatusReason, &n.LastPhoneActivityAt,
		&n.LastCheckedAt, &n.CreatedAt, &n.UpdatedAt)
	if err != nil {
		return n, NotFoundIfNoRows(err)
	}
	n.HasAccessToken = len(n.AccessTokenEnc) > 0
	n.HasAppSecret = len(n.AppSecretEnc) > 0
	n.HasVerifyToken = n.VerifyToken != ""
	n.EffectiveThroughput = n.EffectiveMPS()
	return n, nil
}

// SenderNumberGetByID reads one number of a workspace.
func SenderNumberGetByID(ctx context.Context, db DBTX, workspaceID, id int64) (SenderNumber, error) {
	return scanSenderNumber(db.QueryRow(ctx, `SELECT `+senderNumberColumns+` FROM sender_numbers WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
}

// SenderNumberGet reads a number by id alone, for jobs that carry only the number's id (the
// pacer, the send job, health checks). Not for request handlers.
func SenderNumberGet(ctx context.Context, db DBTX, id int64) (SenderNumber, error) {
	return scanSenderNumber(db.QueryRow(ctx, `SELECT `+senderNumberColumns+` FROM sender_numbers WHERE id = $1`, id))
}

// SenderNumberGetByPhoneNumberID finds a number by Meta's phone_number_id. Not workspace-scoped
// by design: webhooks are routed by it before the workspace is known.
func SenderNumberGetByPhoneNumberID(ctx context.Context, db DBTX, phoneNumberID string) (SenderNumber, error) {
	return scanSenderNumber(db.QueryRow(ctx, `SELECT `+senderNumberColumns+` FROM sender_numbers WHERE phone_number_id = $1`, phoneNumberID))
}

// SenderNumberListByWABA lists the numbers of a WABA (webhooks carry the WABA id in entry.id).
// Not workspace-scoped, like SenderNumberGetByPhoneNumberID.
func SenderNumberListByWABA(ctx context.Context, db DBTX, wabaID string) ([]SenderNumber, error) {
	rows, err := db.Query(ctx, `SELECT `+senderNumberColumns+` FROM sender_numbers WHERE waba_id = $1 ORDER BY id`, wabaID)
	if err != nil {
		return nil, fmt.Errorf("listing numbers of WABA %s: %w", wabaID, err)
	}
	return scanSenderNumbers(rows)
}

func scanSenderNumbers(rows pgx.Rows) ([]SenderNumber, error) {
	defer rows.Close()
	out := []SenderNumber{}
	for rows.Next() {
		n, err := scanSenderNumber(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// SenderNumberList lists a workspace's numbers.
func SenderNumberList(ctx context.Context, db DBTX, workspaceID int64) ([]SenderNumber, error) {
	rows, err := db.Query(ctx, `SELECT `+senderNumberColumns+` FROM sender_numbers WHERE workspace_id = $1 ORDER BY id`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("listing sender numbers: %w", err)
	}
	return scanSenderNumbers(rows)
}

// SenderNumberListAll lists every number of every workspace (the periodic health check).
func SenderNumberListAll(ctx context.Context, db DBTX) ([]SenderNumber, error) {
	rows, err := db.Query(ctx, `SELECT `+senderNumberColumns+` FROM sender_numbers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing sender numbers: %w", err)
	}
	return scanSenderNumbers(rows)
}

// SenderNumberCreateParams are the fields of a new number. Secrets arrive already sealed.
type SenderNumberCreateParams struct {
	WorkspaceID    int64
	PhoneNumberID  string
	WABAID         string
	DisplayNumber  string
	AccessTokenEnc []byte
	AppSecretEnc   []byte
	VerifyToken    string
	UseSimulator   bool
	Coexistence    bool
	ThroughputCap  *int
}

// VerifyTokenHash is how a webhook verify token is stored: "sha256:" and its hex SHA-256 ("" for
// none). The handshake compares hashes; the token itself is never kept.
func VerifyTokenHash(token string) string {
	if token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func validNumericID(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// SenderNumberCreate registers a number. A phone_number_id already registered (in any
// workspace) is a conflict.
func SenderNumberCreate(ctx context.Context, db DBTX, p SenderNumberCreateParams) (SenderNumber, error) {
	var v ValidationError
	p.PhoneNumberID, p.WABAID = strings.TrimSpace(p.PhoneNumberID), strings.TrimSpace(p.WABAID)
	if !validNumericID(p.PhoneNumberID) {
		v.Problems = append(v.Problems, Problem{"phone_number_id", "phone_number_id es el identificador numérico que da Meta (no el número de teléfono)"})
	}
	if !validNumericID(p.WABAID) {
		v.Problems = append(v.Problems, Problem{"waba_id", "waba_id es el identificador numérico de la cuenta de WhatsApp Business"})
	}
	if p.ThroughputCap != nil && *p.ThroughputCap <= 0 {
		v.Problems = append(v.Problems, Problem{"throughput_cap", "el tope de mensajes por segundo debe ser positivo"})
	}
	if len(v.Problems) > 0 {
		return SenderNumber{}, &v
	}
	mps := 80
	if p.Coexistence {
		mps = CoexistenceMPS
	}
	n, err := scanSenderNumber(db.QueryRow(ctx, `
		INSERT INTO sender_numbers (workspace_id, phone_number_id, waba_id, display_number, access_token_enc,
		                            app_secret_enc, verify_token, use_simulator, coexistence, throughput_mps, throughput_cap)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING `+senderNumberColumns,
		p.WorkspaceID, p.PhoneNumberID, p.WABAID, strings.TrimSpace(p.DisplayNumber), p.AccessTokenEnc, p.AppSecretEnc,
		VerifyTokenHash(p.VerifyToken), p.UseSimulator, p.Coexistence, mps, p.ThroughputCap))
	if IsUniqueViolation(err) {
		return n, &FieldConflictError{Path: "phone_number_id", Message: "ese phone_number_id ya está registrado"}
	}
	return n, err
}

// SenderNumberUpdate holds the owner-editable fields; nil means unchanged. Secrets arrive sealed;
// an empty (non-nil) slice clears them.
type SenderNumberUpdate struct {
	DisplayNumber  *string
	AccessTokenEnc *[]byte
	AppSecretEnc   *[]byte
	VerifyToken    *string
	UseSimulator   *bool
	Coexistence    *bool
	ThroughputCap  *int // 0 or less removes the cap
	Status         *string
}

// SenderNumberUpdateByID applies u to a workspace's number.
func SenderNumberUpdateByID(ctx context.Context, db DBTX, workspaceID, id int64, u SenderNumberUpdate) (SenderNumber, error) {
	n, err := SenderNumberGetByID(ctx, db, workspaceID, id)
	if err != nil {
		return n, err
	}
	if u.DisplayNumber != nil {
		n.DisplayNumber = strings.TrimSpace(*u.DisplayNumber)
	}
	if u.AccessTokenEnc != nil {
		n.AccessTokenEnc = *u.AccessTokenEnc
	}
	if u.AppSecretEnc != nil {
		n.AppSecretEnc = *u.AppSecretEnc
	}
	if u.VerifyToken != nil {
		n.VerifyToken = VerifyTokenHash(*u.VerifyToken)
	}
	if u.UseSimulator != nil {
		n.UseSimulator = *u.UseSimulator
	}
	if u.Coexistence != nil {
		n.Coexistence = *u.Coexistence
	}
	if u.ThroughputCap != nil {
		n.ThroughputCap = u.ThroughputCap
		if *u.ThroughputCap <= 0 {
			n.ThroughputCap = nil
		}
	}
	statusReason := n.StatusReason
	if u.Status != nil && *u.Status != n.Status {
		switch *u.Status {
		case NumberActive, NumberHalted:
		default:
			return n, Invalid("status", "estado: active o halted")
		}
		n.Status = *u.Status
		statusReason = "cambiado por el propietario"
	}
	if len(n.AccessTokenEnc) == 0 {
		n.AccessTokenEnc = nil
	}
	if len(n.AppSecretEnc) == 0 {
		n.AppSecretEnc = nil
	}
	return scanSenderNumber(db.QueryRow(ctx, `
		UPDATE sender_numbers SET display_number = $3, access_token_enc = $4, app_secret_enc = $5, verify_token = $6,
		       use_simulator = $7, coexistence = $8, throughput_cap = $9, status = $10, status_reason = $11, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 RETURNING `+senderNumberColumns,
		workspaceID, id, n.DisplayNumber, n.AccessTokenEnc, n.AppSecretEnc, n.VerifyToken, n.UseSimulator, n.Coexistence,
		n.ThroughputCap, n.Status, statusReason))
}

// SenderNumberDelete removes a number that no campaign references.
func SenderNumberDelete(ctx context.Context, db DBTX, workspaceID, id int64) error {
	// The campaigns that use it, by name, so that the refusal says which (the newest three).
	var names []string
	var used int64
	if err := db.QueryRow(ctx, `SELECT count(*), coalesce((array_agg(name ORDER BY id DESC))[1:3], '{}')
		FROM campaigns WHERE workspace_id = $1 AND sender_number_id = $2`, workspaceID, id).Scan(&used, &names); err != nil {
		return fmt.Errorf("reading the campaigns of sender number %d: %w", id, err)
	}
	if used > 0 {
		quoted := make([]string, len(names))
		for i, n := range names {
			quoted[i] = "«" + n + "»"
		}
		list := strings.Join(quoted, ", ")
		if rest := used - int64(len(names)); rest > 0 {
			list += fmt.Sprintf(" y %d más", rest)
		}
		return fmt.Errorf("%w: hay campañas que usan este número (%s): se conservan con sus envíos y reportes, así que no se puede quitar (puede detenerlo)", ErrConflict, list)
	}
	tag, err := db.Exec(ctx, `DELETE FROM sender_numbers WHERE workspace_id = $1 AND id = $2`, workspaceID, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// NumberHealth is what a health check read from Meta about a number.
type NumberHealth struct {
	VerifiedName       string
	DisplayNumber      string
	QualityRating      string
	ThroughputMPS      int // 0: unknown, keep
	MessagingLimitTier string
	IsOnBizApp         bool
	PlatformType       string
}

// NumberEvent is one entry of a number's health history.
type NumberEvent struct {
	ID             int64           `json:"id"`
	SenderNumberID int64           `json:"sender_number_id"`
	Kind           string          `json:"kind"`
	OldValue       string          `json:"old_value"`
	NewValue       string          `json:"new_value"`
	Detail         json.RawMessage `json:"detail"`
	CreatedAt      time.Time       `json:"created_at"`
}

// SenderNumberRecordHealth stores a health reading and records a number_events row for each
// value that changed (kinds quality, limit, throughput, platform). It returns the events.
func SenderNumberRecordHealth(ctx context.Context, db DBTX, n SenderNumber, h NumberHealth) ([]NumberEvent, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	cur, err := scanSenderNumber(tx.QueryRow(ctx, `SELECT `+senderNumberColumns+` FROM sender_numbers WHERE id = $1 FOR UPDATE`, n.ID))
	if err != nil {
		return nil, fmt.Errorf("reading number %d: %w", n.ID, err)
	}
	type change struct{ kind, old, new string }
	var changes []change
	if h.QualityRating != "" && h.QualityRating != cur.QualityRating {
		changes = append(changes, change{"quality", cur.QualityRating, h.QualityRating})
		cur.QualityRating = h.QualityRating
	}
	if h.MessagingLimitTier != "" && h.MessagingLimitTier != cur.MessagingLimitTier {
		changes = append(changes, change{"limit", cur.MessagingLimitTier, h.MessagingLimitTier})
		cur.MessagingLimitTier = h.MessagingLimitTier
	}
	if h.ThroughputMPS > 0 && h.ThroughputMPS != cur.ThroughputMPS {
		changes = append(changes, change{"throughput", fmt.Sprint(cur.ThroughputMPS), fmt.Sprint(h.ThroughputMPS)})
		cur.ThroughputMPS = h.ThroughputMPS
	}
	platform := fmt.Sprintf("is_on_biz_app=%t platform_type=%s", h.IsOnBizApp, h.PlatformType)
	curPlatform := fmt.Sprintf("is_on_biz_app=%t platform_type=%s", cur.IsOnBizApp, cur.PlatformType)
	if h.PlatformType != "" && platform != curPlatform {
		changes = append(changes, change{"account", curPlatform, platform})
		cur.IsOnBizApp, cur.PlatformType = h.IsOnBizApp, h.PlatformType
		if h.IsOnBizApp {
			cur.Coexistence = true
		}
	}
	if h.VerifiedName != "" {
		cur.VerifiedName = h.VerifiedName
	}
	if h.DisplayNumber != "" && cur.DisplayNumber == "" {
		cur.DisplayNumber = h.DisplayNumber
	}
	_, err = tx.Exec(ctx, `UPDATE sender_numbers SET quality_rating = $2, messaging_limit_tier = $3, throughput_mps = $4,
		is_on_biz_app = $5, platform_type = $6, coexistence = $7, verified_name = $8, display_number = $9,
		state_changed_at = state_changed_at || jsonb_build_object('quality', now(), 'limit', now(), 'throughput', now()),
		last_checked_at = now(), updated_at = now() WHERE id = $1`,
		cur.ID, cur.QualityRating, cur.MessagingLimitTier, cur.ThroughputMPS, cur.IsOnBizApp, cur.PlatformType,
		cur.Coexistence, cur.VerifiedName, cur.DisplayNumber)
	if err != nil {
		return nil, fmt.Errorf("storing health of number %d: %w", n.ID, err)
	}
	var events []NumberEvent
	for _, ch := range changes {
		var e NumberEvent
		err := tx.QueryRow(ctx, `INSERT INTO number_events (workspace_id, sender_number_id, kind, old_value, new_value, detail)
			VALUES ($1, $2, $3, $4, $5, '{"source":"check"}') RETURNING id, sender_number_id, kind, old_value, new_value, detail, created_at`,
			cur.WorkspaceID, cur.ID, ch.kind, ch.old, ch.new).
			Scan(&e.ID, &e.SenderNumberID, &e.Kind, &e.OldValue, &e.NewValue, &e.Detail, &e.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("recording %s change of number %d: %w", ch.kind, n.ID, err)
		}
		events = append(events, e)
	}
	return events, tx.Commit(ctx)
}

// NumberEventInsert records one event about a number (webhooks, halts, check failures).
func NumberEventInsert(ctx context.Context, db DBTX, workspaceID, senderNumberID int64, kind, oldValue, newValue string, detail any) error {
	d, _ := json.Marshal(detail)
	if detail == nil {
		d = []byte("{}")
	}
	_, err := db.Exec(ctx, `INSERT INTO number_events (workspace_id, sender_number_id, kind, old_value, new_value, detail)
		VALUES ($1, $2, $3, $4, $5, $6)`, workspaceID, senderNumberID, kind, oldValue, newValue, d)
	return err
}

// NumberEventList lists a number's events, newest first.
func NumberEventList(ctx context.Context, db DBTX, workspaceID, senderNumberID int64, limit int) ([]NumberEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.Query(ctx, `SELECT id, sender_number_id, kind, old_value, new_value, detail, created_at FROM number_events
		WHERE workspace_id = $1 AND sender_number_id = $2 ORDER BY id DESC LIMIT $3`, workspaceID, senderNumberID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing events of number %d: %w", senderNumberID, err)
	}
	defer rows.Close()
	out := []NumberEvent{}
	for rows.Next() {
		var e NumberEvent
		if err := rows.Scan(&e.ID, &e.SenderNumberID, &e.Kind, &e.OldValue, &e.NewValue, &e.Detail, &e.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
