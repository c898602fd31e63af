package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd/internal/apikey"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

const (
	levelInfo  = slog.LevelInfo
	levelDebug = slog.LevelDebug
)

// principal is the caller of an authenticated request.
type principal struct {
	key domain.APIKey
}

func principalOf(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey).(*principal)
	return p
}

// actor names the caller in created_by / updated_by fields.
func actor(r *http.Request) string {
	if p := principalOf(r); p != nil {
		return "key:" + p.key.ID
	}
	return ""
}

// authenticate checks the bearer key and the scope the route needs.
// Public routes and unknown routes (which answer 404/405 anyway) pass.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	_, pattern := s.mux.Handler(r)
	scope, known := s.scopes[pattern]
	if !known || scope == "" {
		next(w, r)
		return
	}
	key, err := s.lookupKey(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hookd"`)
		s.writeError(w, r, err)
		return
	}
	if !key.HasScope(scope) {
		s.writeError(w, r, &Error{
			Status: http.StatusForbidden, Code: CodeForbidden,
			Message: "the API key " + key.ID + " lacks the scope " + scope + " this route needs",
		})
		return
	}
	next(w, r.WithContext(context.WithValue(r.Context(), principalKey, &principal{key: key})))
}

func unauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: msg}
}

func (s *Server) lookupKey(r *http.Request) (domain.APIKey, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return domain.APIKey{}, unauthorized("no API key: send Authorization: Bearer <key>")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return domain.APIKey{}, unauthorized("the Authorization header must be: Bearer <key>")
	}
	token = strings.TrimSpace(token)
	if apikey.Check(token) != nil {
		return domain.APIKey{}, unauthorized("invalid API key")
	}
	hash := apikey.Hash(token)
	now := s.now()
	key, ok := s.keys.get(string(hash), now)
	if !ok {
		var err error
		key, err = s.deps.Config.APIKeyByHash(r.Context(), hash)
		if errors.Is(err, storage.ErrNotFound) {
			return domain.APIKey{}, unauthorized("invalid API key")
		}
		if err != nil {
			return domain.APIKey{}, err
		}
		s.keys.put(string(hash), key, now)
	}
	if key.RevokedAt != nil {
		return domain.APIKey{}, unauthorized("the API key " + key.ID + " was revoked")
	}
	if s.keys.shouldTouch(key.ID, now) {
		// Recorded off the request path, at most once a minute per key;
		// detached from the request, which may end first.
		rctx := context.WithoutCancel(r.Context())
		go func(id string) {
			ctx, cancel := context.WithTimeout(rctx, 5*time.Second)
			defer cancel()
			if err := s.deps.Config.TouchAPIKey(ctx, id, now); err != nil {
				s.log.Debug("recording API key use failed", "key_id", id, "error", err)
			}
		}(key.ID)
	}
	return key, nil
}

// keyCache keeps verified keys for a short time, so that a busy client
// does not cost a database lookup per request. A revocation made through
// this process drops the key at once; one made elsewhere takes effect
// within the TTL.
type keyCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	entries map[string]cachedKey
	touched map[string]time.Time
}

type cachedKey struct {
	key     domain.APIKey
	expires time.Time
}

func newKeyCache(ttl time.Duration, maxEntries int) *keyCache {
	return &keyCache{ttl: ttl, max: maxEntries, entries: map[string]cachedKey{}, touched: map[string]time.Time{}}
}

func (c *keyCache) get(hash string, now time.Time) (domain.APIKey, bool) {
	if c.ttl < 0 {
		return domain.APIKey{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || now.After(e.expires) {
		return domain.APIKey{}, false
	}
	return e.key, true
}

func (c *keyCache) put(hash string, k domain.APIKey, now time.Time) {
	if c.ttl < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		clear(c.entries) // bounded memory under a flood of distinct keys
	}
	c.entries[hash] = cachedKey{key: k, expires: now.Add(c.ttl)}
}

// forget drops a key (revoked here) from the cache.
func (c *keyCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.entries {
		if e.key.ID == id {
			delete(c.entries, h)
		}
	}
}

func (c *keyCache) shouldTouch(id string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.touched[id]; ok && now.Sub(t) < time.Minute {
		return false
	}
	if len(c.touched) >= c.max {
		clear(c.touched)
	}
	c.touched[id] = now
	return true
}
