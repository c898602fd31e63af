package lanes

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Limits are one endpoint's own bounds, as its configuration gives them
// (domain.Endpoint.MaxConcurrency and RateLimit). They are passed with
// every Acquire, so an endpoint update takes effect at its next delivery.
type Limits struct {
	// MaxConcurrency bounds the endpoint's in-flight deliveries; 0 or less
	// means Config.DefaultConcurrency.
	MaxConcurrency int
	// RatePerSec bounds the endpoint's deliveries per second; 0 or less
	// (or NaN, or +Inf) means no limit.
	RatePerSec float64
}

// Result is the outcome of a delivery, fed to the endpoint's breaker.
type Result struct {
	// Success is true when the endpoint accepted the delivery (its success
	// status codes). Everything else is a failure: other statuses,
	// connection and TLS errors, timeouts.
	Success bool
	// Timeout is true when the attempt failed by running out of time. A
	// streak of them opens the breaker early (BreakerConfig
	// .ConsecutiveTimeouts).
	Timeout bool
	// Aborted is true when the attempt ended for reasons of our own before
	// the endpoint could answer (shutdown, a blocked destination): it says
	// nothing about the endpoint, so the breaker ignores it.
	Aborted bool
}

// Reason tells why Acquire refused a delivery.
type Reason uint8

// Reasons. ReasonNone means admitted.
const (
	ReasonNone Reason = iota
	// ReasonSaturated: the endpoint has MaxConcurrency deliveries in flight.
	ReasonSaturated
	// ReasonRateLimited: no rate token is due within Config.MaxRateWait.
	ReasonRateLimited
	// ReasonCircuitOpen: the endpoint's breaker is open, or half-open with
	// all its probes in flight.
	ReasonCircuitOpen
	// ReasonGlobalLimit: the process is at Config.MaxInFlight and
	// Config.NoGlobalWait is set.
	ReasonGlobalLimit
	// ReasonCanceled: ctx ended while Acquire waited (for a global slot
	// or a rate token). The delivery was not refused because of the
	// endpoint; the caller is usually shutting down.
	ReasonCanceled
)

// String returns the reason as metrics labels and logs spell it.
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "admitted"
	case ReasonSaturated:
		return "saturated"
	case ReasonRateLimited:
		return "rate_limited"
	case ReasonCircuitOpen:
		return "circuit_open"
	case ReasonGlobalLimit:
		return "global_limit"
	case ReasonCanceled:
		return "canceled"
	}
	return "unknown"
}

// Decision is Acquire's answer.
type Decision struct {
	// Reason is ReasonNone when the delivery is admitted.
	Reason Reason
	// RetryAfter, when not zero, is the earliest time from now at which
	// the same request could be admitted: until a rate token is due, or
	// until an open breaker lets probes through. The dispatcher can use it
	// to pick a retry tier. Zero means unknown (saturation depends on
	// other deliveries finishing).
	RetryAfter time.Duration
}

// Admitted reports whether the delivery may go.
func (d Decision) Admitted() bool { return d.Reason == ReasonNone }

// Config configures Lanes. Zero fields take the defaults.
type Config struct {
	// MaxInFlight bounds all in-flight deliveries of the process
	// (default DefaultMaxInFlight).
	MaxInFlight int
	// DefaultConcurrency bounds an endpoint's in-flight deliveries when
	// its Limits do not (default DefaultMaxConcurrency).
	DefaultConcurrency int
	// MaxRateWait is how long Acquire may wait for an endpoint's next rate
	// token instead of refusing with ReasonRateLimited. 0 (the default)
	// never waits. A few milliseconds smooth the edges of a rate without
	// holding up the caller noticeably.
	MaxRateWait time.Duration
	// NoGlobalWait makes Acquire refuse with ReasonGlobalLimit, instead of
	// waiting, when MaxInFlight deliveries are in flight.
	NoGlobalWait bool
	// SaturationWait is how long Acquire may wait for a slot of an
	// endpoint at its concurrency bound (with a closed breaker) before
	// refusing with ReasonSaturated. 0 (the default) never waits. A short
	// wait absorbs bursts, which would otherwise each cost a round trip
	// through a retry tier; it cannot hold up other endpoints for long,
	// because at most four times as many callers as the endpoint's
	// concurrency wait, for at most this long.
	SaturationWait time.Duration
	// IdleTTL is how long an endpoint's lane is kept after its last use
	// (default DefaultIdleTTL).
	IdleTTL time.Duration
	Breaker BreakerConfig
	// Clock defaults to SystemClock.
	Clock Clock
	// OnStateChange, when set, is called after each breaker transition,
	// on the goroutine whose Acquire or Release caused it and after the
	// endpoint's lock is released (so it may call State). It must be
	// quick: it runs on the delivery path. Calls for different endpoints
	// may be concurrent; StateChange.At orders those of one endpoint.
	OnStateChange func(StateChange)
}

// Defaults of Config. MaxInFlight and DefaultConcurrency match the
// daemon's delivery configuration defaults.
const (
	DefaultMaxInFlight    = 2000
	DefaultMaxConcurrency = 16
	DefaultIdleTTL        = 10 * time.Minute
)

// Upper bounds of durations in Config. Beyond them a breaker is not the
// right tool (an endpoint refused for days should be disabled), and
// keeping them bounded keeps the lanes' timestamp arithmetic far from
// overflow.
const (
	maxIdleTTL         = 30 * 24 * time.Hour
	maxBreakerDuration = 24 * time.Hour
)

// Lanes admits deliveries. One per process; safe for concurrent use.
type Lanes struct {
	clock Clock
	// sysClock is set when clock is SystemClock: time.Since reads only the
	// monotonic clock, which costs half of what time.Now does, and the
	// clock is read twice per delivery.
	sysClock bool
	epoch    time.Time
	global   *semaphore
	onChange func(StateChange)

	noGlobalWait   bool
	breakerOff     bool
	defaultConc    int32
	halfOpenProbes int32
	consecTimeouts int32
	minRequests    uint32
	failureRate    float64
	maxRateWait    time.Duration
	saturationWait int64
	// Durations in nanoseconds, the unit of the lanes' timestamps.
	bucketWidth, window   int64
	coolDown, maxCoolDown int64
	idleTTL, sweepEvery   int64

	tab table
}

// lane is one endpoint's state. Everything but id is guarded by mu.
// Timestamps are nanoseconds since Lanes.epoch.
type lane struct {
	mu sync.Mutex
	// evicted is set when the lane has left the table; a caller that
	// looked it up just before must look again.
	evicted bool
	state   State
	// recovered is set when a probe closed the breaker: tripping again
	// within a window of that doubles the cool-down.
	recovered bool
	// gen counts breaker transitions. A permit remembers the gen it was
	// admitted under; only outcomes of the current gen count.
	gen        uint32
	inFlight   int32
	maxConc    int32
	probes     int32 // probes in flight, while half-open
	timeouts   int32 // consecutive timeouts since the last success
	lim        Limits
	since      int64 // last transition
	openUntil  int64
	coolDown   int64 // of the next (or current) open period
	lastActive int64
	bucket     tokenBucket
	window     window
	id         string
	// waiters wait for a slot of this saturated lane, oldest first; a
	// Release wakes the oldest. Allocated on first use: most lanes never
	// saturate, and a lane's size is per endpoint.
	waiters *waitQueue
}

type waitQueue struct{ list []*slotWaiter }

func (ln *lane) waiting() int {
	if ln.waiters == nil {
		return 0
	}
	return len(ln.waiters.list)
}

// slotWaiter is a caller of Acquire waiting for a slot of a saturated
// lane (Config.SaturationWait).
type slotWaiter struct {
	ctx  context.Context
	wake context.CancelFunc
	ln   *lane
}

// New returns Lanes configured by cfg, or an error if a field is out of
// range.
func New(cfg Config) (*Lanes, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	b := &cfg.Breaker
	l := &Lanes{
		clock:          cfg.Clock,
		global:         newSemaphore(cfg.MaxInFlight),
		onChange:       cfg.OnStateChange,
		noGlobalWait:   cfg.NoGlobalWait,
		breakerOff:     b.Disabled,
		defaultConc:    int32(min(cfg.DefaultConcurrency, math.MaxInt32)),
		halfOpenProbes: int32(min(b.HalfOpenProbes, math.MaxInt32)),
		consecTimeouts: int32(min(b.ConsecutiveTimeouts, math.MaxInt32)),
		minRequests:    uint32(min(b.MinRequests, math.MaxUint32)),
		failureRate:    b.FailureRate,
		maxRateWait:    cfg.MaxRateWait,
		saturationWait: int64(cfg.SaturationWait),
		bucketWidth:    int64(b.Window) / windowSlots,
		window:         int64(b.Window),
		coolDown:       int64(b.CoolDown),
		maxCoolDown:    int64(b.MaxCoolDown),
		idleTTL:        int64(cfg.IdleTTL),
		sweepEvery:     max(int64(cfg.IdleTTL)/4, 1),
	}
	_, l.sysClock = l.clock.(SystemClock)
	l.epoch = l.clock.Now()
	l.tab.init(l.sweepEvery)
	return l, nil
}

func (c *Config) normalize() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("lanes: "+format, args...))
	}
	if c.MaxInFlight < 0 {
		bad("MaxInFlight %d is negative", c.MaxInFlight)
	} else if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.DefaultConcurrency < 0 {
		bad("DefaultConcurrency %d is negative", c.DefaultConcurrency)
	} else if c.DefaultConcurrency == 0 {
		c.DefaultConcurrency = DefaultMaxConcurrency
	}
	if c.MaxRateWait < 0 {
		bad("MaxRateWait %v is negative", c.MaxRateWait)
	}
	if c.SaturationWait < 0 || c.SaturationWait > time.Minute {
		bad("SaturationWait %v is not between 0 and 1m", c.SaturationWait)
	}
	if c.IdleTTL < 0 || c.IdleTTL > maxIdleTTL {
		bad("IdleTTL %v is not between 0 and %v", c.IdleTTL, maxIdleTTL)
	} else if c.IdleTTL == 0 {
		c.IdleTTL = DefaultIdleTTL
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	b := &c.Breaker
	switch {
	case b.Window < 0 || b.Window > maxBreakerDuration:
		bad("Breaker.Window %v is not between 0 and %v", b.Window, maxBreakerDuration)
	case b.Window == 0:
		b.Window = DefaultWindow
	case b.Window < windowSlots:
		bad("Breaker.Window %v is too short", b.Window)
	}
	if b.MinRequests < 0 {
		bad("Breaker.MinRequests %d is negative", b.MinRequests)
	} else if b.MinRequests == 0 {
		b.MinRequests = DefaultMinRequests
	}
	switch {
	case math.IsNaN(b.FailureRate) || b.FailureRate < 0 || b.FailureRate > 1:
		bad("Breaker.FailureRate %v is not between 0 and 1", b.FailureRate)
	case b.FailureRate == 0:
		b.FailureRate = DefaultFailureRate
	}
	if b.ConsecutiveTimeouts == 0 {
		b.ConsecutiveTimeouts = DefaultConsecutiveTimeouts
	}
	if b.CoolDown < 0 || b.CoolDown > maxBreakerDuration {
		bad("Breaker.CoolDown %v is not between 0 and %v", b.CoolDown, maxBreakerDuration)
	} else if b.CoolDown == 0 {
		b.CoolDown = DefaultCoolDown
	}
	switch {
	case b.MaxCoolDown == 0:
		b.MaxCoolDown = max(DefaultMaxCoolDown, b.CoolDown)
	case b.MaxCoolDown > maxBreakerDuration:
		bad("Breaker.MaxCoolDown %v is longer than %v", b.MaxCoolDown, maxBreakerDuration)
	case b.MaxCoolDown < b.CoolDown:
		bad("Breaker.MaxCoolDown %v is shorter than CoolDown %v", b.MaxCoolDown, b.CoolDown)
	}
	if b.HalfOpenProbes < 0 {
		bad("Breaker.HalfOpenProbes %d is negative", b.HalfOpenProbes)
	} else if b.HalfOpenProbes == 0 {
		b.HalfOpenProbes = DefaultHalfOpenProbes
	}
	return errors.Join(errs...)
}

// Permit is an admitted delivery's hold on its endpoint's lane and on a
// global slot. Release it exactly once, whatever happens to the delivery;
// a permit never released keeps its slots forever. The zero Permit (what
// a refused Acquire returns) may be released and does nothing.
type Permit struct {
	l     *Lanes
	ln    *lane
	gen   uint32
	probe bool
}

// Probe reports whether the delivery is a half-open breaker's probe:
// whether it reopens or closes the breaker depends on it.
func (p Permit) Probe() bool { return p.probe }

// change is a breaker transition waiting to be reported once the lane is
// unlocked.
type change struct {
	ok       bool
	from, to State
	at       int64
	cause    string
	rate     float64
	coolDown int64
}

// Acquire asks whether a delivery to endpointID may go now, under the
// endpoint's current limits. When admitted, the caller delivers and then
// releases the permit with the outcome. When refused, it moves the
// delivery to a retry tier: Acquire waits on account of the endpoint only
// up to Config.MaxRateWait for a rate token and Config.SaturationWait for
// a slot of a saturated endpoint whose breaker is closed.
//
// It waits, as long as ctx allows, for a global slot when the process is
// at Config.MaxInFlight (unless Config.NoGlobalWait), after all of the
// endpoint's own checks have passed: see the package documentation.
func (l *Lanes) Acquire(ctx context.Context, endpointID string, lim Limits) (Permit, Decision) {
	lim = normalizeLimits(lim)
	// deadline ends the wait for a saturated lane's slot: 0 before any
	// wait, -1 once waiting is over (one last try, then refuse).
	var deadline int64
	for {
		p, d, w := l.tryAcquire(ctx, endpointID, lim, &deadline)
		if w == nil {
			return p, d
		}
		err := l.clock.Sleep(w.ctx, time.Duration(deadline-l.now()))
		w.wake()
		if ctx.Err() != nil {
			l.leave(w)
			return Permit{}, Decision{Reason: ReasonCanceled}
		}
		if err == nil {
			// Timed out rather than woken: one last try.
			l.leave(w)
			deadline = -1
		}
	}
}

// leave drops w from its lane's waiters, if it is still there (a
// timed-out or canceled waiter that no Release woke).
func (l *Lanes) leave(w *slotWaiter) {
	ln := w.ln
	ln.mu.Lock()
	if q := ln.waiters; q != nil {
		for i, x := range q.list {
			if x == w {
				q.list = append(q.list[:i], q.list[i+1:]...)
				break
			}
		}
	}
	ln.mu.Unlock()
}

// tryAcquire is one attempt of Acquire. When the lane is saturated and the
// caller may wait, it registers a waiter and returns it (with the lane
// unlocked); the caller sleeps until woken or the deadline, then tries again.
func (l *Lanes) tryAcquire(ctx context.Context, endpointID string, lim Limits, deadline *int64) (Permit, Decision, *slotWaiter) {
	now := l.now()
	sh := l.tab.shardFor(endpointID)
	l.maybeSweep(sh, now)
	ln := l.lockLane(sh, endpointID, lim, now)
	ln.lastActive = now
	l.setLimits(ln, lim, now)

	var ch change
	probe, d := l.admitBreaker(ln, now, &ch)
	if d.Admitted() {
		switch wait := ln.bucket.wait(now); {
		case ln.inFlight >= ln.maxConc:
			if w := l.waitForSlot(ctx, ln, probe, now, deadline); w != nil {
				ln.mu.Unlock()
				l.notify(ln, &ch)
				return Permit{}, Decision{}, w
			}
			d = Decision{Reason: ReasonSaturated}
		case wait > l.maxRateWait:
			d = Decision{Reason: ReasonRateLimited, RetryAfter: wait}
		case l.global.tryAcquire():
			ln.inFlight++
			if probe {
				ln.probes++
			}
			ln.bucket.take()
			p := Permit{l: l, ln: ln, gen: ln.gen, probe: probe}
			ln.mu.Unlock()
			l.notify(ln, &ch)
			if wait > 0 {
				p, d := l.sleepForToken(ctx, p, wait)
				return p, d, nil
			}
			return p, Decision{}, nil
		case l.noGlobalWait:
			d = Decision{Reason: ReasonGlobalLimit}
		default:
			// Hold the endpoint's slot while waiting, so that its bound
			// counts the waiters too; take the rate token only afterwards.
			ln.inFlight++
			if probe {
				ln.probes++
			}
			p := Permit{l: l, ln: ln, gen: ln.gen, probe: probe}
			ln.mu.Unlock()
			l.notify(ln, &ch)
			p, d := l.acquireSlow(ctx, p)
			return p, d, nil
		}
	}
	ln.mu.Unlock()
	l.notify(ln, &ch)
	return Permit{}, d, nil
}

// waitForSlot registers a waiter for a saturated lane (locked), if the
// caller may wait: waiting is configured, the breaker is closed, fewer
// callers than four times the lane's bound already wait (enough to ride
// out a burst; a slow endpoint's waiters still give up after
// SaturationWait), and the wait has not ended.
func (l *Lanes) waitForSlot(ctx context.Context, ln *lane, probe bool, now int64, deadline *int64) *slotWaiter {
	if l.saturationWait == 0 || probe || ln.state != StateClosed || *deadline < 0 || int32(ln.waiting()) >= 4*ln.maxConc {
		return nil
	}
	if *deadline == 0 {
		*deadline = now + l.saturationWait
	}
	if now >= *deadline {
		return nil
	}
	wctx, wake := context.WithCancel(ctx)
	w := &slotWaiter{ctx: wctx, wake: wake, ln: ln}
	if ln.waiters == nil {
		ln.waiters = &waitQueue{}
	}
	ln.waiters.list = append(ln.waiters.list, w)
	return w
}

// acquireSlow waits for a global slot for a permit that already holds its
// endpoint slot, then takes the rate token.
func (l *Lanes) acquireSlow(ctx context.Context, p Permit) (Permit, Decision) {
	if err := l.global.acquire(ctx); err != nil {
		l.undo(p, false, false)
		return Permit{}, Decision{Reason: ReasonCanceled}
	}
	ln := p.ln
	now := l.now()
	ln.mu.Lock()
	ln.lastActive = now
	if p.gen != ln.gen {
		if ln.state != StateClosed {
			// The breaker opened while this caller waited.
			d := Decision{Reason: ReasonCircuitOpen}
			if ln.state == StateOpen {
				d.RetryAfter = time.Duration(ln.openUntil - now)
			}
			ln.inFlight--
			ln.mu.Unlock()
			l.global.release()
			return Permit{}, d
		}
		// It closed (this caller was a probe, or the breaker went round):
		// the delivery goes on as an ordinary one.
		p.gen, p.probe = ln.gen, false
	}
	wait := ln.bucket.wait(now)
	if wait > l.maxRateWait {
		ln.inFlight--
		if p.probe {
			ln.probes--
		}
		ln.mu.Unlock()
		l.global.release()
		return Permit{}, Decision{Reason: ReasonRateLimited, RetryAfter: wait}
	}
	ln.bucket.take()
	ln.mu.Unlock()
	if wait > 0 {
		return l.sleepForToken(ctx, p, wait)
	}
	return p, Decision{}
}

// sleepForToken waits until the token p took is due.
func (l *Lanes) sleepForToken(ctx context.Context, p Permit, wait time.Duration) (Permit, Decision) {
	if err := l.clock.Sleep(ctx, wait); err != nil {
		l.undo(p, true, true)
		return Permit{}, Decision{Reason: ReasonCanceled}
	}
	return p, Decision{}
}

// undo gives back what an admitted permit holds when the caller gives up
// before delivering.
func (l *Lanes) undo(p Permit, refundToken, holdsGlobal bool) {
	ln := p.ln
	ln.mu.Lock()
	ln.inFlight--
	if p.probe && p.gen == ln.gen {
		ln.probes--
	}
	if refundToken {
		ln.bucket.refund()
	}
	ln.mu.Unlock()
	if holdsGlobal {
		l.global.release()
	}
}

// Release frees the permit's slots and feeds the outcome to the endpoint's
// breaker.
func (p Permit) Release(r Result) {
	l, ln := p.l, p.ln
	if ln == nil {
		return
	}
	now := l.now()
	var ch change
	ln.mu.Lock()
	ln.inFlight--
	ln.lastActive = now
	if p.gen == ln.gen {
		if p.probe {
			ln.probes--
		}
		if !r.Aborted && !l.breakerOff {
			l.record(ln, now, r, &ch)
		}
	}
	var next *slotWaiter
	if q := ln.waiters; q != nil && len(q.list) > 0 {
		next = q.list[0]
		q.list[0] = nil
		q.list = q.list[1:]
	}
	ln.mu.Unlock()
	l.global.release()
	if next != nil {
		next.wake()
	}
	l.notify(ln, &ch)
}

// admitBreaker applies the breaker to an Acquire: whether the delivery may
// go and whether it is a probe.
func (l *Lanes) admitBreaker(ln *lane, now int64, ch *change) (probe bool, d Decision) {
	switch ln.state {
	case StateClosed:
		return false, Decision{}
	case StateOpen:
		if now < ln.openUntil {
			return false, Decision{Reason: ReasonCircuitOpen, RetryAfter: time.Duration(ln.openUntil - now)}
		}
		l.transition(ln, StateHalfOpen, now, CauseCoolDown, ch)
	}
	if ln.probes >= l.halfOpenProbes {
		return false, Decision{Reason: ReasonCircuitOpen}
	}
	return true, Decision{}
}

// record feeds an outcome admitted under the current breaker state to the
// breaker.
func (l *Lanes) record(ln *lane, now int64, r Result, ch *change) {
	failed := !r.Success
	switch ln.state {
	case StateClosed:
		idx := l.slot(now)
		ln.window.add(idx, failed)
		if !failed {
			ln.timeouts = 0
			return
		}
		if r.Timeout {
			ln.timeouts++
		}
		var cause string
		if l.consecTimeouts > 0 && ln.timeouts >= l.consecTimeouts {
			cause = CauseTimeouts
		} else if l.failureRate < 1 {
			total, fails := ln.window.counts(idx)
			if total >= l.minRequests && float64(fails) > l.failureRate*float64(total) {
				cause = CauseFailureRate
			}
		}
		if cause == "" {
			return
		}
		if ln.recovered && now-ln.since < l.window {
			ln.coolDown = l.doubled(ln.coolDown)
		} else {
			ln.coolDown = l.coolDown
		}
		ln.recovered = false
		l.transition(ln, StateOpen, now, cause, ch)
	case StateHalfOpen:
		// Only probes are admitted while half-open, so this is a probe.
		if failed {
			ln.coolDown = l.doubled(ln.coolDown)
			l.transition(ln, StateOpen, now, CauseProbeFailed, ch)
			return
		}
		ln.recovered = true
		l.transition(ln, StateClosed, now, CauseProbeOK, ch)
	case StateOpen:
		// Nothing is admitted while open, so no permit has this gen.
	}
}

func (l *Lanes) doubled(d int64) int64 {
	if d > l.maxCoolDown/2 {
		return l.maxCoolDown
	}
	return 2 * d
}

// transition moves the breaker to state to and notes the change in ch.
func (l *Lanes) transition(ln *lane, to State, now int64, cause string, ch *change) {
	*ch = change{ok: true, from: ln.state, to: to, at: now, cause: cause, rate: ln.window.rate(l.slot(now))}
	ln.state = to
	ln.gen++
	ln.since = now
	ln.probes = 0
	switch to {
	case StateOpen:
		ln.openUntil = now + ln.coolDown
		ln.timeouts = 0
		ch.coolDown = ln.coolDown
	case StateClosed:
		ln.window.reset()
		ln.timeouts = 0
	case StateHalfOpen:
	}
}

// notify reports a transition, if any, to Config.OnStateChange.
func (l *Lanes) notify(ln *lane, ch *change) {
	if !ch.ok || l.onChange == nil {
		return
	}
	l.onChange(StateChange{
		EndpointID:  ln.id,
		From:        ch.from,
		To:          ch.to,
		At:          l.timeAt(ch.at),
		Cause:       ch.cause,
		FailureRate: ch.rate,
		CoolDown:    time.Duration(ch.coolDown),
	})
}

// normalizeLimits maps every "no limit" spelling to 0, so that unchanged
// limits compare equal (NaN would not).
func normalizeLimits(lim Limits) Limits {
	if lim.MaxConcurrency < 0 {
		lim.MaxConcurrency = 0
	}
	if !(lim.RatePerSec > 0) || math.IsInf(lim.RatePerSec, 1) {
		lim.RatePerSec = 0
	}
	return lim
}

// setLimits applies the limits of an Acquire to the lane. In-flight
// deliveries stay counted: a lowered MaxConcurrency refuses new ones until
// enough have finished, and a changed rate keeps the tokens earned so far.
func (l *Lanes) setLimits(ln *lane, lim Limits, now int64) {
	if lim == ln.lim {
		return
	}
	ln.lim = lim
	if lim.MaxConcurrency > 0 {
		ln.maxConc = int32(min(lim.MaxConcurrency, math.MaxInt32))
	} else {
		ln.maxConc = l.defaultConc
	}
	if lim.RatePerSec != ln.bucket.rate {
		ln.bucket.setRate(lim.RatePerSec, now)
	}
}

func (l *Lanes) newLane(id string, lim Limits, now int64) *lane {
	ln := &lane{
		id:         id,
		since:      now,
		lastActive: now,
		coolDown:   l.coolDown,
		lim:        Limits{MaxConcurrency: -1}, // so that setLimits applies lim
	}
	l.setLimits(ln, lim, now)
	return ln
}

// lockLane returns the endpoint's lane, locked, creating it if needed.
func (l *Lanes) lockLane(sh *shard, id string, lim Limits, now int64) *lane {
	for {
		ln := sh.getOrCreate(l, id, lim, now)
		ln.mu.Lock()
		if !ln.evicted {
			return ln
		}
		ln.mu.Unlock()
	}
}

// maybeSweep sweeps the shard if it is due; one caller wins the sweep.
func (l *Lanes) maybeSweep(sh *shard, now int64) {
	next := sh.nextSweep.Load()
	if now < next || !sh.nextSweep.CompareAndSwap(next, now+l.sweepEvery) {
		return
	}
	sh.sweep(l, now)
}

// evictable reports whether forgetting the lane changes nothing that
// matters: nothing in flight, unused for IdleTTL, a full bucket, and a
// closed breaker (or an open one long past its cool-down). The lane is
// locked.
func (l *Lanes) evictable(ln *lane, now int64) bool {
	if ln.inFlight > 0 || ln.waiting() > 0 {
		return false
	}
	idle := now - ln.lastActive
	if idle < l.idleTTL {
		return false
	}
	if ln.state != StateClosed && idle-l.idleTTL < ln.coolDown {
		return false
	}
	return ln.bucket.full(now)
}

// Sweep evicts idle lanes from the whole table at once and returns how
// many. Acquire already sweeps, a shard at a time; this is for tests and
// for callers that want memory back after traffic stops altogether.
func (l *Lanes) Sweep() int {
	now := l.now()
	n := 0
	for i := range l.tab.shards {
		sh := &l.tab.shards[i]
		sh.nextSweep.Store(now + l.sweepEvery)
		n += sh.sweep(l, now)
	}
	return n
}

// State returns the endpoint's breaker state, when it entered it, and the
// failure rate over the current window (0 to 1), for stats and metrics. An
// endpoint without a lane (never seen, or evicted) is closed, since the
// zero time, with no failures. Transitions are lazy: an open breaker past
// its cool-down reports open until the next Acquire makes it half-open.
func (l *Lanes) State(endpointID string) (state State, since time.Time, failureRate float64) {
	ln := l.tab.shardFor(endpointID).get(endpointID)
	if ln == nil {
		return StateClosed, time.Time{}, 0
	}
	now := l.now()
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return ln.state, l.timeAt(ln.since), ln.window.rate(l.slot(now))
}

// InFlight returns the endpoint's in-flight deliveries.
func (l *Lanes) InFlight(endpointID string) int {
	ln := l.tab.shardFor(endpointID).get(endpointID)
	if ln == nil {
		return 0
	}
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return int(ln.inFlight)
}

// GlobalInFlight returns the number of global slots held: admitted
// deliveries, and callers waiting for a rate token due within MaxRateWait.
func (l *Lanes) GlobalInFlight() int { return int(l.global.n.Load()) }

// Len returns the number of lanes held, for metrics.
func (l *Lanes) Len() int {
	n := 0
	for i := range l.tab.shards {
		sh := &l.tab.shards[i]
		sh.mu.RLock()
		n += len(sh.lanes)
		sh.mu.RUnlock()
	}
	return n
}

// now returns the time in nanoseconds since the epoch.
func (l *Lanes) now() int64 {
	if l.sysClock {
		return int64(time.Since(l.epoch))
	}
	return int64(l.clock.Now().Sub(l.epoch))
}

func (l *Lanes) timeAt(ns int64) time.Time { return l.epoch.Add(time.Duration(ns)) }

// slot is the number of the window bucket holding time now.
func (l *Lanes) slot(now int64) uint32 { return uint32(now / l.bucketWidth) }
