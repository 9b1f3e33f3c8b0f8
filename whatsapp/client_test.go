package whatsapp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGraph records the last request and answers with handler.
func fakeGraph(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, body []byte)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		handler(w, r, b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSendTemplateRequestAndResult(t *testing.T) {
	var gotPath, gotAuth string
	var got map[string]any
	srv := fakeGraph(t, func(w http.ResponseWriter, r *http.Request, b []byte) {
		gotPath, gotAuth = r.URL.Path, r.Header.Get("Authorization")
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("request body: %v", err)
		}
		io.WriteString(w, `{"messaging_product":"whatsapp","contacts":[{"input":"+525512345678","wa_id":"5215512345678"}],"messages":[{"id":"wamid.ABC","message_status":"accepted"}]}`)
	})
	c := New(Config{BaseURL: srv.URL, Token: "base"}).WithToken("per-number")
	res, err := c.SendTemplate(context.Background(), "106540352242922", TemplateMessage{
		To: "+525512345678", Name: "promo_temporada", Language: "es_MX", BizOpaqueCallbackData: "campaign=42;recipient=9001",
		Components: []Component{
			Header(HeaderMedia("IMAGE", Media{ID: "1339522734477770"})),
			Body(Text("Ana"), Text("20%")),
			URLButton(0, "ana-20"),
			QuickReplyButton(1, "OPTOUT:campaign42"),
			CopyCodeButton(2, "HOLA15"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "path", gotPath, "/v23.0/106540352242922/messages")
	eq(t, "auth", gotAuth, "Bearer per-number")
	eq(t, "wamid", res.WAMID, "wamid.ABC")
	eq(t, "wa_id", res.WAID, "5215512345678")
	eq(t, "input", res.Input, "+525512345678")
	eq(t, "status", res.MessageStatus, "accepted")
	want := `{"biz_opaque_callback_data":"campaign=42;recipient=9001","messaging_product":"whatsapp","recipient_type":"individual",` +
		`"template":{"components":[{"parameters":[{"image":{"id":"1339522734477770"},"type":"image"}],"type":"header"},` +
		`{"parameters":[{"text":"Ana","type":"text"},{"text":"20%","type":"text"}],"type":"body"},` +
		`{"index":"0","parameters":[{"text":"ana-20","type":"text"}],"sub_type":"url","type":"button"},` +
		`{"index":"1","parameters":[{"payload":"OPTOUT:campaign42","type":"payload"}],"sub_type":"quick_reply","type":"button"},` +
		`{"index":"2","parameters":[{"coupon_code":"HOLA15","type":"coupon_code"}],"sub_type":"copy_code","type":"button"}],` +
		`"language":{"code":"es_MX","policy":"deterministic"},"name":"promo_temporada"},"to":"+525512345678","type":"template"}`
	b, _ := json.Marshal(got)
	eq(t, "body", string(b), want)
}

func TestSendNamedAndText(t *testing.T) {
	var bodies []string
	srv := fakeGraph(t, func(w http.ResponseWriter, r *http.Request, b []byte) {
		bodies = append(bodies, string(b))
		io.WriteString(w, `{"messaging_product":"whatsapp","contacts":[{"input":"x","wa_id":"1"}],"messages":[{"id":"wamid.T"}]}`)
	})
	c := New(Config{BaseURL: srv.URL + "/", Version: "/v22.0/", Token: "t"})
	if _, err := c.SendTemplate(context.Background(), "1", TemplateMessage{To: "+57300", Name: "novedades_cliente", Language: "es",
		Components: []Component{Body(NamedText("nombre", "Lucía"), NamedText("tienda", "Centro"))}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.SendText(context.Background(), "1", "+57300", "Hola https://x.co", true)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "no message_status", res.MessageStatus, "")
	if !strings.Contains(bodies[0], `{"type":"text","parameter_name":"nombre","text":"Lucía"}`) {
		t.Errorf("named body: %s", bodies[0])
	}
	eq(t, "text body", bodies[1], `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+57300","type":"text","text":{"body":"Hola https://x.co","preview_url":true}}`)
}

func TestSendErrors(t *testing.T) {
	status, body := 400, `{"error":{"message":"(#132001) Template name does not exist in the translation","type":"OAuthException","code":132001,"error_data":{"messaging_product":"whatsapp","details":"template name (x) does not exist in es_MX"},"fbtrace_id":"AbC"}}`
	srv := fakeGraph(t, func(w http.ResponseWriter, r *http.Request, b []byte) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
	c := New(Config{BaseURL: srv.URL, Token: "t"})
	_, err := c.SendTemplate(context.Background(), "1", TemplateMessage{To: "+1", Name: "x", Language: "es_MX"})
	var e *Error
	if !asError(err, &e) {
		t.Fatalf("err = %T %v", err, err)
	}
	eq(t, "code", e.Code, 132001)
	eq(t, "class", Classify(err), ClassCampaign)
	if !strings.HasPrefix(err.Error(), "sending template x/es_MX to +1: whatsapp error 132001") {
		t.Errorf("Error() = %q", err)
	}
	status, body = 503, ""
	_, err = c.SendText(context.Background(), "1", "+1", "hola", false)
	eq(t, "bare 503 class", Classify(err), ClassRetry)
	status, body = 200, `{"messaging_product":"whatsapp"}`
	_, err = c.SendText(context.Background(), "1", "+1", "hola", false)
	if err == nil || !strings.Contains(err.Error(), "no message id") {
		t.Errorf("empty success: %v", err)
	}
}

func TestTimeoutAndCancellation(t *testing.T) {
	srv := fakeGraph(t, func(w http.ResponseWriter, r *http.Request, b []byte) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	c := New(Config{BaseURL: srv.URL, Token: "t", Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := c.SendText(context.Background(), "1", "+1", "x", false)
	var e *Error
	if !asError(err, &e) || !e.Network || !e.Timeout {
		t.Fatalf("timeout err = %#v", err)
	}
	eq(t, "class", Classify(err), ClassRetry)
	eq(t, "a timed-out send is uncertain", Uncertain(err), true)
	if time.Since(start) > time.Second {
		t.Error("timeout not applied")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.SendText(ctx, "1", "+1", "x", false)
	if !asError(err, &e) || !e.Network {
		t.Fatalf("cancelled err = %#v", err)
	}
	if !errorsIs(err, context.Canceled) {
		t.Errorf("cancellation not unwrappable: %v", err)
	}
}

func TestConnectionRefusedIsCertain(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := New(Config{BaseURL: url, Token: "t"}).SendText(context.Background(), "1", "+1", "x", false)
	eq(t, "class", Classify(err), ClassRetry)
	eq(t, "not uncertain", Uncertain(err), false)
}

func TestListTemplatesFollowsCursors(t *testing.T) {
	var calls atomic.Int32
	srv := fakeGraph(t, func(w http.ResponseWriter, r *http.Request, b []byte) {
		calls.Add(1)
		eq(t, "path", r.URL.Path, "/v23.0/waba1/message_templates")
		if !strings.Contains(r.URL.Query().Get("fields"), "quality_score") {
			t.Errorf("fields = %q", r.URL.Query().Get("fields"))
		}
		switch r.URL.Query().Get("after") {
		case "":
			io.WriteString(w, `{"data":[{"id":"1","name":"a","language":"es","status":"APPROVED","category":"MARKETING","quality_score":{"score":"GREEN","date":1700000000}}],
			  "paging":{"cursors":{"before":"b0","after":"c1"},"next":"https://graph.facebook.com/v23.0/waba1/message_templates?after=c1"}}`)
		case "c1":
			io.WriteString(w, `{"data":[{"id":"2","name":"b","language":"es_MX","status":"PAUSED","category":"UTILITY","quality_score":{"score":"RED"},"parameter_format":"NAMED"}],
			  "paging":{"cursors":{"before":"c1","after":"c2"},"next":"https://graph.facebook.com/v23.0/waba1/message_templates?after=c2"}}`)
		case "c2":
			io.WriteString(w, `{"data":[{"id":"3","name":"c","language":"en","status":"REJECTED","category":"MARKETING","quality_score":{"score":"UNKNOWN"}}],
			  "paging":{"cursors":{"before":"c2","after":"c3"}}}`)
		default:
			t.Errorf("unexpected cursor %q", r.URL.Query().Get("after"))
		}
	})
	ts, err := New(Config{BaseURL: srv.URL, Token: "t"}).ListTemplates(context.Background(), "waba1")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "calls", calls.Load(), int32(3))
	eq(t, "count", len(ts), 3)
	eq(t, "quality", ts[1].QualityScore.Score, "RED")
	eq(t, "named", ts[1].Named(), true)
	eq(t, "date", int64(ts[0].QualityScore.Date), 1700000000)
}

func TestUnpauseTemplate(t *testing.T) {
	var method, path string
	srv := fakeGraph(t, func(w http.ResponseWriter, r *http.Request, b []byte) {
		method, path = r.Method, r.URL.Path
		io.WriteString(w, `{"success":true}`)
	})
	if err := New(Config{BaseURL: srv.URL, Token: "t"}).UnpauseTemplate(context.Background(), "987"); err != nil {
		t.Fatal(err)
	}
	eq(t, "method", method, "POST")
	eq(t, "path", path, "/v23.0/987/unpause")
}

func TestGetPhoneNumber(t *testing.T) {
	body := `{"id":"106","display_phone_number":"+52 1 55 5078 3881","verified_name":"Tienda","quality_rating":"YELLOW","status":"CONNECTED",
	  "platform_type":"CLOUD_API","is_on_biz_app":false,"throughput":{"level":"HIGH"},"whatsapp_business_manager_messaging_limit":"TIER_2K"}`
	srv := fakeGraph(t, func(w http.ResponseWriter, r *http.Request, b []byte) {
		if !strings.Contains(r.URL.Query().Get("fields"), "whatsapp_business_manager_messaging_limit") {
			t.Errorf("fields = %q", r.URL.RawQuery)
		}
		io.WriteString(w, body)
	})
	c := New(Config{BaseURL: srv.URL, Token: "t"})
	p, err := c.GetPhoneNumber(context.Background(), "106")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "quality", p.QualityRating, "YELLOW")
	eq(t, "mps", p.ThroughputMPS(), 1000)
	n, ok := p.MessagingLimit()
	eq(t, "limit", n, 2000)
	eq(t, "ok", ok, true)
	eq(t, "verified", p.VerifiedName, "Tienda")

	body = `{"id":"107","is_on_biz_app":true,"throughput":{"level":"HIGH"},"messaging_limit_tier":"TIER_1K"}`
	p, err = c.GetPhoneNumber(context.Background(), "107")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "coexistence mps", p.ThroughputMPS(), 20)
	n, _ = p.MessagingLimit()
	eq(t, "legacy tier", n, 1000)

	body = `{"id":"108","throughput":{"level":"STANDARD"},"whatsapp_business_manager_messaging_limit":{"current_limit":"TIER_UNLIMITED"}}`
	p, _ = c.GetPhoneNumber(context.Background(), "108")
	eq(t, "standard mps", p.ThroughputMPS(), 80)
	n, ok = p.MessagingLimit()
	eq(t, "unlimited", n, -1)
	eq(t, "unlimited ok", ok, true)

	body = `{"id":"109","whatsapp_business_manager_messaging_limit":"TIER_NOT_SET"}`
	p, _ = c.GetPhoneNumber(context.Background(), "109")
	n, ok = p.MessagingLimit()
	eq(t, "unknown", n, 0)
	eq(t, "unknown ok", ok, false)
}

func TestTierLimit(t *testing.T) {
	cases := map[string]int{"TIER_50": 50, "TIER_250": 250, "TIER_1K": 1000, "TIER_2K": 2000, "TIER_10K": 10000,
		"TIER_100K": 100000, "TIER_UNLIMITED": -1, "tier_2k": 2000, "2000": 2000, "-1": -1, "UNLIMITED": -1}
	for in, want := range cases {
		got, ok := TierLimit(in)
		if got != want || !ok {
			t.Errorf("TierLimit(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "TIER_NOT_SET", "TIER_42", "abc", "0"} {
		if got, ok := TierLimit(in); ok || got != 0 {
			t.Errorf("TierLimit(%q) = %d, %v; want 0, false", in, got, ok)
		}
	}
}
