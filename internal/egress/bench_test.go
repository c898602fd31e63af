package egress

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// BenchmarkDo measures one delivery over a kept-alive loopback connection:
// the client's own overhead (headers, guard, body hashing), not the
// network's.
func BenchmarkDo(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"received":true}`)
	}))
	b.Cleanup(srv.Close)
	c, _ := newTestClient(b, Config{Allow: loopbackAllow})
	req := Request{
		URL: srv.URL + "/hook",
		Header: http.Header{
			"Webhook-Id":        {"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"},
			"Webhook-Timestamp": {"1700000000"},
			"Webhook-Signature": {"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="},
		},
		Body: []byte(`{"type":"order.created","data":{"id":"o_1","total":4200}}`),
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Do(ctx, req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("Do = %d, %v", resp.StatusCode, err)
		}
	}
}

// BenchmarkDoParallel runs deliveries to one host from many goroutines,
// as the dispatcher's lanes do.
func BenchmarkDoParallel(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"received":true}`)
	}))
	b.Cleanup(srv.Close)
	c, _ := newTestClient(b, Config{Allow: loopbackAllow})
	req := Request{URL: srv.URL, Body: []byte(`{"type":"order.created"}`)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Do(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDoClientOnly is BenchmarkDo against a minimal HTTP/1.1 server
// that allocates nothing per request, so the figures are the client's
// alone.
func BenchmarkDoClientOnly(b *testing.B) {
	addr := cannedServer(b, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"received\":true}")
	c, _ := newTestClient(b, Config{Allow: loopbackAllow})
	req := Request{
		URL: "http://" + addr + "/hook",
		Header: http.Header{
			"Webhook-Id":        {"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"},
			"Webhook-Timestamp": {"1700000000"},
			"Webhook-Signature": {"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="},
		},
		Body: []byte(`{"type":"order.created","data":{"id":"o_1","total":4200}}`),
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Do(ctx, req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("Do = %d, %v", resp.StatusCode, err)
		}
	}
}

// cannedServer answers every HTTP/1.1 request on a connection with the
// same bytes, after skipping the request's headers and Content-Length
// body.
func cannedServer(b *testing.B, response string) string {
	b.Helper()
	ln := listen(b, "127.0.0.1:0")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					n := 0
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
						if k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
							n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
						}
					}
					if _, err := br.Discard(n); err != nil {
						return
					}
					if _, err := io.WriteString(conn, response); err != nil {
						return
					}
				}
			})
		}
	})
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
