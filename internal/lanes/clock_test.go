package lanes

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestSystemClockSleep(t *testing.T) {
	var c SystemClock
	ctx := context.Background()
	for range 3 { // the second and third reuse pooled timers
		start := time.Now()
		if err := c.Sleep(ctx, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < time.Millisecond {
			t.Fatalf("slept %v, want at least 1ms", el)
		}
	}
	if err := c.Sleep(ctx, 0); err != nil {
		t.Fatalf("Sleep(0) = %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Sleep(canceled, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep with a canceled ctx = %v", err)
	}
	if err := c.Sleep(canceled, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep(0) with a canceled ctx = %v", err)
	}
}

// On the real clock, a token due within MaxRateWait is waited for.
func TestRateWaitSystemClock(t *testing.T) {
	l, err := New(Config{MaxRateWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lim := Limits{RatePerSec: 100}
	for range 100 {
		mustAdmit(t, l, "ep", lim).Release(ok)
	}
	start := time.Now()
	mustAdmit(t, l, "ep", lim).Release(ok)
	if el := time.Since(start); el < 5*time.Millisecond {
		t.Fatalf("admitted after %v, want about 10ms", el)
	}
}

func TestBucketArithmetic(t *testing.T) {
	if got := tokensFor(int64(100*time.Millisecond), 10); got != 1 {
		t.Errorf("tokensFor(100ms, 10/s) = %v, want exactly 1", got)
	}
	if got := tokensFor(int64(2500*time.Millisecond), 0.4); got != 1 {
		t.Errorf("tokensFor(2.5s, 0.4/s) = %v, want exactly 1", got)
	}
	if got := durationFor(1, 1e-300); got != math.MaxInt64 {
		t.Errorf("durationFor at a negligible rate = %v, want the longest duration", got)
	}
	if got := durationFor(1e-16, 10); got != 0 {
		t.Errorf("durationFor(rounding error) = %v, want 0", got)
	}
	if got := durationFor(1, 3); got != 333333334*time.Nanosecond {
		t.Errorf("durationFor(1, 3/s) = %v, want rounded up", got)
	}
	for _, rate := range []float64{0.001, 0.5, 1, 1.5, 10, 10000} {
		if got, want := burstFor(rate), math.Max(1, math.Ceil(rate)); got != want {
			t.Errorf("burstFor(%v) = %v, want %v", rate, got, want)
		}
	}
}
