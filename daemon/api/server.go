// Package api is hookd's HTTP API: endpoints, events, the delivery log,
// the dead-letter queue and its replays, the live stream of attempts, API
// keys, and the operational routes. The wire form is in internal/api.
//
// Requests pass through negroni middleware in this order: request id,
// recovery, access log and metrics, authentication and scope check; then
// the route's handler. Every error is a JSON body
// {"error":{"code":..,"message":..,"fields":..}}.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/IBM/sarama"
	"github.com/urfave/negroni/v3"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/metrics"
	"github.com/hookd/hookd/storage"
)

// ConfigStore is what the API needs of the configuration store.
type ConfigStore interface {
	storage.EndpointStore
	storage.APIKeyStore
	storage.EventKeyStore
	GetReplayJob(ctx context.Context, id string) (domain.ReplayJob, error)
	ListReplayJobs(ctx context.Context, p storage.PageRequest) (storage.Page[domain.ReplayJob], error)
	CancelReplayJob(ctx context.Context, id string, at time.Time) (domain.ReplayJob, error)
}

// LogStore is what the API reads of the delivery log and the dead-letter
// queue.
type LogStore interface {
	ListAttempts(ctx context.Context, f domain.AttemptFilter, p storage.PageRequest) (storage.Page[domain.Attempt], error)
	DeliveryAttempts(ctx context.Context, deliveryID string) ([]domain.Attempt, error)
	EventDeliveries(ctx context.Context, eventID string) ([]storage.EventDelivery, error)
	GetDeadLetter(ctx context.Context, endpointID, deliveryID string) (domain.DeadLetter, error)
	ListDeadLetters(ctx context.Context, f domain.DeadLetterFilter, p storage.PageRequest) (storage.Page[domain.DeadLetter], error)
	DiscardDeadLetter(ctx context.Context, endpointID, deliveryID string) error
}

// Publisher writes messages to Kafka durably (acks=all).
type Publisher interface {
	Produce(ctx context.Context, msgs []*sarama.ProducerMessage) error
}

// Replayer replays dead letters (daemon/replay).
type Replayer interface {
	Submit(ctx context.Context, job domain.ReplayJob) (domain.ReplayJob, bool, error)
	DryRun(ctx context.Context, f domain.DeadLetterFilter, force bool) (matched, skipped int64, err error)
	ReplayOne(ctx context.Context, dl domain.DeadLetter) (generation int, err error)
}

// Streamer serves the live stream of attempts (daemon/stream).
type Streamer interface {
	Serve(w http.ResponseWriter, r *http.Request, f StreamFilter)
}

// StreamFilter selects the attempts of a stream.
type StreamFilter struct {
	EndpointIDs []string
	EventType   string
	Outcome     string
	TenantID    string
}

// Deps are the server's collaborators. Config is required; a nil one of
// the others makes its routes answer 503 (a process can run the API
// without, say, Cassandra while it is being set up).
type Deps struct {
	Config    ConfigStore
	Log       LogStore
	Publisher Publisher
	Replays   Replayer
	Stream    Streamer
	// Ready serves /readyz.
	Ready http.Handler
	// Metrics serves /metrics and records requests.
	Metrics *metrics.Metrics
	// CircuitState reports an endpoint's breaker as this process sees it
	// (closed, open, half_open); nil when the process runs no dispatcher.
	CircuitState func(endpointID string) string
}

// Options tune the server.
type Options struct {
	// EventsTopic receives POST /v1/events.
	EventsTopic string
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	// MaxEventBytes bounds the encoded event of POST /v1/events, so that
	// what the API accepts the dispatcher also accepts.
	MaxEventBytes int
	// SecretOverlap is how long rotated-out secrets keep signing by
	// default (24h).
	SecretOverlap time.Duration
	// KeyCacheTTL is how long a verified API key is trusted without a
	// database lookup (default 10s): a revocation takes effect within it.
	KeyCacheTTL time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Server is the HTTP API.
type Server struct {
	deps    Deps
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []Route
	scopes  map[string]string // route pattern → scope ("" public)
	keys    *keyCache
	decoder *events.Decoder
	handler http.Handler
}

// New builds the server.
func New(d Deps, o Options) (*Server, error) {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxEventBytes <= 0 {
		o.MaxEventBytes = 1 << 20
	}
	if o.SecretOverlap == 0 {
		o.SecretOverlap = 24 * time.Hour
	}
	if o.KeyCacheTTL == 0 {
		o.KeyCacheTTL = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.EventsTopic == "" {
		o.EventsTopic = "hookd.events"
	}
	if d.Config == nil {
		return nil, errors.New("api: no configuration store")
	}
	dec, err := events.NewDecoder(events.Config{MaxMessageBytes: o.MaxEventBytes})
	if err != nil {
		return nil, err
	}
	s := &Server{deps: d, opts: o, log: o.Logger, mux: http.NewServeMux(), scopes: map[string]string{}, decoder: dec}
	s.keys = newKeyCache(o.KeyCacheTTL, 10000)
	for _, r := range s.routeTable() {
		s.handle(r)
	}
	n := negroni.New(
		negroni.HandlerFunc(requestID),
		negroni.HandlerFunc(s.recoverPanics),
		negroni.HandlerFunc(s.accessLog),
		negroni.HandlerFunc(s.authenticate),
	)
	n.UseHandler(http.HandlerFunc(s.dispatch))
	s.handler = n
	return s, nil
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Routes lists every route (the OpenAPI document must describe each).
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Route is one method and path pattern.
type Route struct {
	Method  string
	Pattern string // net/http pattern path, e.g. /v1/endpoints/{id}
	// Scope the API key needs; "" for public routes.
	Scope   string
	Summary string
	handler handlerFunc
}

// handlerFunc handles a request; a returned error is written as the JSON
// error body (see writeError).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(rt Route) {
	key := rt.Method + " " + rt.Pattern
	s.routes = append(s.routes, rt)
	s.scopes[key] = rt.Scope
	h := rt.handler
	s.mux.HandleFunc(key, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) routeTable() []Route {
	const (
		epRead   = domain.ScopeEndpointsRead
		epWrite  = domain.ScopeEndpointsWrite
		publish  = domain.ScopeEventsPublish
		delivery = domain.ScopeDeliveriesRead
		replay   = domain.ScopeDLQReplay
		admin    = domain.ScopeAdmin
	)
	return []Route{
		{"GET", "/healthz", "", "Liveness: the process serves HTTP", s.healthz},
		{"GET", "/readyz", "", "Readiness, with the state of each dependency", s.readyz},
		{"GET", "/metrics", "", "Prometheus metrics", s.metrics},
		{"GET", "/openapi.json", "", "This API's OpenAPI 3.1 document", s.openapi},

		{"POST", "/v1/endpoints", epWrite, "Create an endpoint (the answer holds its secret, shown once)", s.createEndpoint},
		{"GET", "/v1/endpoints", epRead, "List endpoints", s.listEndpoints},
		{"GET", "/v1/endpoints/{id}", epRead, "Get an endpoint", s.getEndpoint},
		{"PATCH", "/v1/endpoints/{id}", epWrite, "Change an endpoint's fields", s.updateEndpoint},
		{"DELETE", "/v1/endpoints/{id}", epWrite, "Delete an endpoint", s.deleteEndpoint},
		{"POST", "/v1/endpoints/{id}/enable", epWrite, "Enable an endpoint", s.enableEndpoint},
		{"POST", "/v1/endpoints/{id}/disable", epWrite, "Disable an endpoint", s.disableEndpoint},
		{"POST", "/v1/endpoints/{id}/rotate-secret", epWrite, "Give an endpoint a new signing secret", s.rotateSecret},
		{"GET", "/v1/endpoints/{id}/stats", epRead, "An endpoint's recent delivery statistics", s.endpointStats},

		{"POST", "/v1/events", publish, "Publish an event", s.publishEvent},
		{"GET", "/v1/events/{id}", delivery, "An event's deliveries with their attempts", s.getEvent},
		{"GET", "/v1/attempts", delivery, "List attempts", s.listAttempts},
		{"GET", "/v1/deliveries", delivery, "List deliveries (each with its newest attempt)", s.listDeliveries},
		{"GET", "/v1/deliveries/{id}", delivery, "A delivery with all its attempts", s.getDelivery},

		{"GET", "/v1/dlq", delivery, "List dead letters", s.listDeadLetters},
		{"GET", "/v1/dlq/{endpoint_id}/{delivery_id}", delivery, "Get a dead letter with its payload", s.getDeadLetter},
		{"DELETE", "/v1/dlq/{endpoint_id}/{delivery_id}", replay, "Discard a dead letter", s.discardDeadLetter},
		{"POST", "/v1/dlq/{endpoint_id}/{delivery_id}/replay", replay, "Replay a dead letter now", s.replayDeadLetter},
		{"POST", "/v1/dlq/discard", replay, "Discard the dead letters matching a filter", s.discardDeadLetters},
		{"POST", "/v1/dlq/replay", replay, "Replay the dead letters matching a filter, as a job", s.startReplay},
		{"GET", "/v1/replays", delivery, "List replay jobs", s.listReplays},
		{"GET", "/v1/replays/{id}", delivery, "A replay job's progress", s.getReplay},
		{"POST", "/v1/replays/{id}/cancel", replay, "Cancel a replay job", s.cancelReplay},

		{"GET", "/v1/stream", delivery, "Live attempts as Server-Sent Events", s.stream},

		{"POST", "/v1/keys", admin, "Create an API key (the answer holds the key, shown once)", s.createKey},
		{"GET", "/v1/keys", admin, "List API keys", s.listKeys},
		{"DELETE", "/v1/keys/{id}", admin, "Revoke an API key", s.revokeKey},
	}
}

// dispatch routes a request; unknown paths and methods get JSON errors.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		// The mux's own 404 or 405 (with its Allow header), in JSON.
		h.ServeHTTP(&statusOnlyWriter{ResponseWriter: w, s: s, r: r}, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// statusOnlyWriter turns the mux's plain-text 404 and 405 into JSON.
type statusOnlyWriter struct {
	http.ResponseWriter
	s       *Server
	r       *http.Request
	written bool
}

func (w *statusOnlyWriter) WriteHeader(code int) {
	if w.written {
		return
	}
	w.written = true
	w.ResponseWriter.Header().Del("X-Content-Type-Options")
	switch code {
	case http.StatusMethodNotAllowed:
		w.s.writeError(w.ResponseWriter, w.r, &Error{Status: code, Code: CodeMethodNotAllowed, Message: w.r.Method + " is not allowed on " + w.r.URL.Path})
	default:
		w.s.writeError(w.ResponseWriter, w.r, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no route " + w.r.URL.Path})
	}
}

func (w *statusOnlyWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
