// Package daemon is hookd's command tree and process lifecycle.
package daemon

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
)

// NewCmdRoot builds the hookd command tree.
func NewCmdRoot(ios *iostreams.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hookd",
		Short: "hookd delivers webhooks from Kafka to HTTP endpoints",
		Long: `hookd consumes events from Kafka, finds the endpoints subscribed to each
event type, signs each delivery (Standard Webhooks by default), POSTs it,
retries with backoff, parks what cannot be delivered in a dead-letter queue,
and records every attempt in Cassandra.`,
		Example: `  hookd dev                                   # everything in one process, no services
  hookd migrate && hookd keys create --name admin --scope admin
  hookd serve --config /etc/hookd/hookd.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(ios.In)
	cmd.SetOut(ios.Out)
	cmd.SetErr(ios.ErrOut)
	cmd.SetFlagErrorFunc(cmdutil.FlagErrorFunc)
	cmd.AddCommand(
		newCmdConfig(ios),
		newCmdDev(ios),
		newCmdKeys(ios),
		newCmdMigrate(ios, nil),
		newCmdServe(ios),
		cmdutil.NewCmdVersion(ios, "hookd", nil),
	)
	return cmd
}

// Main runs hookd with the process's arguments and returns its exit code.
// SIGINT and SIGTERM cancel the context, which starts a graceful shutdown.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ios := iostreams.System()
	root := NewCmdRoot(ios)
	cmd, err := root.ExecuteContextC(ctx)
	cmdutil.PrintError(ios.ErrOut, cmd, err)
	return cmdutil.ExitCode(err)
}
