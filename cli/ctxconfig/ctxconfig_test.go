package ctxconfig

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSaveIsPrivateAndResolveHonoursTheEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir", "config.yaml")
	t.Setenv(EnvConfig, path)
	t.Setenv(EnvServer, "")
	t.Setenv(EnvAPIKey, "")
	f, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Resolve(); !errors.Is(err, ErrNoContext) {
		t.Fatalf("empty config resolves: %v", err)
	}
	f.Set(Context{Name: "dev", Server: "http://localhost:8080", APIKey: "hk_1"})
	f.CurrentContext = "dev"
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, err %v; want 0600", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v; want 0700", di.Mode())
	}
	g, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := g.Resolve()
	if err != nil || tgt.Server != "http://localhost:8080" || tgt.APIKey != "hk_1" {
		t.Fatalf("resolve: %+v %v", tgt, err)
	}
	t.Setenv(EnvServer, "https://other.example.com")
	t.Setenv(EnvAPIKey, "hk_env")
	if tgt, _ := g.Resolve(); tgt.Server != "https://other.example.com" || tgt.APIKey != "hk_env" {
		t.Fatalf("environment did not override: %+v", tgt)
	}
	t.Setenv(EnvServer, "not a url")
	if _, err := g.Resolve(); err == nil {
		t.Fatal("a bad HOOKCTL_SERVER was accepted")
	}
}

func TestLoadRefusesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("contexts: {not: [a list"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvConfig, path)
	if _, err := Load(); err == nil {
		t.Fatal("garbage loaded")
	}
}
