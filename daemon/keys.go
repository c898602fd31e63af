package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/daemon/api"
	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apikey"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/storage"
	"github.com/hookd/hookd/storage/postgres"
)

// KeysOptions are the inputs of `hookd keys`.
type KeysOptions struct {
	IO         *iostreams.IOStreams
	ConfigFile string
	Output     string
	Name       string
	Scopes     []string
	ID         string
}

// keyStore is what `hookd keys` needs of the database.
type keyStore interface {
	CreateAPIKey(ctx context.Context, k domain.APIKey) error
	ListAPIKeys(ctx context.Context, p storage.PageRequest) (storage.Page[domain.APIKey], error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
}

var _ keyStore = (*postgres.Store)(nil)

// newCmdKeys builds `hookd keys`: API keys managed directly in
// PostgreSQL, which is how the first admin key comes to exist.
func newCmdKeys(ios *iostreams.IOStreams) *cobra.Command {
	opts := &KeysOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys directly in the database",
		Long: `Manage API keys without the API, straight in PostgreSQL (postgres.dsn):
this is how the first admin key is made. Afterwards, keys are usually managed
with hookctl keys, through the API.

A key is shown once, when it is created; only its hash is stored.

Scopes: ` + strings.Join(domain.Scopes, ", ") + ` (admin grants all).`,
		Args: cmdutil.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&opts.ConfigFile, "config", "", "YAML configuration file (default: $HOOKD_CONFIG)")

	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key and print it (once)",
		Example: `  hookd keys create --name bootstrap --scope admin
  hookd keys create --name ci --scope events:publish --scope deliveries:read -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkKeysOutput(opts.Output); err != nil {
				return err
			}
			if err := api.ValidateKeyRequest(opts.Name, opts.Scopes); err != nil {
				return cmdutil.Usagef("%s", err)
			}
			return withKeyStore(cmd.Context(), opts, func(ctx context.Context, s keyStore) error { return runKeysCreate(ctx, opts, s) })
		},
	}
	create.Flags().StringVar(&opts.Name, "name", "", "what the key is for (required)")
	create.Flags().StringSliceVar(&opts.Scopes, "scope", nil, "a scope to grant (repeatable): "+strings.Join(domain.Scopes, ", "))
	create.Flags().StringVarP(&opts.Output, "output", "o", "table", "output format: table or json")
	_ = create.RegisterFlagCompletionFunc("scope", cobra.FixedCompletions(domain.Scopes, cobra.ShellCompDirectiveNoFileComp))

	list := &cobra.Command{
		Use:     "list",
		Short:   "List API keys (never the keys themselves)",
		Example: "  hookd keys list\n  hookd keys list -o json",
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkKeysOutput(opts.Output); err != nil {
				return err
			}
			return withKeyStore(cmd.Context(), opts, func(ctx context.Context, s keyStore) error { return runKeysList(ctx, opts, s) })
		},
	}
	list.Flags().StringVarP(&opts.Output, "output", "o", "table", "output format: table or json")

	revoke := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke an API key",
		Example: "  hookd keys revoke key_01JD7X3V5K9Q2M8N4P6R0S1T2W",
		Args:    cmdutil.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			return withKeyStore(cmd.Context(), opts, func(ctx context.Context, s keyStore) error {
				if err := s.RevokeAPIKey(ctx, opts.ID, time.Now().UTC()); err != nil {
					if errors.Is(err, storage.ErrNotFound) {
						return fmt.Errorf("no API key %s", opts.ID)
					}
					return err
				}
				fmt.Fprintf(opts.IO.Out, "revoked %s\n", opts.ID)
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func checkKeysOutput(o string) error {
	if o != "table" && o != "json" {
		return cmdutil.Usagef("invalid value %q for --output: want table or json", o)
	}
	return nil
}

func withKeyStore(ctx context.Context, opts *KeysOptions, fn func(context.Context, keyStore) error) error {
	l, err := config.Load(config.Options{File: configFile(opts.ConfigFile), Environ: os.Environ(), WithoutEncryptionKey: true})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// API keys are hashed, not encrypted: no encryption key is needed.
	store, err := postgres.Open(ctx, l.Postgres.DSN, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(ctx, store)
}

func runKeysCreate(ctx context.Context, opts *KeysOptions, s keyStore) error {
	key, hash, err := apikey.Generate()
	if err != nil {
		return err
	}
	k := domain.APIKey{
		ID: ids.New(ids.APIKey), Name: opts.Name, Hash: hash, Scopes: slices.Compact(slices.Sorted(slices.Values(opts.Scopes))),
		CreatedBy: "hookd keys", CreatedAt: time.Now().UTC(),
	}
	if err := s.CreateAPIKey(ctx, k); err != nil {
		return err
	}
	if opts.Output == "json" {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(wire.KeyCreated{Key: key, APIKey: k})
	}
	fmt.Fprintf(opts.IO.Out, "%s\n", key)
	fmt.Fprintf(opts.IO.ErrOut, "Created API key %s (%s) with scopes %s.\nStore it now: it is not shown again.\n", k.ID, k.Name, strings.Join(k.Scopes, ","))
	return nil
}

func runKeysList(ctx context.Context, opts *KeysOptions, s keyStore) error {
	var all []domain.APIKey
	req := storage.PageRequest{Limit: storage.MaxPageSize}
	for {
		page, err := s.ListAPIKeys(ctx, req)
		if err != nil {
			return err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
	if opts.Output == "json" {
		if all == nil {
			all = []domain.APIKey{}
		}
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(all)
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tREVOKED")
	for _, k := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Scopes, ","),
			k.CreatedAt.Format(time.RFC3339), timeOrDash(k.LastUsedAt), timeOrDash(k.RevokedAt))
	}
	return tw.Flush()
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
