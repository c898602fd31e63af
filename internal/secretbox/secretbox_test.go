package secretbox

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	box, err := New(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	sealed := box.Seal(secret, "endpoint_secret:sec_1")
	if bytes.Contains(sealed, secret) || bytes.Contains(sealed, []byte("whsec_")) {
		t.Fatal("plaintext visible in the sealed bytes")
	}
	if again := box.Seal(secret, "endpoint_secret:sec_1"); bytes.Equal(again, sealed) {
		t.Fatal("two seals of the same secret are equal: nonce reused")
	}
	got, err := box.Open(sealed, "endpoint_secret:sec_1")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	box, _ := New(newKey(t))
	other, _ := New(newKey(t))
	sealed := box.Seal([]byte("s"), "ctx")
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	cases := map[string]func() ([]byte, error){
		"wrong key":     func() ([]byte, error) { return other.Open(sealed, "ctx") },
		"other context": func() ([]byte, error) { return box.Open(sealed, "ctx2") },
		"tampered":      func() ([]byte, error) { return box.Open(tampered, "ctx") },
		"truncated":     func() ([]byte, error) { return box.Open(sealed[:10], "ctx") },
		"empty":         func() ([]byte, error) { return box.Open(nil, "ctx") },
	}
	for name, open := range cases {
		if _, err := open(); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", name, err)
		}
	}
}

func TestParseKey(t *testing.T) {
	k := newKey(t)
	for _, s := range []string{base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k), " " + base64.StdEncoding.EncodeToString(k) + "\n"} {
		got, err := ParseKey(s)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("ParseKey(%q) = %v", s, err)
		}
	}
	for s, want := range map[string]string{
		"":                       "not set",
		"!!!":                    "not valid base64",
		"c2hvcnQ=":               "decodes to 5 bytes",
		strings.Repeat("A", 100): "decodes to 75 bytes",
	} {
		if _, err := ParseKey(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKey(%q) = %v, want an error containing %q", s, err, want)
		}
	}
}
