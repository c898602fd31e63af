package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/cmdutil"
)

// NewCmdRoot builds the hookctl command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hookctl",
		Short: "Manage hookd: endpoints, events, deliveries, the dead-letter queue, signatures",
		Long: `hookctl is the command-line tool for hookd, the webhook delivery daemon.

It manages endpoints, sends test events, follows deliveries live and replays
dead letters through hookd's HTTP API, and verifies webhook signatures
offline, so receivers can check them in their own CI.`,
		Example: `  hookctl config set-context dev --server http://localhost:8080 --api-key "$KEY"
  hookctl endpoints create --url https://example.com/hooks --event-type 'order.*'
  hookctl events send --type order.created --data '{"order_id": 42}'
  hookctl dlq replay --endpoint ep_123 --dry-run
  hookctl verify --secret "$SECRET" --request-file request.http
  hookctl completion bash > /etc/bash_completion.d/hookctl`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(f.IOStreams.In)
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)
	cmd.SetFlagErrorFunc(cmdutil.FlagErrorFunc)
	cmd.AddCommand(
		NewCmdEndpoints(f),
		NewCmdEvents(f),
		NewCmdDeliveries(f),
		NewCmdAttempts(f),
		NewCmdTail(f, nil),
		NewCmdDLQ(f),
		NewCmdKeys(f),
		NewCmdListen(f, nil),
		NewCmdVerify(f, nil),
		NewCmdSign(f, nil),
		NewCmdSecret(f),
		NewCmdConfig(f),
		NewCmdCompletion(f),
		cmdutil.NewCmdVersion(f.IOStreams, "hookctl", nil),
	)
	return cmd
}

// Main runs hookctl with the process's arguments and returns its exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := NewFactory()
	root := NewCmdRoot(f)
	cmd, err := root.ExecuteContextC(ctx)
	printError(f.IOStreams.ErrOut, cmd, err)
	return cmdutil.ExitCode(err)
}
