package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage"
	"github.com/hookd/hookd/storage/cassandra"
	"github.com/hookd/hookd/storage/postgres"
	"github.com/hookd/hookd/storage/storagetest"
)

// privateService is a Kafka or Cassandra of the test's own, started by
// scripts/testenv in a directory and on ports nobody else uses, so the test
// can stop and restart it without disturbing the shared services.
type privateService struct {
	t    *testing.T
	name string
	env  []string
}

func freePort(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func startPrivate(t *testing.T, name string) *privateService {
	t.Helper()
	if !testenv.InCI() && os.Getenv("HOOKD_TEST_KAFKA_BROKERS") == "" {
		t.Skip("the shared services are not running; start them with `make services-up`")
	}
	dir := filepath.Join(t.TempDir(), "testenv")
	ps := &privateService{t: t, name: name, env: []string{"HOOKD_TESTENV_DIR=" + dir}}
	switch name {
	case "kafka":
		for _, v := range []string{"PORT", "TLS_PORT", "CONTROLLER_PORT", "INTERNAL_PORT"} {
			ps.env = append(ps.env, "HOOKD_TESTENV_KAFKA_"+v+"="+freePort(t))
		}
	case "cassandra":
		ps.env = append(ps.env, "HOOKD_TESTENV_CASSANDRA_PORT="+freePort(t), "HOOKD_TESTENV_CASSANDRA_STORAGE_PORT="+freePort(t))
	}
	ps.run("up")
	t.Cleanup(func() { ps.run("down") })
	return ps
}

func (ps *privateService) run(verb string) string {
	ps.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join("..", "scripts", "testenv"), verb, ps.name)
	if verb == "env" {
		cmd = exec.CommandContext(ctx, filepath.Join("..", "scripts", "testenv"), "env")
	}
	cmd.Env = append(os.Environ(), ps.env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		ps.t.Fatalf("scripts/testenv %s %s: %v\n%s", verb, ps.name, err, errOut.String())
	}
	return out.String()
}

// setting reads one HOOKD_TEST_* variable of the private service.
func (ps *privateService) setting(name string) string {
	sc := bufio.NewScanner(strings.NewReader(ps.run("env")))
	for sc.Scan() {
		line := strings.TrimPrefix(sc.Text(), "export ")
		if k, v, ok := strings.Cut(line, "="); ok && k == name {
			return strings.Trim(v, "'")
		}
	}
	ps.t.Fatalf("no %s in the private service's settings", name)
	return ""
}

// ledger is a set of receivers that count deliveries by webhook-id.
type ledger struct {
	mu  sync.Mutex
	got map[string]int
}

func (l *ledger) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		l.mu.Lock()
		l.got[r.Host+" "+r.Header.Get("webhook-id")]++
		l.mu.Unlock()
	})
}

func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.got)
}

// outageRig runs hookd serve in-process with endpoints on loopback.
type outageRig struct {
	t         *testing.T
	ctx       context.Context
	dsn       string
	endpoints []string
	ledger    *ledger
	env       map[string]string
}

func newOutageRig(t *testing.T, ctx context.Context, receivers int) *outageRig {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	if _, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	raw, _ := secretbox.ParseKey(key)
	box, _ := secretbox.New(raw)
	store, err := postgres.Open(ctx, dsn, box)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	r := &outageRig{t: t, ctx: ctx, dsn: dsn, ledger: &ledger{got: map[string]int{}}}
	for range receivers {
		srv := httptest.NewServer(r.ledger.handler())
		t.Cleanup(srv.Close)
		e, sec := storagetest.NewEndpoint("", "order.*")
		e.URL, e.Headers, e.RateLimit, e.Timeout = srv.URL, nil, 0, 0
		if err := store.CreateEndpoint(ctx, e, sec); err != nil {
			t.Fatal(err)
		}
		r.endpoints = append(r.endpoints, e.ID)
	}
	prefix := testenv.UniqueName(t, "t.", 80)
	r.env = map[string]string{
		"HOOKD_ENCRYPTION_KEY":       key,
		"HOOKD_POSTGRES_DSN":         dsn,
		"HOOKD_KAFKA_ATTEMPTS_TOPIC": prefix + ".attempts",
		"HOOKD_KAFKA_RETRY_PREFIX":   prefix + ".retry.",
		"HOOKD_KAFKA_CONSUMER_GROUP": prefix,
		"HOOKD_DELIVERY_ALLOW_CIDRS": "127.0.0.0/8",
		"HOOKD_LOG_LEVEL":            "warn",
	}
	return r
}

func (r *outageRig) kafka(brokers, user, password string) {
	r.env["HOOKD_KAFKA_BROKERS"] = brokers
	r.env["HOOKD_KAFKA_SASL_MECHANISM"] = kafka.MechanismSCRAMSHA512
	r.env["HOOKD_KAFKA_SASL_USERNAME"] = user
	r.env["HOOKD_KAFKA_SASL_PASSWORD"] = password
}

// serve starts hookd with the rig's settings and stops it when the test
// ends; stopping must be clean.
func (r *outageRig) serve(roles string) *bytes.Buffer {
	r.t.Helper()
	for k, v := range r.env {
		r.t.Setenv(k, v)
	}
	ios, _, _, logs := iostreams.Test()
	sctx, stop := context.WithCancel(r.ctx)
	ready := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- Serve(sctx, &ServeOptions{IO: ios, Flags: map[string]string{"roles": roles}, Ready: func(net.Addr) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-served:
		r.t.Fatalf("serve stopped: %v\n%s", err, logs)
	}
	r.t.Cleanup(func() {
		stop()
		select {
		case err := <-served:
			if err != nil {
				r.t.Errorf("serve after shutdown: %v", err)
			}
		case <-time.After(90 * time.Second):
			r.t.Error("serve did not stop")
		}
	})
	return logs
}

func publish(t *testing.T, ctx context.Context, cfg kafka.Config, topic string, from, n int) {
	t.Helper()
	p, err := kafka.NewProducer(ctx, cfg, kafka.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		b, _ := events.MarshalEnvelope(domain.Event{ID: ids.New(ids.Event), Type: "order.created", Time: time.Now().UTC(), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, from+i))})
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(b)}
	}
	if err := p.Produce(ctx, msgs); err != nil {
		t.Fatal(err)
	}
}

func waitCount(t *testing.T, what string, timeout time.Duration, want int, count func() int, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d after %s\n%s", what, count(), want, timeout, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The Kafka broker restarts while events flow: every event is still
// delivered to every endpoint.
func TestKafkaRestartLosesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	k := startPrivate(t, "kafka")
	brokers := k.setting("HOOKD_TEST_KAFKA_BROKERS")
	user, password := k.setting("HOOKD_TEST_KAFKA_SCRAM_USER"), k.setting("HOOKD_TEST_KAFKA_SCRAM_PASSWORD")
	cfg := kafka.Config{Brokers: []string{brokers}, SASL: kafka.SASLConfig{Mechanism: kafka.MechanismSCRAMSHA512, Username: user, Password: password}, DialTimeout: 10 * time.Second}
	topic := testenv.UniqueName(t, "t.", 100)
	if _, err := kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: topic, Partitions: 3}}); err != nil {
		t.Fatal(err)
	}
	rig := newOutageRig(t, ctx, 2)
	rig.kafka(brokers, user, password)
	rig.env["HOOKD_KAFKA_EVENTS_TOPICS"] = topic
	logs := rig.serve("dispatch")

	const batch = 500
	publish(t, ctx, cfg, topic, 0, batch)
	waitCount(t, "deliveries before the restart", time.Minute, batch, rig.ledger.count, logs)
	k.run("down")
	time.Sleep(2 * time.Second)
	k.run("up")
	publish(t, ctx, cfg, topic, batch, batch)
	waitCount(t, "deliveries after the restart", 3*time.Minute, 2*2*batch, rig.ledger.count, logs)
}

// Cassandra stops while events flow: deliveries go on, and once it is back
// the logwriter writes every attempt.
func TestCassandraOutageDelaysOnlyTheLog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	kenv := testenv.KafkaEnv(t)
	c := startPrivate(t, "cassandra")
	hosts := c.setting("HOOKD_TEST_CASSANDRA_HOSTS")

	session, err := cassandra.Connect(ctx, cassandra.Config{Hosts: []string{hosts}, Consistency: "ONE"})
	if err != nil {
		t.Fatal(err)
	}
	keyspace := "hookd_outage"
	if _, err := cassandra.Migrate(ctx, session, cassandra.MigrateOptions{Keyspace: keyspace, CreateKeyspace: true}); err != nil {
		t.Fatal(err)
	}
	session.Close()

	topic := kenv.Topics(t, 1, 3)[0]
	rig := newOutageRig(t, ctx, 2)
	rig.kafka(strings.Join(kenv.Brokers, ","), kenv.ScramUser, kenv.ScramPassword)
	rig.env["HOOKD_KAFKA_EVENTS_TOPICS"] = topic
	rig.env["HOOKD_CASSANDRA_HOSTS"] = hosts
	rig.env["HOOKD_CASSANDRA_KEYSPACE"] = keyspace
	rig.env["HOOKD_CASSANDRA_CONSISTENCY"] = "ONE"
	logs := rig.serve("dispatch,logwriter")

	cfg := kenv.Config(kafka.MechanismSCRAMSHA512)
	const batch = 300
	publish(t, ctx, cfg, topic, 0, batch)
	waitCount(t, "deliveries with Cassandra up", time.Minute, 2*batch, rig.ledger.count, logs)
	c.run("down")
	publish(t, ctx, cfg, topic, batch, batch)
	waitCount(t, "deliveries with Cassandra down", time.Minute, 2*2*batch, rig.ledger.count, logs)
	c.run("up")

	session, err = cassandra.Connect(ctx, cassandra.Config{Hosts: []string{hosts}, Consistency: "ONE"})
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	store, err := cassandra.NewStoreFromSession(session, keyspace, storage.DefaultRetention, cassandra.Options{Consistency: "ONE"})
	if err != nil {
		t.Fatal(err)
	}
	logged := func() int {
		total := 0
		for _, id := range rig.endpoints {
			cursor := ""
			for {
				page, err := store.ListAttempts(ctx, domain.AttemptFilter{EndpointID: id}, storage.PageRequest{Limit: 1000, Cursor: cursor})
				if err != nil {
					return total
				}
				total += len(page.Items)
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
		}
		return total
	}
	waitCount(t, "attempts in Cassandra after it came back", 3*time.Minute, 2*2*batch, logged, logs)
}
