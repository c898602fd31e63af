package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/errgroup"

	"github.com/hookd/hookd/daemon/api"
	"github.com/hookd/hookd/daemon/replay"
	"github.com/hookd/hookd/daemon/stream"
	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/metrics"
	"github.com/hookd/hookd/internal/retry"
)

// frontHandler serves the HTTP port from the first moment: health,
// readiness and metrics at once, the API once its dependencies are
// connected (503 with the reason before that).
type frontHandler struct {
	api      atomic.Pointer[http.Handler]
	boot     *http.ServeMux
	starting atomic.Pointer[string]
}

func newFrontHandler(met *metrics.Metrics, ready http.Handler) *frontHandler {
	f := &frontHandler{boot: http.NewServeMux()}
	f.boot.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	f.boot.Handle("GET /readyz", ready)
	f.boot.Handle("GET /metrics", met.Handler())
	f.boot.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		reason := "hookd is starting"
		if p := f.starting.Load(); p != nil {
			reason = *p
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`+"\n", wire.CodeUnavailable, reason+"; retry shortly")
	})
	return f
}

func (f *frontHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := f.api.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	f.boot.ServeHTTP(w, r)
}

func (f *frontHandler) setReason(s string) { f.starting.Store(&s) }

// streamAdapter serves api.Server's stream route with a stream.Hub.
type streamAdapter struct{ hub *stream.Hub }

func (a streamAdapter) Serve(w http.ResponseWriter, r *http.Request, f api.StreamFilter) {
	a.hub.Serve(w, r, stream.Filter{EndpointIDs: f.EndpointIDs, EventType: f.EventType, Outcome: f.Outcome, TenantID: f.TenantID})
}

// startAPI connects the API's dependencies and then serves the API on
// front. While PostgreSQL or Cassandra is not reachable it keeps trying
// (the API answers 503 saying which) rather than exiting.
func startAPI(ctx context.Context, g *errgroup.Group, be *Backends, l *config.Loaded, kcfg kafka.Config, tiers retry.Tiers, ownMax int,
	log *slog.Logger, met *metrics.Metrics, ready *readiness, circuit func(string) string, front *frontHandler,
) (stop func(), up <-chan struct{}, err error) {
	producer, err := kafka.NewProducer(ctx, kcfg, kafka.ProducerOptions{MaxMessageBytes: ownMax})
	if err != nil {
		return nil, nil, err
	}
	sc, err := kcfg.Sarama()
	if err != nil {
		_ = producer.Close()
		return nil, nil, err
	}
	sc.Consumer.Fetch.Max = int32(ownMax)
	// As for the dispatcher: batch fetches, at most 100 ms late for a
	// human watching the stream.
	sc.Consumer.Fetch.Min = fetchMinBytes
	sc.Consumer.MaxWaitTime = 100 * time.Millisecond
	consumer, err := sarama.NewConsumer(kcfg.Brokers, sc)
	if err != nil {
		_ = producer.Close()
		return nil, nil, kafka.Explain(kcfg, err)
	}
	apiUp := make(chan struct{})
	hub := stream.NewHub(stream.Options{Logger: log, Metrics: met, IdleKeep: 2 * time.Minute})
	g.Go(func() error {
		// Shutdown waits for running requests: end the streams with it.
		<-ctx.Done()
		hub.Close()
		return nil
	})
	g.Go(func() error {
		if err := stream.Feed(ctx, consumer, l.Kafka.AttemptsTopic, hub, log); err != nil && ctx.Err() == nil {
			return fmt.Errorf("live stream: %w", err)
		}
		return nil
	})

	var pg ConfigBackend
	var cs LogBackend
	closers := func() {
		_ = consumer.Close()
		_ = producer.Close()
		if pg != nil {
			pg.Close()
		}
		if cs != nil {
			cs.Close()
		}
	}
	g.Go(func() error {
		var err error
		front.setReason("connecting to " + be.ConfigName)
		pg, err = connectWithRetry(ctx, log, ready, be.ConfigName, func(ctx context.Context) (ConfigBackend, error) {
			return be.openConfig(ctx, l)
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped while connecting
			}
			return err
		}
		g.Go(func() error {
			ready.watch(ctx, be.ConfigName, 10*time.Second, pg.Ping)
			return nil
		})
		front.setReason("connecting to " + be.LogName)
		cs, err = connectWithRetry(ctx, log, ready, be.LogName, func(ctx context.Context) (LogBackend, error) {
			return be.Log(ctx, l)
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		g.Go(func() error {
			ready.watch(ctx, be.LogName, 10*time.Second, cs.Ping)
			return nil
		})
		runner := replay.New(pg, cs, producer, replay.Options{RetryPrefix: l.Kafka.RetryPrefix, Tiers: tiers, Logger: log})
		g.Go(func() error { return runner.Run(ctx) })
		srv, err := api.New(api.Deps{
			Config: pg, Log: cs, Publisher: producer, Replays: runner, Stream: streamAdapter{hub},
			Ready: ready, Metrics: met, CircuitState: circuit,
		}, api.Options{
			EventsTopic: l.Kafka.EventsTopics[0], MaxBodyBytes: l.HTTP.MaxBodyBytes, MaxEventBytes: l.Kafka.MaxMessageBytes, Logger: log,
		})
		if err != nil {
			return err
		}
		h := srv.Handler()
		front.api.Store(&h)
		close(apiUp)
		log.Info("api started", "events_topic", l.Kafka.EventsTopics[0])
		return nil
	})
	return closers, apiUp, nil
}

// fatalError stops connectWithRetry from retrying.
type fatalError struct{ error }

func (e *fatalError) Unwrap() error { return e.error }

// connectWithRetry calls connect until it succeeds, ctx ends, or it
// returns a *fatalError, with one log line per failure and a pause that
// grows to a minute; the dependency's readiness says why meanwhile.
func connectWithRetry[T any](ctx context.Context, log *slog.Logger, ready *readiness, name string, connect func(context.Context) (T, error)) (T, error) {
	backoff := time.Second
	for {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		v, err := connect(cctx)
		cancel()
		ready.set(name, err)
		if err == nil {
			return v, nil
		}
		var fe *fatalError
		if errors.As(err, &fe) {
			return v, fe.error
		}
		if ctx.Err() != nil {
			return v, ctx.Err()
		}
		log.Error(name+" not reachable; retrying", "error", err, "retry_in", backoff.String())
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return v, ctx.Err()
		}
		backoff = min(2*backoff, time.Minute)
	}
}
