package dispatch

import (
	"fmt"
	"sync"
)

// Watermark tracks the messages of one partition that are being worked on
// concurrently and finish in any order. The commit offset it reports never
// passes a message that is not done: every message below it has all its
// deliveries durable (invariant 1), whatever order they finished in.
//
// Messages must be started in offset order (as a partition delivers them);
// offsets may have gaps (compaction, transaction markers).
type Watermark struct {
	mu sync.Mutex
	// pending holds started offsets in order; done flags them. head
	// indexes the oldest unfinished entry, so popping is O(1) amortized.
	pending []entry
	head    int
	// committed is the offset to commit: one past the last message that
	// is done with everything before it done too. -1 before any.
	committed int64
	last      int64
}

type entry struct {
	offset int64
	done   bool
}

// NewWatermark starts a tracker for a partition.
func NewWatermark() *Watermark {
	return &Watermark{committed: -1, last: -1}
}

// Start records that work on offset began.
func (w *Watermark) Start(offset int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if offset <= w.last {
		return fmt.Errorf("watermark: offset %d started after %d", offset, w.last)
	}
	w.last = offset
	w.pending = append(w.pending, entry{offset: offset})
	return nil
}

// Done records that every delivery of offset is durable. It returns the
// offset to commit (the next offset to consume) and whether it moved.
func (w *Watermark) Done(offset int64) (commit int64, moved bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := w.find(offset)
	if i < 0 {
		return w.committed, false, fmt.Errorf("watermark: offset %d was not started or is already done", offset)
	}
	w.pending[i].done = true
	for w.head < len(w.pending) && w.pending[w.head].done {
		w.committed = w.pending[w.head].offset + 1
		w.head++
		moved = true
	}
	// Reclaim the consumed prefix once it dominates the slice.
	if w.head > 1024 && w.head*2 > len(w.pending) {
		w.pending = append(w.pending[:0], w.pending[w.head:]...)
		w.head = 0
	}
	return w.committed, moved, nil
}

// find locates offset among the unfinished entries by binary search.
func (w *Watermark) find(offset int64) int {
	lo, hi := w.head, len(w.pending)
	for lo < hi {
		mid := (lo + hi) / 2
		if w.pending[mid].offset < offset {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(w.pending) && w.pending[lo].offset == offset && !w.pending[lo].done {
		return lo
	}
	return -1
}

// InFlight is how many started messages are not yet committed.
func (w *Watermark) InFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending) - w.head
}

// Committed is the current commit offset (-1 before any message is done).
func (w *Watermark) Committed() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.committed
}
