package sqlite

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// listAllAttempts pages through ListAttempts with a small page size.
func listAllAttempts(t *testing.T, db *DB, f domain.AttemptFilter, limit int) []domain.Attempt {
	t.Helper()
	var out []domain.Attempt
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		page, err := db.ListAttempts(testCtx(t), f, storage.PageRequest{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > limit {
			t.Fatalf("page of %d with limit %d", len(page.Items), limit)
		}
		out = append(out, page.Items...)
		if cursor = page.NextCursor; cursor == "" {
			return out
		}
		if len(page.Items) == 0 {
			t.Fatal("empty page with a next cursor")
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

// TestListAttempts checks every filter and their combinations against a
// model, paging three at a time, with several attempts per millisecond.
func TestListAttempts(t *testing.T) {
	ctx := testCtx(t)
	db := openTest(t, Options{})
	base := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Minute)
	var all []domain.Attempt
	endpoints := []string{"ep_a", "ep_b"}
	tenants := []string{"", "acme"}
	types := []string{"order.created", "invoice.paid"}
	outcomes := []domain.Outcome{domain.OutcomeDelivered, domain.OutcomeFailed, domain.OutcomeTimeout}
	for i := range 40 {
		a := newAttempt(endpoints[i%2], tenants[(i/2)%2], types[(i/3)%2], outcomes[i%3], base.Add(time.Duration(i/4)*time.Millisecond))
		all = append(all, a)
	}
	// Written in two batches, in shuffled order: the list order comes from
	// StartedAt, not from the write order.
	shuffled := slices.Clone(all)
	slices.Reverse(shuffled[:20])
	if err := db.WriteAttempts(ctx, shuffled[:20]); err != nil {
		t.Fatal(err)
	}
	if err := db.WriteAttempts(ctx, shuffled[20:]); err != nil {
		t.Fatal(err)
	}

	filters := []domain.AttemptFilter{
		{},
		{EndpointID: "ep_a"},
		{TenantID: "acme"},
		{EventType: "invoice.paid"},
		{Outcome: domain.OutcomeFailed},
		{Since: base.Add(3 * time.Millisecond)},
		{Until: base.Add(5 * time.Millisecond)},
		{Since: base.Add(2 * time.Millisecond), Until: base.Add(7 * time.Millisecond)},
		{EndpointID: "ep_b", TenantID: "acme", EventType: "order.created", Outcome: domain.OutcomeDelivered},
		{EndpointID: "ep_b", Outcome: domain.OutcomeTimeout, Since: base.Add(time.Millisecond), Until: base.Add(9 * time.Millisecond)},
		{EndpointID: "ep_missing"},
	}
	for _, f := range filters {
		var want []domain.Attempt
		for _, a := range all {
			if (f.EndpointID == "" || a.EndpointID == f.EndpointID) && (f.TenantID == "" || a.TenantID == f.TenantID) &&
				(f.EventType == "" || a.EventType == f.EventType) && (f.Outcome == "" || a.Outcome == f.Outcome) &&
				(f.Since.IsZero() || !a.StartedAt.Before(f.Since)) && (f.Until.IsZero() || a.StartedAt.Before(f.Until)) {
				want = append(want, a)
			}
		}
		// Newest first, ties by id (descending), as Cassandra orders them.
		slices.SortFunc(want, func(a, b domain.Attempt) int {
			if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
				return c
			}
			return strings.Compare(b.ID, a.ID)
		})
		got := listAllAttempts(t, db, f, 3)
		if gotIDs, wantIDs := attemptIDs(got), attemptIDs(want); !slices.Equal(gotIDs, wantIDs) {
			t.Fatalf("filter %+v: got %v, want %v", f, gotIDs, wantIDs)
		}
	}
	// Full records come back as written.
	byID := map[string]domain.Attempt{}
	for _, a := range all {
		byID[a.ID] = a
	}
	for _, a := range listAllAttempts(t, db, domain.AttemptFilter{}, 7) {
		sameJSON(t, "attempt", a, byID[a.ID])
	}
}

func TestWriteAttemptsUpsertAndDeliveryOrder(t *testing.T) {
	ctx := testCtx(t)
	db := openTest(t, Options{})
	base := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)
	first := newAttempt("ep_1", "", "a.b", domain.OutcomeTimeout, base)
	var delivery []domain.Attempt
	for gen := range 2 {
		for n := 1; n <= 3; n++ {
			a := first
			a.Generation, a.AttemptNumber = gen, n
			a.ID = domain.AttemptID(a.DeliveryID, gen, n)
			a.StartedAt = base.Add(time.Duration(gen*10+n) * time.Second)
			if gen == 1 && n == 3 {
				a.StartedAt = delivery[len(delivery)-1].StartedAt // same millisecond as the one before
			}
			delivery = append(delivery, a)
		}
	}
	other := newAttempt("ep_1", "", "a.b", domain.OutcomeDelivered, base)
	rev := slices.Clone(delivery)
	slices.Reverse(rev)
	if err := db.WriteAttempts(ctx, append(rev, other)); err != nil {
		t.Fatal(err)
	}
	// A retried write of the same attempts with a change is an upsert.
	delivery[0].StatusCode, delivery[0].Outcome = 503, domain.OutcomeFailed
	if err := db.WriteAttempts(ctx, delivery[:1]); err != nil {
		t.Fatal(err)
	}
	got, err := db.DeliveryAttempts(ctx, first.DeliveryID)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "attempts of the delivery, oldest first", got, delivery)
	if all := listAllAttempts(t, db, domain.AttemptFilter{}, 100); len(all) != len(delivery)+1 {
		t.Fatalf("%d attempts after an upsert, want %d", len(all), len(delivery)+1)
	}
	if none, err := db.DeliveryAttempts(ctx, "msg_missing"); err != nil || len(none) != 0 || none == nil {
		t.Fatalf("attempts of an unknown delivery: %#v, %v; want an empty list", none, err)
	}
	if err := db.WriteAttempts(ctx, nil); err != nil {
		t.Fatalf("writing no attempts: %v", err)
	}
}

func TestDeadLetters(t *testing.T) {
	ctx := testCtx(t)
	db := openTest(t, Options{})
	base := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Minute)
	var all []domain.DeadLetter
	reasons := []string{domain.ReasonExhausted, domain.ReasonEndpointDisabled, domain.ReasonGone}
	for i := range 30 {
		ep := []string{"ep_a", "ep_b", ""}[i%3]
		reason := reasons[(i/3)%3]
		if ep == "" {
			reason = domain.ReasonMalformed
		}
		all = append(all, newDeadLetter(ep, []string{"", "acme"}[(i/2)%2], []string{"order.created", "invoice.paid"}[(i/5)%2], reason,
			base.Add(time.Duration(i/3)*time.Millisecond)))
	}
	if err := db.PutDeadLetters(ctx, all); err != nil {
		t.Fatal(err)
	}
	filters := []domain.DeadLetterFilter{
		{},
		{EndpointID: "ep_b"},
		{TenantID: "acme"},
		{EventType: "invoice.paid"},
		{Reason: domain.ReasonMalformed},
		{Since: base.Add(4 * time.Millisecond), Until: base.Add(8 * time.Millisecond)},
		{EndpointID: "ep_a", Reason: domain.ReasonGone, TenantID: "acme"},
	}
	for _, f := range filters {
		var matching []domain.DeadLetter
		for _, d := range all {
			if (f.EndpointID == "" || d.EndpointID == f.EndpointID) && (f.TenantID == "" || d.TenantID == f.TenantID) &&
				(f.EventType == "" || d.EventType == f.EventType) && (f.Reason == "" || d.Reason == f.Reason) &&
				(f.Since.IsZero() || !d.DeadAt.Before(f.Since)) && (f.Until.IsZero() || d.DeadAt.Before(f.Until)) {
				matching = append(matching, d)
			}
		}
		// Newest first, ties by endpoint and delivery id (descending).
		slices.SortFunc(matching, func(a, b domain.DeadLetter) int {
			if c := b.DeadAt.Compare(a.DeadAt); c != 0 {
				return c
			}
			if c := strings.Compare(b.EndpointID, a.EndpointID); c != 0 {
				return c
			}
			return strings.Compare(b.DeliveryID, a.DeliveryID)
		})
		var want []string
		for _, d := range matching {
			want = append(want, d.EndpointID+"/"+d.DeliveryID)
		}
		var got []domain.DeadLetter
		cursor := ""
		for {
			page, err := db.ListDeadLetters(ctx, f, storage.PageRequest{Limit: 4, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page.Items...)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		var gotKeys []string
		for _, d := range got {
			gotKeys = append(gotKeys, d.EndpointID+"/"+d.DeliveryID)
		}
		if !slices.Equal(gotKeys, want) {
			t.Fatalf("filter %+v: got %v, want %v", f, gotKeys, want)
		}
	}

	// Upsert by (endpoint, delivery) replaces the record.
	d := all[0]
	d.Attempts, d.Reason, d.Generation = 16, domain.ReasonGone, 1
	if err := db.PutDeadLetters(ctx, []domain.DeadLetter{d}); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetDeadLetter(ctx, d.EndpointID, d.DeliveryID)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "dead letter after upsert", got, d)
	// The same delivery id under another endpoint is another dead letter.
	twin := d
	twin.EndpointID = "ep_twin"
	if err := db.PutDeadLetters(ctx, []domain.DeadLetter{twin}); err != nil {
		t.Fatal(err)
	}
	page, _ := db.ListDeadLetters(ctx, domain.DeadLetterFilter{}, storage.PageRequest{Limit: 1000})
	if len(page.Items) != len(all)+1 {
		t.Fatalf("%d dead letters, want %d", len(page.Items), len(all)+1)
	}

	at := base.Add(time.Hour)
	if err := db.MarkReplayed(ctx, d.EndpointID, d.DeliveryID, at); err != nil {
		t.Fatal(err)
	}
	got, _ = db.GetDeadLetter(ctx, d.EndpointID, d.DeliveryID)
	if got.ReplayedAt == nil || !got.ReplayedAt.Equal(at) {
		t.Fatalf("replayed at %v, want %v", got.ReplayedAt, at)
	}
	if err := db.DiscardDeadLetter(ctx, d.EndpointID, d.DeliveryID); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"get":       func() error { _, err := db.GetDeadLetter(ctx, d.EndpointID, d.DeliveryID); return err }(),
		"discard":   db.DiscardDeadLetter(ctx, d.EndpointID, d.DeliveryID),
		"mark":      db.MarkReplayed(ctx, d.EndpointID, d.DeliveryID, at),
		"other get": func() error { _, err := db.GetDeadLetter(ctx, "ep_none", d.DeliveryID); return err }(),
	} {
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s after discard: %v, want ErrNotFound", what, err)
		}
	}
	if _, err := db.GetDeadLetter(ctx, twin.EndpointID, twin.DeliveryID); err != nil {
		t.Fatalf("discard removed the twin: %v", err)
	}
}

// TestRetention: expiry counts from the record's own time (never past
// the write plus the retention), differs by outcome, is visible to every
// read at once, and the purge then deletes the rows in batches.
func TestRetention(t *testing.T) {
	ctx := testCtx(t)
	clk := newClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	db := openTest(t, Options{
		Retention:     storage.Retention{Delivered: time.Hour, Failed: 2 * time.Hour, DeadLetters: 3 * time.Hour},
		Now:           clk.Now,
		PurgeInterval: -1,
		PurgeBatch:    3,
	})
	now := clk.Now()
	var delivered, failed []domain.Attempt
	for range 5 {
		delivered = append(delivered, newAttempt("ep_1", "", "a.b", domain.OutcomeDelivered, now.Add(-30*time.Minute)))
		// Dated in the future (a skewed clock): kept no longer than the
		// retention from the write.
		failed = append(failed, newAttempt("ep_1", "", "a.b", domain.OutcomeFailed, now.Add(time.Hour)))
	}
	if err := db.WriteAttempts(ctx, append(slices.Clone(delivered), failed...)); err != nil {
		t.Fatal(err)
	}
	var dls []domain.DeadLetter
	for range 4 {
		dls = append(dls, newDeadLetter("ep_1", "", "a.b", domain.ReasonExhausted, now))
	}
	if err := db.PutDeadLetters(ctx, dls); err != nil {
		t.Fatal(err)
	}
	count := func(f domain.AttemptFilter) int { return len(listAllAttempts(t, db, f, 4)) }
	if n := count(domain.AttemptFilter{}); n != 10 {
		t.Fatalf("%d attempts before expiry, want 10", n)
	}

	// Delivered attempts started 30 minutes ago live 30 more minutes.
	clk.Advance(30 * time.Minute)
	if n := count(domain.AttemptFilter{}); n != 5 {
		t.Fatalf("%d attempts after 30 minutes, want the 5 failed", n)
	}
	if n := count(domain.AttemptFilter{Outcome: domain.OutcomeDelivered}); n != 0 {
		t.Fatalf("%d delivered attempts listed after their retention", n)
	}
	if got, _ := db.DeliveryAttempts(ctx, delivered[0].DeliveryID); len(got) != 0 {
		t.Fatal("an expired attempt is still returned by DeliveryAttempts")
	}
	// An attempt already past its retention is not written: it neither
	// comes back nor replaces the stored one.
	if err := db.WriteAttempts(ctx, delivered[:1]); err != nil {
		t.Fatal(err)
	}
	if n := count(domain.AttemptFilter{Outcome: domain.OutcomeDelivered}); n != 0 {
		t.Fatalf("%d delivered attempts after rewriting an expired one, want 0", n)
	}
	stale := failed[0]
	stale.StartedAt, stale.StatusCode = now.Add(-3*time.Hour), 599
	if err := db.WriteAttempts(ctx, []domain.Attempt{stale}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.DeliveryAttempts(ctx, stale.DeliveryID); len(got) != 1 || got[0].StatusCode != failed[0].StatusCode {
		t.Fatalf("an expired rewrite replaced a live attempt: %+v", got)
	}

	n, err := db.Purge(ctx)
	if err != nil || n != 5 {
		t.Fatalf("purge deleted %d (%v), want the 5 expired delivered attempts", n, err)
	}

	// The failed attempts dated an hour ahead expire two hours after the
	// write, not three.
	clk.Advance(90 * time.Minute)
	if n := count(domain.AttemptFilter{}); n != 0 {
		t.Fatalf("%d future-dated attempts outlived the retention from their write", n)
	}
	clk.Advance(time.Hour)
	for what, err := range map[string]error{
		"get":  func() error { _, err := db.GetDeadLetter(ctx, dls[0].EndpointID, dls[0].DeliveryID); return err }(),
		"mark": db.MarkReplayed(ctx, dls[0].EndpointID, dls[0].DeliveryID, clk.Now()),
	} {
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s of an expired dead letter: %v, want ErrNotFound", what, err)
		}
	}
	page, err := db.ListDeadLetters(ctx, domain.DeadLetterFilter{}, storage.PageRequest{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("expired dead letters listed: %d, %v", len(page.Items), err)
	}
	n, err = db.Purge(ctx)
	if err != nil || n != 5+4 {
		t.Fatalf("purge deleted %d (%v), want %d", n, err, 5+4)
	}
	var left int
	if err := db.reader.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM attempts) + (SELECT count(*) FROM dead_letters)`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d rows left after the purge (%v)", left, err)
	}
}

// TestRetentionForever: a zero field of a non-zero Retention keeps
// records for good, as a Cassandra TTL of 0 does.
func TestRetentionForever(t *testing.T) {
	ctx := testCtx(t)
	clk := newClock(time.Now())
	db := openTest(t, Options{Retention: storage.Retention{Delivered: time.Minute}, Now: clk.Now, PurgeInterval: -1})
	a := newAttempt("ep_1", "", "a.b", domain.OutcomeFailed, time.Now())
	if err := db.WriteAttempts(ctx, []domain.Attempt{a}); err != nil {
		t.Fatal(err)
	}
	d := newDeadLetter("ep_1", "", "a.b", domain.ReasonExhausted, time.Now())
	if err := db.PutDeadLetters(ctx, []domain.DeadLetter{d}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(100 * 365 * 24 * time.Hour)
	if n, err := db.Purge(ctx); err != nil || n != 0 {
		t.Fatalf("purge deleted %d (%v) records kept forever", n, err)
	}
	if got, _ := db.DeliveryAttempts(ctx, a.DeliveryID); len(got) != 1 {
		t.Fatal("a failed attempt with no failed retention expired")
	}
	if _, err := db.GetDeadLetter(ctx, d.EndpointID, d.DeliveryID); err != nil {
		t.Fatalf("a dead letter with no retention expired: %v", err)
	}
}

// TestPurgeLoop: the background purge deletes expired rows and stops on
// Close.
func TestPurgeLoop(t *testing.T) {
	ctx := testCtx(t)
	clk := newClock(time.Now())
	db := openTest(t, Options{
		Retention: storage.Retention{Delivered: time.Second, Failed: time.Second, DeadLetters: time.Second},
		Now:       clk.Now, PurgeInterval: 5 * time.Millisecond, PurgeBatch: 2,
	})
	var batch []domain.Attempt
	for range 7 {
		batch = append(batch, newAttempt("ep_1", "", "a.b", domain.OutcomeDelivered, time.Now()))
	}
	if err := db.WriteAttempts(ctx, batch); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM attempts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d expired attempts still stored after 10s of purging", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestQueryPlans: every list query walks an index in order; none scans
// the table or sorts.
func TestQueryPlans(t *testing.T) {
	ctx := testCtx(t)
	db := openTest(t, Options{})
	plan := func(query string, args ...any) string {
		t.Helper()
		rows, err := db.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "; ")
	}
	check := func(what, query string, args ...any) {
		t.Helper()
		p := plan(query, args...)
		bad := strings.Contains(p, "TEMP B-TREE") ||
			(strings.Contains(p, "SCAN ") && !strings.Contains(p, "USING INDEX") && !strings.Contains(p, "USING COVERING INDEX") &&
				!strings.Contains(p, "json_each"))
		if bad {
			t.Errorf("%s: plan %q scans or sorts", what, p)
		}
		t.Logf("%s: %s", what, p)
	}
	now := time.Now()
	attemptFilters := map[string]domain.AttemptFilter{
		"none": {}, "endpoint": {EndpointID: "e"}, "tenant": {TenantID: "t"}, "type": {EventType: "x"},
		"outcome": {Outcome: domain.OutcomeFailed}, "range": {Since: now.Add(-time.Hour), Until: now},
		"endpoint+outcome+range": {EndpointID: "e", Outcome: domain.OutcomeFailed, Since: now.Add(-time.Hour)},
	}
	for name, f := range attemptFilters {
		for _, c := range []*attemptCursor{nil, {T: 1, ID: "att_1", F: "f"}} {
			q, args := attemptsListSQL(f, c, millis(now), 51)
			check(fmt.Sprintf("attempts %s cursor=%v", name, c != nil), q, args...)
		}
	}
	dlFilters := map[string]domain.DeadLetterFilter{
		"none": {}, "endpoint": {EndpointID: "e"}, "tenant": {TenantID: "t"}, "reason": {Reason: "gone"},
		"range": {Since: now.Add(-time.Hour)},
	}
	for name, f := range dlFilters {
		for _, c := range []*deadLetterCursor{nil, {T: 1, E: "ep_1", D: "msg_1", F: "f"}} {
			q, args := deadLettersListSQL(f, c, millis(now), 51)
			check(fmt.Sprintf("dead letters %s cursor=%v", name, c != nil), q, args...)
		}
	}
	check("delivery attempts", `SELECT `+attemptColumns+` FROM attempts WHERE delivery_id = ? AND expires_at > ?
		ORDER BY started_at, generation, attempt_number, id`, "d", 1)
	check("purge attempts", `DELETE FROM attempts WHERE rowid IN (SELECT rowid FROM attempts WHERE expires_at <= ? LIMIT ?)`, 1, 1)
	check("purge dead letters", `DELETE FROM dead_letters WHERE rowid IN (SELECT rowid FROM dead_letters WHERE expires_at <= ? LIMIT ?)`, 1, 1)
	check("endpoints by tenant", `SELECT id FROM endpoints WHERE id > ? AND tenant_id = ? ORDER BY id LIMIT ?`, "", "t", 1)
	check("active secrets", `SELECT id FROM endpoint_secrets WHERE endpoint_id = ? AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY created_at DESC, id DESC`, "e", 1)
	check("replay jobs", `SELECT id FROM replay_jobs WHERE id < ? ORDER BY id DESC LIMIT ?`, "x", 1)
	check("event deliveries", eventDeliveriesSQL, "evt_1", 1, 10)
	check("stale replay jobs", `SELECT id FROM replay_jobs WHERE state IN ('pending', 'running') AND updated_at < ?
		ORDER BY created_at, id LIMIT 1`, 1)
	check("purge event keys", `DELETE FROM event_keys WHERE rowid IN (SELECT rowid FROM event_keys WHERE expires_at <= ? LIMIT ?)`, 1, 1)
}
