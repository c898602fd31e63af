package lanes

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
)

// numShards spreads lanes over independently locked maps: lookups of
// different endpoints rarely share a lock's cache line, and a sweep holds
// one shard's write lock for a 1/256th of the lanes (about 400 at 100k
// endpoints, tens of microseconds).
const numShards = 256

// shrinkMin is the peak size below which a shard's map is never rebuilt:
// rebuilding small maps would save nothing worth the copy.
const shrinkMin = 1024

// shard is one part of the lane table, padded to two cache lines so that
// neighboring shards' locks do not share one.
type shard struct {
	mu        sync.RWMutex
	lanes     map[string]*lane
	peak      int          // most lanes held since the map was made
	nextSweep atomic.Int64 // when the shard is due for an eviction sweep
	_         [128 - 48]byte
}

type table struct {
	seed   maphash.Seed
	shards [numShards]shard
}

func (t *table) init(firstSweep int64) {
	t.seed = maphash.MakeSeed()
	for i := range t.shards {
		t.shards[i].lanes = make(map[string]*lane)
		t.shards[i].nextSweep.Store(firstSweep)
	}
}

func (t *table) shardFor(id string) *shard {
	return &t.shards[maphash.String(t.seed, id)%numShards]
}

func (s *shard) get(id string) *lane {
	s.mu.RLock()
	ln := s.lanes[id]
	s.mu.RUnlock()
	return ln
}

// getOrCreate returns id's lane, creating it with the given limits if it
// has none.
func (s *shard) getOrCreate(l *Lanes, id string, lim Limits, now int64) *lane {
	if ln := s.get(id); ln != nil {
		return ln
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ln := s.lanes[id]; ln != nil {
		return ln
	}
	// The caller's string may point into a large buffer (a Kafka message);
	// the table keeps the id for as long as the lane lives, so it keeps its
	// own copy.
	id = strings.Clone(id)
	ln := l.newLane(id, lim, now)
	s.lanes[id] = ln
	s.peak = max(s.peak, len(s.lanes))
	return ln
}

// sweep evicts the shard's idle lanes. A lane whose lock is held is busy by
// definition and skipped rather than waited for. Evicted lanes are marked
// under their own lock, so a caller that looked one up just before can
// tell and look again.
func (s *shard) sweep(l *Lanes, now int64) (evicted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ln := range s.lanes {
		if !ln.mu.TryLock() {
			continue
		}
		if l.evictable(ln, now) {
			ln.evicted = true
			delete(s.lanes, id)
			evicted++
		}
		ln.mu.Unlock()
	}
	// Go maps keep their buckets after deletes: after a wave of endpoints
	// has come and gone, copy the survivors into a map of their size.
	if s.peak >= shrinkMin && len(s.lanes) < s.peak/4 {
		m := make(map[string]*lane, len(s.lanes))
		for id, ln := range s.lanes {
			m[id] = ln
		}
		s.lanes = m
		s.peak = len(m)
	}
	return evicted
}
