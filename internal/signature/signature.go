// Package signature signs webhook deliveries and verifies them, for the
// daemon (which signs) and for `hookctl verify` (which receivers run in
// their CI). Three schemes:
//
//   - standard (the default): Standard Webhooks. Headers webhook-id,
//     webhook-timestamp (unix seconds) and webhook-signature, a
//     space-separated list of "v1,<base64 HMAC-SHA256>" over
//     "<id>.<timestamp>.<body>". The HMAC key is the base64-decoded part
//     of the "whsec_..." secret.
//   - stripe: Stripe-Signature "t=<ts>,v1=<hex>[,v1=<hex>...]" over
//     "<ts>.<body>", keyed with the secret string as given, which is what
//     Stripe's own libraries do with an endpoint secret.
//   - github: X-Hub-Signature-256 "sha256=<hex>" over the body, keyed with
//     the secret string as given. It carries no timestamp and a single
//     signature, so freshness cannot be checked and only the newest
//     secret signs.
//
// Signatures are always over the exact bytes sent.
package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schemes.
const (
	Standard = "standard"
	Stripe   = "stripe"
	GitHub   = "github"
	// Auto, for verification only, picks the scheme from the headers.
	Auto = "auto"
)

// Header names, canonical form.
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
	HeaderStripeSignature  = "Stripe-Signature"
	HeaderGitHubSignature  = "X-Hub-Signature-256"
)

// SecretPrefix starts every secret hookd makes.
const SecretPrefix = "whsec_"

// Secret sizes hookd accepts for standard secrets, in decoded bytes.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// DefaultTolerance is how far a timestamp may be from the verifier's
// clock, either way.
const DefaultTolerance = 5 * time.Minute

// GenerateSecret returns a new secret: "whsec_" and 32 random bytes in
// base64.
func GenerateSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("signature: crypto/rand failed: " + err.Error())
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ValidateSecret checks a secret a user supplies for an endpoint.
func ValidateSecret(secret string) error {
	key, err := standardKey(secret)
	if err != nil {
		return err
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return fmt.Errorf("secret must decode to %d to %d bytes, not %d", MinSecretBytes, MaxSecretBytes, len(key))
	}
	return nil
}

// standardKey decodes a Standard Webhooks secret; the whsec_ prefix is
// optional.
func standardKey(secret string) ([]byte, error) {
	s := strings.TrimPrefix(strings.TrimSpace(secret), SecretPrefix)
	if s == "" {
		return nil, errors.New("secret is empty")
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if key, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return nil, errors.New("secret is not base64 after the whsec_ prefix")
		}
	}
	return key, nil
}

// keyFor returns the HMAC key of secret under scheme.
func keyFor(scheme, secret string) ([]byte, error) {
	if scheme == Standard {
		return standardKey(secret)
	}
	if secret == "" {
		return nil, errors.New("secret is empty")
	}
	return []byte(secret), nil
}

func mac(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// Sign returns the headers that sign body for delivery id at time ts, one
// signature per secret (newest first). The returned map uses canonical
// header names.
func Sign(scheme string, secrets []string, id string, ts time.Time, body []byte) (map[string]string, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no secret to sign with")
	}
	unix := strconv.FormatInt(ts.Unix(), 10)
	switch scheme {
	case Standard, "":
		sigs := make([]string, 0, len(secrets))
		for _, s := range secrets {
			key, err := keyFor(Standard, s)
			if err != nil {
				return nil, err
			}
			sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac(key, []byte(id), []byte{'.'}, []byte(unix), []byte{'.'}, body)))
		}
		return map[string]string{
			HeaderWebhookID:        id,
			HeaderWebhookTimestamp: unix,
			HeaderWebhookSignature: strings.Join(sigs, " "),
		}, nil
	case Stripe:
		var b strings.Builder
		b.WriteString("t=" + unix)
		for _, s := range secrets {
			key, err := keyFor(Stripe, s)
			if err != nil {
				return nil, err
			}
			b.WriteString(",v1=" + hex.EncodeToString(mac(key, []byte(unix), []byte{'.'}, body)))
		}
		return map[string]string{HeaderWebhookID: id, HeaderStripeSignature: b.String()}, nil
	case GitHub:
		key, err := keyFor(GitHub, secrets[0])
		if err != nil {
			return nil, err
		}
		return map[string]string{
			HeaderWebhookID:       id,
			HeaderGitHubSignature: "sha256=" + hex.EncodeToString(mac(key, body)),
		}, nil
	}
	return nil, fmt.Errorf("unknown signing scheme %q", scheme)
}
