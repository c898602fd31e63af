package cli

import (
	"errors"
	"testing"

	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
)

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		want int
	}{
		{[]string{"version"}, cmdutil.ExitOK},
		{[]string{"version", "-o", "json"}, cmdutil.ExitOK},
		{[]string{"version", "-o", "xml"}, cmdutil.ExitUsage},
		{[]string{"version", "--bogus"}, cmdutil.ExitUsage},
		{[]string{"version", "extra"}, cmdutil.ExitUsage},
		{[]string{"nope"}, cmdutil.ExitUsage},
	}
	for _, tc := range cases {
		ios, _, _, _ := iostreams.Test()
		root := NewCmdRoot(&Factory{IOStreams: ios})
		root.SetArgs(tc.args)
		err := root.Execute()
		if got := cmdutil.ExitCode(err); got != tc.want {
			t.Errorf("hookctl %v: exit %d (err %v), want %d", tc.args, got, err, tc.want)
		}
	}
}

func TestVersionRunsWithInjectedRunner(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	var got *cmdutil.VersionOptions
	cmd := cmdutil.NewCmdVersion(ios, "hookctl", func(o *cmdutil.VersionOptions) error {
		got = o
		return errors.New("boom")
	})
	cmd.SetArgs([]string{"-o", "json"})
	if err := cmd.Execute(); err == nil || err.Error() != "boom" {
		t.Fatalf("Execute() = %v, want the runner's error", err)
	}
	if got == nil || got.Output != "json" || got.Program != "hookctl" {
		t.Fatalf("runner got %+v", got)
	}
}
