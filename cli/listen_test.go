package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/signature"
)

const listenSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestListenFlags(t *testing.T) {
	var got *ListenOptions
	capture := func(c *runConfig) {
		c.swap = func(f *Factory, root *cobra.Command) {
			old, _, _ := root.Find([]string{"listen"})
			root.RemoveCommand(old)
			root.AddCommand(NewCmdListen(f, func(o *ListenOptions) error { got = o; return nil }))
		}
	}
	hookctl(t, nil, []string{"listen"}, capture).wantCode(t, cmdutil.ExitOK)
	if got.Port != 4000 || got.Status != 200 || got.FailRate != 0 || got.Delay != 0 || got.Output != "text" || got.checkSignatures || got.EndpointID != "" {
		t.Errorf("defaults: %+v", got)
	}
	hookctl(t, nil, []string{"listen", "-p", "0", "--secret", listenSecret, "--status", "204", "--fail-rate", "0.3", "--delay", "200ms", "-o", "jsonl", "--endpoint", "ep_1"}, capture).wantCode(t, cmdutil.ExitOK)
	if got.Port != 0 || got.Status != 204 || got.FailRate != 0.3 || got.Delay != 200*time.Millisecond || got.Output != "jsonl" || !got.checkSignatures || got.EndpointID != "ep_1" {
		t.Errorf("flags: %+v", got)
	}
	t.Setenv(secretEnv, listenSecret)
	hookctl(t, nil, []string{"listen"}, capture).wantCode(t, cmdutil.ExitOK)
	if !got.checkSignatures {
		t.Error("HOOKCTL_WEBHOOK_SECRET does not turn signature checks on")
	}
	t.Setenv(secretEnv, "")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--status", "99"}, "not a final HTTP status"},
		{[]string{"--status", "600"}, "not a final HTTP status"},
		{[]string{"--fail-rate", "1.5"}, "--fail-rate must be between 0 and 1"},
		{[]string{"--delay", "-1s"}, "--delay must be between"},
		{[]string{"--port", "70000"}, "not a TCP port"},
		{[]string{"-o", "yaml"}, `invalid value "yaml" for --output`},
		{[]string{"--secret", "a", "--secret-file", "b"}, "none of the others can be"},
		{[]string{"--endpoint", " "}, "--endpoint must not be empty"},
		{[]string{"extra"}, "unknown command"},
	} {
		r := hookctl(t, nil, append([]string{"listen"}, tc.args...), capture)
		if r.code != cmdutil.ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// listening runs `hookctl listen args` on a free port until stop is
// called, which returns what it printed.
func listening(t *testing.T, fake *fakeAPI, random func() float64, args ...string) (addr string, stop func() cliRun) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan cliRun, 1)
	swap := func(c *runConfig) {
		c.swap = func(f *Factory, root *cobra.Command) {
			old, _, _ := root.Find([]string{"listen"})
			root.RemoveCommand(old)
			root.AddCommand(NewCmdListen(f, func(o *ListenOptions) error {
				o.ready = func(a net.Addr) { ready <- a }
				if random != nil {
					o.random = random
				}
				return runListen(o)
			}))
		}
	}
	go func() { done <- hookctlCtx(t, ctx, fake, append([]string{"listen", "--port", "0"}, args...), swap) }()
	select {
	case a := <-ready:
		addr = a.String()
	case r := <-done:
		cancel()
		t.Fatalf("listen ended before listening: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("listen did not listen within 10s")
	}
	var once bool
	var result cliRun
	stop = func() cliRun {
		if !once {
			once = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("listen did not stop within 15s of Ctrl-C")
			}
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

// post sends a request and returns the status it got.
func post(t *testing.T, url string, header map[string]string, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestListenPrintsAndVerifies(t *testing.T) {
	addr, stop := listening(t, nil, nil, "--secret", listenSecret)
	body := `{"id":"evt_1","type":"order.created","timestamp":"2026-01-01T00:00:00Z","data":{"order_id":42}}`
	signed, err := signature.Sign(signature.Standard, []string{listenSecret}, "msg_1", time.Now(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if code := post(t, "http://"+addr+"/webhooks", signed, body); code != 200 {
		t.Errorf("signed: status %d", code)
	}
	// The same headers on another body: a tampered delivery.
	post(t, "http://"+addr+"/webhooks", signed, `{"order_id":43}`)
	post(t, "http://"+addr+"/other?x=1", nil, "not json")
	r := stop()
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout,
		"POST /webhooks  → 200\n",
		"webhook-id: msg_1\n",
		"content-length: 95\n",
		"Signature: valid (standard)\n",
		"{\n  \"id\": \"evt_1\",\n  \"type\": \"order.created\",",
		"\"order_id\": 42\n",
		"Signature: INVALID: no_matching_signature: ",
		"POST /other?x=1  → 200\n",
		"Signature: INVALID: missing_header: ",
		"\nnot json\n",
	)
	wantContains(t, "stderr", r.stderr,
		"Listening on http://"+addr+" (any path); answering 200. Ctrl-C to stop.",
		"Checking signatures with the secret given.",
		"Received 3 requests (1 distinct webhook-id): 3 answered 200.",
		"Signatures: 1 valid, 2 invalid.",
	)
}

func TestListenFailsDelaysAndJSONL(t *testing.T) {
	addr, stop := listening(t, nil, func() float64 { return 0.5 }, "--fail-rate", "0.6", "--delay", "100ms", "-o", "jsonl", "--status", "202")
	start := time.Now()
	code := post(t, "http://"+addr+"/", map[string]string{"webhook-id": "msg_9"}, `{"a":1}`)
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("answered after %s, want at least the 100ms --delay", took)
	}
	if code != 500 {
		t.Errorf("status %d, want the --fail-rate 500", code)
	}
	r := stop()
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		lines = append(lines, m)
	}
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1:\n%s", len(lines), r.stdout)
	}
	l := lines[0]
	if l["status"] != 500.0 || l["failed"] != true || l["delay_ms"] != 100.0 || l["webhook_id"] != "msg_9" || l["method"] != "POST" || l["path"] != "/" {
		t.Errorf("line %v", l)
	}
	if b, ok := l["body"].(map[string]any); !ok || b["a"] != 1.0 {
		t.Errorf("body %v, want the JSON object", l["body"])
	}
	if s, ok := l["signature"].(map[string]any); !ok || s["checked"] != false {
		t.Errorf("signature %v, want not checked", l["signature"])
	}
	wantContains(t, "stderr", r.stderr,
		"answering 202, or 500 to 60% of them at random, after 100ms.",
		"Not checking signatures",
		"Received 1 request (1 distinct webhook-id): 1 answered 500 (1 by --fail-rate).",
	)

	// Below the fail rate's draw, the --status answers.
	addr, stop = listening(t, nil, func() float64 { return 0.7 }, "--fail-rate", "0.6", "--status", "410")
	if code := post(t, "http://"+addr+"/", nil, "{}"); code != 410 {
		t.Errorf("status %d, want 410", code)
	}
	stop()
}

func TestListenEndpoint(t *testing.T) {
	fake := newFakeAPI(t)
	fake.handle("GET /v1/endpoints/ep_1", http.StatusOK, api.Endpoint{ID: "ep_1", URL: "http://127.0.0.1:1/hooks", Enabled: false, DisabledReason: "manual"})
	fake.handle("GET /v1/endpoints/ep_404", http.StatusNotFound, map[string]any{"error": map[string]string{"code": "not_found", "message": "no endpoint ep_404"}})

	addr, stop := listening(t, fake, nil, "--endpoint", "ep_1", "--secret-file", writeSecret(t))
	post(t, "http://"+addr+"/hooks", nil, "{}")
	post(t, "http://"+addr+"/elsewhere", nil, "{}")
	r := stop()
	wantContains(t, "stderr", r.stderr,
		"Warning: endpoint ep_1 delivers to http://127.0.0.1:1/hooks, not to this listener",
		"hookctl endpoints update ep_1 --url http://"+addr+"/hooks",
		"Warning: endpoint ep_1 is disabled (manual)",
		"Showing deliveries to endpoint ep_1 (path /hooks) only.",
		"Received 1 request: 1 answered 200.",
		"Not shown: 1 request to other paths than endpoint ep_1's.",
	)
	wantContains(t, "stdout", r.stdout, "POST /hooks  ep_1  → 200")
	if strings.Contains(r.stdout, "/elsewhere") {
		t.Errorf("a request to another path was shown:\n%s", r.stdout)
	}

	// An endpoint that leads here draws no warning.
	fake.handle("GET /v1/endpoints/ep_here", http.StatusOK, api.Endpoint{ID: "ep_here", URL: "http://localhost:4000/", Enabled: true})
	if !leadsHere(mustURL(t, "http://localhost:4000/"), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}) ||
		leadsHere(mustURL(t, "https://127.0.0.1:4000/"), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}) ||
		leadsHere(mustURL(t, "http://example.com:4000/"), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}) {
		t.Error("leadsHere")
	}

	// An unknown endpoint is an API error, before listening.
	res := hookctl(t, fake, []string{"listen", "--port", "0", "--endpoint", "ep_404"})
	if res.code != cmdutil.ExitFailure || !strings.Contains(res.stderr, "no endpoint ep_404") {
		t.Errorf("unknown endpoint: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestListenPortInUse(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := netip.MustParseAddrPort(ln.Addr().String()).Port()
	r := hookctl(t, nil, []string{"listen", "--port", strconv.Itoa(int(port))})
	if r.code != cmdutil.ExitFailure || !strings.Contains(r.stderr, "choose another with --port") {
		t.Errorf("port %d in use: exit %d, stderr %q", port, r.code, r.stderr)
	}
	r = hookctl(t, nil, []string{"listen", "--port", "0", "--secret", "not-a-secret"})
	if r.code != cmdutil.ExitUsage || !strings.Contains(r.stderr, "signing secret") {
		t.Errorf("bad secret: exit %d, stderr %q", r.code, r.stderr)
	}
}

func writeSecret(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "whsec.txt")
	if err := os.WriteFile(p, []byte(listenSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
