package retry

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestPickTier(t *testing.T) {
	tiers := DefaultTiers()
	cases := []struct {
		remaining, want time.Duration
	}{
		{-time.Hour, 5 * time.Second},
		{time.Millisecond, 5 * time.Second},
		{4999 * time.Millisecond, 5 * time.Second},
		{5 * time.Second, 5 * time.Second},
		{14 * time.Second, 5 * time.Second},
		{15 * time.Second, 15 * time.Second},
		{29 * time.Second, 15 * time.Second},
		{59 * time.Second, 30 * time.Second},
		{time.Minute, time.Minute},
		{4*time.Minute + 59*time.Second, time.Minute},
		{5 * time.Minute, 5 * time.Minute},
		{29 * time.Minute, 5 * time.Minute},
		{30 * time.Minute, 30 * time.Minute},
		{119 * time.Minute, 30 * time.Minute},
		{2 * time.Hour, 2 * time.Hour},
		{6 * time.Hour, 2 * time.Hour},
		{10 * time.Hour, 10 * time.Hour},
		{7 * 24 * time.Hour, 10 * time.Hour},
	}
	for _, tc := range cases {
		if got := tiers.Pick(tc.remaining); got != tc.want {
			t.Errorf("Pick(%v) = %v, want %v", tc.remaining, got, tc.want)
		}
	}
	// The zero value means the default tiers.
	if got := (Tiers{}).Pick(time.Hour); got != 30*time.Minute {
		t.Errorf("zero Tiers: Pick(1h) = %v", got)
	}
}

func TestRoute(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tiers := DefaultTiers()
	cases := []struct {
		name      string
		due       time.Time
		deliver   bool
		tier      time.Duration
		notBefore time.Time
	}{
		{"overdue", now.Add(-time.Hour), true, 0, time.Time{}},
		{"due now", now, true, 0, time.Time{}},
		{"due in 1ms, held until due in the smallest tier", now.Add(time.Millisecond), false, 5 * time.Second, now.Add(time.Millisecond)},
		{"due in 4s", now.Add(4 * time.Second), false, 5 * time.Second, now.Add(4 * time.Second)},
		{"due in 7s: one 5s hop", now.Add(7 * time.Second), false, 5 * time.Second, now.Add(5 * time.Second)},
		{"due in 10h30m: a 10h hop", now.Add(10*time.Hour + 30*time.Minute), false, 10 * time.Hour, now.Add(10 * time.Hour)},
	}
	for _, tc := range cases {
		h := tiers.Route(now, tc.due)
		if h.Deliver != tc.deliver || h.Tier != tc.tier || !h.NotBefore.Equal(tc.notBefore) {
			t.Errorf("%s: Route = %+v, want deliver %v tier %v not before %v", tc.name, h, tc.deliver, tc.tier, tc.notBefore)
		}
	}
}

// TestRouteNeverEarlyAndBarelyLate follows retries through the tiers, each
// hop looked at exactly when its NotBefore comes (plus a random consumer
// latency), and checks the guarantees the Tiers documentation makes.
func TestRouteNeverEarlyAndBarelyLate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tiers := DefaultTiers()
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	maxHops := 0
	for range 5000 {
		delay := time.Duration(rng.Int64N(int64(14 * time.Hour)))
		due := start.Add(delay)
		now, hops := start, 0
		for {
			h := tiers.Route(now, due)
			if h.Deliver {
				break
			}
			if h.NotBefore.After(due) || !h.NotBefore.After(now) {
				t.Fatalf("delay %v: NotBefore %v outside (now %v, due %v]", delay, h.NotBefore, now, due)
			}
			hops++
			if hops > 100 {
				t.Fatalf("delay %v: more than 100 hops", delay)
			}
			now = h.NotBefore.Add(time.Duration(rng.Int64N(int64(50 * time.Millisecond))))
		}
		if now.Before(due) {
			t.Fatalf("delay %v: delivered %v early", delay, due.Sub(now))
		}
		// With a consumer that is not late, delivery is exactly on time:
		// lateness comes only from consumer latency (here < 50ms per hop).
		if late := now.Sub(due); late > 50*time.Millisecond {
			t.Fatalf("delay %v: delivered %v late", delay, late)
		}
		maxHops = max(maxHops, hops)
	}
	t.Logf("most hops for a delay under 14h: %d", maxHops)
}

// TestTierHeadIsFirstDue checks why a tier consumer can pause on its head:
// in every tier but the smallest, messages written later are never due to
// be looked at sooner.
func TestTierHeadIsFirstDue(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tiers := DefaultTiers()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	last := map[time.Duration]time.Time{}
	for range 20000 {
		now = now.Add(time.Duration(rng.Int64N(int64(time.Second))))
		h := tiers.Route(now, now.Add(time.Duration(rng.Int64N(int64(20*time.Hour)))))
		if h.Deliver {
			continue
		}
		if h.Tier != tiers.Durations()[0] && h.NotBefore.Before(last[h.Tier]) {
			t.Fatalf("tier %v: NotBefore %v after a later message's %v", h.Tier, last[h.Tier], h.NotBefore)
		}
		// In the smallest tier a message may wait behind another, but
		// for less than that tier.
		if h.Tier == tiers.Durations()[0] && last[h.Tier].Sub(h.NotBefore) >= h.Tier {
			t.Fatalf("smallest tier: head-of-line wait %v", last[h.Tier].Sub(h.NotBefore))
		}
		if h.NotBefore.After(last[h.Tier]) {
			last[h.Tier] = h.NotBefore
		}
	}
}

func TestNewTiers(t *testing.T) {
	tiers, err := NewTiers(time.Hour, time.Second, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := tiers.Durations(); !slices.Equal(got, []time.Duration{time.Second, time.Minute, time.Hour}) {
		t.Fatalf("Durations = %v", got)
	}
	bad := [][]time.Duration{
		nil,
		{0},
		{-time.Second},
		{500 * time.Millisecond},
		{1500 * time.Millisecond},
		{time.Minute, time.Minute},
		{8 * 24 * time.Hour},
		make([]time.Duration, MaxTiers+1),
	}
	for _, ds := range bad {
		if _, err := NewTiers(ds...); err == nil {
			t.Errorf("NewTiers(%v) accepted", ds)
		}
	}
}

func TestTierNamesAndTopics(t *testing.T) {
	names := []struct {
		d    time.Duration
		name string
	}{
		{5 * time.Second, "5s"},
		{90 * time.Second, "90s"},
		{time.Minute, "1m"},
		{30 * time.Minute, "30m"},
		{90 * time.Minute, "90m"},
		{2 * time.Hour, "2h"},
		{10 * time.Hour, "10h"},
		{48 * time.Hour, "48h"},
		{1500 * time.Millisecond, "1500ms"},
	}
	for _, tc := range names {
		if got := TierName(tc.d); got != tc.name {
			t.Errorf("TierName(%v) = %q, want %q", tc.d, got, tc.name)
		}
		if tc.d%time.Second != 0 {
			continue
		}
		if d, err := ParseTierName(tc.name); err != nil || d != tc.d {
			t.Errorf("ParseTierName(%q) = %v, %v", tc.name, d, err)
		}
	}
	for _, s := range []string{"", "s", "60s", "120m", "05s", "0s", "-5s", "+5s", "1h30m", "5ms", "5", "5d", "1.5h", "99999999999999999999h", "169h", " 5s"} {
		if d, err := ParseTierName(s); err == nil {
			t.Errorf("ParseTierName(%q) = %v, want an error", s, d)
		}
	}
	want := []string{"hookd.retry.5s", "hookd.retry.15s", "hookd.retry.30s", "hookd.retry.1m", "hookd.retry.5m", "hookd.retry.30m", "hookd.retry.2h", "hookd.retry.10h"}
	if got := DefaultTiers().Topics("hookd.retry."); !slices.Equal(got, want) {
		t.Fatalf("Topics = %v", got)
	}
	if d, ok := DefaultTiers().TierOfTopic("hookd.retry.", "hookd.retry.30m"); !ok || d != 30*time.Minute {
		t.Errorf("TierOfTopic(30m) = %v, %v", d, ok)
	}
	for _, topic := range []string{"hookd.retry.15m", "hookd.retry.60s", "other.retry.5s", "hookd.events"} {
		if d, ok := DefaultTiers().TierOfTopic("hookd.retry.", topic); ok {
			t.Errorf("TierOfTopic(%q) = %v", topic, d)
		}
	}
}
