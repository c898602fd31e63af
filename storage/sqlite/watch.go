package sqlite

import (
	"context"
	"errors"
	"sync"
)

// watchBuffer is how many changes a watcher may fall behind before its
// watch breaks. A broken watch makes the caller reload in full, which is
// cheaper than letting a stuck watcher's backlog grow without bound.
const watchBuffer = 1024

// ErrWatchOverflow ends a watch whose consumer fell too far behind; the
// caller reloads in full and watches again, as after any broken watch.
var ErrWatchOverflow = errors.New("sqlite: endpoint watcher fell behind; reload and watch again")

// hub broadcasts endpoint changes to the watches of this process. Only
// this process writes the file in `hookd dev`, so an in-process broadcast
// sees every change (where PostgreSQL needs LISTEN/NOTIFY).
type hub struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	ids  chan string
	done chan struct{} // closed when the watch breaks; err says why
	err  error
}

func newHub() *hub {
	return &hub{subs: map[*subscriber]struct{}{}}
}

// subscribe adds a watch; it fails once the hub is closed.
func (h *hub) subscribe() (*subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	s := &subscriber{ids: make(chan string, watchBuffer), done: make(chan struct{})}
	h.subs[s] = struct{}{}
	return s, nil
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// publish tells every watch that endpoint id changed. It never blocks: a
// watch whose buffer is full is broken instead.
func (h *hub) publish(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.ids <- id:
		default:
			h.breakLocked(s, ErrWatchOverflow)
		}
	}
}

// close breaks every watch with ErrClosed and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		h.breakLocked(s, ErrClosed)
	}
}

func (h *hub) breakLocked(s *subscriber, err error) {
	s.err = err
	close(s.done)
	delete(h.subs, s)
}

// WatchEndpoints calls onChange with the id of every endpoint created,
// updated, enabled or disabled, deleted or given a new secret after ready
// is called (ready may be nil). onChange runs on the caller's goroutine, never under a
// store lock, so a slow consumer does not slow writers. It returns
// ctx.Err() when ctx ends, ErrWatchOverflow when the consumer falls more
// than watchBuffer changes behind, and ErrClosed when the DB closes.
func (db *DB) WatchEndpoints(ctx context.Context, ready func(), onChange func(endpointID string)) error {
	s, err := db.hub.subscribe()
	if err != nil {
		return err
	}
	defer db.hub.unsubscribe(s)
	if ready != nil {
		ready()
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Deliver what is buffered before reporting a broken watch, so
		// nothing published before the break is lost.
		select {
		case id := <-s.ids:
			onChange(id)
			continue
		default:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			for {
				select {
				case id := <-s.ids:
					onChange(id)
				default:
					return s.err
				}
			}
		case id := <-s.ids:
			onChange(id)
		}
	}
}
