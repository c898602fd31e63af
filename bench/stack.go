package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/jackc/pgx/v5"

	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/retry"
	"github.com/hookd/hookd/internal/signature"
)

// env is where the services are and what the bench runs.
type env struct {
	kafka      kafka.Config
	pgAdminDSN string
	cassHosts  string
	testenvDir string
	hookd      string // hookd binary
	self       string // this binary (for `receive`)
	workDir    string // logs of this run
	partitions int
	hookdEnv   []string // extra HOOKD_* settings for every hookd
	verify     bool
	keep       bool
	// splitLogWriter runs the logwriter role in a second hookd process,
	// so its CPU and memory are told apart from dispatch's.
	splitLogWriter bool
	log            func(format string, args ...any)
}

// encryptionKey encrypts the bench endpoints' secrets at rest (any key
// will do; the databases are thrown away).
const encryptionKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// stackSpec says what a scenario needs.
type stackSpec struct {
	endpoints      int
	fanouts        []int  // event-type families; see eventType
	receiverSpec   string // see parseSpec
	maxConcurrency int    // per endpoint; 0: hookd's default
	// retryFor returns the retry policy of an endpoint with the given
	// behavior (nil: hookd's default schedule).
	retryFor func(b string) *wire.RetryPolicy
}

// stack is one isolated hookd deployment on the shared services: its own
// PostgreSQL database, Cassandra keyspace, topics and consumer groups.
type stack struct {
	env           *env
	name          string
	db            string
	keyspace      string
	eventsTopic   string
	attemptsTopic string
	retryPrefix   string
	group         string
	dsn           string
	apiAddr       string
	apiKey        string
	client        *wire.Client
	secret        string
	hookdCmd      *exec.Cmd
	hookdDone     chan error
	hookdStarts   int
	lwCmd         *exec.Cmd
	lwDone        chan error
	recv          *receiverProc
	endpointIDs   []string
	prod          *producer
	lag           *lagReader
	spec          stackSpec
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newStack creates the databases and topics, starts the receiver and
// hookd, and creates the endpoints.
func newStack(ctx context.Context, e *env, scenario string, spec stackSpec) (s *stack, err error) {
	name := "bench_" + strings.ToLower(scenario) + "_" + time.Now().UTC().Format("0102t150405") + "_" + randomSuffix()
	dotted := strings.ReplaceAll(name, "_", ".")
	s = &stack{
		env: e, name: name, db: name, keyspace: name, spec: spec,
		eventsTopic: dotted + ".events", attemptsTopic: dotted + ".attempts", retryPrefix: dotted + ".retry.",
		group: strings.ReplaceAll(name, "_", "-"), secret: signature.GenerateSecret(),
	}
	defer func() {
		if err != nil {
			s.teardown()
			s = nil
		}
	}()
	e.log("%s: database, keyspace and topics %s", scenario, name)
	if err := s.createDatabase(ctx); err != nil {
		return s, err
	}
	if _, err := kafka.EnsureTopics(ctx, e.kafka, []kafka.TopicSpec{{Name: s.eventsTopic, Partitions: int32(e.partitions)}}); err != nil {
		return s, fmt.Errorf("events topic: %w", err)
	}
	if out, err := s.hookdRun(ctx, "migrate"); err != nil {
		return s, fmt.Errorf("hookd migrate: %w\n%s", err, out)
	}
	out, err := s.hookdRun(ctx, "keys", "create", "--name", "bench", "--scope", "admin", "-o", "json")
	if err != nil {
		return s, fmt.Errorf("hookd keys create: %w\n%s", err, out)
	}
	var kc wire.KeyCreated
	if err := json.Unmarshal(out, &kc); err != nil || kc.Key == "" {
		return s, fmt.Errorf("hookd keys create printed %q", out)
	}
	s.apiKey = kc.Key
	if s.lag, err = newLagReader(e.kafka); err != nil {
		return s, err
	}
	args := []string{"-endpoints", strconv.Itoa(spec.endpoints), "-spec", spec.receiverSpec, "-secret", s.secret}
	if e.verify {
		args = append(args, "-verify")
	}
	if s.recv, err = startReceiver(ctx, e.self, filepath.Join(e.workDir, name+".receiver.log"), args...); err != nil {
		return s, err
	}
	if err := s.startHookd(ctx); err != nil {
		return s, err
	}
	if err := s.createEndpoints(ctx); err != nil {
		return s, err
	}
	if s.prod, err = newProducer(e.kafka, s.eventsTopic, name+"-", benchSize, spec.endpoints); err != nil {
		return s, err
	}
	return s, nil
}

// benchSize is the data size of every event (set from -size).
var benchSize = 1024

func (s *stack) createDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.env.pgAdminDSN)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{s.db}.Sanitize()); err != nil {
		return fmt.Errorf("postgres: create database: %w", err)
	}
	u, err := url.Parse(s.env.pgAdminDSN)
	if err != nil {
		return err
	}
	u.Path = "/" + s.db
	s.dsn = u.String()
	return nil
}

// tierTopics are hookd's retry tier topics for this stack.
func (s *stack) tierTopics() []string { return retry.DefaultTiers().Topics(s.retryPrefix) }

// hookdEnviron is the environment every hookd of this stack runs with;
// roles, when set, picks the roles.
func (s *stack) hookdEnviron(roles ...string) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKD_") {
			env = append(env, kv)
		}
	}
	k := s.env.kafka
	env = append(env,
		"HOOKD_ENCRYPTION_KEY="+encryptionKey,
		"HOOKD_POSTGRES_DSN="+s.dsn,
		"HOOKD_CASSANDRA_HOSTS="+s.env.cassHosts,
		"HOOKD_CASSANDRA_KEYSPACE="+s.keyspace,
		"HOOKD_CASSANDRA_CONSISTENCY=ONE",
		"HOOKD_KAFKA_BROKERS="+strings.Join(k.Brokers, ","),
		"HOOKD_KAFKA_SASL_MECHANISM="+k.SASL.Mechanism,
		"HOOKD_KAFKA_SASL_USERNAME="+k.SASL.Username,
		"HOOKD_KAFKA_SASL_PASSWORD="+k.SASL.Password,
		"HOOKD_KAFKA_EVENTS_TOPICS="+s.eventsTopic,
		"HOOKD_KAFKA_ATTEMPTS_TOPIC="+s.attemptsTopic,
		"HOOKD_KAFKA_RETRY_PREFIX="+s.retryPrefix,
		"HOOKD_KAFKA_CONSUMER_GROUP="+s.group,
		"HOOKD_KAFKA_OWN_PARTITIONS="+strconv.Itoa(s.env.partitions),
		"HOOKD_DELIVERY_ALLOW_CIDRS=127.0.0.0/8",
		"HOOKD_LOG_LEVEL=warn",
	)
	if s.apiAddr != "" {
		env = append(env, "HOOKD_HTTP_ADDR="+s.apiAddr)
	}
	if len(roles) > 0 {
		env = append(env, "HOOKD_ROLES="+strings.Join(roles, ","))
	}
	return append(env, s.env.hookdEnv...)
}

// hookdRun runs a one-shot hookd command and returns its stdout.
func (s *stack) hookdRun(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.env.hookd, args...) //nolint:gosec // the hookd binary under test
	cmd.Env = s.hookdEnviron()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.String()...), err
	}
	return out, nil
}

func freePort() (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startHookd starts `hookd serve` (all roles, or api and dispatch plus a
// logwriter process with -split-logwriter) and waits until /readyz says
// ready.
func (s *stack) startHookd(ctx context.Context) error {
	if s.apiAddr == "" {
		addr, err := freePort()
		if err != nil {
			return err
		}
		s.apiAddr = addr
	}
	s.hookdStarts++
	logPath := filepath.Join(s.env.workDir, fmt.Sprintf("%s.hookd.%d.log", s.name, s.hookdStarts))
	lf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := hookdCommand(ctx, s.env.hookd)
	if s.env.splitLogWriter {
		cmd.Env = s.hookdEnviron("api", "dispatch")
		if err := s.startLogWriter(ctx); err != nil {
			lf.Close()
			return err
		}
	} else {
		cmd.Env = s.hookdEnviron()
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	lf.Close()
	s.hookdCmd = cmd
	s.hookdDone = make(chan error, 1)
	go func() { s.hookdDone <- cmd.Wait() }()
	s.client = wire.NewClient("http://"+s.apiAddr, s.apiKey)
	deadline := time.Now().Add(2 * time.Minute)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case err := <-s.hookdDone:
			s.hookdDone <- err
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("hookd exited while starting: %w\n%s", err, tail(b, 2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.apiAddr+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("hookd not ready after 2 minutes (log: %s)", logPath)
		}
	}
}

// startLogWriter starts a hookd with only the logwriter role (it serves no
// HTTP, so it is only checked to stay up).
func (s *stack) startLogWriter(ctx context.Context) error {
	logPath := filepath.Join(s.env.workDir, fmt.Sprintf("%s.hookd-logwriter.%d.log", s.name, s.hookdStarts))
	lf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := hookdCommand(ctx, s.env.hookd)
	cmd.Env = s.hookdEnviron("logwriter")
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return err
	}
	s.lwCmd = cmd
	s.lwDone = make(chan error, 1)
	go func() { s.lwDone <- cmd.Wait() }()
	select {
	case err := <-s.lwDone:
		s.lwDone <- err
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("hookd logwriter exited: %w\n%s", err, tail(b, 2000))
	case <-time.After(time.Second):
		return nil
	}
}

// logWriterPid is the separate logwriter's pid, or nothing.
func (s *stack) logWriterPid() []int {
	if s.lwCmd == nil || s.lwCmd.Process == nil {
		return nil
	}
	select {
	case err := <-s.lwDone:
		s.lwDone <- err
		return nil
	default:
	}
	return []int{s.lwCmd.Process.Pid}
}

// hookdCommand is `hookd serve`, stopped with SIGTERM (and killed a minute
// later) if ctx ends first; stopHookd does the same otherwise.
func hookdCommand(ctx context.Context, bin string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, "serve") //nolint:gosec // the hookd binary under test
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	return cmd
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// hookdPid is the running hookd's pid, or nothing.
func (s *stack) hookdPid() []int {
	if s.hookdCmd == nil || s.hookdCmd.Process == nil {
		return nil
	}
	select {
	case err := <-s.hookdDone:
		s.hookdDone <- err
		return nil
	default:
	}
	return []int{s.hookdCmd.Process.Pid}
}

// stopHookd sends SIGTERM to our hookd and waits for it (SIGKILL after a
// minute).
func (s *stack) stopHookd() error {
	if s.lwCmd != nil {
		_ = s.lwCmd.Process.Signal(syscall.SIGTERM)
		var lwErr error
		select {
		case lwErr = <-s.lwDone:
		case <-time.After(time.Minute):
			_ = s.lwCmd.Process.Kill()
			lwErr = <-s.lwDone
		}
		if lwErr != nil {
			s.env.log("hookd logwriter stopped: %v", lwErr)
		}
		s.lwCmd = nil
	}
	if s.hookdCmd == nil {
		return nil
	}
	_ = s.hookdCmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-s.hookdDone:
	case <-time.After(time.Minute):
		_ = s.hookdCmd.Process.Kill()
		err = <-s.hookdDone
	}
	s.hookdCmd = nil
	return err
}

// createEndpoints makes one endpoint per receiver port. Endpoint i
// subscribes, for each fan-out f, to bench.f<f>.<i/f>.
func (s *stack) createEndpoints(ctx context.Context) error {
	for i, p := range s.recv.hello.Ports {
		u := fmt.Sprintf("http://127.0.0.1:%d/hook/%d", p, i)
		var types []string
		for _, f := range s.spec.fanouts {
			types = append(types, fmt.Sprintf("bench.f%d.%d", f, i/f))
		}
		desc := "bench " + s.recv.hello.Specs[i]
		in := wire.EndpointInput{URL: &u, EventTypes: &types, Description: &desc, Secret: s.secret}
		if s.spec.maxConcurrency > 0 {
			in.MaxConcurrency = &s.spec.maxConcurrency
		}
		if s.spec.retryFor != nil {
			in.RetryPolicy = s.spec.retryFor(s.recv.hello.Specs[i])
		}
		ep, err := s.client.CreateEndpoint(ctx, in)
		if err != nil {
			return fmt.Errorf("create endpoint %d: %w", i, err)
		}
		s.endpointIDs = append(s.endpointIDs, ep.Endpoint.ID)
	}
	return s.recv.setEndpoints(ctx, s.endpointIDs)
}

// warmUp waits for the subscription index to hear of the endpoints, then
// sends a few events of each fan-out and waits until they all arrived.
func (s *stack) warmUp(ctx context.Context) error {
	time.Sleep(2 * time.Second)
	for _, f := range s.spec.fanouts {
		n := uint64(s.spec.endpoints / f)
		if _, err := s.prod.run(ctx, 200, 0, n, f); err != nil {
			return err
		}
	}
	if err := s.prod.settle(ctx, 30*time.Second); err != nil {
		return err
	}
	return s.waitDelivered(ctx, 60*time.Second)
}

// waitDelivered waits until every expected delivery to a healthy endpoint
// has arrived (all endpoints must be healthy for this to end early).
func (s *stack) waitDelivered(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		snap, err := s.recv.snapshot(ctx)
		if err != nil {
			return err
		}
		want := s.prod.counts().Expected
		if snap.Delivered() >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d deliveries arrived after %v", snap.Delivered(), want, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// deadLetters counts distinct dead-lettered deliveries of this stack's
// endpoints through GET /v1/dlq, per endpoint.
func (s *stack) deadLetters(ctx context.Context) (uint64, error) {
	var n uint64
	for _, id := range s.endpointIDs {
		seen := map[string]bool{}
		cursor := ""
		for {
			page, err := s.client.ListDeadLetters(ctx, wire.ListQuery{EndpointID: id, Limit: 1000, Cursor: cursor})
			if err != nil {
				return n, err
			}
			for _, d := range page.Items {
				seen[d.DeliveryID] = true
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		n += uint64(len(seen))
	}
	return n, nil
}

// teardown stops what the stack started and drops its databases and
// topics (unless -keep).
func (s *stack) teardown() {
	if s.prod != nil {
		_ = s.prod.close()
	}
	if err := s.stopHookd(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 0 {
			s.env.log("hookd stopped: %v", err)
		}
	}
	if s.recv != nil {
		s.recv.stop()
	}
	if s.lag != nil {
		s.lag.close()
	}
	if s.env.keep {
		s.env.log("kept database, keyspace and topics %s", s.name)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if s.dsn != "" {
		if conn, err := pgx.Connect(ctx, s.env.pgAdminDSN); err == nil {
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s.db}.Sanitize()+" WITH (FORCE)"); err != nil {
				s.env.log("drop database %s: %v", s.db, err)
			}
			conn.Close(ctx)
		}
	}
	if err := dropKeyspace(ctx, s.env.cassHosts, s.keyspace); err != nil {
		s.env.log("drop keyspace %s: %v", s.keyspace, err)
	}
	if err := deleteTopics(s.env.kafka, append([]string{s.eventsTopic, s.attemptsTopic}, s.tierTopics()...)); err != nil {
		s.env.log("delete topics: %v", err)
	}
}

func dropKeyspace(ctx context.Context, hosts, keyspace string) error {
	cluster := gocql.NewCluster()
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(strings.TrimSpace(h))
		if err != nil {
			return err
		}
		p, _ := strconv.Atoi(port)
		cluster.Hosts = append(cluster.Hosts, host)
		cluster.Port = p
	}
	cluster.Timeout = 60 * time.Second
	cluster.ConnectTimeout = 10 * time.Second
	sess, err := cluster.CreateSession()
	if err != nil {
		return err
	}
	defer sess.Close()
	return sess.Query("DROP KEYSPACE IF EXISTS " + keyspace).ExecContext(ctx)
}

func deleteTopics(kcfg kafka.Config, topics []string) error {
	sc, err := kcfg.Sarama()
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdmin(kcfg.Brokers, sc)
	if err != nil {
		return err
	}
	defer admin.Close()
	var errs []error
	for _, t := range topics {
		if err := admin.DeleteTopic(t); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			errs = append(errs, fmt.Errorf("%s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}
