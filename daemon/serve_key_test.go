package daemon

import (
	"context"
	"errors"
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

// A wrong Kafka password stops the daemon at once with an error naming the
// user and mechanism, rather than a retry loop that hides the cause.
func TestServeReportsRejectedKafkaCredentials(t *testing.T) {
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
	ios, _, _, _ := iostreams.Test()
	start := time.Now()
	err := Serve(ctx, &ServeOptions{IO: ios, Flags: map[string]string{"roles": "dispatch"}})
	var auth *kafka.AuthError
	if !errors.As(err, &auth) || !strings.Contains(err.Error(), k.ScramUser) {
		t.Fatalf("Serve with a wrong password: %v, want an authentication error naming the user", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("took %s to give up", took)
	}
}
