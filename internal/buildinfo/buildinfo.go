// Package buildinfo carries the version stamped into hookd and hookctl at
// link time:
//
//	go build -ldflags "-X github.com/hookd/hookd/internal/buildinfo.Version=v1.2.3 \
//	  -X github.com/hookd/hookd/internal/buildinfo.Commit=abc1234 \
//	  -X github.com/hookd/hookd/internal/buildinfo.Date=2026-01-02T03:04:05Z"
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set with -ldflags -X; the defaults describe a development build.
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// Info is the build description printed by `version` commands.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// Get returns the build description. When the linker did not stamp a
// commit, it falls back to the VCS data the Go toolchain embeds, so a plain
// `go build` from a checkout still says which commit it is.
func Get() Info {
	info := Info{
		Version:   Version,
		Commit:    Commit,
		Date:      Date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if info.Commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					info.Commit = s.Value
				case "vcs.time":
					if info.Date == "" {
						info.Date = s.Value
					}
				}
			}
		}
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Date == "" {
		info.Date = "unknown"
	}
	return info
}

// String renders the description on one line, e.g.
// "hookctl v1.2.3 (commit abc1234, built 2026-01-02T03:04:05Z, go1.26.8 linux/amd64)".
func (i Info) String(program string) string {
	commit := i.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	return fmt.Sprintf("%s %s (commit %s, built %s, %s %s)", program, i.Version, commit, i.Date, i.GoVersion, i.Platform)
}

// UserAgent is the User-Agent header value hookd sends, e.g. "hookd/v1.2.3".
func UserAgent() string {
	return "hookd/" + Version
}
