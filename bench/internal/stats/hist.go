// Package stats holds the arithmetic of the benchmark harness: a
// log-linear latency histogram that can be merged and subtracted (so a
// measurement window is the difference of two snapshots), percentiles,
// and the delivery ledger.
package stats

import (
	"math"
	"math/bits"
	"time"
)

// subBits is the precision of the histogram: 2^subBits sub-buckets per
// power of two, so a recorded value is known to within 1/2^(subBits-1)
// (3.2 %) of itself. Values are microseconds.
const (
	subBits    = 6
	subCount   = 1 << subBits // 64
	halfCount  = subCount / 2 // 32
	maxExp     = 64 - subBits // largest shift
	NumBuckets = subCount + maxExp*halfCount
)

// Hist is a histogram of durations in microseconds. The zero value is
// empty and ready. Buckets: values below 64 µs are exact; above, each
// power of two is split in 32 equal parts.
type Hist struct {
	Counts [NumBuckets]uint64
}

// bucketOf returns the bucket index of v (µs).
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits // ≥ 1
	m := v >> uint(e)            // in [32, 63]
	return subCount + (e-1)*halfCount + int(m-halfCount)
}

// bucketBounds returns the smallest and largest value of bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	i -= subCount
	e := i/halfCount + 1
	m := uint64(i%halfCount + halfCount)
	lo = m << uint(e)
	hi = lo + (1 << uint(e)) - 1
	return lo, hi
}

// Record adds one duration; negative durations count as zero.
func (h *Hist) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	h.Counts[bucketOf(uint64(us))]++
}

// RecordMicros adds one value in microseconds.
func (h *Hist) RecordMicros(us uint64) { h.Counts[bucketOf(us)]++ }

// Total is the number of recorded values.
func (h *Hist) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Add adds o's counts to h.
func (h *Hist) Add(o *Hist) {
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
}

// Sub returns h - o: the values recorded between snapshot o and snapshot
// h of the same histogram. A count that would go negative is clamped to 0.
func (h *Hist) Sub(o *Hist) *Hist {
	var r Hist
	for i, c := range h.Counts {
		if c > o.Counts[i] {
			r.Counts[i] = c - o.Counts[i]
		}
	}
	return &r
}

// Quantile returns the value at quantile q (0 < q ≤ 1) in milliseconds:
// the midpoint of the bucket holding the ceil(q·n)-th smallest value
// (nearest-rank definition). It returns NaN when h is empty.
func (h *Hist) Quantile(q float64) float64 {
	n := h.Total()
	if n == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	rank = min(rank, n)
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketBounds(i)
			return (float64(lo) + float64(hi)) / 2 / 1000
		}
	}
	return math.NaN() // not reached
}

// Max returns the upper bound of the highest non-empty bucket in
// milliseconds, NaN when empty.
func (h *Hist) Max() float64 {
	for i := len(h.Counts) - 1; i >= 0; i-- {
		if h.Counts[i] > 0 {
			_, hi := bucketBounds(i)
			return float64(hi) / 1000
		}
	}
	return math.NaN()
}

// Mean returns the mean of the bucket midpoints in milliseconds.
func (h *Hist) Mean() float64 {
	var n, sum float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		lo, hi := bucketBounds(i)
		n += float64(c)
		sum += float64(c) * (float64(lo) + float64(hi)) / 2
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / n / 1000
}

// Sparse is the JSON form of a histogram: bucket index → count, non-empty
// buckets only.
type Sparse map[int]uint64

// Sparse returns h's non-empty buckets.
func (h *Hist) Sparse() Sparse {
	s := Sparse{}
	for i, c := range h.Counts {
		if c > 0 {
			s[i] = c
		}
	}
	return s
}

// FromSparse rebuilds a histogram; out-of-range indexes are ignored.
func FromSparse(s Sparse) *Hist {
	var h Hist
	for i, c := range s {
		if i >= 0 && i < NumBuckets {
			h.Counts[i] = c
		}
	}
	return &h
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// Summary summarizes h; fields are 0 (not NaN, which JSON cannot carry)
// when h is empty.
func (h *Hist) Summary() Latency {
	n := h.Total()
	if n == 0 {
		return Latency{}
	}
	return Latency{
		Count: n, P50: round3(h.Quantile(0.50)), P90: round3(h.Quantile(0.90)), P99: round3(h.Quantile(0.99)),
		P999: round3(h.Quantile(0.999)), Max: round3(h.Max()), Mean: round3(h.Mean()),
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// ExactQuantile is the nearest-rank quantile of sorted values, for tests
// and small samples.
func ExactQuantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	rank = min(rank, len(sorted))
	return sorted[rank-1]
}
