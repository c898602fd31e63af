package egress

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeResolver maps host names to addresses without DNS. Unknown names
// fail like NXDOMAIN.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]netip.Addr
	calls atomic.Int64
}

func newFakeResolver(hosts map[string][]string) *fakeResolver {
	r := &fakeResolver{hosts: map[string][]netip.Addr{}}
	for h, addrs := range hosts {
		r.set(h, addrs...)
	}
	return r
}

func (r *fakeResolver) set(host string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts[host] = nil
	for _, a := range addrs {
		r.hosts[host] = append(r.hosts[host], netip.MustParseAddr(a))
	}
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	r.calls.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	addrs, ok := r.hosts[strings.ToLower(host)]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return addrs, nil
}

// dialLog records every address the client asked to connect to.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (l *dialLog) add(a string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addrs = append(l.addrs, a)
}

func (l *dialLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.addrs...)
}

// newTestClient builds a client whose lowest dial layer is wrapped by a
// safety net: it records every dial and refuses anything but loopback, so
// that even a broken guard cannot make these tests send a packet off this
// machine. Loopback dials go to the real dialer, Control hook included.
func newTestClient(t testing.TB, cfg Config) (*Client, *dialLog) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	log := &dialLog{}
	next := c.dialer.dial
	c.dialer.dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		log.add(address)
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			return nil, fmt.Errorf("test safety net: refusing to dial non-loopback %s", address)
		}
		return next(ctx, network, address)
	}
	return c, log
}

// listen opens a loopback listener.
func listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	return ln
}

// canary is a listener that must never see a connection: it counts and
// closes whatever it accepts.
type canary struct {
	ln       net.Listener
	accepted atomic.Int64
}

func newCanary(t testing.TB) *canary {
	t.Helper()
	c := &canary{ln: listen(t, "127.0.0.1:0")}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := c.ln.Accept()
			if err != nil {
				return
			}
			c.accepted.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		c.ln.Close()
		<-done
	})
	return c
}

func (c *canary) port() string {
	_, p, _ := net.SplitHostPort(c.ln.Addr().String())
	return p
}

// silentServer accepts connections and never answers, holding them open
// until the test ends.
func silentServer(t testing.TB) string {
	t.Helper()
	ln := listen(t, "127.0.0.1:0")
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
	)
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				conn.Close()
				return
			}
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, conn) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
