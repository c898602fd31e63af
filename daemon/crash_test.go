package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage/postgres"
	"github.com/hookd/hookd/storage/storagetest"
)

// Invariant 1 (nothing lost) against the real binary: a dispatcher killed
// with SIGKILL at random moments while deliveries are in flight, and
// restarted in the same consumer group, ends up delivering every
// (event, endpoint) pair at least once. After each kill, every event below
// the committed offsets must have all its deliveries. Duplicates are
// allowed only for work a kill left uncommitted, so they are counted
// against it.
func TestCrashLosesNothing(t *testing.T) {
	k := testenv.KafkaEnv(t)
	dsn := testenv.PostgresDSN(t)
	begin := time.Now()
	// The test stays under 4 minutes: this bounds everything but the
	// final graceful stop, which gets 60s of its own.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute+50*time.Second)
	defer cancel()
	// The daemons outlive ctx by the time the graceful stop may take.
	procCtx, procCancel := context.WithTimeout(context.Background(), 3*time.Minute+55*time.Second)
	defer procCancel()

	bin := buildHookd(ctx, t)
	t.Logf("built %s in %v", bin, time.Since(begin).Round(time.Millisecond))

	if _, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	raw, _ := secretbox.ParseKey(key)
	box, _ := secretbox.New(raw)
	store, err := postgres.Open(ctx, dsn, box)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	// The ledger: every delivery received, by webhook-id (event id +
	// endpoint id, stable across replays).
	var (
		mu     sync.Mutex
		ledger = map[string]int{}
		total  int // deliveries received, duplicates included
	)
	counts := func() (unique, all int) {
		mu.Lock()
		defer mu.Unlock()
		return len(ledger), total
	}
	// Messages the daemon works on at once; small, so that what a kill
	// leaves uncommitted stays small too.
	const maxInFlight = 100
	var endpointIDs []string
	for range 2 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			// Work stays in flight a little, so kills land mid-delivery.
			time.Sleep(time.Duration(rand.IntN(21)) * time.Millisecond)
			mu.Lock()
			ledger[r.Header.Get("webhook-id")]++
			total++
			mu.Unlock()
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(srv.Close)
		e, sec := storagetest.NewEndpoint("", "order.*")
		e.URL, e.Headers, e.RateLimit, e.Timeout = srv.URL, nil, 0, 0
		// Room for every message in flight: no delivery is refused as
		// saturated (and parked in a retry tier), so every duplicate is
		// a message replayed after a kill.
		e.MaxConcurrency = maxInFlight
		if err := store.CreateEndpoint(ctx, e, sec); err != nil {
			t.Fatal(err)
		}
		endpointIDs = append(endpointIDs, e.ID)
	}

	eventsTopic := k.Topics(t, 1, 3)[0]
	prefix := testenv.UniqueName(t, "t.", 80)
	// The daemon's settings come only from here, not from the caller's
	// HOOKD_* variables.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKD_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HOOKD_ENCRYPTION_KEY="+key,
		"HOOKD_POSTGRES_DSN="+dsn,
		"HOOKD_KAFKA_BROKERS="+strings.Join(k.Brokers, ","),
		"HOOKD_KAFKA_SASL_MECHANISM="+kafka.MechanismSCRAMSHA512,
		"HOOKD_KAFKA_SASL_USERNAME="+k.ScramUser,
		"HOOKD_KAFKA_SASL_PASSWORD="+k.ScramPassword,
		"HOOKD_KAFKA_EVENTS_TOPICS="+eventsTopic,
		"HOOKD_KAFKA_ATTEMPTS_TOPIC="+prefix+".attempts",
		"HOOKD_KAFKA_RETRY_PREFIX="+prefix+".retry.",
		"HOOKD_KAFKA_CONSUMER_GROUP="+prefix,
		"HOOKD_DELIVERY_ALLOW_CIDRS=127.0.0.0/8",
		fmt.Sprintf("HOOKD_DELIVERY_MAX_IN_FLIGHT=%d", maxInFlight),
		"HOOKD_LOG_LEVEL=info",
		"HOOKD_LOG_FORMAT=text",
	)

	// The events, keyed by id. The producer partitions by key hash and
	// keeps order within a partition, and the topic is new, so each
	// event's partition and offset are known in advance: after each kill
	// the offsets the group committed say which deliveries must already
	// have arrived.
	const (
		n          = 5000
		kills      = 3
		partitions = 3
		batch      = 5
	)
	want := len(endpointIDs) * n
	type published struct {
		partition  int32
		offset     int64
		deliveries []string
	}
	msgs := make([]*sarama.ProducerMessage, n)
	pub := make([]published, n)
	expected := make(map[string]bool, want)
	hash := sarama.NewHashPartitioner(eventsTopic)
	var next [partitions]int64
	for i := range msgs {
		ev := domain.Event{ID: ids.New(ids.Event), Type: "order.created", Time: time.Now().UTC(), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		b, err := events.MarshalEnvelope(ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = &sarama.ProducerMessage{Topic: eventsTopic, Key: sarama.StringEncoder(ev.ID), Value: sarama.ByteEncoder(b)}
		part, err := hash.Partition(msgs[i], partitions)
		if err != nil {
			t.Fatal(err)
		}
		pub[i] = published{partition: part, offset: next[part]}
		next[part]++
		for _, ep := range endpointIDs {
			id := domain.DeliveryID(ev.ID, ep)
			expected[id] = true
			pub[i].deliveries = append(pub[i].deliveries, id)
		}
	}
	producer, err := kafka.NewProducer(ctx, k.Config(kafka.MechanismSCRAMSHA512), kafka.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	sc, err := k.Config(kafka.MechanismSCRAMSHA512).Sarama()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sarama.NewClusterAdmin(k.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	committed := func() [partitions]int64 {
		t.Helper()
		r, err := admin.ListConsumerGroupOffsets(prefix, map[string][]int32{eventsTopic: {0, 1, 2}})
		if err != nil {
			t.Fatalf("committed offsets: %v", err)
		}
		var o [partitions]int64
		for p := range int32(partitions) {
			o[p] = -1
			if b := r.GetBlock(eventsTopic, p); b != nil {
				o[p] = b.Offset
			}
		}
		return o
	}

	var logs lockedBuffer
	fail := func(format string, args ...any) {
		t.Helper()
		u, a := counts()
		t.Fatalf("%s\n(%d of %d deliveries, %d received in all)\ndaemon logs:\n%s", fmt.Sprintf(format, args...), u, want, a, logs.tail(16<<10))
	}
	// checkCommitted fails the test if an event below a committed offset
	// is missing a delivery: its offset moved before its work was done.
	// It returns the offsets and how many deliveries already made are of
	// events at or above them: the work a restart may replay.
	checkCommitted := func(when string) (c [partitions]int64, replayable int) {
		t.Helper()
		c = committed()
		mu.Lock()
		defer mu.Unlock()
		lost := 0
		for _, p := range pub {
			for _, id := range p.deliveries {
				switch {
				case p.offset >= c[p.partition]:
					if ledger[id] > 0 {
						replayable++
					}
				case ledger[id] == 0:
					lost++
				}
			}
		}
		if lost > 0 {
			t.Errorf("%s: %d deliveries of events below the committed offsets %v never arrived", when, lost, c)
		}
		return c, replayable
	}

	// The publisher spreads the events over about 40s in small batches,
	// so work is in flight most of the time and the daemon is killed both
	// while keeping up and while catching up on a backlog.
	publishErr := make(chan error, 1)
	go func() {
		for i := 0; i < n; i += batch {
			if err := producer.Produce(ctx, msgs[i:min(i+batch, n)]); err != nil {
				publishErr <- err
				return
			}
			select {
			case <-time.After(40 * time.Millisecond):
			case <-ctx.Done():
			}
		}
		publishErr <- nil
	}()

	var (
		d          *daemonProc
		allowance  int   // duplicates the kills may cause
		lastCommit int64 // sum of the committed offsets at the last kill
	)
	for life := range kills + 1 {
		d = startHookd(procCtx, t, bin, env, &logs, life)
		startedAt := time.Now()
		_, a0 := counts()

		// Progress: the first delivery of this life shows the group has
		// been joined; the time it takes is mostly the broker waiting for
		// the killed member's session to expire.
		if !waitFor(ctx, d, 90*time.Second, func() bool { _, a := counts(); return a > a0 }) {
			fail("life %d: no delivery within 90s of start (exited: %v)", life, d.exitErr())
		}
		firstAt := time.Now()
		t.Logf("life %d: first delivery %v after start", life, firstAt.Sub(startedAt).Round(time.Millisecond))
		if life == kills {
			break
		}

		// A random moment in the first 3s of work: the first second or
		// so drains the backlog of the restart, then the daemon keeps up
		// with the publisher.
		time.Sleep(100*time.Millisecond + rand.N(2900*time.Millisecond))
		u0, a0 := counts()
		worked := time.Since(firstAt)
		d.kill(t)
		// Requests the dead process had sent still finish at the
		// receivers; let them land before counting or checking.
		time.Sleep(200 * time.Millisecond)
		_, a := counts()
		c, replayable := checkCommitted(fmt.Sprintf("after kill %d", life+1))
		allowance += replayable
		t.Logf("life %d: SIGKILL after %v, at %d of %d deliveries (%d received in all, %d of them after the kill); committed %v; %d deliveries done but not committed",
			life, time.Since(startedAt).Round(time.Millisecond), u0, want, a0, a-a0, c, replayable)
		// A life that worked for a second (two auto-commit intervals) must
		// have committed something.
		sum := c[0] + c[1] + c[2]
		if sum <= lastCommit && worked >= time.Second {
			t.Errorf("life %d worked %v and committed nothing (offsets %v)", life, worked.Round(time.Millisecond), c)
		}
		lastCommit = max(lastCommit, sum)
	}

	// The last life runs until every delivery has arrived (or ctx ends).
	if !waitFor(ctx, d, 3*time.Minute, func() bool { u, _ := counts(); return u >= want }) {
		mu.Lock()
		missing := 0
		for id := range expected {
			if ledger[id] == 0 {
				missing++
			}
		}
		mu.Unlock()
		fail("%d deliveries never arrived (exited: %v)", missing, d.exitErr())
	}
	if err := <-publishErr; err != nil {
		t.Fatalf("publish: %v", err)
	}
	// A moment for late duplicates (replayed work still in flight).
	time.Sleep(time.Second)

	stopAt := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
		if err := d.exitErr(); err != nil {
			fail("hookd after SIGTERM: %v", err)
		}
		t.Logf("SIGTERM: exited 0 in %v", time.Since(stopAt).Round(time.Millisecond))
	case <-time.After(60 * time.Second):
		fail("hookd did not exit within 60s of SIGTERM")
	}
	// A graceful stop commits everything: the group ends at the end of
	// every partition.
	if c, _ := checkCommitted("after SIGTERM"); c != next {
		t.Errorf("committed offsets after SIGTERM %v, want the ends of the partitions %v", c, next)
	}

	mu.Lock()
	defer mu.Unlock()
	var dupes, maxCount int
	for id, c := range ledger {
		if !expected[id] {
			t.Errorf("unexpected delivery %s (%d times)", id, c)
			continue
		}
		dupes += c - 1
		maxCount = max(maxCount, c)
	}
	lost := 0
	for id := range expected {
		if ledger[id] == 0 {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d deliveries lost", lost, want)
	}
	t.Logf("%d deliveries, %d received in all: %d duplicates (%.2f%%; %d uncommitted at the kills), at most %d copies of one; %v in all",
		want, total, dupes, 100*float64(dupes)/float64(want), allowance, maxCount, time.Since(begin).Round(time.Millisecond))
	// Duplicates come only from work a kill left uncommitted (in flight,
	// or done within the last auto-commit interval): at most one copy per
	// kill of each delivery that was above the committed offsets then. A
	// regression that replays everything shows here, and in the committed
	// offsets above.
	if dupes > allowance {
		t.Errorf("%d duplicates, but the kills left only %d deliveries uncommitted", dupes, allowance)
	}
	if dupes*2 >= want {
		t.Errorf("%d duplicates: half of the %d deliveries were replayed", dupes, want)
	}
	if t.Failed() {
		t.Logf("daemon logs:\n%s", logs.tail(16<<10))
	}
}

// buildHookd builds cmd/hookd into a temporary directory.
func buildHookd(ctx context.Context, t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("go env GOMOD: not in a module")
	}
	bin := filepath.Join(t.TempDir(), "hookd")
	bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, "go", "build", "-o", bin, "./cmd/hookd")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/hookd: %v\n%s", err, out)
	}
	return bin
}

// daemonProc is one life of the daemon.
type daemonProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait has returned
	err  error         // Wait's result, set before done is closed
}

func (d *daemonProc) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// exitErr is nil while the process runs or if it exited 0.
func (d *daemonProc) exitErr() error {
	if !d.exited() {
		return nil
	}
	return d.err
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *daemonProc) kill(t *testing.T) {
	t.Helper()
	if d.exited() {
		t.Fatalf("hookd exited before it was killed: %v", d.err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatal("hookd still running 10s after SIGKILL")
	}
	var ee *exec.ExitError
	if !errors.As(d.err, &ee) {
		t.Fatalf("hookd after SIGKILL: %v", d.err)
	}
}

// startHookd starts `hookd serve --roles dispatch`, its stderr appended to
// logs (stdout too); the process is killed when ctx ends or the test ends.
func startHookd(ctx context.Context, t *testing.T, bin string, env []string, logs *lockedBuffer, life int) *daemonProc {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, "serve", "--roles", "dispatch", "--http-addr", "127.0.0.1:0")
	cmd.Env = env
	cmd.Stdout = logs.prefixed(fmt.Sprintf("[life %d] ", life))
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start hookd: %v", err)
	}
	d := &daemonProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		if !d.exited() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-d.done
		}
	})
	return d
}

// waitFor polls cond every 50ms until it holds (true), or the process
// exits, the timeout passes or ctx ends (false).
func waitFor(ctx context.Context, d *daemonProc, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if d.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			return cond()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedBuffer collects the output of every life of the daemon.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

type prefixWriter struct {
	b      *lockedBuffer
	prefix string
	atBOL  bool
}

func (b *lockedBuffer) prefixed(prefix string) io.Writer {
	return &prefixWriter{b: b, prefix: prefix, atBOL: true}
}

// Write is called by one copying goroutine per process.
func (w *prefixWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if w.atBOL {
			w.b.buf.WriteString(w.prefix)
		}
		w.b.buf.Write(line)
		w.atBOL = line[len(line)-1] == '\n'
	}
	return len(p), nil
}

// tail returns the last n bytes written.
func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
