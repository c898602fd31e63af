package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/iostreams"
)

// NewCmdKeys builds `hookctl keys`.
func NewCmdKeys(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "keys",
		Aliases: []string{"key", "api-keys"},
		Short:   "Manage API keys (needs the admin scope)",
		Example: `  hookctl keys create --name ci --scope events:publish
  hookctl keys list
  hookctl keys revoke key_123`,
		Args: cmdutil.NoArgs,
	}
	cmd.AddCommand(NewCmdKeyCreate(f, nil), NewCmdKeyList(f, nil), NewCmdKeyRevoke(f, nil))
	return cmd
}

// KeyCreateOptions are the inputs of `hookctl keys create`.
type KeyCreateOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	Request   api.CreateKeyRequest
	Output    string
	ctx       context.Context
}

// NewCmdKeyCreate builds `hookctl keys create`.
func NewCmdKeyCreate(f *Factory, runF func(*KeyCreateOptions) error) *cobra.Command {
	opts := &KeyCreateOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:   "create --name NAME --scope SCOPE...",
		Short: "Create an API key and print it (shown once)",
		Long: `Create an API key. The key is printed this once; hookd keeps only a hash.

Scopes:
  endpoints:read    read endpoints
  endpoints:write   change endpoints
  events:publish    publish events
  deliveries:read   read events, deliveries, attempts, dead letters, replay jobs
  dlq:replay        replay and discard dead letters, cancel replay jobs
  admin             everything, API keys included`,
		Example: `  hookctl keys create --name ci-publisher --scope events:publish
  hookctl keys create --name oncall --scope deliveries:read --scope dlq:replay
  hookctl keys create --name ops --scope admin -o json | jq -r .key`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			opts.Request.Name = strings.TrimSpace(opts.Request.Name)
			if opts.Request.Name == "" {
				return cmdutil.Usagef("--name is required")
			}
			if len(opts.Request.Scopes) == 0 {
				return cmdutil.Usagef("--scope is required: one or more of %s", strings.Join(domain.Scopes, ", "))
			}
			for _, s := range opts.Request.Scopes {
				if !slices.Contains(domain.Scopes, s) {
					return cmdutil.Usagef("invalid value %q for --scope: want one of %s", s, strings.Join(domain.Scopes, ", "))
				}
			}
			opts.ctx = commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runKeyCreate(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Request.Name, "name", "", "a name that says who or what uses the key (required)")
	cmd.Flags().StringSliceVar(&opts.Request.Scopes, "scope", nil, "a scope the key grants (repeatable): "+strings.Join(domain.Scopes, ", "))
	_ = cmd.RegisterFlagCompletionFunc("scope", cobra.FixedCompletions(domain.Scopes, cobra.ShellCompDirectiveNoFileComp))
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runKeyCreate(opts *KeyCreateOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	k, err := c.CreateKey(opts.ctx, opts.Request)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(k, func() error {
		if err := p.fields(
			[2]string{"ID", k.APIKey.ID},
			[2]string{"Name", k.APIKey.Name},
			[2]string{"Scopes", strings.Join(k.APIKey.Scopes, ", ")},
			[2]string{"Key", k.Key},
		); err != nil {
			return err
		}
		fmt.Fprintln(opts.IO.ErrOut, "Store the key now: hookd keeps only its hash and cannot show it again.")
		return nil
	})
}

// KeyListOptions are the inputs of `hookctl keys list`.
type KeyListOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	List      listFlags
	Output    string
	ctx       context.Context
}

// NewCmdKeyList builds `hookctl keys list`.
func NewCmdKeyList(f *Factory, runF func(*KeyListOptions) error) *cobra.Command {
	opts := &KeyListOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List API keys (never the keys themselves)",
		Example: `  hookctl keys list
  hookctl keys list --all -o json`,
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
			return runKeyList(opts)
		},
	}
	addListFlags(cmd, &opts.List)
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runKeyList(opts *KeyListOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	page, err := fetchPages(opts.ctx, opts.List, func(ctx context.Context, cursor string) (api.Page[api.APIKey], error) {
		return c.ListKeys(ctx, opts.List.Limit, cursor)
	})
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return printPage(p, page, "API keys", func(t *tableWriter) {
		t.setHeader("ID", "NAME", "SCOPES", "STATUS", "CREATED", "LAST USED")
		for _, k := range page.Items {
			status := styled("active", styleGreen)
			if k.RevokedAt != nil {
				status = styled("revoked", styleRed)
			}
			t.row(txt(k.ID), txt(k.Name), wide(strings.Join(k.Scopes, ","), widthList), status, p.when(k.CreatedAt), txt(p.timePtr(k.LastUsedAt)))
		}
	})
}

// KeyRevokeOptions are the inputs of `hookctl keys revoke`.
type KeyRevokeOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	ID        string
	Yes       bool
	ctx       context.Context
}

// NewCmdKeyRevoke builds `hookctl keys revoke`.
func NewCmdKeyRevoke(f *Factory, runF func(*KeyRevokeOptions) error) *cobra.Command {
	opts := &KeyRevokeOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke an API key: requests with it are refused from now on",
		Long: `Revoke an API key; it cannot be used again. On a terminal hookctl asks
first; elsewhere pass --yes.`,
		Example: `  hookctl keys revoke key_123
  hookctl keys revoke key_123 --yes`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !opts.Yes && !opts.IO.IsStdinTTY() {
				return cmdutil.Usagef("stdin is not a terminal, so hookctl cannot ask before revoking: pass --yes")
			}
			opts.ID, opts.ctx = args[0], commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runKeyRevoke(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func runKeyRevoke(opts *KeyRevokeOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	if err := confirm(opts.ctx, opts.IO, opts.Yes, fmt.Sprintf("Revoke API key %s? Anything using it loses access.", opts.ID)); err != nil {
		return err
	}
	if err := c.RevokeKey(opts.ctx, opts.ID); err != nil {
		return err
	}
	_, err = fmt.Fprintf(opts.IO.Out, "Revoked API key %s.\n", opts.ID)
	return err
}
