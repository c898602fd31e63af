package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apikey"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/signature"
	"github.com/hookd/hookd/internal/testenv"
)

// The API of a whole hookd on the real services: an endpoint made and an
// event published through the API fail until the retries run out, the
// dead letter is replayed in bulk once the receiver recovers, and the
// replay arrives with the same webhook-id; the event's status, the
// endpoint's stats, the live stream and /readyz all tell the story.
func TestServeAPIEndToEnd(t *testing.T) {
	k := testenv.KafkaEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	stores := newTestStores(ctx, t)
	store := stores.store
	admin, hash, _ := apikey.Generate()
	if err := store.CreateAPIKey(ctx, domain.APIKey{ID: ids.New(ids.APIKey), Name: "e2e", Hash: hash, Scopes: []string{domain.ScopeAdmin}, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}

	// The receiver fails until told otherwise, and checks signatures.
	var (
		failing  atomic.Bool
		mu       sync.Mutex
		received []http.Header
		secret   atomic.Pointer[string]
	)
	failing.Store(true)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if s := secret.Load(); s != nil {
			res := signature.Verify(signature.VerifyInput{Secrets: []string{*s}, Header: r.Header, Body: body, Now: time.Now(), Tolerance: time.Minute})
			if !res.Valid {
				t.Errorf("delivery with a bad signature: %s", res.Reason)
			}
		}
		mu.Lock()
		received = append(received, r.Header.Clone())
		mu.Unlock()
		if failing.Load() {
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
		}
	}))
	defer receiver.Close()

	eventsTopic := k.Topics(t, 1, 2)[0]
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
	base := "http://" + addr.String()
	c := wire.NewClient(base, admin)

	// Readiness names each dependency.
	var rz struct {
		Status string                     `json:"status"`
		Checks map[string]json.RawMessage `json:"checks"`
	}
	getJSON(t, ctx, base+"/readyz", &rz)
	if rz.Status != "ready" || rz.Checks["kafka"] == nil || rz.Checks["postgres"] == nil || rz.Checks["cassandra"] == nil {
		t.Fatalf("readyz: %+v", rz)
	}

	// Follow the live stream from the start.
	var streamed atomic.Int32
	streamCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	connected := make(chan struct{})
	go func() {
		_ = c.Stream(streamCtx, wire.ListQuery{}, "", func() { close(connected) }, func(wire.StreamMessage) error {
			streamed.Add(1)
			return nil
		})
	}()
	<-connected

	url := receiver.URL + "/hooks"
	types := []string{"order.*"}
	policy := wire.RetryPolicy{Schedule: []wire.Duration{wire.Duration(time.Second)}}
	ep, err := c.CreateEndpoint(ctx, wire.EndpointInput{URL: &url, EventTypes: &types, RetryPolicy: &policy})
	if err != nil {
		t.Fatal(err)
	}
	secret.Store(&ep.Secret)
	// The index learns of the endpoint through PostgreSQL notifications.
	time.Sleep(time.Second)
	pub, err := c.PublishEvent(ctx, wire.PublishEventRequest{Type: "order.created", Data: json.RawMessage(`{"order":42}`)}, "e2e-1")
	if err != nil {
		t.Fatal(err)
	}

	// Two attempts (the first and one retry), then a dead letter.
	var dl wire.DeadLetter
	waitUntil(t, ctx, 90*time.Second, "the dead letter", func() bool {
		page, err := c.ListDeadLetters(ctx, wire.ListQuery{EndpointID: ep.Endpoint.ID})
		if err != nil || len(page.Items) == 0 {
			return false
		}
		dl = page.Items[0]
		return true
	}, logs)
	if dl.Reason != domain.ReasonExhausted || dl.Attempts != 2 || dl.EventID != pub.ID || dl.LastStatusCode != 500 {
		t.Fatalf("dead letter: %+v", dl)
	}

	// The receiver recovers; replay in bulk.
	failing.Store(false)
	job, err := c.StartReplay(ctx, wire.ReplayRequest{Filter: wire.DeadLetterFilter{EndpointID: ep.Endpoint.ID}}, "e2e-replay")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, ctx, 60*time.Second, "the replay job", func() bool {
		j, err := c.GetReplay(ctx, job.ID)
		return err == nil && j.State == domain.ReplayDone && j.Replayed == 1
	}, logs)
	waitUntil(t, ctx, 60*time.Second, "the replayed delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) == 3
	}, logs)
	mu.Lock()
	ids := map[string]bool{}
	for _, h := range received {
		ids[h.Get("webhook-id")] = true
	}
	mu.Unlock()
	if len(ids) != 1 || !ids[dl.DeliveryID] {
		t.Errorf("webhook-ids %v, want only %s", ids, dl.DeliveryID)
	}

	// The event's status: one delivery, delivered, three attempts in two
	// generations.
	var status wire.EventStatus
	waitUntil(t, ctx, 60*time.Second, "the event's attempts in the log", func() bool {
		status, err = c.GetEvent(ctx, pub.ID)
		return err == nil && len(status.Deliveries) == 1 && len(status.Deliveries[0].Attempts) == 3
	}, logs)
	d := status.Deliveries[0]
	if d.State != wire.DeliveryDelivered || d.Attempts[2].Generation != 1 || d.Attempts[2].Attempt != 1 || d.Attempts[0].StatusCode != 500 {
		t.Errorf("event status: %+v", d)
	}
	st, err := c.EndpointStats(ctx, ep.Endpoint.ID, time.Hour)
	if err != nil || st.Sampled != 3 || st.Delivered != 1 || st.Failed != 2 || st.CircuitState == "unknown" || st.LastError == "" {
		t.Errorf("stats: %+v %v", st, err)
	}
	if n := streamed.Load(); n < 3 {
		t.Errorf("the stream carried %d attempts, want 3", n)
	}
	stopStream()

	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve after shutdown: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop within 60s")
	}
}

func getJSON(t *testing.T, ctx context.Context, url string, v any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

func waitUntil(t *testing.T, ctx context.Context, limit time.Duration, what string, ok func() bool, logs interface{ String() string }) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("waited %v for %s\n%s", limit, what, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
