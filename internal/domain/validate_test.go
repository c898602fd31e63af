package domain

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func validEndpoint() Endpoint {
	return Endpoint{
		URL:        "https://hooks.example.com/in",
		EventTypes: []string{"order.created", "invoice.*"},
		Headers:    map[string]string{"X-Team": "billing"},
		Labels:     map[string]string{"team": "billing"},
		Enabled:    true,
	}
}

func TestValidateAcceptsAGoodEndpoint(t *testing.T) {
	e := validEndpoint()
	e.Normalize()
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if e.SigningScheme != SchemeStandard {
		t.Fatalf("default scheme %q", e.SigningScheme)
	}
}

func TestValidateNamesTheBadField(t *testing.T) {
	long := strings.Repeat("a", 5000)
	cases := []struct {
		name  string
		edit  func(*Endpoint)
		field string
	}{
		{"missing url", func(e *Endpoint) { e.URL = "" }, "url"},
		{"ftp url", func(e *Endpoint) { e.URL = "ftp://example.com/x" }, "url"},
		{"javascript url", func(e *Endpoint) { e.URL = "javascript:alert(1)" }, "url"},
		{"relative url", func(e *Endpoint) { e.URL = "/hooks" }, "url"},
		{"no host", func(e *Endpoint) { e.URL = "https:///path" }, "url"},
		{"credentials in url", func(e *Endpoint) { e.URL = "https://user:pass@example.com/" }, "url"},
		{"user in url", func(e *Endpoint) { e.URL = "https://user@example.com/" }, "url"},
		{"newline in url", func(e *Endpoint) { e.URL = "https://example.com/\r\nX-Injected: 1" }, "url"},
		{"nul in url", func(e *Endpoint) { e.URL = "https://example.com/\x00" }, "url"},
		{"space in url", func(e *Endpoint) { e.URL = "https://exa mple.com/" }, "url"},
		{"fragment", func(e *Endpoint) { e.URL = "https://example.com/#frag" }, "url"},
		{"huge url", func(e *Endpoint) { e.URL = "https://example.com/" + long }, "url"},
		{"invalid utf-8 description", func(e *Endpoint) { e.Description = "\xff\xfe" }, "description"},
		{"control in description", func(e *Endpoint) { e.Description = "bell\a" }, "description"},
		{"huge description", func(e *Endpoint) { e.Description = long }, "description"},
		{"no event types", func(e *Endpoint) { e.EventTypes = nil }, "event_types"},
		{"bad event type", func(e *Endpoint) { e.EventTypes = []string{"order created"} }, "event_types"},
		{"inner wildcard", func(e *Endpoint) { e.EventTypes = []string{"order.*.created"} }, "event_types"},
		{"bare prefix wildcard", func(e *Endpoint) { e.EventTypes = []string{"order*"} }, "event_types"},
		{"upper case (not normalized)", func(e *Endpoint) { e.EventTypes = []string{"Order.Created"} }, "event_types"},
		{"too many event types", func(e *Endpoint) { e.EventTypes = make([]string, MaxEventTypes+1) }, "event_types"},
		{"header with newline", func(e *Endpoint) { e.Headers = map[string]string{"X-A": "a\r\nX-B: b"} }, "headers"},
		{"header bad name", func(e *Endpoint) { e.Headers = map[string]string{"X A": "a"} }, "headers"},
		{"reserved header", func(e *Endpoint) { e.Headers = map[string]string{"Webhook-Signature": "v1,forged"} }, "headers"},
		{"host header", func(e *Endpoint) { e.Headers = map[string]string{"Host": "internal"} }, "headers"},
		{"huge header", func(e *Endpoint) { e.Headers = map[string]string{"X-A": long} }, "headers"},
		{"unknown scheme", func(e *Endpoint) { e.SigningScheme = "hmac-md5" }, "signing_scheme"},
		{"schedule and exponential", func(e *Endpoint) {
			e.RetryPolicy = RetryPolicy{Schedule: []time.Duration{time.Second}, Exponential: &ExponentialRetry{Min: 1, Max: 2, Attempts: 1}}
		}, "retry_policy"},
		{"negative delay", func(e *Endpoint) { e.RetryPolicy.Schedule = []time.Duration{-time.Second} }, "retry_policy.schedule"},
		{"year-long delay", func(e *Endpoint) { e.RetryPolicy.Schedule = []time.Duration{365 * 24 * time.Hour} }, "retry_policy.schedule"},
		{"too many retries", func(e *Endpoint) { e.RetryPolicy.Schedule = make([]time.Duration, MaxRetrySchedule+1) }, "retry_policy.schedule"},
		{"exponential max below min", func(e *Endpoint) {
			e.RetryPolicy.Exponential = &ExponentialRetry{Min: time.Minute, Max: time.Second, Attempts: 3}
		}, "retry_policy.exponential.max"},
		{"exponential zero attempts", func(e *Endpoint) {
			e.RetryPolicy.Exponential = &ExponentialRetry{Min: time.Second, Max: time.Minute}
		}, "retry_policy.exponential.attempts"},
		{"negative rate", func(e *Endpoint) { e.RateLimit = -1 }, "rate_limit"},
		{"NaN rate", func(e *Endpoint) { e.RateLimit = math.NaN() }, "rate_limit"},
		{"huge concurrency", func(e *Endpoint) { e.MaxConcurrency = 1 << 20 }, "max_concurrency"},
		{"tiny timeout", func(e *Endpoint) { e.Timeout = time.Millisecond }, "timeout"},
		{"bad status code", func(e *Endpoint) { e.SuccessStatusCodes = []int{200, 999} }, "success_status_codes"},
		{"bad label key", func(e *Endpoint) { e.Labels = map[string]string{"Team Name": "x"} }, "labels"},
		{"control in label", func(e *Endpoint) { e.Labels = map[string]string{"team": "a\nb"} }, "labels"},
		{"bad tenant", func(e *Endpoint) { e.TenantID = "acme corp" }, "tenant_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := validEndpoint()
			tc.edit(&e)
			err := e.Validate()
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate() = %v, want a ValidationError", err)
			}
			if _, ok := ve.Fields[tc.field]; !ok {
				t.Fatalf("error %v does not name field %q", err, tc.field)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	e := Endpoint{URL: "  https://example.com/  ", EventTypes: []string{" Order.Created", "order.created", "INVOICE.*"}, SigningScheme: " GitHub "}
	e.Normalize()
	if e.URL != "https://example.com/" || len(e.EventTypes) != 2 || e.EventTypes[0] != "order.created" || e.EventTypes[1] != "invoice.*" || e.SigningScheme != SchemeGitHub {
		t.Fatalf("normalized: %+v", e)
	}
}

func TestMatchEventType(t *testing.T) {
	cases := []struct {
		filter, typ string
		want        bool
	}{
		{"*", "anything.at.all", true},
		{"order.created", "order.created", true},
		{"order.created", "order.updated", false},
		{"order.*", "order.created", true},
		{"order.*", "order.item.added", true},
		{"order.*", "order", false},
		{"order.*", "orders.created", false},
		{"order.created", "order.created.v2", false},
	}
	for _, tc := range cases {
		if got := MatchEventType(tc.filter, tc.typ); got != tc.want {
			t.Errorf("MatchEventType(%q, %q) = %v", tc.filter, tc.typ, got)
		}
	}
}

func TestIsSuccess(t *testing.T) {
	e := Endpoint{}
	if !e.IsSuccess(204) || e.IsSuccess(301) || e.IsSuccess(500) {
		t.Fatal("default success codes are not 2xx")
	}
	e.SuccessStatusCodes = []int{200, 409}
	if !e.IsSuccess(409) || e.IsSuccess(201) {
		t.Fatal("explicit success codes ignored")
	}
}

func TestDeterministicIDs(t *testing.T) {
	a, b := DeliveryID("evt_1", "ep_1"), DeliveryID("evt_1", "ep_1")
	if a != b || a == DeliveryID("evt_1", "ep_2") {
		t.Fatal("delivery ids are not stable per (event, endpoint)")
	}
	first, again := AttemptID(a, 0, 1), AttemptID(b, 0, 1)
	if first != again || first == AttemptID(a, 1, 1) || first == AttemptID(a, 0, 2) {
		t.Fatal("attempt ids are not stable, or do not separate generations and numbers")
	}
}
