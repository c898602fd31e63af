package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/signature"
)

// NewCmdSecret builds `hookctl secret`.
func NewCmdSecret(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Work with signing secrets",
		Args:  cmdutil.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "generate",
		Short:   "Print a new random signing secret (whsec_...)",
		Example: `  hookctl secret generate > secret.txt`,
		Args:    cmdutil.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(f.IOStreams.Out, signature.GenerateSecret())
			return err
		},
	})
	return cmd
}
