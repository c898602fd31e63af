package storagetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/storage"
)

// mustCreateJob stores a job in state created at createdAt (its UpdatedAt
// starts there too, so an old createdAt makes a stale job).
func mustCreateJob(t *testing.T, s storage.ConfigStore, state string, createdAt time.Time) domain.ReplayJob {
	t.Helper()
	j, created, err := s.CreateReplayJob(ctxFor(t), domain.ReplayJob{
		ID: ids.New(ids.ReplayJob), State: state, CreatedBy: "ops", CreatedAt: createdAt,
		Filter: domain.DeadLetterFilter{Reason: domain.ReasonExhausted},
	})
	if err != nil || !created {
		t.Fatalf("CreateReplayJob(%s): created %v, %v", state, created, err)
	}
	if !j.UpdatedAt.Equal(createdAt) {
		t.Fatalf("new job: UpdatedAt %v, want its CreatedAt %v", j.UpdatedAt, createdAt)
	}
	return j
}

func testReplayJobCancel(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, state := range []string{domain.ReplayPending, domain.ReplayRunning} {
		j := mustCreateJob(t, s, state, now.Add(-time.Hour))
		if state == domain.ReplayRunning {
			// A heartbeat moves UpdatedAt to the store's present.
			j.Total, j.Replayed = 100, 40
			if err := s.UpdateReplayJob(ctx, j); err != nil {
				t.Fatalf("heartbeat: %v", err)
			}
			got, err := s.GetReplayJob(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.UpdatedAt.Before(now.Add(-time.Minute)) || got.Replayed != 40 {
				t.Fatalf("after a heartbeat: UpdatedAt %v (created %v), replayed %d", got.UpdatedAt, got.CreatedAt, got.Replayed)
			}
		}
		at := now.Add(time.Second)
		canceled, err := s.CancelReplayJob(ctx, j.ID, at)
		if err != nil {
			t.Fatalf("cancel a %s job: %v", state, err)
		}
		if canceled.ID != j.ID || canceled.State != domain.ReplayCanceled || canceled.FinishedAt == nil || !canceled.FinishedAt.Equal(at) {
			t.Fatalf("cancel a %s job returned %+v", state, canceled)
		}
		got, err := s.GetReplayJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "canceled job read back", got, canceled)

		// The runner learns of the cancel from its next update, which
		// changes nothing.
		j.State, j.Replayed = domain.ReplayRunning, 50
		if err := s.UpdateReplayJob(ctx, j); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("update after cancel: %v, want ErrConflict", err)
		}
		j.State = domain.ReplayDone
		if err := s.UpdateReplayJob(ctx, j); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("finishing a canceled job: %v, want ErrConflict", err)
		}
		if _, err := s.CancelReplayJob(ctx, j.ID, at.Add(time.Second)); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("cancel twice: %v, want ErrConflict", err)
		}
		after, _ := s.GetReplayJob(ctx, j.ID)
		sameJSON(t, "canceled job after refused changes", after, canceled)
	}
	for _, state := range []string{domain.ReplayDone, domain.ReplayFailed} {
		j := mustCreateJob(t, s, state, now)
		if _, err := s.CancelReplayJob(ctx, j.ID, now); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("cancel a %s job: %v, want ErrConflict", state, err)
		}
		if got, _ := s.GetReplayJob(ctx, j.ID); got.State != state || got.FinishedAt != nil {
			t.Fatalf("a %s job was changed by a refused cancel: %+v", state, got)
		}
	}
	if _, err := s.CancelReplayJob(ctx, "rpl_missing", now); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("cancel an unknown job: %v, want ErrNotFound", err)
	}
}

func testReplayJobClaimStale(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	staleBefore := now.Add(-30 * time.Minute)

	if _, claimed, err := s.ClaimStaleReplayJob(ctx, staleBefore, now); err != nil || claimed {
		t.Fatalf("claim in an empty store: claimed %v, %v", claimed, err)
	}
	// Stale: pending and running jobs not updated for an hour or more.
	stalePending := mustCreateJob(t, s, domain.ReplayPending, now.Add(-2*time.Hour))
	staleRunning := mustCreateJob(t, s, domain.ReplayRunning, now.Add(-90*time.Minute))
	// Not stale: final jobs, however old; a job whose runner beats; a
	// fresh job; one just at the bound.
	mustCreateJob(t, s, domain.ReplayDone, now.Add(-5*time.Hour))
	mustCreateJob(t, s, domain.ReplayFailed, now.Add(-5*time.Hour))
	canceled := mustCreateJob(t, s, domain.ReplayRunning, now.Add(-4*time.Hour))
	if _, err := s.CancelReplayJob(ctx, canceled.ID, now); err != nil {
		t.Fatal(err)
	}
	beating := mustCreateJob(t, s, domain.ReplayRunning, now.Add(-3*time.Hour))
	if err := s.UpdateReplayJob(ctx, beating); err != nil {
		t.Fatal(err)
	}
	mustCreateJob(t, s, domain.ReplayPending, now)
	mustCreateJob(t, s, domain.ReplayPending, staleBefore)

	claimAt := now.Add(time.Second)
	var got []string
	for range 3 {
		j, claimed, err := s.ClaimStaleReplayJob(ctx, staleBefore, claimAt)
		if err != nil {
			t.Fatal(err)
		}
		if !claimed {
			break
		}
		if !j.UpdatedAt.Equal(claimAt) {
			t.Errorf("claimed job %s: UpdatedAt %v, want %v", j.ID, j.UpdatedAt, claimAt)
		}
		stored, err := s.GetReplayJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "claimed job read back", stored, j)
		got = append(got, j.ID)
	}
	// Oldest first; the claim changes only UpdatedAt.
	if want := []string{stalePending.ID, staleRunning.ID}; !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want %v (the stale jobs, oldest first)", got, want)
	}
	for _, want := range []domain.ReplayJob{stalePending, staleRunning} {
		j, _ := s.GetReplayJob(ctx, want.ID)
		want.UpdatedAt = claimAt
		sameJSON(t, "job after its claim", j, want)
	}

	// Later every active job is stale, the claimed ones too once their
	// new owners stop beating: the oldest created goes first.
	j, claimed, err := s.ClaimStaleReplayJob(ctx, claimAt.Add(time.Hour), claimAt.Add(2*time.Hour))
	if err != nil || !claimed || j.ID != beating.ID {
		t.Fatalf("claim an hour later: %s, claimed %v, %v; want %s", j.ID, claimed, err, beating.ID)
	}
	j, claimed, err = s.ClaimStaleReplayJob(ctx, claimAt.Add(time.Hour), claimAt.Add(2*time.Hour))
	if err != nil || !claimed || j.ID != stalePending.ID {
		t.Fatalf("claim an hour later again: %s, claimed %v, %v; want %s", j.ID, claimed, err, stalePending.ID)
	}
}

func testReplayJobClaimStaleConcurrent(t *testing.T, s storage.ConfigStore) {
	ctx := ctxFor(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	const jobs, claimers = 12, 8
	want := make([]string, 0, jobs)
	for i := range jobs {
		state := domain.ReplayPending
		if i%2 == 1 {
			state = domain.ReplayRunning
		}
		want = append(want, mustCreateJob(t, s, state, now.Add(-time.Hour-time.Duration(i)*time.Second)).ID)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		got   []string
		start = make(chan struct{})
	)
	for range claimers {
		wg.Go(func() {
			<-start
			for {
				j, claimed, err := s.ClaimStaleReplayJob(ctx, now.Add(-time.Minute), now)
				if err != nil {
					t.Errorf("concurrent claim: %v", err)
					return
				}
				if !claimed {
					return
				}
				mu.Lock()
				got = append(got, j.ID)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want every stale job exactly once: %v", got, want)
	}
}
