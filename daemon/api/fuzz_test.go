package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/daemon/api"
	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apikey"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/storage/sqlite"
	"github.com/hookd/hookd/storage/storagetest"
)

// The fuzz targets drive request decoding and validation: whatever the
// body or query, the answer is a 2xx or a 4xx JSON error, never a 5xx or
// a panic, and what is accepted is valid. The stores are SQLite (the same
// contracts as PostgreSQL and Cassandra, in-process so that a fuzzer can
// run thousands of requests a second); published events go to a recorder.

type recorder struct {
	mu   sync.Mutex
	msgs []*sarama.ProducerMessage
}

func (r *recorder) Produce(_ context.Context, msgs []*sarama.ProducerMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msgs...)
	return nil
}

type fuzzServer struct {
	h   http.Handler
	key string
	pub *recorder
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "hookd.db"), storagetest.NewBox(tb), sqlite.Options{PurgeInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	key, hash, _ := apikey.Generate()
	if err := db.CreateAPIKey(context.Background(), domain.APIKey{ID: ids.New(ids.APIKey), Name: "fuzz", Hash: hash, Scopes: []string{domain.ScopeAdmin}, CreatedAt: time.Now().UTC()}); err != nil {
		tb.Fatal(err)
	}
	pub := &recorder{}
	s, err := api.New(api.Deps{Config: db, Log: db, Publisher: pub}, api.Options{
		EventsTopic: "events", MaxBodyBytes: 64 << 10, MaxEventBytes: 32 << 10, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &fuzzServer{h: s.Handler(), key: key, pub: pub}
}

func (s *fuzzServer) serve(t *testing.T, method, target, body string, hdr ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(context.Background(), method, "/", rd)
	u, err := req.URL.Parse(target)
	if err != nil {
		return 0, nil
	}
	req.URL = u
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, req)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		t.Fatalf("%s %s %q: %d %s", method, target, body, res.StatusCode, b)
	}
	if res.StatusCode >= 400 {
		var eb wire.ErrorBody
		if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Fatalf("%s %s: %d without an error body: %s", method, target, res.StatusCode, b)
		}
	}
	return res.StatusCode, b
}

func FuzzCreateEndpoint(f *testing.F) {
	for _, seed := range []string{
		`{"url":"https://example.com/hook"}`,
		`{"url":"https://example.com/hook","event_types":["order.*","*"],"headers":{"X-Team":"a"},"signing_scheme":"stripe","retry_policy":{"schedule":["5s","1m"]},"rate_limit":5,"max_concurrency":3,"timeout":"10s","success_status_codes":[200,202],"labels":{"team":"billing"},"enabled":false}`,
		`{"url":"https://example.com","retry_policy":{"exponential":{"min":"1s","max":"1h","attempts":5}}}`,
		`{"url":"http://[::1]:80/x","tenant_id":"acme","secret":"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"}`,
		`{"url":"https://example.com","timeout":30}`,
		`{"url":null}`, `{}`, `[]`, `"x"`, `{"url":"https://example.com","headers":{"Host":"evil"}}`,
	} {
		f.Add(seed)
	}
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body string) {
		status, b := s.serve(t, "POST", "/v1/endpoints", body)
		if status != http.StatusCreated {
			return
		}
		var created wire.EndpointCreated
		if err := json.Unmarshal(b, &created); err != nil {
			t.Fatalf("created: %v", err)
		}
		if status, b := s.serve(t, "GET", "/v1/endpoints/"+created.Endpoint.ID, ""); status != 200 {
			t.Fatalf("created endpoint not readable: %d %s", status, b)
		}
		// An accepted endpoint passes validation as stored.
		e := domain.Endpoint{
			URL: created.Endpoint.URL, TenantID: created.Endpoint.TenantID, EventTypes: created.Endpoint.EventTypes,
			Headers: created.Endpoint.Headers, SigningScheme: created.Endpoint.SigningScheme, RetryPolicy: created.Endpoint.RetryPolicy.Domain(),
			RateLimit: created.Endpoint.RateLimit, MaxConcurrency: created.Endpoint.MaxConcurrency, Timeout: time.Duration(created.Endpoint.Timeout),
			SuccessStatusCodes: created.Endpoint.SuccessStatusCodes, Labels: created.Endpoint.Labels, Description: created.Endpoint.Description,
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("accepted an invalid endpoint: %v", err)
		}
	})
}

func FuzzPublishEvent(f *testing.F) {
	for _, seed := range []struct{ body, key string }{
		{`{"type":"order.created","data":{"id":1}}`, ""},
		{`{"id":"e1","type":"Order.Paid","tenant_id":"acme","source":"/shop","time":"2026-01-02T03:04:05Z","data":[1,2,3]}`, "k1"},
		{`{"type":"a","data":"\u2028"}`, "k\u00e9y"},
		{`{"type":"a.b","data":{"deep":[[[[[[]]]]]]}}`, ""},
		{`{"type":"a.b","data":1e999}`, ""},
		{`{"type":"a.b","data":{},"time":"0001-01-01T00:00:00Z"}`, ""},
	} {
		f.Add(seed.body, seed.key)
	}
	s := newFuzzServer(f)
	dec, _ := events.NewDecoder(events.Config{MaxMessageBytes: 32 << 10})
	f.Fuzz(func(t *testing.T, body, key string) {
		s.pub.mu.Lock()
		before := len(s.pub.msgs)
		s.pub.mu.Unlock()
		var hdr []string
		if key != "" && !strings.ContainsAny(key, "\r\n\x00") && len(key) < 4096 {
			hdr = []string{"Idempotency-Key", key}
		}
		status, b := s.serve(t, "POST", "/v1/events", body, hdr...)
		s.pub.mu.Lock()
		defer s.pub.mu.Unlock()
		published := s.pub.msgs[before:]
		if status != http.StatusAccepted {
			if len(published) != 0 {
				t.Fatalf("refused (%d) but published", status)
			}
			return
		}
		var res wire.PublishEventResponse
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if res.Duplicate {
			if len(published) != 0 {
				t.Fatal("a duplicate was published")
			}
			return
		}
		if len(published) != 1 {
			t.Fatalf("%d messages published for one event", len(published))
		}
		value, _ := published[0].Value.Encode()
		ev, err := dec.Decode(events.Message{Topic: "events", Value: value})
		if err != nil {
			t.Fatalf("published an event the dispatcher refuses: %v", err)
		}
		if ev.ID != res.ID {
			t.Fatalf("published id %q, answered %q", ev.ID, res.ID)
		}
	})
}

func FuzzListQuery(f *testing.F) {
	for _, seed := range []string{
		"endpoint=ep_1&event_type=order.created&outcome=failed&since=1h&limit=10",
		"since=2026-01-02T03:04:05Z&until=2026-01-03T00:00:00Z",
		"cursor=eyJ4IjoxfQ", "limit=-1", "reason=exhausted&tenant=acme", "since=9999999h", "%zz",
	} {
		f.Add(seed)
	}
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, query string) {
		for _, path := range []string{"/v1/attempts", "/v1/deliveries", "/v1/dlq", "/v1/endpoints", "/v1/replays", "/v1/keys"} {
			s.serve(t, "GET", path+"?"+query, "")
		}
	})
}

func FuzzUpdateEndpoint(f *testing.F) {
	f.Add(`{"description":"x"}`)
	f.Add(`{"url":"https://example.org","version":1}`)
	f.Add(`{"enabled":true,"labels":{}}`)
	f.Add(`{"retry_policy":{"schedule":[],"exponential":null}}`)
	s := newFuzzServer(f)
	_, b := s.serve(&testing.T{}, "POST", "/v1/endpoints", `{"url":"https://example.com/hook"}`)
	var created wire.EndpointCreated
	if err := json.Unmarshal(b, &created); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		status, b := s.serve(t, "PATCH", "/v1/endpoints/"+created.Endpoint.ID, body)
		if status != 200 {
			return
		}
		var e wire.Endpoint
		if err := json.Unmarshal(b, &e); err != nil || e.ID != created.Endpoint.ID {
			t.Fatalf("update answer: %s", b)
		}
	})
}
