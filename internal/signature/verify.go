package signature

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Reasons a verification fails, stable for scripts (`hookctl verify -o json`).
const (
	ReasonMissingHeader     = "missing_header"
	ReasonInvalidHeader     = "invalid_header"
	ReasonInvalidTimestamp  = "invalid_timestamp"
	ReasonTimestampTooOld   = "timestamp_too_old"
	ReasonTimestampInFuture = "timestamp_in_future"
	ReasonNoMatch           = "no_matching_signature"
	ReasonInvalidSecret     = "invalid_secret"
	ReasonUnknownScheme     = "unknown_scheme"
)

// VerifyInput is what a receiver got, and how strictly to check it.
type VerifyInput struct {
	Scheme  string // Auto (default), Standard, Stripe or GitHub
	Secrets []string
	Header  http.Header
	Body    []byte
	// Tolerance bounds the distance between the signed timestamp and Now
	// (DefaultTolerance when 0).
	Tolerance       time.Duration
	Now             time.Time // time.Now() when zero
	IgnoreTimestamp bool
}

// Result says whether a delivery verified and, if not, why.
type Result struct {
	Valid     bool      `json:"valid"`
	Scheme    string    `json:"scheme"`
	Reason    string    `json:"reason,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	WebhookID string    `json:"webhook_id,omitempty"`
	Timestamp time.Time `json:"timestamp,omitzero"`
}

func (r Result) fail(reason, format string, args ...any) Result {
	r.Valid, r.Reason, r.Detail = false, reason, fmt.Sprintf(format, args...)
	return r
}

// DetectScheme picks the scheme from the signature header present.
func DetectScheme(h http.Header) string {
	switch {
	case h.Get(HeaderWebhookSignature) != "":
		return Standard
	case h.Get(HeaderStripeSignature) != "":
		return Stripe
	case h.Get(HeaderGitHubSignature) != "":
		return GitHub
	}
	return ""
}

// Verify checks a delivery. Signatures are compared in constant time; any
// signature made with any of the secrets is enough.
func Verify(in VerifyInput) Result {
	scheme := in.Scheme
	if scheme == "" || scheme == Auto {
		scheme = DetectScheme(in.Header)
		if scheme == "" {
			return Result{Scheme: Auto}.fail(ReasonMissingHeader, "none of %s, %s, %s is present", HeaderWebhookSignature, HeaderStripeSignature, HeaderGitHubSignature)
		}
	}
	if in.Tolerance <= 0 {
		in.Tolerance = DefaultTolerance
	}
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	r := Result{Scheme: scheme, WebhookID: in.Header.Get(HeaderWebhookID)}
	if len(in.Secrets) == 0 {
		return r.fail(ReasonInvalidSecret, "no secret given")
	}
	keys := make([][]byte, 0, len(in.Secrets))
	for _, s := range in.Secrets {
		k, err := keyFor(scheme, s)
		if err != nil {
			return r.fail(ReasonInvalidSecret, "%v", err)
		}
		keys = append(keys, k)
	}
	switch scheme {
	case Standard:
		return verifyStandard(in, r, keys)
	case Stripe:
		return verifyStripe(in, r, keys)
	case GitHub:
		return verifyGitHub(in, r, keys)
	}
	return r.fail(ReasonUnknownScheme, "unknown scheme %q (want auto, standard, stripe or github)", scheme)
}

// checkTime parses a unix-seconds timestamp and checks its freshness.
func checkTime(in VerifyInput, r *Result, raw, header string) (string, bool) {
	ts, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || ts < 0 {
		*r = r.fail(ReasonInvalidTimestamp, "%s %q is not unix seconds", header, raw)
		return "", false
	}
	r.Timestamp = time.Unix(ts, 0).UTC()
	if in.IgnoreTimestamp {
		return raw, true
	}
	switch age := in.Now.Sub(r.Timestamp); {
	case age > in.Tolerance:
		*r = r.fail(ReasonTimestampTooOld, "signed %s ago, more than the %s tolerance", age.Round(time.Second), in.Tolerance)
		return "", false
	case -age > in.Tolerance:
		*r = r.fail(ReasonTimestampInFuture, "signed %s in the future, more than the %s tolerance", (-age).Round(time.Second), in.Tolerance)
		return "", false
	}
	return raw, true
}

func verifyStandard(in VerifyInput, r Result, keys [][]byte) Result {
	for _, h := range []string{HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature} {
		if in.Header.Get(h) == "" {
			return r.fail(ReasonMissingHeader, "header %s is missing", h)
		}
	}
	ts, ok := checkTime(in, &r, in.Header.Get(HeaderWebhookTimestamp), HeaderWebhookTimestamp)
	if !ok {
		return r
	}
	var candidates [][]byte
	for _, part := range strings.Fields(in.Header.Get(HeaderWebhookSignature)) {
		version, sig, found := strings.Cut(part, ",")
		if !found || version != "v1" {
			continue // other versions are for other verifiers
		}
		if b, err := base64.StdEncoding.DecodeString(sig); err == nil {
			candidates = append(candidates, b)
		}
	}
	if len(candidates) == 0 {
		return r.fail(ReasonInvalidHeader, "%s holds no v1 signature", HeaderWebhookSignature)
	}
	for _, k := range keys {
		want := mac(k, []byte(r.WebhookID), []byte{'.'}, []byte(ts), []byte{'.'}, in.Body)
		for _, c := range candidates {
			if hmac.Equal(c, want) {
				r.Valid = true
				return r
			}
		}
	}
	return r.fail(ReasonNoMatch, "none of the %d signatures matches the body with the given secret", len(candidates))
}

func verifyStripe(in VerifyInput, r Result, keys [][]byte) Result {
	raw := in.Header.Get(HeaderStripeSignature)
	var ts string
	var candidates [][]byte
	for _, item := range strings.Split(raw, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(item), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				candidates = append(candidates, b)
			}
		}
	}
	if ts == "" {
		return r.fail(ReasonInvalidHeader, "%s has no t= timestamp", HeaderStripeSignature)
	}
	if _, ok := checkTime(in, &r, ts, HeaderStripeSignature+" t"); !ok {
		return r
	}
	if len(candidates) == 0 {
		return r.fail(ReasonInvalidHeader, "%s holds no v1 signature", HeaderStripeSignature)
	}
	for _, k := range keys {
		want := mac(k, []byte(ts), []byte{'.'}, in.Body)
		for _, c := range candidates {
			if hmac.Equal(c, want) {
				r.Valid = true
				return r
			}
		}
	}
	return r.fail(ReasonNoMatch, "none of the %d signatures matches the body with the given secret", len(candidates))
}

func verifyGitHub(in VerifyInput, r Result, keys [][]byte) Result {
	raw := in.Header.Get(HeaderGitHubSignature)
	sig, ok := strings.CutPrefix(raw, "sha256=")
	if !ok {
		return r.fail(ReasonInvalidHeader, "%s does not start with sha256=", HeaderGitHubSignature)
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return r.fail(ReasonInvalidHeader, "%s is not hex", HeaderGitHubSignature)
	}
	for _, k := range keys {
		if hmac.Equal(got, mac(k, in.Body)) {
			r.Valid = true
			return r
		}
	}
	return r.fail(ReasonNoMatch, "the signature does not match the body with the given secret")
}
