package daemon

import (
	"encoding/json"
	"strings"
	"testing"

	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apikey"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage/postgres"
)

// `hookd keys` bootstraps keys straight in PostgreSQL: create prints the
// key once (its hash is stored), list never shows it, revoke marks it.
func TestKeysCommand(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	if _, err := postgres.Migrate(t.Context(), dsn, postgres.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOKD_POSTGRES_DSN", dsn)
	run := func(args ...string) (string, string, error) {
		ios, _, out, errOut := iostreams.Test()
		root := NewCmdRoot(ios)
		root.SetArgs(args)
		_, err := root.ExecuteContextC(t.Context())
		return out.String(), errOut.String(), err
	}

	out, errOut, err := run("keys", "create", "--name", "bootstrap", "--scope", "admin")
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(out)
	if apikey.Check(key) != nil || !strings.Contains(errOut, "not shown again") {
		t.Fatalf("create printed %q / %q", out, errOut)
	}
	store, err := postgres.Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stored, err := store.APIKeyByHash(t.Context(), apikey.Hash(key))
	if err != nil || stored.Name != "bootstrap" || len(stored.Scopes) != 1 || stored.Scopes[0] != "admin" {
		t.Fatalf("stored key: %+v %v", stored, err)
	}

	out, _, err = run("keys", "create", "--name", "ci", "--scope", "events:publish", "--scope", "deliveries:read", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var created wire.KeyCreated
	if err := json.Unmarshal([]byte(out), &created); err != nil || apikey.Check(created.Key) != nil || len(created.APIKey.Scopes) != 2 {
		t.Fatalf("create -o json: %s %v", out, err)
	}

	out, _, err = run("keys", "list")
	if err != nil || !strings.Contains(out, "bootstrap") || !strings.Contains(out, "ci") || strings.Contains(out, key) {
		t.Fatalf("list: %s %v", out, err)
	}
	if _, _, err := run("keys", "revoke", stored.ID); err != nil {
		t.Fatal(err)
	}
	if k, _ := store.APIKeyByHash(t.Context(), apikey.Hash(key)); k.RevokedAt == nil {
		t.Error("revoked key has no revoked_at")
	}
	if _, _, err := run("keys", "revoke", "key_unknown"); err == nil || cmdutil.ExitCode(err) != 1 {
		t.Errorf("revoking an unknown key: %v", err)
	}
	for _, args := range [][]string{
		{"keys", "create", "--scope", "admin"},
		{"keys", "create", "--name", "x"},
		{"keys", "create", "--name", "x", "--scope", "root"},
		{"keys", "list", "-o", "xml"},
		{"keys", "revoke"},
	} {
		if _, _, err := run(args...); cmdutil.ExitCode(err) != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, cmdutil.ExitCode(err), err)
		}
	}
}
