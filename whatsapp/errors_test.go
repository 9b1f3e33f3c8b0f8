package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// docCodes is every code listed in WHATSAPP.md §5 with the class the campaign sender needs.
var docCodes = []struct {
	code  int
	class Class
}{
	{130429, ClassRetry}, {131056, ClassRetry}, {4, ClassRetry}, {80007, ClassRetry}, {131057, ClassRetry},
	{1, ClassRetry}, {2, ClassRetry}, {131000, ClassRetry}, {131016, ClassRetry}, {133004, ClassRetry},
	{131026, ClassRecipient}, {131049, ClassRecipient}, {131050, ClassRecipient}, {130472, ClassRecipient},
	{131021, ClassRecipient}, {132005, ClassRecipient}, {131047, ClassRecipient}, {131051, ClassRecipient},
	{131008, ClassRecipient}, {131009, ClassRecipient}, {100, ClassRecipient}, {131062, ClassRecipient},
	{131052, ClassRecipient}, {131060, ClassRecipient}, {2593109, ClassRecipient}, {130497, ClassRecipient},
	{132000, ClassCampaign}, {132001, ClassCampaign}, {132012, ClassCampaign}, {132015, ClassCampaign},
	{132016, ClassCampaign}, {132007, ClassCampaign}, {131053, ClassCampaign},
	{131048, ClassNumber}, {131031, ClassNumber}, {368, ClassNumber}, {133010, ClassNumber}, {131042, ClassNumber},
	{131037, ClassNumber}, {131063, ClassNumber}, {131064, ClassNumber},
	{0, ClassNumber}, {3, ClassNumber}, {190, ClassNumber}, {10, ClassNumber}, {200, ClassNumber}, {250, ClassNumber}, {299, ClassNumber},
}

func TestClassifyEveryDocumentedCode(t *testing.T) {
	for _, tc := range docCodes {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			err := fmt.Errorf("wrapped: %w", &Error{HTTPStatus: 400, Code: tc.code, Type: "OAuthException", Message: "x"})
			if got := Classify(err); got != tc.class {
				t.Errorf("Classify(%d) = %v, want %v", tc.code, got, tc.class)
			}
			if got := ClassOfCode(tc.code); got != tc.class {
				t.Errorf("ClassOfCode(%d) = %v, want %v", tc.code, got, tc.class)
			}
		})
	}
}

func TestErrorTitleEveryDocumentedCode(t *testing.T) {
	for _, tc := range docCodes {
		es, en := ErrorTitle(tc.code, "es"), ErrorTitle(tc.code, "en")
		if strings.Contains(es, fmt.Sprint(tc.code)) || strings.Contains(en, fmt.Sprint(tc.code)) || es == en {
			t.Errorf("code %d: titles es=%q en=%q are generic or untranslated", tc.code, es, en)
		}
		if _, ok := errorTitles[tc.code]; !ok && !(tc.code > 200 && tc.code <= 299) {
			t.Errorf("code %d has no entry in errorTitles", tc.code)
		}
	}
	eq(t, "es_MX is Spanish", ErrorTitle(132015, "es_MX"), "Plantilla en pausa por baja calidad")
	eq(t, "default English", ErrorTitle(132015, ""), "Template paused due to low quality")
	eq(t, "unknown es", ErrorTitle(999999, "es"), "Error de WhatsApp 999999")
	eq(t, "unknown en", ErrorTitle(999999, "en"), "WhatsApp error 999999")
	for _, c := range KnownErrorCodes() {
		if ClassOfCode(c) == ClassUnknown {
			t.Errorf("code %d has a title but no class", c)
		}
	}
}

func TestClassifyWithoutGraphCode(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, ClassUnknown},
		{"network", &Error{Network: true, Cause: errors.New("connection refused")}, ClassRetry},
		{"timeout", &Error{Network: true, Timeout: true, Cause: context.DeadlineExceeded}, ClassRetry},
		{"bare 503", parseError("op", 503, nil), ClassRetry},
		{"html 502", parseError("op", 502, []byte("<html>bad gateway</html>")), ClassRetry},
		{"bare 401", parseError("op", 401, nil), ClassNumber},
		{"bare 404", parseError("op", 404, []byte("nope")), ClassUnknown},
		{"unknown code transient", &Error{Code: 777777, Type: "X", Transient: true}, ClassRetry},
		{"unknown code", &Error{Code: 777777, Type: "X", HTTPStatus: 400}, ClassUnknown},
		{"context canceled", context.Canceled, ClassRetry},
		{"plain error", errors.New("boom"), ClassUnknown},
	}
	for _, tc := range cases {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseErrorBody(t *testing.T) {
	body := []byte(`{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,
	  "error_data":{"messaging_product":"whatsapp","details":"Message failed to send because there were too many messages sent from this phone number in a short period of time"},
	  "error_subcode":2494055,"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}`)
	e := ParseErrorBody(400, body)
	eq(t, "code", e.Code, 130429)
	eq(t, "subcode", e.Subcode, 2494055)
	eq(t, "type", e.Type, "OAuthException")
	eq(t, "trace", e.FBTraceID, "Az8or2yhqkZfEZ-_4Qn_Bam")
	eq(t, "status", e.HTTPStatus, 400)
	if !strings.HasPrefix(e.Details, "Message failed to send") {
		t.Errorf("details = %q", e.Details)
	}
	eq(t, "throttle", Throttle(e), true)
	eq(t, "pair", PairRateLimited(e), false)
	eq(t, "retry after", RetryAfter(e), time.Second)
	if !strings.Contains(e.Error(), "130429") || !strings.Contains(e.Error(), "HTTP 400") {
		t.Errorf("Error() = %q", e.Error())
	}
	pair := &Error{Code: 131056, Type: "OAuthException"}
	eq(t, "pair throttle", Throttle(pair), false)
	eq(t, "pair limited", PairRateLimited(pair), true)
	eq(t, "pair retry", RetryAfter(pair), 6*time.Second)
	eq(t, "131049 retry", RetryAfterCode(131049), 24*time.Hour)
	eq(t, "131057 retry", RetryAfterCode(131057), time.Minute)
	eq(t, "no retry for 132015", RetryAfterCode(132015), time.Duration(0))
	eq(t, "network retry", RetryAfter(&Error{Network: true}), 2*time.Second)
}

func TestNetworkErrorUnwraps(t *testing.T) {
	cause := &net.OpError{Op: "dial", Err: errors.New("refused")}
	e := &Error{Op: "sending template x", Network: true, Message: cause.Error(), Cause: cause}
	var op *net.OpError
	if !errors.As(e, &op) {
		t.Error("cause not reachable")
	}
	if !strings.HasPrefix(e.Error(), "sending template x: network error") {
		t.Errorf("Error() = %q", e.Error())
	}
	eq(t, "class string", ClassRetry.String(), "retry")
}

func TestUnknownObjectIsNumberLevel(t *testing.T) {
	e := ParseErrorBody(400, []byte(`{"error":{"message":"(#100) Unsupported post request. Object with ID '123' does not exist","type":"GraphMethodException","code":100,"error_subcode":33}}`))
	eq(t, "class", Classify(e), ClassNumber)
	eq(t, "plain 100", Classify(&Error{Code: 100, Type: "OAuthException"}), ClassRecipient)
}

func TestUncertain(t *testing.T) {
	dial := &Error{Network: true, Cause: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}
	dns := &Error{Network: true, Cause: &net.DNSError{Err: "no such host", Name: "graph.facebook.com"}}
	reset := &Error{Network: true, Cause: &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}}
	timeout := &Error{Network: true, Timeout: true, Cause: context.DeadlineExceeded}
	eq(t, "dial", Uncertain(dial), false)
	eq(t, "dns", Uncertain(fmt.Errorf("x: %w", dns)), false)
	eq(t, "reset", Uncertain(reset), true)
	eq(t, "timeout", Uncertain(timeout), true)
	eq(t, "graph error", Uncertain(&Error{Code: 130429, HTTPStatus: 400}), false)
	eq(t, "nil", Uncertain(nil), false)
}
