package storagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/storage"
)

// Helpers of the LogStore suite. Every name starts with "log" so that the
// suites of other stores can share the package.

// logCtx bounds one subtest's calls.
func logCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// logNow is the current time in the precision the contract guarantees:
// whole milliseconds, UTC.
func logNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

var logSeq atomic.Int64

// logAttempt returns an attempt with every field set, started at at (which
// must be whole milliseconds).
func logAttempt(endpointID, tenant, eventType string, outcome domain.Outcome, at time.Time) domain.Attempt {
	n := logSeq.Add(1)
	eventID := ids.New(ids.Event)
	deliveryID := domain.DeliveryID(eventID, endpointID)
	body := []byte(fmt.Sprintf(`{"ok":false,"n":%d,"bytes":"`, n))
	body = append(body, 0x00, 0xff, 0xfe, '"', '}') // not UTF-8: bodies are bytes
	sum := sha256.Sum256(body)
	next := at.Add(5 * time.Minute)
	a := domain.Attempt{
		ID:            domain.AttemptID(deliveryID, 0, 1),
		DeliveryID:    deliveryID,
		EventID:       eventID,
		EventType:     eventType,
		EndpointID:    endpointID,
		TenantID:      tenant,
		Generation:    0,
		AttemptNumber: 1,
		StartedAt:     at,
		// Durations are kept to the nanosecond.
		Duration:   1234567891*time.Nanosecond + time.Duration(n),
		StatusCode: 503,
		Outcome:    outcome,
		Error:      "upstream said: Dienst nicht verfügbar ✗ #" + strconv.FormatInt(n, 10),
		RequestHeaders: map[string]string{
			"Content-Type":      "application/json",
			"Webhook-Id":        deliveryID,
			"Webhook-Signature": "v1,<redacted>",
			"X-Custom":          "wert ü " + strconv.FormatInt(n, 10),
		},
		ResponseHeaders: map[string]string{
			"Content-Type": "application/json; charset=utf-8",
			"Retry-After":  "30",
		},
		ResponseBody:       body,
		ResponseBodySHA256: hex.EncodeToString(sum[:]),
		ResponseBodySize:   int64(len(body)) + 10000,
		NextRetryAt:        &next,
	}
	if outcome == domain.OutcomeDelivered {
		a.StatusCode, a.Error, a.NextRetryAt = 200, "", nil
		a.ResponseHeaders = nil
	}
	return a
}

// logDeadLetter returns a dead letter with every field set except
// ReplayedAt, dead at at (whole milliseconds).
func logDeadLetter(endpointID, tenant, eventType, reason string, at time.Time) domain.DeadLetter {
	n := logSeq.Add(1)
	eventID := ids.New(ids.Event)
	payload := []byte(fmt.Sprintf(`{"id":%q,"type":%q,"data":{"n":%d,"name":"Zoë"}}`, eventID, eventType, n))
	payload = append(payload, '\n', 0x00, 0xff) // kept as bytes, exactly
	return domain.DeadLetter{
		DeliveryID:     domain.DeliveryID(eventID, endpointID),
		EventID:        eventID,
		EventType:      eventType,
		EndpointID:     endpointID,
		TenantID:       tenant,
		Reason:         reason,
		LastError:      "connection refused — tried " + strconv.FormatInt(n, 10) + " times",
		LastStatusCode: 502,
		Attempts:       8,
		Generation:     1,
		DeadAt:         at,
		Payload:        payload,
	}
}

func logEndpoint() string { return ids.New(ids.Endpoint) }

// logTenant returns a fresh tenant id (the random tail of a new id).
func logTenant() string {
	id := ids.New("t")
	return "tenant-" + strings.ToLower(id[len(id)-10:])
}

// logNormAttempt puts an attempt in a comparable form: times in UTC, and
// empty maps and byte slices as nil (a store may return either).
func logNormAttempt(a domain.Attempt) domain.Attempt {
	a.StartedAt = a.StartedAt.UTC()
	if a.NextRetryAt != nil {
		t := a.NextRetryAt.UTC()
		a.NextRetryAt = &t
	}
	if len(a.RequestHeaders) == 0 {
		a.RequestHeaders = nil
	}
	if len(a.ResponseHeaders) == 0 {
		a.ResponseHeaders = nil
	}
	if len(a.ResponseBody) == 0 {
		a.ResponseBody = nil
	}
	return a
}

func logNormDeadLetter(d domain.DeadLetter) domain.DeadLetter {
	d.DeadAt = d.DeadAt.UTC()
	if d.ReplayedAt != nil {
		t := d.ReplayedAt.UTC()
		d.ReplayedAt = &t
	}
	if len(d.Payload) == 0 {
		d.Payload = nil
	}
	return d
}

// logJSON renders v for failure messages.
func logJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// logSameAttempt fails unless got and want are the same attempt, field
// for field.
func logSameAttempt(t *testing.T, what string, got, want domain.Attempt) {
	t.Helper()
	g, w := logJSON(logNormAttempt(got)), logJSON(logNormAttempt(want))
	if g != w {
		t.Errorf("%s: attempt differs\n got: %s\nwant: %s", what, g, w)
	}
}

func logSameDeadLetter(t *testing.T, what string, got, want domain.DeadLetter) {
	t.Helper()
	g, w := logJSON(logNormDeadLetter(got)), logJSON(logNormDeadLetter(want))
	if g != w {
		t.Errorf("%s: dead letter differs\n got: %s\nwant: %s", what, g, w)
	}
}

// logAttemptIDs lists ids in order.
func logAttemptIDs(as []domain.Attempt) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

func logDeadLetterKeys(ds []domain.DeadLetter) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.EndpointID + "/" + d.DeliveryID
	}
	return out
}

// logNewestAttempts sorts attempts the way lists return them: newest
// first (fixtures have distinct times, so ties do not arise).
func logNewestAttempts(as []domain.Attempt) []domain.Attempt {
	out := slices.Clone(as)
	slices.SortStableFunc(out, func(x, y domain.Attempt) int { return y.StartedAt.Compare(x.StartedAt) })
	return out
}

func logNewestDeadLetters(ds []domain.DeadLetter) []domain.DeadLetter {
	out := slices.Clone(ds)
	slices.SortStableFunc(out, func(x, y domain.DeadLetter) int { return y.DeadAt.Compare(x.DeadAt) })
	return out
}

// logMatchAttempt is the reference meaning of an AttemptFilter: equality
// on each non-zero field, Since inclusive, Until exclusive.
func logMatchAttempt(f domain.AttemptFilter, a domain.Attempt) bool {
	return (f.EndpointID == "" || f.EndpointID == a.EndpointID) &&
		(f.EventType == "" || f.EventType == a.EventType) &&
		(f.Outcome == "" || f.Outcome == a.Outcome) &&
		(f.TenantID == "" || f.TenantID == a.TenantID) &&
		(f.Since.IsZero() || !a.StartedAt.Before(f.Since)) &&
		(f.Until.IsZero() || a.StartedAt.Before(f.Until))
}

func logMatchDeadLetter(f domain.DeadLetterFilter, d domain.DeadLetter) bool {
	return (f.EndpointID == "" || f.EndpointID == d.EndpointID) &&
		(f.EventType == "" || f.EventType == d.EventType) &&
		(f.Reason == "" || f.Reason == d.Reason) &&
		(f.TenantID == "" || f.TenantID == d.TenantID) &&
		(f.Since.IsZero() || !d.DeadAt.Before(f.Since)) &&
		(f.Until.IsZero() || d.DeadAt.Before(f.Until))
}

// logMaxPages stops a list that never ends.
const logMaxPages = 5000

// logListAttempts reads every page of a list. It checks that no page is
// longer than the limit, and returns the items and the length of the
// longest page. A page may be shorter than the limit, even empty, while
// NextCursor is set; only an empty NextCursor ends the list.
func logListAttempts(ctx context.Context, t *testing.T, s storage.AttemptLog, f domain.AttemptFilter, limit int) (all []domain.Attempt, longest int) {
	t.Helper()
	return logListAttemptsPages(ctx, t, s, f, limit, "")
}

// logListAttemptsFrom reads the pages of a list from cursor on.
func logListAttemptsFrom(ctx context.Context, t *testing.T, s storage.AttemptLog, f domain.AttemptFilter, limit int, cursor string) []domain.Attempt {
	t.Helper()
	all, _ := logListAttemptsPages(ctx, t, s, f, limit, cursor)
	return all
}

func logListAttemptsPages(ctx context.Context, t *testing.T, s storage.AttemptLog, f domain.AttemptFilter, limit int, cursor string) (all []domain.Attempt, longest int) {
	t.Helper()
	size := storage.PageRequest{Limit: limit}.Size()
	for range logMaxPages {
		page, err := s.ListAttempts(ctx, f, storage.PageRequest{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("ListAttempts(%s, limit %d): %v", logJSON(f), limit, err)
		}
		if len(page.Items) > size {
			t.Fatalf("ListAttempts(limit %d): page of %d items, want at most %d", limit, len(page.Items), size)
		}
		longest = max(longest, len(page.Items))
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, longest
		}
		if page.NextCursor == cursor {
			t.Fatalf("ListAttempts: NextCursor did not move (%q)", cursor)
		}
		cursor = page.NextCursor
	}
	t.Fatalf("ListAttempts(%s): still not done after %d pages", logJSON(f), logMaxPages)
	return nil, 0
}

func logListDeadLetters(ctx context.Context, t *testing.T, s storage.DeadLetterStore, f domain.DeadLetterFilter, limit int) (all []domain.DeadLetter, longest int) {
	t.Helper()
	size := storage.PageRequest{Limit: limit}.Size()
	cursor := ""
	for range logMaxPages {
		page, err := s.ListDeadLetters(ctx, f, storage.PageRequest{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("ListDeadLetters(%s, limit %d): %v", logJSON(f), limit, err)
		}
		if len(page.Items) > size {
			t.Fatalf("ListDeadLetters(limit %d): page of %d items, want at most %d", limit, len(page.Items), size)
		}
		longest = max(longest, len(page.Items))
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, longest
		}
		if page.NextCursor == cursor {
			t.Fatalf("ListDeadLetters: NextCursor did not move (%q)", cursor)
		}
		cursor = page.NextCursor
	}
	t.Fatalf("ListDeadLetters(%s): still not done after %d pages", logJSON(f), logMaxPages)
	return nil, 0
}

// logSameOrder fails unless got lists exactly the ids of want, in order,
// and names the first difference.
func logSameOrder(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	var dups, missing []string
	for id, n := range seen {
		if n > 1 {
			dups = append(dups, id)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	slices.Sort(dups)
	t.Errorf("%s: got %d items, want %d (duplicated %v, missing %v)\n got: %v\nwant: %v",
		what, len(got), len(want), dups, missing, got, want)
}

// logWaitFor polls cond until it holds or the deadline passes: expiry
// happens on the store's clock, not after a fixed sleep.
func logWaitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %s", what, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
