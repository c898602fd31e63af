package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/cli/ctxconfig"
	"github.com/hookd/hookd/internal/cmdutil"
)

// NewCmdConfig builds `hookctl config`: contexts, as kubectl has them.
func NewCmdConfig(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Manage contexts: which hookd server and API key hookctl uses",
		Long: `A context names a hookd server and an API key; one context is current.
They are kept in hookctl/config.yaml in your configuration directory
(HOOKCTL_CONFIG overrides the path), readable by you alone.
HOOKCTL_SERVER and HOOKCTL_API_KEY override the current context.`,
		Args: cmdutil.NoArgs,
	}
	cmd.AddCommand(newCmdSetContext(f), newCmdUseContext(f), newCmdGetContexts(f), newCmdCurrentContext(f), newCmdDeleteContext(f))
	return cmd
}

func contextNames(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	file, err := ctxconfig.Load()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, len(file.Contexts))
	for i, c := range file.Contexts {
		names[i] = c.Name
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func newCmdSetContext(f *Factory) *cobra.Command {
	var (
		c        ctxconfig.Context
		keyStdin bool
		use      bool
	)
	cmd := &cobra.Command{
		Use:   "set-context NAME",
		Short: "Create or update a context",
		Example: `  hookctl config set-context prod --server https://hookd.example.com --api-key-stdin --use < key.txt
  hookctl config set-context dev --server http://localhost:8080 --api-key "$KEY"`,
		Args:              cmdutil.ExactArgs(1),
		ValidArgsFunction: contextNames,
		RunE: func(_ *cobra.Command, args []string) error {
			c.Name = strings.TrimSpace(args[0])
			if c.Name == "" || strings.ContainsAny(c.Name, " \t\r\n") {
				return cmdutil.Usagef("context name %q must be a single word", args[0])
			}
			if c.Server != "" {
				if err := ctxconfig.ValidateServer(c.Server); err != nil {
					return cmdutil.Usagef("--server: %v", err)
				}
			}
			if keyStdin {
				if c.APIKey != "" {
					return cmdutil.Usagef("--api-key and --api-key-stdin cannot be used together")
				}
				b, err := io.ReadAll(io.LimitReader(f.IOStreams.In, 4096))
				if err != nil {
					return err
				}
				c.APIKey = strings.TrimSpace(string(b))
			}
			file, err := ctxconfig.Load()
			if err != nil {
				return err
			}
			if _, exists := file.Find(c.Name); !exists && c.Server == "" {
				return cmdutil.Usagef("a new context needs --server")
			}
			file.Set(c)
			if use || file.CurrentContext == "" {
				file.CurrentContext = c.Name
			}
			if err := file.Save(); err != nil {
				return err
			}
			fmt.Fprintf(f.IOStreams.ErrOut, "Context %q saved", c.Name)
			if file.CurrentContext == c.Name {
				fmt.Fprint(f.IOStreams.ErrOut, " and in use")
			}
			fmt.Fprintln(f.IOStreams.ErrOut, ".")
			return nil
		},
	}
	cmd.Flags().StringVar(&c.Server, "server", "", "hookd server URL, e.g. https://hookd.example.com")
	cmd.Flags().StringVar(&c.APIKey, "api-key", "", "API key (prefer --api-key-stdin: flags show in process lists)")
	cmd.Flags().BoolVar(&keyStdin, "api-key-stdin", false, "read the API key from standard input")
	cmd.Flags().BoolVar(&use, "use", false, "make it the current context")
	return cmd
}

func newCmdUseContext(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:               "use-context NAME",
		Short:             "Make a context the current one",
		Example:           "  hookctl config use-context prod",
		Args:              cmdutil.ExactArgs(1),
		ValidArgsFunction: contextNames,
		RunE: func(_ *cobra.Command, args []string) error {
			file, err := ctxconfig.Load()
			if err != nil {
				return err
			}
			if _, ok := file.Find(args[0]); !ok {
				return fmt.Errorf("no context named %q (see `hookctl config get-contexts`)", args[0])
			}
			file.CurrentContext = args[0]
			if err := file.Save(); err != nil {
				return err
			}
			fmt.Fprintf(f.IOStreams.ErrOut, "Switched to context %q.\n", args[0])
			return nil
		},
	}
}

func newCmdDeleteContext(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:               "delete-context NAME",
		Short:             "Remove a context",
		Args:              cmdutil.ExactArgs(1),
		ValidArgsFunction: contextNames,
		RunE: func(_ *cobra.Command, args []string) error {
			file, err := ctxconfig.Load()
			if err != nil {
				return err
			}
			if !file.Delete(args[0]) {
				return fmt.Errorf("no context named %q", args[0])
			}
			if err := file.Save(); err != nil {
				return err
			}
			fmt.Fprintf(f.IOStreams.ErrOut, "Deleted context %q.\n", args[0])
			return nil
		},
	}
}

func newCmdCurrentContext(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "current-context",
		Short: "Print the name of the current context",
		Args:  cmdutil.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			file, err := ctxconfig.Load()
			if err != nil {
				return err
			}
			if file.CurrentContext == "" {
				return ctxconfig.ErrNoContext
			}
			_, err = fmt.Fprintln(f.IOStreams.Out, file.CurrentContext)
			return err
		},
	}
}

func newCmdGetContexts(f *Factory) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "get-contexts",
		Short:   "List the contexts",
		Example: "  hookctl config get-contexts\n  hookctl config get-contexts -o json",
		Args:    cmdutil.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkOutput(output, "table", "json"); err != nil {
				return err
			}
			file, err := ctxconfig.Load()
			if err != nil {
				return err
			}
			if output == "json" {
				type row struct {
					ctxconfig.Context
					Current bool `json:"current"`
					HasKey  bool `json:"has_api_key"`
				}
				rows := make([]row, len(file.Contexts))
				for i, c := range file.Contexts {
					rows[i] = row{Context: c, Current: c.Name == file.CurrentContext, HasKey: c.APIKey != ""}
				}
				enc := json.NewEncoder(f.IOStreams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(f.IOStreams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CURRENT\tNAME\tSERVER\tAPI KEY")
			for _, c := range file.Contexts {
				cur, key := "", "(none)"
				if c.Name == file.CurrentContext {
					cur = "*"
				}
				if c.APIKey != "" {
					key = maskKey(c.APIKey)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cur, c.Name, c.Server, key)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// maskKey shows enough of a key to tell keys apart, never the secret part.
func maskKey(k string) string {
	if len(k) <= 8 {
		return "****"
	}
	return k[:6] + "…" + "****"
}
