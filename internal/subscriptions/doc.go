// Package subscriptions finds, for each event, the endpoints subscribed to
// it, and keeps that answer current as endpoints change in the store.
//
// The dispatcher asks the Index once per consumed event, so a lookup must
// cost the same with 100 or 100,000 endpoints configured: it is a handful
// of hash probes (one per dot-separated segment of the event type, plus
// the exact type and "*"), lock-free, and allocation-free when the caller
// brings a buffer (AppendMatch) or when a single filter matches (Match
// returns the index's own slice).
//
// The Syncer fills an Index from an endpoint store: a full load, then the
// store's change feed (WatchEndpoints), with a full reload after every
// broken watch and periodically, so a lost notification heals on its own.
//
// # Semantics
//
// An endpoint's filters are exact types ("order.created"), prefixes
// ("order.*": "order.created" and "order.item.added", not "order") and "*"
// (everything), exactly as domain.MatchEventType defines them. Filters and
// event types compare lower-case (domain.NormalizeEventType). An event with
// tenant T reaches only endpoints whose TenantID is T; an event without a
// tenant reaches only endpoints without one. An endpoint that several of its
// filters select appears once.
//
// Disabled endpoints are returned too, with Enabled false: the dispatcher
// must park their deliveries as dead letters (reason endpoint_disabled)
// rather than drop them, so it has to learn about them. AppendEnabled is
// for callers that really only want the enabled ones.
package subscriptions
