// Package secret encrypts small secrets (access tokens, app secrets) at rest with AES-256-GCM,
// and hashes values that must be recognised without being kept (HMAC-SHA256).
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Box seals and opens secrets with one key, and hashes with a key derived from it.
type Box struct {
	aead    cipher.AEAD
	hashKey []byte
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("pregon: keyed hashes v1"))
	return &Box{aead: aead, hashKey: m.Sum(nil)}, nil
}

// Hash is the keyed hash (HMAC-SHA256) of value: the same value always gives the same hash
// under one installation's key, and without the key the hash cannot be checked against
// guesses (a phone number has few enough digits to guess them all).
func (b *Box) Hash(value string) []byte {
	m := hmac.New(sha256.New, b.hashKey)
	m.Write([]byte(value))
	return m.Sum(nil)
}

// Seal encrypts plaintext; the nonce is prepended. An empty plaintext gives nil.
func (b *Box) Seal(plaintext string) []byte {
	if plaintext == "" {
		return nil
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return b.aead.Seal(nonce, nonce, []byte(plaintext), nil)
}

// Open decrypts what Seal produced. nil gives "".
func (b *Box) Open(sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed secret too short")
	}
	pt, err := b.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return "", fmt.Errorf("decrypting secret (wrong PREGON_SECRET_KEY?): %w", err)
	}
	return string(pt), nil
}
