package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/urfave/negroni/v3"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	principalKey
)

// requestID gives every request an id: the caller's X-Request-Id when it is
// a sane token (so ids can follow a request across services), else a new
// one. It is echoed in the response and in error bodies and logs.
func requestID(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	id := r.Header.Get("X-Request-Id")
	if !saneRequestID(id) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-Id", id)
	next(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

func requestIDOf(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

// recoverPanics answers 500 for a handler that panicked and logs the
// stack, so one bad request never takes the process down.
func (s *Server) recoverPanics(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler { //nolint:errorlint // a sentinel compared as net/http does
			panic(v)
		}
		s.log.Error("handler panicked", "request_id", requestIDOf(r), "method", r.Method, "path", r.URL.Path,
			"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		if nw, ok := w.(negroni.ResponseWriter); ok && nw.Written() {
			return // too late for an error body
		}
		s.writeError(w, r, fmt.Errorf("panic: %v", v))
	}()
	next(w, r)
}

// accessLog logs each request once it is answered (at debug for the
// health and metrics probes) and records its metrics by route pattern.
func (s *Server) accessLog(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	start := s.opts.Now()
	next(w, r)
	d := s.opts.Now().Sub(start)
	status := http.StatusOK
	size := 0
	if nw, ok := w.(negroni.ResponseWriter); ok {
		status, size = nw.Status(), nw.Size()
		if status == 0 {
			status = http.StatusOK
		}
	}
	_, pattern := s.mux.Handler(r)
	route := pattern
	if route == "" {
		route = "unmatched"
	}
	s.deps.Metrics.HTTPRequest(route, r.Method, status, d)
	level := levelInfo
	switch pattern {
	case "GET /healthz", "GET /readyz", "GET /metrics":
		level = levelDebug
	}
	if !s.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []any{
		"request_id", requestIDOf(r), "method", r.Method, "path", r.URL.Path, "route", route,
		"status", status, "bytes", size, "duration_ms", float64(d.Microseconds()) / 1000,
		"remote", r.RemoteAddr,
	}
	if p, ok := r.Context().Value(principalKey).(*principal); ok {
		attrs = append(attrs, "key_id", p.key.ID)
	}
	s.log.Log(r.Context(), level, "http request", attrs...)
}

// now returns the server's current time.
func (s *Server) now() time.Time { return s.opts.Now() }
