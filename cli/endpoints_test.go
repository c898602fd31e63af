package cli

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
)

func testEndpoint(id string) api.Endpoint {
	now := time.Now()
	return api.Endpoint{
		ID: id, URL: "https://example.com/hooks/" + id + "/a/rather/long/path/that/goes/on/and/on",
		EventTypes: []string{"order.*", "invoice.paid"}, SigningScheme: "standard", Enabled: true,
		Labels:    map[string]string{"env": "prod"},
		CreatedAt: now.Add(-3 * time.Hour), UpdatedAt: now.Add(-3*time.Minute - 10*time.Second), Version: 2,
	}
}

func TestEndpointCreateSendsOnlyGivenFlags(t *testing.T) {
	fake := newFakeAPI(t)
	ep := testEndpoint("ep_1")
	fake.handle("POST /v1/endpoints", http.StatusCreated, api.EndpointCreated{Endpoint: ep, Secret: "whsec_new"})

	r := hookctl(t, fake, []string{
		"endpoints", "create", "--url", "https://example.com/h", "-H", "X-Team: billing",
		"--retry-schedule", "5s,1m,10m", "--rate-limit", "2.5", "--success-code", "200", "--success-code", "202",
		"--label", "env=prod", "--timeout", "30s", "--scheme", "github",
	})
	r.wantCode(t, cmdutil.ExitOK)
	req := fake.only()
	if req.Method != http.MethodPost || req.Path != "/v1/endpoints" {
		t.Fatalf("request %s %s", req.Method, req.Path)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer hk_test" {
		t.Errorf("Authorization %q", got)
	}
	wantJSONBody(t, req, `{"url":"https://example.com/h","event_types":["*"],"headers":{"X-Team":"billing"},
		"signing_scheme":"github","retry_policy":{"schedule":["5s","1m0s","10m0s"]},"rate_limit":2.5,
		"timeout":"30s","success_status_codes":[200,202],"labels":{"env":"prod"}}`)
	wantContains(t, "stdout", r.stdout, "ID:", "ep_1", "Secret:", "whsec_new", "order.*, invoice.paid")
	wantContains(t, "stderr", r.stderr, "Store the signing secret now")
}

func TestEndpointCreateJSONIncludesSecret(t *testing.T) {
	fake := newFakeAPI(t)
	fake.handle("POST /v1/endpoints", http.StatusCreated, api.EndpointCreated{Endpoint: testEndpoint("ep_1"), Secret: "whsec_new"})
	r := hookctl(t, fake, []string{
		"ep", "create", "--url", "https://x.example", "--event-type", "a.b", "--disabled",
		"--retry-exponential", "min=1s,max=1h,attempts=10", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "-o", "json",
	})
	r.wantCode(t, cmdutil.ExitOK)
	wantJSONBody(t, fake.only(), `{"url":"https://x.example","event_types":["a.b"],"enabled":false,
		"retry_policy":{"exponential":{"min":"1s","max":"1h0m0s","attempts":10}},"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`)
	wantContains(t, "stdout", r.stdout, `"secret": "whsec_new"`, `"endpoint": {`)
	if r.stderr != "" {
		t.Errorf("json output wrote to stderr: %q", r.stderr)
	}
}

func TestEndpointCreateUsageErrors(t *testing.T) {
	cases := [][]string{
		{"endpoints", "create"},
		{"endpoints", "create", "--url", "https://x", "--scheme", "md5"},
		{"endpoints", "create", "--url", "https://x", "--retry-schedule", "5s,soon"},
		{"endpoints", "create", "--url", "https://x", "--retry-exponential", "min=1s"},
		{"endpoints", "create", "--url", "https://x", "--retry-exponential", "min=1h,max=1s,attempts=3"},
		{"endpoints", "create", "--url", "https://x", "--retry-schedule", "1s", "--retry-exponential", "min=1s,max=2s,attempts=2"},
		{"endpoints", "create", "--url", "https://x", "-H", "nocolon"},
		{"endpoints", "create", "--url", "https://x", "--label", "novalue"},
		{"endpoints", "create", "--url", "https://x", "--success-code", "42"},
		{"endpoints", "create", "--url", "https://x", "--rate-limit", "fast"},
		{"endpoints", "create", "--url", "https://x", "--secret", "nope"},
		{"endpoints", "create", "--url", "https://x", "-o", "xml"},
		{"endpoints", "create", "--url", "https://x", "extra"},
		{"endpoints", "get"},
		{"endpoints", "update", "ep_1"},
		{"endpoints", "update", "ep_1", "--url", "https://x", "--version", "0"},
		{"endpoints", "list", "--limit", "-1"},
		{"endpoints", "list", "--label", "env"},
		{"endpoints", "delete", "ep_1"}, // stdin is not a terminal and no --yes
	}
	fake := newFakeAPI(t)
	for _, args := range cases {
		r := hookctl(t, fake, args)
		if r.code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, want 2; stderr %q", args, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "--help' for usage") {
			t.Errorf("%v: stderr %q has no pointer to help", args, r.stderr)
		}
	}
	if reqs := fake.requests(); len(reqs) != 0 {
		t.Errorf("usage errors sent requests: %+v", reqs)
	}
}

func TestEndpointUpdateSendsChangedFieldsAndVersion(t *testing.T) {
	fake := newFakeAPI(t)
	fake.handle("PATCH /v1/endpoints/{id}", http.StatusOK, testEndpoint("ep_1"))
	r := hookctl(t, fake, []string{
		"endpoints", "update", "ep_1", "--description", "", "--event-type", "Order.Created",
		"--label", "", "--max-concurrency", "4", "--version", "7", "-o", "jsonl",
	})
	r.wantCode(t, cmdutil.ExitOK)
	req := fake.only()
	if req.Path != "/v1/endpoints/ep_1" {
		t.Errorf("path %s", req.Path)
	}
	wantJSONBody(t, req, `{"description":"","event_types":["Order.Created"],"labels":{},"max_concurrency":4,"version":7}`)
	if n := strings.Count(r.stdout, "\n"); n != 1 || !strings.HasPrefix(r.stdout, `{"id":"ep_1"`) {
		t.Errorf("jsonl output %q", r.stdout)
	}
}

func TestEndpointListOutputs(t *testing.T) {
	fake := newFakeAPI(t)
	e1, e2 := testEndpoint("ep_1"), testEndpoint("ep_2")
	e2.Enabled, e2.DisabledReason, e2.TenantID = false, "gone", "acme"
	fake.handleFunc("GET /v1/endpoints", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			writeJSONResponse(w, http.StatusOK, api.Page[api.Endpoint]{Items: []api.Endpoint{e1}, NextCursor: "c2"})
			return
		}
		writeJSONResponse(w, http.StatusOK, api.Page[api.Endpoint]{Items: []api.Endpoint{e2}})
	})

	t.Run("tty table", func(t *testing.T) {
		r := hookctl(t, fake, []string{"endpoints", "list", "--all"}, tty)
		r.wantCode(t, cmdutil.ExitOK)
		lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("want header and 2 rows:\n%s", r.stdout)
		}
		if !regexp.MustCompile(`^ID\s+URL\s+EVENT TYPES\s+STATUS\s+TENANT\s+UPDATED$`).MatchString(lines[0]) {
			t.Errorf("header %q", lines[0])
		}
		// Columns line up: STATUS starts at the same offset on every line.
		col := runeIndex(lines[0], "STATUS")
		if runeIndex(lines[1], "enabled") != col || runeIndex(lines[2], "disabled") != col {
			t.Errorf("columns not aligned:\n%s", r.stdout)
		}
		wantContains(t, "stdout", r.stdout, "…", "3m ago", "acme")
		if strings.Contains(r.stdout, "\x1b[") {
			t.Errorf("color with NO_COLOR set:\n%q", r.stdout)
		}
	})
	t.Run("piped table is plain", func(t *testing.T) {
		r := hookctl(t, fake, []string{"endpoints", "list"})
		r.wantCode(t, cmdutil.ExitOK)
		wantContains(t, "stdout", r.stdout, e1.URL, e1.UpdatedAt.UTC().Format(time.RFC3339))
		if strings.Contains(r.stdout, "…") || strings.Contains(r.stdout, "ago") {
			t.Errorf("piped table truncated or relative:\n%s", r.stdout)
		}
		wantContains(t, "stderr", r.stderr, "--cursor c2")
	})
	t.Run("color on a terminal", func(t *testing.T) {
		r := hookctl(t, fake, []string{"endpoints", "list", "--all"}, tty, withColor)
		wantContains(t, "stdout", r.stdout, "\x1b[32menabled\x1b[0m", "\x1b[31mdisabled\x1b[0m")
	})
	t.Run("json is the page", func(t *testing.T) {
		r := hookctl(t, fake, []string{"endpoints", "list", "-o", "json"})
		wantContains(t, "stdout", r.stdout, "{\n  \"items\": [\n", `"next_cursor": "c2"`)
	})
	t.Run("jsonl is one item a line", func(t *testing.T) {
		r := hookctl(t, fake, []string{"endpoints", "list", "--all", "-o", "jsonl"})
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], `{"id":"ep_1"`) || !strings.HasPrefix(lines[1], `{"id":"ep_2"`) {
			t.Errorf("jsonl:\n%s", r.stdout)
		}
	})
	t.Run("yaml has the API's field names", func(t *testing.T) {
		r := hookctl(t, fake, []string{"endpoints", "list", "--all", "-o", "yaml"})
		wantContains(t, "stdout", r.stdout, "items:\n  - id: ep_1\n", "    event_types:\n      - order.*\n", "disabled_reason: gone")
		if strings.Contains(r.stdout, "next_cursor") {
			t.Errorf("--all left a cursor:\n%s", r.stdout)
		}
	})
}

// runeIndex is where sub starts in s, in characters, as a terminal shows it.
func runeIndex(s, sub string) int {
	i := strings.Index(s, sub)
	if i < 0 {
		return -1
	}
	return utf8.RuneCountInString(s[:i])
}

func TestEndpointListSendsFilters(t *testing.T) {
	fake := newFakeAPI(t)
	fake.handle("GET /v1/endpoints", http.StatusOK, api.Page[api.Endpoint]{})
	r := hookctl(t, fake, []string{"endpoints", "list", "--label", "env=prod", "--label", "team=a", "--tenant", "acme", "--limit", "5"})
	r.wantCode(t, cmdutil.ExitOK)
	if q := fake.only().Query; q != "label=env%3Aprod&label=team%3Aa&limit=5&tenant=acme" {
		t.Errorf("query %q", q)
	}
	wantContains(t, "stderr", r.stderr, "No endpoints found.")
	if r.stdout != "" {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestEndpointGetTable(t *testing.T) {
	fake := newFakeAPI(t)
	ep := testEndpoint("ep_1")
	ep.RetryPolicy = api.RetryPolicy{Schedule: []api.Duration{api.Duration(5 * time.Second), api.Duration(time.Minute)}}
	ep.Headers = map[string]string{"X-A": "1"}
	fake.handle("GET /v1/endpoints/{id}", http.StatusOK, ep)
	r := hookctl(t, fake, []string{"endpoints", "get", "ep_1"}, tty)
	r.wantCode(t, cmdutil.ExitOK)
	for _, re := range []string{`(?m)^ID:\s+ep_1$`, `(?m)^Retry policy:\s+5s, 1m$`, `(?m)^Headers:\s+X-A: 1$`, `(?m)^Labels:\s+env=prod$`, `(?m)^Status:\s+enabled$`, `(?m)^Tenant:\s+-$`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("stdout does not match %s:\n%s", re, r.stdout)
		}
	}
	if fake.only().Path != "/v1/endpoints/ep_1" {
		t.Error("wrong path")
	}
}

func TestEndpointDeleteConfirms(t *testing.T) {
	fake := newFakeAPI(t)
	fake.handle("GET /v1/endpoints/{id}", http.StatusOK, testEndpoint("ep_1"))
	fake.handle("DELETE /v1/endpoints/{id}", http.StatusNoContent, nil)

	r := hookctl(t, fake, []string{"endpoints", "delete", "ep_1"}, tty, stdin("n\n"))
	r.wantCode(t, cmdutil.ExitFailure)
	wantContains(t, "stderr", r.stderr, "Delete endpoint ep_1 (https://example.com/hooks/ep_1", "[y/N]", "nothing changed")
	for _, req := range fake.requests() {
		if req.Method == http.MethodDelete {
			t.Fatal("deleted without a yes")
		}
	}

	r = hookctl(t, fake, []string{"endpoints", "delete", "ep_1"}, tty, stdin("y\n"))
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, "Deleted endpoint ep_1.")

	r = hookctl(t, fake, []string{"endpoints", "rm", "ep_1", "--yes"})
	r.wantCode(t, cmdutil.ExitOK)
	reqs := fake.requests()
	if last := reqs[len(reqs)-1]; last.Method != http.MethodDelete || last.Path != "/v1/endpoints/ep_1" {
		t.Errorf("last request %s %s", last.Method, last.Path)
	}
}

func TestEndpointEnableDisableRotate(t *testing.T) {
	fake := newFakeAPI(t)
	ep := testEndpoint("ep_1")
	fake.handle("POST /v1/endpoints/{id}/enable", http.StatusOK, ep)
	ep.Enabled = false
	fake.handle("POST /v1/endpoints/{id}/disable", http.StatusOK, ep)
	fake.handle("POST /v1/endpoints/{id}/rotate-secret", http.StatusOK, api.RotateSecretResponse{Secret: "whsec_rot", OldExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)})

	r := hookctl(t, fake, []string{"endpoints", "enable", "ep_1"})
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, "Endpoint ep_1 is enabled.")

	r = hookctl(t, fake, []string{"endpoints", "disable", "ep_1", "--reason", "migration", "-o", "json"})
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, `"enabled": false`)

	r = hookctl(t, fake, []string{"endpoints", "rotate-secret", "ep_1", "--expire-old-in", "1h"})
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, "whsec_rot", "2030-01-02T03:04:05Z")
	wantContains(t, "stderr", r.stderr, "Store the new signing secret now")

	r = hookctl(t, fake, []string{"endpoints", "rotate-secret", "ep_1"})
	r.wantCode(t, cmdutil.ExitOK)

	reqs := fake.requests()
	wantJSONBody(t, reqs[0], `{}`)
	wantJSONBody(t, reqs[1], `{"reason":"migration"}`)
	wantJSONBody(t, reqs[2], `{"expire_old_in":"1h0m0s"}`)
	wantJSONBody(t, reqs[3], `{}`)
}
