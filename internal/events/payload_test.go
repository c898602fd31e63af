package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

func sampleEvent() domain.Event {
	return domain.Event{
		ID:       "evt_2Zx",
		Type:     "order.created",
		TenantID: "acme",
		Source:   "/orders",
		Time:     time.Date(2026, 1, 2, 3, 4, 5, 500_000_000, time.FixedZone("CET", 3600)),
		Data:     json.RawMessage(`{"total": 12345678901234567890.10, "note": "<b>&</b>"}`),
	}
}

// TestPayloadGolden pins the delivered body byte for byte. If this test
// fails, every receiver's signature check and deduplication of retried
// deliveries breaks across the upgrade: do not update the golden string
// without a plan for that.
func TestPayloadGolden(t *testing.T) {
	got, err := Payload(sampleEvent())
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"evt_2Zx","type":"order.created","timestamp":"2026-01-02T02:04:05.5Z","data":{"total": 12345678901234567890.10, "note": "<b>&</b>"}}`
	if string(got) != want {
		t.Fatalf("Payload =\n%s\nwant\n%s", got, want)
	}
	if !json.Valid(got) {
		t.Fatal("the payload is not valid JSON")
	}
}

func TestPayloadIsStable(t *testing.T) {
	e := sampleEvent()
	first, err := Payload(e)
	if err != nil {
		t.Fatal(err)
	}
	// The same instant in another zone, and fields Payload does not
	// include, change nothing.
	e.Time = e.Time.UTC()
	e.TenantID, e.Source = "", ""
	for range 100 {
		again, err := Payload(e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("payload changed:\n%s\n%s", first, again)
		}
	}
	// A whole second has no fraction.
	e.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, _ := Payload(e)
	if !strings.Contains(string(b), `"timestamp":"2026-01-02T03:04:05Z"`) {
		t.Fatalf("timestamp: %s", b)
	}
}

func TestPayloadEscapesStrings(t *testing.T) {
	e := sampleEvent()
	e.ID = "q\"b\\s/ é \u2028\u2029 😀"
	e.Data = json.RawMessage(`1`)
	got, err := Payload(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"q\"b\\s/ é \u2028\u2029 😀","type":"order.created","timestamp":"2026-01-02T02:04:05.5Z","data":1}`
	if string(got) != want {
		t.Fatalf("Payload =\n%s\nwant\n%s", got, want)
	}
	var back struct{ ID string }
	if err := json.Unmarshal(got, &back); err != nil || back.ID != e.ID {
		t.Fatalf("id does not round-trip: %q, %v", back.ID, err)
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "\x00\x01\x1f\"\\\n\r\t", "\xff bad \xc3", "\u2028", "日本語", "a\u0080b", "del\x7f"} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back != want {
			t.Fatalf("%q -> %s -> %q", s, b, back)
		}
	}
}

func TestPayloadRejectsEventsDecodeCannotProduce(t *testing.T) {
	cases := map[string]func(*domain.Event){
		"no id":          func(e *domain.Event) { e.ID = "" },
		"control in id":  func(e *domain.Event) { e.ID = "a\nb" },
		"bad type":       func(e *domain.Event) { e.Type = "Order Created" },
		"no time":        func(e *domain.Event) { e.Time = time.Time{} },
		"year 10000":     func(e *domain.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"no data":        func(e *domain.Event) { e.Data = nil },
		"null data":      func(e *domain.Event) { e.Data = json.RawMessage("null") },
		"data not JSON":  func(e *domain.Event) { e.Data = json.RawMessage(`{"a":`) },
		"data two items": func(e *domain.Event) { e.Data = json.RawMessage(`1 2`) },
	}
	for name, edit := range cases {
		e := sampleEvent()
		edit(&e)
		if b, err := Payload(e); err == nil {
			t.Errorf("%s: Payload accepted it: %s", name, b)
		}
		if b, err := MarshalEnvelope(e); err == nil {
			t.Errorf("%s: MarshalEnvelope accepted it: %s", name, b)
		}
	}
	e := sampleEvent()
	e.TenantID = "a b"
	if _, err := MarshalEnvelope(e); err == nil {
		t.Error("MarshalEnvelope accepted a bad tenant")
	}
}

func TestMarshalEnvelopeRoundTrips(t *testing.T) {
	d := testDecoder(t)
	for _, e := range []domain.Event{sampleEvent(), {ID: "x", Type: "a", Time: time.Unix(1, 1), Data: json.RawMessage(`[]`)}} {
		b, err := MarshalEnvelope(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Decode(msg(string(b)))
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		e.Time = e.Time.UTC()
		assertEvent(t, got, e)
	}
}
