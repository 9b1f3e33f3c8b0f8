package whatsapp

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// PhoneNumberFields is the fields list GetPhoneNumber asks for.
const PhoneNumberFields = "id,display_phone_number,verified_name,quality_rating,status,platform_type," +
	"is_on_biz_app,throughput,whatsapp_business_manager_messaging_limit,messaging_limit_tier," +
	"name_status,code_verification_status"

// PhoneNumber is a sender number as Graph describes it.
type PhoneNumber struct {
	ID                     string `json:"id"`
	DisplayPhoneNumber     string `json:"display_phone_number"`
	VerifiedName           string `json:"verified_name"`
	QualityRating          string `json:"quality_rating"` // GREEN | YELLOW | RED | NA | UNKNOWN
	Status                 string `json:"status"`         // CONNECTED, DISCONNECTED, …
	PlatformType           string `json:"platform_type"`  // CLOUD_API, ON_PREMISE, NOT_APPLICABLE
	IsOnBizApp             bool   `json:"is_on_biz_app"`  // coexistence
	NameStatus             string `json:"name_status"`
	CodeVerificationStatus string `json:"code_verification_status"`
	Throughput             struct {
		Level string `json:"level"` // STANDARD | HIGH | NOT_APPLICABLE
	} `json:"throughput"`
	// MessagingLimitTier is whatsapp_business_manager_messaging_limit, or the legacy
	// messaging_limit_tier when only that one is present (TIER_250, TIER_2K, …).
	MessagingLimitTier string `json:"-"`
}

// UnmarshalJSON reads both messaging-limit fields, as strings, numbers or small objects.
func (p *PhoneNumber) UnmarshalJSON(b []byte) error {
	type plain PhoneNumber
	var w struct {
		plain
		Current json.RawMessage `json:"whatsapp_business_manager_messaging_limit"`
		Legacy  json.RawMessage `json:"messaging_limit_tier"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = PhoneNumber(w.plain)
	p.MessagingLimitTier = limitText(w.Current)
	if p.MessagingLimitTier == "" {
		p.MessagingLimitTier = limitText(w.Legacy)
	}
	return nil
}

// limitText reads a limit given as "TIER_2K", 2000 or {"current_limit":"TIER_2K"}.
func limitText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var obj map[string]FlexString
	if json.Unmarshal(raw, &obj) == nil {
		for _, k := range []string{"current_limit", "messaging_limit", "tier", "limit", "value"} {
			if v := obj[k]; v != "" {
				return string(v)
			}
		}
		return ""
	}
	var s FlexString
	_ = s.UnmarshalJSON(raw)
	return string(s)
}

// Throughput levels, in messages per second.
const (
	MPSStandard    = 80
	MPSHigh        = 1000
	MPSCoexistence = 20
)

// ThroughputMPS is the number's send cap in messages per second: 20 for a coexistence number
// (is_on_biz_app), 1000 for level HIGH, 80 otherwise.
func (p PhoneNumber) ThroughputMPS() int {
	switch {
	case p.IsOnBizApp:
		return MPSCoexistence
	case strings.EqualFold(p.Throughput.Level, "HIGH"):
		return MPSHigh
	default:
		return MPSStandard
	}
}

// MessagingLimit is the number of unique recipients per rolling 24 h outside service windows:
// -1 means unlimited; ok is false for an unknown or unset tier (limit 0).
func (p PhoneNumber) MessagingLimit() (limit int, ok bool) { return TierLimit(p.MessagingLimitTier) }

// TierLimit converts a tier ("TIER_250", "TIER_1K", "TIER_2K", "TIER_10K", "TIER_100K",
// "TIER_UNLIMITED", legacy "TIER_50") or a number ("2000", "-1", "UNLIMITED") to a recipient
// count; -1 is unlimited, (0, false) unknown.
func TierLimit(tier string) (int, bool) {
	t := strings.ToUpper(strings.TrimSpace(tier))
	switch t {
	case "TIER_50":
		return 50, true
	case "TIER_250":
		return 250, true
	case "TIER_1K":
		return 1000, true
	case "TIER_2K":
		return 2000, true
	case "TIER_10K":
		return 10000, true
	case "TIER_100K":
		return 100000, true
	case "TIER_UNLIMITED", "UNLIMITED":
		return -1, true
	}
	if n, err := strconv.Atoi(t); err == nil && n != 0 {
		if n < 0 {
			return -1, true
		}
		return n, true
	}
	return 0, false
}

// GetPhoneNumber reads a sender number's quality, throughput, messaging limit and coexistence
// flag.
func (c *Client) GetPhoneNumber(ctx context.Context, phoneNumberID string) (PhoneNumber, error) {
	var p PhoneNumber
	q := url.Values{"fields": {PhoneNumberFields}}
	err := c.do(ctx, "reading phone number "+phoneNumberID, "GET", phoneNumberID, q, nil, &p)
	return p, err
}
