// Command bench is hookd's end-to-end benchmark harness (issue #10). It
// runs a whole hookd (`hookd serve`, all roles, a separate process) on the
// services of scripts/testenv, feeds it from an open-model Kafka producer
// and measures deliveries at a receiver serving many loopback endpoints,
// with per-process CPU and memory read from /proc.
//
//	bench run -scenario S1|S2|S3|S4|S5|ALL [flags]   run scenarios, print tables, write JSON
//	bench receive [flags]                              the receiver (started by run)
//	bench produce [flags]                              publish events at a fixed rate
//
// `make bench SCENARIO=S1` builds hookd and bench and runs them against
// scripts/testenv. See docs/performance.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hookd/hookd/internal/kafka"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(os.Args[2:])
	case "receive":
		err = cmdReceive(os.Args[2:])
	case "produce":
		err = cmdProduce(os.Args[2:])
	case "-h", "--help", "help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  bench run -scenario S1|S2|S3|S4|S5|ALL [flags]   run scenarios against scripts/testenv (see -h)
  bench receive [flags]                              serve N loopback endpoints (started by run)
  bench produce [flags]                              publish bench events at a fixed rate
`)
}

func pidSelf() int { return os.Getpid() }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// kafkaFlags registers the Kafka connection flags, defaulting to
// scripts/testenv's variables.
func kafkaFlags(fs *flag.FlagSet) func() kafka.Config {
	brokers := fs.String("brokers", envOr("HOOKD_TEST_KAFKA_BROKERS", "127.0.0.1:19092"), "Kafka brokers")
	mech := fs.String("sasl-mechanism", "SCRAM-SHA-512", "SASL mechanism (empty: none)")
	user := fs.String("sasl-user", envOr("HOOKD_TEST_KAFKA_SCRAM_USER", "hookd-scram"), "SASL user")
	pass := fs.String("sasl-password", envOr("HOOKD_TEST_KAFKA_SCRAM_PASSWORD", "hookd-scram-secret"), "SASL password")
	return func() kafka.Config {
		return kafka.Config{Brokers: strings.Split(*brokers, ","), SASL: kafka.SASLConfig{Mechanism: *mech, Username: *user, Password: *pass}, DialTimeout: 10 * time.Second}
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for p := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a list of positive numbers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	scenario := fs.String("scenario", "ALL", "S1, S2, S3, S4, S5, a comma-separated list, or ALL")
	kcfg := kafkaFlags(fs)
	pg := fs.String("postgres", envOr("HOOKD_TEST_POSTGRES_DSN", "postgres://hookd:hookd@127.0.0.1:15432/postgres?sslmode=disable"), "PostgreSQL DSN allowed to create databases")
	cass := fs.String("cassandra", envOr("HOOKD_TEST_CASSANDRA_HOSTS", "127.0.0.1:19042"), "Cassandra hosts")
	testenvDir := fs.String("testenv-dir", envOr("HOOKD_TESTENV_DIR", ".cache/testenv"), "scripts/testenv state (pid files of Kafka, Cassandra, PostgreSQL)")
	hookdBin := fs.String("hookd", "", "hookd binary (default: go build ./cmd/hookd into the work dir)")
	workDir := fs.String("work", ".cache/bench", "directory for logs and builds")
	resultsDir := fs.String("results", "bench/results", "directory of the JSON results")
	partitions := fs.Int("partitions", 6, "partitions of the events topic and of hookd's own topics")
	verify := fs.Bool("verify", false, "receiver verifies every signature and webhook-id (costs receiver CPU)")
	keep := fs.Bool("keep", false, "keep each scenario's database, keyspace and topics")
	split := fs.Bool("split-logwriter", false, "run the logwriter role in a second hookd process (CPU and RSS reported apart as hookd-logwriter)")
	var hookdEnv multiFlag
	fs.Var(&hookdEnv, "hookd-env", "extra KEY=VALUE for hookd (repeatable), e.g. HOOKD_DELIVERY_MAX_IN_FLIGHT=4000")
	var set settings
	fs.IntVar(&set.Endpoints, "endpoints", 100, "endpoints (receiver ports)")
	fs.IntVar(&set.Size, "size", 1024, "bytes of event data")
	fs.Float64Var(&set.S1Start, "s1-start", 500, "S1: first offered rate, deliveries/s")
	fs.Float64Var(&set.S1Factor, "s1-factor", 1.6, "S1: rate multiplier while hookd keeps up")
	fs.DurationVar(&set.S1Step, "s1-step", 15*time.Second, "S1: duration of each rate step (the last 2/3 are measured)")
	fs.IntVar(&set.S1MaxSteps, "s1-max-steps", 7, "S1: steps per fan-out (ramp, then bisection)")
	fanouts := fs.String("s1-fanouts", "1,10", "S1: subscriptions per event to measure")
	fs.DurationVar(&set.S2Duration, "s2-duration", 30*time.Second, "S2: duration of each load level")
	fs.Float64Var(&set.S2Max, "s2-max", 0, "S2: deliveries/s taken as 100 % (default: S1's maximum for -s2-fanout, from this run or the newest S1 result)")
	fs.IntVar(&set.S2Fanout, "s2-fanout", 1, "S2: subscriptions per event")
	fs.DurationVar(&set.S3Duration, "s3-duration", 60*time.Second, "S3: duration of the faulty load")
	fs.Float64Var(&set.S3Rate, "s3-rate", 0, "S3: deliveries/s (default: half of S1's maximum at fan-out 1)")
	fs.Uint64Var(&set.S4Events, "s4-events", 100000, "S4: events produced while hookd is stopped (the issue asks for 1000000)")
	fs.DurationVar(&set.S4Timeout, "s4-timeout", 6*time.Minute, "S4: longest drain")
	fs.Uint64Var(&set.S5Retries, "s5-retries", 100000, "S5: deliveries parked in retry tiers")
	fs.Float64Var(&set.S5Rate, "s5-rate", 0, "S5: events/s (0: as fast as Kafka takes them)")
	fs.DurationVar(&set.S5Hold, "s5-hold", 60*time.Second, "S5: how long to watch hookd with the retries pending")
	_ = fs.Parse(args)
	var err error
	if set.S1Fanouts, err = parseInts(*fanouts); err != nil {
		return err
	}
	for _, f := range append(append([]int{}, set.S1Fanouts...), set.S2Fanout) {
		if set.Endpoints%f != 0 {
			return fmt.Errorf("fan-out %d does not divide %d endpoints", f, set.Endpoints)
		}
	}
	benchSize = set.Size
	var scenarios []string
	if strings.EqualFold(*scenario, "ALL") {
		scenarios = []string{"S1", "S2", "S3", "S4", "S5"}
	} else {
		for s := range strings.SplitSeq(*scenario, ",") {
			s = strings.ToUpper(strings.TrimSpace(s))
			switch s {
			case "S1", "S2", "S3", "S4", "S5":
				scenarios = append(scenarios, s)
			default:
				return fmt.Errorf("unknown scenario %q (want S1..S5 or ALL)", s)
			}
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, _ := filepath.Abs(*workDir)
	if err := os.MkdirAll(work, 0o750); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	bin := *hookdBin
	if bin == "" {
		bin = filepath.Join(work, "hookd")
		logf("building hookd into %s", bin)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/hookd") //nolint:gosec // bin comes from -work
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/hookd: %w", err)
		}
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	e := &env{
		kafka: kcfg(), pgAdminDSN: *pg, cassHosts: *cass, testenvDir: *testenvDir, hookd: bin, self: self,
		workDir: work, partitions: *partitions, hookdEnv: hookdEnv, verify: *verify, keep: *keep, splitLogWriter: *split, log: logf,
	}
	if e.testenvDir, err = filepath.Abs(e.testenvDir); err != nil {
		return err
	}
	r := &runner{env: e, set: set, prev: map[string]*result{}, dir: *resultsDir}
	mi := readMachineInfo()
	logf("machine: %d CPUs (%s), %.1f GiB, load %s", mi.CPUs, mi.CPUModel, mi.MemoryGiB, mi.LoadAvg)
	var failed []string
	for _, sc := range scenarios {
		if ctx.Err() != nil {
			break
		}
		logf("%s: starting", sc)
		started := time.Now()
		mi := readMachineInfo()
		var res *result
		switch sc {
		case "S1":
			res, err = r.s1(ctx)
		case "S2":
			res, err = r.s2(ctx)
		case "S3":
			res, err = r.s3(ctx)
		case "S4":
			res, err = r.s4(ctx)
		case "S5":
			res, err = r.s5(ctx)
		}
		if err != nil {
			logf("%s failed: %v", sc, err)
			failed = append(failed, sc)
			continue
		}
		res.Started, res.Finished, res.Machine, res.Settings = started, time.Now(), mi, set
		res.Notes = append(res.Notes, "shared machine: other_cores is CPU used by processes the bench does not know (other engineers' work); figures are noisy when it is high")
		r.prev[sc] = res
		file, err := writeResult(*resultsDir, res)
		if err != nil {
			logf("%s: writing the result: %v", sc, err)
		}
		printResult(os.Stdout, res)
		fmt.Printf("  written to %s\n", file)
	}
	if len(failed) > 0 {
		return fmt.Errorf("scenarios failed: %s", strings.Join(failed, ", "))
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return nil
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// cmdProduce publishes bench events, for trying a hookd by hand.
func cmdProduce(args []string) error {
	fs := flag.NewFlagSet("produce", flag.ExitOnError)
	kcfg := kafkaFlags(fs)
	topic := fs.String("topic", "hookd.events", "events topic")
	rate := fs.Float64("rate", 1000, "events/s (0: as fast as possible)")
	d := fs.Duration("d", 10*time.Second, "how long to publish")
	count := fs.Uint64("n", 0, "stop after this many events (0: no limit)")
	endpoints := fs.Int("endpoints", 100, "endpoints the types are spread over (bench.f<fanout>.<k>)")
	fanout := fs.Int("fanout", 1, "subscriptions per event")
	size := fs.Int("size", 1024, "bytes of event data")
	prefix := fs.String("id-prefix", "bench-"+randomSuffix()+"-", "event id prefix")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	p, err := newProducer(kcfg(), *topic, *prefix, *size, *endpoints)
	if err != nil {
		return err
	}
	t0 := time.Now()
	sent, err := p.run(ctx, *rate, *d, *count, *fanout)
	if err != nil {
		return err
	}
	if err := p.settle(ctx, time.Minute); err != nil {
		return err
	}
	_ = p.close()
	c := p.counts()
	fmt.Printf("sent %d, acknowledged %d, failed %d in %.1fs (%.0f/s)\n", sent, c.Published, c.Failed, time.Since(t0).Seconds(), float64(c.Published)/time.Since(t0).Seconds())
	if e := p.lastErr.Load(); e != nil {
		fmt.Printf("last error: %s\n", *e)
	}
	return nil
}
