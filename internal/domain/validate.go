package domain

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidationError lists what is wrong with an input, field by field, so
// the API can answer with every problem at once.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.Fields[k]
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

type validator struct{ fields map[string]string }

func (v *validator) add(field, format string, args ...any) {
	if v.fields == nil {
		v.fields = map[string]string{}
	}
	if _, dup := v.fields[field]; !dup {
		v.fields[field] = fmt.Sprintf(format, args...)
	}
}

func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.fields}
}

var (
	eventTypeRe   = regexp.MustCompile(`^[a-z0-9_-]+(\.[a-z0-9_-]+)*$`)
	headerNameRe  = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	labelKeyRe    = regexp.MustCompile(`^[a-z0-9]([a-z0-9_./-]*[a-z0-9])?$`)
	tenantRe      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)
	reservedHeads = map[string]bool{
		"host": true, "content-length": true, "content-type": true, "transfer-encoding": true,
		"connection": true, "user-agent": true, "webhook-id": true, "webhook-timestamp": true,
		"webhook-signature": true, "stripe-signature": true, "x-hub-signature-256": true,
	}
)

// hasControl reports whether s holds a control character or invalid UTF-8.
func hasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.ContainsFunc(s, unicode.IsControl)
}

// NormalizeEventType lower-cases an event type or filter and trims it.
func NormalizeEventType(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// ValidEventType reports whether s is a valid (normalized) event type.
func ValidEventType(s string) bool {
	return len(s) <= MaxEventTypeLength && eventTypeRe.MatchString(s)
}

// ValidEventTypeFilter reports whether s is a valid (normalized) filter:
// an event type, a prefix ending in ".*", or "*".
func ValidEventTypeFilter(s string) bool {
	if s == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(s, ".*"); ok {
		return ValidEventType(prefix)
	}
	return ValidEventType(s)
}

// MatchEventType reports whether filter selects eventType: "*" matches
// everything, "order.*" matches "order.created" and "order.item.added"
// but not "order", and anything else must be equal.
func MatchEventType(filter, eventType string) bool {
	if filter == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(filter, "*"); ok {
		return strings.HasPrefix(eventType, prefix) && len(eventType) > len(prefix)
	}
	return filter == eventType
}

// Normalize puts user-supplied endpoint fields in their stored form:
// trimmed strings, lower-case event types without duplicates, the default
// signing scheme.
func (e *Endpoint) Normalize() {
	e.URL = strings.TrimSpace(e.URL)
	e.TenantID = strings.TrimSpace(e.TenantID)
	seen := map[string]bool{}
	types := e.EventTypes[:0:0]
	for _, t := range e.EventTypes {
		t = NormalizeEventType(t)
		if !seen[t] {
			seen[t] = true
			types = append(types, t)
		}
	}
	e.EventTypes = types
	e.SigningScheme = strings.ToLower(strings.TrimSpace(e.SigningScheme))
	if e.SigningScheme == "" {
		e.SigningScheme = SchemeStandard
	}
}

// Validate checks an endpoint as a user would send it. The error is a
// *ValidationError naming every bad field.
func (e *Endpoint) Validate() error {
	var v validator
	validateURL(&v, e.URL)
	if len(e.TenantID) > MaxTenantLength || (e.TenantID != "" && !tenantRe.MatchString(e.TenantID)) {
		v.add("tenant_id", "must be at most %d characters of letters, digits, '_', '.', ':' and '-'", MaxTenantLength)
	}
	if len(e.Description) > MaxDescriptionLength {
		v.add("description", "must be at most %d bytes", MaxDescriptionLength)
	} else if hasControl(strings.NewReplacer("\n", "", "\t", "").Replace(e.Description)) {
		v.add("description", "must not contain control characters")
	}
	switch {
	case len(e.EventTypes) == 0:
		v.add("event_types", "at least one event type or filter is required (use \"*\" for all)")
	case len(e.EventTypes) > MaxEventTypes:
		v.add("event_types", "at most %d filters", MaxEventTypes)
	default:
		for _, t := range e.EventTypes {
			if !ValidEventTypeFilter(t) {
				v.add("event_types", "%q is not an event type (letters, digits, '_', '-' in dot-separated parts), a prefix like \"order.*\", or \"*\"", truncate(t, 64))
				break
			}
		}
	}
	validateHeaders(&v, e.Headers)
	switch e.SigningScheme {
	case SchemeStandard, SchemeStripe, SchemeGitHub:
	default:
		v.add("signing_scheme", "%q is not one of %s, %s, %s", truncate(e.SigningScheme, 32), SchemeStandard, SchemeStripe, SchemeGitHub)
	}
	validateRetry(&v, e.RetryPolicy)
	if e.RateLimit < 0 || e.RateLimit > MaxRateLimit || e.RateLimit != e.RateLimit {
		v.add("rate_limit", "must be between 0 (no limit) and %d deliveries per second", MaxRateLimit)
	}
	if e.MaxConcurrency < 0 || e.MaxConcurrency > MaxConcurrencyLimit {
		v.add("max_concurrency", "must be between 0 (the default) and %d", MaxConcurrencyLimit)
	}
	if e.Timeout != 0 && (e.Timeout < MinTimeout || e.Timeout > MaxTimeout) {
		v.add("timeout", "must be between %s and %s (or 0 for the default)", MinTimeout, MaxTimeout)
	}
	if len(e.SuccessStatusCodes) > MaxSuccessCodes {
		v.add("success_status_codes", "at most %d codes", MaxSuccessCodes)
	}
	for _, c := range e.SuccessStatusCodes {
		if c < 100 || c > 599 {
			v.add("success_status_codes", "%d is not an HTTP status code", c)
			break
		}
	}
	if len(e.DisabledReason) > MaxDescriptionLength || hasControl(e.DisabledReason) {
		v.add("disabled_reason", "must be at most %d bytes without control characters", MaxDescriptionLength)
	}
	validateLabels(&v, e.Labels)
	return v.err()
}

func validateURL(v *validator, raw string) {
	if raw == "" {
		v.add("url", "is required")
		return
	}
	if len(raw) > MaxURLLength {
		v.add("url", "must be at most %d bytes", MaxURLLength)
		return
	}
	if hasControl(raw) || strings.ContainsAny(raw, " \\") {
		v.add("url", "must not contain spaces, backslashes or control characters")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		v.add("url", "is not a valid URL")
		return
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		v.add("url", "must start with http:// or https://")
	case u.User != nil:
		v.add("url", "must not embed credentials; use custom headers for authentication")
	case u.Hostname() == "":
		v.add("url", "must name a host")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		v.add("url", "must not have a fragment")
	}
}

func validateHeaders(v *validator, h map[string]string) {
	if len(h) > MaxHeaders {
		v.add("headers", "at most %d headers", MaxHeaders)
		return
	}
	for name, value := range h {
		switch {
		case name == "" || len(name) > MaxHeaderNameLength || !headerNameRe.MatchString(name):
			v.add("headers", "%q is not a valid header name", truncate(name, 64))
		case reservedHeads[strings.ToLower(name)]:
			v.add("headers", "%s is set by hookd and cannot be overridden", name)
		case len(value) > MaxHeaderValueLength:
			v.add("headers", "the value of %s must be at most %d bytes", name, MaxHeaderValueLength)
		case strings.ContainsFunc(value, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) || !utf8.ValidString(value):
			v.add("headers", "the value of %s must not contain control characters", name)
		default:
			continue
		}
		return
	}
}

func validateRetry(v *validator, p RetryPolicy) {
	if len(p.Schedule) > 0 && p.Exponential != nil {
		v.add("retry_policy", "give either a schedule or exponential settings, not both")
		return
	}
	if len(p.Schedule) > MaxRetrySchedule {
		v.add("retry_policy.schedule", "at most %d retries", MaxRetrySchedule)
		return
	}
	for i, d := range p.Schedule {
		if d < 0 || d > MaxRetryDelay {
			v.add("retry_policy.schedule", "retry %d: delay must be between 0 and %s", i+1, MaxRetryDelay)
			return
		}
	}
	if x := p.Exponential; x != nil {
		switch {
		case x.Min <= 0 || x.Min > MaxRetryDelay:
			v.add("retry_policy.exponential.min", "must be above 0 and at most %s", MaxRetryDelay)
		case x.Max < x.Min || x.Max > MaxRetryDelay:
			v.add("retry_policy.exponential.max", "must be at least min and at most %s", MaxRetryDelay)
		case x.Attempts < 1 || x.Attempts > MaxRetrySchedule:
			v.add("retry_policy.exponential.attempts", "must be between 1 and %d", MaxRetrySchedule)
		}
	}
}

func validateLabels(v *validator, labels map[string]string) {
	if len(labels) > MaxLabels {
		v.add("labels", "at most %d labels", MaxLabels)
		return
	}
	for k, val := range labels {
		if len(k) > MaxLabelKeyLength || !labelKeyRe.MatchString(k) {
			v.add("labels", "%q is not a valid label key (lower-case letters, digits, '_', '.', '/', '-')", truncate(k, 64))
			return
		}
		if len(val) > MaxLabelValueLength || hasControl(val) {
			v.add("labels", "the value of %s must be at most %d bytes without control characters", k, MaxLabelValueLength)
			return
		}
	}
}

// ValidateTenant checks a tenant id on its own (events and filters).
func ValidateTenant(tenant string) error {
	if tenant == "" || (len(tenant) <= MaxTenantLength && tenantRe.MatchString(tenant)) {
		return nil
	}
	return &ValidationError{Fields: map[string]string{"tenant_id": "not a valid tenant id"}}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
