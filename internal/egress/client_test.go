package egress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/buildinfo"
	"github.com/hookd/hookd/internal/domain"
)

var loopbackAllow = []string{"127.0.0.0/8", "::1/128"}

// TestBlockedDestinations: with no allowlist, every internal destination
// is refused before any connection is attempted; the canary on 127.0.0.1
// (the port the loopback forms point at) sees nothing, and the dialer is
// never even asked.
func TestBlockedDestinations(t *testing.T) {
	can := newCanary(t)
	p := can.port()
	res := newFakeResolver(map[string][]string{
		"localhost":      {"::1", "127.0.0.1"},
		"rebind.example": {"127.0.0.1"},
		"meta.example":   {"169.254.169.254"},
		"mixed.example":  {"10.0.0.1", "::ffff:127.0.0.1", "fd00::1"},
		"mapped.example": {"::ffff:127.0.0.1"},
	})
	c, dials := newTestClient(t, Config{Resolver: res, Timeout: 2 * time.Second})

	tests := []struct {
		url  string
		host string
		ip   string
	}{
		{"http://127.0.0.1:" + p + "/hook", "127.0.0.1", "127.0.0.1"},
		{"https://127.0.0.1:" + p + "/hook", "127.0.0.1", "127.0.0.1"},
		{"http://127.1.2.3:" + p + "/", "127.1.2.3", "127.1.2.3"},
		{"http://localhost:" + p + "/hook", "localhost", "::1"},
		{"http://[::1]:" + p + "/hook", "::1", "::1"},
		{"http://10.0.0.1/hook", "10.0.0.1", "10.0.0.1"},
		{"http://172.16.5.4:8080/hook", "172.16.5.4", "172.16.5.4"},
		{"http://192.168.1.1/hook", "192.168.1.1", "192.168.1.1"},
		{"http://169.254.169.254/latest/meta-data/", "169.254.169.254", "169.254.169.254"},
		{"http://100.64.0.1/hook", "100.64.0.1", "100.64.0.1"},
		{"http://[::ffff:127.0.0.1]:" + p + "/hook", "::ffff:127.0.0.1", "::ffff:127.0.0.1"},
		{"http://[::ffff:a9fe:a9fe]/", "::ffff:a9fe:a9fe", "::ffff:169.254.169.254"},
		{"http://[64:ff9b::7f00:1]:" + p + "/hook", "64:ff9b::7f00:1", "64:ff9b::7f00:1"},
		{"http://[2002:7f00:1::1]/", "2002:7f00:1::1", "2002:7f00:1::1"},
		{"http://0.0.0.0:" + p + "/hook", "0.0.0.0", "0.0.0.0"},
		{"http://[::]:" + p + "/hook", "::", "::"},
		{"http://[fe80::1%25lo]:" + p + "/", "fe80::1%lo", "fe80::1%lo"},
		{"http://[fc00::1]/", "fc00::1", "fc00::1"},
		{"http://224.0.0.1/", "224.0.0.1", "224.0.0.1"},
		{"http://255.255.255.255/", "255.255.255.255", "255.255.255.255"},
		{"http://198.18.0.1/", "198.18.0.1", "198.18.0.1"},
		{"http://[2001:db8::1]/", "2001:db8::1", "2001:db8::1"},
		// Names: checked on what they resolve to (DNS rebinding).
		{"http://rebind.example:" + p + "/hook", "rebind.example", "127.0.0.1"},
		{"http://REBIND.example:" + p + "/hook", "REBIND.example", "127.0.0.1"},
		{"http://meta.example/", "meta.example", "169.254.169.254"},
		{"http://mapped.example:" + p + "/", "mapped.example", "::ffff:127.0.0.1"},
		{"http://mixed.example:" + p + "/", "mixed.example", "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			resp, err := c.Do(context.Background(), Request{URL: tt.url, Body: []byte(`{}`)})
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("Do = %+v, %v; want *BlockedError", resp, err)
			}
			if be.Host != tt.host || be.IP.String() != tt.ip || be.Reason == "" {
				t.Errorf("BlockedError = %+v, want host %q ip %s", be, tt.host, tt.ip)
			}
			if got := Classify(err); got != domain.OutcomeBlocked {
				t.Errorf("Classify = %q, want %q", got, domain.OutcomeBlocked)
			}
			if resp.StatusCode != 0 {
				t.Errorf("StatusCode = %d, want 0", resp.StatusCode)
			}
		})
	}
	if n := can.accepted.Load(); n != 0 {
		t.Errorf("canary accepted %d connections, want 0", n)
	}
	if d := dials.list(); len(d) != 0 {
		t.Errorf("dialer was asked to connect to %v, want nothing", d)
	}
}

// A name that resolved to an allowed address when one connection was made
// is looked up and checked again for the next: a rebinding DNS server
// cannot slip an internal address in later.
func TestRebindingCheckedOnEveryConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := newFakeResolver(map[string][]string{"flip.example": {"127.0.0.1"}})
	c, dials := newTestClient(t, Config{Resolver: res, Allow: []string{"127.0.0.1/32"}})

	url := "http://flip.example:" + port + "/"
	if _, err := c.Do(context.Background(), Request{URL: url}); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	res.set("flip.example", "169.254.169.254")
	c.Close() // drop the pooled connection: the next attempt dials anew
	_, err := c.Do(context.Background(), Request{URL: url})
	var be *BlockedError
	if !errors.As(err, &be) || be.IP.String() != "169.254.169.254" {
		t.Fatalf("second delivery: %v, want blocked 169.254.169.254", err)
	}
	if d := dials.list(); len(d) != 1 || d[0] != "127.0.0.1:"+port {
		t.Errorf("dials = %v, want only the first, to 127.0.0.1:%s", d, port)
	}
}

// A host with both refused and allowed addresses is delivered to over the
// allowed ones only.
func TestMixedResolutionDialsOnlyAllowed(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := newFakeResolver(map[string][]string{"mixed.example": {"10.0.0.1", "169.254.169.254", "127.0.0.1"}})
	c, dials := newTestClient(t, Config{Resolver: res, Allow: []string{"127.0.0.0/8"}})

	resp, err := c.Do(context.Background(), Request{URL: "http://mixed.example:" + port + "/"})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Do = %d, %v", resp.StatusCode, err)
	}
	if d := dials.list(); len(d) != 1 || d[0] != "127.0.0.1:"+port {
		t.Errorf("dials = %v, want only 127.0.0.1:%s", d, port)
	}
	if hits.Load() != 1 {
		t.Errorf("server saw %d requests, want 1", hits.Load())
	}
}

type captured struct {
	method, path, query, proto string
	header                     http.Header
	body                       []byte
}

func captureServer(t *testing.T, reply func(w http.ResponseWriter)) (*httptest.Server, chan captured) {
	t.Helper()
	ch := make(chan captured, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- captured{r.Method, r.URL.Path, r.URL.RawQuery, r.Proto, r.Header.Clone(), body}
		reply(w)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestDeliverAllowlisted(t *testing.T) {
	srv, got := captureServer(t, func(w http.ResponseWriter) {
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "thanks")
	})
	c, _ := newTestClient(t, Config{Allow: loopbackAllow})

	body := []byte(`{"type":"order.created","data":{"id":"o_1","note":"caf\u00e9 \ud83d\ude00"}}` + "\n\x00\xff")
	hdr := http.Header{
		"Webhook-Id":        {"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"},
		"Webhook-Timestamp": {"1700000000"},
		"Webhook-Signature": {"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1,Zm9vYmFy"},
		"X-Custom":          {"one", "two"},
	}
	resp, err := c.Do(context.Background(), Request{URL: srv.URL + "/hooks/in?tenant=t1", Header: hdr, Body: body})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	r := <-got
	if r.method != http.MethodPost || r.path != "/hooks/in" || r.query != "tenant=t1" {
		t.Errorf("request line = %s %s?%s", r.method, r.path, r.query)
	}
	if !bytes.Equal(r.body, body) {
		t.Errorf("body = %q, want %q", r.body, body)
	}
	for k, v := range hdr {
		if g := r.header[k]; strings.Join(g, "|") != strings.Join(v, "|") {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}
	if ua := r.header.Get("User-Agent"); ua != buildinfo.UserAgent() || !strings.HasPrefix(ua, "hookd/") {
		t.Errorf("User-Agent = %q, want %q", ua, buildinfo.UserAgent())
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}

	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("StatusCode = %d", resp.StatusCode)
	}
	if resp.Header["X-Multi"] != "a, b" || resp.Header["Content-Type"] != "text/plain" {
		t.Errorf("Header = %v", resp.Header)
	}
	sum := sha256.Sum256([]byte("thanks"))
	if string(resp.Body) != "thanks" || resp.BodySize != 6 || resp.BodySHA256 != hex.EncodeToString(sum[:]) || resp.Truncated {
		t.Errorf("body summary = %q size %d sha %s truncated %v", resp.Body, resp.BodySize, resp.BodySHA256, resp.Truncated)
	}
	if resp.Duration <= 0 || resp.BodyError != nil {
		t.Errorf("Duration = %v, BodyError = %v", resp.Duration, resp.BodyError)
	}
}

func TestDeliverIPv6Loopback(t *testing.T) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	c, _ := newTestClient(t, Config{Allow: []string{"::1/128"}})
	resp, err := c.Do(context.Background(), Request{URL: srv.URL})
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("Do = %d, %v", resp.StatusCode, err)
	}
	// ::1 is allowed, 127.0.0.1 is not: the allowlist is per family.
	can := newCanary(t)
	if _, err := c.Do(context.Background(), Request{URL: "http://127.0.0.1:" + can.port()}); Classify(err) != domain.OutcomeBlocked {
		t.Errorf("127.0.0.1 with only ::1 allowed: %v", err)
	}
}

// TestHeadersOnTheWire reads the raw request bytes: header keys go out in
// the case given, the caller's Content-Type wins, framing headers the
// caller passed are dropped, and the body follows byte for byte.
func TestHeadersOnTheWire(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	raw := make(chan []byte, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		var buf bytes.Buffer
		br := bufio.NewReader(io.TeeReader(conn, &buf))
		req, err := http.ReadRequest(br)
		if err != nil {
			raw <- []byte("read error: " + err.Error())
			return
		}
		_, _ = io.ReadAll(req.Body)
		raw <- buf.Bytes()
		io.WriteString(conn, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })

	c, _ := newTestClient(t, Config{Allow: loopbackAllow})
	body := []byte(`{"a":1}`)
	hdr := http.Header{
		"webhook-id":        {"msg_1"},
		"webhook-signature": {"v1,c2lnbmF0dXJl"},
		"content-type":      {"application/cloudevents+json"},
		"content-length":    {"999"},
		"transfer-encoding": {"chunked"},
		"host":              {"internal.example"},
		"user-agent":        {"spoofed/1.0"},
		"X-Trace":           {"abc"},
	}
	resp, err := c.Do(context.Background(), Request{URL: "http://" + ln.Addr().String() + "/p", Header: hdr, Body: body})
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("Do = %d, %v", resp.StatusCode, err)
	}
	req := string(<-raw)
	head, gotBody, ok := strings.Cut(req, "\r\n\r\n")
	if !ok {
		t.Fatalf("no header end in %q", req)
	}
	if gotBody != string(body) {
		t.Errorf("body on the wire = %q, want %q", gotBody, body)
	}
	lines := strings.Split(head, "\r\n")
	has := func(line string) bool {
		for _, l := range lines {
			if l == line {
				return true
			}
		}
		return false
	}
	for _, want := range []string{
		"POST /p HTTP/1.1",
		"webhook-id: msg_1",
		"webhook-signature: v1,c2lnbmF0dXJl",
		"content-type: application/cloudevents+json",
		"X-Trace: abc",
		"User-Agent: " + buildinfo.UserAgent(),
		"Content-Length: 7",
		"Host: " + ln.Addr().String(),
	} {
		if !has(want) {
			t.Errorf("request lacks line %q:\n%s", want, head)
		}
	}
	lower := strings.ToLower(head)
	for _, unwanted := range []string{"999", "chunked", "internal.example", "spoofed", "application/json\r"} {
		if strings.Contains(lower, unwanted) {
			t.Errorf("request carries %q:\n%s", unwanted, head)
		}
	}
	if strings.Count(lower, "content-type:") != 1 {
		t.Errorf("Content-Type sent more than once:\n%s", head)
	}
}

// Credentials in the URL become Basic auth, as with http.Client, unless
// the endpoint's headers carry their own Authorization.
func TestURLCredentials(t *testing.T) {
	srv, got := captureServer(t, func(http.ResponseWriter) {})
	c, _ := newTestClient(t, Config{Allow: loopbackAllow})
	u := strings.Replace(srv.URL, "http://", "http://hook%40user:p%3Ass@", 1)
	if _, err := c.Do(context.Background(), Request{URL: u}); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if user, pw, ok := (&http.Request{Header: r.header}).BasicAuth(); !ok || user != "hook@user" || pw != "p:ss" {
		t.Errorf("Basic auth = %q %q %v", user, pw, ok)
	}
	if _, err := c.Do(context.Background(), Request{URL: u, Header: http.Header{"authorization": {"Bearer t"}}}); err != nil {
		t.Fatal(err)
	}
	if r := <-got; strings.Join(r.header["Authorization"], "|") != "Bearer t" {
		t.Errorf("Authorization = %q, want only the endpoint's own", r.header["Authorization"])
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var canaryHits atomic.Int64
	canarySrv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { canaryHits.Add(1) }))
	t.Cleanup(canarySrv.Close)
	for _, code := range []int{http.StatusFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, canarySrv.URL+"/elsewhere", code)
		}))
		c, _ := newTestClient(t, Config{Allow: loopbackAllow})
		resp, err := c.Do(context.Background(), Request{URL: srv.URL + "/hook", Body: []byte(`{}`)})
		srv.Close()
		if err != nil {
			t.Fatalf("%d: Do: %v", code, err)
		}
		if resp.StatusCode != code || resp.Header["Location"] != canarySrv.URL+"/elsewhere" {
			t.Errorf("%d: got %d Location %q", code, resp.StatusCode, resp.Header["Location"])
		}
	}
	if n := canaryHits.Load(); n != 0 {
		t.Errorf("redirect target saw %d requests, want 0", n)
	}
}

func TestTimeoutDribblingBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		rc.Flush()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				if rc.Flush() != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(srv.Close)
	c, _ := newTestClient(t, Config{Allow: loopbackAllow})

	start := time.Now()
	resp, err := c.Do(context.Background(), Request{URL: srv.URL, Timeout: 300 * time.Millisecond})
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Do succeeded against a body that never ends")
	}
	if got := Classify(err); got != domain.OutcomeTimeout {
		t.Errorf("Classify(%v) = %q, want timeout", err, got)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if elapsed < 300*time.Millisecond || elapsed > 1500*time.Millisecond {
		t.Errorf("attempt took %v, want about 300ms", elapsed)
	}
	if resp.StatusCode != http.StatusOK || resp.BodySize == 0 {
		t.Errorf("partial response = %d, %d bytes; want 200 and what had arrived", resp.StatusCode, resp.BodySize)
	}
}

func TestTimeoutNoAnswer(t *testing.T) {
	addr := silentServer(t)
	c, _ := newTestClient(t, Config{Allow: loopbackAllow, RootCAs: x509.NewCertPool()})
	for _, url := range []string{"http://" + addr + "/", "https://" + addr + "/"} {
		start := time.Now()
		_, err := c.Do(context.Background(), Request{URL: url, Timeout: 300 * time.Millisecond})
		elapsed := time.Since(start)
		if got := Classify(err); got != domain.OutcomeTimeout {
			t.Errorf("%s: Classify(%v) = %q, want timeout", url, err, got)
		}
		if elapsed > 1500*time.Millisecond {
			t.Errorf("%s: attempt took %v, want about 300ms", url, elapsed)
		}
	}
}

// The configured default applies when the request sets none.
func TestConfigTimeoutDefault(t *testing.T) {
	addr := silentServer(t)
	c, _ := newTestClient(t, Config{Allow: loopbackAllow, Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := c.Do(context.Background(), Request{URL: "http://" + addr})
	if Classify(err) != domain.OutcomeTimeout || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("Do = %v after %v, want a timeout after about 200ms", err, time.Since(start))
	}
}

// The phase timeouts are capped at the attempt timeout and report as
// timeouts too.
func TestResponseHeaderTimeout(t *testing.T) {
	addr := silentServer(t)
	c, _ := newTestClient(t, Config{Allow: loopbackAllow, ResponseHeaderTimeout: 150 * time.Millisecond})
	start := time.Now()
	_, err := c.Do(context.Background(), Request{URL: "http://" + addr, Timeout: 5 * time.Second})
	if Classify(err) != domain.OutcomeTimeout || time.Since(start) > 2*time.Second {
		t.Errorf("Do = %v after %v, want a timeout after about 150ms", err, time.Since(start))
	}
}

// A caller's deadline shorter than the attempt timeout ends the attempt
// just the same, as a timeout.
func TestCallerDeadline(t *testing.T) {
	addr := silentServer(t)
	c, _ := newTestClient(t, Config{Allow: loopbackAllow})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, Request{URL: "http://" + addr, Timeout: 10 * time.Second})
	if Classify(err) != domain.OutcomeTimeout || time.Since(start) > 2*time.Second {
		t.Errorf("Do = %v after %v, want a timeout after about 150ms", err, time.Since(start))
	}
}

func TestCallerCancel(t *testing.T) {
	addr := silentServer(t)
	c, _ := newTestClient(t, Config{Allow: loopbackAllow})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := c.Do(ctx, Request{URL: "http://" + addr})
	if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do = %v, want context.Canceled", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c, _ := newTestClient(t, Config{Allow: loopbackAllow})
	_, err := c.Do(context.Background(), Request{URL: "http://" + addr + "/hook"})
	if got := Classify(err); got != domain.OutcomeConnectionError {
		t.Errorf("Classify(%v) = %q, want connection_error", err, got)
	}
}

func TestDNSFailure(t *testing.T) {
	c, _ := newTestClient(t, Config{Resolver: newFakeResolver(nil)})
	_, err := c.Do(context.Background(), Request{URL: "https://nowhere.example/hook"})
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || Classify(err) != domain.OutcomeConnectionError {
		t.Errorf("Do = %v (%q), want a DNS error, connection_error", err, Classify(err))
	}
	empty := newFakeResolver(map[string][]string{"empty.example": nil})
	c2, _ := newTestClient(t, Config{Resolver: empty})
	if _, err := c2.Do(context.Background(), Request{URL: "https://empty.example/"}); Classify(err) != domain.OutcomeConnectionError {
		t.Errorf("no addresses: %v", err)
	}
}

func TestTLSErrors(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	_, tlsPort, _ := net.SplitHostPort(tlsSrv.Listener.Addr().String())
	trusted := x509.NewCertPool()
	trusted.AddCert(tlsSrv.Certificate())
	res := newFakeResolver(map[string][]string{"wrong-name.example": {"127.0.0.1"}})

	untrusting, _ := newTestClient(t, Config{Allow: loopbackAllow, RootCAs: x509.NewCertPool()})
	trusting, _ := newTestClient(t, Config{Allow: loopbackAllow, RootCAs: trusted, Resolver: res})
	tests := []struct {
		name string
		c    *Client
		url  string
	}{
		{"https to a plain HTTP port", trusting, "https://" + plain.Listener.Addr().String() + "/"},
		{"unknown authority", untrusting, tlsSrv.URL},
		{"name mismatch", trusting, "https://wrong-name.example:" + tlsPort + "/"},
	}
	for _, tt := range tests {
		_, err := tt.c.Do(context.Background(), Request{URL: tt.url, Timeout: 2 * time.Second})
		if err == nil {
			t.Errorf("%s: Do succeeded", tt.name)
			continue
		}
		if got := Classify(err); got != domain.OutcomeConnectionError {
			t.Errorf("%s: Classify(%v) = %q, want connection_error", tt.name, err, got)
		}
	}
}

func TestHTTPSWithHTTP2(t *testing.T) {
	var proto atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
		io.WriteString(w, "ok")
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, _ := newTestClient(t, Config{Allow: loopbackAllow, RootCAs: pool})
	for range 3 {
		resp, err := c.Do(context.Background(), Request{URL: srv.URL, Header: http.Header{"webhook-id": {"m"}}})
		if err != nil || resp.StatusCode != http.StatusOK || string(resp.Body) != "ok" {
			t.Fatalf("Do = %+v, %v", resp, err)
		}
	}
	if p := proto.Load(); p != "HTTP/2.0" {
		t.Errorf("protocol = %v, want HTTP/2.0", p)
	}
}

// Keep-alive: sequential deliveries to one host share one connection.
func TestKeepAlive(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, dials := newTestClient(t, Config{Allow: loopbackAllow})
	for range 10 {
		if _, err := c.Do(context.Background(), Request{URL: srv.URL, Body: []byte(`{"x":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("server saw %d connections for 10 sequential deliveries, want 1", n)
	}
	if n := len(dials.list()); n != 1 {
		t.Errorf("%d dials, want 1", n)
	}
}

// MaxConnsPerHost bounds concurrent connections to one host.
func TestMaxConnsPerHost(t *testing.T) {
	var open, peak atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		<-release
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			n := open.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, _ := newTestClient(t, Config{Allow: loopbackAllow, MaxConnsPerHost: 2})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() { _, _ = c.Do(context.Background(), Request{URL: srv.URL, Timeout: 5 * time.Second}) })
	}
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("peak connections = %d, want 2", p)
	}
}

// Environment proxy settings are ignored: the delivery goes straight to
// the endpoint and the "proxy" sees nothing.
func TestNoProxyFromEnvironment(t *testing.T) {
	can := newCanary(t)
	proxy := "http://127.0.0.1:" + can.port()
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"} {
		t.Setenv(k, proxy)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	srv, got := captureServer(t, func(w http.ResponseWriter) {})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := newFakeResolver(map[string][]string{"hook.example": {"127.0.0.1"}})
	c, _ := newTestClient(t, Config{Allow: loopbackAllow, Resolver: res})
	if _, err := c.Do(context.Background(), Request{URL: "http://hook.example:" + port + "/x"}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if r := <-got; r.path != "/x" {
		t.Errorf("server saw %q", r.path)
	}
	if n := can.accepted.Load(); n != 0 {
		t.Errorf("proxy saw %d connections, want 0", n)
	}
}

func TestInvalidURL(t *testing.T) {
	c, dials := newTestClient(t, Config{})
	for _, u := range []string{
		"ftp://example.com/x",
		"file:///etc/passwd",
		"/relative/path",
		"http:///nohost",
		"http://exa mple.com/?token=s3cret-token",
		"http://example.com/%zz?token=s3cret-token",
		"",
	} {
		_, err := c.Do(context.Background(), Request{URL: u})
		if !errors.Is(err, ErrInvalidURL) {
			t.Errorf("Do(%q) = %v, want ErrInvalidURL", u, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cret-token") {
			t.Errorf("error leaks the URL: %v", err)
		}
	}
	if d := dials.list(); len(d) != 0 {
		t.Errorf("dialed %v", d)
	}
}

// Webhook URLs often carry a token in the path or query; errors must not.
func TestErrorsDoNotLeakURLSecrets(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c, _ := newTestClient(t, Config{Allow: loopbackAllow})
	_, err := c.Do(context.Background(), Request{
		URL:    "http://user:pa55word@" + addr + "/services/T000/B000/s3cret-path?token=s3cret-query",
		Header: http.Header{"Authorization": {"Bearer s3cret-header"}},
	})
	if err == nil {
		t.Fatal("Do succeeded against a closed port")
	}
	for _, secret := range []string{"s3cret", "pa55word"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the host", err)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	_, err := New(Config{Allow: []string{"10.0.0.0/8", "10.0.0.0/40"}})
	if err == nil || !strings.Contains(err.Error(), `"10.0.0.0/40"`) {
		t.Errorf("bad CIDR: %v, want an error naming it", err)
	}
	bad := []Config{
		{Timeout: -1},
		{MaxResponseBytes: -1},
		{ResponsePreviewBytes: -1},
		{MaxConnsPerHost: -1},
		{DialTimeout: -time.Second},
	}
	for _, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.timeout != DefaultTimeout || c.maxBody != DefaultMaxResponseBytes || c.preview != DefaultResponsePreviewBytes {
		t.Errorf("defaults = %v %d %d", c.timeout, c.maxBody, c.preview)
	}
	if c.transport.Proxy != nil || c.transport.TLSClientConfig.MinVersion < 0x0303 || c.transport.TLSClientConfig.InsecureSkipVerify {
		t.Error("transport: proxy set, TLS below 1.2 or verification off")
	}
	if c.transport.DisableKeepAlives {
		t.Error("keep-alives disabled")
	}
	short, err := New(Config{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	if short.transport.TLSHandshakeTimeout > time.Second {
		t.Errorf("TLSHandshakeTimeout %v exceeds the attempt timeout", short.transport.TLSHandshakeTimeout)
	}
}

func TestEmptyBodyAndDefaults(t *testing.T) {
	srv, got := captureServer(t, func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) })
	c, _ := newTestClient(t, Config{Allow: loopbackAllow})
	resp, err := c.Do(context.Background(), Request{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	r := <-got
	if len(r.body) != 0 || r.header.Get("Content-Length") != "" && r.header.Get("Content-Length") != "0" {
		t.Errorf("empty body sent as %q (Content-Length %q)", r.body, r.header.Get("Content-Length"))
	}
	empty := sha256.Sum256(nil)
	if resp.BodySize != 0 || resp.BodySHA256 != hex.EncodeToString(empty[:]) || resp.Body != nil {
		t.Errorf("empty response summary = %+v", resp)
	}
}

// Guard against a netip/zone regression: literal addresses in URLs parse
// the same way the guard sees them.
func TestURLZoneLiteral(t *testing.T) {
	c, dials := newTestClient(t, Config{})
	_, err := c.Do(context.Background(), Request{URL: "http://[fe80::1%25eth0]:80/"})
	var be *BlockedError
	if !errors.As(err, &be) || be.IP != netip.MustParseAddr("fe80::1%eth0") {
		t.Errorf("Do = %v, want blocked fe80::1%%eth0", err)
	}
	if len(dials.list()) != 0 {
		t.Error("dialed a link-local address")
	}
}
