// Package cmdutil holds what the hookd and hookctl command trees share: the
// typed errors that decide exit codes, and the version command.
package cmdutil

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, the same for both binaries.
const (
	ExitOK      = 0
	ExitFailure = 1 // the work failed: an API error, a verification that did not pass
	ExitUsage   = 2 // the command line was wrong
)

// UsageError reports a command line that cannot work as given: an unknown
// flag, a bad flag value, a missing argument.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef builds a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ErrSilent fails a command whose output already said why; nothing more is
// printed and the exit code is ExitFailure.
var ErrSilent = errors.New("silent failure")

// ExitCode maps an error from a command to the process exit code. It is the
// one place where that decision is made.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var usage *UsageError
	if errors.As(err, &usage) || isCobraUsageError(err) {
		return ExitUsage
	}
	return ExitFailure
}

// isCobraUsageError recognizes the errors cobra itself returns for an
// unknown command and for flag groups (mutually exclusive or required
// together); other flag errors are wrapped by FlagErrorFunc instead.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command ", "if any flags in the group ", "at least one of the flags in the group "} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// FlagErrorFunc turns cobra's flag parsing errors into UsageErrors.
func FlagErrorFunc(_ *cobra.Command, err error) error {
	return &UsageError{Err: err}
}

// ExactArgs is cobra.ExactArgs returning a UsageError.
func ExactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &UsageError{Err: err}
		}
		return nil
	}
}

// NoArgs is cobra.NoArgs returning a UsageError.
func NoArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

// PrintError writes err to w the way both binaries report failures: the
// message, plus a pointer to --help for usage errors.
func PrintError(w interface{ Write([]byte) (int, error) }, cmd *cobra.Command, err error) {
	if err == nil || errors.Is(err, ErrSilent) {
		return
	}
	fmt.Fprintf(w, "Error: %s\n", err)
	if ExitCode(err) == ExitUsage && cmd != nil {
		fmt.Fprintf(w, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
}
