package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/signature"
	"github.com/hookd/hookd/storage"
)

func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request) error {
	var in wire.EndpointInput
	if err := decodeJSON(r, w, s.opts.MaxBodyBytes, &in); err != nil {
		return err
	}
	if in.URL == nil || *in.URL == "" {
		return badField("url", "required")
	}
	if in.Version != 0 {
		return badField("version", "only for updates")
	}
	now := s.now().UTC()
	e := domain.Endpoint{
		ID: ids.New(ids.Endpoint), EventTypes: []string{"*"}, SigningScheme: domain.SchemeStandard,
		Enabled: true, CreatedBy: actor(r), UpdatedBy: actor(r),
	}
	applyInput(&e, &in)
	secret := in.Secret
	if secret == "" {
		secret = signature.GenerateSecret()
	} else if err := signature.ValidateSecret(secret); err != nil {
		return badField("secret", "%v", err)
	}
	e.Normalize()
	if err := e.Validate(); err != nil {
		return err
	}
	sec := domain.EndpointSecret{ID: ids.New(ids.Secret), EndpointID: e.ID, Value: secret, CreatedAt: now}
	if err := s.deps.Config.CreateEndpoint(r.Context(), &e, sec); err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/endpoints/"+e.ID)
	writeJSON(w, http.StatusCreated, wire.EndpointCreated{Endpoint: wire.EndpointFromDomain(e), Secret: secret})
	return nil
}

// applyInput sets the fields present in in.
func applyInput(e *domain.Endpoint, in *wire.EndpointInput) {
	if in.URL != nil {
		e.URL = *in.URL
	}
	if in.TenantID != nil {
		e.TenantID = *in.TenantID
	}
	if in.Description != nil {
		e.Description = *in.Description
	}
	if in.EventTypes != nil {
		e.EventTypes = *in.EventTypes
	}
	if in.Headers != nil {
		e.Headers = *in.Headers
	}
	if in.SigningScheme != nil {
		e.SigningScheme = *in.SigningScheme
	}
	if in.RetryPolicy != nil {
		e.RetryPolicy = in.RetryPolicy.Domain()
	}
	if in.RateLimit != nil {
		e.RateLimit = *in.RateLimit
	}
	if in.MaxConcurrency != nil {
		e.MaxConcurrency = *in.MaxConcurrency
	}
	if in.Timeout != nil {
		e.Timeout = time.Duration(*in.Timeout)
	}
	if in.SuccessStatusCodes != nil {
		e.SuccessStatusCodes = *in.SuccessStatusCodes
	}
	if in.Labels != nil {
		e.Labels = *in.Labels
	}
	if in.Enabled != nil {
		e.Enabled = *in.Enabled
		if e.Enabled {
			e.DisabledReason = ""
		}
	}
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	fields := map[string]string{}
	for name := range q {
		switch name {
		case "label", "tenant", "limit", "cursor":
		default:
			fields[name] = "unknown parameter (allowed: label, tenant, limit, cursor)"
		}
	}
	f := storage.EndpointFilter{TenantID: q.Get("tenant")}
	if f.TenantID != "" && domain.ValidateTenant(f.TenantID) != nil {
		fields["tenant"] = "not a valid tenant id"
	}
	if labels := q["label"]; len(labels) > 0 {
		if len(labels) > domain.MaxLabels {
			fields["label"] = "at most 50"
		}
		f.Labels = map[string]string{}
		for _, l := range labels {
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				k, v, ok = strings.Cut(l, "=")
			}
			if !ok || k == "" || len(k) > domain.MaxLabelKeyLength || len(v) > domain.MaxLabelValueLength {
				fields["label"] = "key:value (for example team:billing)"
				continue
			}
			f.Labels[k] = v
		}
	}
	if len(fields) > 0 {
		return badRequest("invalid query parameters", fields)
	}
	p, err := s.parseList(withOnly(r, "limit", "cursor"), "limit", "cursor")
	if err != nil {
		return err
	}
	page, err := s.deps.Config.ListEndpoints(r.Context(), f, p.Page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageOf(page, wire.EndpointFromDomain))
	return nil
}

// withOnly returns r with only the named query parameters kept.
func withOnly(r *http.Request, names ...string) *http.Request {
	q := r.URL.Query()
	kept := url.Values{}
	for _, n := range names {
		if v, ok := q[n]; ok {
			kept[n] = v
		}
	}
	r2 := *r
	u := *r.URL
	u.RawQuery = kept.Encode()
	r2.URL = &u
	return &r2
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (s *Server) endpointByPath(r *http.Request) (domain.Endpoint, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return domain.Endpoint{}, err
	}
	e, err := s.deps.Config.GetEndpoint(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return e, notFound("no endpoint %s", id)
	}
	return e, err
}

func (s *Server) getEndpoint(w http.ResponseWriter, r *http.Request) error {
	e, err := s.endpointByPath(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.EndpointFromDomain(e))
	return nil
}

func (s *Server) updateEndpoint(w http.ResponseWriter, r *http.Request) error {
	var in wire.EndpointInput
	if err := decodeJSON(r, w, s.opts.MaxBodyBytes, &in); err != nil {
		return err
	}
	if in.Secret != "" {
		return badField("secret", "secrets change with POST /v1/endpoints/{id}/rotate-secret")
	}
	// Without a version the change applies to whatever is current; a
	// concurrent writer only makes it read again, a few times.
	for try := 0; ; try++ {
		e, err := s.endpointByPath(r)
		if err != nil {
			return err
		}
		if in.Version != 0 && in.Version != e.Version {
			return &Error{
				Status: http.StatusConflict, Code: CodeConflict,
				Message: "the endpoint is at version " + itoa(e.Version) + ", not " + itoa(in.Version) + ": read it again and retry",
			}
		}
		applyInput(&e, &in)
		e.UpdatedBy = actor(r)
		e.Normalize()
		if err := e.Validate(); err != nil {
			return err
		}
		out, err := s.deps.Config.UpdateEndpoint(r.Context(), e)
		if errors.Is(err, storage.ErrConflict) && in.Version == 0 && try < 3 {
			continue
		}
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("no endpoint %s", e.ID)
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, wire.EndpointFromDomain(out))
		return nil
	}
}

func (s *Server) deleteEndpoint(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Config.DeleteEndpoint(r.Context(), id); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("no endpoint %s", id)
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) enableEndpoint(w http.ResponseWriter, r *http.Request) error {
	return s.setEnabled(w, r, true, "")
}

func (s *Server) disableEndpoint(w http.ResponseWriter, r *http.Request) error {
	var in wire.DisableRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, w, s.opts.MaxBodyBytes, &in); err != nil {
			return err
		}
	}
	if len(in.Reason) > 512 {
		return badField("reason", "at most 512 bytes")
	}
	if in.Reason == "" {
		in.Reason = "disabled by " + actor(r)
	}
	return s.setEnabled(w, r, false, in.Reason)
}

func (s *Server) setEnabled(w http.ResponseWriter, r *http.Request, enabled bool, reason string) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	e, err := s.deps.Config.SetEndpointEnabled(r.Context(), id, enabled, reason, actor(r))
	if errors.Is(err, storage.ErrNotFound) {
		return notFound("no endpoint %s", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.EndpointFromDomain(e))
	return nil
}

func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	var in wire.RotateSecretRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, w, s.opts.MaxBodyBytes, &in); err != nil {
			return err
		}
	}
	e, err := s.endpointByPath(r)
	if err != nil {
		return err
	}
	overlap := s.opts.SecretOverlap
	if in.ExpireOldIn != nil {
		overlap = time.Duration(*in.ExpireOldIn)
		if overlap < 0 || overlap > 30*24*time.Hour {
			return badField("expire_old_in", "from 0s to 720h")
		}
	}
	secret := in.Secret
	if secret == "" {
		secret = signature.GenerateSecret()
	} else if err := signature.ValidateSecret(secret); err != nil {
		return badField("secret", "%v", err)
	}
	now := s.now().UTC()
	oldExpires := now.Add(overlap)
	sec := domain.EndpointSecret{ID: ids.New(ids.Secret), EndpointID: e.ID, Value: secret, CreatedAt: now}
	if err := s.deps.Config.RotateSecret(r.Context(), e.ID, sec, oldExpires); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("no endpoint %s", e.ID)
		}
		return err
	}
	writeJSON(w, http.StatusOK, wire.RotateSecretResponse{Secret: secret, OldExpiresAt: oldExpires})
	return nil
}
