package daemon

import (
	"context"
	"sync"

	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/storage"
	"github.com/hookd/hookd/storage/sqlite"
)

// SQLiteBackends keeps configuration and log in one SQLite file at path:
// the stores of `hookd dev`. Every role opens the same *sqlite.DB, since
// SQLite has one writer per file and the DB queues writers itself; it is
// closed when the last role closes it.
func SQLiteBackends(path string) *Backends {
	s := &sharedSQLite{path: path}
	return &Backends{
		ConfigName: "sqlite",
		LogName:    "sqlite",
		Config: func(ctx context.Context, l *config.Loaded, box *secretbox.Box) (ConfigBackend, error) {
			return s.open(ctx, l, box)
		},
		Log: func(ctx context.Context, l *config.Loaded) (LogBackend, error) {
			// The log holds no secrets, but the file is one: open it with
			// the same key the configuration uses.
			key, err := secretbox.ParseKey(l.EncryptionKey)
			if err != nil {
				return nil, &fatalError{&config.Error{Key: "encryption_key", Source: l.Source("encryption_key"), Msg: err.Error()}}
			}
			box, err := secretbox.New(key)
			if err != nil {
				return nil, &fatalError{err}
			}
			return s.open(ctx, l, box)
		},
	}
}

// sharedSQLite counts the roles holding its DB.
type sharedSQLite struct {
	path string
	mu   sync.Mutex
	db   *sqlite.DB
	refs int
}

func (s *sharedSQLite) open(ctx context.Context, l *config.Loaded, box *secretbox.Box) (*sqliteHandle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		db, err := sqlite.Open(ctx, s.path, box, sqlite.Options{
			Retention: storage.Retention{Delivered: l.Retention.Delivered, Failed: l.Retention.Failed, DeadLetters: l.Retention.DeadLetters},
		})
		if err != nil {
			return nil, err
		}
		s.db = db
	}
	s.refs++
	return &sqliteHandle{DB: s.db, release: s.release}, nil
}

func (s *sharedSQLite) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs--
	if s.refs == 0 && s.db != nil {
		_ = s.db.Close()
		s.db = nil
	}
}

// sqliteHandle is one role's hold on the shared DB.
type sqliteHandle struct {
	*sqlite.DB
	once    sync.Once
	release func()
}

// Close lets go of the DB; the last handle closed closes it.
func (h *sqliteHandle) Close() { h.once.Do(h.release) }

var (
	_ ConfigBackend = (*sqliteHandle)(nil)
	_ LogBackend    = (*sqliteHandle)(nil)
)
