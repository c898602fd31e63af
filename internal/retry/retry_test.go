package retry

import (
	"math"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

// fixed is a jitter source that always returns the same number.
type fixed float64

func (f fixed) Float64() float64 { return float64(f) }

// noJitter makes Next return the scheduled delay: 1 + 0.2·(2·0.5 − 1) = 1.
const noJitter = fixed(0.5)

func TestDefaultSchedule(t *testing.T) {
	p := domain.RetryPolicy{}
	want := []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	if got := Attempts(p); got != len(want) {
		t.Fatalf("Attempts = %d, want %d", got, len(want))
	}
	for n, w := range want {
		got, ok := Next(p, n, noJitter)
		if !ok || got != w {
			t.Errorf("Next(default, %d) = %v, %v; want %v, true", n, got, ok, w)
		}
	}
	for _, n := range []int{len(want), len(want) + 1, math.MaxInt, -1, math.MinInt} {
		if d, ok := Next(p, n, noJitter); ok {
			t.Errorf("Next(default, %d) = %v, true; want exhausted", n, d)
		}
	}
	s := DefaultSchedule()
	s[0] = time.Hour
	if d, _ := Scheduled(p, 1); d != 5*time.Second {
		t.Fatal("DefaultSchedule returned the package's own slice")
	}
}

func TestExplicitSchedule(t *testing.T) {
	p := domain.RetryPolicy{Schedule: []time.Duration{time.Minute, 0, -time.Second, 3 * time.Hour}}
	want := []time.Duration{0, time.Minute, 0, 0, 3 * time.Hour}
	if Attempts(p) != len(want) {
		t.Fatalf("Attempts = %d", Attempts(p))
	}
	for n, w := range want {
		if got, ok := Next(p, n, noJitter); !ok || got != w {
			t.Errorf("Next(%d) = %v, %v; want %v", n, got, ok, w)
		}
	}
	if _, ok := Next(p, len(want), noJitter); ok {
		t.Error("not exhausted after the schedule")
	}
	// A schedule wins over exponential settings should both be set.
	p.Exponential = &domain.ExponentialRetry{Min: time.Hour, Max: time.Hour, Attempts: 40}
	if Attempts(p) != len(want) {
		t.Error("exponential settings overrode an explicit schedule")
	}
}

func TestExponential(t *testing.T) {
	cases := []struct {
		name string
		x    domain.ExponentialRetry
		want []time.Duration // delays before attempts 2, 3, ...
	}{
		{
			"doubles then caps",
			domain.ExponentialRetry{Min: time.Second, Max: 10 * time.Second, Attempts: 6},
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second},
		},
		{
			"min equals max",
			domain.ExponentialRetry{Min: time.Minute, Max: time.Minute, Attempts: 3},
			[]time.Duration{time.Minute, time.Minute, time.Minute},
		},
		{
			"one retry",
			domain.ExponentialRetry{Min: 5 * time.Second, Max: time.Hour, Attempts: 1},
			[]time.Duration{5 * time.Second},
		},
		{
			"max below min caps at min",
			domain.ExponentialRetry{Min: time.Minute, Max: time.Second, Attempts: 2},
			[]time.Duration{time.Minute, time.Minute},
		},
		{
			"no overflow near the top",
			domain.ExponentialRetry{Min: time.Duration(math.MaxInt64/2 + 1), Max: time.Duration(math.MaxInt64), Attempts: 3},
			[]time.Duration{time.Duration(math.MaxInt64/2 + 1), time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)},
		},
		{"zero min stays zero", domain.ExponentialRetry{Min: 0, Max: time.Hour, Attempts: 2}, []time.Duration{0, 0}},
		{"negative attempts means none", domain.ExponentialRetry{Min: time.Second, Max: time.Hour, Attempts: -3}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := domain.RetryPolicy{Exponential: &tc.x}
			if Attempts(p) != len(tc.want)+1 {
				t.Fatalf("Attempts = %d, want %d", Attempts(p), len(tc.want)+1)
			}
			for i, w := range tc.want {
				if got, ok := Scheduled(p, i+1); !ok || got != w {
					t.Errorf("Scheduled(%d) = %v, %v; want %v", i+1, got, ok, w)
				}
			}
			if _, ok := Scheduled(p, len(tc.want)+1); ok {
				t.Error("not exhausted")
			}
		})
	}
	// Fifty doublings of a day stay capped, not overflowed.
	p := domain.RetryPolicy{Exponential: &domain.ExponentialRetry{Min: 24 * time.Hour, Max: domain.MaxRetryDelay, Attempts: domain.MaxRetrySchedule}}
	if d, ok := Scheduled(p, domain.MaxRetrySchedule); !ok || d != domain.MaxRetryDelay {
		t.Fatalf("last exponential delay %v, %v", d, ok)
	}
}

func TestJitterBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := domain.RetryPolicy{}
	for n := 1; n < Attempts(p); n++ {
		scheduled, _ := Scheduled(p, n)
		lo, hi := time.Duration(float64(scheduled)*0.8), time.Duration(float64(scheduled)*1.2)
		minSeen, maxSeen := time.Duration(math.MaxInt64), time.Duration(0)
		var sum float64
		const draws = 20000
		for range draws {
			d, ok := Next(p, n, rng)
			if !ok || d < lo || d > hi {
				t.Fatalf("attempt %d: %v outside [%v, %v]", n+1, d, lo, hi)
			}
			minSeen, maxSeen = min(minSeen, d), max(maxSeen, d)
			sum += float64(d)
		}
		// The draws cover the range and center on the schedule.
		if float64(minSeen) > float64(scheduled)*0.81 || float64(maxSeen) < float64(scheduled)*1.19 {
			t.Errorf("attempt %d: draws span only [%v, %v] of [%v, %v]", n+1, minSeen, maxSeen, lo, hi)
		}
		if mean := sum / draws; math.Abs(mean/float64(scheduled)-1) > 0.01 {
			t.Errorf("attempt %d: mean %v, scheduled %v", n+1, time.Duration(mean), scheduled)
		}
	}
}

func TestJitterIsDeterministicAndDefensive(t *testing.T) {
	cases := []struct {
		u    float64
		want time.Duration
	}{
		{0, 80 * time.Second},
		{0.25, 90 * time.Second},
		{0.5, 100 * time.Second},
		{0.75, 110 * time.Second},
		{1, 120 * time.Second}, // not in [0, 1), clamped
		{7, 120 * time.Second},
		{-1, 80 * time.Second},
		{math.NaN(), 80 * time.Second},
		{math.Inf(1), 120 * time.Second},
	}
	for _, tc := range cases {
		if got := Jitter(100*time.Second, fixed(tc.u)); got != tc.want {
			t.Errorf("Jitter(100s, %v) = %v, want %v", tc.u, got, tc.want)
		}
	}
	if Jitter(0, fixed(0.9)) != 0 || Jitter(-time.Second, nil) != 0 {
		t.Error("jitter of zero or a negative delay is not zero")
	}
	if got := Jitter(time.Duration(math.MaxInt64), fixed(0.99)); got != time.Duration(math.MaxInt64) {
		t.Errorf("jitter overflowed: %v", got)
	}
	for range 1000 {
		if d := Jitter(time.Minute, nil); d < 48*time.Second || d > 72*time.Second {
			t.Fatalf("global source: %v", d)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	huge := time.Duration(math.MaxInt64)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"007", 7 * time.Second, true},
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", huge, true}, // seconds beyond what a Duration holds
		{"99999999999999999999999999", huge, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Wednesday, 04-Mar-26 05:16:07 GMT", 10 * time.Minute, true}, // RFC 850
		{"Wed Mar  4 06:06:07 2026", time.Hour, true},                 // ANSI C
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},        // in the past
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0, true},
		{"", 0, false},
		{"   ", 0, false},
		{"-5", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"5s", 0, false},
		{"0x10", 0, false},
		{"soon", 0, false},
		{"2026-03-04T05:07:07Z", 0, false},
		{"Wed, 04 Mar 2026 05:06:07 +0000", 0, false},
		{"\xff\xfe", 0, false},
	}
	for _, tc := range cases {
		got, ok := ParseRetryAfter(tc.in, now)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestClampRetryAfter(t *testing.T) {
	const m = time.Minute
	cases := []struct {
		name                        string
		scheduled, requested, limit time.Duration
		want                        time.Duration
	}{
		{"within range", 10 * m, 15 * m, 0, 15 * m},
		{"sooner than scheduled", 10 * m, time.Second, 0, 10 * m},
		{"zero (a past date)", 10 * m, 0, 0, 10 * m},
		{"negative", 10 * m, -time.Hour, 0, 10 * m},
		{"more than twice", 10 * m, time.Hour, 0, 20 * m},
		{"huge", 10 * m, time.Duration(math.MaxInt64), 0, 20 * m},
		{"the limit", 15 * time.Hour, 30 * time.Hour, 0, DefaultMaxRetryAfter},
		{"a custom limit", 10 * m, 19 * m, 12 * m, 12 * m},
		{"schedule above the limit wins", 3 * time.Hour, 5 * time.Hour, time.Hour, 3 * time.Hour},
		{"zero schedule cannot be extended", 0, time.Hour, 0, 0},
		{"huge schedule", time.Duration(math.MaxInt64), time.Duration(math.MaxInt64), 0, time.Duration(math.MaxInt64)},
	}
	for _, tc := range cases {
		if got := ClampRetryAfter(tc.scheduled, tc.requested, tc.limit); got != tc.want {
			t.Errorf("%s: ClampRetryAfter(%v, %v, %v) = %v, want %v", tc.name, tc.scheduled, tc.requested, tc.limit, got, tc.want)
		}
	}
}

func TestWithRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	const scheduled = 5 * time.Minute
	cases := []struct {
		header string
		want   time.Duration
	}{
		{"", scheduled},
		{"garbage", scheduled},
		{"-1", scheduled},
		{"30", scheduled},
		{"420", 7 * time.Minute},
		{"86400", 10 * time.Minute},
		{now.Add(8 * time.Minute).Format(http.TimeFormat), 8 * time.Minute},
		{now.Add(-8 * time.Minute).Format(http.TimeFormat), scheduled},
		{now.AddDate(5, 0, 0).Format(http.TimeFormat), 10 * time.Minute},
	}
	for _, tc := range cases {
		if got := WithRetryAfter(scheduled, tc.header, now, 0); got != tc.want {
			t.Errorf("WithRetryAfter(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

// FuzzWithRetryAfter checks that no header, however odd, moves a retry
// outside [scheduled, max(scheduled, min(2×scheduled, limit))].
func FuzzWithRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "-1", "99999999999999999999", "Wed, 04 Mar 2026 05:16:07 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "soon", ""} {
		f.Add(s, int64(5*time.Minute), int64(0))
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	f.Fuzz(func(t *testing.T, header string, scheduled, limit int64) {
		s, l := time.Duration(scheduled), time.Duration(limit)
		got := WithRetryAfter(s, header, now, l)
		if l <= 0 {
			l = DefaultMaxRetryAfter
		}
		s = max(s, 0)
		upper := s
		if s <= math.MaxInt64/2 {
			upper = max(min(2*s, l), s)
		}
		if got < s || got > upper {
			t.Fatalf("WithRetryAfter(%v, %q, limit %v) = %v, outside [%v, %v]", s, header, l, got, s, upper)
		}
	})
}
