// Package retry decides when a failed delivery is tried again: the delay
// schedules (the default, an endpoint's explicit list, or exponential
// backoff), jitter, Retry-After, and the Kafka retry tiers where pending
// retries wait.
//
// # Attempts and delays
//
// Attempts are numbered from 1. The first attempt is immediate; a schedule
// lists the delay before each later one. The default schedule is
// immediately, 5s, 5m, 30m, 2h, 5h, 10h, 10h: eight attempts over about
// 28 hours. Next(p, n, rng) gives the delay before attempt n+1 once n
// attempts have failed, with ±20% jitter so that endpoints that failed
// together (an outage, a deploy) are not retried together.
//
// # Retry-After
//
// A 429 or 503 may say when to come back. hookd honors it within limits:
// never sooner than its own schedule (a receiver cannot make hookd hammer
// it, or skip a backoff that protects it), never later than twice the
// scheduled delay (a receiver cannot park deliveries for days and so stall
// the schedule that decides when deliveries are given up), and never later
// than a hard maximum (24 h by default).
//
// # Tiers
//
// Pending retries wait in Kafka, one topic per tier (see Tiers), not in
// memory.
package retry

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

// JitterFraction is how far a jittered delay may be from the scheduled
// one, either way.
const JitterFraction = 0.2

// DefaultMaxRetryAfter bounds how long a Retry-After header can make hookd
// wait.
const DefaultMaxRetryAfter = 24 * time.Hour

// defaultSchedule holds the delays before attempts 2 to 8.
var defaultSchedule = [...]time.Duration{
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

// DefaultSchedule returns the delays before each retry of the default
// policy (attempts 2 to 8; attempt 1 is immediate).
func DefaultSchedule() []time.Duration {
	return append([]time.Duration(nil), defaultSchedule[:]...)
}

// Rand is a source of jitter: Float64 returns a number in [0, 1).
// *math/rand/v2.Rand satisfies it; tests pass a fixed one.
type Rand interface {
	Float64() float64
}

// Attempts returns how many attempts p allows in all, the first included.
func Attempts(p domain.RetryPolicy) int {
	return retries(p) + 1
}

// retries is how many attempts follow the first. An explicit schedule
// wins over exponential settings; validation forbids giving both, but a
// policy that skipped validation must still mean something.
func retries(p domain.RetryPolicy) int {
	switch {
	case len(p.Schedule) > 0:
		return len(p.Schedule)
	case p.Exponential != nil:
		// Bounded so that Attempts cannot overflow on an unvalidated
		// policy.
		return min(max(p.Exponential.Attempts, 0), math.MaxInt32)
	}
	return len(defaultSchedule)
}

// Scheduled returns the delay before attempt n+1, without jitter, once n
// attempts have failed; ok is false when p allows no further attempt.
// Scheduled(p, 0) is (0, true): the first attempt is immediate.
func Scheduled(p domain.RetryPolicy, n int) (time.Duration, bool) {
	if n < 0 || n >= Attempts(p) {
		return 0, false
	}
	if n == 0 {
		return 0, true
	}
	switch {
	case len(p.Schedule) > 0:
		return max(p.Schedule[n-1], 0), true
	case p.Exponential != nil:
		return exponential(*p.Exponential, n), true
	}
	return defaultSchedule[n-1], true
}

// exponential is the delay before retry k (from 1): Min doubled k-1
// times, capped at Max (or at Min, should Max be below it).
func exponential(x domain.ExponentialRetry, k int) time.Duration {
	d, ceiling := x.Min, max(x.Max, x.Min)
	if d <= 0 {
		return 0
	}
	for i := 1; i < k && d < ceiling; i++ {
		if d > ceiling/2 {
			d = ceiling
			break
		}
		d *= 2
	}
	return min(d, ceiling)
}

// Next returns the delay before attempt n+1 once n attempts have failed,
// jittered by up to ±20%; ok is false when p is exhausted and the
// delivery becomes a dead letter. A nil rng uses the global math/rand/v2
// source (safe for concurrent use); pass one to make tests deterministic.
func Next(p domain.RetryPolicy, n int, rng Rand) (delay time.Duration, ok bool) {
	d, ok := Scheduled(p, n)
	if !ok {
		return 0, false
	}
	return Jitter(d, rng), true
}

// Jitter spreads d uniformly over [0.8 d, 1.2 d). A misbehaving rng
// (NaN, or outside [0, 1)) is clamped rather than trusted.
func Jitter(d time.Duration, rng Rand) time.Duration {
	if d <= 0 {
		return 0
	}
	var u float64
	if rng == nil {
		u = rand.Float64() //nolint:gosec // jitter spreads load; it need not be unpredictable
	} else {
		u = rng.Float64()
	}
	if !(u >= 0) { // also catches NaN
		u = 0
	}
	u = min(u, 1)
	f := float64(d) * (1 + JitterFraction*(2*u-1))
	if f >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(f)
}

// ParseRetryAfter reads a Retry-After header value (RFC 9110 §10.2.3):
// delta-seconds or an HTTP-date, relative to now. A date in the past is a
// zero delay; a number too large to represent is the largest duration.
// ok is false for anything else (empty, negative, fractional, garbage), which
// callers ignore.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(math.MaxInt64/time.Second) {
			// Only digits, so the error is a range error.
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// ClampRetryAfter bounds a receiver's requested delay to
// [scheduled, min(2×scheduled, limit)]. The schedule always wins over
// the limit: the result is never below scheduled, even when scheduled
// exceeds limit. A limit of 0 or less means DefaultMaxRetryAfter.
func ClampRetryAfter(scheduled, requested, limit time.Duration) time.Duration {
	scheduled = max(scheduled, 0)
	if limit <= 0 {
		limit = DefaultMaxRetryAfter
	}
	upper := time.Duration(math.MaxInt64)
	if scheduled <= math.MaxInt64/2 {
		upper = 2 * scheduled
	}
	upper = max(min(upper, limit), scheduled)
	return min(max(requested, scheduled), upper)
}

// WithRetryAfter returns the delay to wait given the scheduled (jittered)
// delay and a response's Retry-After header value, which is ignored when
// absent or unparseable.
func WithRetryAfter(scheduled time.Duration, header string, now time.Time, limit time.Duration) time.Duration {
	requested, ok := ParseRetryAfter(header, now)
	if !ok {
		return max(scheduled, 0)
	}
	return ClampRetryAfter(scheduled, requested, limit)
}
