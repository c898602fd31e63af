package cli

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/iostreams"
)

// listFlags page through a list.
type listFlags struct {
	Limit  int
	All    bool
	Cursor string
}

func addListFlags(cmd *cobra.Command, l *listFlags) {
	fl := cmd.Flags()
	fl.IntVar(&l.Limit, "limit", 0, "items per page (default: the server's)")
	fl.BoolVar(&l.All, "all", false, "follow next_cursor and print every page")
	fl.StringVar(&l.Cursor, "cursor", "", "start at this page (a next_cursor from an earlier list)")
}

func (l listFlags) validate() error {
	if l.Limit < 0 {
		return cmdutil.Usagef("--limit must not be negative")
	}
	return nil
}

// fetchPages reads one page, or with --all every page, into one.
func fetchPages[T any](ctx context.Context, l listFlags, fetch func(ctx context.Context, cursor string) (api.Page[T], error)) (api.Page[T], error) {
	page, err := fetch(ctx, l.Cursor)
	if err != nil || !l.All {
		return page, err
	}
	seen := map[string]bool{l.Cursor: true}
	for page.NextCursor != "" {
		// A cursor that comes back would loop for ever.
		if seen[page.NextCursor] {
			return page, fmt.Errorf("the server returned cursor %q twice", page.NextCursor)
		}
		seen[page.NextCursor] = true
		next, err := fetch(ctx, page.NextCursor)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, next.Items...)
		page.NextCursor = next.NextCursor
	}
	return page, nil
}

// filterFlags select attempts, deliveries or dead letters.
type filterFlags struct {
	Endpoint  string
	EventType string
	Outcome   string
	Reason    string
	Tenant    string
	Since     string
	Until     string
}

// Filter flags a command may take, besides the common ones.
const (
	withOutcome = 1 << iota
	withReason
)

func addFilterFlags(f *Factory, cmd *cobra.Command, ff *filterFlags, extra int) {
	fl := cmd.Flags()
	fl.StringVar(&ff.Endpoint, "endpoint", "", "only this endpoint id")
	fl.StringVar(&ff.EventType, "event-type", "", "only this event type")
	if extra&withOutcome != 0 {
		fl.StringVar(&ff.Outcome, "outcome", "", "only this outcome: "+strings.Join(outcomeNames(), ", "))
		_ = cmd.RegisterFlagCompletionFunc("outcome", cobra.FixedCompletions(outcomeNames(), cobra.ShellCompDirectiveNoFileComp))
	}
	if extra&withReason != 0 {
		fl.StringVar(&ff.Reason, "reason", "", "only this reason: "+strings.Join(deadLetterReasons, ", "))
		_ = cmd.RegisterFlagCompletionFunc("reason", cobra.FixedCompletions(deadLetterReasons, cobra.ShellCompDirectiveNoFileComp))
	}
	fl.StringVar(&ff.Tenant, "tenant", "", "only this tenant")
	fl.StringVar(&ff.Since, "since", "", "from this time: RFC 3339, unix seconds, or a duration back from now (90m, 1h, 7d)")
	fl.StringVar(&ff.Until, "until", "", "before this time, in the same forms as --since")
	_ = cmd.RegisterFlagCompletionFunc("endpoint", endpointIDs(f))
}

func outcomeNames() []string {
	out := make([]string, len(domain.Outcomes))
	for i, o := range domain.Outcomes {
		out[i] = string(o)
	}
	return out
}

var deadLetterReasons = []string{
	domain.ReasonExhausted, domain.ReasonEndpointDisabled, domain.ReasonGone,
	domain.ReasonMalformed, domain.ReasonBlocked, domain.ReasonEndpointDeleted,
}

// set reports whether any filter is given.
func (ff filterFlags) set() bool {
	return ff != filterFlags{}
}

func (ff filterFlags) times(now time.Time) (since, until time.Time, err error) {
	if since, err = parseSince("--since", ff.Since, now); err != nil {
		return
	}
	if until, err = parseSince("--until", ff.Until, now); err != nil {
		return
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		err = cmdutil.Usagef("--since must be before --until")
	}
	return
}

func (ff filterFlags) check() error {
	if ff.Outcome != "" && !slices.Contains(outcomeNames(), ff.Outcome) {
		return cmdutil.Usagef("invalid value %q for --outcome: want one of %s", ff.Outcome, strings.Join(outcomeNames(), ", "))
	}
	if ff.Reason != "" && !slices.Contains(deadLetterReasons, ff.Reason) {
		return cmdutil.Usagef("invalid value %q for --reason: want one of %s", ff.Reason, strings.Join(deadLetterReasons, ", "))
	}
	_, _, err := ff.times(time.Now())
	return err
}

func (ff filterFlags) query(now time.Time, l listFlags) (api.ListQuery, error) {
	since, until, err := ff.times(now)
	if err != nil {
		return api.ListQuery{}, err
	}
	return api.ListQuery{
		EndpointID: ff.Endpoint, EventType: strings.ToLower(ff.EventType), Outcome: ff.Outcome, Reason: ff.Reason,
		TenantID: ff.Tenant, Since: since, Until: until, Limit: l.Limit,
	}, nil
}

func (ff filterFlags) deadLetterFilter(now time.Time) (api.DeadLetterFilter, error) {
	since, until, err := ff.times(now)
	if err != nil {
		return api.DeadLetterFilter{}, err
	}
	return api.DeadLetterFilter{
		EndpointID: ff.Endpoint, EventType: strings.ToLower(ff.EventType), Reason: ff.Reason,
		TenantID: ff.Tenant, Since: since, Until: until,
	}, nil
}

var daysRE = regexp.MustCompile(`^(\d+)d$`)

// parseSince reads a point in time: absolute, or a duration back from now.
// A duration is resolved once, here, so every page of --all asks for the
// same window.
func parseSince(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if m := daysRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err == nil && n <= 100000 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, cmdutil.Usagef("%s %q: a duration back from now must not be negative", flag, s)
		}
		return now.Add(-d), nil
	}
	t, err := parseTime(flag, s)
	if err != nil {
		return time.Time{}, cmdutil.Usagef("%s %q is not RFC 3339 (2026-01-02T15:04:05Z), unix seconds, or a duration (1h, 7d)", flag, s)
	}
	return t, nil
}

// confirm asks a person before something that cannot be undone. Without a
// terminal to ask on, only --yes goes ahead: a script must say so.
func confirm(ctx context.Context, ios *iostreams.IOStreams, yes bool, prompt string) error {
	if yes {
		return nil
	}
	if !ios.IsStdinTTY() {
		return cmdutil.Usagef("stdin is not a terminal, so hookctl cannot ask: pass --yes to go ahead")
	}
	fmt.Fprintf(ios.ErrOut, "%s [y/N] ", prompt)
	// Main catches Ctrl-C to cancel ctx, so a read that ignored ctx would
	// keep waiting for Enter after it.
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(ios.In).ReadString('\n')
		answer <- line
	}()
	var line string
	select {
	case <-ctx.Done():
		fmt.Fprintln(ios.ErrOut)
		return ctx.Err()
	case line = <-answer:
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	if !strings.HasSuffix(line, "\n") {
		fmt.Fprintln(ios.ErrOut)
	}
	fmt.Fprintln(ios.ErrOut, "Canceled; nothing changed.")
	return cmdutil.ErrSilent
}

// completionTimeout bounds how long a shell waits on the API for a
// completion.
const completionTimeout = 3 * time.Second

// endpointIDs completes endpoint ids from the API, described by their URL.
// It is best effort: any error completes nothing, silently.
func endpointIDs(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel := completionContext(cmd)
		defer cancel()
		c, err := f.apiClient()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		page, err := c.ListEndpoints(ctx, api.EndpointListQuery{Limit: 200})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, e := range page.Items {
			if strings.HasPrefix(e.ID, toComplete) {
				out = append(out, e.ID+"\t"+e.URL)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// endpointIDArg completes the first argument only.
func endpointIDArg(f *Factory) cobra.CompletionFunc {
	ids := endpointIDs(f)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return ids(cmd, args, toComplete)
	}
}

// deadLetterArgs completes ENDPOINT_ID, then the ids of that endpoint's
// dead letters.
func deadLetterArgs(f *Factory) cobra.CompletionFunc {
	ids := endpointIDs(f)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return ids(cmd, args, toComplete)
		case 1:
			ctx, cancel := completionContext(cmd)
			defer cancel()
			c, err := f.apiClient()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			page, err := c.ListDeadLetters(ctx, api.ListQuery{EndpointID: args[0], Limit: 200})
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, d := range page.Items {
				if strings.HasPrefix(d.DeliveryID, toComplete) {
					out = append(out, d.DeliveryID+"\t"+d.EventType+" "+d.Reason)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

func completionContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, completionTimeout)
}

// commandContext is the command's context; commands built outside
// Execute (tests) have none.
func commandContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
