package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/tui"
)

// tailAPI is what the tail's reader needs of the API client.
type tailAPI interface {
	StreamEndpoints(ctx context.Context, q api.ListQuery, endpointIDs []string, lastEventID string, connected func(), fn func(api.StreamMessage) error) error
	ListAttempts(ctx context.Context, q api.ListQuery) (api.Page[api.Attempt], error)
}

// Limits of the history --since reads before following live.
const (
	// tailHistoryMax is the most attempts read back: as many as the
	// screen keeps.
	tailHistoryMax = tui.DefaultCapacity
	// tailHistoryPages bounds the pages read per endpoint, for an
	// --event-type pattern the server cannot filter on: the attempts that
	// do not match are read too.
	tailHistoryPages = 100
	tailPageSize     = 1000
	// tailHeldMax bounds the live attempts held back while the history is
	// read.
	tailHeldMax = 100000
)

// follower reads the live stream for `hookctl tail`: it reconnects with
// backoff, resuming after the last event it saw, and with --since first
// reads the recent history (newest first from the API, handed on oldest
// first) while holding back what arrives live, so that nothing is shown
// twice or out of order.
type follower struct {
	api       tailAPI
	endpoints []string
	eventType string // normalized: an exact type, a prefix like order.*, or *
	outcome   string
	tenant    string
	since     time.Time // zero: live only

	// emit hands on an attempt; false means enough (--count).
	emit func(api.Attempt) bool
	// state reports the connection (may be nil).
	state func(tui.ConnState)
	// notice reports something the user should know (may be nil).
	notice func(string)
	// backoff is the pause before reconnection attempt n (from 1).
	backoff func(n int) time.Duration
	now     func() time.Time
}

// errEnough stops the stream once --count attempts are out.
var errEnough = errors.New("enough attempts")

// tailBackoff doubles from half a second to ten, with jitter so that many
// tails cut off by one restart do not all come back at once.
func tailBackoff(n int) time.Duration {
	d := 500 * time.Millisecond << min(max(n-1, 0), 5)
	d = min(d, 10*time.Second)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64())) //nolint:gosec // jitter needs no cryptographic randomness
}

// run follows until ctx ends (nil), emit has had enough (nil), or an
// error that retrying cannot fix.
func (f *follower) run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	if f.backoff == nil {
		f.backoff = tailBackoff
	}
	if f.now == nil {
		f.now = time.Now
	}

	var (
		mu      sync.Mutex // orders emits from the stream and the history
		enough  bool
		fatal   error
		histOn  = !f.since.IsZero()
		histOut bool                // the history has been handed on
		held    []api.Attempt       // live attempts waiting for the history
		heldCut int                 // live attempts dropped from held
		seen    map[string]struct{} // ids of the history's attempts
		wg      sync.WaitGroup
	)
	defer func() {
		cancel() // first, so that a history still being read stops
		wg.Wait()
	}()
	out := func(a api.Attempt) { // mu held
		if !enough && !f.emit(a) {
			enough = true
			cancel()
		}
	}
	fail := func(err error) {
		mu.Lock()
		if fatal == nil {
			fatal = err
		}
		mu.Unlock()
		f.setState(tui.ConnState{Phase: tui.PhaseFailed, Err: err})
		cancel()
	}
	readHistory := func() {
		defer wg.Done()
		hist, cut, err := f.history(ctx)
		if err != nil {
			if ctx.Err() == nil {
				fail(fmt.Errorf("reading the attempts since %s: %w", f.since.Format(time.RFC3339), err))
			}
			return
		}
		if cut && f.notice != nil {
			f.notice(fmt.Sprintf("Showing the newest %d attempts since %s; `hookctl attempts list --since ... --all` lists them all.",
				len(hist), f.since.Local().Format(time.DateTime)))
		}
		mu.Lock()
		defer mu.Unlock()
		seen = make(map[string]struct{}, len(hist))
		for _, a := range hist {
			seen[a.ID] = struct{}{}
			out(a)
		}
		for _, a := range held {
			if _, dup := seen[a.ID]; !dup {
				out(a)
			}
		}
		if heldCut > 0 && f.notice != nil {
			f.notice(fmt.Sprintf("%d live attempts arrived while the history was read and were dropped.", heldCut))
		}
		histOut, held = true, nil
	}

	q := api.ListQuery{EventType: f.eventType, Outcome: f.outcome, TenantID: f.tenant}
	var lastID string
	fails := 0
	everUp := false
	f.setState(tui.ConnState{Phase: tui.PhaseConnecting})
	for {
		var connectedAt time.Time
		got := 0
		err := f.api.StreamEndpoints(ctx, q, f.endpoints, lastID, func() {
			connectedAt, everUp = f.now(), true
			f.setState(tui.ConnState{Phase: tui.PhaseLive})
			if histOn {
				// Read only once the stream is up, so that what happens
				// meanwhile arrives live (held back) rather than falling
				// between the two.
				histOn = false
				wg.Add(1)
				go readHistory()
			}
		}, func(m api.StreamMessage) error {
			if m.ID != "" {
				lastID = m.ID
			}
			got++
			mu.Lock()
			defer mu.Unlock()
			switch {
			case !f.since.IsZero() && !histOut:
				if len(held) == tailHeldMax {
					held = held[1:]
					heldCut++
				}
				held = append(held, m.Attempt)
			case seen != nil:
				if _, dup := seen[m.Attempt.ID]; !dup {
					out(m.Attempt)
				}
			default:
				out(m.Attempt)
			}
			if enough {
				return errEnough
			}
			return nil
		})
		mu.Lock()
		done, ferr := enough, fatal
		mu.Unlock()
		switch {
		case ferr != nil:
			return ferr
		case done || errors.Is(err, errEnough) || ctx.Err() != nil:
			return nil
		case !streamRetryable(err) || !everUp && isUnreachable(err):
			// A server that was never reached is more likely the wrong
			// one than a restarting one: say so now rather than retry.
			f.setState(tui.ConnState{Phase: tui.PhaseFailed, Err: err})
			return err
		}
		// A stream that was up for a while starts the count over; one
		// that fails at once keeps backing off.
		if !connectedAt.IsZero() && (got > 0 || f.now().Sub(connectedAt) > 10*time.Second) {
			fails = 0
		}
		fails++
		delay := f.backoff(fails)
		if fails == 1 && errors.Is(err, api.ErrStreamDropped) {
			delay = 0 // we fell behind: resume at once, the server keeps the rest
		}
		f.setState(tui.ConnState{Phase: tui.PhaseReconnecting, Attempt: fails, Err: err, Retry: f.now().Add(delay)})
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

func (f *follower) setState(s tui.ConnState) {
	if f.state != nil {
		f.state(s)
	}
}

// streamRetryable tells the errors a reconnection may cure (the network,
// the server restarting or shedding load, the stream ending or dropping
// us) from those it cannot (a bad key, a bad filter, an answer we cannot
// read).
func streamRetryable(err error) bool {
	var ae *api.Error
	var ue *api.UnreachableError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, api.ErrStreamDropped), errors.As(err, &ue):
		return true
	case errors.As(err, &ae):
		return ae.Status >= 500 || ae.Status == http.StatusRequestTimeout || ae.Status == http.StatusTooManyRequests
	}
	return false
}

func isUnreachable(err error) bool {
	var ue *api.UnreachableError
	return errors.As(err, &ue)
}

// history reads the attempts since f.since, oldest first, at most
// tailHistoryMax of them (the newest); cut says some were left out.
func (f *follower) history(ctx context.Context) (attempts []api.Attempt, cut bool, err error) {
	// The list takes one endpoint and exact event types only: several
	// endpoints are read one by one, and a pattern is matched here.
	endpoints := f.endpoints
	if len(endpoints) == 0 {
		endpoints = []string{""}
	}
	eventType, pattern := f.eventType, ""
	if strings.Contains(eventType, "*") {
		eventType, pattern = "", eventType
	}
	for _, ep := range endpoints {
		q := api.ListQuery{EndpointID: ep, EventType: eventType, Outcome: f.outcome, TenantID: f.tenant, Since: f.since, Limit: tailPageSize}
		n := 0
		seenCursor := map[string]bool{}
	pages:
		for page := 0; ; page++ {
			if page == tailHistoryPages {
				cut = true
				break
			}
			res, err := f.api.ListAttempts(ctx, q)
			if err != nil {
				return nil, false, err
			}
			for _, a := range res.Items {
				if pattern != "" && !domain.MatchEventType(pattern, a.EventType) {
					continue
				}
				if n == tailHistoryMax {
					cut = true
					break pages
				}
				attempts = append(attempts, a)
				n++
			}
			if res.NextCursor == "" || seenCursor[res.NextCursor] {
				break
			}
			seenCursor[res.NextCursor] = true
			q.Cursor = res.NextCursor
		}
	}
	sort.SliceStable(attempts, func(i, j int) bool {
		if !attempts[i].StartedAt.Equal(attempts[j].StartedAt) {
			return attempts[i].StartedAt.Before(attempts[j].StartedAt)
		}
		return attempts[i].ID < attempts[j].ID
	})
	if len(attempts) > tailHistoryMax {
		attempts = attempts[len(attempts)-tailHistoryMax:]
		cut = true
	}
	return attempts, cut, nil
}
