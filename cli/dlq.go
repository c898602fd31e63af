package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/iostreams"
)

// NewCmdDLQ builds `hookctl dlq`.
func NewCmdDLQ(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect, replay and discard dead letters",
		Long: `The dead-letter queue holds the deliveries hookd gave up on (retries
exhausted, endpoint disabled or gone, address blocked, malformed message),
with their payloads, so they can be replayed once the cause is fixed.`,
		Example: `  hookctl dlq list --endpoint ep_123
  hookctl dlq replay --endpoint ep_123 --dry-run
  hookctl dlq replay --endpoint ep_123 --since 2h --yes
  hookctl dlq replays get rpl_123 --watch`,
		Args: cmdutil.NoArgs,
	}
	cmd.AddCommand(
		NewCmdDLQList(f, nil),
		NewCmdDLQGet(f, nil),
		NewCmdDLQReplay(f, nil),
		NewCmdDLQDiscard(f, nil),
		NewCmdReplays(f),
	)
	return cmd
}

// DLQListOptions are the inputs of `hookctl dlq list`.
type DLQListOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	Query     api.ListQuery
	List      listFlags
	Output    string
	ctx       context.Context
}

// NewCmdDLQList builds `hookctl dlq list`.
func NewCmdDLQList(f *Factory, runF func(*DLQListOptions) error) *cobra.Command {
	opts := &DLQListOptions{IO: f.IOStreams, APIClient: f.apiClient}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List dead letters, newest first",
		Example: `  hookctl dlq list
  hookctl dlq list --endpoint ep_123 --reason exhausted --since 24h
  hookctl dlq list --all -o jsonl | jq -r .delivery_id`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			return runDLQList(opts)
		},
	}
	addFilterFlags(f, cmd, &ff, withReason)
	addListFlags(cmd, &opts.List)
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runDLQList(opts *DLQListOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	q := opts.Query
	page, err := fetchPages(opts.ctx, opts.List, func(ctx context.Context, cursor string) (api.Page[api.DeadLetter], error) {
		q.Cursor = cursor
		return c.ListDeadLetters(ctx, q)
	})
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return printPage(p, page, "dead letters", func(t *tableWriter) {
		t.setHeader("DEAD SINCE", "ENDPOINT", "DELIVERY", "TYPE", "REASON", "ATTEMPTS", "STATUS", "ERROR", "REPLAYED")
		for _, d := range page.Items {
			t.row(p.when(d.DeadAt), txt(d.EndpointID), txt(d.DeliveryID), txt(d.EventType), styled(d.Reason, styleRed),
				num(d.Attempts), statusCell(d.LastStatusCode), wide(d.LastError, widthError), txt(p.timePtr(d.ReplayedAt)))
		}
	})
}

// DLQEntryOptions are the inputs of `hookctl dlq get`.
type DLQEntryOptions struct {
	IO         *iostreams.IOStreams
	APIClient  func() (*api.Client, error)
	EndpointID string
	DeliveryID string
	Output     string
	ctx        context.Context
}

// NewCmdDLQGet builds `hookctl dlq get`.
func NewCmdDLQGet(f *Factory, runF func(*DLQEntryOptions) error) *cobra.Command {
	opts := &DLQEntryOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:   "get ENDPOINT_ID DELIVERY_ID",
		Short: "Show a dead letter with its payload",
		Long: `Show a dead letter with the payload a replay would send. A malformed
message has no endpoint: give - as ENDPOINT_ID.`,
		Example: `  hookctl dlq get ep_123 msg_456
  hookctl dlq get ep_123 msg_456 -o json | jq .payload`,
		Args:              cmdutil.ExactArgs(2),
		ValidArgsFunction: deadLetterArgs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			opts.EndpointID, opts.DeliveryID, opts.ctx = args[0], args[1], commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runDLQGet(opts)
		},
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runDLQGet(opts *DLQEntryOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	d, err := c.GetDeadLetter(opts.ctx, opts.EndpointID, opts.DeliveryID)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(d, func() error {
		status := ""
		if d.LastStatusCode != 0 {
			status = fmt.Sprint(d.LastStatusCode)
		}
		if err := p.fields(
			[2]string{"Delivery", d.DeliveryID},
			[2]string{"Endpoint", d.EndpointID},
			[2]string{"Event", d.EventID + " (" + d.EventType + ")"},
			[2]string{"Tenant", d.TenantID},
			[2]string{"Reason", d.Reason},
			[2]string{"Attempts", fmt.Sprintf("%d (generation %d)", d.Attempts, d.Generation)},
			[2]string{"Last status", status},
			[2]string{"Last error", d.LastError},
			[2]string{"Dead since", p.time(d.DeadAt)},
			[2]string{"Replayed", p.timePtr(d.ReplayedAt)},
		); err != nil {
			return err
		}
		switch {
		case len(d.Payload) > 0:
			fmt.Fprintf(opts.IO.Out, "\nPayload:\n%s\n", prettyJSON(d.Payload))
		case len(d.PayloadBase64) > 0:
			fmt.Fprintf(opts.IO.Out, "\nPayload (not JSON, base64):\n%s\n", base64.StdEncoding.EncodeToString(d.PayloadBase64))
		}
		return nil
	})
}

// deadLetterArgsOrFilter accepts ENDPOINT_ID DELIVERY_ID, or no argument
// (a filter then selects).
func deadLetterArgsOrFilter(cmd *cobra.Command, args []string) error {
	if len(args) != 0 && len(args) != 2 {
		return cmdutil.Usagef("want ENDPOINT_ID DELIVERY_ID for one dead letter, or no argument and filter flags; got %d arguments", len(args))
	}
	return nil
}

// DLQReplayOptions are the inputs of `hookctl dlq replay`.
type DLQReplayOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	// EndpointID and DeliveryID name a single dead letter; empty means a
	// bulk replay of what Filter selects.
	EndpointID     string
	DeliveryID     string
	Filter         api.DeadLetterFilter
	Force          bool
	DryRun         bool
	Yes            bool
	Detach         bool
	IdempotencyKey string
	Output         string
	Progress       ProgressIntervals
	ctx            context.Context
	// retryDelays are the pauses before resending the start request after
	// a network error.
	retryDelays []time.Duration
}

// ProgressIntervals pace a replay's progress display.
type ProgressIntervals struct {
	Poll   time.Duration // how often the job is read
	Redraw time.Duration // how often the bar is drawn on a terminal
	Line   time.Duration // how often a plain line is printed otherwise
}

var defaultProgress = ProgressIntervals{Poll: time.Second, Redraw: 250 * time.Millisecond, Line: 5 * time.Second}

// NewCmdDLQReplay builds `hookctl dlq replay`.
func NewCmdDLQReplay(f *Factory, runF func(*DLQReplayOptions) error) *cobra.Command {
	opts := &DLQReplayOptions{
		IO: f.IOStreams, APIClient: f.apiClient, Progress: defaultProgress,
		retryDelays: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
	}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "replay [ENDPOINT_ID DELIVERY_ID]",
		Short: "Replay dead letters: one, or all that match filters",
		Long: `Replay dead letters: deliver them again from their first attempt, with the
same webhook-id, so receivers can drop duplicates.

With ENDPOINT_ID DELIVERY_ID, one dead letter is replayed at once.

Otherwise the filters select (none: the whole queue) and the server runs a
replay job. --dry-run prints how many match and how many would be skipped
(replayed within the last hour; --force replays those too). On a terminal
hookctl shows that count and asks first; in scripts pass --yes. A progress
bar follows the job on stderr; Ctrl-C stops following, not the job.

The start request carries an idempotency key (a random one unless given),
so resending it after a network error never starts a second job.`,
		Example: `  hookctl dlq replay ep_123 msg_456
  hookctl dlq replay --endpoint ep_123 --dry-run
  hookctl dlq replay --endpoint ep_123 --reason endpoint_disabled --since 6h
  hookctl dlq replay --event-type 'order.created' --yes --idempotency-key incident-42
  hookctl dlq replay --tenant acme --yes --detach -o json | jq -r .id`,
		Args:              deadLetterArgsOrFilter,
		ValidArgsFunction: deadLetterArgs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			if len(args) == 2 {
				if ff.set() || opts.DryRun || opts.Force || opts.Detach || opts.IdempotencyKey != "" {
					return cmdutil.Usagef("filters, --dry-run, --force, --detach and --idempotency-key are for bulk replays: give either ENDPOINT_ID DELIVERY_ID or filters")
				}
				opts.EndpointID, opts.DeliveryID = args[0], args[1]
			} else {
				if err := ff.check(); err != nil {
					return err
				}
				filter, err := ff.deadLetterFilter(time.Now())
				if err != nil {
					return err
				}
				opts.Filter = filter
				if opts.DryRun && opts.Detach {
					return cmdutil.Usagef("--dry-run starts nothing to detach from")
				}
				if !opts.DryRun && !opts.Yes && !opts.IO.IsStdinTTY() {
					return cmdutil.Usagef("stdin is not a terminal, so hookctl cannot ask before replaying: pass --yes (or --dry-run to count first)")
				}
			}
			opts.ctx = commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runDLQReplay(opts)
		},
	}
	addFilterFlags(f, cmd, &ff, withReason)
	fl := cmd.Flags()
	fl.BoolVar(&opts.Force, "force", false, "replay entries replayed within the last hour too")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "count what would be replayed; start nothing")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	fl.BoolVar(&opts.Detach, "detach", false, "start the job and print it, without following its progress")
	fl.StringVar(&opts.IdempotencyKey, "idempotency-key", "", "start at most one job for this key (default: a random key per invocation)")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runDLQReplay(opts *DLQReplayOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	if opts.DeliveryID != "" {
		r, err := c.ReplayDeadLetter(opts.ctx, opts.EndpointID, opts.DeliveryID)
		if err != nil {
			return err
		}
		return p.object(r, func() error {
			fmt.Fprintf(opts.IO.Out, "Replaying delivery %s to endpoint %s (generation %d).\n", r.DeliveryID, r.EndpointID, r.Generation)
			fmt.Fprintf(opts.IO.ErrOut, "Follow it: hookctl deliveries get %s\n", r.DeliveryID)
			return nil
		})
	}
	req := api.ReplayRequest{Filter: opts.Filter, Force: opts.Force}
	if opts.DryRun {
		dr, err := c.DryRunReplay(opts.ctx, req)
		if err != nil {
			return err
		}
		return p.object(dr, func() error {
			_, err := fmt.Fprintf(opts.IO.Out, "Would replay %s.\n", replayCount(dr, opts.Force))
			return err
		})
	}
	if !opts.Yes {
		dr, err := c.DryRunReplay(opts.ctx, req)
		if err != nil {
			return err
		}
		if dr.Matched == 0 {
			fmt.Fprintln(opts.IO.ErrOut, "No dead letters match; nothing to replay.")
			return nil
		}
		if err := confirm(opts.ctx, opts.IO, false, fmt.Sprintf("Replay %s%s?", replayCount(dr, opts.Force), filterSuffix(opts.Filter))); err != nil {
			return err
		}
	}
	key := opts.IdempotencyKey
	if key == "" {
		key = ids.New("hookctl")
	}
	job, err := startReplay(opts, c, req, key)
	if err != nil {
		if opts.ctx.Err() != nil {
			fmt.Fprintf(opts.IO.ErrOut, "Interrupted while starting the replay. If it started, it is listed by `hookctl dlq replays list` (idempotency key %s).\n", key)
			return cmdutil.ErrSilent
		}
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "Started replay %s.\n", job.ID)
	if opts.Detach {
		return p.object(job, func() error {
			fmt.Fprintln(opts.IO.Out, job.ID)
			fmt.Fprintf(opts.IO.ErrOut, "Follow it: hookctl dlq replays get %s --watch\n", job.ID)
			return nil
		})
	}
	return followReplay(opts.ctx, opts.IO, p, c, job, opts.Progress)
}

// startReplay sends the start request, again after a network error or a
// gateway's 5xx: the idempotency key makes the server answer a resent
// request with the job the first one started.
func startReplay(opts *DLQReplayOptions, c *api.Client, req api.ReplayRequest, key string) (api.ReplayJob, error) {
	for i := 0; ; i++ {
		job, err := c.StartReplay(opts.ctx, req, key)
		if err == nil || i >= len(opts.retryDelays) || !retryable(err) {
			return job, err
		}
		fmt.Fprintf(opts.IO.ErrOut, "Starting the replay failed (%v); trying again with the same idempotency key.\n", shortErr(err))
		select {
		case <-opts.ctx.Done():
			return job, opts.ctx.Err()
		case <-time.After(opts.retryDelays[i]):
		}
	}
}

func retryable(err error) bool {
	var (
		unreach *api.UnreachableError
		apiErr  *api.Error
	)
	if errors.As(err, &unreach) {
		return true
	}
	if errors.As(err, &apiErr) {
		switch apiErr.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
	}
	return false
}

func shortErr(err error) string {
	var unreach *api.UnreachableError
	if errors.As(err, &unreach) {
		return transportCause(unreach.Err).Error()
	}
	return strings.SplitN(err.Error(), "\n", 2)[0]
}

func replayCount(dr api.DryRunResult, force bool) string {
	s := fmt.Sprintf("%d dead %s", dr.Matched, plural(int(dr.Matched), "letter", "letters"))
	if dr.Skipped > 0 {
		if force {
			s += fmt.Sprintf(" (%d replayed within the last hour, replayed again: --force)", dr.Skipped)
		} else {
			s += fmt.Sprintf(", skipping %d replayed within the last hour (--force replays them too)", dr.Skipped)
		}
	}
	return s
}

func filterSuffix(f api.DeadLetterFilter) string {
	if f == (api.DeadLetterFilter{}) {
		return " (the whole queue: no filter given)"
	}
	return ""
}

// followReplay shows a job's progress until it ends, or until ctx ends:
// then the job goes on without us, and the user learns how to find it.
func followReplay(ctx context.Context, ios *iostreams.IOStreams, p *printer, c *api.Client, job api.ReplayJob, iv ProgressIntervals) error {
	final, err := watchReplay(ctx, ios, c, job, iv)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(ios.ErrOut, "Stopped following replay %s; it keeps running on the server.\n", job.ID)
		} else {
			fmt.Fprintf(ios.ErrOut, "Lost track of replay %s (%v); it may still be running on the server.\n", job.ID, shortErr(err))
		}
		fmt.Fprintf(ios.ErrOut, "  Follow it: hookctl dlq replays get %s --watch\n  Cancel it: hookctl dlq replays cancel %s\n", job.ID, job.ID)
		return cmdutil.ErrSilent
	}
	if err := p.object(final, func() error {
		_, err := fmt.Fprintln(ios.Out, replaySummary(final))
		return err
	}); err != nil {
		return err
	}
	switch {
	case final.State == domain.ReplayFailed:
		fmt.Fprintf(ios.ErrOut, "Replay %s failed: %s\n", final.ID, final.Error)
		return cmdutil.ErrSilent
	case final.State == domain.ReplayCanceled:
		fmt.Fprintf(ios.ErrOut, "Replay %s was canceled.\n", final.ID)
		return cmdutil.ErrSilent
	case final.Failed > 0:
		fmt.Fprintf(ios.ErrOut, "%d dead %s could not be replayed; they stay in the queue (hookctl dlq list).\n", final.Failed, plural(int(final.Failed), "letter", "letters"))
		return cmdutil.ErrSilent
	}
	return nil
}

func replaySummary(j api.ReplayJob) string {
	s := fmt.Sprintf("Replay %s %s: %d replayed, %d skipped, %d failed of %d", j.ID, j.State, j.Replayed, j.Skipped, j.Failed, j.Total)
	if j.FinishedAt != nil && !j.CreatedAt.IsZero() {
		s += " in " + duration(j.FinishedAt.Sub(j.CreatedAt))
	}
	return s + "."
}

// DLQDiscardOptions are the inputs of `hookctl dlq discard`.
type DLQDiscardOptions struct {
	IO         *iostreams.IOStreams
	APIClient  func() (*api.Client, error)
	EndpointID string
	DeliveryID string
	Filter     api.DeadLetterFilter
	DryRun     bool
	Yes        bool
	Output     string
	ctx        context.Context
}

// NewCmdDLQDiscard builds `hookctl dlq discard`.
func NewCmdDLQDiscard(f *Factory, runF func(*DLQDiscardOptions) error) *cobra.Command {
	opts := &DLQDiscardOptions{IO: f.IOStreams, APIClient: f.apiClient}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "discard [ENDPOINT_ID DELIVERY_ID]",
		Short: "Remove dead letters for good: one, or all that match filters",
		Long: `Remove dead letters and their payloads for good: one by its ids, or every
dead letter the filters select (none: the whole queue). --dry-run counts.
On a terminal hookctl asks first; in scripts pass --yes.`,
		Example: `  hookctl dlq discard ep_123 msg_456
  hookctl dlq discard --reason malformed --until 7d --dry-run
  hookctl dlq discard --endpoint ep_123 --yes`,
		Args:              deadLetterArgsOrFilter,
		ValidArgsFunction: deadLetterArgs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			if len(args) == 2 {
				if ff.set() || opts.DryRun {
					return cmdutil.Usagef("filters and --dry-run select many dead letters: give either ENDPOINT_ID DELIVERY_ID or filters")
				}
				opts.EndpointID, opts.DeliveryID = args[0], args[1]
			} else {
				if err := ff.check(); err != nil {
					return err
				}
				filter, err := ff.deadLetterFilter(time.Now())
				if err != nil {
					return err
				}
				opts.Filter = filter
			}
			if !opts.DryRun && !opts.Yes && !opts.IO.IsStdinTTY() {
				return cmdutil.Usagef("stdin is not a terminal, so hookctl cannot ask before discarding: pass --yes (or --dry-run to count first)")
			}
			opts.ctx = commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runDLQDiscard(opts)
		},
	}
	addFilterFlags(f, cmd, &ff, withReason)
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "count what would be discarded; remove nothing")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runDLQDiscard(opts *DLQDiscardOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	if opts.DeliveryID != "" {
		if err := confirm(opts.ctx, opts.IO, opts.Yes, fmt.Sprintf("Discard dead letter %s of endpoint %s for good?", opts.DeliveryID, opts.EndpointID)); err != nil {
			return err
		}
		if err := c.DiscardDeadLetter(opts.ctx, opts.EndpointID, opts.DeliveryID); err != nil {
			return err
		}
		res := api.DiscardResult{Matched: 1, Discarded: 1}
		return p.object(res, func() error {
			_, err := fmt.Fprintf(opts.IO.Out, "Discarded dead letter %s.\n", opts.DeliveryID)
			return err
		})
	}
	if opts.DryRun || !opts.Yes {
		dr, err := c.DiscardDeadLetters(opts.ctx, api.DiscardRequest{Filter: opts.Filter, DryRun: true})
		if err != nil {
			return err
		}
		if opts.DryRun {
			return p.object(dr, func() error {
				_, err := fmt.Fprintf(opts.IO.Out, "Would discard %d dead %s.\n", dr.Matched, plural(int(dr.Matched), "letter", "letters"))
				return err
			})
		}
		if dr.Matched == 0 {
			fmt.Fprintln(opts.IO.ErrOut, "No dead letters match; nothing to discard.")
			return nil
		}
		if err := confirm(opts.ctx, opts.IO, false, fmt.Sprintf("Discard %d dead %s for good%s?", dr.Matched, plural(int(dr.Matched), "letter", "letters"), filterSuffix(opts.Filter))); err != nil {
			return err
		}
	}
	res, err := c.DiscardDeadLetters(opts.ctx, api.DiscardRequest{Filter: opts.Filter})
	if err != nil {
		return err
	}
	return p.object(res, func() error {
		_, err := fmt.Fprintf(opts.IO.Out, "Discarded %d dead %s.\n", res.Discarded, plural(int(res.Discarded), "letter", "letters"))
		return err
	})
}
