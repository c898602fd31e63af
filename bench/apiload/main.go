// Command apiload measures POST /v1/events of a running hookd: a fixed
// number of concurrent clients (closed model) or a fixed request rate
// (open model, -rate), for a duration, with events of a given size. It
// prints throughput and latency percentiles, and JSON with -json.
//
//	go run ./bench/apiload -server http://127.0.0.1:8080 -key $KEY -c 32 -d 30s
//	go run ./bench/apiload -server http://127.0.0.1:8080 -key $KEY -rate 2000 -d 30s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Server      string        `json:"server"`
	Concurrency int           `json:"concurrency"`
	Rate        float64       `json:"rate,omitempty"`
	PayloadSize int           `json:"payload_bytes"`
	DurationS   float64       `json:"duration_s"`
	Requests    int64         `json:"requests"`
	Errors      int64         `json:"errors"`
	PerSecond   float64       `json:"per_second"`
	P50ms       float64       `json:"p50_ms"`
	P90ms       float64       `json:"p90_ms"`
	P99ms       float64       `json:"p99_ms"`
	P999ms      float64       `json:"p999_ms"`
	MaxMs       float64       `json:"max_ms"`
	Statuses    map[int]int64 `json:"statuses"`
}

func main() {
	server := flag.String("server", "http://127.0.0.1:8080", "hookd API URL")
	key := flag.String("key", os.Getenv("HOOKCTL_API_KEY"), "API key with events:publish (default $HOOKCTL_API_KEY)")
	conc := flag.Int("c", 32, "concurrent clients")
	rate := flag.Float64("rate", 0, "requests per second (open model); 0 sends as fast as the clients can")
	dur := flag.Duration("d", 20*time.Second, "how long to send")
	size := flag.Int("size", 1024, "bytes of event data")
	typ := flag.String("type", "bench.event", "event type")
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()
	if *key == "" {
		fmt.Fprintln(os.Stderr, "apiload: no API key: pass -key or set HOOKCTL_API_KEY")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	data, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", max(*size-10, 0))})
	body, _ := json.Marshal(map[string]any{"type": *typ, "data": json.RawMessage(data)})
	tr := &http.Transport{MaxIdleConnsPerHost: *conc * 2, MaxConnsPerHost: *conc * 2}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	url := strings.TrimRight(*server, "/") + "/v1/events"

	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, 1<<20)
		statuses  = map[int]int64{}
		errs      atomic.Int64
	)
	send := func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+*key)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		lat := time.Since(start)
		if err != nil {
			if ctx.Err() == nil {
				errs.Add(1)
			}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		mu.Lock()
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusAccepted {
			latencies = append(latencies, lat)
		}
		mu.Unlock()
		if resp.StatusCode != http.StatusAccepted {
			errs.Add(1)
		}
	}

	deadline := time.Now().Add(*dur)
	start := time.Now()
	var wg sync.WaitGroup
	if *rate > 0 {
		// Open model: requests start on schedule whatever the latency, so
		// a slow server shows up as latency rather than a lower rate.
		sem := make(chan struct{}, *conc*8)
		interval := time.Duration(float64(time.Second) / *rate)
		next := time.Now()
		for time.Now().Before(deadline) && ctx.Err() == nil {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			select {
			case sem <- struct{}{}:
			default:
				errs.Add(1) // too many outstanding: counted, not queued
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				send()
				<-sem
			}()
		}
	} else {
		for range *conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) && ctx.Err() == nil {
					send()
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)

	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		i := min(int(p*float64(len(latencies))), len(latencies)-1)
		return float64(latencies[i].Microseconds()) / 1000
	}
	r := result{
		Server: *server, Concurrency: *conc, Rate: *rate, PayloadSize: len(body), DurationS: elapsed.Seconds(),
		Requests: int64(len(latencies)), Errors: errs.Load(), PerSecond: float64(len(latencies)) / elapsed.Seconds(),
		P50ms: pct(0.50), P90ms: pct(0.90), P99ms: pct(0.99), P999ms: pct(0.999), Statuses: statuses,
	}
	if len(latencies) > 0 {
		r.MaxMs = float64(latencies[len(latencies)-1].Microseconds()) / 1000
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
		return
	}
	fmt.Printf("POST /v1/events  %d clients  %d-byte bodies  %.1fs\n", r.Concurrency, r.PayloadSize, r.DurationS)
	fmt.Printf("  accepted   %d (%.0f/s), errors %d, statuses %v\n", r.Requests, r.PerSecond, r.Errors, r.Statuses)
	fmt.Printf("  latency    p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms\n", r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs)
}
