package quickstart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds hookd and hookctl, built once for every test.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hookd-quickstart-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/hookd", "./cmd/hookctl")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building hookd and hookctl: %v\n%s", err, out)
		return 1
	}
	binDir = dir
	return m.Run()
}

// env is the environment of every command a test runs: the test's
// binaries first on PATH, hookctl's configuration in the work directory,
// and nothing of the developer's hookd or hookctl settings.
func env(work string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HOOKD_") || strings.HasPrefix(kv, "HOOKCTL_") || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out,
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOOKCTL_CONFIG="+filepath.Join(work, "hookctl.yaml"),
		"NO_COLOR=1",
	)
}

// freePort returns a TCP port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return int(netip.MustParseAddrPort(ln.Addr().String()).Port())
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// proc is a long-running process a test started; the test stops it (and
// only it, by its pid) before it ends.
type proc struct {
	name     string
	cmd      *exec.Cmd
	out, err *syncBuffer
	done     chan struct{}
	waitErr  error
}

// startProc starts argv in dir.
func startProc(t *testing.T, name, dir string, env []string, argv ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, err: &syncBuffer{}, done: make(chan struct{})}
	// Stopped by the test itself (interrupt, kill, cleanup), not by a
	// context.
	p.cmd = exec.CommandContext(context.Background(), argv[0], argv[1:]...)
	p.cmd.Dir, p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = dir, env, p.out, p.err
	p.cmd.SysProcAttr = procAttr()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", p.name, p.out, p.name, p.err)
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor polls until cond holds for the process's output, failing the
// test after timeout or when the process exits first.
func (p *proc) waitFor(t *testing.T, what string, timeout time.Duration, cond func(stdout, stderr string) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond(p.out.String(), p.err.String()) {
			return
		}
		if p.exited() {
			t.Fatalf("%s exited (%v) before %s", p.name, p.waitErr, what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s within %s", p.name, what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// interrupt sends SIGINT, as Ctrl-C does, and waits for the exit.
func (p *proc) interrupt(t *testing.T, timeout time.Duration) error {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil && !p.exited() {
		t.Fatalf("interrupt %s: %v", p.name, err)
	}
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s of SIGINT", p.name, timeout)
		return nil
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !p.exited() {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running 10s after SIGKILL", p.name)
	}
}

// result is how a command that ran to its end went.
type result struct {
	cmd            string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("$ %s\nexit %d\nstdout:\n%s\nstderr:\n%s", r.cmd, r.code, r.stdout, r.stderr)
}

// sh runs a command line with sh in dir, bounded by a minute.
func sh(t *testing.T, dir string, env []string, line string) result {
	t.Helper()
	r := shWithin(t, dir, env, line, time.Minute)
	if r.code == timedOut {
		t.Fatalf("%q ran for more than a minute:\n%s", line, r)
	}
	return r
}

// timedOut is the exit code of a command shWithin stopped.
const timedOut = -1

// shWithin runs a command line with sh in dir; if it runs longer than
// timeout it is killed and its code is timedOut.
func shWithin(t *testing.T, dir string, env []string, line string, timeout time.Duration) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out, errOut syncBuffer
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, &out, &errOut
	cmd.SysProcAttr = procAttr()
	// A child that outlives sh keeps the pipes open; stop waiting.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := result{cmd: line, stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.code = timedOut
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run %q: %v", line, err)
	}
	return r
}
