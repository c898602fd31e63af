package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/signature"
)

// NewCmdEndpoints builds `hookctl endpoints`.
func NewCmdEndpoints(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "endpoints",
		Aliases: []string{"ep", "endpoint"},
		Short:   "Manage endpoints: where hookd delivers webhooks",
		Long: `An endpoint is an HTTP URL that receives the events whose types match its
filters, signed with its secret, with its own retry policy, rate limit and
concurrency.`,
		Example: `  hookctl endpoints create --url https://example.com/hooks --event-type 'order.*'
  hookctl endpoints list --label env=prod
  hookctl ep disable ep_123 --reason "maintenance"`,
		Args: cmdutil.NoArgs,
	}
	cmd.AddCommand(
		NewCmdEndpointCreate(f, nil),
		NewCmdEndpointList(f, nil),
		NewCmdEndpointGet(f, nil),
		NewCmdEndpointUpdate(f, nil),
		NewCmdEndpointDelete(f, nil),
		NewCmdEndpointEnable(f, nil),
		NewCmdEndpointDisable(f, nil),
		NewCmdEndpointRotateSecret(f, nil),
		NewCmdEndpointStats(f, nil),
	)
	return cmd
}

// endpointFlags are the fields of an endpoint as flags, shared by create
// and update.
type endpointFlags struct {
	URL              string
	Description      string
	Tenant           string
	Scheme           string
	EventTypes       []string
	Headers          []string
	Labels           []string
	RetrySchedule    string
	RetryExponential string
	RateLimit        float64
	MaxConcurrency   int
	Timeout          time.Duration
	SuccessCodes     []int
	Disabled         bool
	Secret           string
}

func (ef *endpointFlags) register(cmd *cobra.Command, create bool) {
	fl := cmd.Flags()
	urlHelp := "the URL deliveries are POSTed to"
	if create {
		urlHelp += " (required)"
	}
	fl.StringVar(&ef.URL, "url", "", urlHelp)
	fl.StringArrayVar(&ef.EventTypes, "event-type", []string{"*"}, "event types to receive: exact (order.created), prefix (order.*) or * (repeatable)")
	fl.StringVar(&ef.Description, "description", "", "free text")
	fl.StringVar(&ef.Tenant, "tenant", "", "only events of this tenant")
	fl.StringArrayVarP(&ef.Headers, "header", "H", nil, "a header to send with every delivery, 'Name: value' (repeatable)")
	fl.StringVar(&ef.Scheme, "scheme", "", "signing scheme: standard, stripe or github (default standard)")
	fl.StringVar(&ef.RetrySchedule, "retry-schedule", "", "retry delays, e.g. 5s,1m,10m (default: hookd's schedule)")
	fl.StringVar(&ef.RetryExponential, "retry-exponential", "", "exponential retries, e.g. min=1s,max=1h,attempts=10")
	fl.Float64Var(&ef.RateLimit, "rate-limit", 0, "most deliveries per second (0: no limit)")
	fl.IntVar(&ef.MaxConcurrency, "max-concurrency", 0, "most deliveries in flight at once (0: hookd's default)")
	fl.DurationVar(&ef.Timeout, "timeout", 0, "time limit of one attempt, e.g. 30s (0: hookd's default)")
	fl.IntSliceVar(&ef.SuccessCodes, "success-code", nil, "a status code that counts as delivered (repeatable; default any 2xx)")
	fl.StringArrayVar(&ef.Labels, "label", nil, "a label key=value (repeatable)")
	fl.BoolVar(&ef.Disabled, "disabled", false, "create it disabled: deliveries wait in the dead-letter queue")
	if create {
		fl.StringVar(&ef.Secret, "secret", "", "signing secret to use (whsec_...; default: a new random one)")
	} else {
		fl.Lookup("event-type").DefValue = ""
		fl.Lookup("disabled").Usage = "disable (true) or enable (false); enable and disable also take a reason"
		fl.Lookup("header").Usage += "; replaces all headers, -H '' removes them"
		fl.Lookup("label").Usage += "; replaces all labels, --label '' removes them"
	}
	cmd.MarkFlagsMutuallyExclusive("retry-schedule", "retry-exponential")
	_ = cmd.RegisterFlagCompletionFunc("scheme", cobra.FixedCompletions([]string{"standard", "stripe", "github"}, cobra.ShellCompDirectiveNoFileComp))
}

// input turns the flags given into a request body; flags not given stay
// out of it, so an update changes only what was asked.
func (ef *endpointFlags) input(changed func(string) bool, create bool) (api.EndpointInput, error) {
	var in api.EndpointInput
	if create && !changed("url") {
		return in, cmdutil.Usagef("--url is required")
	}
	if changed("url") {
		in.URL = &ef.URL
	}
	if create || changed("event-type") {
		types := nonEmpty(ef.EventTypes)
		if len(types) == 0 {
			return in, cmdutil.Usagef("--event-type must not be empty")
		}
		in.EventTypes = &types
	}
	if changed("description") {
		in.Description = &ef.Description
	}
	if changed("tenant") {
		in.TenantID = &ef.Tenant
	}
	if changed("header") {
		pairs, err := parseHeaderFlags(nonEmpty(ef.Headers))
		if err != nil {
			return in, err
		}
		h := make(map[string]string, len(pairs))
		for _, p := range pairs {
			h[p[0]] = p[1]
		}
		in.Headers = &h
	}
	if changed("scheme") {
		switch ef.Scheme {
		case signature.Standard, signature.Stripe, signature.GitHub:
		default:
			return in, cmdutil.Usagef("invalid value %q for --scheme: want standard, stripe or github", ef.Scheme)
		}
		in.SigningScheme = &ef.Scheme
	}
	switch {
	case changed("retry-schedule"):
		p, err := parseRetrySchedule(ef.RetrySchedule)
		if err != nil {
			return in, err
		}
		in.RetryPolicy = &p
	case changed("retry-exponential"):
		p, err := parseRetryExponential(ef.RetryExponential)
		if err != nil {
			return in, err
		}
		in.RetryPolicy = &p
	}
	if changed("rate-limit") {
		if ef.RateLimit < 0 {
			return in, cmdutil.Usagef("--rate-limit must not be negative")
		}
		in.RateLimit = &ef.RateLimit
	}
	if changed("max-concurrency") {
		if ef.MaxConcurrency < 0 {
			return in, cmdutil.Usagef("--max-concurrency must not be negative")
		}
		in.MaxConcurrency = &ef.MaxConcurrency
	}
	if changed("timeout") {
		if ef.Timeout < 0 {
			return in, cmdutil.Usagef("--timeout must not be negative")
		}
		d := api.Duration(ef.Timeout)
		in.Timeout = &d
	}
	if changed("success-code") {
		for _, c := range ef.SuccessCodes {
			if c < 100 || c > 599 {
				return in, cmdutil.Usagef("--success-code %d is not an HTTP status", c)
			}
		}
		codes := append([]int(nil), ef.SuccessCodes...)
		in.SuccessStatusCodes = &codes
	}
	if changed("label") {
		labels, err := parseLabels(ef.Labels)
		if err != nil {
			return in, err
		}
		in.Labels = &labels
	}
	if changed("disabled") {
		enabled := !ef.Disabled
		in.Enabled = &enabled
	}
	if changed("secret") {
		if err := signature.ValidateSecret(ef.Secret); err != nil {
			return in, cmdutil.Usagef("--secret: %v", err)
		}
		in.Secret = ef.Secret
	}
	return in, nil
}

func nonEmpty(values []string) []string {
	out := []string{}
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func parseLabels(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range nonEmpty(values) {
		k, val, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, cmdutil.Usagef("--label %q is not key=value", v)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return out, nil
}

// parseRetrySchedule reads "5s,1m,10m"; an empty value means hookd's
// default schedule again.
func parseRetrySchedule(s string) (api.RetryPolicy, error) {
	var p api.RetryPolicy
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil || d < 0 {
			return p, cmdutil.Usagef("--retry-schedule: %q is not a duration (use values like 5s,1m,10m)", part)
		}
		p.Schedule = append(p.Schedule, api.Duration(d))
	}
	return p, nil
}

// parseRetryExponential reads "min=1s,max=1h,attempts=10".
func parseRetryExponential(s string) (api.RetryPolicy, error) {
	x := &api.ExponentialRetry{}
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return api.RetryPolicy{}, cmdutil.Usagef("--retry-exponential: %q is not key=value (want min=1s,max=1h,attempts=10)", part)
		}
		switch k {
		case "min", "max":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return api.RetryPolicy{}, cmdutil.Usagef("--retry-exponential: %s=%q is not a positive duration", k, v)
			}
			if k == "min" {
				x.Min = api.Duration(d)
			} else {
				x.Max = api.Duration(d)
			}
		case "attempts":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return api.RetryPolicy{}, cmdutil.Usagef("--retry-exponential: attempts=%q is not a positive number", v)
			}
			x.Attempts = n
		default:
			return api.RetryPolicy{}, cmdutil.Usagef("--retry-exponential: unknown key %q (want min, max, attempts)", k)
		}
		seen[k] = true
	}
	if !seen["min"] || !seen["max"] || !seen["attempts"] {
		return api.RetryPolicy{}, cmdutil.Usagef("--retry-exponential needs min, max and attempts, e.g. min=1s,max=1h,attempts=10")
	}
	if x.Min > x.Max {
		return api.RetryPolicy{}, cmdutil.Usagef("--retry-exponential: min must not be more than max")
	}
	return api.RetryPolicy{Exponential: x}, nil
}

// EndpointCreateOptions are the inputs of `hookctl endpoints create`.
type EndpointCreateOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	Input     api.EndpointInput
	Output    string
	ctx       context.Context
}

// NewCmdEndpointCreate builds `hookctl endpoints create`.
func NewCmdEndpointCreate(f *Factory, runF func(*EndpointCreateOptions) error) *cobra.Command {
	opts := &EndpointCreateOptions{IO: f.IOStreams, APIClient: f.apiClient}
	var ef endpointFlags
	cmd := &cobra.Command{
		Use:   "create --url URL",
		Short: "Create an endpoint and print its signing secret",
		Long: `Create an endpoint. The answer holds its signing secret, shown this once:
store it where the receiver can read it (or pass your own with --secret).`,
		Example: `  hookctl endpoints create --url https://example.com/hooks
  hookctl endpoints create --url https://example.com/hooks --event-type 'order.*' --event-type invoice.paid \
    -H 'Authorization: Bearer abc' --retry-schedule 5s,1m,10m --rate-limit 20 --label env=prod
  hookctl endpoints create --url https://example.com/gh --scheme github -o json | jq -r .secret`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			in, err := ef.input(cmd.Flags().Changed, true)
			if err != nil {
				return err
			}
			opts.Input, opts.ctx = in, commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runEndpointCreate(opts)
		},
	}
	ef.register(cmd, true)
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runEndpointCreate(opts *EndpointCreateOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	created, err := c.CreateEndpoint(opts.ctx, opts.Input)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(created, func() error {
		rows := append(endpointFields(p, created.Endpoint), [2]string{"Secret", created.Secret})
		if err := p.fields(rows...); err != nil {
			return err
		}
		fmt.Fprintln(opts.IO.ErrOut, "Store the signing secret now: hookd does not show it again (`hookctl endpoints rotate-secret` makes a new one).")
		return nil
	})
}

func endpointFields(p *printer, e api.Endpoint) [][2]string {
	status := "enabled"
	if !e.Enabled {
		status = "disabled"
		if e.DisabledReason != "" {
			status += " (" + e.DisabledReason + ")"
		}
	}
	codes := "any 2xx"
	if len(e.SuccessStatusCodes) > 0 {
		codes = joinInts(e.SuccessStatusCodes)
	}
	rate := "no limit"
	if e.RateLimit > 0 {
		rate = strconv.FormatFloat(e.RateLimit, 'f', -1, 64) + "/s"
	}
	conc, timeout := "default", "default"
	if e.MaxConcurrency > 0 {
		conc = strconv.Itoa(e.MaxConcurrency)
	}
	if e.Timeout > 0 {
		timeout = shortDuration(time.Duration(e.Timeout))
	}
	created := p.time(e.CreatedAt)
	if e.CreatedBy != "" {
		created += " by " + e.CreatedBy
	}
	updated := p.time(e.UpdatedAt)
	if e.UpdatedBy != "" {
		updated += " by " + e.UpdatedBy
	}
	return [][2]string{
		{"ID", e.ID},
		{"URL", e.URL},
		{"Status", status},
		{"Event types", strings.Join(e.EventTypes, ", ")},
		{"Tenant", e.TenantID},
		{"Description", e.Description},
		{"Signing scheme", e.SigningScheme},
		{"Retry policy", retryPolicyString(e.RetryPolicy)},
		{"Rate limit", rate},
		{"Max concurrency", conc},
		{"Timeout", timeout},
		{"Success codes", codes},
		{"Headers", mapString(e.Headers, ": ", "; ")},
		{"Labels", mapString(e.Labels, "=", ", ")},
		{"Version", strconv.FormatInt(e.Version, 10)},
		{"Created", created},
		{"Updated", updated},
	}
}

func retryPolicyString(p api.RetryPolicy) string {
	switch {
	case p.Exponential != nil:
		x := p.Exponential
		return fmt.Sprintf("exponential from %s to %s, %d attempts",
			shortDuration(time.Duration(x.Min)), shortDuration(time.Duration(x.Max)), x.Attempts)
	case len(p.Schedule) > 0:
		parts := make([]string, len(p.Schedule))
		for i, d := range p.Schedule {
			parts[i] = shortDuration(time.Duration(d))
		}
		return strings.Join(parts, ", ")
	}
	return "default"
}

// shortDuration writes 1m rather than 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ", ")
}

func mapString(m map[string]string, kv, sep string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + kv + m[k]
	}
	return strings.Join(parts, sep)
}

func enabledCell(e api.Endpoint) cell {
	if e.Enabled {
		return styled("enabled", styleGreen)
	}
	return styled("disabled", styleRed)
}

// EndpointListOptions are the inputs of `hookctl endpoints list`.
type EndpointListOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	Labels    []string
	Tenant    string
	List      listFlags
	Output    string
	ctx       context.Context
}

// NewCmdEndpointList builds `hookctl endpoints list`.
func NewCmdEndpointList(f *Factory, runF func(*EndpointListOptions) error) *cobra.Command {
	opts := &EndpointListOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List endpoints",
		Example: `  hookctl endpoints list
  hookctl endpoints list --label env=prod --label team=billing
  hookctl endpoints list --tenant acme --all -o jsonl | jq -r .url`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			if err := opts.List.validate(); err != nil {
				return err
			}
			for _, l := range opts.Labels {
				if k, _, ok := strings.Cut(l, "="); !ok || k == "" {
					return cmdutil.Usagef("--label %q is not key=value", l)
				}
			}
			opts.ctx = commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runEndpointList(opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Labels, "label", nil, "only endpoints with this label key=value (repeatable: all must match)")
	cmd.Flags().StringVar(&opts.Tenant, "tenant", "", "only endpoints of this tenant")
	addListFlags(cmd, &opts.List)
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runEndpointList(opts *EndpointListOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	q := api.EndpointListQuery{TenantID: opts.Tenant, Limit: opts.List.Limit}
	for _, l := range opts.Labels {
		k, v, _ := strings.Cut(l, "=")
		q.Labels = append(q.Labels, k+":"+v) // the API's form of a label filter
	}
	page, err := fetchPages(opts.ctx, opts.List, func(ctx context.Context, cursor string) (api.Page[api.Endpoint], error) {
		q.Cursor = cursor
		return c.ListEndpoints(ctx, q)
	})
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return printPage(p, page, "endpoints", func(t *tableWriter) {
		t.setHeader("ID", "URL", "EVENT TYPES", "STATUS", "TENANT", "UPDATED")
		for _, e := range page.Items {
			t.row(txt(e.ID), wide(e.URL, widthURL), wide(strings.Join(e.EventTypes, ","), widthList),
				enabledCell(e), txt(e.TenantID), p.when(e.UpdatedAt))
		}
	})
}

// EndpointOptions are the inputs of the commands that act on one endpoint:
// get, enable, disable.
type EndpointOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	ID        string
	Reason    string
	Output    string
	ctx       context.Context
}

func newEndpointCmd(f *Factory, runF func(*EndpointOptions) error, run func(*EndpointOptions) error, cmd *cobra.Command) (*cobra.Command, *EndpointOptions) {
	opts := &EndpointOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd.Args = cmdutil.ExactArgs(1)
	cmd.ValidArgsFunction = endpointIDArg(f)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := validateOutput(opts.Output); err != nil {
			return err
		}
		opts.ID, opts.ctx = args[0], commandContext(cmd)
		if runF != nil {
			return runF(opts)
		}
		return run(opts)
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd, opts
}

// NewCmdEndpointGet builds `hookctl endpoints get`.
func NewCmdEndpointGet(f *Factory, runF func(*EndpointOptions) error) *cobra.Command {
	cmd, _ := newEndpointCmd(f, runF, runEndpointGet, &cobra.Command{
		Use:   "get ENDPOINT_ID",
		Short: "Show an endpoint",
		Example: `  hookctl endpoints get ep_123
  hookctl endpoints get ep_123 -o yaml`,
	})
	return cmd
}

func runEndpointGet(opts *EndpointOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	e, err := c.GetEndpoint(opts.ctx, opts.ID)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(e, func() error { return p.fields(endpointFields(p, e)...) })
}

// NewCmdEndpointEnable builds `hookctl endpoints enable`.
func NewCmdEndpointEnable(f *Factory, runF func(*EndpointOptions) error) *cobra.Command {
	cmd, _ := newEndpointCmd(f, runF, runEndpointEnable, &cobra.Command{
		Use:   "enable ENDPOINT_ID",
		Short: "Turn an endpoint on",
		Long: `Turn an endpoint on. Deliveries parked as dead letters while it was
disabled stay there: replay them with ` + "`hookctl dlq replay --endpoint ID --reason endpoint_disabled`.",
		Example: `  hookctl endpoints enable ep_123`,
	})
	return cmd
}

func runEndpointEnable(opts *EndpointOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	e, err := c.EnableEndpoint(opts.ctx, opts.ID)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(e, func() error {
		_, err := fmt.Fprintf(opts.IO.Out, "Endpoint %s is enabled.\n", e.ID)
		return err
	})
}

// NewCmdEndpointDisable builds `hookctl endpoints disable`.
func NewCmdEndpointDisable(f *Factory, runF func(*EndpointOptions) error) *cobra.Command {
	cmd, opts := newEndpointCmd(f, runF, runEndpointDisable, &cobra.Command{
		Use:   "disable ENDPOINT_ID",
		Short: "Turn an endpoint off; its deliveries wait in the dead-letter queue",
		Long: `Turn an endpoint off. Nothing is dropped: its deliveries become dead
letters with reason endpoint_disabled, to replay once it is enabled again.`,
		Example: `  hookctl endpoints disable ep_123 --reason "receiver migration"`,
	})
	cmd.Flags().StringVar(&opts.Reason, "reason", "", "why, shown with the endpoint")
	return cmd
}

func runEndpointDisable(opts *EndpointOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	e, err := c.DisableEndpoint(opts.ctx, opts.ID, opts.Reason)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(e, func() error {
		_, err := fmt.Fprintf(opts.IO.Out, "Endpoint %s is disabled; its deliveries go to the dead-letter queue until it is enabled.\n", e.ID)
		return err
	})
}

// EndpointUpdateOptions are the inputs of `hookctl endpoints update`.
type EndpointUpdateOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	ID        string
	Input     api.EndpointInput
	Output    string
	ctx       context.Context
}

// NewCmdEndpointUpdate builds `hookctl endpoints update`.
func NewCmdEndpointUpdate(f *Factory, runF func(*EndpointUpdateOptions) error) *cobra.Command {
	opts := &EndpointUpdateOptions{IO: f.IOStreams, APIClient: f.apiClient}
	var (
		ef      endpointFlags
		version int64
	)
	cmd := &cobra.Command{
		Use:   "update ENDPOINT_ID",
		Short: "Change an endpoint: only the flags given change",
		Long: `Change an endpoint. Only the fields whose flags are given change; list
flags (--event-type, --header, --label, --success-code) replace the whole
list. --version makes the change conditional: it is refused if the
endpoint changed since that version (see ` + "`hookctl endpoints get`).",
		Example: `  hookctl endpoints update ep_123 --url https://example.com/v2/hooks
  hookctl endpoints update ep_123 --event-type 'order.*' --event-type 'refund.*' --version 4
  hookctl endpoints update ep_123 --retry-exponential min=1s,max=1h,attempts=12
  hookctl endpoints update ep_123 --label ''   # remove every label`,
		Args:              cmdutil.ExactArgs(1),
		ValidArgsFunction: endpointIDArg(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			in, err := ef.input(cmd.Flags().Changed, false)
			if err != nil {
				return err
			}
			if in == (api.EndpointInput{}) {
				return cmdutil.Usagef("nothing to change: give at least one flag (see --help)")
			}
			if cmd.Flags().Changed("version") {
				if version <= 0 {
					return cmdutil.Usagef("--version must be positive")
				}
				in.Version = version
			}
			opts.ID, opts.Input, opts.ctx = args[0], in, commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runEndpointUpdate(opts)
		},
	}
	ef.register(cmd, false)
	cmd.Flags().Int64Var(&version, "version", 0, "change only if the endpoint is still at this version")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runEndpointUpdate(opts *EndpointUpdateOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	e, err := c.UpdateEndpoint(opts.ctx, opts.ID, opts.Input)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(e, func() error { return p.fields(endpointFields(p, e)...) })
}

// EndpointDeleteOptions are the inputs of `hookctl endpoints delete`.
type EndpointDeleteOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	ID        string
	Yes       bool
	ctx       context.Context
}

// NewCmdEndpointDelete builds `hookctl endpoints delete`.
func NewCmdEndpointDelete(f *Factory, runF func(*EndpointDeleteOptions) error) *cobra.Command {
	opts := &EndpointDeleteOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:     "delete ENDPOINT_ID",
		Aliases: []string{"rm"},
		Short:   "Delete an endpoint",
		Long: `Delete an endpoint. On a terminal hookctl asks first; elsewhere pass --yes.
Deliveries still waiting for a retry become dead letters (reason
endpoint_deleted). To stop deliveries for a while, disable it instead.`,
		Example: `  hookctl endpoints delete ep_123
  hookctl endpoints delete ep_123 --yes`,
		Args:              cmdutil.ExactArgs(1),
		ValidArgsFunction: endpointIDArg(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !opts.Yes && !opts.IO.IsStdinTTY() {
				return cmdutil.Usagef("stdin is not a terminal, so hookctl cannot ask before deleting: pass --yes")
			}
			opts.ID, opts.ctx = args[0], commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runEndpointDelete(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func runEndpointDelete(opts *EndpointDeleteOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	if !opts.Yes {
		// Show what is about to go, and fail early on a wrong id.
		e, err := c.GetEndpoint(opts.ctx, opts.ID)
		if err != nil {
			return err
		}
		if err := confirm(opts.ctx, opts.IO, false, fmt.Sprintf("Delete endpoint %s (%s)?", e.ID, e.URL)); err != nil {
			return err
		}
	}
	if err := c.DeleteEndpoint(opts.ctx, opts.ID); err != nil {
		return err
	}
	_, err = fmt.Fprintf(opts.IO.Out, "Deleted endpoint %s.\n", opts.ID)
	return err
}

// EndpointRotateOptions are the inputs of `hookctl endpoints rotate-secret`.
type EndpointRotateOptions struct {
	IO          *iostreams.IOStreams
	APIClient   func() (*api.Client, error)
	ID          string
	Request     api.RotateSecretRequest
	Output      string
	ctx         context.Context
	expireOldIn time.Duration
}

// NewCmdEndpointRotateSecret builds `hookctl endpoints rotate-secret`.
func NewCmdEndpointRotateSecret(f *Factory, runF func(*EndpointRotateOptions) error) *cobra.Command {
	opts := &EndpointRotateOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:   "rotate-secret ENDPOINT_ID",
		Short: "Give an endpoint a new signing secret; the old one keeps signing for a while",
		Long: `Give an endpoint a new signing secret, used at once. Older secrets keep
signing too (deliveries carry several signatures) until they expire, 24h
by default, so receivers can switch without rejecting anything.`,
		Example: `  hookctl endpoints rotate-secret ep_123
  hookctl endpoints rotate-secret ep_123 --expire-old-in 1h
  hookctl endpoints rotate-secret ep_123 --expire-old-in 0s   # the old secret stops now
  hookctl endpoints rotate-secret ep_123 --secret "$(hookctl secret generate)" -o json`,
		Args:              cmdutil.ExactArgs(1),
		ValidArgsFunction: endpointIDArg(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			if cmd.Flags().Changed("expire-old-in") {
				if opts.expireOldIn < 0 {
					return cmdutil.Usagef("--expire-old-in must not be negative")
				}
				d := api.Duration(opts.expireOldIn)
				opts.Request.ExpireOldIn = &d
			}
			if cmd.Flags().Changed("secret") {
				if err := signature.ValidateSecret(opts.Request.Secret); err != nil {
					return cmdutil.Usagef("--secret: %v", err)
				}
			}
			opts.ID, opts.ctx = args[0], commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runEndpointRotate(opts)
		},
	}
	cmd.Flags().DurationVar(&opts.expireOldIn, "expire-old-in", 24*time.Hour, "how long older secrets keep signing")
	cmd.Flags().StringVar(&opts.Request.Secret, "secret", "", "the new secret (whsec_...; default: a new random one)")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runEndpointRotate(opts *EndpointRotateOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	r, err := c.RotateSecret(opts.ctx, opts.ID, opts.Request)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(r, func() error {
		if err := p.fields([2]string{"Secret", r.Secret}, [2]string{"Old secrets expire", p.time(r.OldExpiresAt)}); err != nil {
			return err
		}
		fmt.Fprintln(opts.IO.ErrOut, "Store the new signing secret now: hookd does not show it again.")
		return nil
	})
}

// EndpointStatsOptions are the inputs of `hookctl endpoints stats`.
type EndpointStatsOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	ID        string
	Window    time.Duration
	Output    string
	ctx       context.Context
}

// NewCmdEndpointStats builds `hookctl endpoints stats`.
func NewCmdEndpointStats(f *Factory, runF func(*EndpointStatsOptions) error) *cobra.Command {
	opts := &EndpointStatsOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:   "stats ENDPOINT_ID",
		Short: "Summarize an endpoint's recent attempts: success rate, latency, circuit",
		Example: `  hookctl endpoints stats ep_123
  hookctl endpoints stats ep_123 --window 24h -o json`,
		Args:              cmdutil.ExactArgs(1),
		ValidArgsFunction: endpointIDArg(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			if opts.Window < 0 {
				return cmdutil.Usagef("--window must not be negative")
			}
			opts.ID, opts.ctx = args[0], commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runEndpointStats(opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Window, "window", 0, "how far back to look (default: the server's, 1h)")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runEndpointStats(opts *EndpointStatsOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	s, err := c.EndpointStats(opts.ctx, opts.ID, opts.Window)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(s, func() error {
		status := "enabled"
		if !s.Enabled {
			status = "disabled"
			if s.DisabledFor != "" {
				status += " (" + s.DisabledFor + ")"
			}
		}
		lastErr := s.LastError
		if s.LastErrorAt != nil && lastErr != "" {
			lastErr = p.timePtr(s.LastErrorAt) + ": " + lastErr
		}
		return p.fields(
			[2]string{"Endpoint", s.EndpointID},
			[2]string{"Status", status},
			[2]string{"Window", shortDuration(time.Duration(s.Window))},
			[2]string{"Attempts", fmt.Sprintf("%d (%d delivered, %d failed)", s.Sampled, s.Delivered, s.Failed)},
			[2]string{"Success rate", fmt.Sprintf("%.1f%%", s.SuccessRate*100)},
			[2]string{"Latency", fmt.Sprintf("p50 %s, p90 %s, p99 %s", duration(time.Duration(s.LatencyP50)), duration(time.Duration(s.LatencyP90)), duration(time.Duration(s.LatencyP99)))},
			[2]string{"Outcomes", mapIntString(s.Outcomes)},
			[2]string{"Circuit", s.CircuitState},
			[2]string{"Last attempt", p.timePtr(s.LastAttemptAt)},
			[2]string{"Last error", lastErr},
		)
	})
}

func mapIntString(m map[string]int) string {
	s := make(map[string]string, len(m))
	for k, v := range m {
		s[k] = strconv.Itoa(v)
	}
	return mapString(s, " ", ", ")
}
