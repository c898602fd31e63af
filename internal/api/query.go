package api

import (
	"net/url"
	"strconv"
	"time"
)

// Query parameters of the list and stream routes.
const (
	ParamEndpoint  = "endpoint"
	ParamEventType = "event_type"
	ParamOutcome   = "outcome"
	ParamReason    = "reason"
	ParamTenant    = "tenant"
	ParamSince     = "since" // RFC 3339, or a duration back from now ("1h")
	ParamUntil     = "until" // RFC 3339, or a duration back from now
	ParamLabel     = "label" // key:value, repeatable
	ParamLimit     = "limit"
	ParamCursor    = "cursor"
	ParamWindow    = "window"
)

// ListQuery filters and pages a list (attempts, deliveries, the
// dead-letter queue) or a stream. Zero fields are left out.
type ListQuery struct {
	EndpointID string
	EventType  string
	Outcome    string
	Reason     string
	TenantID   string
	Since      time.Time
	Until      time.Time
	Limit      int
	Cursor     string
}

// Values encodes q.
func (q ListQuery) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set(ParamEndpoint, q.EndpointID)
	set(ParamEventType, q.EventType)
	set(ParamOutcome, q.Outcome)
	set(ParamReason, q.Reason)
	set(ParamTenant, q.TenantID)
	if !q.Since.IsZero() {
		v.Set(ParamSince, q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set(ParamUntil, q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set(ParamLimit, strconv.Itoa(q.Limit))
	}
	set(ParamCursor, q.Cursor)
	return v
}
