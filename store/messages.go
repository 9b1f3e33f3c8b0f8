package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Message directions.
const (
	DirectionInbound  = "inbound"  // the user wrote to the business
	DirectionEcho     = "echo"     // the business wrote from the WhatsApp Business app (coexistence)
	DirectionHistory  = "history"  // synced past chats (coexistence onboarding)
	DirectionOutbound = "outbound" // sent by Pregón outside campaigns
)

// Message is one entry of a contact's timeline that is not a campaign send.
type Message struct {
	ID             int64           `json:"id"`
	WorkspaceID    int64           `json:"-"`
	SenderNumberID *int64          `json:"sender_number_id,omitempty"`
	ContactID      *int64          `json:"contact_id,omitempty"`
	Direction      string          `json:"direction"`
	WAMID          string          `json:"wamid"`
	Type           string          `json:"type"`
	Body           string          `json:"body,omitempty"`
	Payload        string          `json:"payload,omitempty"`
	ContextWAMID   string          `json:"context_wamid,omitempty"`
	CampaignID     *int64          `json:"campaign_id,omitempty"`
	OccurredAt     time.Time       `json:"occurred_at"`
	Raw            json.RawMessage `json:"-"`
	CreatedAt      time.Time       `json:"created_at"`
}

// MessageInsert stores a message once: a repeated webhook (same workspace, wamid and direction)
// inserts nothing and returns inserted=false, so callers skip its side effects.
func MessageInsert(ctx context.Context, db DBTX, m Message) (id int64, inserted bool, err error) {
	raw := []byte(m.Raw)
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	// Postgres stores no NUL in text (nor \u0000 in jsonb).
	m.WAMID, m.Type, m.Body, m.Payload, m.ContextWAMID = noNUL(m.WAMID), noNUL(m.Type), noNUL(m.Body), noNUL(m.Payload), noNUL(m.ContextWAMID)
	err = db.QueryRow(ctx, `
		INSERT INTO messages (workspace_id, sender_number_id, contact_id, direction, wamid, type, body, payload,
			context_wamid, campaign_id, occurred_at, raw)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (workspace_id, wamid, direction) DO NOTHING RETURNING id`,
		m.WorkspaceID, m.SenderNumberID, m.ContactID, m.Direction, m.WAMID, m.Type, m.Body, m.Payload,
		m.ContextWAMID, m.CampaignID, m.OccurredAt, raw).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("storing %s message %s: %w", m.Direction, m.WAMID, err)
	}
	return id, true, nil
}

// noNUL removes NUL characters, which Postgres text cannot hold.
func noNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// RedactPhone hides the middle digits of a phone number or wa_id for error messages, notes
// and logs ("+52******12").
func RedactPhone(s string) string {
	var d []byte
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			d = append(d, s[i])
		}
	}
	if len(d) <= 4 {
		return strings.Repeat("*", len(d))
	}
	return "+" + string(d[:2]) + strings.Repeat("*", len(d)-4) + string(d[len(d)-2:])
}

// MessageCountForNumber counts a number's messages of one direction (to bound history).
func MessageCountForNumber(ctx context.Context, db DBTX, workspaceID, numberID int64, direction string) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE workspace_id = $1 AND sender_number_id = $2 AND direction = $3`,
		workspaceID, numberID, direction).Scan(&n)
	return n, err
}

// WAContact says who a WhatsApp user is, as a webhook reports them.
type WAContact struct {
	WAID       string   // digits, as Meta sends them (MX 521…, AR 549…)
	Candidates []string // E.164 forms a stored contact may have, most likely first
	E164       string   // the normalised number to create the contact with
	Country    string   // ISO region of E164
	Name       string   // profile or address-book name ("" = unknown)
	BSUID      string   // business-scoped user id (from_user_id / user_id), "" when not given
}

// WAContactEnsured is what WAContactEnsure found or did.
type WAContactEnsured struct {
	ID      int64 // 0: a user known only by a BSUID that no contact has
	Created bool
	// OptOuts are opt-outs that waited for the BSUID (BSUIDOptOutRecord), applied to the
	// contact now that it has it.
	OptOuts []BSUIDOptOut
}

// sqlFindWAContact finds the workspace's live contact of a WhatsApp user ($2 wa_id, $3 the
// candidate E.164 forms): by wa_id first, then by the candidates in their order. It returns
// the id and the BSUID (empty when none).
const sqlFindWAContact = `
	SELECT id, COALESCE(bsuid, '') FROM contacts
	WHERE workspace_id = $1 AND erased_at IS NULL
	  AND (($2 <> '' AND wa_id = $2) OR phone_e164 = ANY($3::text[]))
	ORDER BY ($2 <> '' AND wa_id = $2) DESC, array_position($3::text[], phone_e164), id
	LIMIT 1`

// WAContactFind is WAContactEnsure that creates nothing: the id of the workspace's contact for
// a WhatsApp user (by wa_id, the candidate E.164 forms, or the BSUID when no phone is given),
// 0 when none is.
func WAContactFind(ctx context.Context, db DBTX, workspaceID int64, c WAContact) (int64, error) {
	c.WAID, c.BSUID = noNUL(c.WAID), noNUL(strings.TrimSpace(c.BSUID))
	if c.WAID == "" && len(c.Candidates) == 0 {
		if c.BSUID == "" {
			return 0, nil
		}
		return ContactIDByBSUID(ctx, db, workspaceID, c.BSUID)
	}
	var id int64
	var bsuid string
	err := db.QueryRow(ctx, sqlFindWAContact, workspaceID, c.WAID, c.Candidates).Scan(&id, &bsuid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("finding the contact of wa_id %s in workspace %d: %w", RedactPhone(c.WAID), workspaceID, err)
	}
	return id, nil
}

// WAContactEnsure finds the workspace's contact for a WhatsApp user — by wa_id first, then by
// the candidate E.164 forms — or creates one WITHOUT consent (a message or a synced address
// book is not documented opt-in). It fills a missing wa_id and name, and attaches the BSUID
// when given with the phone (ContactsAttachBSUIDs). A user known only by a BSUID (username
// users since 2026: no phone in the webhook) is found by it, never created: ID 0 when no
// contact has it.
func WAContactEnsure(ctx context.Context, db DBTX, workspaceID int64, c WAContact) (WAContactEnsured, error) {
	c.Name, c.WAID, c.BSUID = noNUL(c.Name), noNUL(c.WAID), noNUL(strings.TrimSpace(c.BSUID))
	if c.WAID == "" && len(c.Candidates) == 0 && c.E164 == "" {
		if c.BSUID == "" {
			return WAContactEnsured{}, errors.New("identifying a WhatsApp contact: no wa_id, phone number or BSUID")
		}
		id, err := ContactIDByBSUID(ctx, db, workspaceID, c.BSUID)
		return WAContactEnsured{ID: id}, err
	}
	var id int64
	var bsuid string
	err := db.QueryRow(ctx, sqlFindWAContact, workspaceID, c.WAID, c.Candidates).Scan(&id, &bsuid)
	var created bool
	switch {
	case err == nil:
		_, err = db.Exec(ctx, `UPDATE contacts SET wa_id = COALESCE(wa_id, NULLIF($3, '')),
			name = CASE WHEN name = '' THEN $4 ELSE name END, updated_at = now()
			WHERE id = $1 AND workspace_id = $2 AND ((wa_id IS NULL AND $3 <> '') OR (name = '' AND $4 <> ''))`,
			id, workspaceID, c.WAID, c.Name)
		if err != nil {
			return WAContactEnsured{}, fmt.Errorf("updating contact %d from WhatsApp: %w", id, err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return WAContactEnsured{}, fmt.Errorf("finding the contact of wa_id %s in workspace %d: %w", RedactPhone(c.WAID), workspaceID, err)
	default:
		e164 := c.E164
		if e164 == "" {
			if len(c.Candidates) > 0 {
				e164 = c.Candidates[0]
			} else {
				e164 = "+" + c.WAID
			}
		}
		// ON CONFLICT: a concurrent webhook may have created the same contact a moment ago.
		err = db.QueryRow(ctx, `
			INSERT INTO contacts (workspace_id, phone_e164, wa_id, country, name)
			VALUES ($1, $2, NULLIF($3, ''), $4, $5)
			ON CONFLICT (workspace_id, phone_e164) DO UPDATE SET wa_id = COALESCE(contacts.wa_id, EXCLUDED.wa_id)
			RETURNING id, xmax = 0, COALESCE(bsuid, '')`, workspaceID, e164, c.WAID, c.Country, c.Name).Scan(&id, &created, &bsuid)
		if err != nil {
			return WAContactEnsured{}, fmt.Errorf("creating contact %s of workspace %d from WhatsApp: %w", RedactPhone(e164), workspaceID, err)
		}
	}
	res := WAContactEnsured{ID: id, Created: created}
	if c.BSUID != "" && c.BSUID != bsuid {
		// Rare (once per person, or when their BSUID changes): the common case costs nothing more.
		if res.OptOuts, err = ContactsAttachBSUIDs(ctx, db, []BSUIDAttach{{WorkspaceID: workspaceID, ContactID: id, BSUID: c.BSUID}}); err != nil {
			return WAContactEnsured{}, err
		}
	}
	return res, nil
}

// WAContactTouchInbound moves the contact's last inbound time forward (the 24 h customer
// service window opens at each user message). A message from the person also proves their
// WhatsApp works: a number left out of audiences as undeliverable (UndeliverableLimit) is
// restored.
func WAContactTouchInbound(ctx context.Context, db DBTX, workspaceID, contactID int64, at time.Time) error {
	_, err := db.Exec(ctx, `UPDATE contacts SET last_inbound_at = GREATEST(last_inbound_at, $3),
		    phone_valid = phone_valid OR undeliverable_count >= 3, undeliverable_count = 0, updated_at = now()
		WHERE id = $1 AND workspace_id = $2 AND (last_inbound_at IS NULL OR last_inbound_at < $3)`, contactID, workspaceID, at)
	if err != nil {
		return fmt.Errorf("recording inbound time of contact %d: %w", contactID, err)
	}
	return nil
}

// WAContactOptOut records a person's opt-out (keyword or quick-reply button): the contact's
// opted_out_at (first one wins), a consent event, and the opted_out_at of the recipient the
// reply answered (or the contact's latest campaign send). It reports whether the contact was
// newly opted out.
func WAContactOptOut(ctx context.Context, db DBTX, workspaceID, contactID int64, recipientID *int64, at time.Time, source, reason string, evidence any) (bool, error) {
	newly, err := contactOptOutAt(ctx, db, workspaceID, contactID, at, source, reason, evidence)
	if err != nil {
		return false, err
	}
	if recipientID != nil {
		_, err = db.Exec(ctx, `UPDATE recipients SET opted_out_at = LEAST(opted_out_at, $3), updated_at = now()
			WHERE id = $1 AND workspace_id = $2`, *recipientID, workspaceID, at)
	} else {
		_, err = db.Exec(ctx, `UPDATE recipients SET opted_out_at = LEAST(opted_out_at, $3), updated_at = now()
			WHERE id = (SELECT id FROM recipients WHERE workspace_id = $2 AND contact_id = $1 AND wamid IS NOT NULL
			            ORDER BY COALESCE(sent_at, updated_at) DESC LIMIT 1)`, contactID, workspaceID, at)
	}
	if err != nil {
		return false, fmt.Errorf("recording opt-out on the recipient of contact %d: %w", contactID, err)
	}
	return newly, nil
}

// contactOptOutAt records a person's opt-out on their contact: opted_out_at (first one wins) and
// a consent event. It reports whether the contact was newly opted out.
func contactOptOutAt(ctx context.Context, db DBTX, workspaceID, contactID int64, at time.Time, source, reason string, evidence any) (bool, error) {
	ev, _ := json.Marshal(evidence)
	if evidence == nil {
		ev = []byte("{}")
	}
	tag, err := db.Exec(ctx, `UPDATE contacts SET opted_out_at = $3, opt_out_source = $4, opt_out_reason = $5, updated_at = now()
		WHERE id = $1 AND workspace_id = $2 AND opted_out_at IS NULL`, contactID, workspaceID, at, source, reason)
	if err != nil {
		return false, fmt.Errorf("opting out contact %d: %w", contactID, err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO consent_events (workspace_id, contact_id, kind, source, reason, evidence)
		VALUES ($1, $2, 'opt_out', $3, $4, $5)`, workspaceID, contactID, source, reason, ev); err != nil {
		return false, fmt.Errorf("recording opt-out of contact %d: %w", contactID, err)
	}
	return tag.RowsAffected() > 0, nil
}

// WAContactMarketingPreference applies WhatsApp's own "offers and announcements" stop/resume
// (user_preferences webhook). A preference older than the latest one recorded is ignored, so
// out-of-order deliveries settle on the newest. It reports whether anything changed.
func WAContactMarketingPreference(ctx context.Context, db DBTX, workspaceID, contactID int64, stop bool, at time.Time, detail string) (bool, error) {
	var newer bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM consent_events
		WHERE workspace_id = $1 AND contact_id = $2 AND source = 'user_preferences'
		  AND (evidence->>'timestamp')::timestamptz >= $3)`, workspaceID, contactID, at).Scan(&newer)
	if err != nil {
		return false, fmt.Errorf("reading marketing preferences of contact %d: %w", contactID, err)
	}
	if newer {
		return false, nil
	}
	kind := "marketing_resume"
	if stop {
		kind = "marketing_stop"
	}
	_, err = db.Exec(ctx, `UPDATE contacts SET marketing_stopped = $3,
		marketing_stopped_at = CASE WHEN $3 THEN $4::timestamptz ELSE NULL END, updated_at = now()
		WHERE id = $1 AND workspace_id = $2`, contactID, workspaceID, stop, at)
	if err != nil {
		return false, fmt.Errorf("storing marketing preference of contact %d: %w", contactID, err)
	}
	ev, _ := json.Marshal(map[string]any{"timestamp": at.UTC().Format(time.RFC3339Nano), "detail": detail})
	_, err = db.Exec(ctx, `INSERT INTO consent_events (workspace_id, contact_id, kind, source, reason, evidence)
		VALUES ($1, $2, $3, 'user_preferences', $4, $5)`, workspaceID, contactID, kind, detail, ev)
	if err != nil {
		return false, fmt.Errorf("recording marketing preference of contact %d: %w", contactID, err)
	}
	return true, nil
}

// RecipientReplied marks the campaign recipient whose message (wamid) a user replied to, and
// returns the recipient and campaign ids (nil when the wamid is not a campaign send of the
// workspace).
func RecipientReplied(ctx context.Context, db DBTX, workspaceID int64, wamid string, at time.Time) (recipientID, campaignID *int64, err error) {
	var rid, cid int64
	err = db.QueryRow(ctx, `UPDATE recipients SET replied_at = LEAST(replied_at, $3), updated_at = now()
		WHERE wamid = $1 AND workspace_id = $2 RETURNING id, campaign_id`, wamid, workspaceID, at).Scan(&rid, &cid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("attributing a reply to %s: %w", wamid, err)
	}
	return &rid, &cid, nil
}

// RecipientContactID returns the contact of a campaign recipient (nil when there is none).
func RecipientContactID(ctx context.Context, db DBTX, workspaceID, recipientID int64) (*int64, error) {
	var id *int64
	err := db.QueryRow(ctx, `SELECT contact_id FROM recipients WHERE id = $1 AND workspace_id = $2`, recipientID, workspaceID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the contact of recipient %d: %w", recipientID, err)
	}
	return id, nil
}

// FoldText normalises a message for keyword matching: accents removed, upper case, spaces
// collapsed, surrounding spaces and punctuation trimmed ("  ¡Baja! " → "BAJA").
func FoldText(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	out = strings.Join(strings.Fields(strings.ToUpper(out)), " ")
	return strings.TrimFunc(out, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) || unicode.IsSymbol(r) })
}

// OptOutPayloadPrefix starts the payload of a campaign's opt-out quick-reply button
// ("OPTOUT", "OPTOUT:campaign42").
const OptOutPayloadPrefix = "OPTOUT"

// optOutFillers are words people add around an opt-out keyword that do not change what it
// says ("Baja por favor", "No más mensajes", "Quiero darme de baja", "Stop please"), folded.
// A message is an opt-out when it is a keyword once these are removed: whole words, whole
// message, never a substring ("¿no hay baja de precio?" and "no más de 2 por favor" are not).
var optOutFillers = map[string]bool{
	"POR": true, "FAVOR": true, "PORFA": true, "PORFAVOR": true, "PF": true, "PLS": true, "PLZ": true, "PLEASE": true,
	"QUIERO": true, "QUERO": true, "YA": true, "GRACIAS": true, "OBRIGADO": true, "OBRIGADA": true, "THANKS": true,
	"MENSAJE": true, "MENSAJES": true, "MENSAGEM": true, "MENSAGENS": true, "MESSAGES": true,
	"PROMOCION": true, "PROMOCIONES": true, "PROMOCAO": true, "PROMOCOES": true, "PROMOTIONS": true, "PROMOS": true,
}

// optOutPhrases are common ways of saying a keyword, each honoured when the workspace has that
// keyword (folded forms; fillers are removed before matching).
var optOutPhrases = map[string][]string{
	"BAJA":          {"DAME DE BAJA", "DARME DE BAJA", "DENME DE BAJA", "ME DOY DE BAJA", "DE BAJA"},
	"DARME DE BAJA": {"DAME DE BAJA", "DENME DE BAJA"},
	"NO MAS":        {"NO ME ENVIEN MAS", "NO ME MANDEN MAS", "NO RECIBIR MAS", "NO QUIERO RECIBIR MAS"},
	"CANCELAR":      {"CANCELAR SUSCRIPCION", "CANCELAR MI SUSCRIPCION", "CANCELAR LA SUSCRIPCION"},
	"DESUSCRIBIR":   {"DESUSCRIBIRME", "DESUSCRIBANME"},
	"STOP":          {"DETENER", "STOP ALL"},
	"PARAR":         {"DETENER", "PARAR TODO"},
	"NAO QUERO":     {"NAO QUERO MAIS", "NAO QUERO RECEBER MAIS", "NAO QUERO RECEBER"},
	"SAIR":          {"QUERO SAIR"},
	"UNSUBSCRIBE":   {"UNSUBSCRIBE ME"},
}

// MarketingOptOutButtons are the labels of Meta's marketing opt-out quick-reply button (its
// payload is the label): a tap always opts out, whatever the workspace's keywords.
var MarketingOptOutButtons = []string{"STOP PROMOTIONS", "DETENER PROMOCIONES", "PARAR PROMOCOES", "INTERROMPER PROMOCOES"}

// optOutWords folds a message into its words: accents removed, upper case, punctuation,
// symbols (emoji) and invisible characters dropped.
func optOutWords(s string) []string {
	s = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) || r == 0 {
			return -1
		}
		return r
	}, s)
	s = norm.NFKC.String(s) // full-width letters
	return strings.FieldsFunc(FoldText(s), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)
	})
}

// IsOptOutText reports whether a whole message asks to stop: after folding, it is one of the
// opt-out keywords (or a common phrase for one), alone or with filler words around it
// ("Baja por favor", "No más mensajes", "Quiero darme de baja").
func IsOptOutText(text string, keywords []string) bool {
	words := optOutWords(text)
	if len(words) == 0 || len(words) > 12 {
		return false
	}
	whole := strings.Join(words, " ")
	kept := words[:0:0]
	for _, w := range words {
		if !optOutFillers[w] {
			kept = append(kept, w)
		}
	}
	bare := strings.Join(kept, " ")
	match := func(k string) bool { return k != "" && (k == whole || k == bare) }
	for _, k := range keywords {
		fk := strings.Join(optOutWords(k), " ")
		if match(fk) {
			return true
		}
		for _, ph := range optOutPhrases[fk] {
			if match(ph) {
				return true
			}
		}
	}
	return false
}

// IsOptOutPayload reports whether a quick-reply payload asks to opt out: it starts with
// OPTOUT, it is Meta's marketing opt-out button, or it is an opt-out keyword.
func IsOptOutPayload(payload string, keywords []string) bool {
	if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(payload)), OptOutPayloadPrefix) {
		return true
	}
	f := strings.Join(optOutWords(payload), " ")
	for _, b := range MarketingOptOutButtons {
		if f == b {
			return true
		}
	}
	return IsOptOutText(payload, keywords)
}

// TimelineItem is one entry of a contact's timeline: a message (inbound, echo, history) or a
// campaign send with its delivery statuses.
type TimelineItem struct {
	Kind         string        `json:"kind"` // inbound | echo | history | outbound | campaign
	At           time.Time     `json:"at"`
	WAMID        string        `json:"wamid,omitempty"`
	Type         string        `json:"type,omitempty"`
	Body         string        `json:"body,omitempty"`
	Payload      string        `json:"payload,omitempty"`
	ContextWAMID string        `json:"context_wamid,omitempty"`
	CampaignID   *int64        `json:"campaign_id,omitempty"`
	CampaignName string        `json:"campaign_name,omitempty"`
	TemplateName string        `json:"template_name,omitempty"`
	RecipientID  *int64        `json:"recipient_id,omitempty"`
	State        string        `json:"state,omitempty"`
	ErrorCode    *int          `json:"error_code,omitempty"`
	ErrorTitle   string        `json:"error_title,omitempty"`
	SentAt       *time.Time    `json:"sent_at,omitempty"`
	DeliveredAt  *time.Time    `json:"delivered_at,omitempty"`
	ReadAt       *time.Time    `json:"read_at,omitempty"`
	FailedAt     *time.Time    `json:"failed_at,omitempty"`
	RepliedAt    *time.Time    `json:"replied_at,omitempty"`
	OptedOutAt   *time.Time    `json:"opted_out_at,omitempty"`
	Statuses     []StatusEvent `json:"statuses,omitempty"`
}

// ContactTimeline returns a contact's timeline, newest first: messages and campaign sends
// that happened before `before` (zero: now), at most limit items. ErrNotFound when the contact
// is not the workspace's.
func ContactTimeline(ctx context.Context, db DBTX, workspaceID, contactID int64, before time.Time, limit int) ([]TimelineItem, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	if before.IsZero() {
		before = time.Now().Add(time.Hour)
	}
	var exists bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM contacts WHERE workspace_id = $1 AND id = $2)`, workspaceID, contactID).Scan(&exists); err != nil {
		return nil, fmt.Errorf("reading contact %d: %w", contactID, err)
	}
	if !exists {
		return nil, ErrNotFound
	}
	rows, err := db.Query(ctx, `
		SELECT * FROM (
		    SELECT m.direction, m.occurred_at, m.wamid, m.type, m.body, m.payload, m.context_wamid, m.campaign_id,
		           COALESCE(c.name, ''), '', NULL::bigint, '', NULL::int, '', NULL::timestamptz, NULL::timestamptz,
		           NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz
		    FROM messages m LEFT JOIN campaigns c ON c.id = m.campaign_id AND c.workspace_id = m.workspace_id
		    WHERE m.workspace_id = $1 AND m.contact_id = $2 AND m.occurred_at < $3
		    UNION ALL
		    SELECT 'campaign', COALESCE(r.sent_at, r.sending_at, r.failed_at, r.queued_at, r.updated_at), COALESCE(r.wamid, ''),
		           'template', '', '', '', r.campaign_id, c.name, COALESCE(t.name, ''), r.id, r.state, r.error_code, r.error_title,
		           r.sent_at, r.delivered_at, r.read_at, r.failed_at, r.replied_at, r.opted_out_at
		    FROM recipients r JOIN campaigns c ON c.id = r.campaign_id AND c.workspace_id = r.workspace_id
		    LEFT JOIN templates t ON t.id = c.template_id AND t.workspace_id = c.workspace_id
		    WHERE r.workspace_id = $1 AND r.contact_id = $2 AND r.state NOT IN ('pending', 'skipped')
		      AND COALESCE(r.sent_at, r.sending_at, r.failed_at, r.queued_at, r.updated_at) < $3
		) items ORDER BY 2 DESC LIMIT $4`, workspaceID, contactID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("reading timeline of contact %d: %w", contactID, err)
	}
	items := []TimelineItem{}
	var wamids []string
	for rows.Next() {
		var it TimelineItem
		var code *int32
		if err := rows.Scan(&it.Kind, &it.At, &it.WAMID, &it.Type, &it.Body, &it.Payload, &it.ContextWAMID, &it.CampaignID,
			&it.CampaignName, &it.TemplateName, &it.RecipientID, &it.State, &code, &it.ErrorTitle,
			&it.SentAt, &it.DeliveredAt, &it.ReadAt, &it.FailedAt, &it.RepliedAt, &it.OptedOutAt); err != nil {
			rows.Close()
			return nil, err
		}
		if code != nil {
			c := int(*code)
			it.ErrorCode = &c
		}
		if it.Kind == "campaign" && it.WAMID != "" {
			wamids = append(wamids, it.WAMID)
		}
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading timeline of contact %d: %w", contactID, err)
	}
	if len(wamids) > 0 {
		evs, err := StatusEventsByWAMIDs(ctx, db, workspaceID, wamids)
		if err != nil {
			return nil, err
		}
		byWAMID := map[string][]StatusEvent{}
		for _, e := range evs {
			byWAMID[e.WAMID] = append(byWAMID[e.WAMID], e)
		}
		for i := range items {
			if items[i].Kind == "campaign" {
				items[i].Statuses = byWAMID[items[i].WAMID]
			}
		}
	}
	return items, nil
}

// ContactsChattingNow counts the workspace's contacts with a message in or an owner's echo
// within ActiveChatHold before now: those a campaign would hold with hold_active_chats on (for
// the launch plan's warning). It looks at the workspace's newest 5,000 messages only
// (messages_workspace_id_idx), plenty for half an hour of chats.
func ContactsChattingNow(ctx context.Context, db DBTX, workspaceID int64, now time.Time) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT count(DISTINCT contact_id) FROM (
		    SELECT contact_id, direction, occurred_at FROM messages WHERE workspace_id = $1 ORDER BY id DESC LIMIT 5000) m
		WHERE m.contact_id IS NOT NULL AND m.direction IN ('inbound', 'echo') AND m.occurred_at > $2`,
		workspaceID, now.Add(-ActiveChatHold)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting contacts chatting with workspace %d: %w", workspaceID, err)
	}
	return n, nil
}
