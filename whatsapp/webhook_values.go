package whatsapp

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Metadata identifies the business number a "messages"-style value concerns.
type Metadata struct {
	DisplayPhoneNumber FlexString `json:"display_phone_number"`
	PhoneNumberID      FlexString `json:"phone_number_id"`
}

// Contact is a user profile in a messages value.
type Contact struct {
	WAID         FlexString `json:"wa_id,omitempty"`
	UserID       string     `json:"user_id,omitempty"` // BSUID, e.g. "MX.1349120865530274"
	ParentUserID string     `json:"parent_user_id,omitempty"`
	Profile      struct {
		Name     string `json:"name,omitempty"`
		Username string `json:"username,omitempty"`
	} `json:"profile"`
}

// WebhookError is an error object inside a webhook (statuses[].errors, messages[].errors,
// value.errors, history[].errors).
type WebhookError struct {
	Code      int    `json:"code"`
	Title     string `json:"title,omitempty"`
	Message   string `json:"message,omitempty"`
	ErrorData struct {
		Details string `json:"details,omitempty"`
	} `json:"error_data"`
	Href string `json:"href,omitempty"`
}

// AsError converts the webhook error to *Error so Classify and RetryAfter apply.
func (w WebhookError) AsError() *Error {
	return &Error{Code: w.Code, Title: w.Title, Message: cmpOr(w.Message, w.Title), Details: w.ErrorData.Details}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// MessagesValue is the value of field "messages": statuses of sent messages and/or inbound
// user messages, or system-level errors.
type MessagesValue struct {
	MessagingProduct string         `json:"messaging_product"`
	Metadata         Metadata       `json:"metadata"`
	Contacts         []Contact      `json:"contacts,omitempty"`
	Messages         []Message      `json:"messages,omitempty"`
	Statuses         []Status       `json:"statuses,omitempty"`
	Errors           []WebhookError `json:"errors,omitempty"`
}

// Message delivery states in Status.Status.
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusFailed    = "failed"
	StatusPlayed    = "played"
)

// Status is a delivery status of a message the business sent.
type Status struct {
	ID                    string         `json:"id"` // wamid returned by the send
	Status                string         `json:"status"`
	Timestamp             Timestamp      `json:"timestamp"`
	RecipientID           string         `json:"recipient_id,omitempty"`
	RecipientUserID       string         `json:"recipient_user_id,omitempty"`
	GroupID               string         `json:"group_id,omitempty"`
	BizOpaqueCallbackData string         `json:"biz_opaque_callback_data,omitempty"`
	Conversation          *Conversation  `json:"conversation,omitempty"`
	Pricing               *Pricing       `json:"pricing,omitempty"`
	Errors                []WebhookError `json:"errors,omitempty"`
}

// Conversation is the (pre-v24) conversation object of a status.
type Conversation struct {
	ID                  string    `json:"id,omitempty"`
	ExpirationTimestamp Timestamp `json:"expiration_timestamp,omitempty"`
	Origin              struct {
		Type string `json:"type,omitempty"`
	} `json:"origin"`
}

// Pricing is what was billed for a message.
type Pricing struct {
	Billable     *bool  `json:"billable,omitempty"`
	PricingModel string `json:"pricing_model,omitempty"` // PMP | CBP
	Type         string `json:"type,omitempty"`          // regular | free_customer_service | free_entry_point
	Category     string `json:"category,omitempty"`      // marketing | utility | authentication | service …
}

// Message is an inbound user message (also used for coexistence echoes and history).
type Message struct {
	From           string          `json:"from,omitempty"`
	FromUserID     string          `json:"from_user_id,omitempty"`
	To             string          `json:"to,omitempty"` // smb_message_echoes only
	ID             string          `json:"id"`
	Timestamp      Timestamp       `json:"timestamp"`
	Type           string          `json:"type"`
	Context        *MessageContext `json:"context,omitempty"`
	Text           *TextBody       `json:"text,omitempty"`
	Button         *ButtonReply    `json:"button,omitempty"`
	Interactive    *Interactive    `json:"interactive,omitempty"`
	Reaction       *Reaction       `json:"reaction,omitempty"`
	Image          *InboundMedia   `json:"image,omitempty"`
	Audio          *InboundMedia   `json:"audio,omitempty"`
	Video          *InboundMedia   `json:"video,omitempty"`
	Document       *InboundMedia   `json:"document,omitempty"`
	Sticker        *InboundMedia   `json:"sticker,omitempty"`
	Location       *Location       `json:"location,omitempty"`
	Contacts       []SharedContact `json:"contacts,omitempty"`
	System         *System         `json:"system,omitempty"`
	Referral       *Referral       `json:"referral,omitempty"`
	Order          *Order          `json:"order,omitempty"`
	Errors         []WebhookError  `json:"errors,omitempty"`
	HistoryContext *struct {
		Status string `json:"status"` // DELIVERED | ERROR | PENDING | PLAYED | READ | SENT
	} `json:"history_context,omitempty"`
}

// ReplyText is what the user typed or tapped: text body, button text/payload, interactive reply
// title, or media caption; "" for other types. Used for opt-out keyword detection.
func (m Message) ReplyText() string {
	switch {
	case m.Text != nil:
		return m.Text.Body
	case m.Button != nil:
		return cmpOr(m.Button.Text, m.Button.Payload)
	case m.Interactive != nil && m.Interactive.ButtonReply != nil:
		return m.Interactive.ButtonReply.Title
	case m.Interactive != nil && m.Interactive.ListReply != nil:
		return m.Interactive.ListReply.Title
	}
	for _, md := range []*InboundMedia{m.Image, m.Video, m.Document} {
		if md != nil {
			return md.Caption
		}
	}
	return ""
}

// MessageContext links a message to an earlier one (a reply, or a button tap on a template:
// ID is then the campaign message's wamid).
type MessageContext struct {
	From            string `json:"from,omitempty"`
	ID              string `json:"id,omitempty"`
	Forwarded       bool   `json:"forwarded,omitempty"`
	ReferredProduct *struct {
		CatalogID         string `json:"catalog_id"`
		ProductRetailerID string `json:"product_retailer_id"`
	} `json:"referred_product,omitempty"`
}

// TextBody is a text message body.
type TextBody struct {
	Body string `json:"body"`
}

// ButtonReply is a tap on a template quick-reply button: Payload is what was sent in the
// quick_reply parameter (or the label when none was).
type ButtonReply struct {
	Payload string `json:"payload"`
	Text    string `json:"text"`
}

// Interactive is a reply to an interactive (session) message.
type Interactive struct {
	Type        string `json:"type"` // button_reply | list_reply | nfm_reply
	ButtonReply *struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	} `json:"button_reply,omitempty"`
	ListReply *struct {
		ID          string `json:"id"`
		Title       string `json:"title"`
		Description string `json:"description,omitempty"`
	} `json:"list_reply,omitempty"`
	NFMReply json.RawMessage `json:"nfm_reply,omitempty"`
}

// Reaction is an emoji reaction (Emoji "" = removed).
type Reaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji,omitempty"`
}

// InboundMedia is an image, audio, video, document or sticker sent by the user.
type InboundMedia struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
	Voice    bool   `json:"voice,omitempty"`
	Animated bool   `json:"animated,omitempty"`
	URL      string `json:"url,omitempty"`
}

// Location is a shared location.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
	URL       string  `json:"url,omitempty"`
}

// SharedContact is a contact card sent by the user.
type SharedContact struct {
	Name struct {
		FormattedName string `json:"formatted_name,omitempty"`
		FirstName     string `json:"first_name,omitempty"`
		LastName      string `json:"last_name,omitempty"`
	} `json:"name"`
	Org *struct {
		Company string `json:"company,omitempty"`
	} `json:"org,omitempty"`
	Phones []struct {
		Phone string `json:"phone,omitempty"`
		WAID  string `json:"wa_id,omitempty"`
		Type  string `json:"type,omitempty"`
	} `json:"phones,omitempty"`
}

// Order is a cart sent from a catalog.
type Order struct {
	CatalogID    string `json:"catalog_id"`
	Text         string `json:"text,omitempty"`
	ProductItems []struct {
		ProductRetailerID string  `json:"product_retailer_id"`
		Quantity          FlexInt `json:"quantity"`
		ItemPrice         float64 `json:"item_price"`
		Currency          string  `json:"currency"`
	} `json:"product_items"`
}

// System is a system message (user changed number, user id changed…). The message's from is
// the user's old number (or from_user_id their old BSUID).
type System struct {
	Body     string `json:"body,omitempty"`
	Type     string `json:"type,omitempty"`      // user_changed_number | user_changed_user_id | …
	WAID     string `json:"wa_id,omitempty"`     // user_changed_number: the new wa_id
	NewWAID  string `json:"new_wa_id,omitempty"` // the same, as older API versions name it
	Customer string `json:"customer,omitempty"`
	UserID   string `json:"user_id,omitempty"` // user_changed_user_id: the new BSUID
}

// System message types that say a user changed identity.
const (
	SystemUserChangedNumber = "user_changed_number"
	SystemUserChangedUserID = "user_changed_user_id"
)

// NewNumber is the new wa_id of a user_changed_number message ("" when none is given).
func (s *System) NewNumber() string {
	if s.WAID != "" {
		return s.WAID
	}
	return s.NewWAID
}

// Referral describes the ad or post a Click-to-WhatsApp message came from.
type Referral struct {
	SourceURL  string `json:"source_url,omitempty"`
	SourceID   string `json:"source_id,omitempty"`
	SourceType string `json:"source_type,omitempty"`
	Body       string `json:"body,omitempty"`
	Headline   string `json:"headline,omitempty"`
	MediaType  string `json:"media_type,omitempty"`
	ImageURL   string `json:"image_url,omitempty"`
	CTWAClid   string `json:"ctwa_clid,omitempty"`
}

// TemplateStatusUpdate is field message_template_status_update.
type TemplateStatusUpdate struct {
	Event                   string     `json:"event"` // APPROVED, PAUSED, DISABLED, REINSTATED, …
	MessageTemplateID       FlexString `json:"message_template_id"`
	MessageTemplateName     string     `json:"message_template_name"`
	MessageTemplateLanguage string     `json:"message_template_language"`
	MessageTemplateCategory string     `json:"message_template_category,omitempty"`
	Reason                  FlexString `json:"reason,omitempty"` // null when scheduled for deletion
	OtherInfo               *struct {
		Title       string `json:"title,omitempty"` // FIRST_PAUSE, SECOND_PAUSE, UNPAUSE, DISABLED…
		Description string `json:"description,omitempty"`
	} `json:"other_info,omitempty"`
	DisableInfo *struct {
		DisableDate Timestamp `json:"disable_date"`
	} `json:"disable_info,omitempty"`
	RejectionInfo *struct {
		Reason         string `json:"reason,omitempty"`
		Recommendation string `json:"recommendation,omitempty"`
	} `json:"rejection_info,omitempty"`
}

// TemplateQualityUpdate is field message_template_quality_update.
type TemplateQualityUpdate struct {
	PreviousQualityScore    string     `json:"previous_quality_score"`
	NewQualityScore         string     `json:"new_quality_score"`
	MessageTemplateID       FlexString `json:"message_template_id"`
	MessageTemplateName     string     `json:"message_template_name"`
	MessageTemplateLanguage string     `json:"message_template_language"`
}

// TemplateCategoryUpdate is field template_category_update.
type TemplateCategoryUpdate struct {
	MessageTemplateID       FlexString `json:"message_template_id"`
	MessageTemplateName     string     `json:"message_template_name"`
	MessageTemplateLanguage string     `json:"message_template_language"`
	PreviousCategory        string     `json:"previous_category,omitempty"`
	NewCategory             string     `json:"new_category,omitempty"`
	CorrectCategory         string     `json:"correct_category,omitempty"`
	CategoryUpdateTimestamp Timestamp  `json:"category_update_timestamp,omitempty"`
}

// PhoneNumberQualityUpdate is field phone_number_quality_update.
type PhoneNumberQualityUpdate struct {
	DisplayPhoneNumber               FlexString `json:"display_phone_number"`
	Event                            string     `json:"event"` // ONBOARDING, THROUGHPUT_UPGRADE; legacy FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE
	CurrentLimit                     string     `json:"current_limit,omitempty"`
	OldLimit                         string     `json:"old_limit,omitempty"`
	MaxDailyConversationsPerBusiness FlexString `json:"max_daily_conversations_per_business,omitempty"` // "TIER_2K" or 2000
}

// BusinessCapabilityUpdate is field business_capability_update.
type BusinessCapabilityUpdate struct {
	MaxDailyConversationsPerBusiness FlexString `json:"max_daily_conversations_per_business,omitempty"` // 2000 or "TIER_2K"
	MaxDailyConversationPerPhone     FlexInt    `json:"max_daily_conversation_per_phone,omitempty"`     // legacy; -1 unlimited
	MaxPhoneNumbersPerBusiness       FlexInt    `json:"max_phone_numbers_per_business,omitempty"`
	MaxPhoneNumbersPerWABA           FlexInt    `json:"max_phone_numbers_per_waba,omitempty"`
}

// AccountUpdate is field account_update (bans, restrictions, coexistence disconnection…).
type AccountUpdate struct {
	PhoneNumber       FlexString `json:"phone_number,omitempty"`
	Event             string     `json:"event"` // PARTNER_REMOVED, ACCOUNT_OFFBOARDED, DISABLED_UPDATE, ACCOUNT_VIOLATION, …
	DisconnectionInfo *struct {
		Reason      string `json:"reason,omitempty"` // PRIMARY_INACTIVITY, COMPANION_INACTIVITY, …
		InitiatedBy string `json:"initiated_by,omitempty"`
	} `json:"disconnection_info,omitempty"`
	BanInfo *struct {
		WABABanState FlexStrings `json:"waba_ban_state,omitempty"`
		WABABanDate  string      `json:"waba_ban_date,omitempty"`
	} `json:"ban_info,omitempty"`
	RestrictionInfo []struct {
		RestrictionType string `json:"restriction_type,omitempty"`
		Expiration      string `json:"expiration,omitempty"`
	} `json:"restriction_info,omitempty"`
	ViolationInfo *struct {
		ViolationType string `json:"violation_type,omitempty"`
	} `json:"violation_info,omitempty"`
	WABAInfo json.RawMessage `json:"waba_info,omitempty"`
}

// FlexStrings accepts a string or an array of strings.
type FlexStrings []string

// UnmarshalJSON implements json.Unmarshaler.
func (f *FlexStrings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var items []FlexString
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		*f = (*f)[:0]
		for _, it := range items {
			*f = append(*f, string(it))
		}
		return nil
	}
	var s FlexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*f = nil
	} else {
		*f = FlexStrings{string(s)}
	}
	return nil
}

// UserPreferencesValue is field user_preferences (marketing stop/resume from WhatsApp's own
// setting).
type UserPreferencesValue struct {
	MessagingProduct string           `json:"messaging_product"`
	Metadata         Metadata         `json:"metadata"`
	Contacts         []Contact        `json:"contacts,omitempty"`
	UserPreferences  []UserPreference `json:"user_preferences"`
}

// UserPreference is one stop/resume.
type UserPreference struct {
	WAID      FlexString `json:"wa_id"`
	UserID    string     `json:"user_id,omitempty"`
	Detail    string     `json:"detail,omitempty"`
	Category  string     `json:"category"` // marketing_messages
	Value     string     `json:"value"`    // stop | resume
	Timestamp Timestamp  `json:"timestamp"`
}

// Stopped reports whether the preference stops marketing messages.
func (u UserPreference) Stopped() bool { return strings.EqualFold(u.Value, "stop") }

// MessageEchoesValue is field smb_message_echoes: messages the business sent from the
// WhatsApp Business app of a coexistence number.
type MessageEchoesValue struct {
	MessagingProduct string    `json:"messaging_product"`
	Metadata         Metadata  `json:"metadata"`
	MessageEchoes    []Message `json:"message_echoes"`
}

// StateSyncValue is field smb_app_state_sync: contact book changes on a coexistence number.
type StateSyncValue struct {
	MessagingProduct string          `json:"messaging_product"`
	Metadata         Metadata        `json:"metadata"`
	StateSync        []StateSyncItem `json:"state_sync"`
}

// StateSyncItem is one contact added, edited or removed in the app.
type StateSyncItem struct {
	Type    string `json:"type"` // contact
	Contact struct {
		FullName    string     `json:"full_name,omitempty"`
		FirstName   string     `json:"first_name,omitempty"`
		PhoneNumber FlexString `json:"phone_number"`
	} `json:"contact"`
	Action   string `json:"action"` // add | remove
	Metadata struct {
		Timestamp Timestamp `json:"timestamp"`
	} `json:"metadata"`
}

// HistoryValue is field history: chat history shared at coexistence onboarding.
type HistoryValue struct {
	MessagingProduct string         `json:"messaging_product"`
	Metadata         Metadata       `json:"metadata"`
	History          []HistoryChunk `json:"history"`
}

// HistoryChunk is one chunk of history (chunks may arrive out of order).
type HistoryChunk struct {
	Metadata struct {
		Phase      FlexInt `json:"phase"`
		ChunkOrder FlexInt `json:"chunk_order"`
		Progress   FlexInt `json:"progress"` // 0–100
	} `json:"metadata"`
	Threads []struct {
		ID       string    `json:"id"`
		Messages []Message `json:"messages"`
	} `json:"threads,omitempty"`
	Errors []WebhookError `json:"errors,omitempty"`
}
