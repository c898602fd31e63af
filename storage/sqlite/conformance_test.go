package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/storage"
	"github.com/hookd/hookd/storage/storagetest"
)

// TestConfigStoreConformance runs the shared ConfigStore suite. Each test
// gets a new file; the opener opens that same file again with the key it
// is given, as a restarted daemon would.
func TestConfigStoreConformance(t *testing.T) {
	storagetest.RunConfigStore(t, func(t *testing.T) storagetest.ConfigOpener {
		path := filepath.Join(t.TempDir(), "hookd.db")
		return func(box *secretbox.Box) storage.ConfigStore {
			return openAt(t, path, box, Options{})
		}
	})
}

// TestLogStoreConformance runs the shared LogStore suite, each subtest on
// a new file with the retention it asks for. The purge runs often, so the
// suite's expiry checks see both halves of expiry: rows hidden from reads
// at once, then deleted.
func TestLogStoreConformance(t *testing.T) {
	storagetest.RunLogStore(t, func(t *testing.T, r storage.Retention) storage.LogStore {
		return openTest(t, Options{Retention: r, PurgeInterval: 100 * time.Millisecond})
	})
}

func TestEndpointWatcherConformance(t *testing.T) {
	storagetest.RunEndpointWatcher(t, func(t *testing.T) (storage.EndpointStore, storage.EndpointWatcher) {
		db := openTest(t, Options{})
		return db, db
	})
}

// openAt opens the file at path and closes it when the test ends.
func openAt(t testing.TB, path string, box *secretbox.Box, opts Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), path, box, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// openTest opens a new database in a temporary directory.
func openTest(t testing.TB, opts Options) *DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "hookd.db"), storagetest.NewBox(t), opts)
}
