package storagetest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/storage"
)

// claimKey claims key and fails unless the result is (wantID, wantClaimed).
func claimKey(t *testing.T, s storage.EventKeyStore, key, eventID string, now, expires time.Time, wantID string, wantClaimed bool) {
	t.Helper()
	got, claimed, err := s.ClaimEventKey(ctxFor(t), key, eventID, now, expires)
	if err != nil {
		t.Fatalf("ClaimEventKey(%.20q, %s): %v", key, eventID, err)
	}
	if got != wantID || claimed != wantClaimed {
		t.Fatalf("ClaimEventKey(%.20q, %s) = %s, claimed %v; want %s, claimed %v", key, eventID, got, claimed, wantID, wantClaimed)
	}
}

func testEventKeys(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	ev1, ev2, ev3 := ids.New(ids.Event), ids.New(ids.Event), ids.New(ids.Event)

	// A first claim wins; repeats get the first event id, whoever asks.
	key := "idem-" + ids.New(ids.Event)
	claimKey(t, s, key, ev1, now, now.Add(time.Hour), ev1, true)
	claimKey(t, s, key, ev2, now.Add(time.Second), now.Add(2*time.Hour), ev1, false)
	claimKey(t, s, key, ev1, now.Add(time.Second), now.Add(2*time.Hour), ev1, false)
	// Keys are independent, and matched exactly.
	claimKey(t, s, strings.ToUpper(key), ev3, now, now.Add(time.Hour), ev3, true)

	// An expired claim is replaced (a claim is valid until its expiry, not
	// at it), and the new claim holds from then on.
	short := "evt-" + ids.New(ids.Event)
	claimKey(t, s, short, ev1, now, now.Add(time.Minute), ev1, true)
	claimKey(t, s, short, ev2, now.Add(time.Minute-time.Millisecond), now.Add(time.Hour), ev1, false)
	claimKey(t, s, short, ev2, now.Add(time.Minute), now.Add(time.Hour), ev2, true)
	claimKey(t, s, short, ev3, now.Add(2*time.Minute), now.Add(time.Hour), ev2, false)

	// Release drops a claim only for the event that holds it.
	if err := s.ReleaseEventKey(ctx, key, ev2); err != nil {
		t.Fatalf("release by another event: %v", err)
	}
	claimKey(t, s, key, ev3, now.Add(2*time.Second), now.Add(time.Hour), ev1, false)
	if err := s.ReleaseEventKey(ctx, key, ev1); err != nil {
		t.Fatalf("release: %v", err)
	}
	claimKey(t, s, key, ev3, now.Add(3*time.Second), now.Add(time.Hour), ev3, true)
	if err := s.ReleaseEventKey(ctx, key, ev1); err != nil {
		t.Fatalf("release by the event that lost the key: %v", err)
	}
	claimKey(t, s, key, ev2, now.Add(4*time.Second), now.Add(time.Hour), ev3, false)
	if err := s.ReleaseEventKey(ctx, "never-claimed-"+ids.New(ids.Event), ev1); err != nil {
		t.Fatalf("release of an unknown key: %v", err)
	}

	// Keys are bytes, up to storage.MaxEventKeyBytes of them.
	longest := strings.Repeat("€", storage.MaxEventKeyBytes/3) // 3 bytes each
	if len(longest) != storage.MaxEventKeyBytes {
		t.Fatalf("fixture: %d bytes", len(longest))
	}
	claimKey(t, s, longest, ev1, now, now.Add(time.Hour), ev1, true)
	claimKey(t, s, longest, ev2, now, now.Add(time.Hour), ev1, false)
	for _, bad := range []string{longest + "x", strings.Repeat("k", 4096), ""} {
		if _, _, err := s.ClaimEventKey(ctx, bad, ev1, now, now.Add(time.Hour)); !errors.Is(err, storage.ErrInvalidEventKey) {
			t.Errorf("claim of a %d-byte key: %v, want ErrInvalidEventKey", len(bad), err)
		}
	}
}

func testEventKeysConcurrent(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	const claimers = 16
	for round, setup := range []func(key string){
		func(string) {}, // a new key
		func(key string) { // an expired claim that every claimer may take over
			claimKey(t, s, key, "evt_expired", now.Add(-2*time.Hour), now.Add(-time.Hour), "evt_expired", true)
		},
	} {
		key := "concurrent-" + ids.New(ids.Event)
		setup(key)
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			firsts  [claimers]string
			claimed [claimers]bool
			events  [claimers]string
		)
		for i := range claimers {
			events[i] = ids.New(ids.Event)
			wg.Go(func() {
				<-start
				var err error
				firsts[i], claimed[i], err = s.ClaimEventKey(ctx, key, events[i], now, now.Add(time.Hour))
				if err != nil {
					t.Errorf("concurrent claim: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		winner := ""
		for i := range claimers {
			if claimed[i] {
				winners++
				winner = events[i]
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d concurrent claims of one key won, want exactly 1", round, winners)
		}
		for i := range claimers {
			if firsts[i] != winner {
				t.Errorf("round %d: claimer %d was told the key holds %s; the winner is %s", round, i, firsts[i], winner)
			}
		}
	}
}
