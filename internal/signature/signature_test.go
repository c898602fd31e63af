package signature

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The example from the Standard Webhooks specification.
func TestStandardSpecVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		body   = `{"test": 2432232314}`
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	ts := time.Unix(1614265330, 0)
	h, err := Sign(Standard, []string{secret}, id, ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if h[HeaderWebhookSignature] != want || h[HeaderWebhookTimestamp] != "1614265330" || h[HeaderWebhookID] != id {
		t.Fatalf("headers %v, want signature %s", h, want)
	}
	r := Verify(VerifyInput{Secrets: []string{secret}, Header: header(h), Body: []byte(body), Now: ts.Add(time.Minute)})
	if !r.Valid || r.Scheme != Standard || r.WebhookID != id || !r.Timestamp.Equal(ts) {
		t.Fatalf("verify: %+v", r)
	}
}

func header(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

func TestRoundTripEveryScheme(t *testing.T) {
	secret := GenerateSecret()
	if err := ValidateSecret(secret); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"order.created","data":{"id":42,"note":"ünïcode"}}`)
	now := time.Now()
	for _, scheme := range []string{Standard, Stripe, GitHub} {
		t.Run(scheme, func(t *testing.T) {
			h, err := Sign(scheme, []string{secret}, "msg_1", now, body)
			if err != nil {
				t.Fatal(err)
			}
			for _, as := range []string{scheme, Auto} {
				if r := Verify(VerifyInput{Scheme: as, Secrets: []string{secret}, Header: header(h), Body: body, Now: now}); !r.Valid || r.Scheme != scheme {
					t.Fatalf("verify as %s: %+v", as, r)
				}
			}
			tampered := append([]byte{}, body...)
			tampered[len(tampered)-2] = 'X'
			if r := Verify(VerifyInput{Secrets: []string{secret}, Header: header(h), Body: tampered, Now: now}); r.Valid || r.Reason != ReasonNoMatch {
				t.Fatalf("tampered body: %+v", r)
			}
			if r := Verify(VerifyInput{Secrets: []string{GenerateSecret()}, Header: header(h), Body: body, Now: now}); r.Valid || r.Reason != ReasonNoMatch {
				t.Fatalf("other secret: %+v", r)
			}
		})
	}
}

func TestRotationSignsWithEverySecret(t *testing.T) {
	oldSecret, newSecret := GenerateSecret(), GenerateSecret()
	body := []byte(`{}`)
	now := time.Now()
	for _, scheme := range []string{Standard, Stripe} {
		h, err := Sign(scheme, []string{newSecret, oldSecret}, "msg_1", now, body)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{oldSecret, newSecret} {
			if r := Verify(VerifyInput{Secrets: []string{s}, Header: header(h), Body: body, Now: now}); !r.Valid {
				t.Fatalf("%s: a receiver with one of the rotated secrets is refused: %+v", scheme, r)
			}
		}
	}
	h, _ := Sign(Standard, []string{newSecret, oldSecret}, "msg_1", now, body)
	if n := len(strings.Fields(h[HeaderWebhookSignature])); n != 2 {
		t.Fatalf("%d signatures, want 2", n)
	}
}

func TestTimestampTolerance(t *testing.T) {
	secret := GenerateSecret()
	signed := time.Unix(1_700_000_000, 0)
	for _, scheme := range []string{Standard, Stripe} {
		h, _ := Sign(scheme, []string{secret}, "msg_1", signed, nil)
		cases := []struct {
			now    time.Time
			ignore bool
			reason string
		}{
			{signed.Add(4 * time.Minute), false, ""},
			{signed.Add(-4 * time.Minute), false, ""},
			{signed.Add(6 * time.Minute), false, ReasonTimestampTooOld},
			{signed.Add(-6 * time.Minute), false, ReasonTimestampInFuture},
			{signed.Add(240 * time.Hour), true, ""},
		}
		for _, tc := range cases {
			r := Verify(VerifyInput{Secrets: []string{secret}, Header: header(h), Now: tc.now, IgnoreTimestamp: tc.ignore})
			if r.Reason != tc.reason || r.Valid != (tc.reason == "") {
				t.Errorf("%s at %s (ignore %v): %+v, want reason %q", scheme, tc.now.Sub(signed), tc.ignore, r, tc.reason)
			}
		}
	}
}

func TestHostileHeaders(t *testing.T) {
	secret := GenerateSecret()
	now := time.Unix(1_700_000_000, 0)
	cases := []struct {
		name   string
		h      map[string]string
		reason string
	}{
		{"nothing", map[string]string{}, ReasonMissingHeader},
		{"no id", map[string]string{HeaderWebhookTimestamp: "1700000000", HeaderWebhookSignature: "v1,AAAA"}, ReasonMissingHeader},
		{"text timestamp", map[string]string{HeaderWebhookID: "m", HeaderWebhookTimestamp: "yesterday", HeaderWebhookSignature: "v1,AAAA"}, ReasonInvalidTimestamp},
		{"negative timestamp", map[string]string{HeaderWebhookID: "m", HeaderWebhookTimestamp: "-5", HeaderWebhookSignature: "v1,AAAA"}, ReasonInvalidTimestamp},
		{"huge timestamp", map[string]string{HeaderWebhookID: "m", HeaderWebhookTimestamp: "99999999999999999999999", HeaderWebhookSignature: "v1,AAAA"}, ReasonInvalidTimestamp},
		{"only v2", map[string]string{HeaderWebhookID: "m", HeaderWebhookTimestamp: "1700000000", HeaderWebhookSignature: "v2,AAAA v1a,BBBB"}, ReasonInvalidHeader},
		{"garbage signature", map[string]string{HeaderWebhookID: "m", HeaderWebhookTimestamp: "1700000000", HeaderWebhookSignature: strings.Repeat("v1,%%% ", 1000)}, ReasonInvalidHeader},
		{"stripe without t", map[string]string{HeaderStripeSignature: "v1=00"}, ReasonInvalidHeader},
		{"stripe without v1", map[string]string{HeaderStripeSignature: "t=1700000000,v0=00"}, ReasonInvalidHeader},
		{"github without prefix", map[string]string{HeaderGitHubSignature: "md5=00"}, ReasonInvalidHeader},
		{"github not hex", map[string]string{HeaderGitHubSignature: "sha256=zz"}, ReasonInvalidHeader},
	}
	for _, tc := range cases {
		if r := Verify(VerifyInput{Secrets: []string{secret}, Header: header(tc.h), Now: now}); r.Valid || r.Reason != tc.reason {
			t.Errorf("%s: %+v, want reason %s", tc.name, r, tc.reason)
		}
	}
	if r := Verify(VerifyInput{Scheme: "md5", Secrets: []string{secret}, Header: header(map[string]string{HeaderGitHubSignature: "x"})}); r.Reason != ReasonUnknownScheme {
		t.Errorf("unknown scheme: %+v", r)
	}
}

func TestSecrets(t *testing.T) {
	if r := Verify(VerifyInput{Scheme: Standard, Secrets: []string{"whsec_not base64!"}, Header: http.Header{}}); r.Reason != ReasonInvalidSecret {
		t.Errorf("bad secret: %+v", r)
	}
	if r := Verify(VerifyInput{Scheme: Standard, Header: http.Header{}}); r.Reason != ReasonInvalidSecret {
		t.Errorf("no secret: %+v", r)
	}
	// The whsec_ prefix is optional when verifying.
	s := GenerateSecret()
	h, _ := Sign(Standard, []string{s}, "m", time.Now(), []byte("x"))
	if r := Verify(VerifyInput{Secrets: []string{strings.TrimPrefix(s, SecretPrefix)}, Header: header(h), Body: []byte("x")}); !r.Valid {
		t.Errorf("secret without prefix: %+v", r)
	}
	for _, bad := range []string{"", "whsec_", "whsec_c2hvcnQ=", "whsec_" + strings.Repeat("QUFB", 30)} {
		if ValidateSecret(bad) == nil {
			t.Errorf("ValidateSecret(%q) accepted", bad)
		}
	}
	if _, err := Sign("md5", []string{s}, "m", time.Now(), nil); err == nil {
		t.Error("Sign accepted an unknown scheme")
	}
	if _, err := Sign(Standard, nil, "m", time.Now(), nil); err == nil {
		t.Error("Sign without a secret")
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "1614265330", "t=1,v1=00", "sha256=00", []byte("{}"))
	f.Fuzz(func(t *testing.T, sig, ts, stripe, gh string, body []byte) {
		h := http.Header{}
		h.Set(HeaderWebhookID, "msg")
		h.Set(HeaderWebhookTimestamp, ts)
		h.Set(HeaderWebhookSignature, sig)
		h.Set(HeaderStripeSignature, stripe)
		h.Set(HeaderGitHubSignature, gh)
		for _, scheme := range []string{Standard, Stripe, GitHub, Auto} {
			if r := Verify(VerifyInput{Scheme: scheme, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, Header: h, Body: body}); r.Valid && r.Reason != "" {
				t.Fatalf("valid with a reason: %+v", r)
			}
		}
	})
}
