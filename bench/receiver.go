package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hookd/hookd/bench/internal/stats"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/signature"
)

// A behavior is what one receiver port does with every request.
type behavior struct {
	Name   string        // the spec token: ok, 500, delay=10ms, hang
	Status int           // answer status (200 unless a failing class)
	Delay  time.Duration // wait before answering
	Hang   bool          // never answer; wait until the client gives up
}

// Healthy reports whether the behavior accepts deliveries.
func (b behavior) Healthy() bool { return !b.Hang && b.Status >= 200 && b.Status < 300 }

// parseBehavior reads one token: ok, hang, a status code (500), or
// delay=<duration>.
func parseBehavior(tok string) (behavior, error) {
	switch {
	case tok == "ok":
		return behavior{Name: tok, Status: 200}, nil
	case tok == "hang":
		return behavior{Name: tok, Hang: true}, nil
	case strings.HasPrefix(tok, "delay="):
		d, err := time.ParseDuration(strings.TrimPrefix(tok, "delay="))
		if err != nil || d < 0 {
			return behavior{}, fmt.Errorf("behavior %q: bad delay", tok)
		}
		return behavior{Name: tok, Status: 200, Delay: d}, nil
	}
	code, err := strconv.Atoi(tok)
	if err != nil || code < 200 || code > 599 {
		return behavior{}, fmt.Errorf("behavior %q: want ok, hang, delay=<duration> or an HTTP status", tok)
	}
	return behavior{Name: tok, Status: code}, nil
}

// parseSpec assigns a behavior to each of n ports from a spec such as
// "ok" (all), or "80:ok,10:500,10:hang" (counts, in port order, summing
// to n; percentages "80%:ok" also work).
func parseSpec(spec string, n int) ([]behavior, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		spec = "ok"
	}
	if !strings.Contains(spec, ":") {
		b, err := parseBehavior(spec)
		if err != nil {
			return nil, err
		}
		out := make([]behavior, n)
		for i := range out {
			out[i] = b
		}
		return out, nil
	}
	var out []behavior
	for part := range strings.SplitSeq(spec, ",") {
		count, tok, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("spec part %q: want COUNT:BEHAVIOR", part)
		}
		var k int
		if p, isPct := strings.CutSuffix(count, "%"); isPct {
			pct, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("spec part %q: bad percentage", part)
			}
			k = n * pct / 100
		} else {
			var err error
			if k, err = strconv.Atoi(count); err != nil {
				return nil, fmt.Errorf("spec part %q: bad count", part)
			}
		}
		b, err := parseBehavior(tok)
		if err != nil {
			return nil, err
		}
		for range k {
			out = append(out, b)
		}
	}
	if len(out) != n {
		return nil, fmt.Errorf("spec %q covers %d ports, want %d", spec, len(out), n)
	}
	return out, nil
}

// classStats are the counters of all ports sharing a behavior.
type classStats struct {
	endpoints  int
	requests   atomic.Uint64
	delivered  atomic.Uint64 // first accepted arrival of a delivery
	duplicates atomic.Uint64 // later arrivals of an accepted delivery
	failed     atomic.Uint64 // answered with a failure status
	hung       atomic.Uint64 // never answered
	badSig     atomic.Uint64
	badID      atomic.Uint64 // webhook-id is not DeliveryID(event id, endpoint id)
	missingID  atomic.Uint64
	unparsed   atomic.Uint64 // body without the bench's seq/sent fields

	mu   sync.Mutex
	hist stats.Hist // publish→receive latency of first arrivals
}

// port is one endpoint: a listener with a behavior and the set of event
// sequence numbers it has accepted. The delivery id (webhook-id) is a
// function of event id and endpoint id, and each port is one endpoint, so
// (port, seq) identifies a delivery exactly; with -verify the receiver
// checks that the webhook-id is indeed that delivery's id.
type port struct {
	index    int
	b        behavior
	class    *classStats
	endpoint atomic.Pointer[string]

	mu   sync.Mutex
	seen []uint64 // bitmap by seq
}

// mark records seq and reports whether it is new.
func (p *port) mark(seq uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := seq / 64
	if w >= uint64(len(p.seen)) {
		grown := make([]uint64, max(w+1, uint64(2*len(p.seen))))
		copy(grown, p.seen)
		p.seen = grown
	}
	bit := uint64(1) << (seq % 64)
	if p.seen[w]&bit != 0 {
		return false
	}
	p.seen[w] |= bit
	return true
}

// receiver serves the ports.
type receiver struct {
	ports   []*port
	classes map[string]*classStats
	order   []string
	secret  string
	verify  bool
}

var bodyPool = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 4096)) }}

var (
	seqKey  = []byte(`"data":{"seq":`)
	sentKey = []byte(`"sent":`)
	idKey   = []byte(`{"id":"`)
)

// parseBody finds the event's sequence number and send time (unix ns) that
// the bench producer put first in the data, without decoding the JSON.
func parseBody(b []byte) (seq uint64, sent int64, ok bool) {
	i := bytes.Index(b, seqKey)
	if i < 0 {
		return 0, 0, false
	}
	rest := b[i+len(seqKey):]
	seq, rest, ok = leadingUint(rest)
	if !ok || len(rest) == 0 || rest[0] != ',' || !bytes.HasPrefix(rest[1:], sentKey) {
		return 0, 0, false
	}
	s, _, ok := leadingUint(rest[1+len(sentKey):])
	return seq, int64(s), ok
}

func leadingUint(b []byte) (uint64, []byte, bool) {
	var v uint64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		v = v*10 + uint64(b[i]-'0')
	}
	return v, b[i:], i > 0
}

// eventID returns the id of a delivered body (the first member).
func eventID(b []byte) string {
	if !bytes.HasPrefix(b, idKey) {
		return ""
	}
	rest := b[len(idKey):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return ""
	}
	return string(rest[:end])
}

func (rc *receiver) handler(p *port) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived := time.Now()
		buf, _ := bodyPool.Get().(*bytes.Buffer)
		if buf == nil {
			buf = new(bytes.Buffer)
		}
		buf.Reset()
		defer bodyPool.Put(buf)
		_, _ = buf.ReadFrom(io.LimitReader(r.Body, 4<<20))
		body := buf.Bytes()
		c := p.class
		c.requests.Add(1)
		whID := r.Header.Get("Webhook-Id")
		if whID == "" {
			c.missingID.Add(1)
		}
		if rc.verify {
			res := signature.Verify(signature.VerifyInput{Secrets: []string{rc.secret}, Header: r.Header, Body: body, Now: arrived, Tolerance: time.Hour})
			if !res.Valid {
				c.badSig.Add(1)
			}
			if ep := p.endpoint.Load(); ep != nil && whID != domain.DeliveryID(eventID(body), *ep) {
				c.badID.Add(1)
			}
		}
		seq, sent, ok := parseBody(body)
		if !ok {
			c.unparsed.Add(1)
		}
		switch {
		case p.b.Hang:
			c.hung.Add(1)
			t := time.NewTimer(10 * time.Minute)
			defer t.Stop()
			select {
			case <-r.Context().Done():
			case <-t.C:
			}
			return
		case p.b.Healthy():
			if ok {
				if p.mark(seq) {
					c.delivered.Add(1)
					c.mu.Lock()
					c.hist.Record(arrived.Sub(time.Unix(0, sent)))
					c.mu.Unlock()
				} else {
					c.duplicates.Add(1)
				}
			}
		default:
			c.failed.Add(1)
		}
		if p.b.Delay > 0 {
			time.Sleep(p.b.Delay)
		}
		w.WriteHeader(p.b.Status)
	})
}

// ClassSnapshot is the JSON form of one behavior class's counters.
type ClassSnapshot struct {
	Healthy       bool         `json:"healthy"`
	Endpoints     int          `json:"endpoints"`
	Requests      uint64       `json:"requests"`
	Delivered     uint64       `json:"delivered"`
	Duplicates    uint64       `json:"duplicates"`
	Failed        uint64       `json:"failed_answers"`
	Hung          uint64       `json:"hung"`
	BadSignature  uint64       `json:"bad_signature"`
	BadWebhookID  uint64       `json:"bad_webhook_id"`
	MissingID     uint64       `json:"missing_webhook_id"`
	Unparsed      uint64       `json:"unparsed"`
	LatencyMicros stats.Sparse `json:"latency_us_hist"`
}

// Snapshot is what GET /snapshot returns.
type Snapshot struct {
	Time    time.Time                 `json:"time"`
	Classes map[string]*ClassSnapshot `json:"classes"`
}

// Delivered sums accepted deliveries over classes.
func (s *Snapshot) Delivered() uint64 {
	var n uint64
	for _, c := range s.Classes {
		n += c.Delivered
	}
	return n
}

// Sum adds up a counter over classes.
func (s *Snapshot) Sum(f func(*ClassSnapshot) uint64) uint64 {
	var n uint64
	for _, c := range s.Classes {
		n += f(c)
	}
	return n
}

// HealthyHist merges the latency histograms of the healthy classes.
func (s *Snapshot) HealthyHist() *stats.Hist {
	var h stats.Hist
	for _, c := range s.Classes {
		if c.Healthy {
			h.Add(stats.FromSparse(c.LatencyMicros))
		}
	}
	return &h
}

// HealthyDelivered sums accepted deliveries over the healthy classes.
func (s *Snapshot) HealthyDelivered() uint64 {
	return s.Sum(func(c *ClassSnapshot) uint64 {
		if c.Healthy {
			return c.Delivered
		}
		return 0
	})
}

func (rc *receiver) snapshot() *Snapshot {
	s := &Snapshot{Time: time.Now(), Classes: map[string]*ClassSnapshot{}}
	for _, name := range rc.order {
		c := rc.classes[name]
		c.mu.Lock()
		h := c.hist.Sparse()
		c.mu.Unlock()
		healthy := false
		for _, p := range rc.ports {
			if p.class == c {
				healthy = p.b.Healthy()
				break
			}
		}
		s.Classes[name] = &ClassSnapshot{
			Healthy: healthy, Endpoints: c.endpoints, Requests: c.requests.Load(), Delivered: c.delivered.Load(),
			Duplicates: c.duplicates.Load(), Failed: c.failed.Load(), Hung: c.hung.Load(), BadSignature: c.badSig.Load(),
			BadWebhookID: c.badID.Load(), MissingID: c.missingID.Load(), Unparsed: c.unparsed.Load(), LatencyMicros: h,
		}
	}
	return s
}

// receiverHello is the first line `bench receive` prints.
type receiverHello struct {
	Control string   `json:"control"`
	Ports   []int    `json:"ports"`
	Specs   []string `json:"behaviors"`
}

// cmdReceive runs the receiver until stdin closes or it is signaled.
func cmdReceive(args []string) error {
	fs := flag.NewFlagSet("receive", flag.ExitOnError)
	n := fs.Int("endpoints", 100, "number of endpoints (loopback ports)")
	spec := fs.String("spec", "ok", "behavior per port: ok | 500 | hang | delay=10ms, or counts like 80:ok,10:500,10:hang")
	secret := fs.String("secret", "", "signing secret of every endpoint (for -verify)")
	verify := fs.Bool("verify", false, "verify each delivery's signature and webhook-id (costs receiver CPU)")
	host := fs.String("host", "127.0.0.1", "address to listen on")
	_ = fs.Parse(args)
	if *verify && *secret == "" {
		return errors.New("receive: -verify needs -secret")
	}
	bs, err := parseSpec(*spec, *n)
	if err != nil {
		return err
	}
	rc := &receiver{classes: map[string]*classStats{}, secret: *secret, verify: *verify}
	ctx := context.Background()
	var lc net.ListenConfig
	hello := receiverHello{}
	for i, b := range bs {
		c := rc.classes[b.Name]
		if c == nil {
			c = &classStats{}
			rc.classes[b.Name] = c
			rc.order = append(rc.order, b.Name)
		}
		c.endpoints++
		p := &port{index: i, b: b, class: c}
		rc.ports = append(rc.ports, p)
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(*host, "0"))
		if err != nil {
			return err
		}
		addr, _ := ln.Addr().(*net.TCPAddr)
		srv := &http.Server{Handler: rc.handler(p), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute}
		go func() { _ = srv.Serve(ln) }()
		hello.Ports = append(hello.Ports, addr.Port)
		hello.Specs = append(hello.Specs, b.Name)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /snapshot", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rc.snapshot())
	})
	mux.HandleFunc("POST /endpoints", func(w http.ResponseWriter, r *http.Request) {
		var epIDs []string
		if err := json.NewDecoder(r.Body).Decode(&epIDs); err != nil || len(epIDs) != len(rc.ports) {
			http.Error(w, "want a JSON array with one endpoint id per port", http.StatusBadRequest)
			return
		}
		for i, id := range epIDs {
			rc.ports[i].endpoint.Store(&id)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(*host, "0"))
	if err != nil {
		return err
	}
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(ln) }()
	hello.Control = ln.Addr().String()
	out, _ := json.Marshal(hello)
	fmt.Println(string(out))
	// The driver holds our stdin; when it goes away, so do we.
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// receiverProc is a `bench receive` child process seen from the driver.
type receiverProc struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	control string
	hello   receiverHello
	client  *http.Client
}

// startReceiver starts `self receive args...` and reads its hello line.
func startReceiver(ctx context.Context, self, logFile string, args ...string) (*receiverProc, error) {
	cmd := exec.CommandContext(ctx, self, append([]string{"receive"}, args...)...) //nolint:gosec // this very binary
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	lf, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	_ = lf.Close() // the child has its own descriptor
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	rp := &receiverProc{cmd: cmd, stdin: stdin, client: &http.Client{Timeout: 30 * time.Second}}
	select {
	case l, ok := <-line:
		if !ok {
			rp.stop()
			return nil, fmt.Errorf("receiver exited before it was ready (log: %s)", logFile)
		}
		if err := json.Unmarshal([]byte(l), &rp.hello); err != nil {
			rp.stop()
			return nil, fmt.Errorf("receiver hello %q: %w", l, err)
		}
	case <-time.After(30 * time.Second):
		rp.stop()
		return nil, errors.New("receiver not ready within 30s")
	case <-ctx.Done():
		rp.stop()
		return nil, ctx.Err()
	}
	rp.control = "http://" + rp.hello.Control
	return rp, nil
}

func (rp *receiverProc) pid() int { return rp.cmd.Process.Pid }

func (rp *receiverProc) snapshot(ctx context.Context) (*Snapshot, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rp.control+"/snapshot", nil)
	resp, err := rp.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

func (rp *receiverProc) setEndpoints(ctx context.Context, ids []string) error {
	b, _ := json.Marshal(ids)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rp.control+"/endpoints", bytes.NewReader(b))
	resp, err := rp.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("receiver: POST /endpoints: %s", resp.Status)
	}
	return nil
}

// stop closes the receiver's stdin (it exits), then kills it if needed.
func (rp *receiverProc) stop() {
	_ = rp.stdin.Close()
	done := make(chan struct{})
	go func() { _ = rp.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = rp.cmd.Process.Kill()
		<-done
	}
}
