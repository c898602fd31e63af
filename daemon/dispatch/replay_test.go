package dispatch_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/daemon/dispatch"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/retry"
)

// replayEvent has data that a careless re-encoding would change: escapes,
// non-ASCII, numbers beyond float64, nesting and odd spacing.
func replayEvent(t *testing.T) domain.Event {
	t.Helper()
	return domain.Event{
		ID: "evt_replay_1", Type: "order.paid", TenantID: "acme",
		Time: time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600)),
		Data: json.RawMessage(`{"amount": 12345678901234567890, "note":"caf\u00e9 \"quoted\" </script>","items":[1, 2.50, {"k":null}],"é":true}`),
	}
}

func replayDeadLetter(t *testing.T, ev domain.Event) domain.DeadLetter {
	t.Helper()
	payload, err := events.Payload(ev)
	if err != nil {
		t.Fatal(err)
	}
	return domain.DeadLetter{
		DeliveryID: domain.DeliveryID(ev.ID, "ep_1"), EventID: ev.ID, EventType: ev.Type, EndpointID: "ep_1",
		TenantID: ev.TenantID, Reason: domain.ReasonExhausted, Attempts: 8, Generation: 2,
		DeadAt: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), Payload: payload,
	}
}

func TestReplayEventFromPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	ev := replayEvent(t)
	payload, err := events.Payload(ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dispatch.EventFromPayload(payload, "acme")
	if err != nil {
		t.Fatalf("EventFromPayload: %v", err)
	}
	if got.ID != ev.ID || got.Type != ev.Type || got.TenantID != "acme" || !got.Time.Equal(ev.Time) {
		t.Errorf("rebuilt event %+v, want id, type, tenant and time of %+v", got, ev)
	}
	again, err := events.Payload(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(payload) {
		t.Errorf("body of the rebuilt event differs:\n got %s\nwant %s", again, payload)
	}
}

func TestReplayMessage(t *testing.T) {
	t.Parallel()
	ev := replayEvent(t)
	dl := replayDeadLetter(t, ev)
	now := time.Date(2026, 3, 6, 7, 8, 9, 987654321, time.UTC)
	tiers, err := retry.NewTiers(2*time.Second, time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	msg, gen, err := dispatch.ReplayMessage(dl, "x.retry.", tiers, now)
	if err != nil {
		t.Fatalf("ReplayMessage: %v", err)
	}
	if gen != dl.Generation+1 {
		t.Errorf("generation %d, want %d", gen, dl.Generation+1)
	}
	if want := retry.Topic("x.retry.", 2*time.Second); msg.Topic != want {
		t.Errorf("topic %q, want the shortest tier's %q", msg.Topic, want)
	}
	if key := encoded(t, msg.Key); key != dl.DeliveryID {
		t.Errorf("key %q, want the delivery id %q (same partition as its retries)", key, dl.DeliveryID)
	}
	if len(msg.Headers) != 1 || string(msg.Headers[0].Key) != "hookd-due-ms" ||
		string(msg.Headers[0].Value) != strconv.FormatInt(now.UnixMilli(), 10) {
		t.Errorf("headers %v, want hookd-due-ms=%d", msg.Headers, now.UnixMilli())
	}
	rec, err := kafka.DecodeRetryRecord([]byte(encoded(t, msg.Value)))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if rec.DeliveryID != dl.DeliveryID || rec.EndpointID != dl.EndpointID || rec.Generation != gen || rec.Attempt != 1 ||
		!rec.DueAt.Equal(now.Truncate(time.Millisecond)) || !rec.FirstAttemptAt.IsZero() {
		t.Errorf("retry record %+v: want delivery %s, endpoint %s, generation %d, attempt 1, due %s",
			rec, dl.DeliveryID, dl.EndpointID, gen, now)
	}
	if rec.Event.TenantID != dl.TenantID {
		t.Errorf("tenant %q, want %q", rec.Event.TenantID, dl.TenantID)
	}
	// What the dispatcher will send is the body that died, byte for byte
	// (so its signature covers exactly what the receiver saw before).
	body, err := events.Payload(rec.Event)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != string(dl.Payload) {
		t.Errorf("replayed body differs from the dead letter's:\n got %s\nwant %s", body, dl.Payload)
	}

	// Defaults: hookd's prefix and the 5s tier.
	msg, _, err = dispatch.ReplayMessage(dl, "", retry.Tiers{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := retry.Topic(kafka.DefaultRetryPrefix, 5*time.Second); msg.Topic != want {
		t.Errorf("default topic %q, want %q", msg.Topic, want)
	}
}

func TestReplayMalformedIsNotReplayable(t *testing.T) {
	t.Parallel()
	dl := replayDeadLetter(t, replayEvent(t))
	malformed := dl
	malformed.Reason, malformed.EndpointID, malformed.Payload = domain.ReasonMalformed, "", []byte("not json at all")
	noEndpoint := dl
	noEndpoint.EndpointID = ""
	malformedWithEndpoint := dl
	malformedWithEndpoint.Reason = domain.ReasonMalformed
	for name, d := range map[string]domain.DeadLetter{"malformed": malformed, "no endpoint": noEndpoint, "malformed reason": malformedWithEndpoint} {
		msg, _, err := dispatch.ReplayMessage(d, "", retry.Tiers{}, time.Now())
		if !errors.Is(err, dispatch.ErrNotReplayable) || msg != nil {
			t.Errorf("%s: ReplayMessage = %v, %v; want ErrNotReplayable", name, msg, err)
		}
	}
}

func TestReplayTamperedPayloadRefused(t *testing.T) {
	t.Parallel()
	dl := replayDeadLetter(t, replayEvent(t))
	good := string(dl.Payload)
	cases := map[string]string{
		"not json":        `{"id":`,
		"extra field":     good[:len(good)-1] + `,"extra":1}`,
		"whitespace":      " " + good,
		"keys reordered":  `{"type":"order.paid","id":"evt_replay_1","timestamp":"2026-03-04T04:06:07.123456789Z","data":{}}`,
		"offset time":     `{"id":"evt_replay_1","type":"order.paid","timestamp":"2026-03-04T05:06:07.123456789+01:00","data":{}}`,
		"no data":         `{"id":"evt_replay_1","type":"order.paid","timestamp":"2026-03-04T04:06:07.123456789Z"}`,
		"bad type":        `{"id":"evt_replay_1","type":"Order Paid!","timestamp":"2026-03-04T04:06:07.123456789Z","data":{}}`,
		"escaped id":      `{"id":"evt_replay_\u0031","type":"order.paid","timestamp":"2026-03-04T04:06:07.123456789Z","data":{}}`,
		"trailing bytes":  good + "\n",
		"empty":           ``,
		"json null":       `null`,
		"data whitespace": `{"id":"evt_replay_1","type":"order.paid","timestamp":"2026-03-04T04:06:07.123456789Z","data": {}}`,
	}
	for name, payload := range cases {
		if _, err := dispatch.EventFromPayload([]byte(payload), "acme"); err == nil {
			t.Errorf("%s: EventFromPayload accepted %q", name, payload)
		}
		d := dl
		d.Payload = []byte(payload)
		if msg, _, err := dispatch.ReplayMessage(d, "", retry.Tiers{}, time.Now()); err == nil || msg != nil {
			t.Errorf("%s: ReplayMessage accepted %q", name, payload)
		}
	}
}

func encoded(t *testing.T, e sarama.Encoder) string {
	t.Helper()
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
