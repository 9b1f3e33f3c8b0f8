package whatsapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/url"
	"strings"
)

// SignatureHeader is the header carrying the webhook body's HMAC.
const SignatureHeader = "X-Hub-Signature-256"

// Sign returns the X-Hub-Signature-256 value for body: "sha256=<lowercase hex HMAC-SHA256>".
func Sign(body, appSecret []byte) string {
	m := hmac.New(sha256.New, appSecret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature reports whether header is a valid X-Hub-Signature-256 for the raw body under
// appSecret, comparing in constant time. A missing or malformed header, or an empty secret, is
// false.
func VerifySignature(body []byte, header string, appSecret []byte) bool {
	if len(appSecret) == 0 {
		return false
	}
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok || len(hexSig) != sha256.Size*2 {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, appSecret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// VerifyChallenge answers the GET subscription handshake
// (?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…): ok is true, and challenge is what to
// write back with 200, only when the mode is subscribe and the token matches (constant time).
func VerifyChallenge(query url.Values, verifyToken string) (challenge string, ok bool) {
	if verifyToken == "" || query.Get("hub.mode") != "subscribe" {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(query.Get("hub.verify_token")), []byte(verifyToken)) != 1 {
		return "", false
	}
	c := query.Get("hub.challenge")
	return c, c != ""
}
