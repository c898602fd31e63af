// Package storagetest is the conformance suite every storage backend
// passes: the same tests run against PostgreSQL and Cassandra in
// production and against SQLite for `hookd dev`, so the embedded mode
// behaves like the real thing.
package storagetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/storage"
)

// ConfigOpener opens the same, already migrated, database with the given
// encryption key. Each call of the suite's factory gives a new, empty
// database; each call of the opener it returns reaches that one database.
type ConfigOpener func(box *secretbox.Box) storage.ConfigStore

// RunConfigStore runs the ConfigStore conformance tests. newDB makes a new
// empty database for one test and returns how to open it.
func RunConfigStore(t *testing.T, newDB func(t *testing.T) ConfigOpener) {
	box := NewBox(t)
	open := func(t *testing.T) storage.ConfigStore { return newDB(t)(box) }
	t.Run("EndpointRoundTrip", func(t *testing.T) { t.Parallel(); testEndpointRoundTrip(t, open(t)) })
	t.Run("EndpointRejectsInvalid", func(t *testing.T) { t.Parallel(); testEndpointRejectsInvalid(t, open(t)) })
	t.Run("EndpointNotFound", func(t *testing.T) { t.Parallel(); testEndpointNotFound(t, open(t)) })
	t.Run("EndpointUpdateVersions", func(t *testing.T) { t.Parallel(); testEndpointUpdateVersions(t, open(t)) })
	t.Run("EndpointConcurrentUpdates", func(t *testing.T) { t.Parallel(); testEndpointConcurrentUpdates(t, open(t)) })
	t.Run("EndpointEnableDisable", func(t *testing.T) { t.Parallel(); testEndpointEnableDisable(t, open(t)) })
	t.Run("EndpointDelete", func(t *testing.T) { t.Parallel(); testEndpointDelete(t, open(t)) })
	t.Run("EndpointListPagingAndFilters", func(t *testing.T) { t.Parallel(); testEndpointList(t, open(t)) })
	t.Run("SecretRotation", func(t *testing.T) { t.Parallel(); testSecretRotation(t, open(t)) })
	t.Run("EncryptionKeyCheck", func(t *testing.T) { t.Parallel(); testEncryptionKeyCheck(t, newDB(t)) })
	t.Run("APIKeys", func(t *testing.T) { t.Parallel(); testAPIKeys(t, open(t)) })
	t.Run("ReplayJobs", func(t *testing.T) { t.Parallel(); testReplayJobs(t, open(t)) })
	t.Run("ReplayJobCancel", func(t *testing.T) { t.Parallel(); testReplayJobCancel(t, open(t)) })
	t.Run("ReplayJobClaimStale", func(t *testing.T) { t.Parallel(); testReplayJobClaimStale(t, open(t)) })
	t.Run("ReplayJobClaimStaleConcurrent", func(t *testing.T) { t.Parallel(); testReplayJobClaimStaleConcurrent(t, open(t)) })
	t.Run("EventKeys", func(t *testing.T) { t.Parallel(); testEventKeys(t, open(t)) })
	t.Run("EventKeysConcurrentClaims", func(t *testing.T) { t.Parallel(); testEventKeysConcurrent(t, open(t)) })
}

// NewBox returns a secret box with a fresh random key.
func NewBox(t testing.TB) *secretbox.Box {
	t.Helper()
	key := make([]byte, secretbox.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// NewEndpoint returns a valid endpoint with every field set, and a secret
// for it.
func NewEndpoint(tenant string, eventTypes ...string) (*domain.Endpoint, domain.EndpointSecret) {
	if len(eventTypes) == 0 {
		eventTypes = []string{"order.created", "invoice.*"}
	}
	e := &domain.Endpoint{
		ID:                 ids.New(ids.Endpoint),
		TenantID:           tenant,
		URL:                "https://hooks.example.com/in?src=hookd",
		Description:        "Orders → billing ✓",
		EventTypes:         eventTypes,
		Headers:            map[string]string{"X-Team": "billing", "Authorization": "Bearer abc"},
		RetryPolicy:        domain.RetryPolicy{Schedule: []time.Duration{time.Second, 5 * time.Minute, 2 * time.Hour}},
		SigningScheme:      domain.SchemeStandard,
		RateLimit:          12.5,
		MaxConcurrency:     8,
		Timeout:            7 * time.Second,
		SuccessStatusCodes: []int{200, 202, 204},
		Enabled:            true,
		Labels:             map[string]string{"team": "billing", "env": "prod"},
		CreatedBy:          "admin-key",
	}
	return e, NewSecret(e.ID)
}

// NewSecret returns a signing secret for an endpoint.
func NewSecret(endpointID string) domain.EndpointSecret {
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	return domain.EndpointSecret{
		ID:         ids.New(ids.Secret),
		EndpointID: endpointID,
		Value:      "whsec_" + base64Std(raw),
		CreatedAt:  time.Now().UTC().Truncate(time.Millisecond),
	}
}

// sameJSON compares through JSON, where nil and empty collections and
// equal instants in any location read the same.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("%s differs\n got: %s\nwant: %s", what, g, w)
	}
}

func mustCreate(t *testing.T, s storage.ConfigStore, tenant string, types ...string) domain.Endpoint {
	t.Helper()
	e, sec := NewEndpoint(tenant, types...)
	if err := s.CreateEndpoint(ctxFor(t), e, sec); err != nil {
		t.Fatalf("CreateEndpoint: %v", err)
	}
	return *e
}

func testEndpointRoundTrip(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	e, sec := NewEndpoint("acme")
	before := time.Now().Add(-time.Second)
	if err := s.CreateEndpoint(ctx, e, sec); err != nil {
		t.Fatal(err)
	}
	if e.Version != 1 || e.CreatedAt.Before(before) || !e.UpdatedAt.Equal(e.CreatedAt) || e.UpdatedBy != e.CreatedBy {
		t.Fatalf("after create: version %d, created %v, updated %v by %q", e.Version, e.CreatedAt, e.UpdatedAt, e.UpdatedBy)
	}
	got, err := s.GetEndpoint(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "endpoint read back", got, e)
	if got.Timeout != e.Timeout || !slices.Equal(got.RetryPolicy.Schedule, e.RetryPolicy.Schedule) {
		t.Fatalf("durations changed: %v %v", got.Timeout, got.RetryPolicy.Schedule)
	}

	// Exponential policy and empty collections survive too.
	e2, sec2 := NewEndpoint("")
	e2.RetryPolicy = domain.RetryPolicy{Exponential: &domain.ExponentialRetry{Min: time.Second, Max: time.Hour, Attempts: 9}}
	e2.Headers, e2.Labels, e2.SuccessStatusCodes = nil, nil, nil
	e2.SigningScheme = domain.SchemeGitHub
	if err := s.CreateEndpoint(ctx, e2, sec2); err != nil {
		t.Fatal(err)
	}
	got2, err := s.GetEndpoint(ctx, e2.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "second endpoint", got2, e2)

	// An id is stored once.
	dup, dupSec := NewEndpoint("acme")
	dup.ID = e.ID
	if err := s.CreateEndpoint(ctx, dup, dupSec); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("create with a used id: %v, want ErrConflict", err)
	}
}

func testEndpointRejectsInvalid(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	bad, sec := NewEndpoint("")
	bad.URL = "https://user:secret@example.com/\r\n"
	err := s.CreateEndpoint(ctx, bad, sec)
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || ve.Fields["url"] == "" {
		t.Fatalf("create with a bad URL: %v, want a ValidationError naming url", err)
	}
	if _, err := s.GetEndpoint(ctx, bad.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a refused endpoint was written (get: %v)", err)
	}
	if secs, _ := s.ActiveSecrets(ctx, bad.ID, time.Now()); len(secs) != 0 {
		t.Fatal("the secret of a refused endpoint was written")
	}

	e := mustCreate(t, s, "")
	changed := e
	changed.SigningScheme = "md5"
	changed.EventTypes = nil
	_, err = s.UpdateEndpoint(ctx, changed)
	if !errors.As(err, &ve) || ve.Fields["signing_scheme"] == "" || ve.Fields["event_types"] == "" {
		t.Fatalf("update with bad fields: %v, want a ValidationError naming signing_scheme and event_types", err)
	}
	got, err := s.GetEndpoint(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "endpoint after a refused update", got, e)
}

func testEndpointNotFound(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	missing := ids.New(ids.Endpoint)
	if _, err := s.GetEndpoint(ctx, missing); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get: %v", err)
	}
	e, _ := NewEndpoint("")
	e.ID, e.Version = missing, 1
	if _, err := s.UpdateEndpoint(ctx, *e); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Update: %v", err)
	}
	if _, err := s.SetEndpointEnabled(ctx, missing, false, "x", "y"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SetEndpointEnabled: %v", err)
	}
	if err := s.DeleteEndpoint(ctx, missing); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Delete: %v", err)
	}
	if err := s.RotateSecret(ctx, missing, NewSecret(missing), time.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("RotateSecret: %v", err)
	}
	if secs, err := s.ActiveSecrets(ctx, missing, time.Now()); err != nil || len(secs) != 0 {
		t.Errorf("ActiveSecrets: %v, %v; want none", secs, err)
	}
}

func testEndpointUpdateVersions(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	e := mustCreate(t, s, "acme")
	stale := e
	e.URL = "https://other.example.com/hooks"
	e.EventTypes = []string{"*"}
	e.Labels = map[string]string{"team": "ops"}
	e.UpdatedBy = "ops-key"
	time.Sleep(2 * time.Millisecond)
	updated, err := s.UpdateEndpoint(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Version != 2 || updated.URL != e.URL || updated.UpdatedBy != "ops-key" || updated.CreatedBy != "admin-key" {
		t.Fatalf("after update: %+v", updated)
	}
	if !updated.UpdatedAt.After(updated.CreatedAt) || !updated.CreatedAt.Equal(e.CreatedAt) {
		t.Fatalf("timestamps after update: created %v updated %v", updated.CreatedAt, updated.UpdatedAt)
	}
	got, _ := s.GetEndpoint(ctx, e.ID)
	sameJSON(t, "read after update", got, updated)

	stale.Description = "lost update"
	if _, err := s.UpdateEndpoint(ctx, stale); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("update with a stale version: %v, want ErrConflict", err)
	}
	if got, _ := s.GetEndpoint(ctx, e.ID); got.Description == "lost update" || got.Version != 2 {
		t.Fatal("a stale update was written")
	}
}

func testEndpointConcurrentUpdates(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	e := mustCreate(t, s, "")
	const writers = 8
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		won       int
		conflicts int
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := e
			u.Description = "writer " + string(rune('a'+i))
			_, err := s.UpdateEndpoint(ctx, u)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, storage.ErrConflict):
				conflicts++
			default:
				t.Errorf("concurrent update: %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || conflicts != writers-1 {
		t.Fatalf("%d updates won and %d conflicted; want 1 and %d", won, conflicts, writers-1)
	}
}

func testEndpointEnableDisable(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	e := mustCreate(t, s, "")
	d, err := s.SetEndpointEnabled(ctx, e.ID, false, "410 Gone from endpoint", "hookd")
	if err != nil {
		t.Fatal(err)
	}
	if d.Enabled || d.DisabledReason != "410 Gone from endpoint" || d.UpdatedBy != "hookd" || d.Version != 2 {
		t.Fatalf("after disable: enabled %v reason %q by %q version %d", d.Enabled, d.DisabledReason, d.UpdatedBy, d.Version)
	}
	en, err := s.SetEndpointEnabled(ctx, e.ID, true, "ignored", "ops")
	if err != nil {
		t.Fatal(err)
	}
	if !en.Enabled || en.DisabledReason != "" || en.Version != 3 {
		t.Fatalf("after enable: enabled %v reason %q version %d", en.Enabled, en.DisabledReason, en.Version)
	}
}

func testEndpointDelete(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	e := mustCreate(t, s, "")
	keep := mustCreate(t, s, "")
	if err := s.DeleteEndpoint(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetEndpoint(ctx, e.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if secs, err := s.ActiveSecrets(ctx, e.ID, time.Now()); err != nil || len(secs) != 0 {
		t.Fatalf("secrets after delete: %d, %v", len(secs), err)
	}
	if _, err := s.GetEndpoint(ctx, keep.ID); err != nil {
		t.Fatalf("other endpoint after delete: %v", err)
	}
}

func testEndpointList(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	var all []string
	for i := range 7 {
		tenant := "acme"
		if i%2 == 1 {
			tenant = "globex"
		}
		e := mustCreate(t, s, tenant)
		if i == 3 {
			e.Labels = map[string]string{"team": "search", "env": "prod"}
			if _, err := s.UpdateEndpoint(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, e.ID)
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		page, err := s.ListEndpoints(ctx, storage.EndpointFilter{}, storage.PageRequest{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > 3 {
			t.Fatalf("page of %d items with limit 3", len(page.Items))
		}
		for _, e := range page.Items {
			seen = append(seen, e.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if !slices.Equal(seen, all) {
		t.Fatalf("paged ids %v, want %v in creation order", seen, all)
	}

	page, err := s.ListEndpoints(ctx, storage.EndpointFilter{TenantID: "globex"}, storage.PageRequest{})
	if err != nil || len(page.Items) != 3 || page.NextCursor != "" {
		t.Fatalf("tenant filter: %d items, cursor %q, err %v; want 3", len(page.Items), page.NextCursor, err)
	}
	page, err = s.ListEndpoints(ctx, storage.EndpointFilter{Labels: map[string]string{"team": "search"}}, storage.PageRequest{})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != all[3] {
		t.Fatalf("label filter: %v, err %v; want only %s", page.Items, err, all[3])
	}
	page, err = s.ListEndpoints(ctx, storage.EndpointFilter{Labels: map[string]string{"team": "billing", "env": "prod"}, TenantID: "acme"}, storage.PageRequest{})
	if err != nil || len(page.Items) != 4 {
		t.Fatalf("labels and tenant: %d items, err %v; want 4", len(page.Items), err)
	}
	if _, err := s.ListEndpoints(ctx, storage.EndpointFilter{}, storage.PageRequest{Cursor: "not-a-cursor!"}); !errors.Is(err, storage.ErrInvalidCursor) {
		t.Fatalf("bad cursor: %v, want ErrInvalidCursor", err)
	}

	var each []string
	if err := s.EachEndpoint(ctx, func(e domain.Endpoint) error { each = append(each, e.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(each, all) {
		t.Fatalf("EachEndpoint saw %v, want %v", each, all)
	}
	stop := errors.New("stop")
	if err := s.EachEndpoint(ctx, func(domain.Endpoint) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("EachEndpoint does not return fn's error: %v", err)
	}
}

func testSecretRotation(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	e, first := NewEndpoint("")
	if err := s.CreateEndpoint(ctx, e, first); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	secs, err := s.ActiveSecrets(ctx, e.ID, now)
	if err != nil || len(secs) != 1 || secs[0].Value != first.Value || secs[0].ID != first.ID || secs[0].ExpiresAt != nil {
		t.Fatalf("first secret: %+v, %v", secs, err)
	}

	second := NewSecret(e.ID)
	second.CreatedAt = now.Add(time.Second).Truncate(time.Millisecond)
	overlapEnds := now.Add(24 * time.Hour).Truncate(time.Millisecond)
	if err := s.RotateSecret(ctx, e.ID, second, overlapEnds); err != nil {
		t.Fatal(err)
	}
	secs, err = s.ActiveSecrets(ctx, e.ID, now.Add(time.Hour))
	if err != nil || len(secs) != 2 {
		t.Fatalf("during the overlap: %d secrets, %v; want 2", len(secs), err)
	}
	if secs[0].Value != second.Value || secs[1].Value != first.Value {
		t.Fatal("active secrets not newest first")
	}
	if secs[1].ExpiresAt == nil || !secs[1].ExpiresAt.Equal(overlapEnds) || secs[0].ExpiresAt != nil {
		t.Fatalf("expiry after rotation: old %v new %v", secs[1].ExpiresAt, secs[0].ExpiresAt)
	}
	secs, err = s.ActiveSecrets(ctx, e.ID, overlapEnds.Add(time.Second))
	if err != nil || len(secs) != 1 || secs[0].Value != second.Value {
		t.Fatalf("after the overlap: %+v, %v; want only the new secret", secs, err)
	}

	// A second rotation with an earlier expiry shortens every older secret;
	// a later one never extends a secret that already expires sooner.
	third := NewSecret(e.ID)
	third.CreatedAt = now.Add(2 * time.Second).Truncate(time.Millisecond)
	if err := s.RotateSecret(ctx, e.ID, third, now.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	secs, _ = s.ActiveSecrets(ctx, e.ID, now.Add(30*time.Hour))
	if len(secs) != 2 || secs[0].Value != third.Value || secs[1].Value != second.Value {
		t.Fatalf("after a second rotation: %d secrets", len(secs))
	}
}

func testEncryptionKeyCheck(t *testing.T, open ConfigOpener) {
	ctx := ctxFor(t)
	box := NewBox(t)
	s := open(box)
	if err := s.CheckEncryptionKey(ctx); err != nil {
		t.Fatalf("first check: %v", err)
	}
	if err := s.CheckEncryptionKey(ctx); err != nil {
		t.Fatalf("second check: %v", err)
	}
	e, sec := NewEndpoint("")
	if err := s.CreateEndpoint(ctx, e, sec); err != nil {
		t.Fatal(err)
	}
	wrong := open(NewBox(t))
	if err := wrong.CheckEncryptionKey(ctx); !errors.Is(err, storage.ErrWrongEncryptionKey) {
		t.Fatalf("check with another key: %v, want ErrWrongEncryptionKey", err)
	}
	if secs, err := wrong.ActiveSecrets(ctx, e.ID, time.Now()); err == nil {
		t.Fatalf("secrets opened with another key: %v", secs)
	}
}

func testAPIKeys(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	var made []domain.APIKey
	for i := range 5 {
		sum := sha256.Sum256([]byte{byte(i), 'k'})
		k := domain.APIKey{
			ID: ids.New(ids.APIKey), Name: "key " + string(rune('a'+i)), Hash: sum[:],
			Scopes: []string{domain.ScopeEndpointsRead, domain.ScopeDLQReplay}, CreatedBy: "bootstrap",
			CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
		}
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		made = append(made, k)
	}
	got, err := s.APIKeyByHash(ctx, made[2].Hash)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "api key", got, made[2])
	if string(got.Hash) != string(made[2].Hash) {
		t.Fatal("hash changed")
	}
	if _, err := s.APIKeyByHash(ctx, []byte("nope")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	dup := made[0]
	dup.ID = ids.New(ids.APIKey)
	if err := s.CreateAPIKey(ctx, dup); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("duplicate hash: %v, want ErrConflict", err)
	}

	used := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.TouchAPIKey(ctx, made[1].ID, used); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchAPIKey(ctx, made[1].ID, used.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.APIKeyByHash(ctx, made[1].Hash)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(used) {
		t.Fatalf("last used %v, want %v (never moved back)", got.LastUsedAt, used)
	}
	revoked := used.Add(time.Minute)
	if err := s.RevokeAPIKey(ctx, made[1].ID, revoked); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIKey(ctx, made[1].ID, revoked.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err = s.APIKeyByHash(ctx, made[1].Hash)
	if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(revoked) {
		t.Fatalf("revoked key: revoked at %v, err %v; want %v", got.RevokedAt, err, revoked)
	}
	for _, missing := range []func() error{
		func() error { return s.RevokeAPIKey(ctx, "key_missing", used) },
		func() error { return s.TouchAPIKey(ctx, "key_missing", used) },
	} {
		if err := missing(); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("missing key: %v", err)
		}
	}

	var listed []string
	cursor := ""
	for range 5 {
		page, err := s.ListAPIKeys(ctx, storage.PageRequest{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Items {
			listed = append(listed, k.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	want := make([]string, len(made))
	for i, k := range made {
		want[i] = k.ID
	}
	if !slices.Equal(listed, want) {
		t.Fatalf("listed %v, want %v", listed, want)
	}
}

func testReplayJobs(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	since := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	job := domain.ReplayJob{
		ID: ids.New(ids.ReplayJob), IdempotencyKey: "replay-2026-11-23",
		Filter: domain.DeadLetterFilter{EndpointID: "ep_x", Reason: domain.ReasonExhausted, Since: since},
		State:  domain.ReplayPending, CreatedBy: "ops",
	}
	stored, created, err := s.CreateReplayJob(ctx, job)
	if err != nil || !created {
		t.Fatalf("create: created %v, err %v", created, err)
	}
	if stored.ID != job.ID || stored.CreatedAt.IsZero() || !stored.Filter.Since.Equal(since) {
		t.Fatalf("stored job: %+v", stored)
	}
	again := job
	again.ID = ids.New(ids.ReplayJob)
	first, created, err := s.CreateReplayJob(ctx, again)
	if err != nil || created || first.ID != job.ID {
		t.Fatalf("same idempotency key: id %s created %v err %v; want the first job", first.ID, created, err)
	}
	other := domain.ReplayJob{ID: ids.New(ids.ReplayJob), State: domain.ReplayPending}
	third := domain.ReplayJob{ID: ids.New(ids.ReplayJob), State: domain.ReplayPending}
	for _, j := range []domain.ReplayJob{other, third} {
		if _, created, err := s.CreateReplayJob(ctx, j); err != nil || !created {
			t.Fatalf("jobs without a key are all created: %v %v", created, err)
		}
	}

	finished := time.Now().UTC().Truncate(time.Millisecond)
	stored.State, stored.Total, stored.Replayed, stored.Skipped, stored.Failed = domain.ReplayDone, 10, 7, 2, 1
	stored.FinishedAt = &finished
	if err := s.UpdateReplayJob(ctx, stored); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetReplayJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != domain.ReplayDone || got.Total != 10 || got.Replayed != 7 || got.Skipped != 2 || got.Failed != 1 ||
		got.FinishedAt == nil || !got.FinishedAt.Equal(finished) || got.UpdatedAt.Before(got.CreatedAt) {
		t.Fatalf("after update: %+v", got)
	}
	// A final job is not changed again.
	late := got
	late.State, late.Replayed, late.Error = domain.ReplayRunning, 8, "late runner"
	if err := s.UpdateReplayJob(ctx, late); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("update of a done job: %v, want ErrConflict", err)
	}
	if again, _ := s.GetReplayJob(ctx, job.ID); again.State != domain.ReplayDone || again.Replayed != 7 || again.Error != "" {
		t.Fatalf("a done job was changed: %+v", again)
	}
	if _, err := s.GetReplayJob(ctx, "rpl_missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing job: %v", err)
	}
	if err := s.UpdateReplayJob(ctx, domain.ReplayJob{ID: "rpl_missing"}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("update missing job: %v", err)
	}
	page, err := s.ListReplayJobs(ctx, storage.PageRequest{Limit: 2})
	if err != nil || len(page.Items) != 2 || page.Items[0].ID != third.ID || page.Items[1].ID != other.ID || page.NextCursor == "" {
		t.Fatalf("first page: %v, err %v; want newest first", page.Items, err)
	}
	page, err = s.ListReplayJobs(ctx, storage.PageRequest{Limit: 2, Cursor: page.NextCursor})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != job.ID || page.NextCursor != "" {
		t.Fatalf("second page: %v, err %v", page.Items, err)
	}
}
