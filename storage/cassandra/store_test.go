package cassandra

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage"
	"github.com/hookd/hookd/storage/storagetest"
)

// newTestStore migrates a fresh keyspace and returns a store on it, with
// its session (for looking at the tables directly).
func newTestStore(t testing.TB, r storage.Retention, opts Options) (*Store, *gocql.Session) {
	t.Helper()
	ks, session := testenv.CassandraKeyspace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := Migrate(ctx, session, MigrateOptions{Keyspace: ks}); err != nil {
		t.Fatalf("migrate %s: %v", ks, err)
	}
	s, err := NewStoreFromSession(session, ks, r, opts)
	if err != nil {
		t.Fatalf("NewStoreFromSession: %v", err)
	}
	return s, session
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestLogStoreConformance(t *testing.T) {
	t.Parallel()
	storagetest.RunLogStore(t, func(t *testing.T, r storage.Retention) storage.LogStore {
		s, _ := newTestStore(t, r, Options{})
		return s
	})
}

// TestSmallBudgetPaging pages with a tiny scan budget, so lists stop
// early and resume from cursors in the middle of buckets, shards and ties:
// the pages must still add up to exactly the list a generous budget reads
// in one go.
func TestSmallBudgetPaging(t *testing.T) {
	t.Parallel()
	big, session := newTestStore(t, storage.DefaultRetention, Options{})
	small, err := NewStoreFromSession(session, big.ks, storage.DefaultRetention, Options{MaxScanPartitions: 3, MaxScanRows: 7})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	eps := []string{ids.New(ids.Endpoint), ids.New(ids.Endpoint), ""}
	now := time.Now().Truncate(time.Millisecond)
	var attempts []domain.Attempt
	var dls []domain.DeadLetter
	for i := range 90 {
		// Every third one shares its millisecond with the one before.
		at := now.Add(-time.Duration(i-i/3) * 47 * time.Minute)
		outcome := []domain.Outcome{domain.OutcomeDelivered, domain.OutcomeFailed}[i%2]
		a := testAttempt(eps[i%2], outcome, at)
		attempts = append(attempts, a)
		dls = append(dls, domain.DeadLetter{
			DeliveryID: a.DeliveryID, EventID: a.EventID, EventType: a.EventType, EndpointID: eps[i%3],
			Reason: []string{domain.ReasonExhausted, domain.ReasonGone}[i%2], DeadAt: at, Payload: []byte("{}"),
		})
	}
	if err := small.WriteAttempts(ctx, attempts); err != nil {
		t.Fatal(err)
	}
	if err := small.PutDeadLetters(ctx, dls); err != nil {
		t.Fatal(err)
	}
	pagesOf := func(list func(cursor string) ([]string, string, error)) (all []string, pages int) {
		cursor := ""
		for {
			items, next, err := list(cursor)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			all = append(all, items...)
			if next == "" {
				return all, pages
			}
			if pages > 2000 {
				t.Fatal("list does not end")
			}
			cursor = next
		}
	}
	for _, f := range []domain.AttemptFilter{{}, {EndpointID: eps[0]}, {Outcome: domain.OutcomeFailed}} {
		want, _ := pagesOf(func(c string) ([]string, string, error) {
			p, err := big.ListAttempts(ctx, f, storage.PageRequest{Limit: 1000, Cursor: c})
			return attemptIDs(p.Items), p.NextCursor, err
		})
		if len(want) == 0 {
			t.Fatalf("%+v: nothing listed", f)
		}
		for _, limit := range []int{1, 4, 50} {
			got, pages := pagesOf(func(c string) ([]string, string, error) {
				p, err := small.ListAttempts(ctx, f, storage.PageRequest{Limit: limit, Cursor: c})
				return attemptIDs(p.Items), p.NextCursor, err
			})
			if !slices.Equal(got, want) {
				t.Errorf("attempts %+v, limit %d, small budget (%d pages):\n got %v\nwant %v", f, limit, pages, got, want)
			}
		}
	}
	for _, f := range []domain.DeadLetterFilter{{}, {EndpointID: eps[1]}, {Reason: domain.ReasonGone}} {
		want, _ := pagesOf(func(c string) ([]string, string, error) {
			p, err := big.ListDeadLetters(ctx, f, storage.PageRequest{Limit: 1000, Cursor: c})
			return deadLetterKeys(p.Items), p.NextCursor, err
		})
		if len(want) == 0 {
			t.Fatalf("%+v: nothing listed", f)
		}
		for _, limit := range []int{1, 4, 50} {
			got, pages := pagesOf(func(c string) ([]string, string, error) {
				p, err := small.ListDeadLetters(ctx, f, storage.PageRequest{Limit: limit, Cursor: c})
				return deadLetterKeys(p.Items), p.NextCursor, err
			})
			if !slices.Equal(got, want) {
				t.Errorf("dead letters %+v, limit %d, small budget (%d pages):\n got %v\nwant %v", f, limit, pages, got, want)
			}
		}
	}
}

func attemptIDs(as []domain.Attempt) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

func deadLetterKeys(ds []domain.DeadLetter) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.EndpointID + "/" + d.DeliveryID
	}
	return out
}

func testAttempt(endpointID string, outcome domain.Outcome, at time.Time) domain.Attempt {
	eventID := ids.New(ids.Event)
	delivery := domain.DeliveryID(eventID, endpointID)
	return domain.Attempt{
		ID: domain.AttemptID(delivery, 0, 1), DeliveryID: delivery, EventID: eventID, EventType: "order.created",
		EndpointID: endpointID, AttemptNumber: 1, StartedAt: at.UTC().Truncate(time.Millisecond), Outcome: outcome,
		StatusCode: 500,
	}
}

func TestSparseListReturnsCursorWithinBudget(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, storage.DefaultRetention, Options{MaxScanPartitions: 10})
	ctx := testCtx(t)
	ep := ids.New(ids.Endpoint)
	now := time.Now()
	// One match 20 days ago, one now: the endpoint list walks 20 empty day
	// partitions between them, more than one page's budget.
	old := testAttempt(ep, domain.OutcomeFailed, now.Add(-20*24*time.Hour))
	recent := testAttempt(ep, domain.OutcomeFailed, now.Add(-time.Minute))
	if err := s.WriteAttempts(ctx, []domain.Attempt{old, recent}); err != nil {
		t.Fatal(err)
	}
	var got []string
	pages, emptyWithCursor := 0, 0
	cursor := ""
	for {
		page, err := s.ListAttempts(ctx, domain.AttemptFilter{EndpointID: ep}, storage.PageRequest{Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range page.Items {
			got = append(got, a.ID)
		}
		if page.NextCursor == "" {
			break
		}
		if len(page.Items) == 0 {
			emptyWithCursor++
		}
		cursor = page.NextCursor
		if pages > 100 {
			t.Fatal("list does not end")
		}
	}
	if strings.Join(got, ",") != recent.ID+","+old.ID {
		t.Errorf("got %v, want [%s %s]", got, recent.ID, old.ID)
	}
	if emptyWithCursor == 0 {
		t.Errorf("no page stopped early (pages: %d): the budget is not applied", pages)
	}
}

func TestCursorIsBoundToItsList(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, storage.DefaultRetention, Options{})
	ctx := testCtx(t)
	ep := ids.New(ids.Endpoint)
	var as []domain.Attempt
	for i := range 5 {
		as = append(as, testAttempt(ep, domain.OutcomeFailed, time.Now().Add(-time.Duration(i)*time.Minute)))
	}
	if err := s.WriteAttempts(ctx, as); err != nil {
		t.Fatal(err)
	}
	page, err := s.ListAttempts(ctx, domain.AttemptFilter{EndpointID: ep}, storage.PageRequest{Limit: 2})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page: %q, %v", page.NextCursor, err)
	}
	for name, call := range map[string]func() error{
		"other filter": func() error {
			_, err := s.ListAttempts(ctx, domain.AttemptFilter{EndpointID: ep, Outcome: domain.OutcomeFailed}, storage.PageRequest{Cursor: page.NextCursor})
			return err
		},
		"other index": func() error {
			_, err := s.ListAttempts(ctx, domain.AttemptFilter{}, storage.PageRequest{Cursor: page.NextCursor})
			return err
		},
		"dead letters": func() error {
			_, err := s.ListDeadLetters(ctx, domain.DeadLetterFilter{EndpointID: ep}, storage.PageRequest{Cursor: page.NextCursor})
			return err
		},
		"forged bucket": func() error {
			c, err := decodeCursor(page.NextCursor, pathAttemptsByEndpoint, fingerprint("attempts", ep, "", "", "", "", ""), 1, dayMS)
			if err != nil {
				return err
			}
			c.B = c.S - 10*dayMS
			_, err = s.ListAttempts(ctx, domain.AttemptFilter{EndpointID: ep}, storage.PageRequest{Cursor: storage.EncodeCursor(c)})
			return err
		},
	} {
		if err := call(); !errors.Is(err, storage.ErrInvalidCursor) {
			t.Errorf("%s: %v, want ErrInvalidCursor", name, err)
		}
	}
}

func TestWriteSkipsAndReportsInvalidRecords(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, storage.DefaultRetention, Options{})
	ctx := testCtx(t)
	ep := ids.New(ids.Endpoint)
	good := testAttempt(ep, domain.OutcomeFailed, time.Now())
	// Remote servers send anything: invalid UTF-8 must not block the log.
	good.Error = "bad \xff\xfe bytes"
	good.ResponseHeaders = map[string]string{"X-Bin\xff": "v\xc3"}
	noID := testAttempt(ep, domain.OutcomeFailed, time.Now())
	noID.ID = ""
	noTime := testAttempt(ep, domain.OutcomeFailed, time.Now())
	noTime.StartedAt = time.Time{}
	err := s.WriteAttempts(ctx, []domain.Attempt{noID, good, noTime})
	var invalid *InvalidRecordsError
	if !errors.Is(err, ErrInvalidRecord) || !errors.As(err, &invalid) || len(invalid.Problems) != 2 {
		t.Fatalf("WriteAttempts with two invalid attempts: %v", err)
	}
	got, err := s.DeliveryAttempts(ctx, good.DeliveryID)
	if err != nil || len(got) != 1 {
		t.Fatalf("the valid attempt: %v, %v", got, err)
	}
	if got[0].Error != "bad \uFFFD bytes" || got[0].ResponseHeaders["X-Bin\uFFFD"] != "v\uFFFD" {
		t.Errorf("invalid UTF-8 stored as %q, %q", got[0].Error, got[0].ResponseHeaders)
	}

	err = s.PutDeadLetters(ctx, []domain.DeadLetter{{EndpointID: ep, DeadAt: time.Now()}})
	if !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("PutDeadLetters without a delivery id: %v", err)
	}
}

// TestRowTTLs checks what the suite cannot see: the TTL of every copy of
// a record follows its outcome and time.
func TestRowTTLs(t *testing.T) {
	t.Parallel()
	r := storage.Retention{Delivered: 2 * time.Hour, Failed: 10 * time.Hour, DeadLetters: 20 * time.Hour}
	s, session := newTestStore(t, r, Options{})
	ctx := testCtx(t)
	ep := ids.New(ids.Endpoint)
	now := time.Now()
	delivered := testAttempt(ep, domain.OutcomeDelivered, now)
	failedAnHourAgo := testAttempt(ep, domain.OutcomeFailed, now.Add(-time.Hour))
	dl := domain.DeadLetter{DeliveryID: delivered.DeliveryID, EndpointID: ep, DeadAt: now, Reason: domain.ReasonExhausted}
	if err := s.WriteAttempts(ctx, []domain.Attempt{delivered, failedAnHourAgo}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDeadLetters(ctx, []domain.DeadLetter{dl}); err != nil {
		t.Fatal(err)
	}
	ttl := func(stmt string, args ...any) int {
		t.Helper()
		var v int
		if err := session.Query(strings.ReplaceAll(stmt, "KS.", s.ks+"."), args...).ScanContext(ctx, &v); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		return v
	}
	near := func(what string, got int, want time.Duration) {
		t.Helper()
		if w := int(want / time.Second); got > w || got < w-60 {
			t.Errorf("%s: TTL %d s, want about %d s", what, got, w)
		}
	}
	for _, a := range []struct {
		a    domain.Attempt
		want time.Duration
	}{{delivered, 2 * time.Hour}, {failedAnHourAgo, 9 * time.Hour}} {
		near("attempts_by_delivery "+string(a.a.Outcome), ttl(`SELECT TTL(outcome) FROM KS.attempts_by_delivery WHERE delivery_id = ?`, a.a.DeliveryID), a.want)
		near("attempts_by_endpoint "+string(a.a.Outcome), ttl(`SELECT TTL(outcome) FROM KS.attempts_by_endpoint WHERE endpoint_id = ? AND day = ? AND started_at = ? AND attempt_id = ?`,
			ep, floorTo(a.a.StartedAt.UnixMilli(), dayMS), a.a.StartedAt.UnixMilli(), a.a.ID), a.want)
		near("attempts_by_hour "+string(a.a.Outcome), ttl(`SELECT TTL(outcome) FROM KS.attempts_by_hour WHERE hour = ? AND shard = ? AND started_at = ? AND attempt_id = ?`,
			floorTo(a.a.StartedAt.UnixMilli(), hourMS), shardOf(a.a.ID), a.a.StartedAt.UnixMilli(), a.a.ID), a.want)
		near("attempts_by_event "+string(a.a.Outcome), ttl(`SELECT TTL(endpoint_id) FROM KS.attempts_by_event WHERE event_id = ? AND delivery_id = ? AND attempt_id = ?`,
			a.a.EventID, a.a.DeliveryID, a.a.ID), a.want)
	}
	near("dead_letters", ttl(`SELECT TTL(reason) FROM KS.dead_letters WHERE endpoint_id = ? AND delivery_id = ?`, ep, dl.DeliveryID), 20*time.Hour)
	// MarkReplayed keeps the row's remaining TTL.
	if err := s.MarkReplayed(ctx, ep, dl.DeliveryID, now); err != nil {
		t.Fatal(err)
	}
	near("replayed_at", ttl(`SELECT TTL(replayed_at) FROM KS.dead_letters WHERE endpoint_id = ? AND delivery_id = ?`, ep, dl.DeliveryID), 20*time.Hour)
}

func TestNewStoreValidates(t *testing.T) {
	t.Parallel()
	if _, err := NewStoreFromSession(nil, "ks", storage.DefaultRetention, Options{}); err == nil {
		t.Error("nil session accepted")
	}
	if _, err := NewStore(context.Background(), Config{Hosts: []string{"127.0.0.1:1"}, Keyspace: "bad-name"}, storage.DefaultRetention, Options{}); err == nil {
		t.Error("bad keyspace name accepted")
	}
}

// TestEventDeliveriesBound: an event with more deliveries than
// storage.MaxEventDeliveries, each with two attempts, lists exactly that
// many deliveries, each once, the first ones by delivery id. (LIMIT counts
// groups, not rows.)
func TestEventDeliveriesBound(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, storage.DefaultRetention, Options{})
	ctx := testCtx(t)
	eventID := ids.New(ids.Event)
	n := storage.MaxEventDeliveries + 5
	var muts []mutation
	want := make([]string, 0, n)
	for range n {
		ep := ids.New(ids.Endpoint)
		delivery := domain.DeliveryID(eventID, ep)
		want = append(want, delivery)
		for a := range 2 {
			muts = append(muts, mutation{
				part: "attempts_by_event/" + eventID, stmt: s.q.insAttemptByEvent, size: 128,
				args: []any{eventID, delivery, domain.AttemptID(delivery, 0, a+1), ep, 3600},
			})
		}
	}
	if err := s.execAll(ctx, groupBatches(muts, 200), 16, writeBackoff); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	got, err := s.EventDeliveries(ctx, eventID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != storage.MaxEventDeliveries {
		t.Fatalf("%d deliveries, want %d", len(got), storage.MaxEventDeliveries)
	}
	for i, d := range got {
		if d.DeliveryID != want[i] || d.EndpointID == "" {
			t.Fatalf("delivery %d: %+v, want %s", i, d, want[i])
		}
	}
}
