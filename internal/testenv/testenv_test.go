package testenv

import (
	"regexp"
	"strings"
	"testing"
)

func TestUniqueName(t *testing.T) {
	valid := regexp.MustCompile(`^t_[a-z0-9_]+$`)
	a, b := UniqueName(t, "t_", 48), UniqueName(t, "t_", 48)
	if a == b {
		t.Fatalf("two names alike: %s", a)
	}
	for _, n := range []string{a, b} {
		if len(n) > 48 || !valid.MatchString(n) {
			t.Fatalf("bad name %q", n)
		}
	}
	t.Run(strings.Repeat("Very Long/Sub-Test Name ", 10), func(t *testing.T) {
		n := UniqueName(t, "t_", 48)
		if len(n) > 48 || !valid.MatchString(n) {
			t.Fatalf("bad name %q (%d chars)", n, len(n))
		}
	})
}

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1": true, "TRUE": true, "": false, "false": false} {
		t.Setenv("CI", v)
		if InCI() != want {
			t.Errorf("CI=%q: InCI() = %v", v, !want)
		}
	}
}
