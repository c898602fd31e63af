package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
)

// NewCmdDeliveries builds `hookctl deliveries`.
func NewCmdDeliveries(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "deliveries",
		Aliases: []string{"delivery"},
		Short:   "List deliveries (an event to an endpoint) and show their attempts",
		Example: `  hookctl deliveries list --endpoint ep_123 --since 1h
  hookctl deliveries get dlv_123`,
		Args: cmdutil.NoArgs,
	}
	cmd.AddCommand(NewCmdDeliveryList(f, nil), NewCmdDeliveryGet(f, nil))
	return cmd
}

// NewCmdAttempts builds `hookctl attempts`.
func NewCmdAttempts(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "attempts",
		Aliases: []string{"attempt"},
		Short:   "List delivery attempts",
		Example: `  hookctl attempts list --endpoint ep_123 --outcome failed --since 30m`,
		Args:    cmdutil.NoArgs,
	}
	cmd.AddCommand(NewCmdAttemptList(f, nil))
	return cmd
}

// LogListOptions are the inputs of `hookctl deliveries list` and
// `hookctl attempts list`.
type LogListOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	Query     api.ListQuery
	List      listFlags
	Output    string
	ctx       context.Context
}

func newLogListCmd(f *Factory, runF, run func(*LogListOptions) error, cmd *cobra.Command) *cobra.Command {
	opts := &LogListOptions{IO: f.IOStreams, APIClient: f.apiClient}
	var ff filterFlags
	cmd.Aliases = []string{"ls"}
	cmd.Args = cmdutil.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := validateOutput(opts.Output); err != nil {
			return err
		}
		if err := opts.List.validate(); err != nil {
			return err
		}
		if err := ff.check(); err != nil {
			return err
		}
		q, err := ff.query(time.Now(), opts.List)
		if err != nil {
			return err
		}
		opts.Query, opts.ctx = q, commandContext(cmd)
		if runF != nil {
			return runF(opts)
		}
		return run(opts)
	}
	addFilterFlags(f, cmd, &ff, withOutcome)
	addListFlags(cmd, &opts.List)
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

// NewCmdDeliveryList builds `hookctl deliveries list`.
func NewCmdDeliveryList(f *Factory, runF func(*LogListOptions) error) *cobra.Command {
	return newLogListCmd(f, runF, runDeliveryList, &cobra.Command{
		Use:   "list",
		Short: "List deliveries, newest first, each with its latest attempt",
		Example: `  hookctl deliveries list
  hookctl deliveries list --endpoint ep_123 --outcome failed --since 1h
  hookctl deliveries list --event-type order.created --since 2026-01-02T00:00:00Z --until 2026-01-03T00:00:00Z --all -o jsonl`,
	})
}

func runDeliveryList(opts *LogListOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	q := opts.Query
	page, err := fetchPages(opts.ctx, opts.List, func(ctx context.Context, cursor string) (api.Page[api.Delivery], error) {
		q.Cursor = cursor
		return c.ListDeliveries(ctx, q)
	})
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return printPage(p, page, "deliveries", func(t *tableWriter) {
		t.setHeader("DELIVERY", "EVENT", "TYPE", "ENDPOINT", "STATE", "ATTEMPT", "STATUS", "LAST TRY", "ERROR")
		for _, d := range page.Items {
			var last api.Attempt
			if n := len(d.Attempts); n > 0 {
				last = d.Attempts[n-1]
			}
			t.row(txt(d.DeliveryID), txt(d.EventID), txt(d.EventType), txt(d.EndpointID), styled(d.State, stateStyle(d.State)),
				num(last.Attempt), statusCell(last.StatusCode), p.when(last.StartedAt), wide(last.Error, widthError))
		}
	})
}

// NewCmdAttemptList builds `hookctl attempts list`.
func NewCmdAttemptList(f *Factory, runF func(*LogListOptions) error) *cobra.Command {
	return newLogListCmd(f, runF, runAttemptList, &cobra.Command{
		Use:   "list",
		Short: "List attempts, newest first",
		Example: `  hookctl attempts list --since 15m
  hookctl attempts list --endpoint ep_123 --outcome timeout --limit 20
  hookctl attempts list --tenant acme --since 7d --all -o jsonl > attempts.jsonl`,
	})
}

func runAttemptList(opts *LogListOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	q := opts.Query
	page, err := fetchPages(opts.ctx, opts.List, func(ctx context.Context, cursor string) (api.Page[api.Attempt], error) {
		q.Cursor = cursor
		return c.ListAttempts(ctx, q)
	})
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return printPage(p, page, "attempts", func(t *tableWriter) {
		t.setHeader("STARTED", "DELIVERY", "ENDPOINT", "TYPE", "GEN", "#", "OUTCOME", "STATUS", "DURATION", "ERROR")
		for _, a := range page.Items {
			t.row(p.when(a.StartedAt), txt(a.DeliveryID), txt(a.EndpointID), txt(a.EventType), num(a.Generation), num(a.Attempt),
				styled(a.Outcome, stateStyle(a.Outcome)), statusCell(a.StatusCode), txt(duration(time.Duration(a.Duration))), wide(a.Error, widthError))
		}
	})
}

// DeliveryGetOptions are the inputs of `hookctl deliveries get`.
type DeliveryGetOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	ID        string
	Output    string
	ctx       context.Context
}

// NewCmdDeliveryGet builds `hookctl deliveries get`.
func NewCmdDeliveryGet(f *Factory, runF func(*DeliveryGetOptions) error) *cobra.Command {
	opts := &DeliveryGetOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:   "get DELIVERY_ID",
		Short: "Show a delivery with all its attempts",
		Long: `Show a delivery with all its attempts, oldest first. The delivery id is the
webhook-id header receivers see.`,
		Example: `  hookctl deliveries get dlv_123
  hookctl deliveries get dlv_123 -o json | jq '.attempts[-1].response_body'`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			opts.ID, opts.ctx = args[0], commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runDeliveryGet(opts)
		},
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runDeliveryGet(opts *DeliveryGetOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	d, err := c.GetDelivery(opts.ctx, opts.ID)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(d, func() error { return printDeliveryBlock(p, d) })
}
