package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/tui"
)

// Output modes of `hookctl tail`.
const (
	tailTUI   = "tui"
	tailJSONL = formatJSONL
)

// TailOptions are the inputs of `hookctl tail`.
type TailOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	Endpoints []string
	EventType string
	Outcome   string
	Tenant    string
	// Since, when set, shows the attempts since then before the live ones.
	Since time.Time
	// Output is tailTUI or tailJSONL, decided from -o, --count and
	// whether stdout is a terminal.
	Output string
	// Count stops after this many attempts (0: never).
	Count int
	ctx   context.Context
	// backoff overrides the reconnection backoff (tests).
	backoff func(n int) time.Duration
}

// NewCmdTail builds `hookctl tail`.
func NewCmdTail(f *Factory, runF func(*TailOptions) error) *cobra.Command {
	opts := &TailOptions{IO: f.IOStreams, APIClient: f.apiClient}
	var output, since string
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Follow delivery attempts live",
		Long: `Follow delivery attempts as hookd makes them.

On a terminal, tail shows a live table with the rates of the last minute
(attempts per second, failures, p50 and p99 latency); enter opens an
attempt's headers, response and error, r replays its delivery from the
dead-letter queue, e shows its endpoint's stats, / filters the rows on
screen, space pauses, ? lists every key.

Piped, or with -o jsonl, it prints one JSON object per attempt per line as
they come, for jq and scripts; --count stops after that many.

The stream is live only: --since first shows the attempts since then
(read from the delivery log, at most the newest 10000), then follows live.
A stream that breaks is resumed where it stopped, after a pause that grows
to 10 seconds; a server that cannot be reached at the start is an error.`,
		Example: `  hookctl tail
  hookctl tail --endpoint ep_123 --endpoint ep_456 --outcome failed
  hookctl tail --event-type 'order.*' --since 10m
  hookctl tail -o jsonl | jq -r 'select(.status_code >= 500) | .delivery_id'
  hookctl tail --count 1 --event-type order.created`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" {
				if err := checkOutput(output, tailTUI, tailJSONL); err != nil {
					return err
				}
			}
			if opts.Count < 0 {
				return cmdutil.Usagef("--count must not be negative")
			}
			if output == tailTUI && opts.Count > 0 {
				return cmdutil.Usagef("--count prints JSON lines; it cannot go with -o tui")
			}
			if output == tailTUI && !opts.IO.IsStdoutTTY() {
				return cmdutil.Usagef("-o tui needs a terminal; stdout is not one")
			}
			for _, id := range opts.Endpoints {
				if strings.TrimSpace(id) == "" {
					return cmdutil.Usagef("--endpoint must not be empty")
				}
			}
			opts.EventType = domain.NormalizeEventType(opts.EventType)
			if opts.EventType != "" && !domain.ValidEventTypeFilter(opts.EventType) {
				return cmdutil.Usagef("invalid value %q for --event-type: want an event type (order.created), a prefix (order.*) or *", opts.EventType)
			}
			if opts.Outcome != "" && !slices.Contains(outcomeNames(), opts.Outcome) {
				return cmdutil.Usagef("invalid value %q for --outcome: want one of %s", opts.Outcome, strings.Join(outcomeNames(), ", "))
			}
			t, err := parseSince("--since", since, time.Now())
			if err != nil {
				return err
			}
			opts.Since = t
			switch {
			case output != "":
				opts.Output = output
			case opts.Count > 0 || !opts.IO.IsStdoutTTY():
				opts.Output = tailJSONL
			default:
				opts.Output = tailTUI
			}
			opts.ctx = commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runTail(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Endpoints, "endpoint", nil, "only this endpoint id (repeat for several)")
	fl.StringVar(&opts.EventType, "event-type", "", "only this event type, or a prefix such as order.*")
	fl.StringVar(&opts.Outcome, "outcome", "", "only this outcome: "+strings.Join(outcomeNames(), ", "))
	fl.StringVar(&opts.Tenant, "tenant", "", "only this tenant")
	fl.StringVar(&since, "since", "", "first show the attempts since then: RFC 3339, unix seconds, or a duration back from now (10m, 1h)")
	fl.StringVarP(&output, "output", "o", "", "tui (the default on a terminal) or jsonl (the default when piped)")
	fl.IntVar(&opts.Count, "count", 0, "exit after this many attempts (prints JSON lines)")
	_ = cmd.RegisterFlagCompletionFunc("endpoint", endpointIDs(f))
	_ = cmd.RegisterFlagCompletionFunc("outcome", cobra.FixedCompletions(outcomeNames(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{tailTUI, tailJSONL}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runTail(opts *TailOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	fol := &follower{
		api: c, endpoints: opts.Endpoints, eventType: opts.EventType, outcome: opts.Outcome, tenant: opts.Tenant,
		since: opts.Since, backoff: opts.backoff,
	}
	if opts.Output == tailJSONL {
		return tailLines(opts, fol)
	}
	return tailScreen(opts, c, fol)
}

// tailLines prints one attempt per line, each written whole at once so
// that a reader of the pipe sees it immediately.
func tailLines(opts *TailOptions, fol *follower) error {
	var (
		n        int
		writeErr error
	)
	fol.emit = func(a api.Attempt) bool {
		if err := writeJSON(opts.IO.Out, a, false); err != nil {
			writeErr = err
			return false
		}
		n++
		return opts.Count == 0 || n < opts.Count
	}
	errOut := opts.IO.ErrOut
	wasDown := false
	fol.state = func(s tui.ConnState) {
		switch s.Phase {
		case tui.PhaseReconnecting:
			wasDown = true
			wait := time.Until(s.Retry).Round(100 * time.Millisecond)
			fmt.Fprintf(errOut, "hookctl tail: stream interrupted (%s); reconnecting in %s (attempt %d)\n", describeStreamError(s.Err), max(wait, 0), s.Attempt)
		case tui.PhaseLive:
			if wasDown {
				fmt.Fprintln(errOut, "hookctl tail: reconnected")
				wasDown = false
			}
		}
	}
	fol.notice = func(msg string) { fmt.Fprintln(errOut, "hookctl tail: "+msg) }
	err := fol.run(opts.ctx)
	if writeErr != nil {
		return writeErr
	}
	return err
}

// tailScreen runs the TUI. The follower fills an inbox the screen drains
// on its own schedule, so the stream is never held up by drawing.
func tailScreen(opts *TailOptions, c *api.Client, fol *follower) error {
	ctx, cancel := context.WithCancel(opts.ctx)
	defer cancel()
	inbox := tui.NewInbox(0)
	fol.emit = func(a api.Attempt) bool { inbox.Put(a); return true }
	fol.state = inbox.SetState
	fol.notice = inbox.Notify

	renderer := lipgloss.NewRenderer(opts.IO.Out)
	if !opts.IO.ColorEnabled() {
		renderer.SetColorProfile(termenv.Ascii)
	}
	model := tui.New(tui.Options{
		Source: inbox, Actions: c, Context: ctx, Renderer: renderer, Title: tailTitle(c.BaseURL, opts),
	})
	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithAltScreen(), tea.WithOutput(opts.IO.Out)}
	if opts.IO.IsStdinTTY() {
		popts = append(popts, tea.WithInput(opts.IO.In))
	} else {
		popts = append(popts, tea.WithInputTTY())
	}
	done := make(chan error, 1)
	go func() { done <- fol.run(ctx) }()
	_, err := tea.NewProgram(model, popts...).Run()
	cancel()
	ferr := <-done
	switch {
	case model.Err() != nil:
		return model.Err()
	case opts.ctx.Err() != nil:
		return nil // interrupted: quitting is what was asked
	case err != nil && !errors.Is(err, tea.ErrProgramKilled):
		return err
	}
	// The stream may have failed after the screen's last look.
	return ferr
}

// tailTitle names the server and the stream's filters.
func tailTitle(server string, opts *TailOptions) string {
	parts := []string{server}
	for _, ep := range opts.Endpoints {
		parts = append(parts, "endpoint="+ep)
	}
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("event_type", opts.EventType)
	add("outcome", opts.Outcome)
	add("tenant", opts.Tenant)
	if !opts.Since.IsZero() {
		parts = append(parts, "since="+opts.Since.Local().Format(time.DateTime))
	}
	return strings.Join(parts, " ")
}

// describeStreamError is a stream error in a few words, for the
// reconnection notice.
func describeStreamError(err error) string {
	var ue *api.UnreachableError
	var ae *api.Error
	switch {
	case err == nil:
		return "no error"
	case errors.Is(err, api.ErrStreamDropped):
		return "the server dropped the stream: this reader fell behind"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timed out"
	case errors.As(err, &ue):
		return "cannot reach " + ue.Server + ": " + transportCause(ue.Err).Error()
	case errors.As(err, &ae):
		return fmt.Sprintf("HTTP %d: %s", ae.Status, ae.Message)
	case errors.Is(err, io.EOF):
		return "the server ended the stream"
	}
	return err.Error()
}
