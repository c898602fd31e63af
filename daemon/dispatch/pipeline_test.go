package dispatch_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/daemon/dispatch"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/egress"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/lanes"
	"github.com/hookd/hookd/internal/metrics"
	"github.com/hookd/hookd/internal/retry"
	"github.com/hookd/hookd/internal/subscriptions"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage/postgres"
	"github.com/hookd/hookd/storage/storagetest"
)

// pipeline is a dispatcher wired to the real Kafka and PostgreSQL, with
// topics and a database of its own.
type pipeline struct {
	t        testing.TB
	k        testenv.Kafka
	store    *postgres.Store
	index    *subscriptions.Index
	events   string
	attempts string
	prefix   string
	producer *kafka.Producer
	tiers    retry.Tiers
	// extraTopics are more events topics, made before start.
	extraTopics []string
	// maxInFlight bounds the messages worked on at once (0: the default).
	maxInFlight int
	// metrics records the engine's counts (deferrals, retries).
	metrics *metrics.Metrics
}

func newPipeline(t testing.TB) *pipeline {
	t.Helper()
	k := testenv.KafkaEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	dsn := testenv.PostgresDSN(t)
	if _, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	store, err := postgres.Open(ctx, dsn, storagetest.NewBox(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)

	names := k.Topics(t, 2, 3)
	p := &pipeline{t: t, k: k, store: store, index: subscriptions.NewIndex(), events: names[0], attempts: names[1]}
	p.prefix = testenv.UniqueName(t, "t.", 100) + ".retry."
	p.tiers, err = retry.NewTiers(time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg := k.Config(kafka.MechanismSCRAMSHA512)
	var specs []kafka.TopicSpec
	for _, topic := range p.tiers.Topics(p.prefix) {
		specs = append(specs, kafka.TopicSpec{Name: topic, Partitions: 2, ReplicationFactor: 1})
	}
	if _, err := kafka.EnsureTopics(ctx, cfg, specs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteTopics(t, k, p.tiers.Topics(p.prefix)) })
	p.producer, err = kafka.NewProducer(ctx, cfg, kafka.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.producer.Close() })
	return p
}

func deleteTopics(t testing.TB, k testenv.Kafka, topics []string) {
	sc, _ := k.Config(kafka.MechanismPlain).Sarama()
	admin, err := sarama.NewClusterAdmin(k.Brokers, sc)
	if err != nil {
		return
	}
	defer admin.Close()
	for _, name := range topics {
		_ = admin.DeleteTopic(name)
	}
}

// endpoint stores an endpoint for url and returns it with its secret.
func (p *pipeline) endpoint(url string, edit func(*domain.Endpoint)) (domain.Endpoint, string) {
	p.t.Helper()
	e, sec := storagetest.NewEndpoint("", "order.*")
	e.URL, e.Headers, e.RetryPolicy, e.Timeout = url, map[string]string{"Authorization": "Bearer not-for-logs"}, domain.RetryPolicy{}, 0
	e.SuccessStatusCodes, e.RateLimit, e.MaxConcurrency = nil, 0, 0
	if edit != nil {
		edit(e)
	}
	if err := p.store.CreateEndpoint(context.Background(), e, sec); err != nil {
		p.t.Fatal(err)
	}
	p.index.Upsert(*e)
	return *e, sec.Value
}

// start runs the dispatcher until the test ends, with loopback allowed
// (the receivers are on it).
func (p *pipeline) start(timeout time.Duration) {
	p.t.Helper()
	p.startAllowing(timeout, []string{"127.0.0.0/8"})
}

// startAllowing runs the dispatcher with the egress guard allowing only
// the given ranges.
func (p *pipeline) startAllowing(timeout time.Duration, allow []string) {
	p.t.Helper()
	lns, err := lanes.New(lanes.Config{SaturationWait: 250 * time.Millisecond})
	if err != nil {
		p.t.Fatal(err)
	}
	client, err := egress.New(egress.Config{Allow: allow, Timeout: timeout})
	if err != nil {
		p.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine := dispatch.NewEngine(p.index, p.store, lns, client, p.store, dispatch.Options{
		AttemptsTopic: p.attempts, RetryPrefix: p.prefix, Tiers: p.tiers, DefaultTimeout: timeout, Logger: log, Metrics: p.metrics,
	})
	dec, err := events.NewDecoder(events.Config{})
	if err != nil {
		p.t.Fatal(err)
	}
	d := dispatch.NewDispatcher(engine, p.index, dec, dispatch.DispatcherOptions{EventsTopics: append([]string{p.events}, p.extraTopics...), MaxInFlight: p.maxInFlight, Logger: log})
	sc, err := p.k.Config(kafka.MechanismSCRAMSHA512).Sarama()
	if err != nil {
		p.t.Fatal(err)
	}
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	group, err := sarama.NewConsumerGroup(p.k.Brokers, testenv.UniqueName(p.t, "g.", 100), sc)
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Run(ctx, group, p.producer)
	}()
	p.t.Cleanup(func() {
		cancel()
		<-done
		_ = group.Close()
		client.Close()
	})
}

// publish sends events in the native envelope to the events topic.
func (p *pipeline) publish(evts ...domain.Event) {
	p.t.Helper()
	msgs := make([]*sarama.ProducerMessage, len(evts))
	for i, e := range evts {
		b, err := events.MarshalEnvelope(e)
		if err != nil {
			p.t.Fatal(err)
		}
		msgs[i] = &sarama.ProducerMessage{Topic: p.events, Key: sarama.StringEncoder(e.ID), Value: sarama.ByteEncoder(b)}
	}
	if err := p.producer.Produce(context.Background(), msgs); err != nil {
		p.t.Fatal(err)
	}
}

// publishRaw sends values as they are, up to 16 MiB each (the events
// topic is made to take them, as a producer's topic may).
func (p *pipeline) publishRaw(values ...string) {
	p.t.Helper()
	ctx := context.Background()
	cfg := p.k.Config(kafka.MechanismSCRAMSHA512)
	big := p.events + ".big"
	if _, err := kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: big, Partitions: 1, ReplicationFactor: 1, Config: map[string]string{"max.message.bytes": "16777216"}}}); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { deleteTopics(p.t, p.k, []string{big}) })
	prod, err := kafka.NewProducer(ctx, cfg, kafka.ProducerOptions{MaxMessageBytes: 16 << 20})
	if err != nil {
		p.t.Fatal(err)
	}
	defer prod.Close()
	msgs := make([]*sarama.ProducerMessage, len(values))
	for i, v := range values {
		msgs[i] = &sarama.ProducerMessage{Topic: big, Value: sarama.StringEncoder(v)}
	}
	if err := prod.Produce(ctx, msgs); err != nil {
		p.t.Fatal(err)
	}
	p.extraTopics = append(p.extraTopics, big)
}

func event(typ string, n int) domain.Event {
	return domain.Event{ID: ids.New(ids.Event), Type: typ, Time: time.Now().UTC().Truncate(time.Millisecond), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

// records reads the attempts topic until stop says it has seen enough.
func (p *pipeline) records(timeout time.Duration, stop func(attempts []domain.Attempt, dead []domain.DeadLetter) bool) ([]domain.Attempt, []domain.DeadLetter) {
	p.t.Helper()
	sc, _ := p.k.Config(kafka.MechanismSCRAMSHA512).Sarama()
	consumer, err := sarama.NewConsumer(p.k.Brokers, sc)
	if err != nil {
		p.t.Fatal(err)
	}
	defer consumer.Close()
	partitions, err := consumer.Partitions(p.attempts)
	if err != nil {
		p.t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		attempts []domain.Attempt
		dead     []domain.DeadLetter
	)
	got := make(chan struct{}, 1)
	for _, part := range partitions {
		pc, err := consumer.ConsumePartition(p.attempts, part, sarama.OffsetOldest)
		if err != nil {
			p.t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				rec, err := kafka.DecodeAttemptsRecord(m.Value)
				if err != nil {
					p.t.Errorf("attempts topic holds an unreadable record: %v", err)
					continue
				}
				mu.Lock()
				switch r := rec.(type) {
				case kafka.AttemptRecord:
					attempts = append(attempts, r.Attempt)
				case kafka.DeadLetterRecord:
					dead = append(dead, r.DeadLetter)
				}
				mu.Unlock()
				select {
				case got <- struct{}{}:
				default:
				}
			}
		}()
	}
	deadline := time.After(timeout)
	for {
		mu.Lock()
		a, d := append([]domain.Attempt{}, attempts...), append([]domain.DeadLetter{}, dead...)
		mu.Unlock()
		if stop(a, d) {
			return a, d
		}
		select {
		case <-got:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			p.t.Fatalf("attempts topic after %s: %d attempts, %d dead letters; not what the test waits for", timeout, len(a), len(d))
		}
	}
}

// receiver is an HTTP endpoint that records deliveries by webhook-id. It
// answers what answer says (200 by default; 0 hangs until the client gives
// up; a 429 comes with Retry-After: 30).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    map[string]int
	bodies map[string][]byte
	hdrs   map[string]http.Header
	answer func(n int64, r *http.Request) int
	calls  atomic.Int64
}

func newReceiver(t testing.TB, answer func(n int64, r *http.Request) int) *receiver {
	rc := &receiver{got: map[string]int{}, bodies: map[string][]byte{}, hdrs: map[string]http.Header{}, answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := rc.calls.Add(1)
		status := http.StatusOK
		if rc.answer != nil {
			status = rc.answer(n, r)
		}
		if status == 0 { // hang until the client gives up
			<-r.Context().Done()
			return
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "30")
		}
		if status < 300 {
			rc.mu.Lock()
			id := r.Header.Get("webhook-id")
			rc.got[id]++
			rc.bodies[id] = body
			rc.hdrs[id] = r.Header.Clone()
			rc.mu.Unlock()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) delivered() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.got))
	for k, v := range rc.got {
		out[k] = v
	}
	return out
}

// verifyStandard checks a Standard Webhooks signature from the
// specification's definition alone, independently of the signature package.
func verifyStandard(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEveryEventReachesEverySubscriberOnce(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	var recvs []*receiver
	var secrets []string
	for range 3 {
		rc := newReceiver(t, nil)
		_, secret := p.endpoint(rc.URL, nil)
		recvs, secrets = append(recvs, rc), append(secrets, secret)
	}
	p.start(5 * time.Second)
	const n = 300
	evts := make([]domain.Event, n)
	for i := range evts {
		evts[i] = event("order.created", i)
	}
	p.publish(evts...)
	// An event nobody subscribes to goes nowhere.
	p.publish(event("invoice.paid", 0))

	for i, rc := range recvs {
		waitFor(t, 90*time.Second, fmt.Sprintf("receiver %d to get %d deliveries", i, n), func() bool { return len(rc.delivered()) == n })
	}
	attempts, _ := p.records(60*time.Second, func(a []domain.Attempt, _ []domain.DeadLetter) bool { return len(a) >= 3*n })
	time.Sleep(time.Second) // a late duplicate would show up now
	for i, rc := range recvs {
		for id, count := range rc.delivered() {
			if count != 1 {
				t.Errorf("receiver %d got %s %d times", i, id, count)
			}
			rc.mu.Lock()
			h, body := rc.hdrs[id], rc.bodies[id]
			rc.mu.Unlock()
			if !verifyStandard(secrets[i], h, body) {
				t.Fatalf("receiver %d: delivery %s does not verify", i, id)
			}
			if h.Get("Authorization") != "Bearer not-for-logs" || !strings.HasPrefix(h.Get("User-Agent"), "hookd/") {
				t.Fatalf("headers: %v", h)
			}
		}
	}
	if len(attempts) != 3*n {
		t.Fatalf("%d attempt records, want %d", len(attempts), 3*n)
	}
	for _, a := range attempts {
		if a.Outcome != domain.OutcomeDelivered || a.AttemptNumber != 1 || a.StatusCode != 200 {
			t.Fatalf("attempt %+v", a)
		}
		if a.RequestHeaders["Authorization"] != "[redacted]" {
			t.Fatalf("a secret header reached the log: %v", a.RequestHeaders)
		}
	}
}

func TestRetriesThenDelivers(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	flaky := newReceiver(t, func(n int64, _ *http.Request) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	p.endpoint(flaky.URL, func(e *domain.Endpoint) {
		e.RetryPolicy = domain.RetryPolicy{Schedule: []time.Duration{0, 500 * time.Millisecond, 500 * time.Millisecond, time.Second}}
	})
	p.start(5 * time.Second)
	p.publish(event("order.created", 1))
	waitFor(t, 60*time.Second, "the third attempt to deliver", func() bool { return len(flaky.delivered()) == 1 })
	attempts, dead := p.records(30*time.Second, func(a []domain.Attempt, _ []domain.DeadLetter) bool { return len(a) >= 3 })
	if len(dead) != 0 {
		t.Fatalf("dead letters: %+v", dead)
	}
	outcomes := map[int]domain.Outcome{}
	for _, a := range attempts {
		outcomes[a.AttemptNumber] = a.Outcome
		if a.Outcome == domain.OutcomeFailed && (a.NextRetryAt == nil || a.StatusCode != 503) {
			t.Fatalf("failed attempt without its next retry: %+v", a)
		}
	}
	if outcomes[1] != domain.OutcomeFailed || outcomes[2] != domain.OutcomeFailed || outcomes[3] != domain.OutcomeDelivered {
		t.Fatalf("outcomes by attempt: %v", outcomes)
	}
}

func TestExhaustionAndGoneBecomeDeadLetters(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	failing := newReceiver(t, func(int64, *http.Request) int { return http.StatusInternalServerError })
	gone := newReceiver(t, func(int64, *http.Request) int { return http.StatusGone })
	failingEP, _ := p.endpoint(failing.URL, func(e *domain.Endpoint) {
		e.RetryPolicy = domain.RetryPolicy{Schedule: []time.Duration{0, 200 * time.Millisecond}}
	})
	goneEP, _ := p.endpoint(gone.URL, nil)
	p.start(5 * time.Second)
	p.publish(event("order.created", 1))

	_, dead := p.records(60*time.Second, func(_ []domain.Attempt, d []domain.DeadLetter) bool { return len(d) >= 2 })
	reasons := map[string]domain.DeadLetter{}
	for _, d := range dead {
		reasons[d.EndpointID] = d
	}
	// The schedule lists the delays before each retry: two retries, three attempts.
	if d := reasons[failingEP.ID]; d.Reason != domain.ReasonExhausted || d.Attempts != 3 || d.LastStatusCode != 500 || len(d.Payload) == 0 {
		t.Fatalf("exhausted dead letter: %+v", d)
	}
	if d := reasons[goneEP.ID]; d.Reason != domain.ReasonGone || d.LastStatusCode != 410 {
		t.Fatalf("410 dead letter: %+v", d)
	}
	got, err := p.store.GetEndpoint(context.Background(), goneEP.ID)
	if err != nil || got.Enabled || !strings.Contains(got.DisabledReason, "410") {
		t.Fatalf("after 410 the endpoint is %+v (err %v), want disabled", got, err)
	}
}

func TestDisabledEndpointsParkDeliveries(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	rc := newReceiver(t, nil)
	ep, _ := p.endpoint(rc.URL, func(e *domain.Endpoint) { e.Enabled = false; e.DisabledReason = "maintenance" })
	p.start(5 * time.Second)
	p.publish(event("order.created", 1))
	_, dead := p.records(60*time.Second, func(_ []domain.Attempt, d []domain.DeadLetter) bool { return len(d) >= 1 })
	if dead[0].Reason != domain.ReasonEndpointDisabled || dead[0].EndpointID != ep.ID || dead[0].Attempts != 0 {
		t.Fatalf("dead letter %+v", dead[0])
	}
	if rc.calls.Load() != 0 {
		t.Fatal("a disabled endpoint was called")
	}
}

func TestMalformedMessagesAreDeadLetteredAndSkipped(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	rc := newReceiver(t, nil)
	p.endpoint(rc.URL, nil)
	huge := `{"id":"big","type":"order.created","data":"` + strings.Repeat("x", 10<<20) + `"}`
	p.publishRaw(`{not json`, `{"id":"e1","data":{}}`, "\xff\xfe\x00", huge, `{"id":"e2","type":"order created","data":{}}`)
	p.start(5 * time.Second)
	p.publish(event("order.created", 42))

	waitFor(t, 60*time.Second, "the good event after the bad ones", func() bool { return len(rc.delivered()) == 1 })
	_, dead := p.records(60*time.Second, func(_ []domain.Attempt, d []domain.DeadLetter) bool { return len(d) >= 5 })
	for _, d := range dead {
		if d.Reason != domain.ReasonMalformed || d.EndpointID != "" || d.LastError == "" {
			t.Fatalf("dead letter %+v", d)
		}
		if len(d.Payload) > 256<<10 {
			t.Fatalf("dead letter keeps %d payload bytes", len(d.Payload))
		}
	}
}

// A hanging endpoint and a failing one do not slow a healthy one.
func TestIsolation(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	hang := newReceiver(t, func(int64, *http.Request) int { return 0 })
	fail := newReceiver(t, func(int64, *http.Request) int { return 500 })
	ok := newReceiver(t, nil)
	p.endpoint(hang.URL, func(e *domain.Endpoint) { e.MaxConcurrency = 2 })
	p.endpoint(fail.URL, nil)
	p.endpoint(ok.URL, nil)
	const timeout = 10 * time.Second
	p.start(timeout)
	const n = 100
	evts := make([]domain.Event, n)
	for i := range evts {
		evts[i] = event("order.created", i)
	}
	start := time.Now()
	p.publish(evts...)
	waitFor(t, 60*time.Second, "the healthy endpoint's deliveries", func() bool { return len(ok.delivered()) == n })
	if took := time.Since(start); took > timeout {
		t.Fatalf("healthy deliveries took %s, more than the hanging endpoint's %s timeout", took, timeout)
	}
}
