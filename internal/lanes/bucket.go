package lanes

import (
	"math"
	"time"
)

// tokenBucket is a lazily refilled token bucket. Times are nanoseconds
// since the Lanes epoch. The zero value is an unlimited bucket.
//
// Tokens may go below zero: a caller allowed to wait for a token that is
// due soon takes it at once (leaving a debt) and then sleeps until it is
// due, so concurrent callers queue behind each other's debts instead of all
// waking for the same token.
type tokenBucket struct {
	rate   float64 // tokens per second; 0 means unlimited
	burst  float64
	tokens float64
	last   int64 // when tokens was last brought up to date
}

// A token short by less than half a nanosecond's worth counts as there:
// float rounding in refills can leave 0.9999999999999999 where a refill of
// 0.1 s at 10/s should give exactly 1, and refusing a delivery that is on
// time (or sleeping a nanosecond for it) would be silly. Measured in time
// rather than in tokens, the tolerance is the same at every rate.
const halfNanosecond = 0.5

// limited reports whether the bucket limits anything.
func (b *tokenBucket) limited() bool { return b.rate > 0 }

// burstFor is the bucket size for a rate: one second's worth, and at least
// one token so that a rate below 1/s can admit anything at all.
func burstFor(rate float64) float64 {
	return math.Max(1, math.Ceil(rate))
}

// setRate changes the rate, keeping the tokens accumulated so far (capped
// at the new burst). A bucket that was unlimited starts full.
func (b *tokenBucket) setRate(rate float64, now int64) {
	if rate <= 0 {
		*b = tokenBucket{}
		return
	}
	wasLimited := b.limited()
	b.advance(now)
	b.rate = rate
	b.burst = burstFor(rate)
	if !wasLimited {
		b.tokens = b.burst
	} else {
		b.tokens = math.Min(b.tokens, b.burst)
	}
	b.last = now
}

// advance adds the tokens earned since last.
func (b *tokenBucket) advance(now int64) {
	if now <= b.last {
		return
	}
	if b.limited() && b.tokens < b.burst {
		b.tokens = math.Min(b.burst, b.tokens+tokensFor(now-b.last, b.rate))
	}
	b.last = now
}

// wait returns how long until a token is available: 0 if one is now.
func (b *tokenBucket) wait(now int64) time.Duration {
	if !b.limited() {
		return 0
	}
	b.advance(now)
	return durationFor(1-b.tokens, b.rate)
}

// take removes a token; wait must have been called at the same instant.
func (b *tokenBucket) take() {
	if b.limited() {
		b.tokens--
	}
}

// refund gives back a token taken by a caller that then did not deliver.
func (b *tokenBucket) refund() {
	if b.limited() {
		b.tokens = math.Min(b.burst, b.tokens+1)
	}
}

// full reports whether the bucket, brought up to now, is full: forgetting
// it then changes nothing, since a new bucket starts full.
func (b *tokenBucket) full(now int64) bool {
	if !b.limited() {
		return true
	}
	b.advance(now)
	return durationFor(b.burst-b.tokens, b.rate) == 0
}

// tokensFor is the number of tokens earned in d nanoseconds at rate per
// second. Whole seconds and the rest are converted apart, so that usual
// values (100 ms at 10/s) come out exact instead of 0.9999999999999999.
func tokensFor(d int64, rate float64) float64 {
	sec := d / int64(time.Second)
	nsec := d % int64(time.Second)
	return float64(sec)*rate + float64(nsec)*rate/1e9
}

// durationFor is the time it takes to earn tokens at rate per second,
// rounded up so that a caller sleeping that long finds them earned; 0 when
// they are there already, give or take half a nanosecond.
func durationFor(tokens, rate float64) time.Duration {
	d := tokens / rate * 1e9
	switch {
	case d < halfNanosecond:
		return 0
	case d >= math.MaxInt64:
		return math.MaxInt64
	}
	return time.Duration(math.Ceil(d))
}
