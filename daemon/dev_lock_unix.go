//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir keeps a second hookd dev off a data directory in use: two
// brokers and two SQLite writers on the same files would corrupt them. The
// lock is the kernel's, so it goes with the process however that ends.
func lockDataDir(dir string) (func(), error) {
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another hookd dev; stop it, or pass another --data-dir", dir)
		}
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	return func() { _ = f.Close() }, nil
}
