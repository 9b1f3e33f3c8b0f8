package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"
)

// Contact is a person the workspace may message. Contacts without documented consent are
// stored but not marketable; Marketable and NotMarketable say so and why.
type Contact struct {
	ID                 int64          `json:"id"`
	WorkspaceID        int64          `json:"workspace_id"`
	Phone              string         `json:"phone"` // E.164; "erased:<id>" after erasure
	WAID               *string        `json:"wa_id"`
	BSUID              *string        `json:"bsuid"` // WhatsApp's business-scoped user id ("MX.1349…"), learned from webhooks
	PhoneValid         bool           `json:"phone_valid"`
	Country            string         `json:"country"`
	Name               string         `json:"name"`
	Email              string         `json:"email"`
	Language           string         `json:"language"`
	Tags               []string       `json:"tags"`
	Attributes         map[string]any `json:"attributes"`
	ConsentAt          *time.Time     `json:"consent_at"`
	ConsentSource      string         `json:"consent_source"`
	ConsentText        string         `json:"consent_text"`
	ConsentEvidence    map[string]any `json:"consent_evidence"`
	OptedOutAt         *time.Time     `json:"opted_out_at"`
	OptOutSource       string         `json:"opt_out_source"`
	OptOutReason       string         `json:"opt_out_reason"`
	MarketingStopped   bool           `json:"marketing_stopped"`
	MarketingStoppedAt *time.Time     `json:"marketing_stopped_at"`
	UndeliverableCount int            `json:"undeliverable_count"`
	CooledUntil        *time.Time     `json:"cooled_until"`
	LastInboundAt      *time.Time     `json:"last_inbound_at"`
	NumberChangedAt    *time.Time     `json:"number_changed_at"` // the person left this number for another contact's (ContactNumberChanged)
	ImportID           *int64         `json:"import_id"`
	ErasedAt           *time.Time     `json:"erased_at"`
	CreatedAt          time.Time      `json:"created_at"`
	UpdatedAt          time.Time      `json:"updated_at"`

	Marketable    bool     `json:"marketable"`
	NotMarketable []Reason `json:"not_marketable"` // why not (empty when marketable)
}

// Reason is a stable code with a Spanish and an English text.
type Reason struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
}

// Reasons a contact is not marketable; the same conditions as contacts_marketable_idx.
var (
	ReasonNoConsent        = Reason{"no_consent", "sin consentimiento documentado", "no documented consent"}
	ReasonOptedOut         = Reason{"opted_out", "se dio de baja", "opted out"}
	ReasonMarketingStopped = Reason{"marketing_stopped", "WhatsApp detuvo el marketing a este contacto", "WhatsApp stopped marketing to this contact"}
	ReasonInvalidPhone     = Reason{"invalid_phone", "número no válido", "invalid phone number"}
	ReasonUndeliverable    = Reason{"undeliverable", "WhatsApp no pudo entregarle 3 mensajes (131026): el número no parece usar WhatsApp",
		"WhatsApp could not deliver 3 messages (131026): the number does not seem to use WhatsApp"}
	ReasonErased        = Reason{"erased", "datos personales borrados", "personal data erased"}
	ReasonNumberChanged = Reason{"number_changed", "la persona cambió de número de WhatsApp: este ya no es el suyo",
		"the person changed their WhatsApp number: this one is no longer theirs"}
)

// sqlNotMarketable is, for the contact aliased ct, the code of the first reason above that
// applies (erased, opted out, WhatsApp's stop, no consent, invalid phone or one the person
// left), NULL when it is marketable: computeMarketable and contacts_marketable_idx in SQL. A
// campaign's recipients are checked with it when they are released and again when they are
// sent, so a contact who opts out, is stopped or erased after the launch gets nothing more.
const sqlNotMarketable = `CASE WHEN ct.erased_at IS NOT NULL THEN 'erased' WHEN ct.opted_out_at IS NOT NULL THEN 'opted_out'
	WHEN ct.marketing_stopped THEN 'marketing_stopped' WHEN ct.consent_at IS NULL THEN 'no_consent'
	WHEN NOT ct.phone_valid THEN CASE WHEN ct.number_changed_at IS NOT NULL THEN 'number_changed'
	WHEN ct.undeliverable_count >= 3 THEN 'undeliverable' ELSE 'invalid_phone' END END`

// UndeliverableLimit is how many 131026 (undeliverable: not on WhatsApp, old app, blocked the
// business…) a contact may collect before it leaves every audience, as WHATSAPP.md asks:
// sending again only burns the messaging limit and the number's quality. phone_valid is
// cleared then (the 3 in the SQL of delivery.go, recipients.go and sqlNotMarketable); a message
// from the person proves their WhatsApp works and restores it (WAContactTouchInbound).
const UndeliverableLimit = 3

func (c *Contact) computeMarketable() {
	c.NotMarketable = []Reason{}
	if c.ErasedAt != nil {
		c.NotMarketable = append(c.NotMarketable, ReasonErased)
	}
	if c.ConsentAt == nil {
		c.NotMarketable = append(c.NotMarketable, ReasonNoConsent)
	}
	if c.OptedOutAt != nil {
		c.NotMarketable = append(c.NotMarketable, ReasonOptedOut)
	}
	if c.MarketingStopped {
		c.NotMarketable = append(c.NotMarketable, ReasonMarketingStopped)
	}
	if !c.PhoneValid && c.NumberChangedAt != nil {
		c.NotMarketable = append(c.NotMarketable, ReasonNumberChanged)
	} else if !c.PhoneValid && c.UndeliverableCount >= UndeliverableLimit {
		c.NotMarketable = append(c.NotMarketable, ReasonUndeliverable)
	} else if !c.PhoneValid {
		c.NotMarketable = append(c.NotMarketable, ReasonInvalidPhone)
	}
	c.Marketable = len(c.NotMarketable) == 0
}

const contactColumns = `id, workspace_id, phone_e164, wa_id, bsuid, phone_valid, country, name, email, language, tags,
	attributes, consent_at, consent_source, consent_text, consent_evidence, opted_out_at, opt_out_source,
	opt_out_reason, marketing_stopped, marketing_stopped_at, undeliverable_count, cooled_until, last_inbound_at,
	number_changed_at, import_id, erased_at, created_at, updated_at`

func scanContact(row interface{ Scan(...any) error }) (Contact, error) {
	var c Contact
	err := row.Scan(&c.ID, &c.WorkspaceID, &c.Phone, &c.WAID, &c.BSUID, &c.PhoneValid, &c.Country, &c.Name, &c.Email, &c.Language,
		&c.Tags, &c.Attributes, &c.ConsentAt, &c.ConsentSource, &c.ConsentText, &c.ConsentEvidence, &c.OptedOutAt,
		&c.OptOutSource, &c.OptOutReason, &c.MarketingStopped, &c.MarketingStoppedAt, &c.UndeliverableCount,
		&c.CooledUntil, &c.LastInboundAt, &c.NumberChangedAt, &c.ImportID, &c.ErasedAt, &c.CreatedAt, &c.UpdatedAt)
	if err != nil {
		return c, NotFoundIfNoRows(err)
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	c.computeMarketable()
	return c, nil
}

// ContactGetByID reads one contact of the workspace.
func ContactGetByID(ctx context.Context, db DBTX, workspaceID, id int64) (Contact, error) {
	return scanContact(db.QueryRow(ctx, `SELECT `+contactColumns+` FROM contacts WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
}

// ContactGetByPhone reads the contact with an E.164 number.
func ContactGetByPhone(ctx context.Context, db DBTX, workspaceID int64, e164 string) (Contact, error) {
	return scanContact(db.QueryRow(ctx, `SELECT `+contactColumns+` FROM contacts WHERE workspace_id = $1 AND phone_e164 = $2`, workspaceID, e164))
}

// ContactFilter narrows a contact list. Zero fields do not filter.
type ContactFilter struct {
	Search     string // in name, email or phone (digits)
	Tag        string
	AttrKey    string // with AttrValue: attributes[AttrKey] = AttrValue
	AttrValue  string
	Marketable *bool
	Erased     bool  // list erased contacts instead of live ones
	Cursor     int64 // last id seen; the list goes by id descending
	Limit      int
}

var contactSQL = sq.StatementBuilder.PlaceholderFormat(sq.Dollar)

// ContactList lists the workspace's contacts, newest first.
func ContactList(ctx context.Context, db DBTX, workspaceID int64, f ContactFilter) ([]Contact, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	where := sq.And{sq.Eq{"workspace_id": workspaceID}}
	if f.Erased {
		where = append(where, sq.Expr("erased_at IS NOT NULL"))
	} else {
		where = append(where, sq.Expr("erased_at IS NULL"))
	}
	if f.Cursor > 0 {
		where = append(where, sq.Lt{"id": f.Cursor})
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		like := "%" + escapeLike(q) + "%"
		or := sq.Or{sq.Expr("name ILIKE ?", like), sq.Expr("email ILIKE ?", like)}
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, q)
		if len(digits) >= 3 {
			or = append(or, sq.Expr("phone_e164 LIKE ?", "%"+digits+"%"))
		}
		where = append(where, or)
	}
	if f.Tag != "" {
		where = append(where, sq.Expr("tags @> ARRAY[?]::text[]", f.Tag)) // contacts_tags_idx
	}
	if f.AttrKey != "" {
		// Typed values: match the text form, and use the GIN index for strings.
		where = append(where, sq.Or{
			sq.Expr("attributes @> jsonb_build_object(?::text, ?::text)", f.AttrKey, f.AttrValue),
			sq.Expr("attributes->>? = ?", f.AttrKey, f.AttrValue),
		})
	}
	if f.Marketable != nil {
		cond := "(consent_at IS NOT NULL AND opted_out_at IS NULL AND NOT marketing_stopped AND phone_valid AND erased_at IS NULL)"
		if !*f.Marketable {
			cond = "NOT " + cond
		}
		where = append(where, sq.Expr(cond))
	}
	sql, args, err := contactSQL.Select(contactColumns).From("contacts").Where(where).OrderBy("id DESC").Limit(uint64(f.Limit)).ToSql()
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("listing contacts: %w", err)
	}
	defer rows.Close()
	out := []Contact{}
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ContactConsent is documented consent given when a contact is created or opted in by hand.
type ContactConsent struct {
	Source   string         `json:"source"` // form, store, call…
	Text     string         `json:"text"`   // consent text or its version
	At       *time.Time     `json:"at"`     // default now
	Evidence map[string]any `json:"evidence"`
}

// ContactCreateParams are a new contact's fields. Phone is already normalised (package phone).
type ContactCreateParams struct {
	WorkspaceID int64
	Phone       string
	Country     string
	Name        string
	Email       string
	Language    string
	Tags        []string
	Attributes  map[string]any
	Consent     *ContactConsent
	ActorUserID int64
}

// ContactCreate inserts a contact (ErrConflict when the phone exists) and, with consent, its
// opt_in consent event.
func ContactCreate(ctx context.Context, db DBTX, p ContactCreateParams) (Contact, error) {
	if p.Tags == nil {
		p.Tags = []string{}
	}
	if p.Attributes == nil {
		p.Attributes = map[string]any{}
	}
	var consentAt *time.Time
	var source, text string
	evidence := map[string]any{}
	if p.Consent != nil {
		now := time.Now()
		consentAt = &now
		if p.Consent.At != nil {
			consentAt = p.Consent.At
		}
		source, text = p.Consent.Source, p.Consent.Text
		if source == "" {
			source = "manual"
		}
		for k, v := range p.Consent.Evidence {
			evidence[k] = v
		}
		if p.ActorUserID != 0 {
			evidence["user_id"] = p.ActorUserID
		}
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return Contact{}, err
	}
	defer tx.Rollback(ctx)
	c, err := scanContact(tx.QueryRow(ctx, `
		INSERT INTO contacts (workspace_id, phone_e164, country, name, email, language, tags, attributes,
		                      consent_at, consent_source, consent_text, consent_evidence)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		RETURNING `+contactColumns,
		p.WorkspaceID, p.Phone, p.Country, p.Name, p.Email, p.Language, p.Tags, p.Attributes, consentAt, source, text, evidence))
	if IsUniqueViolation(err) {
		return Contact{}, fmt.Errorf("%w: ya existe un contacto con el número %s", ErrConflict, p.Phone)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("creating contact: %w", err)
	}
	if consentAt != nil {
		if err := consentEventInsert(ctx, tx, ConsentEvent{WorkspaceID: p.WorkspaceID, ContactID: c.ID, Kind: "opt_in",
			Source: source, ConsentText: text, Evidence: evidence, ActorUserID: zeroNil(p.ActorUserID)}); err != nil {
			return Contact{}, err
		}
	}
	return c, tx.Commit(ctx)
}

// ContactUpdate holds the fields to change; nil means unchanged.
type ContactUpdate struct {
	Phone      *string         `json:"phone"` // already normalised by the caller
	Country    *string         `json:"-"`
	Name       *string         `json:"name"`
	Email      *string         `json:"email"`
	Language   *string         `json:"language"`
	Tags       *[]string       `json:"tags"`       // replaces the tags
	Attributes *map[string]any `json:"attributes"` // merged; a null value removes the key
}

// ContactUpdateByID changes a live contact's fields.
func ContactUpdateByID(ctx context.Context, db DBTX, workspaceID, id int64, u ContactUpdate) (Contact, error) {
	var set, remove map[string]any
	if u.Attributes != nil {
		set, remove = map[string]any{}, map[string]any{}
		for k, v := range *u.Attributes {
			if v == nil {
				remove[k] = true
			} else {
				set[k] = v
			}
		}
	}
	removeKeys := []string{}
	for k := range remove {
		removeKeys = append(removeKeys, k)
	}
	var setJSON []byte
	if set != nil {
		setJSON, _ = json.Marshal(set)
	}
	c, err := scanContact(db.QueryRow(ctx, `
		UPDATE contacts SET
		    phone_e164 = coalesce($3, phone_e164),
		    country    = coalesce($4, country),
		    name       = coalesce($5, name),
		    email      = coalesce($6, email),
		    language   = coalesce($7, language),
		    tags       = coalesce($8, tags),
		    attributes = CASE WHEN $9::jsonb IS NULL THEN attributes ELSE (attributes || $9::jsonb) - $10::text[] END,
		    wa_id      = CASE WHEN $3::text IS NOT NULL AND $3 <> phone_e164 THEN NULL ELSE wa_id END,
		    bsuid      = CASE WHEN $3::text IS NOT NULL AND $3 <> phone_e164 THEN NULL ELSE bsuid END,
		    -- A contact left out because the person moved to another number (ContactNumberChanged)
		    -- is back once someone gives it a number again.
		    phone_valid = CASE WHEN $3::text IS NOT NULL AND $3 <> phone_e164 AND number_changed_at IS NOT NULL THEN true ELSE phone_valid END,
		    number_changed_at = CASE WHEN $3::text IS NOT NULL AND $3 <> phone_e164 THEN NULL ELSE number_changed_at END,
		    updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND erased_at IS NULL
		RETURNING `+contactColumns,
		workspaceID, id, u.Phone, u.Country, u.Name, u.Email, u.Language, u.Tags, setJSON, removeKeys))
	if IsUniqueViolation(err) {
		return Contact{}, fmt.Errorf("%w: ya existe un contacto con ese número", ErrConflict)
	}
	if err == ErrNotFound {
		return Contact{}, whyUnchanged(ctx, db, workspaceID, id, "update")
	}
	return c, err
}

// ContactErase erases a contact's personal data (a data-subject request): phone becomes
// "erased:<id>", name, email, language, tags, attributes, wa_id and BSUID are cleared, the phone and
// variables on its campaign recipients, the WhatsApp id and raw payload of their status
// webhooks, the bodies of its messages and the phone of its test sends too; consent evidence and history keep only what
// documents the consent (evidenceRecordKeys), without notes, reasons or other keys. The rows
// stay, so campaigns keep their delivery counts; consent events stay as the legal record.
func ContactErase(ctx context.Context, db DBTX, workspaceID, id int64) error {
	_, err := ContactEraseScrub(ctx, db, workspaceID, id, nil)
	return err
}

// ContactEraseScrub is ContactErase that also records, for WebhookBodiesScrub, which raw webhook
// bodies to blank (the ones naming the contact's phone, WhatsApp id or BSUID): it returns the scrub's id
// (0 when the contact was already erased). The caller queues the scrub's job in the same
// transaction. A contact who had opted out (or whom WhatsApp stopped) leaves the keyed hash of
// their phone in the suppression list, so that no import brings the number back (hash nil:
// none is kept).
func ContactEraseScrub(ctx context.Context, db DBTX, workspaceID, id int64, hash PhoneHasher) (scrubID int64, err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	err = tx.QueryRow(ctx, `
		INSERT INTO erasure_scrubs (workspace_id, contact_id, needles, upto_inbox_id)
		SELECT c.workspace_id, c.id,
		       array_remove(ARRAY[NULLIF(regexp_replace(c.phone_e164, '[^0-9]', '', 'g'), ''), NULLIF(c.wa_id, ''), NULLIF(c.bsuid, '')], NULL),
		       COALESCE((SELECT max(id) FROM webhook_inbox), 0)
		FROM contacts c WHERE c.workspace_id = $1 AND c.id = $2 AND c.erased_at IS NULL
		RETURNING id`, workspaceID, id).Scan(&scrubID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("recording the webhook scrub of contact %d: %w", id, err)
	}
	if err := suppressBeforeErasure(ctx, tx, workspaceID, id, hash); err != nil {
		return 0, err
	}
	if err := contactErase(ctx, tx, workspaceID, id); err != nil {
		return 0, err
	}
	return scrubID, tx.Commit(ctx)
}

func contactErase(ctx context.Context, tx pgx.Tx, workspaceID, id int64) error {
	// Test sends to the phone are counted in the messaging ledger under the phone: they move to
	// the contact (they still count for the rolling 24 h) and the phone goes.
	if _, err := tx.Exec(ctx, `UPDATE messaging_ledger SET contact_id = $2, phone_e164 = NULL
		WHERE workspace_id = $1 AND phone_e164 IS NOT NULL AND (contact_id = $2
		   OR phone_e164 = (SELECT phone_e164 FROM contacts WHERE workspace_id = $1 AND id = $2 AND erased_at IS NULL))`, workspaceID, id); err != nil {
		return fmt.Errorf("erasing the phone of contact %d from the messaging ledger: %w", id, err)
	}
	// Messages the person sent as a username user before the contact had their BSUID go with
	// the contact's own (MessagesAttachByBSUID does this for every contact each minute).
	if _, err := tx.Exec(ctx, `UPDATE messages m SET contact_id = c.id FROM contacts c
		WHERE c.workspace_id = $1 AND c.id = $2 AND c.erased_at IS NULL AND c.bsuid IS NOT NULL
		  AND m.workspace_id = $1 AND `+sqlUnattachedMessagesOf("m", "c.bsuid"),
		workspaceID, id); err != nil {
		return fmt.Errorf("finding the messages of contact %d sent before its BSUID was known: %w", id, err)
	}
	tag, err := tx.Exec(ctx, `
		UPDATE contacts SET phone_e164 = 'erased:' || id, wa_id = NULL, bsuid = NULL, name = '', email = '', language = '',
		       tags = '{}', attributes = '{}', consent_text = '', consent_evidence = `+sqlEvidenceRecord("consent_evidence")+`,
		       opt_out_reason = '', erased_at = now(), updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND erased_at IS NULL`, workspaceID, id)
	if err != nil {
		return fmt.Errorf("erasing contact %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := ContactGetByID(ctx, tx, workspaceID, id); err != nil {
			return err
		}
		return nil // already erased
	}
	// The consent history stays as the legal record of what was agreed, when and how, without
	// the free text a person typed about the contact (reasons, evidence notes).
	if _, err := tx.Exec(ctx, `UPDATE consent_events SET reason = '', evidence = `+sqlEvidenceRecord("evidence")+`
		WHERE workspace_id = $1 AND contact_id = $2`, workspaceID, id); err != nil {
		return fmt.Errorf("erasing the consent history notes of contact %d: %w", id, err)
	}
	// Status webhooks name the WhatsApp id and keep Meta's raw object: both go, the statuses
	// (and so the delivery counts) stay.
	if _, err := tx.Exec(ctx, `UPDATE status_events s SET recipient_wa_id = '', raw = '{}'
		FROM recipients r
		WHERE r.workspace_id = $1 AND r.contact_id = $2 AND r.wamid IS NOT NULL AND s.wamid = r.wamid`, workspaceID, id); err != nil {
		return fmt.Errorf("erasing status webhooks of contact %d: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE recipients SET phone_e164 = 'erased:' || contact_id, wa_id = NULL, variables = '{}'
		WHERE workspace_id = $1 AND contact_id = $2`, workspaceID, id); err != nil {
		return fmt.Errorf("erasing recipients of contact %d: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET body = '', payload = '', raw = '{}'
		WHERE workspace_id = $1 AND contact_id = $2`, workspaceID, id); err != nil {
		return fmt.Errorf("erasing messages of contact %d: %w", id, err)
	}
	return nil
}

// evidenceRecordKeys are the keys of consent evidence that document where consent came from
// without saying anything about the person: what an erasure keeps.
var evidenceRecordKeys = []string{"import_id", "file_sha256", "row", "message_id", "form", "user_id"}

// EvidenceRecord is consent evidence reduced to evidenceRecordKeys: where consent came from,
// without what it says about the person (an IP address, a form's fields). It is what an
// erasure keeps, and what analysts read.
func EvidenceRecord(ev map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range evidenceRecordKeys {
		if v, ok := ev[k]; ok {
			out[k] = v
		}
	}
	return out
}

// sqlEvidenceRecord is the jsonb column col reduced to evidenceRecordKeys (EvidenceRecord).
func sqlEvidenceRecord(col string) string {
	return `(SELECT coalesce(jsonb_object_agg(k, v), '{}') FROM jsonb_each(` + col + `) AS e(k, v)
		WHERE k IN ('` + strings.Join(evidenceRecordKeys, "', '") + `'))`
}

// ContactTagsBulk adds and removes tags on many contacts at once; it returns how many changed.
func ContactTagsBulk(ctx context.Context, db DBTX, workspaceID int64, ids []int64, add, remove []string) (int64, error) {
	if add == nil {
		add = []string{}
	}
	if remove == nil {
		remove = []string{}
	}
	tag, err := db.Exec(ctx, `
		UPDATE contacts SET
		    tags = ARRAY(SELECT t FROM unnest(tags || $3::text[]) WITH ORDINALITY AS u(t, n)
		                 WHERE t <> ALL ($4::text[]) GROUP BY t ORDER BY min(n)),
		    updated_at = now()
		WHERE workspace_id = $1 AND id = ANY ($2) AND erased_at IS NULL
		  AND (NOT tags @> $3::text[] OR tags && $4::text[])`, workspaceID, ids, add, remove)
	if err != nil {
		return 0, fmt.Errorf("tagging contacts: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ContactOptOut records a manual opt-out with a reason. A contact already out, or erased, is a
// conflict that says so (the first opt-out and its reason stay the record).
func ContactOptOut(ctx context.Context, db DBTX, workspaceID, id int64, reason string, actorUserID int64) (Contact, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return Contact{}, err
	}
	defer tx.Rollback(ctx)
	c, err := scanContact(tx.QueryRow(ctx, `
		UPDATE contacts SET opted_out_at = now(), opt_out_source = 'manual', opt_out_reason = $3, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND opted_out_at IS NULL AND erased_at IS NULL
		RETURNING `+contactColumns, workspaceID, id, reason))
	if err == ErrNotFound {
		return Contact{}, whyUnchanged(ctx, tx, workspaceID, id, "opt_out")
	}
	if err != nil {
		return Contact{}, fmt.Errorf("opting out contact %d: %w", id, err)
	}
	if err := consentEventInsert(ctx, tx, ConsentEvent{WorkspaceID: workspaceID, ContactID: id, Kind: "opt_out",
		Source: "manual", Reason: reason, Evidence: map[string]any{}, ActorUserID: zeroNil(actorUserID)}); err != nil {
		return Contact{}, err
	}
	return c, tx.Commit(ctx)
}

// ContactOptIn records documented consent given again by hand (the contact asked to receive
// messages): it clears an opt-out and sets the consent record. WhatsApp's own marketing stop is
// not cleared here; only the contact can lift it in WhatsApp. A contact that already has
// documented consent and has not opted out is a conflict: its record is not replaced by this
// one (which may be weaker), and an erased contact's neither.
func ContactOptIn(ctx context.Context, db DBTX, workspaceID, id int64, reason string, consent ContactConsent, actorUserID int64) (Contact, error) {
	if consent.Source == "" {
		consent.Source = "manual"
	}
	evidence := map[string]any{"reason": reason}
	for k, v := range consent.Evidence {
		evidence[k] = v
	}
	if actorUserID != 0 {
		evidence["user_id"] = actorUserID
	}
	at := time.Now()
	if consent.At != nil {
		at = *consent.At
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return Contact{}, err
	}
	defer tx.Rollback(ctx)
	c, err := scanContact(tx.QueryRow(ctx, `
		UPDATE contacts SET opted_out_at = NULL, opt_out_source = '', opt_out_reason = '',
		       consent_at = $3, consent_source = $4, consent_text = $5, consent_evidence = $6, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND erased_at IS NULL AND (opted_out_at IS NOT NULL OR consent_at IS NULL)
		RETURNING `+contactColumns, workspaceID, id, at, consent.Source, consent.Text, evidence))
	if err == ErrNotFound {
		return Contact{}, whyUnchanged(ctx, tx, workspaceID, id, "opt_in")
	}
	if err != nil {
		return Contact{}, fmt.Errorf("opting in contact %d: %w", id, err)
	}
	if err := consentEventInsert(ctx, tx, ConsentEvent{WorkspaceID: workspaceID, ContactID: id, Kind: "opt_in",
		Source: consent.Source, Reason: reason, ConsentText: consent.Text, Evidence: evidence, ActorUserID: zeroNil(actorUserID)}); err != nil {
		return Contact{}, err
	}
	return c, tx.Commit(ctx)
}

// whyUnchanged explains why an update, opt-in or opt-out changed no row: ErrNotFound, or a conflict
// naming the contact's state.
func whyUnchanged(ctx context.Context, db DBTX, workspaceID, id int64, kind string) error {
	c, err := ContactGetByID(ctx, db, workspaceID, id)
	switch {
	case err != nil:
		return err
	case c.ErasedAt != nil:
		return fmt.Errorf("%w: los datos personales de este contacto fueron borrados", ErrConflict)
	case kind == "update":
		return ErrNotFound
	case kind == "opt_out" && c.OptedOutAt != nil:
		return fmt.Errorf("%w: el contacto ya se dio de baja el %s (%s)", ErrConflict, c.OptedOutAt.Format("02/01/2006"), SourceText(c.OptOutSource))
	case kind == "opt_out":
		return fmt.Errorf("%w: el contacto cambió mientras tanto; vuelva a intentarlo", ErrConflict)
	case c.MarketingStopped:
		return fmt.Errorf("%w: el contacto ya tiene consentimiento documentado; WhatsApp detuvo el marketing a este contacto y solo la persona puede reactivarlo desde WhatsApp", ErrConflict)
	default:
		return fmt.Errorf("%w: el contacto ya tiene consentimiento documentado (%s)", ErrConflict, SourceText(c.ConsentSource))
	}
}

// Sources of consent and opt-out events that Pregón writes itself (the rest is text a person
// typed: an import's or an API client's consent source).
const (
	SourceKeyword         = "keyword"          // an opt-out keyword written by the person
	SourceButton          = "button"           // an opt-out quick-reply button
	SourceManual          = "manual"           // recorded by hand in Pregón
	SourceImport          = "import"           // an import that declared no source
	SourceUserPreferences = "user_preferences" // WhatsApp's user_preferences webhook
	SourceStopMarketing   = "131050"           // WhatsApp refused marketing to the person
	SourceUndeliverable   = "131026"           // WhatsApp could not deliver to the number
	SourceWhatsAppSystem  = "whatsapp_system"  // a WhatsApp system message: the person changed number
)

// SourceText is a consent or opt-out source in Spanish words, for messages; text a person typed
// comes back as it is. The UI has its own words in both languages (src.* messages).
func SourceText(source string) string {
	switch source {
	case SourceKeyword:
		return "palabra clave de baja"
	case SourceButton:
		return "botón de baja"
	case SourceManual:
		return "registrado a mano"
	case SourceImport:
		return "importación"
	case SourceUserPreferences:
		return "preferencias de WhatsApp de la persona"
	case SourceStopMarketing:
		return "WhatsApp detuvo el marketing (131050)"
	case SourceUndeliverable:
		return "WhatsApp no pudo entregar (131026)"
	case SourceWhatsAppSystem:
		return "aviso de WhatsApp (cambio de número)"
	}
	return source
}

// ConsentEvent is one entry of a contact's consent history.
type ConsentEvent struct {
	ID          int64          `json:"id"`
	WorkspaceID int64          `json:"-"`
	ContactID   int64          `json:"contact_id"`
	Kind        string         `json:"kind"` // opt_in | opt_out | marketing_stop | marketing_resume | undeliverable | number_changed
	Source      string         `json:"source"`
	Reason      string         `json:"reason"`
	ConsentText string         `json:"consent_text"`
	Evidence    map[string]any `json:"evidence"`
	ActorUserID *int64         `json:"actor_user_id"`
	CreatedAt   time.Time      `json:"created_at"`
}

func consentEventInsert(ctx context.Context, db DBTX, e ConsentEvent) error {
	if e.Evidence == nil {
		e.Evidence = map[string]any{}
	}
	_, err := db.Exec(ctx, `INSERT INTO consent_events (workspace_id, contact_id, kind, source, reason, consent_text, evidence, actor_user_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.WorkspaceID, e.ContactID, e.Kind, e.Source, e.Reason, e.ConsentText, e.Evidence, e.ActorUserID)
	if err != nil {
		return fmt.Errorf("recording %s of contact %d: %w", e.Kind, e.ContactID, err)
	}
	return nil
}

// ConsentEventList is a contact's consent history, oldest first.
func ConsentEventList(ctx context.Context, db DBTX, workspaceID, contactID int64) ([]ConsentEvent, error) {
	rows, err := db.Query(ctx, `SELECT id, workspace_id, contact_id, kind, source, reason, consent_text, evidence, actor_user_id, created_at
		FROM consent_events WHERE workspace_id = $1 AND contact_id = $2 ORDER BY id`, workspaceID, contactID)
	if err != nil {
		return nil, fmt.Errorf("listing consent events of contact %d: %w", contactID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ConsentEvent, error) {
		var e ConsentEvent
		err := r.Scan(&e.ID, &e.WorkspaceID, &e.ContactID, &e.Kind, &e.Source, &e.Reason, &e.ConsentText, &e.Evidence, &e.ActorUserID, &e.CreatedAt)
		return e, err
	})
}
