package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/iostreams"
)

// NewCmdReplays builds `hookctl dlq replays`: the bulk replay jobs.
func NewCmdReplays(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "replays",
		Aliases: []string{"replay-jobs"},
		Short:   "Follow, list and cancel bulk replay jobs",
		Example: `  hookctl dlq replays list
  hookctl dlq replays get rpl_123 --watch
  hookctl dlq replays cancel rpl_123`,
		Args: cmdutil.NoArgs,
	}
	cmd.AddCommand(NewCmdReplayList(f, nil), NewCmdReplayGet(f, nil), NewCmdReplayCancel(f, nil))
	return cmd
}

// ReplayListOptions are the inputs of `hookctl dlq replays list`.
type ReplayListOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	List      listFlags
	Output    string
	ctx       context.Context
}

// NewCmdReplayList builds `hookctl dlq replays list`.
func NewCmdReplayList(f *Factory, runF func(*ReplayListOptions) error) *cobra.Command {
	opts := &ReplayListOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List replay jobs, newest first",
		Example: `  hookctl dlq replays list
  hookctl dlq replays list -o jsonl | jq -r 'select(.state == "running") .id'`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			if err := opts.List.validate(); err != nil {
				return err
			}
			opts.ctx = commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runReplayList(opts)
		},
	}
	addListFlags(cmd, &opts.List)
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runReplayList(opts *ReplayListOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	page, err := fetchPages(opts.ctx, opts.List, func(ctx context.Context, cursor string) (api.Page[api.ReplayJob], error) {
		return c.ListReplays(ctx, opts.List.Limit, cursor)
	})
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return printPage(p, page, "replay jobs", func(t *tableWriter) {
		t.setHeader("ID", "STATE", "TOTAL", "REPLAYED", "SKIPPED", "FAILED", "FILTER", "CREATED")
		for _, j := range page.Items {
			t.row(txt(j.ID), styled(j.State, stateStyle(j.State)), num(j.Total), num(j.Replayed), num(j.Skipped), num(j.Failed),
				wide(filterString(j.Filter), widthList), p.when(j.CreatedAt))
		}
	})
}

// filterString writes a filter as the flags that select it.
func filterString(f domain.DeadLetterFilter) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("endpoint", f.EndpointID)
	add("event-type", f.EventType)
	add("reason", f.Reason)
	add("tenant", f.TenantID)
	if !f.Since.IsZero() {
		add("since", f.Since.UTC().Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		add("until", f.Until.UTC().Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

// ReplayJobOptions are the inputs of `hookctl dlq replays get|cancel`.
type ReplayJobOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	ID        string
	Watch     bool
	Progress  ProgressIntervals
	Output    string
	ctx       context.Context
}

// NewCmdReplayGet builds `hookctl dlq replays get`.
func NewCmdReplayGet(f *Factory, runF func(*ReplayJobOptions) error) *cobra.Command {
	opts := &ReplayJobOptions{IO: f.IOStreams, APIClient: f.apiClient, Progress: defaultProgress}
	cmd := &cobra.Command{
		Use:   "get REPLAY_ID",
		Short: "Show a replay job's progress; --watch follows it to the end",
		Example: `  hookctl dlq replays get rpl_123
  hookctl dlq replays get rpl_123 --watch`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			opts.ID, opts.ctx = args[0], commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runReplayGet(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "show a progress bar until the job ends")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runReplayGet(opts *ReplayJobOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	job, err := c.GetReplay(opts.ctx, opts.ID)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	if opts.Watch && !replayEnded(job.State) {
		return followReplay(opts.ctx, opts.IO, p, c, job, opts.Progress)
	}
	return p.object(job, func() error { return p.fields(replayFields(p, job)...) })
}

func replayFields(p *printer, j api.ReplayJob) [][2]string {
	created := p.time(j.CreatedAt)
	if j.CreatedBy != "" {
		created += " by " + j.CreatedBy
	}
	force := "no"
	if j.Force {
		force = "yes"
	}
	return [][2]string{
		{"ID", j.ID},
		{"State", j.State},
		{"Filter", filterString(j.Filter)},
		{"Force", force},
		{"Progress", fmt.Sprintf("%d of %d: %d replayed, %d skipped, %d failed", j.Replayed+j.Skipped+j.Failed, j.Total, j.Replayed, j.Skipped, j.Failed)},
		{"Error", j.Error},
		{"Created", created},
		{"Updated", p.time(j.UpdatedAt)},
		{"Finished", p.timePtr(j.FinishedAt)},
	}
}

// NewCmdReplayCancel builds `hookctl dlq replays cancel`.
func NewCmdReplayCancel(f *Factory, runF func(*ReplayJobOptions) error) *cobra.Command {
	opts := &ReplayJobOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:     "cancel REPLAY_ID",
		Short:   "Stop a replay job; what it already replayed stays replayed",
		Example: `  hookctl dlq replays cancel rpl_123`,
		Args:    cmdutil.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			opts.ID, opts.ctx = args[0], commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runReplayCancel(opts)
		},
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runReplayCancel(opts *ReplayJobOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	job, err := c.CancelReplay(opts.ctx, opts.ID)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(job, func() error {
		_, err := fmt.Fprintf(opts.IO.Out, "Replay %s is %s: %d replayed, %d skipped, %d failed of %d.\n",
			job.ID, job.State, job.Replayed, job.Skipped, job.Failed, job.Total)
		return err
	})
}

func replayEnded(state string) bool {
	switch state {
	case domain.ReplayDone, domain.ReplayFailed, domain.ReplayCanceled:
		return true
	}
	return false
}

// maxPollErrors is how many reads of a job in a row may fail (a server
// restarting, a blip) before hookctl stops following it.
const maxPollErrors = 5

// watchReplay polls a job until it ends, drawing its progress on stderr.
func watchReplay(ctx context.Context, ios *iostreams.IOStreams, c *api.Client, job api.ReplayJob, iv ProgressIntervals) (api.ReplayJob, error) {
	bar := newReplayProgress(ios.ErrOut, ios.IsStderrTTY(), time.Now)
	bar.observe(job)
	bar.draw()
	defer bar.finish()
	drawEvery := iv.Line
	if bar.tty {
		drawEvery = iv.Redraw
	}
	poll := time.NewTicker(iv.Poll)
	defer poll.Stop()
	draw := time.NewTicker(drawEvery)
	defer draw.Stop()
	failures := 0
	for !replayEnded(job.State) {
		select {
		case <-ctx.Done():
			return job, ctx.Err()
		case <-draw.C:
			bar.draw()
		case <-poll.C:
			j, err := c.GetReplay(ctx, job.ID)
			if err != nil {
				if ctx.Err() != nil {
					return job, ctx.Err()
				}
				if failures++; failures >= maxPollErrors || !retryable(err) {
					return job, err
				}
				continue
			}
			failures = 0
			changed := j.State != job.State
			job = j
			bar.observe(job)
			if changed && !bar.tty {
				bar.draw() // a plain log shows every state change
			}
		}
	}
	bar.draw()
	return job, nil
}

// replayProgress draws a job's progress: a bar redrawn in place on a
// terminal, plain lines otherwise.
type replayProgress struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	job   api.ReplayJob
	drawn bool
	// The first progress seen while running, the base of rate and ETA.
	baseDone int64
	baseAt   time.Time
	lastKey  string
}

func newReplayProgress(w io.Writer, tty bool, now func() time.Time) *replayProgress {
	return &replayProgress{w: w, tty: tty, now: now}
}

func processed(j api.ReplayJob) int64 { return j.Replayed + j.Skipped + j.Failed }

func (r *replayProgress) observe(j api.ReplayJob) {
	if r.baseAt.IsZero() && j.State == domain.ReplayRunning {
		r.baseDone, r.baseAt = processed(j), r.now()
	}
	r.job = j
}

// rate is dead letters per second since following began.
func (r *replayProgress) rate() float64 {
	if r.baseAt.IsZero() {
		return 0
	}
	el := r.now().Sub(r.baseAt).Seconds()
	if el < 0.5 {
		return 0
	}
	return float64(processed(r.job)-r.baseDone) / el
}

func (r *replayProgress) line() string {
	j := r.job
	done := processed(j)
	rate := r.rate()
	eta := "-"
	if rate > 0 && j.Total > done {
		eta = duration(time.Duration(float64(j.Total-done) / rate * float64(time.Second)))
	} else if replayEnded(j.State) {
		eta = "0s"
	}
	if !r.tty {
		return fmt.Sprintf("replay %s: %s %d/%d (%s), replayed %d, skipped %d, failed %d, %s, ETA %s",
			j.ID, j.State, done, j.Total, percent(done, j.Total), j.Replayed, j.Skipped, j.Failed, rateString(rate), eta)
	}
	if j.State == domain.ReplayPending {
		return "waiting for the replay to start…"
	}
	// Most telling first: the line is cut to the terminal's width, since a
	// wrapped line cannot be redrawn in place.
	l := fmt.Sprintf("%s %4s %d/%d  %s  ETA %s  replayed %d · skipped %d · failed %d",
		bar(done, j.Total, 16), percent(done, j.Total), done, j.Total, rateString(rate), eta, j.Replayed, j.Skipped, j.Failed)
	if w := terminalWidth() - 1; utf8.RuneCountInString(l) > w {
		l = string([]rune(l)[:w])
	}
	return l
}

func rateString(perSec float64) string {
	if perSec >= 10 {
		return fmt.Sprintf("%.0f/s", perSec)
	}
	return fmt.Sprintf("%.1f/s", perSec)
}

// terminalWidth is $COLUMNS when the shell exports it, else the classic 80.
func terminalWidth() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n >= 20 {
		return n
	}
	return 80
}

func percent(done, total int64) string {
	if total <= 0 {
		return "0%"
	}
	return fmt.Sprintf("%d%%", min(done*100/total, 100))
}

func bar(done, total int64, width int) string {
	filled := 0
	if total > 0 {
		filled = int(min(done*int64(width)/total, int64(width)))
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat("-", width-filled) + "]"
}

func (r *replayProgress) draw() {
	l := r.line()
	if r.tty {
		// \r and erase-line redraw the bar in place.
		fmt.Fprint(r.w, "\r\x1b[K"+l)
		r.drawn = true
		return
	}
	// A log gets a line only when the job moved, not every tick.
	key := fmt.Sprint(r.job.State, r.job.Total, r.job.Replayed, r.job.Skipped, r.job.Failed)
	if key != r.lastKey {
		fmt.Fprintln(r.w, l)
		r.lastKey = key
	}
}

// finish ends the bar's line so what follows starts on its own.
func (r *replayProgress) finish() {
	if r.tty && r.drawn {
		fmt.Fprintln(r.w)
		r.drawn = false
	}
}
