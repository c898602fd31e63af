package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hookd/hookd/internal/lanes"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCounting(t *testing.T) {
	m := New()
	m.Attempt("delivered", 20*time.Millisecond)
	m.Attempt("delivered", 30*time.Millisecond)
	m.Attempt("timeout", 15*time.Second)
	m.Attempt("failed", 100*time.Millisecond)
	m.Deferred("saturated")
	m.Deferred("circuit_open")
	m.Deferred("circuit_open")
	m.DeadLetter("exhausted")
	m.RetryScheduled("5s")
	m.RetryScheduled("5s")
	m.RetryScheduled("1m")
	m.InflightInc()
	m.InflightInc()
	m.InflightDec()

	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{value(t, m.deliveries.WithLabelValues("delivered")), 2, "delivered"},
		{value(t, m.deliveries.WithLabelValues("timeout")), 1, "timeout"},
		{value(t, m.deliveries.WithLabelValues("failed")), 1, "failed"},
		{value(t, m.deferred.WithLabelValues("circuit_open")), 2, "deferred circuit_open"},
		{value(t, m.deferred.WithLabelValues("saturated")), 1, "deferred saturated"},
		{value(t, m.deadLetters.WithLabelValues("exhausted")), 1, "dead letters"},
		{value(t, m.retries.WithLabelValues("5s")), 2, "retries 5s"},
		{value(t, m.retries.WithLabelValues("1m")), 1, "retries 1m"},
		{value(t, m.inflight), 1, "inflight"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	// Two classes only, however many outcomes.
	if n := len(collect(t, m.duration)); n != 2 {
		t.Errorf("attempt_duration_seconds has %d series, want 2", n)
	}
}

func TestExposition(t *testing.T) {
	m := New()
	m.Attempt("delivered", 7*time.Millisecond)
	m.Attempt("connection_error", 2*time.Second)
	m.Deferred("rate_limited")
	m.DeadLetter("gone")
	m.RetryScheduled("10m")
	m.InflightInc()
	m.OnStateChange(lanes.StateChange{EndpointID: "ep_1", From: lanes.StateClosed, To: lanes.StateOpen})

	body := scrape(t, m)
	for _, want := range []string{
		`hookd_deliveries_total{outcome="delivered"} 1`,
		`hookd_deliveries_total{outcome="connection_error"} 1`,
		`hookd_attempt_duration_seconds_bucket{outcome="success",le="0.01"} 1`,
		`hookd_attempt_duration_seconds_bucket{outcome="success",le="0.005"} 0`,
		`hookd_attempt_duration_seconds_bucket{outcome="failure",le="2.5"} 1`,
		`hookd_attempt_duration_seconds_bucket{outcome="failure",le="30"} 1`,
		`hookd_attempt_duration_seconds_count{outcome="failure"} 1`,
		`hookd_deferred_total{reason="rate_limited"} 1`,
		`hookd_dead_letters_total{reason="gone"} 1`,
		`hookd_retries_scheduled_total{tier="10m"} 1`,
		`hookd_inflight_deliveries 1`,
		`hookd_circuit_open_endpoints 1`,
		`# TYPE hookd_attempt_duration_seconds histogram`,
		`go_goroutines `,
		`process_`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(body, "ep_1") {
		t.Error("an endpoint id appears in the metrics")
	}
}

func TestCircuitOpenEndpoints(t *testing.T) {
	m := New()
	open := func(id string) lanes.StateChange {
		return lanes.StateChange{EndpointID: id, From: lanes.StateClosed, To: lanes.StateOpen}
	}
	gauge := func() float64 { return value(t, m.circuitsOpen) }

	m.OnStateChange(open("a"))
	m.OnStateChange(open("b"))
	m.OnStateChange(open("b")) // reported twice: still one endpoint
	if g := gauge(); g != 2 {
		t.Fatalf("gauge = %v, want 2", g)
	}
	m.OnStateChange(lanes.StateChange{EndpointID: "a", From: lanes.StateOpen, To: lanes.StateHalfOpen})
	if g := gauge(); g != 1 {
		t.Fatalf("after a half-open: gauge = %v, want 1", g)
	}
	m.OnStateChange(lanes.StateChange{EndpointID: "a", From: lanes.StateHalfOpen, To: lanes.StateOpen})
	m.OnStateChange(lanes.StateChange{EndpointID: "b", From: lanes.StateHalfOpen, To: lanes.StateClosed})
	if g := gauge(); g != 1 {
		t.Fatalf("after b closed: gauge = %v, want 1", g)
	}

	// An open lane evicted without a transition reports closed: the
	// scrape corrects the count.
	m.CircuitState(func(id string) (lanes.State, time.Time, float64) {
		return lanes.StateClosed, time.Time{}, 0
	})
	if g := gauge(); g != 0 {
		t.Fatalf("after eviction: gauge = %v, want 0", g)
	}
}

// The gauge follows a real Lanes: an endpoint that times out repeatedly
// opens its breaker.
func TestCircuitOpenEndpointsFromLanes(t *testing.T) {
	m := New()
	l, err := lanes.New(lanes.Config{OnStateChange: m.OnStateChange})
	if err != nil {
		t.Fatal(err)
	}
	m.CircuitState(l.State)
	for range 50 {
		p, d := l.Acquire(t.Context(), "ep", lanes.Limits{})
		if !d.Admitted() {
			break
		}
		p.Release(lanes.Result{Timeout: true})
	}
	if s, _, _ := l.State("ep"); s != lanes.StateOpen {
		t.Fatalf("breaker %v, want open", s)
	}
	if g := value(t, m.circuitsOpen); g != 1 {
		t.Fatalf("gauge = %v, want 1", g)
	}
}

func TestNilSafe(t *testing.T) {
	var m *Metrics
	m.Attempt("delivered", time.Second)
	m.Deferred("saturated")
	m.DeadLetter("exhausted")
	m.RetryScheduled("5s")
	m.InflightInc()
	m.InflightDec()
	m.OnStateChange(lanes.StateChange{To: lanes.StateOpen})
	m.CircuitState(nil)
	if m.Registry() != nil {
		t.Error("nil metrics have a registry")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("status %d, want 404", rec.Code)
	}
}

func TestConcurrent(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				m.InflightInc()
				m.Attempt("delivered", time.Millisecond)
				m.InflightDec()
				m.OnStateChange(lanes.StateChange{EndpointID: string(rune('a' + i)), To: lanes.StateOpen})
				_ = scrapeCount(m)
			}
		})
	}
	wg.Wait()
	if g := value(t, m.inflight); g != 0 {
		t.Errorf("inflight = %v, want 0", g)
	}
	if g := value(t, m.deliveries.WithLabelValues("delivered")); g != 800 {
		t.Errorf("delivered = %v, want 800", g)
	}
	if g := value(t, m.circuitsOpen); g != 8 {
		t.Errorf("open = %v, want 8", g)
	}
}

func scrapeCount(m *Metrics) int { return m.circuits.count() }

// collect gathers the series of c.
func collect(t *testing.T, c prometheus.Collector) []*dto.Metric {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	var out []*dto.Metric
	for pm := range ch {
		var d dto.Metric
		if err := pm.Write(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, &d)
	}
	return out
}

// value is the value of the one series of a counter or gauge.
func value(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ms := collect(t, c)
	if len(ms) != 1 {
		t.Fatalf("%d series, want 1", len(ms))
	}
	switch {
	case ms[0].Counter != nil:
		return ms[0].Counter.GetValue()
	case ms[0].Gauge != nil:
		return ms[0].Gauge.GetValue()
	}
	t.Fatal("neither a counter nor a gauge")
	return 0
}
