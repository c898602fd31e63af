package domain

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/hookd/hookd/internal/ids"
)

// API key scopes.
const (
	ScopeEndpointsRead  = "endpoints:read"
	ScopeEndpointsWrite = "endpoints:write"
	ScopeEventsPublish  = "events:publish"
	ScopeDeliveriesRead = "deliveries:read"
	ScopeDLQReplay      = "dlq:replay"
	ScopeAdmin          = "admin"
)

// Scopes lists every scope, in the order help text shows them.
var Scopes = []string{ScopeEndpointsRead, ScopeEndpointsWrite, ScopeEventsPublish, ScopeDeliveriesRead, ScopeDLQReplay, ScopeAdmin}

// APIKey grants scoped access to the HTTP API. Only a hash of the key is
// stored; the key itself is shown once, when it is made.
type APIKey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Hash       []byte     `json:"-"`
	Scopes     []string   `json:"scopes"`
	CreatedBy  string     `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// HasScope reports whether the key grants scope (admin grants all).
func (k APIKey) HasScope(scope string) bool {
	for _, s := range k.Scopes {
		if s == scope || s == ScopeAdmin {
			return true
		}
	}
	return false
}

// Event is something that happened, to be delivered to the endpoints
// subscribed to its type.
type Event struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	TenantID string          `json:"tenant_id,omitempty"`
	Source   string          `json:"source,omitempty"`
	Time     time.Time       `json:"time"`
	Data     json.RawMessage `json:"data"`
}

// DeliveryID is the stable id of delivering event eventID to endpoint
// endpointID: the webhook-id header, the same across retries and replays,
// so receivers can drop duplicates.
func DeliveryID(eventID, endpointID string) string {
	return ids.Derive(ids.Delivery, eventID, endpointID)
}

// AttemptID is the deterministic id of one attempt: generation counts
// replays of the delivery (0 for the original run), number counts attempts
// within a generation from 1. Writing the same attempt twice is an upsert.
func AttemptID(deliveryID string, generation, number int) string {
	return ids.Derive(ids.Attempt, deliveryID, strconv.Itoa(generation), strconv.Itoa(number))
}

// Outcome is how an attempt ended.
type Outcome string

// Attempt outcomes.
const (
	OutcomeDelivered        Outcome = "delivered"         // a success status
	OutcomeFailed           Outcome = "failed"            // another status
	OutcomeTimeout          Outcome = "timeout"           // no full response in time
	OutcomeConnectionError  Outcome = "connection_error"  // DNS, connect, TLS, reset
	OutcomeBlocked          Outcome = "blocked"           // the egress guard refused the address
	OutcomeCircuitOpen      Outcome = "circuit_open"      // not sent: the endpoint's breaker is open
	OutcomeEndpointDisabled Outcome = "endpoint_disabled" // not sent: the endpoint is disabled
)

// Outcomes lists every outcome.
var Outcomes = []Outcome{OutcomeDelivered, OutcomeFailed, OutcomeTimeout, OutcomeConnectionError, OutcomeBlocked, OutcomeCircuitOpen, OutcomeEndpointDisabled}

// Attempt records one try at a delivery.
type Attempt struct {
	ID            string        `json:"id"`
	DeliveryID    string        `json:"delivery_id"`
	EventID       string        `json:"event_id"`
	EventType     string        `json:"event_type"`
	EndpointID    string        `json:"endpoint_id"`
	TenantID      string        `json:"tenant_id,omitempty"`
	Generation    int           `json:"generation"`
	AttemptNumber int           `json:"attempt"`
	StartedAt     time.Time     `json:"started_at"`
	Duration      time.Duration `json:"duration"`
	StatusCode    int           `json:"status_code,omitempty"`
	Outcome       Outcome       `json:"outcome"`
	Error         string        `json:"error,omitempty"`
	// RequestHeaders are the headers sent, with secrets redacted.
	RequestHeaders  map[string]string `json:"request_headers,omitempty"`
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	// ResponseBody holds the first bytes of the response body (4 KiB by
	// default); ResponseBodySHA256 and ResponseBodySize describe all of it.
	ResponseBody       []byte     `json:"response_body,omitempty"`
	ResponseBodySHA256 string     `json:"response_body_sha256,omitempty"`
	ResponseBodySize   int64      `json:"response_body_size,omitempty"`
	NextRetryAt        *time.Time `json:"next_retry_at,omitempty"`
}

// Dead-letter reasons.
const (
	ReasonExhausted        = "exhausted"         // every retry failed
	ReasonEndpointDisabled = "endpoint_disabled" // the endpoint was disabled
	ReasonGone             = "gone"              // the endpoint answered 410
	ReasonMalformed        = "malformed"         // the Kafka message was not a valid event
	ReasonBlocked          = "blocked"           // the endpoint's address is not allowed
	ReasonEndpointDeleted  = "endpoint_deleted"  // the endpoint was deleted while a retry waited
)

// DeadLetter is a delivery hookd gave up on, kept with its payload so it
// can be replayed. Malformed messages have no endpoint: EndpointID is empty.
type DeadLetter struct {
	DeliveryID     string    `json:"delivery_id"`
	EventID        string    `json:"event_id"`
	EventType      string    `json:"event_type"`
	EndpointID     string    `json:"endpoint_id"`
	TenantID       string    `json:"tenant_id,omitempty"`
	Reason         string    `json:"reason"`
	LastError      string    `json:"last_error,omitempty"`
	LastStatusCode int       `json:"last_status_code,omitempty"`
	Attempts       int       `json:"attempts"`
	Generation     int       `json:"generation"`
	DeadAt         time.Time `json:"dead_at"`
	// Payload is the event as hookd received it (for a malformed message,
	// the raw bytes), so a replay sends exactly what would have been sent.
	Payload    []byte     `json:"payload"`
	ReplayedAt *time.Time `json:"replayed_at,omitempty"`
}

// Replay job states.
const (
	ReplayPending  = "pending"
	ReplayRunning  = "running"
	ReplayDone     = "done"
	ReplayFailed   = "failed"
	ReplayCanceled = "canceled"
)

// ReplayJob replays the dead letters matching Filter.
type ReplayJob struct {
	ID             string           `json:"id"`
	IdempotencyKey string           `json:"idempotency_key,omitempty"`
	Filter         DeadLetterFilter `json:"filter"`
	Force          bool             `json:"force"`
	State          string           `json:"state"`
	Total          int64            `json:"total"`
	Replayed       int64            `json:"replayed"`
	Skipped        int64            `json:"skipped"`
	Failed         int64            `json:"failed"`
	Error          string           `json:"error,omitempty"`
	CreatedBy      string           `json:"created_by,omitempty"`
	CreatedAt      time.Time        `json:"created_at"`
	UpdatedAt      time.Time        `json:"updated_at"`
	FinishedAt     *time.Time       `json:"finished_at,omitempty"`
}

// DeadLetterFilter selects dead letters; zero fields match everything.
type DeadLetterFilter struct {
	EndpointID string    `json:"endpoint_id,omitempty"`
	EventType  string    `json:"event_type,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	TenantID   string    `json:"tenant_id,omitempty"`
	Since      time.Time `json:"since,omitzero"`
	Until      time.Time `json:"until,omitzero"`
}

// AttemptFilter selects attempts; zero fields match everything. Since and
// Until bound StartedAt (Since inclusive, Until exclusive).
type AttemptFilter struct {
	EndpointID string
	EventType  string
	Outcome    Outcome
	TenantID   string
	Since      time.Time
	Until      time.Time
}
