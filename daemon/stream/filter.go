package stream

import (
	"errors"
	"slices"

	"github.com/hookd/hookd/internal/domain"
)

// Filter selects the attempts a client receives; zero fields match
// everything. Its fields are those of the API's stream filter, in the same
// order, so that one converts to the other.
type Filter struct {
	// EndpointIDs: any of these endpoints.
	EndpointIDs []string
	// EventType is an exact type ("order.created"), a prefix ("order.*")
	// or "*", matched as endpoint subscriptions are (domain.MatchEventType),
	// without regard to case.
	EventType string
	// Outcome is a domain.Outcome, such as "delivered".
	Outcome string
	// TenantID: only this tenant's attempts.
	TenantID string
}

// Validate reports a filter that could never match anything because it is
// malformed, such as an event type pattern "order*".
func (f Filter) Validate() error {
	if f.EventType != "" && !domain.ValidEventTypeFilter(domain.NormalizeEventType(f.EventType)) {
		return errors.New("event type filter must be a type, a prefix like order.* or *")
	}
	if f.Outcome != "" && !slices.Contains(domain.Outcomes, domain.Outcome(f.Outcome)) {
		return errors.New("unknown outcome " + f.Outcome)
	}
	return nil
}

// Match reports whether f selects a.
func (f Filter) Match(a *domain.Attempt) bool {
	return f.match(a.EndpointID, a.EventType, string(a.Outcome), a.TenantID)
}

// normalized returns f with its event type in the stored (lower-case)
// form, so that matching on the publish path allocates nothing.
func (f Filter) normalized() Filter {
	f.EventType = domain.NormalizeEventType(f.EventType)
	return f
}

// match is Match on the fields a ring entry keeps once it has dropped the
// attempt for its encoded frame.
func (f Filter) match(endpointID, eventType, outcome, tenantID string) bool {
	if f.TenantID != "" && f.TenantID != tenantID {
		return false
	}
	if f.Outcome != "" && f.Outcome != outcome {
		return false
	}
	if len(f.EndpointIDs) > 0 && !slices.Contains(f.EndpointIDs, endpointID) {
		return false
	}
	if f.EventType == "" {
		return true
	}
	// Stored types are lower-case; normalizing costs nothing when the
	// filter already is (Serve normalizes it once per client).
	return domain.MatchEventType(domain.NormalizeEventType(f.EventType), eventType)
}
