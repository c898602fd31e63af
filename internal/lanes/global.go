package lanes

import (
	"context"
	"sync/atomic"
)

// semaphore is the process-wide bound on in-flight deliveries. Its fast
// path is one compare-and-swap; only callers that find it full touch the
// channel, so an uncongested process never serializes on a lock here.
//
// Waiters register in waiters before looking at n, and release decrements
// n before looking at waiters; Go's atomics are sequentially consistent, so
// either the waiter sees the freed slot or the releaser sees the waiter and
// signals. The signal channel holds one wake-up: releases that find it full
// coalesce, and a woken waiter that got a slot passes the wake-up on when
// slots and waiters remain, so no waiter sleeps while a slot is free.
type semaphore struct {
	max     int64
	n       atomic.Int64
	waiters atomic.Int64
	wake    chan struct{}
}

func newSemaphore(maxInFlight int) *semaphore {
	return &semaphore{max: int64(maxInFlight), wake: make(chan struct{}, 1)}
}

func (s *semaphore) tryAcquire() bool {
	for {
		c := s.n.Load()
		if c >= s.max {
			return false
		}
		if s.n.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

// acquire waits for a slot until ctx is done.
func (s *semaphore) acquire(ctx context.Context) error {
	if s.tryAcquire() {
		return nil
	}
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	for {
		if s.tryAcquire() {
			s.passOn()
			return nil
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			// A pending wake-up stays in the channel for the others;
			// passing one on too is cheap insurance for this exit.
			s.passOn()
			return ctx.Err()
		}
	}
}

// passOn wakes another waiter if a slot is free; the caller is a waiter
// about to leave, still counted in waiters.
func (s *semaphore) passOn() {
	if s.waiters.Load() > 1 && s.n.Load() < s.max {
		s.signal()
	}
}

func (s *semaphore) release() {
	s.n.Add(-1)
	if s.waiters.Load() > 0 {
		s.signal()
	}
}

func (s *semaphore) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
