package egress

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func TestBodyCapLargeResponse(t *testing.T) {
	big := pattern(10 << 20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		w.Write(big)
	}))
	t.Cleanup(srv.Close)
	c, _ := newTestClient(t, Config{Allow: loopbackAllow})
	resp, err := c.Do(context.Background(), Request{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Truncated || resp.BodySize != DefaultMaxResponseBytes {
		t.Errorf("Truncated %v BodySize %d, want true %d", resp.Truncated, resp.BodySize, DefaultMaxResponseBytes)
	}
	if resp.BodySHA256 != sha(big[:DefaultMaxResponseBytes]) {
		t.Error("BodySHA256 is not the hash of the bytes read")
	}
	if !bytes.Equal(resp.Body, big[:DefaultResponsePreviewBytes]) {
		t.Errorf("preview is %d bytes, want the first %d", len(resp.Body), DefaultResponsePreviewBytes)
	}
}

func TestBodyCapBoundaries(t *testing.T) {
	const limit = 1000
	var size int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(pattern(size))
	}))
	t.Cleanup(srv.Close)
	c, _ := newTestClient(t, Config{Allow: loopbackAllow, MaxResponseBytes: limit, ResponsePreviewBytes: 10})
	for _, tt := range []struct {
		size      int
		read      int64
		truncated bool
	}{
		{0, 0, false},
		{limit - 1, limit - 1, false},
		{limit, limit, false},
		{limit + 1, limit, true},
		{100 * limit, limit, true},
	} {
		size = tt.size
		resp, err := c.Do(context.Background(), Request{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		if resp.BodySize != tt.read || resp.Truncated != tt.truncated || resp.BodySHA256 != sha(pattern(int(tt.read))) {
			t.Errorf("size %d: read %d truncated %v, want %d %v", tt.size, resp.BodySize, resp.Truncated, tt.read, tt.truncated)
		}
		if want := min(tt.size, 10); len(resp.Body) != want {
			t.Errorf("size %d: preview %d bytes, want %d", tt.size, len(resp.Body), want)
		}
	}
}

// gzipBomb returns one gzip member of n zero bytes; gzip readers read
// concatenated members as one stream, so repeating it multiplies the
// decompressed size at no cost to build.
func gzipMember(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// TestGzipBomb serves about 1 MiB of gzip that expands to 1 GiB. The
// client reads only up to the cap of decoded bytes, and allocates a small
// fraction of even that.
func TestGzipBomb(t *testing.T) {
	member := gzipMember(t, 1<<20)
	const members = 1024 // 1 GiB decompressed
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/json")
		for range members {
			if _, err := w.Write(member); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	const limit = 256 << 10
	c, _ := newTestClient(t, Config{Allow: loopbackAllow, MaxResponseBytes: limit})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	resp, err := c.Do(context.Background(), Request{URL: srv.URL})
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if resp.BodySize > limit || !resp.Truncated || !resp.Decompressed || resp.BodyError != nil {
		t.Errorf("BodySize %d (cap %d) Truncated %v Decompressed %v BodyError %v", resp.BodySize, limit, resp.Truncated, resp.Decompressed, resp.BodyError)
	}
	if resp.BodySHA256 != sha(make([]byte, limit)) {
		t.Error("hash is not of the decoded bytes read")
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("allocated %d MiB while reading a bomb capped at %d KiB", alloc>>20, limit>>10)
	}
	if elapsed > 5*time.Second {
		t.Errorf("took %v", elapsed)
	}
	if resp.Header["Content-Encoding"] != "gzip" {
		t.Errorf("response headers lost Content-Encoding: %v", resp.Header)
	}
}

func TestContentEncodings(t *testing.T) {
	text := []byte(strings.Repeat(`{"ok":true}`, 50))
	var gz, zl, fl bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(text)
	zw.Close()
	zlw := zlib.NewWriter(&zl)
	zlw.Write(text)
	zlw.Close()
	flw, _ := flate.NewWriter(&fl, flate.DefaultCompression)
	flw.Write(text)
	flw.Close()

	tests := []struct {
		name         string
		encoding     string
		body         []byte
		want         []byte
		decompressed bool
		bodyErr      bool
	}{
		{"identity", "", text, text, false, false},
		{"gzip", "gzip", gz.Bytes(), text, true, false},
		{"x-gzip upper case", "X-GZIP", gz.Bytes(), text, true, false},
		{"zlib deflate", "deflate", zl.Bytes(), text, true, false},
		{"raw deflate", "deflate", fl.Bytes(), text, true, false},
		{"br left alone", "br", []byte("\x8b\x02\x80hello\x03"), []byte("\x8b\x02\x80hello\x03"), false, false},
		{"stacked encodings left alone", "gzip, gzip", gz.Bytes(), gz.Bytes(), false, false},
		{"corrupt gzip", "gzip", []byte("this is not gzip at all"), nil, true, true},
		{"truncated gzip", "gzip", gz.Bytes()[:gz.Len()/2], nil, true, true},
		{"empty gzip body", "gzip", nil, nil, true, false},
		{"one-byte deflate", "deflate", []byte{0x78}, nil, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tt.encoding != "" {
					w.Header().Set("Content-Encoding", tt.encoding)
				}
				w.WriteHeader(http.StatusOK)
				w.Write(tt.body)
			}))
			defer srv.Close()
			c, _ := newTestClient(t, Config{Allow: loopbackAllow})
			resp, err := c.Do(context.Background(), Request{URL: srv.URL})
			if err != nil {
				t.Fatalf("Do: %v (a bad encoding must not fail the attempt)", err)
			}
			if resp.StatusCode != http.StatusOK || resp.Decompressed != tt.decompressed || (resp.BodyError != nil) != tt.bodyErr {
				t.Fatalf("status %d Decompressed %v BodyError %v", resp.StatusCode, resp.Decompressed, resp.BodyError)
			}
			if !tt.bodyErr && (!bytes.Equal(resp.Body, tt.want) || resp.BodySHA256 != sha(tt.want)) {
				t.Errorf("body = %q, want %q", resp.Body, tt.want)
			}
		})
	}
}

// readBody tells a transfer that broke (an attempt error) from an encoding
// that broke (a note on the body).
func TestReadBodyTransferErrors(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := readBody(iotest.ErrReader(boom), "", 100, 10)
	if !errors.Is(err, boom) {
		t.Errorf("plain body: %v, want the transfer error", err)
	}
	member := gzipMember(t, 1000)
	r := io.MultiReader(bytes.NewReader(member[:len(member)/2]), iotest.ErrReader(boom))
	s, err := readBody(r, "gzip", 1<<20, 10)
	if !errors.Is(err, boom) || s.decodeErr != nil {
		t.Errorf("gzip body cut by the network: err %v decodeErr %v, want the transfer error", err, s.decodeErr)
	}
	_, err = readBody(iotest.ErrReader(boom), "gzip", 100, 10)
	if !errors.Is(err, boom) {
		t.Errorf("gzip header cut by the network: %v", err)
	}
	// One-byte reads exercise the loop's bookkeeping.
	data := pattern(5000)
	s, err = readBody(iotest.OneByteReader(bytes.NewReader(data)), "", 4096, 100)
	if err != nil || s.size != 4096 || !s.truncated || s.sha256 != sha(data[:4096]) || !bytes.Equal(s.preview, data[:100]) {
		t.Errorf("one-byte reads: size %d truncated %v err %v", s.size, s.truncated, err)
	}
}

func TestReadBodyHugeCap(t *testing.T) {
	data := pattern(100)
	s, err := readBody(bytes.NewReader(data), "", math.MaxInt64, 10)
	if err != nil || s.size != 100 || s.truncated || s.sha256 != sha(data) {
		t.Errorf("cap MaxInt64: size %d truncated %v err %v", s.size, s.truncated, err)
	}
}
