package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

// Errors every implementation returns (wrapped or not; test with errors.Is).
var (
	// ErrNotFound: no such endpoint, key, job or dead letter.
	ErrNotFound = errors.New("not found")
	// ErrConflict: an update named a version that is no longer current, or
	// a create reused an id.
	ErrConflict = errors.New("conflict: the record was changed by someone else; read it again and retry")
	// ErrInvalidCursor: a page cursor that this store did not make, or one
	// made for another list or filter.
	ErrInvalidCursor = errors.New("invalid page cursor")
	// ErrInvalidRecord: a log record that can never be stored (no id, no
	// time). The valid records of the same call are stored; a caller that
	// gets only this error has nothing to retry.
	ErrInvalidRecord = errors.New("invalid record")
)

// DefaultPageSize and MaxPageSize bound list pages.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// Page is one page of a list. NextCursor is empty on the last page, and
// only then: a store that bounds the work of one page may return a short,
// even empty, page with a cursor to go on.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// PageRequest asks for a page: Limit items (DefaultPageSize when 0, capped
// at MaxPageSize) after Cursor (empty for the first page).
type PageRequest struct {
	Limit  int
	Cursor string
}

// Size returns the effective page size.
func (p PageRequest) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageSize
	case p.Limit > MaxPageSize:
		return MaxPageSize
	}
	return p.Limit
}

// EncodeCursor makes an opaque cursor from a store's own position value.
func EncodeCursor(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("storage: cursor not encodable: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor made by EncodeCursor into v; anything else
// gives ErrInvalidCursor.
func DecodeCursor(cursor string, v any) error {
	if len(cursor) > 4096 {
		return ErrInvalidCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return ErrInvalidCursor
	}
	if err := json.Unmarshal(b, v); err != nil {
		return ErrInvalidCursor
	}
	return nil
}

// EndpointFilter selects endpoints in lists. Labels match when the
// endpoint has every key with the same value.
type EndpointFilter struct {
	TenantID string
	Labels   map[string]string
}

// ConfigStore keeps endpoint configuration, secrets, API keys and replay
// jobs: small, transactional data (PostgreSQL in production).
type ConfigStore interface {
	EndpointStore
	APIKeyStore
	ReplayJobStore
	EventKeyStore
	// CheckEncryptionKey proves the store's encryption key opens the
	// secrets already stored (the first call on an empty store records a
	// check value). A daemon calls it at start and refuses to run on error.
	CheckEncryptionKey(ctx context.Context) error
}

// ErrWrongEncryptionKey: the secrets were stored under another key.
var ErrWrongEncryptionKey = errors.New("HOOKD_ENCRYPTION_KEY does not match the key the stored secrets were encrypted with")

// EndpointStore keeps endpoints and their signing secrets.
type EndpointStore interface {
	// CreateEndpoint stores a new endpoint (its ID set by the caller) with
	// its first signing secret. It sets CreatedAt, UpdatedAt and Version 1.
	// An endpoint that fails domain validation is refused with the
	// *domain.ValidationError and nothing is written (CreateEndpoint and
	// UpdateEndpoint both check, whatever the caller did).
	CreateEndpoint(ctx context.Context, e *domain.Endpoint, secret domain.EndpointSecret) error
	GetEndpoint(ctx context.Context, id string) (domain.Endpoint, error)
	// ListEndpoints pages through endpoints in id order.
	ListEndpoints(ctx context.Context, f EndpointFilter, p PageRequest) (Page[domain.Endpoint], error)
	// UpdateEndpoint replaces the mutable fields of e.ID if e.Version is the
	// stored version (else ErrConflict), and returns the stored result with
	// Version incremented and UpdatedAt set.
	UpdateEndpoint(ctx context.Context, e domain.Endpoint) (domain.Endpoint, error)
	// SetEndpointEnabled enables or disables an endpoint whatever its
	// version (the daemon disables endpoints on its own: 410, sustained
	// failure). reason is kept while disabled and cleared on enable.
	SetEndpointEnabled(ctx context.Context, id string, enabled bool, reason, by string) (domain.Endpoint, error)
	// DeleteEndpoint removes an endpoint and its secrets.
	DeleteEndpoint(ctx context.Context, id string) error
	// EachEndpoint calls fn for every endpoint, for full index reloads.
	EachEndpoint(ctx context.Context, fn func(domain.Endpoint) error) error

	// RotateSecret adds secret as the endpoint's newest and makes every
	// older secret that would outlive oldExpiresAt expire then.
	RotateSecret(ctx context.Context, endpointID string, secret domain.EndpointSecret, oldExpiresAt time.Time) error
	// ActiveSecrets returns the secrets that sign at time now, newest first.
	ActiveSecrets(ctx context.Context, endpointID string, now time.Time) ([]domain.EndpointSecret, error)
}

// EndpointWatcher reports endpoint changes, so the subscription index
// stays current without polling.
type EndpointWatcher interface {
	// WatchEndpoints calls onChange with the id of every endpoint created,
	// updated, deleted or given a new secret after ready is called, until ctx ends or the
	// watch breaks (then it returns the error; the caller reloads in full
	// and watches again).
	WatchEndpoints(ctx context.Context, ready func(), onChange func(endpointID string)) error
}

// APIKeyStore keeps API keys (hashes, never keys).
type APIKeyStore interface {
	CreateAPIKey(ctx context.Context, k domain.APIKey) error
	// APIKeyByHash finds a key by the hash of its secret; revoked keys are
	// returned too (with RevokedAt set) so callers can say why they refuse.
	APIKeyByHash(ctx context.Context, hash []byte) (domain.APIKey, error)
	ListAPIKeys(ctx context.Context, p PageRequest) (Page[domain.APIKey], error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// TouchAPIKey records a use of the key.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// ReplayJobStore keeps bulk replay jobs.
type ReplayJobStore interface {
	// CreateReplayJob stores job, unless a job with the same non-empty
	// IdempotencyKey exists: then that job is returned and created is false.
	CreateReplayJob(ctx context.Context, job domain.ReplayJob) (stored domain.ReplayJob, created bool, err error)
	GetReplayJob(ctx context.Context, id string) (domain.ReplayJob, error)
	// UpdateReplayJob stores the job's state, counters, error and times,
	// and sets UpdatedAt (a heartbeat: see ClaimStaleReplayJob). A job
	// already in a final state (done, failed, canceled) is not changed:
	// the call returns ErrConflict, which is how a runner learns that its
	// job was canceled.
	UpdateReplayJob(ctx context.Context, job domain.ReplayJob) error
	// ListReplayJobs pages through jobs, newest first.
	ListReplayJobs(ctx context.Context, p PageRequest) (Page[domain.ReplayJob], error)
	// CancelReplayJob moves a pending or running job to canceled (setting
	// FinishedAt) and returns it; a job already final gives ErrConflict.
	CancelReplayJob(ctx context.Context, id string, at time.Time) (domain.ReplayJob, error)
	// ClaimStaleReplayJob takes over one pending or running job not
	// updated since staleBefore (its runner died), oldest first: it sets
	// the job's UpdatedAt to now and returns it, and claimed is false when
	// there is none. Two callers never claim the same job.
	ClaimStaleReplayJob(ctx context.Context, staleBefore, now time.Time) (job domain.ReplayJob, claimed bool, err error)
}

// EventKeyStore remembers which keys (Idempotency-Key headers, event ids)
// POST /v1/events has published, so a repeated request publishes nothing.
type EventKeyStore interface {
	// ClaimEventKey records that key publishes eventID, valid until
	// expiresAt. If key is held by an unexpired claim, nothing changes and
	// that claim's event id is returned with claimed false. An expired
	// claim is replaced.
	ClaimEventKey(ctx context.Context, key, eventID string, now, expiresAt time.Time) (firstEventID string, claimed bool, err error)
	// ReleaseEventKey drops key's claim if it is still held for eventID
	// (the publish it guarded failed, so a retry must be able to publish).
	ReleaseEventKey(ctx context.Context, key, eventID string) error
}

// MaxEventKeyBytes bounds the keys of an EventKeyStore. The API refuses
// longer keys before they reach a store; stores refuse them too (see
// CheckEventKey), so no backend silently truncates or rejects them with a
// database error.
const MaxEventKeyBytes = 255

// ErrInvalidEventKey: an event key that is empty or longer than
// MaxEventKeyBytes.
var ErrInvalidEventKey = errors.New("invalid event key")

// CheckEventKey returns an error wrapping ErrInvalidEventKey unless key
// can be stored by an EventKeyStore.
func CheckEventKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidEventKey)
	case len(key) > MaxEventKeyBytes:
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidEventKey, len(key), MaxEventKeyBytes)
	}
	return nil
}

// LogStore keeps the delivery log and the dead-letter queue: append-mostly
// time series with a retention (Cassandra in production).
type LogStore interface {
	AttemptLog
	DeadLetterStore
}

// AttemptLog keeps every delivery attempt for its retention period. Times
// are kept to the millisecond and durations to the nanosecond; retention
// counts from the record's own time (StartedAt, DeadAt), so a writer
// catching up after an outage does not extend it. Event-type filters match
// exactly.
type AttemptLog interface {
	// WriteAttempts stores attempts; writing an attempt again (same ID) is
	// an upsert, so retried writes never duplicate.
	WriteAttempts(ctx context.Context, attempts []domain.Attempt) error
	// ListAttempts pages through attempts matching f, newest first.
	ListAttempts(ctx context.Context, f domain.AttemptFilter, p PageRequest) (Page[domain.Attempt], error)
	// DeliveryAttempts returns all attempts of one delivery, oldest first
	// (none, not an error, for an unknown delivery).
	DeliveryAttempts(ctx context.Context, deliveryID string) ([]domain.Attempt, error)
	// EventDeliveries returns the deliveries an event's attempts belong
	// to, each once, ordered by delivery id (none for an unknown event).
	// At most MaxEventDeliveries are returned.
	EventDeliveries(ctx context.Context, eventID string) ([]EventDelivery, error)
}

// MaxEventDeliveries bounds EventDeliveries.
const MaxEventDeliveries = 10000

// EventDelivery names one delivery of an event.
type EventDelivery struct {
	DeliveryID string `json:"delivery_id"`
	EndpointID string `json:"endpoint_id"`
}

// DeadLetterStore keeps the dead-letter queue.
type DeadLetterStore interface {
	// PutDeadLetters stores dead letters; a dead letter is keyed by its
	// endpoint and delivery id, so storing it again is an upsert.
	PutDeadLetters(ctx context.Context, dls []domain.DeadLetter) error
	GetDeadLetter(ctx context.Context, endpointID, deliveryID string) (domain.DeadLetter, error)
	// ListDeadLetters pages through dead letters matching f, newest first.
	ListDeadLetters(ctx context.Context, f domain.DeadLetterFilter, p PageRequest) (Page[domain.DeadLetter], error)
	// MarkReplayed records that a dead letter was replayed at time at.
	MarkReplayed(ctx context.Context, endpointID, deliveryID string, at time.Time) error
	// DiscardDeadLetter removes a dead letter (an operator's decision, not
	// the delivery hot path).
	DiscardDeadLetter(ctx context.Context, endpointID, deliveryID string) error
}

// Retention says how long the log keeps its records. Attempts that
// delivered and attempts that failed can be kept for different times.
type Retention struct {
	Delivered   time.Duration
	Failed      time.Duration
	DeadLetters time.Duration
}

// DefaultRetention keeps successes for a week and failures and dead
// letters for a month.
var DefaultRetention = Retention{
	Delivered:   7 * 24 * time.Hour,
	Failed:      30 * 24 * time.Hour,
	DeadLetters: 30 * 24 * time.Hour,
}

// For returns the retention of an attempt with the given outcome.
func (r Retention) For(o domain.Outcome) time.Duration {
	if o == domain.OutcomeDelivered {
		return r.Delivered
	}
	return r.Failed
}
