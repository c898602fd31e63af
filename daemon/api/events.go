package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"

	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/ids"
)

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

func (s *Server) publishEvent(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Publisher == nil {
		return unavailable("publishing")
	}
	idemKey := r.Header.Get("Idempotency-Key")
	if len(idemKey) > maxIdempotencyKey || !utf8.ValidString(idemKey) || bytes.ContainsAny([]byte(idemKey), "\x00\r\n") {
		return badField("Idempotency-Key", "at most %d bytes of text", maxIdempotencyKey)
	}
	var in wire.PublishEventRequest
	// The body holds data plus a little envelope; the event limit is what
	// matters and is checked on the encoded event below.
	if err := decodeJSON(r, w, int64(s.opts.MaxEventBytes)+64<<10, &in); err != nil {
		return err
	}
	ev, err := s.eventOf(&in)
	if err != nil {
		return err
	}
	value, err := events.MarshalEnvelope(ev)
	if err != nil {
		return badRequest("invalid event: "+err.Error(), nil)
	}
	if len(value) > s.opts.MaxEventBytes {
		return &Error{
			Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge,
			Message: "the encoded event is larger than kafka.max_message_bytes (" + itoa(int64(s.opts.MaxEventBytes)) + " bytes)",
		}
	}
	// What the API accepts, the dispatcher must accept too: check the
	// exact bytes with the dispatcher's own decoder.
	if _, err := s.decoder.Decode(events.Message{Topic: s.opts.EventsTopic, Value: value, Timestamp: s.now()}); err != nil {
		var me *events.MalformedError
		if errors.As(err, &me) {
			return badRequest("invalid event: "+me.Error(), nil)
		}
		return err
	}

	// A retried request (same Idempotency-Key, or same event id) within
	// the window publishes nothing and answers with the first event id.
	// The key is first claimed as pending, for a short time, and confirmed
	// for the whole window only once Kafka has the event: a process that
	// dies between the claim and the publish must not leave a key that
	// answers "duplicate" for an event never published. A retry that finds
	// the key pending is told to come back; once the pending claim expires
	// a retry publishes (at least once: a publish that succeeded just
	// before a crash may then be published twice).
	claimKey := ""
	switch {
	case idemKey != "":
		claimKey = claimKeyOf("k:", idemKey)
	case in.ID != "":
		claimKey = claimKeyOf("e:", ev.ID)
	}
	now := s.now().UTC()
	pending := pendingPrefix + ev.ID
	if claimKey != "" {
		first, claimed, err := s.deps.Config.ClaimEventKey(r.Context(), claimKey, pending, now, now.Add(pendingClaim))
		if err != nil {
			return err
		}
		if !claimed {
			if strings.HasPrefix(first, pendingPrefix) {
				w.Header().Set("Retry-After", "1")
				return &Error{
					Status: http.StatusConflict, Code: CodeConflict,
					Message: "a request with this idempotency key (or event id) is being published; retry in a moment",
				}
			}
			writeJSON(w, http.StatusAccepted, wire.PublishEventResponse{ID: first, Duplicate: true})
			return nil
		}
	}
	msg := &sarama.ProducerMessage{
		Topic: s.opts.EventsTopic, Key: sarama.StringEncoder(ev.ID), Value: sarama.ByteEncoder(value),
		Headers: []sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("application/json")}},
	}
	err = s.deps.Publisher.Produce(r.Context(), []*sarama.ProducerMessage{msg})
	if claimKey != "" {
		// With a context of its own: the request's may have ended.
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		s.settleClaim(ctx, claimKey, pending, ev.ID, err == nil)
	}
	if err != nil {
		if r.Context().Err() != nil {
			return r.Context().Err()
		}
		s.log.Error("publishing an event failed", "request_id", requestIDOf(r), "event_id", ev.ID, "error", err)
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "Kafka did not take the event; nothing was published, retry later"}
	}
	writeJSON(w, http.StatusAccepted, wire.PublishEventResponse{ID: ev.ID})
	return nil
}

// eventOf checks a publish request field by field and builds the event.
func (s *Server) eventOf(in *wire.PublishEventRequest) (domain.Event, error) {
	fields := map[string]string{}
	ev := domain.Event{ID: in.ID, Type: domain.NormalizeEventType(in.Type), TenantID: in.TenantID, Source: in.Source, Data: in.Data}
	if ev.ID == "" {
		ev.ID = ids.New(ids.Event)
	} else if len(ev.ID) > events.MaxIDLength || !utf8.ValidString(ev.ID) || hasControl(ev.ID) {
		fields["id"] = "at most 255 bytes of text without control characters"
	}
	switch {
	case in.Type == "":
		fields["type"] = "required"
	case !domain.ValidEventType(ev.Type):
		fields["type"] = "letters, digits, '_' and '-' in dot-separated parts (like order.created)"
	}
	if ev.TenantID != "" && domain.ValidateTenant(ev.TenantID) != nil {
		fields["tenant_id"] = "not a valid tenant id"
	}
	if len(ev.Source) > events.MaxSourceLength || !utf8.ValidString(ev.Source) || hasControl(ev.Source) {
		fields["source"] = "at most 2048 bytes of text"
	}
	d := bytes.TrimSpace(in.Data)
	if len(d) == 0 || string(d) == "null" {
		fields["data"] = "required: any JSON value but null"
	}
	ev.Time = s.now().UTC()
	if in.Time != nil {
		if y := in.Time.Year(); y < 1970 || y > 9999 {
			fields["time"] = "out of range"
		}
		ev.Time = *in.Time
	}
	if len(fields) > 0 {
		return ev, badRequest("invalid event", fields)
	}
	return ev, nil
}

// pendingPrefix marks a claim whose publish is under way; pendingClaim is
// how long it holds the key before a retry may take over.
const (
	pendingPrefix = "pending:"
	pendingClaim  = 30 * time.Second
)

// settleClaim turns a pending claim into the claim of the published event
// for the idempotency window, or drops it when the publish failed so that
// a retry publishes.
func (s *Server) settleClaim(ctx context.Context, key, pending, eventID string, published bool) {
	if err := s.deps.Config.ReleaseEventKey(ctx, key, pending); err != nil {
		s.log.Error("settling an idempotency key", "error", err)
		return
	}
	if !published {
		return
	}
	now := s.now().UTC()
	if _, _, err := s.deps.Config.ClaimEventKey(ctx, key, eventID, now, now.Add(wire.IdempotencyWindow)); err != nil {
		s.log.Error("confirming an idempotency key", "error", err)
	}
}

// claimKeyOf hashes a client's key, so that stored keys have one short
// length whatever clients send, and the two kinds never collide.
func claimKeyOf(kind, v string) string {
	sum := sha256.Sum256([]byte(v))
	return kind + hex.EncodeToString(sum[:])
}

func hasControl(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}
