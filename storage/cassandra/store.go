package cassandra

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/hookd/hookd/storage"
)

var _ storage.LogStore = (*Store)(nil)

// Options tunes a Store. Zero fields take the defaults.
type Options struct {
	// Consistency of reads and writes by name (default LOCAL_QUORUM).
	Consistency string
	// MaxScanPartitions and MaxScanRows bound the index reads of one list
	// page (defaults 256 and 10000). A page that reaches either bound
	// returns what it found with a cursor to continue, so a filter that
	// matches little in a long window cannot hold a request for long.
	MaxScanPartitions int
	MaxScanRows       int
	// ReadConcurrency bounds the parallel point reads that fetch the full
	// records of one page (default 16).
	ReadConcurrency int
	// WriteConcurrency and MaxBatch shape WriteAttempts and PutDeadLetters
	// (defaults DefaultMaxInFlight and DefaultMaxBatch). The Writer has its
	// own settings.
	WriteConcurrency int
	MaxBatch         int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Store keeps attempts and dead letters in Cassandra. It is safe for
// concurrent use.
type Store struct {
	session *gocql.Session
	owned   bool
	ks      string
	ret     storage.Retention
	cons    gocql.Consistency
	opts    Options
	q       statements

	// hours remembers the attempt_hours rows this process has written
	// (hour in ms -> struct{}), so each hour is marked once per process.
	hours sync.Map
}

// Defaults of Options.
const (
	defaultMaxScanPartitions = 256
	defaultMaxScanRows       = 10000
	defaultReadConcurrency   = 16
)

// NewStore connects to the cluster described by cfg. The store owns the
// session and closes it in Close. The keyspace must have been migrated
// (see Migrate).
func NewStore(ctx context.Context, cfg Config, r storage.Retention, opts Options) (*Store, error) {
	if opts.Consistency == "" {
		opts.Consistency = cfg.Consistency
	}
	if !ValidKeyspace(cfg.Keyspace) {
		return nil, fmt.Errorf("cassandra: keyspace name %q: want 1 to 48 letters, digits or underscores", cfg.Keyspace)
	}
	session, err := Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s, err := NewStoreFromSession(session, cfg.Keyspace, r, opts)
	if err != nil {
		session.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// NewStoreFromSession makes a store on an existing session, which the
// caller keeps owning (tests, or a process sharing one session). Every
// statement names keyspace, so the session may be bound to any keyspace
// or none.
func NewStoreFromSession(session *gocql.Session, keyspace string, r storage.Retention, opts Options) (*Store, error) {
	if session == nil {
		return nil, errors.New("cassandra: no session")
	}
	if !ValidKeyspace(keyspace) {
		return nil, fmt.Errorf("cassandra: keyspace name %q: want 1 to 48 letters, digits or underscores", keyspace)
	}
	if r.Delivered <= 0 || r.Failed <= 0 || r.DeadLetters <= 0 {
		return nil, fmt.Errorf("cassandra: retention must be positive (delivered %s, failed %s, dead letters %s)", r.Delivered, r.Failed, r.DeadLetters)
	}
	cons, err := parseConsistency(opts.Consistency)
	if err != nil {
		return nil, err
	}
	if opts.MaxScanPartitions <= 0 {
		opts.MaxScanPartitions = defaultMaxScanPartitions
	}
	if opts.MaxScanRows <= 0 {
		opts.MaxScanRows = defaultMaxScanRows
	}
	if opts.ReadConcurrency <= 0 {
		opts.ReadConcurrency = defaultReadConcurrency
	}
	if opts.WriteConcurrency <= 0 {
		opts.WriteConcurrency = DefaultMaxInFlight
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{session: session, ks: keyspace, ret: r, cons: cons, opts: opts, q: newStatements(keyspace)}, nil
}

// Close closes the session if the store opened it.
func (s *Store) Close() {
	if s.owned {
		s.session.Close()
	}
}

// Ping checks that the cluster answers and the schema is in place, for
// readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	var v int
	err := s.session.Query(`SELECT version FROM `+s.ks+`.schema_migrations LIMIT 1`).
		Consistency(gocql.One).Idempotent(true).ScanContext(ctx, &v)
	if err != nil {
		return fmt.Errorf("cassandra: ping %s: %w", s.ks, err)
	}
	return nil
}

// writeBackoff retries the writes of WriteAttempts and PutDeadLetters for
// a short while; callers that need more (the log writer) retry on their own.
var writeBackoff = backoff{first: 50 * time.Millisecond, limit: time.Second, maxElapsed: 5 * time.Second}

const (
	dayMS  = int64(24 * time.Hour / time.Millisecond)
	hourMS = int64(time.Hour / time.Millisecond)
	// shards is the number of partitions that share one time bucket of the
	// cross-endpoint indexes (attempts_by_hour, dead_letters_by_day), so
	// the writes of one hour or day spread over the cluster instead of
	// loading one replica set. Readers merge all shards, so changing it
	// needs a data migration.
	shards = 8
	// noEndpoint stands for an empty endpoint id in partition keys (which
	// cannot be empty); no endpoint id contains parentheses.
	noEndpoint = "(none)"
	// maxTTL is Cassandra's limit (20 years).
	maxTTL = 630720000
	// clockSkew is how far in the future a record's time may be (clocks of
	// dispatchers differ); lists with no upper bound look that far ahead.
	clockSkew = 5 * time.Minute
)

// endpointKey maps an endpoint id to its partition-key form.
func endpointKey(id string) string {
	if id == "" {
		return noEndpoint
	}
	return id
}

// endpointFromKey reverses endpointKey.
func endpointFromKey(k string) string {
	if k == noEndpoint {
		return ""
	}
	return k
}

// ttlSeconds returns the TTL of a record made at t that must be kept for
// retention: counted from t, not from the write, so a log writer catching
// up after an outage does not keep old records longer than promised. ok
// is false when the record has already outlived its retention.
func ttlSeconds(t time.Time, retention time.Duration, now time.Time) (ttl int, ok bool) {
	left := min(t.Add(retention).Sub(now), retention)
	if left <= 0 {
		return 0, false
	}
	secs := int64((left + time.Second - 1) / time.Second)
	return int(min(secs, maxTTL)), true
}

// shardOf spreads the rows of a time bucket over the shards.
func shardOf(parts ...string) int {
	var h uint32 = 2166136261
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			h ^= uint32(p[i])
			h *= 16777619
		}
		h ^= 0xff
		h *= 16777619
	}
	return int(h % shards)
}

// clean makes s storable in a text column, which must be valid UTF-8:
// response headers and error texts come from remote servers and may hold
// anything, and a record that can never be written must not stall the log.
func clean(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}

func cleanMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[clean(k)] = clean(v)
	}
	return out
}

// msTime turns stored milliseconds back into a UTC time.
func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// optionalMS stores an optional time: 0 (the epoch) stands for none, so
// that no null (a tombstone) is written.
func optionalMS(t *time.Time) int64 {
	if t == nil || t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func optionalTime(ms int64) *time.Time {
	if ms == 0 {
		return nil
	}
	t := msTime(ms)
	return &t
}

// nonNil makes sure a blob binds as an empty value, not a null.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nilIfEmptyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// window resolves a filter's time range into [since, until) in whole
// milliseconds. A zero until means "now" (plus clockSkew); a zero since,
// or one older than the retention, means "as far back as records are
// kept" (older ones have expired).
func (s *Store) window(since, until time.Time, retention time.Duration) window {
	now := s.opts.Now()
	w := window{until: ceilMS(now.Add(clockSkew))}
	if !until.IsZero() {
		w.until = min(w.until, ceilMS(until))
	}
	w.since = now.Add(-retention).UnixMilli()
	if !since.IsZero() {
		w.since = max(w.since, ceilMS(since))
	}
	if w.since > w.until {
		w.since = w.until
	}
	return w
}

// forEachParallel calls fn(i) for i in [0, n) with at most limit calls at
// once and returns their errors, joined.
func forEachParallel(n, limit int, fn func(i int) error) error {
	if n == 0 {
		return nil
	}
	sem := make(chan struct{}, max(limit, 1))
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
