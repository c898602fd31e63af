package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hookd/hookd/daemon"
	"github.com/hookd/hookd/internal/apikey"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage/cassandra"
	"github.com/hookd/hookd/storage/postgres"
)

// The scripts in testdata/e2e run the hookctl binary against a whole
// hookd (all roles, in this process) on the real PostgreSQL, Cassandra and
// Kafka. Each script gets its own receiver; scripts make their own
// endpoints and filter by them, so they share one hookd.
func TestE2EScripts(t *testing.T) {
	server, adminKey := startHookd(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/e2e",
		Setup: func(env *testscript.Env) error {
			rc := newReceiver()
			env.Defer(rc.srv.Close)
			env.Values[receiverKey{}] = rc
			env.Setenv("HOOKCTL_SERVER", server)
			env.Setenv("HOOKCTL_API_KEY", adminKey)
			env.Setenv("HOOKCTL_CONFIG", env.WorkDir+"/hookctl.yaml")
			env.Setenv("RECEIVER_URL", rc.srv.URL)
			env.Setenv("NO_COLOR", "1")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonvar":    cmdJSONVar,
			"eventually": cmdEventually,
			"receiver":   cmdReceiver,
			"sleep": func(ts *testscript.TestScript, _ bool, args []string) {
				d, err := time.ParseDuration(strings.Join(args, ""))
				ts.Check(err)
				time.Sleep(d)
			},
		},
	})
}

// startHookd runs hookd serve with every role against this test's own
// database, keyspace and topics, and returns its URL and an admin key.
func startHookd(t *testing.T) (string, string) {
	t.Helper()
	k := testenv.KafkaEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	dsn := testenv.PostgresDSN(t)
	if _, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	keyspace, session := testenv.CassandraKeyspace(t)
	if _, err := cassandra.Migrate(ctx, session, cassandra.MigrateOptions{Keyspace: keyspace}); err != nil {
		t.Fatal(err)
	}
	const encKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	raw, _ := secretbox.ParseKey(encKey)
	box, _ := secretbox.New(raw)
	store, err := postgres.Open(ctx, dsn, box)
	if err != nil {
		t.Fatal(err)
	}
	admin, hash, _ := apikey.Generate()
	err = store.CreateAPIKey(ctx, domain.APIKey{ID: ids.New(ids.APIKey), Name: "e2e admin", Hash: hash, Scopes: []string{domain.ScopeAdmin}, CreatedAt: time.Now().UTC()})
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	eventsTopic := k.Topics(t, 1, 2)[0]
	prefix := testenv.UniqueName(t, "t.", 80)
	environ := []string{
		"HOOKD_ENCRYPTION_KEY=" + encKey,
		"HOOKD_POSTGRES_DSN=" + dsn,
		"HOOKD_CASSANDRA_HOSTS=" + os.Getenv("HOOKD_TEST_CASSANDRA_HOSTS"),
		"HOOKD_CASSANDRA_KEYSPACE=" + keyspace,
		"HOOKD_CASSANDRA_CONSISTENCY=ONE",
		"HOOKD_KAFKA_BROKERS=" + strings.Join(k.Brokers, ","),
		"HOOKD_KAFKA_SASL_MECHANISM=" + kafka.MechanismSCRAMSHA512,
		"HOOKD_KAFKA_SASL_USERNAME=" + k.ScramUser,
		"HOOKD_KAFKA_SASL_PASSWORD=" + k.ScramPassword,
		"HOOKD_KAFKA_EVENTS_TOPICS=" + eventsTopic,
		"HOOKD_KAFKA_ATTEMPTS_TOPIC=" + prefix + ".attempts",
		"HOOKD_KAFKA_RETRY_PREFIX=" + prefix + ".retry.",
		"HOOKD_KAFKA_CONSUMER_GROUP=" + prefix,
		"HOOKD_DELIVERY_ALLOW_CIDRS=127.0.0.0/8",
		"HOOKD_LOG_LEVEL=warn",
	}
	ios, _, _, logs := iostreams.Test()
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- daemon.Serve(ctx, &daemon.ServeOptions{
			IO: ios, Environ: environ, Flags: map[string]string{"http.addr": "127.0.0.1:0"},
			Ready: func(a net.Addr) { ready <- a },
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("hookd: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("hookd did not stop within 60s")
		}
	})
	select {
	case a := <-ready:
		return "http://" + a.String(), admin
	case err := <-served:
		t.Fatalf("hookd stopped: %v\n%s", err, logs)
	case <-time.After(2 * time.Minute):
		t.Fatalf("hookd not ready after 2 minutes\n%s", logs)
	}
	return "", ""
}

type receiverKey struct{}

// receiver is a script's webhook receiver: it answers 200, or 500 while
// failing, and counts deliveries by webhook-id.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	failing bool
	ids     map[string]int
	total   int
}

func newReceiver() *receiver {
	rc := &receiver{ids: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		rc.mu.Lock()
		rc.total++
		rc.ids[r.Header.Get("webhook-id")]++
		failing := rc.failing
		rc.mu.Unlock()
		if failing {
			http.Error(w, "receiver failing on purpose", http.StatusInternalServerError)
		}
	}))
	return rc
}

// receiver fail|ok            switch the answer
// receiver count N [ids M]    wait up to 60s for N requests (and M distinct webhook-ids)
func cmdReceiver(ts *testscript.TestScript, neg bool, args []string) {
	rc, _ := ts.Value(receiverKey{}).(*receiver)
	if rc == nil || len(args) == 0 {
		ts.Fatalf("usage: receiver fail|ok|count N [ids M]")
	}
	switch args[0] {
	case "fail", "ok":
		rc.mu.Lock()
		rc.failing = args[0] == "fail"
		rc.mu.Unlock()
	case "count":
		if len(args) != 2 && len(args) != 4 {
			ts.Fatalf("usage: receiver count N [ids M]")
		}
		want, _ := strconv.Atoi(args[1])
		wantIDs := -1
		if len(args) == 4 {
			wantIDs, _ = strconv.Atoi(args[3])
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			rc.mu.Lock()
			total, distinct := rc.total, len(rc.ids)
			rc.mu.Unlock()
			if total >= want && (wantIDs < 0 || distinct == wantIDs) {
				if total > want {
					ts.Fatalf("receiver got %d requests, want %d", total, want)
				}
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("receiver got %d requests (%d webhook-ids) after 60s, want %d (%d)", total, distinct, want, wantIDs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	default:
		ts.Fatalf("receiver: unknown %q", args[0])
	}
}

// jsonvar NAME PATH: set NAME to the value at PATH (dot separated, numbers
// index arrays) of the JSON in the last command's stdout.
func cmdJSONVar(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: jsonvar NAME PATH")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &v); err != nil {
		ts.Fatalf("jsonvar: stdout is not JSON: %v", err)
	}
	for _, part := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				ts.Fatalf("jsonvar: no element %s", part)
			}
			v = x[i]
		default:
			ts.Fatalf("jsonvar: no %s in %v", part, x)
		}
	}
	if v == nil {
		ts.Fatalf("jsonvar: %s not found", args[1])
	}
	s, ok := v.(string)
	if !ok {
		s = fmt.Sprint(v)
	}
	ts.Setenv(args[0], s)
}

// eventually DURATION REGEXP COMMAND ARGS...: run the command (hookctl)
// until it succeeds with stdout matching REGEXP, for at most DURATION.
func cmdEventually(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: eventually DURATION REGEXP COMMAND ARGS...")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	deadline := time.Now().Add(d)
	for {
		err := ts.Exec(args[2], args[3:]...)
		out := ts.ReadFile("stdout")
		if err == nil && re.MatchString(out) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("after %v: %v\nstdout:\n%s\nstderr:\n%s", d, err, out, ts.ReadFile("stderr"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
