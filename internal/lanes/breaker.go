package lanes

import (
	"time"
)

// State is a circuit breaker's state.
type State uint8

// Breaker states. The zero value is StateClosed.
const (
	StateClosed State = iota
	StateOpen
	StateHalfOpen
)

// String returns the state as metrics labels and logs spell it.
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateOpen:
		return "open"
	case StateHalfOpen:
		return "half_open"
	}
	return "unknown"
}

// Causes of state changes, in StateChange.Cause.
const (
	CauseFailureRate = "failure_rate"  // closed → open: too many failures in the window
	CauseTimeouts    = "timeouts"      // closed → open: consecutive timeouts
	CauseCoolDown    = "cool_down"     // open → half-open: the cool-down elapsed
	CauseProbeOK     = "probe_success" // half-open → closed
	CauseProbeFailed = "probe_failure" // half-open → open
)

// StateChange describes one transition of an endpoint's breaker, for
// Config.OnStateChange.
type StateChange struct {
	EndpointID string
	From, To   State
	At         time.Time
	Cause      string
	// FailureRate is the failure rate over the window when the change
	// happened (0 to 1).
	FailureRate float64
	// CoolDown is how long the breaker stays open, when To is StateOpen.
	CoolDown time.Duration
}

// BreakerConfig tunes the per-endpoint circuit breakers. Zero fields take
// the defaults (see the package documentation for why these values).
type BreakerConfig struct {
	// Disabled turns the breakers off: every endpoint stays closed.
	Disabled bool
	// Window is the span of the rolling failure-rate window, counted in
	// ten buckets (so it effectively covers the last 90-100% of Window).
	Window time.Duration
	// MinRequests is how many outcomes the window must hold before the
	// failure rate can open the breaker, so that two failures out of three
	// deliveries do not.
	MinRequests int
	// FailureRate opens the breaker when the share of failed outcomes in
	// the window exceeds it (0 < FailureRate <= 1; 1 turns this rule off).
	FailureRate float64
	// ConsecutiveTimeouts opens the breaker after that many timeouts with
	// no success between them (other failures neither count nor reset the
	// streak). Negative turns this rule off.
	ConsecutiveTimeouts int
	// CoolDown is how long an open breaker refuses everything before
	// letting probes through; it doubles on each failed probe, up to
	// MaxCoolDown.
	CoolDown    time.Duration
	MaxCoolDown time.Duration
	// HalfOpenProbes is how many probe deliveries may be in flight at once
	// while half-open.
	HalfOpenProbes int
}

// Breaker defaults.
const (
	DefaultWindow              = 30 * time.Second
	DefaultMinRequests         = 20
	DefaultFailureRate         = 0.5
	DefaultConsecutiveTimeouts = 5
	DefaultCoolDown            = 30 * time.Second
	DefaultMaxCoolDown         = 5 * time.Minute
	DefaultHalfOpenProbes      = 1
)

// windowSlots is the number of buckets of the rolling window. Ten keeps
// the window's edge within 10% of its nominal span for 120 bytes a lane.
const windowSlots = 10

// windowSlot counts the outcomes of one bucket of the window. idx is the
// bucket's number (time / bucket width) so a stale slot is recognized and
// reset on reuse; at 3 s per bucket uint32 lasts four centuries.
type windowSlot struct {
	idx         uint32
	total, fail uint32
}

// window is a rolling count of outcomes.
type window struct {
	slots [windowSlots]windowSlot
}

func (w *window) add(idx uint32, failed bool) {
	s := &w.slots[idx%windowSlots]
	if s.idx != idx {
		*s = windowSlot{idx: idx}
	}
	s.total++
	if failed {
		s.fail++
	}
}

// counts sums the buckets within the window ending at bucket idx.
func (w *window) counts(idx uint32) (total, fail uint32) {
	for i := range w.slots {
		s := &w.slots[i]
		if idx-s.idx < windowSlots {
			total += s.total
			fail += s.fail
		}
	}
	return total, fail
}

func (w *window) reset() { *w = window{} }

// rate returns the failure rate in the window ending at bucket idx.
func (w *window) rate(idx uint32) float64 {
	total, fail := w.counts(idx)
	if total == 0 {
		return 0
	}
	return float64(fail) / float64(total)
}
