package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/signature"
)

// VerifyOptions are the inputs of `hookctl verify`.
type VerifyOptions struct {
	IO *iostreams.IOStreams
	secretSource
	bodySource
	Scheme          string
	Headers         []string
	RequestFile     string
	Tolerance       time.Duration
	Now             string
	IgnoreTimestamp bool
	Output          string
}

// NewCmdVerify builds `hookctl verify`.
func NewCmdVerify(f *Factory, runF func(*VerifyOptions) error) *cobra.Command {
	opts := &VerifyOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check a webhook's signature offline (exit 0 only when valid and fresh)",
		Long: `Check that a webhook delivery carries a valid, fresh signature, without
contacting hookd. Receivers run it in their CI against recorded requests.

The scheme is detected from the headers unless --scheme says otherwise:
Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature),
Stripe (Stripe-Signature) or GitHub (X-Hub-Signature-256). The body must be
byte-for-byte what was received.

The secret comes from --secret, --secret-file or HOOKCTL_WEBHOOK_SECRET.
Exit status: 0 valid, 1 invalid (the reason is printed), 2 usage error.`,
		Example: `  # A raw HTTP request as received (e.g. saved by a test server)
  hookctl verify --secret-file secret.txt --request-file delivery.http

  # Headers and body given separately; the body on stdin
  hookctl verify --secret "$SECRET" \
    -H 'webhook-id: msg_2KWPBgLlAfxdpx2AI54pPJ85f4W' \
    -H 'webhook-timestamp: 1674087231' \
    -H 'webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=' < body.json

  # A fixture recorded long ago: check the signature, not its age
  hookctl verify --request-file fixtures/order.http --ignore-timestamp -o json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.bodySet = cmd.Flags().Changed("body")
			if err := checkOutput(opts.Output, "text", "json"); err != nil {
				return err
			}
			switch opts.Scheme {
			case signature.Auto, signature.Standard, signature.Stripe, signature.GitHub:
			default:
				return cmdutil.Usagef("invalid value %q for --scheme: want auto, standard, stripe or github", opts.Scheme)
			}
			if opts.Tolerance <= 0 {
				return cmdutil.Usagef("--tolerance must be above zero")
			}
			if runF != nil {
				return runF(opts)
			}
			return runVerify(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Secret, "secret", "", "signing secret (whsec_...)")
	fl.StringVar(&opts.SecretFile, "secret-file", "", "read the signing secret from a file")
	fl.StringVar(&opts.Scheme, "scheme", signature.Auto, "signature scheme: auto, standard, stripe or github")
	fl.StringArrayVarP(&opts.Headers, "header", "H", nil, "a received header, 'Name: value' (repeatable)")
	fl.StringVar(&opts.Body, "body", "", "the received body")
	fl.StringVar(&opts.BodyFile, "body-file", "", "read the received body from a file ('-' for stdin)")
	fl.StringVar(&opts.RequestFile, "request-file", "", "a raw HTTP/1.1 request as received (headers and body)")
	fl.DurationVar(&opts.Tolerance, "tolerance", signature.DefaultTolerance, "how far the signed timestamp may be from now")
	fl.StringVar(&opts.Now, "now", "", "verify as of this time (RFC 3339 or unix seconds) instead of the clock")
	fl.BoolVar(&opts.IgnoreTimestamp, "ignore-timestamp", false, "do not check the timestamp's age")
	fl.StringVarP(&opts.Output, "output", "o", "text", "output format: text or json")
	cmd.MarkFlagsMutuallyExclusive("body", "body-file", "request-file")
	cmd.MarkFlagsMutuallyExclusive("secret", "secret-file")
	_ = cmd.RegisterFlagCompletionFunc("scheme", cobra.FixedCompletions([]string{"auto", "standard", "stripe", "github"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runVerify(opts *VerifyOptions) error {
	secret, err := opts.readSecret()
	if err != nil {
		return err
	}
	in := signature.VerifyInput{
		Scheme:          opts.Scheme,
		Secrets:         []string{secret},
		Header:          http.Header{},
		Tolerance:       opts.Tolerance,
		IgnoreTimestamp: opts.IgnoreTimestamp,
	}
	if opts.Now != "" {
		if in.Now, err = parseTime("--now", opts.Now); err != nil {
			return err
		}
	}
	if opts.RequestFile != "" {
		in.Header, in.Body, err = readRequestFile(opts.RequestFile)
		if err != nil {
			return err
		}
	} else if in.Body, err = opts.readBody(opts.IO, true); err != nil {
		return err
	}
	pairs, err := parseHeaderFlags(opts.Headers)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		in.Header.Set(p[0], p[1])
	}

	r := signature.Verify(in)
	if opts.Output == "json" {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else if r.Valid {
		fmt.Fprintf(opts.IO.Out, "valid %s signature%s\n", r.Scheme, describe(r))
	} else {
		fmt.Fprintf(opts.IO.Out, "invalid: %s: %s\n", r.Reason, r.Detail)
	}
	if !r.Valid {
		return cmdutil.ErrSilent
	}
	return nil
}

func describe(r signature.Result) string {
	var parts []string
	if r.WebhookID != "" {
		parts = append(parts, "webhook-id "+r.WebhookID)
	}
	if !r.Timestamp.IsZero() {
		parts = append(parts, "signed "+r.Timestamp.Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// readRequestFile parses a raw HTTP/1.1 request; the body is decoded from
// its transfer encoding (chunked, Content-Length) but otherwise untouched.
func readRequestFile(path string) (http.Header, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, cmdutil.Usagef("--request-file: %v", err)
	}
	defer f.Close()
	req, err := http.ReadRequest(bufio.NewReader(io.LimitReader(f, maxBodyBytes+64<<10)))
	if err != nil {
		return nil, nil, cmdutil.Usagef("--request-file %s is not an HTTP/1.1 request: %v", path, err)
	}
	body, err := readCapped(req.Body, path)
	if err != nil {
		return nil, nil, err
	}
	return req.Header, body, nil
}
