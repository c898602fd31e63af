//go:build !unix

package daemon

// lockDataDir does nothing where flock(2) does not exist; hookd is
// released for Linux and macOS.
func lockDataDir(string) (func(), error) { return func() {}, nil }
