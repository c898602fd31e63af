package cli

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
)

func TestKeys(t *testing.T) {
	fake := newFakeAPI(t)
	used := time.Now().Add(-10 * time.Minute)
	key := api.APIKey{ID: "key_1", Name: "ci", Scopes: []string{"events:publish", "deliveries:read"}, CreatedAt: time.Now().Add(-48 * time.Hour), LastUsedAt: &used}
	fake.handle("POST /v1/keys", http.StatusCreated, api.KeyCreated{Key: "hk_secret", APIKey: key})
	revoked := key
	revoked.ID, revoked.RevokedAt = "key_2", &used
	fake.handle("GET /v1/keys", http.StatusOK, api.Page[api.APIKey]{Items: []api.APIKey{key, revoked}})
	fake.handle("DELETE /v1/keys/{id}", http.StatusNoContent, nil)

	r := hookctl(t, fake, []string{"keys", "create", "--name", "ci", "--scope", "events:publish", "--scope", "deliveries:read"})
	r.wantCode(t, cmdutil.ExitOK)
	wantJSONBody(t, fake.requests()[0], `{"name":"ci","scopes":["events:publish","deliveries:read"]}`)
	if !regexp.MustCompile(`(?m)^Key:\s+hk_secret$`).MatchString(r.stdout) {
		t.Errorf("create:\n%s", r.stdout)
	}
	wantContains(t, "stderr", r.stderr, "Store the key now")

	r = hookctl(t, fake, []string{"keys", "create", "--name", "ci", "--scope", "admin", "-o", "json"})
	wantContains(t, "stdout", r.stdout, `"key": "hk_secret"`, `"api_key": {`)

	r = hookctl(t, fake, []string{"keys", "list"}, tty)
	r.wantCode(t, cmdutil.ExitOK)
	if !regexp.MustCompile(`(?m)^key_1\s+ci\s+events:publish,deliveries:read\s+active\s+2d ago\s+10m ago$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^key_2\s+.*revoked`).MatchString(r.stdout) {
		t.Errorf("list:\n%s", r.stdout)
	}

	r = hookctl(t, fake, []string{"keys", "revoke", "key_1", "--yes"})
	r.wantCode(t, cmdutil.ExitOK)
	reqs := fake.requests()
	if last := reqs[len(reqs)-1]; last.Method != http.MethodDelete || last.Path != "/v1/keys/key_1" {
		t.Errorf("revoke sent %s %s", last.Method, last.Path)
	}
}

func TestKeysUsageErrors(t *testing.T) {
	fake := newFakeAPI(t)
	for _, args := range [][]string{
		{"keys", "create", "--scope", "admin"},
		{"keys", "create", "--name", "x"},
		{"keys", "create", "--name", "x", "--scope", "root"},
		{"keys", "revoke", "key_1"}, // no terminal, no --yes
		{"keys", "revoke"},
		{"keys", "list", "-o", "csv"},
	} {
		r := hookctl(t, fake, args)
		if r.code != cmdutil.ExitUsage {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if len(fake.requests()) != 0 {
		t.Error("usage errors sent requests")
	}
	r := hookctl(t, fake, []string{"keys", "create", "--help"})
	for _, s := range []string{"endpoints:read", "endpoints:write", "events:publish", "deliveries:read", "dlq:replay", "admin"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("help does not list scope %s", s)
		}
	}
}
