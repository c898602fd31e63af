package kafka_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/testenv"
)

// benchRecord is a 1 KiB retry record: JSON with the usual mix of
// repeated keys and unrepeatable ids, so compression gets a fair task.
func benchRecord(b *testing.B) []byte {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	id := func() string {
		var buf [12]byte
		for i := range buf {
			buf[i] = byte(rng.UintN(256))
		}
		return hex.EncodeToString(buf[:])
	}
	now := time.Now()
	r := kafka.RetryRecord{
		Event:      domain.Event{ID: "evt_" + id(), Type: "order.updated", TenantID: "tenant_" + id(), Source: "shop-api", Time: now},
		EndpointID: "ep_" + id(), DeliveryID: "msg_" + id(), Attempt: 3,
		DueAt: now.Add(5 * time.Minute), FirstAttemptAt: now, LastStatusCode: 503, LastError: "503 Service Unavailable",
	}
	type line struct {
		SKU   string `json:"sku"`
		Name  string `json:"name"`
		Qty   int    `json:"quantity"`
		Price string `json:"unit_price"`
	}
	order := struct {
		OrderID    string `json:"order_id"`
		CustomerID string `json:"customer_id"`
		Currency   string `json:"currency"`
		Lines      []line `json:"lines"`
		Note       string `json:"note"`
	}{OrderID: "ord_" + id(), CustomerID: "cus_" + id(), Currency: "EUR"}
	encode := func() []byte {
		r.Event.Data, _ = json.Marshal(order)
		enc, err := r.Encode()
		if err != nil {
			b.Fatal(err)
		}
		return enc
	}
	for len(encode()) < 900 {
		order.Lines = append(order.Lines, line{SKU: "SKU-" + id()[:8], Name: "Widget", Qty: 1 + rng.IntN(9), Price: "19.90"})
	}
	note := make([]byte, 1024-len(encode()))
	for i := range note {
		note[i] = byte('a' + rng.IntN(26))
	}
	order.Note = string(note)
	return encode()
}

// BenchmarkProduce measures durable produce (acks=all, idempotent) of 1 KiB
// records, one per Produce call, from 1, 16 and 256 concurrent callers:
// throughput and the latency a caller waits before it may commit.
func BenchmarkProduce(b *testing.B) {
	k := testenv.KafkaEnv(b)
	cfg := k.Config(kafka.MechanismSCRAMSHA512)
	topic := k.Topics(b, 1, 6)[0]
	value := benchRecord(b)
	p := warmProducer(b, cfg, topic, kafka.ProducerOptions{})
	for _, callers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) { benchProduce(b, p, topic, callers, value) })
	}
}

// BenchmarkProduceCompression compares codecs under load (256 callers).
func BenchmarkProduceCompression(b *testing.B) {
	k := testenv.KafkaEnv(b)
	cfg := k.Config(kafka.MechanismSCRAMSHA512)
	topic := k.Topics(b, 1, 6)[0]
	value := benchRecord(b)
	for _, codec := range []string{"none", "snappy", "lz4", "zstd"} {
		b.Run("codec="+codec, func(b *testing.B) {
			p := warmProducer(b, cfg, topic, kafka.ProducerOptions{Compression: codec})
			benchProduce(b, p, topic, 256, value)
		})
	}
}

// warmProducer returns a producer that has produced once, so that its
// first connection and producer-id request are not measured.
func warmProducer(b *testing.B, cfg kafka.Config, topic string, o kafka.ProducerOptions) *kafka.Producer {
	b.Helper()
	p := newProducer(b, cfg, o)
	if err := p.Produce(context.Background(), []*sarama.ProducerMessage{msg(topic, "warm-up", "{}")}); err != nil {
		b.Fatal(err)
	}
	return p
}

func benchProduce(b *testing.B, p *kafka.Producer, topic string, callers int, value []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var next atomic.Int64
	latencies := make([][]time.Duration, callers)
	var failed atomic.Pointer[error]
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("msg_%d", i)), Value: sarama.ByteEncoder(value)}
				t0 := time.Now()
				if err := p.Produce(ctx, []*sarama.ProducerMessage{m}); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				latencies[g] = append(latencies[g], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	pct := func(q float64) float64 {
		return float64(all[int(q*float64(len(all)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
