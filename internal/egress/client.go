package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/buildinfo"
)

// Defaults for Config's zero fields.
const (
	// DefaultTimeout is the total time one attempt may take. Receivers are
	// expected to acknowledge quickly and do their work later; 15 s is
	// what Standard Webhooks senders commonly allow.
	DefaultTimeout = 15 * time.Second
	// DefaultMaxResponseBytes caps how much of a response body is read
	// (after decompression). hookd needs the status code; the body is
	// only hashed and sampled for the attempt log.
	DefaultMaxResponseBytes = 64 << 10
	// DefaultResponsePreviewBytes is how much of the body the attempt log
	// keeps.
	DefaultResponsePreviewBytes = 4 << 10
	// DefaultMaxResponseHeaderBytes caps the response header block. Go's
	// own default is 10 MiB per response, far more than a webhook
	// acknowledgement needs, and multiplied by every delivery in flight.
	DefaultMaxResponseHeaderBytes = 64 << 10
	// DefaultMaxIdleConns bounds idle keep-alive connections over all
	// hosts.
	DefaultMaxIdleConns = 512
	// DefaultMaxIdleConnsPerHost keeps enough warm connections for a busy
	// endpoint's lane without hoarding sockets for quiet ones.
	DefaultMaxIdleConnsPerHost = 16
	// DefaultIdleConnTimeout closes keep-alive connections unused this
	// long; many receivers' load balancers drop them after 60 s or more.
	DefaultIdleConnTimeout = 55 * time.Second
	// DefaultDialTimeout bounds one TCP connect (per address tried).
	DefaultDialTimeout = 5 * time.Second
	// DefaultTLSHandshakeTimeout bounds the TLS handshake.
	DefaultTLSHandshakeTimeout = 5 * time.Second
	// DefaultKeepAlive is the TCP keep-alive probe interval.
	DefaultKeepAlive = 30 * time.Second
)

// Config configures a Client. The zero value is usable: every zero field
// takes its default.
type Config struct {
	// Timeout is the default total time for one attempt: DNS, connect,
	// TLS, sending, waiting for the headers and reading the body.
	// Request.Timeout overrides it per attempt.
	Timeout time.Duration

	// MaxResponseBytes caps the response body read, counted after
	// decompression. The rest is not read; Response.Truncated says so.
	MaxResponseBytes int64
	// ResponsePreviewBytes is how many leading body bytes Response.Body
	// keeps.
	ResponsePreviewBytes int
	// MaxResponseHeaderBytes caps the response header block.
	MaxResponseHeaderBytes int64

	// Allow lists CIDRs (or single addresses) the guard lets deliveries
	// reach even though they are loopback, private or otherwise refused,
	// e.g. "10.20.0.0/16" for receivers inside the operator's own
	// network, or "127.0.0.0/8" for local development. Empty in
	// production unless there is a reason.
	Allow []string

	// Resolver looks up endpoint host names; nil means
	// net.DefaultResolver. Tests use it to make names resolve to
	// addresses of their choosing.
	Resolver Resolver
	// RootCAs are the CAs trusted for https endpoints; nil means the
	// system pool. There is deliberately no way to skip verification.
	RootCAs *x509.CertPool

	// MaxIdleConns bounds idle keep-alive connections over all hosts.
	MaxIdleConns int
	// MaxIdleConnsPerHost bounds idle keep-alive connections per host.
	MaxIdleConnsPerHost int
	// MaxConnsPerHost bounds connections (idle, active and dialing) per
	// host; 0 means no limit. The dispatcher's per-endpoint concurrency
	// is the intended bound; a limit here makes a request wait for a
	// connection inside its own attempt timeout, and several endpoints
	// on one host share it.
	MaxConnsPerHost int
	// IdleConnTimeout closes keep-alive connections idle this long.
	IdleConnTimeout time.Duration

	// DialTimeout bounds one TCP connect, TLSHandshakeTimeout the TLS
	// handshake and ResponseHeaderTimeout the wait for response headers
	// once the request is sent (zero: only the attempt timeout bounds
	// it). Each is capped at Timeout; the attempt timeout always bounds
	// the whole, so these only make one slow phase fail sooner.
	DialTimeout           time.Duration
	TLSHandshakeTimeout   time.Duration
	ResponseHeaderTimeout time.Duration
	// KeepAlive is the TCP keep-alive probe interval.
	KeepAlive time.Duration

	// UserAgent is sent on every delivery; empty means
	// buildinfo.UserAgent() ("hookd/<version>").
	UserAgent string
}

// Request is one delivery attempt. Method is always POST.
type Request struct {
	// URL is the endpoint URL (http or https).
	URL string
	// Header holds the endpoint's custom headers and the signature
	// headers. They are sent as given, key case included. The client
	// adds User-Agent (always its own), Content-Type
	// (application/json unless Header has one) and Accept-Encoding (gzip
	// unless Header has one). Headers that would change the framing of
	// the request or the connection (Host, Content-Length,
	// Transfer-Encoding, Connection and the other hop-by-hop headers) are
	// dropped: the transport sets them from the request itself.
	Header http.Header
	// Body is sent exactly as given; signatures are over these bytes.
	Body []byte
	// Timeout is the total time for this attempt; zero means
	// Config.Timeout.
	Timeout time.Duration
}

// Response is what an attempt got back. On error, Do still returns what
// had arrived: StatusCode and Header are set if the response headers came
// in before the failure, and the body fields describe the part read.
type Response struct {
	StatusCode int
	// Header holds the response headers, each key's values joined with
	// ", ".
	Header map[string]string
	// Body holds the first ResponsePreviewBytes bytes of the (decoded)
	// body.
	Body []byte
	// BodySHA256 is the hex SHA-256 of the BodySize bytes read.
	BodySHA256 string
	// BodySize is the number of (decoded) body bytes read: all of them,
	// or MaxResponseBytes when Truncated.
	BodySize int64
	// Truncated reports that the body was longer than MaxResponseBytes
	// and the rest was not read.
	Truncated bool
	// Decompressed reports that a gzip or deflate Content-Encoding was
	// undone. A Content-Encoding the client does not decode (br, zstd)
	// leaves the body as received, with Decompressed false.
	Decompressed bool
	// BodyError, when not nil, says why the body could not be decoded
	// (corrupt gzip, say). The exchange itself succeeded, so it is not an
	// attempt error: the status code stands.
	BodyError error
	// Duration is the whole attempt, from before DNS to the last body
	// byte read.
	Duration time.Duration
}

// Client delivers webhooks. It is safe for concurrent use; one Client
// should serve the whole process so that keep-alive connections are
// shared.
type Client struct {
	transport *http.Transport
	dialer    *guardedDialer
	timeout   time.Duration
	maxBody   int64
	preview   int
	userAgent []string
}

// Shared header values: the transport only reads them.
var (
	jsonContentType = []string{"application/json"}
	acceptGzip      = []string{"gzip"}
)

// New builds a Client. It fails when a Config field is negative or an
// allowlist entry is not a CIDR (the error names the entry).
func New(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	allow, err := ParseAllowlist(cfg.Allow)
	if err != nil {
		return nil, err
	}
	resolver := cfg.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	dialer := newGuardedDialer(allow, resolver, cfg.DialTimeout, cfg.KeepAlive)

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true) // over TLS only: no h2c
	t := &http.Transport{
		// No proxy, whatever the environment says: a proxy would connect
		// on our behalf, out of the guard's sight.
		Proxy:       nil,
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			RootCAs:    cfg.RootCAs,
		},
		Protocols:              protocols,
		TLSHandshakeTimeout:    cfg.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  cfg.ResponseHeaderTimeout,
		MaxResponseHeaderBytes: cfg.MaxResponseHeaderBytes,
		// Decompression happens in readBody, where the cap counts
		// decoded bytes and decoding errors are told from transfer
		// errors.
		DisableCompression:  true,
		MaxIdleConns:        cfg.MaxIdleConns,
		MaxIdleConnsPerHost: cfg.MaxIdleConnsPerHost,
		MaxConnsPerHost:     cfg.MaxConnsPerHost,
		IdleConnTimeout:     cfg.IdleConnTimeout,
		HTTP2: &http.HTTP2Config{
			// Flow-control windows bound what a server can push into
			// memory before the body is read; nothing past the cap is
			// read, so larger windows would only buffer waste.
			MaxReceiveBufferPerStream:     int(min(max(cfg.MaxResponseBytes, 64<<10), 4<<20-1)),
			MaxReceiveBufferPerConnection: 1 << 20,
			// Find dead HTTP/2 connections, which every request to the
			// host would otherwise share until each timed out.
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     10 * time.Second,
		},
	}
	c := &Client{
		transport: t,
		dialer:    dialer,
		timeout:   cfg.Timeout,
		maxBody:   cfg.MaxResponseBytes,
		preview:   cfg.ResponsePreviewBytes,
		userAgent: []string{cfg.UserAgent},
	}
	return c, nil
}

func (cfg Config) validate() error {
	durations := []struct {
		name string
		d    time.Duration
	}{
		{"Timeout", cfg.Timeout},
		{"IdleConnTimeout", cfg.IdleConnTimeout},
		{"DialTimeout", cfg.DialTimeout},
		{"TLSHandshakeTimeout", cfg.TLSHandshakeTimeout},
		{"ResponseHeaderTimeout", cfg.ResponseHeaderTimeout},
		{"KeepAlive", cfg.KeepAlive},
	}
	for _, f := range durations {
		if f.d < 0 {
			return fmt.Errorf("egress: %s must not be negative, got %s", f.name, f.d)
		}
	}
	counts := []struct {
		name string
		n    int64
	}{
		{"MaxResponseBytes", cfg.MaxResponseBytes},
		{"ResponsePreviewBytes", int64(cfg.ResponsePreviewBytes)},
		{"MaxResponseHeaderBytes", cfg.MaxResponseHeaderBytes},
		{"MaxIdleConns", int64(cfg.MaxIdleConns)},
		{"MaxIdleConnsPerHost", int64(cfg.MaxIdleConnsPerHost)},
		{"MaxConnsPerHost", int64(cfg.MaxConnsPerHost)},
	}
	for _, f := range counts {
		if f.n < 0 {
			return fmt.Errorf("egress: %s must not be negative, got %d", f.name, f.n)
		}
	}
	return nil
}

func (cfg Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.Timeout, DefaultTimeout)
	def(&cfg.IdleConnTimeout, DefaultIdleConnTimeout)
	def(&cfg.DialTimeout, DefaultDialTimeout)
	def(&cfg.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	def(&cfg.KeepAlive, DefaultKeepAlive)
	cfg.DialTimeout = min(cfg.DialTimeout, cfg.Timeout)
	cfg.TLSHandshakeTimeout = min(cfg.TLSHandshakeTimeout, cfg.Timeout)
	cfg.ResponseHeaderTimeout = min(cfg.ResponseHeaderTimeout, cfg.Timeout)
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.ResponsePreviewBytes == 0 {
		cfg.ResponsePreviewBytes = DefaultResponsePreviewBytes
	}
	if cfg.MaxResponseHeaderBytes == 0 {
		cfg.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	if cfg.MaxIdleConns == 0 {
		cfg.MaxIdleConns = DefaultMaxIdleConns
	}
	if cfg.MaxIdleConnsPerHost == 0 {
		cfg.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = buildinfo.UserAgent()
	}
	return cfg
}

// Close closes idle connections. In-flight attempts are not interrupted
// (cancel their contexts for that); the Client stays usable.
func (c *Client) Close() {
	c.transport.CloseIdleConnections()
}

// ErrInvalidURL is wrapped by Do's error for a URL that is not an absolute
// http or https URL with a host.
var ErrInvalidURL = errors.New("egress: invalid endpoint URL")

// droppedHeaders are set by the transport from the request itself; a copy
// in Header would be written next to the transport's own (Go writes
// non-canonical keys as they are) and could change how the receiver frames
// the request.
var droppedHeaders = []string{
	"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
	"Proxy-Connection", "Upgrade", "Te", "Trailer", "Expect",
}

// Do makes one delivery attempt: POST req.Body to req.URL, within one
// total timeout, without following redirects and without reading more than
// the body cap. Any status is a Response, not an error; an error means the
// exchange did not complete (Classify maps it to an attempt outcome), and
// the Response then holds what had arrived.
func (c *Client) Do(ctx context.Context, req Request) (Response, error) {
	start := time.Now()
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = c.timeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	hreq, err := http.NewRequestWithContext(actx, http.MethodPost, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		// url.Error's message repeats the URL, whose path or query may
		// hold a token; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Response{Duration: time.Since(start)}, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	if (hreq.URL.Scheme != "http" && hreq.URL.Scheme != "https") || hreq.URL.Hostname() == "" {
		return Response{Duration: time.Since(start)}, fmt.Errorf("%w: need an absolute http or https URL with a host", ErrInvalidURL)
	}
	hreq.Header = c.header(req.Header)
	if u := hreq.URL.User; u != nil && !hasKeyFold(req.Header, "Authorization") {
		// What http.Client would do with credentials in the URL.
		pw, _ := u.Password()
		hreq.SetBasicAuth(u.Username(), pw)
	}

	// The transport, not an http.Client: a Client's only additions are
	// following redirects, which must not happen (a 3xx is returned as
	// it is, since following it could lead anywhere, including to an
	// address the endpoint's own name could not), and copying headers
	// for that, which costs allocations on every delivery.
	resp, err := c.transport.RoundTrip(hreq)
	if err != nil {
		return Response{Duration: time.Since(start)}, attemptError(actx, hreq.URL, timeout, err)
	}
	defer resp.Body.Close()

	out := Response{StatusCode: resp.StatusCode, Header: joinHeader(resp.Header)}
	sum, err := readBody(resp.Body, strings.Join(resp.Header.Values("Content-Encoding"), ","), c.maxBody, c.preview)
	out.Body = sum.preview
	out.BodySHA256 = sum.sha256
	out.BodySize = sum.size
	out.Truncated = sum.truncated
	out.Decompressed = sum.decompressed
	out.BodyError = sum.decodeErr
	out.Duration = time.Since(start)
	if err != nil {
		return out, attemptError(actx, hreq.URL, timeout, err)
	}
	return out, nil
}

// header builds the request headers: the caller's, verbatim, minus
// framing headers, plus the client's own.
func (c *Client) header(in http.Header) http.Header {
	h := make(http.Header, len(in)+3)
	var hasContentType, hasAcceptEncoding bool
	for k, v := range in {
		switch {
		case strings.EqualFold(k, "User-Agent"), isDropped(k):
			continue
		case strings.EqualFold(k, "Content-Type"):
			hasContentType = true
		case strings.EqualFold(k, "Accept-Encoding"):
			hasAcceptEncoding = true
		}
		h[k] = v
	}
	h["User-Agent"] = c.userAgent
	if !hasContentType {
		h["Content-Type"] = jsonContentType
	}
	if !hasAcceptEncoding {
		h["Accept-Encoding"] = acceptGzip
	}
	return h
}

func hasKeyFold(h http.Header, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func isDropped(key string) bool {
	for _, d := range droppedHeaders {
		if strings.EqualFold(key, d) {
			return true
		}
	}
	return false
}

func joinHeader(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) == 1 {
			out[k] = v[0]
		} else {
			out[k] = strings.Join(v, ", ")
		}
	}
	return out
}

// attemptError turns a transport error into the error Do returns: without
// the URL's path and query (url.Error prints the whole URL), and wrapping
// the context's error whenever the attempt's deadline (or the caller's
// cancellation) is what ended it, whatever error the interrupted operation
// happened to report (a body read cut short may say only "connection
// closed").
func attemptError(attempt context.Context, u *url.URL, timeout time.Duration, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var be *BlockedError
	if errors.As(err, &be) {
		return be
	}
	target := u.Scheme + "://" + u.Host
	cause := attempt.Err()
	switch {
	case cause == nil:
		return fmt.Errorf("egress: POST %s: %w", target, err)
	case errors.Is(cause, context.DeadlineExceeded):
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("egress: POST %s: no complete response in time (attempt timeout %s): %w", target, timeout, err)
		}
		return fmt.Errorf("egress: POST %s: no complete response in time (attempt timeout %s): %w (%w)", target, timeout, cause, err)
	default:
		if errors.Is(err, cause) {
			return fmt.Errorf("egress: POST %s: %w", target, err)
		}
		return fmt.Errorf("egress: POST %s: %w (%w)", target, cause, err)
	}
}
