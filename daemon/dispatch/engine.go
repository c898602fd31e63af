package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/egress"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/lanes"
	"github.com/hookd/hookd/internal/metrics"
	"github.com/hookd/hookd/internal/retry"
	"github.com/hookd/hookd/internal/signature"
)

// endpointLookup finds an endpoint's current configuration (the
// subscription index).
type endpointLookup interface {
	Endpoint(id string) (*domain.Endpoint, bool)
}

// sender makes one HTTP attempt (the egress client).
type sender interface {
	Do(ctx context.Context, r egress.Request) (egress.Response, error)
}

// admitter decides whether an endpoint may take another delivery now
// (the lanes).
type admitter interface {
	Acquire(ctx context.Context, endpointID string, l lanes.Limits) (lanes.Permit, lanes.Decision)
}

// endpointDisabler turns an endpoint off (410 Gone).
type endpointDisabler interface {
	SetEndpointEnabled(ctx context.Context, id string, enabled bool, reason, by string) (domain.Endpoint, error)
}

// Options tune the engine.
type Options struct {
	AttemptsTopic  string
	RetryPrefix    string
	Tiers          retry.Tiers
	DefaultTimeout time.Duration
	// MaxRetryAfter caps how far a Retry-After header may push a retry.
	MaxRetryAfter time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
	Rand          retry.Rand
	// Metrics records attempts, deferrals, retries and dead letters; nil
	// records nothing.
	Metrics *metrics.Metrics
}

// Engine makes delivery attempts and turns each outcome into the records
// that make it durable: the attempt itself, and a retry or a dead letter.
type Engine struct {
	endpoints endpointLookup
	secrets   *secretCache
	admit     admitter
	send      sender
	disable   endpointDisabler
	opts      Options
}

// NewEngine wires an engine.
func NewEngine(endpoints endpointLookup, secrets secretStore, admit admitter, send sender, disable endpointDisabler, opts Options) *Engine {
	if opts.AttemptsTopic == "" {
		opts.AttemptsTopic = kafka.DefaultAttemptsTopic
	}
	if opts.RetryPrefix == "" {
		opts.RetryPrefix = kafka.DefaultRetryPrefix
	}
	if len(opts.Tiers.Durations()) == 0 {
		opts.Tiers = retry.DefaultTiers()
	}
	if opts.DefaultTimeout == 0 {
		opts.DefaultTimeout = 15 * time.Second
	}
	if opts.MaxRetryAfter == 0 {
		opts.MaxRetryAfter = retry.DefaultMaxRetryAfter
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Engine{endpoints: endpoints, secrets: newSecretCache(secrets, 0), admit: admit, send: send, disable: disable, opts: opts}
}

// Job is one delivery: an event to one endpoint, at one attempt.
type Job struct {
	Event      domain.Event
	Body       []byte // events.Payload(Event): what is signed and sent
	EndpointID string
	DeliveryID string
	Generation int
	Attempt    int // from 1
	// FirstAttemptAt, LastStatusCode and LastError carry history for the
	// dead letter if this attempt exhausts the schedule.
	FirstAttemptAt time.Time
	LastStatusCode int
	LastError      string
}

// dueHeader carries a retry's due time (unix ms) on tier messages.
const dueHeader = "hookd-due-ms"

// errShutdown reports that an attempt was cut short by shutdown; the
// caller moves the job to a retry tier rather than losing it.
var errShutdown = errors.New("dispatch: shutting down")

// Deliver handles one job and returns the messages that make its outcome
// durable. It returns an error only when ctx ended before an outcome was
// known; the caller then defers the job (see Defer).
func (e *Engine) Deliver(ctx context.Context, j Job) ([]*sarama.ProducerMessage, error) {
	ep, ok := e.endpoints.Endpoint(j.EndpointID)
	if !ok {
		return e.deadLetter(j, domain.ReasonEndpointDeleted, "the endpoint no longer exists", 0)
	}
	if !ep.Enabled {
		return e.deadLetter(j, domain.ReasonEndpointDisabled, ep.DisabledReason, 0)
	}
	permit, d := e.admit.Acquire(ctx, ep.ID, lanes.Limits{MaxConcurrency: ep.MaxConcurrency, RatePerSec: ep.RateLimit})
	if !d.Admitted() {
		if d.Reason == lanes.ReasonCanceled || ctx.Err() != nil {
			return nil, errShutdown
		}
		// Saturated, rate-limited or circuit-open: the work moves to a
		// retry tier at once, so this message's offset can be committed
		// and the endpoint never holds up the others.
		wait := max(d.RetryAfter, time.Second)
		e.opts.Metrics.Deferred(d.Reason.String())
		return e.retryMessages(j, e.opts.Now().Add(wait))
	}
	now := e.opts.Now()
	if j.FirstAttemptAt.IsZero() {
		j.FirstAttemptAt = now
	}
	secrets, err := e.secrets.Secrets(ctx, ep, now)
	if err != nil || len(secrets) == 0 {
		permit.Release(lanes.Result{Aborted: true})
		if ctx.Err() != nil {
			return nil, errShutdown
		}
		e.opts.Logger.Error("signing secrets unavailable; delivery deferred", "endpoint_id", ep.ID, "error", err)
		e.opts.Metrics.Deferred("secrets_unavailable")
		return e.retryMessages(j, now.Add(5*time.Second))
	}
	sigHeaders, err := signature.Sign(ep.SigningScheme, secrets, j.DeliveryID, now, j.Body)
	if err != nil {
		permit.Release(lanes.Result{Aborted: true})
		return e.deadLetter(j, domain.ReasonExhausted, "cannot sign: "+err.Error(), 0)
	}
	header := http.Header{}
	for k, v := range ep.Headers {
		header[k] = []string{v}
	}
	for k, v := range sigHeaders {
		header.Set(k, v)
	}
	timeout := ep.Timeout
	if timeout == 0 {
		timeout = e.opts.DefaultTimeout
	}
	e.opts.Metrics.InflightInc()
	started := time.Now()
	resp, sendErr := e.send.Do(ctx, egress.Request{URL: ep.URL, Header: header, Body: j.Body, Timeout: timeout})
	took := time.Since(started)
	e.opts.Metrics.InflightDec()
	if sendErr != nil && ctx.Err() != nil {
		permit.Release(lanes.Result{Aborted: true})
		return nil, errShutdown
	}

	a := domain.Attempt{
		ID:                 domain.AttemptID(j.DeliveryID, j.Generation, j.Attempt),
		DeliveryID:         j.DeliveryID,
		EventID:            j.Event.ID,
		EventType:          j.Event.Type,
		EndpointID:         ep.ID,
		TenantID:           j.Event.TenantID,
		Generation:         j.Generation,
		AttemptNumber:      j.Attempt,
		StartedAt:          now,
		Duration:           resp.Duration,
		StatusCode:         resp.StatusCode,
		RequestHeaders:     redact(header),
		ResponseHeaders:    resp.Header,
		ResponseBody:       resp.Body,
		ResponseBodySHA256: resp.BodySHA256,
		ResponseBodySize:   resp.BodySize,
	}
	switch {
	case sendErr != nil:
		a.Outcome = egress.Classify(sendErr)
		a.Error = sendErr.Error()
	case ep.IsSuccess(resp.StatusCode):
		a.Outcome = domain.OutcomeDelivered
	default:
		a.Outcome = domain.OutcomeFailed
		a.Error = fmt.Sprintf("endpoint answered %d", resp.StatusCode)
	}
	permit.Release(lanes.Result{Success: a.Outcome == domain.OutcomeDelivered, Timeout: a.Outcome == domain.OutcomeTimeout})
	e.opts.Metrics.Attempt(string(a.Outcome), took)
	return e.afterAttempt(ctx, j, ep, a, resp)
}

// afterAttempt decides what follows an attempt: nothing, a retry, or a
// dead letter (410 also disables the endpoint).
func (e *Engine) afterAttempt(ctx context.Context, j Job, ep *domain.Endpoint, a domain.Attempt, resp egress.Response) ([]*sarama.ProducerMessage, error) {
	j.LastStatusCode, j.LastError = a.StatusCode, a.Error
	var follow []*sarama.ProducerMessage
	var err error
	switch {
	case a.Outcome == domain.OutcomeDelivered:
	case a.Outcome == domain.OutcomeBlocked:
		follow, err = e.deadLetter(j, domain.ReasonBlocked, a.Error, a.StatusCode)
	case a.StatusCode == http.StatusGone:
		reason := "endpoint answered 410 Gone"
		if _, derr := e.disable.SetEndpointEnabled(ctx, ep.ID, false, reason, "hookd"); derr != nil {
			e.opts.Logger.Error("disabling an endpoint that answered 410", "endpoint_id", ep.ID, "error", derr)
		}
		follow, err = e.deadLetter(j, domain.ReasonGone, reason, a.StatusCode)
	default:
		delay, ok := retry.Next(ep.RetryPolicy, j.Attempt, e.opts.Rand)
		if !ok {
			follow, err = e.deadLetter(j, domain.ReasonExhausted, a.Error, a.StatusCode)
			break
		}
		if ra := resp.Header["Retry-After"]; ra != "" {
			delay = retry.WithRetryAfter(delay, ra, a.StartedAt, e.opts.MaxRetryAfter)
		}
		due := e.opts.Now().Add(delay)
		a.NextRetryAt = &due
		j.Attempt++
		follow, err = e.retryMessages(j, due)
	}
	if err != nil {
		return nil, err
	}
	// The attempt is encoded once, after what follows it is known (its
	// next retry time is part of it).
	attemptMsg, err := kafka.Message(e.opts.AttemptsTopic, kafka.AttemptRecord{Attempt: a})
	if err != nil {
		return nil, err
	}
	return append([]*sarama.ProducerMessage{attemptMsg}, follow...), nil
}

// retryMessages parks j in the retry tier its due time calls for.
func (e *Engine) retryMessages(j Job, due time.Time) ([]*sarama.ProducerMessage, error) {
	now := e.opts.Now()
	hop := e.opts.Tiers.Route(now, due)
	tier := hop.Tier
	if hop.Deliver {
		tier = e.opts.Tiers.Pick(0)
		hop.NotBefore = due
	}
	rec := kafka.RetryRecord{
		Event: j.Event, EndpointID: j.EndpointID, DeliveryID: j.DeliveryID, Generation: j.Generation,
		Attempt: j.Attempt, DueAt: due, FirstAttemptAt: j.FirstAttemptAt,
		LastStatusCode: j.LastStatusCode, LastError: j.LastError,
	}
	m, err := kafka.Message(retry.Topic(e.opts.RetryPrefix, tier), rec)
	if err != nil {
		return nil, err
	}
	// The tier consumer reads NotBefore from the timestamp and the due
	// header, without decoding the record: a message in tier T waits T
	// from when it was written, or until it is due.
	m.Timestamp = now
	m.Headers = []sarama.RecordHeader{{Key: []byte(dueHeader), Value: []byte(strconv.FormatInt(due.UnixMilli(), 10))}}
	e.opts.Metrics.RetryScheduled(retry.TierName(tier))
	return []*sarama.ProducerMessage{m}, nil
}

// Defer returns the messages that move j to a retry tier untouched, for
// work cut short by shutdown.
func (e *Engine) Defer(j Job) ([]*sarama.ProducerMessage, error) {
	e.opts.Metrics.Deferred("shutdown")
	return e.retryMessages(j, e.opts.Now())
}

func (e *Engine) deadLetter(j Job, reason, lastError string, status int) ([]*sarama.ProducerMessage, error) {
	if lastError == "" {
		lastError = j.LastError
	}
	if status == 0 {
		status = j.LastStatusCode
	}
	attempts := j.Attempt
	if reason == domain.ReasonEndpointDisabled || reason == domain.ReasonEndpointDeleted {
		attempts = j.Attempt - 1 // this one was not made
	}
	dl := domain.DeadLetter{
		DeliveryID: j.DeliveryID, EventID: j.Event.ID, EventType: j.Event.Type, EndpointID: j.EndpointID,
		TenantID: j.Event.TenantID, Reason: reason, LastError: lastError, LastStatusCode: status,
		Attempts: attempts, Generation: j.Generation, DeadAt: e.opts.Now(), Payload: j.Body,
	}
	m, err := kafka.Message(e.opts.AttemptsTopic, kafka.DeadLetterRecord{DeadLetter: dl})
	if err != nil {
		return nil, err
	}
	e.opts.Metrics.DeadLetter(reason)
	return []*sarama.ProducerMessage{m}, nil
}

// redact copies the request headers for the log, hiding values that
// authenticate (custom Authorization headers, tokens, keys).
func redact(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		lk := strings.ToLower(k)
		if lk == "authorization" || lk == "proxy-authorization" || lk == "cookie" ||
			strings.Contains(lk, "token") || strings.Contains(lk, "secret") || strings.Contains(lk, "password") ||
			strings.Contains(lk, "api-key") || strings.Contains(lk, "apikey") {
			out[k] = "[redacted]"
			continue
		}
		out[k] = strings.Join(v, ", ")
	}
	return out
}
