package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/hookd/hookd/daemon/dispatch"
	"github.com/hookd/hookd/daemon/logwriter"
	"github.com/hookd/hookd/internal/buildinfo"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/egress"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/lanes"
	"github.com/hookd/hookd/internal/metrics"
	"github.com/hookd/hookd/internal/retry"
	"github.com/hookd/hookd/internal/subscriptions"
)

// ServeOptions are the inputs of `hookd serve`.
type ServeOptions struct {
	IO         *iostreams.IOStreams
	ConfigFile string
	Flags      map[string]string
	// Ready, when set, is called once every role has started (tests).
	Ready func(addr net.Addr)
	// Listening, when set, is called once the HTTP server listens, before
	// the dependencies are reached (tests).
	Listening func(addr net.Addr)
	// Backends opens the stores; nil means PostgreSQL and Cassandra.
	Backends *Backends
	// Environ replaces the process environment when set (HOOKD_*).
	Environ []string
}

func newCmdServe(ios *iostreams.IOStreams) *cobra.Command {
	opts := &ServeOptions{IO: ios, Flags: map[string]string{}}
	var roles, addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run hookd: the dispatcher, the log writer and the API",
		Long: `Run the roles this process should: dispatch (consume events, deliver,
retry), logwriter (write attempts and dead letters to Cassandra) and api
(the HTTP API under /v1 with API keys, the live stream, bulk replays, and
/healthz, /readyz, /metrics, /openapi.json; see docs/api.md). Any number
of processes can run any roles; Kafka consumer groups share the work.
The first admin API key comes from 'hookd keys create'.

While Kafka is unreachable or refuses the credentials, hookd stays up and
not ready (/readyz answers 503 and says why) and retries with a pause that
grows to a minute.

SIGINT or SIGTERM stops consuming, lets in-flight deliveries finish for up
to http.shutdown_timeout, moves what is left to the retry tiers, commits
and exits 0.`,
		Example: `  hookd serve --config /etc/hookd/hookd.yaml
  hookd serve --roles dispatch
  HOOKD_KAFKA_BROKERS=kafka:9092 hookd serve --roles logwriter`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("roles") {
				opts.Flags["roles"] = roles
			}
			if cmd.Flags().Changed("http-addr") {
				opts.Flags["http.addr"] = addr
			}
			return Serve(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.ConfigFile, "config", "", "YAML configuration file (default: $HOOKD_CONFIG)")
	cmd.Flags().StringVar(&roles, "roles", "api,dispatch,logwriter", "roles to run, comma-separated")
	cmd.Flags().StringVar(&addr, "http-addr", ":8080", "address of the HTTP server")
	return cmd
}

// Serve runs the configured roles until ctx ends, then shuts down
// gracefully.
func Serve(ctx context.Context, opts *ServeOptions) error {
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	l, err := config.Load(config.Options{File: configFile(opts.ConfigFile), Environ: environ, Flags: opts.Flags})
	if err != nil {
		return err
	}
	be := opts.Backends
	if be == nil {
		be = ProductionBackends()
	}
	log := newLogger(opts.IO.ErrOut, l.Log)
	log.Info("hookd starting", "version", buildinfo.Version, "roles", strings.Join(l.Roles, ","))

	met := metrics.New()
	ready := newReadiness()
	g, gctx := errgroup.WithContext(ctx)
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()

	// The HTTP server comes up first, so that while a dependency is not
	// reachable yet /readyz can say which, and why.
	var addr net.Addr
	var front *frontHandler
	if l.HasRole(config.RoleAPI) {
		front = newFrontHandler(met, ready)
		srv, ln, err := listen(l, front)
		if err != nil {
			return err
		}
		addr = ln.Addr()
		g.Go(func() error {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), l.HTTP.ShutdownTimeout)
			defer cancel()
			return srv.Shutdown(sctx)
		})
		log.Info("http listening", "addr", addr.String())
		if opts.Listening != nil {
			opts.Listening(addr)
		}
	}

	if l.HTTP.PprofAddr != "" {
		stop, err := servePprof(gctx, g, l, log)
		if err != nil {
			return err
		}
		closers = append(closers, stop)
	}

	kcfg := l.KafkaClient()
	kcfg.DialTimeout = 10 * time.Second
	tiers := retry.DefaultTiers()
	// hookd's own records carry whole events (dead letters in base64), so
	// its topics take messages well above the largest event accepted.
	ownMax := 2*l.Kafka.MaxMessageBytes + 64<<10
	if err := waitForKafka(gctx, kcfg, l, tiers, ownMax, log, ready); err != nil {
		if ctx.Err() != nil {
			return g.Wait() // stopped while waiting: a clean exit
		}
		return err
	}

	g.Go(func() error {
		ready.watch(gctx, "kafka", 15*time.Second, func(ctx context.Context) error { return kafka.Check(ctx, kcfg) })
		return nil
	})
	var circuit func(string) string
	if l.HasRole(config.RoleDispatch) {
		stop, state, err := startDispatch(gctx, g, be, l, kcfg, tiers, ownMax, log, met)
		if err != nil {
			return err
		}
		closers = append(closers, stop)
		circuit = state
	}
	if l.HasRole(config.RoleLogWriter) {
		stop, err := startLogWriter(gctx, g, be, l, kcfg, log)
		if err != nil {
			return err
		}
		closers = append(closers, stop)
	}
	if front != nil {
		stop, up, err := startAPI(gctx, g, be, l, kcfg, tiers, ownMax, log, met, ready, circuit, front)
		if err != nil {
			return err
		}
		closers = append(closers, stop)
		// Started means serving: wait until the API's stores are
		// connected (it says why not on /readyz meanwhile).
		select {
		case <-up:
		case <-gctx.Done():
			err := g.Wait()
			log.Info("hookd stopped", "error", err)
			return err
		}
	}
	ready.set("started", nil)
	if opts.Ready != nil {
		opts.Ready(addr)
	}
	err = g.Wait()
	log.Info("hookd stopped", "error", err)
	return err
}

// waitForKafka creates hookd's topics, retrying with a backoff that grows
// to a minute while the brokers are unreachable or refuse the credentials:
// the process stays up, not ready, with one log line per try, instead of
// exiting into a supervisor's tight restart loop.
func waitForKafka(ctx context.Context, kcfg kafka.Config, l *config.Loaded, tiers retry.Tiers, ownMax int, log *slog.Logger, ready *readiness) error {
	backoff := time.Second
	for {
		err := ensureTopics(ctx, kcfg, l, tiers, ownMax, log)
		ready.set("kafka", err)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Error("kafka not ready; retrying", "error", err, "retry_in", backoff.String())
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, time.Minute)
	}
}

func ensureTopics(ctx context.Context, kcfg kafka.Config, l *config.Loaded, tiers retry.Tiers, ownMax int, log *slog.Logger) error {
	topicCfg := map[string]string{"max.message.bytes": strconv.Itoa(ownMax)}
	parts := int32(l.Kafka.OwnPartitions)
	specs := []kafka.TopicSpec{{Name: l.Kafka.AttemptsTopic, Partitions: parts, Config: topicCfg}}
	if l.HasRole(config.RoleAPI) {
		// POST /v1/events publishes here; brokers often refuse to create
		// topics on first use. An existing topic is left as it is.
		specs = append(specs, kafka.TopicSpec{
			Name: l.Kafka.EventsTopics[0], Partitions: parts,
			Config: map[string]string{"max.message.bytes": strconv.Itoa(l.Kafka.MaxMessageBytes + 64<<10)},
		})
	}
	for _, t := range tiers.Topics(l.Kafka.RetryPrefix) {
		specs = append(specs, kafka.TopicSpec{Name: t, Partitions: parts, Config: topicCfg})
	}
	statuses, err := kafka.EnsureTopics(ctx, kcfg, specs)
	if err != nil {
		return err
	}
	for _, s := range statuses {
		if s.Shortfall != "" {
			log.Warn("topic smaller than asked", "topic", s.Name, "detail", s.Shortfall)
		}
	}
	return nil
}

func startDispatch(ctx context.Context, g *errgroup.Group, be *Backends, l *config.Loaded, kcfg kafka.Config, tiers retry.Tiers, ownMax int, log *slog.Logger, met *metrics.Metrics) (func(), func(string) string, error) {
	store, err := be.openConfig(ctx, l)
	if err != nil {
		var fe *fatalError
		if errors.As(err, &fe) {
			return nil, nil, fe.error
		}
		return nil, nil, err
	}
	index := subscriptions.NewIndex()
	syncer := subscriptions.NewSyncer(index, store, subscriptions.SyncerOptions{Logger: log})
	g.Go(func() error { return syncer.Run(ctx) })
	if err := syncer.WaitReady(ctx); err != nil {
		store.Close()
		return nil, nil, err
	}
	lns, err := lanes.New(lanes.Config{
		MaxInFlight: l.Delivery.MaxInFlight, DefaultConcurrency: l.Delivery.MaxConcurrency, SaturationWait: l.Delivery.SaturationWait,
		OnStateChange: met.OnStateChange,
	})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	met.CircuitState(lns.State)
	client, err := egress.New(egress.Config{Allow: l.Delivery.AllowCIDRs, Timeout: l.Delivery.Timeout, ResponsePreviewBytes: l.Delivery.ResponseBytes})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	producer, err := kafka.NewProducer(ctx, kcfg, kafka.ProducerOptions{MaxMessageBytes: ownMax})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	engine := dispatch.NewEngine(index, store, lns, client, store, dispatch.Options{
		AttemptsTopic: l.Kafka.AttemptsTopic, RetryPrefix: l.Kafka.RetryPrefix, Tiers: tiers,
		DefaultTimeout: l.Delivery.Timeout, Logger: log, Metrics: met,
	})
	raw := map[string]events.RawTopic{}
	for topic, typ := range l.RawTopics() {
		raw[topic] = events.RawTopic{Type: typ}
	}
	dec, err := events.NewDecoder(events.Config{MaxMessageBytes: l.Kafka.MaxMessageBytes, RawTopics: raw})
	if err != nil {
		return nil, nil, err
	}
	d := dispatch.NewDispatcher(engine, index, dec, dispatch.DispatcherOptions{
		EventsTopics: eventsTopics(l), MaxInFlight: l.Delivery.MaxInFlight, DrainTimeout: l.HTTP.ShutdownTimeout, Logger: log,
	})
	sc, err := consumerConfig(kcfg, l)
	if err != nil {
		return nil, nil, err
	}
	group, err := sarama.NewConsumerGroup(kcfg.Brokers, l.Kafka.ConsumerGroup, sc)
	if err != nil {
		return nil, nil, kafka.Explain(kcfg, err)
	}
	// The retry tiers have a group (and connections) of their own, so
	// their held partitions and churn never delay fetching events.
	rsc, err := consumerConfig(kcfg, l)
	if err != nil {
		_ = group.Close()
		return nil, nil, err
	}
	// Tier partitions are many (tiers × partitions) and mostly wait: keep
	// what each holds in memory small, so a large backlog of pending
	// retries does not become a large process.
	rsc.ChannelBufferSize = 64
	rsc.Consumer.Fetch.Default = 256 << 10
	retryGroup, err := sarama.NewConsumerGroup(kcfg.Brokers, l.Kafka.ConsumerGroup+retryGroupSuffix, rsc)
	if err != nil {
		_ = group.Close()
		return nil, nil, kafka.Explain(kcfg, err)
	}
	g.Go(func() error { return d.RunGroups(ctx, group, retryGroup, producer) })
	log.Info("dispatch started", "topics", strings.Join(d.Topics(), ","), "group", l.Kafka.ConsumerGroup,
		"retry_group", l.Kafka.ConsumerGroup+retryGroupSuffix)
	state := func(id string) string {
		st, _, _ := lns.State(id)
		return st.String()
	}
	return func() {
		_ = group.Close()
		_ = retryGroup.Close()
		_ = producer.Close()
		client.Close()
		store.Close()
	}, state, nil
}

func startLogWriter(ctx context.Context, g *errgroup.Group, be *Backends, l *config.Loaded, kcfg kafka.Config, log *slog.Logger) (func(), error) {
	store, err := be.Log(ctx, l)
	if err != nil {
		return nil, err
	}
	sc, err := consumerConfig(kcfg, l)
	if err != nil {
		store.Close()
		return nil, err
	}
	group, err := sarama.NewConsumerGroup(kcfg.Brokers, l.Kafka.ConsumerGroup+"-logwriter", sc)
	if err != nil {
		store.Close()
		return nil, kafka.Explain(kcfg, err)
	}
	w := logwriter.New(store, logwriter.Options{Logger: log})
	g.Go(func() error { return w.Run(ctx, group, l.Kafka.AttemptsTopic) })
	log.Info("logwriter started", "topic", l.Kafka.AttemptsTopic, "store", be.LogName)
	return func() {
		_ = group.Close()
		store.Close()
	}, nil
}

// retryGroupSuffix names the consumer group of the retry tiers after the
// events' group.
const retryGroupSuffix = "-retry"

// Fetch batching of the dispatcher's and the log writer's consumers.
var (
	fetchMinBytes int32 = 16 << 10
	fetchMaxWait        = 10 * time.Millisecond
)

func consumerConfig(kcfg kafka.Config, l *config.Loaded) (*sarama.Config, error) {
	sc, err := kcfg.Sarama()
	if err != nil {
		return nil, err
	}
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	if l.Kafka.InitialOffset == "newest" {
		sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	sc.Consumer.Offsets.AutoCommit.Interval = 500 * time.Millisecond
	sc.Consumer.Fetch.Max = int32(2*l.Kafka.MaxMessageBytes + 64<<10)
	// Let the broker gather a little before answering a fetch: without a
	// minimum, every fetch returns as soon as one record arrives, and at a
	// moderate rate the process spends more CPU on fetch round trips than
	// on deliveries. The wait bounds the latency this adds.
	sc.Consumer.Fetch.Min = fetchMinBytes
	sc.Consumer.MaxWaitTime = fetchMaxWait
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	return sc, nil
}

func listen(l *config.Loaded, h http.Handler) (*http.Server, net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", l.HTTP.Addr)
	if err != nil {
		return nil, nil, &config.Error{Key: "http.addr", Source: l.Source("http.addr"), Msg: err.Error()}
	}
	// WriteTimeout bounds ordinary answers; the live stream extends its
	// own deadline write by write.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	return srv, ln, nil
}

func newLogger(w interface{ Write([]byte) (int, error) }, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	hopts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, hopts))
	}
	return slog.New(slog.NewJSONHandler(w, hopts))
}

// eventsTopics are the configured events topics and the raw payload
// topics, each once.
func eventsTopics(l *config.Loaded) []string {
	topics := append([]string{}, l.Kafka.EventsTopics...)
	for topic := range l.RawTopics() {
		if !slices.Contains(topics, topic) {
			topics = append(topics, topic)
		}
	}
	return topics
}

// servePprof serves Go's profiles on a listener of their own, so that they
// are never exposed with the API by accident.
func servePprof(ctx context.Context, g *errgroup.Group, l *config.Loaded, log *slog.Logger) (func(), error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", l.HTTP.PprofAddr)
	if err != nil {
		return nil, &config.Error{Key: "http.pprof_addr", Source: l.Source("http.pprof_addr"), Msg: err.Error()}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		return srv.Close()
	})
	log.Warn("serving Go profiles; keep this address private", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
