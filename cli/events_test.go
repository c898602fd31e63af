package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
)

func TestEventSend(t *testing.T) {
	fake := newFakeAPI(t)
	fake.handle("POST /v1/events", http.StatusAccepted, api.PublishEventResponse{ID: "evt_1"})
	file := filepath.Join(t.TempDir(), "data.json")
	if err := os.WriteFile(file, []byte(`{"from":"file"}`), 0o600); err != nil {
		t.Fatal(err)
	}

	r := hookctl(t, fake, []string{
		"events", "send", "--type", "order.created", "--data", `{"order_id":42}`, "--tenant", "acme",
		"--id", "evt_1", "--idempotency-key", "k1",
	})
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, "Published event evt_1.")
	wantContains(t, "stderr", r.stderr, "hookctl events get evt_1")

	hookctl(t, fake, []string{"events", "send", "-t", "a", "--data", "@" + file}).wantCode(t, cmdutil.ExitOK)
	hookctl(t, fake, []string{"events", "send", "-t", "a", "--data", "-"}, stdin(`[1,2]`)).wantCode(t, cmdutil.ExitOK)
	hookctl(t, fake, []string{"events", "send", "-t", "a"}).wantCode(t, cmdutil.ExitOK)

	reqs := fake.requests()
	wantJSONBody(t, reqs[0], `{"id":"evt_1","type":"order.created","tenant_id":"acme","data":{"order_id":42}}`)
	if got := reqs[0].Header.Get("Idempotency-Key"); got != "k1" {
		t.Errorf("Idempotency-Key %q", got)
	}
	wantJSONBody(t, reqs[1], `{"type":"a","data":{"from":"file"}}`)
	wantJSONBody(t, reqs[2], `{"type":"a","data":[1,2]}`)
	wantJSONBody(t, reqs[3], `{"type":"a","data":{}}`)
	if got := reqs[3].Header.Get("Idempotency-Key"); got != "" {
		t.Errorf("unexpected Idempotency-Key %q", got)
	}
}

func TestEventSendDuplicateAndJSON(t *testing.T) {
	fake := newFakeAPI(t)
	fake.handle("POST /v1/events", http.StatusAccepted, api.PublishEventResponse{ID: "evt_1", Duplicate: true})
	r := hookctl(t, fake, []string{"events", "send", "--type", "a", "--id", "evt_1"})
	wantContains(t, "stdout", r.stdout, "already published")
	r = hookctl(t, fake, []string{"events", "send", "--type", "a", "-o", "json"})
	if r.stdout != "{\n  \"id\": \"evt_1\",\n  \"duplicate\": true\n}\n" {
		t.Errorf("json %q", r.stdout)
	}
}

func TestEventSendUsageErrors(t *testing.T) {
	fake := newFakeAPI(t)
	for _, args := range [][]string{
		{"events", "send"},
		{"events", "send", "--type", " "},
		{"events", "send", "--type", "a", "--data", "{not json"},
		{"events", "send", "--type", "a", "--data", "@/no/such/file"},
		{"events", "get"},
	} {
		if r := hookctl(t, fake, args); r.code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if len(fake.requests()) != 0 {
		t.Error("usage errors sent requests")
	}
}

func testAttempt(n int, outcome string, status int, ago time.Duration) api.Attempt {
	return api.Attempt{
		ID: "att_" + string(rune('0'+n)), DeliveryID: "msg_1", EventID: "evt_1", EventType: "order.created", EndpointID: "ep_1",
		Attempt: n, StartedAt: time.Now().Add(-ago), Duration: api.Duration(120 * time.Millisecond), StatusCode: status, Outcome: outcome,
	}
}

func TestEventGet(t *testing.T) {
	fake := newFakeAPI(t)
	a1 := testAttempt(1, "failed", 500, 5*time.Minute)
	a1.Error = "HTTP 500"
	a2 := testAttempt(2, "delivered", 200, 4*time.Minute)
	fake.handle("GET /v1/events/{id}", http.StatusOK, api.EventStatus{EventID: "evt_1", Deliveries: []api.Delivery{
		{DeliveryID: "msg_1", EventID: "evt_1", EventType: "order.created", EndpointID: "ep_1", State: "delivered", Attempts: []api.Attempt{a1, a2}},
	}})
	r := hookctl(t, fake, []string{"events", "get", "evt_1"}, tty)
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, "Event evt_1: 1 delivery", "msg_1", "delivered", "ep_1", "5m ago", "HTTP 500", "120ms")
	if !regexp.MustCompile(`(?m)^  GEN\s+#\s+STARTED\s+OUTCOME`).MatchString(r.stdout) {
		t.Errorf("no indented attempts table:\n%s", r.stdout)
	}
	r = hookctl(t, fake, []string{"events", "get", "evt_1", "-o", "yaml"})
	wantContains(t, "stdout", r.stdout, "event_id: evt_1\ndeliveries:\n  - delivery_id: msg_1\n", "duration: 120ms")
}

func TestDeliveriesAndAttemptsList(t *testing.T) {
	fake := newFakeAPI(t)
	a := testAttempt(3, "timeout", 0, time.Minute)
	a.Error = "no response within 30s"
	fake.handle("GET /v1/deliveries", http.StatusOK, api.Page[api.Delivery]{Items: []api.Delivery{
		{DeliveryID: "msg_1", EventID: "evt_1", EventType: "order.created", EndpointID: "ep_1", State: "retrying", Attempts: []api.Attempt{a}},
	}})
	fake.handle("GET /v1/attempts", http.StatusOK, api.Page[api.Attempt]{Items: []api.Attempt{a}})

	r := hookctl(t, fake, []string{
		"deliveries", "list", "--endpoint", "ep_1", "--event-type", "Order.Created", "--outcome", "timeout",
		"--tenant", "acme", "--since", "2026-01-02T00:00:00Z", "--until", "2026-01-03T00:00:00Z", "--limit", "10",
	})
	r.wantCode(t, cmdutil.ExitOK)
	if q := fake.requests()[0].Query; q != "endpoint=ep_1&event_type=order.created&limit=10&outcome=timeout&since=2026-01-02T00%3A00%3A00Z&tenant=acme&until=2026-01-03T00%3A00%3A00Z" {
		t.Errorf("query %q", q)
	}
	if !regexp.MustCompile(`(?m)^msg_1\s+evt_1\s+order.created\s+ep_1\s+retrying\s+3\s+-\s+\S+Z\s+no response within 30s$`).MatchString(r.stdout) {
		t.Errorf("deliveries table:\n%s", r.stdout)
	}

	before := time.Now()
	r = hookctl(t, fake, []string{"attempts", "list", "--since", "1h", "-o", "jsonl"})
	r.wantCode(t, cmdutil.ExitOK)
	q := fake.requests()[1].Query
	since, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(strings.ReplaceAll(q, "%3A", ":"), "since="))
	if err != nil || since.Before(before.Add(-time.Hour-time.Second)) || since.After(time.Now().Add(-time.Hour)) {
		t.Errorf("--since 1h sent %q", q)
	}
	if !strings.HasPrefix(r.stdout, `{"id":"att_3"`) || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("jsonl %q", r.stdout)
	}

	r = hookctl(t, fake, []string{"attempts", "list"}, tty)
	if !regexp.MustCompile(`(?m)^STARTED\s+DELIVERY\s+ENDPOINT\s+TYPE\s+GEN\s+#\s+OUTCOME\s+STATUS\s+DURATION\s+ERROR$`).MatchString(r.stdout) {
		t.Errorf("attempts table:\n%s", r.stdout)
	}
	wantContains(t, "stdout", r.stdout, "1m ago", "timeout")
}

func TestListFilterUsageErrors(t *testing.T) {
	fake := newFakeAPI(t)
	for _, args := range [][]string{
		{"deliveries", "list", "--outcome", "great"},
		{"deliveries", "list", "--since", "yesterday"},
		{"attempts", "list", "--since", "-1h"},
		{"attempts", "list", "--since", "1h", "--until", "2h"},
		{"attempts", "list", "--reason", "exhausted"}, // not an attempts filter
		{"dlq", "list", "--reason", "bored"},
		{"dlq", "list", "--outcome", "failed"}, // not a dlq filter
		{"deliveries", "get"},
	} {
		if r := hookctl(t, fake, args); r.code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if len(fake.requests()) != 0 {
		t.Error("usage errors sent requests")
	}
}

func TestDeliveryGet(t *testing.T) {
	fake := newFakeAPI(t)
	a := testAttempt(1, "delivered", 200, time.Minute)
	fake.handle("GET /v1/deliveries/{id}", http.StatusOK, api.Delivery{DeliveryID: "msg_1", EventID: "evt_1", EventType: "order.created", EndpointID: "ep_1", State: "delivered", Attempts: []api.Attempt{a}})
	r := hookctl(t, fake, []string{"deliveries", "get", "msg_1"})
	r.wantCode(t, cmdutil.ExitOK)
	if fake.only().Path != "/v1/deliveries/msg_1" {
		t.Error("path")
	}
	wantContains(t, "stdout", r.stdout, "Delivery", "msg_1", "evt_1 (order.created)", a.StartedAt.UTC().Format(time.RFC3339))
}
