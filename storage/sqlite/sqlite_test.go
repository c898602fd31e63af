package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/storage"
	"github.com/hookd/hookd/storage/storagetest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// clock is a settable test clock, safe to read from the purge goroutine.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func mustCreateEndpoint(t *testing.T, db *DB, tenant string) domain.Endpoint {
	t.Helper()
	e, sec := storagetest.NewEndpoint(tenant)
	if err := db.CreateEndpoint(testCtx(t), e, sec); err != nil {
		t.Fatalf("CreateEndpoint: %v", err)
	}
	return *e
}

func newAttempt(endpointID, tenant, eventType string, outcome domain.Outcome, started time.Time) domain.Attempt {
	eventID := ids.New(ids.Event)
	delivery := domain.DeliveryID(eventID, endpointID)
	return domain.Attempt{
		ID: domain.AttemptID(delivery, 0, 1), DeliveryID: delivery, EventID: eventID, EventType: eventType,
		EndpointID: endpointID, TenantID: tenant, AttemptNumber: 1, StartedAt: started.UTC().Truncate(time.Millisecond),
		Duration: 123456789 * time.Nanosecond, StatusCode: 500, Outcome: outcome, Error: "server error",
		RequestHeaders:  map[string]string{"webhook-id": delivery, "webhook-signature": "[redacted]"},
		ResponseHeaders: map[string]string{"Content-Type": "text/plain"},
		ResponseBody:    []byte("oops"), ResponseBodySHA256: "abc", ResponseBodySize: 4,
	}
}

func newDeadLetter(endpointID, tenant, eventType, reason string, dead time.Time) domain.DeadLetter {
	eventID := ids.New(ids.Event)
	return domain.DeadLetter{
		DeliveryID: domain.DeliveryID(eventID, endpointID), EventID: eventID, EventType: eventType,
		EndpointID: endpointID, TenantID: tenant, Reason: reason, LastError: "HTTP 500", LastStatusCode: 500,
		Attempts: 8, DeadAt: dead.UTC().Truncate(time.Millisecond), Payload: []byte(`{"id":"` + eventID + `"}`),
	}
}

// TestRestart closes the file and opens it again: configuration, log and
// dead letters survive, the migrations run again without effect, and the
// key check tells the right key from a wrong one.
func TestRestart(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "data", "hookd.db")
	box := storagetest.NewBox(t)
	db, err := Open(ctx, path, box, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CheckEncryptionKey(ctx); err != nil {
		t.Fatal(err)
	}
	e, sec := storagetest.NewEndpoint("acme")
	if err := db.CreateEndpoint(ctx, e, sec); err != nil {
		t.Fatal(err)
	}
	key := domain.APIKey{ID: ids.New(ids.APIKey), Name: "k", Hash: []byte("hash"), Scopes: []string{domain.ScopeAdmin}}
	if err := db.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	job := domain.ReplayJob{ID: ids.New(ids.ReplayJob), IdempotencyKey: "k1", State: domain.ReplayPending}
	if _, _, err := db.CreateReplayJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	att := newAttempt(e.ID, "acme", "order.created", domain.OutcomeFailed, time.Now())
	if err := db.WriteAttempts(ctx, []domain.Attempt{att}); err != nil {
		t.Fatal(err)
	}
	dl := newDeadLetter(e.ID, "acme", "order.created", domain.ReasonExhausted, time.Now())
	if err := db.PutDeadLetters(ctx, []domain.DeadLetter{dl}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path, box, Options{})
	if err := db.CheckEncryptionKey(ctx); err != nil {
		t.Fatalf("key check after restart: %v", err)
	}
	got, err := db.GetEndpoint(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "endpoint", got, *e)
	secs, err := db.ActiveSecrets(ctx, e.ID, time.Now())
	if err != nil || len(secs) != 1 || secs[0].Value != sec.Value {
		t.Fatalf("secrets after restart: %+v, %v", secs, err)
	}
	if _, err := db.APIKeyByHash(ctx, key.Hash); err != nil {
		t.Fatalf("api key after restart: %v", err)
	}
	if _, err := db.GetReplayJob(ctx, job.ID); err != nil {
		t.Fatalf("replay job after restart: %v", err)
	}
	atts, err := db.DeliveryAttempts(ctx, att.DeliveryID)
	if err != nil || len(atts) != 1 {
		t.Fatalf("attempts after restart: %v, %v", atts, err)
	}
	sameJSON(t, "attempt", atts[0], att)
	gotDL, err := db.GetDeadLetter(ctx, dl.EndpointID, dl.DeliveryID)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "dead letter", gotDL, dl)

	var versions int
	if err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if versions != len(files) {
		t.Fatalf("%d migrations recorded after two opens, want %d (each once)", versions, len(files))
	}

	wrong := openAt(t, path, storagetest.NewBox(t), Options{})
	if err := wrong.CheckEncryptionKey(ctx); !errors.Is(err, storage.ErrWrongEncryptionKey) {
		t.Fatalf("key check with another key: %v", err)
	}
}

// TestKeyCheckOnFileWithSecrets: a file that holds secrets but no check
// value yet (written before the daemon first checked) must not record a
// wrong key as the right one.
func TestKeyCheckOnFileWithSecrets(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "hookd.db")
	db := openAt(t, path, storagetest.NewBox(t), Options{})
	mustCreateEndpoint(t, db, "")
	wrong := openAt(t, path, storagetest.NewBox(t), Options{})
	if err := wrong.CheckEncryptionKey(ctx); !errors.Is(err, storage.ErrWrongEncryptionKey) {
		t.Fatalf("first check with another key: %v", err)
	}
	if err := db.CheckEncryptionKey(ctx); err != nil {
		t.Fatalf("the right key after a refused wrong one: %v", err)
	}
}

// TestConcurrentReadModifyWrite has writers race to update one endpoint,
// each re-reading and retrying on conflict: no update is lost and every
// version is used once.
func TestConcurrentReadModifyWrite(t *testing.T) {
	ctx := testCtx(t)
	db := openTest(t, Options{})
	e := mustCreateEndpoint(t, db, "")
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				cur, err := db.GetEndpoint(ctx, e.ID)
				if err != nil {
					t.Error(err)
					return
				}
				if cur.Labels == nil {
					cur.Labels = map[string]string{}
				}
				cur.Labels[fmt.Sprintf("w%d-%d", w, i)] = "x"
				if len(cur.Labels) > domain.MaxLabels {
					cur.Labels = map[string]string{fmt.Sprintf("w%d-%d", w, i): "x"}
				}
				_, err = db.UpdateEndpoint(ctx, cur)
				switch {
				case err == nil:
					i++
				case errors.Is(err, storage.ErrConflict):
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, err := db.GetEndpoint(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(1 + writers*each); got.Version != want {
		t.Fatalf("version %d after %d successful updates, want %d", got.Version, writers*each, want)
	}
}

// TestConcurrentWritesAndReads runs log writers, config writers and
// readers at once: the single writer connection queues writes, reads run
// beside them, and nothing fails with SQLITE_BUSY.
func TestConcurrentWritesAndReads(t *testing.T) {
	ctx := testCtx(t)
	db := openTest(t, Options{})
	e := mustCreateEndpoint(t, db, "")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				batch := make([]domain.Attempt, 10)
				for j := range batch {
					batch[j] = newAttempt(e.ID, "", "order.created", domain.OutcomeDelivered, time.Now())
				}
				if err := db.WriteAttempts(ctx, batch); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, i, err)
					return
				}
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := db.ListAttempts(ctx, domain.AttemptFilter{EndpointID: e.ID}, storage.PageRequest{Limit: 20}); err != nil {
					errs <- err
					return
				}
				if _, err := db.SetEndpointEnabled(ctx, e.ID, true, "", "t"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	if err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM attempts`).Scan(&n); err != nil || n != 1000 {
		t.Fatalf("%d attempts stored (%v), want 1000", n, err)
	}
}

func TestWatchEndpoints(t *testing.T) {
	t.Run("NilReadyAndOrder", func(t *testing.T) {
		db := openTest(t, Options{})
		ctx, cancel := context.WithCancel(testCtx(t))
		got := make(chan string, 10)
		done := make(chan error, 1)
		go func() { done <- db.WatchEndpoints(ctx, nil, func(id string) { got <- id }) }()
		// With a nil ready there is no moment to wait for; poll until
		// the watch sees a change.
		var e domain.Endpoint
		deadline := time.After(10 * time.Second)
	wait:
		for {
			e = mustCreateEndpoint(t, db, "")
			select {
			case id := <-got:
				if id == e.ID {
					break wait
				}
			case <-time.After(10 * time.Millisecond):
			case <-deadline:
				t.Fatal("no change seen")
			}
		}
		if err := db.RotateSecret(testCtx(t), e.ID, storagetest.NewSecret(e.ID), time.Now()); err != nil {
			t.Fatal(err)
		}
		if id := <-got; id != e.ID {
			t.Fatalf("rotation reported as a change of %s, want %s", id, e.ID)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("watch ended with %v", err)
		}
	})

	t.Run("Overflow", func(t *testing.T) {
		db := openTest(t, Options{})
		ctx := testCtx(t)
		ready := make(chan struct{})
		release := make(chan struct{})
		var calls atomic.Int64
		done := make(chan error, 1)
		go func() {
			done <- db.WatchEndpoints(ctx, func() { close(ready) }, func(string) {
				if calls.Add(1) == 1 {
					<-release // a stuck consumer
				}
			})
		}()
		<-ready
		e := mustCreateEndpoint(t, db, "")
		for i := 0; i < watchBuffer+10; i++ {
			if _, err := db.SetEndpointEnabled(ctx, e.ID, i%2 == 0, "flap", "t"); err != nil {
				t.Fatal(err)
			}
		}
		close(release)
		select {
		case err := <-done:
			if !errors.Is(err, ErrWatchOverflow) {
				t.Fatalf("watch of a stuck consumer ended with %v, want ErrWatchOverflow", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the watch of a stuck consumer did not break")
		}
		if n := calls.Load(); n < watchBuffer {
			t.Fatalf("only %d buffered changes delivered before the break", n)
		}
	})

	t.Run("Close", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hookd.db")
		db, err := Open(testCtx(t), path, storagetest.NewBox(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- db.WatchEndpoints(testCtx(t), func() { close(ready) }, func(string) {}) }()
		<-ready
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("watch ended with %v on close, want ErrClosed", err)
		}
		if err := db.WatchEndpoints(testCtx(t), nil, func(string) {}); !errors.Is(err, ErrClosed) {
			t.Fatalf("watch on a closed DB: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// TestSecretsEncryptedOnDisk reads the raw file: no secret value appears.
func TestSecretsEncryptedOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookd.db")
	db, err := Open(testCtx(t), path, storagetest.NewBox(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, sec := storagetest.NewEndpoint("")
	if err := db.CreateEndpoint(testCtx(t), e, sec); err != nil {
		t.Fatal(err)
	}
	second := storagetest.NewSecret(e.ID)
	if err := db.RotateSecret(testCtx(t), e.ID, second, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if !bytes.Contains(all, []byte(e.URL)) {
		t.Fatal("endpoint URL not found in the file: the test reads the wrong file")
	}
	for _, s := range []domain.EndpointSecret{sec, second} {
		if bytes.Contains(all, []byte(s.Value)) || bytes.Contains(all, []byte(strings.TrimPrefix(s.Value, "whsec_"))) {
			t.Fatalf("secret %s stored in plain text", s.ID)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("database file mode %o, want 600", perm)
	}
}

// TestOpenPathWithURISyntax: characters that mean something in a file:
// URI are part of the file name.
func TestOpenPathWithURISyntax(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "my data?#%&x=1", "hookd.db")
	db := openAt(t, path, storagetest.NewBox(t), Options{})
	mustCreateEndpoint(t, db, "")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at the given path: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("files beside the data dir: %v", entries)
	}
}

func TestOpenRefuses(t *testing.T) {
	ctx := testCtx(t)
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"), nil, Options{}); err == nil {
		t.Fatal("Open without a box succeeded")
	}
	if _, err := Open(ctx, " ", storagetest.NewBox(t), Options{}); err == nil {
		t.Fatal("Open without a path succeeded")
	}
	notDB := filepath.Join(t.TempDir(), "not.db")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, notDB, storagetest.NewBox(t), Options{}); err == nil {
		t.Fatal("Open of a file that is not a database succeeded")
	}
}

// TestLogCursorBoundToFilter: a log cursor continues only the list (the
// filter) it was made for.
func TestLogCursorBoundToFilter(t *testing.T) {
	ctx := testCtx(t)
	db := openTest(t, Options{})
	var batch []domain.Attempt
	var dls []domain.DeadLetter
	for range 3 {
		batch = append(batch, newAttempt("ep_1", "", "a.b", domain.OutcomeFailed, time.Now()))
		dls = append(dls, newDeadLetter("ep_1", "", "a.b", domain.ReasonGone, time.Now()))
	}
	if err := db.WriteAttempts(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := db.PutDeadLetters(ctx, dls); err != nil {
		t.Fatal(err)
	}
	f := domain.AttemptFilter{EndpointID: "ep_1", Since: time.Now().Add(-time.Hour)}
	page, err := db.ListAttempts(ctx, f, storage.PageRequest{Limit: 1})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page: %v", err)
	}
	if _, err := db.ListAttempts(ctx, f, storage.PageRequest{Limit: 1, Cursor: page.NextCursor}); err != nil {
		t.Fatalf("same filter: %v", err)
	}
	f.Outcome = domain.OutcomeFailed
	if _, err := db.ListAttempts(ctx, f, storage.PageRequest{Cursor: page.NextCursor}); !errors.Is(err, storage.ErrInvalidCursor) {
		t.Fatalf("cursor with another filter: %v, want ErrInvalidCursor", err)
	}
	dpage, err := db.ListDeadLetters(ctx, domain.DeadLetterFilter{}, storage.PageRequest{Limit: 1})
	if err != nil || dpage.NextCursor == "" {
		t.Fatalf("first dead-letter page: %v", err)
	}
	if _, err := db.ListDeadLetters(ctx, domain.DeadLetterFilter{Reason: "gone"}, storage.PageRequest{Cursor: dpage.NextCursor}); !errors.Is(err, storage.ErrInvalidCursor) {
		t.Fatalf("dead-letter cursor with another filter: %v, want ErrInvalidCursor", err)
	}
}

func TestCursorsAreNotInterchangeable(t *testing.T) {
	ctx := testCtx(t)
	db := openTest(t, Options{})
	for range 3 {
		mustCreateEndpoint(t, db, "")
		if _, _, err := db.CreateReplayJob(ctx, domain.ReplayJob{ID: ids.New(ids.ReplayJob), State: domain.ReplayPending}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := db.ListEndpoints(ctx, storage.EndpointFilter{}, storage.PageRequest{Limit: 1})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page: %v", err)
	}
	if _, err := db.ListReplayJobs(ctx, storage.PageRequest{Cursor: page.NextCursor}); !errors.Is(err, storage.ErrInvalidCursor) {
		t.Fatalf("endpoint cursor given to replay jobs: %v", err)
	}
	if _, err := db.ListAPIKeys(ctx, storage.PageRequest{Cursor: page.NextCursor}); !errors.Is(err, storage.ErrInvalidCursor) {
		t.Fatalf("endpoint cursor given to api keys: %v", err)
	}
	if _, err := db.ListAttempts(ctx, domain.AttemptFilter{}, storage.PageRequest{Cursor: page.NextCursor}); !errors.Is(err, storage.ErrInvalidCursor) {
		t.Fatalf("endpoint cursor given to attempts: %v", err)
	}
	for _, bad := range []string{
		"!", strings.Repeat("A", 5000), storage.EncodeCursor("x"), storage.EncodeCursor(map[string]any{}),
		storage.EncodeCursor(map[string]any{"k": "ep"}), storage.EncodeCursor(map[string]any{"k": "ep", "p": map[string]any{"a": ""}}),
		storage.EncodeCursor(map[string]any{"k": "ep", "p": map[string]any{"a": "x", "zz": 1}}),
		storage.EncodeCursor(map[string]any{"k": "dlq", "p": map[string]any{"t": 1, "e": "x", "d": "y"}}),
		storage.EncodeCursor(map[string]any{"k": "dlq", "p": map[string]any{"t": "1", "f": "x"}}),
	} {
		_, err1 := db.ListEndpoints(ctx, storage.EndpointFilter{}, storage.PageRequest{Cursor: bad})
		_, err2 := db.ListDeadLetters(ctx, domain.DeadLetterFilter{}, storage.PageRequest{Cursor: bad})
		if !errors.Is(err1, storage.ErrInvalidCursor) || !errors.Is(err2, storage.ErrInvalidCursor) {
			t.Fatalf("cursor %.40q: %v / %v, want ErrInvalidCursor", bad, err1, err2)
		}
	}
}

// TestOddValues stores values validation would usually stop: they are
// kept exactly or refused with an error, never corrupted.
func TestOddValues(t *testing.T) {
	ctx := testCtx(t)
	db := openTest(t, Options{})

	// Log records with empty ids, unicode, NUL bytes, invalid UTF-8 and a
	// large payload.
	now := time.Now().UTC().Truncate(time.Millisecond)
	big := bytes.Repeat([]byte("é\x00{"), 3<<20)
	a := domain.Attempt{
		ID: "", DeliveryID: "", EventType: "ünïcødé.😀", Error: "nul\x00byte \xff\xfe", Outcome: "weird",
		RequestHeaders: map[string]string{"": ""}, ResponseBody: big, StartedAt: now,
	}
	if err := db.WriteAttempts(ctx, []domain.Attempt{a}); err != nil {
		t.Fatal(err)
	}
	got, err := db.DeliveryAttempts(ctx, "")
	if err != nil || len(got) != 1 {
		t.Fatalf("attempt with empty ids: %v, %v", got, err)
	}
	if !bytes.Equal(got[0].ResponseBody, big) || got[0].Error != a.Error || !got[0].StartedAt.Equal(now) || got[0].EventType != a.EventType {
		t.Fatal("odd attempt not read back as written")
	}
	dl := domain.DeadLetter{DeliveryID: "d", Reason: domain.ReasonMalformed, Payload: big, DeadAt: now}
	if err := db.PutDeadLetters(ctx, []domain.DeadLetter{dl}); err != nil {
		t.Fatal(err)
	}
	gotDL, err := db.GetDeadLetter(ctx, "", "d")
	if err != nil || !bytes.Equal(gotDL.Payload, big) || !gotDL.DeadAt.Equal(now) {
		t.Fatalf("malformed dead letter without endpoint: %v", err)
	}
	// Records without a time are past any retention: not written, no error
	// (an error would make a log writer retry them forever).
	if err := db.WriteAttempts(ctx, []domain.Attempt{{ID: "att_zero", DeliveryID: "msg_zero"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutDeadLetters(ctx, []domain.DeadLetter{{EndpointID: "ep_zero", DeliveryID: "msg_zero"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.DeliveryAttempts(ctx, "msg_zero"); len(got) != 0 {
		t.Fatal("an attempt without a time was stored")
	}
	if _, err := db.GetDeadLetter(ctx, "ep_zero", "msg_zero"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a dead letter without a time was stored: %v", err)
	}

	// Far-off times survive both precisions.
	far := time.Date(9999, 12, 31, 23, 59, 59, 999000000, time.UTC)
	early := time.Date(1, 1, 1, 0, 0, 0, 1000000, time.UTC)
	for _, at := range []time.Time{far, early} {
		k := domain.APIKey{ID: ids.New(ids.APIKey), Hash: []byte(at.String()), CreatedAt: at, RevokedAt: &at}
		if err := db.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		gk, err := db.APIKeyByHash(ctx, k.Hash)
		if err != nil || !gk.CreatedAt.Equal(at) || !gk.RevokedAt.Equal(at) {
			t.Fatalf("api key time %v read back as %v (%v)", at, gk.CreatedAt, err)
		}
	}

	// Lookups with odd keys find nothing rather than fail.
	if _, err := db.GetEndpoint(ctx, ""); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get endpoint \"\": %v", err)
	}
	if _, err := db.APIKeyByHash(ctx, nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("api key by nil hash: %v", err)
	}
	if _, err := db.GetEndpoint(ctx, "'; DROP TABLE endpoints; --"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get endpoint with SQL in the id: %v", err)
	}
	page, err := db.ListEndpoints(ctx, storage.EndpointFilter{Labels: map[string]string{`"'$.x[0]`: "ü"}}, storage.PageRequest{Limit: -5})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("label filter with JSON-path syntax: %v, %v", page.Items, err)
	}
}

// TestMaxPageSize: limits above MaxPageSize are capped.
func TestMaxPageSize(t *testing.T) {
	ctx := testCtx(t)
	db := openTest(t, Options{})
	batch := make([]domain.Attempt, storage.MaxPageSize+5)
	for i := range batch {
		batch[i] = newAttempt("ep_1", "", "a.b", domain.OutcomeDelivered, time.Now())
	}
	if err := db.WriteAttempts(ctx, batch); err != nil {
		t.Fatal(err)
	}
	page, err := db.ListAttempts(ctx, domain.AttemptFilter{}, storage.PageRequest{Limit: 1 << 30})
	if err != nil || len(page.Items) != storage.MaxPageSize || page.NextCursor == "" {
		t.Fatalf("page of %d (cursor %q, %v), want %d and a cursor", len(page.Items), page.NextCursor, err, storage.MaxPageSize)
	}
	page, err = db.ListAttempts(ctx, domain.AttemptFilter{}, storage.PageRequest{Cursor: page.NextCursor, Limit: 100})
	if err != nil || len(page.Items) != 5 || page.NextCursor != "" {
		t.Fatalf("last page of %d (cursor %q, %v), want 5", len(page.Items), page.NextCursor, err)
	}
}

func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := mustJSON(t, got), mustJSON(t, want)
	if g != w {
		t.Fatalf("%s differs\n got: %s\nwant: %s", what, g, w)
	}
}
