// Package apikey makes and hashes hookd API keys. A key is "hk_" and 43
// base64url characters (32 random bytes); only its SHA-256 is stored, so a
// leaked database does not leak usable keys, and lookups stay one index
// probe (the key has enough entropy that a slow hash adds nothing).
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// Prefix starts every key, so scanners and humans can recognize one.
const Prefix = "hk_"

const randomBytes = 32

// encodedLength is the length of a whole key.
var encodedLength = len(Prefix) + base64.RawURLEncoding.EncodedLen(randomBytes)

// ErrMalformed: the string cannot be a hookd API key.
var ErrMalformed = errors.New("malformed API key")

// Generate returns a new key and its hash.
func Generate() (key string, hash []byte, err error) {
	var b [randomBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	key = Prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return key, Hash(key), nil
}

// Hash returns the stored form of key.
func Hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// Check reports whether key has the shape of a hookd key, so that obvious
// garbage is refused without a database lookup.
func Check(key string) error {
	if len(key) != encodedLength || !strings.HasPrefix(key, Prefix) {
		return ErrMalformed
	}
	if _, err := base64.RawURLEncoding.DecodeString(key[len(Prefix):]); err != nil {
		return ErrMalformed
	}
	return nil
}
