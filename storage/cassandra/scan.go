package cassandra

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/hookd/hookd/storage"
)

// Lists read slim, time-ordered index tables newest first and then fetch
// the full records the matching index rows point at. An index table is a
// sequence of buckets (a UTC day or hour, newest first), each made of one
// or more shard partitions that are merged on their clustering order.
//
// The position inside a bucket is a keyset: the clustering key (time in
// milliseconds, then the text columns that break ties) of the last index
// row consumed. The next page asks every shard for rows strictly below it
// with a tuple comparison, "(started_at, attempt_id) < (?, ?)". Unlike the
// driver's paging state, a keyset resumes exactly after the last row the
// page used even when the page stopped in the middle of a fetched chunk or
// after merging several shards, and it stays valid across driver and
// Cassandra upgrades.

// position is an exclusive upper bound in a bucket: rows sort below it when
// their (time, keys...) tuple is smaller.
type position struct {
	ms   int64
	keys []string
}

// less reports whether p sorts before q (p is older).
func (p position) less(q position) bool {
	if p.ms != q.ms {
		return p.ms < q.ms
	}
	for i := 0; i < len(p.keys) && i < len(q.keys); i++ {
		if p.keys[i] != q.keys[i] {
			return p.keys[i] < q.keys[i]
		}
	}
	return len(p.keys) < len(q.keys)
}

// top is the position above every row of a window ending at untilMS: the
// empty string sorts before every key, so (until, "") excludes exactly the
// rows at or after until.
func top(untilMS int64, nkeys int) position {
	return position{ms: untilMS, keys: make([]string, nkeys)}
}

// indexRow is one row of an index table; which fields are set depends on
// the table.
type indexRow struct {
	pos        position
	endpointID string // stored key (noEndpoint for none)
	deliveryID string
	attemptID  string
	eventType  string
	outcome    string
	reason     string
	tenantID   string
}

// indexTable describes how to read one index table.
type indexTable struct {
	// stmt selects rows of one partition below a position and at or after
	// a time: the partition key values, then the position's time and
	// keys, then the lower time bound, then LIMIT.
	stmt string
	// nkeys is the number of text clustering columns after the time.
	nkeys int
	// scan reads one row of stmt's result.
	scan func(iter *gocql.Iter, r *indexRow) bool
}

// shardStream reads one partition of a bucket in chunks.
type shardStream struct {
	pk    []any
	buf   []indexRow
	bound position // the next chunk starts below this
	done  bool
}

// scanBudget bounds the work of one page, so a filter that matches
// nothing in a long window answers with a cursor instead of scanning the
// whole retention period in one request.
type scanBudget struct {
	partitions, rows       int
	maxPartitions, maxRows int
}

func (b *scanBudget) exhausted() bool {
	return b.partitions >= b.maxPartitions || b.rows >= b.maxRows
}

// scanBucket merges the shard partitions pks of one bucket newest first,
// starting below from and stopping at sinceMS, and calls visit for each
// row until visit returns false (the page is full) or the budget runs
// out. It returns the position of the last row visited and whether the
// bucket was read to its end.
func (s *Store) scanBucket(ctx context.Context, t indexTable, pks [][]any, from position, sinceMS int64,
	chunk int, budget *scanBudget, visit func(indexRow) bool,
) (last position, exhausted bool, err error) {
	last = from
	streams := make([]*shardStream, len(pks))
	for i, pk := range pks {
		streams[i] = &shardStream{pk: pk, bound: from}
	}
	if err := s.fillAll(ctx, t, streams, sinceMS, chunk, budget); err != nil {
		return last, false, err
	}
	for {
		// The stream whose head is newest goes next.
		var best *shardStream
		for _, st := range streams {
			if len(st.buf) > 0 && (best == nil || best.buf[0].pos.less(st.buf[0].pos)) {
				best = st
			}
		}
		if best == nil {
			return last, true, nil
		}
		row := best.buf[0]
		best.buf = best.buf[1:]
		last = row.pos
		budget.rows++
		if !visit(row) {
			return last, false, nil
		}
		if len(best.buf) == 0 && !best.done {
			if budget.exhausted() {
				return last, false, nil
			}
			if err := s.fill(ctx, t, best, sinceMS, chunk, budget); err != nil {
				return last, false, err
			}
		}
		if budget.rows >= budget.maxRows {
			return last, false, nil
		}
	}
}

// fillAll fetches the first chunk of every stream in parallel.
func (s *Store) fillAll(ctx context.Context, t indexTable, streams []*shardStream, sinceMS int64, chunk int, budget *scanBudget) error {
	if len(streams) == 1 {
		return s.fill(ctx, t, streams[0], sinceMS, chunk, budget)
	}
	errs := make([]error, len(streams))
	var wg sync.WaitGroup
	for i, st := range streams {
		wg.Go(func() {
			errs[i] = s.fill(ctx, t, st, sinceMS, chunk, nil)
		})
	}
	wg.Wait()
	budget.partitions += len(streams)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// fill fetches the next chunk of st.
func (s *Store) fill(ctx context.Context, t indexTable, st *shardStream, sinceMS int64, chunk int, budget *scanBudget) error {
	if budget != nil {
		budget.partitions++
	}
	args := make([]any, 0, len(st.pk)+t.nkeys+3)
	args = append(args, st.pk...)
	args = append(args, st.bound.ms)
	for _, k := range st.bound.keys {
		args = append(args, k)
	}
	args = append(args, sinceMS, chunk)
	iter := s.session.Query(t.stmt, args...).Consistency(s.cons).Idempotent(true).PageSize(chunk).IterContext(ctx)
	n := 0
	for {
		var r indexRow
		if !t.scan(iter, &r) {
			break
		}
		n++
		st.buf = append(st.buf, r)
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	if len(st.buf) > 0 {
		st.bound = st.buf[len(st.buf)-1].pos
	}
	st.done = n < chunk
	return nil
}

// cursor is the opaque position of a list, encoded by storage.EncodeCursor.
// It carries the window resolved by the first page (so later pages do not
// slide with the clock), the bucket to read and the keyset position in it,
// and a fingerprint of the filter, so a cursor cannot be replayed against
// another filter or list.
type cursor struct {
	V    int      `json:"v"`
	Path string   `json:"p"`
	Hash string   `json:"f"`
	S    int64    `json:"s"`
	U    int64    `json:"u"`
	B    int64    `json:"b"`
	T    int64    `json:"t"`
	K    []string `json:"k"`
}

const (
	cursorVersion = 1
	maxCursorKey  = 512
)

// window is a resolved [since, until) range in milliseconds.
type window struct{ since, until int64 }

// decodeCursor reads and checks a cursor made for this path and filter.
func decodeCursor(raw, path, hash string, nkeys int, bucketMS int64) (cursor, error) {
	var c cursor
	if err := storage.DecodeCursor(raw, &c); err != nil {
		return c, err
	}
	ok := c.V == cursorVersion && c.Path == path && c.Hash == hash &&
		c.S <= c.U && len(c.K) == nkeys && c.T <= c.U &&
		c.B%bucketMS == 0 && c.B >= floorTo(c.S, bucketMS) && c.B <= floorTo(c.U-1, bucketMS)
	for _, k := range c.K {
		ok = ok && len(k) <= maxCursorKey
	}
	if !ok {
		return c, storage.ErrInvalidCursor
	}
	return c, nil
}

// fingerprint hashes the parts of a filter, so a cursor remembers which
// filter it pages through without carrying the filter itself.
func fingerprint(parts ...string) string {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

func timeKey(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// ceilMS is the first whole millisecond at or after t. Stored times are
// whole milliseconds, so "stored >= t" is "stored >= ceilMS(t)".
func ceilMS(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// floorTo rounds ms down to a multiple of unit (also for negative ms).
func floorTo(ms, unit int64) int64 {
	r := ms % unit
	if r < 0 {
		r += unit
	}
	return ms - r
}
