package buildinfo

import (
	"strings"
	"testing"
)

func TestStampedValuesWin(t *testing.T) {
	defer func(v, c, d string) { Version, Commit, Date = v, c, d }(Version, Commit, Date)
	Version, Commit, Date = "v1.2.3", "0123456789abcdef0123", "2026-01-02T03:04:05Z"
	info := Get()
	if info.Version != "v1.2.3" || info.Commit != Commit || info.Date != Date {
		t.Fatalf("Get() = %+v", info)
	}
	s := info.String("hookd")
	if !strings.HasPrefix(s, "hookd v1.2.3 (commit 0123456789ab, built 2026-01-02T03:04:05Z, go") {
		t.Fatalf("String() = %q", s)
	}
	if UserAgent() != "hookd/v1.2.3" {
		t.Fatalf("UserAgent() = %q", UserAgent())
	}
}
