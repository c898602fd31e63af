// Package ctxconfig keeps hookctl's contexts, as kubectl does: named pairs
// of a hookd server and an API key, one of them current. The file holds API
// keys, so it is written with mode 0600 in a 0700 directory, atomically.
package ctxconfig

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Environment variables that override the file.
const (
	EnvConfig = "HOOKCTL_CONFIG"  // path of the file
	EnvServer = "HOOKCTL_SERVER"  // server for this invocation
	EnvAPIKey = "HOOKCTL_API_KEY" //nolint:gosec // the name of a variable, not a key
)

// Context is one hookd to talk to.
type Context struct {
	Name   string `yaml:"name" json:"name"`
	Server string `yaml:"server" json:"server"`
	APIKey string `yaml:"api-key,omitempty" json:"-"`
}

// File is the whole configuration.
type File struct {
	CurrentContext string    `yaml:"current-context,omitempty"`
	Contexts       []Context `yaml:"contexts"`
	path           string
}

// ErrNoContext means there is no context to use.
var ErrNoContext = errors.New("no hookd server configured: run `hookctl config set-context NAME --server URL --api-key KEY`, or set HOOKCTL_SERVER and HOOKCTL_API_KEY")

// Path returns where the file lives: $HOOKCTL_CONFIG, else hookctl/config.yaml
// in the user's configuration directory.
func Path() (string, error) {
	if p := os.Getenv(EnvConfig); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory (set %s): %w", EnvConfig, err)
	}
	return filepath.Join(dir, "hookctl", "config.yaml"), nil
}

// Load reads the file; a missing file is an empty configuration.
func Load() (*File, error) {
	path, err := Path()
	if err != nil {
		return nil, err
	}
	f := &File{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("%s is larger than 1 MiB", path)
	}
	if err := yaml.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.path = path
	return f, nil
}

// Save writes the file atomically with mode 0600.
func (f *File) Save() error {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return err
	}
	data, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".config-*.yaml")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.path)
}

// Find returns the named context.
func (f *File) Find(name string) (*Context, bool) {
	for i := range f.Contexts {
		if f.Contexts[i].Name == name {
			return &f.Contexts[i], true
		}
	}
	return nil, false
}

// Set creates or updates a context; empty fields of c keep their value.
func (f *File) Set(c Context) {
	if existing, ok := f.Find(c.Name); ok {
		if c.Server != "" {
			existing.Server = c.Server
		}
		if c.APIKey != "" {
			existing.APIKey = c.APIKey
		}
		return
	}
	f.Contexts = append(f.Contexts, c)
}

// Delete removes a context; it reports whether it existed.
func (f *File) Delete(name string) bool {
	for i := range f.Contexts {
		if f.Contexts[i].Name == name {
			f.Contexts = append(f.Contexts[:i], f.Contexts[i+1:]...)
			if f.CurrentContext == name {
				f.CurrentContext = ""
			}
			return true
		}
	}
	return false
}

// Target is where a command sends its requests, after the environment
// overrides are applied.
type Target struct {
	Context string
	Server  string
	APIKey  string
}

// Resolve picks the server and key: HOOKCTL_SERVER and HOOKCTL_API_KEY
// override the current context.
func (f *File) Resolve() (Target, error) {
	var t Target
	if c, ok := f.Find(f.CurrentContext); ok {
		t = Target{Context: c.Name, Server: c.Server, APIKey: c.APIKey}
	}
	if v := os.Getenv(EnvServer); v != "" {
		t.Server = v
	}
	if v := os.Getenv(EnvAPIKey); v != "" {
		t.APIKey = v
	}
	if t.Server == "" {
		return t, ErrNoContext
	}
	return t, ValidateServer(t.Server)
}

// ValidateServer checks a server URL.
func ValidateServer(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("server %q is not an http:// or https:// URL", s)
	}
	return nil
}
