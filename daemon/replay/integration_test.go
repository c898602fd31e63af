package replay_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/daemon/dispatch"
	"github.com/hookd/hookd/daemon/replay"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/retry"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage"
	"github.com/hookd/hookd/storage/cassandra"
	"github.com/hookd/hookd/storage/postgres"
	"github.com/hookd/hookd/storage/storagetest"
)

// services are the real stores and broker of one test: a fresh
// PostgreSQL database for jobs, a fresh Cassandra keyspace for the DLQ,
// and fresh retry tier topics.
type services struct {
	t        *testing.T
	jobs     *postgres.Store
	dlq      *cassandra.Store
	producer *kafka.Producer
	kcfg     kafka.Config
	prefix   string
	tiers    retry.Tiers
}

func newServices(t *testing.T) *services {
	t.Helper()
	k := testenv.KafkaEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := &services{t: t, kcfg: k.Config(kafka.MechanismSCRAMSHA512)}

	dsn := testenv.PostgresDSN(t)
	if _, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{}); err != nil {
		t.Fatalf("postgres migrate: %v", err)
	}
	var err error
	if s.jobs, err = postgres.Open(ctx, dsn, storagetest.NewBox(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.jobs.Close)

	ks, session := testenv.CassandraKeyspace(t)
	if _, err := cassandra.Migrate(ctx, session, cassandra.MigrateOptions{Keyspace: ks}); err != nil {
		t.Fatalf("cassandra migrate: %v", err)
	}
	cluster := testenv.CassandraCluster(t, ks)
	var hosts []string
	for _, h := range cluster.Hosts {
		hosts = append(hosts, net.JoinHostPort(h, strconv.Itoa(cluster.Port)))
	}
	if s.dlq, err = cassandra.NewStore(ctx, cassandra.Config{Hosts: hosts, Keyspace: ks}, storage.DefaultRetention, cassandra.Options{}); err != nil {
		t.Fatalf("cassandra store: %v", err)
	}
	t.Cleanup(s.dlq.Close)

	s.prefix = testenv.UniqueName(t, "t.", 100) + ".retry."
	if s.tiers, err = retry.NewTiers(time.Second, time.Minute); err != nil {
		t.Fatal(err)
	}
	var specs []kafka.TopicSpec
	for _, topic := range s.tiers.Topics(s.prefix) {
		specs = append(specs, kafka.TopicSpec{Name: topic, Partitions: 3, ReplicationFactor: 1})
	}
	if _, err := kafka.EnsureTopics(ctx, s.kcfg, specs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteTopics(t, k, s.tiers.Topics(s.prefix)) })
	if s.producer, err = kafka.NewProducer(ctx, s.kcfg, kafka.ProducerOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.producer.Close() })
	return s
}

func deleteTopics(t *testing.T, k testenv.Kafka, topics []string) {
	sc, err := k.Config(kafka.MechanismPlain).Sarama()
	if err != nil {
		t.Error(err)
		return
	}
	admin, err := sarama.NewClusterAdmin(k.Brokers, sc)
	if err != nil {
		t.Errorf("delete topics: %v", err)
		return
	}
	defer admin.Close()
	for _, name := range topics {
		if err := admin.DeleteTopic(name); err != nil {
			t.Errorf("delete topic %s: %v", name, err)
		}
	}
}

func (s *services) options(edit func(*replay.Options)) replay.Options {
	o := replay.Options{
		RetryPrefix: s.prefix, Tiers: s.tiers, PageSize: 3,
		Heartbeat: 50 * time.Millisecond, PollEvery: 100 * time.Millisecond, RetryBackoff: 20 * time.Millisecond,
		StopGrace: 200 * time.Millisecond,
		Logger:    slog.New(slog.NewTextHandler(s.t.Output(), nil)),
	}
	if edit != nil {
		edit(&o)
	}
	return o
}

// run runs a runner until the test ends; stop ends it earlier.
func (s *services) run(r *replay.Runner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				s.t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			s.t.Error("Run did not return 30s after its context ended")
		}
	}
	s.t.Cleanup(stop)
	return stop
}

func (s *services) put(dls ...domain.DeadLetter) {
	s.t.Helper()
	if err := s.dlq.PutDeadLetters(context.Background(), dls); err != nil {
		s.t.Fatalf("put dead letters: %v", err)
	}
}

func (s *services) waitFinal(id string) domain.ReplayJob {
	s.t.Helper()
	var j domain.ReplayJob
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		if j, err = s.jobs.GetReplayJob(context.Background(), id); err != nil {
			s.t.Fatalf("get job: %v", err)
		}
		if final(j.State) {
			return j
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %s still %s after 60s: %+v", id, j.State, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// consume reads the shortest tier topic from the start until want records
// have arrived, then a little longer to catch duplicates.
func (s *services) consume(want int) []*sarama.ConsumerMessage {
	s.t.Helper()
	sc, err := s.kcfg.Sarama()
	if err != nil {
		s.t.Fatal(err)
	}
	consumer, err := sarama.NewConsumer(s.kcfg.Brokers, sc)
	if err != nil {
		s.t.Fatalf("consumer: %v", kafka.Explain(s.kcfg, err))
	}
	defer consumer.Close()
	topic := retry.Topic(s.prefix, s.tiers.Pick(0))
	parts, err := consumer.Partitions(topic)
	if err != nil {
		s.t.Fatal(err)
	}
	got := make(chan *sarama.ConsumerMessage, 1000)
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			s.t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				got <- m
			}
		}()
	}
	var out []*sarama.ConsumerMessage
	timeout := time.After(60 * time.Second)
	for len(out) < want {
		select {
		case m := <-got:
			out = append(out, m)
		case <-timeout:
			s.t.Fatalf("%d of %d replays arrived in %s", len(out), want, topic)
		}
	}
	quiet := time.After(2 * time.Second)
	for {
		select {
		case m := <-got:
			out = append(out, m)
		case <-quiet:
			return out
		}
	}
}

// checkReplays checks that msgs are exactly one replay of each of dls,
// as the dispatcher's tier consumer expects them.
func checkReplays(t *testing.T, msgs []*sarama.ConsumerMessage, dls []domain.DeadLetter) {
	t.Helper()
	byID := map[string]domain.DeadLetter{}
	for _, d := range dls {
		byID[d.DeliveryID] = d
	}
	for _, m := range msgs {
		rec, err := kafka.DecodeRetryRecord(m.Value)
		if err != nil {
			t.Errorf("record at offset %d: %v", m.Offset, err)
			continue
		}
		d, ok := byID[string(m.Key)]
		if !ok {
			t.Errorf("unexpected or repeated replay of %q", m.Key)
			continue
		}
		delete(byID, d.DeliveryID)
		var due string
		for _, h := range m.Headers {
			if string(h.Key) == "hookd-due-ms" {
				due = string(h.Value)
			}
		}
		if rec.DeliveryID != d.DeliveryID || rec.EndpointID != d.EndpointID || rec.Generation != d.Generation+1 || rec.Attempt != 1 {
			t.Errorf("replay of %s: %+v; want endpoint %s, generation %d, attempt 1", d.DeliveryID, rec, d.EndpointID, d.Generation+1)
		}
		if due != strconv.FormatInt(rec.DueAt.UnixMilli(), 10) || time.Since(rec.DueAt) > 5*time.Minute || time.Until(rec.DueAt) > time.Second {
			t.Errorf("replay of %s: due header %q, record due %s; want both now", d.DeliveryID, due, rec.DueAt)
		}
		body, err := events.Payload(rec.Event)
		if err != nil || string(body) != string(d.Payload) || rec.Event.TenantID != d.TenantID {
			t.Errorf("replay of %s would send %s (tenant %q), want the dead letter's body %s (tenant %q)", d.DeliveryID, body, rec.Event.TenantID, d.Payload, d.TenantID)
		}
	}
	for id := range byID {
		t.Errorf("no replay of %s", id)
	}
}

func TestReplayIntegrationBulk(t *testing.T) {
	t.Parallel()
	s := newServices(t)
	ctx := context.Background()
	now := time.Now().UTC()
	var epA []domain.DeadLetter
	for i := range 7 {
		epA = append(epA, deadLetter(t, "ep_a", i, now))
	}
	guarded := epA[6]
	guarded.ReplayedAt = ptr(now.Add(-10 * time.Minute).Truncate(time.Millisecond))
	epA[6] = guarded
	epB := deadLetter(t, "ep_b", 1, now)
	s.put(append(epA, epB, malformedLetter(1, now))...)

	r := replay.New(s.jobs, s.dlq, s.producer, s.options(nil))
	matched, skipped, err := r.DryRun(ctx, domain.DeadLetterFilter{EndpointID: "ep_a"}, false)
	if err != nil || matched != 7 || skipped != 1 {
		t.Fatalf("DryRun = %d, %d, %v; want 7 matched, 1 skipped", matched, skipped, err)
	}
	if m, sk, err := r.DryRun(ctx, domain.DeadLetterFilter{}, true); err != nil || m != 9 || sk != 0 {
		t.Fatalf("forced DryRun of all = %d, %d, %v; want 9, 0", m, sk, err)
	}

	// Submitted before Run starts: runs once it does.
	job, created, err := r.Submit(ctx, domain.ReplayJob{IdempotencyKey: "ops-2026-05-01", Filter: domain.DeadLetterFilter{EndpointID: "ep_a"}})
	if err != nil || !created {
		t.Fatalf("Submit: %v, created %v", err, created)
	}
	s.run(r)
	got := s.waitFinal(job.ID)
	if got.State != domain.ReplayDone || counts(got) != [4]int64{7, 6, 1, 0} || got.FinishedAt == nil {
		t.Fatalf("job ended %+v; want done, total 7, replayed 6, skipped 1", got)
	}
	again, created, err := r.Submit(ctx, domain.ReplayJob{IdempotencyKey: "ops-2026-05-01", Force: true})
	if err != nil || created || again.ID != job.ID {
		t.Fatalf("Submit with the same key: %s, created %v, %v; want job %s", again.ID, created, err, job.ID)
	}

	// Durable in Kafka, one per entry, as the tier consumer reads them.
	checkReplays(t, s.consume(6), epA[:6])
	for _, d := range epA[:6] {
		stored, err := s.dlq.GetDeadLetter(ctx, d.EndpointID, d.DeliveryID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.ReplayedAt == nil || stored.ReplayedAt.Before(job.CreatedAt.Truncate(time.Millisecond)) {
			t.Errorf("dead letter %s replayed_at %v, want at or after the job's start %s", d.DeliveryID, stored.ReplayedAt, job.CreatedAt)
		}
	}
	if stored, _ := s.dlq.GetDeadLetter(ctx, "ep_a", guarded.DeliveryID); stored.ReplayedAt == nil || !stored.ReplayedAt.Equal(*guarded.ReplayedAt) {
		t.Errorf("the guarded dead letter was replayed again (replayed_at %v)", stored.ReplayedAt)
	}

	// Malformed messages cannot be replayed: counted as failed, job done.
	bad, _, err := r.Submit(ctx, domain.ReplayJob{Filter: domain.DeadLetterFilter{Reason: domain.ReasonMalformed}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.waitFinal(bad.ID); got.State != domain.ReplayDone || counts(got) != [4]int64{1, 0, 0, 1} {
		t.Errorf("malformed-only job ended %+v; want done with 1 failed", got)
	}

	// A single replay, then a job over everything: the fresh replay and
	// the bulk ones are guarded, the rest goes.
	gen, err := r.ReplayOne(ctx, epB)
	if err != nil || gen != epB.Generation+1 {
		t.Fatalf("ReplayOne = %d, %v", gen, err)
	}
	if _, err := r.ReplayOne(ctx, malformedLetter(1, now)); !errors.Is(err, dispatch.ErrNotReplayable) {
		t.Errorf("ReplayOne of a malformed message: %v, want ErrNotReplayable", err)
	}
	all, _, err := r.Submit(ctx, domain.ReplayJob{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.waitFinal(all.ID); got.State != domain.ReplayDone || counts(got) != [4]int64{9, 0, 8, 1} {
		t.Errorf("job over all ended %+v; want 8 skipped (replayed within the guard), 1 failed", got)
	}
	checkReplays(t, s.consume(7), append(slices.Clone(epA[:6]), epB))
}

// A canceled job stops; a job whose runner died is taken over without
// sending again what it had sent, even forced.
func TestReplayIntegrationCancelAndTakeover(t *testing.T) {
	t.Parallel()
	s := newServices(t)
	ctx := context.Background()
	now := time.Now().UTC()
	var dls []domain.DeadLetter
	for i := range 6 {
		dls = append(dls, deadLetter(t, "ep_a", i, now))
	}
	s.put(dls...)

	// Cancel while the first page is being produced.
	held := &holdingProducer{Producer: s.producer, entered: make(chan struct{}), stopped: make(chan struct{})}
	r := replay.New(s.jobs, s.dlq, held, s.options(nil))
	stop := s.run(r)
	job, _, err := r.Submit(ctx, domain.ReplayJob{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	<-held.entered
	if _, err := s.jobs.CancelReplayJob(ctx, job.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the canceled job's Produce was not stopped")
	}
	stop()
	if got, _ := s.jobs.GetReplayJob(ctx, job.ID); got.State != domain.ReplayCanceled || got.Replayed != 0 {
		t.Errorf("canceled job is %+v", got)
	}

	// A forced job made 5 minutes ago whose runner died after replaying
	// (and marking) the newest two.
	created := time.Now().UTC().Add(-5 * time.Minute)
	dead, _, err := s.jobs.CreateReplayJob(ctx, domain.ReplayJob{
		ID: "rpl_dead_runner", Force: true, State: domain.ReplayRunning, Total: 6, Replayed: 2, CreatedAt: created,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dls[:2] {
		if err := s.dlq.MarkReplayed(ctx, d.EndpointID, d.DeliveryID, created.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	r2 := replay.New(s.jobs, s.dlq, s.producer, s.options(func(o *replay.Options) { o.StaleAfter = time.Minute }))
	s.run(r2)
	got := s.waitFinal(dead.ID)
	if got.State != domain.ReplayDone || counts(got) != [4]int64{6, 6, 0, 0} {
		t.Errorf("taken-over job ended %+v; want done with all 6 counted replayed", got)
	}
	checkReplays(t, s.consume(4), dls[2:])
}

// holdingProducer holds its first call until the job is stopped.
type holdingProducer struct {
	replay.Producer
	calls            int
	entered, stopped chan struct{}
}

func (h *holdingProducer) Produce(ctx context.Context, msgs []*sarama.ProducerMessage) error {
	h.calls++
	if h.calls == 1 {
		close(h.entered)
		<-ctx.Done()
		close(h.stopped)
		return fmt.Errorf("held: %w", ctx.Err())
	}
	return h.Producer.Produce(ctx, msgs)
}
