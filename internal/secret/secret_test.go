package secret

import (
	"bytes"
	"testing"
)

func TestSealOpenRoundTripAndRejectsOtherKey(t *testing.T) {
	b, err := New(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sealed := b.Seal("EAAG-token")
	if bytes.Contains(sealed, []byte("EAAG-token")) {
		t.Fatal("plaintext visible in sealed bytes")
	}
	got, err := b.Open(sealed)
	if err != nil || got != "EAAG-token" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := New(bytes.Repeat([]byte{2}, 32))
	if _, err := other.Open(sealed); err == nil {
		t.Fatal("a different key opened the secret")
	}
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}
