package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/storage"
	"github.com/hookd/hookd/storage/cassandra"
	"github.com/hookd/hookd/storage/postgres"
)

// ConfigBackend is a configuration store as a process holds it.
type ConfigBackend interface {
	storage.ConfigStore
	storage.EndpointWatcher
	Ping(ctx context.Context) error
	Close()
}

// LogBackend is a delivery log as a process holds it.
type LogBackend interface {
	storage.LogStore
	Ping(ctx context.Context) error
	Close()
}

// Backends open the stores the roles use. Production uses PostgreSQL and
// Cassandra (from the configuration); `hookd dev` uses SQLite. The
// dispatch, retry, log-writer and API code is the same either way.
type Backends struct {
	// ConfigName and LogName name the stores in logs and /readyz.
	ConfigName, LogName string
	Config              func(ctx context.Context, l *config.Loaded, box *secretbox.Box) (ConfigBackend, error)
	Log                 func(ctx context.Context, l *config.Loaded) (LogBackend, error)
}

// ProductionBackends are PostgreSQL and Cassandra.
func ProductionBackends() *Backends {
	return &Backends{
		ConfigName: "postgres",
		LogName:    "cassandra",
		Config: func(ctx context.Context, l *config.Loaded, box *secretbox.Box) (ConfigBackend, error) {
			return postgres.Open(ctx, l.Postgres.DSN, box)
		},
		Log: func(ctx context.Context, l *config.Loaded) (LogBackend, error) {
			c := l.Cassandra
			return cassandra.NewStore(ctx, cassandra.Config{
				Hosts: c.Hosts, Keyspace: c.Keyspace, Consistency: c.Consistency, Username: c.Username, Password: c.Password, Timeout: c.Timeout,
			}, storage.Retention{Delivered: l.Retention.Delivered, Failed: l.Retention.Failed, DeadLetters: l.Retention.DeadLetters}, cassandra.Options{Consistency: c.Consistency})
		},
	}
}

var (
	_ ConfigBackend = (*postgres.Store)(nil)
	_ LogBackend    = (*cassandra.Store)(nil)
)

// openConfig opens the configuration store and proves the encryption key
// opens the secrets already in it.
func (b *Backends) openConfig(ctx context.Context, l *config.Loaded) (ConfigBackend, error) {
	key, err := secretbox.ParseKey(l.EncryptionKey)
	if err != nil {
		return nil, &fatalError{&config.Error{Key: "encryption_key", Source: l.Source("encryption_key"), Msg: err.Error()}}
	}
	box, err := secretbox.New(key)
	if err != nil {
		return nil, &fatalError{err}
	}
	s, err := b.Config(ctx, l, box)
	if err != nil {
		return nil, err
	}
	if err := s.CheckEncryptionKey(ctx); err != nil {
		s.Close()
		if errors.Is(err, storage.ErrWrongEncryptionKey) {
			return nil, &fatalError{fmt.Errorf("refusing to start: %w (the stored secrets were encrypted with another key)", err)}
		}
		return nil, err
	}
	return s, nil
}
