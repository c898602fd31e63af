package testenv_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runTestenv runs scripts/testenv with its state in a fresh directory, so
// nothing it does touches the services the other tests use.
func runTestenv(t *testing.T, env []string, args ...string) (stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join("..", "..", "scripts", "testenv"), args...)
	cmd.Env = append(append(os.Environ(), "HOOKD_TESTENV_DIR="+t.TempDir()), env...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("scripts/testenv %v hung; stderr:\n%s", args, errBuf.String())
	}
	return errBuf.String(), err
}

// listenLoopback holds a free loopback port and returns it.
func listenLoopback(t *testing.T) (net.Listener, string) {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ln, port
}

func TestTestenvRefusesATakenPort(t *testing.T) {
	ln, port := listenLoopback(t)
	defer ln.Close()

	stderr, err := runTestenv(t, []string{"HOOKD_TESTENV_PG_PORT=" + port}, "up", "postgres")
	if err == nil {
		t.Fatalf("up succeeded with port %s taken", port)
	}
	for _, want := range []string{"postgres", "127.0.0.1:" + port, "already in use"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not mention %q:\n%s", want, stderr)
		}
	}
}

func TestTestenvShowsTheLogOfAServiceThatDies(t *testing.T) {
	// A data directory that claims to be from another major version makes
	// the server exit at once.
	data := filepath.Join(t.TempDir(), "pgdata")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "PG_VERSION"), []byte("9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, port := listenLoopback(t)
	ln.Close() // a free port for the server that is about to fail

	stderr, err := runTestenv(t, []string{"HOOKD_TESTENV_PG_PORT=" + port, "HOOKD_TESTENV_PG_DATA=" + data}, "up", "postgres")
	if err == nil {
		t.Fatal("up succeeded with a broken data directory")
	}
	if !strings.Contains(stderr, "postgres exited during start-up") || !strings.Contains(stderr, "Last lines of") {
		t.Errorf("stderr does not name the service and show its log:\n%s", stderr)
	}
}

func TestTestenvUsage(t *testing.T) {
	stderr, err := runTestenv(t, nil, "up", "mysql")
	if err == nil || !strings.Contains(stderr, "unknown service 'mysql'") {
		t.Fatalf("up mysql: err %v, stderr:\n%s", err, stderr)
	}
	if _, err := runTestenv(t, nil, "frobnicate"); err == nil {
		t.Fatal("an unknown subcommand succeeded")
	}
}
