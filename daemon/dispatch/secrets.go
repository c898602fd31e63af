package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

// secretStore is where signing secrets live (the config store).
type secretStore interface {
	ActiveSecrets(ctx context.Context, endpointID string, now time.Time) ([]domain.EndpointSecret, error)
}

// secretCache keeps each endpoint's active secrets in memory, so signing a
// delivery costs no database round trip.
//
// An entry is tied to the *domain.Endpoint the subscription index handed
// out: every change of the endpoint, including a secret rotation (the
// store reports it as a change of the endpoint), makes the index replace
// that value, so a new pointer means "read the secrets again". An entry
// also ends when its oldest secret expires, and after maxAge at the latest.
type secretCache struct {
	store  secretStore
	maxAge time.Duration

	mu        sync.Mutex
	entries   map[string]*secretEntry
	lastSweep time.Time
}

type secretEntry struct {
	endpoint   *domain.Endpoint
	values     []string
	validUntil time.Time
	usedAt     time.Time
}

func newSecretCache(store secretStore, maxAge time.Duration) *secretCache {
	if maxAge <= 0 {
		maxAge = 5 * time.Minute
	}
	return &secretCache{store: store, maxAge: maxAge, entries: map[string]*secretEntry{}}
}

// Secrets returns the values of ep's active secrets, newest first.
func (c *secretCache) Secrets(ctx context.Context, ep *domain.Endpoint, now time.Time) ([]string, error) {
	c.mu.Lock()
	if e, ok := c.entries[ep.ID]; ok && e.endpoint == ep && now.Before(e.validUntil) {
		e.usedAt = now
		values := e.values
		c.mu.Unlock()
		return values, nil
	}
	c.mu.Unlock()

	secrets, err := c.store.ActiveSecrets(ctx, ep.ID, now)
	if err != nil {
		return nil, err
	}
	e := &secretEntry{endpoint: ep, validUntil: now.Add(c.maxAge), usedAt: now}
	for _, s := range secrets {
		e.values = append(e.values, s.Value)
		if s.ExpiresAt != nil && s.ExpiresAt.Before(e.validUntil) {
			e.validUntil = *s.ExpiresAt
		}
	}
	c.mu.Lock()
	c.entries[ep.ID] = e
	c.sweepLocked(now)
	c.mu.Unlock()
	return e.values, nil
}

// sweepLocked drops entries unused for a while (deleted or idle
// endpoints), at most once a minute.
func (c *secretCache) sweepLocked(now time.Time) {
	if now.Sub(c.lastSweep) < time.Minute {
		return
	}
	c.lastSweep = now
	for id, e := range c.entries {
		if now.Sub(e.usedAt) > 2*c.maxAge {
			delete(c.entries, id)
		}
	}
}
