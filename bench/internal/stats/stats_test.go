package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	prevHi := uint64(0)
	for i := range NumBuckets {
		lo, hi := bucketBounds(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d,%d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		prevHi = hi
		if hi == math.MaxUint64 {
			break
		}
	}
	if bucketOf(math.MaxUint64) != NumBuckets-1 {
		t.Fatalf("max value in bucket %d, want %d", bucketOf(math.MaxUint64), NumBuckets-1)
	}
}

func TestQuantilesMatchExactWithinPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Hist
	var exact []float64
	for range 100000 {
		// Log-normal-ish latencies from 50 µs to seconds.
		us := math.Exp(rng.NormFloat64()*1.5 + 7)
		h.RecordMicros(uint64(us))
		exact = append(exact, float64(uint64(us))/1000)
	}
	slices.Sort(exact)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		got, want := h.Quantile(q), ExactQuantile(exact, q)
		if math.Abs(got-want) > want*0.035+0.001 {
			t.Errorf("q%.3f: histogram %.4f ms, exact %.4f ms", q, got, want)
		}
	}
	if h.Total() != 100000 {
		t.Fatalf("total %d", h.Total())
	}
}

func TestSmallValuesAreExact(t *testing.T) {
	var h Hist
	for _, v := range []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10} {
		h.RecordMicros(v)
	}
	if got := h.Quantile(0.5); got != 0.005 {
		t.Fatalf("p50 %v ms, want 0.005", got)
	}
	if got := h.Quantile(1); got != 0.010 {
		t.Fatalf("p100 %v ms, want 0.010", got)
	}
}

func TestSubIsAWindow(t *testing.T) {
	var h Hist
	for range 100 {
		h.Record(time.Millisecond)
	}
	before := h
	for range 100 {
		h.Record(100 * time.Millisecond)
	}
	w := h.Sub(&before)
	if w.Total() != 100 {
		t.Fatalf("window has %d values", w.Total())
	}
	if p := w.Quantile(0.5); math.Abs(p-100) > 3.5 {
		t.Fatalf("window p50 %v ms, want ~100", p)
	}
	back := FromSparse(w.Sparse())
	if back.Counts != w.Counts {
		t.Fatal("sparse round trip changed the histogram")
	}
}

func TestEmptySummary(t *testing.T) {
	var h Hist
	if s := h.Summary(); s.Count != 0 || s.P99 != 0 {
		t.Fatalf("%+v", s)
	}
	if !math.IsNaN(h.Quantile(0.5)) {
		t.Fatal("quantile of nothing")
	}
}

func TestLedger(t *testing.T) {
	l := Ledger{Expected: 1000, Delivered: 900, Dead: 60, Duplicates: 3}
	l.Close()
	if l.Pending != 40 || l.Closed || l.Problem != "" {
		t.Fatalf("%+v", l)
	}
	l = Ledger{Expected: 10, Delivered: 8, Dead: 3, Overlap: 1}
	l.Close()
	if l.Pending != 0 || !l.Closed || l.Problem != "" {
		t.Fatalf("overlap counted once: %+v", l)
	}
	l = Ledger{Expected: 10, Delivered: 9, Dead: 2}
	l.Close()
	if l.Pending != -1 || l.Problem == "" {
		t.Fatalf("over-accounting not reported: %+v", l)
	}
}
