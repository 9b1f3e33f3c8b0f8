package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Error is a failed Cloud API call: a Graph error body ({"error":{...}}), a non-2xx response
// without one, or a network failure (Network true, HTTPStatus 0 when no response arrived).
// Branch on Code (and Classify), never on HTTPStatus or titles.
type Error struct {
	Op         string // what was attempted, e.g. "sending template promo to +5215512345678"
	HTTPStatus int
	Code       int
	Subcode    int
	Type       string // e.g. OAuthException
	Title      string // error_user_title (or title in webhook errors)
	Message    string
	Details    string // error_data.details
	FBTraceID  string
	Transient  bool // is_transient
	Network    bool // no (complete) HTTP response: connection error, timeout, cancellation
	Timeout    bool // the request timed out; a send may or may not have been accepted
	Cause      error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	switch {
	case e.Network:
		b.WriteString("network error")
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
		return b.String()
	case e.Code != 0 || e.Message != "":
		fmt.Fprintf(&b, "whatsapp error %d", e.Code)
		if e.Subcode != 0 {
			fmt.Fprintf(&b, "/%d", e.Subcode)
		}
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
		if e.Details != "" && e.Details != e.Message {
			b.WriteString(" (" + e.Details + ")")
		}
	default:
		b.WriteString("whatsapp error")
	}
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " [HTTP %d]", e.HTTPStatus)
	}
	if e.FBTraceID != "" {
		b.WriteString(" fbtrace_id=" + e.FBTraceID)
	}
	return b.String()
}

// Unwrap returns the underlying network error, if any.
func (e *Error) Unwrap() error { return e.Cause }

// graphErrorBody is the {"error":{...}} document Graph returns on failure.
type graphErrorBody struct {
	Error *struct {
		Message   string `json:"message"`
		Type      string `json:"type"`
		Code      int    `json:"code"`
		Subcode   int    `json:"error_subcode"`
		FBTraceID string `json:"fbtrace_id"`
		Transient bool   `json:"is_transient"`
		UserTitle string `json:"error_user_title"`
		UserMsg   string `json:"error_user_msg"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
	} `json:"error"`
}

// parseError builds an *Error from a non-2xx response.
func parseError(op string, status int, body []byte) *Error {
	e := &Error{Op: op, HTTPStatus: status}
	var g graphErrorBody
	if json.Unmarshal(body, &g) == nil && g.Error != nil {
		e.Code = g.Error.Code
		e.Subcode = g.Error.Subcode
		e.Type = g.Error.Type
		e.Message = g.Error.Message
		e.Title = g.Error.UserTitle
		e.Details = g.Error.ErrorData.Details
		e.FBTraceID = g.Error.FBTraceID
		e.Transient = g.Error.Transient
		if e.Details == "" {
			e.Details = g.Error.UserMsg
		}
		return e
	}
	e.Message = http.StatusText(status)
	if s := strings.TrimSpace(string(body)); s != "" {
		if len(s) > 200 {
			s = s[:200]
		}
		e.Details = s
	}
	return e
}

// ParseErrorBody parses a Graph error body ({"error":{...}}) received with HTTP status. It is
// exported for callers that receive Graph responses by other means (tests, proxies).
func ParseErrorBody(status int, body []byte) *Error { return parseError("", status, body) }

// Class says what a campaign sender should do about an error.
type Class int

const (
	// ClassUnknown: an error this package does not recognise. Treat it as a failure of this
	// recipient, and watch the rate: many in a row point to a systemic problem.
	ClassUnknown Class = iota
	// ClassRetry: transient (rate limits, maintenance, service errors, network); retry the same
	// send later with back-off (see RetryAfter).
	ClassRetry
	// ClassRecipient: this recipient cannot receive this message now or ever; fail the recipient
	// and go on. 131049 may be retried after RetryAfter (≥ 24 h).
	ClassRecipient
	// ClassCampaign: the template or the payload is wrong, paused or disabled; pause or abort the
	// campaign, other campaigns on the number are unaffected.
	ClassCampaign
	// ClassNumber: the sender number, the account or the token cannot send; halt every send from
	// this number until a person looks at it.
	ClassNumber
)

// String returns a short name ("retry", "recipient", "campaign", "number", "unknown").
func (c Class) String() string {
	switch c {
	case ClassRetry:
		return "retry"
	case ClassRecipient:
		return "recipient"
	case ClassCampaign:
		return "campaign"
	case ClassNumber:
		return "number"
	default:
		return "unknown"
	}
}

// Error codes Pregón branches on by name. Every code in ErrorTitle's table is classified.
const (
	CodeThroughput           = 130429
	CodePairRateLimit        = 131056
	CodeEcosystemEngagement  = 131049
	CodeUserStoppedMarketing = 131050
	CodeUndeliverable        = 131026
	CodeSpamRateLimit        = 131048
	CodeMaintenance          = 131057
	CodeTemplateParamCount   = 132000
	CodeTemplateMissing      = 132001
	CodeTemplateFormat       = 132012
	CodeTemplatePaused       = 132015
	CodeTemplateDisabled     = 132016
	CodeExperiment           = 130472
	CodeReengagement         = 131047
	CodeAccessToken          = 190
)

var codeClass = map[int]Class{
	// transient / rate limits
	130429: ClassRetry, 131056: ClassRetry, 4: ClassRetry, 80007: ClassRetry, 131057: ClassRetry,
	1: ClassRetry, 2: ClassRetry, 131000: ClassRetry, 131016: ClassRetry, 133004: ClassRetry,
	// this recipient
	131026: ClassRecipient, 131049: ClassRecipient, 131050: ClassRecipient, 130472: ClassRecipient,
	131021: ClassRecipient, 132005: ClassRecipient, 131047: ClassRecipient, 131051: ClassRecipient,
	131008: ClassRecipient, 131009: ClassRecipient, 100: ClassRecipient, 131062: ClassRecipient,
	131052: ClassRecipient, 131060: ClassRecipient, 2593109: ClassRecipient,
	// the account may not message users in the recipient's country: WHATSAPP.md says exclude
	// that country, not stop the number (its other recipients are fine)
	130497: ClassRecipient,
	// the campaign (template / payload)
	132000: ClassCampaign, 132001: ClassCampaign, 132012: ClassCampaign, 132015: ClassCampaign,
	132016: ClassCampaign, 132007: ClassCampaign, 131053: ClassCampaign,
	// the sender number / account / token
	131048: ClassNumber, 131031: ClassNumber, 368: ClassNumber, 133010: ClassNumber,
	131042: ClassNumber, 131037: ClassNumber, 131064: ClassNumber, 131063: ClassNumber,
	0: ClassNumber, 3: ClassNumber, 190: ClassNumber, 10: ClassNumber,
}

// ClassOfCode classifies a Graph/WhatsApp error code alone (as found in a failed status
// webhook's errors[]). Codes 200–299 are permission errors (ClassNumber).
func ClassOfCode(code int) Class {
	if c, ok := codeClass[code]; ok {
		return c
	}
	if code >= 200 && code <= 299 {
		return ClassNumber
	}
	return ClassUnknown
}

// Classify says what to do about err returned by a Client method. Network errors, timeouts and
// 5xx responses without a Graph error code are ClassRetry. A cancelled context is ClassRetry too
// (the caller decides whether to retry); nil is ClassUnknown.
func Classify(err error) Class {
	if err == nil {
		return ClassUnknown
	}
	var e *Error
	if !errors.As(err, &e) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return ClassRetry
		}
		return ClassUnknown
	}
	if e.Network {
		return ClassRetry
	}
	if e.Code == 0 && e.Type == "" {
		// No Graph error body: decide on the HTTP status.
		switch {
		case e.HTTPStatus >= 500 || e.HTTPStatus == http.StatusTooManyRequests || e.HTTPStatus == http.StatusRequestTimeout:
			return ClassRetry
		case e.HTTPStatus == http.StatusUnauthorized || e.HTTPStatus == http.StatusForbidden:
			return ClassNumber
		default:
			return ClassUnknown
		}
	}
	if e.Code == 100 && e.Subcode == 33 {
		// "Object with ID … does not exist, cannot be loaded due to missing permissions": the
		// phone number id (or its token) is wrong for every recipient, not just this one.
		return ClassNumber
	}
	if c := ClassOfCode(e.Code); c != ClassUnknown {
		return c
	}
	if e.Transient || e.HTTPStatus >= 500 {
		return ClassRetry
	}
	return ClassUnknown
}

// Uncertain reports whether a failed send may nonetheless have been accepted by Meta: the
// request may have reached Graph but no answer came back (timeout, connection reset, context
// cancelled mid-flight). A send that failed to connect at all, or got any HTTP answer, is
// certain. Pregón must not resend an uncertain message blindly; the status webhook, matched by
// biz_opaque_callback_data, settles it.
func Uncertain(err error) bool {
	var e *Error
	if !errors.As(err, &e) || !e.Network {
		return false
	}
	var op *net.OpError
	if errors.As(e.Cause, &op) && op.Op == "dial" {
		return false
	}
	var dns *net.DNSError
	return !errors.As(e.Cause, &dns)
}

// Throttle reports whether err is the number-level throughput error 130429, meaning the whole
// sender number must slow down (as opposed to 131056, which concerns one recipient pair).
func Throttle(err error) bool { return errCode(err) == CodeThroughput }

// PairRateLimited reports whether err is 131056 (too many messages to the same recipient).
func PairRateLimited(err error) bool { return errCode(err) == CodePairRateLimit }

// RetryAfter is the minimum wait before retrying a send that failed with err (sync or via a
// status webhook error code): 24 h for 131049, 6 s for 131056, 1 min for 131057 and call-rate
// limits, 1 s for throughput and other transient errors, 0 when no retry is advised.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && (e.Network || (e.Code == 0 && e.Type == "" && e.HTTPStatus >= 500)) {
		return 2 * time.Second
	}
	return RetryAfterCode(errCode(err))
}

// RetryAfterCode is RetryAfter for a bare code.
func RetryAfterCode(code int) time.Duration {
	switch code {
	case CodeEcosystemEngagement:
		return 24 * time.Hour
	case CodePairRateLimit:
		return 6 * time.Second
	case CodeMaintenance, 4, 80007:
		return time.Minute
	case CodeThroughput:
		return time.Second
	}
	if ClassOfCode(code) == ClassRetry {
		return 2 * time.Second
	}
	return 0
}

// errCode returns the Graph code carried by err, or -1.
func errCode(err error) int {
	var e *Error
	if errors.As(err, &e) && !e.Network && (e.Code != 0 || e.Type != "") {
		return e.Code
	}
	return -1
}
