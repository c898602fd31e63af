package kafka_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/kafka"
)

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func sampleAttempt() domain.Attempt {
	next := t0.Add(5 * time.Minute)
	return domain.Attempt{
		ID: "att_01", DeliveryID: "msg_01", EventID: "evt_01", EventType: "order.created",
		EndpointID: "ep_01", TenantID: "acme", Generation: 1, AttemptNumber: 3,
		StartedAt: t0, Duration: 1534 * time.Millisecond, StatusCode: 503,
		Outcome: domain.OutcomeFailed, Error: "503 Service Unavailable",
		RequestHeaders:     map[string]string{"webhook-id": "msg_01", "webhook-signature": "[redacted]"},
		ResponseHeaders:    map[string]string{"Retry-After": "120"},
		ResponseBody:       []byte("<html>busy</html>\x00\xff"),
		ResponseBodySHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		ResponseBodySize:   20, NextRetryAt: &next,
	}
}

func sampleDeadLetter() domain.DeadLetter {
	replayed := t0.Add(time.Hour)
	return domain.DeadLetter{
		DeliveryID: "msg_01", EventID: "evt_01", EventType: "order.created", EndpointID: "ep_01",
		TenantID: "acme", Reason: domain.ReasonExhausted, LastError: "timeout after 15s",
		LastStatusCode: 504, Attempts: 8, Generation: 1, DeadAt: t0,
		Payload:    []byte(`{"id":"evt_01","type":"order.created","data":{"total":12.50}}`),
		ReplayedAt: &replayed,
	}
}

// prettyData has what JSON re-encoding would change: spacing, HTML
// characters, escapes, number spellings, a duplicate key.
const prettyData = "{\n  \"total\": 1.250e1,\n  \"note\": \"<b>&amp;</b> \\u00e9\\/\",\n  \"k\": 1, \"k\": 2,\n  \"list\": [ 1 , 2 ]\n}"

func sampleRetry() kafka.RetryRecord {
	return kafka.RetryRecord{
		Event: domain.Event{
			ID: "evt_01", Type: "order.created", TenantID: "acme", Source: "shop",
			Time: time.Date(2026, 3, 14, 16, 9, 26, 123456789, time.FixedZone("", 3600)),
			Data: json.RawMessage(prettyData),
		},
		EndpointID: "ep_01", DeliveryID: "msg_01", Generation: 1, Attempt: 4,
		DueAt: t0.Add(30 * time.Minute), FirstAttemptAt: t0.Add(-5 * time.Minute),
		LastStatusCode: 503, LastError: "503 Service Unavailable",
	}
}

// requireAllFieldsSet fails if a field of v is zero, so that a field added
// to a domain type fails the round trip until the codec carries it.
func requireAllFieldsSet(t *testing.T, v any) {
	t.Helper()
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Errorf("sample %T leaves %s zero: set it so the round trip covers it", v, rv.Type().Field(i).Name)
		}
	}
}

func TestAttemptRoundTrip(t *testing.T) {
	a := sampleAttempt()
	requireAllFieldsSet(t, a)
	b, err := kafka.AttemptRecord{Attempt: a}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	r, err := kafka.DecodeAttemptsRecord(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	got, ok := r.(kafka.AttemptRecord)
	if !ok {
		t.Fatalf("decoded %T, want AttemptRecord", r)
	}
	if !reflect.DeepEqual(got.Attempt, a) {
		t.Errorf("round trip changed the attempt:\n got %+v\nwant %+v", got.Attempt, a)
	}
	if r.Key() != a.DeliveryID || r.Kind() != kafka.KindAttempt {
		t.Errorf("key %q kind %q", r.Key(), r.Kind())
	}
}

func TestAttemptTimesBecomeUTC(t *testing.T) {
	a := sampleAttempt()
	a.StartedAt = t0.In(time.FixedZone("CET", 3600))
	b, err := kafka.AttemptRecord{Attempt: a}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	r, err := kafka.DecodeAttemptsRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	ar, ok := r.(kafka.AttemptRecord)
	if !ok {
		t.Fatalf("decoded %T", r)
	}
	got := ar.Attempt.StartedAt
	if !got.Equal(t0) || got.Location() != time.UTC {
		t.Errorf("started_at %v, want %v in UTC", got, t0)
	}
}

func TestDeadLetterRoundTrip(t *testing.T) {
	d := sampleDeadLetter()
	requireAllFieldsSet(t, d)
	msg, err := kafka.Message(kafka.DefaultAttemptsTopic, kafka.DeadLetterRecord{DeadLetter: d})
	if err != nil {
		t.Fatal(err)
	}
	if key, _ := msg.Key.Encode(); string(key) != d.DeliveryID || msg.Topic != kafka.DefaultAttemptsTopic {
		t.Errorf("message topic %q key %q, want %q %q", msg.Topic, key, kafka.DefaultAttemptsTopic, d.DeliveryID)
	}
	b, _ := msg.Value.Encode()
	r, err := kafka.DecodeAttemptsRecord(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	got, ok := r.(kafka.DeadLetterRecord)
	if !ok {
		t.Fatalf("decoded %T, want DeadLetterRecord", r)
	}
	if !reflect.DeepEqual(got.DeadLetter, d) {
		t.Errorf("round trip changed the dead letter:\n got %+v\nwant %+v", got.DeadLetter, d)
	}
}

func TestDeadLetterOfMalformedMessage(t *testing.T) {
	// A malformed message has no endpoint and arbitrary bytes.
	d := domain.DeadLetter{DeliveryID: "msg_x", EventID: "evt_x", Reason: domain.ReasonMalformed, DeadAt: t0, Payload: []byte{0xff, 0xfe, '{'}}
	b, err := kafka.DeadLetterRecord{DeadLetter: d}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	r, err := kafka.DecodeAttemptsRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if dr, ok := r.(kafka.DeadLetterRecord); !ok || !reflect.DeepEqual(dr.DeadLetter, d) {
		t.Errorf("got %+v, want %+v", r, d)
	}
}

func TestRetryRoundTrip(t *testing.T) {
	r := sampleRetry()
	requireAllFieldsSet(t, r)
	requireAllFieldsSet(t, r.Event)
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(prettyData)) {
		t.Errorf("encoded record does not hold the data verbatim:\n%s", b)
	}
	got, err := kafka.DecodeRetryRecord(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if string(got.Event.Data) != prettyData {
		t.Errorf("data changed:\n got %s\nwant %s", got.Event.Data, prettyData)
	}
	// The event time keeps its offset: a body rebuilt from it is the same.
	if g, w := got.Event.Time.Format(time.RFC3339Nano), r.Event.Time.Format(time.RFC3339Nano); g != w {
		t.Errorf("event time %s, want %s", g, w)
	}
	want := r
	want.Event.Time = got.Event.Time
	want.DueAt = r.DueAt.Truncate(time.Millisecond)
	want.FirstAttemptAt = r.FirstAttemptAt.Truncate(time.Millisecond)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if got.DueAt.Location() != time.UTC {
		t.Errorf("due time in %v, want UTC", got.DueAt.Location())
	}
	if got.Key() != r.DeliveryID {
		t.Errorf("key %q, want the delivery id", got.Key())
	}
}

func TestRetryDataEdgeCases(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"absent":            {"", ""},
		"null":              {"null", "null"},
		"string":            {`"plain"`, `"plain"`},
		"number":            {"-0.0e-0", "-0.0e-0"},
		"surrounding space": {" \n\t{\"a\":1}\r\n ", `{"a":1}`},
		"invalid utf-8":     {"\"\xff\xfe\"", "\"\xff\xfe\""},
		"html":              {`"</script><script>"`, `"</script><script>"`},
	} {
		t.Run(name, func(t *testing.T) {
			r := sampleRetry()
			r.Event.Data = json.RawMessage(tc.in)
			b, err := r.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := kafka.DecodeRetryRecord(b)
			if err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if string(got.Event.Data) != tc.want {
				t.Errorf("data %q, want %q", got.Event.Data, tc.want)
			}
		})
	}
}

func TestRetryFirstAttemptOptional(t *testing.T) {
	r := sampleRetry()
	r.FirstAttemptAt = time.Time{}
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := kafka.DecodeRetryRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.FirstAttemptAt.IsZero() {
		t.Errorf("first attempt %v, want zero", got.FirstAttemptAt)
	}
}

func TestEncodeRefusesWhatDecodeWould(t *testing.T) {
	cases := map[string]kafka.Record{
		"attempt without id":      kafka.AttemptRecord{Attempt: func() domain.Attempt { a := sampleAttempt(); a.ID = ""; return a }()},
		"attempt number 0":        kafka.AttemptRecord{Attempt: func() domain.Attempt { a := sampleAttempt(); a.AttemptNumber = 0; return a }()},
		"attempt without time":    kafka.AttemptRecord{Attempt: func() domain.Attempt { a := sampleAttempt(); a.StartedAt = time.Time{}; return a }()},
		"attempt in year 10000":   kafka.AttemptRecord{Attempt: func() domain.Attempt { a := sampleAttempt(); a.StartedAt = t0.AddDate(8000, 0, 0); return a }()},
		"dead letter, no reason":  kafka.DeadLetterRecord{DeadLetter: func() domain.DeadLetter { d := sampleDeadLetter(); d.Reason = ""; return d }()},
		"retry with invalid data": func() kafka.RetryRecord { r := sampleRetry(); r.Event.Data = json.RawMessage(`{"a":`); return r }(),
		"retry without due time":  func() kafka.RetryRecord { r := sampleRetry(); r.DueAt = time.Time{}; return r }(),
		"retry without endpoint":  func() kafka.RetryRecord { r := sampleRetry(); r.EndpointID = ""; return r }(),
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := r.Encode()
			if !errors.Is(err, kafka.ErrMalformedRecord) {
				t.Fatalf("Encode = %s, %v; want ErrMalformedRecord", b, err)
			}
			if _, err := kafka.Message("t", r); err == nil {
				t.Error("Message accepted it")
			}
		})
	}
}

func TestDecodeToleratesUnknownFields(t *testing.T) {
	b, _ := kafka.AttemptRecord{Attempt: sampleAttempt()}.Encode()
	b = bytes.Replace(b, []byte(`{"v":1,`), []byte(`{"trace":{"x":[1,2]},"v":1,`), 1)
	b = bytes.Replace(b, []byte(`"id":`), []byte(`"future_field":"x","id":`), 1)
	if _, err := kafka.DecodeAttemptsRecord(b); err != nil {
		t.Fatalf("decode with unknown fields: %v\n%s", err, b)
	}
	rb, _ := sampleRetry().Encode()
	rb = bytes.Replace(rb, []byte(`"event":{`), []byte(`"priority":7,"event":{"schema":"x",`), 1)
	got, err := kafka.DecodeRetryRecord(rb)
	if err != nil {
		t.Fatalf("decode with unknown fields: %v\n%s", err, rb)
	}
	if string(got.Event.Data) != prettyData {
		t.Errorf("data %s", got.Event.Data)
	}
}

func TestDecodeRejectsHostileInput(t *testing.T) {
	attempt, _ := kafka.AttemptRecord{Attempt: sampleAttempt()}.Encode()
	retry, _ := sampleRetry().Encode()
	swapV := func(b []byte, v string) []byte { return bytes.Replace(b, []byte(`"v":1`), []byte(`"v":`+v), 1) }

	type decoder func([]byte) error
	attempts := func(b []byte) error { _, err := kafka.DecodeAttemptsRecord(b); return err }
	retries := func(b []byte) error { _, err := kafka.DecodeRetryRecord(b); return err }

	cases := []struct {
		name   string
		decode decoder
		in     []byte
		want   error
		reason string // substring of the message
	}{
		{"empty", attempts, nil, kafka.ErrMalformedRecord, "unexpected end of JSON input"},
		{"garbage", attempts, []byte("\x00\x01garbage\xff"), kafka.ErrMalformedRecord, "invalid JSON"},
		{"json null", attempts, []byte("null"), kafka.ErrMalformedRecord, `no format version`},
		{"json array", retries, []byte("[1,2,3]"), kafka.ErrMalformedRecord, "a JSON array, not an object"},
		{"json string", retries, []byte(`"v"`), kafka.ErrMalformedRecord, "a JSON string, not an object"},
		{"trailing garbage", attempts, append(append([]byte{}, attempt...), "}"...), kafka.ErrMalformedRecord, "invalid JSON"},
		{"two records", attempts, append(append([]byte{}, attempt...), attempt...), kafka.ErrMalformedRecord, "invalid JSON"},
		{"no version", attempts, bytes.Replace(attempt, []byte(`"v":1,`), nil, 1), kafka.ErrMalformedRecord, `no format version`},
		{"version 2", attempts, swapV(attempt, "2"), kafka.ErrUnsupportedVersion, "version 2 is newer"},
		{"version 2, other shape", retries, []byte(`{"v":2,"kind":"retry","retry":"opaque"}`), kafka.ErrUnsupportedVersion, "upgrade hookd"},
		{"version 0", attempts, swapV(attempt, "0"), kafka.ErrUnsupportedVersion, "version 0"},
		{"version -1", retries, swapV(retry, "-1"), kafka.ErrUnsupportedVersion, "version -1"},
		{"version as string", attempts, swapV(attempt, `"1"`), kafka.ErrMalformedRecord, "not an integer"},
		{"version 1.0", attempts, swapV(attempt, "1.0"), kafka.ErrMalformedRecord, "not an integer"},
		{"version huge", attempts, swapV(attempt, strings.Repeat("9", 400)), kafka.ErrMalformedRecord, "not an integer"},
		{"retry on attempts topic", attempts, retry, kafka.ErrWrongKind, `kind "retry"`},
		{"attempt on retry topic", retries, attempt, kafka.ErrWrongKind, `kind "attempt"`},
		{"unknown kind", attempts, bytes.Replace(attempt, []byte(`"kind":"attempt"`), []byte(`"kind":"bogus"`), 1), kafka.ErrWrongKind, `"bogus"`},
		{"no kind", attempts, bytes.Replace(attempt, []byte(`"kind":"attempt",`), nil, 1), kafka.ErrMalformedRecord, `no "kind"`},
		{"kind without body", attempts, []byte(`{"v":1,"kind":"dead_letter","attempt":{}}`), kafka.ErrMalformedRecord, `no "dead_letter" object`},
		{"null body", retries, []byte(`{"v":1,"kind":"retry","retry":null}`), kafka.ErrMalformedRecord, `no "retry" object`},
		{"empty body", attempts, []byte(`{"v":1,"kind":"attempt","attempt":{}}`), kafka.ErrMalformedRecord, "no id"},
		{"wrong type", attempts, bytes.Replace(attempt, []byte(`"generation":1`), []byte(`"generation":"1"`), 1), kafka.ErrMalformedRecord, "generation"},
		{"int overflow", attempts, bytes.Replace(attempt, []byte(`"generation":1`), []byte(`"generation":1e99`), 1), kafka.ErrMalformedRecord, "generation"},
		{"negative generation", attempts, bytes.Replace(attempt, []byte(`"generation":1`), []byte(`"generation":-1`), 1), kafka.ErrMalformedRecord, "negative"},
		{"bad time", attempts, bytes.Replace(attempt, []byte(`"started_at":"2026`), []byte(`"started_at":"yesterday`), 1), kafka.ErrMalformedRecord, ""},
		{"bad base64", attempts, bytes.Replace(attempt, []byte(`"response_body":"`), []byte(`"response_body":"!!`), 1), kafka.ErrMalformedRecord, ""},
		{"due in year 33000", retries, bytes.Replace(retry, []byte(`"due_ms":`), []byte(`"due_ms":99`), 1), kafka.ErrMalformedRecord, "due_ms"},
		{"retry without event", retries, []byte(`{"v":1,"kind":"retry","retry":{"delivery_id":"d","endpoint_id":"e","attempt":2,"due_ms":1}}`), kafka.ErrMalformedRecord, "no event id"},
		{"deeply nested", retries, bytes.Replace(retry, []byte(`"event":{`), []byte(`"x":`+strings.Repeat("[", 1_000_000)+`,"event":{`), 1), kafka.ErrMalformedRecord, ""},
		{"huge garbage", attempts, bytes.Repeat([]byte("\xff{"), 5<<20), kafka.ErrMalformedRecord, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("decode = %v, want %v", err, tc.want)
			}
			var re *kafka.RecordError
			if !errors.As(err, &re) {
				t.Fatalf("error %T is not a *RecordError", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not mention %q", err, tc.reason)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error message is %d bytes long: %.300s", len(err.Error()), err)
			}
		})
	}
}

// Every proper prefix of a record is an error, never a shorter record.
func TestDecodeRejectsTruncated(t *testing.T) {
	attempt, _ := kafka.AttemptRecord{Attempt: sampleAttempt()}.Encode()
	dead, _ := kafka.DeadLetterRecord{DeadLetter: sampleDeadLetter()}.Encode()
	retry, _ := sampleRetry().Encode()
	for i := range attempt {
		if _, err := kafka.DecodeAttemptsRecord(attempt[:i]); !errors.Is(err, kafka.ErrMalformedRecord) {
			t.Fatalf("attempt cut at %d: %v", i, err)
		}
	}
	for i := range dead {
		if _, err := kafka.DecodeAttemptsRecord(dead[:i]); !errors.Is(err, kafka.ErrMalformedRecord) {
			t.Fatalf("dead letter cut at %d: %v", i, err)
		}
	}
	for i := range retry {
		if _, err := kafka.DecodeRetryRecord(retry[:i]); !errors.Is(err, kafka.ErrMalformedRecord) {
			t.Fatalf("retry cut at %d: %v", i, err)
		}
	}
}

func TestHugeRecordRoundTrips(t *testing.T) {
	r := sampleRetry()
	big := append(append([]byte(`{"blob":"`), bytes.Repeat([]byte("x"), 8<<20)...), `"}`...)
	r.Event.Data = big
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := kafka.DecodeRetryRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Event.Data, big) {
		t.Error("8 MiB of data did not survive the round trip")
	}
}

// FuzzDecode feeds arbitrary bytes to both decoders: they must not panic,
// and whatever they accept must encode again to a fixed point.
func FuzzDecode(f *testing.F) {
	for _, r := range []kafka.Record{kafka.AttemptRecord{Attempt: sampleAttempt()}, kafka.DeadLetterRecord{DeadLetter: sampleDeadLetter()}, sampleRetry()} {
		b, err := r.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte(`{"v":2,"kind":"retry"}`))
	f.Add([]byte(`{"v":1,"kind":"attempt","attempt":null}`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := kafka.DecodeAttemptsRecord(b); err == nil {
			requireFixedPoint(t, r, func(b []byte) (kafka.Record, error) { return kafka.DecodeAttemptsRecord(b) })
		} else if !isRecordError(err) {
			t.Fatalf("error %T %v is not a *RecordError", err, err)
		}
		if r, err := kafka.DecodeRetryRecord(b); err == nil {
			requireFixedPoint(t, r, func(b []byte) (kafka.Record, error) { return kafka.DecodeRetryRecord(b) })
		} else if !isRecordError(err) {
			t.Fatalf("error %T %v is not a *RecordError", err, err)
		}
	})
}

func isRecordError(err error) bool {
	var re *kafka.RecordError
	return errors.As(err, &re)
}

func requireFixedPoint(t *testing.T, r kafka.Record, decode func([]byte) (kafka.Record, error)) {
	t.Helper()
	e1, err := r.Encode()
	if err != nil {
		t.Fatalf("decoded %+v but cannot encode it: %v", r, err)
	}
	r2, err := decode(e1)
	if err != nil {
		t.Fatalf("cannot decode own encoding %s: %v", e1, err)
	}
	e2, err := r2.Encode()
	if err != nil {
		t.Fatalf("second encode: %v", err)
	}
	if !bytes.Equal(e1, e2) {
		t.Fatalf("encoding not stable:\n%s\n%s", e1, e2)
	}
}

func ExampleAttemptRecord_Encode() {
	a := sampleAttempt()
	a.ResponseBody, a.ResponseHeaders = []byte("busy"), nil
	b, _ := kafka.AttemptRecord{Attempt: a}.Encode()
	fmt.Println(string(b))
	// Output:
	// {"v":1,"kind":"attempt","attempt":{"id":"att_01","delivery_id":"msg_01","event_id":"evt_01","event_type":"order.created","endpoint_id":"ep_01","tenant_id":"acme","generation":1,"attempt":3,"started_at":"2026-03-14T15:09:26.535897932Z","duration_ns":1534000000,"status_code":503,"outcome":"failed","error":"503 Service Unavailable","request_headers":{"webhook-id":"msg_01","webhook-signature":"[redacted]"},"response_body":"YnVzeQ==","response_body_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","response_body_size":20,"next_retry_at":"2026-03-14T15:14:26.535897932Z"}}
}

func ExampleDeadLetterRecord_Encode() {
	d := sampleDeadLetter()
	d.ReplayedAt = nil
	b, _ := kafka.DeadLetterRecord{DeadLetter: d}.Encode()
	fmt.Println(string(b))
	// Output:
	// {"v":1,"kind":"dead_letter","dead_letter":{"delivery_id":"msg_01","event_id":"evt_01","event_type":"order.created","endpoint_id":"ep_01","tenant_id":"acme","reason":"exhausted","last_error":"timeout after 15s","last_status_code":504,"attempts":8,"generation":1,"dead_at":"2026-03-14T15:09:26.535897932Z","payload":"eyJpZCI6ImV2dF8wMSIsInR5cGUiOiJvcmRlci5jcmVhdGVkIiwiZGF0YSI6eyJ0b3RhbCI6MTIuNTB9fQ=="}}
}

func ExampleRetryRecord_Encode() {
	r := sampleRetry()
	r.Event.Data = json.RawMessage(`{"order": "A-1", "total": 12.50}`)
	b, _ := r.Encode()
	fmt.Println(string(b))
	// Output:
	// {"v":1,"kind":"retry","retry":{"delivery_id":"msg_01","endpoint_id":"ep_01","generation":1,"attempt":4,"due_ms":1773502766535,"first_attempt_ms":1773500666535,"last_status_code":503,"last_error":"503 Service Unavailable","event":{"id":"evt_01","type":"order.created","tenant_id":"acme","source":"shop","time":"2026-03-14T16:09:26.123456789+01:00","data":{"order": "A-1", "total": 12.50}}}}
}
