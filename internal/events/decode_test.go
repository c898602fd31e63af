package events

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
)

var (
	testNow = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	kafkaTS = time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
)

func testDecoder(t testing.TB) *Decoder {
	t.Helper()
	d, err := NewDecoder(Config{
		RawTopics: map[string]RawTopic{
			"payments.raw": {Type: "Payment.Received"},
			"logs.raw":     {Type: "log.line", Text: true},
		},
		Now: func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// hdr builds headers from name, value pairs.
func hdr(kv ...string) []Header {
	var hs []Header
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, Header{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return hs
}

// msgOn is a message on the events topic at partition 3, offset 42.
func msgOn(topic, value string, headers ...Header) Message {
	return Message{Topic: topic, Partition: 3, Offset: 42, Value: []byte(value), Headers: headers, Timestamp: kafkaTS}
}

func msg(value string, headers ...Header) Message {
	return msgOn("hookd.events", value, headers...)
}

var derivedID = ids.Derive(ids.Event, "hookd.events", "3", "42")

func TestDecodeFormats(t *testing.T) {
	d := testDecoder(t)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name string
		msg  Message
		want domain.Event
	}{
		{
			name: "native envelope, every member",
			msg:  msg(`{"id":"evt_1","type":"Order.Created","tenant":"acme","time":"2026-03-04T05:06:07.5+01:00","source":"/orders","data":{"total":12345678901234567890.10}}`),
			want: domain.Event{ID: "evt_1", Type: "order.created", TenantID: "acme", Source: "/orders", Time: time.Date(2026, 3, 4, 4, 6, 7, 5e8, time.UTC), Data: []byte(`{"total":12345678901234567890.10}`)},
		},
		{
			name: "native envelope, type and data only",
			msg:  msg(`{"type":"order.created","data":{"a":1}}`),
			want: domain.Event{ID: derivedID, Type: "order.created", Time: kafkaTS, Data: []byte(`{"a":1}`)},
		},
		{
			name: "native envelope keeps data bytes exactly, without the space around them",
			msg:  msg("{ \"type\" : \"a\" , \"data\" :\n { \"x\" : [1, 2.50, \"\\u00e9\"] }\n }"),
			want: domain.Event{ID: derivedID, Type: "a", Time: kafkaTS, Data: []byte(`{ "x" : [1, 2.50, "\u00e9"] }`)},
		},
		{
			name: "lower-case t and z, and a long fraction",
			msg:  msg(`{"type":"a","time":"2026-03-04t05:06:07.123456789123z","data":{}}`),
			want: domain.Event{ID: derivedID, Type: "a", Time: time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC), Data: []byte(`{}`)},
		},
		{
			name: "native envelope with scalar data",
			msg:  msg(`{"type":"a","data":"just a string"}`),
			want: domain.Event{ID: derivedID, Type: "a", Time: kafkaTS, Data: []byte(`"just a string"`)},
		},
		{
			name: "native envelope with tenant_id alias and unknown members",
			msg:  msg(`{"type":"a","tenant_id":"t-1","extra":{"type":"ignored"},"data":[]}`),
			want: domain.Event{ID: derivedID, Type: "a", TenantID: "t-1", Time: kafkaTS, Data: []byte(`[]`)},
		},
		{
			name: "native envelope with tenant and tenant_id agreeing",
			msg:  msg(`{"type":"a","tenant":"t","tenant_id":"t","data":0}`),
			want: domain.Event{ID: derivedID, Type: "a", TenantID: "t", Time: kafkaTS, Data: []byte(`0`)},
		},
		{
			name: "native envelope with escaped member names",
			msg:  msg(`{"\u0074ype":"a.b","d\u0061ta":{}}`),
			want: domain.Event{ID: derivedID, Type: "a.b", Time: kafkaTS, Data: []byte(`{}`)},
		},
		{
			name: "native envelope with escaped id and null optional members",
			msg:  msg(`{"id":"evt_\"q\"","type":"a","time":null,"tenant":null,"source":null,"data":true}`),
			want: domain.Event{ID: `evt_"q"`, Type: "a", Time: kafkaTS, Data: []byte(`true`)},
		},
		{
			name: "native envelope with an empty id gets a derived one",
			msg:  msg(`{"id":"","type":"a","data":{}}`),
			want: domain.Event{ID: derivedID, Type: "a", Time: kafkaTS, Data: []byte(`{}`)},
		},
		{
			name: "tenant from the tenant header",
			msg:  msg(`{"type":"a","data":{}}`, hdr("Hookd-Tenant", "acme")...),
			want: domain.Event{ID: derivedID, Type: "a", TenantID: "acme", Time: kafkaTS, Data: []byte(`{}`)},
		},
		{
			name: "tenant header agreeing with the envelope",
			msg:  msg(`{"type":"a","tenant":"acme","data":{}}`, hdr("hookd-tenant", "acme", "hookd-tenant", "acme")...),
			want: domain.Event{ID: derivedID, Type: "a", TenantID: "acme", Time: kafkaTS, Data: []byte(`{}`)},
		},
		{
			name: "application/json content type",
			msg:  msg(`{"type":"a","data":{}}`, hdr("Content-Type", "application/json; charset=UTF-8")...),
			want: domain.Event{ID: derivedID, Type: "a", Time: kafkaTS, Data: []byte(`{}`)},
		},
		{
			name: "unrelated headers are ignored, even binary ones",
			msg:  msg(`{"type":"a","data":{}}`, hdr("traceparent", "00-abc", "x-bin", "\xff\xfe", "\xff", "x")...),
			want: domain.Event{ID: derivedID, Type: "a", Time: kafkaTS, Data: []byte(`{}`)},
		},
		{
			name: "CloudEvents structured, by content type",
			msg: msg(`{"specversion":"1.0","id":"ce-1","type":"com.example.Order.Created","source":"https://example.com/orders","time":"2026-03-04T05:06:07Z","datacontenttype":"application/json","tenant":"acme","data":{"id":7}}`,
				hdr("content-type", "application/cloudevents+json; charset=utf-8")...),
			want: domain.Event{ID: "ce-1", Type: "com.example.order.created", TenantID: "acme", Source: "https://example.com/orders", Time: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), Data: []byte(`{"id":7}`)},
		},
		{
			name: "CloudEvents structured, by specversion member",
			msg:  msg(`{"specversion":"1.0","id":"ce-2","type":"a","source":"/s","data":[1]}`),
			want: domain.Event{ID: "ce-2", Type: "a", Source: "/s", Time: kafkaTS, Data: []byte(`[1]`)},
		},
		{
			name: "CloudEvents structured with data_base64 holding JSON",
			msg:  msg(`{"specversion":"1.0","type":"a","datacontenttype":"application/vnd.acme+json","data_base64":"` + b64(` {"b":64} `) + `"}`),
			want: domain.Event{ID: derivedID, Type: "a", Time: kafkaTS, Data: []byte(`{"b":64}`)},
		},
		{
			name: "CloudEvents structured with unpadded data_base64 and null data",
			msg:  msg(`{"specversion":"1.0","type":"a","data":null,"data_base64":"` + strings.TrimRight(b64(`[1]`), "=") + `"}`),
			want: domain.Event{ID: derivedID, Type: "a", Time: kafkaTS, Data: []byte(`[1]`)},
		},
		{
			name: "CloudEvents binary",
			msg: msg(` {"id":7} `, hdr("ce_specversion", "1.0", "ce_id", "ce-3", "ce_type", "Order.Paid", "ce_source", "/pay",
				"ce_time", "2026-03-04T05:06:07.123456789Z", "ce_tenant", "acme", "content-type", "application/json")...),
			want: domain.Event{ID: "ce-3", Type: "order.paid", TenantID: "acme", Source: "/pay", Time: time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC), Data: []byte(`{"id":7}`)},
		},
		{
			name: "CloudEvents binary, header names in any case, no content type",
			msg:  msg(`"x"`, hdr("CE_SpecVersion", "1.0", "Ce_Type", "a")...),
			want: domain.Event{ID: derivedID, Type: "a", Time: kafkaTS, Data: []byte(`"x"`)},
		},
		{
			name: "CloudEvents binary wins over a raw topic mapping",
			msg:  msgOn("payments.raw", `{}`, hdr("ce_specversion", "1.0", "ce_type", "a", "ce_id", "x")...),
			want: domain.Event{ID: "x", Type: "a", Time: kafkaTS, Data: []byte(`{}`)},
		},
		{
			name: "raw payload takes the mapped type even if it looks like an envelope",
			msg:  msgOn("payments.raw", `{"type":"card","data":1,"specversion":"0.3"}`),
			want: domain.Event{ID: ids.Derive(ids.Event, "payments.raw", "3", "42"), Type: "payment.received", Time: kafkaTS, Data: []byte(`{"type":"card","data":1,"specversion":"0.3"}`)},
		},
		{
			name: "raw payload with tenant header",
			msg:  msgOn("payments.raw", "[1,2]\n", hdr("hookd-tenant", "acme")...),
			want: domain.Event{ID: ids.Derive(ids.Event, "payments.raw", "3", "42"), Type: "payment.received", TenantID: "acme", Time: kafkaTS, Data: []byte(`[1,2]`)},
		},
		{
			name: "raw text payload becomes a JSON string",
			msg:  msgOn("logs.raw", "GET /x \"ok\"\t\u2028\n", hdr("content-type", "text/plain")...),
			want: domain.Event{ID: ids.Derive(ids.Event, "logs.raw", "3", "42"), Type: "log.line", Time: kafkaTS, Data: []byte(`"GET /x \"ok\"\t\u2028\n"`)},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Decode(tc.msg)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			assertEvent(t, got, tc.want)
		})
	}
}

func assertEvent(t *testing.T, got, want domain.Event) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.TenantID != want.TenantID || got.Source != want.Source ||
		!got.Time.Equal(want.Time) || got.Time.Location() != time.UTC || string(got.Data) != string(want.Data) {
		t.Fatalf("got  %+v (data %s)\nwant %+v (data %s)", got, got.Data, want, want.Data)
	}
}

func TestDecodeMalformed(t *testing.T) {
	d := testDecoder(t)
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	ce := func(extra string) string { return `{"specversion":"1.0","type":"a"` + extra + `}` }
	binary := func(kv ...string) []Header {
		return hdr(append([]string{"ce_specversion", "1.0", "ce_type", "a"}, kv...)...)
	}
	cases := []struct {
		name   string
		msg    Message
		reason string
	}{
		{"invalid JSON", msg(`{"type":"a","data":`), ReasonInvalidJSON},
		{"trailing garbage", msg(`{"type":"a","data":{}} x`), ReasonInvalidJSON},
		{"only whitespace", msg(" \n"), ReasonInvalidJSON},
		{"byte order mark", msg("\ufeff{\"type\":\"a\",\"data\":{}}"), ReasonInvalidJSON},
		{"missing type", msg(`{"data":{}}`), ReasonMissingType},
		{"blank type", msg(`{"type":"  ","data":{}}`), ReasonMissingType},
		{"type not a string", msg(`{"type":1,"data":{}}`), ReasonInvalidType},
		{"invalid type", msg(`{"type":"order created","data":{}}`), ReasonInvalidType},
		{"wildcard type", msg(`{"type":"order.*","data":{}}`), ReasonInvalidType},
		{"type too long", msg(`{"type":"` + strings.Repeat("a", 256) + `","data":{}}`), ReasonInvalidType},
		{"10 MB message", msg(`{"type":"a","data":"` + strings.Repeat("x", 10<<20) + `"}`), ReasonTooLarge},
		{"large headers count toward the limit", msg(`{"type":"a","data":{}}`, hdr("x", strings.Repeat("y", 1<<20))...), ReasonTooLarge},
		{"empty value", msg(""), ReasonEmpty},
		{"tombstone", Message{Topic: "hookd.events"}, ReasonEmpty},
		{"invalid UTF-8 in the value", msg("{\"type\":\"a\",\"data\":\"\xff\"}"), ReasonInvalidUTF8},
		{"invalid UTF-8 in a ce_ header", msg(`{}`, binary("ce_id", "\xc3\x28")...), ReasonInvalidUTF8},
		{"invalid UTF-8 in the tenant header", msg(`{"type":"a","data":{}}`, hdr("hookd-tenant", "\xff")...), ReasonInvalidUTF8},
		{"unknown content type", msg(`{"type":"a","data":{}}`, hdr("content-type", "text/plain")...), ReasonUnsupportedContentType},
		{"unparseable content type", msg(`{"type":"a","data":{}}`, hdr("content-type", ";;")...), ReasonUnsupportedContentType},
		{"non-UTF-8 charset", msg(`{"type":"a","data":{}}`, hdr("content-type", "application/json; charset=latin1")...), ReasonUnsupportedContentType},
		{"CloudEvents batch", msg(`[]`, hdr("content-type", "application/cloudevents-batch+json")...), ReasonUnsupportedContentType},
		{"CloudEvents in Avro", msg(`{}`, hdr("content-type", "application/cloudevents+avro")...), ReasonUnsupportedContentType},
		{"specversion 0.3", msg(`{"specversion":"0.3","type":"a","data":{}}`), ReasonUnsupportedSpecVersion},
		{"specversion a number", msg(`{"specversion":1.0,"type":"a","data":{}}`), ReasonUnsupportedSpecVersion},
		{"ce_specversion 0.3", msg(`{}`, hdr("ce_specversion", "0.3", "ce_type", "a")...), ReasonUnsupportedSpecVersion},
		{"structured content type without specversion", msg(`{"type":"a","data":{}}`, hdr("content-type", "application/cloudevents+json")...), ReasonUnsupportedSpecVersion},
		{"bad time", msg(`{"type":"a","time":"yesterday","data":{}}`), ReasonInvalidTime},
		{"time without zone", msg(`{"type":"a","time":"2026-01-02T03:04:05","data":{}}`), ReasonInvalidTime},
		{"time not a string", msg(`{"type":"a","time":1700000000,"data":{}}`), ReasonInvalidTime},
		{"one-digit hour", msg(`{"type":"a","time":"2026-01-02T3:04:05Z","data":{}}`), ReasonInvalidTime},
		{"time with a space", msg(`{"type":"a","time":"2026-01-02 03:04:05Z","data":{}}`), ReasonInvalidTime},
		{"time with an empty fraction", msg(`{"type":"a","time":"2026-01-02T03:04:05.Z","data":{}}`), ReasonInvalidTime},
		{"time with a short offset", msg(`{"type":"a","time":"2026-01-02T03:04:05+01","data":{}}`), ReasonInvalidTime},
		{"time before year 1 in UTC", msg(`{"type":"a","time":"0001-01-01T00:30:00+01:00","data":{}}`), ReasonInvalidTime},
		{"year 0", msg(`{"type":"a","time":"0000-06-01T00:00:00Z","data":{}}`), ReasonInvalidTime},
		{"February 30", msg(`{"type":"a","time":"2026-02-30T00:00:00Z","data":{}}`), ReasonInvalidTime},
		{"empty time", msg(`{"type":"a","time":"","data":{}}`), ReasonInvalidTime},
		{"bad ce_time", msg(`{}`, binary("ce_time", "2026-13-01T00:00:00Z")...), ReasonInvalidTime},
		{"empty ce_time", msg(`{}`, binary("ce_time", "")...), ReasonInvalidTime},
		{"bad tenant", msg(`{"type":"a","tenant":"acme corp","data":{}}`), ReasonInvalidTenant},
		{"tenant not a string", msg(`{"type":"a","tenant":7,"data":{}}`), ReasonInvalidTenant},
		{"bad tenant header", msg(`{"type":"a","data":{}}`, hdr("hookd-tenant", "../etc")...), ReasonInvalidTenant},
		{"tenant header disagrees", msg(`{"type":"a","tenant":"acme","data":{}}`, hdr("hookd-tenant", "evil")...), ReasonInvalidTenant},
		{"empty tenant header disagrees", msg(`{"type":"a","tenant":"acme","data":{}}`, hdr("hookd-tenant", "")...), ReasonInvalidTenant},
		{"tenant and tenant_id disagree", msg(`{"type":"a","tenant":"a","tenant_id":"b","data":{}}`), ReasonInvalidTenant},
		{"bad CloudEvents tenant", msg(ce(`,"tenant":"a b","data":{}`)), ReasonInvalidTenant},
		{"bad ce_tenant", msg(`{}`, binary("ce_tenant", "a\nb")...), ReasonInvalidTenant},
		{"data_base64 not JSON", msg(ce(`,"data_base64":"` + b64("hello") + `"`)), ReasonInvalidData},
		{"data_base64 not UTF-8", msg(ce(`,"data_base64":"` + b64("\"\xff\"") + `"`)), ReasonInvalidData},
		{"data_base64 not base64", msg(ce(`,"data_base64":"!!!"`)), ReasonInvalidData},
		{"data_base64 not a string", msg(ce(`,"data_base64":{}`)), ReasonInvalidData},
		{"data_base64 null JSON", msg(ce(`,"data_base64":"` + b64("null") + `"`)), ReasonMissingData},
		{"data_base64 deep", msg(ce(`,"data_base64":"` + b64(deep(100)) + `"`)), ReasonTooDeep},
		{"data and data_base64", msg(ce(`,"data":{},"data_base64":"` + b64("{}") + `"`)), ReasonInvalidData},
		{"non-JSON datacontenttype", msg(ce(`,"datacontenttype":"text/plain","data":"hi"`)), ReasonUnsupportedContentType},
		{"datacontenttype not a string", msg(ce(`,"datacontenttype":1,"data":{}`)), ReasonUnsupportedContentType},
		{"binary mode, non-JSON content type", msg(`hi`, binary("content-type", "text/plain")...), ReasonUnsupportedContentType},
		{"binary mode, data not JSON", msg(`hi`, binary()...), ReasonInvalidJSON},
		{"binary mode, null data", msg(`null`, binary()...), ReasonMissingData},
		{"binary mode, missing type", msg(`{}`, hdr("ce_specversion", "1.0")...), ReasonMissingType},
		{"deep nesting, 10k levels", msg(`{"type":"a","data":` + deep(10000) + `}`), ReasonTooDeep},
		{"deep nesting, 10k open brackets only", msg(strings.Repeat("[{", 10000)), ReasonTooDeep},
		{"deep nesting, 65 levels", msg(`{"type":"a","data":` + deep(64) + `}`), ReasonTooDeep},
		{"deep nesting in binary data", msg(deep(10000), binary()...), ReasonTooDeep},
		{"deep nesting in raw data", msgOn("payments.raw", deep(65)), ReasonTooDeep},
		{"null data", msg(`{"type":"a","data":null}`), ReasonMissingData},
		{"missing data", msg(`{"type":"a"}`), ReasonMissingData},
		{"CloudEvents without data", msg(ce(``)), ReasonMissingData},
		{"CloudEvents with null data", msg(ce(`,"data":null`)), ReasonMissingData},
		{"array, not an object", msg(`[{"type":"a","data":{}}]`), ReasonInvalidEnvelope},
		{"a string, not an object", msg(`"hello"`), ReasonInvalidEnvelope},
		{"duplicate member", msg(`{"type":"a","type":"b","data":{}}`), ReasonDuplicateField},
		{"duplicate member through an escape", msg(`{"type":"a","\u0074ype":"b","data":{}}`), ReasonDuplicateField},
		{"duplicate data", msg(`{"type":"a","data":{},"data":[]}`), ReasonDuplicateField},
		{"duplicate header, different values", msg(`{}`, hdr("ce_specversion", "1.0", "ce_type", "a", "CE_TYPE", "b")...), ReasonDuplicateField},
		{"id too long", msg(`{"id":"` + strings.Repeat("i", 256) + `","type":"a","data":{}}`), ReasonInvalidID},
		{"id with a control character", msg(`{"id":"a\u0000b","type":"a","data":{}}`), ReasonInvalidID},
		{"id not a string", msg(`{"id":42,"type":"a","data":{}}`), ReasonInvalidID},
		{"ce_id with a newline", msg(`{}`, binary("ce_id", "a\nb")...), ReasonInvalidID},
		{"source with a control character", msg(`{"type":"a","source":"\u001b[31m","data":{}}`), ReasonInvalidSource},
		{"source not a string", msg(`{"type":"a","source":[],"data":{}}`), ReasonInvalidSource},
		{"source too long", msg(`{"type":"a","source":"` + strings.Repeat("s", MaxSourceLength+1) + `","data":{}}`), ReasonInvalidSource},
		{"raw payload not JSON", msgOn("payments.raw", `amount=5`), ReasonInvalidJSON},
		{"raw payload null", msgOn("payments.raw", `null`), ReasonMissingData},
		{"raw payload with a non-JSON content type", msgOn("payments.raw", `{}`, hdr("content-type", "text/csv")...), ReasonUnsupportedContentType},
		{"raw text payload not UTF-8", msgOn("logs.raw", "\xff"), ReasonInvalidUTF8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := d.Decode(tc.msg)
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("Decode = %+v, %v; want a MalformedError", ev, err)
			}
			if me.Reason != tc.reason {
				t.Fatalf("reason %q (%v), want %q", me.Reason, err, tc.reason)
			}
			if !slices.Contains(Reasons, me.Reason) {
				t.Fatalf("reason %q is not listed in Reasons", me.Reason)
			}
			if len(me.Detail) > 400 {
				t.Fatalf("detail of %d bytes; details must stay short", len(me.Detail))
			}
		})
	}
}

func TestDecodeMaxMessageBytesIsInclusive(t *testing.T) {
	d, err := NewDecoder(Config{MaxMessageBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	value := `{"type":"a","data":"` + strings.Repeat("x", 64-22) + `"}`
	if len(value) != 64 {
		t.Fatalf("test value is %d bytes", len(value))
	}
	if _, err := d.Decode(msg(value)); err != nil {
		t.Fatalf("a message of exactly the limit: %v", err)
	}
	m := msg(value)
	m.Key = []byte("k")
	var me *MalformedError
	if _, err := d.Decode(m); !errors.As(err, &me) || me.Reason != ReasonTooLarge {
		t.Fatalf("one byte over the limit (in the key): %v", err)
	}
}

func TestDecodeDepthLimitIsInclusive(t *testing.T) {
	d := testDecoder(t)
	// The envelope is level 1, so data may nest 63 more.
	v := `{"type":"a","data":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`
	if _, err := d.Decode(msg(v)); err != nil {
		t.Fatalf("64 levels: %v", err)
	}
	// Brackets inside strings do not count.
	v = `{"type":"a","data":"` + strings.Repeat("[{", 1000) + `\"\\"}`
	if _, err := d.Decode(msg(v)); err != nil {
		t.Fatalf("brackets in a string: %v", err)
	}
}

func TestDerivedIDIsStablePerMessage(t *testing.T) {
	d := testDecoder(t)
	m := msg(`{"type":"a","data":{}}`)
	first, err := d.Decode(m)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := d.Decode(m)
	m.Offset++
	next, _ := d.Decode(m)
	if first.ID != again.ID || first.ID == next.ID || !ids.HasPrefix(first.ID, ids.Event) {
		t.Fatalf("derived ids: %s, %s, next offset %s", first.ID, again.ID, next.ID)
	}
}

func TestDecodeTimeFallbacks(t *testing.T) {
	d := testDecoder(t)
	value := `{"type":"a","data":{}}`
	zone := time.FixedZone("x", 3600)
	cases := []struct {
		name string
		ts   time.Time
		want time.Time
	}{
		{"Kafka timestamp, in UTC", kafkaTS.In(zone), kafkaTS},
		{"no timestamp", time.Time{}, testNow},
		{"Kafka's -1 (no timestamp)", time.UnixMilli(-1), testNow},
		{"the epoch", time.Unix(0, 0), testNow},
		{"past year 9999", time.UnixMilli(1 << 62), testNow},
	}
	for _, tc := range cases {
		m := msg(value)
		m.Timestamp = tc.ts
		ev, err := d.Decode(m)
		if err != nil {
			t.Fatal(err)
		}
		if !ev.Time.Equal(tc.want) || ev.Time.Location() != time.UTC {
			t.Errorf("%s: time %v, want %v", tc.name, ev.Time, tc.want)
		}
	}
}

func TestDecodedDataDoesNotAliasTheMessage(t *testing.T) {
	d := testDecoder(t)
	m := msg(`{"type":"a","data":{"k":"v"}}`)
	ev, err := d.Decode(m)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Value {
		m.Value[i] = 'X'
	}
	if string(ev.Data) != `{"k":"v"}` {
		t.Fatalf("data changed with the message buffer: %s", ev.Data)
	}
}

func TestCustomTenantExtensionAndHeader(t *testing.T) {
	d, err := NewDecoder(Config{TenantExtension: "tenantid", TenantHeader: "X-Tenant"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := d.Decode(msg(`{"specversion":"1.0","type":"a","tenant":"ignored here","tenantid":"acme","data":{}}`))
	if err != nil || ev.TenantID != "acme" {
		t.Fatalf("structured: %+v, %v", ev, err)
	}
	ev, err = d.Decode(msg(`{}`, hdr("ce_specversion", "1.0", "ce_type", "a", "ce_tenantid", "acme", "ce_tenant", "other")...))
	if err != nil || ev.TenantID != "acme" {
		t.Fatalf("binary: %+v, %v", ev, err)
	}
	ev, err = d.Decode(msg(`{"type":"a","data":{}}`, hdr("x-tenant", "acme", "hookd-tenant", "other")...))
	if err != nil || ev.TenantID != "acme" {
		t.Fatalf("header: %+v, %v", ev, err)
	}
}

func TestNewDecoderRejectsBadConfig(t *testing.T) {
	cases := []Config{
		{MaxMessageBytes: -1},
		{MaxDepth: -1},
		{TenantExtension: "Tenant"},
		{TenantExtension: "tenant_id"},
		{TenantExtension: "source"},
		{TenantHeader: "content-type"},
		{TenantHeader: "ce_tenant"},
		{TenantHeader: "bad header"},
		{TenantHeader: strings.Repeat("h", 65)},
		{RawTopics: map[string]RawTopic{"t": {Type: "not a type"}}},
		{RawTopics: map[string]RawTopic{"t": {}}},
		{RawTopics: map[string]RawTopic{"": {Type: "a"}}},
	}
	for _, cfg := range cases {
		if _, err := NewDecoder(cfg); err == nil {
			t.Errorf("NewDecoder(%+v) accepted a bad configuration", cfg)
		}
	}
	if _, err := NewDecoder(Config{}); err != nil {
		t.Fatalf("the zero Config: %v", err)
	}
}

func TestMalformedErrorDetailIsBounded(t *testing.T) {
	d := testDecoder(t)
	_, err := d.Decode(msg(`{"type":"` + strings.Repeat("é", 5000) + `","data":{}}`))
	var me *MalformedError
	if !errors.As(err, &me) || me.Reason != ReasonInvalidType {
		t.Fatalf("got %v", err)
	}
	if len(err.Error()) > 300 {
		t.Fatalf("error of %d bytes", len(err.Error()))
	}
}
