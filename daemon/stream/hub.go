package stream

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/metrics"
)

// Defaults of Options.
const (
	DefaultHistory      = 10000
	DefaultClientBuffer = 1024
	DefaultHeartbeat    = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
)

// Reasons a client is dropped, as passed to Metrics.StreamDropped.
const (
	// DropBehind: the client's queue filled up; it was told so with a
	// "dropped" event.
	DropBehind = "behind"
	// DropStalled: a write to the client did not finish within the write
	// timeout; the connection is broken, so it could not be told.
	DropStalled = "stalled"
)

// Metrics receives the hub's counts. *metrics.Metrics is meant to
// implement it; a nil Options.Metrics records nothing.
type Metrics interface {
	StreamClientsInc()
	StreamClientsDec()
	StreamDropped(reason string)
}

var _ Metrics = (*metrics.Metrics)(nil)

// Options tune a Hub. Zero values take the defaults.
type Options struct {
	// History is how many recent attempts are kept for clients that
	// resume with Last-Event-ID (default 10000; negative keeps none).
	// Memory: History times the size of an encoded attempt, which the
	// dispatcher caps through its response body preview (4 KiB).
	History int
	// IdleKeep, when above 0, lets Feed skip decoding attempts while no
	// client has been connected for this long: a process nobody follows
	// spends nothing per delivery on the stream. A client connecting after
	// such a pause gets live attempts only (resuming an older id says the
	// attempts are no longer kept). 0 always decodes.
	IdleKeep time.Duration
	// ClientBuffer is how many attempts may wait for one client (default
	// 1024). A client whose queue is full is dropped, so that it cannot
	// slow Publish or the other clients.
	ClientBuffer int
	// Heartbeat is how long a stream may stay silent before a comment
	// line is sent to keep proxies from closing it (default 15s).
	Heartbeat time.Duration
	// WriteTimeout bounds each write to a client (default 10s); a client
	// that does not read for that long is dropped.
	WriteTimeout time.Duration
	Logger       *slog.Logger
	Metrics      Metrics
}

// Hub fans attempts out to streaming clients and keeps recent ones for
// resuming. It is safe for concurrent use.
type Hub struct {
	opts  Options
	log   *slog.Logger
	epoch string
	done  chan struct{} // closed by Close

	mu      sync.Mutex
	closed  bool
	seq     uint64   // sequence of the newest published entry
	ring    []*entry // len History; ring[head] is the oldest of n entries
	head, n int
	clients []*client

	published, dropped, skipped atomic.Uint64
	// active and lastClient let Feed tell, without the lock, whether
	// anyone follows the stream (Options.IdleKeep).
	active     atomic.Int32
	lastClient atomic.Int64 // unix nanoseconds
	// noDeadline makes Serve warn only once that the ResponseWriter cannot
	// extend its write deadline.
	noDeadline sync.Once
}

// entry is one published attempt. The fields that filters look at are kept
// apart from the attempt, because the attempt is released once encoded.
type entry struct {
	seq                                    uint64
	endpointID, eventType, outcome, tenant string

	once  sync.Once
	a     domain.Attempt // only inside once: set before publication, cleared by encoding
	frame []byte         // the SSE event; nil if the attempt could not be encoded
}

// client is one connected stream.
type client struct {
	filter Filter
	ch     chan *entry
	// dropped is closed by Publish (under the hub's lock, once, as it
	// removes the client) when ch overflowed.
	dropped chan struct{}
}

// NewHub returns a hub.
func NewHub(opts Options) *Hub {
	if opts.History == 0 {
		opts.History = DefaultHistory
	}
	opts.History = max(opts.History, 0)
	if opts.ClientBuffer <= 0 {
		opts.ClientBuffer = DefaultClientBuffer
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return &Hub{
		opts:  opts,
		log:   opts.Logger,
		epoch: hex.EncodeToString(b[:]),
		done:  make(chan struct{}),
		ring:  make([]*entry, opts.History),
	}
}

// Publish hands a to every connected client whose filter selects it and
// keeps it for resuming. It never blocks on a client: a client whose queue
// is full is dropped instead. The hub keeps a, so the caller must not
// modify its maps or slices afterwards.
func (h *Hub) Publish(a domain.Attempt) {
	e := &entry{
		endpointID: a.EndpointID, eventType: a.EventType, outcome: string(a.Outcome), tenant: a.TenantID,
		a: a,
	}
	if trackEntry != nil {
		trackEntry(e)
	}
	var dropped int
	h.mu.Lock()
	h.seq++
	e.seq = h.seq
	if len(h.ring) > 0 {
		if h.n == len(h.ring) {
			h.ring[h.head] = e
			h.head = (h.head + 1) % len(h.ring)
		} else {
			h.ring[(h.head+h.n)%len(h.ring)] = e
			h.n++
		}
	}
	for i := 0; i < len(h.clients); {
		c := h.clients[i]
		if !c.filter.match(e.endpointID, e.eventType, e.outcome, e.tenant) {
			i++
			continue
		}
		select {
		case c.ch <- e:
			i++
		default:
			h.removeAt(i)
			close(c.dropped)
			dropped++
		}
	}
	h.mu.Unlock()
	h.published.Add(1)
	for range dropped {
		h.dropped.Add(1)
		if h.opts.Metrics != nil {
			h.opts.Metrics.StreamDropped(DropBehind)
		}
	}
}

// trackEntry, when set (by tests), sees every entry as it is made, so that
// tests can count how many are still reachable.
var trackEntry func(*entry)

// removeAt removes clients[i]; the caller holds mu. Order does not
// matter: every client gets every matching entry whatever its position.
func (h *Hub) removeAt(i int) {
	last := len(h.clients) - 1
	h.clients[i] = h.clients[last]
	h.clients[last] = nil
	h.clients = h.clients[:last]
	h.active.Store(int32(len(h.clients)))
	h.lastClient.Store(time.Now().UnixNano())
}

// followed reports whether attempts are worth decoding: a client is
// connected, or was within Options.IdleKeep (or IdleKeep is 0).
func (h *Hub) followed() bool {
	if h.opts.IdleKeep <= 0 || h.active.Load() > 0 {
		return true
	}
	last := h.lastClient.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < h.opts.IdleKeep
}

// Clients returns the number of connected clients.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Stats are the hub's counters, for diagnostics and tests.
type Stats struct {
	Clients   int
	Published uint64 // attempts published since the hub was made
	Dropped   uint64 // clients dropped: behind or stalled
	Skipped   uint64 // records of the attempts topic that Feed did not publish
	History   int    // attempts kept for resuming
	Queued    int    // attempts waiting in client queues
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	s := Stats{Clients: len(h.clients), History: h.n}
	for _, c := range h.clients {
		s.Queued += len(c.ch)
	}
	h.mu.Unlock()
	s.Published, s.Dropped, s.Skipped = h.published.Load(), h.dropped.Load(), h.skipped.Load()
	return s
}

// Close ends every stream cleanly and refuses new ones (503). Register it
// with http.Server.RegisterOnShutdown: Shutdown does not cancel the
// contexts of running requests, so streams would otherwise hold it until
// its deadline.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// resumeState is what subscribe made of a Last-Event-ID.
type resumeState int

const (
	resumeNone    resumeState = iota // no id given
	resumeOK                         // every later entry is still in the ring
	resumeUnknown                    // not an id of this hub
	resumeEvicted                    // an id of this hub, but entries after it are gone
)

// subscribe registers c and returns the entries after lastID that c's
// filter selects. Both happen under one lock, so that every entry is
// either replayed or queued, never both nor neither.
func (h *Hub) subscribe(c *client, lastID string) (replay []*entry, state resumeState, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, resumeNone, false
	}
	h.clients = append(h.clients, c)
	h.active.Store(int32(len(h.clients)))
	h.lastClient.Store(time.Now().UnixNano())
	if lastID == "" {
		return nil, resumeNone, true
	}
	seq, known := h.parseID(lastID)
	if !known || seq > h.seq {
		return nil, resumeUnknown, true
	}
	oldest := h.seq - uint64(h.n) + 1 // h.seq+1 when the ring is empty
	if seq+1 < oldest {
		return nil, resumeEvicted, true
	}
	for i := int(seq + 1 - oldest); i < h.n; i++ {
		e := h.ring[(h.head+i)%len(h.ring)]
		if c.filter.match(e.endpointID, e.eventType, e.outcome, e.tenant) {
			replay = append(replay, e)
		}
	}
	return replay, resumeOK, true
}

// unsubscribe removes c if Publish has not already dropped it.
func (h *Hub) unsubscribe(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.clients {
		if x == c {
			h.removeAt(i)
			return
		}
	}
}

// maxIDLength bounds the Last-Event-ID this hub parses; its own ids are
// far shorter.
const maxIDLength = 64

func (h *Hub) eventID(seq uint64) string {
	return h.epoch + "-" + strconv.FormatUint(seq, 10)
}

// parseID returns the sequence of an id this hub made.
func (h *Hub) parseID(id string) (uint64, bool) {
	if len(id) > maxIDLength {
		return 0, false
	}
	epoch, s, ok := strings.Cut(id, "-")
	if !ok || epoch != h.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	return seq, err == nil
}

// frameOf returns e's SSE event, encoding it on first use. The attempt is
// released once encoded so the ring holds one form of it, not two.
func (h *Hub) frameOf(e *entry) []byte {
	e.once.Do(func() {
		data, err := json.Marshal(api.AttemptFromDomain(e.a))
		e.a = domain.Attempt{}
		if err != nil {
			// api.Attempt holds only strings, numbers, times and maps of
			// strings; this cannot happen short of a bug.
			h.log.Error("stream: cannot encode attempt", "seq", e.seq, "error", err)
			return
		}
		id := h.eventID(e.seq)
		f := make([]byte, 0, len("id: \nevent: \ndata: \n\n")+len(id)+len(api.StreamEventAttempt)+len(data))
		f = append(f, "id: "...)
		f = append(f, id...)
		f = append(f, "\nevent: "...)
		f = append(f, api.StreamEventAttempt...)
		f = append(f, "\ndata: "...)
		f = append(f, data...) // compact JSON: one line
		e.frame = append(f, "\n\n"...)
	})
	return e.frame
}
