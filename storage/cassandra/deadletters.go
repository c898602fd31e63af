package cassandra

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

// deadLetterMutations returns the writes that store d: the record with its
// payload and its two index rows, with the dead-letter TTL counted from
// DeadAt. skip is true when d has already outlived its retention.
func (s *Store) deadLetterMutations(d *domain.DeadLetter, now time.Time) (muts []mutation, skip bool, err error) {
	switch {
	case d.DeliveryID == "":
		return nil, false, invalidf("dead letter of event %q: no delivery id", d.EventID)
	case d.DeadAt.IsZero():
		return nil, false, invalidf("dead letter %q: no time", d.DeliveryID)
	}
	ttl, ok := ttlSeconds(d.DeadAt, s.ret.DeadLetters, now)
	if !ok {
		return nil, true, nil
	}
	dead := d.DeadAt.UnixMilli()
	day := floorTo(dead, dayMS)
	ep, delivery := endpointKey(clean(d.EndpointID)), clean(d.DeliveryID)
	eventType, reason, tenant := clean(d.EventType), clean(d.Reason), clean(d.TenantID)
	shard := shardOf(ep, delivery)
	muts = []mutation{
		{
			part: "dead_letters/" + ep + "/" + delivery,
			stmt: s.q.insDeadLetter,
			// A new dead letter for the same delivery (after a replay
			// failed again) clears replayed_at: it has not been replayed.
			args: []any{
				ep, delivery, clean(d.EventID), eventType, tenant, reason, clean(d.LastError), d.LastStatusCode,
				d.Attempts, d.Generation, dead, nonNil(d.Payload), optionalMS(d.ReplayedAt), ttl,
			},
			size: 256 + len(d.Payload) + len(d.LastError),
		},
		{
			part: "dead_letters_by_endpoint/" + ep + "/" + strconv.FormatInt(day, 10),
			stmt: s.q.insDeadLetterByEndpoint,
			args: []any{ep, day, dead, delivery, eventType, reason, tenant, ttl},
			size: 128,
		},
		{
			part: "dead_letters_by_day/" + strconv.FormatInt(day, 10) + "/" + strconv.Itoa(shard),
			stmt: s.q.insDeadLetterByDay,
			args: []any{day, shard, dead, ep, delivery, eventType, reason, tenant, ttl},
			size: 160,
		},
	}
	return muts, false, nil
}

func (s *Store) buildDeadLetters(dls []domain.DeadLetter) (muts []mutation, invalid *InvalidRecordsError) {
	now := s.opts.Now()
	for i := range dls {
		m, skip, err := s.deadLetterMutations(&dls[i], now)
		if err != nil {
			if invalid == nil {
				invalid = &InvalidRecordsError{}
			}
			invalid.Problems = append(invalid.Problems, err.Error())
			continue
		}
		if !skip {
			muts = append(muts, m...)
		}
	}
	return muts, invalid
}

// PutDeadLetters stores dead letters, as WriteAttempts stores attempts: a
// dead letter is keyed by endpoint and delivery id, so storing it again
// is an upsert (index rows of an older DeadAt are left to expire and
// never shown).
func (s *Store) PutDeadLetters(ctx context.Context, dls []domain.DeadLetter) error {
	muts, invalid := s.buildDeadLetters(dls)
	if err := s.execAll(ctx, groupBatches(muts, s.opts.MaxBatch), s.opts.WriteConcurrency, writeBackoff); err != nil {
		return fmt.Errorf("cassandra: put dead letters: %w", err)
	}
	if invalid != nil {
		return invalid
	}
	return nil
}

func scanDeadLetter(iter *gocql.Iter, d *domain.DeadLetter) bool {
	var (
		ep             string
		dead, replayed int64
		payload        []byte
	)
	*d = domain.DeadLetter{}
	if !iter.Scan(&ep, &d.DeliveryID, &d.EventID, &d.EventType, &d.TenantID, &d.Reason, &d.LastError, &d.LastStatusCode,
		&d.Attempts, &d.Generation, &dead, &payload, &replayed) {
		return false
	}
	d.EndpointID = endpointFromKey(ep)
	d.DeadAt = msTime(dead)
	d.Payload = nilIfEmpty(payload)
	d.ReplayedAt = optionalTime(replayed)
	return true
}

// getDeadLetter reads one dead letter; found is false when there is none.
// A row without dead_at is the leftover of a MarkReplayed that raced a
// discard, and counts as none.
func (s *Store) getDeadLetter(ctx context.Context, ep, deliveryID string) (d domain.DeadLetter, found bool, err error) {
	iter := s.session.Query(s.q.selDeadLetter, ep, deliveryID).Consistency(s.cons).Idempotent(true).IterContext(ctx)
	found = scanDeadLetter(iter, &d)
	if err := iter.Close(); err != nil {
		return d, false, err
	}
	return d, found && d.DeadAt.UnixMilli() != 0, nil
}

// GetDeadLetter returns one dead letter, or storage.ErrNotFound.
func (s *Store) GetDeadLetter(ctx context.Context, endpointID, deliveryID string) (domain.DeadLetter, error) {
	if deliveryID == "" {
		return domain.DeadLetter{}, fmt.Errorf("cassandra: dead letter %q/%q: %w", endpointID, deliveryID, storage.ErrNotFound)
	}
	d, found, err := s.getDeadLetter(ctx, endpointKey(endpointID), deliveryID)
	if err != nil {
		return domain.DeadLetter{}, fmt.Errorf("cassandra: get dead letter %s/%s: %w", endpointID, deliveryID, err)
	}
	if !found {
		return domain.DeadLetter{}, fmt.Errorf("cassandra: dead letter %s/%s: %w", endpointID, deliveryID, storage.ErrNotFound)
	}
	return d, nil
}

// MarkReplayed records that a dead letter was replayed at time at. Only
// the record holds replayed_at (the indexes point at it), and the update
// keeps the record's remaining TTL so the cell expires with the row.
func (s *Store) MarkReplayed(ctx context.Context, endpointID, deliveryID string, at time.Time) error {
	if deliveryID == "" {
		return fmt.Errorf("cassandra: mark replayed %q/%q: %w", endpointID, deliveryID, storage.ErrNotFound)
	}
	ep := endpointKey(endpointID)
	var dead int64
	var ttl int
	err := s.session.Query(s.q.selDeadLetterTTL, ep, deliveryID).Consistency(s.cons).Idempotent(true).ScanContext(ctx, &dead, &ttl)
	switch {
	case errors.Is(err, gocql.ErrNotFound), err == nil && dead == 0:
		return fmt.Errorf("cassandra: mark replayed %s/%s: %w", endpointID, deliveryID, storage.ErrNotFound)
	case err != nil:
		return fmt.Errorf("cassandra: mark replayed %s/%s: %w", endpointID, deliveryID, err)
	}
	if ttl <= 0 {
		// Written without a TTL (not by hookd): keep the cell as long.
		ttl = 0
	}
	if at.IsZero() {
		at = s.opts.Now()
	}
	replayed := at.UnixMilli()
	if replayed == 0 {
		replayed = 1 // 0 means "not replayed"
	}
	err = s.session.Query(s.q.updReplayed, ttl, replayed, ep, deliveryID).
		Consistency(s.cons).Idempotent(true).ExecContext(ctx)
	if err != nil {
		return fmt.Errorf("cassandra: mark replayed %s/%s: %w", endpointID, deliveryID, err)
	}
	return nil
}

// DiscardDeadLetter deletes a dead letter and its index rows. It is an
// operator's action, off the delivery path, so its tombstones are few.
func (s *Store) DiscardDeadLetter(ctx context.Context, endpointID, deliveryID string) error {
	if deliveryID == "" {
		return fmt.Errorf("cassandra: discard dead letter %q/%q: %w", endpointID, deliveryID, storage.ErrNotFound)
	}
	ep := endpointKey(endpointID)
	d, found, err := s.getDeadLetter(ctx, ep, deliveryID)
	if err != nil {
		return fmt.Errorf("cassandra: discard dead letter %s/%s: %w", endpointID, deliveryID, err)
	}
	if !found {
		return fmt.Errorf("cassandra: discard dead letter %s/%s: %w", endpointID, deliveryID, storage.ErrNotFound)
	}
	dead := d.DeadAt.UnixMilli()
	day := floorTo(dead, dayMS)
	muts := [][]mutation{
		{{stmt: s.q.delDeadLetter, args: []any{ep, deliveryID}, part: "dead_letters"}},
		{{stmt: s.q.delDeadLetterByEndpoint, args: []any{ep, day, dead, deliveryID}, part: "dead_letters_by_endpoint"}},
		{{stmt: s.q.delDeadLetterByDay, args: []any{day, shardOf(ep, deliveryID), dead, ep, deliveryID}, part: "dead_letters_by_day"}},
	}
	if err := s.execAll(ctx, muts, len(muts), writeBackoff); err != nil {
		return fmt.Errorf("cassandra: discard dead letter %s/%s: %w", endpointID, deliveryID, err)
	}
	return nil
}

// Cursor paths of dead-letter lists.
const (
	pathDeadLettersByEndpoint = "de"
	pathDeadLettersByDay      = "dd"
)

func matchDeadLetter(f domain.DeadLetterFilter, endpointID, eventType, reason, tenant string) bool {
	return (f.EndpointID == "" || f.EndpointID == endpointID) &&
		(f.EventType == "" || f.EventType == eventType) &&
		(f.Reason == "" || f.Reason == reason) &&
		(f.TenantID == "" || f.TenantID == tenant)
}

func (s *Store) deadLetterPlan(f domain.DeadLetterFilter) listPlan {
	match := func(r indexRow) bool {
		return matchDeadLetter(f, endpointFromKey(r.endpointID), r.eventType, r.reason, r.tenantID)
	}
	if f.EndpointID != "" {
		ep := endpointKey(f.EndpointID)
		return listPlan{
			path: pathDeadLettersByEndpoint,
			table: indexTable{stmt: s.q.scanDeadLettersByEndpoint, nkeys: 1, scan: func(iter *gocql.Iter, r *indexRow) bool {
				var ms int64
				if !iter.Scan(&ms, &r.deliveryID, &r.eventType, &r.reason, &r.tenantID) {
					return false
				}
				r.pos, r.endpointID = position{ms: ms, keys: []string{r.deliveryID}}, ep
				return true
			}},
			bucketMS:   dayMS,
			partitions: func(day int64) [][]any { return [][]any{{ep, day}} },
			next:       everyBucket,
			match:      match,
		}
	}
	return listPlan{
		path: pathDeadLettersByDay,
		table: indexTable{stmt: s.q.scanDeadLettersByDay, nkeys: 2, scan: func(iter *gocql.Iter, r *indexRow) bool {
			var ms int64
			if !iter.Scan(&ms, &r.endpointID, &r.deliveryID, &r.eventType, &r.reason, &r.tenantID) {
				return false
			}
			r.pos = position{ms: ms, keys: []string{r.endpointID, r.deliveryID}}
			return true
		}},
		bucketMS: dayMS,
		partitions: func(day int64) [][]any {
			pks := make([][]any, shards)
			for i := range pks {
				pks[i] = []any{day, i}
			}
			return pks
		},
		next:  everyBucket,
		match: match,
	}
}

// ListDeadLetters pages through dead letters matching f, newest first (by
// DeadAt, ties by endpoint and delivery id), with the paging rules of
// ListAttempts. Without Since, the list reaches back over the dead-letter
// retention.
func (s *Store) ListDeadLetters(ctx context.Context, f domain.DeadLetterFilter, p storage.PageRequest) (storage.Page[domain.DeadLetter], error) {
	plan := s.deadLetterPlan(f)
	hash := fingerprint("dead_letters", f.EndpointID, f.EventType, f.Reason, f.TenantID, timeKey(f.Since), timeKey(f.Until))
	w := s.window(f.Since, f.Until, s.ret.DeadLetters)
	var cur *cursor
	if p.Cursor != "" {
		c, err := decodeCursor(p.Cursor, plan.path, hash, plan.table.nkeys, plan.bucketMS)
		if err != nil {
			return storage.Page[domain.DeadLetter]{}, fmt.Errorf("cassandra: list dead letters: %w", err)
		}
		cur, w = &c, window{since: c.S, until: c.U}
	}
	rows, next, err := s.runList(ctx, plan, w, cur, p.Size(), hash)
	if err != nil {
		return storage.Page[domain.DeadLetter]{}, fmt.Errorf("cassandra: list dead letters: %w", err)
	}
	got := make([]domain.DeadLetter, len(rows))
	found := make([]bool, len(rows))
	err = forEachParallel(len(rows), s.opts.ReadConcurrency, func(i int) error {
		var err error
		got[i], found[i], err = s.getDeadLetter(ctx, rows[i].endpointID, rows[i].deliveryID)
		if err != nil {
			return fmt.Errorf("read dead letter %s/%s: %w", rows[i].endpointID, rows[i].deliveryID, err)
		}
		return nil
	})
	if err != nil {
		return storage.Page[domain.DeadLetter]{}, fmt.Errorf("cassandra: list dead letters: %w", err)
	}
	items := make([]domain.DeadLetter, 0, len(rows))
	for i, d := range got {
		// Skip index rows whose record is gone (discarded) or was stored
		// again with another DeadAt.
		if found[i] && d.DeadAt.UnixMilli() == rows[i].pos.ms &&
			matchDeadLetter(f, d.EndpointID, d.EventType, d.Reason, d.TenantID) {
			items = append(items, d)
		}
	}
	return storage.Page[domain.DeadLetter]{Items: items, NextCursor: next}, nil
}
