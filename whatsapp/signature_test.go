package whatsapp

import (
	"net/url"
	"strings"
	"testing"
)

func TestSignAndVerify(t *testing.T) {
	body := []byte(`{"object":"whatsapp_business_account","entry":[]}`)
	secret := []byte("s3cr3t")
	sig := Sign(body, secret)
	if len(sig) != 7+64 || strings.ToLower(sig) != sig {
		t.Errorf("signature %q is not sha256=<64 lowercase hex>", sig)
	}
	cases := []struct {
		name   string
		body   []byte
		header string
		secret []byte
		want   bool
	}{
		{"valid", body, sig, secret, true},
		{"valid with spaces", body, " " + sig + " ", secret, true},
		{"uppercase hex", body, "sha256=" + strings.ToUpper(sig[7:]), secret, true},
		{"tampered body", append([]byte(" "), body...), sig, secret, false},
		{"wrong secret", body, sig, []byte("other"), false},
		{"empty secret", body, Sign(body, nil), nil, false},
		{"missing", body, "", secret, false},
		{"no prefix", body, sig[7:], secret, false},
		{"sha1", body, "sha1=" + sig[7:], secret, false},
		{"garbage hex", body, "sha256=" + strings.Repeat("zz", 32), secret, false},
		{"short", body, sig[:40], secret, false},
	}
	for _, tc := range cases {
		if got := VerifySignature(tc.body, tc.header, tc.secret); got != tc.want {
			t.Errorf("%s: VerifySignature = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSignKnownVector(t *testing.T) {
	// RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
	got := Sign([]byte("what do ya want for nothing?"), []byte("Jefe"))
	eq(t, "rfc4231", got, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
}

func TestVerifyChallenge(t *testing.T) {
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	c, ok := VerifyChallenge(q("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=tok"), "tok")
	eq(t, "ok", ok, true)
	eq(t, "challenge", c, "1158201444")
	for _, bad := range []string{
		"hub.mode=subscribe&hub.challenge=1&hub.verify_token=nope",
		"hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=tok",
		"hub.challenge=1&hub.verify_token=tok",
		"hub.mode=subscribe&hub.verify_token=tok",
	} {
		if _, ok := VerifyChallenge(q(bad), "tok"); ok {
			t.Errorf("VerifyChallenge(%q) accepted", bad)
		}
	}
	if _, ok := VerifyChallenge(q("hub.mode=subscribe&hub.challenge=1&hub.verify_token="), ""); ok {
		t.Error("empty verify token accepted")
	}
}
