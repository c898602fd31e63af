package retry

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tiers are the delay tiers of the retry topics, one topic per tier
// (hookd.retry.5s, hookd.retry.1m, ...).
//
// # Semantics
//
// A pending retry is a message that carries two absolute times: Due, when
// the delivery may be tried again (fixed when the attempt failed, never
// changed), and NotBefore, when the tier consumer may next look at it. A
// tier consumer pauses a partition until the NotBefore of its head
// message, then asks Route again with that message's Due: the answer is
// either deliver now, or hop to another tier with a new NotBefore.
//
// Route puts a message with r left before Due in the largest tier T ≤ r,
// with NotBefore = now + T. Every message in a tier (but the smallest,
// below) therefore waits exactly T from when it was written, so NotBefore
// grows with the offset and a partition's head is always the first
// message due: nothing waits behind a message due later (no head-of-line
// blocking). The price is hops: a message with 4h59m left goes 2h, 2h,
// 30m, 5m ×5, 1m ×4, then seconds — a few dozen small writes over hours,
// only for deliveries that failed.
//
// The alternative, one tier per range of delays with each consumer
// pausing until the head's Due, makes a message wait behind any
// earlier-written one due later: with tiers 2h and 10h, a 2h retry
// written after a 9h one would wait 9h. Its lateness is bounded by the
// width of the tier's range, which for the top tier is unbounded.
//
// When less than the smallest tier T0 remains, the message goes to the T0
// tier with NotBefore = Due. Messages there have NotBefore within T0 of
// when they were written, so one can wait behind another for less than
// T0.
//
// Guarantees, for consumers that follow this: a delivery is never tried
// before its Due (by the consumer's clock), and is late by less than the
// smallest tier (5s by default) plus consumer latency and the clock skew
// between the dispatchers that write a partition.
type Tiers struct {
	ds []time.Duration // ascending, unique; empty means the default
}

// The 15s and 30s tiers keep a wait of under a minute (a breaker's first
// cool-downs, short retry schedules) from taking a dozen hops through the
// 5s tier, each a consume and a produce.
var defaultTiers = []time.Duration{
	5 * time.Second,
	15 * time.Second,
	30 * time.Second,
	time.Minute,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	10 * time.Hour,
}

// Bounds on tiers. Whole seconds keep topic names short and stable; a
// tier longer than the longest retry delay would never be used.
const (
	MinTier  = time.Second
	MaxTier  = 7 * 24 * time.Hour
	MaxTiers = 32
)

// DefaultTiers returns 5s, 15s, 30s, 1m, 5m, 30m, 2h and 10h.
func DefaultTiers() Tiers {
	return Tiers{ds: defaultTiers}
}

// NewTiers checks a set of tiers: each a whole number of seconds between
// MinTier and MaxTier, without duplicates. Order does not matter.
func NewTiers(ds ...time.Duration) (Tiers, error) {
	if len(ds) == 0 {
		return Tiers{}, errors.New("retry: at least one tier is required")
	}
	if len(ds) > MaxTiers {
		return Tiers{}, fmt.Errorf("retry: at most %d tiers", MaxTiers)
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	for i, d := range sorted {
		switch {
		case d < MinTier || d > MaxTier:
			return Tiers{}, fmt.Errorf("retry: tier %s is not between %s and %s", d, MinTier, MaxTier)
		case d%time.Second != 0:
			return Tiers{}, fmt.Errorf("retry: tier %s is not a whole number of seconds", d)
		case i > 0 && d == sorted[i-1]:
			return Tiers{}, fmt.Errorf("retry: tier %s appears twice", d)
		}
	}
	return Tiers{ds: sorted}, nil
}

func (t Tiers) list() []time.Duration {
	if len(t.ds) == 0 {
		return defaultTiers
	}
	return t.ds
}

// Durations returns the tiers, shortest first.
func (t Tiers) Durations() []time.Duration {
	return slices.Clone(t.list())
}

// Pick returns the tier for a message with remaining time left before it
// is due: the largest tier not above remaining, or the smallest tier when
// remaining is below all of them.
func (t Tiers) Pick(remaining time.Duration) time.Duration {
	ds := t.list()
	tier := ds[0]
	for _, d := range ds[1:] {
		if d > remaining {
			break
		}
		tier = d
	}
	return tier
}

// Hop is what Route decides for a pending retry.
type Hop struct {
	// Deliver is true when the retry is due: try the delivery now.
	Deliver bool
	// Tier is the tier to write the message to, when not Deliver.
	Tier time.Duration
	// NotBefore is when that tier's consumer may next look at the
	// message: now + Tier, or Due if that is sooner.
	NotBefore time.Time
}

// Route decides what to do with a retry due at due, at time now: deliver
// it, or write it to a tier to be looked at again at NotBefore. The
// dispatcher calls it when an attempt fails (due = now + delay) and tier
// consumers call it when a head message's NotBefore has come.
func (t Tiers) Route(now, due time.Time) Hop {
	remaining := due.Sub(now)
	if remaining <= 0 {
		return Hop{Deliver: true}
	}
	tier := t.Pick(remaining)
	notBefore := now.Add(tier)
	if notBefore.After(due) {
		notBefore = due
	}
	return Hop{Tier: tier, NotBefore: notBefore}
}

// Topics returns the topic of every tier, shortest tier first.
func (t Tiers) Topics(prefix string) []string {
	ds := t.list()
	topics := make([]string, len(ds))
	for i, d := range ds {
		topics[i] = Topic(prefix, d)
	}
	return topics
}

// TierOfTopic returns the tier whose topic is topic, if it is one of t.
func (t Tiers) TierOfTopic(prefix, topic string) (time.Duration, bool) {
	name, ok := strings.CutPrefix(topic, prefix)
	if !ok {
		return 0, false
	}
	d, err := ParseTierName(name)
	if err != nil || !slices.Contains(t.list(), d) {
		return 0, false
	}
	return d, true
}

// Topic returns the topic of a tier: prefix (configured as
// "hookd.retry.") and the tier's name, as in hookd.retry.5m.
func Topic(prefix string, tier time.Duration) string {
	return prefix + TierName(tier)
}

// TierName names a tier in its largest whole unit: 5s, 90s, 1m, 90m, 2h.
// Each duration has exactly one name, so topics never double up.
func TierName(d time.Duration) string {
	switch {
	case d > 0 && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d > 0 && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d > 0 && d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
}

// ParseTierName reads a tier name as TierName writes it, and only so:
// "60s" is refused (it is "1m"), as are "05s", "1h30m" and "0s".
func ParseTierName(s string) (time.Duration, error) {
	var unit time.Duration
	var num string
	switch {
	case strings.HasSuffix(s, "h"):
		unit, num = time.Hour, s[:len(s)-1]
	case strings.HasSuffix(s, "m"):
		unit, num = time.Minute, s[:len(s)-1]
	case strings.HasSuffix(s, "s") && !strings.HasSuffix(s, "ms"):
		unit, num = time.Second, s[:len(s)-1]
	default:
		return 0, fmt.Errorf("retry: %q is not a tier name", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || !isDigits(num) || n <= 0 || n > int64(MaxTier/unit) {
		return 0, fmt.Errorf("retry: %q is not a tier name", s)
	}
	d := time.Duration(n) * unit
	if TierName(d) != s {
		return 0, fmt.Errorf("retry: %q is not a tier name (it is %s)", s, TierName(d))
	}
	return d, nil
}
