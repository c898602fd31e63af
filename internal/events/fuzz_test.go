package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

// FuzzDecode feeds arbitrary values and headers to Decode. Whatever the
// input, Decode must not panic, must fail only with a MalformedError of a
// listed reason, and whatever it accepts must be a valid event that
// Payload can deliver and MarshalEnvelope can round-trip.
func FuzzDecode(f *testing.F) {
	seeds := []struct {
		value                              string
		raw                                bool
		contentType, spec, typ, id, tenant string
	}{
		{value: `{"id":"evt_1","type":"Order.Created","tenant":"acme","time":"2026-03-04T05:06:07.5+01:00","source":"/o","data":{"n":1e400}}`},
		{value: `{"type":"a","tenant_id":"t","data":[1,"\u00e9",{"x":null}]}`},
		{value: `{"\u0074ype":"a","type":"b","data":{}}`},
		{value: `{"specversion":"1.0","type":"a","data_base64":"eyJiIjo2NH0="}`, contentType: "application/cloudevents+json"},
		{value: `{"specversion":"0.3","type":"a","data":{}}`},
		{value: `{"a":1}`, spec: "1.0", typ: "Order.Paid", id: "ce-1", tenant: "acme"},
		{value: `{"type":"x","data":1}`, raw: true},
		{value: `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`},
		{value: "{\"type\":\"a\",\"data\":\"\xff\"}"},
		{value: `{"type":"a","data":null}`, contentType: "text/plain"},
		{value: ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.value), s.raw, s.contentType, s.spec, s.typ, s.id, s.tenant)
	}
	d, err := NewDecoder(Config{
		MaxMessageBytes: 64 << 10,
		RawTopics:       map[string]RawTopic{"raw": {Type: "raw.event"}},
		Now:             func() time.Time { return testNow },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte, raw bool, contentType, spec, typ, id, tenant string) {
		m := Message{Topic: "events", Partition: 1, Offset: 7, Value: value, Timestamp: kafkaTS}
		if raw {
			m.Topic = "raw"
		}
		for _, h := range [][2]string{{"content-type", contentType}, {"ce_specversion", spec}, {"ce_type", typ}, {"ce_id", id}, {"hookd-tenant", tenant}} {
			if h[1] != "" {
				m.Headers = append(m.Headers, Header{Key: []byte(h[0]), Value: []byte(h[1])})
			}
		}
		ev, err := d.Decode(m)
		if err != nil {
			var me *MalformedError
			if !errors.As(err, &me) || !slices.Contains(Reasons, me.Reason) {
				t.Fatalf("error %v is not a MalformedError with a listed reason", err)
			}
			return
		}
		if ev.ID == "" || !domain.ValidEventType(ev.Type) || domain.ValidateTenant(ev.TenantID) != nil ||
			!json.Valid(ev.Data) || string(ev.Data) == "null" || ev.Time.IsZero() {
			t.Fatalf("Decode accepted an invalid event: %+v", ev)
		}
		body, err := Payload(ev)
		if err != nil || !json.Valid(body) {
			t.Fatalf("Payload(%+v) = %s, %v", ev, body, err)
		}
		env, err := MarshalEnvelope(ev)
		if err != nil {
			t.Fatalf("MarshalEnvelope(%+v): %v", ev, err)
		}
		back, err := d.Decode(Message{Topic: "events", Value: env})
		if err != nil {
			t.Fatalf("Decode(MarshalEnvelope(%+v)) = %v", ev, err)
		}
		if back.ID != ev.ID || back.Type != ev.Type || back.TenantID != ev.TenantID || back.Source != ev.Source ||
			!back.Time.Equal(ev.Time) || !bytes.Equal(back.Data, ev.Data) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, back)
		}
	})
}
