package cli

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
)

func TestAPIErrorRendering(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   api.ErrorBody
		want   []string
	}{
		{
			"400 with fields", http.StatusBadRequest,
			api.ErrorBody{Error: api.Error{Code: api.CodeInvalidRequest, Message: "invalid endpoint", Fields: map[string]string{"url": "must be https", "event_types": "bad filter \"A B\""}, RequestID: "req_1"}},
			[]string{"error: invalid endpoint\n  event_types: bad filter \"A B\"\n  url: must be https\nrequest id: req_1\n"},
		},
		{
			"401", http.StatusUnauthorized,
			api.ErrorBody{Error: api.Error{Code: api.CodeUnauthorized, Message: "unknown API key"}},
			[]string{"error: unknown API key\n", "request id: req_test\n", "hint: the server refused the API key", "HOOKCTL_API_KEY"},
		},
		{
			"403", http.StatusForbidden,
			api.ErrorBody{Error: api.Error{Code: api.CodeForbidden, Message: "the key lacks scope endpoints:write"}},
			[]string{"error: the key lacks scope endpoints:write\n", "hint: the API key lacks the scope", "hookctl keys create --scope"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeAPI(t)
			fake.handle("POST /v1/endpoints", tc.status, tc.body)
			r := hookctl(t, fake, []string{"endpoints", "create", "--url", "https://x.example"})
			r.wantCode(t, cmdutil.ExitFailure)
			wantContains(t, "stderr", r.stderr, tc.want...)
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
			if strings.Contains(r.stderr, "--help") {
				t.Errorf("an API error is not a usage error:\n%s", r.stderr)
			}
		})
	}
}

func TestNonJSONErrorBody(t *testing.T) {
	fake := newFakeAPI(t)
	fake.handleFunc("GET /v1/endpoints/{id}", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream connect error", http.StatusBadGateway)
	})
	r := hookctl(t, fake, []string{"endpoints", "get", "ep_1"})
	r.wantCode(t, cmdutil.ExitFailure)
	wantContains(t, "stderr", r.stderr, "error: HTTP 502: upstream connect error")
}

func TestUnreachableServer(t *testing.T) {
	r := hookctl(t, nil, []string{"endpoints", "list"})
	r.wantCode(t, cmdutil.ExitFailure)
	wantContains(t, "stderr", r.stderr, "error: cannot reach hookd at http://127.0.0.1:1: ", "connection refused",
		"hookctl config use-context", "HOOKCTL_SERVER")
	if strings.Contains(r.stderr, `Get "`) {
		t.Errorf("the URL error's prefix is noise:\n%s", r.stderr)
	}
}

// Through the real factory: no context and no HOOKCTL_SERVER is a clean
// error with exit 1; HOOKCTL_SERVER alone is enough to try.
func TestNoContext(t *testing.T) {
	t.Setenv("HOOKCTL_CONFIG", t.TempDir()+"/config.yaml")
	t.Setenv("HOOKCTL_SERVER", "")
	run := func(args ...string) (string, int) {
		ios, _, _, errOut := iostreams.Test()
		root := NewCmdRoot(&Factory{IOStreams: ios})
		root.SetArgs(args)
		cmd, err := root.ExecuteC()
		printError(errOut, cmd, err)
		return errOut.String(), cmdutil.ExitCode(err)
	}
	stderr, code := run("endpoints", "list")
	if code != cmdutil.ExitFailure || !strings.Contains(stderr, "no hookd server configured") {
		t.Errorf("no context: exit %d, stderr %q", code, stderr)
	}
	t.Setenv("HOOKCTL_SERVER", "http://127.0.0.1:1")
	stderr, code = run("keys", "list")
	if code != cmdutil.ExitFailure || !strings.Contains(stderr, "the server comes from HOOKCTL_SERVER") {
		t.Errorf("HOOKCTL_SERVER: exit %d, stderr %q", code, stderr)
	}
}
