package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage/postgres"
	"github.com/hookd/hookd/storage/storagetest"
)

// A daemon started with another encryption key than the one the stored
// secrets were sealed with refuses to start, and says why.
func TestServeRefusesAWrongEncryptionKey(t *testing.T) {
	k := testenv.KafkaEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := testenv.PostgresDSN(t)
	if _, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	first, err := postgres.Open(ctx, dsn, storagetest.NewBox(t)) // some other key
	if err != nil {
		t.Fatal(err)
	}
	if err := first.CheckEncryptionKey(ctx); err != nil {
		t.Fatal(err)
	}
	first.Close()

	prefix := testenv.UniqueName(t, "t.", 80)
	for name, v := range map[string]string{
		"HOOKD_ENCRYPTION_KEY":       "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"HOOKD_POSTGRES_DSN":         dsn,
		"HOOKD_KAFKA_BROKERS":        strings.Join(k.Brokers, ","),
		"HOOKD_KAFKA_SASL_MECHANISM": kafka.MechanismSCRAMSHA512,
		"HOOKD_KAFKA_SASL_USERNAME":  k.ScramUser,
		"HOOKD_KAFKA_SASL_PASSWORD":  k.ScramPassword,
		"HOOKD_KAFKA_ATTEMPTS_TOPIC": prefix + ".attempts",
		"HOOKD_KAFKA_RETRY_PREFIX":   prefix + ".retry.",
	} {
		t.Setenv(name, v)
	}
	ios, _, _, _ := iostreams.Test()
	err = Serve(ctx, &ServeOptions{IO: ios, Flags: map[string]string{"roles": "dispatch"}})
	if err == nil || !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), "HOOKD_ENCRYPTION_KEY") {
		t.Fatalf("Serve with the wrong key: %v", err)
	}

	// No key at all: the configuration check names it before anything starts.
	t.Setenv("HOOKD_ENCRYPTION_KEY", "")
	err = Serve(ctx, &ServeOptions{IO: ios, Flags: map[string]string{"roles": "dispatch"}})
	if err == nil || !strings.Contains(err.Error(), "config: encryption_key") {
		t.Fatalf("Serve without a key: %v", err)
	}
}

// A wrong Kafka password keeps the daemon up but not ready: /readyz says
// why, the log says it once per try with a growing pause (no tight loop),
// and it stops cleanly when asked.
func TestServeWaitsNotReadyForKafka(t *testing.T) {
	k := testenv.KafkaEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, v := range map[string]string{
		"HOOKD_ENCRYPTION_KEY":       "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"HOOKD_KAFKA_BROKERS":        strings.Join(k.Brokers, ","),
		"HOOKD_KAFKA_SASL_MECHANISM": kafka.MechanismSCRAMSHA512,
		"HOOKD_KAFKA_SASL_USERNAME":  k.ScramUser,
		"HOOKD_KAFKA_SASL_PASSWORD":  "wrong",
	} {
		t.Setenv(name, v)
	}
	ios, _, _, logs := iostreams.Test()
	sctx, stop := context.WithCancel(ctx)
	listening := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- Serve(sctx, &ServeOptions{
			IO:        ios,
			Flags:     map[string]string{"roles": "api,dispatch", "http.addr": "127.0.0.1:0"},
			Listening: func(a net.Addr) { listening <- a },
		})
	}()
	var addr net.Addr
	select {
	case addr = <-listening:
	case err := <-served:
		t.Fatalf("serve stopped: %v", err)
	}
	// Wait for a few tries, then look at what an operator would see.
	time.Sleep(4 * time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr.String()+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "authentication failed") || !strings.Contains(string(body), k.ScramUser) {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	tries := strings.Count(logs.String(), "kafka not ready")
	if tries < 1 || tries > 4 {
		t.Fatalf("%d tries logged in 4 s, want a few with a growing pause:\n%s", tries, logs)
	}
	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve stopped with %v, want a clean stop", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
