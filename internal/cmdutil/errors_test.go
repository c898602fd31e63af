package cmdutil

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("api said no"), ExitFailure},
		{ErrSilent, ExitFailure},
		{Usagef("bad flag"), ExitUsage},
		{fmt.Errorf("wrapped: %w", Usagef("bad flag")), ExitUsage},
		{errors.New(`unknown command "x" for "hookctl"`), ExitUsage},
		{errors.New("if any flags in the group [body body-file] are set none of the others can be; [body body-file] were all set"), ExitUsage},
	}
	for _, tc := range cases {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestPrintErrorIsQuietForSilent(t *testing.T) {
	var buf bytes.Buffer
	PrintError(&buf, nil, ErrSilent)
	PrintError(&buf, nil, nil)
	if buf.Len() != 0 {
		t.Fatalf("printed %q", buf.String())
	}
	PrintError(&buf, nil, errors.New("boom"))
	if buf.String() != "Error: boom\n" {
		t.Fatalf("printed %q", buf.String())
	}
}
