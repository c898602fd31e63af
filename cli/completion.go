package cli

import (
	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/cmdutil"
)

// NewCmdCompletion builds `hookctl completion`, cobra's generators with
// install instructions for each shell.
func NewCmdCompletion(f *Factory) *cobra.Command {
	var noDesc bool
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print the completion script of a shell. Besides commands and flags it
completes endpoint ids (and dead-letter ids) by asking the hookd server of
the current context; when that fails, it completes nothing.`,
		Example: `  # bash (needs the bash-completion package)
  hookctl completion bash > /etc/bash_completion.d/hookctl      # all users
  hookctl completion bash > ~/.local/share/bash-completion/completions/hookctl
  echo 'source <(hookctl completion bash)' >> ~/.bashrc          # or load it each time

  # zsh (compinit must be enabled: echo 'autoload -U compinit; compinit' >> ~/.zshrc)
  hookctl completion zsh > "${fpath[1]}/_hookctl"

  # fish
  hookctl completion fish > ~/.config/fish/completions/hookctl.fish

  # PowerShell
  hookctl completion powershell | Out-String | Invoke-Expression   # this session
  hookctl completion powershell >> $PROFILE                          # every session`,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		DisableFlagsInUseLine: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cmdutil.ExactArgs(1)(cmd, args); err != nil {
				return err
			}
			if err := cobra.OnlyValidArgs(cmd, args); err != nil {
				return &cmdutil.UsageError{Err: err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), f.IOStreams.Out
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, !noDesc)
			case "zsh":
				if noDesc {
					return root.GenZshCompletionNoDesc(out)
				}
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, !noDesc)
			default:
				if noDesc {
					return root.GenPowerShellCompletion(out)
				}
				return root.GenPowerShellCompletionWithDesc(out)
			}
		},
	}
	cmd.Flags().BoolVar(&noDesc, "no-descriptions", false, "leave out completion descriptions")
	return cmd
}
