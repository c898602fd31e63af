package daemon

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/cli/ctxconfig"
	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/storage/sqlite"
)

func TestSQLiteBackendsShareOneDB(t *testing.T) {
	ctx := context.Background()
	l, err := config.Load(config.Options{Flags: map[string]string{"encryption_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := secretbox.ParseKey(l.EncryptionKey)
	box, _ := secretbox.New(raw)
	be := SQLiteBackends(filepath.Join(t.TempDir(), "hookd.db"))
	c1, err := be.Config(ctx, l, box)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := be.openConfig(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	lg, err := be.Log(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if dbOf(t, c1) != dbOf(t, lg) || dbOf(t, c2) != dbOf(t, c1) {
		t.Fatal("the roles got different databases")
	}
	c1.Close()
	c1.Close() // twice is once
	c2.Close()
	if err := lg.Ping(ctx); err != nil {
		t.Fatalf("closed while a role still holds it: %v", err)
	}
	lg.Close()
	if err := lg.Ping(ctx); err == nil {
		t.Fatal("still open after the last role let go")
	}
	// And it opens again afterwards (a role reconnecting).
	again, err := be.Log(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	again.Close()

	// A key that is not one is a fatal configuration error, not retried.
	bad := *l
	bad.EncryptionKey = "short"
	if _, err := be.Log(ctx, &bad); err == nil || !strings.Contains(err.Error(), "encryption_key") {
		t.Fatalf("bad key: %v", err)
	}
}

// syncBuffer is a goroutine-safe stdout for a running Dev.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type devRun struct {
	apiURL string
	out    *syncBuffer
	errOut *syncBuffer
	stop   func() error
}

// startDev runs Dev in this process on free ports until stop.
func startDev(t *testing.T, dir string) devRun {
	t.Helper()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	ios, _, _, _ := iostreams.Test()
	ios.Out, ios.ErrOut = out, errOut
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Dev(ctx, &DevOptions{
			IO: ios, DataDir: dir, Port: 0, KafkaPort: 0, Environ: []string{},
			Ready: func(apiURL, _ string) { ready <- apiURL },
		})
	}()
	r := devRun{out: out, errOut: errOut}
	select {
	case r.apiURL = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Dev ended before it was ready: %v\n%s", err, errOut)
	case <-time.After(45 * time.Second):
		cancel()
		t.Fatalf("Dev not ready within 45s:\n%s", errOut)
	}
	var once sync.Once
	var err error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Dev did not stop within 30s")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = r.stop() })
	return r
}

// A first start makes the keys and the hookctl context and prints the
// quickstart; a later start reuses all of it and prints one line.
func TestDevFirstAndLaterStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cfgPath := filepath.Join(t.TempDir(), "hookctl.yaml")
	t.Setenv(ctxconfig.EnvConfig, cfgPath)

	run := startDev(t, dir)
	for _, f := range []string{devKeyFile, devAdminFile, devDBFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	out := run.out.String()
	for _, want := range []string{"hookd dev is ready", run.apiURL, `hookctl context "dev" (now current)`, "hookctl listen --port 4000", "hookctl events send", "hookd.events"} {
		if !strings.Contains(out, want) {
			t.Errorf("first start output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(run.errOut.String(), "NOTICE: hookd dev delivers to loopback addresses") {
		t.Errorf("no loopback notice:\n%s", run.errOut)
	}
	file, err := ctxconfig.Load()
	if err != nil {
		t.Fatal(err)
	}
	c, ok := file.Find("dev")
	if !ok || file.CurrentContext != "dev" || c.Server != run.apiURL {
		t.Fatalf("hookctl config: %+v", file)
	}
	key := c.APIKey
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := wire.NewClient(c.Server, key)
	ep, err := client.CreateEndpoint(ctx, wire.EndpointInput{URL: ptr("http://127.0.0.1:9/hooks")})
	if err != nil {
		t.Fatalf("the admin key does not work: %v", err)
	}

	// A second hookd dev on the same directory is refused.
	err = Dev(ctx, &DevOptions{IO: iostreams.System(), DataDir: dir, Port: 0, KafkaPort: 0, Environ: []string{}})
	if err == nil || !strings.Contains(err.Error(), "in use by another hookd dev") {
		t.Errorf("second hookd dev: %v", err)
	}
	if err := run.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// Another context is current now: hookd dev keeps its own up to date
	// but does not switch.
	file, _ = ctxconfig.Load()
	file.Set(ctxconfig.Context{Name: "prod", Server: "https://hookd.example.com", APIKey: "hk_x"})
	file.CurrentContext = "prod"
	if err := file.Save(); err != nil {
		t.Fatal(err)
	}
	run = startDev(t, dir)
	out = run.out.String()
	if strings.Contains(out, "hookd dev is ready") || strings.Count(out, "\n") != 1 ||
		!strings.Contains(out, "hookd dev ready: API "+run.apiURL) || !strings.Contains(out, "hookctl config use-context dev") {
		t.Errorf("later start output:\n%s", out)
	}
	file, _ = ctxconfig.Load()
	c, _ = file.Find("dev")
	if file.CurrentContext != "prod" || c.APIKey != key || c.Server != run.apiURL {
		t.Errorf("hookctl config after a later start: current %q, dev %+v", file.CurrentContext, c)
	}
	got, err := wire.NewClient(run.apiURL, key).GetEndpoint(ctx, ep.Endpoint.ID)
	if err != nil || got.URL != "http://127.0.0.1:9/hooks" {
		t.Errorf("the endpoint did not survive the restart: %+v, %v", got, err)
	}
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}

	// A "dev" context of the user's, elsewhere, is left alone.
	file.Set(ctxconfig.Context{Name: "dev", Server: "https://dev.example.com", APIKey: "hk_mine"})
	if err := file.Save(); err != nil {
		t.Fatal(err)
	}
	if note := saveDevContext("http://127.0.0.1:8080", key); !strings.Contains(note, "left as it is") {
		t.Errorf("note %q", note)
	}
	file, _ = ctxconfig.Load()
	if c, _ := file.Find("dev"); c.Server != "https://dev.example.com" || c.APIKey != "hk_mine" {
		t.Errorf("the user's dev context was changed: %+v", c)
	}

	// Without its encryption key the directory's secrets cannot be
	// opened: refuse, rather than make a new key.
	if err := os.Remove(filepath.Join(dir, devKeyFile)); err != nil {
		t.Fatal(err)
	}
	err = Dev(ctx, &DevOptions{IO: iostreams.System(), DataDir: dir, Environ: []string{}})
	if err == nil || !strings.Contains(err.Error(), "encryption.key is missing") {
		t.Errorf("missing key: %v", err)
	}
}

// An admin key the database no longer knows is made again on the next start.
func TestDevRemakesLostAdminKey(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(ctxconfig.EnvConfig, filepath.Join(t.TempDir(), "hookctl.yaml"))
	key, err := devEncryptionKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := config.Load(config.Options{Flags: map[string]string{"encryption_key": key}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k1, first, err := ensureDevAdminKey(ctx, dir, l)
	if err != nil || !first {
		t.Fatalf("first: %v %v", first, err)
	}
	k2, first, err := ensureDevAdminKey(ctx, dir, l)
	if err != nil || first || k2 != k1 {
		t.Fatalf("second start: same key %v, first %v, %v", k2 == k1, first, err)
	}
	// Remove the database (not the key file): the key is made again.
	for _, f := range []string{devDBFile, devDBFile + "-wal", devDBFile + "-shm"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	k3, first, err := ensureDevAdminKey(ctx, dir, l)
	if err != nil || first || k3 == k1 {
		t.Fatalf("after the database went: new key %v, first %v, %v", k3 != k1, first, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, devAdminFile))
	if strings.TrimSpace(string(b)) != k3 {
		t.Error("admin.key does not hold the new key")
	}
}

func ptr[T any](v T) *T { return &v }

func dbOf(t *testing.T, v any) *sqlite.DB {
	t.Helper()
	h, ok := v.(*sqliteHandle)
	if !ok {
		t.Fatalf("%T is not a *sqliteHandle", v)
	}
	return h.DB
}

// A port in use says which flag moves it.
func TestDevPortsInUse(t *testing.T) {
	t.Setenv(ctxconfig.EnvConfig, filepath.Join(t.TempDir(), "hookctl.yaml"))
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := int(netip.MustParseAddrPort(ln.Addr().String()).Port())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ios, _, _, _ := iostreams.Test()
	err = Dev(ctx, &DevOptions{IO: ios, DataDir: t.TempDir(), Port: port, Environ: []string{}})
	if err == nil || !strings.Contains(err.Error(), "choose another port with --port") {
		t.Errorf("API port in use: %v", err)
	}
	err = Dev(ctx, &DevOptions{IO: ios, DataDir: t.TempDir(), KafkaPort: port, Environ: []string{}})
	if err == nil || !strings.Contains(err.Error(), "--kafka-port") {
		t.Errorf("Kafka port in use: %v", err)
	}
}

// With --kafka-sasl the broker wants a login, and hookd's own clients (the
// admin that creates topics, the producers, the consumer groups) log in.
func TestDevKafkaSASL(t *testing.T) {
	t.Setenv(ctxconfig.EnvConfig, filepath.Join(t.TempDir(), "hookctl.yaml"))
	out, errOut := &syncBuffer{}, &syncBuffer{}
	ios, _, _, _ := iostreams.Test()
	ios.Out, ios.ErrOut = out, errOut
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Dev(ctx, &DevOptions{
			IO: ios, DataDir: t.TempDir(), KafkaSASL: "dev:s3cret", Environ: []string{},
			Ready: func(apiURL, kafkaAddr string) { ready <- [2]string{apiURL, kafkaAddr} },
		})
	}()
	var addrs [2]string
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("Dev: %v\n%s", err, errOut)
	case <-ctx.Done():
		t.Fatalf("not ready:\n%s", errOut)
	}
	if !strings.Contains(out.String(), "SASL user dev") {
		t.Errorf("the banner does not say SASL is on:\n%s", out)
	}
	file, _ := ctxconfig.Load()
	c, _ := file.Find("dev")
	if _, err := wire.NewClient(addrs[0], c.APIKey).PublishEvent(ctx, wire.PublishEventRequest{Type: "ping", Data: []byte(`{}`)}, ""); err != nil {
		t.Errorf("publish through the API over SASL: %v", err)
	}
	anon := kafka.Config{Brokers: []string{addrs[1]}, DialTimeout: 5 * time.Second}
	if err := kafka.Check(ctx, anon); err == nil {
		t.Error("the broker let a client in without logging in")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Dev: %v", err)
	}
}
