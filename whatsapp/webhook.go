package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Webhook fields Pregón subscribes to (Change.Field).
const (
	FieldMessages                 = "messages"
	FieldTemplateStatusUpdate     = "message_template_status_update"
	FieldTemplateQualityUpdate    = "message_template_quality_update"
	FieldTemplateCategoryUpdate   = "template_category_update"
	FieldPhoneNumberQualityUpdate = "phone_number_quality_update"
	FieldBusinessCapabilityUpdate = "business_capability_update"
	FieldAccountUpdate            = "account_update"
	FieldUserPreferences          = "user_preferences"
	FieldSMBMessageEchoes         = "smb_message_echoes"
	FieldSMBAppStateSync          = "smb_app_state_sync"
	FieldHistory                  = "history"
	ObjectWhatsAppBusinessAccount = "whatsapp_business_account"
	maxWebhookBody                = 3 << 20
)

// Envelope is a webhook POST body: {"object":…,"entry":[{"id":…,"changes":[…]}]}. Iterate
// every entry and every change; one body may carry many.
type Envelope struct {
	Object string  `json:"object"`
	Entry  []Entry `json:"entry"`
}

// Entry is one WABA's batch of changes.
type Entry struct {
	ID      FlexString `json:"id"` // WABA id
	Time    FlexInt    `json:"time,omitempty"`
	Changes []Change   `json:"changes"`
}

// Change is one event. Raw always holds the "value" object as received; exactly one of the
// typed pointers is set when Field is known. Err records a value whose shape did not match the
// typed struct (the fields that did match are still filled).
type Change struct {
	Field string          `json:"field"`
	Raw   json.RawMessage `json:"-"`
	Err   error           `json:"-"`

	Messages           *MessagesValue            `json:"-"`
	TemplateStatus     *TemplateStatusUpdate     `json:"-"`
	TemplateQuality    *TemplateQualityUpdate    `json:"-"`
	TemplateCategory   *TemplateCategoryUpdate   `json:"-"`
	PhoneNumberQuality *PhoneNumberQualityUpdate `json:"-"`
	BusinessCapability *BusinessCapabilityUpdate `json:"-"`
	AccountUpdate      *AccountUpdate            `json:"-"`
	UserPreferences    *UserPreferencesValue     `json:"-"`
	MessageEchoes      *MessageEchoesValue       `json:"-"`
	StateSync          *StateSyncValue           `json:"-"`
	History            *HistoryValue             `json:"-"`
}

// UnmarshalJSON decodes the value into the typed struct for Field.
func (c *Change) UnmarshalJSON(b []byte) error {
	var w struct {
		Field string          `json:"field"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Change{Field: w.Field, Raw: w.Value}
	if len(w.Value) == 0 || bytes.Equal(w.Value, []byte("null")) {
		return nil
	}
	target := c.target(true)
	if target == nil {
		return nil
	}
	if err := json.Unmarshal(w.Value, target); err != nil {
		c.Err = fmt.Errorf("decoding %s value: %w", w.Field, err)
	}
	return nil
}

// target returns the typed pointer for Field, allocating it when alloc is set.
func (c *Change) target(alloc bool) any {
	pick := func(p any, isNil bool, set func()) any {
		if isNil {
			if !alloc {
				return nil
			}
			set()
		}
		return p
	}
	switch c.Field {
	case FieldMessages:
		return pick(&c.Messages, c.Messages == nil, func() { c.Messages = new(MessagesValue) })
	case FieldTemplateStatusUpdate:
		return pick(&c.TemplateStatus, c.TemplateStatus == nil, func() { c.TemplateStatus = new(TemplateStatusUpdate) })
	case FieldTemplateQualityUpdate:
		return pick(&c.TemplateQuality, c.TemplateQuality == nil, func() { c.TemplateQuality = new(TemplateQualityUpdate) })
	case FieldTemplateCategoryUpdate:
		return pick(&c.TemplateCategory, c.TemplateCategory == nil, func() { c.TemplateCategory = new(TemplateCategoryUpdate) })
	case FieldPhoneNumberQualityUpdate:
		return pick(&c.PhoneNumberQuality, c.PhoneNumberQuality == nil, func() { c.PhoneNumberQuality = new(PhoneNumberQualityUpdate) })
	case FieldBusinessCapabilityUpdate:
		return pick(&c.BusinessCapability, c.BusinessCapability == nil, func() { c.BusinessCapability = new(BusinessCapabilityUpdate) })
	case FieldAccountUpdate:
		return pick(&c.AccountUpdate, c.AccountUpdate == nil, func() { c.AccountUpdate = new(AccountUpdate) })
	case FieldUserPreferences:
		return pick(&c.UserPreferences, c.UserPreferences == nil, func() { c.UserPreferences = new(UserPreferencesValue) })
	case FieldSMBMessageEchoes:
		return pick(&c.MessageEchoes, c.MessageEchoes == nil, func() { c.MessageEchoes = new(MessageEchoesValue) })
	case FieldSMBAppStateSync:
		return pick(&c.StateSync, c.StateSync == nil, func() { c.StateSync = new(StateSyncValue) })
	case FieldHistory:
		return pick(&c.History, c.History == nil, func() { c.History = new(HistoryValue) })
	}
	return nil
}

// MarshalJSON writes {"field":…,"value":…} from Raw, or from the typed value when Raw is empty.
func (c Change) MarshalJSON() ([]byte, error) {
	value := c.Raw
	if len(value) == 0 {
		cp := c
		if t := cp.target(false); t != nil {
			b, err := json.Marshal(t)
			if err != nil {
				return nil, err
			}
			value = b
		} else {
			value = json.RawMessage("{}")
		}
	}
	field, err := json.Marshal(c.Field)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(value)+len(field)+20)
	out = append(out, `{"value":`...)
	out = append(out, value...)
	out = append(out, `,"field":`...)
	out = append(out, field...)
	return append(out, '}'), nil
}

// ErrEmptyWebhook is returned by ParseWebhook for an empty body.
var ErrEmptyWebhook = errors.New("empty webhook body")

// ParseWebhook decodes a webhook POST body. It fails only when the body is not a JSON object
// (or is larger than 3 MB); unknown fields and enum values are kept or ignored, and a value
// that does not fit its typed struct is reported in Change.Err.
func ParseWebhook(body []byte) (*Envelope, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, ErrEmptyWebhook
	}
	if len(body) > maxWebhookBody {
		return nil, fmt.Errorf("parsing webhook: body of %d bytes exceeds 3 MB", len(body))
	}
	if body[0] != '{' {
		return nil, errors.New("parsing webhook: body is not a JSON object")
	}
	var e Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("parsing webhook: %w", err)
	}
	return &e, nil
}

// EntryTime returns the entry's time as UTC (zero when absent).
func (e Entry) EntryTime() time.Time { return Timestamp(e.Time).Time() }

// Statuses returns every message status in the envelope, in order.
func (e *Envelope) Statuses() []Status {
	var out []Status
	for _, en := range e.Entry {
		for _, ch := range en.Changes {
			if ch.Messages != nil {
				out = append(out, ch.Messages.Statuses...)
			}
		}
	}
	return out
}

// InboundMessages returns every inbound user message (field "messages") in the envelope.
func (e *Envelope) InboundMessages() []Message {
	var out []Message
	for _, en := range e.Entry {
		for _, ch := range en.Changes {
			if ch.Messages != nil {
				out = append(out, ch.Messages.Messages...)
			}
		}
	}
	return out
}
