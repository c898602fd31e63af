package daemon

import (
	"encoding/json"
	"net/http"
	"sync"
)

// readiness collects the state of what the daemon waits for, for /readyz:
// ready once everything has started and no dependency reports a problem.
type readiness struct {
	mu       sync.Mutex
	started  bool
	problems map[string]string
}

func newReadiness() *readiness {
	return &readiness{problems: map[string]string{}}
}

// set records a dependency's state; "started" marks the end of start-up.
func (r *readiness) set(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "started" {
		r.started = true
		return
	}
	if err != nil {
		r.problems[name] = err.Error()
	} else {
		delete(r.problems, name)
	}
}

// ServeHTTP answers 200 when ready, else 503 with what is not ready.
func (r *readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	body := map[string]any{"status": "ready"}
	status := http.StatusOK
	if !r.started || len(r.problems) > 0 {
		checks := map[string]string{}
		for k, v := range r.problems {
			checks[k] = v
		}
		if !r.started && len(checks) == 0 {
			checks["startup"] = "starting"
		}
		body = map[string]any{"status": "not_ready", "checks": checks}
		status = http.StatusServiceUnavailable
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
