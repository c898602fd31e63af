package cassandra

import (
	"context"
	"fmt"

	"github.com/hookd/hookd/storage"
)

// listPlan says how one list reads its index: the table, the bucket size,
// the shard partitions of a bucket, how to find the next bucket that may
// hold rows, and which index rows match the filter.
type listPlan struct {
	path     string // names the plan in cursors
	table    indexTable
	bucketMS int64
	// partitions returns the partition-key values of every shard of a
	// bucket.
	partitions func(bucket int64) [][]any
	// next returns the newest bucket at or below b and at or above floor
	// that may hold rows; ok is false when there is none. It may stop early
	// (returning an unverified bucket) when the budget runs out.
	next  func(ctx context.Context, b, floor int64, budget *scanBudget) (bucket int64, ok bool, err error)
	match func(indexRow) bool
}

// everyBucket is the next function of plans whose every bucket may hold
// rows.
func everyBucket(_ context.Context, b, floor int64, _ *scanBudget) (int64, bool, error) {
	return b, b >= floor, nil
}

// runList reads up to need matching index rows newest first, in window w,
// from the start of the window or from cur. It returns the rows and the
// cursor of the next page ("" when the window is exhausted).
func (s *Store) runList(ctx context.Context, plan listPlan, w window, cur *cursor, need int, hash string) ([]indexRow, string, error) {
	if w.since >= w.until {
		return nil, "", nil
	}
	budget := scanBudget{maxPartitions: s.opts.MaxScanPartitions, maxRows: s.opts.MaxScanRows}
	floor := floorTo(w.since, plan.bucketMS)
	b, pos := floorTo(w.until-1, plan.bucketMS), top(w.until, plan.table.nkeys)
	if cur != nil {
		b, pos = cur.B, position{ms: cur.T, keys: cur.K}
	}
	next := func(b int64, pos position) string {
		return storage.EncodeCursor(cursor{V: cursorVersion, Path: plan.path, Hash: hash, S: w.since, U: w.until, B: b, T: pos.ms, K: pos.keys})
	}
	var rows []indexRow
	for {
		nb, ok, err := plan.next(ctx, b, floor, &budget)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return rows, "", nil
		}
		if nb != b {
			b, pos = nb, top(w.until, plan.table.nkeys)
		}
		if budget.exhausted() {
			return rows, next(b, pos), nil
		}
		// Fetch somewhat more than the rows still needed: filters in Go
		// drop some, and each extra round trip costs more than a few rows.
		chunk := min(max((need-len(rows))*3/2, 32), 1000)
		last, exhausted, err := s.scanBucket(ctx, plan.table, plan.partitions(b), pos, w.since, chunk, &budget,
			func(r indexRow) bool {
				if plan.match(r) {
					rows = append(rows, r)
				}
				return len(rows) < need
			})
		if err != nil {
			return nil, "", fmt.Errorf("bucket %s: %w", msTime(b).Format("2006-01-02T15"), err)
		}
		pos = last
		if len(rows) >= need || !exhausted {
			return rows, next(b, pos), nil
		}
		b -= plan.bucketMS
		pos = top(w.until, plan.table.nkeys)
		if b < floor {
			return rows, "", nil
		}
	}
}
