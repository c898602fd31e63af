package kafka

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/domain"
)

// Default names of hookd's own topics. The names in use come from the
// configuration (kafka.attempts_topic, kafka.retry_prefix); these are its
// defaults, kept here so tools and tests agree with the daemon.
const (
	DefaultAttemptsTopic = "hookd.attempts"
	DefaultRetryPrefix   = "hookd.retry."
)

// RecordVersion is the major version of the record formats this build
// writes, and the only one it reads. Adding an optional field keeps the
// version, because readers ignore fields they do not know; changing what an
// existing field means bumps it, so that an older reader refuses the record
// (ErrUnsupportedVersion) instead of misreading it during a rolling upgrade.
const RecordVersion = 1

// RecordKind tells the records that share a topic apart: the logwriter
// reads attempts and dead letters from one topic, in order per delivery.
type RecordKind string

// Record kinds.
const (
	KindAttempt    RecordKind = "attempt"
	KindDeadLetter RecordKind = "dead_letter"
	KindRetry      RecordKind = "retry"
)

// Errors a decoder returns, wrapped in a *RecordError; test with errors.Is.
// A consumer dead-letters or skips such a record and moves on (invariant 5:
// bad input never stalls a partition).
var (
	// ErrMalformedRecord: not JSON, truncated, or a required field is
	// missing or out of range.
	ErrMalformedRecord = errors.New("malformed record")
	// ErrUnsupportedVersion: written by a hookd with a newer format.
	ErrUnsupportedVersion = errors.New("unsupported record version")
	// ErrWrongKind: a well-formed record of a kind this topic does not
	// carry, such as a retry on the attempts topic.
	ErrWrongKind = errors.New("wrong record kind")
)

// RecordError explains why a record was refused. Reason never holds more
// than a short excerpt of the input, so hostile input cannot flood a log.
type RecordError struct {
	Kind   RecordKind // the record's kind, when it got that far
	Reason string
	err    error // one of the Err* sentinels
	cause  error // the JSON error, if any
}

func (e *RecordError) Error() string {
	if e.Kind != "" {
		return "hookd " + string(e.Kind) + " record: " + e.Reason
	}
	return "hookd record: " + e.Reason
}

// Unwrap returns the sentinel (ErrMalformedRecord, ...) and the
// underlying JSON error, if any.
func (e *RecordError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.err, e.cause}
	}
	return []error{e.err}
}

func malformed(kind RecordKind, cause error, format string, args ...any) *RecordError {
	return &RecordError{Kind: kind, Reason: fmt.Sprintf(format, args...), err: ErrMalformedRecord, cause: cause}
}

// Record is a value hookd writes to one of its own topics.
type Record interface {
	Kind() RecordKind
	// Key is the Kafka message key: the delivery id, so that every record
	// of one delivery lands in one partition, in the order it was produced.
	Key() string
	// Encode returns the record's wire form; it refuses a record that its
	// decoder would refuse, so a bad record fails where it is made rather
	// than in a consumer.
	Encode() ([]byte, error)
}

// Message encodes r into a message for topic, keyed by r.Key().
func Message(topic string, r Record) (*sarama.ProducerMessage, error) {
	if topic == "" {
		return nil, errors.New("kafka: message without a topic")
	}
	b, err := r.Encode()
	if err != nil {
		return nil, err
	}
	return &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(r.Key()), Value: sarama.ByteEncoder(b)}, nil
}

// AttemptRecord carries one attempt on the attempts topic.
type AttemptRecord struct {
	Attempt domain.Attempt
}

// DeadLetterRecord carries a dead letter on the attempts topic, which the
// logwriter stores in Cassandra; it is ordered with the delivery's attempts.
type DeadLetterRecord struct {
	DeadLetter domain.DeadLetter
}

// RetryRecord is a delivery waiting in a retry tier. It holds all that the
// next attempt needs except the endpoint's current configuration and
// secrets, which are looked up when it is due so that edits and rotations
// made meanwhile apply. Times are kept to the millisecond, in UTC, except
// Event.Time, which keeps its offset so a rebuilt body is byte-identical.
type RetryRecord struct {
	Event      domain.Event
	EndpointID string
	DeliveryID string
	Generation int
	// Attempt is the number of the attempt to make when due (from 1,
	// counted within the generation).
	Attempt int
	// DueAt is when to make it; a tier consumer holds the record until then.
	DueAt time.Time
	// FirstAttemptAt is when the first attempt of this generation was
	// made; zero if none was made (the work moved straight to a tier).
	FirstAttemptAt time.Time
	// LastStatusCode and LastError describe the previous attempt, for the
	// dead letter if the next one exhausts the schedule.
	LastStatusCode int
	LastError      string
}

// Kind implements Record.
func (AttemptRecord) Kind() RecordKind { return KindAttempt }

// Kind implements Record.
func (DeadLetterRecord) Kind() RecordKind { return KindDeadLetter }

// Kind implements Record.
func (RetryRecord) Kind() RecordKind { return KindRetry }

// Key implements Record.
func (r AttemptRecord) Key() string { return r.Attempt.DeliveryID }

// Key implements Record.
func (r DeadLetterRecord) Key() string { return r.DeadLetter.DeliveryID }

// Key implements Record.
func (r RetryRecord) Key() string { return r.DeliveryID }

// The wire forms. They are declared apart from the domain types so that a
// change made to the domain's JSON (which the HTTP API shows) cannot
// silently change what is in Kafka. Envelope:
//
//	{"v":1,"kind":"attempt","attempt":{...}}
//	{"v":1,"kind":"dead_letter","dead_letter":{...}}
//	{"v":1,"kind":"retry","retry":{...,"event":{...,"data":<raw JSON>}}}
type envelope struct {
	V          *int            `json:"v"`
	Kind       RecordKind      `json:"kind"`
	Attempt    *wireAttempt    `json:"attempt,omitempty"`
	DeadLetter *wireDeadLetter `json:"dead_letter,omitempty"`
	// Retry must stay the last field: Encode splices the event's data in
	// at the end of the output.
	Retry *wireRetry `json:"retry,omitempty"`
}

type wireAttempt struct {
	ID                 string            `json:"id"`
	DeliveryID         string            `json:"delivery_id"`
	EventID            string            `json:"event_id"`
	EventType          string            `json:"event_type"`
	EndpointID         string            `json:"endpoint_id"`
	TenantID           string            `json:"tenant_id,omitempty"`
	Generation         int               `json:"generation"`
	Attempt            int               `json:"attempt"`
	StartedAt          time.Time         `json:"started_at"`
	DurationNS         int64             `json:"duration_ns"`
	StatusCode         int               `json:"status_code,omitempty"`
	Outcome            domain.Outcome    `json:"outcome"`
	Error              string            `json:"error,omitempty"`
	RequestHeaders     map[string]string `json:"request_headers,omitempty"`
	ResponseHeaders    map[string]string `json:"response_headers,omitempty"`
	ResponseBody       []byte            `json:"response_body,omitempty"`
	ResponseBodySHA256 string            `json:"response_body_sha256,omitempty"`
	ResponseBodySize   int64             `json:"response_body_size,omitempty"`
	NextRetryAt        *time.Time        `json:"next_retry_at,omitempty"`
}

type wireDeadLetter struct {
	DeliveryID     string     `json:"delivery_id"`
	EventID        string     `json:"event_id,omitempty"`
	EventType      string     `json:"event_type,omitempty"`
	EndpointID     string     `json:"endpoint_id,omitempty"`
	TenantID       string     `json:"tenant_id,omitempty"`
	Reason         string     `json:"reason"`
	LastError      string     `json:"last_error,omitempty"`
	LastStatusCode int        `json:"last_status_code,omitempty"`
	Attempts       int        `json:"attempts"`
	Generation     int        `json:"generation"`
	DeadAt         time.Time  `json:"dead_at"`
	Payload        []byte     `json:"payload,omitempty"` // base64: a malformed message's bytes need not be text
	ReplayedAt     *time.Time `json:"replayed_at,omitempty"`
}

type wireRetry struct {
	DeliveryID     string `json:"delivery_id"`
	EndpointID     string `json:"endpoint_id"`
	Generation     int    `json:"generation"`
	Attempt        int    `json:"attempt"`
	DueMS          int64  `json:"due_ms"`                     // Unix milliseconds, UTC
	FirstAttemptMS int64  `json:"first_attempt_ms,omitempty"` // Unix milliseconds, UTC
	LastStatusCode int    `json:"last_status_code,omitempty"`
	LastError      string `json:"last_error,omitempty"`
	// Event must stay the last field (see envelope.Retry).
	Event wireEvent `json:"event"`
}

type wireEvent struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	TenantID string    `json:"tenant_id,omitempty"`
	Source   string    `json:"source,omitempty"`
	Time     time.Time `json:"time,omitzero"`
	// Data is written by Encode, byte for byte, after the other fields.
	Data json.RawMessage `json:"data,omitempty"`
}

// Encode implements Record.
func (r AttemptRecord) Encode() ([]byte, error) {
	a := r.Attempt
	w := &wireAttempt{
		ID: a.ID, DeliveryID: a.DeliveryID, EventID: a.EventID, EventType: a.EventType,
		EndpointID: a.EndpointID, TenantID: a.TenantID, Generation: a.Generation, Attempt: a.AttemptNumber,
		StartedAt: a.StartedAt.UTC(), DurationNS: int64(a.Duration), StatusCode: a.StatusCode,
		Outcome: a.Outcome, Error: a.Error, RequestHeaders: a.RequestHeaders, ResponseHeaders: a.ResponseHeaders,
		ResponseBody: a.ResponseBody, ResponseBodySHA256: a.ResponseBodySHA256, ResponseBodySize: a.ResponseBodySize,
		NextRetryAt: utcPtr(a.NextRetryAt),
	}
	if err := w.validate(); err != nil {
		return nil, err
	}
	return marshal(envelope{V: version(), Kind: KindAttempt, Attempt: w})
}

// Encode implements Record.
func (r DeadLetterRecord) Encode() ([]byte, error) {
	d := r.DeadLetter
	w := &wireDeadLetter{
		DeliveryID: d.DeliveryID, EventID: d.EventID, EventType: d.EventType, EndpointID: d.EndpointID,
		TenantID: d.TenantID, Reason: d.Reason, LastError: d.LastError, LastStatusCode: d.LastStatusCode,
		Attempts: d.Attempts, Generation: d.Generation, DeadAt: d.DeadAt.UTC(), Payload: d.Payload,
		ReplayedAt: utcPtr(d.ReplayedAt),
	}
	if err := w.validate(); err != nil {
		return nil, err
	}
	return marshal(envelope{V: version(), Kind: KindDeadLetter, DeadLetter: w})
}

// Encode implements Record. The event's data is copied into the output
// byte for byte (JSON re-encoding would compact it and escape HTML
// characters, and a retry must sign and send what the first attempt
// sent); only whitespace around the value is dropped, as JSON keeps none.
func (r RetryRecord) Encode() ([]byte, error) {
	e := r.Event
	data := trimJSONSpace(e.Data)
	if len(e.Data) > 0 && !json.Valid(data) {
		return nil, malformed(KindRetry, nil, "event %q: data is not valid JSON", excerpt(e.ID))
	}
	w := &wireRetry{
		DeliveryID: r.DeliveryID, EndpointID: r.EndpointID, Generation: r.Generation, Attempt: r.Attempt,
		DueMS: unixMilli(r.DueAt), FirstAttemptMS: unixMilli(r.FirstAttemptAt),
		LastStatusCode: r.LastStatusCode, LastError: r.LastError,
		Event: wireEvent{ID: e.ID, Type: e.Type, TenantID: e.TenantID, Source: e.Source, Time: e.Time},
	}
	if err := w.validate(); err != nil {
		return nil, err
	}
	b, err := marshal(envelope{V: version(), Kind: KindRetry, Retry: w})
	if err != nil || len(data) == 0 {
		return b, err
	}
	// b ends with the closing braces of event, retry and the envelope;
	// the event object is never empty (it has an id), so a comma follows.
	const tail = "}}}"
	if !bytes.HasSuffix(b, []byte(tail)) {
		return nil, errors.New("hookd retry record: internal error: unexpected encoding")
	}
	out := make([]byte, 0, len(b)+len(data)+len(`,"data":`))
	out = append(out, b[:len(b)-len(tail)]...)
	out = append(out, `,"data":`...)
	out = append(out, data...)
	return append(out, tail...), nil
}

// DecodeAttemptsRecord decodes a record of the attempts topic: an
// AttemptRecord or a DeadLetterRecord. Unknown fields are ignored; errors
// are *RecordError.
func DecodeAttemptsRecord(b []byte) (Record, error) {
	env, err := decodeEnvelope(b, KindAttempt, KindDeadLetter)
	if err != nil {
		return nil, err
	}
	switch env.Kind {
	case KindAttempt:
		w := env.Attempt
		if w == nil {
			return nil, malformed(KindAttempt, nil, `no "attempt" object`)
		}
		if err := w.validate(); err != nil {
			return nil, err
		}
		return AttemptRecord{Attempt: domain.Attempt{
			ID: w.ID, DeliveryID: w.DeliveryID, EventID: w.EventID, EventType: w.EventType,
			EndpointID: w.EndpointID, TenantID: w.TenantID, Generation: w.Generation, AttemptNumber: w.Attempt,
			StartedAt: w.StartedAt.UTC(), Duration: time.Duration(w.DurationNS), StatusCode: w.StatusCode,
			Outcome: w.Outcome, Error: w.Error, RequestHeaders: w.RequestHeaders, ResponseHeaders: w.ResponseHeaders,
			ResponseBody: w.ResponseBody, ResponseBodySHA256: w.ResponseBodySHA256, ResponseBodySize: w.ResponseBodySize,
			NextRetryAt: utcPtr(w.NextRetryAt),
		}}, nil
	default: // KindDeadLetter
		w := env.DeadLetter
		if w == nil {
			return nil, malformed(KindDeadLetter, nil, `no "dead_letter" object`)
		}
		if err := w.validate(); err != nil {
			return nil, err
		}
		return DeadLetterRecord{DeadLetter: domain.DeadLetter{
			DeliveryID: w.DeliveryID, EventID: w.EventID, EventType: w.EventType, EndpointID: w.EndpointID,
			TenantID: w.TenantID, Reason: w.Reason, LastError: w.LastError, LastStatusCode: w.LastStatusCode,
			Attempts: w.Attempts, Generation: w.Generation, DeadAt: w.DeadAt.UTC(), Payload: w.Payload,
			ReplayedAt: utcPtr(w.ReplayedAt),
		}}, nil
	}
}

// DecodeRetryRecord decodes a record of a retry tier topic. The event's
// data is returned exactly as it appears in b. Errors are *RecordError.
func DecodeRetryRecord(b []byte) (RetryRecord, error) {
	env, err := decodeEnvelope(b, KindRetry)
	if err != nil {
		return RetryRecord{}, err
	}
	w := env.Retry
	if w == nil {
		return RetryRecord{}, malformed(KindRetry, nil, `no "retry" object`)
	}
	if err := w.validate(); err != nil {
		return RetryRecord{}, err
	}
	r := RetryRecord{
		Event: domain.Event{
			ID: w.Event.ID, Type: w.Event.Type, TenantID: w.Event.TenantID, Source: w.Event.Source,
			Time: w.Event.Time, Data: w.Event.Data,
		},
		EndpointID: w.EndpointID, DeliveryID: w.DeliveryID, Generation: w.Generation, Attempt: w.Attempt,
		DueAt:          time.UnixMilli(w.DueMS).UTC(),
		LastStatusCode: w.LastStatusCode, LastError: w.LastError,
	}
	if w.FirstAttemptMS != 0 {
		r.FirstAttemptAt = time.UnixMilli(w.FirstAttemptMS).UTC()
	}
	return r, nil
}

// decodeEnvelope parses b in one pass and checks its version and kind. Only
// when that fails does it look at b again, to say whether the version is
// the reason: a record from a newer hookd may not fit this one's structs.
func decodeEnvelope(b []byte, want ...RecordKind) (*envelope, error) {
	var env envelope
	err := json.Unmarshal(b, &env)
	if err != nil || env.V == nil || *env.V != RecordVersion {
		if verr := checkVersion(b); verr != nil {
			return nil, verr
		}
		if err != nil {
			return nil, malformed(kindOf(env.Kind, want), err, "%s", jsonProblem(err))
		}
	}
	if env.Kind == "" {
		return nil, malformed("", nil, `no "kind"`)
	}
	for _, k := range want {
		if env.Kind == k {
			return &env, nil
		}
	}
	return nil, &RecordError{Reason: fmt.Sprintf("kind %q is not one of %q on this topic", excerpt(string(env.Kind)), want), err: ErrWrongKind}
}

// checkVersion returns the error that explains b's version, or nil if b
// has version RecordVersion.
func checkVersion(b []byte) error {
	var probe struct {
		V json.RawMessage `json:"v"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field == "" {
			return malformed("", err, "a JSON %s, not an object", typ.Value)
		}
		return malformed("", err, "%s", jsonProblem(err))
	}
	if len(probe.V) == 0 || string(probe.V) == "null" {
		return malformed("", nil, `no format version ("v")`)
	}
	v, err := strconv.ParseInt(string(probe.V), 10, 64)
	switch {
	case err != nil:
		return malformed("", nil, "format version %s is not an integer", excerpt(string(probe.V)))
	case v > RecordVersion:
		return &RecordError{
			Reason: fmt.Sprintf("format version %d is newer than the version %d this hookd reads: upgrade hookd", v, RecordVersion),
			err:    ErrUnsupportedVersion,
		}
	case v < RecordVersion:
		return &RecordError{Reason: fmt.Sprintf("format version %d is not a version hookd ever wrote", v), err: ErrUnsupportedVersion}
	}
	return nil
}

func kindOf(k RecordKind, want []RecordKind) RecordKind {
	for _, w := range want {
		if k == w {
			return k
		}
	}
	return ""
}

// jsonProblem describes a JSON error without echoing input at length.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %s", syn.Offset, excerpt(syn.Error()))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Sprintf("field %s: a JSON %s where %s belongs", excerpt(field), typ.Value, typ.Type)
	}
	return excerpt(err.Error())
}

// excerpt shortens s for an error message.
func excerpt(s string) string {
	const maxLen = 64
	if len(s) <= maxLen {
		return s
	}
	return s[:maxLen] + "..."
}

func (w *wireAttempt) validate() error {
	switch {
	case w.ID == "":
		return malformed(KindAttempt, nil, "no id")
	case w.DeliveryID == "":
		return malformed(KindAttempt, nil, "attempt %q: no delivery_id", excerpt(w.ID))
	case w.EventID == "":
		return malformed(KindAttempt, nil, "attempt %q: no event_id", excerpt(w.ID))
	case w.EndpointID == "":
		return malformed(KindAttempt, nil, "attempt %q: no endpoint_id", excerpt(w.ID))
	case w.Outcome == "":
		return malformed(KindAttempt, nil, "attempt %q: no outcome", excerpt(w.ID))
	case w.Generation < 0:
		return malformed(KindAttempt, nil, "attempt %q: generation %d is negative", excerpt(w.ID), w.Generation)
	case w.Attempt < 1:
		return malformed(KindAttempt, nil, "attempt %q: attempt number %d is not positive", excerpt(w.ID), w.Attempt)
	case w.DurationNS < 0:
		return malformed(KindAttempt, nil, "attempt %q: negative duration", excerpt(w.ID))
	}
	if err := checkTime(KindAttempt, "started_at", w.StartedAt, true); err != nil {
		return err
	}
	if w.NextRetryAt != nil {
		return checkTime(KindAttempt, "next_retry_at", *w.NextRetryAt, true)
	}
	return nil
}

func (w *wireDeadLetter) validate() error {
	switch {
	case w.DeliveryID == "":
		return malformed(KindDeadLetter, nil, "no delivery_id")
	case w.Reason == "":
		return malformed(KindDeadLetter, nil, "delivery %q: no reason", excerpt(w.DeliveryID))
	case w.Attempts < 0 || w.Generation < 0:
		return malformed(KindDeadLetter, nil, "delivery %q: negative attempts or generation", excerpt(w.DeliveryID))
	}
	if err := checkTime(KindDeadLetter, "dead_at", w.DeadAt, true); err != nil {
		return err
	}
	if w.ReplayedAt != nil {
		return checkTime(KindDeadLetter, "replayed_at", *w.ReplayedAt, true)
	}
	return nil
}

func (w *wireRetry) validate() error {
	switch {
	case w.DeliveryID == "":
		return malformed(KindRetry, nil, "no delivery_id")
	case w.EndpointID == "":
		return malformed(KindRetry, nil, "delivery %q: no endpoint_id", excerpt(w.DeliveryID))
	case w.Event.ID == "":
		return malformed(KindRetry, nil, "delivery %q: no event id", excerpt(w.DeliveryID))
	case w.Event.Type == "":
		return malformed(KindRetry, nil, "delivery %q: no event type", excerpt(w.DeliveryID))
	case w.Generation < 0:
		return malformed(KindRetry, nil, "delivery %q: generation %d is negative", excerpt(w.DeliveryID), w.Generation)
	case w.Attempt < 1:
		return malformed(KindRetry, nil, "delivery %q: attempt number %d is not positive", excerpt(w.DeliveryID), w.Attempt)
	case w.DueMS <= 0 || w.DueMS > maxUnixMilli:
		return malformed(KindRetry, nil, "delivery %q: due_ms %d is not a time", excerpt(w.DeliveryID), w.DueMS)
	case w.FirstAttemptMS < 0 || w.FirstAttemptMS > maxUnixMilli:
		return malformed(KindRetry, nil, "delivery %q: first_attempt_ms %d is not a time", excerpt(w.DeliveryID), w.FirstAttemptMS)
	}
	return checkTime(KindRetry, "event time", w.Event.Time, false)
}

// maxUnixMilli is the end of year 9999, the last moment RFC 3339 can write.
var maxUnixMilli = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()

// checkTime refuses times that JSON cannot carry (RFC 3339 has four-digit
// years), so that whatever decodes also encodes again.
func checkTime(kind RecordKind, field string, t time.Time, required bool) error {
	if t.IsZero() {
		if required {
			return malformed(kind, nil, "no %s", field)
		}
		return nil
	}
	if y := t.Year(); y < 1 || y > 9999 {
		return malformed(kind, nil, "%s: year %d is out of range", field, y)
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return malformed(kind, nil, "%s: year %d (UTC) is out of range", field, y)
	}
	return nil
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Readable with kcat, and a few bytes shorter; decoders do not care.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("hookd record: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func version() *int {
	v := RecordVersion
	return &v
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// trimJSONSpace drops the whitespace JSON allows around a value.
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}
