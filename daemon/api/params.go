package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

// listParams are the filters and paging of the list and stream routes,
// parsed and checked.
type listParams struct {
	EndpointIDs []string
	EventType   string
	Outcome     string
	Reason      string
	TenantID    string
	Since       time.Time
	Until       time.Time
	Page        storage.PageRequest
}

const maxParamLength = 512

// parseList reads the query parameters named in allowed; any other
// parameter is an error, so that a typo does not silently match all.
func (s *Server) parseList(r *http.Request, allowed ...string) (listParams, error) {
	var p listParams
	q := r.URL.Query()
	fields := map[string]string{}
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	for name, vs := range q {
		if !ok[name] {
			fields[name] = "unknown parameter (allowed: " + strings.Join(allowed, ", ") + ")"
			continue
		}
		for _, v := range vs {
			if len(v) > maxParamLength {
				fields[name] = "too long"
			}
		}
		if len(vs) > 1 && name != "endpoint" {
			fields[name] = "given more than once"
		}
	}
	if len(fields) > 0 {
		return p, badRequest("invalid query parameters", fields)
	}
	now := s.now()
	for _, id := range q["endpoint"] {
		if id != "" {
			p.EndpointIDs = append(p.EndpointIDs, id)
		}
	}
	if len(p.EndpointIDs) > 100 {
		fields["endpoint"] = "at most 100"
	}
	if v := q.Get("event_type"); v != "" {
		v = domain.NormalizeEventType(v)
		if !domain.ValidEventTypeFilter(v) {
			fields["event_type"] = "not an event type or pattern (like order.created, order.*, *)"
		}
		p.EventType = v
	}
	if v := q.Get("outcome"); v != "" {
		if !validOutcome(v) {
			fields["outcome"] = "one of " + outcomeList()
		}
		p.Outcome = v
	}
	if v := q.Get("reason"); v != "" {
		if !validReason(v) {
			fields["reason"] = "one of " + strings.Join(reasons, ", ")
		}
		p.Reason = v
	}
	if v := q.Get("tenant"); v != "" {
		if domain.ValidateTenant(v) != nil {
			fields["tenant"] = "not a valid tenant id"
		}
		p.TenantID = v
	}
	var err error
	if p.Since, err = parseTimeParam(q.Get("since"), now); err != nil {
		fields["since"] = err.Error()
	}
	if p.Until, err = parseTimeParam(q.Get("until"), now); err != nil {
		fields["until"] = err.Error()
	}
	if !p.Since.IsZero() && !p.Until.IsZero() && !p.Until.After(p.Since) {
		fields["until"] = "must be after since"
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > storage.MaxPageSize {
			fields["limit"] = "a number from 1 to " + strconv.Itoa(storage.MaxPageSize)
		}
		p.Page.Limit = n
	}
	p.Page.Cursor = q.Get("cursor")
	if len(fields) > 0 {
		return p, badRequest("invalid query parameters", fields)
	}
	return p, nil
}

// parseTimeParam reads an RFC 3339 time or a duration back from now
// ("90m" means 90 minutes ago).
func parseTimeParam(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 || d > 10*365*24*time.Hour {
			return time.Time{}, errBadTime
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errBadTime
	}
	return t.UTC(), nil
}

var errBadTime = &timeError{}

type timeError struct{}

func (*timeError) Error() string {
	return "an RFC 3339 time (2026-01-02T15:04:05Z) or a duration back from now (90m, 24h)"
}

func validOutcome(v string) bool {
	for _, o := range domain.Outcomes {
		if string(o) == v {
			return true
		}
	}
	return false
}

func outcomeList() string {
	s := make([]string, len(domain.Outcomes))
	for i, o := range domain.Outcomes {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

var reasons = []string{
	domain.ReasonExhausted, domain.ReasonEndpointDisabled, domain.ReasonGone, domain.ReasonMalformed,
	domain.ReasonBlocked, domain.ReasonEndpointDeleted,
}

func validReason(v string) bool {
	for _, r := range reasons {
		if r == v {
			return true
		}
	}
	return false
}

// pathID reads a path parameter, refusing absurd values before any lookup.
func pathID(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	if v == "" || len(v) > 256 {
		return "", badField(name, "must be 1 to 256 characters")
	}
	for _, c := range v {
		if c < 0x21 || c == 0x7f {
			return "", badField(name, "must not contain spaces or control characters")
		}
	}
	return v, nil
}

// pageOf converts a store page.
func pageOf[T, U any](p storage.Page[T], conv func(T) U) pageBody[U] {
	out := pageBody[U]{Items: make([]U, 0, len(p.Items)), NextCursor: p.NextCursor}
	for _, it := range p.Items {
		out.Items = append(out.Items, conv(it))
	}
	return out
}

type pageBody[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}
