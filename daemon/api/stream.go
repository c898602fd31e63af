package api

import (
	"net/http"
)

var streamParams = []string{"endpoint", "event_type", "outcome", "tenant", "last_event_id"}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Stream == nil {
		return unavailable("the live stream")
	}
	p, err := s.parseList(withOnly(r, "endpoint", "event_type", "outcome", "tenant"), streamParams...)
	if err != nil {
		return err
	}
	for name := range r.URL.Query() {
		if !contains(streamParams, name) {
			return badField(name, "unknown parameter (allowed: endpoint, event_type, outcome, tenant, last_event_id)")
		}
	}
	s.deps.Stream.Serve(w, r, StreamFilter{EndpointIDs: p.EndpointIDs, EventType: p.EventType, Outcome: p.Outcome, TenantID: p.TenantID})
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
