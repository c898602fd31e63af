package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

// RunLogStore runs the LogStore conformance tests. newStore returns a new,
// empty store that keeps records for r; it is called at least once per
// subtest, and the subtests run in parallel.
//
// What the suite holds every store to, beyond the interface comments:
//
//   - Precision. Times are kept to the millisecond at least: a store may
//     truncate below that (Cassandra does), so fixtures use whole
//     milliseconds, and times come back Equal, in any location. Durations
//     are kept to the nanosecond. Byte fields are kept exactly, text
//     fields as given (valid UTF-8). An empty map or byte slice may come
//     back nil, and the other way round.
//   - Retention. Records are kept for their retention counted from their
//     own time (StartedAt, DeadAt): delivered and failed attempts apart.
//     A record older than its retention may vanish at any time, so
//     fixtures are recent.
//   - Lists. Newest first; Since inclusive and Until exclusive; every zero
//     filter field matches everything; other fields match by equality. A
//     page never holds more than the effective limit, but it may hold
//     fewer, even none, while NextCursor is set (a store may bound the
//     work of one page); only an empty NextCursor ends a list. Paging
//     never skips or repeats a record that does not change meanwhile. A
//     cursor the store did not make is ErrInvalidCursor.
//   - Upserts. An attempt is keyed by its ID alone: writing it again, even
//     with another StartedAt, leaves one attempt. A dead letter is keyed
//     by endpoint and delivery id, whatever its DeadAt.
//   - Lookups. DeliveryAttempts of an unknown delivery and
//     EventDeliveries of an unknown event are empty, not an error. GetDeadLetter, MarkReplayed and DiscardDeadLetter of an
//     unknown dead letter return ErrNotFound. An empty EndpointID (a
//     malformed message) is a key like any other.
func RunLogStore(t *testing.T, newStore func(t *testing.T, r storage.Retention) storage.LogStore) {
	open := func(t *testing.T) storage.LogStore { return newStore(t, storage.DefaultRetention) }
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.LogStore)
	}{
		{"AttemptRoundTrip", logTestAttemptRoundTrip},
		{"AttemptUpsert", logTestAttemptUpsert},
		{"DeliveryAttemptsOldestFirst", logTestDeliveryAttempts},
		{"ListAttemptsFilters", logTestListAttemptsFilters},
		{"ListAttemptsPaging", logTestListAttemptsPaging},
		{"ListAttemptsSameMillisecond", logTestListAttemptsTies},
		{"ListAttemptsTimeRange", logTestListAttemptsTimeRange},
		{"ListAttemptsLimits", logTestListAttemptsLimits},
		{"ListAttemptsInvalidCursor", logTestListAttemptsInvalidCursor},
		{"ConcurrentWrites", logTestConcurrentWrites},
		{"EventDeliveries", logTestEventDeliveries},
		{"DeadLetterRoundTrip", logTestDeadLetterRoundTrip},
		{"DeadLetterUpsert", logTestDeadLetterUpsert},
		{"DeadLetterNotFound", logTestDeadLetterNotFound},
		{"ListDeadLettersFilters", logTestListDeadLettersFilters},
		{"ListDeadLettersPaging", logTestListDeadLettersPaging},
		{"MarkReplayed", logTestMarkReplayed},
		{"DiscardDeadLetter", logTestDiscard},
		{"DeadLetterWithoutEndpoint", logTestDeadLetterWithoutEndpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open(t))
		})
	}
	t.Run("Retention", func(t *testing.T) {
		t.Parallel()
		logTestRetention(t, newStore(t, storage.Retention{Delivered: 2 * time.Second, Failed: time.Hour, DeadLetters: 2 * time.Second}))
	})
}

func logWrite(t *testing.T, s storage.AttemptLog, as ...domain.Attempt) {
	t.Helper()
	if err := s.WriteAttempts(logCtx(t), as); err != nil {
		t.Fatalf("WriteAttempts(%d attempts): %v", len(as), err)
	}
}

func logPut(t *testing.T, s storage.DeadLetterStore, ds ...domain.DeadLetter) {
	t.Helper()
	if err := s.PutDeadLetters(logCtx(t), ds); err != nil {
		t.Fatalf("PutDeadLetters(%d dead letters): %v", len(ds), err)
	}
}

func logTestAttemptRoundTrip(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep, tenant := logEndpoint(), logTenant()
	now := logNow()
	failed := logAttempt(ep, tenant, "order.created", domain.OutcomeFailed, now.Add(-time.Minute))
	delivered := logAttempt(ep, "", "order.paid", domain.OutcomeDelivered, now.Add(-30*time.Second))
	delivered.ResponseBody = nil // no body, no headers, no retry: absent values come back absent
	delivered.ResponseBodySHA256, delivered.ResponseBodySize = "", 0
	logWrite(t, s, failed, delivered)

	for _, want := range []domain.Attempt{failed, delivered} {
		got, err := s.DeliveryAttempts(ctx, want.DeliveryID)
		if err != nil {
			t.Fatalf("DeliveryAttempts: %v", err)
		}
		if len(got) != 1 {
			t.Fatalf("DeliveryAttempts(%s): %d attempts, want 1", want.DeliveryID, len(got))
		}
		logSameAttempt(t, "DeliveryAttempts", got[0], want)
	}
	for _, f := range []domain.AttemptFilter{{EndpointID: ep}, {}} {
		got, _ := logListAttempts(ctx, t, s, f, 10)
		if len(got) != 2 {
			t.Fatalf("ListAttempts(%s): %d attempts, want 2", logJSON(f), len(got))
		}
		logSameAttempt(t, "ListAttempts newest", got[0], delivered)
		logSameAttempt(t, "ListAttempts oldest", got[1], failed)
	}
	if err := s.WriteAttempts(ctx, nil); err != nil {
		t.Errorf("WriteAttempts(nil): %v", err)
	}
}

func logTestAttemptUpsert(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep := logEndpoint()
	now := logNow()
	a := logAttempt(ep, "", "order.created", domain.OutcomeTimeout, now.Add(-2*time.Hour))
	other := logAttempt(ep, "", "order.created", domain.OutcomeFailed, now.Add(-3*time.Hour))
	// Twice in one call, then again in another call.
	logWrite(t, s, a, other, a)
	logWrite(t, s, a)

	check := func(what string, want domain.Attempt) {
		t.Helper()
		got, err := s.DeliveryAttempts(ctx, want.DeliveryID)
		if err != nil {
			t.Fatalf("%s: DeliveryAttempts: %v", what, err)
		}
		if len(got) != 1 {
			t.Fatalf("%s: DeliveryAttempts: %d attempts, want 1", what, len(got))
		}
		logSameAttempt(t, what, got[0], want)
		for _, f := range []domain.AttemptFilter{{EndpointID: ep}, {}} {
			list, _ := logListAttempts(ctx, t, s, f, 100)
			logSameOrder(t, what+": ListAttempts "+logJSON(f), logAttemptIDs(list), logAttemptIDs(logNewestAttempts([]domain.Attempt{want, other})))
			for _, g := range list {
				if g.ID == want.ID {
					logSameAttempt(t, what+": listed", g, want)
				}
			}
		}
	}
	check("written three times", a)

	// The same id with other fields replaces the attempt.
	a.StatusCode, a.Outcome, a.Error = 500, domain.OutcomeFailed, "now a 500"
	a.ResponseHeaders = map[string]string{"X-Changed": "yes"}
	logWrite(t, s, a)
	check("rewritten with new fields", a)

	// Even with another start time it stays one attempt.
	a.StartedAt = now.Add(-time.Hour)
	logWrite(t, s, a)
	check("rewritten with a new start time", a)
}

func logTestDeliveryAttempts(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep := logEndpoint()
	now := logNow()
	first := logAttempt(ep, "", "invoice.sent", domain.OutcomeFailed, now.Add(-50*time.Minute))
	var want []domain.Attempt
	// Generation 0: three attempts; generation 1 (a replay): two.
	for i, step := range []struct {
		gen, num int
		at       time.Duration
		outcome  domain.Outcome
	}{
		{0, 1, 0, domain.OutcomeFailed},
		{0, 2, 5 * time.Second, domain.OutcomeTimeout},
		{0, 3, 5 * time.Minute, domain.OutcomeConnectionError},
		{1, 1, 30 * time.Minute, domain.OutcomeFailed},
		{1, 2, 30*time.Minute + 5*time.Second, domain.OutcomeDelivered},
	} {
		a := first
		a.Generation, a.AttemptNumber = step.gen, step.num
		a.ID = domain.AttemptID(a.DeliveryID, step.gen, step.num)
		a.StartedAt = first.StartedAt.Add(step.at)
		a.Outcome = step.outcome
		a.Error = fmt.Sprintf("attempt %d", i)
		want = append(want, a)
	}
	// Written newest first, in two calls, and with another delivery around.
	noise := logAttempt(ep, "", "invoice.sent", domain.OutcomeFailed, now.Add(-40*time.Minute))
	logWrite(t, s, want[4], want[3], noise)
	logWrite(t, s, want[2], want[1], want[0])

	got, err := s.DeliveryAttempts(ctx, first.DeliveryID)
	if err != nil {
		t.Fatalf("DeliveryAttempts: %v", err)
	}
	logSameOrder(t, "DeliveryAttempts oldest first", logAttemptIDs(got), logAttemptIDs(want))
	for i := range min(len(got), len(want)) {
		logSameAttempt(t, fmt.Sprintf("attempt %d", i), got[i], want[i])
	}

	none, err := s.DeliveryAttempts(ctx, domain.DeliveryID("evt_unknown", ep))
	if err != nil || len(none) != 0 {
		t.Errorf("DeliveryAttempts(unknown) = %d attempts, %v; want none, no error", len(none), err)
	}
}

// logAttemptFixtures writes attempts over the last three days with
// distinct times: two endpoints, two tenants (and none), three event
// types, three outcomes.
func logAttemptFixtures(t *testing.T, s storage.AttemptLog, n int) (all []domain.Attempt, eps, tenants []string) {
	t.Helper()
	eps = []string{logEndpoint(), logEndpoint()}
	tenants = []string{logTenant(), logTenant(), ""}
	types := []string{"order.created", "order.paid", "user.deleted"}
	outcomes := []domain.Outcome{domain.OutcomeDelivered, domain.OutcomeFailed, domain.OutcomeTimeout}
	base := logNow().Add(-time.Minute)
	for i := range n {
		// 3h17m apart: the attempts cross hours and days.
		at := base.Add(-time.Duration(i) * (3*time.Hour + 17*time.Minute + 1234*time.Millisecond))
		all = append(all, logAttempt(eps[i%2], tenants[i%3], types[i%len(types)], outcomes[(i/2)%3], at))
	}
	// Written in a shuffled order, in two calls.
	shuffled := slices.Clone(all)
	for i := range shuffled {
		j := (i * 7) % len(shuffled)
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	logWrite(t, s, shuffled[:n/2]...)
	logWrite(t, s, shuffled[n/2:]...)
	return all, eps, tenants
}

func logTestListAttemptsFilters(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	all, eps, tenants := logAttemptFixtures(t, s, 24)
	newest := logNewestAttempts(all)
	mid := newest[8].StartedAt
	filters := []domain.AttemptFilter{
		{},
		{EndpointID: eps[0]},
		{EndpointID: eps[1]},
		{EventType: "order.paid"},
		{Outcome: domain.OutcomeFailed},
		{Outcome: domain.OutcomeBlocked}, // matches nothing
		{TenantID: tenants[0]},
		{EndpointID: eps[0], Outcome: domain.OutcomeDelivered},
		{EndpointID: eps[1], TenantID: tenants[1], EventType: "user.deleted"},
		{TenantID: tenants[1], EventType: "order.created", Since: newest[20].StartedAt},
		{EndpointID: eps[1], Since: newest[15].StartedAt, Until: mid},
		{Outcome: domain.OutcomeTimeout, Until: mid},
		{EndpointID: "ep_01NOSUCHENDPOINT000000000"},
		{TenantID: "no-such-tenant"},
	}
	for _, f := range filters {
		var want []domain.Attempt
		for _, a := range newest {
			if logMatchAttempt(f, a) {
				want = append(want, a)
			}
		}
		for _, limit := range []int{3, 100} {
			got, _ := logListAttempts(ctx, t, s, f, limit)
			logSameOrder(t, fmt.Sprintf("ListAttempts(%s, limit %d)", logJSON(f), limit), logAttemptIDs(got), logAttemptIDs(want))
		}
	}
}

func logTestListAttemptsPaging(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep, tenant := logEndpoint(), logTenant()
	now := logNow()
	var all []domain.Attempt
	// Ten attempts of one endpoint, over two days.
	for i := range 10 {
		all = append(all, logAttempt(ep, tenant, "order.created", domain.OutcomeFailed, now.Add(-time.Duration(i)*5*time.Hour)))
	}
	logWrite(t, s, all...)
	for i, f := range []domain.AttemptFilter{{EndpointID: ep}, {}, {TenantID: tenant}} {
		want := logAttemptIDs(logNewestAttempts(all))
		// Four per page: two and a half pages.
		got, longest := logListAttempts(ctx, t, s, f, 4)
		logSameOrder(t, "pages of 4 of "+logJSON(f), logAttemptIDs(got), want)
		if longest != 4 {
			t.Errorf("%s: longest page %d, want 4", logJSON(f), longest)
		}

		// A newer attempt written between pages does not shift the pages
		// after the first: they go on where the first one stopped.
		page, err := s.ListAttempts(ctx, f, storage.PageRequest{Limit: 4})
		if err != nil || page.NextCursor == "" {
			t.Fatalf("first page: %d items, cursor %q, %v", len(page.Items), page.NextCursor, err)
		}
		newer := logAttempt(ep, tenant, "order.created", domain.OutcomeFailed, now.Add(time.Duration(i+1)*time.Second))
		logWrite(t, s, newer)
		rest := logListAttemptsFrom(ctx, t, s, f, 4, page.NextCursor)
		logSameOrder(t, "pages around a write, "+logJSON(f), append(logAttemptIDs(page.Items), logAttemptIDs(rest)...), want)
		all = append(all, newer)
	}
}

func logTestListAttemptsTies(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep := logEndpoint()
	at := logNow().Add(-10 * time.Minute)
	var all []domain.Attempt
	// Nine attempts in the same millisecond, three in the next.
	for i := range 12 {
		when := at
		if i >= 9 {
			when = at.Add(time.Millisecond)
		}
		all = append(all, logAttempt(ep, "", "order.created", domain.OutcomeFailed, when))
	}
	logWrite(t, s, all...)
	for _, f := range []domain.AttemptFilter{{EndpointID: ep}, {}} {
		for _, limit := range []int{1, 2, 4, 5} {
			got, _ := logListAttempts(ctx, t, s, f, limit)
			ids := logAttemptIDs(got)
			want := logAttemptIDs(all)
			slices.Sort(ids)
			slices.Sort(want)
			logSameOrder(t, fmt.Sprintf("ties, %s, limit %d (sorted ids)", logJSON(f), limit), ids, want)
			for i := 1; i < len(got); i++ {
				if got[i].StartedAt.After(got[i-1].StartedAt) {
					t.Errorf("ties, limit %d: item %d is newer than item %d", limit, i, i-1)
				}
			}
		}
	}
}

func logTestListAttemptsTimeRange(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep := logEndpoint()
	base := logNow().Add(-3 * time.Hour)
	var all []domain.Attempt
	for i := range 10 {
		all = append(all, logAttempt(ep, "", "order.created", domain.OutcomeFailed, base.Add(time.Duration(i)*7*time.Minute)))
	}
	logWrite(t, s, all...)
	at := func(i int) time.Time { return all[i].StartedAt }
	for _, tc := range []struct {
		since, until time.Time
		want         []int // indexes into all, oldest first
	}{
		{at(3), at(7), []int{3, 4, 5, 6}},                          // since inclusive, until exclusive
		{at(3).Add(time.Millisecond), at(7), []int{4, 5, 6}},       // one millisecond later excludes 3
		{at(3), at(7).Add(time.Millisecond), []int{3, 4, 5, 6, 7}}, // until one millisecond later includes 7
		{at(8), time.Time{}, []int{8, 9}},
		{time.Time{}, at(2), []int{0, 1}},
		{at(5), at(5), nil},
		{at(6), at(2), nil}, // an empty range is empty, not an error
		{at(9).Add(time.Millisecond), time.Time{}, nil},
	} {
		var want []string
		for i := len(tc.want) - 1; i >= 0; i-- {
			want = append(want, all[tc.want[i]].ID)
		}
		for _, f := range []domain.AttemptFilter{{EndpointID: ep, Since: tc.since, Until: tc.until}, {Since: tc.since, Until: tc.until}} {
			got, _ := logListAttempts(ctx, t, s, f, 3)
			logSameOrder(t, "time range "+logJSON(f), logAttemptIDs(got), want)
		}
	}
}

func logTestListAttemptsLimits(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep := logEndpoint()
	now := logNow()
	n := storage.MaxPageSize + 10
	all := make([]domain.Attempt, n)
	for i := range all {
		all[i] = logAttempt(ep, "", "order.created", domain.OutcomeFailed, now.Add(-time.Duration(i)*time.Second))
	}
	for chunk := range slices.Chunk(all, 250) {
		logWrite(t, s, chunk...)
	}
	want := logAttemptIDs(all) // already newest first
	for _, tc := range []struct {
		limit, longest int
	}{
		{0, storage.DefaultPageSize},
		{-5, storage.DefaultPageSize},
		{storage.MaxPageSize * 5, storage.MaxPageSize},
	} {
		got, longest := logListAttempts(ctx, t, s, domain.AttemptFilter{EndpointID: ep}, tc.limit)
		logSameOrder(t, fmt.Sprintf("limit %d", tc.limit), logAttemptIDs(got), want)
		if longest != tc.longest {
			t.Errorf("limit %d: longest page %d, want %d", tc.limit, longest, tc.longest)
		}
	}
}

func logTestListAttemptsInvalidCursor(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep := logEndpoint()
	now := logNow()
	var all []domain.Attempt
	for i := range 5 {
		all = append(all, logAttempt(ep, "", "order.created", domain.OutcomeFailed, now.Add(-time.Duration(i)*time.Minute)))
	}
	logWrite(t, s, all...)
	page, err := s.ListAttempts(ctx, domain.AttemptFilter{EndpointID: ep}, storage.PageRequest{Limit: 2})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page: cursor %q, %v", page.NextCursor, err)
	}
	for _, bad := range []string{
		"not a cursor!",
		page.NextCursor[:len(page.NextCursor)/2],
		"%%%%",
		string(make([]byte, 5000)),
	} {
		for _, f := range []domain.AttemptFilter{{EndpointID: ep}, {}} {
			_, err := s.ListAttempts(ctx, f, storage.PageRequest{Limit: 2, Cursor: bad})
			if !errors.Is(err, storage.ErrInvalidCursor) {
				t.Errorf("ListAttempts(cursor %.20q): %v, want ErrInvalidCursor", bad, err)
			}
		}
		_, err := s.ListDeadLetters(ctx, domain.DeadLetterFilter{}, storage.PageRequest{Limit: 2, Cursor: bad})
		if !errors.Is(err, storage.ErrInvalidCursor) {
			t.Errorf("ListDeadLetters(cursor %.20q): %v, want ErrInvalidCursor", bad, err)
		}
	}
}

func logTestConcurrentWrites(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep := logEndpoint()
	now := logNow()
	const writers, each = 8, 25
	all := make([]domain.Attempt, 0, writers*each)
	for i := range writers * each {
		all = append(all, logAttempt(ep, "", "order.created", domain.OutcomeFailed, now.Add(-time.Duration(i)*time.Second)))
	}
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < len(all); i += writers {
				// One attempt per call, and every attempt written twice.
				if err := s.WriteAttempts(ctx, []domain.Attempt{all[i], all[len(all)-1-i]}); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent WriteAttempts: %v", err)
	}
	got, _ := logListAttempts(ctx, t, s, domain.AttemptFilter{EndpointID: ep}, 60)
	logSameOrder(t, "after concurrent writes", logAttemptIDs(got), logAttemptIDs(all))
}

func logTestEventDeliveries(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	now := logNow()
	eps := []string{logEndpoint(), logEndpoint(), logEndpoint(), logEndpoint()}
	first := logAttempt(eps[0], "", "order.created", domain.OutcomeFailed, now.Add(-time.Hour))
	eventID := first.EventID
	var (
		attempts []domain.Attempt
		want     []storage.EventDelivery
	)
	// Endpoint i gets i+1 attempts, over two generations from the second
	// on; the last endpoint gets none of this event.
	for i, ep := range eps[:3] {
		delivery := domain.DeliveryID(eventID, ep)
		want = append(want, storage.EventDelivery{DeliveryID: delivery, EndpointID: ep})
		for n := range i + 1 {
			a := logAttempt(ep, "", "order.created", domain.OutcomeFailed, now.Add(-time.Hour+time.Duration(i*10+n)*time.Minute))
			a.EventID, a.DeliveryID = eventID, delivery
			a.Generation, a.AttemptNumber = n/2, n%2+1
			a.ID = domain.AttemptID(delivery, a.Generation, a.AttemptNumber)
			attempts = append(attempts, a)
		}
	}
	slices.SortFunc(want, func(x, y storage.EventDelivery) int { return strings.Compare(x.DeliveryID, y.DeliveryID) })
	// Another event to the same endpoints, and one to the last endpoint.
	noise := []domain.Attempt{
		logAttempt(eps[0], "", "order.created", domain.OutcomeFailed, now.Add(-time.Minute)),
		logAttempt(eps[3], "", "order.created", domain.OutcomeDelivered, now.Add(-time.Minute)),
	}
	// Written in two calls, newest first, every attempt twice.
	slices.Reverse(attempts)
	logWrite(t, s, append(slices.Clone(attempts[:3]), noise...)...)
	logWrite(t, s, attempts...)
	logWrite(t, s, attempts[:2]...)

	got, err := s.EventDeliveries(ctx, eventID)
	if err != nil {
		t.Fatalf("EventDeliveries: %v", err)
	}
	if logJSON(got) != logJSON(want) {
		t.Fatalf("EventDeliveries: each delivery once, by delivery id\n got: %s\nwant: %s", logJSON(got), logJSON(want))
	}
	for _, a := range noise {
		got, err := s.EventDeliveries(ctx, a.EventID)
		if err != nil || len(got) != 1 || got[0].DeliveryID != a.DeliveryID || got[0].EndpointID != a.EndpointID {
			t.Errorf("EventDeliveries of an event with one attempt: %v, %v", got, err)
		}
	}
	for _, unknown := range []string{"evt_unknown", ""} {
		got, err := s.EventDeliveries(ctx, unknown)
		if err != nil || len(got) != 0 {
			t.Errorf("EventDeliveries(%q): %v, %v; want none", unknown, got, err)
		}
	}
}

func logTestRetention(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep := logEndpoint()
	now := logNow()
	delivered := logAttempt(ep, "", "order.created", domain.OutcomeDelivered, now)
	failed := logAttempt(ep, "", "order.created", domain.OutcomeFailed, now)
	dl := logDeadLetter(ep, "", "order.created", domain.ReasonExhausted, now)
	logWrite(t, s, delivered, failed)
	logPut(t, s, dl)

	has := func(deliveryID string) bool {
		got, err := s.DeliveryAttempts(ctx, deliveryID)
		if err != nil {
			t.Fatalf("DeliveryAttempts: %v", err)
		}
		return len(got) > 0
	}
	listed := func() []string {
		got, _ := logListAttempts(ctx, t, s, domain.AttemptFilter{EndpointID: ep}, 10)
		return logAttemptIDs(got)
	}
	// Both are there at first (2 s is long enough to look).
	if !has(delivered.DeliveryID) || !has(failed.DeliveryID) {
		t.Fatalf("attempts missing right after the write")
	}
	// An event's deliveries live as long as their attempts: here one
	// delivery failed (kept 1 h), was then delivered (kept 2 s), and must
	// stay listed after the delivered attempt is gone.
	retried := failed
	retried.AttemptNumber, retried.Outcome, retried.StatusCode, retried.Error = 2, domain.OutcomeDelivered, 200, ""
	retried.ID = domain.AttemptID(retried.DeliveryID, retried.Generation, retried.AttemptNumber)
	logWrite(t, s, retried)
	events := func(eventID string) []storage.EventDelivery {
		got, err := s.EventDeliveries(ctx, eventID)
		if err != nil {
			t.Fatalf("EventDeliveries: %v", err)
		}
		return got
	}
	if len(events(delivered.EventID)) != 1 || len(events(failed.EventID)) != 1 {
		t.Fatalf("event deliveries missing right after the write")
	}
	logWaitFor(t, 20*time.Second, "the delivered attempt (retention 2 s) expired", func() bool {
		left, err := s.DeliveryAttempts(ctx, retried.DeliveryID)
		if err != nil {
			t.Fatalf("DeliveryAttempts: %v", err)
		}
		return !has(delivered.DeliveryID) && !slices.Contains(listed(), delivered.ID) && len(events(delivered.EventID)) == 0 &&
			len(left) == 1
	})
	if !has(failed.DeliveryID) || !slices.Contains(listed(), failed.ID) {
		t.Errorf("the failed attempt (retention 1 h) expired too")
	}
	if got := events(failed.EventID); len(got) != 1 || got[0].DeliveryID != failed.DeliveryID {
		t.Errorf("EventDeliveries of an event whose failed attempt is kept: %v, want its delivery", got)
	}
	logWaitFor(t, 20*time.Second, "the dead letter (retention 2 s) expired", func() bool {
		_, err := s.GetDeadLetter(ctx, ep, dl.DeliveryID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetDeadLetter: %v", err)
		}
		got, _ := logListDeadLetters(ctx, t, s, domain.DeadLetterFilter{}, 10)
		return errors.Is(err, storage.ErrNotFound) && len(got) == 0
	})

	// A record already older than its retention is not kept (or not for
	// long): writing it is not an error.
	old := logAttempt(ep, "", "order.created", domain.OutcomeDelivered, now.Add(-time.Hour))
	if err := s.WriteAttempts(ctx, []domain.Attempt{old}); err != nil {
		t.Errorf("WriteAttempts(an expired attempt): %v", err)
	}
	logWaitFor(t, 20*time.Second, "an attempt written after its retention is gone", func() bool { return !has(old.DeliveryID) })
}

func logTestDeadLetterRoundTrip(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep, tenant := logEndpoint(), logTenant()
	now := logNow()
	d := logDeadLetter(ep, tenant, "order.created", domain.ReasonExhausted, now.Add(-time.Minute))
	bare := logDeadLetter(ep, "", "order.paid", domain.ReasonGone, now.Add(-2*time.Minute))
	bare.Payload, bare.LastError, bare.LastStatusCode = nil, "", 0
	logPut(t, s, d, bare)

	for _, want := range []domain.DeadLetter{d, bare} {
		got, err := s.GetDeadLetter(ctx, ep, want.DeliveryID)
		if err != nil {
			t.Fatalf("GetDeadLetter: %v", err)
		}
		logSameDeadLetter(t, "GetDeadLetter", got, want)
	}
	for _, f := range []domain.DeadLetterFilter{{EndpointID: ep}, {}} {
		got, _ := logListDeadLetters(ctx, t, s, f, 10)
		if len(got) != 2 {
			t.Fatalf("ListDeadLetters(%s): %d, want 2", logJSON(f), len(got))
		}
		logSameDeadLetter(t, "listed newest", got[0], d)
		logSameDeadLetter(t, "listed oldest", got[1], bare)
	}
	if err := s.PutDeadLetters(ctx, nil); err != nil {
		t.Errorf("PutDeadLetters(nil): %v", err)
	}
}

func logTestDeadLetterUpsert(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep := logEndpoint()
	now := logNow()
	d := logDeadLetter(ep, "", "order.created", domain.ReasonExhausted, now.Add(-3*time.Hour))
	other := logDeadLetter(ep, "", "order.created", domain.ReasonExhausted, now.Add(-2*time.Hour))
	logPut(t, s, d, other, d)
	logPut(t, s, d)
	check := func(what string, want domain.DeadLetter) {
		t.Helper()
		got, err := s.GetDeadLetter(ctx, ep, want.DeliveryID)
		if err != nil {
			t.Fatalf("%s: GetDeadLetter: %v", what, err)
		}
		logSameDeadLetter(t, what, got, want)
		for _, f := range []domain.DeadLetterFilter{{EndpointID: ep}, {}} {
			list, _ := logListDeadLetters(ctx, t, s, f, 100)
			logSameOrder(t, what+": ListDeadLetters "+logJSON(f), logDeadLetterKeys(list),
				logDeadLetterKeys(logNewestDeadLetters([]domain.DeadLetter{want, other})))
			for _, g := range list {
				if g.DeliveryID == want.DeliveryID {
					logSameDeadLetter(t, what+": listed", g, want)
				}
			}
		}
	}
	check("stored three times", d)

	// Replayed, failed again: the new dead letter replaces the old one,
	// with its new time, and it has not been replayed.
	if err := s.MarkReplayed(ctx, ep, d.DeliveryID, now.Add(-time.Hour)); err != nil {
		t.Fatalf("MarkReplayed: %v", err)
	}
	d.Generation, d.Attempts, d.DeadAt, d.LastError = 2, 3, now.Add(-time.Minute), "failed again"
	logPut(t, s, d)
	check("stored again after a replay", d)
}

func logTestDeadLetterNotFound(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep := logEndpoint()
	d := logDeadLetter(ep, "", "order.created", domain.ReasonExhausted, logNow().Add(-time.Minute))
	logPut(t, s, d)
	for _, key := range [][2]string{
		{ep, domain.DeliveryID("evt_unknown", ep)},
		{logEndpoint(), d.DeliveryID}, // the right delivery under another endpoint
		{"", d.DeliveryID},
		{ep, ""},
	} {
		if _, err := s.GetDeadLetter(ctx, key[0], key[1]); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetDeadLetter(%q, %q): %v, want ErrNotFound", key[0], key[1], err)
		}
		if err := s.MarkReplayed(ctx, key[0], key[1], logNow()); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("MarkReplayed(%q, %q): %v, want ErrNotFound", key[0], key[1], err)
		}
		if err := s.DiscardDeadLetter(ctx, key[0], key[1]); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("DiscardDeadLetter(%q, %q): %v, want ErrNotFound", key[0], key[1], err)
		}
	}
	// None of that touched the real one.
	got, err := s.GetDeadLetter(ctx, ep, d.DeliveryID)
	if err != nil {
		t.Fatalf("GetDeadLetter: %v", err)
	}
	logSameDeadLetter(t, "untouched", got, d)
}

// logDeadLetterFixtures stores dead letters over the last three days with
// distinct times: two endpoints and none, two tenants and none, three
// event types, three reasons.
func logDeadLetterFixtures(t *testing.T, s storage.DeadLetterStore, n int) (all []domain.DeadLetter, eps, tenants []string) {
	t.Helper()
	eps = []string{logEndpoint(), logEndpoint(), ""}
	tenants = []string{logTenant(), logTenant(), ""}
	types := []string{"order.created", "order.paid", "user.deleted"}
	reasons := []string{domain.ReasonExhausted, domain.ReasonEndpointDisabled, domain.ReasonGone}
	base := logNow().Add(-time.Minute)
	for i := range n {
		at := base.Add(-time.Duration(i) * (2*time.Hour + 53*time.Minute + 4321*time.Millisecond))
		d := logDeadLetter(eps[i%3], tenants[(i/3)%3], types[i%2], reasons[(i/2)%3], at)
		if d.EndpointID == "" {
			d.Reason = domain.ReasonMalformed
			d.EventType = types[2]
		}
		all = append(all, d)
	}
	shuffled := slices.Clone(all)
	for i := range shuffled {
		j := (i * 5) % len(shuffled)
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	logPut(t, s, shuffled[:n/2]...)
	logPut(t, s, shuffled[n/2:]...)
	return all, eps, tenants
}

func logTestListDeadLettersFilters(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	all, eps, tenants := logDeadLetterFixtures(t, s, 27)
	newest := logNewestDeadLetters(all)
	mid := newest[9].DeadAt
	filters := []domain.DeadLetterFilter{
		{},
		{EndpointID: eps[0]},
		{EndpointID: eps[1]},
		{EventType: "order.paid"},
		{Reason: domain.ReasonExhausted},
		{Reason: domain.ReasonMalformed},
		{Reason: domain.ReasonBlocked}, // matches nothing
		{TenantID: tenants[1]},
		{EndpointID: eps[0], Reason: domain.ReasonGone},
		{EndpointID: eps[1], TenantID: tenants[0], EventType: "order.created"},
		{TenantID: tenants[2], Since: newest[20].DeadAt},
		{EndpointID: eps[0], Since: newest[18].DeadAt, Until: mid},
		{EventType: "order.created", Until: mid},
		{Since: mid},
		{EndpointID: "ep_01NOSUCHENDPOINT000000000"},
	}
	for _, f := range filters {
		var want []domain.DeadLetter
		for _, d := range newest {
			if logMatchDeadLetter(f, d) {
				want = append(want, d)
			}
		}
		for _, limit := range []int{4, 100} {
			got, _ := logListDeadLetters(ctx, t, s, f, limit)
			logSameOrder(t, fmt.Sprintf("ListDeadLetters(%s, limit %d)", logJSON(f), limit), logDeadLetterKeys(got), logDeadLetterKeys(want))
		}
	}
	// Every field comes back in lists too.
	got, _ := logListDeadLetters(ctx, t, s, domain.DeadLetterFilter{}, 100)
	for i := range min(len(got), len(newest)) {
		logSameDeadLetter(t, fmt.Sprintf("listed %d", i), got[i], newest[i])
	}
}

func logTestListDeadLettersPaging(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep, tenant := logEndpoint(), logTenant()
	now := logNow()
	var all []domain.DeadLetter
	for i := range 10 {
		all = append(all, logDeadLetter(ep, tenant, "order.created", domain.ReasonExhausted, now.Add(-time.Duration(i)*7*time.Hour)))
	}
	// Two in the same millisecond as another: ties must page cleanly too.
	for range 2 {
		all = append(all, logDeadLetter(ep, tenant, "order.created", domain.ReasonExhausted, all[4].DeadAt))
	}
	logPut(t, s, all...)
	want := logDeadLetterKeys(all)
	slices.Sort(want)
	for _, f := range []domain.DeadLetterFilter{{EndpointID: ep}, {}, {TenantID: tenant, Reason: domain.ReasonExhausted}} {
		for _, limit := range []int{1, 5} {
			got, longest := logListDeadLetters(ctx, t, s, f, limit)
			keys := logDeadLetterKeys(got)
			slices.Sort(keys)
			logSameOrder(t, fmt.Sprintf("pages of %d of %s (sorted keys)", limit, logJSON(f)), keys, want)
			if longest != limit {
				t.Errorf("%s: longest page %d, want %d", logJSON(f), longest, limit)
			}
			for i := 1; i < len(got); i++ {
				if got[i].DeadAt.After(got[i-1].DeadAt) {
					t.Errorf("%s, limit %d: item %d is newer than item %d", logJSON(f), limit, i, i-1)
				}
			}
		}
	}
	page, err := s.ListDeadLetters(ctx, domain.DeadLetterFilter{EndpointID: ep}, storage.PageRequest{Limit: 3})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page: cursor %q, %v", page.NextCursor, err)
	}
	if _, err := s.ListDeadLetters(ctx, domain.DeadLetterFilter{EndpointID: ep}, storage.PageRequest{Cursor: page.NextCursor[:len(page.NextCursor)/2]}); !errors.Is(err, storage.ErrInvalidCursor) {
		t.Errorf("ListDeadLetters(truncated cursor): %v, want ErrInvalidCursor", err)
	}
}

func logTestMarkReplayed(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep := logEndpoint()
	now := logNow()
	d := logDeadLetter(ep, "", "order.created", domain.ReasonExhausted, now.Add(-time.Hour))
	other := logDeadLetter(ep, "", "order.created", domain.ReasonExhausted, now.Add(-2*time.Hour))
	logPut(t, s, d, other)
	at := now.Add(-time.Minute)
	if err := s.MarkReplayed(ctx, ep, d.DeliveryID, at); err != nil {
		t.Fatalf("MarkReplayed: %v", err)
	}
	want := d
	want.ReplayedAt = &at
	got, err := s.GetDeadLetter(ctx, ep, d.DeliveryID)
	if err != nil {
		t.Fatalf("GetDeadLetter: %v", err)
	}
	logSameDeadLetter(t, "after MarkReplayed", got, want)
	for _, f := range []domain.DeadLetterFilter{{EndpointID: ep}, {}, {Reason: domain.ReasonExhausted}} {
		list, _ := logListDeadLetters(ctx, t, s, f, 10)
		if len(list) != 2 {
			t.Fatalf("ListDeadLetters(%s): %d, want 2", logJSON(f), len(list))
		}
		logSameDeadLetter(t, "listed after MarkReplayed", list[0], want)
		logSameDeadLetter(t, "the other one", list[1], other)
	}
	// Replayed again later: the newer time wins.
	later := now
	if err := s.MarkReplayed(ctx, ep, d.DeliveryID, later); err != nil {
		t.Fatalf("MarkReplayed again: %v", err)
	}
	got, err = s.GetDeadLetter(ctx, ep, d.DeliveryID)
	if err != nil || got.ReplayedAt == nil || !got.ReplayedAt.Equal(later) {
		t.Errorf("after a second MarkReplayed: ReplayedAt %v, %v; want %v", got.ReplayedAt, err, later)
	}
}

func logTestDiscard(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	ep := logEndpoint()
	now := logNow()
	var all []domain.DeadLetter
	for i := range 4 {
		all = append(all, logDeadLetter(ep, "", "order.created", domain.ReasonExhausted, now.Add(-time.Duration(i)*time.Hour)))
	}
	logPut(t, s, all...)
	if err := s.MarkReplayed(ctx, ep, all[1].DeliveryID, now); err != nil {
		t.Fatalf("MarkReplayed: %v", err)
	}
	for _, d := range []domain.DeadLetter{all[1], all[2]} {
		if err := s.DiscardDeadLetter(ctx, ep, d.DeliveryID); err != nil {
			t.Fatalf("DiscardDeadLetter: %v", err)
		}
		if _, err := s.GetDeadLetter(ctx, ep, d.DeliveryID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetDeadLetter after discard: %v, want ErrNotFound", err)
		}
		if err := s.DiscardDeadLetter(ctx, ep, d.DeliveryID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("DiscardDeadLetter twice: %v, want ErrNotFound", err)
		}
		if err := s.MarkReplayed(ctx, ep, d.DeliveryID, now); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("MarkReplayed after discard: %v, want ErrNotFound", err)
		}
	}
	want := logDeadLetterKeys([]domain.DeadLetter{all[0], all[3]})
	for _, f := range []domain.DeadLetterFilter{{EndpointID: ep}, {}} {
		got, _ := logListDeadLetters(ctx, t, s, f, 10)
		logSameOrder(t, "after discards "+logJSON(f), logDeadLetterKeys(got), want)
	}
	// Stored again after a discard, it is back.
	logPut(t, s, all[2])
	if _, err := s.GetDeadLetter(ctx, ep, all[2].DeliveryID); err != nil {
		t.Errorf("GetDeadLetter after storing a discarded dead letter again: %v", err)
	}
}

func logTestDeadLetterWithoutEndpoint(t *testing.T, s storage.LogStore) {
	ctx := logCtx(t)
	now := logNow()
	malformed := logDeadLetter("", "", "", domain.ReasonMalformed, now.Add(-time.Minute))
	malformed.DeliveryID = "msg_malformed-hookd.events-3-1234"
	malformed.EventID, malformed.Attempts, malformed.LastStatusCode = "", 0, 0
	malformed.Payload = []byte("{not json\x00\xff")
	ep := logEndpoint()
	normal := logDeadLetter(ep, "", "order.created", domain.ReasonExhausted, now.Add(-2*time.Minute))
	logPut(t, s, malformed, normal)

	got, err := s.GetDeadLetter(ctx, "", malformed.DeliveryID)
	if err != nil {
		t.Fatalf("GetDeadLetter(no endpoint): %v", err)
	}
	logSameDeadLetter(t, "no endpoint", got, malformed)
	if _, err := s.GetDeadLetter(ctx, ep, malformed.DeliveryID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetDeadLetter under an endpoint: %v, want ErrNotFound", err)
	}
	list, _ := logListDeadLetters(ctx, t, s, domain.DeadLetterFilter{}, 10)
	logSameOrder(t, "listed", logDeadLetterKeys(list), logDeadLetterKeys([]domain.DeadLetter{malformed, normal}))
	if len(list) > 0 {
		logSameDeadLetter(t, "listed", list[0], malformed)
	}
	list, _ = logListDeadLetters(ctx, t, s, domain.DeadLetterFilter{Reason: domain.ReasonMalformed}, 10)
	logSameOrder(t, "malformed ones", logDeadLetterKeys(list), logDeadLetterKeys([]domain.DeadLetter{malformed}))

	if err := s.MarkReplayed(ctx, "", malformed.DeliveryID, now); err != nil {
		t.Fatalf("MarkReplayed(no endpoint): %v", err)
	}
	got, err = s.GetDeadLetter(ctx, "", malformed.DeliveryID)
	if err != nil || got.ReplayedAt == nil || !got.ReplayedAt.Equal(now) {
		t.Errorf("after MarkReplayed: ReplayedAt %v, %v", got.ReplayedAt, err)
	}
	if err := s.DiscardDeadLetter(ctx, "", malformed.DeliveryID); err != nil {
		t.Fatalf("DiscardDeadLetter(no endpoint): %v", err)
	}
	if _, err := s.GetDeadLetter(ctx, "", malformed.DeliveryID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetDeadLetter after discard: %v, want ErrNotFound", err)
	}
	list, _ = logListDeadLetters(ctx, t, s, domain.DeadLetterFilter{}, 10)
	logSameOrder(t, "after discard", logDeadLetterKeys(list), logDeadLetterKeys([]domain.DeadLetter{normal}))
}
