package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/daemon/api"
	"github.com/hookd/hookd/daemon/replay"
	"github.com/hookd/hookd/daemon/stream"
	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apikey"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/metrics"
	"github.com/hookd/hookd/internal/retry"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage"
	"github.com/hookd/hookd/storage/cassandra"
	"github.com/hookd/hookd/storage/postgres"
	"github.com/hookd/hookd/storage/storagetest"
)

// fixture is an API server on the real services: PostgreSQL (a database
// of its own), Cassandra (a keyspace of its own), Kafka (topics of its own).
type fixture struct {
	t           *testing.T
	ctx         context.Context
	srv         *httptest.Server
	pg          *postgres.Store
	cs          *cassandra.Store
	kafka       kafka.Config
	eventsTopic string
	attempts    string
	retryPrefix string
	tiers       retry.Tiers
	producer    *kafka.Producer
	adminKey    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	k := testenv.KafkaEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	dsn := testenv.PostgresDSN(t)
	if _, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	pg, err := postgres.Open(ctx, dsn, storagetest.NewBox(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	keyspace, session := testenv.CassandraKeyspace(t)
	if _, err := cassandra.Migrate(ctx, session, cassandra.MigrateOptions{Keyspace: keyspace}); err != nil {
		t.Fatal(err)
	}
	cs, err := cassandra.NewStoreFromSession(session, keyspace, storage.DefaultRetention, cassandra.Options{Consistency: "ONE"})
	if err != nil {
		t.Fatal(err)
	}
	tiers, _ := retry.NewTiers(time.Second, time.Minute)
	prefix := testenv.UniqueName(t, "t.", 80)
	topics := k.Topics(t, 2, 2)
	f := &fixture{
		t: t, ctx: ctx, pg: pg, cs: cs, kafka: k.Config(kafka.MechanismSCRAMSHA512), eventsTopic: topics[0], attempts: topics[1],
		retryPrefix: prefix + ".retry.", tiers: tiers,
	}
	if _, err := kafka.EnsureTopics(ctx, f.kafka, []kafka.TopicSpec{
		{Name: retry.Topic(f.retryPrefix, time.Second), Partitions: 1},
		{Name: retry.Topic(f.retryPrefix, time.Minute), Partitions: 1},
	}); err != nil {
		t.Fatal(err)
	}
	f.producer, err = kafka.NewProducer(ctx, f.kafka, kafka.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.producer.Close() })

	runner := replay.New(pg, cs, f.producer, replay.Options{RetryPrefix: f.retryPrefix, Tiers: tiers, Heartbeat: 100 * time.Millisecond})
	rctx, stopRunner := context.WithCancel(ctx)
	runnerDone := make(chan struct{})
	go func() { _ = runner.Run(rctx); close(runnerDone) }()
	t.Cleanup(func() { stopRunner(); <-runnerDone })

	hub := stream.NewHub(stream.Options{Heartbeat: 200 * time.Millisecond})
	sc, err := f.kafka.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := sarama.NewConsumer(f.kafka.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	fctx, stopFeed := context.WithCancel(ctx)
	feedDone := make(chan struct{})
	go func() { _ = stream.Feed(fctx, consumer, f.attempts, hub, nil); close(feedDone) }()
	t.Cleanup(func() { stopFeed(); <-feedDone; _ = consumer.Close() })

	s, err := api.New(api.Deps{
		Config: pg, Log: cs, Publisher: f.producer, Replays: runner, Stream: hubAdapter{hub},
		CircuitState: func(string) string { return "closed" }, Metrics: metrics.New(),
	}, api.Options{EventsTopic: f.eventsTopic, MaxEventBytes: 64 << 10, KeyCacheTTL: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	f.adminKey = f.key(domain.ScopeAdmin)
	return f
}

type hubAdapter struct{ hub *stream.Hub }

func (a hubAdapter) Serve(w http.ResponseWriter, r *http.Request, f api.StreamFilter) {
	a.hub.Serve(w, r, stream.Filter{EndpointIDs: f.EndpointIDs, EventType: f.EventType, Outcome: f.Outcome, TenantID: f.TenantID})
}

// key makes an API key with the scopes straight in the store.
func (f *fixture) key(scopes ...string) string {
	f.t.Helper()
	key, hash, err := apikey.Generate()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.pg.CreateAPIKey(f.ctx, domain.APIKey{ID: ids.New(ids.APIKey), Name: "test", Hash: hash, Scopes: scopes, CreatedAt: time.Now().UTC()}); err != nil {
		f.t.Fatal(err)
	}
	return key
}

func (f *fixture) client(key string) *wire.Client { return wire.NewClient(f.srv.URL, key) }

// do sends a raw request and returns the status and body.
func (f *fixture) do(method, path, key string, body string, hdr ...string) (int, []byte, http.Header) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(f.ctx, method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// wantError checks an error answer: status, code, and the named fields.
func wantError(t *testing.T, what string, status int, body []byte, wantStatus int, wantCode string, fields ...string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: status %d, want %d (%s)", what, status, wantStatus, body)
		return
	}
	var eb wire.ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Errorf("%s: body is not an error body: %s", what, body)
		return
	}
	if eb.Error.Code != wantCode || eb.Error.Message == "" || eb.Error.RequestID == "" {
		t.Errorf("%s: error %+v, want code %s with a message and request id", what, eb.Error, wantCode)
	}
	for _, fld := range fields {
		if _, ok := eb.Error.Fields[fld]; !ok {
			t.Errorf("%s: fields %v lack %q", what, eb.Error.Fields, fld)
		}
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	readOnly := f.key(domain.ScopeEndpointsRead)
	revoked := f.key(domain.ScopeAdmin)

	status, body, hdr := f.do("GET", "/v1/endpoints", "", "")
	wantError(t, "no key", status, body, 401, api.CodeUnauthorized)
	if hdr.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	status, body, _ = f.do("GET", "/v1/endpoints", "", "", "Authorization", "Basic dXNlcjpwYXNz")
	wantError(t, "basic auth", status, body, 401, api.CodeUnauthorized)
	status, body, _ = f.do("GET", "/v1/endpoints", "hk_not-a-key", "")
	wantError(t, "malformed key", status, body, 401, api.CodeUnauthorized)
	other, _, _ := apikey.Generate()
	status, body, _ = f.do("GET", "/v1/endpoints", other, "")
	wantError(t, "unknown key", status, body, 401, api.CodeUnauthorized)

	if status, body, _ := f.do("GET", "/v1/endpoints", readOnly, ""); status != 200 {
		t.Fatalf("read-only key listing endpoints: %d %s", status, body)
	}
	status, body, _ = f.do("POST", "/v1/endpoints", readOnly, `{"url":"https://example.com/hook"}`)
	wantError(t, "wrong scope", status, body, 403, api.CodeForbidden)
	status, body, _ = f.do("POST", "/v1/events", readOnly, `{"type":"a.b","data":{}}`)
	wantError(t, "wrong scope publish", status, body, 403, api.CodeForbidden)
	status, body, _ = f.do("GET", "/v1/keys", readOnly, "")
	wantError(t, "keys need admin", status, body, 403, api.CodeForbidden)

	// Revoke through the API: the key stops working at once.
	if status, _, _ := f.do("GET", "/v1/keys", revoked, ""); status != 200 {
		t.Fatalf("admin key: %d", status)
	}
	stored, err := f.pg.APIKeyByHash(f.ctx, apikey.Hash(revoked))
	if err != nil {
		t.Fatal(err)
	}
	revokedID := stored.ID
	if err := f.client(f.adminKey).RevokeKey(f.ctx, revokedID); err != nil {
		t.Fatal(err)
	}
	status, body, _ = f.do("GET", "/v1/keys", revoked, "")
	wantError(t, "revoked key", status, body, 401, api.CodeUnauthorized)
	if !strings.Contains(string(body), "revoked") {
		t.Errorf("revoked key answer does not say so: %s", body)
	}

	// Public routes need no key.
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		if status, body, _ := f.do("GET", p, "", ""); status != 200 {
			t.Errorf("GET %s: %d %s", p, status, body)
		}
	}
	status, body, _ = f.do("GET", "/v1/nothing", f.adminKey, "")
	wantError(t, "unknown route", status, body, 404, api.CodeNotFound)
	status, body, _ = f.do("PUT", "/v1/endpoints", f.adminKey, "{}")
	wantError(t, "wrong method", status, body, 405, api.CodeMethodNotAllowed)
}

func TestEndpointsCRUD(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.key(domain.ScopeEndpointsRead, domain.ScopeEndpointsWrite))
	url := "https://example.com/hooks/orders"
	types := []string{"Order.Created", "invoice.*"}
	labels := map[string]string{"team": "billing"}
	created, err := c.CreateEndpoint(f.ctx, wire.EndpointInput{URL: &url, EventTypes: &types, Labels: &labels})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Secret, "whsec_") || created.Endpoint.ID == "" || !created.Endpoint.Enabled || created.Endpoint.Version != 1 {
		t.Fatalf("created: %+v", created)
	}
	if got := created.Endpoint.EventTypes; len(got) != 2 || got[0] != "order.created" {
		t.Errorf("event types not normalised: %v", got)
	}
	id := created.Endpoint.ID

	// Secrets never appear in a GET.
	status, body, _ := f.do("GET", "/v1/endpoints/"+id, f.adminKey, "")
	if status != 200 || strings.Contains(string(body), created.Secret) || strings.Contains(string(body), "whsec_") {
		t.Fatalf("GET endpoint: %d %s", status, body)
	}

	// Validation names every bad field, and writes nothing.
	status, body, _ = f.do("POST", "/v1/endpoints", f.adminKey, `{"url":"ftp://x","event_types":["NOT VALID"],"signing_scheme":"md5","timeout":"1ms"}`)
	wantError(t, "invalid endpoint", status, body, 400, api.CodeInvalidRequest, "url", "event_types", "signing_scheme", "timeout")
	status, body, _ = f.do("POST", "/v1/endpoints", f.adminKey, `{"url":"https://example.com","color":"red"}`)
	wantError(t, "unknown field", status, body, 400, api.CodeInvalidRequest, "color")
	status, body, _ = f.do("POST", "/v1/endpoints", f.adminKey, `{"url":`)
	wantError(t, "truncated JSON", status, body, 400, api.CodeInvalidRequest)
	status, body, _ = f.do("POST", "/v1/endpoints", f.adminKey, `{"url":"https://example.com","timeout":"soon"}`)
	wantError(t, "bad duration", status, body, 400, api.CodeInvalidRequest)
	status, body, _ = f.do("POST", "/v1/endpoints", f.adminKey, `{"url":"https://example.com","max_concurrency":"many"}`)
	wantError(t, "wrong type", status, body, 400, api.CodeInvalidRequest, "max_concurrency")
	status, body, _ = f.do("POST", "/v1/endpoints", f.adminKey, `{"url":"https://example.com"}`, "Content-Type", "text/plain")
	wantError(t, "content type", status, body, 415, api.CodeUnsupportedMediaType)
	status, body, _ = f.do("POST", "/v1/endpoints", f.adminKey, `{"url":"https://example.com","description":"`+strings.Repeat("x", 2<<20)+`"}`)
	wantError(t, "oversized body", status, body, 413, api.CodePayloadTooLarge)
	all, err := c.ListEndpoints(f.ctx, wire.EndpointListQuery{})
	if err != nil || len(all.Items) != 1 {
		t.Fatalf("after invalid creates: %d endpoints, %v", len(all.Items), err)
	}

	// Lists filter by label.
	other := "https://example.com/other"
	if _, err := c.CreateEndpoint(f.ctx, wire.EndpointInput{URL: &other}); err != nil {
		t.Fatal(err)
	}
	billing, err := c.ListEndpoints(f.ctx, wire.EndpointListQuery{Labels: []string{"team:billing"}})
	if err != nil || len(billing.Items) != 1 || billing.Items[0].ID != id {
		t.Fatalf("label filter: %+v %v", billing, err)
	}
	status, body, _ = f.do("GET", "/v1/endpoints?label=nocolon", f.adminKey, "")
	wantError(t, "bad label", status, body, 400, api.CodeInvalidRequest, "label")
	status, body, _ = f.do("GET", "/v1/endpoints?limit=0", f.adminKey, "")
	wantError(t, "bad limit", status, body, 400, api.CodeInvalidRequest, "limit")
	status, body, _ = f.do("GET", "/v1/endpoints?cursor=garbage", f.adminKey, "")
	wantError(t, "bad cursor", status, body, 400, api.CodeInvalidRequest, "cursor")
	page1, err := c.ListEndpoints(f.ctx, wire.EndpointListQuery{Limit: 1})
	if err != nil || len(page1.Items) != 1 || page1.NextCursor == "" {
		t.Fatalf("page 1: %+v %v", page1, err)
	}
	page2, err := c.ListEndpoints(f.ctx, wire.EndpointListQuery{Limit: 1, Cursor: page1.NextCursor})
	if err != nil || len(page2.Items) != 1 || page2.Items[0].ID == page1.Items[0].ID {
		t.Fatalf("page 2: %+v %v", page2, err)
	}

	// Updates: partial, versioned.
	desc := "orders to the ERP"
	updated, err := c.UpdateEndpoint(f.ctx, id, wire.EndpointInput{Description: &desc})
	if err != nil || updated.Description != desc || updated.Version != 2 || updated.URL != url {
		t.Fatalf("update: %+v %v", updated, err)
	}
	_, err = c.UpdateEndpoint(f.ctx, id, wire.EndpointInput{Description: &desc, Version: 1})
	if e, ok := errors.AsType[*wire.Error](err); !ok || e.Status != 409 {
		t.Fatalf("stale version: %v", err)
	}
	bad := "not a url"
	_, err = c.UpdateEndpoint(f.ctx, id, wire.EndpointInput{URL: &bad})
	if e, ok := errors.AsType[*wire.Error](err); !ok || e.Status != 400 || e.Fields["url"] == "" {
		t.Fatalf("invalid update: %v", err)
	}

	// Enable and disable.
	dis, err := c.DisableEndpoint(f.ctx, id, "maintenance")
	if err != nil || dis.Enabled || dis.DisabledReason != "maintenance" {
		t.Fatalf("disable: %+v %v", dis, err)
	}
	en, err := c.EnableEndpoint(f.ctx, id)
	if err != nil || !en.Enabled || en.DisabledReason != "" {
		t.Fatalf("enable: %+v %v", en, err)
	}

	// Rotation: the new secret signs, the old one until the overlap ends.
	rot, err := c.RotateSecret(f.ctx, id, wire.RotateSecretRequest{})
	if err != nil || rot.Secret == created.Secret || !strings.HasPrefix(rot.Secret, "whsec_") {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	if d := time.Until(rot.OldExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("old secret expires in %v, want about 24h", d)
	}
	active, err := f.pg.ActiveSecrets(f.ctx, id, time.Now())
	if err != nil || len(active) != 2 || active[0].Value != rot.Secret || active[1].Value != created.Secret {
		t.Fatalf("active secrets after rotation: %d %v", len(active), err)
	}
	status, body, _ = f.do("POST", "/v1/endpoints/"+id+"/rotate-secret", f.adminKey, `{"secret":"nope"}`)
	wantError(t, "bad secret", status, body, 400, api.CodeInvalidRequest, "secret")

	// Stats of an endpoint with no attempts yet.
	st, err := c.EndpointStats(f.ctx, id, time.Hour)
	if err != nil || st.Sampled != 0 || st.CircuitState != "closed" {
		t.Fatalf("stats: %+v %v", st, err)
	}

	// Delete.
	if err := c.DeleteEndpoint(f.ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetEndpoint(f.ctx, id)
	if e, ok := errors.AsType[*wire.Error](err); !ok || e.Status != 404 || e.Code != api.CodeNotFound {
		t.Fatalf("get deleted: %v", err)
	}
	if err := c.DeleteEndpoint(f.ctx, id); err == nil {
		t.Fatal("deleting twice succeeded")
	}
}

// consumeAll reads every message of topic (from the start) until n have
// arrived or a quiet second passes after the deadline.
func (f *fixture) consumeAll(topic string, n int, wait time.Duration) []*sarama.ConsumerMessage {
	f.t.Helper()
	sc, err := f.kafka.Sarama()
	if err != nil {
		f.t.Fatal(err)
	}
	consumer, err := sarama.NewConsumer(f.kafka.Brokers, sc)
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = consumer.Close() }()
	parts, err := consumer.Partitions(topic)
	if err != nil {
		f.t.Fatal(err)
	}
	out := make(chan *sarama.ConsumerMessage, 1024)
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			f.t.Fatal(err)
		}
		defer func() { _ = pc.Close() }()
		go func() {
			for m := range pc.Messages() {
				out <- m
			}
		}()
	}
	var msgs []*sarama.ConsumerMessage
	deadline := time.After(wait)
	for {
		select {
		case m := <-out:
			msgs = append(msgs, m)
		case <-deadline:
			return msgs
		}
		if len(msgs) >= n && n > 0 {
			// Linger briefly: a duplicate would show up now.
			select {
			case m := <-out:
				msgs = append(msgs, m)
			case <-time.After(time.Second):
				return msgs
			}
		}
	}
}

func TestPublishEvents(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.key(domain.ScopeEventsPublish))
	res, err := c.PublishEvent(f.ctx, wire.PublishEventRequest{Type: "Order.Created", TenantID: "acme", Data: json.RawMessage(`{"n":1}`)}, "req-1")
	if err != nil || res.ID == "" || res.Duplicate {
		t.Fatalf("publish: %+v %v", res, err)
	}
	// The same Idempotency-Key: the first id, nothing published again,
	// whatever the body says.
	again, err := c.PublishEvent(f.ctx, wire.PublishEventRequest{Type: "order.created", Data: json.RawMessage(`{"n":2}`)}, "req-1")
	if err != nil || again.ID != res.ID || !again.Duplicate {
		t.Fatalf("repeat: %+v %v", again, err)
	}
	// The same event id, no key.
	withID, err := c.PublishEvent(f.ctx, wire.PublishEventRequest{ID: "evt-fixed", Type: "order.paid", Data: json.RawMessage(`"x"`)}, "")
	if err != nil || withID.ID != "evt-fixed" || withID.Duplicate {
		t.Fatalf("publish with id: %+v %v", withID, err)
	}
	dup, err := c.PublishEvent(f.ctx, wire.PublishEventRequest{ID: "evt-fixed", Type: "order.paid", Data: json.RawMessage(`"x"`)}, "")
	if err != nil || !dup.Duplicate {
		t.Fatalf("repeat id: %+v %v", dup, err)
	}

	// Invalid events: 400 naming the fields, nothing published.
	for _, tc := range []struct {
		body   string
		fields []string
	}{
		{`{"data":{}}`, []string{"type"}},
		{`{"type":"no spaces allowed","data":{}}`, []string{"type"}},
		{`{"type":"a.b"}`, []string{"data"}},
		{`{"type":"a.b","data":null}`, []string{"data"}},
		{`{"type":"a.b","data":{},"tenant_id":"bad tenant"}`, []string{"tenant_id"}},
		{`{"type":"a.b","data":{},"id":"` + strings.Repeat("i", 300) + `"}`, []string{"id"}},
		{`{"type":"a.b","data":{},"extra":1}`, []string{"extra"}},
		{`{"type":"a.b","data":{},"time":"yesterday"}`, nil},
		{`[1,2]`, nil},
		{`{"type":"a.b","data":{}} {"type":"a.b","data":{}}`, nil},
		{`{"type":"a.b","data":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, nil},
	} {
		status, body, _ := f.do("POST", "/v1/events", f.adminKey, tc.body)
		wantError(t, tc.body[:min(len(tc.body), 60)], status, body, 400, api.CodeInvalidRequest, tc.fields...)
	}
	status, body, _ := f.do("POST", "/v1/events", f.adminKey, `{"type":"a.b","data":"`+strings.Repeat("x", 70<<10)+`"}`)
	wantError(t, "oversized event", status, body, 413, api.CodePayloadTooLarge)
	status, body, _ = f.do("POST", "/v1/events", f.adminKey, `{"type":"a.b","data":{}}`, "Idempotency-Key", strings.Repeat("k", 300))
	wantError(t, "long idempotency key", status, body, 400, api.CodeInvalidRequest, "Idempotency-Key")

	msgs := f.consumeAll(f.eventsTopic, 2, 20*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("%d messages on the events topic, want 2", len(msgs))
	}
	dec, _ := events.NewDecoder(events.Config{})
	seen := map[string]domain.Event{}
	for _, m := range msgs {
		ev, err := dec.Decode(events.Message{Topic: m.Topic, Value: m.Value})
		if err != nil {
			t.Fatalf("published event does not decode: %v", err)
		}
		seen[ev.ID] = ev
	}
	first := seen[res.ID]
	if first.Type != "order.created" || first.TenantID != "acme" || string(first.Data) != `{"n":1}` {
		t.Errorf("first event: %+v", first)
	}
	if _, ok := seen["evt-fixed"]; !ok {
		t.Error("evt-fixed not published")
	}
}

// logAttempts stores attempts of two deliveries of one event, and one of
// another event.
func (f *fixture) logAttempts(eventID, ep1, ep2 string) []domain.Attempt {
	now := time.Now().UTC().Truncate(time.Millisecond)
	mk := func(ep, ev string, gen, n int, at time.Time, out domain.Outcome, status int) domain.Attempt {
		del := domain.DeliveryID(ev, ep)
		a := domain.Attempt{
			ID: domain.AttemptID(del, gen, n), DeliveryID: del, EventID: ev, EventType: "order.created", EndpointID: ep,
			Generation: gen, AttemptNumber: n, StartedAt: at, Duration: 12 * time.Millisecond, StatusCode: status, Outcome: out,
			ResponseBody: []byte("ok"),
		}
		if out != domain.OutcomeDelivered {
			next := at.Add(time.Minute)
			a.NextRetryAt = &next
			a.Error = "HTTP 500"
		}
		return a
	}
	atts := []domain.Attempt{
		mk(ep1, eventID, 0, 1, now.Add(-3*time.Second), domain.OutcomeFailed, 500),
		mk(ep1, eventID, 0, 2, now.Add(-2*time.Second), domain.OutcomeDelivered, 200),
		mk(ep2, eventID, 0, 1, now.Add(-time.Second), domain.OutcomeFailed, 503),
		mk(ep2, "evt-other", 0, 1, now.Add(-500*time.Millisecond), domain.OutcomeDelivered, 204),
	}
	if err := f.cs.WriteAttempts(f.ctx, atts); err != nil {
		f.t.Fatal(err)
	}
	return atts
}

func TestQueries(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.key(domain.ScopeDeliveriesRead, domain.ScopeEndpointsRead))
	f.logAttempts("evt-q", "ep_one", "ep_two")

	all, err := c.ListAttempts(f.ctx, wire.ListQuery{Since: time.Now().Add(-time.Hour)})
	if err != nil || len(all.Items) != 4 {
		t.Fatalf("all attempts: %d %v", len(all.Items), err)
	}
	if !all.Items[0].StartedAt.After(all.Items[3].StartedAt) {
		t.Error("attempts not newest first")
	}
	one, err := c.ListAttempts(f.ctx, wire.ListQuery{EndpointID: "ep_one", Outcome: "delivered", Since: time.Now().Add(-time.Hour)})
	if err != nil || len(one.Items) != 1 || one.Items[0].Attempt != 2 || one.Items[0].ResponseBody != "ok" {
		t.Fatalf("filtered attempts: %+v %v", one.Items, err)
	}
	dels, err := c.ListDeliveries(f.ctx, wire.ListQuery{Since: time.Now().Add(-time.Hour)})
	if err != nil || len(dels.Items) != 3 {
		t.Fatalf("deliveries: %+v %v", dels.Items, err)
	}
	d, err := c.GetDelivery(f.ctx, domain.DeliveryID("evt-q", "ep_one"))
	if err != nil || len(d.Attempts) != 2 || d.State != wire.DeliveryDelivered || d.Attempts[0].Attempt != 1 {
		t.Fatalf("delivery: %+v %v", d, err)
	}
	ev, err := c.GetEvent(f.ctx, "evt-q")
	if err != nil || len(ev.Deliveries) != 2 {
		t.Fatalf("event: %+v %v", ev, err)
	}
	states := map[string]string{}
	for _, d := range ev.Deliveries {
		states[d.EndpointID] = d.State
	}
	if states["ep_one"] != wire.DeliveryDelivered || states["ep_two"] != wire.DeliveryRetrying {
		t.Errorf("event delivery states: %v", states)
	}
	if _, err := c.GetEvent(f.ctx, "evt-unknown"); err == nil {
		t.Error("unknown event found")
	}
	if _, err := c.GetDelivery(f.ctx, "msg_unknown"); err == nil {
		t.Error("unknown delivery found")
	}

	for _, q := range []struct {
		path   string
		fields []string
	}{
		{"/v1/attempts?outcome=great", []string{"outcome"}},
		{"/v1/attempts?since=last+tuesday", []string{"since"}},
		{"/v1/attempts?since=1h&until=2h", []string{"until"}},
		{"/v1/attempts?limit=100000", []string{"limit"}},
		{"/v1/attempts?endpont=x", []string{"endpont"}},
		{"/v1/attempts?event_type=Not%20Valid", []string{"event_type"}},
		{"/v1/attempts?endpoint=a&endpoint=b", []string{"endpoint"}},
		{"/v1/dlq?reason=bored", []string{"reason"}},
		{"/v1/attempts?tenant=" + strings.Repeat("t", 600), []string{"tenant"}},
	} {
		status, body, _ := f.do("GET", q.path, f.adminKey, "")
		wantError(t, q.path, status, body, 400, api.CodeInvalidRequest, q.fields...)
	}

	// Stats from the log.
	st, err := c.EndpointStats(f.ctx, "ep_one", time.Hour)
	var apiErr *wire.Error
	if err == nil || !asAPIError(err, &apiErr) || apiErr.Status != 404 {
		t.Fatalf("stats of an endpoint not in the store: %+v %v", st, err)
	}
}

func asAPIError(err error, target **wire.Error) bool {
	return errors.As(err, target)
}

// deadLetters stores n dead letters of endpoint ep (with real payloads).
func (f *fixture) deadLetters(ep string, n int, reason string) []domain.DeadLetter {
	f.t.Helper()
	var dls []domain.DeadLetter
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		ev := domain.Event{ID: fmt.Sprintf("evt-%s-%d", ep, i), Type: "order.created", Time: now, Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
		body, err := events.Payload(ev)
		if err != nil {
			f.t.Fatal(err)
		}
		dls = append(dls, domain.DeadLetter{
			DeliveryID: domain.DeliveryID(ev.ID, ep), EventID: ev.ID, EventType: ev.Type, EndpointID: ep, Reason: reason,
			LastError: "HTTP 500", LastStatusCode: 500, Attempts: 8, DeadAt: now.Add(-time.Duration(i) * time.Millisecond), Payload: body,
		})
	}
	if err := f.cs.PutDeadLetters(f.ctx, dls); err != nil {
		f.t.Fatal(err)
	}
	return dls
}

func TestDeadLetterQueue(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.key(domain.ScopeDeliveriesRead, domain.ScopeDLQReplay))
	dls := f.deadLetters("ep_a", 3, domain.ReasonExhausted)
	f.deadLetters("ep_b", 2, domain.ReasonEndpointDisabled)
	since := time.Now().Add(-time.Hour)

	list, err := c.ListDeadLetters(f.ctx, wire.ListQuery{Since: since})
	if err != nil || len(list.Items) != 5 || len(list.Items[0].Payload) != 0 {
		t.Fatalf("list: %d items %v", len(list.Items), err)
	}
	onlyA, err := c.ListDeadLetters(f.ctx, wire.ListQuery{EndpointID: "ep_a", Since: since})
	if err != nil || len(onlyA.Items) != 3 {
		t.Fatalf("list ep_a: %d %v", len(onlyA.Items), err)
	}
	got, err := c.GetDeadLetter(f.ctx, "ep_a", dls[0].DeliveryID)
	if err != nil || !json.Valid(got.Payload) || got.Attempts != 8 {
		t.Fatalf("get: %+v %v", got, err)
	}

	// Replay one: a retry of the same delivery, next generation, in the
	// shortest tier.
	one, err := c.ReplayDeadLetter(f.ctx, "ep_a", dls[0].DeliveryID)
	if err != nil || one.Generation != 1 {
		t.Fatalf("replay one: %+v %v", one, err)
	}
	msgs := f.consumeAll(retry.Topic(f.retryPrefix, time.Second), 1, 20*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d replay messages, want 1", len(msgs))
	}
	rec, err := kafka.DecodeRetryRecord(msgs[0].Value)
	if err != nil || rec.DeliveryID != dls[0].DeliveryID || rec.Generation != 1 || rec.Attempt != 1 || rec.EndpointID != "ep_a" {
		t.Fatalf("replay record: %+v %v", rec, err)
	}

	// Bulk: a dry run counts (and sees the guard), a job replays, the
	// same idempotency key gives the same job, a re-run skips.
	dry, err := c.DryRunReplay(f.ctx, wire.ReplayRequest{Filter: wire.DeadLetterFilter{EndpointID: "ep_a"}})
	if err != nil || dry.Matched != 3 || dry.Skipped != 1 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	job, err := c.StartReplay(f.ctx, wire.ReplayRequest{Filter: wire.DeadLetterFilter{EndpointID: "ep_a"}}, "bulk-1")
	if err != nil || job.ID == "" {
		t.Fatalf("start: %+v %v", job, err)
	}
	done := f.waitJob(c, job.ID)
	if done.State != domain.ReplayDone || done.Total != 3 || done.Replayed != 2 || done.Skipped != 1 || done.Failed != 0 {
		t.Fatalf("job: %+v", done)
	}
	same, err := c.StartReplay(f.ctx, wire.ReplayRequest{Filter: wire.DeadLetterFilter{EndpointID: "ep_a"}}, "bulk-1")
	if err != nil || same.ID != job.ID {
		t.Fatalf("same idempotency key: %+v %v", same, err)
	}
	rerun, err := c.StartReplay(f.ctx, wire.ReplayRequest{Filter: wire.DeadLetterFilter{EndpointID: "ep_a"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := f.waitJob(c, rerun.ID); r.Replayed != 0 || r.Skipped != 3 {
		t.Fatalf("re-run within the guard: %+v", r)
	}
	forced, err := c.StartReplay(f.ctx, wire.ReplayRequest{Filter: wire.DeadLetterFilter{EndpointID: "ep_a"}, Force: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := f.waitJob(c, forced.ID); r.Replayed != 3 {
		t.Fatalf("forced re-run: %+v", r)
	}
	if n := len(f.consumeAll(retry.Topic(f.retryPrefix, time.Second), 6, 20*time.Second)); n != 6 {
		t.Fatalf("%d replay messages in all, want 6 (1 + 2 + 3)", n)
	}
	_, err = c.CancelReplay(f.ctx, job.ID)
	var apiErr *wire.Error
	if !asAPIError(err, &apiErr) || apiErr.Status != 409 {
		t.Fatalf("cancel a finished job: %v", err)
	}
	if _, err := c.CancelReplay(f.ctx, "rpl_unknown"); !asAPIError(err, &apiErr) || apiErr.Status != 404 {
		t.Fatalf("cancel an unknown job: %v", err)
	}
	jobs, err := c.ListReplays(f.ctx, 0, "")
	if err != nil || len(jobs.Items) != 3 {
		t.Fatalf("jobs: %d %v", len(jobs.Items), err)
	}

	// Cancel a running job: it stops short of the end.
	f.deadLetters("ep_many", 3000, domain.ReasonExhausted)
	big, err := c.StartReplay(f.ctx, wire.ReplayRequest{Filter: wire.DeadLetterFilter{EndpointID: "ep_many"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	canceled, err := c.CancelReplay(f.ctx, big.ID)
	switch {
	case err == nil:
		if canceled.State != domain.ReplayCanceled || canceled.FinishedAt == nil {
			t.Fatalf("canceled job: %+v", canceled)
		}
		final := f.waitJob(c, big.ID)
		time.Sleep(500 * time.Millisecond) // a stopped runner must not write again
		again, _ := c.GetReplay(f.ctx, big.ID)
		if final.State != domain.ReplayCanceled || again.State != domain.ReplayCanceled || again.Replayed >= 3000 {
			t.Fatalf("after cancel: %+v then %+v", final, again)
		}
	case asAPIError(err, &apiErr) && apiErr.Status == 409:
		t.Logf("the job finished before the cancel: %v", err)
	default:
		t.Fatalf("cancel a running job: %v", err)
	}
	status, body, _ := f.do("POST", "/v1/dlq/replay", f.adminKey, `{"filter":{"reason":"bored"}}`)
	wantError(t, "bad filter", status, body, 400, api.CodeInvalidRequest, "filter.reason")

	// Discard: by filter (dry run first), and one.
	dd, err := c.DiscardDeadLetters(f.ctx, wire.DiscardRequest{Filter: wire.DeadLetterFilter{EndpointID: "ep_b"}, DryRun: true})
	if err != nil || dd.Matched != 2 || dd.Discarded != 0 {
		t.Fatalf("discard dry run: %+v %v", dd, err)
	}
	dd, err = c.DiscardDeadLetters(f.ctx, wire.DiscardRequest{Filter: wire.DeadLetterFilter{EndpointID: "ep_b"}})
	if err != nil || dd.Discarded != 2 {
		t.Fatalf("discard: %+v %v", dd, err)
	}
	if err := c.DiscardDeadLetter(f.ctx, "ep_a", dls[1].DeliveryID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetDeadLetter(f.ctx, "ep_a", dls[1].DeliveryID); !asAPIError(err, &apiErr) || apiErr.Status != 404 {
		t.Fatalf("discarded dead letter: %v", err)
	}
	left, err := c.ListDeadLetters(f.ctx, wire.ListQuery{EndpointID: "ep_a", Since: since})
	if err != nil || len(left.Items) != 2 {
		t.Fatalf("left after discards: %d %v", len(left.Items), err)
	}
}

func (f *fixture) waitJob(c *wire.Client, id string) wire.ReplayJob {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := c.GetReplay(f.ctx, id)
		if err != nil {
			f.t.Fatal(err)
		}
		if j.State == domain.ReplayDone || j.State == domain.ReplayFailed || j.State == domain.ReplayCanceled {
			return j
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("job %s still %s", id, j.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two clients follow the stream with different filters; each gets exactly
// what matches, live from the attempts topic.
func TestStream(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.key(domain.ScopeDeliveriesRead))
	type got struct {
		mu  sync.Mutex
		ids []string
	}
	// The followers must be gone before the test server closes (it waits
	// for every request to finish).
	sctx, stopFollowing := context.WithCancel(f.ctx)
	t.Cleanup(stopFollowing)
	follow := func(q wire.ListQuery, g *got, connected chan<- struct{}) {
		_ = c.Stream(sctx, q, "", func() { connected <- struct{}{} }, func(m wire.StreamMessage) error {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.ids = append(g.ids, m.Attempt.EndpointID+"/"+m.Attempt.Outcome)
			return nil
		})
	}
	var all, onlyB got
	connected := make(chan struct{}, 2)
	go follow(wire.ListQuery{}, &all, connected)
	go follow(wire.ListQuery{EndpointID: "ep_b", Outcome: "failed"}, &onlyB, connected)
	<-connected
	<-connected

	var msgs []*sarama.ProducerMessage
	for i, ep := range []string{"ep_a", "ep_b", "ep_b", "ep_a"} {
		out := domain.OutcomeDelivered
		if i%2 == 1 {
			out = domain.OutcomeFailed
		}
		del := domain.DeliveryID(fmt.Sprintf("evt-s%d", i), ep)
		a := domain.Attempt{
			ID: domain.AttemptID(del, 0, 1), DeliveryID: del, EventID: fmt.Sprintf("evt-s%d", i), EventType: "order.created",
			EndpointID: ep, AttemptNumber: 1, StartedAt: time.Now().UTC(), Outcome: out,
		}
		m, err := kafka.Message(f.attempts, kafka.AttemptRecord{Attempt: a})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	// The feed reads from the newest offsets it found at its start; give
	// it a moment to have them before producing.
	time.Sleep(time.Second)
	if err := f.producer.Produce(f.ctx, msgs); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		all.mu.Lock()
		na := len(all.ids)
		all.mu.Unlock()
		onlyB.mu.Lock()
		nb := len(onlyB.ids)
		onlyB.mu.Unlock()
		if na >= 4 && nb >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream: all got %d of 4, filtered got %d of 1", na, nb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	onlyB.mu.Lock()
	defer onlyB.mu.Unlock()
	if len(onlyB.ids) != 1 || onlyB.ids[0] != "ep_b/failed" {
		t.Errorf("filtered stream got %v", onlyB.ids)
	}
	status, body, _ := f.do("GET", "/v1/stream?outcome=meh", f.adminKey, "")
	wantError(t, "bad stream filter", status, body, 400, api.CodeInvalidRequest, "outcome")
}

func TestKeysAPI(t *testing.T) {
	f := newFixture(t)
	c := f.client(f.adminKey)
	created, err := c.CreateKey(f.ctx, wire.CreateKeyRequest{Name: "ci", Scopes: []string{domain.ScopeEventsPublish}})
	if err != nil || apikey.Check(created.Key) != nil || created.APIKey.ID == "" {
		t.Fatalf("create key: %+v %v", created, err)
	}
	status, body, _ := f.do("POST", "/v1/events", created.Key, `{"type":"a.b","data":{}}`)
	if status != 202 {
		t.Fatalf("new key publishing: %d %s", status, body)
	}
	status, body, _ = f.do("GET", "/v1/keys", "", "")
	wantError(t, "keys without a key", status, body, 401, api.CodeUnauthorized)
	status, body, _ = f.do("POST", "/v1/keys", f.adminKey, `{"name":"x","scopes":["root"]}`)
	wantError(t, "unknown scope", status, body, 400, api.CodeInvalidRequest, "scopes")
	status, body, _ = f.do("POST", "/v1/keys", f.adminKey, `{"scopes":["admin"]}`)
	wantError(t, "no name", status, body, 400, api.CodeInvalidRequest, "name")
	list, err := c.ListKeys(f.ctx, 0, "")
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("list keys: %d %v", len(list.Items), err)
	}
	if strings.Contains(fmt.Sprint(list), created.Key) {
		t.Fatal("a listed key shows its secret")
	}
	if err := c.RevokeKey(f.ctx, created.APIKey.ID); err != nil {
		t.Fatal(err)
	}
	status, body, _ = f.do("POST", "/v1/events", created.Key, `{"type":"a.b","data":{}}`)
	wantError(t, "revoked key", status, body, 401, api.CodeUnauthorized)
	if err := c.RevokeKey(f.ctx, "key_unknown"); err == nil {
		t.Error("revoking an unknown key succeeded")
	}
}
