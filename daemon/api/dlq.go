package api

import (
	"errors"
	"net/http"

	"github.com/hookd/hookd/daemon/dispatch"
	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/storage"
)

var dlqParams = []string{"endpoint", "event_type", "reason", "tenant", "since", "until", "limit", "cursor"}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Log == nil {
		return unavailable("the dead-letter queue")
	}
	p, err := s.parseList(r, dlqParams...)
	if err != nil {
		return err
	}
	if len(p.EndpointIDs) > 1 {
		return badField("endpoint", "one endpoint per list")
	}
	f := domain.DeadLetterFilter{EventType: p.EventType, Reason: p.Reason, TenantID: p.TenantID, Since: p.Since, Until: p.Until}
	if len(p.EndpointIDs) == 1 {
		f.EndpointID = p.EndpointIDs[0]
	}
	if f.EventType != "" && !domain.ValidEventType(f.EventType) {
		return badField("event_type", "an exact event type")
	}
	res, err := s.deps.Log.ListDeadLetters(r.Context(), f, p.Page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageOf(res, func(d domain.DeadLetter) wire.DeadLetter { return wire.DeadLetterFromDomain(d, false) }))
	return nil
}

// deadLetterByPath reads /v1/dlq/{endpoint_id}/{delivery_id}; "-" stands
// for the empty endpoint of a malformed message.
func (s *Server) deadLetterByPath(r *http.Request) (domain.DeadLetter, error) {
	if s.deps.Log == nil {
		return domain.DeadLetter{}, unavailable("the dead-letter queue")
	}
	ep, err := pathID(r, "endpoint_id")
	if err != nil {
		return domain.DeadLetter{}, err
	}
	del, err := pathID(r, "delivery_id")
	if err != nil {
		return domain.DeadLetter{}, err
	}
	if ep == "-" {
		ep = ""
	}
	dl, err := s.deps.Log.GetDeadLetter(r.Context(), ep, del)
	if errors.Is(err, storage.ErrNotFound) {
		return dl, notFound("no dead letter %s for endpoint %s", del, r.PathValue("endpoint_id"))
	}
	return dl, err
}

func (s *Server) getDeadLetter(w http.ResponseWriter, r *http.Request) error {
	dl, err := s.deadLetterByPath(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.DeadLetterFromDomain(dl, true))
	return nil
}

func (s *Server) discardDeadLetter(w http.ResponseWriter, r *http.Request) error {
	dl, err := s.deadLetterByPath(r)
	if err != nil {
		return err
	}
	if err := s.deps.Log.DiscardDeadLetter(r.Context(), dl.EndpointID, dl.DeliveryID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) replayDeadLetter(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Replays == nil {
		return unavailable("replaying")
	}
	dl, err := s.deadLetterByPath(r)
	if err != nil {
		return err
	}
	gen, err := s.deps.Replays.ReplayOne(r.Context(), dl)
	if errors.Is(err, dispatch.ErrNotReplayable) {
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error()}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, wire.ReplayOneResponse{DeliveryID: dl.DeliveryID, EndpointID: dl.EndpointID, Generation: gen})
	return nil
}

// checkFilter validates a bulk operation's filter.
func checkFilter(f wire.DeadLetterFilter) error {
	fields := map[string]string{}
	if f.EventType != "" && !domain.ValidEventType(domain.NormalizeEventType(f.EventType)) {
		fields["filter.event_type"] = "an exact event type"
	}
	if f.Reason != "" && !validReason(f.Reason) {
		fields["filter.reason"] = "unknown reason"
	}
	if f.TenantID != "" && domain.ValidateTenant(f.TenantID) != nil {
		fields["filter.tenant_id"] = "not a valid tenant id"
	}
	if len(f.EndpointID) > 256 {
		fields["filter.endpoint_id"] = "too long"
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		fields["filter.until"] = "must be after since"
	}
	if len(fields) > 0 {
		return badRequest("invalid filter", fields)
	}
	return nil
}

// maxDiscard bounds one discard-by-filter request; a larger cleanup is
// done in several requests (each answers how many it removed).
const maxDiscard = 100000

func (s *Server) discardDeadLetters(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Log == nil {
		return unavailable("the dead-letter queue")
	}
	var in wire.DiscardRequest
	if err := decodeJSON(r, w, s.opts.MaxBodyBytes, &in); err != nil {
		return err
	}
	if err := checkFilter(in.Filter); err != nil {
		return err
	}
	f := in.Filter.Domain()
	f.EventType = domain.NormalizeEventType(f.EventType)
	res := wire.DiscardResult{DryRun: in.DryRun}
	req := storage.PageRequest{Limit: storage.MaxPageSize}
	for res.Matched < maxDiscard {
		page, err := s.deps.Log.ListDeadLetters(r.Context(), f, req)
		if err != nil {
			return err
		}
		for _, dl := range page.Items {
			res.Matched++
			if in.DryRun {
				continue
			}
			if err := s.deps.Log.DiscardDeadLetter(r.Context(), dl.EndpointID, dl.DeliveryID); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			res.Discarded++
		}
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) startReplay(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Replays == nil {
		return unavailable("replaying")
	}
	idemKey := r.Header.Get("Idempotency-Key")
	if len(idemKey) > maxIdempotencyKey || hasControl(idemKey) {
		return badField("Idempotency-Key", "at most %d bytes of text", maxIdempotencyKey)
	}
	var in wire.ReplayRequest
	if err := decodeJSON(r, w, s.opts.MaxBodyBytes, &in); err != nil {
		return err
	}
	if err := checkFilter(in.Filter); err != nil {
		return err
	}
	f := in.Filter.Domain()
	f.EventType = domain.NormalizeEventType(f.EventType)
	if in.DryRun {
		matched, skipped, err := s.deps.Replays.DryRun(r.Context(), f, in.Force)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, wire.DryRunResult{DryRun: true, Matched: matched, Skipped: skipped})
		return nil
	}
	job := domain.ReplayJob{
		ID: ids.New(ids.ReplayJob), IdempotencyKey: idemKey, Filter: f, Force: in.Force,
		State: domain.ReplayPending, CreatedBy: actor(r), CreatedAt: s.now().UTC(),
	}
	stored, created, err := s.deps.Replays.Submit(r.Context(), job)
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if !created {
		status = http.StatusOK // the job an earlier request with this key started
	}
	w.Header().Set("Location", "/v1/replays/"+stored.ID)
	writeJSON(w, status, stored)
	return nil
}

func (s *Server) listReplays(w http.ResponseWriter, r *http.Request) error {
	p, err := s.parseList(r, "limit", "cursor")
	if err != nil {
		return err
	}
	res, err := s.deps.Config.ListReplayJobs(r.Context(), p.Page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageOf(res, func(j domain.ReplayJob) domain.ReplayJob { return j }))
	return nil
}

func (s *Server) getReplay(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	j, err := s.deps.Config.GetReplayJob(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return notFound("no replay job %s", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (s *Server) cancelReplay(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	j, err := s.deps.Config.CancelReplayJob(r.Context(), id, s.now().UTC())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return notFound("no replay job %s", id)
	case errors.Is(err, storage.ErrConflict):
		cur, gerr := s.deps.Config.GetReplayJob(r.Context(), id)
		if gerr == nil {
			return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "replay job " + id + " is already " + cur.State}
		}
		return err
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}
