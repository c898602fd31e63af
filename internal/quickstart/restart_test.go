package quickstart

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookd/hookd/internal/signature"
)

// receiver counts what reaches it, by webhook-id, and checks signatures.
type receiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	ids    map[string]bool // webhook-ids
	events map[string]bool // event ids from the bodies
	total  int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	res := signature.Verify(signature.VerifyInput{Secrets: []string{rc.secret}, Header: r.Header, Body: body, Tolerance: time.Minute, Now: time.Now()})
	if !res.Valid {
		rc.t.Errorf("a delivery with a bad signature: %s: %s", res.Reason, res.Detail)
	}
	var ev struct{ ID string }
	_ = json.Unmarshal(body, &ev)
	rc.mu.Lock()
	rc.ids[r.Header.Get("webhook-id")] = true
	rc.events[ev.ID] = true
	rc.total++
	rc.mu.Unlock()
}

func (rc *receiver) counts() (ids, total int, events map[string]bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ev := make(map[string]bool, len(rc.events))
	for k := range rc.events {
		ev[k] = true
	}
	return len(rc.ids), rc.total, ev
}

// hookd dev is killed with SIGKILL while every delivery is pending: some
// waiting in the retry tiers after failed attempts, some published to the
// events topic a moment before. Started again on the same data directory,
// it delivers every one.
func TestDevRestartAfterKill(t *testing.T) {
	work := t.TempDir()
	env := env(work)
	apiPort, kafkaPort, recvPort := freePort(t), freePort(t), freePort(t)
	devArgs := []string{filepath.Join(binDir, "hookd"), "dev", "--data-dir", "data", "--port", strconv.Itoa(apiPort), "--kafka-port", strconv.Itoa(kafkaPort)}
	ready := func(stdout, _ string) bool { return strings.Contains(stdout, "ready") }

	dev := startProc(t, "hookd dev", work, env, devArgs...)
	dev.waitFor(t, "readiness", 45*time.Second, ready)

	// The receiver is down: every attempt fails to connect, and retries
	// come due every second or two, never running out.
	r := sh(t, work, env, fmt.Sprintf("hookctl endpoints create --url http://127.0.0.1:%d/hooks --retry-exponential min=1s,max=2s,attempts=50 -o json", recvPort))
	if r.code != 0 {
		t.Fatalf("endpoints create:\n%s", r)
	}
	var created struct {
		Endpoint struct {
			ID string `json:"id"`
		} `json:"endpoint"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil || created.Secret == "" || created.Endpoint.ID == "" {
		t.Fatalf("endpoints create -o json: %v\n%s", err, r.stdout)
	}

	want := map[string]bool{}
	// Through the API...
	for i := range 10 {
		id := fmt.Sprintf("evt_api_%d", i)
		if r := sh(t, work, env, fmt.Sprintf(`hookctl events send --type order.created --id %s --data '{"n": %d}'`, id, i)); r.code != 0 {
			t.Fatalf("events send:\n%s", r)
		}
		want[id] = true
	}
	// ...and straight to Kafka, with a client that is not hookd's.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(net.JoinHostPort("127.0.0.1", strconv.Itoa(kafkaPort))))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	publish := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			id := fmt.Sprintf("evt_kafka_%d", i)
			recs = append(recs, &kgo.Record{Topic: "hookd.events", Key: []byte(id), Value: fmt.Appendf(nil, `{"id":%q,"type":"order.created","data":{"n":%d}}`, id, i)})
			want[id] = true
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	publish(0, 10)

	// Wait until each of those has failed at least once, so its delivery
	// lives in a retry tier.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := sh(t, work, env, "hookctl attempts list --endpoint "+created.Endpoint.ID+" --all -o jsonl")
		if r.code == 0 && distinctDeliveries(r.stdout) >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every delivery failed once within 30s:\n%s", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A few more, acknowledged by the broker just before the kill.
	publish(10, 15)
	dev.kill(t)

	rc := &receiver{t: t, secret: created.Secret, ids: map[string]bool{}, events: map[string]bool{}}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(recvPort)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	dev = startProc(t, "hookd dev (restarted)", work, env, devArgs...)
	dev.waitFor(t, "readiness", 45*time.Second, ready)
	deadline = time.Now().Add(45 * time.Second)
	for {
		ids, total, events := rc.counts()
		if ids == len(want) {
			for id := range want {
				if !events[id] {
					t.Errorf("event %s never arrived", id)
				}
			}
			t.Logf("%d deliveries arrived, %d requests in all (duplicates are allowed)", ids, total)
			break
		}
		if ids > len(want) {
			t.Fatalf("%d distinct webhook-ids, more than the %d events", ids, len(want))
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart %d of %d deliveries arrived within 45s", ids, len(want))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := dev.interrupt(t, 30*time.Second); err != nil {
		t.Errorf("hookd dev exited with %v on Ctrl-C", err)
	}
}

func distinctDeliveries(jsonl string) int {
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		var a struct {
			DeliveryID string `json:"delivery_id"`
		}
		if json.Unmarshal([]byte(line), &a) == nil && a.DeliveryID != "" {
			seen[a.DeliveryID] = true
		}
	}
	return len(seen)
}
