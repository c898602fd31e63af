package lanes

import (
	"context"
	"sync"
	"time"
)

// Clock is the time source of Lanes. Tests substitute a fake one so that
// cool-downs, windows and refills can be stepped through without sleeping.
type Clock interface {
	// Now returns the current time. Lanes only measures durations between
	// its results, so a monotonic reading is what matters.
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever comes first, and
	// returns ctx.Err() in the second case. Lanes uses it only to wait for
	// a rate token due within Config.MaxRateWait.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock. It is the default.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// timers recycles the timers of Sleep: an endpoint limited to a rate the
// traffic keeps reaching waits for a token on almost every delivery, and
// a fresh timer each time would be the only allocation on that path.
var timers sync.Pool

// Sleep waits for d or until ctx is done.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t, _ := timers.Get().(*time.Timer)
	if t == nil {
		t = time.NewTimer(d)
	} else {
		t.Reset(d)
	}
	// Since Go 1.23, Stop leaves no stale tick in t.C, so the timer can be
	// reused as it is.
	defer func() {
		t.Stop()
		timers.Put(t)
	}()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
