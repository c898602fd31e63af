package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/retry"
)

// ErrNotReplayable: the dead letter cannot be replayed to an endpoint (a
// malformed message has none, and its payload is not an event).
var ErrNotReplayable = errors.New("a malformed message's dead letter cannot be replayed: it has no endpoint and is not a valid event")

// ReplayMessage returns the message that replays dead letter dl: a retry
// of the same delivery (so the same webhook-id), due at once, in the next
// generation with a fresh retry budget (attempts count from 1 again). It
// goes to the shortest retry tier, whose consumer delivers it as soon as
// it reads it. generation is the replay's generation.
func ReplayMessage(dl domain.DeadLetter, retryPrefix string, tiers retry.Tiers, now time.Time) (msg *sarama.ProducerMessage, generation int, err error) {
	if dl.EndpointID == "" || dl.Reason == domain.ReasonMalformed {
		return nil, 0, ErrNotReplayable
	}
	ev, err := EventFromPayload(dl.Payload, dl.TenantID)
	if err != nil {
		return nil, 0, fmt.Errorf("dead letter %s: %w", dl.DeliveryID, err)
	}
	if retryPrefix == "" {
		retryPrefix = kafka.DefaultRetryPrefix
	}
	if len(tiers.Durations()) == 0 {
		tiers = retry.DefaultTiers()
	}
	generation = dl.Generation + 1
	rec := kafka.RetryRecord{
		Event: ev, EndpointID: dl.EndpointID, DeliveryID: dl.DeliveryID, Generation: generation,
		Attempt: 1, DueAt: now,
	}
	m, err := kafka.Message(retry.Topic(retryPrefix, tiers.Pick(0)), rec)
	if err != nil {
		return nil, 0, err
	}
	m.Timestamp = now
	m.Headers = []sarama.RecordHeader{{Key: []byte(dueHeader), Value: []byte(strconv.FormatInt(now.UnixMilli(), 10))}}
	return m, generation, nil
}

// EventFromPayload rebuilds the event a delivery body was made from
// (events.Payload): id, type, timestamp and data, with tenant given apart
// (the body does not carry it). The rebuilt event gives the same body,
// byte for byte.
func EventFromPayload(payload []byte, tenant string) (domain.Event, error) {
	var p struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return domain.Event{}, fmt.Errorf("payload is not a delivery body: %w", err)
	}
	ev := domain.Event{ID: p.ID, Type: p.Type, TenantID: tenant, Time: p.Timestamp, Data: p.Data}
	body, err := events.Payload(ev)
	if err != nil {
		return domain.Event{}, fmt.Errorf("payload is not a delivery body: %w", err)
	}
	if string(body) != string(payload) {
		return domain.Event{}, errors.New("payload is not a delivery body hookd made")
	}
	return ev, nil
}
