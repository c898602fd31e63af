package devkafka_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookd/hookd/internal/devkafka"
	"github.com/hookd/hookd/internal/kafka"
)

func start(t *testing.T, opts devkafka.Options) *devkafka.Broker {
	t.Helper()
	b, err := devkafka.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// What hookd does with a broker, done with hookd's own Kafka code: create
// topics with the admin API, produce idempotently with acks=all, consume
// in a group and commit. Then the broker restarts on the same directory and
// the records and the committed offset are still there.
func TestSaramaWorksAndStateSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	dir := t.TempDir()
	b, err := devkafka.Start(devkafka.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg := kafka.Config{Brokers: []string{b.Addr()}, ClientID: "devkafka-test", DialTimeout: 5 * time.Second}
	st, err := kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: "t", Partitions: 3, Config: map[string]string{"max.message.bytes": "2162688"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !st[0].Created || st[0].Partitions != 3 {
		t.Fatalf("EnsureTopics: %+v", st)
	}
	produce(ctx, t, cfg, "t", 0, 10)
	if got := consume(ctx, t, cfg, "t", 6); len(got) != 6 {
		t.Fatalf("consumed %d, want 6", len(got))
	}
	b.Close()

	b = start(t, devkafka.Options{DataDir: dir, Port: portOf(t, b.Addr())})
	cfg.Brokers = []string{b.Addr()}
	st, err = kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: "t", Partitions: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Created {
		t.Fatal("the topic was lost in the restart")
	}
	produce(ctx, t, cfg, "t", 10, 12)
	// The group resumes after the six it committed: four old, two new.
	got := consume(ctx, t, cfg, "t", 6)
	want := map[string]bool{}
	for _, i := range []int{10, 11} {
		want[strconv.Itoa(i)] = true
	}
	var old int
	for _, v := range got {
		n, _ := strconv.Atoi(v)
		if n < 10 {
			old++
		}
		delete(want, v)
	}
	if old != 4 || len(want) != 0 {
		t.Fatalf("after the restart the group read %v; want the 4 uncommitted and 10, 11", got)
	}
}

// Any Kafka client works, not only sarama; SASL (SCRAM and PLAIN) when
// asked for, and a wrong password is refused.
func TestOtherClientsAndSASL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := start(t, devkafka.Options{User: "dev", Password: "s3cret"})

	for _, m := range []string{kafka.MechanismSCRAMSHA512, kafka.MechanismSCRAMSHA256, kafka.MechanismPlain} {
		cfg := kafka.Config{Brokers: []string{b.Addr()}, DialTimeout: 5 * time.Second, SASL: kafka.SASLConfig{Mechanism: m, Username: "dev", Password: "s3cret"}}
		if err := kafka.Check(ctx, cfg); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	bad := kafka.Config{Brokers: []string{b.Addr()}, DialTimeout: 5 * time.Second, SASL: kafka.SASLConfig{Mechanism: kafka.MechanismSCRAMSHA512, Username: "dev", Password: "wrong"}}
	// kfake hangs up on a failed login rather than answering with an
	// authentication error, so only the refusal itself is certain.
	if err := kafka.Check(ctx, bad); err == nil {
		t.Error("a wrong password was accepted")
	}

	// franz-go, a client unrelated to hookd's, with a topic created on
	// first use as Kafka does by default.
	open := start(t, devkafka.Options{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(open.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte(`{"id":"1","type":"order.created","data":{}}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg := kafka.Config{Brokers: []string{open.Addr()}, DialTimeout: 5 * time.Second}
	if got := consume(ctx, t, cfg, "orders", 1); len(got) != 1 {
		t.Fatalf("sarama read %d records written by franz-go", len(got))
	}
}

func TestPortInUse(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = devkafka.Start(devkafka.Options{Port: portOf(t, ln.Addr().String()), Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "--kafka-port") {
		t.Fatalf("err = %v, want one naming --kafka-port", err)
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// produce writes values from..to-1 with hookd's durable producer.
func produce(ctx context.Context, t *testing.T, cfg kafka.Config, topic string, from, to int) {
	t.Helper()
	p, err := kafka.NewProducer(ctx, cfg, kafka.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var msgs []*sarama.ProducerMessage
	for i := from; i < to; i++ {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(strconv.Itoa(i)), Value: sarama.StringEncoder(strconv.Itoa(i))})
	}
	if err := p.Produce(ctx, msgs); err != nil {
		t.Fatal(err)
	}
}

// consume reads n records in group "g", marks and commits them, and leaves
// the group.
func consume(ctx context.Context, t *testing.T, cfg kafka.Config, topic string, n int) []string {
	t.Helper()
	sc, err := cfg.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Offsets.AutoCommit.Enable = false
	group, err := sarama.NewConsumerGroup(cfg.Brokers, "g", sc)
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	h := &handler{n: n, done: make(chan struct{})}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		for cctx.Err() == nil {
			if err := group.Consume(cctx, []string{topic}, h); err != nil && cctx.Err() == nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	select {
	case <-h.done:
	case err := <-errc:
		t.Fatalf("consume: %v", err)
	case <-ctx.Done():
		h.mu.Lock()
		defer h.mu.Unlock()
		t.Fatalf("consumed %d of %d before the deadline", len(h.got), n)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("consume: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got
}

type handler struct {
	mu   sync.Mutex
	n    int
	got  []string
	done chan struct{}
	once sync.Once
}

func (*handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		if len(h.got) >= h.n {
			h.mu.Unlock()
			return nil
		}
		h.got = append(h.got, string(m.Value))
		s.MarkMessage(m, "")
		s.Commit()
		full := len(h.got) >= h.n
		h.mu.Unlock()
		if full {
			h.once.Do(func() { close(h.done) })
			return nil
		}
	}
	return nil
}
