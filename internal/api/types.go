// Package api holds the wire form of hookd's HTTP API, shared by the
// server (daemon/api) and its clients (hookctl): request and response
// bodies, the error body, query parameters, and a Client.
//
// Durations travel as Go duration strings ("30s", "5m"); times as RFC 3339
// in UTC. Lists are pages: {"items":[...],"next_cursor":"..."}, the cursor
// opaque and empty on the last page.
package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

// Duration is a time.Duration that encodes as a Go duration string and
// decodes from one (or from a number of seconds).
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (use values like \"30s\", \"5m\", \"2h\")", s)
		}
		*d = Duration(v)
		return nil
	}
	secs, err := strconv.ParseFloat(string(b), 64)
	if err != nil || secs < 0 || secs > float64(1<<33) {
		return fmt.Errorf("%s is not a duration (use values like \"30s\", \"5m\", \"2h\")", excerpt(b))
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}

func excerpt(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "…"
	}
	return string(b)
}

// Page is one page of a list.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Endpoint is an endpoint as the API shows it. Secrets never appear.
type Endpoint struct {
	ID                 string            `json:"id"`
	TenantID           string            `json:"tenant_id,omitempty"`
	URL                string            `json:"url"`
	Description        string            `json:"description,omitempty"`
	EventTypes         []string          `json:"event_types"`
	Headers            map[string]string `json:"headers,omitempty"`
	SigningScheme      string            `json:"signing_scheme"`
	RetryPolicy        RetryPolicy       `json:"retry_policy"`
	RateLimit          float64           `json:"rate_limit,omitempty"`
	MaxConcurrency     int               `json:"max_concurrency,omitempty"`
	Timeout            Duration          `json:"timeout,omitempty"`
	SuccessStatusCodes []int             `json:"success_status_codes,omitempty"`
	Enabled            bool              `json:"enabled"`
	DisabledReason     string            `json:"disabled_reason,omitempty"`
	Labels             map[string]string `json:"labels,omitempty"`
	CreatedBy          string            `json:"created_by,omitempty"`
	UpdatedBy          string            `json:"updated_by,omitempty"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
	Version            int64             `json:"version"`
}

// RetryPolicy overrides the default retry schedule: an explicit list of
// delays, or exponential growth. Empty means the default.
type RetryPolicy struct {
	Schedule    []Duration        `json:"schedule,omitempty"`
	Exponential *ExponentialRetry `json:"exponential,omitempty"`
}

// ExponentialRetry doubles the delay from Min up to Max, Attempts times.
type ExponentialRetry struct {
	Min      Duration `json:"min"`
	Max      Duration `json:"max"`
	Attempts int      `json:"attempts"`
}

// EndpointFromDomain converts a stored endpoint.
func EndpointFromDomain(e domain.Endpoint) Endpoint {
	return Endpoint{
		ID: e.ID, TenantID: e.TenantID, URL: e.URL, Description: e.Description,
		EventTypes: e.EventTypes, Headers: e.Headers, SigningScheme: e.SigningScheme,
		RetryPolicy: RetryPolicyFromDomain(e.RetryPolicy), RateLimit: e.RateLimit,
		MaxConcurrency: e.MaxConcurrency, Timeout: Duration(e.Timeout), SuccessStatusCodes: e.SuccessStatusCodes,
		Enabled: e.Enabled, DisabledReason: e.DisabledReason, Labels: e.Labels,
		CreatedBy: e.CreatedBy, UpdatedBy: e.UpdatedBy, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Version: e.Version,
	}
}

// RetryPolicyFromDomain converts a stored retry policy.
func RetryPolicyFromDomain(p domain.RetryPolicy) RetryPolicy {
	var out RetryPolicy
	for _, d := range p.Schedule {
		out.Schedule = append(out.Schedule, Duration(d))
	}
	if x := p.Exponential; x != nil {
		out.Exponential = &ExponentialRetry{Min: Duration(x.Min), Max: Duration(x.Max), Attempts: x.Attempts}
	}
	return out
}

// Domain converts p for storage.
func (p RetryPolicy) Domain() domain.RetryPolicy {
	var out domain.RetryPolicy
	for _, d := range p.Schedule {
		out.Schedule = append(out.Schedule, time.Duration(d))
	}
	if x := p.Exponential; x != nil {
		out.Exponential = &domain.ExponentialRetry{Min: time.Duration(x.Min), Max: time.Duration(x.Max), Attempts: x.Attempts}
	}
	return out
}

// EndpointInput creates an endpoint (POST /v1/endpoints) or changes one
// (PATCH /v1/endpoints/{id}: only the fields present change). Secret is
// for create only: a "whsec_" secret to use instead of a generated one.
type EndpointInput struct {
	URL                *string            `json:"url,omitempty"`
	TenantID           *string            `json:"tenant_id,omitempty"`
	Description        *string            `json:"description,omitempty"`
	EventTypes         *[]string          `json:"event_types,omitempty"`
	Headers            *map[string]string `json:"headers,omitempty"`
	SigningScheme      *string            `json:"signing_scheme,omitempty"`
	RetryPolicy        *RetryPolicy       `json:"retry_policy,omitempty"`
	RateLimit          *float64           `json:"rate_limit,omitempty"`
	MaxConcurrency     *int               `json:"max_concurrency,omitempty"`
	Timeout            *Duration          `json:"timeout,omitempty"`
	SuccessStatusCodes *[]int             `json:"success_status_codes,omitempty"`
	Labels             *map[string]string `json:"labels,omitempty"`
	Enabled            *bool              `json:"enabled,omitempty"`
	Secret             string             `json:"secret,omitempty"`
	// Version, on PATCH, makes the change conditional: it is refused with
	// 409 when the endpoint has changed since that version.
	Version int64 `json:"version,omitempty"`
}

// EndpointCreated answers POST /v1/endpoints: the endpoint and its signing
// secret, shown this once.
type EndpointCreated struct {
	Endpoint Endpoint `json:"endpoint"`
	Secret   string   `json:"secret"`
}

// DisableRequest is the body of POST /v1/endpoints/{id}/disable.
type DisableRequest struct {
	Reason string `json:"reason,omitempty"`
}

// RotateSecretRequest is the body of POST /v1/endpoints/{id}/rotate-secret.
type RotateSecretRequest struct {
	// Secret to use instead of a generated one.
	Secret string `json:"secret,omitempty"`
	// ExpireOldIn is how long the older secrets keep signing (default
	// 24h; "0s" stops them at once).
	ExpireOldIn *Duration `json:"expire_old_in,omitempty"`
}

// RotateSecretResponse carries the new secret, shown this once.
type RotateSecretResponse struct {
	Secret       string    `json:"secret"`
	OldExpiresAt time.Time `json:"old_expires_at"`
}

// EndpointStats summarizes an endpoint's recent attempts
// (GET /v1/endpoints/{id}/stats?window=1h).
type EndpointStats struct {
	EndpointID string   `json:"endpoint_id"`
	Window     Duration `json:"window"`
	// Sampled is how many attempts the figures come from (the newest, at
	// most a few thousand).
	Sampled     int            `json:"sampled"`
	Delivered   int            `json:"delivered"`
	Failed      int            `json:"failed"`
	SuccessRate float64        `json:"success_rate"`
	LatencyP50  Duration       `json:"latency_p50"`
	LatencyP90  Duration       `json:"latency_p90"`
	LatencyP99  Duration       `json:"latency_p99"`
	Outcomes    map[string]int `json:"outcomes"`
	// CircuitState is closed, open or half_open as this process's
	// dispatcher sees it, or unknown when it runs no dispatcher.
	CircuitState  string     `json:"circuit_state"`
	LastError     string     `json:"last_error,omitempty"`
	LastErrorAt   *time.Time `json:"last_error_at,omitempty"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	Enabled       bool       `json:"enabled"`
	DisabledFor   string     `json:"disabled_reason,omitempty"`
}

// PublishEventRequest is the body of POST /v1/events. ID defaults to a
// new id, Time to now.
type PublishEventRequest struct {
	ID       string          `json:"id,omitempty"`
	Type     string          `json:"type"`
	TenantID string          `json:"tenant_id,omitempty"`
	Source   string          `json:"source,omitempty"`
	Time     *time.Time      `json:"time,omitempty"`
	Data     json.RawMessage `json:"data"`
}

// PublishEventResponse answers POST /v1/events (202). Duplicate is true
// when the Idempotency-Key or event id was seen within the window and
// nothing was published again.
type PublishEventResponse struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// IdempotencyWindow is how long POST /v1/events remembers an
// Idempotency-Key or event id.
const IdempotencyWindow = 24 * time.Hour

// Attempt is one delivery attempt as the API shows it.
type Attempt struct {
	ID                 string            `json:"id"`
	DeliveryID         string            `json:"delivery_id"`
	EventID            string            `json:"event_id"`
	EventType          string            `json:"event_type"`
	EndpointID         string            `json:"endpoint_id"`
	TenantID           string            `json:"tenant_id,omitempty"`
	Generation         int               `json:"generation"`
	Attempt            int               `json:"attempt"`
	StartedAt          time.Time         `json:"started_at"`
	Duration           Duration          `json:"duration"`
	StatusCode         int               `json:"status_code,omitempty"`
	Outcome            string            `json:"outcome"`
	Error              string            `json:"error,omitempty"`
	RequestHeaders     map[string]string `json:"request_headers,omitempty"`
	ResponseHeaders    map[string]string `json:"response_headers,omitempty"`
	ResponseBody       string            `json:"response_body,omitempty"`
	ResponseBodySHA256 string            `json:"response_body_sha256,omitempty"`
	ResponseBodySize   int64             `json:"response_body_size,omitempty"`
	NextRetryAt        *time.Time        `json:"next_retry_at,omitempty"`
}

// AttemptFromDomain converts a logged attempt. The response body preview
// is shown as text (invalid UTF-8 replaced).
func AttemptFromDomain(a domain.Attempt) Attempt {
	return Attempt{
		ID: a.ID, DeliveryID: a.DeliveryID, EventID: a.EventID, EventType: a.EventType, EndpointID: a.EndpointID,
		TenantID: a.TenantID, Generation: a.Generation, Attempt: a.AttemptNumber, StartedAt: a.StartedAt,
		Duration: Duration(a.Duration), StatusCode: a.StatusCode, Outcome: string(a.Outcome), Error: a.Error,
		RequestHeaders: a.RequestHeaders, ResponseHeaders: a.ResponseHeaders, ResponseBody: string(bytes.ToValidUTF8(a.ResponseBody, []byte("\uFFFD"))),
		ResponseBodySHA256: a.ResponseBodySHA256, ResponseBodySize: a.ResponseBodySize, NextRetryAt: a.NextRetryAt,
	}
}

// Delivery states.
const (
	DeliveryDelivered = "delivered" // the newest attempt succeeded
	DeliveryRetrying  = "retrying"  // failed so far; a retry is scheduled
	DeliveryFailed    = "failed"    // failed; no retry scheduled (see the dead-letter queue)
)

// Delivery is one event's delivery to one endpoint, with its attempts,
// oldest first (GET /v1/deliveries/{id}, and inside GET /v1/events/{id}).
type Delivery struct {
	DeliveryID string    `json:"delivery_id"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	EndpointID string    `json:"endpoint_id"`
	State      string    `json:"state"`
	Attempts   []Attempt `json:"attempts"`
}

// DeliveryState is the state a delivery's newest attempt implies.
func DeliveryState(last Attempt) string {
	switch {
	case last.Outcome == string(domain.OutcomeDelivered):
		return DeliveryDelivered
	case last.NextRetryAt != nil:
		return DeliveryRetrying
	}
	return DeliveryFailed
}

// EventStatus answers GET /v1/events/{id}: every delivery of the event.
type EventStatus struct {
	EventID    string     `json:"event_id"`
	Deliveries []Delivery `json:"deliveries"`
}

// DeadLetter is a dead letter as the API shows it. Payload (the body that
// would be sent) appears only when one dead letter is read.
type DeadLetter struct {
	DeliveryID     string          `json:"delivery_id"`
	EventID        string          `json:"event_id"`
	EventType      string          `json:"event_type"`
	EndpointID     string          `json:"endpoint_id"`
	TenantID       string          `json:"tenant_id,omitempty"`
	Reason         string          `json:"reason"`
	LastError      string          `json:"last_error,omitempty"`
	LastStatusCode int             `json:"last_status_code,omitempty"`
	Attempts       int             `json:"attempts"`
	Generation     int             `json:"generation"`
	DeadAt         time.Time       `json:"dead_at"`
	ReplayedAt     *time.Time      `json:"replayed_at,omitempty"`
	Payload        json.RawMessage `json:"payload,omitempty"`
	// PayloadBase64 carries a payload that is not JSON (a malformed
	// message's bytes).
	PayloadBase64 []byte `json:"payload_base64,omitempty"`
}

// DeadLetterFromDomain converts a stored dead letter, with its payload
// when withPayload.
func DeadLetterFromDomain(d domain.DeadLetter, withPayload bool) DeadLetter {
	out := DeadLetter{
		DeliveryID: d.DeliveryID, EventID: d.EventID, EventType: d.EventType, EndpointID: d.EndpointID,
		TenantID: d.TenantID, Reason: d.Reason, LastError: d.LastError, LastStatusCode: d.LastStatusCode,
		Attempts: d.Attempts, Generation: d.Generation, DeadAt: d.DeadAt, ReplayedAt: d.ReplayedAt,
	}
	if withPayload && len(d.Payload) > 0 {
		if json.Valid(d.Payload) {
			out.Payload = json.RawMessage(d.Payload)
		} else {
			out.PayloadBase64 = d.Payload
		}
	}
	return out
}

// DeadLetterFilter selects dead letters in bulk operations; zero fields
// match everything.
type DeadLetterFilter struct {
	EndpointID string    `json:"endpoint_id,omitempty"`
	EventType  string    `json:"event_type,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	TenantID   string    `json:"tenant_id,omitempty"`
	Since      time.Time `json:"since,omitzero"`
	Until      time.Time `json:"until,omitzero"`
}

// Domain converts f.
func (f DeadLetterFilter) Domain() domain.DeadLetterFilter {
	return domain.DeadLetterFilter(f)
}

// ReplayRequest is the body of POST /v1/dlq/replay (send the
// Idempotency-Key header to make retries of the request safe).
type ReplayRequest struct {
	Filter DeadLetterFilter `json:"filter"`
	// DryRun counts what would be replayed and starts nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// Force replays entries replayed within the last hour too.
	Force bool `json:"force,omitempty"`
}

// ReplayGuard is how recently a dead letter may have been replayed before a
// bulk replay skips it (unless forced).
const ReplayGuard = time.Hour

// DryRunResult answers a dry run: how many dead letters match, and how
// many of them a replay would skip (replayed within the guard).
type DryRunResult struct {
	DryRun  bool  `json:"dry_run"`
	Matched int64 `json:"matched"`
	Skipped int64 `json:"skipped"`
}

// DiscardRequest is the body of POST /v1/dlq/discard.
type DiscardRequest struct {
	Filter DeadLetterFilter `json:"filter"`
	DryRun bool             `json:"dry_run,omitempty"`
}

// DiscardResult answers POST /v1/dlq/discard.
type DiscardResult struct {
	DryRun    bool  `json:"dry_run"`
	Matched   int64 `json:"matched"`
	Discarded int64 `json:"discarded"`
}

// ReplayOneResponse answers POST /v1/dlq/{endpoint_id}/{delivery_id}/replay.
type ReplayOneResponse struct {
	DeliveryID string `json:"delivery_id"`
	EndpointID string `json:"endpoint_id"`
	// Generation is the replay's generation: its attempts count from 1 again.
	Generation int `json:"generation"`
}

// ReplayJob is a bulk replay as the API shows it.
type ReplayJob = domain.ReplayJob

// APIKey is an API key as listed (never the key itself).
type APIKey = domain.APIKey

// CreateKeyRequest is the body of POST /v1/keys.
type CreateKeyRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// KeyCreated answers POST /v1/keys: the key, shown this once.
type KeyCreated struct {
	Key    string `json:"key"`
	APIKey APIKey `json:"api_key"`
}

// StreamEvent names in GET /v1/stream (Server-Sent Events). Data of
// "attempt" is an Attempt; "dropped" ends a stream that fell too far
// behind (reconnect with Last-Event-ID).
const (
	StreamEventAttempt = "attempt"
	StreamEventDropped = "dropped"
)
