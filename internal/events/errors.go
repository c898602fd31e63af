package events

import (
	"fmt"
	"unicode/utf8"
)

// Reasons a message is malformed. They are stable: dead letters carry
// them, operators filter on them and dashboards count them.
const (
	ReasonTooLarge               = "too_large"
	ReasonEmpty                  = "empty"
	ReasonInvalidUTF8            = "invalid_utf8"
	ReasonInvalidJSON            = "invalid_json"
	ReasonTooDeep                = "too_deep"
	ReasonInvalidEnvelope        = "invalid_envelope" // the value is JSON but not an object
	ReasonDuplicateField         = "duplicate_field"
	ReasonUnsupportedContentType = "unsupported_content_type"
	ReasonUnsupportedSpecVersion = "unsupported_specversion"
	ReasonMissingType            = "missing_type"
	ReasonInvalidType            = "invalid_type"
	ReasonInvalidID              = "invalid_id"
	ReasonInvalidSource          = "invalid_source"
	ReasonInvalidTime            = "invalid_time"
	ReasonInvalidTenant          = "invalid_tenant"
	ReasonMissingData            = "missing_data"
	ReasonInvalidData            = "invalid_data"
)

// Reasons lists every reason, for documentation and metrics
// pre-registration.
var Reasons = []string{
	ReasonTooLarge, ReasonEmpty, ReasonInvalidUTF8, ReasonInvalidJSON, ReasonTooDeep,
	ReasonInvalidEnvelope, ReasonDuplicateField, ReasonUnsupportedContentType,
	ReasonUnsupportedSpecVersion, ReasonMissingType, ReasonInvalidType, ReasonInvalidID,
	ReasonInvalidSource, ReasonInvalidTime, ReasonInvalidTenant, ReasonMissingData,
	ReasonInvalidData,
}

// MalformedError says why a message is not a valid event. Reason is one of
// the Reason constants; Detail is for people and may change between
// versions. Detail quotes at most a short, escaped prefix of what the
// producer sent, so it is safe to log.
type MalformedError struct {
	Reason string
	Detail string
}

func (e *MalformedError) Error() string {
	if e.Detail == "" {
		return "malformed event: " + e.Reason
	}
	return "malformed event: " + e.Reason + ": " + e.Detail
}

func malformed(reason, format string, args ...any) *MalformedError {
	return &MalformedError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// quote renders untrusted input for an error detail: escaped, and cut to
// a prefix so a hostile 1 MiB field does not become a 1 MiB log line.
func quote(s string) string {
	const maxLen = 64
	if len(s) <= maxLen {
		return fmt.Sprintf("%q", s)
	}
	cut := maxLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}
