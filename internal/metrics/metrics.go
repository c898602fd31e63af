// Package metrics defines hookd's Prometheus metrics, the registry that
// holds them and the handler that serves them on /metrics.
//
// Every method is safe on a nil *Metrics (it does nothing), so code that
// records metrics works unchanged when none are wanted, as in tests.
//
// Labels are kept to small, fixed sets: outcomes, reasons, tiers. Nothing
// is labeled by endpoint, tenant or event type, whose number is not
// bounded by hookd: a series per endpoint would grow the registry, every
// scrape and the Prometheus server without limit. Per-endpoint state is
// for the API and the logs; the metrics count how many.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookd/hookd/internal/lanes"
)

const namespace = "hookd"

// Outcome classes of hookd_attempt_duration_seconds.
const (
	ClassSuccess = "success"
	ClassFailure = "failure"
)

// AttemptBuckets are the bounds of hookd_attempt_duration_seconds, in
// seconds: from a fast local receiver (5 ms) to the longest timeout an
// endpoint is normally given (30 s).
var AttemptBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30}

// Metrics holds hookd's metrics and the registry they are registered in.
type Metrics struct {
	reg *prometheus.Registry

	deliveries   *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	deferred     *prometheus.CounterVec
	deadLetters  *prometheus.CounterVec
	retries      *prometheus.CounterVec
	inflight     prometheus.Gauge
	circuitsOpen prometheus.GaugeFunc
	lag          *prometheus.GaugeVec
	httpRequests *prometheus.HistogramVec
	streamConns  prometheus.Gauge
	streamDrops  *prometheus.CounterVec

	circuits circuits
}

// New returns metrics registered in a registry of their own, along with
// the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "deliveries_total",
			Help:      "Delivery attempts made, by outcome (delivered, failed, timeout, connection_error, blocked).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "attempt_duration_seconds",
			Help:      "Duration of delivery attempts, by outcome class (success or failure).",
			Buckets:   AttemptBuckets,
		}, []string{"outcome"}),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "deferred_total",
			Help:      "Deliveries moved to a retry tier without an attempt, by reason (saturated, rate_limited, circuit_open, ...).",
		}, []string{"reason"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "dead_letters_total",
			Help:      "Dead letters written, by reason.",
		}, []string{"reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "retries_scheduled_total",
			Help:      "Deliveries written to a retry tier (retries after an attempt, deferrals, and moves to a shorter tier), by tier.",
		}, []string{"tier"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "inflight_deliveries",
			Help:      "Delivery attempts in progress (HTTP requests not yet answered).",
		}),
	}
	// Topics and partitions are few and fixed, unlike endpoints. The lag
	// of a retry tier's topic is the work pending in that tier.
	m.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "consumer_lag_messages",
		Help:      "Messages of a partition not yet consumed, as of the last message read (retry tier topics: pending retries).",
	}, []string{"topic", "partition"})
	// Labeled by route pattern, never by path: ids in paths are unbounded.
	m.httpRequests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "http_request_duration_seconds",
		Help:      "API requests, by route pattern, method and status class (2xx, 4xx, ...).",
		Buckets:   []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10},
	}, []string{"route", "method", "status"})
	m.streamConns = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "stream_clients",
		Help:      "Clients following GET /v1/stream.",
	})
	m.streamDrops = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "stream_dropped_total",
		Help:      "Stream clients dropped, by reason (behind: its queue filled; stalled: a write timed out).",
	}, []string{"reason"})
	m.circuits.open = map[string]uint64{}
	// A count, not a series per endpoint: see the package documentation.
	m.circuitsOpen = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "circuit_open_endpoints",
		Help:      "Endpoints whose circuit breaker is open.",
	}, func() float64 { return float64(m.circuits.count()) })
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.deliveries, m.duration, m.deferred, m.deadLetters, m.retries, m.inflight, m.circuitsOpen, m.lag, m.httpRequests, m.streamConns, m.streamDrops,
	)
	return m
}

// Registry returns the registry the metrics are registered in, for
// registering more collectors.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the metrics in the Prometheus exposition formats. A nil
// *Metrics serves 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// HTTPRequest records an API request: its route pattern (not its path),
// method, status and duration.
func (m *Metrics) HTTPRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	class := strconv.Itoa(status/100) + "xx"
	m.httpRequests.WithLabelValues(route, method, class).Observe(d.Seconds())
}

// StreamClientsInc counts a stream client in.
func (m *Metrics) StreamClientsInc() {
	if m != nil {
		m.streamConns.Inc()
	}
}

// StreamClientsDec counts a stream client out.
func (m *Metrics) StreamClientsDec() {
	if m != nil {
		m.streamConns.Dec()
	}
}

// StreamDropped counts a stream client dropped for reason.
func (m *Metrics) StreamDropped(reason string) {
	if m != nil {
		m.streamDrops.WithLabelValues(reason).Inc()
	}
}

// Attempt records a delivery attempt: its outcome (a domain.Outcome) and
// how long it took.
func (m *Metrics) Attempt(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(outcome).Inc()
	class := ClassFailure
	if outcome == "delivered" {
		class = ClassSuccess
	}
	m.duration.WithLabelValues(class).Observe(d.Seconds())
}

// InflightInc notes an attempt starting; InflightDec notes it ending.
func (m *Metrics) InflightInc() {
	if m != nil {
		m.inflight.Inc()
	}
}

// InflightDec notes an attempt ending.
func (m *Metrics) InflightDec() {
	if m != nil {
		m.inflight.Dec()
	}
}

// Deferred records a delivery moved to a retry tier without an attempt.
func (m *Metrics) Deferred(reason string) {
	if m != nil {
		m.deferred.WithLabelValues(reason).Inc()
	}
}

// DeadLetter records a dead letter (reason is a domain.Reason*).
func (m *Metrics) DeadLetter(reason string) {
	if m != nil {
		m.deadLetters.WithLabelValues(reason).Inc()
	}
}

// RetryScheduled records a delivery written to a retry tier (tier is the
// tier's name, as retry.TierName spells it).
func (m *Metrics) RetryScheduled(tier string) {
	if m != nil {
		m.retries.WithLabelValues(tier).Inc()
	}
}

// OnStateChange follows circuit breaker transitions; it has the signature
// of lanes.Config.OnStateChange.
func (m *Metrics) OnStateChange(c lanes.StateChange) {
	if m != nil {
		m.circuits.change(c)
	}
}

// CircuitState, when set, is asked at each scrape for the state of the
// endpoints counted as open (lanes.Lanes.State has its signature). It
// corrects the count for changes that produce no transition: a lane
// evicted while open is forgotten, and reported closed.
func (m *Metrics) CircuitState(state func(endpointID string) (lanes.State, time.Time, float64)) {
	if m == nil {
		return
	}
	m.circuits.mu.Lock()
	m.circuits.state = state
	m.circuits.mu.Unlock()
}

// circuits is the set of endpoints whose breaker is open. A set, not a
// counter, so that a transition reported twice cannot drift the count; its
// size is bounded by the endpoints that are open.
type circuits struct {
	mu sync.Mutex
	// open maps an open endpoint to the sequence number of the change
	// that opened it, so that a correction made at scrape time never
	// undoes a change that came after the state it looked at.
	open  map[string]uint64
	seq   uint64
	state func(endpointID string) (lanes.State, time.Time, float64)
}

func (c *circuits) change(ch lanes.StateChange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	if ch.To == lanes.StateOpen {
		c.open[ch.EndpointID] = c.seq
	} else {
		delete(c.open, ch.EndpointID)
	}
}

func (c *circuits) count() int {
	c.mu.Lock()
	state := c.state
	if state == nil {
		defer c.mu.Unlock()
		return len(c.open)
	}
	snap := make(map[string]uint64, len(c.open))
	for id, seq := range c.open {
		snap[id] = seq
	}
	c.mu.Unlock()
	// Ask outside the lock: State takes the lane's lock, and the lanes
	// call OnStateChange right after releasing it.
	var closed []string
	for id := range snap {
		if s, _, _ := state(id); s != lanes.StateOpen {
			closed = append(closed, id)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range closed {
		if seq, ok := c.open[id]; ok && seq == snap[id] {
			delete(c.open, id)
		}
	}
	return len(c.open)
}

// ConsumerLag records how far a partition's consumer is behind its end.
func (m *Metrics) ConsumerLag(topic string, partition int32, lag int64) {
	if m == nil {
		return
	}
	m.lag.WithLabelValues(topic, strconv.FormatInt(int64(partition), 10)).Set(float64(max(lag, 0)))
}
