package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/bench/internal/stats"
)

// meter watches one stack: the processes, hookd's metrics and the lags.
type meter struct {
	s     *stack
	procs []tracked
	mon   *monitor
}

// Process names in reports.
const (
	procHookd     = "hookd"
	procLogWriter = "hookd-logwriter" // with -split-logwriter
	procReceiver  = "receiver"
	procKafka     = "kafka"
	procCassandra = "cassandra"
	procPostgres  = "postgres"
	procBench     = "bench"
)

var procOrder = []string{procHookd, procLogWriter, procReceiver, procKafka, procCassandra, procPostgres, procBench}

func newMeter(s *stack) *meter {
	dir := s.env.testenvDir
	self := []int{pidSelf()}
	procs := []tracked{
		{Name: procHookd, pids: s.hookdPid},
		{Name: procLogWriter, pids: s.logWriterPid},
		{Name: procReceiver, pids: func() []int { return []int{s.recv.pid()} }},
		{Name: procKafka, pids: pidFile(dir + "/kafka/kafka.pid")},
		{Name: procCassandra, pids: pidFile(dir + "/cassandra/cassandra.pid")},
		{Name: procPostgres, pids: pidFile(dir + "/postgres/postgres.pid"), withChildren: true},
		{Name: procBench, pids: func() []int { return self }},
	}
	return &meter{s: s, procs: procs, mon: newMonitor(procs, time.Second)}
}

func (m *meter) close() { m.mon.close() }

// mark is everything measured at one instant; a window is two marks.
type mark struct {
	t       time.Time
	at      float64 // seconds since the meter started
	snap    *Snapshot
	prod    prodCounts
	cpu     map[string]time.Duration
	machine machineCPU
	metrics map[string]float64
	lag     lags
	lagErr  error
}

func (m *meter) mark(ctx context.Context) (mark, error) {
	snap, err := m.s.recv.snapshot(ctx)
	if err != nil {
		return mark{}, err
	}
	mk := mark{t: time.Now(), at: m.mon.elapsed(), snap: snap, prod: m.s.prod.counts(), cpu: cpuOf(m.procs), machine: readMachineCPU()}
	if len(m.s.hookdPid()) > 0 {
		mk.metrics = scrapeMetrics(ctx, "http://"+m.s.apiAddr+"/metrics")
	}
	mk.lag, mk.lagErr = m.s.lag.read(m.s)
	return mk, nil
}

// scrapeMetrics reads hookd's Prometheus text into series → value.
func scrapeMetrics(ctx context.Context, url string) map[string]float64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "hookd_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

// window is what happened between two marks.
type window struct {
	Seconds float64 `json:"seconds"`
	// Offered: events Kafka acknowledged, and the deliveries they call for.
	OfferedEventsPerS     float64 `json:"offered_events_per_s"`
	OfferedDeliveriesPerS float64 `json:"offered_deliveries_per_s"`
	// Delivered: first arrivals accepted by the receiver (all endpoints,
	// and the healthy ones).
	DeliveredPerS        float64 `json:"delivered_per_s"`
	HealthyDeliveredPerS float64 `json:"healthy_delivered_per_s"`
	Requests             uint64  `json:"receiver_requests"`
	Duplicates           uint64  `json:"duplicates"`
	BadSignatures        uint64  `json:"bad_signatures"`
	BadWebhookIDs        uint64  `json:"bad_webhook_ids"`
	// Latency is publish→receive of first arrivals at healthy endpoints.
	Latency        stats.Latency            `json:"latency"`
	LatencyByClass map[string]stats.Latency `json:"latency_by_class,omitempty"`
	// CPU in cores (CPU seconds per second) per process, the whole machine
	// and what the machine ran besides the processes the bench knows
	// (other engineers' work on a shared machine).
	CPUCores        map[string]float64 `json:"cpu_cores"`
	MachineCores    float64            `json:"machine_busy_cores"`
	OtherCores      float64            `json:"other_cores"`
	HookdMicrosPerD float64            `json:"hookd_cpu_us_per_delivery"`
	// LogWriterMicrosPerD is the separate logwriter's CPU per delivery
	// (-split-logwriter); hookd_cpu_us_per_delivery is then api+dispatch.
	LogWriterMicrosPerD float64 `json:"logwriter_cpu_us_per_delivery,omitempty"`
	HookdPeakRSSMB      float64 `json:"hookd_peak_rss_mb"`
	// Backlog: deliveries expected but not yet arrived, at the start and
	// end (healthy endpoints only in an all-healthy run).
	BacklogStart int64 `json:"backlog_start"`
	BacklogEnd   int64 `json:"backlog_end"`
	LagStart     lags  `json:"lag_start"`
	LagEnd       lags  `json:"lag_end"`
	// HookdCounters are the changes of hookd's delivery counters.
	HookdCounters map[string]float64 `json:"hookd_counters,omitempty"`
}

func perS(d uint64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return round1(float64(d) / secs)
}

func round1(v float64) float64 { return float64(int64(v*10+0.5*sign(v))) / 10 }
func round3(v float64) float64 { return float64(int64(v*1000+0.5*sign(v))) / 1000 }

func sign(v float64) float64 {
	if v < 0 {
		return -1
	}
	return 1
}

func (m *meter) window(a, b mark) window {
	secs := b.t.Sub(a.t).Seconds()
	w := window{Seconds: round1(secs), CPUCores: map[string]float64{}, LatencyByClass: map[string]stats.Latency{}}
	w.OfferedEventsPerS = perS(b.prod.Published-a.prod.Published, secs)
	w.OfferedDeliveriesPerS = perS(b.prod.Expected-a.prod.Expected, secs)
	delivered := b.snap.Delivered() - a.snap.Delivered()
	w.DeliveredPerS = perS(delivered, secs)
	w.HealthyDeliveredPerS = perS(b.snap.HealthyDelivered()-a.snap.HealthyDelivered(), secs)
	sum := func(s *Snapshot, f func(*ClassSnapshot) uint64) uint64 { return s.Sum(f) }
	w.Requests = sum(b.snap, func(c *ClassSnapshot) uint64 { return c.Requests }) - sum(a.snap, func(c *ClassSnapshot) uint64 { return c.Requests })
	w.Duplicates = sum(b.snap, func(c *ClassSnapshot) uint64 { return c.Duplicates }) - sum(a.snap, func(c *ClassSnapshot) uint64 { return c.Duplicates })
	w.BadSignatures = sum(b.snap, func(c *ClassSnapshot) uint64 { return c.BadSignature }) - sum(a.snap, func(c *ClassSnapshot) uint64 { return c.BadSignature })
	w.BadWebhookIDs = sum(b.snap, func(c *ClassSnapshot) uint64 { return c.BadWebhookID }) - sum(a.snap, func(c *ClassSnapshot) uint64 { return c.BadWebhookID })
	w.Latency = b.snap.HealthyHist().Sub(a.snap.HealthyHist()).Summary()
	for name, c := range b.snap.Classes {
		h := stats.FromSparse(c.LatencyMicros)
		if ac := a.snap.Classes[name]; ac != nil {
			h = h.Sub(stats.FromSparse(ac.LatencyMicros))
		}
		if h.Total() > 0 {
			w.LatencyByClass[name] = h.Summary()
		}
	}
	var known time.Duration
	for _, name := range procOrder {
		d, ok := b.cpu[name]
		if !ok {
			continue
		}
		d -= a.cpu[name] // hookd restarted: a has nothing, b counts from its start
		if d < 0 {
			d = b.cpu[name]
		}
		known += d
		w.CPUCores[name] = round3(d.Seconds() / secs)
	}
	w.MachineCores = round3((b.machine.Busy - a.machine.Busy).Seconds() / secs)
	w.OtherCores = round3(max(w.MachineCores-known.Seconds()/secs, 0))
	if delivered > 0 {
		w.HookdMicrosPerD = round1(w.CPUCores[procHookd] * secs * 1e6 / float64(delivered))
		w.LogWriterMicrosPerD = round1(w.CPUCores[procLogWriter] * secs * 1e6 / float64(delivered))
	}
	for _, p := range m.mon.rssSeries(procHookd, a.at, b.at) {
		w.HookdPeakRSSMB = max(w.HookdPeakRSSMB, p.RSS)
	}
	w.BacklogStart = int64(a.prod.Expected) - int64(a.snap.HealthyDelivered())
	w.BacklogEnd = int64(b.prod.Expected) - int64(b.snap.HealthyDelivered())
	w.LagStart, w.LagEnd = a.lag, b.lag
	if a.metrics != nil && b.metrics != nil {
		w.HookdCounters = map[string]float64{}
		for k, v := range b.metrics {
			if !strings.HasPrefix(k, "hookd_deliveries_total") && !strings.HasPrefix(k, "hookd_deferred_total") &&
				!strings.HasPrefix(k, "hookd_dead_letters_total") && !strings.HasPrefix(k, "hookd_retries_scheduled_total") {
				continue
			}
			if d := v - a.metrics[k]; d != 0 {
				w.HookdCounters[strings.TrimPrefix(k, "hookd_")] = d
			}
		}
	}
	return w
}

// procSummary is a process's totals over a scenario.
type procSummary struct {
	CPUSeconds float64 `json:"cpu_s"`
	PeakRSSMB  float64 `json:"peak_rss_mb_sampled"`
	HWMMB      float64 `json:"vm_hwm_mb"`
}

func (m *meter) summary(a, b mark) map[string]procSummary {
	out := map[string]procSummary{}
	hwm := hwmOf(m.procs)
	for _, name := range procOrder {
		if _, ok := b.cpu[name]; !ok {
			continue
		}
		d := b.cpu[name] - a.cpu[name]
		if d < 0 {
			d = b.cpu[name]
		}
		out[name] = procSummary{
			CPUSeconds: round1(d.Seconds()),
			PeakRSSMB:  round1(float64(m.mon.peakRSS(name)) / (1 << 20)),
			HWMMB:      round1(float64(hwm[name]) / (1 << 20)),
		}
	}
	// PostgreSQL runs one process per connection; its RSS is the
	// postmaster's only and says little. CPU includes the backends.
	return out
}
