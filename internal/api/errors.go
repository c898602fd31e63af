package api

import (
	"fmt"
	"sort"
	"strings"
)

// Error codes in error bodies.
const (
	CodeInvalidRequest       = "invalid_request"        // 400; Fields names the bad ones
	CodeUnauthorized         = "unauthorized"           // 401: no key, an unknown or a revoked key
	CodeForbidden            = "forbidden"              // 403: the key lacks the scope
	CodeNotFound             = "not_found"              // 404
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeConflict             = "conflict"               // 409: a stale version, a job that cannot change state
	CodePayloadTooLarge      = "payload_too_large"      // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeUnavailable          = "unavailable"            // 503: a dependency is down; retry later
	CodeInternal             = "internal"               // 500
)

// ErrorBody is the body of every error response:
//
//	{"error":{"code":"invalid_request","message":"...","fields":{"url":"..."}}}
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error is an API error, as sent and as a client returns it.
type Error struct {
	// Status is the HTTP status (not sent in the body).
	Status    int               `json:"-"`
	Code      string            `json:"code"`
	Message   string            `json:"message"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

// Error implements error: the message, then each bad field.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if b.Len() == 0 {
		fmt.Fprintf(&b, "HTTP %d", e.Status)
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %s: %s", k, e.Fields[k])
	}
	return b.String()
}
