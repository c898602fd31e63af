package stream

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/hookd/hookd/internal/api"
)

// ParamLastEventID is the query parameter that stands in for the
// Last-Event-ID header, for clients that cannot set headers.
const ParamLastEventID = "last_event_id"

// maxBatch is how many queued events are written before a flush, so that a
// busy stream costs one flush per burst rather than one per event, while a
// client behind on a long burst still sees events regularly.
const maxBatch = 64

// Serve streams the attempts f selects to one client as Server-Sent
// Events, until the client leaves, is dropped, the request's context ends
// or the hub is closed; in the last two cases the response ends cleanly.
//
// A Last-Event-ID header (or the last_event_id query parameter) first
// replays the matching attempts published after that event, when all of
// them are still kept; otherwise a comment says that the stream goes on
// with live attempts only.
//
// Serve answers 503 once the hub is closed and 500 when the
// ResponseWriter cannot flush. f should be valid (Filter.Validate).
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, f Filter) {
	if !canFlush(w) {
		writeError(w, http.StatusInternalServerError, api.CodeInternal, "this server cannot stream responses")
		return
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get(ParamLastEventID)
	}
	c := &client{filter: f.normalized(), ch: make(chan *entry, h.opts.ClientBuffer), dropped: make(chan struct{})}
	replay, state, ok := h.subscribe(c, lastID)
	if !ok {
		writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "the server is shutting down; reconnect")
		return
	}
	defer h.unsubscribe(c)
	if m := h.opts.Metrics; m != nil {
		m.StreamClientsInc()
		defer m.StreamClientsDec()
	}

	rc := http.NewResponseController(w)
	s := &sseWriter{h: h, c: c, w: w, rc: rc, r: r}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx would buffer the stream otherwise
	w.WriteHeader(http.StatusOK)
	switch state {
	case resumeUnknown:
		s.write([]byte(": last event id " + quoteComment(lastID) + " is unknown here (another server, or before a restart); live events only\n\n"))
	case resumeEvicted:
		s.write([]byte(": events after " + quoteComment(lastID) + " are no longer kept; live events only\n\n"))
	}
	// Flush now, so the client knows it is connected before any event.
	s.flush()

	ctx := r.Context()
	for i, e := range replay {
		if s.err != nil || ctx.Err() != nil {
			return
		}
		select {
		case <-c.dropped:
			s.drop()
			return
		case <-h.done:
			s.shutdown()
			return
		default:
		}
		s.event(e)
		if (i+1)%maxBatch == 0 {
			s.flush()
		}
	}
	clear(replay) // let the ring evict them: the loop below runs for the stream's life
	s.flush()

	idle := time.NewTimer(h.opts.Heartbeat)
	defer idle.Stop()
	for s.err == nil {
		// A dropped client is told so at once rather than after what is
		// still queued: it is behind, and resuming replays the rest.
		select {
		case <-c.dropped:
			s.drop()
			return
		default:
		}
		select {
		case e := <-c.ch:
			s.event(e)
		batch:
			for range maxBatch - 1 {
				select {
				case e := <-c.ch:
					s.event(e)
				default:
					break batch
				}
			}
			s.flush()
			idle.Reset(h.opts.Heartbeat)
		case <-idle.C:
			s.write([]byte(": ping\n\n"))
			s.flush()
			idle.Reset(h.opts.Heartbeat)
		case <-c.dropped:
			s.drop()
			return
		case <-h.done:
			s.shutdown()
			return
		case <-ctx.Done():
			return
		}
	}
}

// sseWriter writes to one client. Each write gets a fresh deadline: the
// server's WriteTimeout would end any stream after a fixed time, and
// without a deadline a client that stops reading would hold its goroutine
// forever. After the first error it writes nothing more.
type sseWriter struct {
	h   *Hub
	c   *client
	w   http.ResponseWriter
	rc  *http.ResponseController
	r   *http.Request
	err error
}

func (s *sseWriter) deadline() {
	err := s.rc.SetWriteDeadline(time.Now().Add(s.h.opts.WriteTimeout))
	if errors.Is(err, http.ErrNotSupported) {
		s.h.noDeadline.Do(func() {
			s.h.log.Warn("stream: the response writer cannot set write deadlines (a middleware without Unwrap?); streams end at the server's WriteTimeout and stalled clients are not cut off")
		})
	}
}

func (s *sseWriter) write(b []byte) {
	if s.err != nil {
		return
	}
	s.deadline()
	if _, err := s.w.Write(b); err != nil {
		s.fail(err)
	}
}

func (s *sseWriter) event(e *entry) {
	if f := s.h.frameOf(e); f != nil {
		s.write(f)
	}
}

func (s *sseWriter) flush() {
	if s.err != nil {
		return
	}
	s.deadline()
	if err := s.rc.Flush(); err != nil {
		s.fail(err)
	}
}

func (s *sseWriter) fail(err error) {
	s.err = err
	select {
	case <-s.c.dropped:
		return // counted and logged as behind already
	default:
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		s.h.dropped.Add(1)
		if m := s.h.opts.Metrics; m != nil {
			m.StreamDropped(DropStalled)
		}
		s.h.log.Info("stream: client dropped: it stopped reading", "remote", s.r.RemoteAddr, "timeout", s.h.opts.WriteTimeout)
		return
	}
	s.h.log.Debug("stream: client gone", "remote", s.r.RemoteAddr, "error", err)
}

// dropFrame ends the stream of a client that fell behind. EventSource
// reconnects on its own with Last-Event-ID; hookctl does so on
// api.ErrStreamDropped.
var dropFrame = []byte("event: " + api.StreamEventDropped + "\ndata: {\"reason\":\"the client fell behind; reconnect with Last-Event-ID to resume\"}\n\n")

func (s *sseWriter) drop() {
	s.h.log.Info("stream: client dropped: it fell behind", "remote", s.r.RemoteAddr, "buffer", s.h.opts.ClientBuffer)
	s.write(dropFrame)
	s.flush()
}

func (s *sseWriter) shutdown() {
	s.write([]byte(": server shutting down\n\n"))
	s.flush()
}

// canFlush reports whether w, or a writer it wraps, can flush, as
// http.ResponseController would find it.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }, http.Flusher:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// quoteComment makes a client-supplied id safe inside an SSE comment: a
// line break in it would end the comment and inject fields.
func quoteComment(s string) string {
	if len(s) > maxIDLength {
		s = s[:maxIDLength] + "…"
	}
	b, _ := json.Marshal(s) // escapes CR and LF
	return string(b)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: code, Message: msg}})
}
