// Package domain holds the types hookd's daemon, API and stores share:
// endpoints and their secrets, API keys, events, deliveries, attempts,
// dead letters and replay jobs, with the validation rules for what users
// send.
package domain

import (
	"time"
)

// Signing schemes an endpoint can use.
const (
	SchemeStandard = "standard" // Standard Webhooks (the default)
	SchemeStripe   = "stripe"
	SchemeGitHub   = "github"
)

// Limits on endpoint fields. They keep a single row, and the index built
// from all rows, of a predictable size.
const (
	MaxURLLength         = 2048
	MaxDescriptionLength = 1024
	MaxEventTypes        = 100
	MaxEventTypeLength   = 255
	MaxHeaders           = 50
	MaxHeaderNameLength  = 128
	MaxHeaderValueLength = 4096
	MaxLabels            = 50
	MaxLabelKeyLength    = 63
	MaxLabelValueLength  = 255
	MaxTenantLength      = 128
	MaxRetrySchedule     = 50
	MaxRetryDelay        = 7 * 24 * time.Hour
	MaxRateLimit         = 10000
	MaxConcurrencyLimit  = 1000
	MinTimeout           = time.Second
	MaxTimeout           = 120 * time.Second
	MaxSuccessCodes      = 50
)

// Endpoint is an HTTP destination and what it subscribes to.
type Endpoint struct {
	ID          string `json:"id"`
	TenantID    string `json:"tenant_id,omitempty"`
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
	// EventTypes are filters: exact types ("order.created"), prefixes
	// ("order.*") or everything ("*"). Stored lower-case.
	EventTypes []string          `json:"event_types"`
	Headers    map[string]string `json:"headers,omitempty"`
	// SigningScheme is one of SchemeStandard, SchemeStripe, SchemeGitHub.
	SigningScheme string      `json:"signing_scheme"`
	RetryPolicy   RetryPolicy `json:"retry_policy"`
	// RateLimit is the most deliveries per second; 0 means no limit.
	RateLimit float64 `json:"rate_limit,omitempty"`
	// MaxConcurrency bounds in-flight deliveries; 0 means the daemon default.
	MaxConcurrency int `json:"max_concurrency,omitempty"`
	// Timeout bounds one attempt; 0 means the daemon default.
	Timeout time.Duration `json:"timeout,omitempty"`
	// SuccessStatusCodes are the statuses that count as delivered; empty
	// means any 2xx.
	SuccessStatusCodes []int             `json:"success_status_codes,omitempty"`
	Enabled            bool              `json:"enabled"`
	DisabledReason     string            `json:"disabled_reason,omitempty"`
	Labels             map[string]string `json:"labels,omitempty"`
	CreatedBy          string            `json:"created_by,omitempty"`
	UpdatedBy          string            `json:"updated_by,omitempty"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
	// Version increases with every update; an update naming an older
	// version is refused (optimistic concurrency).
	Version int64 `json:"version"`
}

// RetryPolicy overrides the default retry schedule. At most one of
// Schedule and Exponential is set; neither means the default.
type RetryPolicy struct {
	// Schedule lists the delay before each retry.
	Schedule    []time.Duration   `json:"schedule,omitempty"`
	Exponential *ExponentialRetry `json:"exponential,omitempty"`
}

// ExponentialRetry doubles the delay from Min up to Max, for Attempts
// retries.
type ExponentialRetry struct {
	Min      time.Duration `json:"min"`
	Max      time.Duration `json:"max"`
	Attempts int           `json:"attempts"`
}

// IsDefault reports whether the policy leaves the default schedule.
func (p RetryPolicy) IsDefault() bool {
	return len(p.Schedule) == 0 && p.Exponential == nil
}

// IsSuccess reports whether an HTTP status counts as delivered for e.
func (e *Endpoint) IsSuccess(status int) bool {
	if len(e.SuccessStatusCodes) == 0 {
		return status >= 200 && status <= 299
	}
	for _, c := range e.SuccessStatusCodes {
		if c == status {
			return true
		}
	}
	return false
}

// EndpointSecret is one signing secret of an endpoint. While secrets are
// rotated, several are active at once and each signs every delivery.
type EndpointSecret struct {
	ID         string `json:"id"`
	EndpointID string `json:"endpoint_id"`
	// Value is the secret as users see it: "whsec_" and base64 key bytes.
	Value     string     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Active reports whether the secret still signs at time now.
func (s EndpointSecret) Active(now time.Time) bool {
	return s.ExpiresAt == nil || now.Before(*s.ExpiresAt)
}
