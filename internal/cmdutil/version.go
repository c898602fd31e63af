package cmdutil

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/buildinfo"
	"github.com/hookd/hookd/internal/iostreams"
)

// VersionOptions are the inputs of the version command.
type VersionOptions struct {
	IO      *iostreams.IOStreams
	Program string
	Output  string
}

// NewCmdVersion builds `<program> version`. runF replaces the run function
// in tests; nil runs the real one.
func NewCmdVersion(ios *iostreams.IOStreams, program string, runF func(*VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{IO: ios, Program: program}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Example: fmt.Sprintf(`  %[1]s version
  %[1]s version -o json | jq -r .version`, program),
		Args: NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if opts.Output != "text" && opts.Output != "json" {
				return Usagef("invalid value %q for --output: want text or json", opts.Output)
			}
			if runF != nil {
				return runF(opts)
			}
			return runVersion(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runVersion(opts *VersionOptions) error {
	info := buildinfo.Get()
	if opts.Output == "json" {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprintln(opts.IO.Out, info.String(opts.Program))
	return err
}
