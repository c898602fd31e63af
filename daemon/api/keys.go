package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apikey"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/storage"
)

// ValidateKeyRequest checks a key's name and scopes (shared with
// `hookd keys create`).
func ValidateKeyRequest(name string, scopes []string) error {
	fields := map[string]string{}
	if strings.TrimSpace(name) == "" || len(name) > 128 || hasControl(name) {
		fields["name"] = "required: 1 to 128 characters of text"
	}
	if len(scopes) == 0 {
		fields["scopes"] = "at least one of " + strings.Join(domain.Scopes, ", ")
	}
	for _, sc := range scopes {
		if !slices.Contains(domain.Scopes, sc) {
			fields["scopes"] = "unknown scope " + truncate(sc, 40) + " (known: " + strings.Join(domain.Scopes, ", ") + ")"
		}
	}
	if len(fields) > 0 {
		return badRequest("invalid API key request", fields)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	var in wire.CreateKeyRequest
	if err := decodeJSON(r, w, s.opts.MaxBodyBytes, &in); err != nil {
		return err
	}
	if err := ValidateKeyRequest(in.Name, in.Scopes); err != nil {
		return err
	}
	key, hash, err := apikey.Generate()
	if err != nil {
		return err
	}
	k := domain.APIKey{
		ID: ids.New(ids.APIKey), Name: in.Name, Hash: hash, Scopes: slices.Compact(slices.Sorted(slices.Values(in.Scopes))),
		CreatedBy: actor(r), CreatedAt: s.now().UTC(),
	}
	if err := s.deps.Config.CreateAPIKey(r.Context(), k); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wire.KeyCreated{Key: key, APIKey: k})
	return nil
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	p, err := s.parseList(r, "limit", "cursor")
	if err != nil {
		return err
	}
	res, err := s.deps.Config.ListAPIKeys(r.Context(), p.Page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageOf(res, func(k domain.APIKey) domain.APIKey { return k }))
	return nil
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Config.RevokeAPIKey(r.Context(), id, s.now().UTC()); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("no API key %s", id)
		}
		return err
	}
	s.keys.forget(id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
