package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
)

// request is what the fake API saw.
type request struct {
	Method string
	Path   string
	Query  string
	Body   string
	Header http.Header
}

// fakeAPI is an httptest server standing in for hookd's API: tests add
// routes (Go 1.22 patterns) and read back the requests.
type fakeAPI struct {
	t   *testing.T
	mux *http.ServeMux
	srv *httptest.Server

	mu   sync.Mutex
	reqs []request
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, mux: http.NewServeMux()}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(b), Header: r.Header.Clone()})
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		f.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// handle answers pattern with status and a JSON body.
func (f *fakeAPI) handle(pattern string, status int, body any) {
	f.mux.HandleFunc(pattern, func(w http.ResponseWriter, _ *http.Request) {
		writeJSONResponse(w, status, body)
	})
}

func (f *fakeAPI) handleFunc(pattern string, h http.HandlerFunc) { f.mux.HandleFunc(pattern, h) }

func writeJSONResponse(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "req_test")
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

func (f *fakeAPI) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// only asserts that exactly one request was made and returns it.
func (f *fakeAPI) only() request {
	f.t.Helper()
	reqs := f.requests()
	if len(reqs) != 1 {
		f.t.Fatalf("got %d requests, want 1: %+v", len(reqs), reqs)
	}
	return reqs[0]
}

// cliRun is one hookctl invocation against a fake API.
type cliRun struct {
	stdout, stderr string
	code           int
}

type runConfig struct {
	ios  *iostreams.IOStreams
	in   *bytes.Buffer
	swap func(f *Factory, root *cobra.Command)
}

type runOpt func(*runConfig)

func tty(c *runConfig) { c.ios.SetTTY(true) }

func withColor(*runConfig) { _ = os.Unsetenv("NO_COLOR") }

func stdin(s string) runOpt {
	return func(c *runConfig) { c.in.WriteString(s) }
}

// fastReplay swaps in a `dlq replay` and `dlq replays get` that poll and
// draw every few milliseconds and resend the start request without a pause.
func fastReplay(c *runConfig) {
	c.swap = func(f *Factory, root *cobra.Command) {
		iv := ProgressIntervals{Poll: 5 * time.Millisecond, Redraw: 2 * time.Millisecond, Line: 2 * time.Millisecond}
		dlq, _, _ := root.Find([]string{"dlq"})
		old, _, _ := root.Find([]string{"dlq", "replay"})
		dlq.RemoveCommand(old)
		dlq.AddCommand(NewCmdDLQReplay(f, func(o *DLQReplayOptions) error {
			o.Progress, o.retryDelays = iv, []time.Duration{0, 0, 0}
			return runDLQReplay(o)
		}))
		replays, _, _ := root.Find([]string{"dlq", "replays"})
		old, _, _ = root.Find([]string{"dlq", "replays", "get"})
		replays.RemoveCommand(old)
		replays.AddCommand(NewCmdReplayGet(f, func(o *ReplayJobOptions) error {
			o.Progress = iv
			return runReplayGet(o)
		}))
	}
}

// hookctl runs the command tree with args against api (nil: a server
// nobody listens on), the way Main does.
func hookctl(t *testing.T, fake *fakeAPI, args []string, opts ...runOpt) cliRun {
	t.Helper()
	return hookctlCtx(t, context.Background(), fake, args, opts...)
}

func hookctlCtx(t *testing.T, ctx context.Context, fake *fakeAPI, args []string, opts ...runOpt) cliRun {
	t.Helper()
	// Color only when a test asks (withColor); Setenv restores both.
	t.Setenv("NO_COLOR", "1")
	t.Setenv("TERM", "xterm")
	t.Setenv("HOOKCTL_CONFIG", t.TempDir()+"/config.yaml")
	t.Setenv("HOOKCTL_SERVER", "")
	t.Setenv("HOOKCTL_API_KEY", "")
	ios, in, out, errOut := iostreams.Test()
	rc := &runConfig{ios: ios, in: in}
	for _, o := range opts {
		o(rc)
	}
	server := "http://127.0.0.1:1"
	if fake != nil {
		server = fake.srv.URL
	}
	f := &Factory{IOStreams: ios, APIClient: func() (*api.Client, error) {
		c := api.NewClient(server, "hk_test")
		c.HTTP = &http.Client{Timeout: 10 * time.Second}
		return c, nil
	}}
	root := NewCmdRoot(f)
	if rc.swap != nil {
		rc.swap(f, root)
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	printError(errOut, cmd, err)
	return cliRun{stdout: out.String(), stderr: errOut.String(), code: cmdutil.ExitCode(err)}
}

func (r cliRun) wantCode(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

func wantContains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}

func wantJSONBody(t *testing.T, r request, want string) {
	t.Helper()
	var got, exp any
	if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
		t.Fatalf("request body %q: %v", r.Body, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	g, _ := json.Marshal(got)
	e, _ := json.Marshal(exp)
	if !bytes.Equal(g, e) {
		t.Errorf("request body\n got %s\nwant %s", g, e)
	}
}
