package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookd/hookd/cli/ctxconfig"
	"github.com/hookd/hookd/internal/apikey"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/storage"
	"github.com/hookd/hookd/storage/sqlite"
)

// ensureDevAdminKey returns the admin API key of the data directory. The
// key itself (not only its hash, as the database keeps it) is kept in a
// private file so that hookctl's context can be restored on a later start;
// first reports that there was none, i.e. this is the directory's first
// start. A key missing from the database or revoked is replaced.
func ensureDevAdminKey(ctx context.Context, dir string, l *config.Loaded) (key string, first bool, err error) {
	raw, err := secretbox.ParseKey(l.EncryptionKey)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", filepath.Join(dir, devKeyFile), err)
	}
	box, err := secretbox.New(raw)
	if err != nil {
		return "", false, err
	}
	ctx, cancel := context.WithTimeout(ctx, devTimeout)
	defer cancel()
	db, err := sqlite.Open(ctx, filepath.Join(dir, devDBFile), box, sqlite.Options{PurgeInterval: -1})
	if err != nil {
		return "", false, err
	}
	defer func() { _ = db.Close() }()
	if err := db.CheckEncryptionKey(ctx); err != nil {
		if errors.Is(err, storage.ErrWrongEncryptionKey) {
			return "", false, fmt.Errorf("%s does not open the secrets in %s; restore the right key, or remove %s to start afresh", devKeyFile, devDBFile, dir)
		}
		return "", false, err
	}

	path := filepath.Join(dir, devAdminFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		key = strings.TrimSpace(string(b))
		if apikey.Check(key) == nil {
			k, err := db.APIKeyByHash(ctx, apikey.Hash(key))
			if err == nil && k.RevokedAt == nil {
				return key, false, nil
			}
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return "", false, err
			}
		}
		// Revoked, or gone with the database: make another.
		if err := os.Remove(path); err != nil {
			return "", false, err
		}
	case errors.Is(err, os.ErrNotExist):
		first = true
	default:
		return "", false, err
	}

	key, hash, err := apikey.Generate()
	if err != nil {
		return "", false, err
	}
	k := domain.APIKey{
		ID: ids.New(ids.APIKey), Name: "hookd dev admin", Hash: hash, Scopes: []string{domain.ScopeAdmin},
		CreatedBy: "hookd dev", CreatedAt: time.Now().UTC(),
	}
	if err := db.CreateAPIKey(ctx, k); err != nil {
		return "", false, err
	}
	if err := writePrivate(path, key+"\n"); err != nil {
		return "", false, fmt.Errorf("admin key: %w", err)
	}
	return key, first, nil
}

// saveDevContext points hookctl's "dev" context at this hookd dev, and
// makes it current when no other context is. It returns what to tell the
// user about it. A "dev" context that names a server elsewhere belongs to
// the user and is left alone.
func saveDevContext(apiURL, key string) string {
	manual := fmt.Sprintf("use it with HOOKCTL_SERVER=%s HOOKCTL_API_KEY=<the key in %s>", apiURL, devAdminFile)
	f, err := ctxconfig.Load()
	if err != nil {
		return fmt.Sprintf("hookctl's configuration could not be read (%v); %s", err, manual)
	}
	if c, ok := f.Find(devContext); ok && !isLoopbackURL(c.Server) {
		return fmt.Sprintf("hookctl already has a context %q for %s, left as it is; %s", devContext, c.Server, manual)
	}
	c, existed := f.Find(devContext)
	changed := !existed || c.Server != apiURL || c.APIKey != key
	f.Set(ctxconfig.Context{Name: devContext, Server: apiURL, APIKey: key})
	note := fmt.Sprintf("hookctl context %q", devContext)
	switch f.CurrentContext {
	case devContext:
		note += " (current)"
	case "":
		f.CurrentContext = devContext
		changed = true
		note += " (now current)"
	default:
		note += fmt.Sprintf(" (the current one is %q: switch with `hookctl config use-context %s`)", f.CurrentContext, devContext)
	}
	if changed {
		if err := f.Save(); err != nil {
			return fmt.Sprintf("hookctl's context could not be saved (%v); %s", err, manual)
		}
	}
	return note
}

func isLoopbackURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// devBanner is what hookd dev prints on stdout once it serves.
type devBanner struct {
	firstStart  bool
	dataDir     string
	apiURL      string
	kafka       string
	eventsTopic string
	saslUser    string
	context     string
}

func printDevBanner(w io.Writer, b devBanner) {
	kafka := b.kafka
	if b.saslUser != "" {
		kafka += fmt.Sprintf(" (SASL user %s: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN)", b.saslUser)
	}
	if !b.firstStart {
		fmt.Fprintf(w, "hookd dev ready: API %s, %s; Kafka %s, events topic %s; data in %s (kept from earlier runs).\n",
			b.apiURL, b.context, kafka, b.eventsTopic, b.dataDir)
		return
	}
	fmt.Fprintf(w, `hookd dev is ready: all of hookd in this process, with its data in %s.
Stop it with Ctrl-C and start it again to carry on where you were.

  API    %s
         %s; the admin API key is in %s
  Kafka  %s
         any Kafka client can publish events to the topic %s

Try it in another terminal (hookctl: go build -o bin/ ./cmd/hookctl):
  hookctl listen --port 4000
  hookctl endpoints create --url http://127.0.0.1:4000/webhooks --event-type 'order.*'
  hookctl events send --type order.created --data '{"order_id": 42}'
  hookctl tail
Then make the receiver fail and watch the retries and the dead-letter queue:
README.md, "Quickstart".
`, b.dataDir, b.apiURL, b.context, filepath.Join(b.dataDir, devAdminFile), kafka, b.eventsTopic)
}
