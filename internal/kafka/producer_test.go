package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/testenv"
)

func TestProducerConfigIsDurable(t *testing.T) {
	sc, err := kafka.ProducerConfig(kafka.Config{Brokers: []string{"b:1"}}, kafka.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := sc.Producer
	if p.RequiredAcks != sarama.WaitForAll || !p.Idempotent || sc.Net.MaxOpenRequests != 1 ||
		!p.Return.Successes || !p.Return.Errors || p.Compression != sarama.CompressionLZ4 ||
		p.Retry.Max != 10 || sc.Metadata.AllowAutoTopicCreation {
		t.Errorf("producer settings not durable: %+v", p)
	}
	var total time.Duration
	for i := 1; i <= p.Retry.Max; i++ {
		total += p.Retry.BackoffFunc(i, p.Retry.Max)
	}
	if got := []time.Duration{p.Retry.BackoffFunc(1, 10), p.Retry.BackoffFunc(2, 10), p.Retry.BackoffFunc(9, 10)}; got[0] != 100*time.Millisecond || got[1] != 200*time.Millisecond || got[2] != 2*time.Second {
		t.Errorf("backoffs %v, want 100ms 200ms 2s", got)
	}
	if total < 10*time.Second || total > 20*time.Second {
		t.Errorf("retries back off %s in all, want 10-20 s to ride out a leader change", total)
	}
	for _, c := range []string{"none", "gzip", "snappy", "zstd", "LZ4"} {
		if _, err := kafka.ProducerConfig(kafka.Config{Brokers: []string{"b:1"}}, kafka.ProducerOptions{Compression: c}); err != nil {
			t.Errorf("compression %s: %v", c, err)
		}
	}
	if _, err := kafka.ProducerConfig(kafka.Config{Brokers: []string{"b:1"}}, kafka.ProducerOptions{Compression: "brotli"}); err == nil || !strings.Contains(err.Error(), "compression") {
		t.Errorf("compression brotli: err = %v", err)
	}
}

func newProducer(t testing.TB, cfg kafka.Config, o kafka.ProducerOptions) *kafka.Producer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := kafka.NewProducer(ctx, cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func msg(topic, key, value string) *sarama.ProducerMessage {
	return &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(value)}
}

// readTopic reads n messages from every partition of topic, oldest first,
// and fails t if they do not all arrive in time.
func readTopic(t *testing.T, cfg kafka.Config, topic string, n int) []*sarama.ConsumerMessage {
	t.Helper()
	sc, err := cfg.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := sarama.NewConsumer(cfg.Brokers, sc)
	if err != nil {
		t.Fatalf("consumer: %v", kafka.Explain(cfg, err))
	}
	defer func() { _ = consumer.Close() }()
	partitions, err := consumer.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *sarama.ConsumerMessage, n)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer func() { _ = pc.Close() }()
			for {
				select {
				case m := <-pc.Messages():
					select {
					case got <- m:
					case <-stop:
						return
					}
				case <-stop:
					return
				}
			}
		})
	}
	var out []*sarama.ConsumerMessage
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case m := <-got:
			out = append(out, m)
		case <-timeout:
			t.Fatalf("read %d of %d messages from %s", len(out), n, topic)
		}
	}
	return out
}

// Many goroutines produce keyed records at once; every record arrives
// once, and the records of each key arrive in the order they were produced.
func TestProduceManyCallersKeepsKeyOrder(t *testing.T) {
	t.Parallel()
	k := testenv.KafkaEnv(t)
	for name, cfg := range map[string]kafka.Config{
		"sasl_plaintext": k.Config(kafka.MechanismSCRAMSHA512),
		"sasl_ssl":       k.TLSConfig(kafka.MechanismPlain),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			topic := k.Topics(t, 1, 6)[0]
			p := newProducer(t, cfg, kafka.ProducerOptions{})
			const callers, calls, keysPerCaller = 32, 20, 3
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			var wg sync.WaitGroup
			sent := make([]int, callers)
			errs := make(chan error, callers)
			for g := range callers {
				wg.Go(func() {
					seq := 0
					for c := range calls {
						// 1 to 3 records per call, keys shared within the call.
						batch := make([]*sarama.ProducerMessage, 1+c%3)
						for i := range batch {
							key := fmt.Sprintf("g%02d-k%d", g, (c+i)%keysPerCaller)
							batch[i] = msg(topic, key, strconv.Itoa(seq))
							seq++
						}
						if err := p.Produce(ctx, batch); err != nil {
							errs <- fmt.Errorf("caller %d call %d: %w", g, c, err)
							return
						}
					}
					sent[g] = seq
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			total := 0
			for _, n := range sent {
				total += n
			}

			last := map[string]int{}
			seen := map[string]bool{}
			for _, m := range readTopic(t, cfg, topic, total) {
				key, value := string(m.Key), string(m.Value)
				seq, _ := strconv.Atoi(value)
				if seen[key+"/"+value] {
					t.Errorf("record %s/%s arrived twice", key, value)
				}
				seen[key+"/"+value] = true
				if prev, ok := last[key]; ok && seq <= prev {
					t.Errorf("key %s: record %d after %d", key, seq, prev)
				}
				last[key] = seq
			}
			if len(seen) != total {
				t.Errorf("%d distinct records, want %d", len(seen), total)
			}
		})
	}
}

// A failure reaches the caller whose record failed, and only that one.
func TestProduceErrorsReachTheirCaller(t *testing.T) {
	t.Parallel()
	k := testenv.KafkaEnv(t)
	cfg := k.Config(kafka.MechanismPlain)
	topic := k.Topics(t, 1, 2)[0]
	p := newProducer(t, cfg, kafka.ProducerOptions{MaxMessageBytes: 64 << 10})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	missing := testenv.UniqueName(t, "hookd.missing.", 200)
	var wg sync.WaitGroup
	var errMissing, errTooBig, errGood error
	wg.Go(func() { errMissing = p.Produce(ctx, []*sarama.ProducerMessage{msg(missing, "k", "v")}) })
	wg.Go(func() {
		errTooBig = p.Produce(ctx, []*sarama.ProducerMessage{msg(topic, "k1", "small"), msg(topic, "k2", strings.Repeat("x", 100<<10))})
	})
	wg.Go(func() {
		for i := range 20 {
			if errGood = p.Produce(ctx, []*sarama.ProducerMessage{msg(topic, "good", strconv.Itoa(i))}); errGood != nil {
				return
			}
		}
	})
	wg.Wait()
	if !errors.Is(errMissing, sarama.ErrUnknownTopicOrPartition) || !strings.Contains(errMissing.Error(), missing) {
		t.Errorf("produce to a missing topic: %v, want an unknown-topic error naming it (no auto-creation)", errMissing)
	}
	if errTooBig == nil || !strings.Contains(errTooBig.Error(), "larger than") {
		t.Errorf("produce of an oversized record: %v, want a size error", errTooBig)
	}
	if errGood != nil {
		t.Errorf("produce of good records beside failing ones: %v", errGood)
	}
	md, err := adminFor(t, cfg).DescribeTopics([]string{missing})
	if err != nil || len(md) != 1 || !errors.Is(md[0].Err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("the missing topic was created: %+v, %v", md, err)
	}
}

func TestProduceWrongPasswordIsAnAuthError(t *testing.T) {
	t.Parallel()
	k := testenv.KafkaEnv(t)
	for _, mech := range []string{kafka.MechanismPlain, kafka.MechanismSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			cfg := k.Config(mech)
			cfg.SASL.Password = "not-the-password"
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, err := kafka.NewProducer(ctx, cfg, kafka.ProducerOptions{})
			var auth *kafka.AuthError
			if !errors.As(err, &auth) {
				if p != nil {
					_ = p.Close()
				}
				t.Fatalf("NewProducer with a wrong password = %v, want an AuthError", err)
			}
			if !strings.Contains(err.Error(), cfg.SASL.Username) {
				t.Errorf("error %q does not name the user", err)
			}
		})
	}
}

// Close lets every record already handed over finish: a call that
// returned nil has its records in Kafka even when Close raced with it.
func TestCloseFlushes(t *testing.T) {
	t.Parallel()
	k := testenv.KafkaEnv(t)
	cfg := k.Config(kafka.MechanismSCRAMSHA256)
	topic := k.Topics(t, 1, 3)[0]
	// A long linger keeps records waiting in sarama's buffers, so Close
	// has something to flush.
	p := newProducer(t, cfg, kafka.ProducerOptions{Linger: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const callers = 16
	var wg sync.WaitGroup
	acked := make([][]string, callers)
	started := make(chan struct{}, callers)
	for g := range callers {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("g%d-%d", g, i)
				if i == 1 {
					started <- struct{}{}
				}
				err := p.Produce(ctx, []*sarama.ProducerMessage{msg(topic, key, key)})
				if errors.Is(err, kafka.ErrProducerClosed) {
					return
				}
				if err != nil {
					t.Errorf("caller %d: %v", g, err)
					return
				}
				acked[g] = append(acked[g], key)
			}
		})
	}
	for range callers {
		<-started
	}
	// Records are in flight now: each caller has one waiting in the linger.
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	wg.Wait()
	if err := p.Produce(ctx, []*sarama.ProducerMessage{msg(topic, "late", "late")}); !errors.Is(err, kafka.ErrProducerClosed) {
		t.Errorf("Produce after Close = %v, want ErrProducerClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	want := map[string]bool{}
	for _, keys := range acked {
		for _, key := range keys {
			want[key] = true
		}
	}
	if len(want) < callers {
		t.Fatalf("only %d records acknowledged", len(want))
	}
	for _, m := range readTopic(t, cfg, topic, len(want)) {
		delete(want, string(m.Key))
	}
	if len(want) > 0 {
		t.Errorf("%d acknowledged records missing from the topic", len(want))
	}
}

func TestProduceRejectsBadCalls(t *testing.T) {
	t.Parallel()
	k := testenv.KafkaEnv(t)
	p := newProducer(t, k.Config(kafka.MechanismPlain), kafka.ProducerOptions{})
	ctx := context.Background()
	if err := p.Produce(ctx, nil); err != nil {
		t.Errorf("Produce(nil) = %v", err)
	}
	if err := p.Produce(ctx, []*sarama.ProducerMessage{nil}); err == nil {
		t.Error("Produce of a nil message succeeded")
	}
	if err := p.Produce(ctx, []*sarama.ProducerMessage{{Value: sarama.StringEncoder("v")}}); err == nil {
		t.Error("Produce without a topic succeeded")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Produce(canceled, []*sarama.ProducerMessage{msg("t", "k", "v")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Produce with a canceled context = %v", err)
	}
}

// mockCluster is a one-broker cluster, in process, that answers what an
// idempotent producer asks, except produce requests unless answer is set.
func mockCluster(t *testing.T, topic string, answerProduce bool) *sarama.MockBroker {
	t.Helper()
	mb := sarama.NewMockBroker(t, 1)
	handlers := map[string]sarama.MockResponse{
		"ApiVersionsRequest": sarama.NewMockApiVersionsResponse(t).SetApiKeys([]sarama.ApiVersionsResponseKey{
			{ApiKey: 0, MinVersion: 0, MaxVersion: 7},  // Produce
			{ApiKey: 3, MinVersion: 0, MaxVersion: 7},  // Metadata
			{ApiKey: 18, MinVersion: 0, MaxVersion: 2}, // ApiVersions
			{ApiKey: 22, MinVersion: 0, MaxVersion: 1}, // InitProducerId
		}),
		"MetadataRequest": sarama.NewMockMetadataResponse(t).
			SetBroker(mb.Addr(), mb.BrokerID()).SetController(mb.BrokerID()).
			SetLeader(topic, 0, mb.BrokerID()),
		"InitProducerIDRequest": sarama.NewMockInitProducerIDResponse(t).SetProducerID(1000).SetProducerEpoch(1),
	}
	if answerProduce {
		handlers["ProduceRequest"] = sarama.NewMockProduceResponse(t)
	}
	mb.SetHandlerByMap(handlers)
	return mb
}

func mockConfig(mb *sarama.MockBroker) kafka.Config {
	return kafka.Config{Brokers: []string{mb.Addr()}, Version: "2.1.0", DialTimeout: time.Second}
}

// A broker that takes requests and never answers cannot hold a caller
// past its context, nor, without one, past the read timeout and retries.
func TestProduceNeverHangs(t *testing.T) {
	t.Parallel()
	mb := mockCluster(t, "silent", false)
	defer mb.Close()
	p := newProducer(t, mockConfig(mb), kafka.ProducerOptions{Retries: 1, RetryBackoff: 10 * time.Millisecond})
	defer func() { _ = p.Close() }()

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Produce(ctx, []*sarama.ProducerMessage{msg("silent", "k", "v")})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("Produce = %v after %s, want DeadlineExceeded after 200ms", err, time.Since(start))
	}

	start = time.Now()
	err = p.Produce(context.Background(), []*sarama.ProducerMessage{msg("silent", "k", "v")})
	if err == nil || time.Since(start) > 15*time.Second {
		t.Fatalf("Produce without a deadline = %v after %s, want an error within the retries", err, time.Since(start))
	}
	t.Logf("silent broker: Produce failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

// A broker that goes away fails Produce after the configured retries.
func TestProduceFailsWhenTheBrokerIsGone(t *testing.T) {
	t.Parallel()
	mb := mockCluster(t, "gone", true)
	p := newProducer(t, mockConfig(mb), kafka.ProducerOptions{Retries: 3, RetryBackoff: 10 * time.Millisecond})
	ctx := context.Background()
	if err := p.Produce(ctx, []*sarama.ProducerMessage{msg("gone", "k", "before")}); err != nil {
		t.Fatalf("produce while the broker is up: %v", err)
	}
	mb.Close()
	start := time.Now()
	err := p.Produce(ctx, []*sarama.ProducerMessage{msg("gone", "k", "after"), msg("gone", "k2", "after")})
	if err == nil || time.Since(start) > 15*time.Second {
		t.Fatalf("Produce with the broker gone = %v after %s, want an error", err, time.Since(start))
	}
	t.Logf("broker gone: Produce failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	closed := make(chan struct{})
	go func() { _ = p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close hangs with the broker gone")
	}
}

// After Close nothing of the producer runs any more. Not parallel: it
// counts the process's goroutines.
func TestProducerLeavesNoGoroutines(t *testing.T) {
	k := testenv.KafkaEnv(t)
	cfg := k.Config(kafka.MechanismPlain)
	topic := k.Topics(t, 1, 3)[0]
	before := runtime.NumGoroutine()

	ctx := context.Background()
	p, err := kafka.NewProducer(ctx, cfg, kafka.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := p.Produce(ctx, []*sarama.ProducerMessage{msg(topic, strconv.Itoa(i), "v")}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// A call abandoned by its context must not leave anything behind either.
	abandoned, cancel := context.WithCancel(ctx)
	cancel()
	_ = p.Produce(abandoned, []*sarama.ProducerMessage{msg(topic, "x", "v")})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
