package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// readiness collects the state of what the daemon depends on, for
// /readyz: ready once everything has started and no critical dependency
// reports a problem. Cassandra is not critical: deliveries go on while it
// is down (the log writer catches up), so its failure makes the answer
// "degraded", still 200, with the detail.
type readiness struct {
	mu      sync.Mutex
	started bool
	deps    map[string]depState
}

type depState struct {
	Status    string    `json:"status"` // ok or error
	Error     string    `json:"error,omitempty"`
	LatencyMS float64   `json:"latency_ms,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
	critical  bool
}

func newReadiness() *readiness {
	return &readiness{deps: map[string]depState{}}
}

// nonCritical names the dependencies whose failure does not make the
// process unready.
var nonCritical = map[string]bool{"cassandra": true}

// set records a dependency's state; "started" marks the end of start-up.
func (r *readiness) set(name string, err error) {
	r.observe(name, err, 0)
}

func (r *readiness) observe(name string, err error, latency time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "started" {
		r.started = true
		return
	}
	st := depState{Status: "ok", CheckedAt: time.Now().UTC(), critical: !nonCritical[name]}
	if latency > 0 {
		st.LatencyMS = float64(latency.Microseconds()) / 1000
	}
	if err != nil {
		st.Status, st.Error = "error", err.Error()
	}
	r.deps[name] = st
}

// watch checks a dependency every interval until ctx ends.
func (r *readiness) watch(ctx context.Context, name string, every time.Duration, ping func(context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		start := time.Now()
		err := ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		r.observe(name, err, time.Since(start))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ServeHTTP answers 200 when ready (or degraded), else 503, with every
// dependency's state.
func (r *readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	checks := make(map[string]depState, len(r.deps)+1)
	status, code := "ready", http.StatusOK
	names := make([]string, 0, len(r.deps))
	for name := range r.deps {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st := r.deps[name]
		checks[name] = st
		if st.Status != "ok" {
			if st.critical {
				status, code = "not_ready", http.StatusServiceUnavailable
			} else if status == "ready" {
				status = "degraded"
			}
		}
	}
	if !r.started {
		checks["startup"] = depState{Status: "error", Error: "starting", CheckedAt: time.Now().UTC()}
		status, code = "not_ready", http.StatusServiceUnavailable
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "checks": checks})
}
