// Package secretbox encrypts secrets at rest with AES-256-GCM under the key
// given in HOOKD_ENCRYPTION_KEY. Each ciphertext is bound to the record it
// belongs to (additional data), so a ciphertext copied to another row does
// not decrypt.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the key length: AES-256.
const KeySize = 32

// version prefixes every ciphertext, so the scheme can change later.
const version byte = 1

// ErrDecrypt means a ciphertext did not open: a wrong key, or data that was
// altered or belongs to another record.
var ErrDecrypt = errors.New("secretbox: cannot decrypt (wrong HOOKD_ENCRYPTION_KEY, or altered data)")

// Box seals and opens secrets.
type Box struct {
	aead cipher.AEAD
}

// ParseKey decodes a key given as base64 (standard or URL alphabet, padded
// or not) of exactly 32 bytes. `openssl rand -base64 32` makes one.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("HOOKD_ENCRYPTION_KEY is not set: give 32 random bytes in base64 (e.g. the output of `openssl rand -base64 32`)")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != KeySize {
				return nil, fmt.Errorf("HOOKD_ENCRYPTION_KEY decodes to %d bytes; it must be %d bytes in base64", len(key), KeySize)
			}
			return key, nil
		}
	}
	return nil, errors.New("HOOKD_ENCRYPTION_KEY is not valid base64")
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext bound to context (e.g. "endpoint_secret:<id>").
// The result is version || nonce || ciphertext-and-tag.
func (b *Box) Seal(plaintext []byte, context string) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("secretbox: crypto/rand failed: " + err.Error())
	}
	out := make([]byte, 0, 1+len(nonce)+len(plaintext)+b.aead.Overhead())
	out = append(append(out, version), nonce...)
	return b.aead.Seal(out, nonce, plaintext, []byte(context))
}

// Open decrypts what Seal made with the same context.
func (b *Box) Open(sealed []byte, context string) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrDecrypt
	}
	plain, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(context))
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// KeyCheck is a fixed plaintext stores seal once, so that a daemon started
// with another key can tell at once, before it signs anything.
const KeyCheck = "hookd encryption key check"
