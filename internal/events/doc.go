// Package events turns Kafka messages into domain.Events and events into
// the exact bytes hookd POSTs to endpoints.
//
// # Input formats
//
// A Decoder recognizes, per message and in this order:
//
//  1. CloudEvents structured mode: the content-type header is
//     application/cloudevents+json. The value is a JSON object with
//     specversion "1.0", id, type, source, time (RFC 3339),
//     datacontenttype, and data or data_base64. The tenant is the
//     extension attribute Config.TenantExtension ("tenant").
//  2. CloudEvents binary mode: a ce_specversion header. Attributes come
//     from ce_id, ce_type, ce_source, ce_time and ce_<tenant extension>;
//     the content-type header is the data's content type and the value is
//     the data.
//  3. Raw payload: the topic is in Config.RawTopics. The whole value is
//     the data and the type comes from the mapping. Explicit CloudEvents
//     signals (1 and 2) win over the mapping; nothing else does, so a raw
//     payment that happens to have "type" and "data" members is still a
//     raw payload.
//  4. A JSON object with a "specversion" member: CloudEvents structured
//     mode without the content type.
//  5. Anything else: the native envelope
//     {"id", "type", "tenant"?, "time"?, "source"?, "data"}; "tenant_id"
//     is accepted as an alias of "tenant" (the spelling of domain.Event's
//     JSON), and the two must agree when both are given.
//
// The Config.TenantHeader header ("hookd-tenant") can name the tenant in
// every format; when the message names it elsewhere too, the two must
// agree. Ambiguity over the tenant is never resolved by guessing, because
// the tenant decides who receives the event.
//
// # Rules
//
// Every error Decode returns is a *MalformedError with a stable Reason:
// the pipeline dead-letters the message with that reason and moves on
// (Invariant 5). In detail:
//
//   - The size (key, value and headers together) is checked before
//     anything is parsed; an empty value (a tombstone) is malformed.
//   - The value, and every header hookd reads, must be valid UTF-8. Other
//     headers are ignored and never checked: they belong to other tools,
//     and hookd never forwards Kafka headers.
//   - Nesting deeper than Config.MaxDepth (64, the envelope included) is
//     refused by a byte scan before any JSON parser sees the input, so
//     neither the stack nor the parser's state grows with hostile input.
//   - Top-level members hookd knows (id, type, source, time, tenant,
//     tenant_id, data, data_base64, specversion, datacontenttype and the
//     tenant extension) may appear once; a repeated one, also when spelled
//     with escapes such as "\u0074ype", is malformed, because parsers
//     disagree about which copy wins. Names match case-sensitively; other
//     members are ignored, and data is not inspected beyond being JSON.
//   - Times are RFC 3339, checked strictly (time.Parse alone accepts
//     one-digit hours), between years 1 and 9999 in UTC, and stored in UTC.
//   - Event types are lower-cased (domain.NormalizeEventType) and must pass
//     domain.ValidEventType; tenants must pass domain.ValidateTenant.
//   - Data must be JSON and not null. hookd delivers JSON bodies, and
//     re-encoding other content types (a base64 string? a text string?)
//     would hand receivers something the producer never sent. So a
//     non-JSON datacontenttype or content-type is unsupported_content_type,
//     and data_base64 must decode to JSON (invalid_data otherwise). The one
//     exception is opt-in: a raw topic with Text set delivers its UTF-8
//     value as a JSON string.
//   - Data is kept byte for byte (without surrounding whitespace): numbers
//     keep their precision, and the bytes hookd signs are the bytes the
//     producer wrote. Data is copied, so an Event never aliases the
//     message's buffers.
//   - A missing or empty id is derived from topic, partition and offset
//     (ids.Derive), so a message consumed twice keeps its id and receivers
//     can deduplicate.
//   - A missing time is the message's Kafka timestamp; if that is unset
//     (zero, before 1970, or past year 9999), the decoder's clock.
//
// # Delivered body
//
// Payload gives the body hookd POSTs, shaped as Standard Webhooks
// recommends:
//
//	{"id":"evt_1","type":"order.created","timestamp":"2026-01-02T03:04:05.5Z","data":{...}}
//
// Members come in that fixed order, timestamp is the event time in UTC
// (RFC 3339 with the fraction trimmed), and data is the event's bytes
// verbatim. The body depends only on the event: every endpoint and every
// attempt gets the same bytes, which is what lets a receiver verify a
// retry like the original and lets hookd sign exactly what it sends.
package events
