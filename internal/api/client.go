package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/buildinfo"
)

// Client calls a hookd API server.
type Client struct {
	// BaseURL is the server, e.g. "http://localhost:8080".
	BaseURL string
	// APIKey is sent as a bearer token.
	APIKey string
	// HTTP does the requests; nil means a client with a 60 s timeout
	// (streams use their own, without one).
	HTTP *http.Client
}

// NewClient returns a client of server with key.
func NewClient(server, key string) *Client {
	return &Client{BaseURL: strings.TrimRight(server, "/"), APIKey: key}
}

// UnreachableError: the request never got an HTTP answer.
type UnreachableError struct {
	Server string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach hookd at %s: %v", e.Server, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// maxResponseBytes bounds what the client reads of one response.
const maxResponseBytes = 64 << 20

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 60 * time.Second}
}

func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body any) (*http.Request, error) {
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", c.BaseURL, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "hookctl/"+buildinfo.Version)
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	return req, nil
}

// do sends a request and decodes a 2xx JSON answer into out (unless nil),
// or returns the *Error of any other answer.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any, hdr http.Header) (int, error) {
	req, err := c.newRequest(ctx, method, path, query, body)
	if err != nil {
		return 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, &UnreachableError{Server: c.BaseURL, Err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return resp.StatusCode, &UnreachableError{Server: c.BaseURL, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, decodeError(resp, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("unexpected answer from %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func decodeError(resp *http.Response, data []byte) error {
	var eb ErrorBody
	if err := json.Unmarshal(data, &eb); err != nil || eb.Error.Code == "" {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return &Error{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Message: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, msg)}
	}
	eb.Error.Status = resp.StatusCode
	if eb.Error.RequestID == "" {
		eb.Error.RequestID = resp.Header.Get("X-Request-Id")
	}
	return &eb.Error
}

func esc(s string) string { return url.PathEscape(s) }

// CreateEndpoint creates an endpoint; the answer holds its secret.
func (c *Client) CreateEndpoint(ctx context.Context, in EndpointInput) (EndpointCreated, error) {
	var out EndpointCreated
	_, err := c.do(ctx, http.MethodPost, "/v1/endpoints", nil, in, &out, nil)
	return out, err
}

// EndpointListQuery filters GET /v1/endpoints.
type EndpointListQuery struct {
	TenantID string
	// Labels are key:value pairs, all of which must match.
	Labels []string
	Limit  int
	Cursor string
}

// ListEndpoints lists one page of endpoints.
func (c *Client) ListEndpoints(ctx context.Context, q EndpointListQuery) (Page[Endpoint], error) {
	v := url.Values{}
	if q.TenantID != "" {
		v.Set(ParamTenant, q.TenantID)
	}
	for _, l := range q.Labels {
		v.Add(ParamLabel, l)
	}
	if q.Limit > 0 {
		v.Set(ParamLimit, strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set(ParamCursor, q.Cursor)
	}
	var out Page[Endpoint]
	_, err := c.do(ctx, http.MethodGet, "/v1/endpoints", v, nil, &out, nil)
	return out, err
}

// GetEndpoint reads one endpoint.
func (c *Client) GetEndpoint(ctx context.Context, id string) (Endpoint, error) {
	var out Endpoint
	_, err := c.do(ctx, http.MethodGet, "/v1/endpoints/"+esc(id), nil, nil, &out, nil)
	return out, err
}

// UpdateEndpoint changes the fields set in in.
func (c *Client) UpdateEndpoint(ctx context.Context, id string, in EndpointInput) (Endpoint, error) {
	var out Endpoint
	_, err := c.do(ctx, http.MethodPatch, "/v1/endpoints/"+esc(id), nil, in, &out, nil)
	return out, err
}

// DeleteEndpoint deletes an endpoint.
func (c *Client) DeleteEndpoint(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/endpoints/"+esc(id), nil, nil, nil, nil)
	return err
}

// EnableEndpoint turns an endpoint on.
func (c *Client) EnableEndpoint(ctx context.Context, id string) (Endpoint, error) {
	var out Endpoint
	_, err := c.do(ctx, http.MethodPost, "/v1/endpoints/"+esc(id)+"/enable", nil, struct{}{}, &out, nil)
	return out, err
}

// DisableEndpoint turns an endpoint off; its deliveries become dead
// letters (reason endpoint_disabled) until it is enabled.
func (c *Client) DisableEndpoint(ctx context.Context, id, reason string) (Endpoint, error) {
	var out Endpoint
	_, err := c.do(ctx, http.MethodPost, "/v1/endpoints/"+esc(id)+"/disable", nil, DisableRequest{Reason: reason}, &out, nil)
	return out, err
}

// RotateSecret gives an endpoint a new signing secret.
func (c *Client) RotateSecret(ctx context.Context, id string, in RotateSecretRequest) (RotateSecretResponse, error) {
	var out RotateSecretResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/endpoints/"+esc(id)+"/rotate-secret", nil, in, &out, nil)
	return out, err
}

// EndpointStats summarizes an endpoint's attempts over window (0: the
// server's default).
func (c *Client) EndpointStats(ctx context.Context, id string, window time.Duration) (EndpointStats, error) {
	v := url.Values{}
	if window > 0 {
		v.Set(ParamWindow, window.String())
	}
	var out EndpointStats
	_, err := c.do(ctx, http.MethodGet, "/v1/endpoints/"+esc(id)+"/stats", v, nil, &out, nil)
	return out, err
}

// PublishEvent publishes an event; idempotencyKey may be empty.
func (c *Client) PublishEvent(ctx context.Context, in PublishEventRequest, idempotencyKey string) (PublishEventResponse, error) {
	var out PublishEventResponse
	var h http.Header
	if idempotencyKey != "" {
		h = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	_, err := c.do(ctx, http.MethodPost, "/v1/events", nil, in, &out, h)
	return out, err
}

// GetEvent returns the deliveries of an event.
func (c *Client) GetEvent(ctx context.Context, id string) (EventStatus, error) {
	var out EventStatus
	_, err := c.do(ctx, http.MethodGet, "/v1/events/"+esc(id), nil, nil, &out, nil)
	return out, err
}

// ListAttempts lists one page of attempts, newest first.
func (c *Client) ListAttempts(ctx context.Context, q ListQuery) (Page[Attempt], error) {
	var out Page[Attempt]
	_, err := c.do(ctx, http.MethodGet, "/v1/attempts", q.Values(), nil, &out, nil)
	return out, err
}

// ListDeliveries lists one page of deliveries (each with its newest
// attempt), newest first.
func (c *Client) ListDeliveries(ctx context.Context, q ListQuery) (Page[Delivery], error) {
	var out Page[Delivery]
	_, err := c.do(ctx, http.MethodGet, "/v1/deliveries", q.Values(), nil, &out, nil)
	return out, err
}

// GetDelivery returns a delivery with all its attempts.
func (c *Client) GetDelivery(ctx context.Context, id string) (Delivery, error) {
	var out Delivery
	_, err := c.do(ctx, http.MethodGet, "/v1/deliveries/"+esc(id), nil, nil, &out, nil)
	return out, err
}

// ListDeadLetters lists one page of the dead-letter queue, newest first.
func (c *Client) ListDeadLetters(ctx context.Context, q ListQuery) (Page[DeadLetter], error) {
	var out Page[DeadLetter]
	_, err := c.do(ctx, http.MethodGet, "/v1/dlq", q.Values(), nil, &out, nil)
	return out, err
}

func dlqPath(endpointID, deliveryID string) string {
	if endpointID == "" {
		endpointID = "-" // a malformed message's dead letter has no endpoint
	}
	return "/v1/dlq/" + esc(endpointID) + "/" + esc(deliveryID)
}

// GetDeadLetter reads one dead letter with its payload.
func (c *Client) GetDeadLetter(ctx context.Context, endpointID, deliveryID string) (DeadLetter, error) {
	var out DeadLetter
	_, err := c.do(ctx, http.MethodGet, dlqPath(endpointID, deliveryID), nil, nil, &out, nil)
	return out, err
}

// ReplayDeadLetter replays one dead letter now.
func (c *Client) ReplayDeadLetter(ctx context.Context, endpointID, deliveryID string) (ReplayOneResponse, error) {
	var out ReplayOneResponse
	_, err := c.do(ctx, http.MethodPost, dlqPath(endpointID, deliveryID)+"/replay", nil, struct{}{}, &out, nil)
	return out, err
}

// DiscardDeadLetter removes one dead letter.
func (c *Client) DiscardDeadLetter(ctx context.Context, endpointID, deliveryID string) error {
	_, err := c.do(ctx, http.MethodDelete, dlqPath(endpointID, deliveryID), nil, nil, nil, nil)
	return err
}

// DiscardDeadLetters removes every dead letter matching a filter (or
// counts them, on a dry run).
func (c *Client) DiscardDeadLetters(ctx context.Context, in DiscardRequest) (DiscardResult, error) {
	var out DiscardResult
	_, err := c.do(ctx, http.MethodPost, "/v1/dlq/discard", nil, in, &out, nil)
	return out, err
}

// DryRunReplay counts what a bulk replay would replay.
func (c *Client) DryRunReplay(ctx context.Context, in ReplayRequest) (DryRunResult, error) {
	in.DryRun = true
	var out DryRunResult
	_, err := c.do(ctx, http.MethodPost, "/v1/dlq/replay", nil, in, &out, nil)
	return out, err
}

// StartReplay starts a bulk replay job (or returns the job an earlier
// request with the same idempotencyKey started).
func (c *Client) StartReplay(ctx context.Context, in ReplayRequest, idempotencyKey string) (ReplayJob, error) {
	in.DryRun = false
	var h http.Header
	if idempotencyKey != "" {
		h = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	var out ReplayJob
	_, err := c.do(ctx, http.MethodPost, "/v1/dlq/replay", nil, in, &out, h)
	return out, err
}

// GetReplay reads a replay job's progress.
func (c *Client) GetReplay(ctx context.Context, id string) (ReplayJob, error) {
	var out ReplayJob
	_, err := c.do(ctx, http.MethodGet, "/v1/replays/"+esc(id), nil, nil, &out, nil)
	return out, err
}

// ListReplays lists replay jobs, newest first.
func (c *Client) ListReplays(ctx context.Context, limit int, cursor string) (Page[ReplayJob], error) {
	v := url.Values{}
	if limit > 0 {
		v.Set(ParamLimit, strconv.Itoa(limit))
	}
	if cursor != "" {
		v.Set(ParamCursor, cursor)
	}
	var out Page[ReplayJob]
	_, err := c.do(ctx, http.MethodGet, "/v1/replays", v, nil, &out, nil)
	return out, err
}

// CancelReplay stops a replay job.
func (c *Client) CancelReplay(ctx context.Context, id string) (ReplayJob, error) {
	var out ReplayJob
	_, err := c.do(ctx, http.MethodPost, "/v1/replays/"+esc(id)+"/cancel", nil, struct{}{}, &out, nil)
	return out, err
}

// CreateKey makes an API key; the answer holds the key, shown once.
func (c *Client) CreateKey(ctx context.Context, in CreateKeyRequest) (KeyCreated, error) {
	var out KeyCreated
	_, err := c.do(ctx, http.MethodPost, "/v1/keys", nil, in, &out, nil)
	return out, err
}

// ListKeys lists API keys.
func (c *Client) ListKeys(ctx context.Context, limit int, cursor string) (Page[APIKey], error) {
	v := url.Values{}
	if limit > 0 {
		v.Set(ParamLimit, strconv.Itoa(limit))
	}
	if cursor != "" {
		v.Set(ParamCursor, cursor)
	}
	var out Page[APIKey]
	_, err := c.do(ctx, http.MethodGet, "/v1/keys", v, nil, &out, nil)
	return out, err
}

// RevokeKey revokes an API key.
func (c *Client) RevokeKey(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/keys/"+esc(id), nil, nil, nil, nil)
	return err
}

// ErrStreamDropped: the server ended the stream because the client fell
// behind; reconnect with the last event id to go on.
var ErrStreamDropped = errors.New("the server dropped the stream: the client fell behind")

// StreamMessage is one Server-Sent Event of GET /v1/stream.
type StreamMessage struct {
	ID      string
	Event   string
	Attempt Attempt
}

// Stream follows GET /v1/stream, calling fn for each attempt, until ctx
// ends, fn returns an error, or the stream ends (io.EOF; ErrStreamDropped
// when the server dropped it). lastEventID resumes after that event.
// connected, when set, is called once the server has accepted the stream.
func (c *Client) Stream(ctx context.Context, q ListQuery, lastEventID string, connected func(), fn func(StreamMessage) error) error {
	return c.StreamEndpoints(ctx, q, nil, lastEventID, connected, fn)
}

// StreamEndpoints is Stream with more endpoints: the stream selects the
// attempts of q.EndpointID and of each of endpointIDs (ListQuery names one
// endpoint; the stream takes several).
func (c *Client) StreamEndpoints(ctx context.Context, q ListQuery, endpointIDs []string, lastEventID string, connected func(), fn func(StreamMessage) error) error {
	q.Limit, q.Cursor = 0, ""
	v := q.Values()
	for _, id := range endpointIDs {
		v.Add(ParamEndpoint, id)
	}
	req, err := c.newRequest(ctx, http.MethodGet, "/v1/stream", v, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	hc := &http.Client{}
	if c.HTTP != nil {
		hc = &http.Client{Transport: c.HTTP.Transport}
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &UnreachableError{Server: c.BaseURL, Err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return decodeError(resp, data)
	}
	if connected != nil {
		connected()
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	var msg StreamMessage
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if msg.Event == StreamEventDropped {
				return ErrStreamDropped
			}
			if len(data) > 0 && (msg.Event == "" || msg.Event == StreamEventAttempt) {
				if err := json.Unmarshal(data, &msg.Attempt); err != nil {
					return fmt.Errorf("stream: bad event %q: %w", msg.ID, err)
				}
				msg.Event = StreamEventAttempt
				if err := fn(msg); err != nil {
					return err
				}
			}
			msg, data = StreamMessage{}, data[:0]
			continue
		}
		if line[0] == ':' {
			continue // a comment: heartbeat
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "id":
			msg.ID = string(value)
		case "event":
			msg.Event = string(value)
		case "data":
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, value...)
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &UnreachableError{Server: c.BaseURL, Err: err}
	}
	return io.EOF
}
