package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/events"
)

func TestParseSpec(t *testing.T) {
	bs, err := parseSpec("8:ok,1:500,1:hang", 10)
	if err != nil {
		t.Fatal(err)
	}
	if bs[0].Name != "ok" || !bs[7].Healthy() || bs[8].Status != 500 || bs[8].Healthy() || !bs[9].Hang || bs[9].Healthy() {
		t.Fatalf("%+v", bs)
	}
	bs, err = parseSpec("80%:ok,20%:delay=5ms", 10)
	if err != nil || bs[9].Delay != 5*time.Millisecond || !bs[9].Healthy() {
		t.Fatalf("%+v %v", bs, err)
	}
	if bs, err = parseSpec("500", 3); err != nil || len(bs) != 3 || bs[2].Status != 500 {
		t.Fatalf("%+v %v", bs, err)
	}
	for _, bad := range []string{"5:ok", "10:teapot", "x:ok", "10:delay=soon"} {
		if _, err := parseSpec(bad, 10); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The producer's event, decoded as hookd decodes it and rendered as hookd
// sends it, gives the receiver back its sequence number and send time.
func TestEventRoundTrip(t *testing.T) {
	p := &producer{prefix: "run-", size: 1024, endpoints: 100, pad: strings.Repeat("a", 1024)}
	at := time.Unix(1700000000, 123456789)
	m, err := p.message(4242, at, 10)
	if err != nil {
		t.Fatal(err)
	}
	value, _ := m.Value.Encode()
	dec, err := events.NewDecoder(events.Config{MaxMessageBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	e, err := dec.Decode(events.Message{Topic: "t", Value: value})
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != "bench.f10.2" || e.ID != "run-4242" || !e.Time.Equal(at) {
		t.Fatalf("%+v", e)
	}
	if len(e.Data) != 1024 {
		t.Fatalf("data is %d bytes, want 1024", len(e.Data))
	}
	body, err := events.Payload(e)
	if err != nil {
		t.Fatal(err)
	}
	seq, sent, ok := parseBody(body)
	if !ok || seq != 4242 || sent != at.UnixNano() {
		t.Fatalf("parseBody: %d %d %v", seq, sent, ok)
	}
	if id := eventID(body); id != "run-4242" {
		t.Fatalf("eventID %q", id)
	}
}

func TestPortMarkCountsDuplicates(t *testing.T) {
	p := &port{}
	if !p.mark(0) || !p.mark(1000) || p.mark(1000) || !p.mark(63) || p.mark(0) {
		t.Fatal("mark")
	}
}

func TestEventTypeSpreadsEvenly(t *testing.T) {
	seen := map[string]int{}
	for seq := range 1000 {
		seen[eventType(10, seq, 100)]++
	}
	if len(seen) != 10 || seen["bench.f10.0"] != 100 {
		t.Fatalf("%v", seen)
	}
}
