package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookd/hookd/storage"
)

// RunEndpointWatcher checks that a watcher reports endpoint creation,
// update and deletion by id, and stops when its context ends.
func RunEndpointWatcher(t *testing.T, newStore func(t *testing.T) (storage.EndpointStore, storage.EndpointWatcher)) {
	t.Parallel()
	s, w := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan string, 100)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- w.WatchEndpoints(ctx, func() { close(ready) }, func(id string) { changes <- id })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("watch ended before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("watch not ready after 30s")
	}
	expect := func(what, id string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case got := <-changes:
				if got == id {
					return
				}
			case <-deadline:
				t.Fatalf("no change reported for %s of %s", what, id)
			}
		}
	}
	opCtx := ctxFor(t)
	e, sec := NewEndpoint("")
	if err := s.CreateEndpoint(opCtx, e, sec); err != nil {
		t.Fatal(err)
	}
	expect("create", e.ID)
	e.URL = "https://changed.example.com/"
	if _, err := s.UpdateEndpoint(opCtx, *e); err != nil {
		t.Fatal(err)
	}
	expect("update", e.ID)
	if err := s.RotateSecret(opCtx, e.ID, NewSecret(e.ID), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	expect("secret rotation", e.ID)
	if _, err := s.SetEndpointEnabled(opCtx, e.ID, false, "test", "test"); err != nil {
		t.Fatal(err)
	}
	expect("disable", e.ID)
	if err := s.DeleteEndpoint(opCtx, e.ID); err != nil {
		t.Fatal(err)
	}
	expect("delete", e.ID)

	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("watch ended with %v, want a clean stop", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop when its context ended")
	}
}
