package api

import (
	"net/http"

	"golang.org/x/sync/errgroup"

	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

var attemptParams = []string{"endpoint", "event_type", "outcome", "tenant", "since", "until", "limit", "cursor"}

func (s *Server) attemptFilter(r *http.Request) (domain.AttemptFilter, storage.PageRequest, error) {
	p, err := s.parseList(r, attemptParams...)
	if err != nil {
		return domain.AttemptFilter{}, p.Page, err
	}
	if len(p.EndpointIDs) > 1 {
		return domain.AttemptFilter{}, p.Page, badField("endpoint", "one endpoint per list (the stream takes several)")
	}
	f := domain.AttemptFilter{EventType: p.EventType, Outcome: domain.Outcome(p.Outcome), TenantID: p.TenantID, Since: p.Since, Until: p.Until}
	if len(p.EndpointIDs) == 1 {
		f.EndpointID = p.EndpointIDs[0]
	}
	if f.EventType != "" && !domain.ValidEventType(f.EventType) {
		return f, p.Page, badField("event_type", "an exact event type (patterns are for the stream)")
	}
	return f, p.Page, nil
}

func (s *Server) listAttempts(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Log == nil {
		return unavailable("the delivery log")
	}
	f, page, err := s.attemptFilter(r)
	if err != nil {
		return err
	}
	res, err := s.deps.Log.ListAttempts(r.Context(), f, page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageOf(res, wire.AttemptFromDomain))
	return nil
}

// listDeliveries lists deliveries by their attempts, newest first: each
// delivery appears once per page, with the newest attempt of the page as
// its state. A delivery with attempts on two pages can appear on both.
func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Log == nil {
		return unavailable("the delivery log")
	}
	f, page, err := s.attemptFilter(r)
	if err != nil {
		return err
	}
	res, err := s.deps.Log.ListAttempts(r.Context(), f, page)
	if err != nil {
		return err
	}
	out := pageBody[wire.Delivery]{Items: []wire.Delivery{}, NextCursor: res.NextCursor}
	seen := map[string]bool{}
	for _, a := range res.Items {
		if seen[a.DeliveryID] {
			continue
		}
		seen[a.DeliveryID] = true
		wa := wire.AttemptFromDomain(a)
		out.Items = append(out.Items, wire.Delivery{
			DeliveryID: a.DeliveryID, EventID: a.EventID, EventType: a.EventType, EndpointID: a.EndpointID,
			State: wire.DeliveryState(wa), Attempts: []wire.Attempt{wa},
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) delivery(r *http.Request, deliveryID string) (wire.Delivery, bool, error) {
	atts, err := s.deps.Log.DeliveryAttempts(r.Context(), deliveryID)
	if err != nil || len(atts) == 0 {
		return wire.Delivery{}, false, err
	}
	d := wire.Delivery{DeliveryID: deliveryID, EventID: atts[0].EventID, EventType: atts[0].EventType, EndpointID: atts[0].EndpointID}
	for _, a := range atts {
		d.Attempts = append(d.Attempts, wire.AttemptFromDomain(a))
	}
	d.State = wire.DeliveryState(d.Attempts[len(d.Attempts)-1])
	return d, true, nil
}

func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Log == nil {
		return unavailable("the delivery log")
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, ok, err := s.delivery(r, id)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("no attempts of delivery %s (unknown, not attempted yet, or past its retention)", id)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Log == nil {
		return unavailable("the delivery log")
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	dels, err := s.deps.Log.EventDeliveries(r.Context(), id)
	if err != nil {
		return err
	}
	if len(dels) == 0 {
		return notFound("no deliveries of event %s yet (unknown, not attempted yet, or past its retention)", id)
	}
	// One read per delivery, a few at a time: an event sent to many
	// endpoints should not take as many round trips in a row.
	found := make([]*wire.Delivery, len(dels))
	g, _ := errgroup.WithContext(r.Context())
	g.SetLimit(8)
	for i, ed := range dels {
		g.Go(func() error {
			d, ok, err := s.delivery(r, ed.DeliveryID)
			if ok {
				found[i] = &d
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	out := wire.EventStatus{EventID: id, Deliveries: []wire.Delivery{}}
	for _, d := range found {
		if d != nil {
			out.Deliveries = append(out.Deliveries, *d)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
