package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage"
	"github.com/hookd/hookd/storage/cassandra"
	"github.com/hookd/hookd/storage/storagetest"
)

// The whole daemon against the real services: events published to Kafka
// reach every subscribed endpoint once, signed, and every attempt lands in
// Cassandra through the logwriter.
func TestServeEndToEnd(t *testing.T) {
	k := testenv.KafkaEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	stores := newTestStores(ctx, t)
	store, session, keyspace := stores.store, stores.session, stores.keyspace

	var (
		mu  sync.Mutex
		got = map[string]int{}
	)
	var endpoints []string
	for range 3 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			mu.Lock()
			got[r.Host+" "+r.Header.Get("webhook-id")]++
			mu.Unlock()
		}))
		defer srv.Close()
		e, sec := storagetest.NewEndpoint("", "order.*")
		e.URL, e.Headers, e.RateLimit, e.Timeout = srv.URL, nil, 0, 0
		if err := store.CreateEndpoint(ctx, e, sec); err != nil {
			t.Fatal(err)
		}
		endpoints = append(endpoints, e.ID)
	}

	eventsTopic := k.Topics(t, 1, 3)[0]
	prefix := testenv.UniqueName(t, "t.", 80)
	stores.setServeEnv(t, k, eventsTopic, prefix)

	ios, _, _, logs := iostreams.Test()
	sctx, stop := context.WithCancel(ctx)
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- Serve(sctx, &ServeOptions{IO: ios, Flags: map[string]string{"http.addr": "127.0.0.1:0"}, Ready: func(a net.Addr) { ready <- a }})
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-served:
		t.Fatalf("serve stopped: %v\n%s", err, logs)
	case <-ctx.Done():
		t.Fatal("serve not ready")
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr.String()+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}

	const n = 1000
	producer, err := kafka.NewProducer(ctx, k.Config(kafka.MechanismSCRAMSHA512), kafka.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		b, _ := events.MarshalEnvelope(domain.Event{ID: ids.New(ids.Event), Type: "order.created", Time: time.Now().UTC(), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
		msgs[i] = &sarama.ProducerMessage{Topic: eventsTopic, Value: sarama.ByteEncoder(b)}
	}
	if err := producer.Produce(ctx, msgs); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		count := len(got)
		mu.Unlock()
		if count == 3*n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries after 2 minutes\n%s", count, 3*n, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	for k, c := range got {
		if c != 1 {
			t.Errorf("%s delivered %d times", k, c)
		}
	}
	mu.Unlock()

	// Every attempt reaches Cassandra, once.
	log, err := cassandra.NewStoreFromSession(session, keyspace, storage.DefaultRetention, cassandra.Options{Consistency: "ONE"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range endpoints {
		deadline := time.Now().Add(time.Minute)
		for {
			seen := map[string]bool{}
			cursor := ""
			for {
				page, err := log.ListAttempts(ctx, domain.AttemptFilter{EndpointID: id}, storage.PageRequest{Limit: 1000, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range page.Items {
					if seen[a.ID] {
						t.Fatalf("attempt %s listed twice", a.ID)
					}
					seen[a.ID] = true
				}
				if cursor = page.NextCursor; cursor == "" {
					break
				}
			}
			if len(seen) == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("endpoint %s: %d attempts in Cassandra, want %d\n%s", id, len(seen), n, logs)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve after shutdown: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop within 60s of SIGTERM")
	}
}
