package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/signature"
)

// SignOptions are the inputs of `hookctl sign`.
type SignOptions struct {
	IO *iostreams.IOStreams
	secretSource
	bodySource
	Scheme    string
	ID        string
	Timestamp string
	Output    string
	now       func() time.Time
}

// NewCmdSign builds `hookctl sign`.
func NewCmdSign(f *Factory, runF func(*SignOptions) error) *cobra.Command {
	opts := &SignOptions{IO: f.IOStreams, now: time.Now}
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Print the signature headers a delivery of a body would carry",
		Long: `Sign a body the way hookd signs a delivery and print the headers, so
receivers can build test fixtures for their verification code.`,
		Example: `  hookctl sign --secret "$SECRET" --body-file order.json
  hookctl sign --secret "$SECRET" --scheme stripe --id msg_1 --timestamp 1700000000 --body '{"a":1}'
  echo '{"a":1}' | hookctl sign --secret-file secret.txt -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.bodySet = cmd.Flags().Changed("body")
			if err := checkOutput(opts.Output, "text", "json"); err != nil {
				return err
			}
			switch opts.Scheme {
			case signature.Standard, signature.Stripe, signature.GitHub:
			default:
				return cmdutil.Usagef("invalid value %q for --scheme: want standard, stripe or github", opts.Scheme)
			}
			if runF != nil {
				return runF(opts)
			}
			return runSign(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Secret, "secret", "", "signing secret (whsec_...)")
	fl.StringVar(&opts.SecretFile, "secret-file", "", "read the signing secret from a file")
	fl.StringVar(&opts.Scheme, "scheme", signature.Standard, "signature scheme: standard, stripe or github")
	fl.StringVar(&opts.ID, "id", "", "webhook id (default: a new msg_ id)")
	fl.StringVar(&opts.Timestamp, "timestamp", "", "signing time, RFC 3339 or unix seconds (default: now)")
	fl.StringVar(&opts.Body, "body", "", "the body to sign")
	fl.StringVar(&opts.BodyFile, "body-file", "", "read the body from a file ('-' for stdin)")
	fl.StringVarP(&opts.Output, "output", "o", "text", "output format: text (header lines) or json")
	cmd.MarkFlagsMutuallyExclusive("body", "body-file")
	cmd.MarkFlagsMutuallyExclusive("secret", "secret-file")
	_ = cmd.RegisterFlagCompletionFunc("scheme", cobra.FixedCompletions([]string{"standard", "stripe", "github"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runSign(opts *SignOptions) error {
	secret, err := opts.readSecret()
	if err != nil {
		return err
	}
	body, err := opts.readBody(opts.IO, true)
	if err != nil {
		return err
	}
	ts := opts.now()
	if opts.Timestamp != "" {
		if ts, err = parseTime("--timestamp", opts.Timestamp); err != nil {
			return err
		}
	}
	id := opts.ID
	if id == "" {
		id = ids.New(ids.Delivery)
	}
	headers, err := signature.Sign(opts.Scheme, []string{secret}, id, ts, body)
	if err != nil {
		return cmdutil.Usagef("%v", err)
	}
	if opts.Output == "json" {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(headers)
	}
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(opts.IO.Out, "%s: %s\n", k, headers[k])
	}
	return nil
}
