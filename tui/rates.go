package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/domain"
)

// RateWindow is how far back the header's rates look.
const RateWindow = time.Minute

const windowSeconds = int(RateWindow / time.Second)

// Latencies are counted in a log-scale histogram per second, so that p50
// and p99 over a minute cost the same at ten attempts a second as at ten
// thousand: bucket i holds [base·2^(i/8), base·2^((i+1)/8)), about 9% wide.
const (
	latencyBase    = 100 * time.Microsecond
	bucketsPerOct  = 8
	latencyBuckets = bucketsPerOct * 22 // up to base·2^22, about 7 minutes
)

type secondBucket struct {
	sec           int64 // unix second; 0: unused
	total, failed int
	timed         int // attempts with a latency (a request was made)
	hist          [latencyBuckets]uint32
}

// Rates counts attempts per second over the last RateWindow. An attempt
// counts at the second it finished (started + duration), as the server's
// clock has it, so that a history loaded with --since lands where it
// belongs rather than as a burst at start-up.
type Rates struct {
	buckets [windowSeconds]secondBucket
	start   int64 // unix second the tail started; 0 until the first call
}

// RateSnapshot is what the header shows.
type RateSnapshot struct {
	// PerSecond is attempts per second over the window (or over the time
	// since the tail started, when that is shorter).
	PerSecond float64
	// FailurePct is the percentage of attempts that were not delivered.
	FailurePct float64
	// P50 and P99 are latency percentiles of the attempts that made a
	// request; zero when there were none.
	P50, P99 time.Duration
	Total    int
	// PerSec holds the attempts of each second of the window, oldest
	// first.
	PerSec [windowSeconds]int
}

// Add counts a at now.
func (r *Rates) Add(a *api.Attempt, now time.Time) {
	nowSec := now.Unix()
	if r.start == 0 {
		r.start = nowSec
	}
	sec := nowSec
	if !a.StartedAt.IsZero() {
		sec = min(a.StartedAt.Add(time.Duration(a.Duration)).Unix(), nowSec)
	}
	if sec <= nowSec-int64(windowSeconds) {
		return
	}
	b := &r.buckets[mod(sec, windowSeconds)]
	if b.sec != sec {
		*b = secondBucket{sec: sec}
	}
	b.total++
	if a.Outcome != string(domain.OutcomeDelivered) {
		b.failed++
	}
	if d := time.Duration(a.Duration); d > 0 {
		b.timed++
		b.hist[latencyBucket(d)]++
	}
}

// Snapshot sums the window ending at now.
func (r *Rates) Snapshot(now time.Time) RateSnapshot {
	nowSec := now.Unix()
	if r.start == 0 {
		r.start = nowSec
	}
	var (
		s      RateSnapshot
		failed int
		timed  int
		hist   [latencyBuckets]uint64
		oldest = r.start
	)
	for i := range r.buckets {
		b := &r.buckets[i]
		age := nowSec - b.sec
		if b.sec == 0 || age < 0 || age >= int64(windowSeconds) || b.total == 0 {
			continue
		}
		s.PerSec[windowSeconds-1-int(age)] = b.total
		s.Total += b.total
		failed += b.failed
		timed += b.timed
		for j, c := range b.hist {
			hist[j] += uint64(c)
		}
		oldest = min(oldest, b.sec)
	}
	span := min(max(nowSec-oldest+1, 1), int64(windowSeconds))
	s.PerSecond = float64(s.Total) / float64(span)
	if s.Total > 0 {
		s.FailurePct = 100 * float64(failed) / float64(s.Total)
	}
	s.P50 = percentile(&hist, timed, 0.50)
	s.P99 = percentile(&hist, timed, 0.99)
	return s
}

func latencyBucket(d time.Duration) int {
	if d <= latencyBase {
		return 0
	}
	i := int(math.Log2(float64(d)/float64(latencyBase)) * bucketsPerOct)
	return min(max(i, 0), latencyBuckets-1)
}

// percentile returns the geometric middle of the bucket holding the p-th
// quantile: within about 5% of the true value.
func percentile(hist *[latencyBuckets]uint64, n int, p float64) time.Duration {
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p * float64(n)))
	var seen uint64
	for i, c := range hist {
		seen += c
		if seen >= rank {
			mid := math.Exp2((float64(i) + 0.5) / bucketsPerOct)
			return time.Duration(float64(latencyBase) * mid)
		}
	}
	return 0
}

func mod(a int64, n int) int {
	m := int(a % int64(n))
	if m < 0 {
		m += n
	}
	return m
}

var sparkLevels = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last width seconds of counts: the lowest block for
// a second without attempts, the others scaled to the busiest second.
func sparkline(counts []int, width int) string {
	if width <= 0 {
		return ""
	}
	if len(counts) > width {
		counts = counts[len(counts)-width:]
	}
	peak := 0
	for _, c := range counts {
		peak = max(peak, c)
	}
	var b strings.Builder
	for _, c := range counts {
		level := 0
		if c > 0 {
			level = (c*(len(sparkLevels)-1) + peak - 1) / peak
		}
		b.WriteRune(sparkLevels[level])
	}
	return b.String()
}

// approx shows an estimated duration with two or three significant
// digits: the histogram is only that precise.
func approx(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Round(time.Microsecond)/time.Microsecond)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Round(time.Millisecond)/time.Millisecond)
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%.0fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
