package dispatch

import (
	"context"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

type countingSecrets struct {
	calls   int
	secrets []domain.EndpointSecret
}

func (s *countingSecrets) ActiveSecrets(_ context.Context, _ string, now time.Time) ([]domain.EndpointSecret, error) {
	s.calls++
	var out []domain.EndpointSecret
	for _, sec := range s.secrets {
		if sec.Active(now) {
			out = append(out, sec)
		}
	}
	return out, nil
}

func TestSecretCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	expires := now.Add(time.Hour)
	store := &countingSecrets{secrets: []domain.EndpointSecret{{Value: "new"}, {Value: "old", ExpiresAt: &expires}}}
	c := newSecretCache(store, 5*time.Minute)
	ep := &domain.Endpoint{ID: "ep_1"}
	ctx := context.Background()

	for range 3 {
		got, err := c.Secrets(ctx, ep, now)
		if err != nil || len(got) != 2 || got[0] != "new" {
			t.Fatalf("Secrets = %v, %v", got, err)
		}
	}
	if store.calls != 1 {
		t.Fatalf("%d store reads for three signings, want 1", store.calls)
	}

	// The index replaced the endpoint (it changed, or its secrets did).
	changed := &domain.Endpoint{ID: "ep_1"}
	if _, err := c.Secrets(ctx, changed, now.Add(time.Second)); err != nil || store.calls != 2 {
		t.Fatalf("a changed endpoint did not reload its secrets (%d reads)", store.calls)
	}
	// Past maxAge, read again.
	if _, _ = c.Secrets(ctx, changed, now.Add(6*time.Minute)); store.calls != 3 {
		t.Fatalf("an old entry was reused (%d reads)", store.calls)
	}
	// The old secret stops signing the moment it expires, not maxAge later.
	got, _ := c.Secrets(ctx, changed, expires.Add(time.Second))
	if len(got) != 1 || got[0] != "new" {
		t.Fatalf("after the old secret expired: %v", got)
	}
}
