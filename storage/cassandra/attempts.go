package cassandra

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

// ErrInvalidRecord marks records that can never be stored (no id, no
// time). Writes skip them, store the rest, and then report them with an
// error that wraps ErrInvalidRecord; a log writer that sees only this
// error knows everything else is durable and can move on.
var ErrInvalidRecord = storage.ErrInvalidRecord

// InvalidRecordsError lists the records a write skipped.
type InvalidRecordsError struct {
	Problems []string
}

func (e *InvalidRecordsError) Error() string {
	return fmt.Sprintf("cassandra: skipped %d invalid record(s): %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// Unwrap makes errors.Is(err, ErrInvalidRecord) true.
func (e *InvalidRecordsError) Unwrap() error { return ErrInvalidRecord }

// attemptMutations returns the writes that store a: the full record and
// its index rows (by endpoint, by hour and, when it has an event id, by
// event), with the TTL of its outcome counted from its start.
// skip is true when a has already outlived its retention.
func (s *Store) attemptMutations(a *domain.Attempt, now time.Time) (muts []mutation, hour int64, skip bool, err error) {
	switch {
	case a.ID == "":
		return nil, 0, false, invalidf("attempt of delivery %q: no id", a.DeliveryID)
	case a.DeliveryID == "":
		return nil, 0, false, invalidf("attempt %q: no delivery id", a.ID)
	case a.StartedAt.IsZero():
		return nil, 0, false, invalidf("attempt %q: no start time", a.ID)
	}
	ttl, ok := ttlSeconds(a.StartedAt, s.ret.For(a.Outcome), now)
	if !ok {
		return nil, 0, true, nil
	}
	started := a.StartedAt.UnixMilli()
	day, hour := floorTo(started, dayMS), floorTo(started, hourMS)
	id, delivery := clean(a.ID), clean(a.DeliveryID)
	ep := endpointKey(clean(a.EndpointID))
	eventType, outcome, tenant := clean(a.EventType), clean(string(a.Outcome)), clean(a.TenantID)
	full := []any{
		delivery, id, clean(a.EventID), eventType, ep, tenant, a.Generation, a.AttemptNumber,
		started, int64(a.Duration), a.StatusCode, outcome, clean(a.Error),
		cleanMap(a.RequestHeaders), cleanMap(a.ResponseHeaders), nonNil(a.ResponseBody),
		clean(a.ResponseBodySHA256), a.ResponseBodySize, optionalMS(a.NextRetryAt), ttl,
	}
	size := 256 + len(a.ResponseBody) + len(a.Error)
	for k, v := range a.RequestHeaders {
		size += len(k) + len(v)
	}
	for k, v := range a.ResponseHeaders {
		size += len(k) + len(v)
	}
	muts = []mutation{
		{part: "attempts_by_delivery/" + delivery, stmt: s.q.insAttempt, args: full, size: size},
		{
			part: "attempts_by_endpoint/" + ep + "/" + strconv.FormatInt(day, 10),
			stmt: s.q.insAttemptByEndpoint,
			args: []any{ep, day, started, id, delivery, eventType, outcome, tenant, ttl},
			size: 128,
		},
		{
			part: "attempts_by_hour/" + strconv.FormatInt(hour, 10) + "/" + strconv.Itoa(shardOf(id)),
			stmt: s.q.insAttemptByHour,
			args: []any{hour, shardOf(id), started, id, delivery, ep, eventType, outcome, tenant, ttl},
			size: 160,
		},
	}
	// A partition key cannot be empty; an attempt always has an event id,
	// but one without is still kept in the other tables.
	if event := clean(a.EventID); event != "" {
		muts = append(muts, mutation{
			part: "attempts_by_event/" + event,
			stmt: s.q.insAttemptByEvent,
			args: []any{event, delivery, id, ep, ttl},
			size: 128,
		})
	}
	return muts, hour, false, nil
}

// buildAttempts turns attempts into mutations, collecting the hours they
// fall in and the records that cannot be stored.
func (s *Store) buildAttempts(attempts []domain.Attempt) (muts []mutation, hours map[int64]struct{}, invalid *InvalidRecordsError) {
	now := s.opts.Now()
	hours = map[int64]struct{}{}
	muts = make([]mutation, 0, 4*len(attempts))
	for i := range attempts {
		m, hour, skip, err := s.attemptMutations(&attempts[i], now)
		if err != nil {
			if invalid == nil {
				invalid = &InvalidRecordsError{}
			}
			invalid.Problems = append(invalid.Problems, err.Error())
			continue
		}
		if skip {
			continue
		}
		hours[hour] = struct{}{}
		muts = append(muts, m...)
	}
	return muts, hours, invalid
}

// markHours records in attempt_hours the hours that hold attempts, once
// per process and hour, before the attempts themselves are written: a
// list across endpoints reads only the hours listed there, so an attempt
// must never be visible in an hour that is not.
func (s *Store) markHours(ctx context.Context, hours map[int64]struct{}, bo backoff) error {
	now := s.opts.Now()
	keep := max(s.ret.Delivered, s.ret.Failed)
	var muts []mutation
	var marked []int64
	for h := range hours {
		if _, done := s.hours.Load(h); done {
			continue
		}
		// The row must outlive every attempt of the hour.
		ttl, ok := ttlSeconds(msTime(h+hourMS), keep, now)
		if !ok {
			continue
		}
		day := floorTo(h, dayMS)
		muts = append(muts, mutation{
			part: "attempt_hours/" + strconv.FormatInt(day, 10),
			stmt: s.q.insAttemptHour, args: []any{day, h, ttl}, size: 32,
		})
		marked = append(marked, h)
	}
	if len(muts) == 0 {
		return nil
	}
	if err := s.execAll(ctx, groupBatches(muts, 64), s.opts.WriteConcurrency, bo); err != nil {
		return err
	}
	for _, h := range marked {
		s.hours.Store(h, struct{}{})
	}
	// Forget hours whose attempts have all expired.
	oldest := now.Add(-keep - time.Hour).UnixMilli()
	s.hours.Range(func(k, _ any) bool {
		if h, ok := k.(int64); ok && h < oldest {
			s.hours.Delete(k)
		}
		return true
	})
	return nil
}

// WriteAttempts stores attempts: per partition in UNLOGGED batches, the
// batches in parallel, transient errors retried for a few seconds. Every
// write is an idempotent upsert keyed by the attempt's id (and start
// time), so calling it again after an error is safe. Attempts already
// past their retention are skipped; invalid ones are skipped and reported
// (see ErrInvalidRecord). For a steady stream from many goroutines, a
// Writer coalesces writes into fewer, larger batches.
func (s *Store) WriteAttempts(ctx context.Context, attempts []domain.Attempt) error {
	muts, hours, invalid := s.buildAttempts(attempts)
	if err := s.markHours(ctx, hours, writeBackoff); err != nil {
		return fmt.Errorf("cassandra: write attempts: %w", err)
	}
	if err := s.execAll(ctx, groupBatches(muts, s.opts.MaxBatch), s.opts.WriteConcurrency, writeBackoff); err != nil {
		return fmt.Errorf("cassandra: write attempts: %w", err)
	}
	if invalid != nil {
		return invalid
	}
	return nil
}

// scanAttempt reads one row of the attempt columns.
func scanAttempt(iter *gocql.Iter, a *domain.Attempt) bool {
	var (
		ep                         string
		outcome                    string
		started, durNS, next, size int64
		reqH, respH                map[string]string
		body                       []byte
	)
	*a = domain.Attempt{}
	if !iter.Scan(&a.DeliveryID, &a.ID, &a.EventID, &a.EventType, &ep, &a.TenantID, &a.Generation, &a.AttemptNumber,
		&started, &durNS, &a.StatusCode, &outcome, &a.Error, &reqH, &respH,
		&body, &a.ResponseBodySHA256, &size, &next) {
		return false
	}
	a.EndpointID = endpointFromKey(ep)
	a.Outcome = domain.Outcome(outcome)
	a.StartedAt = msTime(started)
	a.Duration = time.Duration(durNS)
	a.RequestHeaders = nilIfEmptyMap(reqH)
	a.ResponseHeaders = nilIfEmptyMap(respH)
	a.ResponseBody = nilIfEmpty(body)
	a.ResponseBodySize = size
	a.NextRetryAt = optionalTime(next)
	return true
}

// DeliveryAttempts returns the attempts of one delivery, oldest first
// (by start time, then generation and number). An unknown delivery has
// none.
func (s *Store) DeliveryAttempts(ctx context.Context, deliveryID string) ([]domain.Attempt, error) {
	if deliveryID == "" {
		return nil, nil
	}
	iter := s.session.Query(s.q.selDelivery, deliveryID).Consistency(s.cons).Idempotent(true).IterContext(ctx)
	var out []domain.Attempt
	var a domain.Attempt
	for scanAttempt(iter, &a) {
		out = append(out, a)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("cassandra: attempts of delivery %s: %w", deliveryID, err)
	}
	slices.SortFunc(out, func(x, y domain.Attempt) int {
		return cmp.Or(x.StartedAt.Compare(y.StartedAt), cmp.Compare(x.Generation, y.Generation),
			cmp.Compare(x.AttemptNumber, y.AttemptNumber), strings.Compare(x.ID, y.ID))
	})
	return out, nil
}

// EventDeliveries returns the deliveries of an event's attempts, each
// once, by delivery id (the clustering order of attempts_by_event, grouped
// by the server), at most storage.MaxEventDeliveries.
func (s *Store) EventDeliveries(ctx context.Context, eventID string) ([]storage.EventDelivery, error) {
	if eventID == "" {
		return []storage.EventDelivery{}, nil
	}
	iter := s.session.Query(s.q.selEventDeliveries, eventID, storage.MaxEventDeliveries).
		Consistency(s.cons).Idempotent(true).IterContext(ctx)
	out := []storage.EventDelivery{}
	var delivery, ep string
	for iter.Scan(&delivery, &ep) {
		// The server groups; this only guards the contract.
		if n := len(out); n > 0 && out[n-1].DeliveryID == delivery {
			continue
		}
		out = append(out, storage.EventDelivery{DeliveryID: delivery, EndpointID: endpointFromKey(ep)})
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("cassandra: deliveries of event %s: %w", eventID, err)
	}
	return out, nil
}

func matchAttempt(f domain.AttemptFilter, endpointID, eventType, outcome, tenant string) bool {
	return (f.EndpointID == "" || f.EndpointID == endpointID) &&
		(f.EventType == "" || f.EventType == eventType) &&
		(f.Outcome == "" || string(f.Outcome) == outcome) &&
		(f.TenantID == "" || f.TenantID == tenant)
}

// Cursor paths of attempt lists.
const (
	pathAttemptsByEndpoint = "ae"
	pathAttemptsByHour     = "ah"
)

// attemptPlan chooses the index for f: the endpoint's day partitions when
// the filter names an endpoint, else the hour buckets of all endpoints.
func (s *Store) attemptPlan(f domain.AttemptFilter) listPlan {
	match := func(r indexRow) bool {
		return matchAttempt(f, endpointFromKey(r.endpointID), r.eventType, r.outcome, r.tenantID)
	}
	if f.EndpointID != "" {
		ep := endpointKey(f.EndpointID)
		return listPlan{
			path: pathAttemptsByEndpoint,
			table: indexTable{stmt: s.q.scanAttemptsByEndpoint, nkeys: 1, scan: func(iter *gocql.Iter, r *indexRow) bool {
				var ms int64
				var id string
				if !iter.Scan(&ms, &id, &r.deliveryID, &r.eventType, &r.outcome, &r.tenantID) {
					return false
				}
				r.pos, r.attemptID, r.endpointID = position{ms: ms, keys: []string{id}}, id, ep
				return true
			}},
			bucketMS:   dayMS,
			partitions: func(day int64) [][]any { return [][]any{{ep, day}} },
			next:       everyBucket,
			match:      match,
		}
	}
	return listPlan{
		path: pathAttemptsByHour,
		table: indexTable{stmt: s.q.scanAttemptsByHour, nkeys: 1, scan: func(iter *gocql.Iter, r *indexRow) bool {
			var ms int64
			var id string
			if !iter.Scan(&ms, &id, &r.deliveryID, &r.endpointID, &r.eventType, &r.outcome, &r.tenantID) {
				return false
			}
			r.pos, r.attemptID = position{ms: ms, keys: []string{id}}, id
			return true
		}},
		bucketMS: hourMS,
		partitions: func(hour int64) [][]any {
			pks := make([][]any, shards)
			for i := range pks {
				pks[i] = []any{hour, i}
			}
			return pks
		},
		next:  s.nextHour(),
		match: match,
	}
}

// nextHour finds hours that hold attempts through attempt_hours, one day
// partition at a time, so empty hours cost nothing.
func (s *Store) nextHour() func(ctx context.Context, b, floor int64, budget *scanBudget) (int64, bool, error) {
	days := map[int64][]int64{} // day -> hours holding attempts, newest first
	return func(ctx context.Context, b, floor int64, budget *scanBudget) (int64, bool, error) {
		for b >= floor {
			day := floorTo(b, dayMS)
			hours, seen := days[day]
			if !seen {
				if budget.exhausted() {
					return b, true, nil
				}
				budget.partitions++
				iter := s.session.Query(s.q.selHours, day, b, max(floor, day)).
					Consistency(s.cons).Idempotent(true).IterContext(ctx)
				var h int64
				for iter.Scan(&h) {
					hours = append(hours, h)
				}
				if err := iter.Close(); err != nil {
					return 0, false, fmt.Errorf("read attempt_hours: %w", err)
				}
				days[day] = hours
			}
			for _, h := range hours {
				if h <= b && h >= floor {
					return h, true, nil
				}
			}
			b = day - hourMS
		}
		return 0, false, nil
	}
}

// ListAttempts pages through attempts matching f, newest first (by start
// time, ties by id). A page may hold fewer than the limit, even none,
// and still have a NextCursor: a page stops after a bounded amount of
// index reading (see Options). Only an empty NextCursor ends the list.
// Without Since, the list reaches back over the retention period.
func (s *Store) ListAttempts(ctx context.Context, f domain.AttemptFilter, p storage.PageRequest) (storage.Page[domain.Attempt], error) {
	plan := s.attemptPlan(f)
	hash := fingerprint("attempts", f.EndpointID, f.EventType, string(f.Outcome), f.TenantID, timeKey(f.Since), timeKey(f.Until))
	w := s.window(f.Since, f.Until, max(s.ret.Delivered, s.ret.Failed))
	var cur *cursor
	if p.Cursor != "" {
		c, err := decodeCursor(p.Cursor, plan.path, hash, plan.table.nkeys, plan.bucketMS)
		if err != nil {
			return storage.Page[domain.Attempt]{}, fmt.Errorf("cassandra: list attempts: %w", err)
		}
		cur, w = &c, window{since: c.S, until: c.U}
	}
	rows, next, err := s.runList(ctx, plan, w, cur, p.Size(), hash)
	if err != nil {
		return storage.Page[domain.Attempt]{}, fmt.Errorf("cassandra: list attempts: %w", err)
	}
	items, err := s.fetchAttempts(ctx, rows, f)
	if err != nil {
		return storage.Page[domain.Attempt]{}, fmt.Errorf("cassandra: list attempts: %w", err)
	}
	return storage.Page[domain.Attempt]{Items: items, NextCursor: next}, nil
}

// fetchAttempts reads the full records of index rows, in parallel, keeping
// their order. It drops rows whose record is gone or has moved (an upsert
// with a new start time leaves the old index row behind until it
// expires), and checks the filter on the record itself.
func (s *Store) fetchAttempts(ctx context.Context, rows []indexRow, f domain.AttemptFilter) ([]domain.Attempt, error) {
	got := make([]domain.Attempt, len(rows))
	found := make([]bool, len(rows))
	err := forEachParallel(len(rows), s.opts.ReadConcurrency, func(i int) error {
		iter := s.session.Query(s.q.selAttempt, rows[i].deliveryID, rows[i].attemptID).
			Consistency(s.cons).Idempotent(true).IterContext(ctx)
		found[i] = scanAttempt(iter, &got[i])
		if err := iter.Close(); err != nil {
			return fmt.Errorf("read attempt %s: %w", rows[i].attemptID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]domain.Attempt, 0, len(rows))
	for i, a := range got {
		if found[i] && a.StartedAt.UnixMilli() == rows[i].pos.ms &&
			matchAttempt(f, a.EndpointID, a.EventType, string(a.Outcome), a.TenantID) {
			out = append(out, a)
		}
	}
	return out, nil
}
