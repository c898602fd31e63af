// Package stream serves the live tail of delivery attempts, GET /v1/stream,
// as Server-Sent Events.
//
// Every API process runs one Feed, which reads the attempts topic from its
// newest offsets (no consumer group: each process must see every attempt,
// not a share of them) and hands each attempt to a Hub. The hub keeps the
// most recent attempts in a ring, so a client that reconnects with
// Last-Event-ID misses nothing that is still there, and fans each attempt
// out to the connected clients whose Filter selects it.
//
// A client never slows the others or the feed: Publish only ever makes
// non-blocking sends into per-client queues of bounded size, and a client
// whose queue is full is dropped (it is told so with a final "dropped"
// event and can resume from the ring). The writes to a client happen in its
// own request goroutine, each bounded by a write deadline, so a client that
// stops reading is cut off rather than holding anything but its own
// goroutine. Memory is bounded by the ring plus one queue per client.
//
// An attempt is encoded to its SSE frame at most once, when the first
// client needs it, and the frame is shared by every client and by replays:
// with no client connected, publishing costs no encoding at all.
//
// Event ids are "<epoch>-<sequence>": the sequence increases with every
// attempt published to the hub, and the epoch is random per hub, so an id
// from another process or from before a restart is recognized as unknown
// instead of being taken for a position in this hub's sequence.
package stream
